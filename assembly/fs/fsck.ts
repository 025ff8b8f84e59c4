// fs/fsck.ts -- the filesystem checker: every structural invariant, read-only.
//
// Layer: beside the fs (it reads the trees through the buffer cache, changes nothing).
// Interface: fsck_run(verbose) -> number of problems found (0 = consistent), or -errno when
// it cannot run. Problems are printed (the first FSCK_REPORT_MAX) through printk.
//
// Checks:
//  1. every tree: node checksums and self-location (bread), tree id and level, keys strictly
//     increasing within nodes, inside the parent's bounds, all leaves at one depth, the leaf
//     chain (next/prev) visiting exactly the leaves in order;
//  2. space: superblock, backup, journal, tree nodes, AGFL, file extents and free extents
//     cover every block exactly once (no overlap, no leak); by-size and by-offset free trees
//     agree; free extents never touch; the superblock's free count is their sum;
//  3. inodes: a valid type; extents of existing inodes only, not overlapping, ending before
//     the size allows; the blocks count equals the extents' sum; inline data only when small;
//  4. names: every entry names a live inode of the entry's type and its name hashes to its
//     key; link counts (files: entries; directories: 2 + subdirectories); every directory
//     reachable from the root through its parent pointers; inodes with no name are orphans
//     listed in the orphan directory.

import { BLOCK_SIZE, PAGE_SIZE } from "../params";
import { NO_PFN, pfn_to_addr } from "../mm/page";
import { alloc_pages, free_pages } from "../mm/buddy";
import {
  MAGIC_SUPER, MAGIC_BTREE, SB_TOTAL_BLOCKS, SB_FREE_BLOCKS, SB_JOURNAL_START, SB_JOURNAL_BLOCKS,
  SB_AGFL_COUNT, SB_AGFL, SB_NEXT_INO, SB_INODE_COUNT, TREE_INODE, TREE_DIRENT, TREE_EXTENT, EXTENT_MAX, ext_vlen,
  TREE_BNO, TREE_CNT, TREE_COUNT, ROOT_INO, ORPHAN_DIR, AGFL_MAX, extent_verify, extent_why, EV_OK,
} from "./format";
import {
  bt_root, bt_height, bt_seek, bt_next, bt_lookup, cur_k1, cur_k2, cur_val, cur_vlen, nitems,
  nlevel, ik1, ik2, ichild, N_TREE, N_NEXT, N_PREV, CURSOR_SIZE, HEIGHT_MAX,
  bt_node_fault, bt_node_fault_clear, bt_node_why, NV_OK,
} from "./btree";
import { bread, buf_errno } from "./pagecache";
import {
  I_MODE, I_NLINK, I_SIZE, I_FLAGS, I_BLOCKS, I_PARENT, INODE_REC, INODE_INLINE, INLINE_MAX,
  S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_ISDIR, inode_verify, inode_why, IV_OK,
} from "./inode";
import { name_hash, DE_INO, DE_TYPE, DE_NAMELEN, DE_NAME, DT_DIR, DT_REG, DT_LNK, dirent_verify, dirent_why, DV_OK } from "./dir";
import { kputs, kputu, knl } from "../lib/printk";
import { alloc_deferred_count, alloc_deferred_start, alloc_deferred_len, free_extent_verify } from "./alloc";
import { ENOMEM, EIO } from "../lib/errno";

const FSCK_REPORT_MAX: u32 = 50;
/** Inodes fsck can track link counts for (4 bytes each). */
const FSCK_INODES_MAX: u64 = 1 << 24;

let problems: u32 = 0;
let verbose: bool = true;
let bitmap: usize = 0;
let bitmap_order: u32 = 0;
let total: u64 = 0;
let links: usize = 0; // u32 per ino: names pointing at it
let subdirs: usize = 0; // u32 per ino: subdirectories
let links_order: u32 = 0;
let max_ino: u64 = 0;

export let fsck_nodes: u64 = 0;
export let fsck_inodes: u64 = 0;
export let fsck_dirents: u64 = 0;
export let fsck_extents: u64 = 0;
export let fsck_free_extents: u64 = 0;
export let fsck_used_blocks: u64 = 0;

function problem(what: string, a: u64, b: u64): void {
  problems++;
  if (!verbose || problems > FSCK_REPORT_MAX) return;
  kputs("fsck: "); kputs(what); kputs(" ("); kputu(a); kputs(", "); kputu(b); kputs(")"); knl();
}

/** Marks [start, start + len) used; reports blocks already used or outside the disk. */
function mark(start: u64, len: u64, what: string): void {
  if (start + len > total || start + len < start) { problem(what, start, len); return; }
  for (let b = start; b < start + len; b++) {
    const p = bitmap + <usize>(b >> 3);
    const bit = <u8>(1 << <u8>(b & 7));
    const v = load<u8>(p);
    if (v & bit) { problem("block used twice", b, 0); continue; }
    store<u8>(p, v | bit);
  }
  fsck_used_blocks += len;
}

function order_for(bytes: u64): u32 {
  let o: u32 = 0;
  while ((<u64>PAGE_SIZE << o) < bytes) o++;
  return o;
}

// ---- tree walk -------------------------------------------------------------------------------

const STACK_MAX: u32 = HEIGHT_MAX;
let leaf_depth: i32 = -1;
let prev_leaf: u64 = 0;
let leaves: u64 = 0;
let last_k1: u64 = 0;
let last_k2: u64 = 0;
let have_last: bool = false;

/** Checks the subtree at `blk` (expected `level`) whose keys lie in [lo, hi). */
function walk(tree: u32, blk: u64, level: u32, lo1: u64, lo2: u64, hi1: u64, hi2: u64, hasHi: bool): void {
  bt_node_fault_clear();
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) { problem(buf_errno == -EIO ? "unreadable tree node" : bt_node_fault != NV_OK ? bt_node_why(bt_node_fault) : "corrupt tree node (checksum/location)", blk, tree); return; }
  fsck_nodes++;
  mark(blk, 1, "tree node outside the disk");
  if (load<u8>(n, N_TREE) != <u8>tree) { problem("node in the wrong tree", blk, tree); return; }
  if (nlevel(n) != level) { problem("node at the wrong level", blk, level); return; }
  const k = nitems(n);
  // keys strictly increasing and inside bounds
  for (let i: u32 = 0; i < k; i++) {
    const a1 = ik1(n, i), a2 = ik2(n, i);
    if (i > 0 && !(level > 0 && i == 1)) { // internal key[0] is not a bound
      const p1 = ik1(n, i - 1), p2 = ik2(n, i - 1);
      if (p1 > a1 || (p1 == a1 && p2 >= a2)) problem("keys out of order", blk, i);
    }
    if (!(i == 0 && level > 0) && (a1 < lo1 || (a1 == lo1 && a2 < lo2))) problem("key below its parent's bound", blk, i);
    if (hasHi && (a1 > hi1 || (a1 == hi1 && a2 >= hi2))) problem("key above its parent's bound", blk, i);
  }
  if (level == 0) {
    if (leaf_depth < 0) leaf_depth = 0;
    if (load<u64>(n, N_PREV) != prev_leaf) problem("leaf chain broken (prev)", blk, prev_leaf);
    prev_leaf = blk;
    leaves++;
    return;
  }
  if (k == 0) { problem("empty internal node", blk, level); return; }
  for (let i: u32 = 0; i < k; i++) {
    const c1 = i == 0 ? lo1 : ik1(n, i);
    const c2 = i == 0 ? lo2 : ik2(n, i);
    const last = i + 1 == k;
    walk(tree, ichild(n, i), level - 1, c1, c2, last ? hi1 : ik1(n, i + 1), last ? hi2 : ik2(n, i + 1), last ? hasHi : true);
  }
}

function check_tree(tree: u32): void {
  const h = bt_height(tree);
  if (h == 0 || h > HEIGHT_MAX) { problem("bad tree height", tree, h); return; }
  prev_leaf = 0;
  leaves = 0;
  walk(tree, bt_root(tree), h - 1, 0, 0, 0, 0, false);
  // the chain from the leftmost leaf must end where the walk ended
  let blk = bt_root(tree);
  for (let l = h - 1; l > 0; l--) {
    const n = bread(blk, MAGIC_BTREE);
    if (n == 0 || nitems(n) == 0) return;
    blk = ichild(n, 0);
  }
  let count: u64 = 0;
  let last: u64 = 0;
  for (let guard: u64 = 0; blk != 0 && guard <= leaves + 1; guard++) {
    const n = bread(blk, MAGIC_BTREE);
    if (n == 0) return;
    count++;
    last = blk;
    blk = load<u64>(n, N_NEXT);
  }
  if (count != leaves || last != prev_leaf) problem("leaf chain does not match the tree", tree, count);
}

// ---- records ---------------------------------------------------------------------------------

const CUR: usize = memory.data(CURSOR_SIZE);
const CUR2: usize = memory.data(CURSOR_SIZE);

@inline function links_of(ino: u64): usize { return links + <usize>(ino << 2); }
@inline function subdirs_of(ino: u64): usize { return subdirs + <usize>(ino << 2); }

function check_free_space(sbFree: u64): void {
  let sum: u64 = 0;
  let prevEnd: u64 = 0;
  let count: u64 = 0;
  if (bt_seek(CUR, TREE_BNO, 0, 0, true)) {
    do {
      const s = cur_k1(CUR);
      const l = load<u64>(cur_val(CUR));
      if (l == 0) problem("empty free extent", s, 0);
      else if (!free_extent_verify(TREE_BNO, s, l, cur_vlen(CUR))) problem("free extent outside the data area", s, l);
      if (count > 0 && s <= prevEnd) problem(s == prevEnd ? "free extents not coalesced" : "free extents overlap", s, prevEnd);
      mark(s, l, "free extent outside the disk");
      // the by-size tree must hold the same extent
      if (bt_lookup(TREE_CNT, l, s) == 0) problem("free extent missing from the by-size tree", s, l);
      prevEnd = s + l;
      sum += l;
      count++;
    } while (bt_next(CUR));
  }
  let cnt: u64 = 0;
  if (bt_seek(CUR, TREE_CNT, 0, 0, true)) {
    do { cnt++; } while (bt_next(CUR));
  }
  if (cnt != count) problem("by-size and by-offset free trees differ", cnt, count);
  if (sum != sbFree) problem("superblock free count wrong", sbFree, sum);
  fsck_free_extents = count;
}

function check_extents(): void {
  let prevIno: u64 = 0, prevEnd: u64 = 0;
  let blocksSum: u64 = 0;
  if (!bt_seek(CUR, TREE_EXTENT, 0, 0, true)) return;
  do {
    const ino = cur_k1(CUR);
    const fb = cur_k2(CUR);
    const v = cur_val(CUR);
    const disk = load<u64>(v);
    const len = <u64>load<u32>(v, 8);
    fsck_extents++;
    if (ino != prevIno) {
      if (prevIno != 0) finish_inode_blocks(prevIno, blocksSum, prevEnd);
      prevIno = ino; prevEnd = 0; blocksSum = 0;
    }
    const ev = extent_verify(v, cur_vlen(CUR), fb);
    if (ev != EV_OK) problem(extent_why(ev), ino, fb);
    if (fb < prevEnd) problem("extents overlap in the file", ino, fb);
    mark(disk, len, "extent outside the disk");
    prevEnd = fb + len;
    blocksSum += len;
  } while (bt_next(CUR));
  if (prevIno != 0) finish_inode_blocks(prevIno, blocksSum, prevEnd);
}

function finish_inode_blocks(ino: u64, sum: u64, endBlock: u64): void {
  const rec = bt_lookup(TREE_INODE, ino, 0);
  if (rec == 0) { problem("extent of a missing inode", ino, 0); return; }
  if (load<u64>(rec, I_BLOCKS) != sum) problem("inode blocks count wrong", ino, sum);
  const size = load<u64>(rec, I_SIZE);
  if (endBlock > (size + BLOCK_SIZE - 1) / BLOCK_SIZE) problem("extent past the end of the file", ino, endBlock);
  if (load<u32>(rec, I_FLAGS) & INODE_INLINE) problem("inline inode with extents", ino, 0);
}

function check_dirents(): void {
  if (!bt_seek(CUR, TREE_DIRENT, 0, 0, true)) return;
  do {
    const dir = cur_k1(CUR);
    const k2 = cur_k2(CUR);
    const v = cur_val(CUR);
    const vlen = cur_vlen(CUR);
    const ino = load<u64>(v, DE_INO);
    fsck_dirents++;
    if (dir == ORPHAN_DIR) {
      if (k2 != ino) problem("orphan entry key mismatch", k2, ino);
      const rec = bt_lookup(TREE_INODE, ino, 0);
      if (rec == 0) problem("orphan entry for a missing inode", ino, 0);
      else if (load<u32>(rec, I_NLINK) != 0) problem("orphan with links", ino, 0);
      if (ino <= max_ino) store<u32>(links_of(ino), load<u32>(links_of(ino)) + 0x1000_0000);
      continue;
    }
    const nlen = <u32>load<u8>(v, DE_NAMELEN);
    const dv = dirent_verify(dir, v, vlen);
    if (dv != DV_OK) { problem(dirent_why(dv), dir, k2); continue; }
    if ((name_hash(v + DE_NAME, nlen) >> 32) != (k2 >> 32)) problem("entry name does not match its hash", dir, k2);
    const drec = bt_lookup(TREE_INODE, dir, 0);
    if (drec == 0 || !S_ISDIR(load<u32>(drec, I_MODE))) { problem("entry in a missing or non-directory inode", dir, ino); continue; }
    const rec = bt_lookup(TREE_INODE, ino, 0);
    if (rec == 0) { problem("entry names a missing inode", dir, ino); continue; }
    const m = load<u32>(rec, I_MODE);
    const t = load<u8>(v, DE_TYPE);
    const want: u8 = S_ISDIR(m) ? DT_DIR : ((m & S_IFMT) == S_IFLNK ? DT_LNK : DT_REG);
    if (t != want) problem("entry type differs from the inode", dir, ino);
    if (S_ISDIR(m)) {
      if (load<u64>(rec, I_PARENT) != dir) problem("directory's parent pointer wrong", ino, dir);
      if (dir <= max_ino) store<u32>(subdirs_of(dir), load<u32>(subdirs_of(dir)) + 1);
    }
    if (ino <= max_ino) store<u32>(links_of(ino), load<u32>(links_of(ino)) + 1);
  } while (bt_next(CUR));
}

function check_inodes(): void {
  if (!bt_seek(CUR, TREE_INODE, 0, 0, true)) { problem("inode tree empty", 0, 0); return; }
  let sawRoot = false;
  do {
    const ino = cur_k1(CUR);
    const rec = cur_val(CUR);
    const vlen = cur_vlen(CUR);
    fsck_inodes++;
    if (cur_k2(CUR) != 0) problem("inode key with a nonzero second half", ino, cur_k2(CUR));
    if (ino == ROOT_INO) sawRoot = true;
    if (ino > max_ino) { problem("inode number beyond next_ino", ino, max_ino); continue; }
    const m = load<u32>(rec, I_MODE);
    const type = m & S_IFMT;
    const iv = inode_verify(rec, vlen);
    if (iv != IV_OK) problem(inode_why(iv), ino, vlen);
    const nlink = load<u32>(rec, I_NLINK);
    const raw = load<u32>(links_of(ino));
    const names = raw & 0x0fff_ffff;
    const orphan = (raw >> 28) != 0;
    if (type == S_IFDIR) {
      const want = 2 + load<u32>(subdirs_of(ino));
      if (nlink != want) problem("directory link count wrong", ino, nlink);
      if (ino != ROOT_INO && names != 1) problem("directory with other than one name", ino, names);
      // reachable: parent chain reaches the root
      let d = ino;
      let ok = false;
      for (let i = 0; i < 4096; i++) {
        if (d == ROOT_INO) { ok = true; break; }
        const r = bt_lookup(TREE_INODE, d, 0);
        if (r == 0) break;
        d = load<u64>(r, I_PARENT);
      }
      if (!ok) problem("directory not reachable from the root", ino, 0);
    } else {
      if (nlink != names) problem("file link count wrong", ino, nlink);
      if (names == 0 && !orphan) problem("inode with no name (leaked)", ino, 0);
    }
    // positioned again: bt_lookup above moved nothing of CUR, but the leaf may differ
  } while (bt_next(CUR));
  if (!sawRoot) problem("root directory missing", ROOT_INO, 0);
}

/**
 * Checks the mounted filesystem. Returns the number of problems (0 = clean) or -ENOMEM.
 * With `verb`, each problem (up to FSCK_REPORT_MAX) is printed.
 */
export function fsck_run(verb: bool): i32 {
  problems = 0;
  verbose = verb;
  fsck_nodes = 0; fsck_inodes = 0; fsck_dirents = 0; fsck_extents = 0; fsck_used_blocks = 0;
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) { problem("superblock unreadable", 0, 0); return <i32>problems; }
  total = load<u64>(sb, SB_TOTAL_BLOCKS);
  const sbFree = load<u64>(sb, SB_FREE_BLOCKS);
  const jstart = load<u64>(sb, SB_JOURNAL_START);
  const jblocks = <u64>load<u32>(sb, SB_JOURNAL_BLOCKS);
  max_ino = load<u64>(sb, SB_NEXT_INO);
  if (max_ino > FSCK_INODES_MAX) { problem("too many inodes for fsck", max_ino, 0); return <i32>problems; }
  const agflCount = load<u32>(sb, SB_AGFL_COUNT);
  // copy what we need from the superblock: the walk may evict nothing, but stay safe
  const AGFL_COPY = memory.data(AGFL_MAX * 8);
  if (agflCount > AGFL_MAX) problem("AGFL count too large", agflCount, 0);
  memory.copy(AGFL_COPY, sb + SB_AGFL, AGFL_MAX * 8);
  bitmap_order = order_for((total + 7) / 8);
  const bpfn = alloc_pages(bitmap_order);
  links_order = order_for((max_ino + 1) * 4);
  const lpfn = alloc_pages(links_order);
  const spfn = alloc_pages(links_order);
  if (bpfn == NO_PFN || lpfn == NO_PFN || spfn == NO_PFN) {
    if (bpfn != NO_PFN) free_pages(bpfn, bitmap_order);
    if (lpfn != NO_PFN) free_pages(lpfn, links_order);
    if (spfn != NO_PFN) free_pages(spfn, links_order);
    return -ENOMEM;
  }
  bitmap = pfn_to_addr(bpfn);
  links = pfn_to_addr(lpfn);
  subdirs = pfn_to_addr(spfn);
  memory.fill(bitmap, 0, <usize>PAGE_SIZE << bitmap_order);
  memory.fill(links, 0, <usize>PAGE_SIZE << links_order);
  memory.fill(subdirs, 0, <usize>PAGE_SIZE << links_order);
  mark(0, 1, "superblock");
  mark(total - 1, 1, "backup superblock");
  mark(jstart, jblocks, "journal outside the disk");
  for (let i: u32 = 0; i < min<u32>(agflCount, AGFL_MAX); i++) mark(load<u64>(AGFL_COPY + (<usize>i << 3)), 1, "AGFL block outside the disk");
  // extents freed by the running transaction stay allocated until it commits
  for (let i: u32 = 0; i < alloc_deferred_count(); i++) mark(alloc_deferred_start(i), alloc_deferred_len(i), "deferred free outside the disk");
  for (let t: u32 = 0; t < TREE_COUNT; t++) check_tree(t);
  check_free_space(sbFree);
  check_extents();
  check_dirents();
  check_inodes();
  // no leaks: every block marked
  let leaked: u64 = 0, firstLeak: u64 = 0;
  for (let b: u64 = 0; b < total; b++) {
    if ((load<u8>(bitmap + <usize>(b >> 3)) & <u8>(1 << <u8>(b & 7))) == 0) {
      if (leaked == 0) firstLeak = b;
      leaked++;
    }
  }
  if (leaked > 0) problem("blocks neither used nor free (leaked)", firstLeak, leaked);
  const inodeCount = load<u64>(bread(0, MAGIC_SUPER), SB_INODE_COUNT);
  if (inodeCount != fsck_inodes) problem("superblock inode count wrong", inodeCount, fsck_inodes);
  free_pages(bpfn, bitmap_order);
  free_pages(lpfn, links_order);
  free_pages(spfn, links_order);
  return <i32>problems;
}
