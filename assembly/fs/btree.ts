// fs/btree.ts -- one generic B+ tree over 4 KiB nodes; every fs index is an instance of it.
//
// Layer: above the buffer cache and the journal; the inode, directory, extent and
// free-space layers store their records in it (like XFS's generic libxfs btree).
// Interface: bt_lookup, bt_insert, bt_delete, bt_update, bt_seek/bt_next/bt_prev (cursors).
// Keys are (k1 u64, k2 u64) compared unsigned, k1 first. Values are byte strings of at most
// VALUE_MAX bytes, kept only in leaves; leaves are linked both ways for range scans.
//
// Rules:
//  - all leaves are at level 0 and the root at level height-1 (balanced);
//  - keys strictly increase within a node and across the leaf chain;
//  - internal key[i], i >= 1, is a lower bound of child i's keys and greater than every key
//    of child i-1; key[0] is not a bound and is never compared (child 0 takes everything
//    below key[1]);
//  - a non-root node left under MIN_FILL bytes by a delete or a shrinking update is merged
//    with a sibling under the same parent when both fit in one node, else the two share
//    their items evenly by bytes (with values up to VALUE_MAX an even share can still leave
//    one side under MIN_FILL; the as-pect trace measures how often);
//  - every changed node is passed to journal_dirty before the operation returns.
//
// Node layout (4 KiB):
//
//   0                32     33      34       36     38      40         48         56    64
//   +----------------+------+-------+--------+------+-------+----------+----------+-----+
//   | block header   | tree | level | nitems | vend | vused | next u64 | prev u64 | rsv |
//   +----------------+------+-------+--------+------+-------+----------+----------+-----+
//   leaf:     items[nitems] at 64, 20 B each: | k1 u64 | k2 u64 | voff u16 | vlen u16 |
//             values packed downward from 4096; [vend, 4096) holds them (with holes
//             after deletes, vused counts live value bytes; compaction repacks)
//   internal: items[nitems] at 64, 24 B each: | k1 u64 | k2 u64 | child u64 |

import { BLOCK_SIZE } from "../params";
import { EEXIST, ENOENT, ENOMEM, EUCLEAN, EIO, ENOSPC } from "../lib/errno";
import { MAGIC_BTREE, MAGIC_SUPER, block_hdr_init, SB_TREES, SB_TREE_ENTRY, TREE_COUNT, in_data_area } from "./format";
import { bread, bget, buf_errno, buffer_seq_bump, pagecache_set_node_verify } from "./pagecache";
import { kputs, kputu, knl, kfs } from "../lib/printk";
import { journal_dirty, j_tid } from "./journal";
import { metadata_error } from "./errors";

export const N_TREE: usize = 32;
export const N_LEVEL: usize = 33;
export const N_NITEMS: usize = 34;
export const N_VEND: usize = 36;
export const N_VUSED: usize = 38;
export const N_NEXT: usize = 40;
export const N_PREV: usize = 48;
export const N_ITEMS: usize = 64;
const LEAF_ITEM: usize = 20;
const NODE_ITEM: usize = 24;
/** Bytes available for items (and values) in a node. */
const CAPACITY: u32 = BLOCK_SIZE - <u32>N_ITEMS;
/** Largest value; three maximal items always split into two nodes. */
export const VALUE_MAX: u32 = 1300;
/** A non-root node with fewer used bytes is merged or rebalanced. */
const MIN_FILL: u32 = CAPACITY / 4;
/** Tallest tree: 168-way internal nodes make 8 levels far more than 2^32 blocks can hold. */
export const HEIGHT_MAX: u32 = 8;

/** Error of the last failed operation (lookup returning 0, seek returning false). */
export let bt_errno: i32 = 0;
/**
 * Reports a structurally damaged tree: bt_errno = -EUCLEAN for the caller, and the metadata
 * error handler (read-only, flagged). Layers above call it for damage they find in a tree's
 * records (dir_next).
 */
export function bt_corrupt(): void {
  bt_errno = -EUCLEAN;
  metadata_error(-EUCLEAN);
}
/** Length of the value found by the last bt_lookup. */
export let bt_vlen: u32 = 0;

// In-core copies of the roots kept in the superblock.
const ROOTS: usize = memory.data(TREE_COUNT * 8);
const HEIGHTS: usize = memory.data(TREE_COUNT * 4);

export let bt_stat_splits: u64 = 0;
export let bt_stat_merges: u64 = 0;
export let bt_stat_lookups: u64 = 0;

// Node allocation is provided by the allocator layer (set at mount), so the free-space
// trees can draw their nodes from the AGFL while other trees use the extent allocator.
let node_alloc: (tree: u32) => u64 = (tree: u32): u64 => 0;
let node_free: (tree: u32, blk: u64) => i32 = (tree: u32, blk: u64): i32 => 0;
/** Why the node allocator returned 0 (set by it; 0 means plain ENOSPC). */
let node_alloc_errno: i32 = 0;
export function bt_node_alloc_failed(err: i32): void { node_alloc_errno = err; }
export function bt_set_allocator(a: (tree: u32) => u64, f: (tree: u32, blk: u64) => i32): void {
  node_alloc = a;
  node_free = f;
}

export function bt_root(tree: u32): u64 { return load<u64>(ROOTS + (<usize>tree << 3)); }
export function bt_height(tree: u32): u32 { return load<u32>(HEIGHTS + (<usize>tree << 2)); }

/**
 * Loads the roots from the superblock buffer at `sb` (mount), and installs bt_node_verify as
 * the buffer cache's check of every node read from disk from now on.
 */
export function bt_load_roots(sb: usize): void {
  pagecache_set_node_verify(bt_node_verify);
  for (let t: u32 = 0; t < TREE_COUNT; t++) {
    store<u64>(ROOTS + (<usize>t << 3), load<u64>(sb + SB_TREES + <usize>t * SB_TREE_ENTRY));
    store<u32>(HEIGHTS + (<usize>t << 2), load<u32>(sb + SB_TREES + <usize>t * SB_TREE_ENTRY + 8));
  }
}

/** Sets a tree's root in core and in the superblock (journaled). 0 or -errno. */
function set_root(tree: u32, root: u64, height: u32): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  store<u64>(ROOTS + (<usize>tree << 3), root);
  store<u32>(HEIGHTS + (<usize>tree << 2), height);
  store<u64>(sb + SB_TREES + <usize>tree * SB_TREE_ENTRY, root);
  store<u32>(sb + SB_TREES + <usize>tree * SB_TREE_ENTRY + 8, height);
  journal_dirty(0);
  return 0;
}

/** Sets a root without the journal (mkfs builds the first superblock by hand). */
export function bt_init_root(sb: usize, tree: u32, root: u64): void {
  store<u64>(ROOTS + (<usize>tree << 3), root);
  store<u32>(HEIGHTS + (<usize>tree << 2), 1);
  store<u64>(sb + SB_TREES + <usize>tree * SB_TREE_ENTRY, root);
  store<u32>(sb + SB_TREES + <usize>tree * SB_TREE_ENTRY + 8, 1);
}

/**
 * Records that values in node `n` moved or are gone. A value keeps its address from its
 * insert until it is removed, or until compaction, redistribution, reformatting or freeing
 * of its node, and those call this (the inode cache keeps addresses of inode records).
 */
@inline function node_moved(n: usize): void { buffer_seq_bump(n); }

/** Formats the buffer at `node` as an empty node of `tree` at `level`. */
export function node_init(node: usize, blk: u64, tree: u32, level: u32): void {
  node_moved(node);
  memory.fill(node, 0, BLOCK_SIZE);
  block_hdr_init(node, MAGIC_BTREE, blk, j_tid);
  store<u8>(node, <u8>tree, N_TREE);
  store<u8>(node, <u8>level, N_LEVEL);
  store<u16>(node, <u16>BLOCK_SIZE, N_VEND);
}

// ---- node verification -----------------------------------------------------------------------
//
// A node's checksum proves only that the node is the one that was written, not that a
// writer made it sound: a crafted image can carry a node that passes its crc with nitems
// 65535 or a value offset past the block, and the code below indexes memory with those
// fields (a trap, or kernel memory handed to a reader). So every field that sizes or
// places something is checked once, when the node is read into the buffer cache (bread
// calls bt_node_verify after the magic/crc/blocknr check, as XFS's verifiers run at
// buffer read), and nodes in the cache are trusted after that: the kernel keeps them sound.
//
//   tree    < TREE_COUNT                 level  < HEIGHT_MAX
//   leaf:   N_ITEMS + nitems*20 <= vend <= 4096
//           every item: vlen <= VALUE_MAX, voff + vlen <= 4096, vend <= voff (vlen > 0)
//           vused = sum of vlen;  keys strictly increasing;  next/prev 0 or in the data area
//   internal: 1 <= nitems <= NODE_ITEMS_MAX;  keys[1..] strictly increasing;
//           every child in the data area and not the node itself
// Records inside the values (inodes, dirents, extents) are checked where they are used
// (inode_verify, dirent_verify, extent_verify, free_extent_verify).

/** Results of bt_node_verify (0 = sound). */
export const NV_OK: i32 = 0;
export const NV_TREE: i32 = 1;
export const NV_LEVEL: i32 = 2;
export const NV_NITEMS: i32 = 3;
export const NV_VEND: i32 = 4;
export const NV_VALUE: i32 = 5;
export const NV_VUSED: i32 = 6;
export const NV_KEYS: i32 = 7;
export const NV_CHILD: i32 = 8;
export const NV_LINK: i32 = 9;
/** Most items an internal node holds. */
const NODE_ITEMS_MAX: u32 = CAPACITY / <u32>NODE_ITEM;

/** What a bt_node_verify result means, for log lines and fsck. */
export function bt_node_why(r: i32): string {
  switch (r) {
    case NV_TREE: return "node tree id unknown";
    case NV_LEVEL: return "node level too high";
    case NV_NITEMS: return "node item count exceeds the block";
    case NV_VEND: return "node value area start (vend) out of range";
    case NV_VALUE: return "node value outside the value area (voff/vlen)";
    case NV_VUSED: return "node vused differs from its values";
    case NV_KEYS: return "node keys out of order";
    case NV_CHILD: return "node child pointer outside the data area";
    case NV_LINK: return "node sibling link outside the data area";
  }
  return "node sound";
}
/** Result of the last bt_node_verify (fsck names it when bread refuses a node). */
export let bt_node_fault: i32 = NV_OK;
/** Forgets the last result (before a read whose refusal fsck wants to explain). */
export function bt_node_fault_clear(): void { bt_node_fault = NV_OK; }

/**
 * Checks every structural field of the node at `n`, read from block `blk`, against the
 * block (see the table above). Returns NV_OK or the first failed check; logs the failure.
 * The node is only read. Also exported for fsck.
 */
export function bt_node_verify(n: usize, blk: u64): i32 {
  const r = node_verify_(n, blk);
  bt_node_fault = r;
  if (r != NV_OK) {
    kfs(); kputs("corrupt metadata at block "); kputu(blk); kputs(" (tree "); kputu(load<u8>(n, N_TREE));
    kputs(", level "); kputu(load<u8>(n, N_LEVEL)); kputs("): "); kputs(bt_node_why(r)); knl();
  }
  return r;
}
function node_verify_(n: usize, blk: u64): i32 {
  if (<u32>load<u8>(n, N_TREE) >= TREE_COUNT) return NV_TREE;
  const level = <u32>load<u8>(n, N_LEVEL);
  if (level >= HEIGHT_MAX) return NV_LEVEL;
  const k = <u32>load<u16>(n, N_NITEMS);
  return level == 0 ? leaf_verify(n, blk, k) : internal_verify(n, blk, k);
}
function leaf_verify(n: usize, blk: u64, k: u32): i32 {
  const itemsEnd = <u32>N_ITEMS + k * <u32>LEAF_ITEM;
  if (itemsEnd > BLOCK_SIZE) return NV_NITEMS;
  const vend = <u32>load<u16>(n, N_VEND);
  if (vend > BLOCK_SIZE || vend < itemsEnd) return NV_VEND;
  let sum: u32 = 0;
  for (let i: u32 = 0; i < k; i++) {
    const it = n + N_ITEMS + <usize>i * LEAF_ITEM;
    const voff = <u32>load<u16>(it, 16);
    const vlen = <u32>load<u16>(it, 18);
    // an empty value reads nothing and may sit below vend (vend moved up past it when the
    // value it shared an offset with was removed): only its offset is bounded
    if (vlen > VALUE_MAX || voff + vlen > BLOCK_SIZE || (vlen != 0 && voff < vend)) return NV_VALUE;
    sum += vlen;
    if (i > 0 && key_cmp(load<u64>(it - LEAF_ITEM), load<u64>(it - LEAF_ITEM, 8), load<u64>(it), load<u64>(it, 8)) >= 0) return NV_KEYS;
  }
  if (sum != <u32>load<u16>(n, N_VUSED)) return NV_VUSED;
  const next = load<u64>(n, N_NEXT), prev = load<u64>(n, N_PREV);
  if ((next != 0 && (next == blk || !in_data_area(next, 1))) || (prev != 0 && (prev == blk || !in_data_area(prev, 1)))) return NV_LINK;
  return NV_OK;
}
function internal_verify(n: usize, blk: u64, k: u32): i32 {
  if (k == 0 || k > NODE_ITEMS_MAX) return NV_NITEMS;
  for (let i: u32 = 0; i < k; i++) {
    const it = n + N_ITEMS + <usize>i * NODE_ITEM;
    const child = load<u64>(it, 16);
    if (child == blk || !in_data_area(child, 1)) return NV_CHILD;
    // key[0] is not a bound (see the rules above): order is checked from key[1]
    if (i > 1 && key_cmp(load<u64>(it - NODE_ITEM), load<u64>(it - NODE_ITEM, 8), load<u64>(it), load<u64>(it, 8)) >= 0) return NV_KEYS;
  }
  return NV_OK;
}

// ---- node accessors --------------------------------------------------------------------------

@inline export function nitems(n: usize): u32 { return load<u16>(n, N_NITEMS); }
@inline function set_nitems(n: usize, v: u32): void { store<u16>(n, <u16>v, N_NITEMS); }
@inline export function nlevel(n: usize): u32 { return load<u8>(n, N_LEVEL); }
@inline function isz(n: usize): usize { return nlevel(n) == 0 ? LEAF_ITEM : NODE_ITEM; }
@inline export function item(n: usize, i: u32): usize { return n + N_ITEMS + (<usize>i) * isz(n); }
@inline export function ik1(n: usize, i: u32): u64 { return load<u64>(item(n, i)); }
@inline export function ik2(n: usize, i: u32): u64 { return load<u64>(item(n, i), 8); }
@inline export function ichild(n: usize, i: u32): u64 { return load<u64>(n + N_ITEMS + (<usize>i) * NODE_ITEM, 16); }
@inline export function ival(n: usize, i: u32): usize { return n + <usize>load<u16>(n + N_ITEMS + (<usize>i) * LEAF_ITEM, 16); }
@inline export function ivlen(n: usize, i: u32): u32 { return load<u16>(n + N_ITEMS + (<usize>i) * LEAF_ITEM, 18); }

@inline function key_cmp(a1: u64, a2: u64, b1: u64, b2: u64): i32 {
  if (a1 != b1) return a1 < b1 ? -1 : 1;
  if (a2 != b2) return a2 < b2 ? -1 : 1;
  return 0;
}

/** Bytes of items and values in use. */
function used_bytes(n: usize): u32 {
  const k = nitems(n);
  return nlevel(n) == 0 ? k * <u32>LEAF_ITEM + <u32>load<u16>(n, N_VUSED) : k * <u32>NODE_ITEM;
}

// ---- search within a node ----------------------------------------------------------------
//
// Two costs dominate a search in a 4 KiB node: branch mispredictions (a binary search's
// comparisons are coin flips, ~8 in a 168-way internal node) and, in a leaf that is not in
// the CPU caches (a 1M-key tree has ~50 MB of leaves), one DRAM miss per probe, ~6 in a row
// because each probe's address depends on the last comparison.
//  - The search is branch-free (Khuong and Morin, "Array layouts for comparison-based
//    searching", JEA 2017): the range halves by a conditional move, a fixed number of steps
//    for a given item count, so nothing is mispredicted.
//  - Before searching a leaf, one word of every cache line of its item array is loaded
//    (leaf_touch). The loads are independent, so their misses overlap (a few DRAM latencies
//    for the whole array instead of one per probe) and the probes then hit L1. WebAssembly
//    has no prefetch instruction, so plain loads do it: this is the software prefetch of
//    both halves that Khuong and Morin pair with the branch-free search, for a whole node.

/** 1 when the item key at `p` orders before (k1, k2) (before or equal when `le`), else 0. */
@inline function key_before(p: usize, k1: u64, k2: u64, le: bool): u32 {
  const m1 = load<u64>(p);
  const m2 = load<u64>(p, 8);
  if (le) return 1 - (<u32>(k1 < m1) | (<u32>(k1 == m1) & <u32>(k2 < m2)));
  return <u32>(m1 < k1) | (<u32>(m1 == k1) & <u32>(m2 < k2));
}

/**
 * `lo` plus the number of items in [lo, hi) of the item array at `base` (stride `sz` bytes)
 * whose keys order before (k1, k2) (before or equal when `le`). The keys must be sorted.
 */
@inline function key_count(base: usize, sz: usize, lo: u32, hi: u32, k1: u64, k2: u64, le: bool): u32 {
  if (hi <= lo) return lo;
  // invariant: the answer lies in [at, at + n]
  let at = lo;
  let n = hi - lo;
  while (n > 1) {
    const half = n >>> 1;
    at = select<u32>(at + half, at, key_before(base + (<usize>(at + half)) * sz, k1, k2, le) != 0);
    n -= half;
  }
  return at + key_before(base + (<usize>at) * sz, k1, k2, le);
}

// The touch loads' sum goes to touch_sink. Nothing reads it, so binaryen drops that store,
// but it keeps the loads because a wasm load may trap; a build with trapsNeverHappen or
// ignoreImplicitTraps would delete them and lose the overlap (not the correctness).
let touch_sink: u32 = 0;
/** Bytes between two loads of leaf_touch: one per cache line. */
const CACHE_LINE: usize = 64;

/** Starts loading every cache line of a leaf's item array at once (see above). */
@inline function leaf_touch(n: usize): void {
  const end = n + N_ITEMS + <usize>nitems(n) * LEAF_ITEM;
  let x: u32 = 0;
  for (let p = n + N_ITEMS; p < end; p += CACHE_LINE) x += load<u32>(p);
  touch_sink = x;
}

/** First index whose key is >= (k1, k2) (nitems when none). */
function lower_bound(n: usize, k1: u64, k2: u64): u32 {
  const r = key_count(n + N_ITEMS, isz(n), 0, nitems(n), k1, k2, false);
  if (!ASC_NO_ASSERT) {
    assert(r == 0 || key_cmp(ik1(n, r - 1), ik2(n, r - 1), k1, k2) < 0);
    assert(r == nitems(n) || key_cmp(ik1(n, r), ik2(n, r), k1, k2) >= 0);
  }
  return r;
}

/**
 * Child slot to follow in an internal node: the last slot i >= 1 with key[i] <= (k1, k2),
 * else 0. key[0] is never compared: it is not a bound (smaller keys than it may live in
 * child 0, and a split of child 0 may push a separator below it).
 */
function child_slot(n: usize, k1: u64, k2: u64): u32 {
  const k = nitems(n);
  return k <= 1 ? 0 : key_count(n + N_ITEMS, NODE_ITEM, 1, k, k1, k2, true) - 1;
}

/** Reads a node and checks it belongs where the walk expects it. 0 with bt_errno on error. */
function read_node(blk: u64, tree: u32, level: u32): usize {
  // a root, child or sibling pointer outside the data area is never read (the superblock
  // or a log block would be taken for a node if its contents happened to verify)
  if (!in_data_area(blk, 1)) { bt_corrupt(); return 0; }
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) { bt_errno = buf_errno; return 0; }
  if (load<u8>(n, N_TREE) != <u8>tree || nlevel(n) != level) { bt_corrupt(); return 0; }
  return n;
}

// ---- descent with a path ---------------------------------------------------------------------

// Tree operations nest: inserting into one tree may allocate a node, which changes the
// free-space trees. Each nesting depth gets its own path and scratch space (a context).
const NEST_MAX: u32 = 4;
let depth: i32 = -1;
const PATH_BLK: usize = memory.data(NEST_MAX * HEIGHT_MAX * 8);
const PATH_IDX: usize = memory.data(NEST_MAX * HEIGHT_MAX * 4);
@inline function path_blk(l: u32): u64 { return load<u64>(PATH_BLK + ((<usize>depth * HEIGHT_MAX + l) << 3)); }
@inline function path_idx(l: u32): u32 { return load<u32>(PATH_IDX + ((<usize>depth * HEIGHT_MAX + l) << 2)); }
@inline function set_path(l: u32, blk: u64, idx: u32): void {
  store<u64>(PATH_BLK + ((<usize>depth * HEIGHT_MAX + l) << 3), blk);
  store<u32>(PATH_IDX + ((<usize>depth * HEIGHT_MAX + l) << 2), idx);
}
@inline function enter(): void {
  depth++;
  if (<u32>depth >= NEST_MAX) abort("btree: operations nested too deep");
}
@inline function leave(): void { depth--; }

/** Walks from the root to the leaf for (k1, k2), recording the path. Returns the leaf or 0. */
function descend(tree: u32, k1: u64, k2: u64): usize {
  const h = bt_height(tree);
  if (h == 0 || h > HEIGHT_MAX) { bt_errno = -EUCLEAN; return 0; }
  let blk = bt_root(tree);
  for (let l = h - 1; ; l--) {
    const n = read_node(blk, tree, l);
    if (n == 0) return 0;
    if (l == 0) { set_path(0, blk, 0); leaf_touch(n); return n; }
    if (nitems(n) == 0) { bt_errno = -EUCLEAN; return 0; }
    const i = child_slot(n, k1, k2);
    set_path(l, blk, i);
    blk = ichild(n, i);
  }
  return 0;
}

/**
 * The value of (k1, k2): its address in the leaf buffer (valid until the next tree change or
 * syscall boundary) with its length in bt_vlen; 0 when absent (bt_errno 0) or on error
 * (bt_errno -EIO/-EUCLEAN).
 */
export function bt_lookup(tree: u32, k1: u64, k2: u64): usize {
  enter();
  const r = bt_lookup_(tree, k1, k2);
  leave();
  return r;
}
function bt_lookup_(tree: u32, k1: u64, k2: u64): usize {
  bt_stat_lookups++;
  bt_errno = 0;
  const leaf = descend(tree, k1, k2);
  if (leaf == 0) return 0;
  const i = lower_bound(leaf, k1, k2);
  if (i >= nitems(leaf) || ik1(leaf, i) != k1 || ik2(leaf, i) != k2) return 0;
  bt_vlen = ivlen(leaf, i);
  return ival(leaf, i);
}

/** Like bt_lookup, and marks the leaf changed: the caller modifies the value in place. */
export function bt_lookup_mut(tree: u32, k1: u64, k2: u64): usize {
  enter();
  const v = bt_lookup_(tree, k1, k2);
  if (v != 0) journal_dirty(path_blk(0));
  leave();
  return v;
}

// ---- leaf editing ----------------------------------------------------------------------------

/** Repacks a leaf's values so the free space is contiguous. */
function leaf_compact(n: usize): void {
  node_moved(n);
  const k = nitems(n);
  const tmp = scratch() + 2 * <usize>BLOCK_SIZE;
  memory.copy(tmp, n, BLOCK_SIZE);
  let vend = <u32>BLOCK_SIZE;
  for (let i: u32 = 0; i < k; i++) {
    const len = ivlen(tmp, i);
    vend -= len;
    memory.copy(n + vend, ival(tmp, i), len);
    store<u16>(item(n, i), <u16>vend, 16);
  }
  store<u16>(n, <u16>vend, N_VEND);
}

/** Inserts an item at index `i` of a leaf that has room for it. */
function leaf_insert_at(n: usize, i: u32, k1: u64, k2: u64, val: usize, vlen: u32): void {
  const k = nitems(n);
  let vend = <u32>load<u16>(n, N_VEND);
  if (<usize>vend < N_ITEMS + (<usize>(k + 1)) * LEAF_ITEM + vlen) {
    leaf_compact(n);
    vend = <u32>load<u16>(n, N_VEND);
  }
  assert(<usize>vend >= N_ITEMS + (<usize>(k + 1)) * LEAF_ITEM + vlen, "leaf overflow");
  const p = item(n, i);
  memory.copy(p + LEAF_ITEM, p, (<usize>(k - i)) * LEAF_ITEM);
  vend -= vlen;
  memory.copy(n + vend, val, vlen);
  store<u64>(p, k1);
  store<u64>(p, k2, 8);
  store<u16>(p, <u16>vend, 16);
  store<u16>(p, <u16>vlen, 18);
  store<u16>(n, <u16>vend, N_VEND);
  store<u16>(n, <u16>(load<u16>(n, N_VUSED) + vlen), N_VUSED);
  set_nitems(n, k + 1);
}

function leaf_remove_at(n: usize, i: u32): void {
  const k = nitems(n);
  const vlen = ivlen(n, i);
  const voff = <u32>load<u16>(item(n, i), 16);
  const p = item(n, i);
  memory.copy(p, p + LEAF_ITEM, (<usize>(k - i - 1)) * LEAF_ITEM);
  store<u16>(n, <u16>(load<u16>(n, N_VUSED) - vlen), N_VUSED);
  if (voff == <u32>load<u16>(n, N_VEND)) store<u16>(n, <u16>(voff + vlen), N_VEND);
  set_nitems(n, k - 1);
}

function node_insert_at(n: usize, i: u32, k1: u64, k2: u64, child: u64): void {
  const k = nitems(n);
  assert(<usize>(k + 1) * NODE_ITEM <= <usize>CAPACITY, "internal node overflow");
  const p = item(n, i);
  memory.copy(p + NODE_ITEM, p, (<usize>(k - i)) * NODE_ITEM);
  store<u64>(p, k1);
  store<u64>(p, k2, 8);
  store<u64>(p, child, 16);
  set_nitems(n, k + 1);
}

function node_remove_at(n: usize, i: u32): void {
  const k = nitems(n);
  const p = item(n, i);
  memory.copy(p, p + NODE_ITEM, (<usize>(k - i - 1)) * NODE_ITEM);
  set_nitems(n, k - 1);
}

@inline function leaf_fits(n: usize, vlen: u32): bool {
  return used_bytes(n) + <u32>LEAF_ITEM + vlen <= CAPACITY;
}

// ---- redistribution (split, merge, borrow) ---------------------------------------------------
//
// Items of one or two nodes (plus, for a split, the item being inserted) are gathered as
// references into copies in scratch(), then dealt out again to one or two nodes.

const SCRATCH_ALL: usize = memory.data(NEST_MAX * 4 * BLOCK_SIZE); // 2 node copies, 1 temp node, 1 value
const REFS_MAX: u32 = 2 * (CAPACITY / <u32>LEAF_ITEM) + 2;
const REFS_ALL: usize = memory.data(NEST_MAX * REFS_MAX * 12); // item u32 | value u32 | vlen u32
let nrefs: u32 = 0; // valid only between gathering and dealing, which never nest
// scratch() and REFS are the current context's areas.
@inline function scratch(): usize { return SCRATCH_ALL + (<usize>depth) * 4 * BLOCK_SIZE; }
/** The context's value save area (VALUE_MAX bytes). */
@inline function valsave(): usize { return scratch() + 3 * <usize>BLOCK_SIZE; }
@inline function refs(): usize { return REFS_ALL + (<usize>depth) * REFS_MAX * 12; }

function refs_add_node(copy: usize): void {
  const k = nitems(copy);
  const leaf = nlevel(copy) == 0;
  for (let i: u32 = 0; i < k; i++) {
    const r = refs() + (<usize>nrefs) * 12;
    store<u32>(r, <u32>item(copy, i));
    store<u32>(r, leaf ? <u32>ival(copy, i) : 0, 4);
    store<u32>(r, leaf ? ivlen(copy, i) : 0, 8);
    nrefs++;
  }
}

@inline function ref_item(i: u32): usize { return <usize>load<u32>(refs() + (<usize>i) * 12); }
@inline function ref_val(i: u32): usize { return <usize>load<u32>(refs() + (<usize>i) * 12, 4); }
@inline function ref_vlen(i: u32): u32 { return load<u32>(refs() + (<usize>i) * 12, 8); }

/** Clears a node's items (keeping header, tree, level, links). */
function node_clear(n: usize): void {
  node_moved(n);
  set_nitems(n, 0);
  store<u16>(n, <u16>BLOCK_SIZE, N_VEND);
  store<u16>(n, 0, N_VUSED);
  memory.fill(n + N_ITEMS, 0, CAPACITY);
}

/** Appends refs [from, to) to node `n` (already cleared). */
function deal(n: usize, from: u32, to: u32): void {
  const leaf = nlevel(n) == 0;
  for (let i = from; i < to; i++) {
    const it = ref_item(i);
    if (leaf) leaf_insert_at(n, nitems(n), load<u64>(it), load<u64>(it, 8), ref_val(i), ref_vlen(i));
    else node_insert_at(n, nitems(n), load<u64>(it), load<u64>(it, 8), load<u64>(it, 16));
  }
}

/** Index at which to cut the refs so both halves hold about equal bytes and both fit. */
function split_point(leaf: bool): u32 {
  let total: u32 = 0;
  const sz = leaf ? <u32>LEAF_ITEM : <u32>NODE_ITEM;
  for (let i: u32 = 0; i < nrefs; i++) total += sz + ref_vlen(i);
  let acc: u32 = 0;
  let cut: u32 = 0;
  while (cut < nrefs - 1) {
    const next = sz + ref_vlen(cut);
    if (acc + next > total / 2 && cut > 0) break;
    acc += next;
    cut++;
  }
  // both sides must fit: move the cut while the right side is too big
  while (total - acc > CAPACITY && cut < nrefs - 1) { acc += sz + ref_vlen(cut); cut++; }
  while (acc > CAPACITY && cut > 1) { cut--; acc -= sz + ref_vlen(cut); }
  return cut;
}

/** Allocates and formats a new node for `tree` at `level`. Returns its buffer or 0. */
function new_node(tree: u32, level: u32): usize {
  node_alloc_errno = 0;
  const blk = node_alloc(tree);
  if (blk == 0) { bt_errno = node_alloc_errno != 0 ? node_alloc_errno : -ENOSPC; return 0; }
  const n = bget(blk);
  if (n == 0) { bt_errno = buf_errno; return 0; }
  node_init(n, blk, tree, level); // formats all 4 KiB: bget leaves the contents undefined
  journal_dirty(blk);
  return n;
}

@inline function node_blk(n: usize): u64 { return load<u64>(n, 8); }

// ---- insert ----------------------------------------------------------------------------------

/**
 * Inserts (k1, k2) -> value (`vlen` bytes at `val`). Returns 0, -EEXIST when the key is
 * present, -ENOSPC when no block is left for a split, or -EIO/-EUCLEAN/-ENOMEM.
 * Errors other than EEXIST may leave the running transaction half-changed: the caller
 * must abort the journal.
 */
export function bt_insert(tree: u32, k1: u64, k2: u64, val: usize, vlen: u32): i32 {
  enter();
  const r = bt_insert_(tree, k1, k2, val, vlen);
  leave();
  return r;
}
function bt_insert_(tree: u32, k1: u64, k2: u64, val: usize, vlen: u32): i32 {
  assert(vlen <= VALUE_MAX, "value too large");
  bt_errno = 0;
  const leaf = descend(tree, k1, k2);
  if (leaf == 0) return bt_errno;
  const i = lower_bound(leaf, k1, k2);
  if (i < nitems(leaf) && ik1(leaf, i) == k1 && ik2(leaf, i) == k2) return -EEXIST;
  if (leaf_fits(leaf, vlen)) {
    leaf_insert_at(leaf, i, k1, k2, val, vlen);
    journal_dirty(path_blk(0));
    return 0;
  }
  // split the leaf: allocate the new sibling first (it may nest into the free-space trees),
  // then gather the leaf's items plus the new one
  bt_stat_splits++;
  const right = new_node(tree, 0);
  if (right == 0) return bt_errno;
  memory.copy(scratch(), leaf, BLOCK_SIZE);
  const newItem = scratch() + 2 * <usize>BLOCK_SIZE; // fake one-item leaf holding the new key
  memory.fill(newItem, 0, BLOCK_SIZE);
  store<u16>(newItem, <u16>BLOCK_SIZE, N_VEND);
  leaf_insert_at(newItem, 0, k1, k2, val, vlen);
  nrefs = 0;
  const k = nitems(scratch());
  for (let j: u32 = 0; j < k; j++) {
    if (j == i) refs_add_node(newItem);
    const r = refs() + (<usize>nrefs) * 12;
    store<u32>(r, <u32>item(scratch(), j));
    store<u32>(r, <u32>ival(scratch(), j), 4);
    store<u32>(r, ivlen(scratch(), j), 8);
    nrefs++;
  }
  if (i == k) refs_add_node(newItem);
  // appending past the last key of the rightmost leaf (ascending inode numbers, files
  // written in order) moves only the new key: leaves fill completely instead of half
  // (SQLite's "quick balance")
  const append = i == k && load<u64>(leaf, N_NEXT) == 0;
  if (append) {
    deal(right, nrefs - 1, nrefs); // the leaf keeps its items and values where they are
  } else {
    const cut = split_point(true);
    node_clear(leaf);
    deal(leaf, 0, cut);
    deal(right, cut, nrefs);
  }
  // sibling links: leaf <-> right <-> old next
  const rblk = node_blk(right);
  const lblk = path_blk(0);
  const oldNext = load<u64>(leaf, N_NEXT);
  store<u64>(right, oldNext, N_NEXT);
  store<u64>(right, lblk, N_PREV);
  store<u64>(leaf, rblk, N_NEXT);
  journal_dirty(lblk);
  if (oldNext != 0) {
    const nx = read_node(oldNext, tree, 0);
    if (nx == 0) return bt_errno;
    store<u64>(nx, rblk, N_PREV);
    journal_dirty(oldNext);
  }
  return insert_parent(tree, 1, lblk, ik1(right, 0), ik2(right, 0), rblk, append);
}

/**
 * Inserts separator (k1, k2) -> child `right` into the node at `level` of the recorded path,
 * after the slot that led to `left`; splits upward, growing a new root when needed.
 */
function insert_parent(tree: u32, level: u32, left: u64, k1: u64, k2: u64, right: u64, append: bool): i32 {
  const h = bt_height(tree);
  if (level == h) {
    // the root split: a new root with two children
    if (h >= HEIGHT_MAX) return -ENOSPC;
    const root = new_node(tree, level);
    if (root == 0) return bt_errno;
    const l = read_node(left, tree, level - 1);
    if (l == 0) return bt_errno;
    node_insert_at(root, 0, ik1(l, 0), ik2(l, 0), left);
    node_insert_at(root, 1, k1, k2, right);
    return set_root(tree, node_blk(root), h + 1);
  }
  const pblk = path_blk(level);
  const p = read_node(pblk, tree, level);
  if (p == 0) return bt_errno;
  const slot = path_idx(level) + 1;
  if ((nitems(p) + 1) * <u32>NODE_ITEM <= CAPACITY) {
    node_insert_at(p, slot, k1, k2, right);
    journal_dirty(pblk);
    return 0;
  }
  bt_stat_splits++;
  const sib = new_node(tree, level);
  if (sib == 0) return bt_errno;
  memory.copy(scratch(), p, BLOCK_SIZE);
  const extra = scratch() + 2 * <usize>BLOCK_SIZE;
  memory.fill(extra, 0, BLOCK_SIZE);
  store<u8>(extra, <u8>level, N_LEVEL);
  node_insert_at(extra, 0, k1, k2, right);
  nrefs = 0;
  const k = nitems(scratch());
  for (let j: u32 = 0; j < k; j++) {
    if (j == slot) refs_add_node(extra);
    const r = refs() + (<usize>nrefs) * 12;
    store<u32>(r, <u32>item(scratch(), j));
    store<u64>(r + 4, 0);
    nrefs++;
  }
  if (slot == k) refs_add_node(extra);
  // an append split below makes this the rightmost node, appended to as well
  const appendHere = append && slot == k;
  const cut = appendHere ? nrefs - 1 : nrefs / 2;
  node_clear(p);
  deal(p, 0, cut);
  deal(sib, cut, nrefs);
  journal_dirty(pblk);
  return insert_parent(tree, level + 1, pblk, ik1(sib, 0), ik2(sib, 0), node_blk(sib), appendHere);
}

// ---- delete ----------------------------------------------------------------------------------

/**
 * Deletes (k1, k2). Returns 0, -ENOENT when absent, or -EIO/-EUCLEAN (the caller must abort
 * the journal: the tree may be half-changed).
 */
export function bt_delete(tree: u32, k1: u64, k2: u64): i32 {
  enter();
  const r = bt_delete_(tree, k1, k2);
  leave();
  return r;
}
function bt_delete_(tree: u32, k1: u64, k2: u64): i32 {
  bt_errno = 0;
  const leaf = descend(tree, k1, k2);
  if (leaf == 0) return bt_errno;
  const i = lower_bound(leaf, k1, k2);
  if (i >= nitems(leaf) || ik1(leaf, i) != k1 || ik2(leaf, i) != k2) return -ENOENT;
  leaf_remove_at(leaf, i);
  journal_dirty(path_blk(0));
  return rebalance(tree, 0);
}

/** Restores the fill invariant of the node at `level` of the recorded path. */
function rebalance(tree: u32, level: u32): i32 {
  const h = bt_height(tree);
  const blk = path_blk(level);
  const n = read_node(blk, tree, level);
  if (n == 0) return bt_errno;
  if (level == h - 1) {
    // root: collapse a one-child internal root
    if (level > 0 && nitems(n) == 1) {
      const child = ichild(n, 0);
      const r = set_root(tree, child, h - 1);
      if (r != 0) return r;
      node_moved(n);
      return node_free(tree, blk);
    }
    return 0;
  }
  if (used_bytes(n) >= MIN_FILL) return 0;
  const pblk = path_blk(level + 1);
  const p = read_node(pblk, tree, level + 1);
  if (p == 0) return bt_errno;
  const idx = path_idx(level + 1);
  const pn = nitems(p);
  if (pn < 2) return 0; // only child: nothing to merge with (the parent is handled above)
  const li = idx + 1 < pn ? idx : idx - 1; // left node's slot; right is li + 1
  const lblk = ichild(p, li);
  const rblk = ichild(p, li + 1);
  const L = read_node(lblk, tree, level);
  if (L == 0) return bt_errno;
  const R = read_node(rblk, tree, level);
  if (R == 0) return bt_errno;
  if (level > 0) {
    // the right node's stale-low key[0] becomes the exact separator before items move
    store<u64>(item(R, 0), ik1(p, li + 1));
    store<u64>(item(R, 0), ik2(p, li + 1), 8);
  }
  memory.copy(scratch(), L, BLOCK_SIZE);
  memory.copy(scratch() + BLOCK_SIZE, R, BLOCK_SIZE);
  nrefs = 0;
  refs_add_node(scratch());
  refs_add_node(scratch() + BLOCK_SIZE);
  if (used_bytes(L) + used_bytes(R) <= CAPACITY) {
    // merge R into L, unlink R, drop its separator from the parent
    bt_stat_merges++;
    node_clear(L);
    deal(L, 0, nrefs);
    if (level == 0) {
      const rnext = load<u64>(R, N_NEXT);
      store<u64>(L, rnext, N_NEXT);
      if (rnext != 0) {
        const nx = read_node(rnext, tree, 0);
        if (nx == 0) return bt_errno;
        store<u64>(nx, lblk, N_PREV);
        journal_dirty(rnext);
      }
    }
    journal_dirty(lblk);
    node_remove_at(p, li + 1);
    journal_dirty(pblk);
    node_moved(R);
    const r = node_free(tree, rblk);
    if (r != 0) return r;
    return rebalance(tree, level + 1);
  }
  // borrow: deal the items of both evenly
  const cut = level == 0 ? split_point(true) : nrefs / 2;
  node_clear(L);
  node_clear(R);
  deal(L, 0, cut);
  deal(R, cut, nrefs);
  journal_dirty(lblk);
  journal_dirty(rblk);
  store<u64>(item(p, li + 1), ik1(R, 0));
  store<u64>(item(p, li + 1), ik2(R, 0), 8);
  journal_dirty(pblk);
  return 0;
}

// ---- update ----------------------------------------------------------------------------------

/**
 * Replaces the value of an existing key (any new length up to VALUE_MAX). Returns 0,
 * -ENOENT, or the errors of bt_insert/bt_delete.
 */
export function bt_update(tree: u32, k1: u64, k2: u64, val: usize, vlen: u32): i32 {
  enter();
  const r = bt_update_(tree, k1, k2, val, vlen);
  leave();
  return r;
}
function bt_update_(tree: u32, k1: u64, k2: u64, val: usize, vlen: u32): i32 {
  bt_errno = 0;
  const leaf = descend(tree, k1, k2);
  if (leaf == 0) return bt_errno;
  const i = lower_bound(leaf, k1, k2);
  if (i >= nitems(leaf) || ik1(leaf, i) != k1 || ik2(leaf, i) != k2) return -ENOENT;
  if (ivlen(leaf, i) == vlen) {
    memory.copy(ival(leaf, i), val, vlen);
    journal_dirty(path_blk(0));
    return 0;
  }
  // different length: copy the new value aside first (it may point into this leaf)
  const saved = valsave();
  memory.copy(saved, val, vlen);
  const old = ivlen(leaf, i);
  if (used_bytes(leaf) - old + vlen <= CAPACITY) {
    leaf_remove_at(leaf, i);
    leaf_insert_at(leaf, i, k1, k2, saved, vlen);
    journal_dirty(path_blk(0));
    return vlen < old ? rebalance(tree, 0) : 0;
  }
  const r = bt_delete(tree, k1, k2);
  if (r != 0) return r;
  return bt_insert(tree, k1, k2, saved, vlen);
}

// ---- cursors ---------------------------------------------------------------------------------
//
// A cursor is CURSOR_SIZE bytes the caller owns:
//   | leaf block u64 | index u32 | tree u32 | leaf buffer address u32 | reserved u32 |
// It stays valid until the tree changes or the syscall ends (buffers are evicted only at
// syscall boundaries), so accessors use the remembered buffer without a cache lookup.

export const CURSOR_SIZE: u32 = 24;
const C_ADDR: usize = 16;

@inline function cur_leaf(cur: usize): usize {
  const l = <usize>load<u32>(cur, C_ADDR);
  assert(l != 0 && load<u64>(l, 8) == load<u64>(cur), "stale btree cursor");
  return l;
}
@inline function cur_set(cur: usize, blk: u64, leaf: usize): void {
  store<u64>(cur, blk);
  store<u32>(cur, <u32>leaf, C_ADDR);
}

/**
 * Positions `cur` at the first key >= (k1, k2) when `ge`, else at the last key <= (k1, k2).
 * Returns true when such a key exists; false at the end (bt_errno 0) or on error.
 */
export function bt_seek(cur: usize, tree: u32, k1: u64, k2: u64, ge: bool): bool {
  enter();
  const r = bt_seek_(cur, tree, k1, k2, ge);
  leave();
  return r;
}
function bt_seek_(cur: usize, tree: u32, k1: u64, k2: u64, ge: bool): bool {
  bt_errno = 0;
  const leaf = descend(tree, k1, k2);
  if (leaf == 0) return false;
  cur_set(cur, path_blk(0), leaf);
  store<u32>(cur, tree, 12);
  const i = lower_bound(leaf, k1, k2);
  if (ge) {
    store<u32>(cur, i, 8);
    if (i < nitems(leaf)) return true;
    return bt_next_leaf(cur, leaf);
  }
  if (i < nitems(leaf) && ik1(leaf, i) == k1 && ik2(leaf, i) == k2) { store<u32>(cur, i, 8); return true; }
  if (i > 0) { store<u32>(cur, i - 1, 8); return true; }
  store<u32>(cur, 0, 8); // before the first item of this leaf: step to the previous leaf
  return bt_prev(cur);
}

function bt_next_leaf(cur: usize, leaf: usize): bool {
  let l = leaf;
  const from = load<u64>(cur);
  // the last key seen: the next leaf must continue above it and point back (a forged chain
  // that loops or goes backwards would make a scan run forever)
  const k = nitems(leaf);
  const has = k > 0;
  const l1 = has ? ik1(leaf, k - 1) : 0;
  const l2 = has ? ik2(leaf, k - 1) : 0;
  let prevBlk = from;
  for (let guard = 0; guard < 1 << 20; guard++) {
    const next = load<u64>(l, N_NEXT);
    if (next == 0) return false;
    l = read_node(next, load<u32>(cur, 12), 0);
    if (l == 0) return false;
    if (load<u64>(l, N_PREV) != prevBlk) { bt_corrupt(); return false; }
    prevBlk = next;
    cur_set(cur, next, l);
    store<u32>(cur, 0, 8);
    if (nitems(l) > 0) {
      if (has && key_cmp(ik1(l, 0), ik2(l, 0), l1, l2) <= 0) { bt_corrupt(); return false; }
      return true;
    }
  }
  bt_errno = -EUCLEAN;
  return false;
}

/** Moves to the next key. False at the end or on error (bt_errno). */
export function bt_next(cur: usize): bool {
  const leaf = cur_leaf(cur);
  const i = load<u32>(cur, 8) + 1;
  if (i < nitems(leaf)) { store<u32>(cur, i, 8); return true; }
  return bt_next_leaf(cur, leaf);
}

/** Moves to the previous key. False at the start or on error (bt_errno). */
export function bt_prev(cur: usize): bool {
  let leaf = cur_leaf(cur);
  const i = load<u32>(cur, 8);
  if (i > 0 && i <= nitems(leaf)) { store<u32>(cur, i - 1, 8); return true; }
  for (let guard = 0; guard < 1 << 20; guard++) {
    const prev = load<u64>(leaf, N_PREV);
    if (prev == 0) return false;
    leaf = read_node(prev, load<u32>(cur, 12), 0);
    if (leaf == 0) return false;
    cur_set(cur, prev, leaf);
    const k = nitems(leaf);
    if (k > 0) { store<u32>(cur, k - 1, 8); return true; }
  }
  bt_errno = -EUCLEAN;
  return false;
}

/** The cursor's key, value address and value length (the leaf is read from the cache). */
export function cur_k1(cur: usize): u64 { return ik1(cur_leaf(cur), load<u32>(cur, 8)); }
export function cur_k2(cur: usize): u64 { return ik2(cur_leaf(cur), load<u32>(cur, 8)); }
export function cur_val(cur: usize): usize { return ival(cur_leaf(cur), load<u32>(cur, 8)); }
export function cur_vlen(cur: usize): u32 { return ivlen(cur_leaf(cur), load<u32>(cur, 8)); }

export { CAPACITY as BT_CAPACITY, MIN_FILL as BT_MIN_FILL };
