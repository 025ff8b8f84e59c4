// btree.spec.ts -- the generic B+ tree (fs/btree.ts) against a sorted-array model.
//
// The tree under test is TREE_EXTENT of a small mounted filesystem (fsfixture.ts: mkfs + mount
// on the in-memory virtio-blk device), driven only through the public bt_* API. The model is a
// sorted array in raw memory of (k2, value seed, value length) for one fixed k1; value bytes are
// regenerated from the seed, so every value is checked byte for byte. Sentinel records at
// k1 - 1 and k1 + 1 check that scans stop at the k1 boundary.
//
// Trace A: 240,000 seeded random inserts/deletes/updates, values of 0..VALUE_MAX (1300) bytes
// (a third of them 1000..1300, which force splits), in phases that grow the tree to a few
// thousand records and then drain it to empty (merges, borrows, root collapse). Every op's
// result is compared with the model (0 / EEXIST / ENOENT, the value read back); every
// CHECK_EVERY ops: every present key is looked up, absent keys miss, full forward and backward
// scans (bt_seek ge/le + bt_next/bt_prev) equal the model, random seeks land where the model
// says, and a structural walk checks levels, key order and parent bounds, bt_node_verify (the
// read-time check accepts every node the code makes), every node's tid equal to its
// pointer's generation and no child newer than its parent, no sibling links, leaf value packing (no overlap, vused, vend), the fill of internal nodes, that no node
// is referenced twice or lies in free space, that no non-root leaf is empty, and that the height
// is sane for the leaf count. Each drained phase ends with fsck_run(false) == 0 (the synthetic
// records are gone then, and every freed node must be back in free space).
// Leaves below MIN_FILL are counted and logged, not failed: btree.ts does not guarantee the
// fill its header states (bt_update shrinks values without rebalancing, a merge of two small
// siblings stays small, and a borrow between leaves holding large values can leave the left
// one at ~total/2 - VALUE_MAX bytes), so only "never empty" is asserted for leaves.
//
// Trace C (copy-on-write): a snapshot (fs/snapshot.ts) freezes the tree; 20,000 more random
// ops change the live tree, which must shadow every node the snapshot shares: the frozen root
// still reads back the model copied at the snapshot, byte for byte, through generation-checked
// reads, while the live tree equals the live model. Deleting the snapshot and letting the
// background work finish frees exactly what only it held: fsck finds no leak, no double use.
//
// Trace B: records shaped like real extents (a run of 1..4 blocks from balloc, then one
// random checksum per block, as format.ts lays them out) of a real file, so fsck_run(false) == 0 holds after every
// commit while the tree splits and merges; the model scan is checked at the same points.

import {
  bt_insert, bt_delete, bt_update, bt_lookup, bt_seek, bt_next, bt_prev, bt_height, bt_root,
  bt_errno, bt_vlen, cur_k1, cur_k2, cur_val, cur_vlen, nitems, nlevel, ik1, ik2, ichild,
  ival, ivlen, VALUE_MAX, CURSOR_SIZE, N_TREE, N_NEXT, N_PREV, N_VEND, N_VUSED, N_ITEMS,
  BT_CAPACITY, BT_MIN_FILL, HEIGHT_MAX, bt_stat_splits, bt_stat_merges, bt_node_verify, NV_OK,
  igen, node_tid, bt_root_gen, bt_stat_shadows,
} from "../fs/btree";
import { TREE_EXTENT, TREE_BNO, MAGIC_BTREE, HDR_BLOCKNR, EXT_DISK, EXT_LEN, EXT_FLAGS, EXT_BIRTH, EXT_CSUM, ext_vlen } from "../fs/format";
import { bread } from "../fs/pagecache";
import { fs_commit, fs_balance } from "../fs/super";
import { fsck_run } from "../fs/fsck";
import {
  balloc, bfree_deferred, total_blocks, alloc_deferred_count, alloc_deferred_start, alloc_deferred_len,
} from "../fs/alloc";
import { inode_get_mut, I_BLOCKS } from "../fs/inode";
import { EEXIST, ENOENT } from "../lib/errno";
import { snap_create, snap_delete, snap_work, snap_dead_blocks, snap_count } from "../fs/snapshot";
import { read_node } from "../fs/btree";
import { fs_fresh, rng_seed, rnd, rnd64, make_extent_file } from "./fsfixture";

const K1: u64 = 7;
const U64_MAX: u64 = 0xffff_ffff_ffff_ffff;
/** Distinct keys a trace draws from (the tree holds at most this many). */
const KEYSPACE: u32 = 6000;
const CHECK_EVERY: u32 = 4000;
const DEVICE_BLOCKS: u32 = 32768; // 128 MiB: journal of 512 blocks

// ---- model: sorted array of 16-byte entries | k2 u64 | seed u32 | vlen u32 | ------------------
const MODEL_MAX: u32 = KEYSPACE + 16;
const MODEL: usize = heap.alloc(<usize>MODEL_MAX * 16);
let mcount: u32 = 0;
@inline function m_k2(i: u32): u64 { return load<u64>(MODEL + (<usize>i << 4)); }
@inline function m_seed(i: u32): u32 { return load<u32>(MODEL + (<usize>i << 4), 8); }
@inline function m_vlen(i: u32): u32 { return load<u32>(MODEL + (<usize>i << 4), 12); }
/** First model index with k2 >= key. */
function m_lower(key: u64): u32 {
  let lo: u32 = 0, hi = mcount;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (m_k2(mid) < key) lo = mid + 1; else hi = mid;
  }
  return lo;
}
function m_find(key: u64): i32 {
  const i = m_lower(key);
  return i < mcount && m_k2(i) == key ? <i32>i : -1;
}
function m_insert(key: u64, seed: u32, vlen: u32): void {
  const i = m_lower(key);
  const p = MODEL + (<usize>i << 4);
  memory.copy(p + 16, p, <usize>(mcount - i) << 4);
  store<u64>(p, key);
  store<u32>(p, seed, 8);
  store<u32>(p, vlen, 12);
  mcount++;
}
function m_remove(i: u32): void {
  const p = MODEL + (<usize>i << 4);
  memory.copy(p, p + 16, <usize>(mcount - i - 1) << 4);
  mcount--;
}

// ---- keys and values --------------------------------------------------------------------------
/** Key of pool slot i: 0 and U64_MAX included, the rest spread over all 64 bits. */
function pool_key(i: u32): u64 {
  if (i == 0) return 0;
  if (i == 1) return U64_MAX;
  if (i < 40) return <u64>i; // a dense run of small keys
  let z = <u64>i * 0x9e3779b97f4a7c15;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}
const VBUF: usize = heap.alloc(VALUE_MAX + 64);
const VBUF2: usize = heap.alloc(VALUE_MAX + 64);
/** Fills `len` bytes at `p` from `seed` (the model's value). */
function gen_value(p: usize, seed: u32, len: u32): void {
  let x = seed | 1;
  for (let i: u32 = 0; i < len; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    store<u8>(p + i, <u8>x);
  }
}
function rnd_vlen(): u32 {
  const r = rnd(10);
  if (r < 3) return rnd(41);
  if (r < 6) return 1000 + rnd(VALUE_MAX - 1000 + 1);
  return rnd(VALUE_MAX + 1);
}
/** True when the `len` bytes at `p` are the model value (seed, len). */
function value_is(p: usize, seed: u32, len: u32): bool {
  gen_value(VBUF2, seed, len);
  return memory.compare(p, VBUF2, len) == 0;
}

function fail(what: string, a: u64, b: u64): void {
  log<string>("btree.spec: " + what + " (" + a.toString() + ", " + b.toString() + ")");
  assert(false, what);
}

// ---- structural walk --------------------------------------------------------------------------
const SEEN: usize = heap.alloc(DEVICE_BLOCKS); // node blocks met in this walk
const WCUR: usize = memory.data(CURSOR_SIZE);
const BYTEMAP: usize = heap.alloc(4096);
let w_prev_leaf: u64 = 0;
let w_leaves: u32 = 0;
let w_nodes: u32 = 0;
let w_items: u32 = 0;
let w_underfull: u32 = 0;
let w_min_leaf_fill: u32 = 0;
let w_first_leaf: u64 = 0;
let w_last_leaf: u64 = 0;

function leaf_used(n: usize): u32 { return nitems(n) * 20 + <u32>load<u16>(n, N_VUSED); }

function walk(tree: u32, blk: u64, gen: u64, level: u32, isRoot: bool, lo1: u64, lo2: u64, hasLo: bool, hi1: u64, hi2: u64, hasHi: bool): void {
  if (blk == 0 || blk >= <u64>DEVICE_BLOCKS) fail("child pointer outside the device", blk, level);
  if (load<u8>(SEEN + <usize>blk) != 0) fail("node referenced twice", blk, level);
  store<u8>(SEEN + <usize>blk, 1);
  // a node must not lie in free space
  if (bt_seek(WCUR, TREE_BNO, blk, 0, false)) {
    const s = cur_k1(WCUR);
    const l = load<u64>(cur_val(WCUR));
    if (s <= blk && blk < s + l) fail("tree node inside a free extent", blk, s);
  }
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) fail("unreadable node", blk, level);
  w_nodes++;
  if (load<u64>(n, HDR_BLOCKNR) != blk) fail("node header blocknr", blk, load<u64>(n, HDR_BLOCKNR));
  if (<u32>load<u8>(n, N_TREE) != tree) fail("node of another tree", blk, load<u8>(n, N_TREE));
  if (nlevel(n) != level) fail("node at the wrong level", blk, nlevel(n));
  // the pointer's generation is the node's tid (copy-on-write keeps them paired)
  if (node_tid(n) != gen) fail("node tid differs from its pointer's generation", blk, node_tid(n));
  if (load<u64>(n, N_NEXT) != 0 || load<u64>(n, N_PREV) != 0) fail("sibling link set", blk, level);
  // every node the tree code produces passes the read-time verifier (no false EUCLEAN after
  // eviction and a re-read)
  const nv = bt_node_verify(n, blk);
  if (nv != NV_OK) fail("node fails bt_node_verify", blk, nv);
  const k = nitems(n);
  for (let i: u32 = 0; i < k; i++) {
    const a1 = ik1(n, i), a2 = ik2(n, i);
    // internal key[0] is not a bound and is never compared (btree.ts rules)
    if (i > 0 && !(level > 0 && i == 1)) {
      const p1 = ik1(n, i - 1), p2 = ik2(n, i - 1);
      if (p1 > a1 || (p1 == a1 && p2 >= a2)) fail("keys not strictly increasing", blk, i);
    }
    // every key but internal key[0] lies in [lo, hi)
    if (hasLo && !(i == 0 && level > 0) && (a1 < lo1 || (a1 == lo1 && a2 < lo2))) fail("key below its separator", blk, i);
    if (hasHi && (a1 > hi1 || (a1 == hi1 && a2 >= hi2))) fail("key at or above the next separator", blk, i);
  }
  if (level == 0) {
    // leaf: values packed in [vend, 4096), disjoint, vused = their sum
    const vend = <u32>load<u16>(n, N_VEND);
    if (<usize>vend < N_ITEMS + <usize>k * 20 || vend > BLOCK_SIZE_U) fail("leaf vend out of range", blk, vend);
    memory.fill(BYTEMAP, 0, 4096);
    let sum: u32 = 0;
    for (let i: u32 = 0; i < k; i++) {
      const off = <u32>(ival(n, i) - n);
      const len = ivlen(n, i);
      if (len > VALUE_MAX) fail("value longer than VALUE_MAX", blk, len);
      // (an empty value's offset is meaningless: vend may have moved past it)
      if (len > 0 && (off < vend || off + len > BLOCK_SIZE_U)) fail("value outside [vend, 4096)", blk, off);
      for (let b = off; b < off + len; b++) {
        if (load<u8>(BYTEMAP + b) != 0) fail("values overlap", blk, i);
        store<u8>(BYTEMAP + b, 1);
      }
      sum += len;
    }
    if (sum != <u32>load<u16>(n, N_VUSED)) fail("vused differs from the values' sum", blk, sum);
    if (leaf_used(n) > BT_CAPACITY) fail("leaf over capacity", blk, leaf_used(n));
    if (!isRoot) {
      if (k == 0) fail("empty non-root leaf", blk, 0);
      const used = leaf_used(n);
      if (used < BT_MIN_FILL) w_underfull++;
      if (used < w_min_leaf_fill) w_min_leaf_fill = used;
    }
    if (w_prev_leaf == 0) w_first_leaf = blk;
    w_prev_leaf = blk;
    w_last_leaf = blk;
    w_leaves++;
    w_items += k;
    return;
  }
  if (k == 0) fail("empty internal node", blk, level);
  if (isRoot && k < 2) fail("internal root with one child", blk, k);
  if (!isRoot && k * 32 < BT_MIN_FILL) fail("internal node under MIN_FILL", blk, k);
  for (let i: u32 = 0; i < k; i++) {
    const last = i + 1 == k;
    const c1 = i == 0 ? lo1 : ik1(n, i);
    const c2 = i == 0 ? lo2 : ik2(n, i);
    if (igen(n, i) > node_tid(n)) fail("child generation newer than its parent", blk, i);
    walk(tree, ichild(n, i), igen(n, i), level - 1, false, c1, c2, i == 0 ? hasLo : true,
      last ? hi1 : ik1(n, i + 1), last ? hi2 : ik2(n, i + 1), last ? hasHi : true);
    // walk may evict nothing (no reclaim inside), but re-read the parent to stay safe
  }
}
const BLOCK_SIZE_U: u32 = 4096;

/** Walks `tree` and returns its record count; checks everything listed in the header. */
function verify_tree(tree: u32): u32 {
  memory.fill(SEEN, 0, DEVICE_BLOCKS);
  w_prev_leaf = 0; w_leaves = 0; w_nodes = 0; w_items = 0; w_underfull = 0;
  w_min_leaf_fill = 0xffff_ffff; w_first_leaf = 0; w_last_leaf = 0;
  const h = bt_height(tree);
  if (h < 1 || h > HEIGHT_MAX) fail("bad height", h, 0);
  walk(tree, bt_root(tree), bt_root_gen(tree), h - 1, true, 0, 0, false, 0, 0, false);
  // height sane: a single leaf iff height 1; internal non-root nodes have >= MIN_FILL/32
  // children and the root >= 2, so leaves >= 2 * (MIN_FILL/32)^(h-2)
  if ((h == 1) != (w_leaves == 1)) fail("height vs leaf count", h, w_leaves);
  if (h >= 2) {
    let least: u64 = 2;
    for (let l: u32 = 2; l < h; l++) least *= <u64>(BT_MIN_FILL / 32);
    if (<u64>w_leaves < least) fail("tree taller than its leaves allow", h, w_leaves);
  }
  return w_items;
}

// ---- full comparison with the model -----------------------------------------------------------
const CUR: usize = memory.data(CURSOR_SIZE);

function check_cursor_at(i: u32, what: string): void {
  if (cur_k1(CUR) != K1 || cur_k2(CUR) != m_k2(i)) fail(what + ": key", cur_k2(CUR), m_k2(i));
  if (cur_vlen(CUR) != m_vlen(i)) fail(what + ": value length", cur_vlen(CUR), m_vlen(i));
  if (!value_is(cur_val(CUR), m_seed(i), m_vlen(i))) fail(what + ": value bytes", m_k2(i), 0);
}

function check_all(sentinels: bool): void {
  const extra: u32 = sentinels ? 2 : 0;
  const items = verify_tree(TREE_EXTENT);
  if (items != mcount + extra) fail("records in the tree", items, mcount + extra);
  // every present key
  for (let i: u32 = 0; i < mcount; i++) {
    const v = bt_lookup(TREE_EXTENT, K1, m_k2(i));
    if (v == 0) fail("present key not found", m_k2(i), i);
    if (bt_vlen != m_vlen(i) || !value_is(v, m_seed(i), m_vlen(i))) fail("lookup value", m_k2(i), bt_vlen);
  }
  // absent keys: pool keys not in the model, and random ones
  for (let j: u32 = 0; j < 300; j++) {
    const key = j & 1 ? rnd64() : pool_key(rnd(KEYSPACE));
    if (m_find(key) >= 0) continue;
    if (bt_lookup(TREE_EXTENT, K1, key) != 0 || bt_errno != 0) fail("absent key found", key, bt_errno);
  }
  // forward scan
  let ok = bt_seek(CUR, TREE_EXTENT, K1, 0, true);
  for (let i: u32 = 0; i < mcount; i++) {
    if (!ok) fail("forward scan ended early", i, mcount);
    check_cursor_at(i, "forward scan");
    ok = bt_next(CUR);
  }
  if (sentinels) {
    if (!ok || cur_k1(CUR) != K1 + 1 || cur_k2(CUR) != 0) fail("forward scan did not stop at k1 + 1", cur_k1(CUR), cur_k2(CUR));
    if (bt_next(CUR)) fail("record after the upper sentinel", cur_k1(CUR), cur_k2(CUR));
  } else if (ok) fail("forward scan went on", cur_k1(CUR), cur_k2(CUR));
  // backward scan
  ok = bt_seek(CUR, TREE_EXTENT, K1, U64_MAX, false);
  for (let i = <i32>mcount - 1; i >= 0; i--) {
    if (!ok) fail("backward scan ended early", i, mcount);
    check_cursor_at(<u32>i, "backward scan");
    ok = bt_prev(CUR);
  }
  if (sentinels) {
    if (!ok || cur_k1(CUR) != K1 - 1 || cur_k2(CUR) != U64_MAX) fail("backward scan did not stop at k1 - 1", cur_k1(CUR), cur_k2(CUR));
    if (bt_prev(CUR)) fail("record before the lower sentinel", cur_k1(CUR), cur_k2(CUR));
  } else if (ok) fail("backward scan went on", cur_k1(CUR), cur_k2(CUR));
  // random seeks, ge and le, with a few steps each way
  for (let j: u32 = 0; j < 200; j++) {
    const r = rnd(4);
    const key = r == 0 ? rnd64() : r == 1 ? pool_key(rnd(KEYSPACE)) : r == 2 && mcount > 0 ? m_k2(rnd(mcount)) : (mcount > 0 ? m_k2(rnd(mcount)) + 1 : 5);
    const lo = m_lower(key);
    // ge: model index lo
    ok = bt_seek(CUR, TREE_EXTENT, K1, key, true);
    if (lo < mcount) {
      if (!ok) fail("seek ge found nothing", key, lo);
      check_cursor_at(lo, "seek ge");
      for (let s: u32 = 1; s <= 3 && lo + s < mcount; s++) {
        if (!bt_next(CUR)) fail("next after seek ge", key, s);
        check_cursor_at(lo + s, "next after seek ge");
      }
    } else if (sentinels && (!ok || cur_k1(CUR) != K1 + 1)) fail("seek ge past the end", key, cur_k1(CUR));
    // le: the key itself if present, else model index lo - 1
    const hit = lo < mcount && m_k2(lo) == key;
    const le: i32 = hit ? <i32>lo : <i32>lo - 1;
    ok = bt_seek(CUR, TREE_EXTENT, K1, key, false);
    if (le >= 0) {
      if (!ok) fail("seek le found nothing", key, le);
      check_cursor_at(<u32>le, "seek le");
      for (let s: i32 = 1; s <= 3 && le - s >= 0; s++) {
        if (!bt_prev(CUR)) fail("prev after seek le", key, s);
        check_cursor_at(<u32>(le - s), "prev after seek le");
      }
    } else if (sentinels && (!ok || cur_k1(CUR) != K1 - 1)) fail("seek le before the start", key, cur_k1(CUR));
  }
}

/** Deleted-from leaves that survived under MIN_FILL (the rule in btree.ts says none). */
let underfull_after_delete: u32 = 0;
let least_after_delete: u32 = 0xffff_ffff;

/** The leaf a delete removed a key from keeps MIN_FILL bytes, unless merged away or the root. */
function check_fill_after_delete(leaf: u64, key: u64): void {
  if (leaf == 0 || leaf == bt_root(TREE_EXTENT)) return;
  for (let i: u32 = 0; i < alloc_deferred_count(); i++) {
    const s = alloc_deferred_start(i);
    if (s <= leaf && leaf < s + alloc_deferred_len(i)) return; // merged into its sibling and freed
  }
  const n = bread(leaf, MAGIC_BTREE);
  if (n == 0 || nlevel(n) != 0 || <u32>load<u8>(n, N_TREE) != TREE_EXTENT) return;
  const used = leaf_used(n);
  if (used < BT_MIN_FILL) {
    underfull_after_delete++;
    if (used < least_after_delete) least_after_delete = used;
  }
}

// ---- trace A ----------------------------------------------------------------------------------

let checks: u32 = 0;
let fscks: u32 = 0;
let max_height: u32 = 0;
let max_records: u32 = 0;
let underfull_seen: u32 = 0;
let min_leaf_fill: u32 = 0xffff_ffff;
let n_eexist: u32 = 0, n_enoent: u32 = 0, n_ins: u32 = 0, n_del: u32 = 0, n_upd: u32 = 0;

function insert_sentinels(): void {
  store<u64>(VBUF, 0x1111);
  assert(bt_insert(TREE_EXTENT, K1 - 1, U64_MAX, VBUF, 8) == 0, "sentinel below");
  assert(bt_insert(TREE_EXTENT, K1 + 1, 0, VBUF, 8) == 0, "sentinel above");
}
function delete_sentinels(): void {
  assert(bt_delete(TREE_EXTENT, K1 - 1, U64_MAX) == 0, "sentinel below");
  assert(bt_delete(TREE_EXTENT, K1 + 1, 0) == 0, "sentinel above");
}

function one_op(op: u32, phase: u32): void {
  // phase 0 grows, 1 mixes, 2 drains
  const r = rnd(100);
  const insP: u32 = phase == 0 ? 65 : phase == 1 ? 40 : 12;
  const delP: u32 = phase == 0 ? 15 : phase == 1 ? 40 : 75;
  if (r < insP) {
    const key = pool_key(rnd(KEYSPACE));
    const seed = <u32>rnd64() | 1;
    const len = rnd_vlen();
    gen_value(VBUF, seed, len);
    const res = bt_insert(TREE_EXTENT, K1, key, VBUF, len);
    const at = m_find(key);
    if (at >= 0) {
      if (res != -EEXIST) fail("insert of a present key", key, <u64>res);
      n_eexist++;
    } else {
      if (res != 0) fail("insert failed", key, <u64>res);
      m_insert(key, seed, len);
      n_ins++;
      const v = bt_lookup(TREE_EXTENT, K1, key);
      if (v == 0 || bt_vlen != len || !value_is(v, seed, len)) fail("value after insert", key, op);
    }
  } else if (r < insP + delP) {
    const key = mcount > 0 && rnd(10) < 8 ? m_k2(rnd(mcount)) : pool_key(rnd(KEYSPACE));
    const leafBefore: u64 = bt_seek(CUR, TREE_EXTENT, K1, key, true) ? load<u64>(CUR) : 0;
    const res = bt_delete(TREE_EXTENT, K1, key);
    const at = m_find(key);
    if (at < 0) {
      if (res != -ENOENT) fail("delete of an absent key", key, <u64>res);
      n_enoent++;
    } else {
      if (res != 0) fail("delete failed", key, <u64>res);
      m_remove(<u32>at);
      n_del++;
      if (bt_lookup(TREE_EXTENT, K1, key) != 0) fail("key found after delete", key, op);
      check_fill_after_delete(leafBefore, key);
    }
  } else {
    const key = mcount > 0 && rnd(10) < 9 ? m_k2(rnd(mcount)) : pool_key(rnd(KEYSPACE));
    const seed = <u32>rnd64() | 1;
    const len = rnd(4) == 0 ? (m_find(key) >= 0 ? m_vlen(<u32>m_find(key)) : 0) : rnd_vlen(); // same length too
    gen_value(VBUF, seed, len);
    const res = bt_update(TREE_EXTENT, K1, key, VBUF, len);
    const at = m_find(key);
    if (at < 0) {
      if (res != -ENOENT) fail("update of an absent key", key, <u64>res);
      n_enoent++;
    } else {
      if (res != 0) fail("update failed", key, <u64>res);
      store<u32>(MODEL + (<usize>at << 4), seed, 8);
      store<u32>(MODEL + (<usize>at << 4), len, 12);
      n_upd++;
      const v = bt_lookup(TREE_EXTENT, K1, key);
      if (v == 0 || bt_vlen != len || !value_is(v, seed, len)) fail("value after update", key, op);
    }
  }
}

function note_walk(): void {
  checks++;
  const h = bt_height(TREE_EXTENT);
  if (h > max_height) max_height = h;
  if (mcount > max_records) max_records = mcount;
  underfull_seen += w_underfull;
  if (w_min_leaf_fill < min_leaf_fill) min_leaf_fill = w_min_leaf_fill;
}

describe("btree: sorted-array model", () => {
  it("starts from an empty TREE_EXTENT on a fresh filesystem", () => {
    fs_fresh(DEVICE_BLOCKS);
    expect<u32>(bt_height(TREE_EXTENT)).toBe(1);
    expect<u32>(verify_tree(TREE_EXTENT)).toBe(0);
    expect<i32>(fsck_run(false)).toBe(0);
  });

  it("edge cases: empty values, VALUE_MAX values, duplicate keys, absent keys, in-place update", () => {
    rng_seed(1);
    gen_value(VBUF, 5, VALUE_MAX);
    expect<i32>(bt_insert(TREE_EXTENT, K1, 1, VBUF, 0)).toBe(0);
    expect<i32>(bt_insert(TREE_EXTENT, K1, 1, VBUF, 3)).toBe(-EEXIST);
    expect<i32>(bt_insert(TREE_EXTENT, K1, 2, VBUF, VALUE_MAX)).toBe(0);
    expect<i32>(bt_delete(TREE_EXTENT, K1, 3)).toBe(-ENOENT);
    expect<i32>(bt_update(TREE_EXTENT, K1, 3, VBUF, 1)).toBe(-ENOENT);
    let v = bt_lookup(TREE_EXTENT, K1, 1);
    expect<bool>(v != 0).toBe(true, "empty value is found");
    expect<u32>(bt_vlen).toBe(0);
    v = bt_lookup(TREE_EXTENT, K1, 2);
    expect<u32>(bt_vlen).toBe(VALUE_MAX);
    expect<bool>(value_is(v, 5, VALUE_MAX)).toBe(true);
    // update a value from the leaf itself (the tree copies it aside first)
    expect<i32>(bt_update(TREE_EXTENT, K1, 1, v + 100, 700)).toBe(0);
    gen_value(VBUF2, 5, VALUE_MAX);
    v = bt_lookup(TREE_EXTENT, K1, 1);
    expect<u32>(bt_vlen).toBe(700);
    expect<i32>(memory.compare(v, VBUF2 + 100, 700)).toBe(0);
    // three VALUE_MAX values do not fit one leaf: the second insert splits
    const splits = bt_stat_splits;
    expect<i32>(bt_insert(TREE_EXTENT, K1, 0, VBUF, VALUE_MAX)).toBe(0);
    expect<i32>(bt_insert(TREE_EXTENT, K1, U64_MAX, VBUF, VALUE_MAX)).toBe(0);
    expect<bool>(bt_stat_splits > splits).toBe(true, "a split happened");
    expect<u32>(bt_height(TREE_EXTENT)).toBe(2);
    expect<u32>(verify_tree(TREE_EXTENT)).toBe(4);
    for (let k: u64 = 0; k < 3; k++) expect<i32>(bt_delete(TREE_EXTENT, K1, k)).toBe(0);
    expect<i32>(bt_delete(TREE_EXTENT, K1, U64_MAX)).toBe(0);
    expect<u32>(bt_height(TREE_EXTENT)).toBe(1, "root collapsed");
    expect<u32>(verify_tree(TREE_EXTENT)).toBe(0);
    expect<i32>(fs_commit()).toBe(0);
    expect<i32>(fsck_run(false)).toBe(0);
  });

  it("240,000 random inserts/deletes/updates (values 0..1300 bytes) equal the model", () => {
    rng_seed(0x5eed_b7ee);
    mcount = 0;
    insert_sentinels();
    const OPS: u32 = 240000;
    let phase: u32 = 0;
    let target: u32 = 2500 + rnd(2500);
    let phaseLeft: u32 = 0;
    let drains: u32 = 0;
    const merges0 = bt_stat_merges, splits0 = bt_stat_splits;
    for (let op: u32 = 1; op <= OPS; op++) {
      one_op(op, phase);
      if (phase == 0 && mcount >= target) { phase = 1; phaseLeft = 5000 + rnd(10000); }
      else if (phase == 1 && --phaseLeft == 0) phase = 2;
      else if (phase == 2 && mcount == 0) {
        // drained: the tree is back to one leaf holding the sentinels; fsck sees no leak
        check_all(true);
        note_walk();
        expect<u32>(bt_height(TREE_EXTENT)).toBe(1, "drained tree collapses to one leaf");
        delete_sentinels();
        expect<i32>(fs_commit()).toBe(0);
        expect<i32>(fsck_run(false)).toBe(0);
        fscks++;
        insert_sentinels();
        drains++;
        phase = 0;
        target = 1000 + rnd(4500);
      }
      const b = fs_balance(); // syscall boundary: commits under journal pressure, reclaims
      if (b != 0) fail("fs_balance", <u64>b, op);
      if (op % 3000 == 0) expect<i32>(fs_commit()).toBe(0);
      if (op % CHECK_EVERY == 0) { check_all(true); note_walk(); }
    }
    // drain what is left, then everything must be as after mkfs again
    while (mcount > 0) {
      expect<i32>(bt_delete(TREE_EXTENT, K1, m_k2(mcount - 1))).toBe(0);
      mcount--;
      fs_balance();
    }
    check_all(true);
    delete_sentinels();
    expect<u32>(bt_height(TREE_EXTENT)).toBe(1);
    expect<i32>(fs_commit()).toBe(0);
    expect<i32>(fsck_run(false)).toBe(0);
    log<string>("trace A: " + OPS.toString() + " ops: " + n_ins.toString() + " inserts, " + n_del.toString() +
      " deletes, " + n_upd.toString() + " updates, " + n_eexist.toString() + " EEXIST, " + n_enoent.toString() +
      " ENOENT; " + checks.toString() + " full checks, " + drains.toString() + " drains to empty with fsck; max " +
      max_records.toString() + " records, max height " + max_height.toString() + "; splits " +
      (bt_stat_splits - splits0).toString() + ", merges " + (bt_stat_merges - merges0).toString() +
      "; non-root leaves under MIN_FILL seen at checks: " + underfull_seen.toString() + ", least leaf fill " +
      min_leaf_fill.toString() + " of " + BT_CAPACITY.toString() + " bytes; leaves left under MIN_FILL by a delete: " +
      underfull_after_delete.toString() + " (least " + least_after_delete.toString() + ")");
    expect<u32>(drains).toBeGreaterThanOrEqual(3, "several grow/drain phases");
    expect<u32>(max_height).toBeGreaterThanOrEqual(3, "trace reached height 3");
  });
});

// ---- trace B: extent-shaped records, fsck after every commit ----------------------------------

// model entry reuse: k2 = slot, seed, vlen; the first disk block is kept in DISK[slot]. Slot
// s maps file blocks [s * B_RUN_MAX, ...) so runs never overlap in the file.
const FB_SPACE: u32 = 3000;
const B_RUN_MAX: u32 = 4;
function b_run(vlen: u32): u32 { return (vlen - <u32>EXT_CSUM) >> 2; }
const DISK: usize = heap.alloc(<usize>FB_SPACE * 8);

/** An extent record of `run` blocks from `disk` with random checksums drawn from `seed`. */
function ext_value(p: usize, disk: u64, seed: u32, run: u32): void {
  gen_value(p, seed, ext_vlen(run));
  store<u64>(p, disk, EXT_DISK);
  store<u32>(p, run, EXT_LEN);
  store<u32>(p, 0, EXT_FLAGS);
  store<u64>(p, 1, EXT_BIRTH); // born before any leaf holding it (fsck's [extent-birth])
}

let b_blocks: u64 = 0;

function trace_b_op(ino: u64, op: u32): void {
  const r = rnd(100);
  const growing = (op / 5000) % 2 == 0;
  const fb = <u64>rnd(FB_SPACE);
  const at = m_find(fb);
  const insLimit: u32 = growing ? 60 : 25;
  if (r < insLimit) {
    if (at >= 0) return;
    const run = 1 + rnd(B_RUN_MAX);
    const disk = balloc(0, run, run);
    if (disk == 0) fail("balloc", op, 0);
    const seed = <u32>rnd64() | 1;
    ext_value(VBUF, disk, seed, run);
    if (bt_insert(TREE_EXTENT, ino, fb * B_RUN_MAX, VBUF, ext_vlen(run)) != 0) fail("insert", fb, op);
    store<u64>(DISK + (<usize>fb << 3), disk);
    m_insert(fb, seed, ext_vlen(run));
    b_blocks += run;
  } else if (r < 80) {
    if (at < 0) return;
    const run = b_run(m_vlen(<u32>at));
    if (bt_delete(TREE_EXTENT, ino, fb * B_RUN_MAX) != 0) fail("delete", fb, op);
    if (bfree_deferred(load<u64>(DISK + (<usize>fb << 3)), run) != 0) fail("bfree_deferred", fb, op);
    m_remove(<u32>at);
    b_blocks -= run;
  } else {
    if (at < 0) return;
    // new checksums for the same blocks (a rewrite in place of the record)
    const seed = <u32>rnd64() | 1;
    const run = b_run(m_vlen(<u32>at));
    ext_value(VBUF, load<u64>(DISK + (<usize>fb << 3)), seed, run);
    if (bt_update(TREE_EXTENT, ino, fb * B_RUN_MAX, VBUF, ext_vlen(run)) != 0) fail("update", fb, op);
    store<u32>(MODEL + (<usize>at << 4), seed, 8);
  }
}

describe("btree: extent-shaped records of a real file", () => {
  it("30,000 random ops keep fsck_run(false) == 0 after every commit and equal the model", () => {
    rng_seed(0xb0b);
    mcount = 0;
    const ino = make_extent_file(1);
    b_blocks = 0;
    const OPS: u32 = 30000;
    let commits: u32 = 0;
    for (let op: u32 = 1; op <= OPS; op++) {
      trace_b_op(ino, op);
      const rec = inode_get_mut(ino);
      store<u64>(rec, b_blocks, I_BLOCKS);
      if (op % 1000 == 0) {
        expect<i32>(fs_commit()).toBe(0);
        commits++;
        const p = fsck_run(false);
        if (p != 0) { fsck_run(true); fail("fsck after commit", <u64>p, op); }
        // scan the file's records against the model
        let ok = bt_seek(CUR, TREE_EXTENT, ino, 0, true);
        for (let i: u32 = 0; i < mcount; i++) {
          if (!ok || cur_k1(CUR) != ino || cur_k2(CUR) != m_k2(i) * B_RUN_MAX || cur_vlen(CUR) != m_vlen(i)) fail("scan of the file's records", i, op);
          ext_value(VBUF2, load<u64>(DISK + (<usize>m_k2(i) << 3)), m_seed(i), b_run(m_vlen(i)));
          if (memory.compare(cur_val(CUR), VBUF2, m_vlen(i)) != 0) fail("record bytes", i, op);
          ok = bt_next(CUR);
        }
        if (ok && cur_k1(CUR) == ino) fail("extra record in the file", cur_k2(CUR), op);
        verify_tree(TREE_EXTENT);
      } else {
        fs_balance();
      }
    }
    log<string>("trace B: " + OPS.toString() + " ops, " + commits.toString() + " commits with fsck, " +
      mcount.toString() + " records at the end, height " + bt_height(TREE_EXTENT).toString() +
      ", " + total_blocks.toString() + " blocks on the device");
    expect<u32>(commits).toBe(OPS / 1000);
  });
});

// ---- trace C: copy-on-write under a snapshot ---------------------------------------------------

const MODEL2: usize = heap.alloc(<usize>MODEL_MAX * 16);
let m2count: u32 = 0;
let frozen_at: u32 = 0;
const SNAP_NAME: usize = memory.data<u8>([115, 49]); // "s1"

/** Walks the frozen tree at `blk` in key order, comparing K1's records with MODEL2. */
function frozen_walk(blk: u64, gen: u64, level: u32): void {
  const n = read_node(blk, TREE_EXTENT, level, gen);
  if (n == 0) fail("frozen node unreadable (freed or overwritten?)", blk, level);
  const k = nitems(n);
  for (let i: u32 = 0; i < k; i++) {
    if (level > 0) {
      frozen_walk(ichild(n, i), igen(n, i), level - 1);
      continue;
    }
    if (ik1(n, i) != K1) continue; // sentinels
    if (frozen_at >= m2count) fail("frozen tree has more records than its model", ik2(n, i), frozen_at);
    const e = MODEL2 + (<usize>frozen_at << 4);
    if (ik2(n, i) != load<u64>(e)) fail("frozen key differs from its model", ik2(n, i), load<u64>(e));
    if (ivlen(n, i) != load<u32>(e, 12) || !value_is(ival(n, i), load<u32>(e, 8), ivlen(n, i))) fail("frozen value differs", ik2(n, i), 0);
    frozen_at++;
  }
}

describe("btree: copy-on-write under a snapshot", () => {
  it("the snapshot's tree reads back its frozen model while 20,000 ops change the live one; delete frees what only it held", () => {
    fs_fresh(DEVICE_BLOCKS);
    rng_seed(0xc0_7);
    mcount = 0;
    insert_sentinels();
    let op: u32 = 0;
    while (mcount < 3000) { one_op(++op, 0); fs_balance(); }
    expect<i32>(fs_commit()).toBe(0);
    memory.copy(MODEL2, MODEL, <usize>mcount << 4);
    m2count = mcount;
    expect<i64>(snap_create(SNAP_NAME, 2, false)).toBeGreaterThan(0);
    expect<i32>(fs_commit()).toBe(0);
    const root = bt_root(TREE_EXTENT), height = bt_height(TREE_EXTENT), gen = bt_root_gen(TREE_EXTENT);
    const shadows0 = bt_stat_shadows;
    for (let i: u32 = 0; i < 20000; i++) {
      one_op(++op, i < 12000 ? 1 : 2);
      fs_balance();
      if (i % 2500 == 0) { expect<i32>(fs_commit()).toBe(0); check_all(true); }
    }
    expect<i32>(fs_commit()).toBe(0);
    check_all(true);
    expect<bool>(bt_stat_shadows > shadows0).toBe(true, "shared nodes were shadowed");
    expect<bool>(snap_dead_blocks() > 0).toBe(true, "what the live tree stopped using is on the dead list");
    frozen_at = 0;
    frozen_walk(root, gen, height - 1);
    expect<u32>(frozen_at).toBe(m2count, "the frozen tree holds exactly its model");
    log<string>("trace C: " + (bt_stat_shadows - shadows0).toString() + " nodes shadowed, " + snap_dead_blocks().toString() +
      " blocks on the dead list, frozen tree of " + m2count.toString() + " records intact");
    // drain the live tree, delete the snapshot, let the background frees finish
    while (mcount > 0) {
      expect<i32>(bt_delete(TREE_EXTENT, K1, m_k2(mcount - 1))).toBe(0);
      mcount--;
      fs_balance();
    }
    delete_sentinels();
    expect<i32>(snap_delete(SNAP_NAME, 2)).toBe(0);
    expect<i32>(fs_commit()).toBe(0);
    for (let round = 0; round < 100000; round++) {
      const w = snap_work(64);
      expect<i64>(w).toBeGreaterThanOrEqual(0);
      expect<i32>(fs_commit()).toBe(0);
      if (w == 0) break;
    }
    expect<u32>(snap_count()).toBe(0, "the record is gone");
    expect<u64>(snap_dead_blocks()).toBe(0, "the dead list is empty");
    expect<i32>(fsck_run(false)).toBe(0);
  });
});
