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
      acc = i32x4.add(acc, i32x4.mul(v128.load(ptr), p2));
      acc = i32x4.mul(v128.or(i32x4.shl(acc, 13), i32x4.shr_u(acc, 19)), p1);
      ptr += STRIPE;
    } while (ptr <= limit);
    h = rotl<u32>(<u32>i32x4.extract_lane(acc, 0), 1) + rotl<u32>(<u32>i32x4.extract_lane(acc, 1), 7) +
        rotl<u32>(<u32>i32x4.extract_lane(acc, 2), 12) + rotl<u32>(<u32>i32x4.extract_lane(acc, 3), 18);
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
  h ^= h >>> 15;
  h *= PRIME2;
  h ^= h >>> 13;
  h *= PRIME3;
  h ^= h >>> 16;
  return h;
}
