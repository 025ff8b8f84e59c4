// fs/btree.ts -- one generic B+ tree over 4 KiB nodes; every fs index is an instance of it.
//
// Layer: above the buffer cache and the journal; the inode, directory, extent and
// free-space layers store their records in it (like XFS's generic libxfs btree).
// Interface: bt_lookup, bt_insert, bt_delete, bt_update, bt_seek/bt_next/bt_prev (cursors).
// Keys are (k1 u64, k2 u64) compared unsigned, k1 first. Values are byte strings of at most
// VALUE_MAX bytes, kept only in leaves. Leaves have no sibling links: a node a snapshot
// shares belongs to several trees at once, so a cursor steps to the next leaf through the
// path from the root (as btrfs_next_leaf does), never through a pointer in the leaf.
//
// Copy-on-write (Rodeh, "B-trees, Shadowing, and Clones", the design under btrfs):
//  - every pointer to a node (the superblock's roots, an internal item) carries the node's
//    transaction id (generation); a node read through a pointer whose generation differs is
//    a lost, stale or misdirected write: EUCLEAN, logged as "parent transid verify failed";
//  - before an operation changes a node, the whole path from the root is made writable in
//    the running transaction, top-down (path_cow): a node already in the transaction is
//    writable; a node of a filesystem tree born at or before the newest snapshot
//    (tid <= cow_floor) is shared, so it is copied to a new block (shadowed) and the old
//    block goes to the deferred frees with its birth (the snapshot layer keeps it on the
//    dead list); any other node is changed in place (journaled) and stamped with the
//    running tid. Either way the parent's pointer gets the running tid (and the new block);
//  - so a parent's generation is always >= its children's, and a subtree whose pointer
//    generation is <= a snapshot's tid is entirely that snapshot's (diff and drop prune on it).
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
//  - every changed node is made writable by path_cow/cow_child (which journal it) first.
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
//   internal: items[nitems] at 64, 32 B each: | k1 u64 | k2 u64 | child u64 | gen u64 |
//             gen = the child's header tid (its generation)
//   next/prev (40, 48): zero (sibling links of the format before INCOMPAT_SNAPSHOT)

import { BLOCK_SIZE } from "../params";
import { EEXIST, ENOENT, ENOMEM, EUCLEAN, EIO, ENOSPC } from "../lib/errno";
import { MAGIC_BTREE, MAGIC_SUPER, block_hdr_init, SB_TREES, SB_TREE_ENTRY, SB_TREE_GEN, TREE_COUNT, FS_TREES, in_data_area, HDR_TID, HDR_BLOCKNR } from "./format";
import { bread, bget, buf_errno, buffer_seq_bump, pagecache_set_node_verify } from "./pagecache";
import { kputs, kputu, knl, kfs } from "../lib/printk";
import { journal_dirty, journal_in_tx, j_tid } from "./journal";
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
const NODE_ITEM: usize = 32;
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

// In-core copies of the roots kept in the superblock (or, for a mounted snapshot or clone,
// in its record: snapshot.ts installs those).
const ROOTS: usize = memory.data(TREE_COUNT * 8);
const HEIGHTS: usize = memory.data(TREE_COUNT * 4);
const GENS: usize = memory.data(TREE_COUNT * 8);

/**
 * Newest snapshot's tid (0: none): a filesystem-tree node whose tid is <= it may be shared
 * with a snapshot and is shadowed, never changed in place. Set by the snapshot layer.
 */
let cow_floor: u64 = 0;
export function bt_set_cow_floor(tid: u64): void { cow_floor = tid; }
export function bt_cow_floor(): u64 { return cow_floor; }

export let bt_stat_splits: u64 = 0;
export let bt_stat_shadows: u64 = 0;
export let bt_stat_merges: u64 = 0;
export let bt_stat_lookups: u64 = 0;

// Node allocation is provided by the allocator layer (set at mount), so the free-space
// trees can draw their nodes from the AGFL while other trees use the extent allocator.
let node_alloc: (tree: u32) => u64 = (tree: u32): u64 => 0;
let node_free: (tree: u32, blk: u64, birth: u64) => i32 = (tree: u32, blk: u64, birth: u64): i32 => 0;
/** Why the node allocator returned 0 (set by it; 0 means plain ENOSPC). */
let node_alloc_errno: i32 = 0;
export function bt_node_alloc_failed(err: i32): void { node_alloc_errno = err; }
export function bt_set_allocator(a: (tree: u32) => u64, f: (tree: u32, blk: u64, birth: u64) => i32): void {
  node_alloc = a;
  node_free = f;
}

export function bt_root(tree: u32): u64 { return load<u64>(ROOTS + (<usize>tree << 3)); }
export function bt_height(tree: u32): u32 { return load<u32>(HEIGHTS + (<usize>tree << 2)); }
/** The root node's generation (its tid) as the superblock or snapshot record says. */
export function bt_root_gen(tree: u32): u64 { return load<u64>(GENS + (<usize>tree << 3)); }

/** Sets a tree's in-core root (mounting a snapshot or clone, rollback): nothing is written. */
export function bt_set_root_incore(tree: u32, root: u64, height: u32, gen: u64): void {
  store<u64>(ROOTS + (<usize>tree << 3), root);
  store<u32>(HEIGHTS + (<usize>tree << 2), height);
  store<u64>(GENS + (<usize>tree << 3), gen);
}

/**
 * Where a filesystem tree's new root is recorded when it changes: by default the
 * superblock; a mounted clone keeps its roots in its snapshot record (snapshot.ts).
 * The hook returns 0 or -errno.
 */
let root_store: (tree: u32, root: u64, height: u32, gen: u64) => i32 = sb_root_store;
export function bt_set_root_store(fn: (tree: u32, root: u64, height: u32, gen: u64) => i32): void { root_store = fn; }

/**
 * Loads the roots from the superblock buffer at `sb` (mount), and installs bt_node_verify as
 * the buffer cache's check of every node read from disk from now on.
 */
export function bt_load_roots(sb: usize): void {
  pagecache_set_node_verify(bt_node_verify);
  cow_floor = 0;
  bt_stat_shadows = 0;
  root_store = sb_root_store;
  for (let t: u32 = 0; t < TREE_COUNT; t++) {
    const e = sb + SB_TREES + <usize>t * SB_TREE_ENTRY;
    bt_set_root_incore(t, load<u64>(e), load<u32>(e, 8), load<u64>(e, SB_TREE_GEN));
  }
}

/** Records a root in the superblock (journaled). 0 or -errno. */
function sb_root_store(tree: u32, root: u64, height: u32, gen: u64): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  const e = sb + SB_TREES + <usize>tree * SB_TREE_ENTRY;
  store<u64>(e, root);
  store<u32>(e, height, 8);
  store<u64>(e, gen, SB_TREE_GEN);
  journal_dirty(0);
  return 0;
}

/** Sets a tree's root in core and where it is recorded (journaled). 0 or -errno. */
function set_root(tree: u32, root: u64, height: u32, gen: u64): i32 {
  bt_set_root_incore(tree, root, height, gen);
  // global trees always live in the superblock; the hook places the filesystem trees
  return tree < FS_TREES ? root_store(tree, root, height, gen) : sb_root_store(tree, root, height, gen);
}

/** Sets a root without the journal (mkfs builds the first superblock by hand). */
export function bt_init_root(sb: usize, tree: u32, root: u64, gen: u64): void {
  bt_set_root_incore(tree, root, 1, gen);
  const e = sb + SB_TREES + <usize>tree * SB_TREE_ENTRY;
  store<u64>(e, root);
  store<u32>(e, 1, 8);
  store<u64>(e, gen, SB_TREE_GEN);
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
//   tree    < TREE_COUNT                 level  < HEIGHT_MAX       next/prev 0
//   leaf:   N_ITEMS + nitems*20 <= vend <= 4096
//           every item: vlen <= VALUE_MAX, voff + vlen <= 4096, vend <= voff (vlen > 0)
//           vused = sum of vlen;  keys strictly increasing
//   internal: 1 <= nitems <= NODE_ITEMS_MAX;  keys[1..] strictly increasing;
//           every child in the data area and not the node itself; every gen <= the node's tid
// The generation of the node itself is checked against the pointer it was reached by
// (read_node), which the cache cannot know at read time.
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
export const NV_GEN: i32 = 10;
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
    case NV_LINK: return "node sibling link set (leaves have none)";
    case NV_GEN: return "node child generation newer than the node";
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
  if (load<u64>(n, N_NEXT) != 0 || load<u64>(n, N_PREV) != 0) return NV_LINK;
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
  return NV_OK;
}
function internal_verify(n: usize, blk: u64, k: u32): i32 {
  if (k == 0 || k > NODE_ITEMS_MAX) return NV_NITEMS;
  for (let i: u32 = 0; i < k; i++) {
    const it = n + N_ITEMS + <usize>i * NODE_ITEM;
    const child = load<u64>(it, 16);
    if (child == blk || !in_data_area(child, 1)) return NV_CHILD;
    const gen = load<u64>(it, 24);
    if (gen == 0 || gen > load<u64>(n, HDR_TID)) return NV_GEN;
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
/** Generation (tid) of internal item i's child. */
@inline export function igen(n: usize, i: u32): u64 { return load<u64>(n + N_ITEMS + (<usize>i) * NODE_ITEM, 24); }
@inline function set_ichild(n: usize, i: u32, child: u64, gen: u64): void {
  store<u64>(n + N_ITEMS + (<usize>i) * NODE_ITEM, child, 16);
  store<u64>(n + N_ITEMS + (<usize>i) * NODE_ITEM, gen, 24);
}
/** A node's own transaction id (header). */
@inline export function node_tid(n: usize): u64 { return load<u64>(n, HDR_TID); }
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

/** Transid mismatches met (parent pointer generation != the node's tid). */
export let bt_stat_transid_errors: u64 = 0;

/**
 * Reads node `blk` reached through a pointer carrying generation `gen` and checks it belongs
 * where the walk expects it: tree, level and tid == gen (a lost or stale write of the node,
 * or a node of another transaction written here, fails the last one; btrfs's "parent transid
 * verify failed"). 0 with bt_errno (-EIO, -EUCLEAN) on error. Exported for fsck and diff.
 */
export function read_node(blk: u64, tree: u32, level: u32, gen: u64): usize {
  // a root or child pointer outside the data area is never read (the superblock or a log
  // block would be taken for a node if its contents happened to verify)
  if (!in_data_area(blk, 1)) { bt_corrupt(); return 0; }
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) { bt_errno = buf_errno; return 0; }
  if (load<u8>(n, N_TREE) != <u8>tree || nlevel(n) != level) { bt_corrupt(); return 0; }
  if (node_tid(n) != gen) {
    bt_stat_transid_errors++;
    kfs(); kputs("parent transid verify failed on block "); kputu(blk); kputs(" wanted "); kputu(gen);
    kputs(" found "); kputu(node_tid(n)); knl();
    bt_corrupt();
    return 0;
  }
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
  let gen = bt_root_gen(tree);
  for (let l = h - 1; ; l--) {
    const n = read_node(blk, tree, l, gen);
    if (n == 0) return 0;
    if (l == 0) { set_path(0, blk, 0); leaf_touch(n); return n; }
    if (nitems(n) == 0) { bt_errno = -EUCLEAN; return 0; }
    const i = child_slot(n, k1, k2);
    set_path(l, blk, i);
    blk = ichild(n, i);
    gen = igen(n, i);
  }
  return 0;
}

/** The node of the recorded path at `level` (read by the descent: cached and verified). */
function path_node(level: u32): usize {
  const n = bread(path_blk(level), MAGIC_BTREE);
  if (n == 0) bt_errno = buf_errno;
  return n;
}

// ---- copy-on-write ---------------------------------------------------------------------------

/**
 * Makes node `n` (block `blk`, at `level` of `tree`) writable in the running transaction and
 * points its parent at it with the running tid: item `slot` of the writable `parent`, or the
 * root when `parent` is 0. A node already in the transaction is returned as is; a shared
 * node is shadowed (see the header). Returns the writable buffer (a new one when shadowed)
 * or 0 with bt_errno.
 */
function cow_node(tree: u32, level: u32, blk: u64, n: usize, parent: usize, slot: u32): usize {
  if (journal_in_tx(blk)) {
    if (!ASC_NO_ASSERT) assert(node_tid(n) == j_tid && (parent == 0 ? bt_root_gen(tree) : igen(parent, slot)) == j_tid, "cow: writable node with an old generation");
    return n;
  }
  let w = n;
  let wblk = blk;
  if (tree < FS_TREES && node_tid(n) <= cow_floor) {
    node_alloc_errno = 0;
    wblk = node_alloc(tree);
    if (wblk == 0) { bt_errno = node_alloc_errno != 0 ? node_alloc_errno : -ENOSPC; return 0; }
    w = bget(wblk);
    if (w == 0) { bt_errno = buf_errno; return 0; }
    memory.copy(w, n, BLOCK_SIZE);
    store<u64>(w, wblk, HDR_BLOCKNR);
    node_moved(n); // values now live in the copy (the icache keeps addresses)
    const r = node_free(tree, blk, node_tid(n)); // a snapshot keeps it: dead list at commit
    if (r != 0) { bt_errno = r; return 0; }
    bt_stat_shadows++;
  }
  store<u64>(w, j_tid, HDR_TID);
  journal_dirty(wblk);
  if (parent == 0) {
    const r = set_root(tree, wblk, bt_height(tree), j_tid);
    if (r != 0) { bt_errno = r; return 0; }
  } else {
    set_ichild(parent, slot, wblk, j_tid);
  }
  return w;
}

/**
 * Makes every node on the recorded path writable, top-down (each parent before its child,
 * so each can take its child's new block and generation), and updates the path to the
 * writable blocks. Returns the writable leaf (`leaf` itself when it already is) or 0.
 */
function path_cow(tree: u32, leaf: usize): usize {
  // a node joins the transaction only after its parent: a writable leaf has a writable path
  if (journal_in_tx(path_blk(0))) return leaf;
  const h = bt_height(tree);
  let parent: usize = 0;
  for (let l = h - 1; ; l--) {
    const blk = path_blk(l);
    const n = path_node(l);
    if (n == 0) return 0;
    const w = cow_node(tree, l, blk, n, parent, parent == 0 ? 0 : path_idx(l + 1));
    if (w == 0) return 0;
    set_path(l, node_blk(w), path_idx(l));
    if (l == 0) return w;
    parent = w;
  }
  return 0;
}

/** Child `slot` of the writable internal node `p` at `level + 1`, made writable. 0 on error. */
function cow_child(tree: u32, level: u32, p: usize, slot: u32): usize {
  const blk = ichild(p, slot);
  const n = read_node(blk, tree, level, igen(p, slot));
  if (n == 0) return 0;
  return cow_node(tree, level, blk, n, p, slot);
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

/**
 * Like bt_lookup, and makes the leaf writable (copy-on-write): the caller modifies the value
 * in place. 0 when absent or on error (bt_errno).
 */
export function bt_lookup_mut(tree: u32, k1: u64, k2: u64): usize {
  enter();
  let v = bt_lookup_(tree, k1, k2);
  if (v != 0) {
    const vlen = bt_vlen; // a root moving into a clone's record looks that record up (nested)
    const leaf = v - (v & (<usize>BLOCK_SIZE - 1)); // buffers are block-aligned frames
    const w = path_cow(tree, leaf);
    v = w == 0 ? 0 : w + (v - leaf);
    bt_vlen = vlen;
  }
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

function node_insert_at(n: usize, i: u32, k1: u64, k2: u64, child: u64, gen: u64): void {
  const k = nitems(n);
  assert(<usize>(k + 1) * NODE_ITEM <= <usize>CAPACITY, "internal node overflow");
  const p = item(n, i);
  memory.copy(p + NODE_ITEM, p, (<usize>(k - i)) * NODE_ITEM);
  store<u64>(p, k1);
  store<u64>(p, k2, 8);
  store<u64>(p, child, 16);
  store<u64>(p, gen, 24);
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
    else node_insert_at(n, nitems(n), load<u64>(it), load<u64>(it, 8), load<u64>(it, 16), load<u64>(it, 24));
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
  let leaf = descend(tree, k1, k2);
  if (leaf == 0) return bt_errno;
  const i = lower_bound(leaf, k1, k2);
  if (i < nitems(leaf) && ik1(leaf, i) == k1 && ik2(leaf, i) == k2) return -EEXIST;
  // `val` may point into a leaf that copy-on-write is about to move: keep the value aside
  if (vlen > 0) { memory.copy(valsave(), val, vlen); val = valsave(); }
  leaf = path_cow(tree, leaf);
  if (leaf == 0) return bt_errno;
  if (leaf_fits(leaf, vlen)) {
    leaf_insert_at(leaf, i, k1, k2, val, vlen);
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
  const append = i == k && path_rightmost(tree);
  if (append) {
    deal(right, nrefs - 1, nrefs); // the leaf keeps its items and values where they are
  } else {
    const cut = split_point(true);
    node_clear(leaf);
    deal(leaf, 0, cut);
    deal(right, cut, nrefs);
  }
  return insert_parent(tree, 1, path_blk(0), ik1(right, 0), ik2(right, 0), node_blk(right), append);
}

/** True when every node of the recorded path is its parent's last child (the tree's right edge). */
function path_rightmost(tree: u32): bool {
  const h = bt_height(tree);
  for (let l: u32 = 1; l < h; l++) {
    const n = path_node(l);
    if (n == 0 || path_idx(l) + 1 != nitems(n)) return false;
  }
  return true;
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
    const l = read_node(left, tree, level - 1, j_tid); // writable: made so by path_cow
    if (l == 0) return bt_errno;
    node_insert_at(root, 0, ik1(l, 0), ik2(l, 0), left, j_tid);
    node_insert_at(root, 1, k1, k2, right, j_tid);
    return set_root(tree, node_blk(root), h + 1, j_tid);
  }
  const pblk = path_blk(level);
  const p = path_node(level);
  if (p == 0) return bt_errno;
  const slot = path_idx(level) + 1;
  if ((nitems(p) + 1) * <u32>NODE_ITEM <= CAPACITY) {
    node_insert_at(p, slot, k1, k2, right, j_tid);
    return 0;
  }
  bt_stat_splits++;
  const sib = new_node(tree, level);
  if (sib == 0) return bt_errno;
  memory.copy(scratch(), p, BLOCK_SIZE);
  const extra = scratch() + 2 * <usize>BLOCK_SIZE;
  memory.fill(extra, 0, BLOCK_SIZE);
  store<u8>(extra, <u8>level, N_LEVEL);
  node_insert_at(extra, 0, k1, k2, right, j_tid);
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
  let leaf = descend(tree, k1, k2);
  if (leaf == 0) return bt_errno;
  const i = lower_bound(leaf, k1, k2);
  if (i >= nitems(leaf) || ik1(leaf, i) != k1 || ik2(leaf, i) != k2) return -ENOENT;
  leaf = path_cow(tree, leaf);
  if (leaf == 0) return bt_errno;
  leaf_remove_at(leaf, i);
  return rebalance(tree, 0);
}

/**
 * Restores the fill invariant of the node at `level` of the recorded path (the path is
 * writable: path_cow ran). A sibling that takes items is made writable here; one that is
 * merged away is only read, and freed with its own birth (a snapshot may keep it).
 */
function rebalance(tree: u32, level: u32): i32 {
  const h = bt_height(tree);
  const blk = path_blk(level);
  const n = path_node(level);
  if (n == 0) return bt_errno;
  if (level == h - 1) {
    // root: collapse a one-child internal root
    if (level > 0 && nitems(n) == 1) {
      const r = set_root(tree, ichild(n, 0), h - 1, igen(n, 0));
      if (r != 0) return r;
      node_moved(n);
      return node_free(tree, blk, node_tid(n));
    }
    return 0;
  }
  if (used_bytes(n) >= MIN_FILL) return 0;
  const p = path_node(level + 1);
  if (p == 0) return bt_errno;
  const idx = path_idx(level + 1);
  const pn = nitems(p);
  if (pn < 2) return 0; // only child: nothing to merge with (the parent is handled above)
  const li = idx + 1 < pn ? idx : idx - 1; // left node's slot; right is li + 1
  let lblk = ichild(p, li);
  let rblk = ichild(p, li + 1);
  // the path node is writable; its sibling is read as it is and made writable only if kept
  let L = li == idx ? n : read_node(lblk, tree, level, igen(p, li));
  if (L == 0) return bt_errno;
  let R = li == idx ? read_node(rblk, tree, level, igen(p, li + 1)) : n;
  if (R == 0) return bt_errno;
  const merge = used_bytes(L) + used_bytes(R) <= CAPACITY;
  if (li != idx) {
    // the left sibling receives items either way
    L = cow_child(tree, level, p, li);
    if (L == 0) return bt_errno;
    lblk = node_blk(L);
  } else if (!merge) {
    R = cow_child(tree, level, p, li + 1);
    if (R == 0) return bt_errno;
    rblk = node_blk(R);
  }
  memory.copy(scratch(), L, BLOCK_SIZE);
  memory.copy(scratch() + BLOCK_SIZE, R, BLOCK_SIZE);
  if (level > 0) {
    // the right node's stale-low key[0] becomes the exact separator before items move
    // (in the copy: R itself may be a shared node that is only read)
    store<u64>(item(scratch() + BLOCK_SIZE, 0), ik1(p, li + 1));
    store<u64>(item(scratch() + BLOCK_SIZE, 0), ik2(p, li + 1), 8);
  }
  nrefs = 0;
  refs_add_node(scratch());
  refs_add_node(scratch() + BLOCK_SIZE);
  if (used_bytes(L) + used_bytes(R) <= CAPACITY) {
    // merge R into L, unlink R, drop its separator from the parent
    bt_stat_merges++;
    node_clear(L);
    deal(L, 0, nrefs);
    node_remove_at(p, li + 1);
    node_moved(R);
    const r = node_free(tree, rblk, node_tid(R));
    if (r != 0) return r;
    return rebalance(tree, level + 1);
  }
  // borrow: deal the items of both evenly
  const cut = level == 0 ? split_point(true) : nrefs / 2;
  node_clear(L);
  node_clear(R);
  deal(L, 0, cut);
  deal(R, cut, nrefs);
  store<u64>(item(p, li + 1), ik1(R, 0));
  store<u64>(item(p, li + 1), ik2(R, 0), 8);
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
  let leaf = descend(tree, k1, k2);
  if (leaf == 0) return bt_errno;
  const i = lower_bound(leaf, k1, k2);
  if (i >= nitems(leaf) || ik1(leaf, i) != k1 || ik2(leaf, i) != k2) return -ENOENT;
  // copy the new value aside first: it may point into this leaf, which may move or change
  const saved = valsave();
  memory.copy(saved, val, vlen);
  leaf = path_cow(tree, leaf);
  if (leaf == 0) return bt_errno;
  if (ivlen(leaf, i) == vlen) {
    memory.copy(ival(leaf, i), saved, vlen);
    return 0;
  }
  const old = ivlen(leaf, i);
  if (used_bytes(leaf) - old + vlen <= CAPACITY) {
    leaf_remove_at(leaf, i);
    leaf_insert_at(leaf, i, k1, k2, saved, vlen);
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
//   | key k1 u64 | key k2 u64 |   (the key the cursor was placed at: where to resume when its
//                                 leaf is empty)
// It stays valid until the tree changes or the syscall ends (buffers are evicted only at
// syscall boundaries), so accessors use the remembered buffer without a cache lookup. Leaves
// have no sibling links: stepping past a leaf descends again to the leaf's last (or first)
// key and follows the recorded path to the next (previous) leaf, as btrfs_next_leaf does.

export const CURSOR_SIZE: u32 = 40;
const C_ADDR: usize = 16;
const C_K1: usize = 24;
const C_K2: usize = 32;

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
  store<u64>(cur, k1, C_K1);
  store<u64>(cur, k2, C_K2);
  const i = lower_bound(leaf, k1, k2);
  if (ge) {
    store<u32>(cur, i, 8);
    if (i < nitems(leaf)) return true;
    return step_leaf(cur, true);
  }
  if (i < nitems(leaf) && ik1(leaf, i) == k1 && ik2(leaf, i) == k2) { store<u32>(cur, i, 8); return true; }
  if (i > 0) { store<u32>(cur, i - 1, 8); return true; }
  return step_leaf(cur, false); // before the first item of this leaf: the previous leaf
}

/**
 * The leaf after (`fwd`) or before the recorded path's leaf: up to the lowest level with a
 * sibling slot on that side, then down its outermost edge. Returns the leaf (path recorded)
 * or 0: at the tree's edge with bt_errno 0, or on error.
 */
function path_step(tree: u32, fwd: bool): usize {
  const h = bt_height(tree);
  for (let l: u32 = 1; l < h; l++) {
    const n = path_node(l);
    if (n == 0) return 0;
    const i = path_idx(l);
    if (fwd ? i + 1 >= nitems(n) : i == 0) continue;
    let slot = fwd ? i + 1 : i - 1;
    set_path(l, path_blk(l), slot);
    let blk = ichild(n, slot);
    let gen = igen(n, slot);
    for (let m = l - 1; ; m--) {
      const c = read_node(blk, tree, m, gen);
      if (c == 0) return 0;
      if (m == 0) { set_path(0, blk, 0); return c; }
      if (nitems(c) == 0) { bt_corrupt(); return 0; }
      slot = fwd ? 0 : nitems(c) - 1;
      set_path(m, blk, slot);
      blk = ichild(c, slot);
      gen = igen(c, slot);
    }
  }
  return 0;
}

/**
 * Moves `cur` to the first key of the next leaf (`fwd`) or the last key of the previous one
 * that has any. The walk restarts from the root at the cursor's leaf (found by its edge key,
 * or the cursor's key when the leaf is empty), so it never trusts a stale path. Keys must
 * keep increasing (decreasing) across leaves: a tree whose leaves break that is corrupt.
 */
function step_leaf(cur: usize, fwd: bool): bool {
  const tree = load<u32>(cur, 12);
  const leaf = cur_leaf(cur);
  const k = nitems(leaf);
  let k1 = load<u64>(cur, C_K1), k2 = load<u64>(cur, C_K2);
  if (k > 0) { const e = fwd ? k - 1 : 0; k1 = ik1(leaf, e); k2 = ik2(leaf, e); }
  enter();
  bt_errno = 0;
  let l = descend(tree, k1, k2);
  let found = false;
  for (let guard: u32 = 0; l != 0 && guard < 1 << 24; guard++) {
    l = path_step(tree, fwd);
    if (l == 0) break;
    const n = nitems(l);
    if (n == 0) continue;
    const e: u32 = fwd ? 0 : n - 1;
    const c = key_cmp(ik1(l, e), ik2(l, e), k1, k2);
    if (fwd ? c <= 0 : c >= 0) { bt_corrupt(); break; }
    cur_set(cur, path_blk(0), l);
    store<u32>(cur, e, 8);
    store<u64>(cur, ik1(l, e), C_K1);
    store<u64>(cur, ik2(l, e), C_K2);
    found = true;
    break;
  }
  leave();
  return found;
}

/** Moves to the next key. False at the end or on error (bt_errno). */
export function bt_next(cur: usize): bool {
  const leaf = cur_leaf(cur);
  const i = load<u32>(cur, 8) + 1;
  if (i < nitems(leaf)) { store<u32>(cur, i, 8); return true; }
  return step_leaf(cur, true);
}

/** Moves to the previous key. False at the start or on error (bt_errno). */
export function bt_prev(cur: usize): bool {
  const leaf = cur_leaf(cur);
  const i = load<u32>(cur, 8);
  if (i > 0 && i <= nitems(leaf)) { store<u32>(cur, i - 1, 8); return true; }
  return step_leaf(cur, false);
}

/** The cursor's key, value address and value length (the leaf is read from the cache). */
export function cur_k1(cur: usize): u64 { return ik1(cur_leaf(cur), load<u32>(cur, 8)); }
export function cur_k2(cur: usize): u64 { return ik2(cur_leaf(cur), load<u32>(cur, 8)); }
export function cur_val(cur: usize): usize { return ival(cur_leaf(cur), load<u32>(cur, 8)); }
export function cur_vlen(cur: usize): u32 { return ivlen(cur_leaf(cur), load<u32>(cur, 8)); }

export { CAPACITY as BT_CAPACITY, MIN_FILL as BT_MIN_FILL };
