// fs/dcache.ts -- the dentry cache: (directory, name) -> (ino, type) for short names.
//
// Layer: in front of the dirent B+ tree (fs/dir.ts consults and maintains it).
// Interface: dcache_init, dcache_lookup, dcache_add, dcache_forget, dcache_clear.
// Rules: positive entries only, names of at most DNAME_INLINE_LEN bytes (as Linux keeps short
// names inline in struct dentry); the table is 4-way set associative by a hash of (dir, name):
// an insert goes to way 0 and pushes the others down, into a free way or out of the set, so
// a set keeps its four newest names; every change to a directory's entries goes through
// dir_add/dir_remove, which keep the cache exact; mount clears it. The table is sized once,
// at the first mount, from physical memory (one set per 32 KiB of frames, like Linux's
// dhash_entries scaling with memory), and drawn from the buddy allocator. Why 4 ways: with
// 2, the 20,000 names of the metadata benchmark in 32k sets left ~2.5% of the sets with 3 or
// more names, which then evicted each other on every pass (13% of lookups missed); with 4
// ways and the same memory, ~1%.
//
// Entry (DENTRY_SIZE = 64 bytes, one cache line); a set is four entries, way 0 the newest:
//
//   0 dir u64 (0 = empty) | 8 ino u64 | 16 type u8 | 17 namelen u8 | 18 reserved u16 | 20 name[44]

import { alloc_large_system_hash, hash_entries } from "../mm/buddy";
import { ENOMEM } from "../lib/errno";

const DENTRY_SIZE: usize = 64;
const WAYS: usize = 4;
const SET_SIZE: usize = DENTRY_SIZE * WAYS;
/** Longest name the cache holds. */
export const DNAME_INLINE_LEN: u32 = 44;
/** Bounds on the number of sets (the largest is one order-10 block of 4 MiB). */
const DCACHE_SETS_MIN: u32 = 1 << 10;
const DCACHE_ORDER_MAX: u32 = 10;
/** Frames of physical memory per set. */
const FRAMES_PER_SET: u32 = 8;
const D_DIR: usize = 0;
const D_INO: usize = 8;
const D_TYPE: usize = 16;
const D_LEN: usize = 17;
const D_NAME: usize = 20;

let table: usize = 0;
let set_mask: u32 = 0;

export let dcache_hits: u64 = 0;
export let dcache_misses: u64 = 0;
/** Result of a hit. */
export let dc_ino: u64 = 0;
export let dc_type: u8 = 0;

/** Allocates the table (first mount only) and clears it. 0 or -ENOMEM. */
export function dcache_init(): i32 {
  if (table == 0) {
    table = alloc_large_system_hash(SET_SIZE, FRAMES_PER_SET, DCACHE_SETS_MIN, DCACHE_ORDER_MAX);
    if (table == 0) return -ENOMEM;
    set_mask = hash_entries - 1;
  }
  dcache_clear();
  return 0;
}

@inline function set_of(dir: u64, hash: u64): usize {
  const h = <u32>(hash >> 32) ^ <u32>(dir * 0x9e3779b1);
  return table + (<usize>((h ^ (h >>> 15)) & set_mask)) * SET_SIZE;
}

@inline function matches(e: usize, dir: u64, name: usize, len: u32): bool {
  return load<u64>(e, D_DIR) == dir && <u32>load<u8>(e, D_LEN) == len && memory.compare(e + D_NAME, name, len) == 0;
}

/** The way of (dir, name) in set `s`, or WAYS when it is not there. */
function find_way(s: usize, dir: u64, name: usize, len: u32): usize {
  for (let w: usize = 0; w < WAYS; w++) if (matches(s + w * DENTRY_SIZE, dir, name, len)) return w;
  return WAYS;
}

/** The entry of (dir, name) in its set, or 0. */
function find(dir: u64, name: usize, len: u32, hash: u64): usize {
  if (len > DNAME_INLINE_LEN || table == 0) return 0;
  const s = set_of(dir, hash);
  const w = find_way(s, dir, name, len);
  return w < WAYS ? s + w * DENTRY_SIZE : 0;
}

/** Looks (dir, name) up; `hash` is the name's dirent hash. True with dc_ino/dc_type set on a hit. */
export function dcache_lookup(dir: u64, name: usize, len: u32, hash: u64): bool {
  const e = find(dir, name, len, hash);
  if (e == 0) {
    dcache_misses++;
    return false;
  }
  dc_ino = load<u64>(e, D_INO);
  dc_type = load<u8>(e, D_TYPE);
  dcache_hits++;
  return true;
}

/**
 * Remembers (dir, name) -> (ino, type) in way 0 of its set. The ways above the entry's old
 * way (or the first free one, or the last) move down one: the oldest entry leaves a full set.
 */
export function dcache_add(dir: u64, name: usize, len: u32, hash: u64, ino: u64, type: u8): void {
  if (len > DNAME_INLINE_LEN || table == 0) return;
  const s = set_of(dir, hash);
  let w = find_way(s, dir, name, len);
  if (w == WAYS) {
    w = 0;
    while (w < WAYS - 1 && load<u64>(s + w * DENTRY_SIZE, D_DIR) != 0) w++;
  }
  memory.copy(s + DENTRY_SIZE, s, w * DENTRY_SIZE);
  store<u64>(s, dir, D_DIR);
  store<u64>(s, ino, D_INO);
  store<u8>(s, type, D_TYPE);
  store<u8>(s, <u8>len, D_LEN);
  memory.copy(s + D_NAME, name, len);
}

/** Forgets (dir, name) if cached. */
export function dcache_forget(dir: u64, name: usize, len: u32, hash: u64): void {
  const e = find(dir, name, len, hash);
  if (e != 0) store<u64>(e, 0, D_DIR);
}

/** Empties the cache (mount, unmount, drop_caches). */
export function dcache_clear(): void {
  if (table != 0) memory.fill(table, 0, (<usize>set_mask + 1) * SET_SIZE);
}
