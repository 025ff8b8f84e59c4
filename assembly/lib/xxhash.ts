// lib/xxhash.ts -- XXH32 (Yann Collet's xxHash, 32-bit variant, spec: xxhash.com
// doc/xxhash_spec.md), the data-block checksum.
//
// Layer: a pure function over linear memory; fs/file.ts checksums every file data block with
// it (the values live in the extent records, docs/format.md).
// Interface: xxh32(ptr, len, seed) -> u32, identical to the reference XXH32 (tested against
// the `xxhash-wasm` package and the specification's test vectors).
//
// Why XXH32 and not the CRC-32C the metadata uses: WebAssembly has no CRC instruction, so
// crc32c costs table lookups per byte (~2 GB/s here), while XXH32's four 32-bit lanes map one
// to one onto a SIMD i32x4 vector: one multiply-add-rotate-multiply per 16-byte stripe. Like
// btrfs's crc32c (its default) it is 32 bits; btrfs offers xxhash as a faster csum type too.
// It detects corruption (random flips, torn, lost and misdirected writes), not tampering.
//
// Stripe step on the vector acc = (v1, v2, v3, v4), lane i taking bytes 4i..4i+3 of each
// 16-byte stripe:
//
//   acc = rotl(acc + stripe * PRIME2, 13) * PRIME1

const PRIME1: u32 = 0x9e3779b1;
const PRIME2: u32 = 0x85ebca77;
const PRIME3: u32 = 0xc2b2ae3d;
const PRIME4: u32 = 0x27d4eb2f;
const PRIME5: u32 = 0x165667b1;
/** Bytes consumed by one step of the four accumulators. */
const STRIPE: usize = 16;

/** One stripe step of the four accumulators (the diagram above). */
@inline function stripe(acc: v128, ptr: usize, p1: v128, p2: v128): v128 {
  acc = i32x4.add(acc, i32x4.mul(v128.load(ptr), p2));
  return i32x4.mul(v128.or(i32x4.shl(acc, 13), i32x4.shr_u(acc, 19)), p1);
}

/** The four accumulators folded into one 32-bit state. */
@inline function merge_lanes(acc: v128): u32 {
  return rotl<u32>(<u32>i32x4.extract_lane(acc, 0), 1) + rotl<u32>(<u32>i32x4.extract_lane(acc, 1), 7) +
         rotl<u32>(<u32>i32x4.extract_lane(acc, 2), 12) + rotl<u32>(<u32>i32x4.extract_lane(acc, 3), 18);
}

/** The final mix. */
@inline function avalanche(h: u32): u32 {
  h ^= h >>> 15;
  h *= PRIME2;
  h ^= h >>> 13;
  h *= PRIME3;
  h ^= h >>> 16;
  return h;
}

/**
 * XXH32 of `len` bytes at `ptr` with `seed` (file data uses seed 0). Any length and
 * alignment; `ptr + len` must lie inside linear memory.
 */
export function xxh32(ptr: usize, len: usize, seed: u32 = 0): u32 {
  const end = ptr + len;
  let h: u32;
  if (len >= STRIPE) {
    let acc = i32x4(<i32>(seed + PRIME1 + PRIME2), <i32>(seed + PRIME2), <i32>seed, <i32>(seed - PRIME1));
    const p1 = i32x4.splat(<i32>PRIME1);
    const p2 = i32x4.splat(<i32>PRIME2);
    const limit = end - STRIPE;
    do {
      acc = stripe(acc, ptr, p1, p2);
      ptr += STRIPE;
    } while (ptr <= limit);
    h = merge_lanes(acc);
  } else {
    h = seed + PRIME5;
  }
  h += <u32>len;
  while (ptr + 4 <= end) {
    h = rotl<u32>(h + load<u32>(ptr) * PRIME3, 17) * PRIME4;
    ptr += 4;
  }
  while (ptr < end) {
    h = rotl<u32>(h + <u32>load<u8>(ptr) * PRIME5, 11) * PRIME1;
    ptr++;
  }
  return avalanche(h);
}

/** Bytes of the blocks xxh32_blocks hashes (the filesystem block). */
const BLOCK_BYTES: usize = 4096;

/** xxh32's end for a whole block: 4096 is a whole number of stripes, no tail words or bytes. */
@inline function finish_block(acc: v128): u32 {
  return avalanche(merge_lanes(acc) + <u32>BLOCK_BYTES);
}

/**
 * XXH32 (seed 0) of `n` 4096-byte blocks whose addresses are the u32s at `addrs`; the
 * results go to the u32s at `out`. Equal to xxh32(addr, 4096) for each block, but four blocks
 * advance together: one block's stripe steps form a serial multiply chain (i32x4.mul has a
 * long latency), four independent chains keep the multiplier busy (~3x the throughput).
 */
export function xxh32_blocks(addrs: usize, n: u32, out: usize): void {
  const p1 = i32x4.splat(<i32>PRIME1);
  const p2 = i32x4.splat(<i32>PRIME2);
  const init = i32x4(<i32>(PRIME1 + PRIME2), <i32>PRIME2, 0, <i32>(0 - PRIME1));
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const a = <usize>load<u32>(addrs + (<usize>i << 2));
    const b = <usize>load<u32>(addrs + (<usize>i << 2), 4);
    const c = <usize>load<u32>(addrs + (<usize>i << 2), 8);
    const d = <usize>load<u32>(addrs + (<usize>i << 2), 12);
    let va = init, vb = init, vc = init, vd = init;
    for (let off: usize = 0; off < BLOCK_BYTES; off += STRIPE) {
      va = stripe(va, a + off, p1, p2);
      vb = stripe(vb, b + off, p1, p2);
      vc = stripe(vc, c + off, p1, p2);
      vd = stripe(vd, d + off, p1, p2);
    }
    store<u32>(out + (<usize>i << 2), finish_block(va));
    store<u32>(out + (<usize>i << 2), finish_block(vb), 4);
    store<u32>(out + (<usize>i << 2), finish_block(vc), 8);
    store<u32>(out + (<usize>i << 2), finish_block(vd), 12);
  }
  for (; i < n; i++) store<u32>(out + (<usize>i << 2), xxh32(<usize>load<u32>(addrs + (<usize>i << 2)), BLOCK_BYTES));
}
