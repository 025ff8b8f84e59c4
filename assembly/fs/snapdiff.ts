// fs/snapdiff.ts -- `diff A B`: what changed between two snapshots (or one and the live fs).
//
// Layer: above the B+ tree's node format (read-only walks of arbitrary roots) and the
// snapshot records (snapshot.ts's diff accessors); the syscall boundary calls it.
// Interface: snap_diff (sys_snapshot_diff), snap_diff_nodes, snap_diff_total.
//
// Design (docs/decisions.md "Snapshot diff"; btrfs send's compare_trees, zfs diff):
//  - Every internal item carries its child's generation (btree.ts): a subtree reached by the
//    same (block, generation) from both trees is the same bytes, so the walk of the inode,
//    dirent and extent trees of A and B goes in parallel, in key order, and skips every such
//    pair without reading it. Only the differing leaves are read and their items compared.
//  - Each side is a stream of fronts in key order: an item, or an unread subtree with its
//    lower bound (the parent's separator, or the parent's own bound for child 0). Two
//    equal subtree fronts are skipped; otherwise the one starting lower (then the taller) is
//    read, and an item is emitted only when it sorts below the other side's front.
//  - Differing items become per-inode facts in a hash table: record only in A (deleted) or
//    B (created), record changed in a compared field (mode, uid, gid, size, mtime, crtime,
//    generation, flags, blocks, inline data, rdev: not atime, ctime, nlink, nor offset 72 of
//    a non-device: a rename or a new hard link alone is not a modification), an xattr or an
//    extent changed (modified), names removed in A / added in B (a removed and an added
//    name of an inode in both: renamed; extra ones: a hard link deleted or created).
//  - Paths go up by parent pointers: a name comes from the changed dirents, else from a scan
//    of the directory that inode offset 72 names (directories: their parent; files: the
//    directory they were created in), one scan per directory caching every table inode it
//    names, else one full scan of that side's dirent tree. Hard links: one path.
//  - Figures: snap_diff_nodes = distinct tree nodes the diff read (walk and path lookups);
//    snap_diff_total = nodes of the union of the two heads' trees, counted after the diff by
//    a walk of internal nodes (leaves counted from their parents' pointers).
//
// Rules: nothing is written (a diff of the live fs sees its running transaction, which is
// what its readers see); node addresses are never held across another read (the buffer
// cache may reclaim a page at any allocation): frames keep block numbers and re-read.
//
// Output record (sys_snapshot_diff, docs/abi.md), packed:
//
//   0 kind u8 (1 created, 2 deleted, 3 modified, 4 renamed)   1 type u8 (DT_*)
//   2 len1 u16   4 len2 u16   6 path1[len1]   6+len1 path2[len2] (renamed: old, new)
//
// Working memory (two buddy allocations, freed before returning):
//
//   | seen set: SEEN_SLOTS x u64 | inode table: slots x ENT | 2 path buffers |   | name arena |
//
//   ENT (48 B): 0 ino u64 | 8 flags u32 | 12 ta u8 | 13 tb u8 | 14 rsv u16 | 16 na u32 |
//               20 nb u32 | 24 ra u32 | 28 rb u32 | 32 hint_a u64 | 40 hint_b u64
//     na/nb: lists of names removed in A / added in B; ra/rb: the name a scan found in A/B;
//     hint: inode offset 72 (a directory to scan for the name). Arena offsets, 0 = none.
//   NAME: 0 next u32 | 4 type u8 | 5 len u8 | 6 rsv u16 | 8 dir u64 | 16 name[len]

import { PAGE_SIZE } from "../params";
import { ENOENT, ENOMEM, ERANGE, EUCLEAN, ENAMETOOLONG } from "../lib/errno";
import { TREE_INODE, TREE_DIRENT, TREE_EXTENT, FS_TREES, ROOT_INO, ORPHAN_DIR } from "./format";
import {
  read_node, nitems, ichild, igen, ik1, ik2, ival, ivlen, bt_errno, HEIGHT_MAX, VALUE_MAX,
} from "./btree";
import { I_MODE, I_NLINK, I_ATIME, I_CTIME, I_GENERATION, I_PARENT, S_IFMT, S_IFCHR, S_IFBLK } from "./inode";
import { snap_diff_head, DIFF_HEAD_SIZE, DH_CLONE } from "./snapshot";
import { alloc_pages, free_pages } from "../mm/buddy";
import { NO_PFN, pfn_to_addr } from "../mm/page";

/** Output record kinds. */
export const DIFF_CREATED: u8 = 1;
export const DIFF_DELETED: u8 = 2;
export const DIFF_MODIFIED: u8 = 3;
export const DIFF_RENAMED: u8 = 4;
/** Output record header bytes. */
const REC_HDR: u32 = 6;

/** Slots of the set of nodes read (distinct count; when 3/4 full every read counts). */
const SEEN_SLOTS: u32 = 16384;
/** Longest path built (bytes); a longer one is -ENAMETOOLONG (the record's len is a u16). */
const PATH_BYTES_MAX: u32 = 32768;
/** Deepest directory chain followed up to the root (a loop in a damaged tree stops here). */
const PATH_DEPTH_MAX: u32 = PATH_BYTES_MAX / 2;
/** Inode table slots: at least, at most (a diff involving more inodes is -ENOMEM). */
const TAB_SLOTS_MIN: u32 = 1024;
const TAB_SLOTS_MAX: u32 = 65536;
/** Name arena bytes: at least, at most (more changed names than it holds: -ENOMEM). */
const ARENA_MIN: u32 = 64 << 10;
const ARENA_MAX: u32 = 4 << 20;
/** Largest working-memory allocation: 4 MiB (buddy order 10). */
const WORK_ORDER_MAX: u32 = 10;

const ENT: usize = 48;
const E_FLAGS: usize = 8;
const E_TA: usize = 12;
const E_TB: usize = 13;
const E_NA: usize = 16;
const E_NB: usize = 20;
const E_RA: usize = 24;
const E_RB: usize = 28;
const E_HA: usize = 32;
const E_HB: usize = 40;

// entry flags
const F_ONLY_A: u32 = 1; // inode record only in A (deleted; with F_ONLY_B: ino reused)
const F_ONLY_B: u32 = 2; // only in B (created)
const F_MOD: u32 = 4; // record field, xattr or extent changed
const F_AUX: u32 = 8; // made while building paths: nothing to report
const F_NOLINK_A: u32 = 16; // A's record has no links (an orphan: no path, not reported)
const F_NOLINK_B: u32 = 32;
const F_HINT_A: u32 = 64; // hint_a / ta known from A's record
const F_HINT_B: u32 = 128;

const NM_NEXT: usize = 0;
const NM_TYPE: usize = 4;
const NM_LEN: usize = 5;
const NM_DIR: usize = 8;
const NM_NAME: usize = 16;

// ---- working memory ------------------------------------------------------------------------

let work_pfn: u32 = NO_PFN;
let work_order: u32 = 0;
let arena_pfn: u32 = NO_PFN;
let arena_order: u32 = 0;
let seen: usize = 0;
let seen_used: u32 = 0;
let tab: usize = 0;
let tab_slots: u32 = 0;
let tab_used: u32 = 0;
let arena: usize = 0;
let arena_size: u32 = 0;
let arena_used: u32 = 0;
let pbuf1: usize = 0;
let pbuf2: usize = 0;

/** Nodes the last diff read, and the nodes of its two heads' union. */
let diff_nodes: u64 = 0;
let diff_total: u64 = 0;

/** Distinct tree nodes the last sys_snapshot_diff read (walk and path lookups). */
export function snap_diff_nodes(): u64 { return diff_nodes; }
/** Nodes of the union of the last diff's two heads (all three trees). */
export function snap_diff_total(): u64 { return diff_total; }

@inline function pow2_at_least(x: u32): u32 { return x <= 1 ? 1 : <u32>1 << (32 - clz<u32>(x - 1)); }

/**
 * Allocates the working memory sized for an output of `cap` bytes (an inode table slot per
 * 16 output bytes, a name arena of twice the output), or, when memory is short, the
 * smallest. 0 or -ENOMEM.
 */
function work_alloc(cap: u32): i32 {
  work_small = false;
  const slots = min<u32>(TAB_SLOTS_MAX, max<u32>(TAB_SLOTS_MIN, pow2_at_least(cap / 16)));
  const bytes = <u32>min<u64>(ARENA_MAX, max<u64>(ARENA_MIN, 2 * <u64>cap + ARENA_MIN));
  if (work_try(slots, bytes)) return 0;
  work_small = true;
  return work_try(TAB_SLOTS_MIN, ARENA_MIN) ? 0 : -ENOMEM;
}

/** True when memory was short and the smallest working memory was taken. */
let work_small = false;

/**
 * Errno of a full inode table or name arena: -ERANGE when a bigger output buffer brings a
 * bigger one (the caller retries, as for a full output), else -ENOMEM.
 */
function full_errno(arena_full: bool = false): i32 {
  if (work_small) return -ENOMEM;
  return (arena_full ? arena_size < ARENA_MAX : tab_slots < TAB_SLOTS_MAX) ? -ERANGE : -ENOMEM;
}

@inline function order_for(bytes: u64): u32 {
  let order: u32 = 0;
  while ((<u64>PAGE_SIZE << order) < bytes) order++;
  return order;
}

/** Takes the two allocations: seen set, table and path buffers; the name arena. */
function work_try(slots: u32, arena_bytes: u32): bool {
  tab_slots = slots;
  arena_size = arena_bytes;
  const o1 = order_for(<u64>SEEN_SLOTS * 8 + <u64>tab_slots * ENT + 2 * <u64>PATH_BYTES_MAX);
  const o2 = order_for(<u64>arena_size);
  if (o1 > WORK_ORDER_MAX || o2 > WORK_ORDER_MAX) return false;
  const p1 = alloc_pages(o1);
  if (p1 == NO_PFN) return false;
  const p2 = alloc_pages(o2);
  if (p2 == NO_PFN) { free_pages(p1, o1); return false; }
  work_pfn = p1;
  work_order = o1;
  arena_pfn = p2;
  arena_order = o2;
  seen = pfn_to_addr(p1);
  tab = seen + <usize>SEEN_SLOTS * 8;
  pbuf1 = tab + <usize>tab_slots * ENT;
  pbuf2 = pbuf1 + PATH_BYTES_MAX;
  arena = pfn_to_addr(p2);
  memory.fill(seen, 0, <usize>SEEN_SLOTS * 8 + <usize>tab_slots * ENT);
  seen_used = 0;
  tab_used = 0;
  arena_used = 8; // offset 0 means "none"
  return true;
}

function work_free(): void {
  if (work_pfn != NO_PFN) free_pages(work_pfn, work_order);
  if (arena_pfn != NO_PFN) free_pages(arena_pfn, arena_order);
  work_pfn = NO_PFN;
  arena_pfn = NO_PFN;
}

// ---- counted node reads --------------------------------------------------------------------

/** Counts block `blk` once per diff (a saturated set counts every read). */
function count_read(blk: u64): void {
  if (seen_used >= SEEN_SLOTS / 4 * 3) { diff_nodes++; return; }
  let i = <u32>((blk * 0x9e3779b97f4a7c15) >> 40) & (SEEN_SLOTS - 1);
  for (;;) {
    const p = seen + (<usize>i << 3);
    const v = load<u64>(p);
    if (v == blk) return;
    if (v == 0) { store<u64>(p, blk); seen_used++; diff_nodes++; return; }
    i = (i + 1) & (SEEN_SLOTS - 1);
  }
}

/** read_node, counted: the node or 0 (bt_errno). */
function dread(blk: u64, tree: u32, level: u32, gen: u64): usize {
  count_read(blk);
  return read_node(blk, tree, level, gen);
}

// ---- the two heads -------------------------------------------------------------------------

const HEADS: usize = memory.data(2 * DIFF_HEAD_SIZE);
@inline function head(s: u32): usize { return HEADS + <usize>s * DIFF_HEAD_SIZE; }
@inline function h_root(s: u32, t: u32): u64 { return load<u64>(head(s) + <usize>t * 24); }
@inline function h_height(s: u32, t: u32): u32 { return load<u32>(head(s) + <usize>t * 24, 8); }
@inline function h_gen(s: u32, t: u32): u64 { return load<u64>(head(s) + <usize>t * 24, 16); }
const SIDE_A: u32 = 0;
const SIDE_B: u32 = 1;

// ---- the inode table -----------------------------------------------------------------------

/** Entry of `ino`, or 0. */
function tab_get(ino: u64): usize {
  let i = <u32>((ino * 0x9e3779b97f4a7c15) >> 32) & (tab_slots - 1);
  for (let probes: u32 = 0; probes < tab_slots; probes++) {
    const e = tab + <usize>i * ENT;
    const v = load<u64>(e);
    if (v == ino) return e;
    if (v == 0) return 0;
    i = (i + 1) & (tab_slots - 1);
  }
  return 0;
}

/** Entry of `ino`, made (with `flags`) when missing; 0 when the table is full (full_errno). */
function tab_add(ino: u64, flags: u32): usize {
  let i = <u32>((ino * 0x9e3779b97f4a7c15) >> 32) & (tab_slots - 1);
  for (let probes: u32 = 0; probes < tab_slots; probes++) {
    const e = tab + <usize>i * ENT;
    const v = load<u64>(e);
    if (v == ino) return e;
    if (v == 0) {
      if (tab_used >= tab_slots / 4 * 3) return 0;
      store<u64>(e, ino);
      store<u32>(e, flags, E_FLAGS);
      tab_used++;
      return e;
    }
    i = (i + 1) & (tab_slots - 1);
  }
  return 0; // not reached: the table is never more than 3/4 full
}

/** A change of `ino`: its entry loses F_AUX. 0 on a full table. */
function tab_fact(ino: u64, flags: u32): usize {
  const e = tab_add(ino, 0);
  if (e != 0) store<u32>(e, (load<u32>(e, E_FLAGS) & ~F_AUX) | flags, E_FLAGS);
  return e;
}

/** A name in the arena: its offset, or 0 when the arena is full (full_errno). */
function name_new(dir: u64, type: u8, name: usize, len: u32, next: u32): u32 {
  const sz = (<u32>NM_NAME + len + 7) & ~7;
  if (arena_used + sz > arena_size) return 0;
  const off = arena_used;
  const p = arena + off;
  store<u32>(p, next, NM_NEXT);
  store<u8>(p, type, NM_TYPE);
  store<u8>(p, <u8>len, NM_LEN);
  store<u64>(p, dir, NM_DIR);
  memory.copy(p + NM_NAME, name, len);
  arena_used += sz;
  return off;
}
@inline function nm(off: u32): usize { return arena + off; }

// ---- record comparison ---------------------------------------------------------------------

@inline function mode_type(mode: u32): u8 { return <u8>((mode & S_IFMT) >> 12); }
@inline function is_device(mode: u32): bool { const t = mode & S_IFMT; return t == S_IFCHR || t == S_IFBLK; }

/**
 * True when two records of one inode differ in a field diff reports: everything but atime,
 * ctime, nlink and (not a device) offset 72 (parent / creating directory).
 */
function rec_differs(a: usize, la: u32, b: usize, lb: u32): bool {
  if (la != lb || la < <u32>I_PARENT + 8) return true;
  if (memory.compare(a, b, I_NLINK) != 0) return true; // mode uid gid
  if (memory.compare(a + I_NLINK + 4, b + I_NLINK + 4, I_ATIME - I_NLINK - 4) != 0) return true; // size
  if (memory.compare(a + I_ATIME + 8, b + I_ATIME + 8, I_CTIME - I_ATIME - 8) != 0) return true; // mtime
  if (memory.compare(a + I_CTIME + 8, b + I_CTIME + 8, I_PARENT - I_CTIME - 8) != 0) return true; // crtime .. blocks
  if (is_device(load<u32>(a, I_MODE)) && load<u64>(a, I_PARENT) != load<u64>(b, I_PARENT)) return true;
  return memory.compare(a + I_PARENT + 8, b + I_PARENT + 8, la - <u32>I_PARENT - 8) != 0; // inline data
}

/** Notes what a record (`a`: A's or 0, `b`: B's or 0) says about `ino`. 0 or -errno. */
function on_record(ino: u64, a: usize, la: u32, b: usize, lb: u32): i32 {
  if ((a != 0 && la < <u32>I_PARENT + 8) || (b != 0 && lb < <u32>I_PARENT + 8)) return -EUCLEAN;
  let flags: u32 = 0;
  if (a != 0 && b != 0) {
    const same = load<u32>(a, I_GENERATION) == load<u32>(b, I_GENERATION) &&
      (load<u32>(a, I_MODE) & S_IFMT) == (load<u32>(b, I_MODE) & S_IFMT);
    if (!same) flags = F_ONLY_A | F_ONLY_B; // the number was freed and given to a new inode
    else if (rec_differs(a, la, b, lb)) flags = F_MOD;
    else return 0;
  } else flags = a != 0 ? F_ONLY_A : F_ONLY_B;
  const e = tab_fact(ino, flags);
  if (e == 0) return full_errno();
  if (a != 0) rec_hint(e, SIDE_A, a);
  if (b != 0) rec_hint(e, SIDE_B, b);
  return 0;
}

/** Keeps side `s`'s type, name hint and orphan state of an inode from its record `r`. */
function rec_hint(e: usize, s: u32, r: usize): void {
  const mode = load<u32>(r, I_MODE);
  let f = load<u32>(e, E_FLAGS) | (s == SIDE_A ? F_HINT_A : F_HINT_B);
  if (load<u32>(r, I_NLINK) == 0) f |= s == SIDE_A ? F_NOLINK_A : F_NOLINK_B;
  store<u32>(e, f, E_FLAGS);
  store<u8>(e + (s == SIDE_A ? E_TA : E_TB), mode_type(mode));
  store<u64>(e + (s == SIDE_A ? E_HA : E_HB), is_device(mode) ? 0 : load<u64>(r, I_PARENT));
}

/** Dirent value `v` (`vl` bytes) of directory `dir` exists only on side `s`. 0 or -errno. */
function on_dirent(s: u32, dir: u64, v: usize, vl: u32): i32 {
  if (vl < 10 || vl != 10 + <u32>load<u8>(v, 9)) return -EUCLEAN;
  const e = tab_fact(load<u64>(v), 0);
  if (e == 0) return full_errno();
  const at = s == SIDE_A ? E_NA : E_NB;
  const off = name_new(dir, load<u8>(v, 8), v + 10, <u32>load<u8>(v, 9), load<u32>(e + at));
  if (off == 0) return full_errno(true);
  store<u32>(e + at, off);
  return 0;
}

// ---- the parallel walk ---------------------------------------------------------------------
//
// Frame (per side, per level of the node being walked): the node's block, generation, item
// count, the slot at the front, and its lower bound (k1, k2).

const FRAME: usize = 48;
const FR_BLK: usize = 0;
const FR_GEN: usize = 8;
const FR_LO1: usize = 16;
const FR_LO2: usize = 24;
const FR_SLOT: usize = 32;
const FR_N: usize = 36;
const FRAMES: usize = memory.data(2 * HEIGHT_MAX * <u32>FRAME);
@inline function fr(s: u32, l: u32): usize { return FRAMES + (<usize>s * HEIGHT_MAX + l) * FRAME; }

const ST_END: u32 = 0;
const ST_ROOT: u32 = 1; // the root is the front, unread
const ST_FRAMES: u32 = 2;
const W_STATE: usize = memory.data(8);
const W_TOP: usize = memory.data(8);
let w_tree: u32 = 0;

// the fronts: kind, key (item) or bound (subtree), subtree block, generation and level
const FK_END: u32 = 0;
const FK_ITEM: u32 = 1;
const FK_SUB: u32 = 2;
const FRONT: usize = memory.data(2 * 48);
const FT_KIND: usize = 0;
const FT_K1: usize = 8;
const FT_K2: usize = 16;
const FT_BLK: usize = 24;
const FT_GEN: usize = 32;
const FT_LEVEL: usize = 40;
@inline function ft(s: u32): usize { return FRONT + <usize>s * 48; }

@inline function w_state(s: u32): u32 { return load<u32>(W_STATE + (<usize>s << 2)); }
@inline function set_state(s: u32, v: u32): void { store<u32>(W_STATE + (<usize>s << 2), v); }
@inline function w_top(s: u32): u32 { return load<u32>(W_TOP + (<usize>s << 2)); }
@inline function set_top(s: u32, v: u32): void { store<u32>(W_TOP + (<usize>s << 2), v); }

/** The node of side `s`'s frame at level `l` (re-read: cached). 0 with bt_errno. */
function frame_node(s: u32, l: u32): usize {
  const f = fr(s, l);
  return read_node(load<u64>(f, FR_BLK), w_tree, l, load<u64>(f, FR_GEN));
}

/** Computes side `s`'s front. 0 or -errno. */
function front(s: u32): i32 {
  const o = ft(s);
  const st = w_state(s);
  if (st == ST_END) { store<u32>(o, FK_END, FT_KIND); return 0; }
  if (st == ST_ROOT) {
    store<u32>(o, FK_SUB, FT_KIND);
    store<u64>(o, 0, FT_K1);
    store<u64>(o, 0, FT_K2);
    store<u64>(o, h_root(s, w_tree), FT_BLK);
    store<u64>(o, h_gen(s, w_tree), FT_GEN);
    store<u32>(o, h_height(s, w_tree) - 1, FT_LEVEL);
    return 0;
  }
  const l = w_top(s);
  const f = fr(s, l);
  const n = frame_node(s, l);
  if (n == 0) return bt_errno;
  const i = load<u32>(f, FR_SLOT);
  if (l == 0) {
    store<u32>(o, FK_ITEM, FT_KIND);
    store<u64>(o, ik1(n, i), FT_K1);
    store<u64>(o, ik2(n, i), FT_K2);
    return 0;
  }
  store<u32>(o, FK_SUB, FT_KIND);
  store<u64>(o, i == 0 ? load<u64>(f, FR_LO1) : ik1(n, i), FT_K1);
  store<u64>(o, i == 0 ? load<u64>(f, FR_LO2) : ik2(n, i), FT_K2);
  store<u64>(o, ichild(n, i), FT_BLK);
  store<u64>(o, igen(n, i), FT_GEN);
  store<u32>(o, l - 1, FT_LEVEL);
  return 0;
}

/** Pops exhausted frames of side `s` (a parent's slot moves past a finished child). */
function settle(s: u32): void {
  const h = h_height(s, w_tree);
  for (;;) {
    const l = w_top(s);
    const f = fr(s, l);
    if (load<u32>(f, FR_SLOT) < load<u32>(f, FR_N)) return;
    if (l + 1 >= h) { set_state(s, ST_END); return; }
    set_top(s, l + 1);
    const p = fr(s, l + 1);
    store<u32>(p, load<u32>(p, FR_SLOT) + 1, FR_SLOT);
  }
}

/** Drops side `s`'s front (an item, or a subtree unread). */
function advance(s: u32): void {
  if (w_state(s) == ST_ROOT) { set_state(s, ST_END); return; }
  const f = fr(s, w_top(s));
  store<u32>(f, load<u32>(f, FR_SLOT) + 1, FR_SLOT);
  settle(s);
}

/** Reads side `s`'s front subtree (counted) and makes its first item or child the front. */
function expand(s: u32): i32 {
  const o = ft(s);
  const l = load<u32>(o, FT_LEVEL);
  const blk = load<u64>(o, FT_BLK), gen = load<u64>(o, FT_GEN);
  const n = dread(blk, w_tree, l, gen);
  if (n == 0) return bt_errno;
  const f = fr(s, l);
  store<u64>(f, blk, FR_BLK);
  store<u64>(f, gen, FR_GEN);
  store<u64>(f, load<u64>(o, FT_K1), FR_LO1);
  store<u64>(f, load<u64>(o, FT_K2), FR_LO2);
  store<u32>(f, 0, FR_SLOT);
  store<u32>(f, nitems(n), FR_N);
  if (l > 0 && nitems(n) == 0) return -EUCLEAN;
  set_state(s, ST_FRAMES);
  set_top(s, l);
  settle(s);
  return 0;
}

@inline function key_lt(a1: u64, a2: u64, b1: u64, b2: u64): bool { return a1 < b1 || (a1 == b1 && a2 < b2); }

// the value at side `s`'s item front, copied (reading the other side's leaf may reclaim it)
const VAL_A: usize = memory.data(VALUE_MAX + 8);
const VAL_B: usize = memory.data(VALUE_MAX + 8);
let val_len_a: u32 = 0;
let val_len_b: u32 = 0;

/** Copies side `s`'s front item's value. 0 or -errno. */
function take_value(s: u32): i32 {
  const n = frame_node(s, 0);
  if (n == 0) return bt_errno;
  const i = load<u32>(fr(s, 0), FR_SLOT);
  const vl = min<u32>(ivlen(n, i), VALUE_MAX);
  memory.copy(s == SIDE_A ? VAL_A : VAL_B, ival(n, i), vl);
  if (s == SIDE_A) val_len_a = vl; else val_len_b = vl;
  return 0;
}

/** An item of key (k1, k2) differs: `a`/`b` its values (0 when absent on that side). */
function on_item(k1: u64, k2: u64, a: usize, la: u32, b: usize, lb: u32): i32 {
  if (w_tree == TREE_INODE) {
    if (k2 == 0) return on_record(k1, a, la, b, lb);
    return tab_fact(k1, F_MOD) == 0 ? full_errno() : 0; // an xattr
  }
  if (w_tree == TREE_EXTENT) return tab_fact(k1, F_MOD) == 0 ? full_errno() : 0;
  if (k1 == ORPHAN_DIR) return 0; // open-but-unlinked inodes: no names
  let r: i32 = 0;
  if (a != 0) r = on_dirent(SIDE_A, k1, a, la);
  if (r == 0 && b != 0) r = on_dirent(SIDE_B, k1, b, lb);
  return r;
}

/** Item front of side `s` exists only there. */
function item_only(s: u32): i32 {
  const r = take_value(s);
  if (r != 0) return r;
  const o = ft(s);
  const k1 = load<u64>(o, FT_K1), k2 = load<u64>(o, FT_K2);
  const q = s == SIDE_A ? on_item(k1, k2, VAL_A, val_len_a, 0, 0) : on_item(k1, k2, 0, 0, VAL_B, val_len_b);
  advance(s);
  return q;
}

/** Walks tree `tree` of both heads in parallel, noting every differing item. 0 or -errno. */
function walk_tree(tree: u32): i32 {
  w_tree = tree;
  for (let s: u32 = 0; s < 2; s++) {
    const h = h_height(s, tree);
    if (h > HEIGHT_MAX) return -EUCLEAN;
    set_state(s, h_root(s, tree) == 0 || h == 0 ? ST_END : ST_ROOT);
  }
  for (;;) {
    let r = front(SIDE_A);
    if (r == 0) r = front(SIDE_B);
    if (r != 0) return r;
    const a = ft(SIDE_A), b = ft(SIDE_B);
    const ka = load<u32>(a, FT_KIND), kb = load<u32>(b, FT_KIND);
    if (ka == FK_END && kb == FK_END) return 0;
    const a1 = load<u64>(a, FT_K1), a2 = load<u64>(a, FT_K2);
    const b1 = load<u64>(b, FT_K1), b2 = load<u64>(b, FT_K2);
    if (ka == FK_END || kb == FK_END) {
      const s = ka == FK_END ? SIDE_B : SIDE_A;
      r = load<u32>(ft(s), FT_KIND) == FK_SUB ? expand(s) : item_only(s);
    } else if (ka == FK_SUB && kb == FK_SUB) {
      if (load<u64>(a, FT_BLK) == load<u64>(b, FT_BLK) && load<u64>(a, FT_GEN) == load<u64>(b, FT_GEN)) {
        advance(SIDE_A); // the same subtree in both: identical, unread
        advance(SIDE_B);
      } else if (key_lt(a1, a2, b1, b2)) r = expand(SIDE_A);
      else if (key_lt(b1, b2, a1, a2)) r = expand(SIDE_B);
      else {
        const la = load<u32>(a, FT_LEVEL), lb = load<u32>(b, FT_LEVEL);
        if (la >= lb) r = expand(SIDE_A);
        if (r == 0 && lb >= la) r = expand(SIDE_B);
      }
    } else if (ka == FK_SUB) {
      r = key_lt(b1, b2, a1, a2) ? item_only(SIDE_B) : expand(SIDE_A);
    } else if (kb == FK_SUB) {
      r = key_lt(a1, a2, b1, b2) ? item_only(SIDE_A) : expand(SIDE_B);
    } else if (key_lt(a1, a2, b1, b2)) r = item_only(SIDE_A);
    else if (key_lt(b1, b2, a1, a2)) r = item_only(SIDE_B);
    else {
      r = take_value(SIDE_A);
      if (r == 0) r = take_value(SIDE_B);
      if (r == 0 && (val_len_a != val_len_b || memory.compare(VAL_A, VAL_B, val_len_a) != 0)) {
        r = on_item(a1, a2, VAL_A, val_len_a, VAL_B, val_len_b);
      }
      advance(SIDE_A);
      advance(SIDE_B);
    }
    if (r != 0) return r;
  }
  return 0; // not reached
}

// ---- lookups in one head's tree (path building) ----------------------------------------------

/**
 * Looks (k1, k2) up in tree `tree` of side `s`; copies the value to VAL_B's twin LOOK_VAL.
 * Returns its length, -ENOENT, or -errno.
 */
const LOOK_VAL: usize = memory.data(VALUE_MAX + 8);
function lookup(s: u32, tree: u32, k1: u64, k2: u64): i32 {
  let blk = h_root(s, tree), gen = h_gen(s, tree);
  const h = h_height(s, tree);
  if (blk == 0 || h == 0) return -ENOENT;
  if (h > HEIGHT_MAX) return -EUCLEAN;
  for (let l = <i32>h - 1; ; l--) {
    const n = dread(blk, tree, <u32>l, gen);
    if (n == 0) return bt_errno;
    const k = nitems(n);
    if (l == 0) {
      for (let i: u32 = 0; i < k; i++) {
        if (ik1(n, i) == k1 && ik2(n, i) == k2) {
          const vl = min<u32>(ivlen(n, i), VALUE_MAX);
          memory.copy(LOOK_VAL, ival(n, i), vl);
          return <i32>vl;
        }
      }
      return -ENOENT;
    }
    let i: u32 = 0;
    while (i + 1 < k && !key_lt(k1, k2, ik1(n, i + 1), ik2(n, i + 1))) i++;
    blk = ichild(n, i);
    gen = igen(n, i);
  }
  return -EUCLEAN; // not reached
}

/**
 * Visits every dirent of side `s` with k1 in [lo, hi] (a directory, or all), caching the
 * name of each table inode that has none on that side yet. 0 or -errno.
 */
function scan_dirents(s: u32, lo: u64, hi: u64): i32 {
  const h = h_height(s, TREE_DIRENT);
  if (h_root(s, TREE_DIRENT) == 0 || h == 0) return 0;
  if (h > HEIGHT_MAX) return -EUCLEAN;
  return scan_node(s, h_root(s, TREE_DIRENT), h_gen(s, TREE_DIRENT), h - 1, lo, hi);
}

function scan_node(s: u32, blk: u64, gen: u64, level: u32, lo: u64, hi: u64): i32 {
  const n = dread(blk, TREE_DIRENT, level, gen);
  if (n == 0) return bt_errno;
  const k = nitems(n);
  if (level > 0) {
    // children whose key range [key[i], key[i+1]) meets k1 in [lo, hi]
    for (let i: u32 = 0; i < k; i++) {
      const c = read_node(blk, TREE_DIRENT, level, gen); // the node again: reads below may reclaim it
      if (c == 0) return bt_errno;
      if (i > 0 && ik1(c, i) > hi) break;
      if (i + 1 < k && ik1(c, i + 1) < lo) continue;
      const r = scan_node(s, ichild(c, i), igen(c, i), level - 1, lo, hi);
      if (r != 0) return r;
    }
    return 0;
  }
  for (let i: u32 = 0; i < k; i++) {
    const d = ik1(n, i);
    if (d < lo || d > hi || d == ORPHAN_DIR) continue;
    const v = ival(n, i), vl = ivlen(n, i);
    if (vl < 10 || vl != 10 + <u32>load<u8>(v, 9)) return -EUCLEAN;
    const e = tab_get(load<u64>(v));
    if (e == 0) continue;
    const at = s == SIDE_A ? E_RA : E_RB;
    if (load<u32>(e + at) != 0) continue;
    const off = name_new(d, load<u8>(v, 8), v + 10, <u32>load<u8>(v, 9), 0);
    if (off == 0) return full_errno(true);
    store<u32>(e + at, off);
  }
  return 0;
}

/** Whether the full dirent scan of a side was done in this diff. */
let scanned_all_a = false;
let scanned_all_b = false;

/**
 * A name of `ino` on side `s`: an arena offset (a NAME: its directory and bytes), or -errno
 * (-EUCLEAN: no dirent names it).
 */
function name_of(s: u32, ino: u64): i64 {
  const e = tab_add(ino, F_AUX);
  if (e == 0) return full_errno();
  const list = load<u32>(e + (s == SIDE_A ? E_NA : E_NB));
  if (list != 0) return list;
  const hflag = s == SIDE_A ? F_HINT_A : F_HINT_B;
  const at = s == SIDE_A ? E_RA : E_RB;
  if (load<u32>(e + at) != 0) return load<u32>(e + at);
  if ((load<u32>(e, E_FLAGS) & hflag) == 0) {
    const vl = lookup(s, TREE_INODE, ino, 0);
    if (vl < 0) return vl == -ENOENT ? -EUCLEAN : vl;
    if (<u32>vl < <u32>I_PARENT + 8) return -EUCLEAN;
    rec_hint(e, s, LOOK_VAL);
  }
  const hint = load<u64>(e + (s == SIDE_A ? E_HA : E_HB));
  if (hint >= ROOT_INO) {
    const r = scan_dirents(s, hint, hint);
    if (r != 0) return r;
    if (load<u32>(e + at) != 0) return load<u32>(e + at);
  }
  // renamed out of the directory it was created in, before A: one scan of everything
  if (s == SIDE_A ? !scanned_all_a : !scanned_all_b) {
    if (s == SIDE_A) scanned_all_a = true; else scanned_all_b = true;
    const r = scan_dirents(s, 0, u64.MAX_VALUE);
    if (r != 0) return r;
    if (load<u32>(e + at) != 0) return load<u32>(e + at);
  }
  return -EUCLEAN;
}

/**
 * Builds the path of `name` (an arena NAME; 0: of inode `ino` itself) on side `s` backwards
 * into the buffer ending at `end`. Returns the path's length, or -errno.
 */
function path_build(s: u32, ino: u64, name: u32, end: usize): i32 {
  let p = end;
  let cur = ino;
  let nmo = name;
  for (let depth: u32 = 0; ; depth++) {
    if (nmo == 0) {
      if (cur == ROOT_INO) break;
      const r = name_of(s, cur);
      if (r < 0) return <i32>r;
      nmo = <u32>r;
    }
    if (depth >= PATH_DEPTH_MAX) return -EUCLEAN; // a loop of parent pointers
    const q = nm(nmo);
    const len = <u32>load<u8>(q, NM_LEN);
    if (<u32>(end - p) + len + 1 > PATH_BYTES_MAX) return -ENAMETOOLONG;
    p -= len;
    memory.copy(p, q + NM_NAME, len);
    p -= 1;
    store<u8>(p, 0x2f);
    cur = load<u64>(q, NM_DIR);
    nmo = 0;
  }
  if (p == end) { p -= 1; store<u8>(p, 0x2f); } // the root itself
  return <i32>(end - p);
}

// ---- output ----------------------------------------------------------------------------------

let out_base: usize = 0;
let out_cap: u32 = 0;
let out_pos: u32 = 0;

/** Appends a record; paths are the last `l1` bytes before pbuf1's end and `l2` before pbuf2's. */
function emit(kind: u8, type: u8, l1: u32, l2: u32): i32 {
  const sz = REC_HDR + l1 + l2;
  if (<u64>out_pos + sz > <u64>out_cap) return -ERANGE;
  const o = out_base + out_pos;
  store<u8>(o, kind);
  store<u8>(o, type, 1);
  store<u16>(o, <u16>l1, 2);
  store<u16>(o, <u16>l2, 4);
  memory.copy(o + REC_HDR, pbuf1 + PATH_BYTES_MAX - l1, l1);
  memory.copy(o + REC_HDR + l1, pbuf2 + PATH_BYTES_MAX - l2, l2);
  out_pos += sz;
  return 0;
}

/** One-path record of `ino` (or of NAME `name`) on side `s`. 0 or -errno. */
function emit1(kind: u8, type: u8, s: u32, ino: u64, name: u32): i32 {
  const l = path_build(s, ino, name, pbuf1 + PATH_BYTES_MAX);
  return l < 0 ? l : emit(kind, type, <u32>l, 0);
}

/** True when NAME `a` and `b` are the same entry (directory and bytes). */
function name_eq(a: u32, b: u32): bool {
  const p = nm(a), q = nm(b);
  const len = <u32>load<u8>(p, NM_LEN);
  return load<u64>(p, NM_DIR) == load<u64>(q, NM_DIR) && len == <u32>load<u8>(q, NM_LEN) &&
    memory.compare(p + NM_NAME, q + NM_NAME, len) == 0;
}

/** Unlinks from both lists the names present in both (a dirent whose key alone moved). */
function cancel_common(e: usize): void {
  let pa: u32 = 0;
  let a = load<u32>(e, E_NA);
  while (a != 0) {
    const an = load<u32>(nm(a), NM_NEXT);
    let pb: u32 = 0;
    let b = load<u32>(e, E_NB);
    let hit = false;
    while (b != 0) {
      const bn = load<u32>(nm(b), NM_NEXT);
      if (name_eq(a, b)) {
        if (pb == 0) store<u32>(e, bn, E_NB); else store<u32>(nm(pb), bn, NM_NEXT);
        hit = true;
        break;
      }
      pb = b;
      b = bn;
    }
    if (hit) {
      if (pa == 0) store<u32>(e, an, E_NA); else store<u32>(nm(pa), an, NM_NEXT);
    } else pa = a;
    a = an;
  }
}

/** The records of one table entry. 0 or -errno. */
function report(e: usize): i32 {
  const ino = load<u64>(e);
  const f = load<u32>(e, E_FLAGS);
  let r: i32 = 0;
  if (f & (F_ONLY_A | F_ONLY_B)) {
    if ((f & F_ONLY_A) != 0 && (f & F_NOLINK_A) == 0) r = emit1(DIFF_DELETED, load<u8>(e, E_TA), SIDE_A, ino, 0);
    if (r == 0 && (f & F_ONLY_B) != 0 && (f & F_NOLINK_B) == 0) r = emit1(DIFF_CREATED, load<u8>(e, E_TB), SIDE_B, ino, 0);
    return r;
  }
  cancel_common(e);
  let a = load<u32>(e, E_NA), b = load<u32>(e, E_NB);
  // a name gone and a name new: renamed (hard links: one pair, the rest deleted/created)
  while (a != 0 && b != 0) {
    const l1 = path_build(SIDE_A, 0, a, pbuf1 + PATH_BYTES_MAX);
    if (l1 < 0) return l1;
    const l2 = path_build(SIDE_B, 0, b, pbuf2 + PATH_BYTES_MAX);
    if (l2 < 0) return l2;
    r = emit(DIFF_RENAMED, load<u8>(nm(b), NM_TYPE), <u32>l1, <u32>l2);
    if (r != 0) return r;
    a = load<u32>(nm(a), NM_NEXT);
    b = load<u32>(nm(b), NM_NEXT);
  }
  for (; a != 0 && r == 0; a = load<u32>(nm(a), NM_NEXT)) r = emit1(DIFF_DELETED, load<u8>(nm(a), NM_TYPE), SIDE_A, 0, a);
  for (; b != 0 && r == 0; b = load<u32>(nm(b), NM_NEXT)) r = emit1(DIFF_CREATED, load<u8>(nm(b), NM_TYPE), SIDE_B, 0, b);
  if (r != 0 || (f & F_MOD) == 0) return r;
  if ((load<u32>(e, E_FLAGS) & F_HINT_B) == 0) {
    // an xattr or extent change alone: B's type is in its record
    const vl = lookup(SIDE_B, TREE_INODE, ino, 0);
    if (vl < 0) return vl == -ENOENT ? -EUCLEAN : vl;
    if (<u32>vl < <u32>I_PARENT + 8) return -EUCLEAN;
    rec_hint(e, SIDE_B, LOOK_VAL);
  }
  const l = path_build(SIDE_B, ino, 0, pbuf1 + PATH_BYTES_MAX);
  if (l < 0) return l;
  return emit(DIFF_MODIFIED, load<u8>(e, E_TB), <u32>l, 0);
}

// ---- union count ---------------------------------------------------------------------------

/**
 * Nodes of tree `tree` of side `s` reached by pointers whose generation is above `floor`
 * (floor 0: every node). Internal nodes are read (not counted in diff_nodes); leaves are
 * counted from their parents' pointers. -errno on a read error.
 */
function count_tree(s: u32, tree: u32, floor: u64): i64 {
  const root = h_root(s, tree), h = h_height(s, tree);
  if (root == 0 || h == 0 || h_gen(s, tree) <= floor) return 0;
  if (h > HEIGHT_MAX) return -EUCLEAN;
  return count_node(root, h_gen(s, tree), h - 1, tree, floor);
}

function count_node(blk: u64, gen: u64, level: u32, tree: u32, floor: u64): i64 {
  if (level == 0) return 1;
  const n = read_node(blk, tree, level, gen);
  if (n == 0) return bt_errno;
  const k = nitems(n);
  let sum: i64 = 1;
  for (let i: u32 = 0; i < k; i++) {
    const c = read_node(blk, tree, level, gen); // again: the reads below may reclaim it
    if (c == 0) return bt_errno;
    const cg = igen(c, i);
    if (cg <= floor) continue; // shared with the other head: counted there
    const r = count_node(ichild(c, i), cg, level - 1, tree, floor);
    if (r < 0) return r;
    sum += r;
  }
  return sum;
}

/**
 * Nodes of the union of the two heads: all of the older head's, plus the newer head's born
 * after the older one. Exact on the main chain (a node of the newer head born at or before
 * the older head's tid was in the live tree then, so the older head holds it: nodes leave
 * the live tree for good, and a rollback only returns to the newest snapshot) and for a
 * clone against its origin (what a clone holds born at or before its origin is the
 * origin's). Other pairs (two clones, a clone and another snapshot) count both heads whole:
 * an upper bound.
 */
function union_total(): i64 {
  const a = head(SIDE_A), b = head(SIDE_B);
  const ca = (load<u32>(a, 104) & DH_CLONE) != 0, cb = (load<u32>(b, 104) & DH_CLONE) != 0;
  let older = SIDE_A;
  let floor: u64 = 0;
  if (memory.compare(a, b, <usize>FS_TREES * 24) == 0) {
    floor = u64.MAX_VALUE; // the same trees
  } else if (!ca && !cb) {
    const ta = load<u64>(a, 72), tb = load<u64>(b, 72);
    older = ta <= tb ? SIDE_A : SIDE_B;
    floor = min<u64>(ta, tb);
  } else if (ca && !cb && load<u64>(a, 88) == load<u64>(b, 96)) {
    older = SIDE_B;
    floor = load<u64>(a, 80);
  } else if (cb && !ca && load<u64>(b, 88) == load<u64>(a, 96)) {
    older = SIDE_A;
    floor = load<u64>(b, 80);
  }
  const newer = older ^ 1;
  let sum: i64 = 0;
  for (let t: u32 = 0; t < FS_TREES; t++) {
    let r = count_tree(older, t, 0);
    if (r < 0) return r;
    sum += r;
    r = count_tree(newer, t, floor);
    if (r < 0) return r;
    sum += r;
  }
  return sum;
}

// ---- the diff --------------------------------------------------------------------------------

/**
 * Writes the differences between heads `a` (`alen` bytes; 0: the mounted head) and `b`
 * into `out` (`cap` bytes) as packed records (header comment). Returns the bytes written,
 * or -errno: -ENOENT an unknown name; -ERANGE `cap` too small (call again with a bigger
 * buffer: the output, or the inode table and name arena sized by it, is full); -ENOMEM no
 * working memory, or more inodes (3/4 of TAB_SLOTS_MAX) or names than the largest holds;
 * -ENAMETOOLONG a path over PATH_BYTES_MAX; -EUCLEAN, -EIO a damaged tree.
 */
export function snap_diff(a: usize, alen: u32, b: usize, blen: u32, out: usize, cap: u32): i32 {
  diff_nodes = 0;
  diff_total = 0;
  let r = snap_diff_head(a, alen, head(SIDE_A));
  if (r == 0) r = snap_diff_head(b, blen, head(SIDE_B));
  if (r != 0) return r;
  r = work_alloc(cap);
  if (r != 0) return r;
  out_base = out;
  out_cap = cap;
  out_pos = 0;
  scanned_all_a = false;
  scanned_all_b = false;
  r = diff_run();
  work_free();
  return r != 0 ? r : <i32>out_pos;
}

function diff_run(): i32 {
  // the dirent tree last: the inode facts (types, hints) are in the table by then
  let r = walk_tree(TREE_INODE);
  if (r == 0) r = walk_tree(TREE_EXTENT);
  if (r == 0) r = walk_tree(TREE_DIRENT);
  if (r != 0) return r;
  for (let i: u32 = 0; i < tab_slots; i++) {
    const e = tab + <usize>i * ENT;
    if (load<u64>(e) == 0 || (load<u32>(e, E_FLAGS) & F_AUX) != 0) continue;
    r = report(e);
    if (r != 0) return r;
  }
  const t = union_total();
  if (t < 0) return <i32>t;
  diff_total = <u64>t;
  return 0;
}
