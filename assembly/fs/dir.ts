// fs/dir.ts -- directory entries in the dirent B+ tree, indexed by name hash.
//
// Layer: above the B+ tree; namei and the syscalls use it.
// Interface: dir_lookup, dir_add, dir_remove, dir_is_empty, dir_next (readdir by cookie).
// Rules: an entry's key is (dir ino, (hash31(name) + 1) << 32 | seq); entries whose names
// share a hash take the next free seq, and lookups compare names, so collisions are exact;
// keys never move, so a key is a stable readdir cookie (positions 0..2 are below every key
// and stand for the start, "." and ".."). Short names are cached in fs/dcache.ts; every
// change of an entry goes through dir_add/dir_remove, which keep that cache exact.
//
// Dirent record, the value of that key (10 + namelen bytes):
//
//   0 ino u64 | 8 type u8 (DT_*) | 9 namelen u8 | 10 name[namelen] (no NUL)

import { TREE_DIRENT, ORPHAN_DIR, FIRST_INO, INO_MAX } from "./format";
import { kputs, kputu, kputx, knl, kfs } from "../lib/printk";
import { bt_seek, bt_next, bt_insert, bt_delete, bt_errno, bt_corrupt, cur_k1, cur_k2, cur_val, cur_vlen, CURSOR_SIZE } from "./btree";
import { ENOENT, EEXIST, ENOSPC, EINVAL } from "../lib/errno";
import { NAME_MAX } from "../params";
import { dcache_lookup, dcache_add, dcache_forget, dc_ino, dc_type } from "./dcache";

export const DT_UNKNOWN: u8 = 0;
export const DT_DIR: u8 = 4;
export const DT_REG: u8 = 8;
export const DT_LNK: u8 = 10;
export const DT_FIFO: u8 = 1;
export const DT_CHR: u8 = 2;
export const DT_BLK: u8 = 6;
export const DT_SOCK: u8 = 12;
/** Whether `t` is a type an entry may carry (DT_UNKNOWN never is: every entry knows its type). */
export function dt_known(t: u8): bool {
  return t == DT_DIR || t == DT_REG || t == DT_LNK || t == DT_FIFO || t == DT_CHR || t == DT_BLK || t == DT_SOCK;
}
/** The entry type of an inode mode: the S_IFMT bits >> 12, as Linux's fs_umode_to_dtype. */
export function dtype(mode: u32): u8 { return <u8>((mode >> 12) & 15); }
export const DE_INO: usize = 0;
export const DE_TYPE: usize = 8;
export const DE_NAMELEN: usize = 9;
export const DE_NAME: usize = 10;
/** Entries that may share one 31-bit hash before dir_add gives up (EUCLEAN: a corrupt dir). */
const SEQ_MAX: u64 = 1 << 20;

const CUR: usize = memory.data(CURSOR_SIZE);
const ITER: usize = memory.data(CURSOR_SIZE); // dir_next's own cursor
const REC: usize = memory.data(16 + NAME_MAX);

/** Results of dir_lookup and dir_next. */
export let de_ino: u64 = 0;
export let de_type: u8 = 0;
export let de_key: u64 = 0;
export let de_name: usize = 0; // dir_next: the name's address (valid until the tree changes)
export let de_namelen: u32 = 0;

// ---- record verification ---------------------------------------------------------------------
//
// A dirent's namelen sizes the name read from the record and the ino is followed, so both
// are checked against the record whenever an entry is taken from its leaf: record length
// = 10 + namelen, a name of 1..255 bytes (orphan entries: none) that is one path component
// (name_valid) and hashes to its key, a known type, and an ino of an ordinary inode
// (FIRST_INO..INO_MAX: no entry names the root or a reserved inode). Names come from the disk as
// input: lookup and readdir refuse an entry that fails (EUCLEAN) instead of ending a listing
// early or handing out "../../x".

/** Results of dirent_verify (0 = sound). */
export const DV_OK: i32 = 0;
export const DV_LENGTH: i32 = 1;
export const DV_TYPE: i32 = 2;
export const DV_INO: i32 = 3;
export const DV_NAME: i32 = 4;
export const DV_HASH: i32 = 5;

/** What a dirent_verify result means, for log lines and fsck. */
export function dirent_why(r: i32): string {
  switch (r) {
    case DV_LENGTH: return "name length does not match the record";
    case DV_TYPE: return "bad entry type";
    case DV_INO: return "names a reserved or impossible inode number";
    case DV_NAME: return "name is not one path component";
    case DV_HASH: return "name does not match its hash key";
  }
  return "sound";
}

/**
 * Checks the dirent at `v` (`vlen` bytes) keyed (`dir`, `k2`) (the table above). Returns
 * DV_OK or the first failed check. Only reads the record.
 */
export function dirent_verify(dir: u64, k2: u64, v: usize, vlen: u32): i32 {
  if (vlen < <u32>DE_NAME) return DV_LENGTH;
  const nlen = <u32>load<u8>(v, DE_NAMELEN);
  if (vlen != <u32>DE_NAME + nlen || (nlen == 0) != (dir == ORPHAN_DIR)) return DV_LENGTH;
  const t = load<u8>(v, DE_TYPE);
  if (!dt_known(t)) return DV_TYPE;
  const ino = load<u64>(v, DE_INO);
  if (ino < FIRST_INO || ino > INO_MAX) return DV_INO; // INO_MAX: above it two files would share one mapping
  if (dir == ORPHAN_DIR) return DV_OK; // keyed by ino, no name
  const key = name_key_checked(v + DE_NAME, nlen);
  if (key == 0) return DV_NAME;
  if (key != (k2 & 0xffff_ffff_0000_0000)) return DV_HASH;
  return DV_OK;
}

/**
 * name_hash of a name that passes name_valid, in one pass over its bytes (readdir and lookup
 * check every entry they hand out: two passes cost readdir a tenth of its speed); 0 when the
 * name is not one path component (a hash key is never 0). fsck's name checks use it too.
 */
export function name_key_checked(name: usize, len: u32): u64 {
  if (len == 0 || len > NAME_MAX) return 0;
  if (load<u8>(name) == 46 && (len == 1 || (len == 2 && load<u8>(name + 1) == 46))) return 0;
  let h: u32 = 0x811c9dc5;
  for (let i: u32 = 0; i < len; i++) {
    const c = <u32>load<u8>(name + i);
    if (c == 47 || c == 0) return 0;
    h = (h ^ c) * 0x01000193;
  }
  h ^= h >>> 16;
  return (<u64>(h & 0x7fffffff) + 1) << 32;
}

/** dirent_verify of the entry under `cur`; a bad one is reported (EUCLEAN through bt_corrupt). */
function dirent_sound(cur: usize): bool {
  const r = dirent_verify(cur_k1(cur), cur_k2(cur), cur_val(cur), cur_vlen(cur));
  if (r == DV_OK) return true;
  kfs(); kputs("corrupt directory entry ("); kputu(cur_k1(cur)); kputs(", "); kputx(cur_k2(cur));
  kputs("): "); kputs(dirent_why(r)); knl();
  bt_corrupt();
  return false;
}

/** 31-bit FNV-1a hash of a name, the high half of its key. */
export function name_hash(name: usize, len: u32): u64 {
  let h: u32 = 0x811c9dc5;
  for (let i: u32 = 0; i < len; i++) h = (h ^ <u32>load<u8>(name + i)) * 0x01000193;
  h ^= h >>> 16;
  return (<u64>(h & 0x7fffffff) + 1) << 32;
}

/**
 * Whether `name` is one path component a directory may hold: 1..NAME_MAX bytes, no '/' and
 * no NUL, not "." or ".." (those are never stored; readdir makes them). Names come from the
 * disk as input: lookup and readdir refuse an entry that fails this (EUCLEAN), and fsck
 * reports it.
 */
export function name_valid(name: usize, len: u32): bool {
  return name_key_checked(name, len) != 0;
}

@inline function names_equal(a: usize, b: usize, len: u32): bool {
  return memory.compare(a, b, len) == 0;
}

/**
 * Looks `name` up in directory `dir`. Returns true and sets de_ino/de_type/de_key when
 * found; false when absent (bt_errno 0) or on error (bt_errno).
 */
export function dir_lookup(dir: u64, name: usize, len: u32): bool {
  const h = name_hash(name, len);
  if (dcache_lookup(dir, name, len, h)) {
    de_ino = dc_ino;
    de_type = dc_type;
    de_key = 0; // unknown on a cache hit: dir_remove looks the key up itself
    return true;
  }
  if (!lookup_tree(dir, name, len, h)) return false;
  dcache_add(dir, name, len, h, de_ino, de_type);
  return true;
}

/**
 * The key of entry `name` in `dir` (a tree lookup, never the dcache, which keeps no keys), or 0
 * when absent or on error (bt_errno). Keys are never 0: fsnotify keeps one per open file.
 */
export function dir_key(dir: u64, name: usize, len: u32): u64 {
  return lookup_tree(dir, name, len, name_hash(name, len)) ? de_key : 0;
}

/** dir_lookup in the tree only (sets de_key too). */
function lookup_tree(dir: u64, name: usize, len: u32, h: u64): bool {
  if (!bt_seek(CUR, TREE_DIRENT, dir, h, true)) return false;
  for (let i: u64 = 0; i < SEQ_MAX; i++) {
    if (cur_k1(CUR) != dir || (cur_k2(CUR) & 0xffff_ffff_0000_0000) != h) return false;
    if (!dirent_sound(CUR)) return false;
    const v = cur_val(CUR);
    if (<u32>load<u8>(v, DE_NAMELEN) == len && names_equal(v + DE_NAME, name, len)) {
      de_ino = load<u64>(v, DE_INO);
      de_type = load<u8>(v, DE_TYPE);
      de_key = cur_k2(CUR);
      return true;
    }
    if (!bt_next(CUR)) return false;
  }
  return false;
}

/**
 * Adds entry `name` -> (`ino`, `type`) to `dir`. Returns 0, -EEXIST, -EINVAL (a name that is
 * not one path component, e.g. with a NUL from a raw syscall: it would be unreadable), or
 * -errno from the tree.
 */
export function dir_add(dir: u64, name: usize, len: u32, ino: u64, type: u8): i32 {
  if (!name_valid(name, len)) return -EINVAL;
  const h = name_hash(name, len);
  let seq: u64 = 0;
  if (bt_seek(CUR, TREE_DIRENT, dir, h, true)) {
    for (let i: u64 = 0; i < SEQ_MAX; i++) {
      const k2 = cur_k2(CUR);
      if (cur_k1(CUR) != dir || (k2 & 0xffff_ffff_0000_0000) != h) break;
      if (!dirent_sound(CUR)) return bt_errno;
      const v = cur_val(CUR);
      if (<u32>load<u8>(v, DE_NAMELEN) == len && names_equal(v + DE_NAME, name, len)) return -EEXIST;
      if ((k2 & 0xffff_ffff) == seq) seq++;
      if (!bt_next(CUR)) break;
    }
  }
  if (bt_errno != 0) return bt_errno;
  if (seq >= SEQ_MAX) return -ENOSPC;
  store<u64>(REC, ino, DE_INO);
  store<u8>(REC, type, DE_TYPE);
  store<u8>(REC, <u8>len, DE_NAMELEN);
  memory.copy(REC + DE_NAME, name, len);
  iter_valid = false;
  const r = bt_insert(TREE_DIRENT, dir, h | seq, REC, <u32>DE_NAME + len);
  if (r == 0) dcache_add(dir, name, len, h, ino, type);
  return r;
}

/** Removes entry `name` from `dir`. Returns 0, -ENOENT, or -errno. */
export function dir_remove(dir: u64, name: usize, len: u32): i32 {
  const h = name_hash(name, len);
  dcache_forget(dir, name, len, h);
  iter_valid = false;
  if (!lookup_tree(dir, name, len, h)) return bt_errno != 0 ? bt_errno : -ENOENT;
  return bt_delete(TREE_DIRENT, dir, de_key);
}

/** True when `dir` has no entries; false when it has some or on error (bt_errno). */
export function dir_is_empty(dir: u64): bool {
  if (!bt_seek(CUR, TREE_DIRENT, dir, 0, true)) return bt_errno == 0;
  return cur_k1(CUR) != dir;
}

/**
 * The first entry of `dir` whose key is >= `pos` (a readdir cookie). Returns true and sets
 * de_ino/de_type/de_key/de_name/de_namelen; false at the end or on error (bt_errno).
 */
export function dir_next(dir: u64, pos: u64): bool {
  // a readdir continues where the previous entry left the cursor: step instead of seeking
  if (iter_dir == dir && iter_next == pos && iter_valid) {
    if (!bt_next(ITER)) { iter_valid = false; return false; }
  } else if (!bt_seek(ITER, TREE_DIRENT, dir, pos, true)) { iter_valid = false; return false; }
  if (cur_k1(ITER) != dir) { iter_valid = false; return false; }
  // a key below the position asked for means a damaged tree routed the seek wrong; going on
  // would move readdir backwards forever
  if (cur_k2(ITER) < pos) { iter_valid = false; bt_corrupt(); return false; }
  if (!dirent_sound(ITER)) { iter_valid = false; return false; }
  const v = cur_val(ITER);
  de_ino = load<u64>(v, DE_INO);
  de_type = load<u8>(v, DE_TYPE);
  de_key = cur_k2(ITER);
  de_name = v + DE_NAME;
  de_namelen = load<u8>(v, DE_NAMELEN);
  iter_dir = dir;
  iter_next = de_key + 1;
  iter_valid = true;
  return true;
}

// dir_next's iteration state: the cursor sits on the entry before `iter_next` of `iter_dir`.
// Any change to the dirent tree or a syscall boundary invalidates it (dir_iter_reset).
let iter_dir: u64 = 0;
let iter_next: u64 = 0;
let iter_valid: bool = false;

/** Forgets dir_next's cursor (called when the dirent tree may have changed). */
export function dir_iter_reset(): void { iter_valid = false; }


