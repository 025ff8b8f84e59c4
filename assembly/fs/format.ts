// fs/format.ts -- the on-disk format of HelixFS, version 1 (docs/format.md has the prose).
//
// Layer: shared by every fs layer. Interface: offsets, magics, limits, header helpers.
// Rules: little-endian; 4 KiB blocks; every metadata block starts with the 32-byte header
// below, whose crc32c covers the whole block with the crc field zeroed and whose blocknr
// must equal the block's own number (detects misdirected writes).
//
// Disk layout (total_blocks blocks of 4 KiB):
//
//   block 0            superblock (primary; journaled like any metadata block)
//   1 .. J             journal: J = journal_blocks, block 1 is the journal superblock
//   J+1 .. N-2         B+ tree nodes and file data, allocated by the extent allocator
//   N-1                backup superblock (written at mkfs, checkpoint and unmount)
//
// Metadata block header (32 bytes):
//
//   0        4        8                16               24                     32
//   +--------+--------+----------------+----------------+----------------------+
//   | magic  | crc32c | blocknr u64    | tid u64        | type-specific 8 B    |
//   +--------+--------+----------------+----------------+----------------------+

import { BLOCK_SIZE } from "../params";
import { crc32c } from "../lib/crc32c";

export const FORMAT_VERSION: u32 = 2;

export const MAGIC_SUPER: u32 = 0x5846_4c48; // "HLFX"
export const MAGIC_BTREE: u32 = 0x4e54_4248; // "HBTN"
export const MAGIC_JSB: u32 = 0x424a_4c48; // "HLJB" journal superblock
export const MAGIC_JDESC: u32 = 0x444a_4c48; // "HLJD" descriptor
export const MAGIC_JREVOKE: u32 = 0x524a_4c48; // "HLJR" revoke
export const MAGIC_JCOMMIT: u32 = 0x434a_4c48; // "HLJC" commit

export const HDR_MAGIC: usize = 0;
export const HDR_CRC: usize = 4;
export const HDR_BLOCKNR: usize = 8;
export const HDR_TID: usize = 16;
export const HDR_SIZE: usize = 32;

/** Stamps magic, blocknr and tid into the header of the block at `buf` (crc is set by block_seal). */
export function block_hdr_init(buf: usize, magic: u32, blocknr: u64, tid: u64): void {
  store<u32>(buf, magic, HDR_MAGIC);
  store<u32>(buf, 0, HDR_CRC);
  store<u64>(buf, blocknr, HDR_BLOCKNR);
  store<u64>(buf, tid, HDR_TID);
}

// ---- the data area ----------------------------------------------------------------------------
//
// Every block number read from a record (an extent, a free extent, an AGFL entry, a child or
// sibling pointer, a journal tag) must lie in the data area, [J+1, N-1): never the
// superblocks, never the journal, never past the end. A block number outside it is corrupt
// metadata (EUCLEAN), however well its checksum matches: an extent into the journal, once
// freed, would put log blocks in the free-space trees and new data in the log.
// The bounds are set at mount (layout_set), before journal recovery reads any tag.

let data_lo: u64 = 0;
let data_hi: u64 = 0;

/**
 * Sets the data area of the mounted filesystem from its superblock: the journal at
 * [jstart, jstart + jblocks), `total` blocks in all (the backup superblock is total - 1).
 */
export function layout_set(jstart: u64, jblocks: u64, total: u64): void {
  data_lo = jstart + jblocks;
  data_hi = total > 0 ? total - 1 : 0;
}
/** First block of the data area. */
export function layout_data_start(): u64 { return data_lo; }
/** End (exclusive) of the data area: the backup superblock. */
export function layout_data_end(): u64 { return data_hi; }

/**
 * True when the run [start, start + len) of `len` >= 1 blocks lies inside the data area
 * (no wrap-around). A run of 0 blocks is never valid.
 */
export function in_data_area(start: u64, len: u64): bool {
  return len > 0 && start >= data_lo && start < data_hi && len <= data_hi - start;
}

/** Computes and stores the crc32c of the block at `buf`. */
export function block_seal(buf: usize): void {
  store<u32>(buf, 0, HDR_CRC);
  store<u32>(buf, crc32c(0, buf, BLOCK_SIZE), HDR_CRC);
}

/** Verification results of block_verify. */
export const VERIFY_OK: i32 = 0;
export const VERIFY_MAGIC: i32 = 1;
export const VERIFY_CRC: i32 = 2;
export const VERIFY_BLOCKNR: i32 = 3;

/**
 * Checks a metadata block read from disk: magic, crc32c and self-location.
 * Returns VERIFY_OK or the first check that failed. Leaves the block unchanged.
 */
export function block_verify(buf: usize, magic: u32, blocknr: u64): i32 {
  if (load<u32>(buf, HDR_MAGIC) != magic) return VERIFY_MAGIC;
  const want = load<u32>(buf, HDR_CRC);
  store<u32>(buf, 0, HDR_CRC);
  const got = crc32c(0, buf, BLOCK_SIZE);
  store<u32>(buf, want, HDR_CRC);
  if (got != want) return VERIFY_CRC;
  if (load<u64>(buf, HDR_BLOCKNR) != blocknr) return VERIFY_BLOCKNR;
  return VERIFY_OK;
}

// ---------------------------------------------------------------------------------------------
// Superblock (block 0 and backup at block N-1), after the header:
//
//   32 version u32        36 block_size u32      40 total_blocks u64     48 free_blocks u64
//   56 compat u32         60 incompat u32        64 ro_compat u32        68 state u32
//   72 journal_start u64  80 journal_blocks u32  84 reserved u32         88 next_ino u64
//   96 inode_count u64   104 root_ino u64
//  112 reserved (the tree roots before INCOMPAT_SNAPSHOT; zero)
//  192 agfl_count u32    196 reserved u32       200 agfl[AGFL_MAX] u64  (to 200 + 8*AGFL_MAX)
//  456 uuid[16]          472 mkfs_time i64      480 mount_time i64      488 write_time i64
//  496 mount_count u32   500 error_count u32    504 label[64] (to 568)
//  640 mmp_block u64 (with INCOMPAT_MMP: the MMP block, the last block of the journal area)
//  648 last_snapshot u64 (tid of the newest snapshot of the mounted head: nodes and extents
//      born at or before it are shared; 0 = none)
//  656 snap_next_id u64  664 dead_blocks u64 (blocks only snapshots hold: the dead list)
//  672 head_id u64 (0 = the main filesystem; else the clone whose roots these are)
// 1024 tree roots: TREE_COUNT x { root u64, height u32, reserved u32, gen u64 } (24 B each)
//      gen is the root node's transaction id (its header tid), checked when it is read
// ---------------------------------------------------------------------------------------------
export const SB_VERSION: usize = 32;
export const SB_BLOCK_SIZE: usize = 36;
export const SB_TOTAL_BLOCKS: usize = 40;
export const SB_FREE_BLOCKS: usize = 48;
export const SB_COMPAT: usize = 56;
export const SB_INCOMPAT: usize = 60;
export const SB_RO_COMPAT: usize = 64;
export const SB_STATE: usize = 68;
export const SB_JOURNAL_START: usize = 72;
export const SB_JOURNAL_BLOCKS: usize = 80;
export const SB_NEXT_INO: usize = 88;
export const SB_INODE_COUNT: usize = 96;
export const SB_ROOT_INO: usize = 104;
export const SB_TREES: usize = 1024;
export const SB_TREE_ENTRY: usize = 24;
/** Offset of a root entry's generation (the root node's tid). */
export const SB_TREE_GEN: usize = 16;
export const SB_AGFL_COUNT: usize = 192;
export const SB_AGFL: usize = 200;
export const SB_UUID: usize = 456;
export const SB_MKFS_TIME: usize = 472;
export const SB_MOUNT_TIME: usize = 480;
export const SB_WRITE_TIME: usize = 488;
export const SB_MOUNT_COUNT: usize = 496;
export const SB_ERROR_COUNT: usize = 500;
export const SB_LABEL: usize = 504;
/** With INCOMPAT_MMP: block number of the MMP block (fs/mmp.ts), = journal_start + journal_blocks - 1. */
export const SB_MMP_BLOCK: usize = 640;
export const SB_LAST_SNAPSHOT: usize = 648;
export const SB_SNAP_NEXT_ID: usize = 656;
export const SB_DEAD_BLOCKS: usize = 664;
export const SB_HEAD_ID: usize = 672;

/** Superblock state values. DIRTY while mounted read-write; CLEAN after unmount. */
export const STATE_CLEAN: u32 = 1;
export const STATE_DIRTY: u32 = 0;
export const STATE_ERROR: u32 = 2;

/** Feature flags (ext4 semantics: unknown incompat -> refuse, unknown ro_compat -> read-only). */
export const INCOMPAT_EXTENTS: u32 = 1 << 0;
export const INCOMPAT_INLINE_DATA: u32 = 1 << 1;
/** Extent records carry an XXH32 checksum of every data block they map (format version 2). */
export const INCOMPAT_DATA_CSUM: u32 = 1 << 2;
/**
 * Multiple-mount protection (ext4's INCOMPAT_MMP, same bit value 0x100): the last block of the
 * journal area is an MMP block (fs/mmp.ts) and the log is one block shorter. Incompat because
 * a kernel that ignored it would mount an image another machine is writing.
 */
export const INCOMPAT_MMP: u32 = 1 << 8;
/**
 * Special inodes (FIFO, character and block devices, sockets; inode.ts) whose device number
 * sits in the record's offset 72. Set at the first mknod of one. Incompat because a kernel
 * that predates it refuses those records as corrupt (a bad file type) and would flag the
 * filesystem in error at the first lookup that meets one.
 */
export const INCOMPAT_SPECIAL: u32 = 1 << 3;
/**
 * Extent records may carry EXT_UNWRITTEN (fallocate's preallocated blocks that read as
 * zeros). Set in the superblock, in the same transaction, by the first fallocate that makes
 * such a record; incompat because a kernel that knew only flags 0 would call every such
 * record corrupt and turn the filesystem read-only.
 */
export const INCOMPAT_UNWRITTEN: u32 = 1 << 4;
/**
 * Copy-on-write metadata and snapshots (issue 14, docs/format.md): internal node items and
 * superblock roots carry the child's transaction id (32-byte items, roots at SB_TREES), leaves
 * have no sibling links, extent records carry their birth tid, and the superblock roots the
 * snapshot and dead-list trees. Set by mkfs; required: an image without it has the older
 * layout and is refused (MR_OLD_FORMAT), never misread.
 */
export const INCOMPAT_SNAPSHOT: u32 = 1 << 9;
export const INCOMPAT_SUPPORTED: u32 =
  INCOMPAT_EXTENTS | INCOMPAT_INLINE_DATA | INCOMPAT_DATA_CSUM | INCOMPAT_MMP | INCOMPAT_SPECIAL | INCOMPAT_UNWRITTEN |
  INCOMPAT_SNAPSHOT;

/**
 * Blocks of the journal's log (the journal superblock's maxlen) for the superblock at `sb`:
 * the journal area less the MMP block that ends it under INCOMPAT_MMP.
 */
export function sb_log_blocks(sb: usize): u32 {
  const j = load<u32>(sb, SB_JOURNAL_BLOCKS);
  return (load<u32>(sb, SB_INCOMPAT) & INCOMPAT_MMP) != 0 ? j - 1 : j;
}
export const RO_COMPAT_METADATA_CSUM: u32 = 1 << 0;
/**
 * Extended attributes: items (ino, k2 != 0) of TREE_INODE (fs/xattr.ts). Set at the first
 * setxattr. Read-only compatible: a kernel that predates it reads every file correctly (it
 * looks inodes up by (ino, 0) only) but would leak the items when it destroys an inode, and
 * its fsck would call them bad inode keys.
 */
export const RO_COMPAT_XATTR: u32 = 1 << 1;
export const RO_COMPAT_SUPPORTED: u32 = RO_COMPAT_METADATA_CSUM | RO_COMPAT_XATTR;
export const COMPAT_JOURNAL: u32 = 1 << 0;

/** B+ trees rooted in the superblock. */
export const TREE_INODE: u32 = 0; // (ino, 0) -> inode record; (ino, hash<<32|seq) -> xattr item
export const TREE_DIRENT: u32 = 1; // (dir ino, hash<<32|seq) -> dirent
export const TREE_EXTENT: u32 = 2; // (ino, file block) -> extent
export const TREE_BNO: u32 = 3; // free space by offset: (start, 0) -> len
export const TREE_CNT: u32 = 4; // free space by size: (len, start) -> ()
export const TREE_SNAP: u32 = 5; // (snapshot id, 0) -> snapshot record (fs/snapshot.ts)
export const TREE_DEAD: u32 = 6; // (kill tid, start block) -> dead extent (fs/snapshot.ts)
export const TREE_COUNT: u32 = 7;
/**
 * Trees 0 .. FS_TREES-1 are the filesystem's own (inode, dirent, extent): a snapshot records
 * their roots and shares their nodes. The others are global: never shared, changed in place.
 */
export const FS_TREES: u32 = 3;

// ---------------------------------------------------------------------------------------------
// Extent record, the value of key (ino, first file block) in TREE_EXTENT (24 + 4 * len bytes):
//
//   0                8            12           16               24                      24 + 4*len
//   +----------------+------------+------------+----------------+-----------------------+
//   | disk u64       | len u32    | flags u32  | birth u64      | csum[0..len-1] u32    |
//   +----------------+------------+------------+----------------+-----------------------+
//
//   flags: 0 (written) or EXT_UNWRITTEN (1)
//   birth: the transaction that allocated the blocks (ZFS's birth txg): blocks born at or
//   before the newest snapshot's tid are shared with it, and freeing them puts them on the
//   dead list instead (fs/snapshot.ts). Kept by cuts; two records merge only with equal births.
//
// csum[i] is the XXH32 (seed 0) of the 4 KiB block disk + i as written. The checksum sits in
// the record that points at the block (ZFS block pointers carry their child's checksum), so
// the mapping and its checksums change in one B+ tree update of one transaction.
//
// An UNWRITTEN extent (ext4's uninitialized extent, XFS XFS_EXT_UNWRITTEN) maps blocks that
// fallocate preallocated, or that FALLOC_FL_ZERO_RANGE turned back into zeros: the blocks
// belong to the file (st_blocks counts them, the free-space trees do not hold them) but their
// bytes are never read. Reads return zeros and verify nothing, so a block that still holds
// another file's old bytes is never shown; its csum[] entries are all 0 (fsck checks it). It
// may lie past EOF (FALLOC_FL_KEEP_SIZE). Writing a page of it goes copy-on-write like any
// other write: a new written extent replaces that block, which is freed at commit. Only with
// INCOMPAT_UNWRITTEN.
// ---------------------------------------------------------------------------------------------
export const EXT_DISK: usize = 0;
export const EXT_LEN: usize = 8;
export const EXT_FLAGS: usize = 12;
export const EXT_BIRTH: usize = 16;
export const EXT_CSUM: usize = 24;
/** Extent flag: preallocated blocks that read as zeros (see above). */
export const EXT_UNWRITTEN: u32 = 1;

/** Extent flags the mounted filesystem allows: EXT_UNWRITTEN only with INCOMPAT_UNWRITTEN. */
let ext_flags_allowed: u32 = 0;
/**
 * Sets the extent flags extent_verify accepts from the superblock's incompat features (at
 * mount, and when fallocate sets INCOMPAT_UNWRITTEN): without the feature an UNWRITTEN
 * record is corrupt, as any unknown flag.
 */
export function extent_features_set(incompat: u32): void {
  ext_flags_allowed = (incompat & INCOMPAT_UNWRITTEN) != 0 ? EXT_UNWRITTEN : 0;
}
/** Longest extent in blocks (1 MiB): its record, 24 + 4 * 256 bytes, stays under VALUE_MAX. */
export const EXTENT_MAX: u32 = 256;
/** Bytes of the extent record of `len` blocks. */
export function ext_vlen(len: u32): u32 { return <u32>EXT_CSUM + (len << 2); }
/** Largest file block number + 1 (file page indices are u32; fs/file.ts FILE_BLOCKS_MAX). */
export const EXT_FILE_BLOCKS_MAX: u64 = 0xffff_fff0;

/** Results of extent_verify (0 = sound). */
export const EV_OK: i32 = 0;
export const EV_LENGTH: i32 = 1;
export const EV_RECORD: i32 = 2;
export const EV_FLAGS: i32 = 3;
export const EV_DISK: i32 = 4;
export const EV_FILE: i32 = 5;

/** What an extent_verify result means, for log lines and fsck. */
export function extent_why(r: i32): string {
  switch (r) {
    case EV_LENGTH: return "length not in 1..256 blocks";
    case EV_RECORD: return "record length does not match its checksum count";
    case EV_FLAGS: return "unknown flags";
    case EV_DISK: return "blocks outside the data area";
    case EV_FILE: return "file blocks beyond the largest file";
  }
  return "sound";
}

/**
 * Checks the extent record at `v` (`vlen` bytes) mapping file block `fblock`: length
 * 1..EXTENT_MAX, one checksum per block (vlen = ext_vlen(len)), flags 0 or (with the feature)
 * EXT_UNWRITTEN, the disk blocks in
 * the data area and the file blocks below EXT_FILE_BLOCKS_MAX. Returns EV_OK or the first
 * failed check. Only reads the record (which must have at least `vlen` readable bytes).
 */
export function extent_verify(v: usize, vlen: u32, fblock: u64): i32 {
  if (vlen < <u32>EXT_CSUM) return EV_RECORD;
  const len = load<u32>(v, EXT_LEN);
  if (len == 0 || len > EXTENT_MAX) return EV_LENGTH;
  if (vlen != ext_vlen(len)) return EV_RECORD;
  if ((load<u32>(v, EXT_FLAGS) & ~ext_flags_allowed) != 0) return EV_FLAGS;
  if (!in_data_area(load<u64>(v, EXT_DISK), <u64>len)) return EV_DISK;
  if (fblock >= EXT_FILE_BLOCKS_MAX || <u64>len > EXT_FILE_BLOCKS_MAX - fblock) return EV_FILE;
  return EV_OK;
}

/** AGFL: blocks reserved for the free-space trees' own nodes (XFS AG free list). */
export const AGFL_MAX: u32 = 32;
export const AGFL_LOW: u32 = 12;
export const AGFL_TARGET: u32 = 24;

export const ROOT_INO: u64 = 2;
/** Pseudo directory whose entries (key (ORPHAN_DIR, ino)) list open-but-unlinked inodes. */
export const ORPHAN_DIR: u64 = 1;
export const FIRST_INO: u64 = 16;
/** Largest inode number: the page cache keys a file's mapping by a u32 ino (pagecache.ts). */
export const INO_MAX: u64 = 0xffff_ffff;

// ---------------------------------------------------------------------------------------------
// Journal superblock (journal block 0), after the header:
//   32 first u32 (first log block, relative: 1)   36 maxlen u32 (journal blocks)
//   40 sequence u64 (tid expected at `start`)     48 start u32 (0 = log empty)
// Descriptor (MAGIC_JDESC) and revoke (MAGIC_JREVOKE) blocks, after the header:
//   32 count u32   36 reserved u32   40 blocks[count] u64   (JTAGS_MAX per block)
//   A descriptor is followed by `count` raw block images, in tag order.
// Commit block (MAGIC_JCOMMIT), after the header:
//   32 nblocks u32 (log blocks of this transaction before the commit block)
//   36 tx_crc u32 (crc32c over those blocks, in log order)   40 commit_time i64
// ---------------------------------------------------------------------------------------------
export const JSB_FIRST: usize = 32;
export const JSB_MAXLEN: usize = 36;
export const JSB_SEQUENCE: usize = 40;
export const JSB_START: usize = 48;
export const JD_COUNT: usize = 32;
export const JD_TAGS: usize = 40;
export const JTAGS_MAX: u32 = (BLOCK_SIZE - <u32>JD_TAGS) / 8;
export const JC_NBLOCKS: usize = 32;
export const JC_TX_CRC: usize = 36;
export const JC_TIME: usize = 40;

/** Journal size limits in blocks: the default is total/64 clamped to these. */
export const JOURNAL_MIN_BLOCKS: u32 = 256;
export const JOURNAL_MAX_BLOCKS: u32 = 8192;
/** Smallest filesystem mkfs accepts, in blocks (2 MiB). */
export const FS_MIN_BLOCKS: u64 = 512;
/** Largest, in blocks: block numbers live in u32 cache indices (16 TiB). */
export const FS_MAX_BLOCKS: u64 = 0xffff_fff0;
