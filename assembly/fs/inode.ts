// fs/inode.ts -- inode records in the inode B+ tree.
//
// Layer: above the B+ tree; the file, directory and syscall layers use it.
// Interface: inode_get (read-only view), inode_get_mut (in-place change, journaled),
// inode_create, inode_remove_record, inode_touch, inline-data resize, ino allocation.
// Rules: an inode's record is the only copy of its attributes (no in-core inode to write
// back): every change goes straight into the record in its leaf buffer and is journaled
// there; pointers returned here are valid until the next B+ tree change. The icache below
// remembers only where records are.
//
// Inode record, the value of key (ino, 0) in TREE_INODE (INODE_REC bytes + inline data):
//
//   0 mode u32    4 uid u32     8 gid u32     12 nlink u32
//  16 size u64   24 atime i64  32 mtime i64   40 ctime i64   48 crtime i64   (ns)
//  56 generation u32           60 flags u32 (INODE_INLINE)
//  64 blocks u64 (data blocks allocated)      72 parent u64 (directories: the parent's ino)
//                                             72 rdev u64   (special inodes, INCOMPAT_SPECIAL)
//  80 inline data[size] when INODE_INLINE (files and symlinks up to INLINE_MAX bytes)
//
// Offset 72 is the parent's ino for a directory (namei's "..", getdents, rename, fsck: all
// read it for directories only; for files and symlinks it holds the directory they were
// created in and nothing reads it) and the device number (Linux dev_t as given to mknod) for
// a character or block device; FIFOs and sockets keep 0 there, as Linux init_special_inode
// gives them no rdev. Special inodes (FIFO, CHR, BLK, SOCK) have no data: size 0, no blocks,
// no flags, no extents.

import { TREE_INODE, MAGIC_SUPER, SB_NEXT_INO, SB_INODE_COUNT } from "./format";
import { bt_lookup, bt_lookup_mut, bt_insert, bt_delete, bt_update, bt_errno, bt_vlen } from "./btree";
import { bread, buf_errno, buffer_seq, buffer_seq_valid } from "./pagecache";
import { alloc_large_system_hash, hash_entries } from "../mm/buddy";
import { journal_dirty } from "./journal";
import { clock_now } from "../lib/clock";
import { ENOENT, EIO, ENOMEM, EUCLEAN } from "../lib/errno";
import { metadata_error } from "./errors";
import { kputs, kputu, knl, kfs } from "../lib/printk";

export const I_MODE: usize = 0;
export const I_UID: usize = 4;
export const I_GID: usize = 8;
export const I_NLINK: usize = 12;
export const I_SIZE: usize = 16;
export const I_ATIME: usize = 24;
export const I_MTIME: usize = 32;
export const I_CTIME: usize = 40;
export const I_CRTIME: usize = 48;
export const I_GENERATION: usize = 56;
export const I_FLAGS: usize = 60;
export const I_BLOCKS: usize = 64;
export const I_PARENT: usize = 72;
/** Device number of a special inode: the same 8 bytes as I_PARENT (only directories have a parent). */
export const I_RDEV: usize = 72;
export const I_INLINE: usize = 80;
export const INODE_REC: u32 = 80;
/** Largest inline file or symlink target in bytes. */
export const INLINE_MAX: u32 = 1024;
export const INODE_INLINE: u32 = 1;
/** Largest file size in bytes: page indices are u32 (file.ts FILE_SIZE_MAX). */
export const INODE_SIZE_MAX: u64 = (<u64>0xffff_fff0) << 12;

// POSIX mode bits
export const S_IFMT: u32 = 0o170000;
export const S_IFREG: u32 = 0o100000;
export const S_IFDIR: u32 = 0o040000;
export const S_IFLNK: u32 = 0o120000;
export const S_IFIFO: u32 = 0o010000;
export const S_IFCHR: u32 = 0o020000;
export const S_IFBLK: u32 = 0o060000;
export const S_IFSOCK: u32 = 0o140000;
/** FIFO, character or block device, socket: an inode with no data (and an rdev for CHR/BLK). */
export function S_ISSPECIAL(m: u32): bool {
  const t = m & S_IFMT;
  return t == S_IFIFO || t == S_IFCHR || t == S_IFBLK || t == S_IFSOCK;
}
@inline export function S_ISDIR(m: u32): bool { return (m & S_IFMT) == S_IFDIR; }
@inline export function S_ISREG(m: u32): bool { return (m & S_IFMT) == S_IFREG; }
@inline export function S_ISLNK(m: u32): bool { return (m & S_IFMT) == S_IFLNK; }

/** Error of the last inode_get/inode_create returning 0: -ENOENT, -EIO, -EUCLEAN, -ENOSPC. */
export let inode_errno: i32 = 0;

// The clock is read once per syscall (one crossing), as a kernel reads its tick once.
let now_cache: i64 = 0;
export function fs_clock_reset(): void { now_cache = 0; }
export function fs_now(): i64 {
  if (now_cache == 0) now_cache = clock_now();
  return now_cache;
}

// ---- record verification ---------------------------------------------------------------------
//
// The fields of an inode record size reads of the record itself (inline data) and of the
// file, so they are checked against the record's length whenever a record is taken from its
// leaf (inode_get, inode_get_mut): a record that fails is EUCLEAN, never used.
//
//   type          regular file, directory, symlink, FIFO, character/block device or socket
//   flags         only INODE_INLINE; never on a directory
//   special       (FIFO, CHR, BLK, SOCK) no flags, size 0, no blocks, record length INODE_REC
//   INLINE        size <= INLINE_MAX, record length = INODE_REC + size, no blocks
//   not INLINE    record length = INODE_REC, size <= INODE_SIZE_MAX

/** Results of inode_verify (0 = sound). */
export const IV_OK: i32 = 0;
export const IV_LENGTH: i32 = 1;
export const IV_TYPE: i32 = 2;
export const IV_FLAGS: i32 = 3;
export const IV_INLINE_SIZE: i32 = 4;
export const IV_INLINE_BLOCKS: i32 = 5;
export const IV_SIZE: i32 = 6;
export const IV_SPECIAL: i32 = 7;

/** What an inode_verify result means, for log lines and fsck. */
export function inode_why(r: i32): string {
  switch (r) {
    case IV_LENGTH: return "record length does not match its fields";
    case IV_TYPE: return "bad file type";
    case IV_FLAGS: return "unknown or misplaced flags";
    case IV_INLINE_SIZE: return "inline size does not match the record";
    case IV_INLINE_BLOCKS: return "inline inode with data blocks";
    case IV_SIZE: return "size beyond the largest file";
    case IV_SPECIAL: return "special inode with data, blocks or flags";
  }
  return "sound";
}

/**
 * Checks the inode record at `rec` of `vlen` bytes (the table above). Returns IV_OK or the
 * first failed check. Only reads the record. Exported for fsck.
 */
export function inode_verify(rec: usize, vlen: u32): i32 {
  if (vlen < INODE_REC) return IV_LENGTH;
  const type = load<u32>(rec, I_MODE) & S_IFMT;
  if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK && !S_ISSPECIAL(type)) return IV_TYPE;
  const flags = load<u32>(rec, I_FLAGS);
  if (S_ISSPECIAL(type)) {
    if (vlen != INODE_REC) return IV_LENGTH;
    if (flags != 0 || load<u64>(rec, I_SIZE) != 0 || load<u64>(rec, I_BLOCKS) != 0) return IV_SPECIAL;
    return IV_OK;
  }
  if ((flags & ~INODE_INLINE) != 0 || (flags != 0 && type == S_IFDIR)) return IV_FLAGS;
  const size = load<u64>(rec, I_SIZE);
  if (flags & INODE_INLINE) {
    if (size > <u64>INLINE_MAX || <u64>vlen != <u64>INODE_REC + size) return IV_INLINE_SIZE;
    if (load<u64>(rec, I_BLOCKS) != 0) return IV_INLINE_BLOCKS;
    return IV_OK;
  }
  if (vlen != INODE_REC) return IV_LENGTH;
  if (size > INODE_SIZE_MAX) return IV_SIZE;
  return IV_OK;
}

/** inode_verify for a record just taken from the tree; a bad one is reported (EUCLEAN). */
function inode_sound(ino: u64, rec: usize, vlen: u32): bool {
  const r = inode_verify(rec, vlen);
  if (r == IV_OK) return true;
  kfs(); kputs("corrupt inode "); kputu(ino); kputs(": "); kputs(inode_why(r)); knl();
  inode_errno = -EUCLEAN;
  metadata_error(-EUCLEAN);
  return false;
}

// ---- icache: where inode records are -----------------------------------------------------
//
// A direct-mapped table ino -> (record address in its leaf buffer, record length), filled by
// inode_get and inode_get_mut. It holds no copy of an inode (the record stays the only one),
// only the result of a B+ tree walk. A record keeps its address until it is removed or
// resized (here: icache_forget) or its leaf is compacted, redistributed, reformatted, freed
// or leaves the cache (each renews the buffer's sequence number, btree.ts node_moved), so an
// entry counts while its buffer's sequence number is the one it was made with. Inserts of
// other records leave it valid: creating files does not empty the cache (before, every tree
// change did, and a stat right after a create always walked the tree). Changes in place
// keep it valid. Sized at the first mount like the dentry cache (one entry per 16 KiB of
// frames, at most one order-8 block); inos are allocated in sequence, so ino & mask spreads
// them evenly.
//
// Entry (ICACHE_ENT = 32 bytes): | ino u64 (0 = empty) | buffer seq u64 | addr u32 | vlen u32 | rsv |

const ICACHE_ENT: usize = 32;
const ICACHE_SLOTS_MIN: u32 = 1 << 10;
const ICACHE_ORDER_MAX: u32 = 8;
/** Frames of physical memory per entry (16 KiB). */
const ICACHE_FRAMES_PER_ENT: u32 = 4;
const IC_INO: usize = 0;
const IC_SEQ: usize = 8;
const IC_ADDR: usize = 16;
const IC_VLEN: usize = 20;
let icache: usize = 0;
let icache_mask: u32 = 0;
export let icache_hits: u64 = 0;

/** Allocates the inode cache (first mount only) and empties it. 0 or -ENOMEM. */
export function icache_init(): i32 {
  if (icache == 0) {
    icache = alloc_large_system_hash(ICACHE_ENT, ICACHE_FRAMES_PER_ENT, ICACHE_SLOTS_MIN, ICACHE_ORDER_MAX);
    if (icache == 0) return -ENOMEM;
    icache_mask = hash_entries - 1;
  }
  memory.fill(icache, 0, (<usize>icache_mask + 1) * ICACHE_ENT);
  return 0;
}

@inline function icache_slot(ino: u64): usize { return icache + (<usize>(<u32>ino & icache_mask)) * ICACHE_ENT; }

/** Remembers that `ino`'s record is `vlen` bytes at `addr` (a leaf buffer). */
function icache_fill(ino: u64, addr: usize, vlen: u32): void {
  if (icache == 0) return;
  const e = icache_slot(ino);
  store<u64>(e, ino, IC_INO);
  store<u64>(e, buffer_seq(addr), IC_SEQ);
  store<u32>(e, <u32>addr, IC_ADDR);
  store<u32>(e, vlen, IC_VLEN);
}

/** Forgets where `ino`'s record is (it is being removed or resized). */
function icache_forget(ino: u64): void {
  if (icache == 0) return;
  const e = icache_slot(ino);
  if (load<u64>(e, IC_INO) == ino) store<u64>(e, 0, IC_INO);
}

// Record length of the last inode_get.
let inode_vlen: u32 = 0;

/** Read-only view of inode `ino`'s record, or 0 (inode_errno says why). */
export function inode_get(ino: u64): usize {
  // ino 0 is never an inode, and the inode cache's empty slots carry ino 0: without this
  // check an empty slot would match and hand out its (null) record address
  if (ino == 0) { inode_errno = -ENOENT; return 0; }
  if (icache != 0) {
    const e = icache_slot(ino);
    const addr = <usize>load<u32>(e, IC_ADDR);
    if (load<u64>(e, IC_INO) == ino && buffer_seq_valid(addr, load<u64>(e, IC_SEQ))) {
      inode_vlen = load<u32>(e, IC_VLEN);
      if (!ASC_NO_ASSERT) assert(bt_lookup(TREE_INODE, ino, 0) == addr && bt_vlen == inode_vlen, "stale icache entry");
      icache_hits++;
      return addr;
    }
  }
  const p = bt_lookup(TREE_INODE, ino, 0);
  if (p == 0) {
    inode_errno = bt_errno != 0 ? bt_errno : -ENOENT;
    return 0;
  }
  if (!inode_sound(ino, p, bt_vlen)) return 0;
  inode_vlen = bt_vlen;
  icache_fill(ino, p, inode_vlen);
  return p;
}

/** Writable view of inode `ino`'s record (its leaf is journaled), or 0 (inode_errno). */
export function inode_get_mut(ino: u64): usize {
  const p = bt_lookup_mut(TREE_INODE, ino, 0);
  if (p == 0) inode_errno = bt_errno != 0 ? bt_errno : -ENOENT;
  else if (!inode_sound(ino, p, bt_vlen)) return 0;
  else {
    inode_vlen = bt_vlen;
    icache_fill(ino, p, inode_vlen);
  }
  return p;
}

/** Record length of the last inode_get or inode_get_mut (INODE_REC + inline bytes). */
export function inode_reclen(): u32 { return inode_vlen; }

const NEWREC: usize = memory.data(INODE_REC + INLINE_MAX);

/**
 * Creates an inode with `mode` (type and permission bits), owner, nlink and parent.
 * Returns the new ino, or 0 with inode_errno (-ENOSPC, -EIO, -EUCLEAN).
 */
export function inode_create(mode: u32, uid: u32, gid: u32, nlink: u32, parent: u64): u64 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) { inode_errno = buf_errno; return 0; }
  const ino = load<u64>(sb, SB_NEXT_INO);
  const now = fs_now();
  memory.fill(NEWREC, 0, INODE_REC);
  store<u32>(NEWREC, mode, I_MODE);
  store<u32>(NEWREC, uid, I_UID);
  store<u32>(NEWREC, gid, I_GID);
  store<u32>(NEWREC, nlink, I_NLINK);
  store<i64>(NEWREC, now, I_ATIME);
  store<i64>(NEWREC, now, I_MTIME);
  store<i64>(NEWREC, now, I_CTIME);
  store<i64>(NEWREC, now, I_CRTIME);
  store<u32>(NEWREC, <u32>(now ^ (now >> 32)) | 1, I_GENERATION);
  store<u32>(NEWREC, S_ISREG(mode) || S_ISLNK(mode) ? INODE_INLINE : 0, I_FLAGS);
  store<u64>(NEWREC, parent, I_PARENT);
  const r = bt_insert(TREE_INODE, ino, 0, NEWREC, INODE_REC);
  if (r != 0) { inode_errno = r; return 0; }
  const sb2 = bread(0, MAGIC_SUPER); // the insert may have changed the superblock buffer
  if (sb2 == 0) { inode_errno = buf_errno; return 0; }
  store<u64>(sb2, ino + 1, SB_NEXT_INO);
  journal_dirty(0);
  const c = inode_count_set(inode_count() + 1);
  if (c != 0) { inode_errno = c; return 0; }
  return ino;
}

/**
 * Inserts the record of a fixed ino (mkfs: the root directory) owned by `uid`:`gid`
 * (mke2fs's root_owner: the creator's ids). 0 or -errno.
 */
export function inode_create_fixed(ino: u64, mode: u32, parent: u64, uid: u32 = 0, gid: u32 = 0): i32 {
  const now = fs_now();
  memory.fill(NEWREC, 0, INODE_REC);
  store<u32>(NEWREC, mode, I_MODE);
  store<u32>(NEWREC, uid, I_UID);
  store<u32>(NEWREC, gid, I_GID);
  store<u32>(NEWREC, 2, I_NLINK);
  store<i64>(NEWREC, now, I_ATIME);
  store<i64>(NEWREC, now, I_MTIME);
  store<i64>(NEWREC, now, I_CTIME);
  store<i64>(NEWREC, now, I_CRTIME);
  store<u32>(NEWREC, 1, I_GENERATION);
  store<u64>(NEWREC, parent, I_PARENT);
  return bt_insert(TREE_INODE, ino, 0, NEWREC, INODE_REC);
}

/** Deletes inode `ino`'s record (its data must already be freed). 0 or -errno. */
export function inode_remove_record(ino: u64): i32 {
  icache_forget(ino);
  const r = bt_delete(TREE_INODE, ino, 0);
  if (r != 0) return r;
  return inode_count_set(inode_count() - 1);
}

// ---- the inode count of the mounted head -------------------------------------------------------
//
// The superblock counts the main filesystem's inodes; a mounted clone counts its own in its
// snapshot record (snapshot.ts installs the hooks), so creating files in a clone leaves the
// main filesystem's count (statfs f_files, fsck's check) exact. Inode numbers still come from
// the one superblock counter: they stay unique across every head.

/** The superblock's count (0 when it cannot be read: the next change reports the error). */
function sb_count_get(): u64 {
  const sb = bread(0, MAGIC_SUPER);
  return sb == 0 ? 0 : load<u64>(sb, SB_INODE_COUNT);
}
/** Sets the superblock's count (journaled). 0 or -errno. */
function sb_count_set(n: u64): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  store<u64>(sb, n, SB_INODE_COUNT);
  journal_dirty(0);
  return 0;
}
let count_get: () => u64 = sb_count_get;
let count_set: (n: u64) => i32 = sb_count_set;
/** Where the mounted head keeps its inode count (null, null: the superblock). */
export function inode_set_count_hooks(get: (() => u64) | null, set: ((n: u64) => i32) | null): void {
  count_get = get != null ? get : sb_count_get;
  count_set = set != null ? set : sb_count_set;
}
/** Inodes of the mounted head (statfs, fsck). */
export function inode_count(): u64 { return count_get(); }
/** Sets the mounted head's inode count (journaled). 0 or -errno. */
export function inode_count_set(n: u64): i32 { return count_set(n); }

/** Touch flags for inode_touch. */
export const T_ATIME: u32 = 1;
export const T_MTIME: u32 = 2;
export const T_CTIME: u32 = 4;

/** Sets the chosen timestamps of `ino` to now. 0 or -errno. */
export function inode_touch(ino: u64, which: u32): i32 {
  const p = inode_get_mut(ino);
  if (p == 0) return inode_errno;
  const now = fs_now();
  if (which & T_ATIME) store<i64>(p, now, I_ATIME);
  if (which & T_MTIME) store<i64>(p, now, I_MTIME);
  if (which & T_CTIME) store<i64>(p, now, I_CTIME);
  return 0;
}

/** Adds `delta` to the link count of `ino` and sets ctime. Returns the new count or -errno. */
export function inode_link_delta(ino: u64, delta: i32): i32 {
  const p = inode_get_mut(ino);
  if (p == 0) return inode_errno;
  const n = <i32>load<u32>(p, I_NLINK) + delta;
  store<u32>(p, <u32>max(n, 0), I_NLINK);
  store<i64>(p, fs_now(), I_CTIME);
  return max(n, 0);
}

/**
 * Rewrites `ino`'s record with `inline_len` bytes of inline data taken from `data`
 * (which may point into the old record) and the given size/flags. 0 or -errno.
 */
export function inode_set_inline(ino: u64, data: usize, inline_len: u32, size: u64, flags: u32): i32 {
  const p = inode_get(ino);
  if (p == 0) return inode_errno;
  memory.copy(NEWREC, p, INODE_REC);
  if (inline_len > 0) memory.copy(NEWREC + INODE_REC, data, inline_len);
  store<u64>(NEWREC, size, I_SIZE);
  store<u32>(NEWREC, flags, I_FLAGS);
  icache_forget(ino); // a resized record moves
  return bt_update(TREE_INODE, ino, 0, NEWREC, INODE_REC + inline_len);
}


