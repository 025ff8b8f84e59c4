// fs/super.ts -- mkfs, mount, unmount, commit, statfs and the filesystem error state.
//
// Layer: the top of the fs; the syscall layer calls fs_begin/fs_commit around operations.
// Interface: fs_mkfs, fs_mount, fs_umount, fs_commit, fs_sync, fs_error, fs_statfs,
// fs_balance (syscall-boundary memory and journal pressure).
//
// Mount case table:
//   primary superblock valid                      -> use it
//   primary invalid or unreadable, backup valid   -> use the backup, rewrite the primary
//   primary unreadable, no valid backup           -> EIO "I/O error reading the superblock"
//   primary still unreadable after that rewrite   -> EIO (the same message: a block 0 the
//                                                    device cannot read back cannot hold it)
//   neither valid, magic absent                   -> EINVAL "not a HelixFS image"
//   neither valid, magic present                  -> EUCLEAN "corrupted superblock"
//   unknown incompat feature / version            -> EINVAL (refuse)
//   unknown ro_compat feature or state ERROR      -> mounted read-only (EROFS on changes)
//   journal superblock corrupt                    -> EUCLEAN
//   INCOMPAT_MMP and another node holds the image -> EBUSY (MR_MMP_BUSY; fs/mmp.ts), before
//                                                    anything is written (the primary is
//                                                    restored from the backup only after it)
// then: journal replay, orphan cleanup, state DIRTY until unmount writes CLEAN (and MMP CLEAN).

import { BLOCK_SIZE } from "../params";
import { NO_PFN, pfn_to_addr, addr_to_pfn } from "../mm/page";
import { alloc_pages, free_pages } from "../mm/buddy";
import {
  blk_add, blk_submit, blk_flush, blk_read_sync, blk_capacity, VIRTIO_BLK_T_OUT,
} from "../dev/virtio_blk";
import {
  MAGIC_SUPER, HDR_MAGIC, HDR_BLOCKNR, FORMAT_VERSION, block_hdr_init, block_seal, block_verify,
  VERIFY_OK, SB_VERSION, SB_BLOCK_SIZE, SB_TOTAL_BLOCKS, SB_FREE_BLOCKS, SB_COMPAT, SB_INCOMPAT,
  SB_RO_COMPAT, SB_STATE, SB_JOURNAL_START, SB_JOURNAL_BLOCKS, SB_NEXT_INO, SB_INODE_COUNT,
  SB_ROOT_INO, SB_UUID, SB_MKFS_TIME, SB_MOUNT_TIME, SB_WRITE_TIME, SB_MOUNT_COUNT, STATE_CLEAN,
  SB_ERROR_COUNT, STATE_DIRTY, STATE_ERROR, INCOMPAT_SUPPORTED, RO_COMPAT_SUPPORTED, COMPAT_JOURNAL,
  RO_COMPAT_METADATA_CSUM, INCOMPAT_EXTENTS, INCOMPAT_INLINE_DATA, INCOMPAT_DATA_CSUM, TREE_DIRENT, TREE_BNO,
  TREE_CNT, AGFL_TARGET, JOURNAL_MIN_BLOCKS, JOURNAL_MAX_BLOCKS, FS_MIN_BLOCKS, FS_MAX_BLOCKS,
  ROOT_INO, FIRST_INO, ORPHAN_DIR, INCOMPAT_MMP, SB_MMP_BLOCK, layout_set, sb_log_blocks, extent_features_set,
  INCOMPAT_SNAPSHOT, TREE_COUNT,
} from "./format";
import { snap_mount, snap_work, snap_pending } from "./snapshot";
import { mmp_format, mmp_start, mmp_stop, mmp_tick, mmp_active } from "./mmp";
import { node_init, bt_init_root, bt_load_roots, N_ITEMS } from "./btree";
import { bread, buf_errno, drop_caches, pagecache_init, pagecache_reset, nr_dirty, reclaim, pagecache_set_tids } from "./pagecache";
import {
  journal_format, journal_load, journal_recover, journal_commit, journal_checkpoint,
  journal_dirty, journal_should_commit, journal_tx_empty, journal_set_checkpoint_hook, j_aborted,
  journal_checkpoint_pending, journal_tx_age, j_log_corrupt, journal_break,
  JBREAK_DISCARD_BEFORE_COMMIT, journal_drop_damaged, j_tid,
} from "./journal";
import {
  alloc_mount, agfl_format, alloc_apply_deferred, alloc_defer_pressure, alloc_deferred_freeable, free_blocks,
  alloc_available, total_blocks, alloc_discard_committed, alloc_set_discard,
} from "./alloc";
import { writeback_all, writeback_pending, file_release } from "./file";
import { cur_uid, cur_gid } from "./cred";
import { xattr_remove_all } from "./xattr";
import {
  inode_create_fixed, inode_remove_record, inode_get, inode_errno, I_NLINK, fs_now, S_IFDIR, fs_clock_reset, icache_init, inode_count,
} from "./inode";
import { dir_next, de_ino, de_key, dir_iter_reset } from "./dir";
import { nr_free_pages } from "../mm/buddy";
import { dcache_init } from "./dcache";
import { set_metadata_error_handler } from "./errors";
import { kputs, kputu, knl, kfs, kputerr } from "../lib/printk";
import { EINVAL, EIO, ENOSPC, EUCLEAN, EROFS, ENOMEM, EBUSY, ENOENT } from "../lib/errno";
import { bt_delete, bt_errno } from "./btree";

export let fs_mounted: bool = false;
export let fs_readonly: bool = false;
/** Set when metadata met an error mid-change: the journal is aborted, changes get EROFS. */
export let fs_errored: bool = false;
let sb_total: u64 = 0;

/** Commit interval in ns (default 5 s, as ext4's commit=5); 0 disables it. */
let commit_interval_ns: i64 = 5_000_000_000;
/** Syscalls between two clock reads for the commit interval (a clock read is a host call). */
const COMMIT_CHECK_EVERY: u32 = 64;
let syscalls_since_check: u32 = 0;
/** Sets the commit interval in milliseconds (0 = only size, memory and fsync trigger commits). */
export function fs_set_commit_interval(ms: u32): void { commit_interval_ns = <i64>ms * 1_000_000; }

/**
 * Dirty file pages (64 MiB) past which a syscall boundary commits (writes them back);
 * background writeback starts at half the limit.
 */
const DIRTY_PAGES_MAX: u32 = 16384;

/** Units of background snapshot work (snapshot.ts) done at each syscall boundary. */
const SNAP_WORK_PER_SYSCALL: u32 = 4;

/** Free frames below which a syscall boundary reclaims. */
export let low_watermark: u32 = 2048;

/** Frames memory may still grow by through hotplug (set at boot). */
let mem_limit_pages: u32 = 0;
export function fs_set_watermark(pages: u32, limitPages: u32): void {
  low_watermark = pages;
  mem_limit_pages = limitPages;
}

/** Free frames now plus the frames hotplug can still add. */
function free_and_growable(): u32 {
  const present = <u32>(<u64>memory.size() << 16 >> 12);
  return nr_free_pages() + (mem_limit_pages > present ? mem_limit_pages - present : 0);
}

/** Records a fatal metadata error: the journal stops, the fs turns read-only. Returns `err`. */
export function fs_error(err: i32): i32 {
  if (!fs_errored) {
    fs_errored = true;
    kfs(); kputs("metadata error "); kputerr(err); kputs(": journal aborted, filesystem is read-only; run fsck"); knl();
    sb_write_state(STATE_ERROR, true);
  }
  return err;
}

/**
 * Writes `state` into the superblock on disk directly, outside the journal (which may be
 * aborted), as ext4 records errors: the primary is read, checked, changed, resealed, written
 * and flushed. `countError` also bumps error_count. Does nothing when block 0 does not verify
 * (then the backup still describes the filesystem). Returns 0 or -errno.
 */
function sb_write_state(state: u32, countError: bool): i32 {
  const b = scratch();
  if (b == 0) return -ENOMEM;
  let r = blk_read_sync(0, b);
  if (r == 0 && block_verify(b, MAGIC_SUPER, 0) == VERIFY_OK) {
    store<u32>(b, state, SB_STATE);
    if (countError) store<u32>(b, load<u32>(b, SB_ERROR_COUNT) + 1, SB_ERROR_COUNT);
    block_seal(b);
    write_block(0, b);
    r = blk_flush();
  }
  free_pages(addr_to_pfn(b), 0);
  return r;
}

/** The metadata error handler: the first error of a read-write mount aborts and flags it. */
function on_metadata_error(err: i32): void {
  if (fs_mounted && !fs_readonly) fs_error(err);
}

/**
 * Clears the error state a metadata error left in the superblock (what e2fsck does after a
 * clean check): the caller has run fsck on this read-only mount and found nothing. The next
 * mount is read-write again. Returns 0, -EINVAL when the state is not ERROR, or -errno.
 */
export function fs_clear_error_state(): i32 {
  if (!fs_mounted || !error_state_mount) return -EINVAL;
  const r = sb_write_state(STATE_CLEAN, false);
  if (r == 0) error_state_mount = false;
  return r;
}
/** This mount is read-only because the superblock records an error. */
export let error_state_mount: bool = false;

function scratch(): usize {
  const pfn = alloc_pages(0);
  return pfn == NO_PFN ? 0 : pfn_to_addr(pfn);
}

/** Journal size for a filesystem of `total` blocks. */
function journal_size(total: u64): u32 {
  let j = <u32>(total / 64);
  if (j < JOURNAL_MIN_BLOCKS) j = JOURNAL_MIN_BLOCKS;
  if (j > JOURNAL_MAX_BLOCKS) j = JOURNAL_MAX_BLOCKS;
  return j;
}

/** Writes `addr` (sealed) to block `blk` now. */
function write_block(blk: u64, addr: usize): void {
  blk_add(VIRTIO_BLK_T_OUT, blk, addr);
}

/**
 * Formats the device: superblock, backup, empty journal, empty trees, AGFL, one free extent,
 * then the root directory through a normal transaction, owned by the running cred (fs/cred.ts). Returns 0 or -errno: -ENOSPC (device
 * smaller than FS_MIN_BLOCKS), -EINVAL (larger than FS_MAX_BLOCKS), -EIO, -ENOMEM.
 */
export function fs_mkfs(label: usize, labelLen: u32): i32 {
  if (fs_mounted) return -EBUSY;
  const total = blk_capacity();
  if (total < FS_MIN_BLOCKS) return -ENOSPC;
  if (total > FS_MAX_BLOCKS) return -EINVAL;
  const r0 = pagecache_init();
  if (r0 != 0) return r0;
  const jblocks = journal_size(total);
  const jstart: u64 = 1;
  const firstNode = jstart + jblocks;
  const agflStart = firstNode + TREE_COUNT_U64;
  const freeStart = agflStart + AGFL_TARGET;
  const backup = total - 1;
  if (freeStart + 16 >= backup) return -ENOSPC;
  // the first tid is drawn from the clock so that stale log records of an earlier
  // filesystem on the same device can never pass for this one's
  const tid0 = (<u64>fs_now() >> 10) & 0x0000_ffff_ffff_ffff | 1;
  const sbuf = scratch();
  const node = scratch();
  if (sbuf == 0 || node == 0) return -ENOMEM;
  memory.fill(sbuf, 0, BLOCK_SIZE);
  block_hdr_init(sbuf, MAGIC_SUPER, 0, tid0);
  store<u32>(sbuf, FORMAT_VERSION, SB_VERSION);
  store<u32>(sbuf, BLOCK_SIZE, SB_BLOCK_SIZE);
  store<u64>(sbuf, total, SB_TOTAL_BLOCKS);
  store<u64>(sbuf, backup - freeStart, SB_FREE_BLOCKS);
  store<u32>(sbuf, COMPAT_JOURNAL, SB_COMPAT);
  store<u32>(sbuf, INCOMPAT_EXTENTS | INCOMPAT_INLINE_DATA | INCOMPAT_DATA_CSUM | INCOMPAT_MMP | INCOMPAT_SNAPSHOT, SB_INCOMPAT);
  store<u32>(sbuf, RO_COMPAT_METADATA_CSUM, SB_RO_COMPAT);
  store<u32>(sbuf, STATE_CLEAN, SB_STATE);
  store<u64>(sbuf, jstart, SB_JOURNAL_START);
  store<u32>(sbuf, jblocks, SB_JOURNAL_BLOCKS);
  const mmpBlk = jstart + jblocks - 1; // the journal area's last block; the log ends before it
  store<u64>(sbuf, mmpBlk, SB_MMP_BLOCK);
  store<u64>(sbuf, FIRST_INO, SB_NEXT_INO);
  store<u64>(sbuf, 1, SB_INODE_COUNT);
  store<u64>(sbuf, ROOT_INO, SB_ROOT_INO);
  const now = fs_now();
  store<i64>(sbuf, now, SB_UUID);
  store<i64>(sbuf, now ^ 0x5bd1e995, SB_UUID + 8);
  store<i64>(sbuf, now, SB_MKFS_TIME);
  if (labelLen > 0) memory.copy(sbuf + 504, label, min<u32>(labelLen, 63));
  agfl_format(sbuf, agflStart, AGFL_TARGET);
  // empty roots; the free-space trees hold the one free extent [freeStart, backup)
  for (let t: u32 = 0; t < TREE_COUNT; t++) {
    const blk = firstNode + t;
    node_init(node, blk, t, 0);
    store<u64>(node, tid0, 16);
    bt_init_root(sbuf, t, blk, tid0);
    if (t == TREE_BNO || t == TREE_CNT) {
      // one leaf item written by hand: key, value offset/length, value
      const it = node + N_ITEMS;
      const len = backup - freeStart;
      if (t == TREE_BNO) {
        store<u64>(it, freeStart);
        store<u64>(it, 0, 8);
        store<u16>(it, <u16>(BLOCK_SIZE - 8), 16);
        store<u16>(it, 8, 18);
        store<u64>(node + BLOCK_SIZE - 8, len);
        store<u16>(node, <u16>(BLOCK_SIZE - 8), 36);
        store<u16>(node, 8, 38);
      } else {
        store<u64>(it, len);
        store<u64>(it, freeStart, 8);
        store<u16>(it, <u16>BLOCK_SIZE, 16);
        store<u16>(it, 0, 18);
      }
      store<u16>(node, 1, 34);
    }
    block_seal(node);
    write_block(blk, node);
    if (blk_submit() != 0) return -EIO;
  }
  block_seal(sbuf);
  write_block(0, sbuf);
  if (blk_submit() != 0) return -EIO;
  store<u64>(sbuf, backup, HDR_BLOCKNR);
  block_seal(sbuf);
  write_block(backup, sbuf);
  if (blk_submit() != 0) return -EIO;
  free_pages(addr_to_pfn(sbuf), 0);
  free_pages(addr_to_pfn(node), 0);
  // the blocks above carry tid0, committed by mkfs: the journal starts at the next tid
  let r = journal_format(jstart, jblocks - 1, tid0 + 1);
  if (r != 0) return r;
  r = mmp_format(mmpBlk);
  if (r != 0) return r;
  // the root directory, through the normal machinery; this mount is part of mkfs, not one
  // of the filesystem's mounts (the first boot after mkfs is mount #1, as with mke2fs)
  mkfs_mounting = true;
  const snapLen = mount_snap_len;
  mount_snap_len = 0; // mkfs mounts the new live filesystem, whatever the host named before
  r = fs_mount(1);
  mount_snap_len = snapLen;
  mkfs_mounting = false;
  if (r != 0) return r;
  r = inode_create_fixed(ROOT_INO, S_IFDIR | 0o755, ROOT_INO, cur_uid, cur_gid); // owned by the creator (mke2fs root_owner)
  if (r != 0) return r;
  return fs_umount();
}

const TREE_COUNT_U64: u64 = <u64>TREE_COUNT;

/** The last sb_check refused an image made before INCOMPAT_SNAPSHOT (MR_OLD_FORMAT). */
let sb_old_format: bool = false;

/** Checks a superblock image; 0, -EINVAL (not ours / unsupported) or -EUCLEAN. */
function sb_check(sb: usize, capacity: u64): i32 {
  sb_old_format = false;
  if (load<u32>(sb, SB_VERSION) != FORMAT_VERSION) return -EINVAL;
  if (load<u32>(sb, SB_BLOCK_SIZE) != BLOCK_SIZE) return -EINVAL;
  if (load<u32>(sb, SB_INCOMPAT) & ~INCOMPAT_SUPPORTED) return -EINVAL;
  // the layout before snapshots (24-byte internal items, sibling links, roots at 112) would
  // be misread: refuse it by name
  if ((load<u32>(sb, SB_INCOMPAT) & INCOMPAT_SNAPSHOT) == 0) { sb_old_format = true; return -EINVAL; }
  const total = load<u64>(sb, SB_TOTAL_BLOCKS);
  if (total < FS_MIN_BLOCKS || total > capacity) return -EUCLEAN;
  const js = load<u64>(sb, SB_JOURNAL_START);
  const jb = <u64>load<u32>(sb, SB_JOURNAL_BLOCKS);
  if (js != 1 || jb < <u64>JOURNAL_MIN_BLOCKS || js + jb >= total) return -EUCLEAN;
  if (load<u64>(sb, SB_FREE_BLOCKS) > total) return -EUCLEAN;
  return 0;
}

/** Reason of the last failed mount, for the host's one-line message. */
export let mount_reason: i32 = 0;
export const MR_NONE: i32 = 0;
export const MR_NOT_HELIX: i32 = 1;
export const MR_BAD_SUPER: i32 = 2;
export const MR_FEATURES: i32 = 3;
export const MR_JOURNAL: i32 = 4;
export const MR_IO: i32 = 5;
export const MR_TOO_SMALL: i32 = 6;
export const MR_TRUNCATED: i32 = 7;
/** Another node (or another process of this host) holds the image: fs/mmp.ts. */
export const MR_MMP_BUSY: i32 = 8;
/** The image predates INCOMPAT_SNAPSHOT (copy-on-write metadata): an older on-disk layout. */
export const MR_OLD_FORMAT: i32 = 9;
/** sys_mount_snapshot named a snapshot or clone the filesystem does not have. */
export const MR_NO_SNAPSHOT: i32 = 10;
export let mount_used_backup: bool = false;
/** Set by fs_mkfs around its own mount, which does not count as a mount. */
let mkfs_mounting: bool = false;
export let mount_replayed: i32 = 0;
export let mount_orphans: u32 = 0;

/** fs_mount flag: discard the extents each commit frees once it is durable (ext4 `-o discard`). */
export const MNT_DISCARD: u32 = 2;
/** fs_mount flag (fsck -p/-y): an error state recorded in the superblock does not force read-only. */
export const MNT_FSCK: u32 = 4;
/**
 * fs_mount flag (fsck -y): when committed transactions follow a damaged one in the log,
 * give them up (checkpoint: the log restarts) and mount read-write instead of read-only.
 */
export const MNT_FSCK_JOURNAL: u32 = 8;
/** fs_mount flag (fsck without repair): mount read-only (the journal is still replayed, as ext4's ro mount). */
export const MNT_RDONLY: u32 = 16;
/**
 * fs_mount flag (ext4 `norecovery`): read-only, and nothing is written at all: no journal
 * replay, no MMP, no backup restore. For a view of a snapshot on a device another kernel
 * has mounted (that kernel synced first, so the snapshot's blocks are home).
 */
export const MNT_NORECOVERY: u32 = 32;

/** The snapshot or clone the next mount mounts instead of the live filesystem (0 bytes: live). */
const MOUNT_SNAP: usize = memory.data(256);
let mount_snap_len: u32 = 0;
/** Names the snapshot or clone the next fs_mount mounts (`len` 0: the live filesystem). */
export function fs_set_mount_snapshot(name: usize, len: u32): i32 {
  if (len > 255) return -EINVAL;
  memory.copy(MOUNT_SNAP, name, len);
  mount_snap_len = len;
  return 0;
}
/** The superblock's state before this mount (STATE_*): DIRTY = not cleanly unmounted. */
export let mount_prev_state: u32 = 0;
/** This mount gave up a damaged journal's later transactions (MNT_FSCK_JOURNAL). */
export let mount_dropped_log: bool = false;

/**
 * Mounts the filesystem on device 0 (flags: MNT_DISCARD; other bits are ignored). Returns 0
 * or -errno; see the case table above (mount_reason tells which case failed).
 */
export function fs_mount(flags: u32): i32 {
  if (fs_mounted) return -EBUSY;
  alloc_set_discard((flags & MNT_DISCARD) != 0);
  mount_reason = MR_NONE;
  mount_used_backup = false;
  mount_dropped_log = false;
  fs_errored = false;
  fs_readonly = false;
  const capacity = blk_capacity();
  if (capacity < FS_MIN_BLOCKS) {
    // too small for any HelixFS; if block 0 holds a sound superblock, the image was cut short
    mount_reason = capacity > 0 && super_says_larger(capacity) ? MR_TRUNCATED : MR_TOO_SMALL;
    return -EINVAL;
  }
  let r = pagecache_init();
  if (r != 0) return r;
  pagecache_reset(); // whatever is cached belongs to a filesystem that is gone
  r = dcache_init();
  if (r != 0) return r;
  r = icache_init();
  if (r != 0) return r;
  dir_iter_reset();
  const raw = scratch();
  if (raw == 0) return -ENOMEM;
  // primary, else backup
  const primaryIO = blk_read_sync(0, raw) != 0; // unreadable: the backup may still serve
  if (primaryIO) memory.fill(raw, 0, BLOCK_SIZE);
  let v = block_verify(raw, MAGIC_SUPER, 0);
  // why the primary failed is decided now: reading the backup below overwrites `raw`
  const primaryWhy = primaryIO ? -EIO : sb_check(raw, capacity);
  let ok = !primaryIO && v == VERIFY_OK && primaryWhy == 0;
  const primaryMagic = load<u32>(raw, HDR_MAGIC) == MAGIC_SUPER;
  const primaryTotal = load<u64>(raw, SB_TOTAL_BLOCKS);
  if (!ok) {
    if (blk_read_sync(capacity - 1, raw) == 0 && block_verify(raw, MAGIC_SUPER, capacity - 1) == VERIFY_OK &&
        sb_check(raw, capacity) == 0 && load<u64>(raw, SB_TOTAL_BLOCKS) == capacity) {
      mount_used_backup = true; // block 0 is rewritten once multiple-mount protection allows
      ok = true;
    }
  }
  if (!ok) {
    free_pages(addr_to_pfn(raw), 0);
    if (primaryIO) { mount_reason = MR_IO; return -EIO; }
    if (!primaryMagic) { mount_reason = MR_NOT_HELIX; return -EINVAL; }
    if (v == VERIFY_OK && primaryWhy == -EINVAL) { mount_reason = sb_old_format ? MR_OLD_FORMAT : MR_FEATURES; return -EINVAL; }
    if (v == VERIFY_OK && primaryTotal > capacity && primaryTotal <= FS_MAX_BLOCKS) {
      // a sound superblock describing more blocks than the device has: a truncated image
      log_truncated(primaryTotal, capacity);
      mount_reason = MR_TRUNCATED;
      return -EINVAL;
    }
    mount_reason = MR_BAD_SUPER;
    return -EUCLEAN;
  }
  const total = load<u64>(raw, SB_TOTAL_BLOCKS);
  const jstart = load<u64>(raw, SB_JOURNAL_START);
  const jblocks = load<u32>(raw, SB_JOURNAL_BLOCKS);
  const hasMmp = (load<u32>(raw, SB_INCOMPAT) & INCOMPAT_MMP) != 0;
  const logBlocks = sb_log_blocks(raw);
  const norecovery = (flags & MNT_NORECOVERY) != 0;
  if (norecovery) return mount_norecovery(raw, total, jstart, jblocks, logBlocks, capacity);
  if (hasMmp) {
    // before the first write of this mount (backup restore, replay, state DIRTY)
    r = mount_mmp(raw, jstart + jblocks - 1);
    if (r != 0) { free_pages(addr_to_pfn(raw), 0); return r; }
  }
  if (mount_used_backup) {
    store<u64>(raw, 0, HDR_BLOCKNR);
    block_seal(raw);
    write_block(0, raw);
    if (blk_flush() != 0) { free_pages(addr_to_pfn(raw), 0); mount_reason = MR_IO; return mount_fail(-EIO); }
  }
  error_state_mount = load<u32>(raw, SB_STATE) == STATE_ERROR;
  if ((load<u32>(raw, SB_RO_COMPAT) & ~RO_COMPAT_SUPPORTED) != 0 || (error_state_mount && (flags & MNT_FSCK) == 0) ||
      (flags & MNT_RDONLY) != 0) {
    fs_readonly = true;
  }
  free_pages(addr_to_pfn(raw), 0);
  sb_total = total;
  layout_set(jstart, jblocks, total); // every block number read from now on is checked against it
  r = journal_load(jstart, logBlocks);
  if (r != 0) { mount_reason = MR_JOURNAL; return mount_fail(r); }
  r = journal_recover();
  if (r < 0) { mount_reason = MR_JOURNAL; return mount_fail(r); }
  mount_replayed = r;
  if (j_log_corrupt && (flags & MNT_FSCK_JOURNAL) != 0 && !fs_readonly) {
    // fsck -y: what the log cannot prove is given up; the log restarts empty
    journal_drop_damaged();
    r = journal_checkpoint();
    if (r != 0) { mount_reason = MR_JOURNAL; return mount_fail(r); }
    mount_dropped_log = true;
    kfs(); kputs("discarded the journal's transactions after a damaged one (fsck -y)"); knl();
  } else if (j_log_corrupt) {
    // committed transactions follow a damaged one: mount what the log proves, read-only
    kfs(); kputs("the journal is damaged before later committed transactions: mounting read-only; run fsck"); knl();
    fs_readonly = true;
    error_state_mount = true;
    sb_write_state(STATE_ERROR, true);
  }
  // replay may have written a logged superblock over the recorded error: record it again
  if (error_state_mount && r > 0) sb_write_state(STATE_ERROR, false);
  drop_caches();
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) { mount_reason = buf_errno == -EIO ? MR_IO : MR_BAD_SUPER; return mount_fail(buf_errno); }
  if (sb_check(sb, capacity) != 0) { mount_reason = MR_BAD_SUPER; return mount_fail(-EUCLEAN); }
  // the state the last session left (a replayed log carries its DIRTY superblock home)
  mount_prev_state = error_state_mount ? STATE_ERROR : load<u32>(sb, SB_STATE);
  alloc_mount(sb, total);
  bt_load_roots(sb);
  extent_features_set(load<u32>(sb, SB_INCOMPAT)); // which extent flags are sound
  journal_set_checkpoint_hook(write_backup_sb);
  set_metadata_error_handler(on_metadata_error);
  r = snap_mount(MOUNT_SNAP, mount_snap_len);
  if (r < 0) { mount_reason = r == -ENOENT ? MR_NO_SNAPSHOT : MR_BAD_SUPER; return mount_fail(r); }
  if (r == 1) fs_readonly = true; // a snapshot is read-only; a clone is a writable head
  fs_mounted = true;
  if (!fs_readonly) {
    store<u32>(sb, STATE_DIRTY, SB_STATE);
    if (!mkfs_mounting) {
      store<u32>(sb, load<u32>(sb, SB_MOUNT_COUNT) + 1, SB_MOUNT_COUNT);
      store<i64>(sb, fs_now(), SB_MOUNT_TIME);
    }
    journal_dirty(0);
    r = orphan_cleanup();
    if (r != 0) fs_error(r);
    if (!fs_errored) fs_commit();
    if (fs_errored) {
      // metadata met during mount is damaged: stay mounted, read-only, errors flagged
      fs_readonly = true;
      kfs(); kputs("mounted read-only after a metadata error; run fsck"); knl();
    }
  }
  return 0;
}

/**
 * The MNT_NORECOVERY mount (see the flag): the superblock at `raw` (verified) gives the
 * geometry, the journal superblock the tid window, and nothing is written. Frees `raw`.
 * 0 or -errno.
 */
function mount_norecovery(raw: usize, total: u64, jstart: u64, jblocks: u32, logBlocks: u32, capacity: u64): i32 {
  free_pages(addr_to_pfn(raw), 0);
  fs_readonly = true;
  sb_total = total;
  layout_set(jstart, jblocks, total);
  let r = journal_load(jstart, logBlocks);
  if (r != 0) { mount_reason = MR_JOURNAL; return r; }
  pagecache_set_tids(j_tid, 0, 0); // home blocks carry tids below the log's next one
  mount_replayed = 0;
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) { mount_reason = buf_errno == -EIO ? MR_IO : MR_BAD_SUPER; return buf_errno; }
  if (sb_check(sb, capacity) != 0) { mount_reason = MR_BAD_SUPER; return -EUCLEAN; }
  mount_prev_state = load<u32>(sb, SB_STATE);
  alloc_mount(sb, total);
  bt_load_roots(sb);
  extent_features_set(load<u32>(sb, SB_INCOMPAT));
  set_metadata_error_handler(on_metadata_error);
  r = snap_mount(MOUNT_SNAP, mount_snap_len);
  if (r < 0) { mount_reason = r == -ENOENT ? MR_NO_SNAPSHOT : MR_BAD_SUPER; return r; }
  fs_mounted = true;
  return 0;
}

/**
 * Claims the MMP block `blk` named by the superblock at `sb` (fs/mmp.ts): 0, or -EBUSY with
 * mount_reason MR_MMP_BUSY, -EUCLEAN (MR_BAD_SUPER) for a block number that is not the journal
 * area's last block, -EIO (MR_IO).
 */
function mount_mmp(sb: usize, blk: u64): i32 {
  if (load<u64>(sb, SB_MMP_BLOCK) != blk) { mount_reason = MR_BAD_SUPER; return -EUCLEAN; }
  const r = mmp_start(blk);
  if (r == -EBUSY) mount_reason = MR_MMP_BUSY;
  else if (r == -EIO) mount_reason = MR_IO;
  return r;
}

/** A mount that claimed the MMP block failed later: release the claim. Returns `err`. */
function mount_fail(err: i32): i32 {
  mmp_stop();
  return err;
}

/**
 * The MMP heartbeat (fs/mmp.ts mmp_tick): at syscall boundaries and from the host's timer.
 * When another node took the image over, the filesystem turns read-only at once (nothing more
 * of ours may reach the device) and -EBUSY is returned. 0 or -errno.
 */
export function fs_mmp_tick(force: bool): i32 {
  if (!fs_mounted || !mmp_active()) return 0;
  const r = mmp_tick(force);
  if (r == -EBUSY) fs_readonly = true;
  return r;
}
/** Syscalls between two MMP heartbeats at syscall boundaries (a heartbeat reads the clock). */
const MMP_CHECK_EVERY: u32 = 256;
let syscalls_since_mmp: u32 = 0;

/**
 * True when block 0 holds a superblock that verifies and records more blocks than the
 * device's `capacity` (a truncated image); logs the two sizes.
 */
function super_says_larger(capacity: u64): bool {
  const b = scratch();
  if (b == 0) return false;
  let larger = false;
  if (blk_read_sync(0, b) == 0 && block_verify(b, MAGIC_SUPER, 0) == VERIFY_OK) {
    const total = load<u64>(b, SB_TOTAL_BLOCKS);
    larger = total > capacity && total <= FS_MAX_BLOCKS;
    if (larger) log_truncated(total, capacity);
  }
  free_pages(addr_to_pfn(b), 0);
  return larger;
}

/** Logs a filesystem of `total` blocks on a device of `capacity`. */
function log_truncated(total: u64, capacity: u64): void {
  kfs(); kputs("filesystem is "); kputu(total); kputs(" blocks but the device has only ");
  kputu(capacity); kputs(" (truncated image?)"); knl();
}

/**
 * Frees inodes that were unlinked while open when the system went down. 0 or -errno
 * (-EUCLEAN: an entry names the root, a reserved inode or an inode that still has links;
 * nothing of it is freed).
 */
function orphan_cleanup(): i32 {
  mount_orphans = 0;
  for (let guard = 0; guard < 1 << 24; guard++) {
    if (!dir_next(ORPHAN_DIR, 0)) return bt_errno; // 0 at the end of the list
    const ino = de_ino;
    if (!orphan_freeable(ino, de_key)) return -EUCLEAN;
    let r = bt_delete(TREE_DIRENT, ORPHAN_DIR, de_key);
    if (r != 0) return r;
    r = file_release(ino);
    if (r == 0) r = xattr_remove_all(ino); // its extended attributes go with it
    if (r != 0) return r;
    r = inode_remove_record(ino);
    if (r != 0 && r != -2) return r;
    mount_orphans++;
  }
  return -EUCLEAN;
}

/**
 * True when the orphan entry keyed (ORPHAN_DIR, `key`) naming `ino` may be freed: an
 * ordinary inode (>= FIRST_INO: never the root or a reserved one), keyed by its own number,
 * with no links left (or already gone). Else logs why and returns false.
 */
function orphan_freeable(ino: u64, key: u64): bool {
  if (ino >= FIRST_INO && key == ino) {
    const rec = inode_get(ino);
    if (rec == 0 && inode_errno == -ENOENT) return true; // the record went before the entry
    if (rec != 0 && load<u32>(rec, I_NLINK) == 0) return true;
    if (rec == 0) return false; // read error or corrupt record: reported already
  }
  kfs(); kputs("orphan list names inode "); kputu(ino); kputs(", not an unlinked inode: left in place"); knl();
  return false;
}

/** Checkpoint hook: the backup superblock follows the primary. */
function write_backup_sb(): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  const b = scratch();
  if (b == 0) return -ENOMEM;
  memory.copy(b, sb, BLOCK_SIZE);
  store<u64>(b, sb_total - 1, HDR_BLOCKNR);
  block_seal(b);
  write_block(sb_total - 1, b);
  const r = blk_submit();
  free_pages(addr_to_pfn(b), 0);
  return r;
}

/**
 * Commits the running transaction with its ordered data: writeback of dirty pages, deferred
 * frees, then the journal commit (which flushes). When there is no metadata to commit but
 * data was written, flushes anyway. Returns 0 or -errno (the fs turns read-only on error).
 */
export function fs_commit(): i32 {
  if (fs_errored || j_aborted) return -EIO;
  if (fs_readonly) return 0;
  // writeback stops only when the log would overflow; each round commits what it has
  for (let round = 0; round < COMMIT_ROUNDS_MAX; round++) {
    let r = writeback_all();
    if (r != 0) return fs_error(r);
    r = alloc_apply_deferred();
    if (r != 0) return fs_error(r);
    if (journal_tx_empty()) {
      r = blk_flush();
      if (r != 0) return fs_error(r);
    } else {
      const sb = bread(0, MAGIC_SUPER);
      if (sb == 0) return fs_error(buf_errno);
      store<i64>(sb, fs_now(), SB_WRITE_TIME);
      journal_dirty(0);
      if (journal_break() & JBREAK_DISCARD_BEFORE_COMMIT) alloc_discard_committed(); // crash tests only
      r = journal_commit();
      if (r != 0) return fs_error(r);
      alloc_discard_committed(); // the commit is durable: what it freed may be discarded
    }
    if (!writeback_pending()) return 0;
  }
  return fs_error(-EIO);
}
/** Commit rounds one fs_commit may take (more than one only when writeback fills the log). */
const COMMIT_ROUNDS_MAX: i32 = 1 << 16;

/** sync(): commit and checkpoint, so the log is empty and every block is home. */
export function fs_sync(): i32 {
  let r = fs_commit();
  if (r != 0) return r;
  if (fs_readonly) return 0;
  if (journal_checkpoint_pending() > 0) {
    r = journal_checkpoint();
    if (r != 0) return fs_error(r);
  }
  return 0;
}

/**
 * The commit timer (jbd2's `commit=` timer): commits the running transaction when it is older
 * than the commit interval. For hosts whose kernel idles between syscalls (the page's worker
 * calls it from a timer): the interval is otherwise checked only at syscall boundaries.
 * Returns 1 when it committed, 0 when nothing was due, or -errno.
 */
export function fs_commit_aged(): i32 {
  if (!fs_mounted || fs_readonly || fs_errored || commit_interval_ns <= 0) return 0;
  if (journal_tx_age(fs_now()) <= commit_interval_ns) return 0;
  const r = fs_commit();
  return r != 0 ? r : 1;
}

/**
 * Syscall-boundary housekeeping: writes dirty data back in the background, commits when the
 * running transaction, dirty data or the deferred-free list grew large, and keeps free
 * frames above the watermark by reclaiming clean pages (checkpointing first when pinned
 * metadata is what fills memory).
 */
export function fs_balance(): i32 {
  fs_clock_reset();
  dir_iter_reset(); // buffers may be evicted below: no cursor survives a syscall boundary
  if (++syscalls_since_mmp >= MMP_CHECK_EVERY) {
    syscalls_since_mmp = 0;
    fs_mmp_tick(false); // a lost claim turns the filesystem read-only; the log says why
  }
  if (!fs_mounted || fs_readonly || fs_errored) return 0;
  if (snap_pending()) {
    // a snapshot delete or a dropped tree frees its blocks a little at every boundary
    // damage met by background work turns the filesystem read-only, flagged; the syscall
    // that happened to run it goes on (reads of the live tree still work)
    const w = snap_work(SNAP_WORK_PER_SYSCALL);
    if (w < 0) { fs_error(<i32>w); return 0; }
  }
  const free = free_and_growable();
  // like Linux's dirty_ratio, with a ceiling: written-back pages turn clean and get reused,
  // which keeps the working set in frames the host has already faulted in
  const dirtyLimit = min<u32>(DIRTY_PAGES_MAX, max<u32>(256, (free + nr_dirty) / 2));
  // the commit interval (jbd2's commit=5): every COMMIT_CHECK_EVERY syscalls the clock is
  // read, and a transaction older than the interval commits even if it is small
  let aged = false;
  if (++syscalls_since_check >= COMMIT_CHECK_EVERY) {
    syscalls_since_check = 0;
    aged = commit_interval_ns > 0 && journal_tx_age(fs_now()) > commit_interval_ns;
  }
  // background writeback at half the dirty limit (Linux's dirty_background_ratio against
  // dirty_ratio): dirty pages go to new blocks without a commit and their extents join the
  // running transaction (nothing committed points at those blocks yet, so a crash loses only
  // what an fsync never promised), and a stream's clean pages leave at once (free-behind).
  // A long stream then commits at fsync, the interval or a filling log, not every 64 MiB.
  if (nr_dirty > dirtyLimit / 2) {
    const r = writeback_all();
    if (r != 0) return fs_error(r);
  }
  if (aged || journal_should_commit() || alloc_defer_pressure() || nr_dirty > dirtyLimit) {
    const r = fs_commit();
    if (r != 0) return r;
  }
  if (free_and_growable() < low_watermark) {
    reclaim(low_watermark, true);
    if (free_and_growable() < low_watermark) {
      let r = fs_commit();
      if (r != 0) return r;
      if (journal_checkpoint_pending() > 0) {
        r = journal_checkpoint();
        if (r != 0) return fs_error(r);
      }
      reclaim(low_watermark * 2, true);
    }
  }
  return 0;
}

/**
 * Unmounts: MMP check, commit, checkpoint, state CLEAN, checkpoint again, drop the cache, MMP
 * CLEAN. 0 or -errno.
 */
export function fs_umount(): i32 {
  if (!fs_mounted) return -EINVAL;
  let r: i32 = 0;
  // a holder stalled past the MMP wait may have been taken over: then nothing more is written
  if (!fs_readonly && !fs_errored) fs_mmp_tick(true);
  if (!fs_readonly && !fs_errored) {
    r = fs_sync();
    if (r == 0) {
      const sb = bread(0, MAGIC_SUPER);
      if (sb == 0) r = buf_errno;
      else {
        store<u32>(sb, STATE_CLEAN, SB_STATE);
        journal_dirty(0);
        r = fs_sync();
      }
    }
  }
  drop_caches();
  fs_mounted = false;
  const m = mmp_stop(); // last: every write of this mount is durable
  return r != 0 ? r : m;
}

/** statfs: fills `out` (struct statfs of docs/abi.md). */
export function fs_statfs(out: usize): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno;
  memory.fill(out, 0, 72);
  store<u64>(out, 0x48454c58, 0); // f_type "HELX"
  store<u64>(out, BLOCK_SIZE, 8);
  store<u64>(out, total_blocks, 16);
  // blocks freed in the running transaction count as free, as ext4's df shows them: a write
  // that needs them commits and retries (syscalls.ts commit_to_free_space)
  const deferred = alloc_deferred_freeable(); // not what a snapshot keeps (dead list)
  store<u64>(out, free_blocks + deferred, 24);
  store<u64>(out, alloc_available() + deferred, 32);
  const inodes = inode_count(); // the mounted head's (a clone counts its own)
  store<u64>(out, 0xffff_ffff, 40);
  store<u64>(out, 0xffff_ffff - inodes, 48);
  store<u64>(out, 255, 56);
  store<u64>(out, BLOCK_SIZE, 64);
  return 0;
}


