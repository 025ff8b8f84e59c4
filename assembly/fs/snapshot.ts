// fs/snapshot.ts -- whole-filesystem snapshots and writable clones over copy-on-write trees.
//
// Layer: above the B+ tree, the allocator and the journal; super.ts mounts it, the syscall
// layer calls it. Interface: snap_mount, snap_create, snap_list, snap_delete, snap_rollback,
// snap_work (background frees), snap_pending, the allocator's kill hook (snap_kill).
//
// Design (docs/decisions.md "Snapshots"): ZFS's birth times and dead lists over Rodeh's
// shadowing B+ trees.
//  - A snapshot records the roots of the three filesystem trees (inode, dirent, extent) at a
//    committed transaction id `tid`. Every node and extent has a birth tid (node: its header
//    tid, extent: its record's birth). The newest snapshot's tid is the cow floor: what was
//    born at or before it may be shared, so the B+ tree shadows such nodes instead of
//    changing them (btree.ts), and what the live filesystem stops using (a shadowed node, a
//    rewritten or deleted extent) is not freed but put on the dead list: key (kill tid,
//    start) in TREE_DEAD, the blocks held only by snapshots.
//  - Snapshots of the main filesystem form a chain by tid. A dead extent (kill K, birth B) is
//    used by exactly the snapshots with B <= tid < K. Deleting snapshot S (previous P, next N
//    or the live filesystem) frees the dead extents with K in (S.tid, N.tid] and B > P.tid,
//    and keeps the others (ZFS dsl_deadlist): in the background, a batch per transaction,
//    resuming from a key kept in S's record, so a crash anywhere resumes at mount.
//  - A writable clone is a second head: a record with its own roots, created from a snapshot
//    (its origin, which cannot be deleted while the clone exists: EBUSY). A mounted clone
//    shadows what was born at or before its origin; what it stops using that the origin has
//    is simply dropped (the origin keeps it), what it made itself is freed. Clones have no
//    snapshots of their own (EOPNOTSUPP).
//  - Rollback makes the live roots the snapshot's (one transaction) and turns the old live
//    tree into a DROP record: its dead-list range (S.tid, R] is cleared (those blocks are
//    live again) before any other snapshot operation, and its nodes and extents born after
//    S are freed in the background by a post-order walk that prunes every subtree whose
//    pointer generation is <= S.tid (shared with S).
//
// Rules:
//  - every snapshot operation changes the trees and the superblock inside one transaction
//    and commits (create, delete and rollback return durable); background units run inside
//    ordinary transactions and leave the records consistent after each one;
//  - the cow floor (superblock last_snapshot) is the newest record's tid, deleting ones
//    included (their blocks stay dead-listed until their own delete frees them).
//
// Snapshot record, value of (id, 0) in TREE_SNAP (SR_NAME + namelen bytes):
//
//    0 tid u64          8 ctime i64 (ns)   16 flags u32       20 namelen u32
//   24 roots[3] { root u64, height u32, reserved u32, gen u64 }            (to 96)
//   96 referenced u64 (blocks in use when taken)   104 origin u64 (clone: origin id)
//  112 inode_count u64 (when taken)                120 kill_hi u64 (DROP: dead range end)
//  128 resume_k1 u64   136 resume_k2 u64   144 resume_tree u32   148 reserved u32
//  152 name[namelen] (1..255 bytes, no '/' or NUL)
//
// flags: SNAP_CLONE (a writable head), SNAP_DELETING (delete in progress: resume key is
// the dead-list key), SNAP_DROP (a tree to free: a deleted clone or the live tree a rollback
// replaced; resume key is the walk's next key in tree resume_tree).
//
// Dead extent, value of (kill tid, start) in TREE_DEAD (16 bytes):
//
//    0 len u32 (blocks)   4 flags u32 (DEFER_META: a tree node)   8 birth u64

import { BLOCK_SIZE } from "../params";
import { EEXIST, ENOENT, EINVAL, EBUSY, ENOSPC, EROFS, EOPNOTSUPP, ENOTEMPTY, EUCLEAN } from "../lib/errno";
import {
  TREE_SNAP, TREE_DEAD, TREE_EXTENT, FS_TREES, MAGIC_SUPER, SB_LAST_SNAPSHOT, SB_SNAP_NEXT_ID, SB_DEAD_BLOCKS,
  SB_TREES, SB_TREE_ENTRY, SB_TREE_GEN, SB_INODE_COUNT, SB_FREE_BLOCKS, SB_TOTAL_BLOCKS, EXT_DISK, EXT_LEN, EXT_BIRTH,
  MAGIC_BTREE, layout_data_start,
} from "./format";
import {
  bt_lookup, bt_insert, bt_delete, bt_update, bt_seek, bt_next, bt_errno, cur_k1, cur_k2, cur_val, cur_vlen,
  CURSOR_SIZE, bt_root, bt_height, bt_root_gen, bt_set_root_incore, bt_set_cow_floor, bt_set_root_store,
  read_node, nitems, ichild, igen, ik1, ik2, ival, ivlen, HEIGHT_MAX, bt_vlen, bt_corrupt,
} from "./btree";
import { bread, buf_errno } from "./pagecache";
import { journal_dirty, j_tid } from "./journal";
import { alloc_set_kill_hook, KILL_KEPT, bfree_deferred, DEFER_META } from "./alloc";
import { fs_now, inode_set_count_hooks } from "./inode";
import { kputs, kputu, knl, kfs } from "../lib/printk";

/** Most snapshot records (snapshots, clones, deletes in progress) a filesystem holds. */
export const SNAPSHOT_MAX: u32 = 256;
/** Longest snapshot name in bytes. */
export const SNAP_NAME_MAX: u32 = 255;

export const SNAP_CLONE: u32 = 1;
export const SNAP_DELETING: u32 = 2;
export const SNAP_DROP: u32 = 4;

const SR_TID: usize = 0;
const SR_CTIME: usize = 8;
const SR_FLAGS: usize = 16;
const SR_NAMELEN: usize = 20;
const SR_ROOTS: usize = 24;
const SR_ROOT_ENTRY: usize = 24;
const SR_REFERENCED: usize = 96;
const SR_ORIGIN: usize = 104;
const SR_INODE_COUNT: usize = 112;
const SR_KILL_HI: usize = 120;
const SR_RESUME_K1: usize = 128;
const SR_RESUME_K2: usize = 136;
const SR_RESUME_TREE: usize = 144;
const SR_NAME: usize = 152;
const SR_MAX: u32 = <u32>SR_NAME + SNAP_NAME_MAX;

const DEAD_VLEN: u32 = 16;

/** SNAPINFO record of sys_snapshot_list (docs/abi.md), 320 bytes. */
export const SNAPINFO_SIZE: u32 = 320;
/** SNAPINFO flag: the head this kernel mounted. */
const INFO_MOUNTED: u32 = 4;

const CUR: usize = memory.data(CURSOR_SIZE);
const REC: usize = memory.data(SR_MAX + 1);
const REC2: usize = memory.data(SR_MAX + 1);
const DEADV: usize = memory.data(DEAD_VLEN);

/** Id of the mounted snapshot or clone record, 0 for the main filesystem. */
let mounted_id: u64 = 0;
let mounted_clone: bool = false;
/** A mounted clone's origin tid: what is born at or before it belongs to the origin. */
let clone_floor: u64 = 0;
/** Units of background work left as of the last count (0 = idle; recounted lazily). */
let pending_units: u64 = 0;
/**
 * Set once the running create, delete or rollback has begun changing trees: an error after
 * that leaves a half-made change in the transaction (the caller treats it as fatal).
 */
export let snap_changed: bool = false;
/** Errors of the background work, for the log (the filesystem turns read-only on them). */
export let snap_work_errno: i32 = 0;

// ---- records -------------------------------------------------------------------------------

function sb(): usize { return bread(0, MAGIC_SUPER); }

/**
 * True when the record at `v` (`vlen` bytes) is sound: its length matches its name length
 * (0 only for DROP, else 1..255), its flags are known, its tree heights in range. A record
 * read from disk is trusted only after this (a crafted one could size copies past REC).
 */
function rec_sound(v: usize, vlen: u32): bool {
  if (vlen < <u32>SR_NAME || vlen > SR_MAX) return false;
  const nl = load<u32>(v, SR_NAMELEN), f = load<u32>(v, SR_FLAGS);
  if (nl != vlen - <u32>SR_NAME || (f & ~(SNAP_CLONE | SNAP_DELETING | SNAP_DROP)) != 0) return false;
  if (nl == 0 && (f & SNAP_DROP) == 0) return false;
  for (let t: u32 = 0; t < FS_TREES; t++) {
    const h = load<u32>(v + SR_ROOTS + <usize>t * SR_ROOT_ENTRY, 8);
    if (h > HEIGHT_MAX) return false;
  }
  return true;
}

/** Reports a record that fails rec_sound: EUCLEAN, the filesystem read-only (bt_corrupt). */
function rec_corrupt(id: u64): void {
  kfs(); kputs("corrupt snapshot record "); kputu(id); knl();
  bt_corrupt();
}

/** First record of TREE_SNAP (value address, checked), or 0 at the end or on error (bt_errno). */
function rec_first(): usize {
  return bt_seek(CUR, TREE_SNAP, 0, 0, true) ? rec_here() : 0;
}
/** Next record after the cursor's, as rec_first. */
function rec_next(): usize {
  return bt_next(CUR) ? rec_here() : 0;
}
function rec_here(): usize {
  const v = cur_val(CUR);
  if (rec_sound(v, cur_vlen(CUR))) return v;
  rec_corrupt(cur_k1(CUR));
  return 0;
}

/** Copies record `id` into `dst`; its length, or 0 (bt_errno set on error, -EUCLEAN if unsound). */
function rec_load(id: u64, dst: usize): u32 {
  const v = bt_lookup(TREE_SNAP, id, 0);
  if (v == 0) return 0;
  const n = bt_vlen;
  if (!rec_sound(v, n)) { rec_corrupt(id); return 0; }
  memory.copy(dst, v, n);
  return n;
}

@inline function rec_len(r: usize): u32 { return <u32>SR_NAME + load<u32>(r, SR_NAMELEN); }

function rec_name_is(r: usize, name: usize, len: u32): bool {
  if (load<u32>(r, SR_NAMELEN) != len) return false;
  return memory.compare(r + SR_NAME, name, len) == 0;
}

/**
 * Finds the record named `name` (not DELETING or DROP): its id, record copied to REC, or 0
 * (bt_errno set on an error).
 */
function find_by_name(name: usize, len: u32): u64 {
  for (let v = rec_first(); v != 0; v = rec_next()) {
    const vl = cur_vlen(CUR);
    if (vl >= <u32>SR_NAME && (load<u32>(v, SR_FLAGS) & (SNAP_DELETING | SNAP_DROP)) == 0 && rec_name_is(v, name, len)) {
      const id = cur_k1(CUR);
      memory.copy(REC, v, min<u32>(vl, SR_MAX));
      return id;
    }
  }
  return 0;
}

/** Records and the newest tid among them (every record of the main chain counts). */
let scan_count: u32 = 0;
function scan_newest_tid(): u64 {
  let newest: u64 = 0;
  scan_count = 0;
  for (let v = rec_first(); v != 0; v = rec_next()) {
    scan_count++;
    const f = load<u32>(v, SR_FLAGS);
    if ((f & (SNAP_CLONE | SNAP_DROP)) == 0 && load<u64>(v, SR_TID) > newest) newest = load<u64>(v, SR_TID);
  }
  return newest;
}

/** Sets the cow floor in core and in the superblock (journaled). 0 or -errno. */
function set_floor(tid: u64): i32 {
  const s = sb();
  if (s == 0) return buf_errno;
  store<u64>(s, tid, SB_LAST_SNAPSHOT);
  journal_dirty(0);
  if (!mounted_clone) bt_set_cow_floor(tid);
  return 0;
}

function dead_blocks_add(delta: i64): i32 {
  const s = sb();
  if (s == 0) return buf_errno;
  store<u64>(s, <u64>(<i64>load<u64>(s, SB_DEAD_BLOCKS) + delta), SB_DEAD_BLOCKS);
  journal_dirty(0);
  return 0;
}

/** Blocks held only by snapshots (the dead list). */
export function snap_dead_blocks(): u64 {
  const s = sb();
  return s == 0 ? 0 : load<u64>(s, SB_DEAD_BLOCKS);
}

// ---- the kill hook (alloc.ts, at commit) ---------------------------------------------------

/**
 * Decides the fate of a deferred free (alloc_apply_deferred): blocks born at or before the
 * cow floor are still a snapshot's, so they go on the dead list (main filesystem) or stay
 * the origin's (clone); others are freed. Returns KILL_KEPT, 0 (free them) or -errno.
 */
function snap_kill(start: u64, len: u64, birth: u64, flags: u32): i32 {
  if (birth == 0) return 0;
  if (mounted_clone) return birth <= clone_floor ? KILL_KEPT : 0;
  const s = sb();
  if (s == 0) return buf_errno;
  if (birth > load<u64>(s, SB_LAST_SNAPSHOT)) return 0;
  store<u32>(DEADV, <u32>len);
  store<u32>(DEADV, flags, 4);
  store<u64>(DEADV, birth, 8);
  const r = bt_insert(TREE_DEAD, j_tid, start, DEADV, DEAD_VLEN);
  if (r != 0) return r == -EEXIST ? -EUCLEAN : r; // the same block killed twice: corrupt
  const d = dead_blocks_add(<i64>len);
  return d != 0 ? d : KILL_KEPT;
}

// ---- mount -----------------------------------------------------------------------------------

/**
 * Sets up snapshots for a mount: the cow floor from the superblock, the kill hook, and, when
 * `name` (len > 0) names a snapshot or clone, its roots in place of the live ones. Returns
 * 1 when the mounted head must be read-only (a snapshot), 0, or -errno (-ENOENT: no such
 * name, -EUCLEAN).
 */
export function snap_mount(name: usize, len: u32): i32 {
  mounted_id = 0;
  mounted_clone = false;
  clone_floor = 0;
  pending_units = 0;
  snap_work_errno = 0;
  alloc_set_kill_hook(snap_kill);
  inode_set_count_hooks(null, null);
  const s = sb();
  if (s == 0) return buf_errno;
  bt_set_cow_floor(load<u64>(s, SB_LAST_SNAPSHOT));
  // a delete or rollback a crash cut short resumes: is there one?
  // (a damaged record is reported by bt_corrupt: the mount goes on, read-only, flagged)
  if (work_find() != 0) pending_units = 1;
  if (len == 0) return 0;
  const id = find_by_name(name, len);
  if (id == 0) return bt_errno != 0 ? bt_errno : -ENOENT;
  for (let t: u32 = 0; t < FS_TREES; t++) {
    const e = REC + SR_ROOTS + <usize>t * SR_ROOT_ENTRY;
    bt_set_root_incore(t, load<u64>(e), load<u32>(e, 8), load<u64>(e, 16));
  }
  mounted_id = id;
  if ((load<u32>(REC, SR_FLAGS) & SNAP_CLONE) == 0) return 1;
  mounted_clone = true;
  const origin = rec_load(load<u64>(REC, SR_ORIGIN), REC2);
  if (origin == 0) return bt_errno != 0 ? bt_errno : -EUCLEAN;
  clone_floor = load<u64>(REC2, SR_TID);
  bt_set_cow_floor(clone_floor);
  bt_set_root_store(clone_root_store);
  inode_set_count_hooks(clone_count_get, clone_count_set);
  return 0;
}

/** A mounted clone's inode count: its record's (0 when it cannot be read). */
function clone_count_get(): u64 {
  const v = bt_lookup(TREE_SNAP, mounted_id, 0);
  return v == 0 ? 0 : load<u64>(v, SR_INODE_COUNT);
}
/** Sets a mounted clone's inode count in its record (journaled). 0 or -errno. */
function clone_count_set(n: u64): i32 {
  const v = bt_lookup(TREE_SNAP, mounted_id, 0);
  if (v == 0) return bt_errno != 0 ? bt_errno : -EUCLEAN;
  memory.copy(REC2, v, min<u32>(bt_vlen, SR_MAX));
  store<u64>(REC2, n, SR_INODE_COUNT);
  return bt_update(TREE_SNAP, mounted_id, 0, REC2, rec_len(REC2));
}

/** Where a mounted clone's tree roots go when they change: its record (journaled). */
function clone_root_store(tree: u32, root: u64, height: u32, gen: u64): i32 {
  const v = bt_lookup(TREE_SNAP, mounted_id, 0);
  if (v == 0) return bt_errno != 0 ? bt_errno : -EUCLEAN;
  memory.copy(REC2, v, min<u32>(bt_vlen, SR_MAX));
  const e = REC2 + SR_ROOTS + <usize>tree * SR_ROOT_ENTRY;
  store<u64>(e, root);
  store<u32>(e, height, 8);
  store<u64>(e, gen, 16);
  return bt_update(TREE_SNAP, mounted_id, 0, REC2, rec_len(REC2));
}

/** Id of the mounted snapshot or clone (0: the main filesystem). */
export function snap_mounted_id(): u64 { return mounted_id; }

// ---- create ----------------------------------------------------------------------------------

/**
 * Checks a new snapshot name: 0 or -EINVAL (empty, too long, '/', NUL, "." or "..", or '@':
 * clone origins are named "<name>@origin", and ZFS reserves '@' too).
 */
export function snap_name_check(name: usize, len: u32): i32 {
  if (len == 0 || len > SNAP_NAME_MAX) return -EINVAL;
  for (let i: u32 = 0; i < len; i++) {
    const c = load<u8>(name + i);
    if (c == 0x2f || c == 0 || c == 0x40) return -EINVAL;
  }
  if (load<u8>(name) == 0x2e && (len == 1 || (len == 2 && load<u8>(name + 1) == 0x2e))) return -EINVAL;
  return 0;
}

/** Fills the record at `r`: the live roots at `tid`, flags, name. */
function rec_fill(r: usize, tid: u64, flags: u32, origin: u64, name: usize, len: u32): void {
  memory.fill(r, 0, SR_NAME);
  store<u64>(r, tid, SR_TID);
  store<i64>(r, fs_now(), SR_CTIME);
  store<u32>(r, flags, SR_FLAGS);
  store<u32>(r, len, SR_NAMELEN);
  for (let t: u32 = 0; t < FS_TREES; t++) {
    const e = r + SR_ROOTS + <usize>t * SR_ROOT_ENTRY;
    store<u64>(e, bt_root(t));
    store<u32>(e, bt_height(t), 8);
    store<u64>(e, bt_root_gen(t), 16);
  }
  const s = sb();
  if (s != 0) {
    // in use now, less what only older snapshots hold: what this snapshot can reach
    const used = load<u64>(s, SB_TOTAL_BLOCKS) - layout_data_start() - 1 - load<u64>(s, SB_FREE_BLOCKS);
    store<u64>(r, used - load<u64>(s, SB_DEAD_BLOCKS), SR_REFERENCED);
    store<u64>(r, load<u64>(s, SB_INODE_COUNT), SR_INODE_COUNT);
  }
  store<u64>(r, origin, SR_ORIGIN);
  memory.copy(r + SR_NAME, name, len);
}

/** Takes the next record id from the superblock (journaled); 0 on error. */
function next_id(): u64 {
  const s = sb();
  if (s == 0) return 0;
  let id = load<u64>(s, SB_SNAP_NEXT_ID);
  if (id == 0) id = 1;
  store<u64>(s, id + 1, SB_SNAP_NEXT_ID);
  journal_dirty(0);
  return id;
}

/** Name of a clone's origin: "<name>@origin" (NAME_MAX permitting). */
const ORIGIN_SUFFIX: string = "@origin";
const NAMEBUF: usize = memory.data(SNAP_NAME_MAX + 16);

/**
 * Creates snapshot `name` of the live filesystem in the running transaction (the caller
 * committed before, so every node of the live trees has a tid below j_tid, and commits
 * after). `writable`: also a clone named `name` whose origin is the snapshot, which is then
 * named "<name>@origin". Returns the new id (the clone's when writable) or -errno: -EINVAL,
 * -EEXIST, -ENOSPC (SNAPSHOT_MAX records), -EOPNOTSUPP (a clone is mounted).
 */
export function snap_create(name: usize, len: u32, writable: bool): i64 {
  snap_changed = false;
  if (mounted_id != 0) return mounted_clone ? -EOPNOTSUPP : -EROFS;
  let r = snap_name_check(name, len);
  if (r != 0) return r;
  let olen = len;
  memory.copy(NAMEBUF, name, len);
  if (writable) {
    if (len + <u32>ORIGIN_SUFFIX.length > SNAP_NAME_MAX) return -EINVAL;
    for (let i = 0; i < ORIGIN_SUFFIX.length; i++) store<u8>(NAMEBUF + len + i, <u8>ORIGIN_SUFFIX.charCodeAt(i));
    olen = len + <u32>ORIGIN_SUFFIX.length;
    if (find_by_name(NAMEBUF, olen) != 0) return -EEXIST;
  }
  if (find_by_name(name, len) != 0) return -EEXIST;
  if (bt_errno != 0) return bt_errno;
  scan_newest_tid();
  if (scan_count + (writable ? 2 : 1) > SNAPSHOT_MAX) return -ENOSPC;
  const tid = j_tid - 1; // the last committed transaction: every live node has tid <= it
  snap_changed = true;
  const id = next_id();
  if (id == 0) return buf_errno;
  rec_fill(REC, tid, 0, 0, NAMEBUF, olen);
  r = bt_insert(TREE_SNAP, id, 0, REC, rec_len(REC));
  if (r != 0) return r;
  r = set_floor(tid);
  if (r != 0) return r;
  if (!writable) return <i64>id;
  const cid = next_id();
  if (cid == 0) return buf_errno;
  rec_fill(REC, tid, SNAP_CLONE, id, name, len);
  r = bt_insert(TREE_SNAP, cid, 0, REC, rec_len(REC));
  return r != 0 ? <i64>r : <i64>cid;
}

// ---- list ------------------------------------------------------------------------------------
//
// SNAPINFO (320 bytes, docs/abi.md):
//    0 id u64   8 tid u64   16 ctime i64   24 flags u32   28 namelen u32
//   32 referenced u64 (bytes)   40 exclusive u64 (bytes)   48 origin u64   56 shared u64 (bytes)
//   64 name[256]

/**
 * Writes at most `cap` SNAPINFO records to `out` in id (creation) order. Returns the count or
 * -errno. Exclusive bytes of a snapshot: the dead extents its delete would free now.
 */
export function snap_list(out: usize, cap: u32): i32 {
  let n: u32 = 0;
  for (let v = rec_first(); v != 0 && n < cap; v = rec_next()) {
    // a dropped tree (a deleted clone, the tree a rollback replaced) is nobody's snapshot
    if (load<u32>(v, SR_FLAGS) & SNAP_DROP) continue;
    const o = out + <usize>n * SNAPINFO_SIZE;
    memory.fill(o, 0, SNAPINFO_SIZE);
    const id = cur_k1(CUR);
    let flags = load<u32>(v, SR_FLAGS);
    store<u64>(o, id);
    store<u64>(o, load<u64>(v, SR_TID), 8);
    store<i64>(o, load<i64>(v, SR_CTIME), 16);
    const nl = min<u32>(load<u32>(v, SR_NAMELEN), SNAP_NAME_MAX);
    store<u32>(o, nl, 28);
    const ref = load<u64>(v, SR_REFERENCED);
    store<u64>(o, ref * BLOCK_SIZE, 32);
    store<u64>(o, load<u64>(v, SR_ORIGIN), 48);
    memory.copy(o + 64, v + SR_NAME, nl);
    if (id == mounted_id && id != 0) flags |= INFO_MOUNTED;
    store<u32>(o, flags & (SNAP_CLONE | SNAP_DELETING | INFO_MOUNTED), 24);
    n++;
  }
  if (bt_errno != 0) return bt_errno;
  // exclusive: a second pass (the cursor is shared with the neighbour search)
  for (let i: u32 = 0; i < n; i++) {
    const o = out + <usize>i * SNAPINFO_SIZE;
    const f = load<u32>(o, 24);
    if (f & SNAP_CLONE) continue;
    const ex = exclusive_blocks(load<u64>(o, 8));
    if (ex < 0) return <i32>ex;
    store<u64>(o, <u64>ex * BLOCK_SIZE, 40);
    const ref = load<u64>(o, 32);
    store<u64>(o, ref > <u64>ex * BLOCK_SIZE ? ref - <u64>ex * BLOCK_SIZE : 0, 56);
  }
  return <i32>n;
}

/** Tids of the records of the main chain just before and after `tid` (0 / u64 max: none). */
let nb_prev: u64 = 0;
let nb_next: u64 = 0;
function neighbours(tid: u64): i32 {
  nb_prev = 0;
  nb_next = u64.MAX_VALUE;
  for (let v = rec_first(); v != 0; v = rec_next()) {
    const f = load<u32>(v, SR_FLAGS);
    const t = load<u64>(v, SR_TID);
    if ((f & (SNAP_CLONE | SNAP_DROP)) == 0) {
      if (t < tid && t > nb_prev) nb_prev = t;
      if (t > tid && t < nb_next) nb_next = t;
    }
  }
  return bt_errno;
}

/** Blocks only the snapshot at `tid` holds: dead extents killed in (tid, next] born after prev. */
function exclusive_blocks(tid: u64): i64 {
  const r = neighbours(tid);
  if (r != 0) return r;
  let sum: u64 = 0;
  let ok = bt_seek(CUR, TREE_DEAD, tid + 1, 0, true);
  while (ok && cur_k1(CUR) <= nb_next) {
    const v = cur_val(CUR);
    if (cur_vlen(CUR) == DEAD_VLEN && load<u64>(v, 8) > nb_prev) sum += <u64>load<u32>(v);
    ok = bt_next(CUR);
  }
  return bt_errno != 0 ? <i64>bt_errno : <i64>sum;
}

// ---- delete ----------------------------------------------------------------------------------

/**
 * Marks snapshot or clone `name` for deletion in the running transaction (its name is free
 * at once); snap_work frees its blocks. 0 or -errno: -ENOENT, -EBUSY (a clone's origin, or
 * the mounted head), -EROFS.
 */
export function snap_delete(name: usize, len: u32): i32 {
  snap_changed = false;
  const id = find_by_name(name, len);
  if (id == 0) return bt_errno != 0 ? bt_errno : -ENOENT;
  if (id == mounted_id) return -EBUSY;
  // a snapshot some clone grew from stays (ZFS: destroy the clone or promote it first)
  for (let v = rec_first(); v != 0; v = rec_next()) {
    if ((load<u32>(v, SR_FLAGS) & SNAP_CLONE) != 0 && load<u64>(v, SR_ORIGIN) == id) return -EBUSY;
  }
  if (bt_errno != 0) return bt_errno;
  const rlen = rec_len(REC); // REC still holds the record find_by_name copied
  const f = load<u32>(REC, SR_FLAGS);
  if (f & SNAP_CLONE) {
    // a clone's tree is freed by the same walk as a rolled-back tree; its origin stays
    store<u32>(REC, (f & ~SNAP_CLONE) | SNAP_DROP, SR_FLAGS);
    store<u64>(REC, 0, SR_KILL_HI);
    store<u64>(REC, 0, SR_RESUME_K1);
    store<u64>(REC, 0, SR_RESUME_K2);
    store<u32>(REC, 0, SR_RESUME_TREE);
  } else {
    store<u32>(REC, f | SNAP_DELETING, SR_FLAGS);
    store<u64>(REC, load<u64>(REC, SR_TID) + 1, SR_RESUME_K1);
    store<u64>(REC, 0, SR_RESUME_K2);
  }
  pending_units = 1;
  const origin = load<u64>(REC, SR_ORIGIN);
  snap_changed = true;
  const r = bt_update(TREE_SNAP, id, 0, REC, rlen);
  if (r != 0 || (f & SNAP_CLONE) == 0) return r;
  return delete_own_origin(origin, name, len);
}

/**
 * Marks for deletion the origin snapshot made for clone `name` ("<name>@origin") when no
 * other clone grew from it. 0 or -errno.
 */
function delete_own_origin(origin: u64, name: usize, len: u32): i32 {
  if (rec_load(origin, REC) == 0) return bt_errno;
  if (load<u32>(REC, SR_NAMELEN) != len + <u32>ORIGIN_SUFFIX.length || memory.compare(REC + SR_NAME, name, len) != 0) return 0;
  for (let i = 0; i < ORIGIN_SUFFIX.length; i++) {
    if (load<u8>(REC + SR_NAME + len + i) != <u8>ORIGIN_SUFFIX.charCodeAt(i)) return 0;
  }
  for (let v = rec_first(); v != 0; v = rec_next()) {
    if ((load<u32>(v, SR_FLAGS) & SNAP_CLONE) != 0 && load<u64>(v, SR_ORIGIN) == origin) return 0;
  }
  if (bt_errno != 0) return bt_errno;
  if (rec_load(origin, REC) == 0) return bt_errno;
  store<u32>(REC, load<u32>(REC, SR_FLAGS) | SNAP_DELETING, SR_FLAGS);
  store<u64>(REC, load<u64>(REC, SR_TID) + 1, SR_RESUME_K1);
  store<u64>(REC, 0, SR_RESUME_K2);
  return bt_update(TREE_SNAP, origin, 0, REC, rec_len(REC));
}

// ---- rollback --------------------------------------------------------------------------------

/**
 * Makes the live filesystem snapshot `name`'s contents, in the running transaction (the
 * caller committed before, checked that no file is open, and drops its caches after). The
 * replaced live tree becomes a DROP record. 0 or -errno: -ENOENT, -EINVAL (a clone),
 * -ENOTEMPTY (newer snapshots exist), -EBUSY (a clone or snapshot is mounted).
 */
export function snap_rollback(name: usize, len: u32): i32 {
  snap_changed = false;
  if (mounted_id != 0) return -EBUSY;
  const id = find_by_name(name, len);
  if (id == 0) return bt_errno != 0 ? bt_errno : -ENOENT;
  if (load<u32>(REC, SR_FLAGS) & SNAP_CLONE) return -EINVAL;
  const tid = load<u64>(REC, SR_TID);
  const newest = scan_newest_tid();
  if (bt_errno != 0) return bt_errno;
  if (newest != tid) return -ENOTEMPTY;
  // the replaced live tree: what was born after the snapshot is freed by the walk, and the
  // dead extents it killed after the snapshot (blocks the snapshot, now live again, uses)
  // leave the dead list
  snap_changed = true;
  const did = next_id();
  if (did == 0) return buf_errno;
  memory.copy(REC2, REC, rec_len(REC));
  rec_fill(REC, tid, SNAP_DROP, 0, NAMEBUF, 0);
  store<u64>(REC, j_tid, SR_KILL_HI);
  store<u64>(REC, tid + 1, SR_RESUME_K1);
  store<u32>(REC, 0, SR_RESUME_TREE);
  let r = bt_insert(TREE_SNAP, did, 0, REC, rec_len(REC));
  if (r != 0) return r;
  const s = sb();
  if (s == 0) return buf_errno;
  for (let t: u32 = 0; t < FS_TREES; t++) {
    const e = REC2 + SR_ROOTS + <usize>t * SR_ROOT_ENTRY;
    bt_set_root_incore(t, load<u64>(e), load<u32>(e, 8), load<u64>(e, 16));
    const se = s + SB_TREES + <usize>t * SB_TREE_ENTRY;
    store<u64>(se, load<u64>(e));
    store<u32>(se, load<u32>(e, 8), 8);
    store<u64>(se, load<u64>(e, 16), SB_TREE_GEN);
  }
  store<u64>(s, load<u64>(REC2, SR_INODE_COUNT), SB_INODE_COUNT);
  journal_dirty(0);
  pending_units = 1;
  // the dead-list range must be cleared before another snapshot op reads the dead list
  return 0;
}

// ---- background work -------------------------------------------------------------------------

/** Record id of the oldest record with work left (DROP before DELETING), or 0. */
function work_find(): u64 {
  let del: u64 = 0;
  for (let v = rec_first(); v != 0; v = rec_next()) {
    const f = load<u32>(v, SR_FLAGS);
    if (f & SNAP_DROP) return cur_k1(CUR);
    if ((f & SNAP_DELETING) != 0 && del == 0) del = cur_k1(CUR);
  }
  return del;
}

/**
 * Does at most `budget` units of the background work (one unit: a dead extent, or a node of
 * a dropped tree) in the running transaction. Returns the units still pending (an estimate:
 * 0 exactly when no record has work left), or -errno.
 */
export function snap_work(budget: u32): i64 {
  if (pending_units == 0) return 0;
  if (budget == 0) {
    // a question, not work: recount (the mount and each delete only guess "maybe")
    const id = work_find();
    if (id == 0 && bt_errno != 0) return bt_errno;
    pending_units = id != 0 ? 1 : 0;
    return <i64>pending_units;
  }
  let left = budget;
  while (left > 0) {
    const id = work_find();
    if (id == 0) {
      if (bt_errno != 0) return bt_errno;
      pending_units = 0;
      return 0;
    }
    if (rec_load(id, REC) == 0) return bt_errno != 0 ? bt_errno : -EUCLEAN;
    const f = load<u32>(REC, SR_FLAGS);
    const r = (f & SNAP_DROP) != 0 ? drop_units(id, left) : delete_units(id, left);
    if (r < 0) { snap_work_errno = <i32>r; return r; }
    left = <u32>r;
  }
  pending_units = 1;
  return 1;
}

/** True when no rollback's dead-list range is still to be cleared (dead list is exact). */
export function snap_settled(): bool {
  for (let v = rec_first(); v != 0; v = rec_next()) {
    if ((load<u32>(v, SR_FLAGS) & SNAP_DROP) != 0 && load<u64>(v, SR_KILL_HI) != 0) return false;
  }
  return true;
}

/** Units of a snapshot delete: frees dead extents (S.tid, next] born after prev. Budget left. */
function delete_units(id: u64, budget: u32): i64 {
  const tid = load<u64>(REC, SR_TID);
  let r = neighbours(tid);
  if (r != 0) return r;
  const prev = nb_prev, next = nb_next;
  let k1 = load<u64>(REC, SR_RESUME_K1), k2 = load<u64>(REC, SR_RESUME_K2);
  let left = budget;
  while (left > 0) {
    if (!bt_seek(CUR, TREE_DEAD, k1, k2, true) || cur_k1(CUR) > next) {
      if (bt_errno != 0) return bt_errno;
      // done: the record goes, and with it perhaps the cow floor
      r = bt_delete(TREE_SNAP, id, 0);
      if (r != 0) return r;
      kfs(); kputs("snapshot "); kputu(id); kputs(" deleted"); knl();
      r = set_floor(scan_newest_tid());
      if (r == 0) r = restart_deletes();
      return r != 0 ? <i64>r : <i64>left;
    }
    k1 = cur_k1(CUR);
    k2 = cur_k2(CUR);
    const v = cur_val(CUR);
    if (cur_vlen(CUR) != DEAD_VLEN) return -EUCLEAN;
    const len = <u64>load<u32>(v), flags = load<u32>(v, 4), birth = load<u64>(v, 8);
    if (birth > prev) {
      // freed at commit, as any free: until then the committed record of this snapshot
      // still points at the blocks, so they must not be reused in this transaction
      r = bt_delete(TREE_DEAD, k1, k2);
      if (r == 0) r = dead_blocks_add(-<i64>len);
      if (r == 0) r = bfree_deferred(k2, len, 0, flags);
      if (r != 0) return r;
    }
    // next key after (k1, k2)
    if (k2 == u64.MAX_VALUE) { k1++; k2 = 0; } else k2++;
    left--;
  }
  store<u64>(REC, k1, SR_RESUME_K1);
  store<u64>(REC, k2, SR_RESUME_K2);
  r = bt_update(TREE_SNAP, id, 0, REC, rec_len(REC));
  return r != 0 ? <i64>r : 0;
}

const RESTART_IDS: usize = memory.data(SNAPSHOT_MAX * 8);

/**
 * Restarts every other delete in progress from the start of its dead-list range: one record
 * less changes their neighbours, so dead extents a delete passed over (kept for the snapshot
 * just removed) may now be its to free. A rescan is idempotent: what was freed is gone.
 * 0 or -errno.
 */
function restart_deletes(): i32 {
  let n: u32 = 0;
  for (let v = rec_first(); v != 0 && n < SNAPSHOT_MAX; v = rec_next()) {
    if (load<u32>(v, SR_FLAGS) & SNAP_DELETING) {
      store<u64>(RESTART_IDS + (<usize>n << 3), cur_k1(CUR));
      n++;
    }
  }
  if (bt_errno != 0) return bt_errno;
  for (let i: u32 = 0; i < n; i++) {
    const id = load<u64>(RESTART_IDS + (<usize>i << 3));
    if (rec_load(id, REC) == 0) return bt_errno != 0 ? bt_errno : -EUCLEAN;
    store<u64>(REC, load<u64>(REC, SR_TID) + 1, SR_RESUME_K1);
    store<u64>(REC, 0, SR_RESUME_K2);
    const r = bt_update(TREE_SNAP, id, 0, REC, rec_len(REC));
    if (r != 0) return r;
  }
  return 0;
}

// A dropped tree is freed by a post-order walk that restarts from the root at the resume key
// for every unit: subtrees whose pointer generation is <= the floor (the snapshot's tid, or a
// clone's origin's) are shared and skipped whole; a node is freed when the walk leaves its
// last child, after which no later key leads through it. Nodes are only read: the tree
// belongs to nobody, and its blocks stay allocated until freed.

const DSTACK_BLK: usize = memory.data(HEIGHT_MAX * 8);
const DSTACK_SLOT: usize = memory.data(HEIGHT_MAX * 4);

/** Units of a DROP record: first the dead-list range (rollback), then the trees. */
function drop_units(id: u64, budget: u32): i64 {
  let left = budget;
  let r: i32 = 0;
  const floor = load<u64>(REC, SR_TID);
  const killHi = load<u64>(REC, SR_KILL_HI);
  if (killHi != 0) {
    // dead extents (tid, killHi] are the snapshot's blocks the old tree had stopped using:
    // the live tree uses them again
    let k1 = load<u64>(REC, SR_RESUME_K1), k2 = load<u64>(REC, SR_RESUME_K2);
    while (left > 0) {
      if (!bt_seek(CUR, TREE_DEAD, k1, k2, true) || cur_k1(CUR) > killHi) {
        if (bt_errno != 0) return bt_errno;
        store<u64>(REC, 0, SR_KILL_HI);
        store<u64>(REC, 0, SR_RESUME_K1);
        store<u64>(REC, 0, SR_RESUME_K2);
        break;
      }
      k1 = cur_k1(CUR);
      k2 = cur_k2(CUR);
      const len = <u64>load<u32>(cur_val(CUR));
      r = bt_delete(TREE_DEAD, k1, k2);
      if (r == 0) r = dead_blocks_add(-<i64>len);
      if (r != 0) return r;
      left--;
    }
    if (load<u64>(REC, SR_KILL_HI) != 0) {
      store<u64>(REC, k1, SR_RESUME_K1);
      store<u64>(REC, k2, SR_RESUME_K2);
      r = bt_update(TREE_SNAP, id, 0, REC, rec_len(REC));
      return r != 0 ? <i64>r : 0;
    }
  }
  while (left > 0) {
    const t = load<u32>(REC, SR_RESUME_TREE);
    if (t >= FS_TREES) {
      r = bt_delete(TREE_SNAP, id, 0);
      return r != 0 ? <i64>r : <i64>left;
    }
    const e = REC + SR_ROOTS + <usize>t * SR_ROOT_ENTRY;
    const done = drop_step(t, load<u64>(e), load<u32>(e, 8), load<u64>(e, 16), floor);
    if (done < 0) return done;
    if (done == 1) {
      store<u32>(REC, t + 1, SR_RESUME_TREE);
      store<u64>(REC, 0, SR_RESUME_K1);
      store<u64>(REC, 0, SR_RESUME_K2);
    }
    left--;
  }
  r = bt_update(TREE_SNAP, id, 0, REC, rec_len(REC));
  return r != 0 ? <i64>r : 0;
}

/**
 * One unit of a tree drop: descends from `root` to the resume key in REC, frees the leaf
 * there (and its extents born after `floor`), or skips a shared subtree, then frees every
 * node the walk leaves for good and sets the next resume key. Returns 1 when the tree is
 * done, 0 when more is left, or -errno.
 */
function drop_step(tree: u32, root: u64, height: u32, gen: u64, floor: u64): i64 {
  if (root == 0 || gen <= floor) return 1; // nothing of it is this tree's own
  if (height == 0 || height > HEIGHT_MAX) return -EUCLEAN;
  const k1 = load<u64>(REC, SR_RESUME_K1), k2 = load<u64>(REC, SR_RESUME_K2);
  let blk = root, g = gen;
  let l = <i32>height - 1;
  let r: i32 = 0;
  // down to the leaf holding the key, or to the first shared child on the way
  for (;;) {
    const n = read_node(blk, tree, <u32>l, g);
    if (n == 0) return bt_errno;
    store<u64>(DSTACK_BLK + (<usize>l << 3), blk);
    if (l == 0) {
      r = drop_leaf(tree, n);
      if (r != 0) return r;
      r = bfree_deferred(blk, 1, 0, DEFER_META);
      if (r != 0) return r;
      break;
    }
    const k = nitems(n);
    if (k == 0) return -EUCLEAN;
    let i: u32 = 0;
    while (i + 1 < k && !(key_lt(k1, k2, ik1(n, i + 1), ik2(n, i + 1)))) i++;
    store<u32>(DSTACK_SLOT + (<usize>l << 2), i);
    const cg = igen(n, i);
    if (cg <= floor) { l--; store<u64>(DSTACK_BLK + (<usize>l << 3), 0); break; } // shared: skip it
    blk = ichild(n, i);
    g = cg;
    l--;
  }
  // climb: the child at level l is finished; move right at the first level with a next slot
  for (let p = l + 1; p < <i32>height; p++) {
    const pb = load<u64>(DSTACK_BLK + (<usize>p << 3));
    const n = bread(pb, MAGIC_BTREE); // read on the way down: cached and verified
    if (n == 0) return buf_errno;
    const i = load<u32>(DSTACK_SLOT + (<usize>p << 2));
    if (i + 1 < nitems(n)) {
      store<u64>(REC, ik1(n, i + 1), SR_RESUME_K1);
      store<u64>(REC, ik2(n, i + 1), SR_RESUME_K2);
      return 0;
    }
    r = bfree_deferred(pb, 1, 0, DEFER_META); // its last child is done
    if (r != 0) return r;
  }
  return 1;
}

@inline function key_lt(a1: u64, a2: u64, b1: u64, b2: u64): bool { return a1 < b1 || (a1 == b1 && a2 < b2); }

/** Frees the extents born after the floor that an extent-tree leaf of a dropped tree maps. */
function drop_leaf(tree: u32, n: usize): i32 {
  if (tree != TREE_EXTENT) return 0;
  const floor = load<u64>(REC, SR_TID);
  const k = nitems(n);
  for (let i: u32 = 0; i < k; i++) {
    const v = ival(n, i);
    if (ivlen(n, i) < 24) return -EUCLEAN;
    if (load<u64>(v, EXT_BIRTH) <= floor) continue; // the snapshot's (or origin's) blocks
    const r = bfree_deferred(load<u64>(v, EXT_DISK), <u64>load<u32>(v, EXT_LEN));
    if (r != 0) return r;
  }
  return 0;
}

/** Snapshot records (snapshots, clones, deletes and drops in progress). */
export function snap_count(): u32 {
  scan_newest_tid();
  return scan_count;
}

/** True when background work may be pending (a delete or drop was queued or found at mount). */
export function snap_pending(): bool { return pending_units != 0; }

// ---- diff accessors (issue 14) ----
//
// Read-only: fs/snapdiff.ts learns a head's roots and place in the snapshot chain here.
//
// Diff head (DIFF_HEAD_SIZE bytes, filled by snap_diff_head):
//
//    0 roots[3] { root u64, height u32, reserved u32, gen u64 } (inode, dirent, extent)
//   72 tid u64 (u64 max: the live main filesystem, newer than every snapshot)
//   80 origin_tid u64 (a clone: its origin's tid; else 0)   88 origin id u64   96 id u64
//  104 flags u32 (DH_CLONE)                                 108 reserved u32

/** Bytes of a diff head. */
export const DIFF_HEAD_SIZE: u32 = 112;
/** Diff head flag: the head is a writable clone (its own line, off the main chain). */
export const DH_CLONE: u32 = 1;

/**
 * Describes head `name` (`len` 0: the mounted head, whose roots are the in-core ones) for a
 * diff into `dst` (DIFF_HEAD_SIZE bytes). 0 or -errno: -ENOENT no such snapshot or clone
 * (deleting ones are gone), -EUCLEAN a clone without its origin, a tree error.
 */
export function snap_diff_head(name: usize, len: u32, dst: usize): i32 {
  memory.fill(dst, 0, DIFF_HEAD_SIZE);
  let id: u64 = 0;
  if (len == 0) {
    for (let t: u32 = 0; t < FS_TREES; t++) {
      const e = dst + <usize>t * SR_ROOT_ENTRY;
      store<u64>(e, bt_root(t));
      store<u32>(e, bt_height(t), 8);
      store<u64>(e, bt_root_gen(t), 16);
    }
    store<u64>(dst, u64.MAX_VALUE, 72);
    if (mounted_id == 0) return 0;
    id = mounted_id;
    if (rec_load(id, REC) == 0) return bt_errno != 0 ? bt_errno : -EUCLEAN;
    if (!mounted_clone) store<u64>(dst, load<u64>(REC, SR_TID), 72); // a mounted snapshot is itself
  } else {
    id = find_by_name(name, len);
    if (id == 0) return bt_errno != 0 ? bt_errno : -ENOENT;
    memory.copy(dst, REC + SR_ROOTS, <usize>FS_TREES * SR_ROOT_ENTRY);
    store<u64>(dst, load<u64>(REC, SR_TID), 72);
  }
  store<u64>(dst, id, 96);
  if ((load<u32>(REC, SR_FLAGS) & SNAP_CLONE) == 0) return 0;
  store<u32>(dst, DH_CLONE, 104);
  const origin = load<u64>(REC, SR_ORIGIN);
  if (rec_load(origin, REC2) == 0) return bt_errno != 0 ? bt_errno : -EUCLEAN;
  store<u64>(dst, load<u64>(REC2, SR_TID), 80);
  store<u64>(dst, origin, 88);
  return 0;
}

// ---- fsck accessors (issue 14) ----
// Read-only views of a TREE_SNAP record's fields for fs/fsck.ts (the layout above stays
// private to this file). `v` is a record value of `vlen` bytes as the tree holds it.

/** True when `vlen` bytes at `v` are a well-formed record (length agrees with namelen). */
export function snap_rec_ok(v: usize, vlen: u32): bool {
  return vlen >= <u32>SR_NAME && vlen <= SR_MAX && load<u32>(v, SR_NAMELEN) == vlen - <u32>SR_NAME;
}
export function snap_rec_tid(v: usize): u64 { return load<u64>(v, SR_TID); }
export function snap_rec_flags(v: usize): u32 { return load<u32>(v, SR_FLAGS); }
export function snap_rec_origin(v: usize): u64 { return load<u64>(v, SR_ORIGIN); }
/** DROP: the end of the dead-list range still to clear (0: none). */
export function snap_rec_kill_hi(v: usize): u64 { return load<u64>(v, SR_KILL_HI); }
/** The background work's resume key (DELETING: a dead-list key; DROP: see drop_units). */
export function snap_rec_resume_k1(v: usize): u64 { return load<u64>(v, SR_RESUME_K1); }
export function snap_rec_resume_k2(v: usize): u64 { return load<u64>(v, SR_RESUME_K2); }
/** Root block, height and generation of filesystem tree `t` (< FS_TREES) in the record. */
export function snap_rec_root(v: usize, t: u32): u64 { return load<u64>(v + SR_ROOTS + <usize>t * SR_ROOT_ENTRY); }
export function snap_rec_height(v: usize, t: u32): u32 { return load<u32>(v + SR_ROOTS + <usize>t * SR_ROOT_ENTRY, 8); }
export function snap_rec_gen(v: usize, t: u32): u64 { return load<u64>(v + SR_ROOTS + <usize>t * SR_ROOT_ENTRY, 16); }
