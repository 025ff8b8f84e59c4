// fs/journal.ts -- write-ahead metadata journal with block-level redo, after Linux jbd2.
//
// Layer: above the buffer cache; every fs layer that changes a metadata block calls
// journal_dirty(blk) after changing it, inside the running transaction.
// Interface: journal_load, journal_dirty, journal_revoke, journal_commit, journal_checkpoint,
// journal_recover, journal_should_commit.
//
// Rules (the crash-consistency contract of DESIGN §5 rests on them):
//  - one running transaction gathers the changes of many syscalls (a compound transaction);
//    a block changed many times in it is logged once (absorbed);
//  - a metadata block never reaches its home location before the transaction that changed it
//    is committed: buffers are pinned (PG_jdirty in the running transaction, PG_checkpoint
//    once committed) and only checkpoint writes them home;
//  - THE COMMIT POINT is the FLUSH after the commit block: before it the transaction does not
//    exist, after it replay restores it. Everything the transaction logs, and all file data
//    its metadata points to (ordered mode: written by the caller before journal_commit),
//    is flushed before the commit block is written;
//  - the log is linear between checkpoints: a checkpoint writes every committed buffer home,
//    flushes, and restarts the log at block 1 with the next tid, so stale records left
//    behind always carry older tids and end a replay scan;
//  - a freed metadata block is revoked, so replay never writes an old image over a block that
//    was reused for file data (jbd2 revoke records);
//  - replay is idempotent: it only writes committed images home and rewrites the journal
//    superblock last.
//
// Log layout (relative journal blocks; block 0 is the journal superblock):
//
//   | JSB | desc | img | img | ... | desc | img ... | revoke | commit | desc | ... | commit |
//         '---------------- transaction tid -------------------------'  tid + 1 ...
//
// Recovery case table:
//   log block is a valid desc/revoke/commit of the expected tid  -> part of the transaction
//   commit block with matching block count and tx_crc, every     -> transaction is replayed
//   image matching its own header crc
//   anything else (bad magic, crc, blocknr, tid, count, tx_crc)  -> end of log: the
//                                                                    transaction in flight
//                                                                    is discarded
//   a descriptor tag outside block 0 and the data area           -> the same stop; its
//                                                                    commit block then
//                                                                    marks the log corrupt
//   every decision is printed at mount (found, replayed with its block counts, the discarded
//   transaction and why: log_stop), so a power cut's replay can be followed line by line

import { BLOCK_SIZE } from "../params";
import {
  NO_PFN, PG_TX_NEXT, PG_PRIVATE, PG_INDEX, PG_jdirty, PG_checkpoint, pfn_to_addr, addr_to_pfn,
  pg_flags, pg_set_flags, pg_get32, pg_set32, PG_OWNER_JOURNAL, pg_set_owner,
} from "../mm/page";
import { alloc_pages, free_pages } from "../mm/buddy";
import { kmalloc, kfree } from "../mm/slab";
import {
  blk_add, blk_submit, blk_flush, blk_read_sync, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
} from "../dev/virtio_blk";
import { crc32c } from "../lib/crc32c";
import { EIO, ENOMEM, EUCLEAN, ENOSPC } from "../lib/errno";
import {
  MAGIC_JSB, MAGIC_JDESC, MAGIC_JREVOKE, MAGIC_JCOMMIT, HDR_MAGIC, HDR_TID, HDR_CRC, JSB_FIRST,
  JSB_MAXLEN, JSB_SEQUENCE, JSB_START, JD_COUNT, JD_TAGS, JTAGS_MAX, JC_NBLOCKS, JC_TX_CRC,
  JC_TIME, block_hdr_init, block_seal, block_verify, VERIFY_OK, in_data_area,
} from "./format";
import { kputs, kputu, knl, kfs } from "../lib/printk";
import { buffer_pfn, buf_in_tx, buf_mark_tx, buf_unmark_tx_all, meta_pin_delta, bforget, pagecache_set_tids, pagecache_set_tid_next } from "./pagecache";
import { clock_now } from "../lib/clock";

/** Revoke records one transaction may carry. */
const REVOKE_MAX: u32 = 8192;
/** Log blocks read per batch during recovery. */
const REPLAY_BATCH_ORDER: u32 = 8;
const REPLAY_BATCH: u32 = 1 << REPLAY_BATCH_ORDER; // 1 MiB of log per device batch
/** Revoke entries recovery can track (u64 block, u64 tid each: 4 MiB of kmalloc). */
const REPLAY_REVOKE_MAX: u32 = 262144;
/** Revokes the log may hold before a commit checkpoints (recovery can always track them). */
const LOG_REVOKES_MAX: u32 = REPLAY_REVOKE_MAX / 2;
/** Revoke records written since the last checkpoint. */
let log_revokes: u32 = 0;

let j_start: u64 = 0; // absolute block of the journal superblock
let j_maxlen: u32 = 0; // journal blocks including the JSB
let j_head: u32 = 1; // next free log block (relative)
/** tid of the running transaction. */
export let j_tid: u64 = 1;
/** Set when a journal write failed: the fs must stop changing metadata (read-only). */
export let j_aborted: bool = false;

let tx_first: u32 = NO_PFN; // running transaction's buffers, linked by PG_TX_NEXT
export let tx_nbuffers: u32 = 0;
let cp_first: u32 = NO_PFN; // committed, not yet checkpointed, linked by PG_PRIVATE
let cp_count: u32 = 0;
const REVOKES: usize = memory.data(REVOKE_MAX * 8);
let tx_nrevoke: u32 = 0;

export let jstat_commits: u64 = 0;
export let jstat_checkpoints: u64 = 0;
export let jstat_logged_blocks: u64 = 0;
export let jstat_absorbed: u64 = 0;
export let jstat_revokes: u64 = 0;
export let jstat_replayed_tx: u64 = 0;
export let jstat_replayed_blocks: u64 = 0;

// Transactions committed since the last checkpoint, for the journal view (journal_view):
// the last CTX_MAX of them in a ring, one CTX_RECORD-byte record each, written by
// journal_commit and forgotten by checkpoint (their log blocks are free again then).
//
//   0        8         12        16        20        24
//   +--------+---------+---------+---------+---------+
//   | tid    | start   | blocks  | buffers | revokes |   start: relative log block of its
//   +--------+---------+---------+---------+---------+   first descriptor; blocks: log blocks
//                                                         including the commit block
/** Committed transactions the view remembers (older ones are counted, not listed). */
export const CTX_MAX: u32 = 64;
const CTX_RECORD: u32 = 24;
const CTX: usize = memory.data(<i32>(CTX_MAX * CTX_RECORD), 8);
/** Transactions committed since the last checkpoint (the ring holds the last CTX_MAX). */
let ctx_count: u32 = 0;

function ctx_record(tid: u64, start: u32, blocks: u32, buffers: u32, revokes: u32): void {
  const r = CTX + <usize>((ctx_count % CTX_MAX) * CTX_RECORD);
  store<u64>(r, tid);
  store<u32>(r, start, 8);
  store<u32>(r, blocks, 12);
  store<u32>(r, buffers, 16);
  store<u32>(r, revokes, 20);
  ctx_count++;
}

/** u64 header fields journal_view writes before its records. */
export const JVIEW_FIELDS: u32 = 18;

/**
 * The journal ring for the host's view, at `out`: JVIEW_FIELDS u64 then up to CTX_MAX
 * records of 5 u64 (tid, start, blocks, buffers, revokes), oldest first:
 *
 *   0 start (absolute block of the journal superblock)  1 size (log blocks incl. the JSB)
 *   2 tail (relative block where the oldest un-checkpointed transaction starts: always 1,
 *     the log restarts there at each checkpoint)        3 head (next free relative block)
 *   4 running tid   5 running buffers   6 running revokes   7 log blocks the running
 *   transaction needs   8 running since (ns since the epoch, 0 when empty)
 *   9 buffers awaiting checkpoint   10 transactions committed since the checkpoint
 *   11 commits   12 checkpoints   13 logged blocks   14 absorbed   15 revokes
 *   16 aborted (0/1)   17 records listed
 *
 * No transaction is ever "committing" between two kernel calls: journal_commit runs to its
 * commit point inside one call. Returns the records listed.
 */
export function journal_view(out: usize): i32 {
  store<u64>(out, j_start);
  store<u64>(out, <u64>j_maxlen, 8);
  store<u64>(out, 1, 16);
  store<u64>(out, <u64>j_head, 24);
  store<u64>(out, j_tid, 32);
  store<u64>(out, <u64>tx_nbuffers, 40);
  store<u64>(out, <u64>tx_nrevoke, 48);
  store<u64>(out, journal_tx_empty() ? 0 : <u64>tx_log_blocks(), 56);
  store<u64>(out, journal_tx_empty() ? 0 : <u64>tx_start_ns, 64);
  store<u64>(out, <u64>cp_count, 72);
  store<u64>(out, <u64>ctx_count, 80);
  store<u64>(out, jstat_commits, 88);
  store<u64>(out, jstat_checkpoints, 96);
  store<u64>(out, jstat_logged_blocks, 104);
  store<u64>(out, jstat_absorbed, 112);
  store<u64>(out, jstat_revokes, 120);
  store<u64>(out, j_aborted ? 1 : 0, 128);
  const n = min(ctx_count, CTX_MAX);
  store<u64>(out, <u64>n, 136);
  let q = out + (<usize>JVIEW_FIELDS << 3);
  for (let i = ctx_count - n; i < ctx_count; i++) {
    const r = CTX + <usize>((i % CTX_MAX) * CTX_RECORD);
    store<u64>(q, load<u64>(r));
    store<u64>(q, <u64>load<u32>(r, 8), 8);
    store<u64>(q, <u64>load<u32>(r, 12), 16);
    store<u64>(q, <u64>load<u32>(r, 16), 24);
    store<u64>(q, <u64>load<u32>(r, 20), 32);
    q += 40;
  }
  return <i32>n;
}

export function journal_head(): u32 { return j_head; }
export function journal_maxlen(): u32 { return j_maxlen; }
export function journal_checkpoint_pending(): u32 { return cp_count; }

/** Blocks the running transaction needs in the log (descriptors, images, revokes, commit). */
function tx_log_blocks(): u32 {
  const ndesc = (tx_nbuffers + JTAGS_MAX - 1) / JTAGS_MAX;
  const nrev = (tx_nrevoke + JTAGS_MAX - 1) / JTAGS_MAX;
  return ndesc + tx_nbuffers + nrev + 1;
}

/** True when the running transaction should be committed at the next syscall boundary. */
export function journal_should_commit(): bool {
  // a quarter of the log: after a commit the log is checkpointed once past half, so the
  // next transaction (this much plus what one syscall adds) always fits
  return tx_log_blocks() > (j_maxlen >> 2) || tx_nrevoke > (REVOKE_MAX >> 1);
}

/** Log blocks kept free for what writeback adds after journal_log_tight() said stop. */
const LOG_SLACK: u32 = 64;

/**
 * True when the running transaction nearly fills the rest of the log, so commit-time
 * writeback must stop and commit what it has rather than overflow the log (which would
 * abort the journal). Normal commits never get here: they start at a quarter of the log
 * and the log is checkpointed once half full.
 */
export function journal_log_tight(): bool {
  return j_head + tx_log_blocks() + LOG_SLACK >= j_maxlen;
}

/** True when the running transaction has anything to commit. */
export function journal_tx_empty(): bool { return tx_nbuffers == 0 && tx_nrevoke == 0; }

/**
 * Adds metadata block `blk` (cached, just modified) to the running transaction. A block
 * already in it is absorbed. Call after every change to a metadata buffer.
 */
export function journal_dirty(blk: u64): void {
  // fast path: the lookaside says the buffer is in the running transaction already, so its
  // struct page (a cache miss per random B+ tree leaf) need not be read
  if (buf_in_tx(blk)) {
    if (!ASC_NO_ASSERT) assert((pg_flags(buffer_pfn(blk)) & PG_jdirty) != 0, "journal_dirty: stale transaction mark");
    jstat_absorbed++;
    return;
  }
  const pfn = buffer_pfn(blk);
  assert(pfn != NO_PFN, "journal_dirty: block not cached");
  const f = pg_flags(pfn);
  buf_mark_tx(blk, true);
  if (f & PG_jdirty) { jstat_absorbed++; return; }
  pg_set_flags(pfn, f | PG_jdirty);
  if ((f & PG_checkpoint) == 0) meta_pin_delta(1);
  if (tx_nbuffers == 0 && tx_nrevoke == 0) tx_start_ns = clock_now(); // the transaction opens
  pg_set32(pfn, PG_TX_NEXT, tx_first);
  tx_first = pfn;
  tx_nbuffers++;
}

/**
 * True when metadata block `blk` is in the running transaction (journal_dirty since the last
 * commit): the B+ tree's copy-on-write test for "already made writable in this transaction".
 */
export function journal_in_tx(blk: u64): bool {
  if (buf_in_tx(blk)) return true;
  const pfn = buffer_pfn(blk);
  return pfn != NO_PFN && (pg_flags(pfn) & PG_jdirty) != 0;
}

/** When the running transaction took its first buffer (ns since the epoch). */
let tx_start_ns: i64 = 0;
/** Age of the running transaction in ns (0 when it is empty). */
export function journal_tx_age(now: i64): i64 {
  return journal_tx_empty() ? 0 : now - tx_start_ns;
}

// Debug switches that break the write ordering on purpose, so crash tests can prove they
// notice (issue 3: "the checker has teeth"). Never set outside tests.
/** Skip the FLUSH after the commit block: fsync returns before its transaction is durable. */
export const JBREAK_NO_COMMIT_FLUSH: u32 = 1;
/** Skip the FLUSH between the ordered data and logged blocks and the commit block. A commit
 *  block that lands before the logged blocks is still refused by recovery (every logged block
 *  must match its own checksum and tx_crc, as with jbd2's async_commit), but ordered file data
 *  may be missing under a committed extent: a file shows whatever the free block held. */
export const JBREAK_NO_FLUSH_BEFORE_COMMIT: u32 = 2;
/** Discard what a commit frees before that commit is durable (fs_commit, online discard). */
export const JBREAK_DISCARD_BEFORE_COMMIT: u32 = 4;
let jbreak: u32 = 0;
export function journal_set_break(flags: u32): void { jbreak = flags; }
export function journal_break(): u32 { return jbreak; }

/**
 * Records that metadata block `blk` is freed in the running transaction: it leaves the
 * transaction and the checkpoint list (its contents no longer matter) and replay will not
 * write older images of it. Returns 0 or -ENOSPC when the transaction holds REVOKE_MAX.
 */
export function journal_revoke(blk: u64): i32 {
  if (tx_nrevoke >= REVOKE_MAX) return -ENOSPC;
  store<u64>(REVOKES + (<usize>tx_nrevoke << 3), blk);
  tx_nrevoke++;
  jstat_revokes++;
  const pfn = buffer_pfn(blk);
  if (pfn != NO_PFN) {
    const f = pg_flags(pfn);
    if (f & PG_jdirty) tx_unlink(pfn);
    if (f & PG_checkpoint) cp_unlink(pfn);
    if (f & (PG_jdirty | PG_checkpoint)) meta_pin_delta(-1);
    pg_set_flags(pfn, pg_flags(pfn) & ~(PG_jdirty | PG_checkpoint));
    buf_mark_tx(blk, false);
    bforget(blk);
  }
  return 0;
}

function tx_unlink(pfn: u32): void {
  tx_first = pfn_list_remove(tx_first, pfn, PG_TX_NEXT);
  tx_nbuffers--;
}

function cp_unlink(pfn: u32): void {
  cp_first = pfn_list_remove(cp_first, pfn, PG_PRIVATE);
  cp_count--;
}

/**
 * Removes `pfn` from the singly linked list of frames starting at `head` whose link is the
 * u32 at offset `link` of each struct page; returns the new head. The walk is linear in the
 * list; only revokes (a freed tree node) remove from the middle. The frame must be listed.
 */
function pfn_list_remove(head: u32, pfn: u32, link: usize): u32 {
  if (head == pfn) return pg_get32(pfn, link);
  let cur = head;
  while (cur != NO_PFN) {
    const next = pg_get32(cur, link);
    if (next == pfn) { pg_set32(cur, link, pg_get32(pfn, link)); return head; }
    cur = next;
  }
  assert(false, "buffer not on the journal list");
  return head;
}

/** A scratch frame for descriptor/commit blocks; 0 when memory is exhausted. */
function scratch_frame(): usize {
  const pfn = alloc_pages(0);
  if (pfn == NO_PFN) return 0;
  pg_set_owner(pfn, PG_OWNER_JOURNAL);
  return pfn_to_addr(pfn);
}
function scratch_free(addr: usize): void {
  free_pages(addr_to_pfn(addr), 0);
}

/**
 * Folds a sealed log block into the transaction checksum. Every log block (descriptor,
 * image, revoke) carries its own crc32c over its 4 KiB in its header, so the commit block's
 * tx_crc is the crc32c of those 4-byte checksums in log order (like jbd2's csum v3 tags):
 * a block that did not reach the log fails its own crc, a block from another transaction
 * changes tx_crc, and each block is checksummed once per commit instead of twice.
 */
@inline function fold_crc(crc: u32, block: usize): u32 {
  return crc32c(crc, block + HDR_CRC, 4);
}

/** Writes one block (already sealed) at relative log position `pos`. */
@inline function log_write(pos: u32, addr: usize): void {
  blk_add(VIRTIO_BLK_T_OUT, j_start + pos, addr);
}

/**
 * Commits the running transaction: logs every buffer in it, flushes, writes the commit
 * block and flushes again (the commit point). The caller has already written the ordered
 * file data. Checkpoints afterwards when the log is half full. Returns 0, or -EIO (the
 * journal is aborted), -ENOMEM, -ENOSPC (transaction larger than the log can take).
 */
export function journal_commit(): i32 {
  if (j_aborted) return -EIO;
  if (journal_tx_empty()) return 0;
  const need = tx_log_blocks();
  if (j_head + need > j_maxlen) return journal_abort(-ENOSPC);
  const desc = scratch_frame();
  if (desc == 0) return -ENOMEM;
  const tid = j_tid;
  const txStart = j_head;
  let crc: u32 = 0;
  let pos = j_head;
  // descriptors + images, JTAGS_MAX tags per descriptor
  let pfn = tx_first;
  while (pfn != NO_PFN) {
    block_hdr_init(desc, MAGIC_JDESC, j_start + pos, tid);
    let n: u32 = 0;
    let scan = pfn;
    while (scan != NO_PFN && n < JTAGS_MAX) {
      store<u64>(desc + JD_TAGS + (<usize>n << 3), <u64>pg_get32(scan, PG_INDEX));
      n++;
      scan = pg_get32(scan, PG_TX_NEXT);
    }
    store<u32>(desc, n, JD_COUNT);
    block_seal(desc);
    crc = fold_crc(crc, desc);
    log_write(pos++, desc);
    // The descriptor frame is reused for the next descriptor only after this batch is
    // submitted, so submit before moving on.
    for (let i: u32 = 0; i < n; i++) {
      const addr = pfn_to_addr(pfn);
      store<u64>(addr, tid, HDR_TID);
      block_seal(addr);
      crc = fold_crc(crc, addr);
      log_write(pos++, addr);
      pfn = pg_get32(pfn, PG_TX_NEXT);
    }
    if (blk_submit() != 0) { scratch_free(desc); return journal_abort(-EIO); }
  }
  // revoke records
  let r: u32 = 0;
  while (r < tx_nrevoke) {
    block_hdr_init(desc, MAGIC_JREVOKE, j_start + pos, tid);
    let n: u32 = 0;
    while (r < tx_nrevoke && n < JTAGS_MAX) {
      store<u64>(desc + JD_TAGS + (<usize>n << 3), load<u64>(REVOKES + (<usize>r << 3)));
      n++;
      r++;
    }
    store<u32>(desc, n, JD_COUNT);
    block_seal(desc);
    crc = fold_crc(crc, desc);
    log_write(pos++, desc);
    if (blk_submit() != 0) { scratch_free(desc); return journal_abort(-EIO); }
  }
  // everything before the commit block (and the ordered data) must be durable first
  if ((jbreak & JBREAK_NO_FLUSH_BEFORE_COMMIT) == 0 && blk_flush() != 0) { scratch_free(desc); return journal_abort(-EIO); }
  block_hdr_init(desc, MAGIC_JCOMMIT, j_start + pos, tid);
  store<u32>(desc, pos - txStart, JC_NBLOCKS);
  store<u32>(desc, crc, JC_TX_CRC);
  store<i64>(desc, clock_now(), JC_TIME);
  block_seal(desc);
  log_write(pos++, desc);
  const err = (jbreak & JBREAK_NO_COMMIT_FLUSH) == 0 ? blk_flush() : blk_submit(); // THE COMMIT POINT
  scratch_free(desc);
  if (err != 0) return journal_abort(-EIO);
  // committed: move the buffers to the checkpoint list
  pfn = tx_first;
  while (pfn != NO_PFN) {
    const next = pg_get32(pfn, PG_TX_NEXT);
    const f = pg_flags(pfn);
    if ((f & PG_checkpoint) == 0) {
      pg_set32(pfn, PG_PRIVATE, cp_first);
      cp_first = pfn;
      cp_count++;
    }
    pg_set_flags(pfn, (f & ~PG_jdirty) | PG_checkpoint);
    buf_mark_tx(<u64>pg_get32(pfn, PG_INDEX), false);
    pfn = next;
  }
  ctx_record(tid, txStart, pos - txStart, tx_nbuffers, tx_nrevoke);
  jstat_logged_blocks += tx_nbuffers;
  jstat_commits++;
  log_revokes += tx_nrevoke;
  tx_first = NO_PFN;
  tx_nbuffers = 0;
  tx_nrevoke = 0;
  j_head = pos;
  j_tid = tid + 1;
  pagecache_set_tid_next(j_tid);
  if (j_head > (j_maxlen >> 1) || log_revokes > LOG_REVOKES_MAX) return journal_checkpoint();
  return 0;
}

function journal_abort(err: i32): i32 {
  j_aborted = true;
  return err;
}

/** Hook run by checkpoint after the home writes and before the log restarts (backup sb). */
let checkpoint_hook: (() => i32) | null = null;
export function journal_set_checkpoint_hook(fn: () => i32): void { checkpoint_hook = fn; }

/**
 * Writes every committed buffer home, flushes, and restarts the log (jsb.start = 1 with the
 * next tid). Requires an empty running transaction. Returns 0 or -EIO.
 */
export function journal_checkpoint(): i32 {
  assert(tx_nbuffers == 0, "checkpoint with a running transaction");
  let pfn = cp_first;
  while (pfn != NO_PFN) {
    blk_add(VIRTIO_BLK_T_OUT, <u64>pg_get32(pfn, PG_INDEX), pfn_to_addr(pfn));
    pfn = pg_get32(pfn, PG_PRIVATE);
  }
  if (blk_submit() != 0) return journal_abort(-EIO);
  if (checkpoint_hook != null) {
    const hook = checkpoint_hook!;
    if (hook() != 0) return journal_abort(-EIO);
  }
  if (blk_flush() != 0) return journal_abort(-EIO);
  const r = write_jsb(1, j_tid);
  if (r != 0) return journal_abort(r);
  pfn = cp_first;
  while (pfn != NO_PFN) {
    const next = pg_get32(pfn, PG_PRIVATE);
    pg_set_flags(pfn, pg_flags(pfn) & ~PG_checkpoint);
    meta_pin_delta(-1);
    pfn = next;
  }
  cp_first = NO_PFN;
  cp_count = 0;
  ctx_count = 0;
  j_head = 1;
  log_revokes = 0;
  jstat_checkpoints++;
  return 0;
}

/** Writes and flushes the journal superblock. 0, -ENOMEM or -EIO. */
function write_jsb(start: u32, sequence: u64): i32 {
  const b = scratch_frame();
  if (b == 0) return -ENOMEM;
  memory.fill(b, 0, BLOCK_SIZE);
  block_hdr_init(b, MAGIC_JSB, j_start, sequence);
  store<u32>(b, 1, JSB_FIRST);
  store<u32>(b, j_maxlen, JSB_MAXLEN);
  store<u64>(b, sequence, JSB_SEQUENCE);
  store<u32>(b, start, JSB_START);
  block_seal(b);
  blk_add(VIRTIO_BLK_T_OUT, j_start, b);
  const r = blk_flush();
  scratch_free(b);
  return r;
}

/** Formats an empty journal at [start, start + nblocks) (mkfs). 0 or -errno. */
export function journal_format(start: u64, nblocks: u32, first_tid: u64): i32 {
  j_start = start;
  j_maxlen = nblocks;
  j_head = 1;
  ctx_count = 0;
  j_tid = first_tid;
  return write_jsb(1, first_tid);
}

/**
 * Reads the journal superblock of the journal at [start, start + nblocks).
 * Returns 0, -EIO, or -EUCLEAN when it is corrupt or disagrees with the superblock.
 */
export function journal_load(start: u64, nblocks: u32): i32 {
  const b = scratch_frame();
  if (b == 0) return -ENOMEM;
  let r = blk_read_sync(start, b);
  if (r == 0 && block_verify(b, MAGIC_JSB, start) != VERIFY_OK) r = -EUCLEAN;
  if (r == 0 && load<u32>(b, JSB_MAXLEN) != nblocks) r = -EUCLEAN;
  if (r == 0) {
    j_start = start;
    j_maxlen = nblocks;
    j_tid = load<u64>(b, JSB_SEQUENCE);
    j_head = load<u32>(b, JSB_START);
    // fields recovery puts right (it rewrites the journal superblock): fsck says so
    j_sb_repaired = 0;
    if (j_head == 0 || j_head >= nblocks) { j_head = 1; j_sb_repaired |= 1; }
    if (load<u32>(b, JSB_FIRST) != 1) j_sb_repaired |= 2;
  }
  j_aborted = false;
  j_log_corrupt = false;
  tx_first = NO_PFN; tx_nbuffers = 0; tx_nrevoke = 0;
  buf_unmark_tx_all();
  cp_first = NO_PFN; cp_count = 0; log_revokes = 0; ctx_count = 0;
  scratch_free(b);
  return r;
}

// ---- recovery --------------------------------------------------------------------------------

/** True when a logged image's header crc matches its contents. */
function image_intact(img: usize): bool {
  const want = load<u32>(img, HDR_CRC);
  store<u32>(img, 0, HDR_CRC);
  const got = crc32c(0, img, BLOCK_SIZE);
  store<u32>(img, want, HDR_CRC);
  return got == want;
}

/**
 * Why recovery's scan stopped (printed at mount, so a power cut's replay can be followed):
 * the end of the log, or the damage that discards the transaction in flight.
 */
const STOP_END: u32 = 0;          // no record of the next tid: the log ends cleanly
const STOP_NO_COMMIT: u32 = 1;    // records of the tid, then a record of another: commit never written
const STOP_BAD_RECORD: u32 = 2;   // a record of the tid fails magic / crc32c / self-location (torn write)
const STOP_COMMIT_CRC: u32 = 3;   // commit block's block count or transaction crc does not match
const STOP_BAD_TAGS: u32 = 4;     // a descriptor names too many blocks or a block replay may not write
const STOP_TORN_IMAGE: u32 = 5;   // a logged block image fails its own crc (torn)
const STOP_LOG_END: u32 = 6;      // the transaction runs past the end of the log area
/** Per-transaction replay lines printed at one mount; the rest are summed in one line. */
const REPLAY_LOG_TX_MAX: u32 = 16;

/** Prints why the transaction `tid` in flight was discarded (nothing for a clean end). */
function log_stop(stop: u32, tid: u64, pos: u32, found: u64): void {
  if (stop == STOP_END) {
    if (found == 0) return;
    kfs(); kputs("journal: end of log at block "); kputu(pos); kputs(" (no record of transaction "); kputu(tid); kputs(")"); knl();
    return;
  }
  kfs(); kputs("journal: transaction "); kputu(tid); kputs(" discarded: ");
  if (stop == STOP_NO_COMMIT) kputs("no commit block (the power cut came before its commit)");
  else if (stop == STOP_BAD_RECORD) { kputs("log block "); kputu(pos); kputs(" fails its checksum (torn or never written)"); }
  else if (stop == STOP_COMMIT_CRC) kputs("commit block's count or checksum does not match its blocks");
  else if (stop == STOP_BAD_TAGS) kputs("its descriptor names blocks replay may not write");
  else if (stop == STOP_TORN_IMAGE) kputs("a logged block image fails its checksum (torn write)");
  else kputs("it runs past the end of the log");
  knl();
}

let rv_table: usize = 0; // (block u64, tid u64) pairs
let rv_count: u32 = 0;

/** Latest tid that revoked `blk` among the valid transactions, or 0. */
function revoked_tid(blk: u64, valid_until: u64): u64 {
  let best: u64 = 0;
  for (let i: u32 = 0; i < rv_count; i++) {
    const e = rv_table + (<usize>i << 4);
    if (load<u64>(e) == blk) {
      const t = load<u64>(e, 8);
      if (t <= valid_until && t > best) best = t;
    }
  }
  return best;
}

/**
 * Replays the committed transactions in the log (mount). Pass 1 validates transactions in
 * order and gathers revokes; pass 2 writes the images of valid transactions home, skipping
 * revoked ones; then the log restarts. Returns the number of transactions replayed, or
 * -EIO / -ENOMEM.
 */
export function journal_recover(): i32 {
  const frames = alloc_pages(REPLAY_BATCH_ORDER); // REPLAY_BATCH contiguous frames
  if (frames == NO_PFN) return -ENOMEM;
  pg_set_owner(frames, PG_OWNER_JOURNAL);
  const buf = pfn_to_addr(frames);
  rv_table = kmalloc(REPLAY_REVOKE_MAX * 16);
  if (rv_table == 0) { free_pages(frames, REPLAY_BATCH_ORDER); return -ENOMEM; }
  rv_count = 0;
  const first_tid = j_tid;
  // pass 1
  let pos = j_head;
  let tid = first_tid;
  let txStart = pos;
  let crc: u32 = 0;
  let endPos = pos; // position after the last valid commit
  let err: i32 = 0;
  let torn = false;
  let stop = STOP_LOG_END;
  while (pos < j_maxlen) {
    if (blk_read_sync(j_start + pos, buf) != 0) { err = -EIO; break; }
    const magic = load<u32>(buf, HDR_MAGIC);
    if (load<u64>(buf, HDR_TID) != tid) { stop = pos > txStart ? STOP_NO_COMMIT : STOP_END; break; }
    if (magic != MAGIC_JDESC && magic != MAGIC_JREVOKE && magic != MAGIC_JCOMMIT) { stop = STOP_BAD_RECORD; break; }
    if (block_verify(buf, magic, j_start + pos) != VERIFY_OK) { stop = STOP_BAD_RECORD; break; }
    if (magic == MAGIC_JCOMMIT) {
      if (load<u32>(buf, JC_NBLOCKS) != pos - txStart || load<u32>(buf, JC_TX_CRC) != crc) { stop = STOP_COMMIT_CRC; break; }
      pos++;
      endPos = pos;
      tid++;
      txStart = pos;
      crc = 0;
      continue;
    }
    const n = load<u32>(buf, JD_COUNT);
    if (n > JTAGS_MAX) { stop = STOP_BAD_TAGS; break; }
    crc = fold_crc(crc, buf);
    if (magic == MAGIC_JREVOKE) {
      if (rv_count + n > REPLAY_REVOKE_MAX) { err = -EUCLEAN; break; } // more than any log we write holds
      for (let i: u32 = 0; i < n; i++) {
        const e = rv_table + (<usize>rv_count << 4);
        store<u64>(e, load<u64>(buf + JD_TAGS + (<usize>i << 3)));
        store<u64>(e, tid, 8);
        rv_count++;
      }
      pos++;
      continue;
    }
    // descriptor: every tag must name a block replay may write (else the transaction is
    // damaged: the scan stops here, and its own commit block makes the log corrupt)
    if (!tags_sound(buf, n, tid)) { stop = STOP_BAD_TAGS; break; }
    // fold its images into the transaction crc, in batches
    pos++;
    if (pos + n > j_maxlen) { stop = STOP_LOG_END; break; }
    let done: u32 = 0;
    while (done < n) {
      const k = min(n - done, REPLAY_BATCH);
      for (let i: u32 = 0; i < k; i++) blk_add(VIRTIO_BLK_T_IN, j_start + pos + done + i, buf + (<usize>i << 12));
      if (blk_submit() != 0) { err = -EIO; break; }
      // each image must match its own checksum, then joins the transaction checksum
      for (let i: u32 = 0; i < k; i++) {
        const img = buf + (<usize>i << 12);
        if (!image_intact(img)) { torn = true; break; }
        crc = fold_crc(crc, img);
      }
      if (torn) break;
      done += k;
    }
    if (err != 0) break;
    if (torn) { stop = STOP_TORN_IMAGE; break; }
    pos += n;
  }
  const lastValid = tid - 1; // transactions first_tid .. lastValid are complete
  if (err == 0) {
    if (tid > first_tid) {
      kfs(); kputs("journal: found "); kputu(tid - first_tid); kputs(" committed transaction"); if (tid - first_tid != 1) kputs("s");
      kputs(" ("); kputu(first_tid); if (tid - first_tid > 1) { kputs(".."); kputu(lastValid); } kputs(") in log blocks ");
      kputu(j_head); kputs(".."); kputu(endPos - 1); knl();
    }
    log_stop(stop, tid, pos, tid - first_tid);
  }
  // A torn tail ends the log; a damaged transaction does not: its own commit block or a
  // valid record of a later transaction at or past the stop tells them apart (jbd2's
  // failed-commit detection). The commit block is written only after a FLUSH of the blocks
  // it covers, so a durable commit block means those blocks reached the disk whole.
  if (err == 0) j_log_corrupt = later_transaction_exists(pos, tid, buf);
  let replayed: u64 = 0;
  // pass 2
  if (err == 0) {
    pos = j_head;
    let t = first_tid;
    let txHome: u32 = 0, txLogged: u32 = 0, txRevoked: u32 = 0; // this transaction's blocks, for its log line
    const desc = scratch_frame();
    if (desc == 0) err = -ENOMEM;
    while (err == 0 && pos < endPos) {
      if (blk_read_sync(j_start + pos, desc) != 0) { err = -EIO; break; }
      const magic = load<u32>(desc, HDR_MAGIC);
      pos++;
      if (magic == MAGIC_JCOMMIT) {
        replayed++;
        if (replayed <= <u64>REPLAY_LOG_TX_MAX) {
          kfs(); kputs("journal: replayed transaction "); kputu(t); kputs(": "); kputu(txHome); kputs(" of ");
          kputu(txLogged); kputs(" logged blocks written home"); if (txRevoked > 0) { kputs(", "); kputu(txRevoked); kputs(" revoked (freed later)"); }
          knl();
        }
        t++; txHome = 0; txLogged = 0; txRevoked = 0;
        continue;
      }
      if (magic == MAGIC_JREVOKE) continue;
      const n = load<u32>(desc, JD_COUNT);
      txLogged += n;
      let done: u32 = 0;
      while (done < n) {
        const k = min(n - done, REPLAY_BATCH);
        for (let i: u32 = 0; i < k; i++) blk_add(VIRTIO_BLK_T_IN, j_start + pos + done + i, buf + (<usize>i << 12));
        if (blk_submit() != 0) { err = -EIO; break; }
        for (let i: u32 = 0; i < k; i++) {
          const home = load<u64>(desc + JD_TAGS + (<usize>(done + i) << 3));
          if (revoked_tid(home, lastValid) > t) { txRevoked++; continue; }
          blk_add(VIRTIO_BLK_T_OUT, home, buf + (<usize>i << 12));
          jstat_replayed_blocks++;
          txHome++;
        }
        if (blk_submit() != 0) { err = -EIO; break; }
        done += k;
      }
      pos += n;
    }
    if (desc != 0) scratch_free(desc);
    if (replayed > <u64>REPLAY_LOG_TX_MAX) {
      kfs(); kputs("journal: replayed "); kputu(replayed - REPLAY_LOG_TX_MAX); kputs(" more transactions"); knl();
    }
  }
  kfree(rv_table);
  rv_table = 0;
  free_pages(frames, REPLAY_BATCH_ORDER);
  if (err != 0) return err;
  if (blk_flush() != 0) return -EIO;
  // after replaying, skip the number of the transaction that may have been in flight
  // (as jbd2 does) so its leftover blocks never pass for the next one's; with nothing
  // replayed the journal superblock is left as it was, which keeps recovery idempotent
  j_tid = replayed > 0 ? lastValid + 2 : first_tid;
  // metadata read from home from now on must be from a committed transaction, and not from
  // the one recovery skipped, [lastValid + 1, lastValid + 2) (pagecache.ts)
  if (replayed > 0) pagecache_set_tids(j_tid, lastValid + 1, lastValid + 2);
  else pagecache_set_tids(j_tid, 0, 0);
  j_head = 1;
  log_revokes = 0;
  jstat_replayed_tx += replayed;
  // a damaged log keeps its journal superblock: the later transactions stay in the log for
  // a repair, and every mount finds the damage again (the fs mounts read-only, flagged)
  if (j_log_corrupt) return <i32>replayed;
  const r = write_jsb(1, j_tid);
  if (r != 0) return r;
  return <i32>replayed;
}

/**
 * True when a block replay may write home: the superblock (block 0, journaled like any
 * metadata) or a block of the data area (format.ts in_data_area). Never the journal itself:
 * a tag pointing into the log would let replay overwrite the transactions it has still to
 * replay; never the backup superblock or past the end.
 */
export function journal_tag_ok(home: u64): bool { return home == 0 || in_data_area(home, 1); }

/** Checks the `n` tags of the descriptor at `desc` (transaction `tid`); logs the first bad one. */
function tags_sound(desc: usize, n: u32, tid: u64): bool {
  for (let i: u32 = 0; i < n; i++) {
    const home = load<u64>(desc + JD_TAGS + (<usize>i << 3));
    if (journal_tag_ok(home)) continue;
    kfs(); kputs("journal transaction "); kputu(tid); kputs(" logs block "); kputu(home);
    kputs(", outside the data area: transaction not replayed"); knl();
    return false;
  }
  return true;
}

/** Journal superblock fields the last load found wrong (1: start outside the log, 2: first != 1). */
export let j_sb_repaired: u32 = 0;

/** Set by recovery when committed transactions follow a damaged one in the log. */
export let j_log_corrupt: bool = false;

/**
 * fsck -y: gives up the committed transactions that follow a damaged one. The next tid jumps
 * past any tid the log can hold (each transaction takes at least its commit block), so no
 * record left in the log can pass for a later transaction; the caller then checkpoints, which
 * rewrites the journal superblock at the new tid. Returns the new tid.
 */
export function journal_drop_damaged(): u64 {
  j_tid += <u64>j_maxlen + 2;
  pagecache_set_tid_next(j_tid);
  j_log_corrupt = false;
  return j_tid;
}

/**
 * True when, at or past relative block `from`, lies a valid log record (magic, crc32c,
 * self-location) of a transaction after `tid`, or the commit block of `tid` itself: the
 * transaction `tid` committed and was damaged, not torn. (Records of `tid` before its commit
 * block prove nothing: an interrupted commit leaves them.) Reads the rest of the log in
 * REPLAY_BATCH blocks through `buf`.
 */
function later_transaction_exists(from: u32, tid: u64, buf: usize): bool {
  let pos = from;
  while (pos < j_maxlen) {
    const k = min<u32>(j_maxlen - pos, REPLAY_BATCH);
    for (let i: u32 = 0; i < k; i++) blk_add(VIRTIO_BLK_T_IN, j_start + pos + i, buf + (<usize>i << 12));
    if (blk_submit() != 0) return false;
    for (let i: u32 = 0; i < k; i++) {
      const b = buf + (<usize>i << 12);
      const magic = load<u32>(b, HDR_MAGIC);
      if (magic != MAGIC_JDESC && magic != MAGIC_JREVOKE && magic != MAGIC_JCOMMIT) continue;
      const t = load<u64>(b, HDR_TID);
      if (t < tid || (t == tid && magic != MAGIC_JCOMMIT)) continue;
      if (block_verify(b, magic, j_start + pos + i) == VERIFY_OK) return true;
    }
    pos += k;
  }
  return false;
}


