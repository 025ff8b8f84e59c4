// fs/dcache.ts -- the dentry cache: (directory, name) -> (ino, type) for short names.
//
// Layer: in front of the dirent B+ tree (fs/dir.ts consults and maintains it).
// Interface: dcache_lookup, dcache_add, dcache_forget, dcache_clear.
// Rules: positive entries only, names of at most DNAME_INLINE_LEN bytes (as Linux keeps short
// names inline in struct dentry); the table is direct-mapped by a hash of (dir, name), so an
// insert simply replaces whatever shared the slot; every change to a directory's entries goes
// through dir_add/dir_remove, which keep the cache exact; mount clears it.
//
// Entry (DENTRY_SIZE = 64 bytes):
//
//   0 dir u64 (0 = empty) | 8 ino u64 | 16 type u8 | 17 namelen u8 | 18 reserved u16 | 20 name[44]

const DENTRY_SIZE: usize = 64;
/** Longest name the cache holds. */
export const DNAME_INLINE_LEN: u32 = 44;
const DCACHE_SLOTS: u32 = 1 << 14;
const DCACHE: usize = memory.data(<i32>(DCACHE_SLOTS * <u32>DENTRY_SIZE));
const D_DIR: usize = 0;
const D_INO: usize = 8;
const D_TYPE: usize = 16;
const D_LEN: usize = 17;
const D_NAME: usize = 20;

export let dcache_hits: u64 = 0;
export let dcache_misses: u64 = 0;
/** Result of a hit. */
export let dc_ino: u64 = 0;
export let dc_type: u8 = 0;

@inline function slot(dir: u64, hash: u64): usize {
  const h = <u32>(hash >> 32) ^ <u32>(dir * 0x9e3779b1);
  return DCACHE + (<usize>((h ^ (h >>> 15)) & (DCACHE_SLOTS - 1))) * DENTRY_SIZE;
}

@inline function matches(e: usize, dir: u64, name: usize, len: u32): bool {
  return load<u64>(e, D_DIR) == dir && <u32>load<u8>(e, D_LEN) == len && memory.compare(e + D_NAME, name, len) == 0;
}

/** Looks (dir, name) up; `hash` is the name's dirent hash. True with dc_ino/dc_type set on a hit. */
export function dcache_lookup(dir: u64, name: usize, len: u32, hash: u64): bool {
  if (len > DNAME_INLINE_LEN) return false;
  const e = slot(dir, hash);
  if (matches(e, dir, name, len)) {
    dc_ino = load<u64>(e, D_INO);
    dc_type = load<u8>(e, D_TYPE);
    dcache_hits++;
    return true;
  }
  dcache_misses++;
  return false;
}

/** Remembers (dir, name) -> (ino, type). */
export function dcache_add(dir: u64, name: usize, len: u32, hash: u64, ino: u64, type: u8): void {
  if (len > DNAME_INLINE_LEN) return;
  const e = slot(dir, hash);
  store<u64>(e, dir, D_DIR);
  store<u64>(e, ino, D_INO);
  store<u8>(e, type, D_TYPE);
  store<u8>(e, <u8>len, D_LEN);
  memory.copy(e + D_NAME, name, len);
}

/** Forgets (dir, name) if cached. */
export function dcache_forget(dir: u64, name: usize, len: u32, hash: u64): void {
  if (len > DNAME_INLINE_LEN) return;
  const e = slot(dir, hash);
  if (matches(e, dir, name, len)) store<u64>(e, 0, D_DIR);
}

/** Empties the cache (mount, unmount). */
export function dcache_clear(): void {
  memory.fill(DCACHE, 0, <usize>DCACHE_SLOTS * DENTRY_SIZE);
}
