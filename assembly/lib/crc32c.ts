// lib/crc32c.ts -- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slice-by-16.
//
// Used for every on-disk checksum (superblock, metadata block headers, journal commit blocks),
// as in ext4 metadata_csum and btrfs. Slicing (Intel's slice-by-8, 2006, extended to 16 bytes)
// processes 16 bytes per step with sixteen 256-entry tables (16 KiB, built once by
// crc32c_init). WebAssembly has no CRC instruction, so table slicing is the fast path.
// Interface: crc32c(seed, ptr, len).

const POLY: u32 = 0x82f63b78;
const SLICES: usize = 16;
const TABLES: usize = memory.data(<i32>(SLICES * 256 * 4));
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
    for (let t: usize = 1; t < SLICES; t++) {
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
  while (len >= 16) {
    const a = load<u32>(ptr) ^ c;
    const b = load<u32>(ptr, 4);
    const d = load<u32>(ptr, 8);
    const e = load<u32>(ptr, 12);
    c = T(15, a) ^ T(14, a >>> 8) ^ T(13, a >>> 16) ^ T(12, a >>> 24) ^
        T(11, b) ^ T(10, b >>> 8) ^ T(9, b >>> 16) ^ T(8, b >>> 24) ^
        T(7, d) ^ T(6, d >>> 8) ^ T(5, d >>> 16) ^ T(4, d >>> 24) ^
        T(3, e) ^ T(2, e >>> 8) ^ T(1, e >>> 16) ^ T(0, e >>> 24);
    ptr += 16;
    len -= 16;
  }
  while (len > 0) {
    c = T(0, c ^ load<u8>(ptr)) ^ (c >>> 8);
    ptr++;
    len--;
  }
  return ~c;
}
