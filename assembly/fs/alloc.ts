// fs/alloc.ts -- the extent allocator: free space indexed by offset and by size (XFS bnobt
// and cntbt), best fit with a locality goal, coalescing frees, delayed reuse of freed space.
//
// Layer: above the B+ tree; the file layer asks it for data extents, the B+ tree for nodes.
// Interface: balloc, bfree_deferred, alloc_apply_deferred (commit), alloc_discard_committed
// (after commit, online discard), alloc_reserve/unreserve (delayed allocation), bt node
// callbacks, alloc_mount.
//
// Rules:
//  - TREE_BNO holds (start, 0) -> len u64 and TREE_CNT holds (len, start) -> (); both describe
//    the same free extents and change in the same transaction;
//  - free extents never touch (a free always coalesces with both neighbours);
//  - the free-space trees draw their own nodes from the AGFL, a small list of reserved blocks
//    in the superblock refilled before each operation (XFS AG free list), so allocating a
//    node never recurses into the tree being changed;
//  - a block freed in the running transaction is not reusable until that transaction commits
//    (the deferred list is applied at commit), so a crash can never expose one file's new
//    data through another file's old metadata; freed metadata blocks are also revoked;
//  - with online discard (mount flag, ext4's `-o discard`) the extents a commit freed are
//    discarded only after that commit is durable, and only the parts still free then: the
//    AGFL refill may have taken freed blocks for free-space tree nodes during the same
//    commit, and a checkpoint may already have written those nodes home;
//  - data allocation keeps META_RESERVE blocks back so metadata changes never hit ENOSPC
//    halfway; delayed allocation reserves blocks at write() time and fails there: one block
//    per dirtied page plus, per write call, the worst case of the metadata its writeback and
//    commit can need (alloc_write_meta: extent-tree and free-space-tree splits), held in
//    meta_reserved until no reserved page and no deferred free is left (docs/decisions.md).

import { ENOSPC, EUCLEAN, ENOENT } from "../lib/errno";
import { BLOCK_SIZE } from "../params";
import {
  MAGIC_SUPER, SB_FREE_BLOCKS, SB_AGFL_COUNT, SB_AGFL, AGFL_MAX, AGFL_LOW, AGFL_TARGET,
  TREE_BNO, TREE_CNT, TREE_EXTENT, TREE_INODE, FS_TREES, in_data_area,
} from "./format";
import {
  bt_insert, bt_delete, bt_seek, bt_next, bt_errno, bt_set_allocator, bt_node_alloc_failed, bt_corrupt, cur_k1, bt_cow_floor,
  cur_k2, cur_val, cur_vlen, bt_height, VALUE_MAX, CURSOR_SIZE,
} from "./btree";
import { kputs, kputu, knl, kfs } from "../lib/printk";
import { bread, buf_errno } from "./pagecache";
import { blk_discard, blk_discard_seg, DISCARD_SEG_MAX } from "../dev/virtio_blk";
import { alloc_pages, free_pages } from "../mm/buddy";
import { NO_PFN, pfn_to_addr } from "../mm/page";
import { journal_dirty, journal_revoke } from "./journal";

/** Blocks that only metadata allocations may use. */
export const META_RESERVE: u64 = 64;
/** Freed extents a transaction can hold before they are applied at commit. */
const DEFER_MAX: u32 = 16384;
/**
 * Deferred free entry (24 bytes):
 *
 *   0 start u64 | 8 len u32 | 12 flags u32 (DEFER_META) | 16 birth u64 (0 = born unshared)
 *
 * `birth` is the tid that allocated the blocks (extent record birth, node header tid): at
 * commit, blocks born at or before the newest snapshot go to the dead list instead of the
 * free-space trees (snapshot.ts snap_kill).
 */
const DEFER_ENTRY: u32 = 24;
const DEFER: usize = memory.data(DEFER_MAX * DEFER_ENTRY);
/** Deferred entry flag: a B+ tree node (revoked when it is really freed). */
export const DEFER_META: u32 = 1;
let ndefer: u32 = 0;
let defer_blocks: u64 = 0;
/** Deferred blocks born at or before the cow floor: a snapshot keeps them, they will not be free. */
let defer_kept: u64 = 0;

/** Free blocks in the trees (mirrors the superblock). */
export let free_blocks: u64 = 0;
/** Blocks promised to dirty delayed-allocation pages. */
export let reserved_blocks: u64 = 0;
/**
 * Blocks promised to the metadata that reserved pages and deferred frees will need
 * (alloc_write_meta), released when neither is left (alloc_meta_idle).
 */
export let meta_reserved: u64 = 0;
export let total_blocks: u64 = 0;
/** Set when the allocator met corruption or an I/O error (the fs must go read-only). */
export let alloc_errno: i32 = 0;
/** Length of the extent the last balloc returned. */
export let balloc_len: u64 = 0;

export let astat_allocs: u64 = 0;
export let astat_frees: u64 = 0;
export let astat_goal_hits: u64 = 0;
export let astat_discarded_blocks: u64 = 0;
export let astat_discard_errors: u64 = 0;

/** Online discard of freed extents after each commit (mount flag). */
let alloc_discard_enabled: bool = false;
/**
 * Sets online discard at mount and forgets remembered extents: a commit that failed aborted
 * the journal, so what it freed is never discarded.
 */
export function alloc_set_discard(on: bool): void { alloc_discard_enabled = on; ndiscard = 0; }
/**
 * Freed extents one commit remembers for discard; frees past it are not discarded (discard
 * is a hint: the blocks are free either way, as when ext4's discard list is dropped).
 */
const DISCARD_MAX: u32 = 4096;
const DISCARDS: usize = memory.data(DISCARD_MAX * 16); // start u64 | len u64
let ndiscard: u32 = 0;

const CUR: usize = memory.data(CURSOR_SIZE);
const VAL: usize = memory.data(8);

/** Loads the allocator state from the superblock at `sb` and registers the node callbacks. */
export function alloc_mount(sb: usize, total: u64): void {
  free_blocks = load<u64>(sb, SB_FREE_BLOCKS);
  total_blocks = total;
  reserved_blocks = 0;
  meta_reserved = 0;
  ndefer = 0;
  defer_blocks = 0;
  defer_kept = 0;
  alloc_errno = 0;
  bt_set_allocator(node_alloc, node_free);
}

// ---- verification ----------------------------------------------------------------------------
//
// A free extent or AGFL entry is handed out as space: one outside the data area would give
// the superblock or the journal to a file (or, at block 0, read as "no space": balloc's 0).
// Each is checked where it is read; a bad one is EUCLEAN (alloc_errno, bt_errno, the
// metadata error path), never allocated.

/**
 * Checks a free extent: [start, start + len) in the data area, and its record shape: in
 * TREE_BNO key (start, 0) with an 8-byte length (`vlen` 8, `len` the value), in TREE_CNT key
 * (len, start) with an empty value. Returns true when sound. Exported for fsck.
 */
export function free_extent_verify(tree: u32, start: u64, len: u64, vlen: u32): bool {
  return in_data_area(start, len) && vlen == (tree == TREE_BNO ? 8 : 0);
}

/** The free extent under CUR of `tree` (start, len), verified; false (reported) when bad. */
let cur_start: u64 = 0;
let cur_len: u64 = 0;
function free_cur(tree: u32): bool {
  const vlen = cur_vlen(CUR);
  if (tree == TREE_BNO) {
    cur_start = cur_k1(CUR);
    cur_len = vlen == 8 ? load<u64>(cur_val(CUR)) : 0;
  } else {
    cur_len = cur_k1(CUR);
    cur_start = cur_k2(CUR);
  }
  if (free_extent_verify(tree, cur_start, cur_len, vlen)) return true;
  kfs(); kputs("corrupt free extent ("); kputu(cur_start); kputs(", "); kputu(cur_len);
  kputs(tree == TREE_BNO ? ") in the by-offset tree" : ") in the by-size tree"); knl();
  bt_corrupt();
  return false;
}

/** Reports a bad AGFL (count or entry); returns 0 as agfl_get does. */
function agfl_corrupt(what: u64): u64 {
  kfs(); kputs("corrupt AGFL entry or count "); kputu(what); knl();
  alloc_errno = -EUCLEAN;
  bt_corrupt();
  return 0;
}

function sb_buf(): usize {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) alloc_errno = buf_errno;
  return sb;
}

/** Sets the free count (memory and superblock): fsck after rebuilding the free-space trees. */
export function alloc_set_free(v: u64): void { set_free(v); }
function set_free(v: u64): void {
  free_blocks = v;
  const sb = sb_buf();
  if (sb == 0) return;
  store<u64>(sb, v, SB_FREE_BLOCKS);
  journal_dirty(0);
}

// ---- AGFL ------------------------------------------------------------------------------------

function agfl_count(): u32 {
  const sb = sb_buf();
  if (sb == 0) return 0;
  const n = load<u32>(sb, SB_AGFL_COUNT);
  if (n > AGFL_MAX) { agfl_corrupt(n); return 0; }
  return n;
}

/** Takes a block from the AGFL (0 when empty). */
function agfl_get(): u64 {
  const sb = sb_buf();
  if (sb == 0) return 0;
  const n = load<u32>(sb, SB_AGFL_COUNT);
  if (n == 0) return 0;
  if (n > AGFL_MAX) return agfl_corrupt(n);
  const blk = load<u64>(sb + SB_AGFL + (<usize>(n - 1) << 3));
  if (!in_data_area(blk, 1)) return agfl_corrupt(blk);
  store<u32>(sb, n - 1, SB_AGFL_COUNT);
  journal_dirty(0);
  return blk;
}

/** Returns a block to the AGFL; false when it is full. */
function agfl_put(blk: u64): bool {
  const sb = sb_buf();
  if (sb == 0) return false;
  const n = load<u32>(sb, SB_AGFL_COUNT);
  if (n >= AGFL_MAX) return false;
  store<u64>(sb + SB_AGFL + (<usize>n << 3), blk);
  store<u32>(sb, n + 1, SB_AGFL_COUNT);
  journal_dirty(0);
  return true;
}

/** Tops the AGFL up to AGFL_TARGET when it fell below AGFL_LOW. 0 or -errno. */
export function alloc_agfl_refill(): i32 { return agfl_refill(); }
function agfl_refill(): i32 {
  let n = agfl_count();
  if (alloc_errno != 0) return alloc_errno;
  if (n >= AGFL_LOW) return 0;
  let guard = 0;
  while (n < AGFL_TARGET && guard++ < <i32>AGFL_MAX) {
    const start = take_extent(0, <u64>(AGFL_TARGET - n), 1);
    if (start == 0) return alloc_errno != 0 ? alloc_errno : -ENOSPC;
    for (let i: u64 = 0; i < balloc_len; i++) {
      if (!agfl_put(start + i)) return -EUCLEAN;
    }
    n = agfl_count();
  }
  return 0;
}

/** Writes an AGFL image for mkfs: blocks [start, start + count) into the superblock at `sb`. */
export function agfl_format(sb: usize, start: u64, count: u32): void {
  for (let i: u32 = 0; i < count; i++) store<u64>(sb + SB_AGFL + (<usize>i << 3), start + i);
  store<u32>(sb, count, SB_AGFL_COUNT);
}

// ---- B+ tree node callbacks ------------------------------------------------------------------

function node_alloc(tree: u32): u64 {
  const b = tree == TREE_BNO || tree == TREE_CNT ? agfl_get() : balloc(0, 1, 1);
  if (b == 0 && alloc_errno != 0) bt_node_alloc_failed(alloc_errno);
  return b;
}

function node_free(tree: u32, blk: u64, birth: u64): i32 {
  if (tree == TREE_BNO || tree == TREE_CNT) {
    // free-space tree nodes are never shared (only the fs trees are snapshotted)
    const r = journal_revoke(blk);
    if (r != 0) return r;
    if (agfl_put(blk)) return 0;
    return bfree_deferred(blk, 1);
  }
  // the revoke waits for the commit's decision: a node a snapshot keeps must not be revoked
  // (replay would then skip its last logged image and leave the snapshot a stale block).
  // Only the filesystem trees are shared: a snapshot- or dead-list-tree node is freed for good
  return bfree_deferred(blk, 1, tree < FS_TREES ? birth : 0, DEFER_META);
}

/**
 * How the deferred frees end (set by snapshot.ts at mount): given a deferred extent, either
 * frees it (returns false: the caller puts it in the free-space trees) or keeps it for a
 * snapshot (dead list; returns true). Without snapshots everything is freed.
 */
let kill_hook: (start: u64, len: u64, birth: u64, flags: u32) => i32 = (start: u64, len: u64, birth: u64, flags: u32): i32 => 0;
export function alloc_set_kill_hook(fn: (start: u64, len: u64, birth: u64, flags: u32) => i32): void { kill_hook = fn; }
/** kill_hook result: the blocks are kept (dead list), not freed. */
export const KILL_KEPT: i32 = 1;

// ---- allocation ------------------------------------------------------------------------------

/** Removes [a, a + n) from the free extent (s, l) that contains it, in both trees. */
function carve(s: u64, l: u64, a: u64, n: u64): i32 {
  assert(a >= s && a + n <= s + l && n > 0);
  // an extent found in one tree and missing from the other: the trees disagree (corrupt)
  let r = bt_delete(TREE_CNT, l, s);
  if (r != 0) return r == -ENOENT ? -EUCLEAN : r;
  r = bt_delete(TREE_BNO, s, 0);
  if (r != 0) return r == -ENOENT ? -EUCLEAN : r;
  if (a > s) {
    store<u64>(VAL, a - s);
    r = bt_insert(TREE_BNO, s, 0, VAL, 8);
    if (r != 0) return r;
    r = bt_insert(TREE_CNT, a - s, s, VAL, 0);
    if (r != 0) return r;
  }
  const end = s + l;
  if (a + n < end) {
    store<u64>(VAL, end - (a + n));
    r = bt_insert(TREE_BNO, a + n, 0, VAL, 8);
    if (r != 0) return r;
    r = bt_insert(TREE_CNT, end - (a + n), a + n, VAL, 0);
    if (r != 0) return r;
  }
  return 0;
}

/**
 * Finds and removes up to `want` (at least `minLen`) blocks: at `goal` when the free extent
 * there allows, else the smallest extent of at least `want` blocks (best fit), else the
 * largest extent if it has `minLen`. Returns the start (length in balloc_len) or 0.
 */
function take_extent(goal: u64, want: u64, minLen: u64): u64 {
  let s: u64 = 0, l: u64 = 0, a: u64 = 0, n: u64 = 0;
  if (goal != 0 && bt_seek(CUR, TREE_BNO, goal, 0, false)) {
    if (!free_cur(TREE_BNO)) { alloc_errno = bt_errno; return 0; }
    s = cur_start;
    l = cur_len;
    if (s <= goal && goal < s + l && s + l - goal >= minLen) {
      a = goal;
      n = min<u64>(want, s + l - goal);
      astat_goal_hits++;
    }
  }
  if (bt_errno != 0) { alloc_errno = bt_errno; return 0; }
  if (n == 0) {
    if (bt_seek(CUR, TREE_CNT, want, 0, true)) {
      if (!free_cur(TREE_CNT)) { alloc_errno = bt_errno; return 0; }
      l = cur_len;
      s = cur_start;
      a = s;
      n = want;
    } else if (bt_errno == 0 && bt_seek(CUR, TREE_CNT, 0xffff_ffff_ffff_ffff, 0xffff_ffff_ffff_ffff, false)) {
      if (!free_cur(TREE_CNT)) { alloc_errno = bt_errno; return 0; }
      l = cur_len;
      s = cur_start;
      if (l >= minLen) { a = s; n = l; }
    }
    if (bt_errno != 0) { alloc_errno = bt_errno; return 0; }
  }
  if (n == 0) return 0;
  const r = carve(s, l, a, n);
  if (r != 0) { alloc_errno = r; return 0; }
  set_free(free_blocks - n);
  balloc_len = n;
  astat_allocs++;
  return a;
}

/**
 * Allocates between `minLen` and `want` contiguous blocks, near `goal` when possible. Data
 * allocations were reserved by alloc_reserve; the caller releases those reservations.
 * Returns the first block with the length in balloc_len, or 0 (no space, or alloc_errno set).
 */
export function balloc(goal: u64, want: u64, minLen: u64): u64 {
  if (alloc_errno != 0) return 0;
  const r = agfl_refill();
  if (r != 0) { if (r != -ENOSPC) alloc_errno = r; return 0; }
  return take_extent(goal, want, minLen);
}

/**
 * Frees [start, start + len) at the next commit (the space stays allocated until then).
 * `birth` is the tid that allocated the blocks (0: this transaction, never shared) and
 * `flags` DEFER_META for a tree node; at commit a snapshot may keep them (dead list).
 * Returns 0, -ENOSPC when the deferred list is full, or -EUCLEAN when the range is not in
 * the data area.
 */
export function bfree_deferred(start: u64, len: u64, birth: u64 = 0, flags: u32 = 0): i32 {
  // what is freed comes from records (extents, node pointers): outside the data area it is
  // corrupt, and freeing it would hand the superblock or the journal out as space
  if (!in_data_area(start, len) || len > 0xffff_ffff) return -EUCLEAN;
  if (ndefer > 0) {
    const last = DEFER + <usize>(ndefer - 1) * <usize>DEFER_ENTRY;
    const ls = load<u64>(last), ll = <u64>load<u32>(last, 8);
    const same = load<u64>(last, 16) == birth && load<u32>(last, 12) == flags && ll + len <= 0xffff_ffff;
    const kept = birth != 0 && birth <= bt_cow_floor();
    if (same && ls + ll == start) { store<u32>(last, <u32>(ll + len), 8); defer_blocks += len; if (kept) defer_kept += len; return 0; }
    if (same && start + len == ls) { store<u64>(last, start); store<u32>(last, <u32>(ll + len), 8); defer_blocks += len; if (kept) defer_kept += len; return 0; }
  }
  if (ndefer >= DEFER_MAX) return -ENOSPC;
  if (birth != 0 && birth <= bt_cow_floor()) defer_kept += len;
  const e = DEFER + <usize>ndefer * <usize>DEFER_ENTRY;
  store<u64>(e, start);
  store<u32>(e, <u32>len, 8);
  store<u32>(e, flags, 12);
  store<u64>(e, birth, 16);
  ndefer++;
  defer_blocks += len;
  return 0;
}

/** True when the deferred list is filling up and a commit should drain it. */
export function alloc_defer_pressure(): bool { return ndefer > DEFER_MAX / 2; }
/** Deferred blocks that the commit will really free (not kept for a snapshot). */
export function alloc_deferred_freeable(): u64 { return defer_blocks - defer_kept; }
/** Deferred extents (fsck counts them as in use until the commit frees them). */
export function alloc_deferred_count(): u32 { return ndefer; }
export function alloc_deferred_start(i: u32): u64 { return load<u64>(DEFER + <usize>i * <usize>DEFER_ENTRY); }
export function alloc_deferred_len(i: u32): u64 { return <u64>load<u32>(DEFER + <usize>i * <usize>DEFER_ENTRY, 8); }

/** Inserts [start, start + len) into the free-space trees, coalescing with both neighbours. */
function free_extent(start: u64, len: u64): i32 {
  let s = start, l = len;
  // left neighbour ending at start
  if (!in_data_area(start, len)) return -EUCLEAN;
  if (bt_seek(CUR, TREE_BNO, start, 0, false)) {
    if (!free_cur(TREE_BNO)) return bt_errno;
    const ls = cur_start;
    const ll = cur_len;
    if (ls + ll > start) return -EUCLEAN; // overlap: double free or corrupt tree
    if (ls + ll == start) {
      let r = bt_delete(TREE_CNT, ll, ls);
      if (r != 0) return r == -ENOENT ? -EUCLEAN : r; // missing from the by-size tree
      r = bt_delete(TREE_BNO, ls, 0);
      if (r != 0) return r;
      s = ls;
      l += ll;
    }
  }
  if (bt_errno != 0) return bt_errno;
  // right neighbour starting at start + len
  if (bt_seek(CUR, TREE_BNO, start, 0, true)) {
    if (!free_cur(TREE_BNO)) return bt_errno;
    const rs = cur_start;
    const rl = cur_len;
    if (rs < start + len) return -EUCLEAN;
    if (rs == start + len) {
      let r = bt_delete(TREE_CNT, rl, rs);
      if (r != 0) return r == -ENOENT ? -EUCLEAN : r; // missing from the by-size tree
      r = bt_delete(TREE_BNO, rs, 0);
      if (r != 0) return r;
      l += rl;
    }
  }
  if (bt_errno != 0) return bt_errno;
  store<u64>(VAL, l);
  let r = bt_insert(TREE_BNO, s, 0, VAL, 8);
  if (r != 0) return r;
  r = bt_insert(TREE_CNT, l, s, VAL, 0);
  if (r != 0) return r;
  set_free(free_blocks + len);
  astat_frees++;
  return alloc_errno;
}

/**
 * Applies the deferred frees to the free-space trees (called by commit before the journal
 * writes the transaction). Freeing may itself free tree nodes, which are deferred again and
 * applied in the same loop. Returns 0 or -errno (the journal must then abort).
 */
export function alloc_apply_deferred(): i32 {
  let rounds = 0;
  while (ndefer > 0) {
    if (rounds++ > 64) return -EUCLEAN;
    const n = ndefer;
    // take the list: frees below may append new entries
    const TMP = memory.data(DEFER_MAX * DEFER_ENTRY);
    memory.copy(TMP, DEFER, <usize>n * <usize>DEFER_ENTRY);
    ndefer = 0;
    defer_kept = 0;
    for (let i: u32 = 0; i < n; i++) {
      const e = TMP + <usize>i * <usize>DEFER_ENTRY;
      const start = load<u64>(e);
      const len = <u64>load<u32>(e, 8);
      const flags = load<u32>(e, 12);
      defer_blocks -= len;
      // a snapshot still uses blocks born at or before it: they go to the dead list
      let r = kill_hook(start, len, load<u64>(e, 16), flags);
      if (r == KILL_KEPT) continue;
      if (r != 0) return r;
      if (flags & DEFER_META) {
        for (let b = start; b < start + len; b++) {
          r = journal_revoke(b);
          if (r != 0) return r;
        }
      }
      r = agfl_refill();
      if (r != 0) return r;
      r = free_extent(start, len);
      if (r != 0) return r;
      if (alloc_discard_enabled) discard_note(start, len);
    }
  }
  alloc_meta_idle();
  return 0;
}

// ---- online discard --------------------------------------------------------------------------

/** Remembers a freed extent for alloc_discard_committed (adjacent ones merge). */
function discard_note(start: u64, len: u64): void {
  if (ndiscard > 0) {
    const last = DISCARDS + (<usize>(ndiscard - 1) << 4);
    if (load<u64>(last) + load<u64>(last, 8) == start) { store<u64>(last, load<u64>(last, 8) + len, 8); return; }
  }
  if (ndiscard >= DISCARD_MAX) return;
  const e = DISCARDS + (<usize>ndiscard << 4);
  store<u64>(e, start);
  store<u64>(e, len, 8);
  ndiscard++;
}

/** Blocks in one discard segment (its num_sectors is a u32 of 512-byte sectors). */
const DISCARD_SEG_BLOCKS: u64 = 1 << 28;

/**
 * Discards what the last commit freed (call only once that commit is durable, before any
 * allocation): each remembered extent intersected with the free-space tree, in DISCARD
 * requests of up to DISCARD_SEG_MAX segments. A failed request or a tree read error stops
 * discarding and is counted (astat_discard_errors); the filesystem is unaffected.
 */
export function alloc_discard_committed(): void {
  if (ndiscard == 0) return;
  const pfn = alloc_pages(0);
  if (pfn == NO_PFN) { ndiscard = 0; return; }
  const segs = pfn_to_addr(pfn);
  let nseg: u32 = 0, pending: u64 = 0;
  let ok = true;
  for (let i: u32 = 0; ok && i < ndiscard; i++) {
    const e = DISCARDS + (<usize>i << 4);
    const start = load<u64>(e), end = start + load<u64>(e, 8);
    // the free extents overlapping [start, end): the one at or before start, then onwards
    let found = bt_seek(CUR, TREE_BNO, start, 0, false) || bt_seek(CUR, TREE_BNO, start, 0, true);
    while (ok && found && cur_k1(CUR) < end) {
      // a free extent outside the data area must never become a DISCARD of the journal
      if (!free_cur(TREE_BNO)) break; // counted below (bt_errno)
      const free_end = cur_start + cur_len;
      let s = cur_start > start ? cur_start : start;
      const t = free_end < end ? free_end : end;
      while (ok && s < t) {
        const n = t - s < DISCARD_SEG_BLOCKS ? t - s : DISCARD_SEG_BLOCKS;
        blk_discard_seg(segs, nseg++, s, <u32>n);
        pending += n;
        s += n;
        if (nseg == DISCARD_SEG_MAX) { ok = discard_submit(segs, nseg, pending); nseg = 0; pending = 0; }
      }
      found = bt_next(CUR);
    }
    if (bt_errno != 0) { astat_discard_errors++; ok = false; }
  }
  if (ok && nseg > 0) discard_submit(segs, nseg, pending);
  free_pages(pfn, 0);
  ndiscard = 0;
}

/** Sends one DISCARD request of `nseg` segments covering `blocks`; false when it failed. */
function discard_submit(segs: usize, nseg: u32, blocks: u64): bool {
  if (blk_discard(segs, nseg) != 0) { astat_discard_errors++; return false; }
  astat_discarded_blocks += blocks;
  return true;
}

// ---- reservations for delayed allocation -----------------------------------------------------

/**
 * Reserves `n` blocks for dirty pages that have no disk block yet and `meta` blocks for the
 * metadata their writeback can need. Returns 0 or -ENOSPC (nothing reserved) when free space
 * minus every reservation would fall below META_RESERVE.
 */
export function alloc_reserve(n: u64, meta: u64 = 0): i32 {
  if (free_blocks < reserved_blocks + meta_reserved + n + meta + META_RESERVE) return -ENOSPC;
  reserved_blocks += n;
  meta_reserved += meta;
  return 0;
}

/** Returns `n` reserved blocks (page written back or dropped). */
export function alloc_unreserve(n: u64): void {
  assert(reserved_blocks >= n);
  reserved_blocks -= n;
  alloc_meta_idle();
}

/**
 * Drops the metadata reservation once no reserved page and no deferred free is left: every
 * extent record, free-space record and tree split it stood for has then been made (the
 * allocations consumed free space themselves).
 */
function alloc_meta_idle(): void {
  if (reserved_blocks == 0 && ndefer == 0) meta_reserved = 0;
}

/** Blocks a user may still fill (statfs f_bavail). */
export function alloc_available(): u64 {
  const held = reserved_blocks + meta_reserved + META_RESERVE;
  return free_blocks > held ? free_blocks - held : 0;
}

/** True when at least `n` blocks are available to metadata-growing operations. */
export function alloc_can_grow(n: u64): bool {
  return free_blocks >= reserved_blocks + meta_reserved + n + META_RESERVE / 2;
}

// ---- worst-case metadata of a write (docs/decisions.md, "Space reservation at write()") ------
//
// B+ tree shapes (btree.ts): a node has NODE_CAPACITY bytes for items; a leaf item is 20 bytes
// plus its value (at most VALUE_MAX), an internal item 24. A split shares bytes evenly, so a
// node made by a split holds at least FILL_MIN bytes less one largest item; a leaf split by an
// append keeps the old leaf full and starts the new one.

const NODE_CAPACITY: u64 = <u64>BLOCK_SIZE - 64;
const LEAF_ITEM_BYTES: u64 = 20;
const NODE_ITEM_BYTES: u64 = 32;
/** Bytes of new items each node a run of adjacent inserts creates holds at least. */
const LEAF_FILL_MIN: u64 = NODE_CAPACITY / 2 - (LEAF_ITEM_BYTES + <u64>VALUE_MAX);
const NODE_FILL_MIN: u64 = NODE_CAPACITY / 2 - NODE_ITEM_BYTES;
/**
 * Extent-tree bytes one written page can add: its share of a record (20-byte item, 16-byte
 * value head) and its 4-byte checksum, and as much again for the tail record a remap may cut
 * off an old extent (extent_punch), rounded up.
 */
const EXT_BYTES_PER_PAGE: u64 = 80;
/**
 * Free-space-tree inserts a run's writeback makes besides one per old extent it frees: the
 * last carve of its data allocation can leave a head and a tail (2); a carve that takes a
 * whole free extent leaves none, so a fragmented allocation adds nothing more.
 */
const FREE_INSERTS_PER_RUN: u64 = 2;

/**
 * New nodes a tree of height `h` can need for `bytes` of items inserted at adjacent keys:
 * per level, one node split where the run lands plus one per FILL_MIN bytes; each new node
 * adds one separator to the level above, up to a new root.
 */
function adjacent_insert_nodes(bytes: u64, h: u32): u64 {
  let total: u64 = 0;
  let b = bytes;
  for (let l: u32 = 0; l <= h; l++) {
    const fill = l == 0 ? LEAF_FILL_MIN : NODE_FILL_MIN;
    const nodes = (b + fill - 1) / fill + 1;
    total += nodes;
    b = nodes * NODE_ITEM_BYTES;
  }
  return total;
}

/**
 * Worst-case metadata blocks (units: 4 KiB blocks) that writing back one run of `pages`
 * adjacent file pages can consume, when their old blocks form `oldRuns` disk extents that
 * the commit frees (copy-on-write): the extent records at adjacent keys (one per page at
 * worst, adjacent_insert_nodes), and for each free-space tree (XFS bnobt and cntbt) a full
 * split path (height + 1 nodes) for every insert at an unrelated key: the run's carves, one
 * per extent-tree node allocated, one per old extent freed.
 */
export function alloc_write_meta(pages: u64, oldRuns: u64): u64 {
  if (pages == 0) return 0;
  // under a snapshot the first change of a shared path copies it (btree.ts shadowing): the
  // extent tree's path to the run and the inode tree's path to the inode record
  const shadow = bt_cow_floor() != 0 ? <u64>bt_height(TREE_EXTENT) + <u64>bt_height(TREE_INODE) : 0;
  const ext = adjacent_insert_nodes(pages * EXT_BYTES_PER_PAGE, bt_height(TREE_EXTENT)) + shadow;
  const inserts = FREE_INSERTS_PER_RUN + ext + oldRuns;
  const path = <u64>bt_height(TREE_BNO) + 1 + <u64>bt_height(TREE_CNT) + 1;
  return ext + inserts * path;
}
