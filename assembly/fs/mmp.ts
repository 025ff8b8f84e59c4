// fs/mmp.ts -- multiple-mount protection (ext4's MMP, fs/ext4/mmp.c): one writer per image.
//
// Layer: beside the superblock (fs/super.ts calls it before the journal is replayed and at
// unmount); talks to the device directly (blk_read_sync / blk_add + blk_flush), never through
// the buffer cache: a block another machine writes must be read from the device every time.
// Interface: mmp_set_identity (the host says who we are and whether it holds a host lock on
// the image), mmp_format (mkfs), mmp_start (mount), mmp_tick (syscall boundaries and a host
// timer), mmp_stop (unmount), mmp_probe (who holds it, for the host's error line).
//
// The host lock (an flock on the image file, host/node/blockdev-node.ts) excludes other processes
// of this machine; the MMP block is what another machine sharing the image sees. Protocol:
//
//   read block; seq == CLEAN           -> free: take it
//               seq == FSCK            -> busy (fsck running elsewhere)
//               same node, host lock   -> its holder is dead (the lock proves it): take it
//               otherwise              -> sleep MMP wait, re-read: changed -> busy,
//                                         unchanged -> stale: take it (logged)
//   take it: write a new random seq with our identity (flushed); if we waited or have no
//            host lock, sleep again and re-read: a racer's seq -> busy (as ext4 does)
//   while mounted: every `interval` s write seq+1 after checking the block still holds our
//            seq (else another node took over: the filesystem turns read-only, logged)
//   unmount: write seq CLEAN
//
// Invariant: a mount that wrote nothing yet (the journal is replayed after mmp_start) is the
// only one that can lose the race; a holder never writes the block after losing it.

import { BLOCK_SIZE } from "../params";
import { NO_PFN, pfn_to_addr, addr_to_pfn } from "../mm/page";
import { alloc_pages, free_pages } from "../mm/buddy";
import { blk_add, blk_flush, blk_read_sync, VIRTIO_BLK_T_OUT } from "../dev/virtio_blk";
import { MAGIC_SUPER, block_hdr_init, block_seal, block_verify, VERIFY_OK, SB_INCOMPAT, INCOMPAT_MMP, SB_MMP_BLOCK } from "./format";
import { clock_now, clock_sleep_ms } from "../lib/clock";
import { kputs, kputu, kputb, knl, kfs } from "../lib/printk";
import { EBUSY, EIO, ENOMEM, EUCLEAN } from "../lib/errno";

// ---- the MMP block ---------------------------------------------------------------------------
//
//  0                32      36         40            48              56     60      64
//  +----------------+-------+----------+-------------+---------------+------+-------+
//  | block header   | seq   | interval | time i64 ns | mount_time ns | pid  | flags |
//  +----------------+-------+----------+-------------+---------------+------+-------+
//  64 nodename[64] (NUL-padded)   128 program[32] (NUL-padded)   160..4096 zero
//
// The header is the common one (magic HMMP, crc32c over the block, blocknr = own block, tid 0:
// the block is never journaled). flags bit 0: the holder held a host lock on the image.

export const MAGIC_MMP: u32 = 0x504d_4d48; // "HMMP"
export const MMP_SEQ: usize = 32;
export const MMP_INTERVAL: usize = 36;
export const MMP_TIME: usize = 40;
export const MMP_MOUNT_TIME: usize = 48;
export const MMP_PID: usize = 56;
export const MMP_FLAGS: usize = 60;
export const MMP_NODENAME: usize = 64;
export const MMP_NODENAME_MAX: u32 = 64;
export const MMP_PROGRAM: usize = 128;
export const MMP_PROGRAM_MAX: u32 = 32;
/** Bytes of the block that carry information (what kernel_mmp_holder copies out). */
export const MMP_RECORD_BYTES: u32 = 160;

/** seq of a cleanly unmounted filesystem (ext4's EXT4_MMP_SEQ_CLEAN). */
export const MMP_SEQ_CLEAN: u32 = 0xFF4D_4D50;
/** seq while an fsck owns the image (ext4's EXT4_MMP_SEQ_FSCK). */
export const MMP_SEQ_FSCK: u32 = 0xE24D_4D50;
/** Largest seq a holder writes; it wraps to 1 (ext4's EXT4_MMP_SEQ_MAX). */
export const MMP_SEQ_MAX: u32 = 0xE24D_4D4F;
/** Seconds between a holder's updates written by mkfs (ext4's EXT4_MMP_UPDATE_INTERVAL). */
export const MMP_INTERVAL_DEFAULT: u32 = 5;
export const MMP_INTERVAL_MIN: u32 = 1;
/** Longest interval honoured (a larger value on disk is clamped: waits stay bounded). */
export const MMP_INTERVAL_MAX: u32 = 300;
/** mmp flags bit: the holder held a host lock. */
export const MMP_F_HOST_LOCK: u32 = 1;
/** mmp_set_identity flags bit: the host holds an exclusive lock on the image (or it is private). */
export const MMP_ID_EXCLUSIVE: u32 = 1;

const NS_PER_S: i64 = 1_000_000_000;

// ---- state -----------------------------------------------------------------------------------

const id_node: usize = memory.data(<i32>MMP_NODENAME_MAX);
const id_prog: usize = memory.data(<i32>MMP_PROGRAM_MAX);
let id_node_len: u32 = 0;
let id_prog_len: u32 = 0;
let id_pid: u32 = 0;
/** The host holds an exclusive lock on the device (default: a private device, e.g. memory). */
let id_exclusive: bool = true;
let mkfs_interval: u32 = MMP_INTERVAL_DEFAULT;

/** Copy of the last MMP record read (the holder a refused mount names). */
const seen: usize = memory.data(<i32>MMP_RECORD_BYTES);
/** The last mount found the record at `seen` valid (false: no MMP block or a damaged one). */
export let mmp_seen_valid: bool = false;

let active: bool = false;
/** Another node wrote the block while we held it: we stopped writing anything. */
export let mmp_lost: bool = false;
let mmp_blk: u64 = 0;
let my_seq: u32 = 0;
let interval_s: u32 = MMP_INTERVAL_DEFAULT;
let last_update: i64 = 0;
let mount_time: i64 = 0;

/**
 * Sets who this kernel is for the MMP block: `node` (hostname, <= 64 bytes), `prog` (the
 * program, <= 32 bytes; longer names are cut), the host's `pid`, `flags` (MMP_ID_EXCLUSIVE:
 * the host holds an exclusive lock on the image, or the device is private to it) and the update
 * interval in seconds that mkfs records (clamped to MMP_INTERVAL_MIN..MAX; 0 keeps the default).
 */
export function mmp_set_identity(node: usize, nodeLen: u32, prog: usize, progLen: u32, pid: u32, flags: u32, interval: u32): void {
  id_node_len = min<u32>(nodeLen, MMP_NODENAME_MAX);
  id_prog_len = min<u32>(progLen, MMP_PROGRAM_MAX);
  memory.copy(id_node, node, id_node_len);
  memory.copy(id_prog, prog, id_prog_len);
  id_pid = pid;
  id_exclusive = (flags & MMP_ID_EXCLUSIVE) != 0;
  if (interval != 0) mkfs_interval = clamp_interval(interval);
}

function clamp_interval(s: u32): u32 {
  return s < MMP_INTERVAL_MIN ? MMP_INTERVAL_MIN : s > MMP_INTERVAL_MAX ? MMP_INTERVAL_MAX : s;
}

/** Seconds a mount waits to see whether a holder is alive (ext4: min(2I + 1, I + 60)). */
export function mmp_wait_s(interval: u32): u32 {
  return min<u32>(2 * interval + 1, interval + 60);
}

function scratch(): usize {
  const pfn = alloc_pages(0);
  return pfn == NO_PFN ? 0 : pfn_to_addr(pfn);
}

/** Builds our record at `b` with `seq` and writes it to the MMP block, flushed. 0 or -EIO. */
function write_record(b: usize, seq: u32, now: i64): i32 {
  memory.fill(b, 0, BLOCK_SIZE);
  block_hdr_init(b, MAGIC_MMP, mmp_blk, 0);
  store<u32>(b, seq, MMP_SEQ);
  store<u32>(b, interval_s, MMP_INTERVAL);
  store<i64>(b, now, MMP_TIME);
  store<i64>(b, mount_time, MMP_MOUNT_TIME);
  store<u32>(b, id_pid, MMP_PID);
  store<u32>(b, id_exclusive ? MMP_F_HOST_LOCK : 0, MMP_FLAGS);
  memory.copy(b + MMP_NODENAME, id_node, id_node_len);
  memory.copy(b + MMP_PROGRAM, id_prog, id_prog_len);
  block_seal(b);
  blk_add(VIRTIO_BLK_T_OUT, mmp_blk, b);
  return blk_flush() != 0 ? -EIO : 0;
}

/** Reads the MMP block into `b`; 0 valid (copied to `seen`), 1 damaged, or -EIO. */
function read_record(b: usize): i32 {
  if (blk_read_sync(mmp_blk, b) != 0) return -EIO;
  if (block_verify(b, MAGIC_MMP, mmp_blk) != VERIFY_OK) { mmp_seen_valid = false; return 1; }
  memory.copy(seen, b, MMP_RECORD_BYTES);
  mmp_seen_valid = true;
  return 0;
}

/** A seq of our own that is neither CLEAN, FSCK nor 0, drawn from the clock and the pid. */
function new_seq(prev: u32): u32 {
  let s = <u32>((<u64>clock_now() * 0x9E37_79B9_7F4A_7C15) >> 35) ^ (id_pid * 0x85EB_CA6B);
  s = s % MMP_SEQ_MAX + 1;
  return s == prev ? (s % MMP_SEQ_MAX) + 1 : s;
}

/** True when the record at `b` names this node (same hostname). */
function same_node(b: usize): bool {
  for (let i: u32 = 0; i < MMP_NODENAME_MAX; i++) {
    const c = load<u8>(b + MMP_NODENAME + i);
    const want: u8 = i < id_node_len ? load<u8>(id_node + i) : 0;
    if (c != want) return false;
    if (c == 0) return true;
  }
  return true;
}

/** Logs "helixfs (vda): MMP: <what> pid P on host H". */
function log_holder(what: string, b: usize): void {
  kfs(); kputs("MMP: "); kputs(what); kputs(" pid "); kputu(load<u32>(b, MMP_PID)); kputs(" on host ");
  let n: u32 = 0;
  while (n < MMP_NODENAME_MAX && load<u8>(b + MMP_NODENAME + n) != 0) n++;
  if (n == 0) kputs("?");
  else kputb(b + MMP_NODENAME, n);
}

/** Writes a CLEAN MMP block at `blk` (mkfs). 0 or -errno. */
export function mmp_format(blk: u64): i32 {
  const b = scratch();
  if (b == 0) return -ENOMEM;
  mmp_blk = blk;
  interval_s = mkfs_interval;
  mount_time = 0;
  const r = write_record(b, MMP_SEQ_CLEAN, clock_now());
  free_pages(addr_to_pfn(b), 0);
  return r;
}

/**
 * Claims the MMP block `blk` for a mount (see the protocol above). Returns 0, -EBUSY (another
 * node holds it or an fsck runs: the record is in `seen`), -EIO or -ENOMEM. May sleep up to
 * twice mmp_wait_s(interval) seconds when the block names another holder.
 */
export function mmp_start(blk: u64): i32 {
  active = false;
  mmp_lost = false;
  mmp_blk = blk;
  const b = scratch();
  if (b == 0) return -ENOMEM;
  const r = claim(b);
  free_pages(addr_to_pfn(b), 0);
  return r;
}

function claim(b: usize): i32 {
  let v = read_record(b);
  if (v < 0) return v;
  let seq: u32 = v == 0 ? load<u32>(b, MMP_SEQ) : 0;
  interval_s = v == 0 ? clamp_interval(load<u32>(b, MMP_INTERVAL)) : MMP_INTERVAL_DEFAULT;
  let waited = false;
  if (v == 0 && seq == MMP_SEQ_FSCK) {
    log_holder("fsck is running on the filesystem:", b); knl();
    return -EBUSY;
  }
  if (v == 0 && seq == MMP_SEQ_CLEAN) {
    // unused
  } else if (id_exclusive && (v != 0 || same_node(b))) {
    // our host lock proves no process of this machine holds the image any more
    if (v != 0) { kfs(); kputs("MMP: block damaged; this host holds the image's lock: rewriting it"); knl(); }
    else { log_holder("not unmounted by", b); kputs(" (its lock is gone): taking over"); knl(); }
  } else {
    const wait = mmp_wait_s(interval_s);
    clock_sleep_ms(wait * 1000);
    const time0 = v == 0 ? load<i64>(b, MMP_TIME) : 0;
    const v2 = read_record(b);
    if (v2 < 0) return v2;
    if (v2 == 0 && (v != 0 || load<u32>(b, MMP_SEQ) != seq || load<i64>(b, MMP_TIME) != time0)) {
      if (load<u32>(b, MMP_SEQ) != MMP_SEQ_CLEAN) return -EBUSY; // a live holder updated it
      seq = MMP_SEQ_CLEAN; // it unmounted while we waited
    } else if (v2 == 0) {
      log_holder("block of", b);
      kputs(" unchanged for "); kputu(wait); kputs(" s (stale): taking over"); knl();
    } else {
      kfs(); kputs("MMP: block damaged and unchanged for "); kputu(wait); kputs(" s: rewriting it"); knl();
    }
    waited = true;
  }
  const now = clock_now();
  mount_time = now;
  my_seq = new_seq(seq);
  let r = write_record(b, my_seq, now);
  if (r != 0) return r;
  if (waited || !id_exclusive) {
    // a machine that read the same old value at the same time writes its own seq too: the
    // later writer wins and the earlier one sees the change (ext4 waits here as well)
    clock_sleep_ms(mmp_wait_s(interval_s) * 1000);
    v = read_record(b);
    if (v < 0) return v;
    if (v != 0 || load<u32>(b, MMP_SEQ) != my_seq) return -EBUSY;
  }
  last_update = now;
  active = true;
  return 0;
}

/**
 * Keeps the claim alive: when `interval` seconds passed since the last update (or `force`),
 * re-reads the block and writes seq + 1. Returns 0, or -EBUSY when another node wrote the block
 * or it no longer verifies (mmp_lost is set, nothing is written any more; the caller turns the
 * filesystem read-only), or -EIO / -ENOMEM (the next tick tries again).
 */
export function mmp_tick(force: bool): i32 {
  if (!active || mmp_lost) return 0;
  const now = clock_now();
  if (!force && now - last_update < <i64>interval_s * NS_PER_S) return 0;
  const b = scratch();
  if (b == 0) return -ENOMEM;
  let r = read_record(b);
  if (r > 0 || (r == 0 && load<u32>(b, MMP_SEQ) != my_seq)) {
    // someone else wrote our block: we cannot tell that no other node writes the image now
    mmp_lost = true;
    active = false;
    if (r > 0) { kfs(); kputs("MMP: the block was overwritten with garbage while mounted"); }
    else { log_holder("the filesystem seems to be mounted by", b); kputs(" as well"); }
    kputs("; stopping all writes (read-only)"); knl();
    free_pages(addr_to_pfn(b), 0);
    return -EBUSY;
  }
  if (r == 0) {
    my_seq = my_seq >= MMP_SEQ_MAX ? 1 : my_seq + 1;
    r = write_record(b, my_seq, now);
    if (r == 0) last_update = now;
  }
  free_pages(addr_to_pfn(b), 0);
  return r;
}

/**
 * Releases the claim at unmount: seq CLEAN, unless the block no longer holds our seq (another
 * node took it: it is theirs to clean). 0 or -errno.
 */
export function mmp_stop(): i32 {
  if (!active) return 0;
  active = false;
  if (mmp_lost) return 0;
  const b = scratch();
  if (b == 0) return -ENOMEM;
  let r = read_record(b);
  if (r == 0 && load<u32>(b, MMP_SEQ) != my_seq) {
    mmp_lost = true;
    free_pages(addr_to_pfn(b), 0);
    return 0;
  }
  r = write_record(b, MMP_SEQ_CLEAN, clock_now());
  free_pages(addr_to_pfn(b), 0);
  return r;
}

/** The mount holds the MMP block (ticks write it). */
export function mmp_active(): bool { return active; }
/** Update interval of the held block in seconds (0 when none is held). */
export function mmp_interval(): u32 { return active ? interval_s : 0; }

/**
 * Reads who holds the image without writing anything (for the host's error line when its
 * lock is taken): returns 1 and fills `seen` when the filesystem has an MMP block that names
 * a holder (seq not CLEAN), 2 when its MMP block is CLEAN or does not verify (a holder that
 * has just taken the lock writes it next: the host asks again), 0 when the filesystem has no
 * MMP block, -EIO / -EUCLEAN (no valid superblock) / -ENOMEM.
 */
export function mmp_probe(): i32 {
  mmp_seen_valid = false;
  const b = scratch();
  if (b == 0) return -ENOMEM;
  let r = blk_read_sync(0, b) != 0 ? -EIO : 0;
  if (r == 0 && block_verify(b, MAGIC_SUPER, 0) != VERIFY_OK) r = -EUCLEAN;
  if (r == 0 && (load<u32>(b, SB_INCOMPAT) & INCOMPAT_MMP) != 0) {
    mmp_blk = load<u64>(b, SB_MMP_BLOCK);
    const v = read_record(b);
    r = v < 0 ? v : v == 0 && load<u32>(b, MMP_SEQ) != MMP_SEQ_CLEAN ? 1 : 2;
  }
  free_pages(addr_to_pfn(b), 0);
  return r;
}

/** Copies the last MMP record read (MMP_RECORD_BYTES) to `out`; returns its length or 0. */
export function mmp_holder(out: usize): u32 {
  if (!mmp_seen_valid) return 0;
  memory.copy(out, seen, MMP_RECORD_BYTES);
  return MMP_RECORD_BYTES;
}
