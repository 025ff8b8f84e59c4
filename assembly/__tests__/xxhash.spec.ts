// xxhash.spec.ts -- lib/xxhash.ts (XXH32 on SIMD i32x4 lanes) against published XXH32 values
// (those of the reference implementation, which `xxhash-wasm` in test/checksum.test.ts also
// gives) and against a scalar transcription of the specification (doc/xxhash_spec.md) for
// every length 0..300, at odd alignments, with several seeds.

import { xxh32, xxh32_blocks } from "../lib/xxhash";

const P1: u32 = 0x9e3779b1, P2: u32 = 0x85ebca77, P3: u32 = 0xc2b2ae3d, P4: u32 = 0x27d4eb2f, P5: u32 = 0x165667b1;

function round(acc: u32, lane: u32): u32 { return rotl<u32>(acc + lane * P2, 13) * P1; }

/** XXH32 as the specification states it, one 32-bit lane at a time. */
function scalar(p: usize, len: usize, seed: u32): u32 {
  const end = p + len;
  let h: u32;
  if (len >= 16) {
    let v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
    while (p + 16 <= end) {
      v1 = round(v1, load<u32>(p)); v2 = round(v2, load<u32>(p, 4));
      v3 = round(v3, load<u32>(p, 8)); v4 = round(v4, load<u32>(p, 12));
      p += 16;
    }
    h = rotl<u32>(v1, 1) + rotl<u32>(v2, 7) + rotl<u32>(v3, 12) + rotl<u32>(v4, 18);
  } else h = seed + P5;
  h += <u32>len;
  for (; p + 4 <= end; p += 4) h = rotl<u32>(h + load<u32>(p) * P3, 17) * P4;
  for (; p < end; p++) h = rotl<u32>(h + <u32>load<u8>(p) * P5, 11) * P1;
  h ^= h >>> 15; h *= P2; h ^= h >>> 13; h *= P3; h ^= h >>> 16;
  return h;
}

function ascii(s: string): usize {
  const p = heap.alloc(s.length + 1);
  for (let i = 0; i < s.length; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
  return p;
}

describe("xxh32", () => {
  it("gives the reference values", () => {
    const cases: string[] = ["", "a", "abc", "Nobody inspects the spammish repetition", "abcdefghijklmnopqrstuvwxyz0123456789"];
    const want: u32[] = [0x02cc5d05, 0x550d7456, 0x32d153ff, 0xe2293b2f, 0x42ae804d];
    for (let i = 0; i < cases.length; i++) {
      const p = ascii(cases[i]);
      expect<u32>(xxh32(p, cases[i].length)).toBe(want[i], cases[i]);
      heap.free(p);
    }
    const p = ascii("abc");
    expect<u32>(xxh32(p, 3, 0x9e3779b1)).toBe(0xa1ae7709, "seeded");
    heap.free(p);
  });

  it("matches the scalar specification for every length 0..300, odd alignments, several seeds, and a 4 KiB block", () => {
    const n: usize = 4096;
    const p = heap.alloc(n + 8);
    let x: u32 = 777;
    for (let i: usize = 0; i < n + 8; i++) { x = x * 1103515245 + 12345; store<u8>(p + i, <u8>(x >>> 16)); }
    const seeds: u32[] = [0, 1, 0x9e3779b1, 0xffffffff];
    for (let s = 0; s < seeds.length; s++) {
      for (let off: usize = 0; off < 4; off++) {
        for (let len: usize = 0; len <= 300; len++) expect<u32>(xxh32(p + off, len, seeds[s])).toBe(scalar(p + off, len, seeds[s]));
      }
      expect<u32>(xxh32(p, n, seeds[s])).toBe(scalar(p, n, seeds[s]));
    }
    // one flipped bit anywhere in a block changes its checksum
    const h = xxh32(p, n);
    for (let bit: usize = 0; bit < n * 8; bit += 97) {
      store<u8>(p + (bit >> 3), load<u8>(p + (bit >> 3)) ^ (<u8>1 << <u8>(bit & 7)));
      expect<bool>(xxh32(p, n) != h).toBe(true);
      store<u8>(p + (bit >> 3), load<u8>(p + (bit >> 3)) ^ (<u8>1 << <u8>(bit & 7)));
    }
    heap.free(p);
  });

  it("xxh32_blocks equals xxh32 of each 4 KiB block, for 0..9 blocks in any order", () => {
    const nb: u32 = 9;
    const p = heap.alloc(<usize>nb * 4096 + 16);
    let x: u32 = 4242;
    for (let i: usize = 0; i < <usize>nb * 4096 + 16; i++) { x = x * 1103515245 + 12345; store<u8>(p + i, <u8>(x >>> 16)); }
    const addrs = heap.alloc(<usize>nb * 4);
    const out = heap.alloc(<usize>nb * 4);
    for (let n: u32 = 0; n <= nb; n++) {
      // blocks in reverse order, the odd ones misaligned by 4 bytes
      for (let i: u32 = 0; i < n; i++) store<u32>(addrs + (<usize>i << 2), <u32>(p + (<usize>(nb - 1 - i) << 12) + (<usize>(i & 1) << 2)));
      xxh32_blocks(addrs, n, out);
      for (let i: u32 = 0; i < n; i++) {
        expect<u32>(load<u32>(out + (<usize>i << 2))).toBe(xxh32(<usize>load<u32>(addrs + (<usize>i << 2)), 4096));
      }
    }
    heap.free(p); heap.free(addrs); heap.free(out);
  });
});
