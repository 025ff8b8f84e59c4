// crc32c.spec.ts -- lib/crc32c.ts (slice-by-16) against the bitwise definition of CRC-32C
// (reflected polynomial 0x82F63B78) and the standard check value CRC-32C("123456789").

import { crc32c } from "../lib/crc32c";

function bitwise(ptr: usize, len: usize): u32 {
  let c: u32 = 0xffffffff;
  for (let i: usize = 0; i < len; i++) {
    c ^= <u32>load<u8>(ptr + i);
    for (let k = 0; k < 8; k++) c = (c & 1) ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c;
}

describe("crc32c", () => {
  it("matches the standard check value", () => {
    const p = heap.alloc(16);
    for (let i = 0; i < 9; i++) store<u8>(p + i, <u8>(49 + i)); // "123456789"
    expect<u32>(crc32c(0, p, 9)).toBe(0xe3069283);
    heap.free(p);
  });

  it("matches the bitwise definition for every length 0..300 and at odd alignments", () => {
    const n: usize = 5000;
    const p = heap.alloc(n + 8);
    let x: u32 = 12345;
    for (let i: usize = 0; i < n + 8; i++) { x = x * 1103515245 + 12345; store<u8>(p + i, <u8>(x >>> 16)); }
    for (let off: usize = 0; off < 4; off++) {
      for (let len: usize = 0; len <= 300; len++) expect<u32>(crc32c(0, p + off, len)).toBe(bitwise(p + off, len));
    }
    expect<u32>(crc32c(0, p, n)).toBe(bitwise(p, n));
    // chaining: crc(a ++ b) == crc(crc(a), b)
    expect<u32>(crc32c(crc32c(0, p, 1000), p + 1000, n - 1000)).toBe(crc32c(0, p, n));
    heap.free(p);
  });
});
