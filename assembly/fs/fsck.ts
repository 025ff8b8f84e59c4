// fs/fsck.ts -- the filesystem checker and repairer (e2fsck's passes over HelixFS's trees).
//
// Layer: beside the fs; reads the trees through the buffer cache. It repairs only when asked
// (FSCK_PREEN / FSCK_YES), and then through the normal tree and allocator code inside one
// transaction, committed at the end: a crash mid-repair leaves the image as it was.
// Interface: fsck_run(flags) -> problems found (0 = consistent), or -errno when it cannot
// run; fsck_fixed / fsck_unfixed count what the repair pass did. Each problem is one kernel
// log line (the first FSCK_REPORT_MAX of them):
//
//   fsck: <what is wrong>: inode I, block B, tree T, key (K1, K2), found F, should be S [label]
//
// (only the fields that apply; `label` is stable, tests and tools match on it). Each change a
// repair makes is one line `fsck: fixed: <what was changed>`.
//
// Checks (label in brackets):
//  1. trees (every field bt_node_verify checks at bread, under the labels below): node magic
//     [node-magic], checksum [node-csum], self-location [node-location], a transaction the
//     journal does not prove [node-tid], I/O [node-io], tree id [node-tree],
//     level (every leaf at one depth) [node-level], a node reached twice or a block claimed
//     by two structures [node-shared], keys increasing [key-order] and inside the parent's
//     bounds [key-bounds], no empty internal node [node-empty], item count [node-nitems],
//     values inside the node (vend, voff/vlen, vused) [node-value], a node whose tid is not
//     the generation its parent's pointer (or the superblock's root) carries: a lost, stale
//     or misdirected write (btrfs "parent transid verify failed") [node-gen], a sibling link
//     set (leaves have none) [leaf-link], the height [tree-height];
//  2. space: superblock, backup, journal, AGFL, tree nodes, file extents and free extents cover
//     every block exactly once: [block-outside], [block-twice] (two users), [block-free-used]
//     (a used block also listed free), [blocks-leaked] (neither); free trees agree
//     [free-cnt], free extents never touch or overlap [free-extent]; counters [sb-free-count],
//     [sb-inode-count] (the mounted head's: the superblock's, or a mounted clone's record;
//     a mounted snapshot has none of its own);
//  3. inodes and extents of the mounted head (inode_verify, extent_verify: the kernel's own
//     record checks; other trees' extent records are verified by the walk of check 1): type
//     [inode-type], record length [inode-reclen], inline data [inode-inline], flags
//     [inode-flags], size [inode-size], key [inode-key], number [inode-ino], extents of missing inodes
//     [extent-orphan], record [extent-record], overlap [extent-overlap], a written extent
//     past EOF [extent-eof] (UNWRITTEN ones may be: FALLOC_FL_KEEP_SIZE), UNWRITTEN extents
//     without INCOMPAT_UNWRITTEN [extent-unwritten] or with a nonzero checksum
//     [extent-unwritten-csum], blocks count [inode-blocks]; with FSCK_DATA every written
//     data block's XXH32 against its extent record [data-csum], [data-io];
//     special inodes (FIFO, devices, sockets) with data, blocks, flags or extents
//     [inode-special], or on a filesystem without INCOMPAT_SPECIAL [feature-missing];
//     extended attributes (items (ino, k2 != 0) of the inode tree when RO_COMPAT_XATTR is
//     set; without it such a key is [inode-key]): of a missing inode [xattr-orphan], record
//     or name length [xattr-record], unknown namespace [xattr-namespace], name vs hash key
//     [xattr-hash];
//  4. names: entry length [dirent-length], names with '/' or NUL, '.'/'..', empty or too long
//     [name-bad], name vs hash key [name-hash], entries in non-directories [dirent-dir],
//     dangling entries [dirent-dangling], entry type [dirent-type], parent pointers
//     [dir-parent], link counts [link-count], directories with several names [dir-names],
//     directories not reachable from the root [dir-unconnected] (walked without a depth cap:
//     each directory's chain of entries is followed once, memoized), inodes without a name
//     [inode-unattached], orphan list [orphan], the root [root-missing];
//  5. journal: its superblock's fields [journal-sb]; committed transactions the mount could
//     not replay because an earlier one is damaged [journal-damaged];
//  6. snapshots and clones (fs/snapshot.ts; ZFS birth times and dead lists over shadowed
//     trees): the trees of every TREE_SNAP record are walked too, except records flagged
//     DELETING or DROP (their trees are being freed); a malformed record [snap-record], a
//     snapshot root newer than the snapshot [node-gen]; a node reached from several trees is
//     shared (read and checked once; a later tree only checks the pointer's generation, the
//     node's tree and level, and the subtree's first and last keys against its bounds, so a
//     node reached twice within one tree shows as [node-shared] or [key-bounds]); a data
//     block several trees map is shared, mapped twice by one tree it is [block-twice]; an
//     extent's birth is nonzero and not newer than the leaf holding it [extent-birth];
//     dead-list records (kill tid, start) -> len, flags, birth with 0 < birth < kill
//     [dead-record], no block listed twice [block-twice].
//     Reference counts in the birth-time design: a block's referrers are the trees that map
//     it (heads: the live filesystem and clones; snapshots), and "freed when the last
//     referrer goes" holds when every block is exactly one of: mapped by a head (in use),
//     mapped only by snapshots and on the dead list (a snapshot delete frees it when no
//     other snapshot needs it), or free. So fsck checks both directions:
//       - a dead-list block the live filesystem maps, or a clone maps whose origin does not
//         hold it (no clone origin tid in [birth, kill)): it would be freed under its user,
//         "freed twice" [dead-live];
//       - a dead-list block no snapshot maps (and no delete in progress holds): a leak,
//         "a reference count above its referrers" [dead-unreferenced];
//       - a block some snapshot maps that no head maps and the dead list lacks: deleting
//         the snapshots would never free it, "leaked" [snapshot-leak];
//       - superblock dead_blocks equals the dead list's total [sb-dead-count], last_snapshot
//         (the cow floor) equals the newest tid of the main chain's records, deleting ones
//         included [sb-last-snapshot].
//     While background work is pending (a DELETING or DROP record), the blocks it still
//     holds (a dropped tree's nodes and extents, dead extents only a deleting snapshot
//     holds, a rollback's dead-list range not yet cleared) cannot be attributed exactly:
//     they are counted in one informational line, `fsck: N blocks held by snapshot deletes
//     in progress`, never reported as [blocks-leaked], and kept out of a free-space rebuild.
//
// Repair (case table; P = preen -p, Y = -y; everything else is left, exit 4 in the CLI):
//   link-count, inode-blocks, dir-parent ............................ P  set the field
//   block-free-used, blocks-leaked, free-*, sb-free-count ........... P  rebuild free space
//   sb-inode-count .................................................. P  set the counter
//   dirent-dangling, dirent-dir, orphan ............................. P  remove the entry
//   inode-unattached, dir-unconnected (no name left) ................ P  link into /lost+found
//   journal-sb ...................................................... P  rewrite it (checkpoint)
//   name-bad, name-hash, dirent-length, dir-names, dir-unconnected .. Y  remove the entry (the
//                                                                        inode then goes to
//                                                                        /lost+found)
//   dirent-type ..................................................... Y  rewrite the type
//   extent-orphan ................................................... Y  remove the record
//   xattr-orphan, xattr-record, xattr-namespace, xattr-hash ......... Y  remove the item
//   extent-eof ...................................................... Y  extend i_size (e2fsck)
//   journal-damaged ................................................. Y  at mount (MNT_FSCK_Y)
//   sb-dead-count, sb-last-snapshot ................................. P  set the field
//   snap-record, extent-birth, dead-record, dead-live, dead-unreferenced,
//   snapshot-leak ................................................... -  left (exit 4): a
//                                     wrong guess frees a block a snapshot or the live
//                                     filesystem uses; delete the snapshot instead
// Damaged tree structure (node-*, key-*, leaf-link, tree-height) stops every repair: the
// trees the repair would edit cannot be trusted.

import { BLOCK_SIZE, PAGE_SIZE, NAME_MAX } from "../params";
import { NO_PFN, pfn_to_addr } from "../mm/page";
import { alloc_pages, free_pages } from "../mm/buddy";
import {
  MAGIC_SUPER, MAGIC_BTREE, MAGIC_JSB, SB_TOTAL_BLOCKS, SB_FREE_BLOCKS, SB_JOURNAL_START, SB_JOURNAL_BLOCKS,
  SB_AGFL_COUNT, SB_AGFL, SB_NEXT_INO, SB_INODE_COUNT, TREE_INODE, TREE_DIRENT, TREE_EXTENT, EXTENT_MAX, ext_vlen,
  TREE_BNO, TREE_CNT, TREE_COUNT, TREE_DEAD, ROOT_INO, ORPHAN_DIR, AGFL_MAX, JSB_FIRST, JSB_MAXLEN, JSB_START,
  block_verify, VERIFY_OK, VERIFY_MAGIC, VERIFY_CRC, VERIFY_BLOCKNR, extent_verify, extent_why, EV_OK, EV_DISK,
  sb_log_blocks, EXT_FLAGS, EXT_CSUM, EXT_UNWRITTEN, EV_FLAGS,
  TREE_SNAP, FS_TREES, SB_DEAD_BLOCKS, SB_LAST_SNAPSHOT, SB_TREES, SB_TREE_ENTRY, SB_TREE_GEN, EXT_DISK, EXT_LEN,
  EXT_BIRTH, in_data_area,
} from "./format";
import {
  SNAP_CLONE, SNAP_DELETING, SNAP_DROP, SNAPSHOT_MAX, snap_mounted_id, snap_rec_ok, snap_rec_tid, snap_rec_flags,
  snap_rec_origin, snap_rec_kill_hi, snap_rec_resume_k1, snap_rec_resume_k2, snap_rec_root, snap_rec_height, snap_rec_gen,
} from "./snapshot";
import {
  bt_root, bt_height, bt_seek, bt_next, bt_lookup, bt_lookup_mut, bt_delete, bt_insert, bt_errno, cur_k1, cur_k2, cur_val,
  cur_vlen, nitems, nlevel, ik1, ik2, ichild, ival, ivlen, N_TREE, N_ITEMS, igen, node_tid, bt_root_gen, CURSOR_SIZE, HEIGHT_MAX,
  bt_node_fault, bt_node_fault_clear, bt_node_why, NV_OK, NV_TREE, NV_LEVEL, NV_NITEMS, NV_KEYS, NV_CHILD, NV_LINK, NV_GEN,
  bt_set_cow_floor,
} from "./btree";
import { bread, buf_errno } from "./pagecache";
import {
  I_MODE, I_NLINK, I_SIZE, I_FLAGS, I_BLOCKS, I_PARENT, INODE_REC, INODE_INLINE, INLINE_MAX,
  S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_ISDIR, S_ISSPECIAL, inode_get_mut, inode_create, inode_link_delta,
  inode_verify, inode_why, IV_OK, IV_TYPE, IV_LENGTH, IV_INLINE_SIZE, IV_INLINE_BLOCKS, IV_FLAGS, IV_SPECIAL,
  inode_count, inode_count_set,
} from "./inode";
import { xattr_verify, xattr_why, XV_OK, XV_NAMESPACE, XV_HASH } from "./xattr";
import { SB_INCOMPAT, SB_RO_COMPAT, INCOMPAT_SPECIAL, RO_COMPAT_XATTR } from "./format";
import { name_key_checked, dir_lookup, dir_add, de_ino, dir_iter_reset, DE_INO, DE_TYPE, DE_NAMELEN, DE_NAME, DT_DIR, DT_REG, DT_LNK, dtype } from "./dir";
import { dcache_clear } from "./dcache";
import { kputs, kputu, kputx, knl, kputerr } from "../lib/printk";
import {
  alloc_deferred_count, alloc_deferred_start, alloc_deferred_len, alloc_set_free, alloc_agfl_refill,
  free_extent_verify,
} from "./alloc";
import { blk_add, blk_submit, VIRTIO_BLK_T_IN } from "../dev/virtio_blk";
import { xxh32 } from "../lib/xxhash";
import { j_log_corrupt, journal_checkpoint, journal_dirty } from "./journal";
import { fs_readonly, fs_errored, fs_commit, fs_error, mount_dropped_log } from "./super";
import { get_metadata_error_handler, set_metadata_error_handler } from "./errors";
import { ENOMEM, EIO, EUCLEAN, ENOSPC } from "../lib/errno";

/** fsck_run flags. */
export const FSCK_VERBOSE: u32 = 1;
/** Read every data block and check it against its extent record's XXH32. */
export const FSCK_DATA: u32 = 2;
/** Repair what is safe without asking (e2fsck -p). */
export const FSCK_PREEN: u32 = 4;
/** Repair everything fsck knows how to (e2fsck -y); implies FSCK_PREEN. */
export const FSCK_YES: u32 = 8;
/** When problems remain, record the error state in the superblock (next mount read-only). */
export const FSCK_MARK_ERRORS: u32 = 16;

/** Problem lines printed per run; the rest are counted ("N more" in the CLI). */
const FSCK_REPORT_MAX: u32 = 100;
/** Inodes fsck can track (per-inode tables of 13 bytes each). */
const FSCK_INODES_MAX: u64 = 1 << 24;
/** Repairs one run queues (32 bytes each); the rest wait for the next pass. */
const FIX_MAX: u32 = 8192;
const FIX_ORDER: u32 = 6; // 8192 x 32 B = 256 KiB
/** Blocks the data check reads per device batch (an extent holds at most EXTENT_MAX). */
const DATA_BATCH_ORDER: u32 = 8;
/** Name of the directory unattached inodes are linked into. */
const LOST_FOUND: usize = memory.data<u8>([108, 111, 115, 116, 43, 102, 111, 117, 110, 100]); // "lost+found"
const LOST_FOUND_LEN: u32 = 10;

// ---- report ----------------------------------------------------------------------------------

/** Field mask of a problem line. */
const F_INO: u32 = 1, F_BLOCK: u32 = 2, F_TREE: u32 = 4, F_KEY: u32 = 8, F_FOUND: u32 = 16, F_COUNT: u32 = 32;

let problems: u32 = 0;
let flags: u32 = 0;
/** Problems found that stop every repair (damaged tree structure). */
let structural: u32 = 0;
export let fsck_fixed: u32 = 0;
export let fsck_unfixed: u32 = 0;

function tree_name(t: u32): string {
  if (t == TREE_INODE) return "inode";
  if (t == TREE_DIRENT) return "dirent";
  if (t == TREE_EXTENT) return "extent";
  if (t == TREE_BNO) return "bno";
  if (t == TREE_CNT) return "cnt";
  if (t == TREE_SNAP) return "snap";
  if (t == TREE_DEAD) return "dead";
  return "?";
}

/**
 * Counts and prints one problem. `mask` says which of the fields apply: inode `ino`, block
 * `blk`, tree `tree`, key (k1, k2), "found F, should be S" or "count F".
 */
function problem(label: string, what: string, mask: u32, ino: u64 = 0, blk: u64 = 0, tree: u32 = 0,
                 k1: u64 = 0, k2: u64 = 0, found: u64 = 0, want: u64 = 0): void {
  problems++;
  if ((flags & FSCK_VERBOSE) == 0 || problems > FSCK_REPORT_MAX) return;
  kputs("fsck: "); kputs(what);
  let sep = ": ";
  if (mask & F_INO) { kputs(sep); kputs("inode "); kputu(ino); sep = ", "; }
  if (mask & F_BLOCK) { kputs(sep); kputs("block "); kputu(blk); sep = ", "; }
  if (mask & F_TREE) { kputs(sep); kputs("tree "); kputs(tree_name(tree)); sep = ", "; }
  if (mask & F_KEY) { kputs(sep); kputs("key ("); kputu(k1); kputs(", "); kputx(k2); kputs(")"); sep = ", "; }
  if (mask & F_FOUND) { kputs(sep); kputs("found "); kputu(found); kputs(", should be "); kputu(want); sep = ", "; }
  if (mask & F_COUNT) { kputs(sep); kputs("count "); kputu(found); }
  kputs(" ["); kputs(label); kputs("]"); knl();
}

/** A problem of the trees' structure: reported, and no repair runs. */
function broken(label: string, what: string, mask: u32, blk: u64, tree: u32, k1: u64 = 0, k2: u64 = 0, found: u64 = 0, want: u64 = 0): void {
  structural++;
  problem(label, what, mask | F_BLOCK | F_TREE, 0, blk, tree, k1, k2, found, want);
}

/** Prints one change a repair made: `fsck: fixed: <what> <a>[ <b>]`. */
function fixed(what: string, a: u64, more: string = "", b: u64 = 0): void {
  fsck_fixed++;
  if ((flags & FSCK_VERBOSE) == 0) return;
  kputs("fsck: fixed: "); kputs(what); kputu(a);
  if (more.length > 0) { kputs(more); kputu(b); }
  knl();
}

/** A repair that failed (its errno) or was refused: counted, and the problem stays. */
function not_fixed(what: string, a: u64, err: i32): void {
  fsck_unfixed++;
  if ((flags & FSCK_VERBOSE) == 0) return;
  kputs("fsck: could not fix: "); kputs(what); kputu(a); kputs(" ("); kputerr(err); kputs(")"); knl();
}

// ---- per-run tables --------------------------------------------------------------------------

let total: u64 = 0;
let max_ino: u64 = 0;
let used: usize = 0; // bitmap: blocks of the superblocks, journal, AGFL, tree nodes, extents
let freebits: usize = 0; // bitmap: blocks listed in the free-space trees
let bitmap_order: u32 = 0;
let links: usize = 0; // u32 per ino: names pointing at it (bit 28 and up: orphan entries)
let subdirs: usize = 0; // u32 per ino: subdirectories
let entry_dir: usize = 0; // u32 per ino (directories): the directory holding its entry
let reach: usize = 0; // u8 per ino (directories): R_* below
let links_order: u32 = 0;
let reach_order: u32 = 0;
let fixes: usize = 0;
let nfix: u32 = 0;
let rebuild_free: bool = false;

const ORPHAN_LINK: u32 = 0x1000_0000;

export let fsck_nodes: u64 = 0;
export let fsck_inodes: u64 = 0;
export let fsck_dirents: u64 = 0;
export let fsck_extents: u64 = 0;
export let fsck_free_extents: u64 = 0;
export let fsck_used_blocks: u64 = 0;
export let fsck_data_blocks: u64 = 0;

@inline function links_of(ino: u64): usize { return links + <usize>(ino << 2); }
@inline function subdirs_of(ino: u64): usize { return subdirs + <usize>(ino << 2); }
@inline function entry_dir_of(ino: u64): usize { return entry_dir + <usize>(ino << 2); }
@inline function bit_get(map: usize, b: u64): bool { return (load<u8>(map + <usize>(b >> 3)) & <u8>(1 << <u8>(b & 7))) != 0; }
@inline function bit_set(map: usize, b: u64): void { const p = map + <usize>(b >> 3); store<u8>(p, load<u8>(p) | <u8>(1 << <u8>(b & 7))); }

// Who references a block, one byte per block in `cls` (snapshot accounting, check 6):
//
//   bit  0 NODE   a tree node some walk visited (each node is read once, whoever shares it)
//        1 MAIN   reached from the live filesystem (the superblock's roots)
//        2 CLONE  reached from a clone's roots
//        3 SNAP   reached from a snapshot's roots (exact for blocks no head reaches: the
//                 heads are walked first, so a subtree a snapshot walk skips as already
//                 visited is either all head blocks or was marked by an earlier snapshot)
//        4 DEAD   on the dead list
//        5 DATA   a data block some extent maps
//        6 DEFER  freed by the running transaction (pending its commit's kill hook)
const C_NODE: u8 = 1, C_MAIN: u8 = 2, C_CLONE: u8 = 4, C_SNAP: u8 = 8, C_DEAD: u8 = 16, C_DATA: u8 = 32, C_DEFER: u8 = 64;
const C_HEAD: u8 = C_MAIN | C_CLONE;
let cls: usize = 0;
let cls_order: u32 = 0;
/** Bitmap of the blocks (nodes and data) the current tree walk reached: twice in one tree is wrong. */
let here: usize = 0;
@inline function cls_of(b: u64): u8 { return load<u8>(cls + <usize>b); }
@inline function cls_set(b: u64, c: u8): void { store<u8>(cls + <usize>b, load<u8>(cls + <usize>b) | c); }
/** Class of the trees being walked (C_MAIN, C_CLONE or C_SNAP). */
let walk_cls: u8 = C_MAIN;
/** Whether the walk reports bad extent records itself (check_extents covers the mounted head). */
let walk_records: bool = false;
/** Blocks pending background work holds (the informational line). */
let held: u64 = 0;

function order_for(bytes: u64): u32 {
  let o: u32 = 0;
  while ((<u64>PAGE_SIZE << o) < bytes) o++;
  return o;
}

/** Who claims a block (for mark). */
const OWN_META: u32 = 0, OWN_DATA: u32 = 1, OWN_FREE: u32 = 2;

/**
 * Marks [start, start + len) as claimed by `owner`; reports blocks outside the disk, claimed
 * twice, or both used and free. Returns false when the range lies outside the disk.
 */
function mark(start: u64, len: u64, owner: u32, ino: u64, tree: u32): bool {
  if (start + len > total || start + len < start) {
    problem("block-outside", "blocks outside the filesystem", F_BLOCK | F_COUNT | (owner == OWN_DATA ? F_INO : F_TREE), ino, start, tree, 0, 0, len);
    if (owner != OWN_DATA) structural++;
    return false;
  }
  for (let b = start; b < start + len; b++) {
    if (owner == OWN_FREE) {
      if (bit_get(used, b)) { problem("block-free-used", "block in use is also listed as free", F_BLOCK, 0, b); rebuild_free = true; }
      bit_set(freebits, b);
      continue;
    }
    if (bit_get(freebits, b)) { problem("block-free-used", "block in use is also listed as free", F_BLOCK | F_INO, ino, b); rebuild_free = true; }
    if (bit_get(used, b)) { problem("block-twice", "block claimed twice", F_BLOCK | F_INO, ino, b); continue; }
    bit_set(used, b);
    fsck_used_blocks++;
  }
  return true;
}

// ---- repairs queued by the checks -----------------------------------------------------------

// A queued repair (FIX_MAX of them in `fixes`, 32 bytes each, in the order the checks met
// them; apply_fixes replays the queue after the free-space rebuild):
//
//   0          4          8                16               24               32
//   +----------+----------+----------------+----------------+----------------+
//   | kind u32 | rsv u32  | a u64          | b u64          | c u64          |
//   +----------+----------+----------------+----------------+----------------+

/** Queued repair kinds and their operands. */
const X_DIRENT_DEL: u32 = 1; // a = dir, b = key
const X_DIRENT_TYPE: u32 = 2; // a = dir, b = key, c = type
const X_EXTENT_DEL: u32 = 3; // a = ino, b = file block
const X_NLINK: u32 = 4; // a = ino, b = nlink
const X_BLOCKS: u32 = 5; // a = ino, b = blocks
const X_PARENT: u32 = 6; // a = ino, b = parent
const X_SIZE: u32 = 7; // a = ino, b = size
const X_SB_INODES: u32 = 8; // a = count
const X_LOST: u32 = 9; // a = ino, b = nlink to set (files), c = 1 for directories
const X_JOURNAL_SB: u32 = 10;
const X_XATTR_DEL: u32 = 11; // a = ino, b = key
const X_SB_DEAD: u32 = 12; // a = dead blocks
const X_SB_LAST: u32 = 13; // a = last snapshot tid

/** Mode a repair needs: FSCK_PREEN (safe) or FSCK_YES. */
@inline function may(need: u32): bool {
  return (flags & FSCK_YES) != 0 || ((flags & FSCK_PREEN) != 0 && need == FSCK_PREEN);
}

/** Queues a repair when the mode allows it. Returns true when it was queued. */
function queue(need: u32, kind: u32, a: u64, b: u64 = 0, c: u64 = 0): bool {
  if (!may(need) || fixes == 0) return false;
  if (nfix >= FIX_MAX) { fsck_unfixed++; return false; }
  const e = fixes + (<usize>nfix << 5);
  store<u32>(e, kind); store<u64>(e, a, 8); store<u64>(e, b, 16); store<u64>(e, c, 24);
  nfix++;
  return true;
}

// ---- 1. trees --------------------------------------------------------------------------------

let leaves: u64 = 0;

/** fsck's label for a node field that bt_node_verify (btree.ts) refused at bread. */
function node_fault_label(r: i32): string {
  if (r == NV_TREE) return "node-tree";
  if (r == NV_LEVEL) return "node-level";
  if (r == NV_NITEMS) return "node-nitems";
  if (r == NV_KEYS) return "key-order";
  if (r == NV_CHILD) return "block-outside";
  if (r == NV_LINK) return "leaf-link";
  if (r == NV_GEN) return "node-gen";
  return "node-value"; // vend, voff/vlen, vused
}

/**
 * Says which check a node that bread refused failed: I/O, magic, checksum, location, tid, or
 * one of its fields (bt_node_verify's fault). A node at another level than its parent says is
 * reported as such, whatever its fields then look like (a leaf read as an internal node has
 * "children" outside the data area).
 */
function node_unreadable(blk: u64, tree: u32, level: u32): void {
  if (buf_errno != -EUCLEAN) { broken("node-io", "tree node unreadable (I/O error)", 0, blk, tree); return; }
  const fault = bt_node_fault;
  const pfn = alloc_pages(0);
  let v = VERIFY_OK;
  let raw_level = level;
  if (pfn != NO_PFN) {
    const b = pfn_to_addr(pfn);
    blk_add(VIRTIO_BLK_T_IN, blk, b);
    v = blk_submit() == 0 ? block_verify(b, MAGIC_BTREE, blk) : VERIFY_OK;
    if (v == VERIFY_OK) raw_level = nlevel(b);
    free_pages(pfn, 0);
  }
  if (v == VERIFY_MAGIC) broken("node-magic", "tree node has no node magic", 0, blk, tree);
  else if (v == VERIFY_CRC) broken("node-csum", "tree node fails its checksum", 0, blk, tree);
  else if (v == VERIFY_BLOCKNR) broken("node-location", "tree node records another block number (misdirected write)", 0, blk, tree);
  else if (fault == NV_OK) broken("node-tid", "tree node from a transaction the journal does not prove", 0, blk, tree);
  else if (raw_level != level) broken("node-level", "tree node at the wrong level (tree unbalanced)", F_FOUND, blk, tree, 0, 0, raw_level, level);
  else broken(node_fault_label(fault), bt_node_why(fault), 0, blk, tree);
}

/**
 * Checks the subtree at `blk` (expected `level`) whose keys lie in [lo, hi). A node the
 * current tree already reached, or a block some other structure owns, is reported and not
 * walked again: a DAG of shared children costs one visit per node, not one per path. A node
 * another tree's walk visited (shared with a snapshot or clone) is not walked again either:
 * shared_node checks how this tree reaches it. Leaves of an extent tree claim their data
 * blocks (claim_extents). Recursion depth is at most HEIGHT_MAX (the level falls by one).
 */
function walk(tree: u32, blk: u64, gen: u64, level: u32, lo1: u64, lo2: u64, hi1: u64, hi2: u64, hasHi: bool): void {
  if (blk >= total) { broken("block-outside", "tree node outside the filesystem", 0, blk, tree); return; }
  if (bit_get(here, blk) || (bit_get(used, blk) && (cls_of(blk) & C_NODE) == 0)) {
    // once per block (the tree walks borrow the free bitmap to remember which were reported)
    if (!bit_get(freebits, blk)) { bit_set(freebits, blk); broken("node-shared", "tree node reached twice or claimed by another structure", 0, blk, tree); }
    else structural++;
    return;
  }
  bit_set(here, blk);
  if (cls_of(blk) & C_NODE) { shared_node(tree, blk, gen, level, lo1, lo2, hi1, hi2, hasHi); return; }
  bt_node_fault_clear();
  const n = bread(blk, MAGIC_BTREE);
  if (n == 0) {
    node_unreadable(blk, tree, level);
    return;
  }
  fsck_nodes++;
  mark(blk, 1, OWN_META, 0, tree);
  cls_set(blk, C_NODE | walk_cls);
  if (node_tid(n) != gen) { broken("node-gen", "parent transid verify failed (lost or stale write)", F_FOUND, blk, tree, 0, 0, node_tid(n), gen); return; }
  if (load<u8>(n, N_TREE) != <u8>tree) { broken("node-tree", "tree node belongs to another tree", F_FOUND, blk, tree, 0, 0, load<u8>(n, N_TREE), tree); return; }
  if (nlevel(n) != level) { broken("node-level", "tree node at the wrong level (tree unbalanced)", F_FOUND, blk, tree, 0, 0, nlevel(n), level); return; }
  const k = nitems(n);
  // one report per node: the first key out of place (the rest of a bad node says nothing new)
  for (let i: u32 = 0; i < k; i++) {
    const a1 = ik1(n, i), a2 = ik2(n, i);
    if (i > 0 && !(level > 0 && i == 1)) { // internal key[0] is not a bound
      const p1 = ik1(n, i - 1), p2 = ik2(n, i - 1);
      if (p1 > a1 || (p1 == a1 && p2 >= a2)) { broken("key-order", "keys out of order", F_KEY, blk, tree, a1, a2); break; }
    }
    if (!(i == 0 && level > 0) && (a1 < lo1 || (a1 == lo1 && a2 < lo2))) { broken("key-bounds", "key below its parent's bound", F_KEY, blk, tree, a1, a2); break; }
    if (hasHi && (a1 > hi1 || (a1 == hi1 && a2 >= hi2))) { broken("key-bounds", "key above its parent's bound", F_KEY, blk, tree, a1, a2); break; }
  }
  if (level == 0) {
    leaves++;
    if (tree == TREE_EXTENT) claim_extents(n);
    return;
  }
  if (k == 0) { broken("node-empty", "empty internal node", 0, blk, tree); return; }
  for (let i: u32 = 0; i < k; i++) {
    const c1 = i == 0 ? lo1 : ik1(n, i);
    const c2 = i == 0 ? lo2 : ik2(n, i);
    const last = i + 1 == k;
    // the parent may be evicted while its children are read: re-read it (cached, verified)
    const p = bread(blk, MAGIC_BTREE);
    if (p == 0) { broken("node-io", "tree node unreadable (I/O error)", 0, blk, tree); return; }
    walk(tree, ichild(p, i), igen(p, i), level - 1, c1, c2, last ? hi1 : ik1(p, i + 1), last ? hi2 : ik2(p, i + 1), last ? hasHi : true);
  }
}

/**
 * A node an earlier tree's walk checked, reached again from this tree (a subtree shared with
 * a snapshot or clone: identical, so not walked again). Checks what this tree adds: it is a
 * filesystem tree's node of this tree [node-shared], this pointer's generation [node-gen],
 * the level [node-level], and the subtree's smallest and largest keys (the ends of its
 * leftmost and rightmost paths: the subtree is ordered inside) against this parent's bounds
 * [key-bounds]. At most 2 x HEIGHT_MAX cached reads.
 */
function shared_node(tree: u32, blk: u64, gen: u64, level: u32, lo1: u64, lo2: u64, hi1: u64, hi2: u64, hasHi: bool): void {
  let n = bread(blk, MAGIC_BTREE);
  if (n == 0) { broken("node-io", "tree node unreadable (I/O error)", 0, blk, tree); return; }
  if (tree >= FS_TREES || load<u8>(n, N_TREE) != <u8>tree) {
    broken("node-shared", "tree node reached from two trees that cannot share it", F_FOUND, blk, tree, 0, 0, load<u8>(n, N_TREE), tree);
    return;
  }
  if (node_tid(n) != gen) { broken("node-gen", "parent transid verify failed (lost or stale write)", F_FOUND, blk, tree, 0, 0, node_tid(n), gen); return; }
  if (nlevel(n) != level) { broken("node-level", "tree node at the wrong level (tree unbalanced)", F_FOUND, blk, tree, 0, 0, nlevel(n), level); return; }
  for (let side = 0; side < 2; side++) {
    let b = blk;
    n = bread(b, MAGIC_BTREE);
    for (let l = level; n != 0 && l > 0 && nitems(n) > 0; l--) {
      b = ichild(n, side == 0 ? 0 : nitems(n) - 1);
      n = bread(b, MAGIC_BTREE);
    }
    if (n == 0) { broken("node-io", "tree node unreadable (I/O error)", 0, b, tree); return; }
    const k = nitems(n);
    if (k == 0 || nlevel(n) != 0) continue;
    const i: u32 = side == 0 ? 0 : k - 1;
    const a1 = ik1(n, i), a2 = ik2(n, i);
    if (side == 0 && (a1 < lo1 || (a1 == lo1 && a2 < lo2))) { broken("key-bounds", "shared subtree's keys below its parent's bound", F_KEY, blk, tree, a1, a2); return; }
    if (side == 1 && hasHi && (a1 > hi1 || (a1 == hi1 && a2 >= hi2))) { broken("key-bounds", "shared subtree's keys above its parent's bound", F_KEY, blk, tree, a1, a2); return; }
  }
}

/**
 * Claims the data blocks the extents of extent-tree leaf `n` map, for the current walk's
 * class, and checks each extent's birth: nonzero and not newer than the leaf (a record is
 * written in the transaction that allocated its blocks or later) [extent-birth]. Records
 * that fail extent_verify are reported here only for trees check_extents does not read.
 */
function claim_extents(n: usize): void {
  const k = nitems(n);
  const tid = node_tid(n);
  for (let i: u32 = 0; i < k; i++) {
    const ino = ik1(n, i), fb = ik2(n, i);
    const v = ival(n, i);
    const ev = extent_verify(v, ivlen(n, i), fb);
    if (ev != EV_OK) {
      if (walk_records) problem(ev == EV_DISK ? "block-outside" : "extent-record", extent_why(ev), F_INO | F_KEY, ino, 0, TREE_EXTENT, ino, fb);
      continue;
    }
    const birth = load<u64>(v, EXT_BIRTH);
    if (birth == 0 || birth > tid) problem("extent-birth", "extent born after the leaf that holds it, or never", F_INO | F_KEY | F_FOUND, ino, 0, TREE_EXTENT, ino, fb, birth, tid);
    claim_data(load<u64>(v, EXT_DISK), <u64>load<u32>(v, EXT_LEN), ino);
  }
}

/**
 * Claims data blocks [disk, disk + len) (inside the data area) of inode `ino` for the current
 * walk: another tree's claim is sharing; this tree's own second claim, or a claim over a
 * node or another structure's block, is [block-twice].
 */
function claim_data(disk: u64, len: u64, ino: u64): void {
  for (let b = disk; b < disk + len; b++) {
    const c = cls_of(b);
    if (bit_get(here, b) || (c & C_NODE) != 0 || (bit_get(used, b) && (c & C_DATA) == 0)) {
      problem("block-twice", "block claimed twice", F_BLOCK | F_INO, ino, b);
      continue;
    }
    bit_set(here, b);
    cls_set(b, C_DATA | walk_cls);
    if (!bit_get(used, b)) { bit_set(used, b); fsck_used_blocks++; }
  }
}

/** Walks one tree from its root (the current class and record mode set by the caller). */
function check_tree_at(tree: u32, root: u64, height: u32, gen: u64): void {
  if (height == 0 || height > HEIGHT_MAX) { broken("tree-height", "bad tree height", F_FOUND, root, tree, 0, 0, height, HEIGHT_MAX); return; }
  leaves = 0;
  memory.fill(here, 0, <usize>PAGE_SIZE << bitmap_order);
  walk(tree, root, gen, height - 1, 0, 0, 0, 0, false);
}

/** Walks tree `tree` of the live filesystem: its root as the superblock records it. */
function check_tree(tree: u32, sb: usize): void {
  const e = sb + SB_TREES + <usize>tree * SB_TREE_ENTRY;
  check_tree_at(tree, load<u64>(e), load<u32>(e, 8), load<u64>(e, SB_TREE_GEN));
}

// ---- 6. snapshot records ---------------------------------------------------------------------

// The records, copied out of TREE_SNAP before their trees are walked (REC_ENTRY bytes each):
//
//    0 id u64   8 tid u64   16 flags u32   20 rsv u32   24 origin u64   32 kill_hi u64
//   40 resume k1 u64   48 resume k2 u64   56 roots[3] { root u64, height u64, gen u64 }  (to 128)
const REC_ENTRY: usize = 128;
const RECS: usize = memory.data(<i32>(SNAPSHOT_MAX * <u32>REC_ENTRY));
let nrecs: u32 = 0;
/** A DELETING or DROP record exists: background work holds blocks. */
let pending: bool = false;
@inline function rec_at(i: u32): usize { return RECS + <usize>i * REC_ENTRY; }

/** Whether the mounted head is a clone (its record, loaded by load_records, says so). */
function mounted_is_clone(): bool {
  const id = snap_mounted_id();
  for (let i: u32 = 0; i < nrecs; i++) if (load<u64>(rec_at(i)) == id) return (load<u32>(rec_at(i), 16) & SNAP_CLONE) != 0;
  return false;
}

/** Copies the snapshot records into RECS; a malformed one or too many is [snap-record]. */
function load_records(): void {
  nrecs = 0;
  pending = false;
  let ok = bt_seek(CUR, TREE_SNAP, 0, 0, true);
  while (ok) {
    const v = cur_val(CUR), id = cur_k1(CUR);
    if (!snap_rec_ok(v, cur_vlen(CUR)) || cur_k2(CUR) != 0 || id == 0) {
      problem("snap-record", "snapshot record malformed", F_KEY | F_TREE, 0, 0, TREE_SNAP, id, cur_k2(CUR));
      structural++;
    } else if (nrecs >= SNAPSHOT_MAX) {
      problem("snap-record", "more snapshot records than SNAPSHOT_MAX", F_KEY | F_TREE, 0, 0, TREE_SNAP, id, 0);
      structural++;
      return;
    } else {
      const r = rec_at(nrecs++);
      const f = snap_rec_flags(v);
      store<u64>(r, id); store<u64>(r, snap_rec_tid(v), 8); store<u32>(r, f, 16);
      store<u64>(r, snap_rec_origin(v), 24); store<u64>(r, snap_rec_kill_hi(v), 32);
      store<u64>(r, snap_rec_resume_k1(v), 40); store<u64>(r, snap_rec_resume_k2(v), 48);
      for (let t: u32 = 0; t < FS_TREES; t++) {
        const e = r + 56 + <usize>t * 24;
        store<u64>(e, snap_rec_root(v, t)); store<u64>(e, <u64>snap_rec_height(v, t), 8); store<u64>(e, snap_rec_gen(v, t), 16);
      }
      if (f & (SNAP_DELETING | SNAP_DROP)) pending = true;
    }
    ok = bt_next(CUR);
  }
}

/**
 * Walks the trees of the clones (`clones`) or of the snapshots, skipping records flagged
 * DELETING or DROP, as class `c`. A snapshot's roots are not newer than it [node-gen].
 */
function walk_records_of(clones: bool, c: u8): void {
  const mounted = snap_mounted_id();
  for (let i: u32 = 0; i < nrecs; i++) {
    const r = rec_at(i);
    const f = load<u32>(r, 16);
    if ((f & (SNAP_DELETING | SNAP_DROP)) != 0 || ((f & SNAP_CLONE) != 0) != clones) continue;
    walk_cls = c;
    walk_records = load<u64>(r) != mounted;
    for (let t: u32 = 0; t < FS_TREES; t++) {
      const e = r + 56 + <usize>t * 24;
      const root = load<u64>(e), gen = load<u64>(e, 16), tid = load<u64>(r, 8);
      if (!clones && gen > tid) {
        broken("node-gen", "snapshot root newer than the snapshot", F_FOUND | F_KEY, root, t, load<u64>(r), 0, gen, tid);
        continue;
      }
      check_tree_at(t, root, <u32>load<u64>(e, 8), gen);
    }
  }
}

// ---- 2. space --------------------------------------------------------------------------------

/** Whether a rollback still has to clear dead-list key (k1, k2) (its blocks are live again). */
function clearing(k1: u64, k2: u64): bool {
  for (let i: u32 = 0; i < nrecs; i++) {
    const r = rec_at(i);
    const hi = load<u64>(r, 32);
    if ((load<u32>(r, 16) & SNAP_DROP) == 0 || hi == 0 || k1 > hi) continue;
    const r1 = load<u64>(r, 40), r2 = load<u64>(r, 48);
    if (k1 > r1 || (k1 == r1 && k2 >= r2)) return true;
  }
  return false;
}

/** Tids of the origins of the clones (not being dropped), filled by origin_tids(). */
const ORIGIN_TIDS: usize = memory.data(<i32>(SNAPSHOT_MAX * 8));
let norigins: u32 = 0;
function origin_tids(): void {
  norigins = 0;
  for (let i: u32 = 0; i < nrecs; i++) {
    const r = rec_at(i);
    const f = load<u32>(r, 16);
    if ((f & SNAP_CLONE) == 0 || (f & SNAP_DROP) != 0) continue;
    const o = load<u64>(r, 24);
    for (let j: u32 = 0; j < nrecs; j++) {
      const q = rec_at(j);
      if (load<u64>(q) == o) { store<u64>(ORIGIN_TIDS + (<usize>norigins << 3), load<u64>(q, 8)); norigins++; break; }
    }
  }
}

/**
 * Whether a dead extent (birth, kill) is held by a record that has a tid in [birth, kill):
 * `clones`: some clone's origin (so the clone may use it too); else a snapshot flagged
 * DELETING (its delete is still to decide the extent's fate).
 */
function held_between(birth: u64, kill: u64, clones: bool): bool {
  if (clones) {
    for (let i: u32 = 0; i < norigins; i++) {
      const t = load<u64>(ORIGIN_TIDS + (<usize>i << 3));
      if (t >= birth && t < kill) return true;
    }
    return false;
  }
  for (let i: u32 = 0; i < nrecs; i++) {
    const r = rec_at(i);
    const f = load<u32>(r, 16), t = load<u64>(r, 8);
    if ((f & SNAP_DELETING) != 0 && (f & SNAP_CLONE) == 0 && t >= birth && t < kill) return true;
  }
  return false;
}

/**
 * The dead list (TREE_DEAD: (kill tid, start) -> len u32, flags u32, birth u64; blocks only
 * snapshots use, fs/snapshot.ts): each record well formed with 0 < birth < kill
 * [dead-record], no block listed twice [block-twice], its blocks in use by a snapshot and by
 * no head ([dead-live], [dead-unreferenced]; see check 6 in the header), the superblock's
 * total [sb-dead-count]. Blocks no tree maps are marked used here (they are allocated).
 */
function check_dead_list(sbDead: u64): void {
  let sum: u64 = 0;
  origin_tids();
  let ok = bt_seek(CUR, TREE_DEAD, 0, 0, true);
  while (ok) {
    const v = cur_val(CUR);
    const kill = cur_k1(CUR), start = cur_k2(CUR);
    const len = <u64>load<u32>(v), birth = load<u64>(v, 8);
    if (cur_vlen(CUR) != 16 || len == 0 || birth == 0 || birth >= kill) {
      problem("dead-record", "dead-list record malformed", F_KEY | F_TREE, 0, 0, TREE_DEAD, kill, start);
      ok = bt_next(CUR);
      continue;
    }
    sum += len;
    if (!in_data_area(start, len)) {
      problem("block-outside", "dead extent outside the data area", F_BLOCK | F_COUNT | F_KEY | F_TREE, 0, start, TREE_DEAD, kill, start, len);
      ok = bt_next(CUR);
      continue;
    }
    const cleared = clearing(kill, start);
    const byOrigin = held_between(birth, kill, true), byDelete = held_between(birth, kill, false);
    let live: u64 = 0, unref: u64 = 0, twice: u64 = 0;
    for (let b = start; b < start + len; b++) {
      const c = cls_of(b);
      if ((c & C_DEAD) != 0 || ((c & (C_NODE | C_DATA)) == 0 && bit_get(used, b))) { if (twice == 0) twice = b + 1; continue; }
      cls_set(b, C_DEAD);
      if (!bit_get(used, b)) { bit_set(used, b); fsck_used_blocks++; }
      if (cleared) { held++; continue; }
      if ((c & C_MAIN) != 0 || ((c & C_CLONE) != 0 && !byOrigin)) { if (live == 0) live = b + 1; }
      else if ((c & (C_CLONE | C_SNAP)) == 0) {
        if (byDelete) held++;
        else if (unref == 0) unref = b + 1;
      }
    }
    if (twice != 0) problem("block-twice", "dead-list block listed twice or claimed by another structure", F_BLOCK | F_KEY | F_TREE, 0, twice - 1, TREE_DEAD, kill, start);
    if (live != 0) problem("dead-live", "dead-list block still in use by the live filesystem or a clone (it would be freed under it)", F_BLOCK | F_KEY | F_TREE, 0, live - 1, TREE_DEAD, kill, start);
    if (unref != 0) problem("dead-unreferenced", "dead-list block no snapshot uses (leaked)", F_BLOCK | F_KEY | F_TREE, 0, unref - 1, TREE_DEAD, kill, start);
    ok = bt_next(CUR);
  }
  if (sum != sbDead) {
    problem("sb-dead-count", "dead blocks count wrong", F_FOUND, 0, 0, 0, 0, 0, sbDead, sum);
    queue(FSCK_PREEN, X_SB_DEAD, sum);
  }
}

/**
 * Blocks some snapshot maps that neither a head maps nor the dead list holds: no snapshot
 * delete would ever free them [snapshot-leak] (reported as runs). And the cow floor: the
 * superblock's last_snapshot is the newest tid of the main chain's records [sb-last-snapshot].
 */
function check_snapshot_space(sbLast: u64): void {
  let b: u64 = 0;
  while (b < total) {
    const c = cls_of(b);
    if ((c & C_SNAP) == 0 || (c & (C_HEAD | C_DEAD | C_DEFER)) != 0) { b++; continue; }
    const s = b;
    for (; b < total; b++) {
      const d = cls_of(b);
      if ((d & C_SNAP) == 0 || (d & (C_HEAD | C_DEAD | C_DEFER)) != 0) break;
    }
    problem("snapshot-leak", "blocks only snapshots use are missing from the dead list (never freed)", F_BLOCK | F_COUNT, 0, s, 0, 0, 0, b - s);
  }
  let newest: u64 = 0;
  for (let i: u32 = 0; i < nrecs; i++) {
    const r = rec_at(i);
    if ((load<u32>(r, 16) & (SNAP_CLONE | SNAP_DROP)) == 0 && load<u64>(r, 8) > newest) newest = load<u64>(r, 8);
  }
  if (newest != sbLast) {
    problem("sb-last-snapshot", "last snapshot tid (the copy-on-write floor) wrong", F_FOUND, 0, 0, 0, 0, 0, sbLast, newest);
    queue(FSCK_PREEN, X_SB_LAST, newest);
  }
}

const CUR: usize = memory.data(CURSOR_SIZE);

function check_free_space(sbFree: u64): void {
  let sum: u64 = 0;
  let prevEnd: u64 = 0;
  let count: u64 = 0;
  if (bt_seek(CUR, TREE_BNO, 0, 0, true)) {
    do {
      const s = cur_k1(CUR);
      const l = load<u64>(cur_val(CUR));
      if (l == 0) { problem("free-extent", "empty free extent", F_BLOCK | F_TREE, 0, s, TREE_BNO); rebuild_free = true; }
      else if (!free_extent_verify(TREE_BNO, s, l, cur_vlen(CUR))) {
        problem("free-extent", "free extent outside the data area", F_BLOCK | F_TREE | F_COUNT, 0, s, TREE_BNO, 0, 0, l);
        rebuild_free = true;
      }
      if (count > 0 && s <= prevEnd) {
        problem("free-extent", s == prevEnd ? "free extents not coalesced" : "free extents overlap", F_BLOCK | F_TREE, 0, s, TREE_BNO);
        rebuild_free = true;
      }
      if (s >= prevEnd || count == 0) {
        if (!mark(s, l, OWN_FREE, 0, TREE_BNO)) rebuild_free = true;
      }
      // the by-size tree must hold the same extent
      if (bt_lookup(TREE_CNT, l, s) == 0) { problem("free-cnt", "free extent missing from the by-size tree", F_BLOCK | F_TREE | F_COUNT, 0, s, TREE_CNT, 0, 0, l); rebuild_free = true; }
      prevEnd = s + l;
      sum += l;
      count++;
    } while (bt_next(CUR));
  }
  let cnt: u64 = 0;
  if (bt_seek(CUR, TREE_CNT, 0, 0, true)) {
    do { cnt++; } while (bt_next(CUR));
  }
  if (cnt != count) { problem("free-cnt", "by-size and by-offset free trees differ", F_TREE | F_FOUND, 0, 0, TREE_CNT, 0, 0, cnt, count); rebuild_free = true; }
  if (sum != sbFree) { problem("sb-free-count", "free blocks count wrong", F_FOUND, 0, 0, 0, 0, 0, sbFree, sum); rebuild_free = true; }
  fsck_free_extents = count;
}

/**
 * Leaked blocks: neither used nor free. Reported as runs, except while snapshot work is
 * pending: then they are what it still holds (a dropped tree's own blocks), counted, kept
 * as used (a free-space rebuild must not hand them out: the work frees them later), and
 * said in one informational line with the dead extents only pending work holds.
 */
function check_leaks(): void {
  let b: u64 = 0;
  while (b < total) {
    if (bit_get(used, b) || bit_get(freebits, b)) { b++; continue; }
    const s = b;
    while (b < total && !bit_get(used, b) && !bit_get(freebits, b)) b++;
    if (pending) {
      held += b - s;
      for (let x = s; x < b; x++) bit_set(used, x);
      continue;
    }
    problem("blocks-leaked", "blocks neither used nor free", F_BLOCK | F_COUNT, 0, s, 0, 0, 0, b - s);
    rebuild_free = true;
  }
  if (pending && (flags & FSCK_VERBOSE) != 0) {
    kputs("fsck: "); kputu(held); kputs(" blocks held by snapshot deletes in progress"); knl();
  }
}

// ---- 3. extents and data ----------------------------------------------------------------------

let data_buf: usize = 0;

/** FSCK_DATA: reads the extent's blocks and compares each with its XXH32 in the record. */
function check_data(ino: u64, fb: u64, disk: u64, len: u64, v: usize): void {
  for (let i: u64 = 0; i < len; i++) blk_add(VIRTIO_BLK_T_IN, disk + i, data_buf + (<usize>i << 12));
  if (blk_submit() != 0) { problem("data-io", "data blocks unreadable (I/O error)", F_INO | F_BLOCK | F_COUNT, ino, disk, 0, 0, 0, len); return; }
  for (let i: u64 = 0; i < len; i++) {
    fsck_data_blocks++;
    const want = load<u32>(v + EXT_CSUM + (<usize>i << 2));
    const got = xxh32(data_buf + (<usize>i << 12), BLOCK_SIZE);
    if (got != want) problem("data-csum", "data block checksum mismatch", F_INO | F_BLOCK | F_KEY, ino, disk + i, TREE_EXTENT, ino, fb + i);
  }
}

function check_extents(): void {
  let prevIno: u64 = 0, prevEnd: u64 = 0, writtenEnd: u64 = 0;
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
      if (prevIno != 0) finish_inode_blocks(prevIno, blocksSum, writtenEnd);
      prevIno = ino; prevEnd = 0; blocksSum = 0; writtenEnd = 0;
    }
    const ev = extent_verify(v, cur_vlen(CUR), fb);
    if (ev == EV_DISK) {
      // the journal, a superblock or past the end: reported once here, not block by block
      problem("block-outside", "extent blocks outside the data area", F_INO | F_KEY | F_BLOCK | F_COUNT, ino, disk, TREE_EXTENT, ino, fb, len);
      continue;
    }
    if (ev == EV_FLAGS && load<u32>(v, EXT_FLAGS) == EXT_UNWRITTEN) {
      problem("extent-unwritten", "unwritten extent without the unwritten feature", F_INO | F_KEY | F_COUNT, ino, 0, TREE_EXTENT, ino, fb, len);
      continue;
    }
    if (ev != EV_OK) {
      problem("extent-record", extent_why(ev), F_INO | F_KEY | F_COUNT, ino, 0, TREE_EXTENT, ino, fb, len);
      continue;
    }
    if (fb < prevEnd) problem("extent-overlap", "extents overlap in the file", F_INO | F_KEY, ino, 0, TREE_EXTENT, ino, fb);
    const unwritten = (load<u32>(v, EXT_FLAGS) & EXT_UNWRITTEN) != 0;
    if (unwritten) check_unwritten(ino, fb, v, len);
    // an UNWRITTEN extent's bytes are never read: nothing to verify against its checksums
    // the tree walk claimed the blocks (claim_extents, for every tree that maps them)
    if (data_buf != 0 && !unwritten) check_data(ino, fb, disk, len, v);
    if (!unwritten) writtenEnd = fb + len;
    prevEnd = fb + len;
    blocksSum += len;
  } while (bt_next(CUR));
  if (prevIno != 0) finish_inode_blocks(prevIno, blocksSum, writtenEnd);
}

/**
 * An UNWRITTEN extent (format.ts; extent_verify already refused it without
 * INCOMPAT_UNWRITTEN): every checksum 0 (they stand for no bytes). It may lie past EOF
 * (FALLOC_FL_KEEP_SIZE).
 */
function check_unwritten(ino: u64, fb: u64, v: usize, len: u64): void {
  for (let i: u64 = 0; i < len; i++) {
    if (load<u32>(v + EXT_CSUM + (<usize>i << 2)) != 0) {
      problem("extent-unwritten-csum", "unwritten extent with a data checksum", F_INO | F_KEY, ino, 0, TREE_EXTENT, ino, fb + i);
      return;
    }
  }
}

function finish_inode_blocks(ino: u64, sum: u64, endBlock: u64): void {
  const rec = bt_lookup(TREE_INODE, ino, 0);
  if (rec == 0) {
    problem("extent-orphan", "extents of a missing inode", F_INO | F_COUNT, ino, 0, 0, 0, 0, sum);
    // the records go; their blocks leak and the next pass returns them to free space
    if (may(FSCK_YES) && bt_seek(CUR2, TREE_EXTENT, ino, 0, true)) {
      do {
        if (cur_k1(CUR2) != ino) break;
        queue(FSCK_YES, X_EXTENT_DEL, ino, cur_k2(CUR2));
      } while (bt_next(CUR2));
    }
    return;
  }
  const blocks = load<u64>(rec, I_BLOCKS);
  if (blocks != sum) { problem("inode-blocks", "inode blocks count wrong", F_INO | F_FOUND, ino, 0, 0, 0, 0, blocks, sum); queue(FSCK_PREEN, X_BLOCKS, ino, sum); }
  const size = load<u64>(rec, I_SIZE);
  if (endBlock > (size + BLOCK_SIZE - 1) / BLOCK_SIZE) {
    problem("extent-eof", "extent past the end of the file", F_INO | F_FOUND, ino, 0, 0, 0, 0, size, endBlock * BLOCK_SIZE);
    queue(FSCK_YES, X_SIZE, ino, endBlock * BLOCK_SIZE);
  }
  if (load<u32>(rec, I_FLAGS) & INODE_INLINE) problem("inode-inline", "inline inode with extents", F_INO, ino);
  if (S_ISSPECIAL(load<u32>(rec, I_MODE))) problem("inode-special", "special inode with extents", F_INO, ino);
}
const CUR2: usize = memory.data(CURSOR_SIZE);

// ---- 4. names --------------------------------------------------------------------------------

/** Queues removal of the entry under the cursor; returns true when it will go (not counted). */
function drop_entry(need: u32, dir: u64, k2: u64): bool {
  return queue(need, X_DIRENT_DEL, dir, k2);
}

function check_orphan_entry(k2: u64, ino: u64): void {
  if (k2 != ino) { problem("orphan", "orphan entry key does not match its inode", F_INO | F_KEY, ino, 0, TREE_DIRENT, ORPHAN_DIR, k2); drop_entry(FSCK_PREEN, ORPHAN_DIR, k2); return; }
  const rec = bt_lookup(TREE_INODE, ino, 0);
  if (rec == 0) { problem("orphan", "orphan entry for a missing inode", F_INO | F_KEY, ino, 0, TREE_DIRENT, ORPHAN_DIR, k2); drop_entry(FSCK_PREEN, ORPHAN_DIR, k2); return; }
  if (load<u32>(rec, I_NLINK) != 0 || ino == ROOT_INO) { problem("orphan", "orphan entry for an inode with links", F_INO | F_KEY, ino, 0, TREE_DIRENT, ORPHAN_DIR, k2); drop_entry(FSCK_PREEN, ORPHAN_DIR, k2); return; }
  if (ino <= max_ino) store<u32>(links_of(ino), load<u32>(links_of(ino)) + ORPHAN_LINK);
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
    if (dir == ORPHAN_DIR) { check_orphan_entry(k2, ino); continue; }
    const nlen = <u32>load<u8>(v, DE_NAMELEN);
    if (<u32>DE_NAME + nlen != vlen) { problem("dirent-length", "directory entry length wrong", F_INO | F_KEY, ino, 0, TREE_DIRENT, dir, k2); drop_entry(FSCK_YES, dir, k2); continue; }
    const key = name_key_checked(v + DE_NAME, nlen); // dirent_verify's own name check
    if (key == 0) {
      problem("name-bad", "entry name is not one path component ('/', NUL, '.', '..', empty or too long)", F_INO | F_KEY, ino, 0, TREE_DIRENT, dir, k2);
      if (drop_entry(FSCK_YES, dir, k2)) continue;
    } else if (key != (k2 & 0xffff_ffff_0000_0000)) {
      problem("name-hash", "entry name does not match its hash key", F_INO | F_KEY, ino, 0, TREE_DIRENT, dir, k2);
      if (drop_entry(FSCK_YES, dir, k2)) continue;
    }
    const drec = bt_lookup(TREE_INODE, dir, 0);
    if (dir > max_ino || drec == 0 || !S_ISDIR(load<u32>(drec, I_MODE))) {
      problem("dirent-dir", "entry in a missing or non-directory inode", F_INO | F_KEY, ino, 0, TREE_DIRENT, dir, k2);
      drop_entry(FSCK_PREEN, dir, k2);
      continue;
    }
    const rec = bt_lookup(TREE_INODE, ino, 0);
    if (rec == 0 || ino > max_ino) {
      problem("dirent-dangling", "entry names a missing inode", F_INO | F_KEY, ino, 0, TREE_DIRENT, dir, k2);
      drop_entry(FSCK_PREEN, dir, k2);
      continue;
    }
    const m = load<u32>(rec, I_MODE);
    const t = load<u8>(v, DE_TYPE);
    const want: u8 = dtype(m);
    if (t != want) { problem("dirent-type", "entry type differs from the inode's", F_INO | F_KEY | F_FOUND, ino, 0, TREE_DIRENT, dir, k2, t, want); queue(FSCK_YES, X_DIRENT_TYPE, dir, k2, want); }
    if (S_ISDIR(m)) {
      if (ino == ROOT_INO) { problem("dir-names", "entry names the root directory", F_INO | F_KEY, ino, 0, TREE_DIRENT, dir, k2); if (drop_entry(FSCK_YES, dir, k2)) continue; }
      if (load<u32>(links_of(ino)) != 0) {
        // a second name of a directory: the first one (in key order) stays
        problem("dir-names", "directory has more than one name", F_INO | F_KEY, ino, 0, TREE_DIRENT, dir, k2);
        if (drop_entry(FSCK_YES, dir, k2)) continue;
      } else {
        store<u32>(entry_dir_of(ino), <u32>dir);
        if (load<u64>(rec, I_PARENT) != dir) {
          problem("dir-parent", "directory's parent pointer wrong", F_INO | F_FOUND, ino, 0, 0, 0, 0, load<u64>(rec, I_PARENT), dir);
          queue(FSCK_PREEN, X_PARENT, ino, dir);
        }
      }
      store<u32>(subdirs_of(dir), load<u32>(subdirs_of(dir)) + 1);
    }
    store<u32>(links_of(ino), load<u32>(links_of(ino)) + 1);
  } while (bt_next(CUR));
}

/** Reachability states of directories (reach table). */
const R_UNKNOWN: u8 = 0, R_WALKING: u8 = 1, R_YES: u8 = 2, R_NO: u8 = 3;

/**
 * Whether directory `ino` is reachable from the root through the entries that name it. Each
 * directory's chain is followed once (memoized), without recursion or a depth limit: the
 * chain is walked up marking R_WALKING until a known state, the root, a break or a cycle
 * (a directory met again while walking), then walked again to record the answer.
 */
function reachable(ino: u64): bool {
  let d = ino;
  let answer: u8 = R_NO;
  for (let guard: u64 = 0; guard <= max_ino + 1; guard++) {
    if (d == ROOT_INO) { answer = R_YES; break; }
    if (d == 0 || d > max_ino) break;
    const s = load<u8>(reach + <usize>d);
    if (s == R_YES || s == R_NO) { answer = s; break; }
    if (s == R_WALKING) break; // a cycle
    store<u8>(reach + <usize>d, R_WALKING);
    d = <u64>load<u32>(entry_dir_of(d));
  }
  d = ino;
  for (let guard: u64 = 0; guard <= max_ino + 1; guard++) {
    if (d == ROOT_INO || d == 0 || d > max_ino || load<u8>(reach + <usize>d) != R_WALKING) break;
    store<u8>(reach + <usize>d, answer);
    d = <u64>load<u32>(entry_dir_of(d));
  }
  return answer == R_YES;
}

function check_inodes(): void {
  if (!bt_seek(CUR, TREE_INODE, 0, 0, true)) { problem("root-missing", "inode tree empty", 0); structural++; return; }
  let sawRoot = false;
  let lastRecord: u64 = 0; // the last ino whose record (ino, 0) was met: its attributes follow it
  do {
    const ino = cur_k1(CUR);
    const rec = cur_val(CUR);
    const vlen = cur_vlen(CUR);
    const k2 = cur_k2(CUR);
    // with RO_COMPAT_XATTR a nonzero second half is an attribute item (fs/xattr.ts)
    if (k2 != 0 && (sb_ro_compat & RO_COMPAT_XATTR) != 0) { check_xattr(ino, k2, rec, vlen, ino == lastRecord); continue; }
    lastRecord = ino;
    fsck_inodes++;
    if (k2 != 0) problem("inode-key", "inode key with a nonzero second half", F_INO | F_KEY, ino, 0, TREE_INODE, ino, k2);
    if (ino == ROOT_INO) sawRoot = true;
    if (ino > max_ino || (ino < ROOT_INO)) { problem("inode-ino", "inode number outside the range in use", F_INO | F_FOUND, ino, 0, 0, 0, 0, ino, max_ino); continue; }
    check_inode(ino, rec, vlen);
  } while (bt_next(CUR));
  if (!sawRoot) { problem("root-missing", "root directory missing", F_INO, ROOT_INO); structural++; }
}

/** Feature flags of the superblock being checked (check_all sets them). */
let sb_incompat: u32 = 0;
let sb_ro_compat: u32 = 0;
/** Attribute items met by the last run. */
export let fsck_xattrs: u64 = 0;
let feature_special_reported = false;

/**
 * Checks attribute item (ino, k2) at `v` (`vlen` bytes): it must follow its inode's record
 * [xattr-orphan] and pass xattr_verify: record length and name length [xattr-record], a
 * namespace HelixFS stores [xattr-namespace], its name hashing to its key [xattr-hash]. A bad
 * item is removed by -y (the inode keeps its other attributes).
 */
function check_xattr(ino: u64, k2: u64, v: usize, vlen: u32, hasInode: bool): void {
  fsck_xattrs++;
  if (!hasInode) {
    problem("xattr-orphan", "extended attribute of a missing inode", F_INO | F_KEY, ino, 0, TREE_INODE, ino, k2);
    queue(FSCK_YES, X_XATTR_DEL, ino, k2);
    return;
  }
  const xv = xattr_verify(ino, k2, v, vlen);
  if (xv == XV_OK) return;
  const label = xv == XV_NAMESPACE ? "xattr-namespace" : xv == XV_HASH ? "xattr-hash" : "xattr-record";
  problem(label, xattr_why(xv), F_INO | F_KEY, ino, 0, TREE_INODE, ino, k2);
  queue(FSCK_YES, X_XATTR_DEL, ino, k2);
}

/** fsck's label for an inode record that inode_verify (inode.ts) refuses. */
function inode_fault_label(r: i32): string {
  if (r == IV_TYPE) return "inode-type";
  if (r == IV_LENGTH) return "inode-reclen";
  if (r == IV_INLINE_SIZE) return "inode-inline";
  if (r == IV_FLAGS) return "inode-flags";
  if (r == IV_SPECIAL) return "inode-special";
  return "inode-size"; // IV_SIZE
}

function check_inode(ino: u64, rec: usize, vlen: u32): void {
  const m = load<u32>(rec, I_MODE);
  const type = m & S_IFMT;
  const iv = inode_verify(rec, vlen); // the same checks the kernel makes when it uses a record
  if (iv == IV_INLINE_BLOCKS) {
    const blocks = load<u64>(rec, I_BLOCKS);
    problem("inode-blocks", "inline inode with a data blocks count", F_INO | F_FOUND, ino, 0, 0, 0, 0, blocks, 0);
    queue(FSCK_PREEN, X_BLOCKS, ino, 0);
  } else if (iv != IV_OK) problem(inode_fault_label(iv), inode_why(iv), F_INO, ino);
  if (S_ISSPECIAL(m) && (sb_incompat & INCOMPAT_SPECIAL) == 0 && !feature_special_reported) {
    feature_special_reported = true;
    problem("feature-missing", "special inode on a filesystem without INCOMPAT_SPECIAL", F_INO, ino);
  }
  const nlink = load<u32>(rec, I_NLINK);
  const raw = load<u32>(links_of(ino));
  const names = raw & (ORPHAN_LINK - 1);
  const orphan = raw >= ORPHAN_LINK;
  if (type == S_IFDIR) {
    const want = 2 + load<u32>(subdirs_of(ino));
    if (ino != ROOT_INO && names == 0) {
      problem("dir-unconnected", "directory not reachable from the root (no name)", F_INO, ino);
      if (queue(FSCK_PREEN, X_LOST, ino, want, 1)) return;
    } else if (ino != ROOT_INO && !reachable(ino)) {
      // in a cycle of directories: its entry goes, the next pass links it into /lost+found
      problem("dir-unconnected", "directory not reachable from the root (cycle)", F_INO | F_FOUND, ino, 0, 0, 0, 0, load<u32>(entry_dir_of(ino)), ROOT_INO);
      remove_entry_of(ino);
    }
    if (nlink != want) { problem("link-count", "directory link count wrong", F_INO | F_FOUND, ino, 0, 0, 0, 0, nlink, want); queue(FSCK_PREEN, X_NLINK, ino, want); }
    return;
  }
  if (names == 0 && !orphan) {
    problem("inode-unattached", "inode has no name and is not an orphan", F_INO | F_FOUND, ino, 0, 0, 0, 0, nlink, 0);
    queue(FSCK_PREEN, X_LOST, ino, 1, 0);
    return;
  }
  if (nlink != names) { problem("link-count", "link count wrong", F_INO | F_FOUND, ino, 0, 0, 0, 0, nlink, names); queue(FSCK_PREEN, X_NLINK, ino, names); }
}

/** Queues (Y) the removal of directory `ino`'s entry in its parent (found by a scan). */
function remove_entry_of(ino: u64): void {
  if (!may(FSCK_YES)) return;
  const dir = <u64>load<u32>(entry_dir_of(ino));
  if (!bt_seek(CUR2, TREE_DIRENT, dir, 0, true)) return;
  do {
    if (cur_k1(CUR2) != dir) return;
    if (load<u64>(cur_val(CUR2), DE_INO) == ino) { queue(FSCK_YES, X_DIRENT_DEL, dir, cur_k2(CUR2)); return; }
  } while (bt_next(CUR2));
}

// ---- 5. journal and superblock ----------------------------------------------------------------

/** Checks the journal superblock at `jstart` against the log's size (`jblocks`, sb_log_blocks). */
function check_journal(jstart: u64, jblocks: u32): void {
  // with MNT_FSCK_JOURNAL the mount discarded them (the CLI reports that): nothing left here
  if (j_log_corrupt && !mount_dropped_log) {
    problem("journal-damaged", "journal: committed transactions follow a damaged one and were not replayed", F_BLOCK, 0, jstart);
    fsck_unfixed++;
  }
  const pfn = alloc_pages(0);
  if (pfn == NO_PFN) return;
  const b = pfn_to_addr(pfn);
  blk_add(VIRTIO_BLK_T_IN, jstart, b);
  if (blk_submit() != 0) problem("journal-sb", "journal superblock unreadable", F_BLOCK, 0, jstart);
  else if (block_verify(b, MAGIC_JSB, jstart) != VERIFY_OK) problem("journal-sb", "journal superblock fails its checksum", F_BLOCK, 0, jstart);
  else {
    const first = load<u32>(b, JSB_FIRST), maxlen = load<u32>(b, JSB_MAXLEN), start = load<u32>(b, JSB_START);
    if (first != 1) { problem("journal-sb", "journal superblock: first log block wrong", F_BLOCK | F_FOUND, 0, jstart, 0, 0, 0, first, 1); queue(FSCK_PREEN, X_JOURNAL_SB, 0); }
    else if (maxlen != jblocks) problem("journal-sb", "journal superblock: size differs from the superblock's", F_BLOCK | F_FOUND, 0, jstart, 0, 0, 0, maxlen, jblocks);
    else if (start == 0 || start >= maxlen) { problem("journal-sb", "journal superblock: log start outside the journal", F_BLOCK | F_FOUND, 0, jstart, 0, 0, 0, start, 1); queue(FSCK_PREEN, X_JOURNAL_SB, 0); }
  }
  free_pages(pfn, 0);
}

// ---- repair ------------------------------------------------------------------------------------

/**
 * Rebuilds both free-space trees from the used bitmap (every block the superblocks, journal,
 * AGFL, tree nodes, file extents and deferred frees claim): empties them, then inserts every
 * run of unclaimed blocks. New nodes of these trees come from the AGFL (already claimed);
 * nodes they drop return to it or are freed at commit. Returns 0 or -errno.
 */
function rebuild_free_space(): i32 {
  let removed: u64 = 0;
  for (let t: u32 = TREE_BNO; t <= TREE_CNT; t++) {
    for (let guard: u64 = 0; guard <= total; guard++) {
      if (!bt_seek(CUR, t, 0, 0, true)) { if (bt_errno != 0) return bt_errno; break; }
      const r = bt_delete(t, cur_k1(CUR), cur_k2(CUR));
      if (r != 0) return r;
      if (t == TREE_BNO) removed++;
    }
  }
  alloc_set_free(0);
  const VAL = memory.data(8);
  let runs: u64 = 0, blocks: u64 = 0;
  let b: u64 = 0;
  while (b < total) {
    if (bit_get(used, b)) { b++; continue; }
    const s = b;
    while (b < total && !bit_get(used, b)) b++;
    const l = b - s;
    store<u64>(VAL, l);
    let r = bt_insert(TREE_BNO, s, 0, VAL, 8);
    if (r == 0) r = bt_insert(TREE_CNT, l, s, VAL, 0);
    if (r != 0) return r;
    runs++; blocks += l;
    alloc_set_free(blocks);
    // keep the AGFL stocked for the next inserts' node splits (it takes from what is in)
    const rr = alloc_agfl_refill();
    if (rr != 0 && rr != -ENOSPC) return rr;
  }
  // what the refills took is no longer free: count the tree as it is now
  let sum: u64 = 0;
  if (bt_seek(CUR, TREE_BNO, 0, 0, true)) {
    do { sum += load<u64>(cur_val(CUR)); } while (bt_next(CUR));
  }
  if (bt_errno != 0) return bt_errno;
  alloc_set_free(sum);
  fixed("rebuilt the free-space trees from the extent maps: free extents ", removed, " replaced by ", runs);
  return 0;
}

/** The /lost+found directory (created in the root when missing), or 0 with `lf_err`. */
let lf_ino: u64 = 0;
let lf_err: i32 = 0;
function lost_found(): u64 {
  if (lf_ino != 0) return lf_ino;
  if (dir_lookup(ROOT_INO, LOST_FOUND, LOST_FOUND_LEN)) {
    const rec = bt_lookup(TREE_INODE, de_ino, 0);
    if (rec != 0 && S_ISDIR(load<u32>(rec, I_MODE))) { lf_ino = de_ino; return lf_ino; }
    lf_err = -EUCLEAN; // a file named lost+found: e2fsck asks; we leave it
    return 0;
  }
  if (bt_errno != 0) { lf_err = bt_errno; return 0; }
  const ino = inode_create(S_IFDIR | 0o700, 0, 0, 2, ROOT_INO);
  if (ino == 0) { lf_err = -ENOSPC; return 0; }
  let r = dir_add(ROOT_INO, LOST_FOUND, LOST_FOUND_LEN, ino, DT_DIR);
  if (r == 0) r = inode_link_delta(ROOT_INO, 1) < 0 ? -EIO : 0;
  if (r != 0) { lf_err = r; return 0; }
  fixed("created /lost+found, inode ", ino);
  lf_ino = ino;
  return ino;
}

/** Links inode `ino` into /lost+found as "#ino" (e2fsck's name). 0 or -errno. */
function link_lost(ino: u64, nlink: u64, isDir: bool): i32 {
  const lf = lost_found();
  if (lf == 0) return lf_err;
  const NAME = memory.data(24);
  let n: u32 = 0;
  store<u8>(NAME, 35); // '#'
  const tmp = memory.data(24);
  let v = ino, k: u32 = 0;
  do { store<u8>(tmp + k++, <u8>(48 + v % 10)); v /= 10; } while (v != 0);
  n = 1;
  while (k > 0) store<u8>(NAME + n++, load<u8>(tmp + --k));
  const rec = inode_get_mut(ino);
  if (rec == 0) return -EIO;
  const m = load<u32>(rec, I_MODE);
  const type: u8 = isDir ? DT_DIR : dtype(m);
  store<u32>(rec, <u32>nlink, I_NLINK);
  if (isDir) store<u64>(rec, lf, I_PARENT);
  const r = dir_add(lf, NAME, n, ino, type);
  if (r != 0) return r;
  if (isDir && inode_link_delta(lf, 1) < 0) return -EIO;
  fixed("moved to /lost+found (unattached), inode ", ino);
  return 0;
}

function apply_one(kind: u32, a: u64, b: u64, c: u64): i32 {
  if (kind == X_DIRENT_DEL) {
    const r = bt_delete(TREE_DIRENT, a, b);
    if (r == 0) fixed("removed the directory entry of directory ", a, ", key ", b);
    return r;
  }
  if (kind == X_DIRENT_TYPE) {
    const v = bt_lookup(TREE_DIRENT, a, b);
    if (v == 0) return bt_errno != 0 ? bt_errno : -EIO;
    const VAL = memory.data(16 + NAME_MAX);
    const len = <u32>DE_NAME + <u32>load<u8>(v, DE_NAMELEN);
    memory.copy(VAL, v, len);
    store<u8>(VAL, <u8>c, DE_TYPE);
    let r = bt_delete(TREE_DIRENT, a, b);
    if (r == 0) r = bt_insert(TREE_DIRENT, a, b, VAL, len);
    if (r == 0) fixed("set the entry type to the inode's in directory ", a, ", type ", c);
    return r;
  }
  if (kind == X_EXTENT_DEL) {
    const r = bt_delete(TREE_EXTENT, a, b);
    if (r == 0) fixed("removed the extent record of missing inode ", a, " at file block ", b);
    return r;
  }
  if (kind == X_SB_INODES) {
    // the mounted head's count: the superblock's, or a mounted clone's record (inode.ts)
    const r = inode_count_set(a);
    if (r == 0) fixed("set the superblock's inodes count to ", a);
    return r;
  }
  if (kind == X_SB_DEAD || kind == X_SB_LAST) {
    const sb = bread(0, MAGIC_SUPER);
    if (sb == 0) return buf_errno;
    store<u64>(sb + (kind == X_SB_DEAD ? SB_DEAD_BLOCKS : SB_LAST_SNAPSHOT), a);
    journal_dirty_sb();
    // the main filesystem's cow floor in core follows (a mounted clone keeps its origin's)
    if (kind == X_SB_LAST && snap_mounted_id() == 0) bt_set_cow_floor(a);
    fixed(kind == X_SB_DEAD ? "set the superblock's dead blocks count to " : "set the superblock's last snapshot tid to ", a);
    return 0;
  }
  if (kind == X_JOURNAL_SB) { rewrite_jsb = true; return 0; }
  if (kind == X_XATTR_DEL) {
    const r = bt_delete(TREE_INODE, a, b);
    if (r == 0) fixed("removed the extended attribute item of inode ", a, ", key ", b);
    return r;
  }
  if (kind == X_LOST) return link_lost(a, b, c != 0);
  // the record itself, not inode_get_mut: a repair may be what makes it pass inode_verify
  // (an inline inode with a blocks count); a change in place keeps the inode cache valid
  const rec = bt_lookup_mut(TREE_INODE, a, 0);
  if (rec == 0) return bt_errno != 0 ? bt_errno : -EIO;
  if (kind == X_NLINK) { store<u32>(rec, <u32>b, I_NLINK); fixed("set the link count of inode ", a, " to ", b); }
  else if (kind == X_BLOCKS) { store<u64>(rec, b, I_BLOCKS); fixed("set the blocks count of inode ", a, " to ", b); }
  else if (kind == X_PARENT) { store<u64>(rec, b, I_PARENT); fixed("set the parent pointer of directory ", a, " to ", b); }
  else if (kind == X_SIZE) { store<u64>(rec, b, I_SIZE); fixed("extended the size of inode ", a, " to ", b); }
  return 0;
}

let rewrite_jsb: bool = false;

/** Marks the superblock buffer as part of the running transaction. */
function journal_dirty_sb(): void { journal_dirty(0); }

/**
 * Applies the queued repairs in one transaction: first free space (so nothing below can be
 * handed a block that is in use), then the queue in order, then commits. Returns 0 or -errno
 * (a failed commit aborts the journal: nothing of the repair reaches the disk).
 */
function apply_fixes(): i32 {
  if (rebuild_free && may(FSCK_PREEN)) {
    const r = rebuild_free_space();
    if (r != 0) { not_fixed("free space rebuild failed, blocks ", total, r); return r; }
  } else if (rebuild_free) fsck_unfixed++;
  lf_ino = 0;
  for (let i: u32 = 0; i < nfix; i++) {
    const e = fixes + (<usize>i << 5);
    const kind = load<u32>(e);
    const a = load<u64>(e, 8), b = load<u64>(e, 16), c = load<u64>(e, 24);
    const r = apply_one(kind, a, b, c);
    if (r != 0) { not_fixed("repair failed, inode or directory ", a, r); return r; }
  }
  dcache_clear(); // entries went behind the dentry cache's back
  dir_iter_reset();
  const r = fs_commit();
  if (r != 0) return r;
  if (rewrite_jsb) {
    const rj = journal_checkpoint();
    if (rj != 0) return rj;
    fixed("rewrote the journal superblock, journal at block ", 1);
  }
  return 0;
}

// ---- the run -----------------------------------------------------------------------------------

/** While fsck reads damaged blocks on purpose, they are reported as problems, not as errors. */
function quiet_metadata_error(err: i32): void {}

let frames_b: u32 = NO_PFN, frames_f: u32 = NO_PFN, frames_l: u32 = NO_PFN, frames_s: u32 = NO_PFN,
  frames_e: u32 = NO_PFN, frames_r: u32 = NO_PFN, frames_x: u32 = NO_PFN, frames_d: u32 = NO_PFN,
  frames_c: u32 = NO_PFN, frames_h: u32 = NO_PFN;

function table(order: u32): u32 {
  const pfn = alloc_pages(order);
  if (pfn != NO_PFN) memory.fill(pfn_to_addr(pfn), 0, <usize>PAGE_SIZE << order);
  return pfn;
}

function release_tables(): void {
  if (frames_b != NO_PFN) free_pages(frames_b, bitmap_order);
  if (frames_f != NO_PFN) free_pages(frames_f, bitmap_order);
  if (frames_l != NO_PFN) free_pages(frames_l, links_order);
  if (frames_s != NO_PFN) free_pages(frames_s, links_order);
  if (frames_e != NO_PFN) free_pages(frames_e, links_order);
  if (frames_r != NO_PFN) free_pages(frames_r, reach_order);
  if (frames_x != NO_PFN) free_pages(frames_x, FIX_ORDER);
  if (frames_d != NO_PFN) free_pages(frames_d, DATA_BATCH_ORDER);
  if (frames_c != NO_PFN) free_pages(frames_c, cls_order);
  if (frames_h != NO_PFN) free_pages(frames_h, bitmap_order);
  frames_c = NO_PFN; frames_h = NO_PFN; cls = 0; here = 0;
  frames_b = NO_PFN; frames_f = NO_PFN; frames_l = NO_PFN; frames_s = NO_PFN;
  frames_e = NO_PFN; frames_r = NO_PFN; frames_x = NO_PFN; frames_d = NO_PFN;
  used = 0; freebits = 0; links = 0; subdirs = 0; entry_dir = 0; reach = 0; fixes = 0; data_buf = 0;
}

/** Allocates the per-run tables. false when memory is short. */
function alloc_tables(): bool {
  bitmap_order = order_for((total + 7) / 8);
  links_order = order_for((max_ino + 1) * 4);
  reach_order = order_for(max_ino + 1);
  frames_b = table(bitmap_order); frames_f = table(bitmap_order);
  frames_l = table(links_order); frames_s = table(links_order); frames_e = table(links_order);
  frames_r = table(reach_order);
  cls_order = order_for(total);
  frames_c = table(cls_order); frames_h = table(bitmap_order);
  if ((flags & (FSCK_PREEN | FSCK_YES)) != 0) frames_x = table(FIX_ORDER);
  if ((flags & FSCK_DATA) != 0) frames_d = alloc_pages(DATA_BATCH_ORDER);
  if (frames_b == NO_PFN || frames_f == NO_PFN || frames_l == NO_PFN || frames_s == NO_PFN || frames_e == NO_PFN ||
      frames_r == NO_PFN || frames_c == NO_PFN || frames_h == NO_PFN || ((flags & (FSCK_PREEN | FSCK_YES)) != 0 && frames_x == NO_PFN) ||
      ((flags & FSCK_DATA) != 0 && frames_d == NO_PFN)) return false;
  used = pfn_to_addr(frames_b); freebits = pfn_to_addr(frames_f);
  links = pfn_to_addr(frames_l); subdirs = pfn_to_addr(frames_s); entry_dir = pfn_to_addr(frames_e);
  reach = pfn_to_addr(frames_r);
  cls = pfn_to_addr(frames_c); here = pfn_to_addr(frames_h);
  fixes = frames_x != NO_PFN ? pfn_to_addr(frames_x) : 0;
  data_buf = frames_d != NO_PFN ? pfn_to_addr(frames_d) : 0;
  return true;
}

/** The check passes over the mounted filesystem; fills the tables and the repair queue. */
function check_all(sb: usize): void {
  const sbFree = load<u64>(sb, SB_FREE_BLOCKS);
  // the mounted head's inode count: the superblock's, or a mounted clone's record (inode.ts)
  const sbInodes = inode_count();
  sb_incompat = load<u32>(sb, SB_INCOMPAT);
  sb_ro_compat = load<u32>(sb, SB_RO_COMPAT);
  feature_special_reported = false;
  const jstart = load<u64>(sb, SB_JOURNAL_START);
  const jblocks = load<u32>(sb, SB_JOURNAL_BLOCKS);
  const agflCount = load<u32>(sb, SB_AGFL_COUNT);
  const sbDead = load<u64>(sb, SB_DEAD_BLOCKS);
  const sbLast = load<u64>(sb, SB_LAST_SNAPSHOT);
  const SB_ROOTS_COPY = memory.data(<i32>(TREE_COUNT * <u32>SB_TREE_ENTRY));
  memory.copy(SB_ROOTS_COPY, sb + SB_TREES, <usize>TREE_COUNT * SB_TREE_ENTRY);
  // the walk below may evict the superblock buffer: copy what is needed
  const AGFL_COPY = memory.data(AGFL_MAX * 8);
  memory.copy(AGFL_COPY, sb + SB_AGFL, AGFL_MAX * 8);
  mark(0, 1, OWN_META, 0, 0);
  mark(total - 1, 1, OWN_META, 0, 0);
  if (!mark(jstart, <u64>jblocks, OWN_META, 0, 0)) structural++;
  if (agflCount > AGFL_MAX) { problem("agfl", "AGFL count too large", F_FOUND, 0, 0, 0, 0, 0, agflCount, AGFL_MAX); structural++; }
  for (let i: u32 = 0; i < min<u32>(agflCount, AGFL_MAX); i++) mark(load<u64>(AGFL_COPY + (<usize>i << 3)), 1, OWN_META, 0, TREE_BNO);
  check_journal(jstart, sb_log_blocks(sb));
  // the global trees, then the heads (the live filesystem, then clones), then snapshots:
  // see the class table at `cls` for why this order makes SNAP exact where it matters
  walk_cls = C_MAIN;
  walk_records = false;
  for (let t: u32 = FS_TREES; t < TREE_COUNT; t++) check_tree(t, SB_ROOTS_COPY - SB_TREES);
  walk_records = snap_mounted_id() != 0;
  for (let t: u32 = 0; t < FS_TREES; t++) check_tree(t, SB_ROOTS_COPY - SB_TREES);
  walk_records = false;
  if (structural == 0) {
    load_records();
    if (structural == 0) {
      walk_records_of(true, C_CLONE);
      walk_records_of(false, C_SNAP);
    }
  }
  // extents freed by the running transaction stay allocated until it commits; one a
  // snapshot still maps goes to the dead list then (the kill hook)
  const mainMounted = snap_mounted_id() == 0;
  for (let i: u32 = 0; i < alloc_deferred_count(); i++) {
    const ds = alloc_deferred_start(i), dl = alloc_deferred_len(i);
    if (ds + dl > total || ds + dl < ds) { mark(ds, dl, OWN_META, 0, 0); continue; }
    for (let b = ds; b < ds + dl; b++) {
      const c = cls_of(b);
      if ((c & (C_NODE | C_DATA)) == 0 || (mainMounted && (c & C_MAIN) != 0)) mark(b, 1, OWN_META, 0, 0);
      else cls_set(b, C_DEFER);
    }
  }
  memory.fill(freebits, 0, <usize>PAGE_SIZE << bitmap_order);
  if (structural > 0) return; // the record passes below would walk damaged trees
  check_dead_list(sbDead);
  check_snapshot_space(sbLast);
  check_extents();
  check_free_space(sbFree);
  check_leaks();
  check_dirents();
  check_inodes();
  // the inodes lost+found would add are counted by inode_create itself; a mounted snapshot
  // keeps no count of its own (the superblock's is the live filesystem's): nothing to compare
  if (sbInodes != fsck_inodes && (snap_mounted_id() == 0 || mounted_is_clone())) {
    problem("sb-inode-count", "inodes count wrong", F_FOUND, 0, 0, 0, 0, 0, sbInodes, fsck_inodes);
    queue(FSCK_PREEN, X_SB_INODES, fsck_inodes);
  }
}

/**
 * Checks the mounted filesystem and, with FSCK_PREEN or FSCK_YES on a writable mount, repairs
 * what the mode allows (see the case table above) in one committed transaction. Flags:
 * FSCK_VERBOSE (print each problem and each change), FSCK_DATA (check every data block),
 * FSCK_MARK_ERRORS. Returns the number of problems found (0 = clean) or -ENOMEM / -EIO; the
 * repairs made and refused are in fsck_fixed / fsck_unfixed. A run with repairs must be
 * followed by a check: a repair can reveal what the damage hid (e2fsck's restart).
 */
export function fsck_run(f: u32): i32 {
  flags = f;
  if (flags & FSCK_YES) flags |= FSCK_PREEN;
  problems = 0; structural = 0; fsck_fixed = 0; fsck_unfixed = 0; nfix = 0;
  rebuild_free = false; rewrite_jsb = false;
  fsck_xattrs = 0;
  held = 0; nrecs = 0; pending = false;
  fsck_nodes = 0; fsck_inodes = 0; fsck_dirents = 0; fsck_extents = 0; fsck_used_blocks = 0; fsck_free_extents = 0; fsck_data_blocks = 0;
  const repair = (flags & (FSCK_PREEN | FSCK_YES)) != 0 && !fs_readonly && !fs_errored;
  if (!repair) flags &= ~(FSCK_PREEN | FSCK_YES);
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) { problem("sb", "superblock unreadable", F_BLOCK, 0, 0); return <i32>problems; }
  total = load<u64>(sb, SB_TOTAL_BLOCKS);
  max_ino = load<u64>(sb, SB_NEXT_INO);
  if (max_ino > FSCK_INODES_MAX) { problem("inode-ino", "too many inodes for fsck", F_FOUND, 0, 0, 0, 0, 0, max_ino, FSCK_INODES_MAX); return <i32>problems; }
  if (!alloc_tables()) { release_tables(); return -ENOMEM; }
  const handler = get_metadata_error_handler();
  set_metadata_error_handler(quiet_metadata_error);
  check_all(sb);
  set_metadata_error_handler(handler);
  if (repair && problems > 0) {
    if (structural > 0) fsck_unfixed += problems;
    else {
      const r = apply_fixes();
      if (r != 0) fs_error(r);
    }
  }
  if ((flags & FSCK_MARK_ERRORS) != 0 && problems > 0 && !fs_readonly && !fs_errored) fs_error(-EUCLEAN);
  release_tables();
  return <i32>problems;
}
