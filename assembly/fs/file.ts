// fs/file.ts -- file data: inline data, the page cache, extent maps, delayed allocation,
// ordered writeback and truncate.
//
// Layer: above inodes, the page cache and the extent allocator; the syscall layer calls it.
// Interface: file_read, file_write, file_truncate, file_release (free all data),
// writeback_all (the commit's ordered-data step), bmap.
//
// Rules:
//  - small files live inline in the inode record (INODE_INLINE, size <= INLINE_MAX); the
//    first write past INLINE_MAX moves the bytes to page 0 and the file uses extents after;
//  - bytes past i_size inside the last block are zero in the cache (read_page zeroes them),
//    and before the file grows past them they are written back as zeros (ordered data), so
//    growing a file never exposes old bytes; a shrinking truncate writes nothing in place;
//  - data blocks are copy-on-write (as in btrfs and ZFS): a dirtied page gets no block at
//    write(), it reserves one (PG_delalloc), and writeback allocates whole runs of such pages
//    as new extents near the previous block, then unmaps and frees (at commit) the blocks
//    they replace. A block the last commit points to is never written in place, so after a
//    crash every block holds exactly what its checksum says;
//  - every extent record (format.ts) carries the XXH32 of each block it maps, computed at
//    writeback and checked on every read from the disk: a mismatch is EIO, never the bytes;
//  - writeback runs before the journal commits (ordered mode): data reaches the disk before
//    the extent records that point to it;
//  - past FREEBEHIND_START of a sequential run, calls of THROUGH_MIN whole uncached pages or
//    more skip the cache: read_through and write_through move them between the device and
//    the caller's buffer with the same checksums and copy-on-write extents (see there);
//  - a cached file page remembers its disk block in PG_PRIVATE2 (0 = none yet).

import { PAGE_SIZE, PAGE_SHIFT } from "../params";
import {
  NO_PFN, PG_PRIVATE2, PG_INDEX, PG_uptodate, PG_dirty, PG_delalloc, pfn_to_addr, pg_flags,
  pg_set_flags, pg_get32, pg_set32, pg_set_count, MIGRATE_MOVABLE,
} from "../mm/page";
import { alloc_pages, free_pages, split_page } from "../mm/buddy";
import {
  TREE_EXTENT, EXT_DISK, EXT_LEN, EXT_FLAGS, EXT_BIRTH, EXT_CSUM, EXTENT_MAX, ext_vlen, extent_verify, extent_why, EV_OK,
  EXT_UNWRITTEN, INCOMPAT_UNWRITTEN, SB_INCOMPAT, MAGIC_SUPER, extent_features_set,
} from "./format";
import { xxh32_blocks } from "../lib/xxhash";
import { kputs, kputu, kputx, knl, kfs } from "../lib/printk";
import {
  bt_seek, bt_next, bt_insert, bt_delete, bt_update, bt_errno, bt_corrupt, cur_k1, cur_k2, cur_val, cur_vlen, CURSOR_SIZE,
} from "./btree";
import {
  find_page, page_cached, add_page, add_page_frame, remove_page, set_page_dirty, clear_page_dirty, mapping_find,
  mapping_first, page_next_in_mapping, take_dirty_mappings, mapping_put, mapping_mark_dirty,
  dirty_mappings, AS_DIRTY_NEXT, AS_FLAGS,
  AS_DIRTY_LISTED, AS_INO, AS_NDIRTY, FREEBEHIND_START, mapping_seq_run, mapping_note_access,
  mapping_streaming, freebehind_page, bread, buf_errno,
} from "./pagecache";
import {
  balloc, bfree_deferred, alloc_reserve, alloc_unreserve, alloc_available, alloc_can_grow, alloc_errno, balloc_len, alloc_write_meta,
} from "./alloc";
import {
  inode_get, inode_get_mut, inode_errno, inode_set_inline, I_SIZE, I_FLAGS, I_BLOCKS, I_MTIME,
  I_CTIME, I_INLINE, INODE_INLINE, INLINE_MAX, INODE_SIZE_MAX, fs_now,
} from "./inode";
import { blk_add, blk_submit, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT } from "../dev/virtio_blk";
import { journal_log_tight, journal_dirty, j_tid } from "./journal";
import { EIO, ENOMEM, ENOSPC, EFBIG, EUCLEAN, ENXIO } from "../lib/errno";

/** Largest file size in bytes: page indices are u32 (inode_verify refuses larger sizes). */
export const FILE_SIZE_MAX: u64 = INODE_SIZE_MAX;
/** Pages read ahead in one batch on a miss. */
const READAHEAD_MAX: u32 = 128;
/** First page index free-behind may drop (pagecache.ts). */
const FREEBEHIND_INDEX: u32 = <u32>(FREEBEHIND_START >> PAGE_SHIFT);
/** Largest file block number + 1. */
const FILE_BLOCKS_MAX: u64 = FILE_SIZE_MAX >> PAGE_SHIFT;
/** Bytes of the largest extent record (ext_vlen(EXTENT_MAX)). */
const EXT_REC_MAX: i32 = <i32>EXT_CSUM + 4 * 256;

const CUR: usize = memory.data(CURSOR_SIZE);
/** Record being built (extent_add) and a copy of the record being cut (extent_punch). */
const EXT: usize = memory.data(EXT_REC_MAX);
const EXT_OLD: usize = memory.data(EXT_REC_MAX);
/** Checksums of the blocks read_page reads in one batch, and of a run writeback allocates. */
const RA_CSUM: usize = memory.data(<i32>READAHEAD_MAX * 4);
const WB_CSUM: usize = memory.data(EXT_REC_MAX);
/** Page addresses handed to xxh32_blocks, and the checksums of pages just read. */
const HASH_ADDR: usize = memory.data(EXT_REC_MAX);
const RA_GOT: usize = memory.data(<i32>READAHEAD_MAX * 4);
/** The frames of one readahead batch, in file order (saves two page-cache lookups a page). */
const RA_PFN: usize = memory.data(<i32>READAHEAD_MAX * 4);
@inline function ra_pfn(i: u32): u32 { return load<u32>(RA_PFN + (<usize>i << 2)); }
export let fstat_read_pages: u64 = 0;
export let fstat_written_pages: u64 = 0;
export let fstat_extents_allocated: u64 = 0;
/** Pages read and written straight between the device and the caller (read/write_through). */
export let fstat_read_through: u64 = 0;
export let fstat_write_through: u64 = 0;
/**
 * Set when file_write's -EIO came from the device failing a write_through data write, which
 * changed no metadata (the transaction holds nothing of it): not a filesystem error.
 */
export let file_data_eio: bool = false;
/**
 * Set when file_write stopped inside a metadata change (an extent remap failed halfway): the
 * running transaction is then inconsistent and the caller must abort the journal, whatever
 * the return value (with space reserved as alloc_write_meta says, ENOSPC cannot do this).
 */
export let file_tx_broken: bool = false;
/** Data blocks whose bytes did not match their checksum when read (each read is -EIO). */
export let fstat_csum_errors: u64 = 0;

/** Run length (blocks) after the block bmap found, 0 for a hole. */
export let bmap_run: u32 = 0;
/** True when the block bmap found is in an UNWRITTEN extent (reads as zeros, no checksum). */
export let bmap_unwritten: bool = false;
/**
 * Address of the checksum of the block bmap found, inside the extent record in the buffer
 * cache: valid only until the next tree operation or page allocation (copy it first).
 */
let bmap_csum: usize = 0;

/**
 * True when the extent record under CUR passes extent_verify (format.ts: length, checksum
 * count, flags, disk blocks in the data area); else reports it: a log line and EUCLEAN
 * through bt_corrupt (bt_errno set, journal aborted, read-only). Every extent record is
 * checked here before its fields are used.
 */
function ext_cur_sound(): bool {
  const r = extent_verify(cur_val(CUR), cur_vlen(CUR), cur_k2(CUR));
  if (r == EV_OK) return true;
  kfs(); kputs("corrupt extent of inode "); kputu(cur_k1(CUR)); kputs(" at file block "); kputu(cur_k2(CUR));
  kputs(": "); kputs(extent_why(r)); knl();
  bt_corrupt();
  return false;
}

/**
 * The disk block holding file block `fblock` of `ino`, or 0 for a hole (bmap_run then 0).
 * On error returns 0 with bt_errno set (-EUCLEAN for a corrupt extent record).
 */
export function bmap(ino: u64, fblock: u64): u64 {
  bmap_run = 0;
  bmap_unwritten = false;
  if (!bt_seek(CUR, TREE_EXTENT, ino, fblock, false)) return 0;
  if (cur_k1(CUR) != ino) return 0;
  if (!ext_cur_sound()) return 0;
  const fs = cur_k2(CUR);
  const v = cur_val(CUR);
  const len = <u64>load<u32>(v, EXT_LEN);
  if (fblock >= fs + len) return 0;
  bmap_run = <u32>(fs + len - fblock);
  bmap_unwritten = (load<u32>(v, EXT_FLAGS) & EXT_UNWRITTEN) != 0;
  bmap_csum = v + EXT_CSUM + <usize>((fblock - fs) << 2);
  return load<u64>(v, EXT_DISK) + (fblock - fs);
}

// ---- reading ---------------------------------------------------------------------------------

/**
 * Brings page `index` of `ino` into the cache, reading up to READAHEAD_MAX following pages of
 * the same extent in one batch. `isize` bounds what exists. Returns the pfn or NO_PFN with
 * *file_errno set (-EIO, -ENOMEM).
 */
export let file_errno: i32 = 0;
function read_page(ino: u64, index: u32, isize: u64): u32 {
  const pfn0 = find_page(<u32>ino, index);
  if (pfn0 != NO_PFN) return pfn0;
  const disk = bmap(ino, <u64>index);
  if (bt_errno != 0) { file_errno = bt_errno; return NO_PFN; }
  // the checksums of the batch, copied before add_page can reclaim the buffer holding them
  const runEnd = min<u32>(bmap_run, READAHEAD_MAX);
  if (disk != 0) memory.copy(RA_CSUM, bmap_csum, <usize>runEnd << 2);
  const unwritten = bmap_unwritten;
  const pfn = add_page(<u32>ino, index);
  if (pfn == NO_PFN) { file_errno = -ENOMEM; return NO_PFN; }
  if (disk == 0 || unwritten) {
    // a hole or an UNWRITTEN block reads as zeros: its disk bytes are never read (they may
    // be another file's old data); the page still names its block for copy-on-write
    memory.fill(pfn_to_addr(pfn), 0, PAGE_SIZE);
    pg_set32(pfn, PG_PRIVATE2, <u32>disk);
    pg_set_flags(pfn, pg_flags(pfn) | PG_uptodate);
    return pfn;
  }
  pg_set_count(pfn, 1); // pinned while the readahead allocates more pages
  store<u32>(RA_PFN, pfn);
  blk_add(VIRTIO_BLK_T_IN, disk, pfn_to_addr(pfn));
  pg_set32(pfn, PG_PRIVATE2, <u32>disk);
  // readahead: following pages of this extent that lie inside the file and are not cached
  const lastIndex = <u32>((isize + PAGE_SIZE - 1) >> PAGE_SHIFT);
  let want: u32 = 1;
  while (want < runEnd && index + want < lastIndex && page_cached(<u32>ino, index + want) == NO_PFN) want++;
  // physically contiguous frames let the driver send the run as one descriptor
  const frames = ra_frames(want - 1);
  let ra: u32 = 1;
  while (ra < want) {
    const f = frames != NO_PFN ? frames + ra - 1 : NO_PFN;
    const p = f != NO_PFN ? add_page_frame(<u32>ino, index + ra, f) : add_page(<u32>ino, index + ra);
    if (p == NO_PFN) break;
    pg_set_count(p, 1);
    store<u32>(RA_PFN + (<usize>ra << 2), p);
    pg_set32(p, PG_PRIVATE2, <u32>(disk + ra));
    blk_add(VIRTIO_BLK_T_IN, disk + ra, pfn_to_addr(p));
    ra++;
  }
  if (frames != NO_PFN) for (let i = ra; i < want; i++) free_pages(frames + i - 1, 0);
  const err = blk_submit();
  if (err == 0) {
    for (let i: u32 = 0; i < ra; i++) store<u32>(HASH_ADDR + (<usize>i << 2), <u32>pfn_to_addr(ra_pfn(i)));
    xxh32_blocks(HASH_ADDR, ra, RA_GOT);
  }
  let bad = false;
  for (let i: u32 = 0; i < ra; i++) {
    const p = ra_pfn(i);
    if (!ASC_NO_ASSERT) assert(page_cached(<u32>ino, index + i) == p, "readahead page moved");
    pg_set_count(p, 0);
    if (err == 0 && csum_ok(ino, index + i, disk + i, load<u32>(RA_GOT + (<usize>i << 2)), load<u32>(RA_CSUM + (<usize>i << 2)))) {
      pg_set_flags(p, pg_flags(p) | PG_uptodate);
      zero_past_eof(p, index + i, isize);
    } else {
      // a bad readahead page is dropped too: reading it later fails by itself
      if (i == 0) bad = true;
      remove_page(p);
    }
  }
  fstat_read_pages += ra;
  if (err != 0 || bad) { file_errno = -EIO; return NO_PFN; }
  return pfn;
}

/**
 * True when `got`, the checksum of the bytes read for file block `index` of `ino` from disk
 * block `disk`, is `csum`; else counts and logs the checksum error (btrfs: "csum failed").
 */
function csum_ok(ino: u64, index: u32, disk: u64, got: u32, csum: u32): bool {
  if (got == csum) return true;
  fstat_csum_errors++;
  kfs(); kputs("data csum failed: ino "); kputu(ino); kputs(" block "); kputu(index);
  kputs(" at disk block "); kputu(disk); kputs(": csum "); kputx(got); kputs(" expected "); kputx(csum);
  knl();
  return false;
}

/**
 * `n` physically contiguous order-0 frames for readahead (the first pfn), or NO_PFN when
 * none are free as one block (readahead then takes frames one by one).
 */
function ra_frames(n: u32): u32 {
  if (n < 2) return NO_PFN;
  let order: u32 = 0;
  while ((<u32>1 << order) < n) order++;
  const pfn = alloc_pages(order, MIGRATE_MOVABLE);
  if (pfn == NO_PFN) return NO_PFN;
  split_page(pfn, order);
  for (let i: u32 = n; i < (<u32>1 << order); i++) free_pages(pfn + i, 0);
  return pfn;
}

/**
 * Zeroes the bytes past EOF in the cached page that holds EOF. The disk block may still hold
 * old bytes there (a shrinking truncate writes nothing in place: zeroing the block before
 * the smaller size commits would let a crash show zeros inside the old size), so every
 * read of that block zeroes them in the cache, and extending the file writes them back.
 */
function zero_past_eof(pfn: u32, index: u32, isize: u64): void {
  const start = (<u64>index) << PAGE_SHIFT;
  if (isize <= start || isize >= start + PAGE_SIZE) return;
  const from = <u32>(isize - start);
  memory.fill(pfn_to_addr(pfn) + from, 0, PAGE_SIZE - from);
}

/**
 * Before a file grows past `size` without writing the page that holds EOF (a write further
 * out, a growing truncate): that page, zeroed past EOF by read_page, is dirtied so its
 * zeros reach the disk (ordered, before the bigger size commits). Returns 0 or -errno.
 */
function flush_eof_tail(ino: u64, size: u64): i32 {
  if ((size & (PAGE_SIZE - 1)) == 0) return 0;
  const index = <u32>(size >> PAGE_SHIFT);
  let pfn = find_page(<u32>ino, index);
  if (pfn == NO_PFN) {
    pfn = read_page(ino, index, size);
    if (pfn == NO_PFN) return file_errno;
  } else zero_past_eof(pfn, index, size);
  // a hole page has no block to fix: the hole reads as zeros; nor has an UNWRITTEN one
  if ((pg_flags(pfn) & PG_delalloc) == 0) {
    if (pg_get32(pfn, PG_PRIVATE2) == 0) return 0;
    bmap(ino, <u64>index);
    if (bt_errno != 0) return bt_errno;
    if (bmap_unwritten) return 0;
  }
  const r = page_reserve(pfn);
  if (r != 0) return r;
  set_page_dirty(pfn);
  return 0;
}

// The run being reserved: the pages one write call (or one EOF-tail flush) newly reserves
// lie in one range of the file, so their extent records go in at adjacent keys and
// alloc_write_meta bounds what their writeback and commit can need. Each new page takes its
// block and the growth of that bound; the metadata stays reserved until writeback and the
// commit's frees are done (alloc.ts). Reset by run_begin.
let run_pages: u64 = 0;
let run_old: u64 = 0; // disk extents of the old blocks the run replaces
let run_prev_old: u64 = 0; // old block of the previous page reserved, 0 for none
let run_meta: u64 = 0;

/** Starts a new run of reservations (see above). */
function run_begin(): void {
  run_pages = 0;
  run_old = 0;
  run_prev_old = 0;
  run_meta = 0;
}

/**
 * Reserves the block a page will be written to at writeback (copy-on-write: also for a page
 * that has one), once per dirtying, and the metadata that writeback can need for it as part
 * of the current run. Returns 0 or -ENOSPC (nothing reserved).
 */
function page_reserve(pfn: u32): i32 {
  if (pg_flags(pfn) & PG_delalloc) return 0;
  const old = <u64>pg_get32(pfn, PG_PRIVATE2);
  const newOld: u64 = old != 0 && old != run_prev_old + 1 ? 1 : 0;
  const need = alloc_write_meta(run_pages + 1, run_old + newOld);
  const meta = need > run_meta ? need - run_meta : 0;
  if (alloc_reserve(1, meta) != 0) return -ENOSPC;
  run_pages++;
  run_old += newOld;
  run_prev_old = old;
  run_meta += meta;
  pg_set_flags(pfn, pg_flags(pfn) | PG_delalloc);
  return 0;
}

/**
 * Reads up to `len` bytes of `ino` at byte offset `pos` into `dst`. Returns the bytes read
 * (0 at or past EOF) or -errno (-EIO, -EUCLEAN, -ENOMEM).
 */
export function file_read(ino: u64, pos: u64, dst: usize, len: u32): i32 {
  const rec = inode_get(ino);
  if (rec == 0) return inode_errno;
  const size = load<u64>(rec, I_SIZE);
  if (pos >= size || len == 0) return 0;
  const n = <u32>min<u64>(<u64>len, size - pos);
  if (load<u32>(rec, I_FLAGS) & INODE_INLINE) {
    memory.copy(dst, rec + I_INLINE + <usize>pos, n);
    return <i32>n;
  }
  // a sequential pass past FREEBEHIND_START reads whole uncached pages straight into `dst`
  // and drops each cached page it has read to the end
  const stream = mapping_seq_run(mapping_find(<u32>ino), pos, n) >= FREEBEHIND_START;
  let done: u32 = 0;
  while (done < n) {
    const p = pos + done;
    const index = <u32>(p >> PAGE_SHIFT);
    const off = <u32>(p & (PAGE_SIZE - 1));
    const through = stream && off == 0 && index >= FREEBEHIND_INDEX ? uncached_run(ino, index, (n - done) >> PAGE_SHIFT) : 0;
    if (through > 0) {
      const got = read_through(ino, index, dst + done, through);
      done += got << PAGE_SHIFT;
      if (got < through) break;
      continue;
    }
    const chunk = min<u32>(PAGE_SIZE - off, n - done);
    const pfn = read_page(ino, index, size);
    if (pfn == NO_PFN) break;
    memory.copy(dst + done, pfn_to_addr(pfn) + off, chunk);
    if (stream && index >= FREEBEHIND_INDEX && off + chunk == PAGE_SIZE) freebehind_page(pfn);
    done += chunk;
  }
  mapping_note_access(mapping_find(<u32>ino), pos, done);
  return done > 0 ? <i32>done : file_errno;
}

// ---- streams: I/O straight between the device and the caller's buffer ------------------------
//
// A sequential pass past FREEBEHIND_START would drop every page past FREEBEHIND_INDEX right
// after using it (free-behind), so for the whole pages of such a pass that are not cached,
// the page cache would only be a bounce buffer: one more copy of every byte through frames
// that miss the CPU caches. read_through and write_through skip it: the device reads into,
// or writes from, the caller's buffer (the host's transfer buffer, hot in the CPU caches),
// with the same checksums and copy-on-write extents as the cached path. What a later read
// sees is the same (free-behind would have dropped those pages anyway). This is uncached
// buffered I/O (Linux RWF_DONTCACHE, 6.14) without the round trip through the page cache,
// as OpenZFS 2.3 Direct I/O does for aligned O_DIRECT requests.

/**
 * Fewest whole pages a call moves through (64 KiB): below it the cached path is cheaper,
 * with readahead batching the reads and writeback batching the writes of small calls.
 */
const THROUGH_MIN: u32 = 16;

/**
 * Pages from `index` of `ino`, at most `max`, before the first one that is cached; 0 when
 * fewer than THROUGH_MIN.
 */
function uncached_run(ino: u64, index: u32, max: u32): u32 {
  if (max < THROUGH_MIN) return 0;
  let n: u32 = 0;
  while (n < max && page_cached(<u32>ino, index + n) == NO_PFN) n++;
  return n >= THROUGH_MIN ? n : 0;
}

/**
 * Reads file pages [index, index + n) of `ino`, none cached and all inside the file, into
 * `dst`, checking every block against its extent's checksum; holes read as zeros. Returns
 * the pages read: fewer than `n` when one failed (file_errno: -EIO on a device error or a
 * checksum mismatch, or bt_errno from the extent lookup).
 */
function read_through(ino: u64, index: u32, dst: usize, n: u32): u32 {
  let done: u32 = 0;
  while (done < n) {
    const at = index + done;
    const to = dst + (<usize>done << PAGE_SHIFT);
    const disk = bmap(ino, <u64>at);
    if (bt_errno != 0) { file_errno = bt_errno; return done; }
    if (disk == 0) { memory.fill(to, 0, PAGE_SIZE); done++; continue; }
    const k = min<u32>(min<u32>(bmap_run, n - done), READAHEAD_MAX);
    if (bmap_unwritten) { memory.fill(to, 0, <usize>k << PAGE_SHIFT); done += k; continue; }
    memory.copy(RA_CSUM, bmap_csum, <usize>k << 2);
    for (let i: u32 = 0; i < k; i++) {
      const a = to + (<usize>i << PAGE_SHIFT);
      store<u32>(HASH_ADDR + (<usize>i << 2), <u32>a);
      blk_add(VIRTIO_BLK_T_IN, disk + i, a);
    }
    fstat_read_pages += k;
    fstat_read_through += k;
    if (blk_submit() != 0) { file_errno = -EIO; return done; }
    xxh32_blocks(HASH_ADDR, k, RA_GOT);
    for (let i: u32 = 0; i < k; i++) {
      if (!csum_ok(ino, at + i, disk + i, load<u32>(RA_GOT + (<usize>i << 2)), load<u32>(RA_CSUM + (<usize>i << 2)))) {
        file_errno = -EIO;
        return done + i;
      }
    }
    done += k;
  }
  return done;
}

/**
 * Writes `n` whole pages from `src` to file pages [index, index + n) of `ino`, none of them
 * cached, copy-on-write as writeback_mapping does (new blocks near the previous one, their
 * checksums, new extent records, the old blocks freed at commit) with `src` as the I/O
 * buffer. Each run's data is on the device before its extent records join the running
 * transaction, so ordered mode holds without writeback. Returns the pages written: fewer
 * than `n` with file_errno set when space ran short (-ENOSPC: the caller's page path then
 * reserves page by page) or the device or a tree failed (-EIO, -EUCLEAN, ...).
 */
function write_through(ino: u64, index: u32, src: usize, n: u32, isize: u64): u32 {
  let done: u32 = 0;
  while (done < n) {
    const at = index + done;
    const want = min<u32>(n - done, EXTENT_MAX);
    // the run must not take blocks that dirty pages have reserved (page_reserve), and must
    // leave what its own extent records and free-space changes can need: pages inside the
    // file may each replace an old extent (freed at commit: that part stays reserved)
    const olds: u64 = (<u64>at << PAGE_SHIFT) < isize ? <u64>want : 0;
    const worst = alloc_write_meta(<u64>want, olds);
    const commitPart = worst - alloc_write_meta(<u64>want, 0);
    if (alloc_available() < <u64>want + worst || alloc_reserve(0, commitPart) != 0) { file_errno = -ENOSPC; break; }
    const start = balloc(goal_for(ino, at), <u64>want, 1);
    if (start == 0) { file_errno = alloc_errno != 0 ? alloc_errno : -ENOSPC; break; }
    const got = <u32>balloc_len;
    for (let i: u32 = 0; i < got; i++) {
      const a = src + (<usize>(done + i) << PAGE_SHIFT);
      store<u32>(HASH_ADDR + (<usize>i << 2), <u32>a);
      blk_add(VIRTIO_BLK_T_OUT, start + i, a);
    }
    xxh32_blocks(HASH_ADDR, got, WB_CSUM);
    if (blk_submit() != 0) {
      bfree_deferred(start, <u64>got); // nothing points at them
      file_errno = -EIO;
      file_data_eio = true;
      break;
    }
    const r = extent_remap(ino, <u64>at, start, got, WB_CSUM);
    if (r != 0) { file_errno = r; file_tx_broken = true; break; }
    fstat_written_pages += got;
    fstat_write_through += got;
    done += got;
  }
  return done;
}

// ---- writing ---------------------------------------------------------------------------------

/** Moves inline bytes of `ino` (size `size`) into page 0 and switches it to extents. */
function inline_to_pages(ino: u64, rec: usize, size: u64): i32 {
  if (alloc_reserve(1, alloc_write_meta(1, 0)) != 0) return -ENOSPC;
  const pfn = add_page(<u32>ino, 0);
  if (pfn == NO_PFN) { alloc_unreserve(1); return -ENOMEM; }
  const addr = pfn_to_addr(pfn);
  memory.fill(addr, 0, PAGE_SIZE);
  memory.copy(addr, rec + I_INLINE, <usize>size);
  pg_set32(pfn, PG_PRIVATE2, 0);
  pg_set_flags(pfn, pg_flags(pfn) | PG_uptodate | PG_delalloc);
  set_page_dirty(pfn);
  return inode_set_inline(ino, 0, 0, size, 0);
}

/**
 * The page `index` of `ino` ready to be written from byte `off` for `n` bytes: read first
 * when the write covers only part of a page that has data, and holding the reservation of
 * the block writeback will write it to. Returns the pfn or NO_PFN (file_errno: -ENOSPC, -EIO, -ENOMEM).
 */
function write_begin(ino: u64, index: u32, off: u32, n: u32, isize: u64): u32 {
  let pfn = find_page(<u32>ino, index);
  if (pfn == NO_PFN) {
    const pageStart = (<u64>index) << PAGE_SHIFT;
    const whole = off == 0 && n == PAGE_SIZE;
    if (pageStart < isize && !whole) {
      pfn = read_page(ino, index, isize);
      if (pfn == NO_PFN) return NO_PFN;
    } else {
      let disk: u64 = 0;
      if (pageStart < isize) {
        disk = bmap(ino, <u64>index);
        if (bt_errno != 0) { file_errno = bt_errno; return NO_PFN; }
      }
      pfn = add_page(<u32>ino, index);
      if (pfn == NO_PFN) { file_errno = -ENOMEM; return NO_PFN; }
      if (!whole) memory.fill(pfn_to_addr(pfn), 0, PAGE_SIZE);
      pg_set32(pfn, PG_PRIVATE2, <u32>disk);
      pg_set_flags(pfn, pg_flags(pfn) | PG_uptodate);
    }
  }
  if (page_reserve(pfn) != 0) {
    if ((pg_flags(pfn) & PG_dirty) == 0) remove_page(pfn);
    file_errno = -ENOSPC;
    return NO_PFN;
  }
  return pfn;
}

/**
 * Writes `len` bytes from `src` to `ino` at byte offset `pos`, growing the file. Returns the
 * bytes written, or -errno: -ENOSPC (nothing could be reserved), -EFBIG, -EIO, -ENOMEM.
 * A short count means a later page failed (the earlier ones are written).
 */
export function file_write(ino: u64, pos: u64, src: usize, len: u32): i32 {
  file_data_eio = false;
  file_tx_broken = false;
  if (len == 0) return 0;
  if (pos + len > FILE_SIZE_MAX) return -EFBIG;
  let rec = inode_get(ino);
  if (rec == 0) return inode_errno;
  const size = load<u64>(rec, I_SIZE);
  const end = pos + len;
  if (load<u32>(rec, I_FLAGS) & INODE_INLINE) {
    if (end <= <u64>INLINE_MAX) {
      // stay inline: rebuild the record with the new bytes
      const newSize = max<u64>(size, end);
      const TMP = memory.data(INLINE_MAX);
      memory.fill(TMP, 0, INLINE_MAX);
      memory.copy(TMP, rec + I_INLINE, <usize>size);
      memory.copy(TMP + <usize>pos, src, len);
      let r = inode_set_inline(ino, TMP, <u32>newSize, newSize, INODE_INLINE);
      if (r != 0) return r;
      r = stamp_write(ino);
      return r != 0 ? r : <i32>len;
    }
    const r = inline_to_pages(ino, rec, size);
    if (r != 0) return r;
  }
  if (pos > size && (pos >> PAGE_SHIFT) != (size >> PAGE_SHIFT)) {
    run_begin();
    const r = flush_eof_tail(ino, size); // the write skips the page that holds EOF
    if (r != 0) return r;
  }
  run_begin(); // the pages of [pos, pos + len) are one run
  // a sequential pass past FREEBEHIND_START writes whole uncached pages straight from `src`
  let stream = mapping_seq_run(mapping_find(<u32>ino), pos, len) >= FREEBEHIND_START;
  let done: u32 = 0;
  while (done < len) {
    const p = pos + done;
    const index = <u32>(p >> PAGE_SHIFT);
    const off = <u32>(p & (PAGE_SIZE - 1));
    const through = stream && off == 0 && index >= FREEBEHIND_INDEX ? uncached_run(ino, index, (len - done) >> PAGE_SHIFT) : 0;
    if (through > 0) {
      const got = write_through(ino, index, src + done, through, size);
      done += got << PAGE_SHIFT;
      if (got == through) continue;
      if (file_errno != -ENOSPC) {
        if (done == 0) return file_errno;
        break;
      }
      // short of space for a whole run: the page path takes the rest, page by page
      stream = false;
      continue;
    }
    const chunk = min<u32>(PAGE_SIZE - off, len - done);
    const pfn = write_begin(ino, index, off, chunk, size);
    if (pfn == NO_PFN) {
      if (done == 0) return file_errno;
      break;
    }
    memory.copy(pfn_to_addr(pfn) + off, src + done, chunk);
    set_page_dirty(pfn);
    done += chunk;
  }
  mapping_note_access(mapping_find(<u32>ino), pos, done);
  rec = inode_get_mut(ino);
  if (rec == 0) return inode_errno;
  if (pos + done > load<u64>(rec, I_SIZE)) store<u64>(rec, pos + done, I_SIZE);
  const now = fs_now();
  store<i64>(rec, now, I_MTIME);
  store<i64>(rec, now, I_CTIME);
  return <i32>done;
}

function stamp_write(ino: u64): i32 {
  const rec = inode_get_mut(ino);
  if (rec == 0) return inode_errno;
  const now = fs_now();
  store<i64>(rec, now, I_MTIME);
  store<i64>(rec, now, I_CTIME);
  return 0;
}

// ---- writeback -------------------------------------------------------------------------------

/**
 * Maps file blocks [fblock, fblock + len) to disk blocks [disk, disk + len) with checksums
 * `csums` (len u32), extending the previous record when both ranges continue it and the
 * result stays within EXTENT_MAX. The range must be unmapped. 0 or -errno.
 */
function extent_add(ino: u64, fblock: u64, disk: u64, len: u32, csums: usize): i32 {
  assert(len > 0 && len <= EXTENT_MAX && ext_vlen(EXTENT_MAX) == <u32>EXT_REC_MAX);
  if (fblock > 0 && bt_seek(CUR, TREE_EXTENT, ino, fblock - 1, false) && cur_k1(CUR) == ino) {
    if (!ext_cur_sound()) return bt_errno;
    const fs = cur_k2(CUR);
    const v = cur_val(CUR);
    const pd = load<u64>(v, EXT_DISK);
    const pl = load<u32>(v, EXT_LEN);
    const written = (load<u32>(v, EXT_FLAGS) & EXT_UNWRITTEN) == 0;
    // only blocks born in this transaction extend a record: a record has one birth tid
    if (written && fs + pl == fblock && pd + pl == disk && pl + len <= EXTENT_MAX && load<u64>(v, EXT_BIRTH) == j_tid) {
      memory.copy(EXT, v, ext_vlen(pl));
      store<u32>(EXT, pl + len, EXT_LEN);
      memory.copy(EXT + ext_vlen(pl), csums, <usize>len << 2);
      return bt_update(TREE_EXTENT, ino, fs, EXT, ext_vlen(pl + len));
    }
  }
  if (bt_errno != 0) return bt_errno;
  fstat_extents_allocated++;
  return ext_insert(ino, fblock, disk, len, csums);
}

/**
 * Inserts the record (ino, fblock) -> disk, len, flags, birth, csums (`csums` 0: all zero, as
 * an UNWRITTEN record has; `birth` 0: the blocks are new, born in the running transaction;
 * a cut keeps its record's birth). 0 or -errno.
 */
function ext_insert(ino: u64, fblock: u64, disk: u64, len: u32, csums: usize, flags: u32 = 0, birth: u64 = 0): i32 {
  store<u64>(EXT, disk, EXT_DISK);
  store<u32>(EXT, len, EXT_LEN);
  store<u32>(EXT, flags, EXT_FLAGS);
  store<u64>(EXT, birth != 0 ? birth : j_tid, EXT_BIRTH);
  if (csums != 0) memory.copy(EXT + EXT_CSUM, csums, <usize>len << 2);
  else memory.fill(EXT + EXT_CSUM, 0, <usize>len << 2);
  return bt_insert(TREE_EXTENT, ino, fblock, EXT, ext_vlen(len));
}

/**
 * Unmaps file blocks [from, from + n) of `ino`: records inside go, records across an edge
 * are cut (one across both edges splits in two, keeping each part's checksums), and the
 * disk blocks unmapped are freed at commit (bfree_deferred: the last commit may still point
 * at them). Returns the blocks unmapped or -errno.
 */
function extent_punch(ino: u64, from: u64, n: u64): i64 {
  const end = from + n;
  let freed: i64 = 0;
  for (let guard = 0; guard < 1 << 30; guard++) {
    // the last record starting below `end`; done when it ends at or before `from`
    if (!bt_seek(CUR, TREE_EXTENT, ino, end - 1, false) || cur_k1(CUR) != ino) {
      return bt_errno != 0 ? <i64>bt_errno : freed;
    }
    if (!ext_cur_sound()) return <i64>bt_errno;
    const fs = cur_k2(CUR);
    const v = cur_val(CUR);
    const len = <u64>load<u32>(v, EXT_LEN);
    if (fs + len <= from) return freed;
    memory.copy(EXT_OLD, v, ext_vlen(<u32>len));
    const disk = load<u64>(EXT_OLD, EXT_DISK);
    const a = max<u64>(fs, from), b = min<u64>(fs + len, end);
    let r: i32 = 0;
    if (fs < a) {
      // keep the head [fs, a) under the same key
      store<u32>(EXT_OLD, <u32>(a - fs), EXT_LEN);
      r = bt_update(TREE_EXTENT, ino, fs, EXT_OLD, ext_vlen(<u32>(a - fs)));
    } else {
      r = bt_delete(TREE_EXTENT, ino, fs);
    }
    if (r == 0 && b < fs + len) {
      // keep the tail [b, fs + len) under key b
      r = ext_insert(ino, b, disk + (b - fs), <u32>(fs + len - b), EXT_OLD + EXT_CSUM + <usize>((b - fs) << 2),
        load<u32>(EXT_OLD, EXT_FLAGS), load<u64>(EXT_OLD, EXT_BIRTH));
    }
    // a snapshot may still map the blocks: their birth decides free or dead list (snapshot.ts)
    if (r == 0) r = bfree_deferred(disk + (a - fs), b - a, load<u64>(EXT_OLD, EXT_BIRTH));
    if (r != 0) return <i64>r;
    freed += <i64>(b - a);
    if (fs <= from) return freed;
  }
  return <i64>-EUCLEAN;
}

/**
 * Maps file blocks [at, at + len) of `ino` to the new disk blocks [disk, disk + len) with
 * checksums `csums`, unmapping what they replace (freed at commit), and adds the difference
 * to the inode's block count. The copy-on-write step shared by writeback and write_through.
 * Returns 0 or -errno.
 */
function extent_remap(ino: u64, at: u64, disk: u64, len: u32, csums: usize): i32 {
  const unmapped = extent_punch(ino, at, <u64>len);
  if (unmapped < 0) return <i32>unmapped;
  const r = extent_add(ino, at, disk, len, csums);
  if (r != 0) return r;
  if (<i64>len == unmapped) return 0;
  const rec = inode_get_mut(ino);
  if (rec == 0) return inode_errno;
  store<u64>(rec, <u64>(<i64>load<u64>(rec, I_BLOCKS) + <i64>len - unmapped), I_BLOCKS);
  return 0;
}

/** Disk block right after the one backing page `index - 1` (the allocation goal), or 0. */
function goal_for(ino: u64, index: u32): u64 {
  if (index == 0) return 0;
  const prev = find_page(<u32>ino, index - 1);
  if (prev != NO_PFN && pg_get32(prev, PG_PRIVATE2) != 0) return <u64>pg_get32(prev, PG_PRIVATE2) + 1;
  const d = bmap(ino, <u64>(index - 1));
  return d != 0 ? d + 1 : 0;
}

/**
 * Writes back the dirty pages of one mapping, in index order, copy-on-write: each run of
 * consecutive dirty pages gets new blocks (as long a run as the allocator gives, near the
 * previous block), its checksums, and new extent records replacing the old mapping, whose
 * blocks are freed at commit. Returns 0 or -errno.
 */
function writeback_mapping(as: usize): i32 {
  const ino = <u64>load<u32>(as, AS_INO);
  let pfn = mapping_first(as);
  let queued: u32 = 0;
  while (pfn != NO_PFN) {
    const f = pg_flags(pfn);
    if ((f & PG_dirty) == 0) { pfn = page_next_in_mapping(pfn); continue; }
    // every dirty page holds a reservation (page_reserve)
    if ((f & PG_delalloc) == 0) return -EUCLEAN;
    const first = pg_get32(pfn, PG_INDEX);
    let runLen: u32 = 1;
    let last = pfn;
    for (;;) {
      const nx = page_next_in_mapping(last);
      if (nx == NO_PFN || pg_get32(nx, PG_INDEX) != first + runLen || (pg_flags(nx) & PG_dirty) == 0) {
        break;
      }
      if ((pg_flags(nx) & PG_delalloc) == 0) return -EUCLEAN;
      last = nx;
      runLen++;
    }
    let done: u32 = 0;
    while (done < runLen) {
      const at = first + done;
      const start = balloc(goal_for(ino, at), <u64>min<u32>(runLen - done, EXTENT_MAX), 1);
      if (start == 0) return alloc_errno != 0 ? alloc_errno : -ENOSPC;
      const got = <u32>balloc_len;
      let p = pfn;
      for (let i: u32 = 0; i < got; i++) {
        store<u32>(HASH_ADDR + (<usize>i << 2), <u32>pfn_to_addr(p));
        p = page_next_in_mapping(p);
      }
      xxh32_blocks(HASH_ADDR, got, WB_CSUM);
      const r = extent_remap(ino, <u64>at, start, got, WB_CSUM);
      if (r != 0) return r;
      for (let i: u32 = 0; i < got; i++) {
        // the page keeps PG_dirty (so nothing evicts it) until its write has completed
        if (!ASC_NO_ASSERT) assert(pg_get32(pfn, PG_INDEX) == at + i, "writeback: page out of step with its extent");
        pg_set32(pfn, PG_PRIVATE2, <u32>(start + i));
        pg_set_flags(pfn, pg_flags(pfn) & ~PG_delalloc);
        alloc_unreserve(1);
        blk_add(VIRTIO_BLK_T_OUT, start + i, pfn_to_addr(pfn));
        queued++;
        pfn = page_next_in_mapping(pfn);
      }
      done += got;
    }
  }
  if (queued > 0) {
    const r = blk_submit();
    if (r != 0) return r;
    // written: now the pages are clean, and a stream's pages past FREEBEHIND_START leave
    // (the dirty list still holds the mapping, so the last page leaving does not free it)
    const stream = mapping_streaming(as);
    pfn = mapping_first(as);
    while (pfn != NO_PFN) {
      const next = page_next_in_mapping(pfn);
      if (pg_flags(pfn) & PG_dirty) {
        clear_page_dirty(pfn);
        fstat_written_pages++;
        if (stream && pg_get32(pfn, PG_INDEX) >= FREEBEHIND_INDEX) freebehind_page(pfn);
      }
      pfn = next;
    }
  }
  return 0;
}

/**
 * Writes back every dirty file page (the ordered-data step before a commit). Returns 0 or
 * -errno (-EIO: the device failed; -ENOSPC/-EUCLEAN: allocation failed).
 */
export function writeback_all(): i32 {
  let as = take_dirty_mappings();
  let err: i32 = 0;
  while (as != 0) {
    const next = <usize>load<u32>(as, AS_DIRTY_NEXT);
    if (err == 0 && journal_log_tight()) {
      store<u32>(as, load<u32>(as, AS_FLAGS) & ~AS_DIRTY_LISTED, AS_FLAGS);
      // the extents and inode updates of writeback join the transaction too: rather than
      // overflow the log, stop and let the caller commit, then continue. Only then can a
      // commit hold a file size whose data is still to come (a crash there reads zeros
      // past the written part); normal commits write every dirty page first.
      mapping_mark_dirty(as);
      as = next;
      continue;
    }
    if (err == 0 && load<u32>(as, AS_NDIRTY) > 0) err = writeback_mapping(as);
    store<u32>(as, load<u32>(as, AS_FLAGS) & ~AS_DIRTY_LISTED, AS_FLAGS);
    mapping_put(as);
    as = next;
  }
  const r = blk_submit();
  return err != 0 ? err : r;
}

/** True when dirty file pages remain (writeback_all stopped early). */
export function writeback_pending(): bool { return dirty_mappings != 0; }

// ---- truncate --------------------------------------------------------------------------------

/** Drops cached pages of `ino` with index >= `from`, releasing delalloc reservations. */
export function drop_pages_from(ino: u64, from: u32): void {
  drop_pages_range(ino, <u64>from, FILE_BLOCKS_MAX);
}

/** Drops cached pages of `ino` with index in [from, to), releasing delalloc reservations. */
function drop_pages_range(ino: u64, from: u64, to: u64): void {
  const as = mapping_find(<u32>ino);
  if (as == 0) return;
  let pfn = mapping_first(as);
  while (pfn != NO_PFN) {
    const next = page_next_in_mapping(pfn);
    const index = <u64>pg_get32(pfn, PG_INDEX);
    if (index >= from && index < to) {
      if (pg_flags(pfn) & PG_delalloc) alloc_unreserve(1);
      pg_set_count(pfn, 0);
      remove_page(pfn);
    }
    pfn = next;
  }
}

/** Frees extents of `ino` at file blocks >= `from`. Returns blocks freed or -errno. */
function free_extents_from(ino: u64, from: u64): i64 {
  return from < FILE_BLOCKS_MAX ? extent_punch(ino, from, FILE_BLOCKS_MAX - from) : 0;
}

/**
 * Sets the size of `ino` to `newSize` bytes: shrinking drops pages and frees blocks past the
 * end and zeroes the tail of the last block; growing leaves a hole. Returns 0 or -errno
 * (-EFBIG, -ENOSPC, -EIO).
 */
export function file_truncate(ino: u64, newSize: u64): i32 {
  if (newSize > FILE_SIZE_MAX) return -EFBIG;
  let rec = inode_get(ino);
  if (rec == 0) return inode_errno;
  const size = load<u64>(rec, I_SIZE);
  const flags = load<u32>(rec, I_FLAGS);
  if (flags & INODE_INLINE) {
    if (newSize <= <u64>INLINE_MAX) {
      const TMP = memory.data(INLINE_MAX);
      memory.fill(TMP, 0, INLINE_MAX);
      memory.copy(TMP, rec + I_INLINE, <usize>min<u64>(size, newSize));
      return inode_set_inline(ino, TMP, <u32>newSize, newSize, INODE_INLINE);
    }
    const r = inline_to_pages(ino, rec, size);
    if (r != 0) return r;
  }
  if (newSize < size) {
    const keepPages = <u32>((newSize + PAGE_SIZE - 1) >> PAGE_SHIFT);
    // the page that now holds EOF is zeroed past it in the cache only: nothing is written in
    // place (see zero_past_eof), a later growth writes the zeros back
    if ((newSize & (PAGE_SIZE - 1)) != 0) {
      const pfn = find_page(<u32>ino, keepPages - 1);
      if (pfn != NO_PFN) zero_past_eof(pfn, keepPages - 1, newSize);
    }
    drop_pages_from(ino, keepPages);
    const freed = free_extents_from(ino, <u64>keepPages);
    if (freed < 0) return <i32>freed;
    rec = inode_get_mut(ino);
    if (rec == 0) return inode_errno;
    store<u64>(rec, load<u64>(rec, I_BLOCKS) - <u64>freed, I_BLOCKS);
    if (newSize == 0 && load<u64>(rec, I_BLOCKS) == 0) {
      // an emptied file becomes inline again (no pages, no extents left)
      drop_pages_from(ino, 0);
      store<u32>(rec, INODE_INLINE, I_FLAGS);
      store<u64>(rec, 0, I_SIZE); // the record is sound again before anyone reads it
    }
  }
  if (newSize > size) {
    run_begin();
    const r = flush_eof_tail(ino, size);
    if (r != 0) return r;
  }
  rec = inode_get_mut(ino);
  if (rec == 0) return inode_errno;
  store<u64>(rec, newSize, I_SIZE);
  const now = fs_now();
  store<i64>(rec, now, I_MTIME);
  store<i64>(rec, now, I_CTIME);
  return 0;
}

/** Frees all data of `ino` (the inode is being deleted): pages and extents. 0 or -errno. */
export function file_release(ino: u64): i32 {
  drop_pages_from(ino, 0);
  const freed = free_extents_from(ino, 0);
  return freed < 0 ? <i32>freed : 0;
}



// ---- fallocate -------------------------------------------------------------------------------
//
// fallocate(2) in three steps, so the syscall layer can commit between chunks of a large
// range (every step leaves a consistent transaction; a crash between chunks leaves some of
// the range done, as on ext4):
//
//   falloc_prepare   ENOSPC check for the whole call (nothing changed on -ENOSPC), inline
//                    data to extents, the partial blocks at both edges zeroed through the
//                    page cache, the old EOF block's tail flushed when the size will grow;
//   falloc_blocks    one chunk of whole blocks: punch (free), or zero (drop the cached pages,
//                    mark written extents UNWRITTEN, allocate the holes), or allocate the
//                    holes that no dirty page covers as UNWRITTEN extents;
//   falloc_finish    the new size (without KEEP_SIZE), mtime and ctime.
//
//   offset                                                      offset + len
//     |  head  |   whole blocks [bfrom, bto) in chunks   |  tail  |
//     partial                                             partial
//
// UNWRITTEN extents read as zeros and count as holes for SEEK_DATA/SEEK_HOLE (as on ext4,
// XFS and tmpfs); a dirty page over any block is data.

/** Linux FALLOC_FL_* bits (include/uapi/linux/falloc.h) this kernel implements. */
export const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
export const FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
export const FALLOC_FL_ZERO_RANGE: u32 = 0x10;
/** Blocks one falloc_blocks call handles at most (16 MiB): bounds a chunk's journal space. */
export const FALLOC_CHUNK: u64 = 4096;

/**
 * Worst-case metadata blocks for `n` blocks preallocated as UNWRITTEN extents: a record costs
 * its 20-byte item, 16-byte head and 4 bytes a block, so even one record per block (a free
 * space in single blocks) is 40 bytes a block, half of what alloc_write_meta counts for a
 * written page (EXT_BYTES_PER_PAGE, which includes the tail record a remap may cut off).
 * Nothing is freed, so no old runs.
 */
function falloc_meta(n: u64): u64 { return alloc_write_meta((n + 1) >> 1, 0); }

/** Sets INCOMPAT_UNWRITTEN in the (journaled) superblock before the first UNWRITTEN record. */
function feature_unwritten(): i32 {
  const sb = bread(0, MAGIC_SUPER);
  if (sb == 0) return buf_errno != 0 ? buf_errno : -EIO;
  const f = load<u32>(sb, SB_INCOMPAT);
  if (f & INCOMPAT_UNWRITTEN) return 0;
  store<u32>(sb, f | INCOMPAT_UNWRITTEN, SB_INCOMPAT);
  journal_dirty(0);
  extent_features_set(f | INCOMPAT_UNWRITTEN);
  return 0;
}

/** First file block >= `b` (below `to`) that an extent of `ino` maps, else `to`; -errno. */
function next_mapped(ino: u64, b: u64, to: u64): i64 {
  if (bt_seek(CUR, TREE_EXTENT, ino, b, true) && cur_k1(CUR) == ino) return <i64>min<u64>(cur_k2(CUR), to);
  return bt_errno != 0 ? <i64>bt_errno : <i64>to;
}

/** True when page `index` of `ino` is cached and dirty. */
function page_dirty_at(ino: u64, index: u64): bool {
  const pfn = find_page(<u32>ino, <u32>index);
  return pfn != NO_PFN && (pg_flags(pfn) & PG_dirty) != 0;
}

/**
 * Walks the holes (blocks no extent maps) of [from, to) of `ino`, skipping blocks under a
 * dirty page when `skipDirty` (delayed allocation gives those a block at writeback). With
 * `alloc`, gives every such run new blocks as UNWRITTEN extents (reserved first, the inode's
 * block count raised, clean cached zero pages told their block); else only counts. Returns
 * the blocks counted or allocated, or -errno (-ENOSPC: the reservation failed, nothing done).
 */
function falloc_holes(ino: u64, from: u64, to: u64, skipDirty: bool, alloc: bool): i64 {
  const as = mapping_find(<u32>ino);
  const dirtyPossible = skipDirty && as != 0 && load<u32>(as, AS_NDIRTY) > 0;
  let n: i64 = 0;
  let b = from;
  while (b < to) {
    const d = bmap(ino, b);
    if (bt_errno != 0) return <i64>bt_errno;
    if (d != 0) { b += <u64>bmap_run; continue; }
    const hend = next_mapped(ino, b, to);
    if (hend < 0) return hend;
    while (b < <u64>hend) {
      if (dirtyPossible && page_dirty_at(ino, b)) { b++; continue; }
      // up to the next dirty page (a walk of the cached pages, not of the hole's blocks)
      const e = dirtyPossible ? next_dirty(ino, b, <u64>hend) : <u64>hend;
      if (alloc) {
        const r = falloc_run(ino, b, e - b);
        if (r != 0) return <i64>r;
      }
      n += <i64>(e - b);
      b = e;
    }
  }
  return n;
}

/** Blocks the extent tree may take to split written extents at a fallocate's two edges. */
const FALLOC_GROW_BLOCKS: u64 = 8;

/**
 * Gives file blocks [at, at + n) of `ino` (a hole) new blocks as UNWRITTEN extents, with
 * their reservation taken here. 0 or -errno (-ENOSPC before anything changed).
 */
function falloc_run(ino: u64, at: u64, n: u64): i32 {
  if (alloc_reserve(n, falloc_meta(n)) != 0) return -ENOSPC;
  let r = feature_unwritten();
  let done: u64 = 0;
  let held = n; // blocks still reserved: each run's blocks leave the reservation once, here
  let goal = goal_for(ino, <u32>at);
  while (r == 0 && done < n) {
    const start = balloc(goal, min<u64>(n - done, <u64>EXTENT_MAX), 1);
    if (start == 0) { r = alloc_errno != 0 ? alloc_errno : -ENOSPC; break; }
    const got = balloc_len;
    alloc_unreserve(got);
    held -= got;
    r = ext_insert(ino, at + done, start, <u32>got, 0, EXT_UNWRITTEN);
    if (r != 0) {
      // no extent maps the run: it goes back to the free space with the transaction
      bfree_deferred(start, got);
      break;
    }
    for (let i: u64 = 0; i < got; i++) {
      // a clean cached page of the hole (zeros) now has a block for copy-on-write to replace
      const pfn = find_page(<u32>ino, <u32>(at + done + i));
      if (pfn != NO_PFN) pg_set32(pfn, PG_PRIVATE2, <u32>(start + i));
    }
    const rec = inode_get_mut(ino);
    if (rec == 0) { r = inode_errno; break; }
    store<u64>(rec, load<u64>(rec, I_BLOCKS) + got, I_BLOCKS);
    goal = start + got;
    done += got;
  }
  if (held > 0) alloc_unreserve(held);
  return r;
}

/**
 * Marks the written extents of `ino` over file blocks [from, to) UNWRITTEN (their blocks stay
 * the file's and read as zeros from now on; their checksums go), splitting records across
 * the edges. 0 or -errno.
 */
function ext_make_unwritten(ino: u64, from: u64, to: u64): i32 {
  let end = to;
  for (let guard = 0; guard < 1 << 30; guard++) {
    if (end <= from) return 0;
    if (!bt_seek(CUR, TREE_EXTENT, ino, end - 1, false) || cur_k1(CUR) != ino) return bt_errno;
    if (!ext_cur_sound()) return bt_errno;
    const fs = cur_k2(CUR);
    const v = cur_val(CUR);
    const len = <u64>load<u32>(v, EXT_LEN);
    if (fs + len <= from) return 0;
    if ((load<u32>(v, EXT_FLAGS) & EXT_UNWRITTEN) == 0) {
      memory.copy(EXT_OLD, v, ext_vlen(<u32>len));
      const disk = load<u64>(EXT_OLD, EXT_DISK);
      const a = max<u64>(fs, from), b = min<u64>(fs + len, end);
      let r = feature_unwritten();
      if (r == 0 && fs < a) {
        store<u32>(EXT_OLD, <u32>(a - fs), EXT_LEN);
        r = bt_update(TREE_EXTENT, ino, fs, EXT_OLD, ext_vlen(<u32>(a - fs)));
      } else if (r == 0) r = bt_delete(TREE_EXTENT, ino, fs);
      const birth = load<u64>(EXT_OLD, EXT_BIRTH);
      if (r == 0) r = ext_insert(ino, a, disk + (a - fs), <u32>(b - a), 0, EXT_UNWRITTEN, birth);
      if (r == 0 && b < fs + len) {
        r = ext_insert(ino, b, disk + (b - fs), <u32>(fs + len - b), EXT_OLD + EXT_CSUM + <usize>((b - fs) << 2), 0, birth);
      }
      if (r != 0) return r;
    }
    end = fs;
  }
  return -EUCLEAN;
}

/**
 * Zeroes bytes [pos, pos + n) of `ino` (inside one page, below `isize`) through the page
 * cache when that page holds data; a hole or UNWRITTEN block already reads as zeros and is
 * left alone. 0 or -errno (-ENOSPC, -EIO, -ENOMEM).
 */
function zero_partial(ino: u64, pos: u64, n: u64, isize: u64): i32 {
  if (n == 0 || pos >= isize) return 0;
  const len = <u32>min<u64>(n, isize - pos);
  const index = <u32>(pos >> PAGE_SHIFT);
  const off = <u32>(pos & (PAGE_SIZE - 1));
  if (!page_dirty_at(ino, <u64>index)) {
    const d = bmap(ino, <u64>index);
    if (bt_errno != 0) return bt_errno;
    if (d == 0 || bmap_unwritten) return 0;
  }
  run_begin();
  const pfn = write_begin(ino, index, off, len, isize);
  if (pfn == NO_PFN) return file_errno;
  memory.fill(pfn_to_addr(pfn) + off, 0, len);
  set_page_dirty(pfn);
  return 0;
}

/** Whole blocks of [off, off + len): [ceil(off / 4 KiB), floor((off + len) / 4 KiB)). */
export function falloc_inner_from(off: u64): u64 { return (off + PAGE_SIZE - 1) >> PAGE_SHIFT; }
export function falloc_inner_to(end: u64): u64 { return end >> PAGE_SHIFT; }
/** Blocks an allocation of [off, off + len) touches: [floor(off), ceil(off + len)). */
export function falloc_outer_from(off: u64): u64 { return off >> PAGE_SHIFT; }
export function falloc_outer_to(end: u64): u64 { return (end + PAGE_SIZE - 1) >> PAGE_SHIFT; }

/**
 * Step 1 of fallocate for `ino` (a regular file), `mode` a valid FALLOC_FL_* combination,
 * byte range [off, off + len) below FILE_SIZE_MAX. Returns 1 when the call is complete (an
 * inline file the change fits in), 0 to go on with falloc_blocks, or -errno: -ENOSPC (the
 * space for the whole call is not there: nothing changed), -EIO, -EUCLEAN, -ENOMEM.
 */
export function falloc_prepare(ino: u64, mode: u32, off: u64, len: u64): i32 {
  const rec = inode_get(ino);
  if (rec == 0) return inode_errno;
  const size = load<u64>(rec, I_SIZE);
  const end = off + len;
  const punch = (mode & FALLOC_FL_PUNCH_HOLE) != 0;
  const zero = (mode & FALLOC_FL_ZERO_RANGE) != 0;
  const grow = (mode & FALLOC_FL_KEEP_SIZE) == 0 && end > size;
  if (load<u32>(rec, I_FLAGS) & INODE_INLINE) {
    // a change that keeps the file within INLINE_MAX stays inline (no blocks to allocate);
    // else the bytes move to page 0 (an empty file just switches to extents: no page past EOF)
    if (end <= <u64>INLINE_MAX || punch || (zero && (mode & FALLOC_FL_KEEP_SIZE) != 0)) {
      return falloc_inline(ino, rec, mode, off, end, size);
    }
    const r = size > 0 ? inline_to_pages(ino, rec, size) : inode_set_inline(ino, 0, 0, 0, 0);
    if (r != 0) return r;
  }
  // the space the whole call can need, checked before anything changes
  // two edge pages and the EOF tail (written pages) and the holes (UNWRITTEN blocks)
  const pages: u64 = 3;
  let holes: i64 = 0;
  if (!punch) {
    holes = falloc_holes(ino, falloc_outer_from(off), falloc_outer_to(end), !zero, false);
    if (holes < 0) return <i32>holes;
  }
  const n = <u64>holes;
  if (alloc_available() < pages + alloc_write_meta(pages, 3) + n + falloc_meta(n)) return -ENOSPC;
  // splitting written extents at the edges (zero range, punch) grows the extent tree
  if (!alloc_can_grow(FALLOC_GROW_BLOCKS)) return -ENOSPC;
  if (grow) {
    run_begin();
    const r = flush_eof_tail(ino, size);
    if (r != 0) return r;
  }
  if (punch || zero) {
    // the partial blocks at the edges (one block when the range lies inside one)
    const hf = falloc_inner_from(off) << PAGE_SHIFT;
    const headEnd = min<u64>(hf, end);
    let r = zero_partial(ino, off, headEnd - off, size);
    if (r != 0) return r;
    const tf = falloc_inner_to(end) << PAGE_SHIFT;
    if (tf >= headEnd && tf < end) r = zero_partial(ino, tf, end - tf, size);
    if (r != 0) return r;
  }
  return 0;
}

/**
 * fallocate on an inline file whose change fits in it: PUNCH_HOLE and ZERO_RANGE zero the
 * inline bytes of the range, ZERO_RANGE and plain allocation without KEEP_SIZE grow the size
 * (zeros); inline data has no blocks to preallocate. Returns 1 (done) or -errno.
 */
function falloc_inline(ino: u64, rec: usize, mode: u32, off: u64, end: u64, size: u64): i32 {
  const TMP = memory.data(INLINE_MAX);
  memory.fill(TMP, 0, INLINE_MAX);
  memory.copy(TMP, rec + I_INLINE, <usize>size);
  if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
    const a = <usize>min<u64>(off, size), b = <usize>min<u64>(end, size);
    if (b > a) memory.fill(TMP + a, 0, b - a);
  }
  const newSize = (mode & FALLOC_FL_KEEP_SIZE) == 0 && end > size ? end : size;
  const r = inode_set_inline(ino, TMP, <u32>newSize, newSize, INODE_INLINE);
  return r != 0 ? r : 1;
}

/**
 * Step 2: one chunk [from, to) (to - from <= FALLOC_CHUNK) of the blocks the range touches,
 * [ifrom, ito) being its whole blocks. Punch frees the whole blocks; zero drops their pages
 * and marks their written extents UNWRITTEN; zero and allocation then give every hole of the
 * chunk that no dirty page covers an UNWRITTEN block. 0 or -errno.
 */
export function falloc_blocks(ino: u64, mode: u32, from: u64, to: u64, ifrom: u64, ito: u64): i32 {
  const a = max<u64>(from, ifrom), b = min<u64>(to, ito);
  if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) != 0 && a < b) {
    drop_pages_range(ino, a, b);
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      const freed = extent_punch(ino, a, b - a);
      if (freed < 0) return <i32>freed;
      const rec = inode_get_mut(ino);
      if (rec == 0) return inode_errno;
      store<u64>(rec, load<u64>(rec, I_BLOCKS) - <u64>freed, I_BLOCKS);
    } else {
      const r = ext_make_unwritten(ino, a, b);
      if (r != 0) return r;
    }
  }
  if ((mode & FALLOC_FL_PUNCH_HOLE) != 0 || from >= to) return 0;
  const n = falloc_holes(ino, from, to, true, true);
  return n < 0 ? <i32>n : 0;
}

/** Step 3: the size (grown to `end` without KEEP_SIZE), mtime and ctime. 0 or -errno. */
export function falloc_finish(ino: u64, mode: u32, end: u64): i32 {
  const rec = inode_get_mut(ino);
  if (rec == 0) return inode_errno;
  if ((mode & FALLOC_FL_KEEP_SIZE) == 0 && end > load<u64>(rec, I_SIZE)) store<u64>(rec, end, I_SIZE);
  const now = fs_now();
  store<i64>(rec, now, I_MTIME);
  store<i64>(rec, now, I_CTIME);
  return 0;
}

// ---- SEEK_DATA / SEEK_HOLE -------------------------------------------------------------------

/** True when file block `b` of `ino` holds data: a written extent or a dirty cached page. */
function block_is_data(ino: u64, b: u64): bool {
  if (page_dirty_at(ino, b)) return true;
  const d = bmap(ino, b);
  return d != 0 && !bmap_unwritten;
}

/** First block >= `b` of `ino` that a written extent maps, or `to`; -errno. */
function next_written(ino: u64, b: u64, to: u64): i64 {
  const d = bmap(ino, b);
  if (bt_errno != 0) return <i64>bt_errno;
  if (d != 0 && !bmap_unwritten) return <i64>b;
  let ok = bt_seek(CUR, TREE_EXTENT, ino, b, true);
  while (ok && cur_k1(CUR) == ino && cur_k2(CUR) < to) {
    if (!ext_cur_sound()) return <i64>bt_errno;
    if ((load<u32>(cur_val(CUR), EXT_FLAGS) & EXT_UNWRITTEN) == 0) return <i64>cur_k2(CUR);
    ok = bt_next(CUR);
  }
  return bt_errno != 0 ? <i64>bt_errno : <i64>to;
}

/** First index >= `b` of a dirty cached page of `ino`, or `to`. */
function next_dirty(ino: u64, b: u64, to: u64): u64 {
  const as = mapping_find(<u32>ino);
  if (as == 0 || load<u32>(as, AS_NDIRTY) == 0) return to;
  let pfn = mapping_first(as);
  while (pfn != NO_PFN) {
    const i = <u64>pg_get32(pfn, PG_INDEX);
    if (i >= to) return to;
    if (i >= b && (pg_flags(pfn) & PG_dirty) != 0) return i;
    pfn = page_next_in_mapping(pfn);
  }
  return to;
}

/**
 * lseek SEEK_DATA (`hole` false) / SEEK_HOLE (true) on `ino` from byte `pos`: the first byte
 * at or after `pos` in data (resp. in a hole; the end of the file counts as a hole), at
 * block granularity (an inline file is all data). Returns the offset or -ENXIO when `pos` is
 * at or past EOF or no data follows; -EUCLEAN/-EIO from the extent tree.
 */
export function file_seek_hole_data(ino: u64, pos: u64, hole: bool): i64 {
  const rec = inode_get(ino);
  if (rec == 0) return <i64>inode_errno;
  const size = load<u64>(rec, I_SIZE);
  if (pos >= size) return <i64>-ENXIO;
  if (load<u32>(rec, I_FLAGS) & INODE_INLINE) return hole ? <i64>size : <i64>pos;
  const last = (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
  let b = pos >> PAGE_SHIFT;
  if (!hole) {
    const w = next_written(ino, b, last);
    if (w < 0) return w;
    const d = next_dirty(ino, b, last);
    const first = min<u64>(<u64>w, d);
    if (first >= last) return <i64>-ENXIO;
    return <i64>max<u64>(pos, first << PAGE_SHIFT);
  }
  while (b < last) {
    const d = bmap(ino, b);
    if (bt_errno != 0) return <i64>bt_errno;
    if (d != 0 && !bmap_unwritten) { b += <u64>bmap_run; continue; } // a written run: all data
    if (!page_dirty_at(ino, b)) break;
    b++;
  }
  return <i64>min<u64>(size, max<u64>(pos, b << PAGE_SHIFT));
}
