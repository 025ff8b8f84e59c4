// dev/virtio_blk.ts -- virtio-blk driver over one split virtqueue (virtio 1.x §2.7, §5.2).
//
// Layer: lowest I/O layer; the buffer/page cache and the journal sit on it.
// Interface: blk_add(op, block, addr) stages a 4 KiB transfer, blk_submit() rings the doorbell
// once for everything staged and reaps the completions, blk_flush() is a cache flush barrier,
// blk_discard() hands unused ranges back (online discard), blk_get_id() reads the serial.
// Rules:
//  - adjacent transfers of the same direction merge into one request with several data
//    descriptors (scatter-gather), and contiguous memory merges into one descriptor, so a batch
//    of N blocks is usually far fewer requests;
//  - a batch never exceeds the ring: staging more than fits submits the earlier part first;
//  - the host device completes every request before virtio_notify returns (one crossing per
//    batch); the driver still reads completions from the used ring as a real driver would;
//  - a write is durable only after a completed FLUSH (DESIGN §3).
//
// Ring memory (QUEUE_SIZE = 256), allocated from the buddy allocator at probe:
//
//   desc table   16 B x 256   | addr u64 | len u32 | flags u16 | next u16 |
//   avail ring   4 + 2 x 256  | flags u16 | idx u16 | ring[256] u16 |
//   used ring    4 + 8 x 256  | flags u16 | idx u16 | ring[256] { id u32, len u32 } |
//   req headers  16 B x 256   | type u32 | reserved u32 | sector u64 |   (virtio_blk_outhdr)
//   status bytes 1 B x 256    | status u8 |

import { PAGE_SIZE, SECTORS_PER_BLOCK, BLOCK_SIZE } from "../params";
import { alloc_pages } from "../mm/buddy";
import { NO_PFN, PG_OWNER_VIRTQUEUE, pfn_to_addr, pg_set_owner } from "../mm/page";
import { EIO, ENOMEM, EINVAL } from "../lib/errno";

@external("env", "virtio_notify")
declare function virtio_notify(dev: u32, queue: u32): void;

export const VIRTIO_BLK_T_IN: u32 = 0;
export const VIRTIO_BLK_T_OUT: u32 = 1;
export const VIRTIO_BLK_T_FLUSH: u32 = 4;
export const VIRTIO_BLK_T_GET_ID: u32 = 8;
export const VIRTIO_BLK_T_DISCARD: u32 = 11;
export const VIRTIO_BLK_S_OK: u8 = 0;
/** Bytes of the GET_ID answer (NUL-padded ASCII serial). */
export const VIRTIO_BLK_ID_BYTES: u32 = 20;

const VIRTQ_DESC_F_NEXT: u16 = 1;
const VIRTQ_DESC_F_WRITE: u16 = 2;

export const QUEUE_SIZE: u32 = 256;
/** Data descriptors in one request (bounds one merged transfer at 128 x 4 KiB = 512 KiB). */
const SEG_MAX: u32 = 128;
const DESC_SIZE: usize = 16;
const AVAIL_OFF: usize = DESC_SIZE * QUEUE_SIZE; // 4096
const USED_OFF: usize = 2 * PAGE_SIZE;
const HDR_OFF: usize = 3 * PAGE_SIZE;
const STATUS_OFF: usize = HDR_OFF + 16 * QUEUE_SIZE;
const RING_ORDER: u32 = 3; // 8 frames: desc, avail, used, headers+status

// Driver state for device 0 (one device, one queue).
let ring: usize = 0;
let capacity_blocks: u64 = 0;
let next_desc: u32 = 0; // descriptors used by the batch being staged
let nreq: u32 = 0; // requests staged in this batch
let avail_idx: u16 = 0;
let last_used: u16 = 0;
// The request being staged (not yet written to the ring): op, first block, blocks so far.
let open_op: i32 = -1;
let open_block: u64 = 0;
let open_blocks: u32 = 0;
let open_head: u32 = 0; // header descriptor index
let open_last: u32 = 0; // last data descriptor index
let open_segs: u32 = 0;
let batch_error: bool = false;

/** Statistics (read by kernel_stat). */
export let blk_stat_requests: u64 = 0;
export let blk_stat_notifies: u64 = 0;
export let blk_stat_read_blocks: u64 = 0;
export let blk_stat_write_blocks: u64 = 0;
export let blk_stat_flushes: u64 = 0;
export let blk_stat_errors: u64 = 0;

@inline function desc(i: u32): usize { return ring + (<usize>i) * DESC_SIZE; }

function set_desc(i: u32, addr: usize, len: u32, flags: u16, next: u32): void {
  const d = desc(i);
  store<u64>(d, <u64>addr, 0);
  store<u32>(d, len, 8);
  store<u16>(d, flags, 12);
  store<u16>(d, <u16>next, 14);
}

/**
 * Sets up the virtqueue for device 0 with `capacity_sectors` 512-byte sectors.
 * Returns the ring's base address (desc table; avail at +4096, used at +8192) or 0 when
 * memory is exhausted. Errors: EINVAL for a queue size other than QUEUE_SIZE.
 */
export function virtio_blk_setup(capacity_sectors: u64, queue_size: u32): i32 {
  written_since_flush = true; // a new device: what it holds may not be durable yet
  if (queue_size != QUEUE_SIZE) return -EINVAL;
  if (ring == 0) {
    const pfn = alloc_pages(RING_ORDER);
    if (pfn == NO_PFN) return -ENOMEM;
    pg_set_owner(pfn, PG_OWNER_VIRTQUEUE);
    ring = pfn_to_addr(pfn);
  }
  memory.fill(ring, 0, PAGE_SIZE << RING_ORDER);
  capacity_blocks = capacity_sectors / SECTORS_PER_BLOCK;
  avail_idx = 0;
  last_used = 0;
  reset_batch();
  return 0;
}

export function blk_ring_desc(): usize { return ring; }
export function blk_ring_avail(): usize { return ring + AVAIL_OFF; }
export function blk_ring_used(): usize { return ring + USED_OFF; }
/** Device size in 4 KiB blocks. */
export function blk_capacity(): u64 { return capacity_blocks; }

function reset_batch(): void {
  next_desc = 0;
  nreq = 0;
  open_op = -1;
  open_segs = 0;
  open_blocks = 0;
}

/** Writes the staged request's status descriptor and publishes it in the avail ring. */
function close_request(): void {
  if (open_op < 0) return;
  const slot = nreq;
  const hdr = ring + HDR_OFF + (<usize>slot) * 16;
  store<u32>(hdr, <u32>open_op, 0);
  store<u32>(hdr, 0, 4);
  store<u64>(hdr, open_block * SECTORS_PER_BLOCK, 8);
  const st = ring + STATUS_OFF + slot;
  store<u8>(st, 0xff);
  const sd = next_desc++;
  set_desc(sd, st, 1, VIRTQ_DESC_F_WRITE, 0);
  // chain: header -> data... -> status
  const last = open_segs > 0 ? open_last : open_head;
  store<u16>(desc(last), load<u16>(desc(last), 12) | VIRTQ_DESC_F_NEXT, 12);
  store<u16>(desc(last), <u16>sd, 14);
  const avail = ring + AVAIL_OFF;
  store<u16>(avail + 4 + (<usize>(avail_idx % <u16>QUEUE_SIZE)) * 2, <u16>open_head);
  avail_idx++;
  nreq++;
  blk_stat_requests++;
  open_op = -1;
  open_segs = 0;
  open_blocks = 0;
}

function open_request(op: u32, block: u64): void {
  // anything but a read, a flush or GET_ID changes what the device holds
  if (op != VIRTIO_BLK_T_IN && op != VIRTIO_BLK_T_FLUSH && op != VIRTIO_BLK_T_GET_ID) written_since_flush = true;
  open_op = <i32>op;
  open_block = block;
  open_blocks = 0;
  open_segs = 0;
  open_head = next_desc++;
  set_desc(open_head, ring + HDR_OFF + (<usize>nreq) * 16, 16, 0, 0);
}

/**
 * Stages a one-block transfer: op IN reads block `block` into the 4 KiB at `addr`, OUT writes
 * it. Blocks past the device end are refused by the device (EIO at submit).
 */
export function blk_add(op: u32, block: u64, addr: usize): void {
  assert(op == VIRTIO_BLK_T_IN || op == VIRTIO_BLK_T_OUT);
  const mergeable = open_op == <i32>op && open_block + open_blocks == block;
  if (mergeable) {
    const last = desc(open_last);
    const lastAddr = <usize>load<u64>(last, 0);
    const lastLen = load<u32>(last, 8);
    if (lastAddr + lastLen == addr && lastLen < (SEG_MAX << 12)) {
      store<u32>(last, lastLen + BLOCK_SIZE, 8); // contiguous memory: grow the descriptor
      open_blocks++;
      count_block(op);
      return;
    }
  }
  if (!mergeable || open_segs >= SEG_MAX || next_desc + 2 > QUEUE_SIZE) {
    close_request();
    // a new request needs header + data + status descriptors
    if (next_desc + 3 > QUEUE_SIZE || nreq >= QUEUE_SIZE) blk_submit_partial();
    open_request(op, block);
  }
  const d = next_desc++;
  set_desc(d, addr, BLOCK_SIZE, op == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0, 0);
  const prev = open_segs == 0 ? open_head : open_last;
  store<u16>(desc(prev), load<u16>(desc(prev), 12) | VIRTQ_DESC_F_NEXT, 12);
  store<u16>(desc(prev), <u16>d, 14);
  open_last = d;
  open_segs++;
  open_blocks++;
  count_block(op);
}

@inline function count_block(op: u32): void {
  if (op == VIRTIO_BLK_T_IN) blk_stat_read_blocks++; else blk_stat_write_blocks++;
}

/** Rings the doorbell for the staged requests and reaps their completions. */
function blk_submit_partial(): void {
  close_request();
  if (nreq == 0) return;
  const avail = ring + AVAIL_OFF;
  store<u16>(avail, avail_idx, 2); // publish idx after the ring entries (virtio §2.7.13)
  blk_stat_notifies++;
  virtio_notify(0, 0);
  const used = ring + USED_OFF;
  const used_idx = load<u16>(used, 2);
  // The host completes synchronously; anything missing is a device fault.
  if (<u16>(used_idx - last_used) != <u16>nreq) batch_error = true;
  last_used = used_idx;
  for (let i: u32 = 0; i < nreq; i++) {
    if (load<u8>(ring + STATUS_OFF + i) != VIRTIO_BLK_S_OK) batch_error = true;
  }
  reset_batch();
}

/** Submits everything staged; returns 0, or -EIO if any request of the batch failed. */
export function blk_submit(): i32 {
  blk_submit_partial();
  const err = batch_error;
  batch_error = false;
  if (err) { blk_stat_errors++; return -EIO; }
  return 0;
}

/** Submits what is staged, then a FLUSH: all completed writes are durable when it returns 0. */
export function blk_flush(): i32 {
  let r = blk_submit();
  // a FLUSH makes durable what was written before it: with nothing written since the last
  // completed one it is a no-op, and on a host that turns it into fsync a costly one (a
  // snapshot of a synced filesystem, fsync of a clean file)
  if (!written_since_flush) { blk_stat_flushes_skipped++; return r; }
  open_request(VIRTIO_BLK_T_FLUSH, 0);
  close_request();
  blk_stat_flushes++;
  const r2 = blk_submit();
  if (r == 0 && r2 == 0) written_since_flush = false;
  return r != 0 ? r : r2;
}
/** A write, discard or write-zeroes was staged since the last successful FLUSH. */
let written_since_flush: bool = true;
/** FLUSHes blk_flush left out because nothing was written since the last one. */
export let blk_stat_flushes_skipped: u64 = 0;

/** Reads one block synchronously into `addr`. Returns 0 or -EIO. */
export function blk_read_sync(block: u64, addr: usize): i32 {
  blk_add(VIRTIO_BLK_T_IN, block, addr);
  return blk_submit();
}

/**
 * Bytes of one virtio_blk_discard_write_zeroes segment (virtio 1.x 5.2.6):
 *   | sector u64 | num_sectors u32 | flags u32 |
 */
export const DISCARD_SEG_SIZE: u32 = 16;
/** Segments in one DISCARD request: the device's max_discard_seg (host DWZ_SEG_MAX, Linux 256). */
export const DISCARD_SEG_MAX: u32 = 256;

/** Writes discard segment `i` of the array at `segs`: `nblocks` blocks at `block`. */
export function blk_discard_seg(segs: usize, i: u32, block: u64, nblocks: u32): void {
  const seg = segs + <usize>i * DISCARD_SEG_SIZE;
  store<u64>(seg, block * SECTORS_PER_BLOCK, 0);
  store<u32>(seg, nblocks * SECTORS_PER_BLOCK, 8);
  store<u32>(seg, 0, 12);
}

/**
 * Discards the `nseg` (1..DISCARD_SEG_MAX) ranges at `segs` (blk_discard_seg) in one request:
 * the device may zero or unmap them. Submits what was staged first. 0 or -EIO.
 */
export function blk_discard(segs: usize, nseg: u32): i32 {
  assert(nseg >= 1 && nseg <= DISCARD_SEG_MAX);
  const r = blk_submit();
  const r2 = blk_one_segment(VIRTIO_BLK_T_DISCARD, segs, nseg * DISCARD_SEG_SIZE, 0);
  return r != 0 ? r : r2;
}

/** Reads the device's serial (VIRTIO_BLK_ID_BYTES, NUL-padded) into `out`. 0 or -EIO. */
export function blk_get_id(out: usize): i32 {
  const r = blk_submit();
  const r2 = blk_one_segment(VIRTIO_BLK_T_GET_ID, out, VIRTIO_BLK_ID_BYTES, VIRTQ_DESC_F_WRITE);
  return r != 0 ? r : r2;
}

/**
 * Submits one request of type `op` whose only data segment is `len` bytes at `addr`
 * (`flags` VIRTQ_DESC_F_WRITE when the device writes it), alone in its batch: the
 * header -> segment -> status chain of virtio 1.x 5.2.6. Returns 0 or -EIO.
 */
function blk_one_segment(op: u32, addr: usize, len: u32, flags: u16): i32 {
  open_request(op, 0);
  const d = next_desc++;
  set_desc(d, addr, len, flags, 0);
  store<u16>(desc(open_head), VIRTQ_DESC_F_NEXT, 12);
  store<u16>(desc(open_head), <u16>d, 14);
  open_last = d;
  open_segs = 1;
  close_request();
  return blk_submit();
}
