// fs/inspect.ts -- read-only statistics for `helix inspect` and `helix stat`.
//
// Layer: beside the fs; reads counters of every layer and walks trees. Changes nothing.
// Interface: inspect_info (kernel_info layout in docs/abi.md), inspect_tree,
// inspect_free_histogram; the browser demo's views: tree_levels, tree_node, extent_map,
// free_map (each one bounded pass, written to a caller buffer; -errno on bad arguments).

import { dcache_hits, dcache_misses } from "./dcache";
import { icache_hits } from "./inode";
import { PAGE_SIZE } from "../params";
import { nr_free_pages, nr_total_pages, alloc_pages, free_pages } from "../mm/buddy";
import { NO_PFN, pfn_to_addr } from "../mm/page";
import {
  MAGIC_SUPER, MAGIC_BTREE, SB_TOTAL_BLOCKS, SB_INODE_COUNT, SB_NEXT_INO, SB_JOURNAL_START,
  SB_JOURNAL_BLOCKS, SB_MOUNT_COUNT, SB_STATE, SB_LABEL, TREE_COUNT, TREE_BNO, TREE_EXTENT, TREE_SNAP, TREE_DEAD,
  SB_DEAD_BLOCKS, SB_LAST_SNAPSHOT,
  EXT_DISK, EXT_LEN, EXT_FLAGS, extent_verify, EV_OK,
} from "./format";
import { inode_get, inode_errno, I_SIZE, I_FLAGS, INODE_INLINE, inode_count } from "./inode";
import {
  bt_root, bt_height, bt_seek, bt_next, cur_val, nitems, nlevel, ichild, CURSOR_SIZE, N_VUSED,
  N_TREE, N_ITEMS, ik1, ik2, ivlen, cur_k1, cur_k2, cur_vlen, bt_errno,
  bt_stat_lookups, bt_stat_splits, bt_stat_merges, HEIGHT_MAX, bt_stat_shadows, bt_stat_transid_errors, bt_cow_floor,
} from "./btree";
import { mapping_find, AS_NDIRTY } from "./pagecache";
import { bread, buf_errno, nr_cached, nr_dirty, nr_pinned_meta, stat_hits, stat_misses, stat_evictions, stat_freebehind } from "./pagecache";
import {
  j_tid, journal_head, jstat_commits, jstat_checkpoints, jstat_logged_blocks, jstat_absorbed,
  jstat_revokes, jstat_replayed_blocks, jstat_replayed_tx,
} from "./journal";
import {
  free_blocks, alloc_available, reserved_blocks, astat_allocs, astat_frees, astat_goal_hits, astat_discarded_blocks,
  astat_discard_errors,
} from "./alloc";
import {
  blk_stat_requests, blk_stat_notifies, blk_stat_read_blocks, blk_stat_write_blocks,
  blk_stat_flushes, blk_stat_errors,
} from "../dev/virtio_blk";
import { fs_readonly, fs_errored, mount_reason, mount_used_backup, mount_replayed, mount_orphans, error_state_mount, mount_prev_state } from "./super";
import { snap_count, snap_pending, snap_mounted_id } from "./snapshot";
import { fstat_read_pages, fstat_written_pages, fstat_extents_allocated, fstat_csum_errors, fstat_read_through, fstat_write_through } from "./file";

export const INFO_COUNT: i32 = 82;
let info_out: usize = 0;
@inline function w(idx: i32, v: u64): void { store<u64>(info_out + (<usize>idx << 3), v); }

/** Writes the kernel_info counters (u64 each, order in docs/abi.md). Returns their count. */
export function inspect_info(out: usize): i32 {
  memory.fill(out, 0, <usize>INFO_COUNT * 8);
  info_out = out;
  const sb = bread(0, MAGIC_SUPER);
  if (sb != 0) {
    w(0, load<u64>(sb, SB_TOTAL_BLOCKS));
    w(3, inode_count());
    w(4, load<u64>(sb, SB_NEXT_INO));
    w(5, load<u64>(sb, SB_JOURNAL_START));
    w(6, <u64>load<u32>(sb, SB_JOURNAL_BLOCKS));
    w(9, <u64>load<u32>(sb, SB_MOUNT_COUNT));
    w(10, <u64>load<u32>(sb, SB_STATE));
  }
  w(1, free_blocks);
  w(2, alloc_available());
  w(7, <u64>journal_head());
  w(8, j_tid);
  w(11, <u64>mount_replayed);
  w(12, <u64>mount_orphans);
  w(13, mount_used_backup ? 1 : 0);
  w(14, fs_readonly ? 1 : 0);
  w(15, fs_errored ? 1 : 0);
  for (let t: u32 = 0; t < 5; t++) { // the five trees before snapshots (fields 16..25)
    w(16 + <i32>t, <u64>bt_height(t));
    w(21 + <i32>t, bt_root(t));
  }
  w(26, <u64>nr_total_pages());
  w(27, <u64>nr_free_pages());
  w(28, <u64>nr_cached);
  w(29, <u64>nr_dirty);
  w(30, <u64>nr_pinned_meta);
  w(31, stat_hits);
  w(32, stat_misses);
  w(33, stat_evictions);
  w(34, jstat_commits);
  w(35, jstat_checkpoints);
  w(36, jstat_logged_blocks);
  w(37, jstat_absorbed);
  w(38, jstat_revokes);
  w(39, jstat_replayed_blocks);
  w(40, blk_stat_requests);
  w(41, blk_stat_notifies);
  w(42, blk_stat_read_blocks);
  w(43, blk_stat_write_blocks);
  w(44, blk_stat_flushes);
  w(45, blk_stat_errors);
  w(46, bt_stat_lookups);
  w(47, bt_stat_splits);
  w(48, bt_stat_merges);
  w(49, astat_allocs);
  w(50, astat_frees);
  w(51, astat_goal_hits);
  w(52, fstat_read_pages);
  w(53, fstat_written_pages);
  w(54, fstat_extents_allocated);
  w(55, <u64>memory.size() << 16);
  w(56, reserved_blocks);
  w(57, <u64>mount_reason);
  w(58, jstat_replayed_tx);
  w(59, error_state_mount ? 1 : 0);
  w(60, fstat_csum_errors);
  w(61, dcache_hits);
  w(62, dcache_misses);
  w(63, icache_hits);
  w(64, stat_freebehind);
  w(65, fstat_read_through);
  w(66, fstat_write_through);
  w(67, astat_discarded_blocks);
  w(68, astat_discard_errors);
  w(69, <u64>mount_prev_state);
  // snapshots (fs/snapshot.ts)
  w(70, <u64>snap_count());
  w(71, sb != 0 ? load<u64>(sb, SB_DEAD_BLOCKS) : 0);
  w(72, snap_pending() ? 1 : 0);
  w(73, sb != 0 ? load<u64>(sb, SB_LAST_SNAPSHOT) : 0);
  w(74, snap_mounted_id());
  w(75, <u64>bt_height(TREE_SNAP));
  w(76, <u64>bt_height(TREE_DEAD));
  w(77, bt_stat_shadows);
  w(78, bt_stat_transid_errors);
  w(79, bt_cow_floor());
  w(80, bt_root(TREE_SNAP));
  w(81, bt_root(TREE_DEAD));
  return INFO_COUNT;
}

/** Longest label (bytes; the superblock's label[64] ends in a NUL). */
const LABEL_MAX: u32 = 63;

/**
 * Copies the volume label of the mounted filesystem (superblock label[64], NUL-terminated)
 * to `out` (at least LABEL_MAX bytes). Returns its length in bytes or -errno (-EIO, -EUCLEAN
 * when the superblock cannot be read).
 */
export function inspect_label(out: usize): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  let n: u32 = 0;
  while (n < LABEL_MAX && load<u8>(sb + SB_LABEL + n) != 0) n++;
  memory.copy(out, sb + SB_LABEL, n);
  return <i32>n;
}

let t_nodes: u64 = 0, t_leaves: u64 = 0, t_items: u64 = 0, t_bytes: u64 = 0;
/** Blocks the walk has visited (one bit each): a node reached twice is damage, not more work. */
let t_seen: usize = 0;
let t_total: u64 = 0;

function tree_walk(blk: u64, depth: u32): i32 {
  if (depth > HEIGHT_MAX || blk >= t_total) return -117;
  const bit = <u8>(1 << <u8>(blk & 7));
  const p = t_seen + <usize>(blk >> 3);
  if (load<u8>(p) & bit) return -117; // a shared child or a cycle (fsck names it)
  store<u8>(p, load<u8>(p) | bit);
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) return buf_errno;
  t_nodes++;
  const k = nitems(n);
  if (nlevel(n) == 0) {
    t_leaves++;
    t_items += k;
    t_bytes += <u64>k * 20 + <u64>load<u16>(n, N_VUSED);
    return 0;
  }
  t_bytes += <u64>k * 32;
  for (let i: u32 = 0; i < k; i++) {
    const c = bread(blk, MAGIC_BTREE); // the children's reads may have evicted it
    if (c == 0) return buf_errno;
    const r = tree_walk(ichild(c, i), depth + 1);
    if (r != 0) return r;
  }
  return 0;
}

/**
 * Walks tree `tree` and writes 6 u64 at `out`: nodes, leaves, items, used bytes, height,
 * fill (per mille of node capacity). Returns 0 or -errno (-EUCLEAN for a node reached
 * twice: each node is visited once, so a crafted DAG costs no more than its blocks).
 */
export function inspect_tree(tree: u32, out: usize): i32 {
  if (tree >= TREE_COUNT) return -22;
  t_nodes = 0; t_leaves = 0; t_items = 0; t_bytes = 0;
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  t_total = load<u64>(sb, SB_TOTAL_BLOCKS);
  let order: u32 = 0;
  while ((<u64>PAGE_SIZE << order) < (t_total + 7) / 8) order++;
  const pfn = alloc_pages(order);
  if (pfn == NO_PFN) return -12;
  t_seen = pfn_to_addr(pfn);
  memory.fill(t_seen, 0, <usize>PAGE_SIZE << order);
  const r = tree_walk(bt_root(tree), 0);
  free_pages(pfn, order);
  store<u64>(out, t_nodes);
  store<u64>(out + 8, t_leaves);
  store<u64>(out + 16, t_items);
  store<u64>(out + 24, t_bytes);
  store<u64>(out + 32, <u64>bt_height(tree));
  store<u64>(out + 40, t_nodes == 0 ? 0 : t_bytes * 1000 / (t_nodes * (<u64>PAGE_SIZE - 64)));
  return r;
}

const CUR: usize = memory.data(CURSOR_SIZE);

/** Counts free extents by floor(log2(length)) into 32 u64 buckets at `out`. 0 or -errno. */
export function inspect_free_histogram(out: usize): i32 {
  memory.fill(out, 0, 32 * 8);
  if (!bt_seek(CUR, TREE_BNO, 0, 0, true)) return 0;
  do {
    const len = load<u64>(cur_val(CUR));
    const b = <usize>min<u64>(63 - clz<u64>(len | 1), 31);
    store<u64>(out + (b << 3), load<u64>(out + (b << 3)) + 1);
  } while (bt_next(CUR));
  return 0;
}

// ---- views for the browser demo (one call per view per sample; docs/abi.md) ------------------

/** Levels tree_levels reports (a tree is at most HEIGHT_MAX tall). */
export const LEVELS_MAX: u32 = HEIGHT_MAX;
/** u64 per level tree_levels writes: nodes, items, used bytes. */
const LEVEL_WORDS: u32 = 3;
let lv_out: usize = 0;
let lv_visits: u64 = 0;
let lv_height: u32 = 0;

function level_walk(blk: u64, depth: u32): i32 {
  // levels strictly decrease downwards, so the walk cannot cycle; the visit bound stops a
  // crafted DAG (a child shared by many parents) from costing more than the disk's blocks
  if (++lv_visits > t_total) return -117;
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) return buf_errno;
  if (nlevel(n) != lv_height - 1 - depth) return -117;
  const k = nitems(n);
  const o = lv_out + (<usize>(depth * LEVEL_WORDS) << 3);
  store<u64>(o, load<u64>(o) + 1);
  store<u64>(o, load<u64>(o, 8) + k, 8);
  const leaf = nlevel(n) == 0;
  store<u64>(o, load<u64>(o, 16) + (leaf ? <u64>k * 20 + <u64>load<u16>(n, N_VUSED) : <u64>k * 32), 16);
  if (leaf) return 0;
  for (let i: u32 = 0; i < k; i++) {
    const c = bread(blk, MAGIC_BTREE); // the children's reads may have evicted it
    if (c == 0) return buf_errno;
    const r = level_walk(ichild(c, i), depth + 1);
    if (r != 0) return r;
  }
  return 0;
}

/**
 * Per-level statistics of tree `tree`, root level first: for each of its height levels,
 * 3 u64 at `out` + 24 * depth: nodes, items, used bytes (fill = bytes / (nodes *
 * NODE_CAPACITY)). Visits every node once (no allocation). Returns the height, or -EINVAL
 * (no such tree), -EUCLEAN (a node at the wrong level, or more visits than blocks), -EIO.
 */
export function tree_levels(tree: u32, out: usize): i32 {
  if (tree >= TREE_COUNT) return -22;
  const h = bt_height(tree);
  if (h == 0) return 0;
  if (h > LEVELS_MAX) return -117;
  memory.fill(out, 0, <usize>(LEVELS_MAX * LEVEL_WORDS) << 3);
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  t_total = load<u64>(sb, SB_TOTAL_BLOCKS);
  lv_out = out; lv_visits = 0; lv_height = h;
  const r = level_walk(bt_root(tree), 0);
  return r != 0 ? r : <i32>h;
}

/** Bytes of a node available for items and values (the fill factor's denominator). */
export const NODE_CAPACITY: u32 = PAGE_SIZE - <u32>N_ITEMS;
/** Most items tree_node copies out of one node (a leaf of empty values holds 201). */
export const NODE_KEYS_MAX: u32 = 256;
/** Bytes of tree_node's header and of each item record. */
const TN_HEADER: usize = 40;
const TN_ITEM: usize = 24;

/**
 * The node of tree `tree` reached from the root by `depth` child indices (u16 each at
 * `path`: the page walks top-down, one index per level, from what the last call showed).
 * Writes at `out` a header then min(nitems, max, NODE_KEYS_MAX) items:
 *
 *   0        8        12       16       24       32        36       40
 *   +--------+--------+--------+--------+--------+---------+--------+
 *   | blk    | level  | nitems | next   | prev   | used B  | listed |      header
 *   +--------+--------+--------+--------+--------+---------+--------+
 *   item i at 40 + 24 i:  | k1 u64 | k2 u64 | child u64 (internal) / value length (leaf) |
 *
 * Only blocks the tree points to are read. Returns the items listed, or -EINVAL (no such
 * tree, depth >= height, an index beyond its node's items), -EUCLEAN (a node of another
 * tree or level), -EIO.
 */
export function tree_node(tree: u32, path: usize, depth: u32, out: usize, max: u32): i32 {
  if (tree >= TREE_COUNT) return -22;
  const h = bt_height(tree);
  if (depth >= h) return -22;
  let blk = bt_root(tree);
  for (let d: u32 = 0; d < depth; d++) {
    const n = bread(blk, MAGIC_BTREE);
    if (n == 0) return buf_errno;
    if (nlevel(n) != h - 1 - d || <u32>load<u8>(n, N_TREE) != tree) return -117;
    const idx = <u32>load<u16>(path + (<usize>d << 1));
    if (idx >= nitems(n)) return -22;
    blk = ichild(n, idx);
  }
  return node_out(tree, blk, h - 1 - depth, out, max);
}

/** Writes node `blk` of `tree`, expected at `level`, as tree_node describes. */
function node_out(tree: u32, blk: u64, level: u32, out: usize, max: u32): i32 {
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) return buf_errno;
  if (nlevel(n) != level || <u32>load<u8>(n, N_TREE) != tree) return -117;
  const k = nitems(n);
  const leaf = nlevel(n) == 0;
  const listed = min(k, min(max, NODE_KEYS_MAX));
  store<u64>(out, blk);
  store<u32>(out, nlevel(n), 8);
  store<u32>(out, k, 12);
  store<u64>(out, 0, 16); // sibling links: none since INCOMPAT_SNAPSHOT (fields kept for the ABI)
  store<u64>(out, 0, 24);
  store<u32>(out, leaf ? k * 20 + <u32>load<u16>(n, N_VUSED) : k * 32, 32);
  store<u32>(out, listed, 36);
  for (let i: u32 = 0; i < listed; i++) {
    const q = out + TN_HEADER + <usize>i * TN_ITEM;
    store<u64>(q, ik1(n, i));
    store<u64>(q, ik2(n, i), 8);
    store<u64>(q, leaf ? <u64>ivlen(n, i) : ichild(n, i), 16);
  }
  return <i32>listed;
}

let at_left: u32 = 0;
let at_found: u64 = 0;
let at_visits: u64 = 0;

/** Finds child number at_left (counting from the left) of the nodes at depth `want` - 1
 *  below `blk` (at `depth`); 1 when found (at_found), 0 when not yet, -errno. */
function node_at_walk(blk: u64, depth: u32, want: u32, h: u32, tree: u32): i32 {
  if (++at_visits > t_total) return -117;
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) return buf_errno;
  if (nlevel(n) != h - 1 - depth || <u32>load<u8>(n, N_TREE) != tree || nlevel(n) == 0) return -117;
  const k = nitems(n);
  if (depth + 1 == want) {
    if (at_left < k) { at_found = ichild(n, at_left); return 1; }
    at_left -= k;
    return 0;
  }
  for (let i: u32 = 0; i < k; i++) {
    const c = bread(blk, MAGIC_BTREE); // the children's reads may have evicted it
    if (c == 0) return buf_errno;
    const r = node_at_walk(ichild(c, i), depth + 1, want, h, tree);
    if (r != 0) return r;
  }
  return 0;
}

/**
 * Node number `index` (0 = leftmost) at `depth` (0 = the root) of tree `tree`, written as
 * tree_node does. Walks only the levels above `depth` (internal nodes: few). Returns the
 * items listed, or -EINVAL (no such tree, depth >= height, index >= the level's nodes),
 * -EUCLEAN, -EIO.
 */
export function tree_node_at(tree: u32, depth: u32, index: u32, out: usize, max: u32): i32 {
  if (tree >= TREE_COUNT) return -22;
  const h = bt_height(tree);
  if (depth >= h) return -22;
  let blk = bt_root(tree);
  if (depth == 0) {
    if (index != 0) return -22;
  } else {
    const sb = bread(0, MAGIC_SUPER);
    if (sb == 0) return buf_errno;
    t_total = load<u64>(sb, SB_TOTAL_BLOCKS);
    at_left = index; at_found = 0; at_visits = 0;
    const r = node_at_walk(blk, 0, depth, h, tree);
    if (r < 0) return r;
    if (r == 0) return -22; // the level has fewer nodes
    blk = at_found;
  }
  return node_out(tree, blk, h - 1 - depth, out, max);
}

/** Most extents extent_map lists per call (the host pages on with `from`). */
export const EXTMAP_MAX: u32 = 256;
const EM_HEADER: usize = 24;
const EM_ITEM: usize = 24;

/**
 * The extent map of inode `ino` from file block `from` on: writes at `out`
 *
 *   0          8        12        16         20        24
 *   +----------+--------+---------+----------+---------+
 *   | i_size   | iflags | listed  | dirty pg | more    |   header (iflags: 1 = inline data,
 *   +----------+--------+---------+----------+---------+   no extents; dirty pg: cached
 *   extent i at 24 + 24 i:                                  pages not yet written back,
 *   | file block u64 | disk block u64 | length u32 | flags u32 |   so not in any extent)
 *
 * listing at most min(max, EXTMAP_MAX) extents in file order, starting with the one that
 * holds `from` (or the first after it); `more` = 1 when extents follow the last listed.
 * Returns the extents listed, or -ENOENT (no such inode), -EUCLEAN (a corrupt record), -EIO.
 */
export function extent_map(ino: u64, from: u64, out: usize, max: u32): i32 {
  // no inode 0: and the inode cache's empty slots carry ino 0, so inode_get(0) must not run
  if (ino == 0) return -2;
  const rec = inode_get(ino);
  if (rec == 0) return inode_errno;
  const limit = min(max, EXTMAP_MAX);
  store<u64>(out, load<u64>(rec, I_SIZE));
  store<u32>(out, load<u32>(rec, I_FLAGS) & INODE_INLINE, 8);
  const as = mapping_find(<u32>ino);
  store<u32>(out, as != 0 ? load<u32>(as, AS_NDIRTY) : 0, 16);
  let n: u32 = 0;
  let more: u32 = 0;
  // the extent holding `from` starts at or before it; otherwise the first one after it
  let ok = bt_seek(CUR, TREE_EXTENT, ino, from, false) && cur_k1(CUR) == ino &&
    cur_k2(CUR) + <u64>load<u32>(cur_val(CUR), EXT_LEN) > from;
  if (!ok) ok = bt_seek(CUR, TREE_EXTENT, ino, from, true) && cur_k1(CUR) == ino;
  while (ok) {
    if (extent_verify(cur_val(CUR), cur_vlen(CUR), cur_k2(CUR)) != EV_OK) return -117;
    if (n == limit) { more = 1; break; }
    const v = cur_val(CUR);
    const q = out + EM_HEADER + <usize>n * EM_ITEM;
    store<u64>(q, cur_k2(CUR));
    store<u64>(q, load<u64>(v, EXT_DISK), 8);
    store<u32>(q, load<u32>(v, EXT_LEN), 16);
    store<u32>(q, load<u32>(v, EXT_FLAGS), 20);
    n++;
    ok = bt_next(CUR) && cur_k1(CUR) == ino;
  }
  if (bt_errno != 0) return bt_errno;
  store<u32>(out, n, 12);
  store<u32>(out, more, 20);
  return <i32>n;
}

/** Most buckets free_map draws the disk in. */
export const FREEMAP_BUCKETS_MAX: u32 = 4096;
const FM_HEADER: usize = 32;

/**
 * The disk as one strip of at most `buckets` (1 .. FREEMAP_BUCKETS_MAX) equal runs of
 * blocks, with the free blocks of each from the free-space tree (TREE_BNO): writes at `out`
 *
 *   0             8                  16         24            32
 *   +-------------+------------------+----------+-------------+
 *   | total blocks| blocks per bucket| buckets  | free blocks |   then buckets x u32 free
 *   +-------------+------------------+----------+-------------+   blocks (the last bucket
 *                                                                 may be shorter)
 * Blocks per bucket = ceil(total / buckets). O(free extents + buckets). Returns the buckets
 * written, or -EINVAL (buckets out of range), -EUCLEAN, -EIO.
 */
export function free_map(out: usize, buckets: u32): i32 {
  if (buckets == 0 || buckets > FREEMAP_BUCKETS_MAX) return -22;
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  const total = load<u64>(sb, SB_TOTAL_BLOCKS);
  const per = max<u64>(1, (total + buckets - 1) / buckets);
  const nb = <u32>((total + per - 1) / per);
  const cnt = out + FM_HEADER;
  memory.fill(cnt, 0, <usize>nb << 2);
  let free: u64 = 0;
  let ok = bt_seek(CUR, TREE_BNO, 0, 0, true);
  while (ok) {
    const s = cur_k1(CUR);
    const len = load<u64>(cur_val(CUR));
    if (len == 0 || s >= total || len > total - s) return -117;
    free += len;
    let b = s / per;
    let at = s;
    const end = s + len;
    while (at < end) { // one step per bucket the extent touches
      const stop = min(end, (b + 1) * per);
      const p = cnt + (<usize>b << 2);
      store<u32>(p, load<u32>(p) + <u32>(stop - at));
      at = stop;
      b++;
    }
    ok = bt_next(CUR);
  }
  if (bt_errno != 0) return bt_errno;
  store<u64>(out, total);
  store<u64>(out, per, 8);
  store<u64>(out, <u64>nb, 16);
  store<u64>(out, free, 24);
  return <i32>nb;
}
