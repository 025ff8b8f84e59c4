// lib/crc32c.ts -- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slice-by-8.
//
// Used for every on-disk checksum (superblock, metadata block headers, journal commit blocks),
// as in ext4 metadata_csum and btrfs. Slice-by-8 (Intel, 2006) processes 8 bytes per step with
// eight 256-entry tables (8 KiB, built once by crc32c_init). Interface: crc32c(seed, ptr, len).

const POLY: u32 = 0x82f63b78;
const TABLES: usize = memory.data(8 * 256 * 4);
let ready = false;

/** Builds the slice-by-8 tables. Idempotent; called at boot. */
export function crc32c_init(): void {
  if (ready) return;
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(TABLES + (<usize>i << 2), c);
  }
  for (let i: u32 = 0; i < 256; i++) {
    let c = load<u32>(TABLES + (<usize>i << 2));
    for (let t: usize = 1; t < 8; t++) {
      c = load<u32>(TABLES + ((c & 0xff) << 2)) ^ (c >>> 8);
      store<u32>(TABLES + (t << 10) + (<usize>i << 2), c);
    }
  }
  ready = true;
}

@inline function T(t: usize, i: u32): u32 {
  return load<u32>(TABLES + (t << 10) + ((<usize>(i & 0xff)) << 2));
}

/**
 * CRC-32C of `len` bytes at `ptr`, continuing from `crc` (pass 0 to start).
 * Returns the finished (inverted) CRC, so calls chain: crc32c(crc32c(0, a, n), b, m).
 */
export function crc32c(crc: u32, ptr: usize, len: usize): u32 {
  if (!ready) crc32c_init();
  let c = ~crc;
  while (len >= 8) {
    const lo = load<u32>(ptr) ^ c;
    const hi = load<u32>(ptr, 4);
    c = T(7, lo) ^ T(6, lo >>> 8) ^ T(5, lo >>> 16) ^ T(4, lo >>> 24) ^
        T(3, hi) ^ T(2, hi >>> 8) ^ T(1, hi >>> 16) ^ T(0, hi >>> 24);
    ptr += 8;
    len -= 8;
  }
  while (len > 0) {
    c = T(0, c ^ load<u8>(ptr)) ^ (c >>> 8);
    ptr++;
    len--;
  }
  return ~c;
}
