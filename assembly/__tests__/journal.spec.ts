// journal.spec.ts -- the metadata journal (fs/journal.ts): encode, crash, replay.
//
// Crashes are simulated on the in-memory device of as-pect.config.js: the device bytes are
// snapshotted before a workload and every block write (and FLUSH) of the workload is traced;
// a crash state is the snapshot plus a chosen part of the trace: a prefix of k writes (the
// device accepted k writes, then the power went) or, within one flush epoch, any subset of
// its writes (a volatile cache may persist them in any order; a FLUSH is a barrier). The
// kernel is unmounted cleanly in between (fs_umount drops its caches), the crash image is put
// on the device and mounted: fs_mount replays the log.
//
// The workload is five transactions over named files in the root directory (inode records and
// directory entries: creations, attribute changes, deletions that merge tree nodes and free
// them, hence revoke records), committed one by one with two checkpoints; the fifth is never
// committed. The model is the expected set of files (and their uid) after the first k
// transactions. For every prefix of the trace and random subsets of every flush epoch:
//  - the mount succeeds, exactly the transactions whose commit block reached the device are
//    present (a transaction is all or nothing) and the uncommitted ones absent;
//  - mount_replayed equals the committed transactions not yet checkpointed at the crash;
//  - fsck_run(false) == 0.
// Replay is idempotent (three images: after the fourth commit, in the middle of the second
// checkpoint, with the fourth transaction logged but not committed): replaying a replayed image
// again replays nothing and changes no byte; an image crashed after every write of a replay and
// replayed again ends byte-identical to one replay. Revoke: tree nodes logged in transaction A, freed (revoked) in B and reused as file
// data in C are not overwritten by A's images when A, B and C are replayed.

import { BLOCK_SIZE } from "../params";
import { blk_add, blk_flush, blk_read_sync, VIRTIO_BLK_T_OUT } from "../dev/virtio_blk";
import {
  MAGIC_SUPER, MAGIC_JDESC, MAGIC_JREVOKE, MAGIC_JCOMMIT, HDR_MAGIC, HDR_TID, JD_COUNT, JD_TAGS,
  SB_JOURNAL_START, SB_JOURNAL_BLOCKS, TREE_INODE, TREE_DIRENT, ROOT_INO, JSB_SEQUENCE, JSB_START, sb_log_blocks,
} from "../fs/format";
import { bread } from "../fs/pagecache";
import { fs_commit, fs_sync, fs_mount, fs_umount, mount_replayed } from "../fs/super";
import { journal_load, journal_recover, jstat_checkpoints } from "../fs/journal";
import { fsck_run } from "../fs/fsck";
import { balloc, balloc_len } from "../fs/alloc";
import { bt_insert } from "../fs/btree";
import { TREE_EXTENT, ext_vlen, EXT_BIRTH, EXT_CSUM } from "../fs/format";
import {
  inode_create, inode_get, inode_get_mut, inode_remove_record, I_UID, I_BLOCKS, S_IFREG,
} from "../fs/inode";
import { dir_add, dir_lookup, dir_remove, de_ino, DT_REG } from "../fs/dir";
import {
  fs_fresh, rng_seed, rnd, mark_tree, make_extent_file, dev_snapshot, dev_restore, dev_equal,
  dev_trace_start, dev_trace_stop, dev_trace_len, dev_trace_blk, dev_trace_apply,
} from "./fsfixture";

const TOTAL: u32 = 4096; // 16 MiB, journal of 256 blocks
const NAME: usize = memory.data(32);
let namelen: u32 = 0;
let j_start: u64 = 0;
let j_blocks: u32 = 0;

function fail(what: string, a: u64, b: u64): void {
  log<string>("journal.spec: " + what + " (" + a.toString() + ", " + b.toString() + ")");
  assert(false, what);
}

function put_num(v: u32): void {
  let d: u32 = 1000;
  let started = false;
  while (d > 0) {
    const c = (v / d) % 10;
    if (c != 0 || started || d == 1) { store<u8>(NAME + namelen++, <u8>(0x30 + c)); started = true; }
    d /= 10;
  }
}
/** NAME = "f<tx>_<j>". */
function name_of(tx: u32, j: u32): void {
  namelen = 0;
  store<u8>(NAME + namelen++, 0x66);
  put_num(tx);
  store<u8>(NAME + namelen++, 0x5f);
  put_num(j);
}

function create(tx: u32, j: u32, uid: u32): void {
  name_of(tx, j);
  const ino = inode_create(S_IFREG | 0o644, uid, 0, 1, ROOT_INO);
  if (ino == 0) fail("inode_create", tx, j);
  if (dir_add(ROOT_INO, NAME, namelen, ino, DT_REG) != 0) fail("dir_add", tx, j);
}
function remove(tx: u32, j: u32): void {
  name_of(tx, j);
  if (!dir_lookup(ROOT_INO, NAME, namelen)) fail("lookup before remove", tx, j);
  const ino = de_ino;
  if (dir_remove(ROOT_INO, NAME, namelen) != 0) fail("dir_remove", tx, j);
  if (inode_remove_record(ino) != 0) fail("inode_remove_record", tx, j);
}
function set_uid(tx: u32, j: u32, uid: u32): void {
  name_of(tx, j);
  if (!dir_lookup(ROOT_INO, NAME, namelen)) fail("lookup before chown", tx, j);
  const rec = inode_get_mut(de_ino);
  if (rec == 0) fail("inode_get_mut", tx, j);
  store<u32>(rec, uid, I_UID);
}

/** The operations of transaction `tx` (1..5). */
function run_tx(tx: u32): void {
  if (tx == 1) {
    for (let j: u32 = 0; j < 200; j++) create(1, j, 1);
  } else if (tx == 2) {
    for (let j: u32 = 0; j < 200; j++) create(2, j, 2);
    for (let j: u32 = 0; j < 50; j++) set_uid(1, j, 102);
  } else if (tx == 3) {
    for (let j: u32 = 100; j < 200; j++) remove(1, j);
    for (let j: u32 = 0; j < 50; j++) create(3, j, 3);
  } else if (tx == 4) {
    for (let j: u32 = 0; j < 100; j++) create(4, j, 4);
    for (let j: u32 = 0; j < 100; j++) remove(2, j);
    for (let j: u32 = 0; j < 50; j++) set_uid(3, j, 104);
  } else {
    for (let j: u32 = 0; j < 20; j++) create(5, j, 5);
    for (let j: u32 = 0; j < 50; j++) remove(1, j);
  }
}

/** Model: uid of file f<tx>_<j> after the first k transactions, or -1 when absent. */
function expected(k: u32, tx: u32, j: u32): i32 {
  if (tx > k) return -1;
  if (tx == 1) {
    if (k >= 3 && j >= 100) return -1;
    if (k >= 5 && j < 50) return -1;
    return k >= 2 && j < 50 ? 102 : 1;
  }
  if (tx == 2) return k >= 4 && j < 100 ? -1 : 2;
  if (tx == 3) return j >= 50 ? -1 : (k >= 4 ? 104 : 3);
  if (tx == 4) return j >= 100 ? -1 : 4;
  return j >= 20 ? -1 : 5;
}

/** The mounted filesystem holds exactly the files of the first k transactions. */
function check_state(k: u32, what: string): void {
  for (let tx: u32 = 1; tx <= 5; tx++) {
    for (let j: u32 = 0; j < 200; j++) {
      const want = expected(k, tx, j);
      name_of(tx, j);
      const found = dir_lookup(ROOT_INO, NAME, namelen);
      if (want < 0) {
        if (found) fail(what + ": a file of an uncommitted or later-deleted state exists", tx * 1000 + j, k);
        continue;
      }
      if (!found) fail(what + ": a committed file is missing", tx * 1000 + j, k);
      const rec = inode_get(de_ino);
      if (rec == 0) fail(what + ": inode missing", de_ino, k);
      if (load<u32>(rec, I_UID) != <u32>want) fail(what + ": uid", tx * 1000 + j, load<u32>(rec, I_UID));
    }
  }
}

// ---- the traced workload ---------------------------------------------------------------------

const SLOT_BASE: i32 = 0;
const TRACE_MAX: i32 = 8192;
const APPLIED: usize = heap.alloc(TRACE_MAX);
let T: i32 = 0;
// per committed transaction 1..4: trace index of its commit block
const COMMIT_IDX: usize = heap.alloc(8 * 4);
// per checkpoint: trace index of its journal superblock write and the last tx it covers
const CP_IDX: usize = heap.alloc(8 * 4);
const CP_TX: usize = heap.alloc(8 * 4);
let ncp: u32 = 0;
@inline function commit_idx(tx: u32): i32 { return load<i32>(COMMIT_IDX + (<usize>tx << 2)); }

/** Finds the commit block of a commit traced in [from, to): ... FLUSH, commit, FLUSH. */
function note_commit(tx: u32, from: i32, to: i32): void {
  if (to - from < 4) fail("commit wrote too little", tx, to - from);
  if (dev_trace_blk(to - 1) != -1 || dev_trace_blk(to - 3) != -1) fail("commit does not end FLUSH, commit block, FLUSH", tx, to);
  const c = dev_trace_blk(to - 2);
  if (<u64>c <= j_start || <u64>c >= j_start + j_blocks) fail("commit block outside the journal", tx, c);
  for (let i = from; i < to - 1; i++) {
    const b = dev_trace_blk(i);
    if (b >= 0 && (<u64>b < j_start || <u64>b >= j_start + j_blocks)) fail("a commit wrote outside the journal", tx, b);
  }
  store<i32>(COMMIT_IDX + (<usize>tx << 2), to - 2);
}
/** Finds the journal superblock write of a checkpoint traced in [from, to). */
function note_checkpoint(lastTx: u32, from: i32, to: i32): void {
  let idx: i32 = -1;
  for (let i = from; i < to; i++) if (<u64>dev_trace_blk(i) == j_start) idx = i;
  if (idx < 0) fail("checkpoint without a journal superblock write", lastTx, 0);
  store<i32>(CP_IDX + (<usize>ncp << 2), idx);
  store<u32>(CP_TX + (<usize>ncp << 2), lastTx);
  ncp++;
}

/** Transactions present and replayed for the crash state in APPLIED. */
let exp_k: u32 = 0;
let exp_replay: u32 = 0;
function expect_from_applied(): void {
  exp_k = 0;
  for (let tx: u32 = 1; tx <= 4; tx++) {
    if (load<u8>(APPLIED + <usize>commit_idx(tx)) != 0) exp_k = tx;
    else break;
  }
  let cpTx: u32 = 0;
  for (let c: u32 = 0; c < ncp; c++) {
    if (load<u8>(APPLIED + <usize>load<i32>(CP_IDX + (<usize>c << 2))) != 0) cpTx = load<u32>(CP_TX + (<usize>c << 2));
  }
  exp_replay = exp_k > cpTx ? exp_k - cpTx : 0;
}

let states: u32 = 0;
/** Puts the crash state (snapshot + the trace entries marked in APPLIED) on the device. */
function build_state(): void {
  dev_restore(SLOT_BASE);
  for (let i: i32 = 0; i < T; i++) if (load<u8>(APPLIED + <usize>i) != 0) dev_trace_apply(i);
}
/** Mounts the crash state on the device and checks it against the model. */
function check_crash_state(what: string): void {
  expect_from_applied();
  const r = fs_mount(1);
  if (r != 0) fail(what + ": mount failed", <u64>(-r), 0);
  if (<u32>mount_replayed != exp_replay) fail(what + ": transactions replayed", mount_replayed, exp_replay);
  check_state(exp_k, what);
  const p = fsck_run(false);
  if (p != 0) { fsck_run(true); fail(what + ": fsck", <u64>p, exp_k); }
  if (fs_umount() != 0) fail(what + ": umount", 0, 0);
  states++;
}

function read_journal_geometry(): void {
  const sb = bread(0, MAGIC_SUPER);
  j_start = load<u64>(sb, SB_JOURNAL_START);
  j_blocks = sb_log_blocks(sb); // the log: the journal area without its MMP block
}

// slots of saved crash images for the replay tests
const SLOT_AFTER_C4: i32 = 10; // tx 2..4 committed, not checkpointed
const SLOT_MID_CP: i32 = 11; // in the middle of the second checkpoint's home writes
const SLOT_TORN: i32 = 12; // tx 4 logged but its commit block not written (a torn tail)
const SLOT_R1: i32 = 20;
const SLOT_R2: i32 = 21;
let mid_cp_idx: i32 = -1;

describe("journal: crash at every write of a workload", () => {
  it("records the workload: 4 committed transactions, 2 checkpoints, 1 uncommitted", () => {
    fs_fresh(TOTAL);
    read_journal_geometry();
    expect<i32>(fs_sync()).toBe(0); // log empty: the base state is all home
    dev_snapshot(SLOT_BASE);
    dev_trace_start();
    const cp0 = jstat_checkpoints;
    for (let tx: u32 = 1; tx <= 5; tx++) {
      run_tx(tx);
      if (tx == 5) break; // never committed
      const before = dev_trace_len();
      expect<i32>(fs_commit()).toBe(0);
      note_commit(tx, before, dev_trace_len());
      if (tx == 1 || tx == 4) {
        const b = dev_trace_len();
        expect<i32>(fs_sync()).toBe(0);
        note_checkpoint(tx, b, dev_trace_len());
        if (tx == 4) mid_cp_idx = b + (dev_trace_len() - b) / 3;
      }
    }
    dev_trace_stop();
    T = dev_trace_len();
    expect<u64>(jstat_checkpoints - cp0).toBe(2, "only the two explicit checkpoints (no automatic one)");
    expect<i32>(T).toBeLessThan(TRACE_MAX);
    // the running state holds all five transactions
    check_state(5, "live");
    expect<i32>(fs_umount()).toBe(0);
    log<string>("workload trace: " + T.toString() + " entries (block writes and flushes); commit blocks at " +
      commit_idx(1).toString() + ", " + commit_idx(2).toString() + ", " + commit_idx(3).toString() + ", " +
      commit_idx(4).toString());
  });

  it("every prefix of the trace (the device accepted k writes) mounts to exactly the committed transactions", () => {
    for (let p: i32 = 0; p <= T; p++) {
      memory.fill(APPLIED, 0, <usize>TRACE_MAX);
      memory.fill(APPLIED, 1, <usize>p);
      build_state();
      if (p == commit_idx(4) + 1) dev_snapshot(SLOT_AFTER_C4);
      if (p == mid_cp_idx) dev_snapshot(SLOT_MID_CP);
      if (p == commit_idx(4)) dev_snapshot(SLOT_TORN);
      check_crash_state("prefix " + p.toString());
    }
    expect<u32>(states).toBe(<u32>T + 1);
  });

  it("random subsets of the writes of each flush epoch (reordered volatile cache) mount consistently", () => {
    rng_seed(0x10c);
    let epochStart: i32 = 0;
    let subsets: u32 = 0;
    for (let i: i32 = 0; i <= T; i++) {
      if (i < T && dev_trace_blk(i) != -1) continue;
      // epoch [epochStart, i) ends at a FLUSH (or the end of the trace)
      const n = i - epochStart;
      if (n >= 2) {
        for (let s = 0; s < 4; s++) {
          memory.fill(APPLIED, 0, <usize>TRACE_MAX);
          memory.fill(APPLIED, 1, <usize>epochStart);
          for (let e = epochStart; e < i; e++) if (rnd(2) == 0) store<u8>(APPLIED + <usize>e, 1);
          build_state();
          check_crash_state("subset of epoch at " + epochStart.toString());
          subsets++;
        }
      }
      epochStart = i + 1;
    }
    log<string>("crash states checked: " + states.toString() + " (" + subsets.toString() + " reordered subsets)");
    expect<u32>(subsets).toBeGreaterThan(20);
  });
});

describe("journal: replay is idempotent", () => {
  it("replaying twice changes nothing, and a replay crashed at any write then replayed again gives the same bytes", () => {
    const images: i32[] = [SLOT_AFTER_C4, SLOT_MID_CP, SLOT_TORN];
    const wantTx: i32[] = [3, 3, 2];
    for (let m = 0; m < images.length; m++) {
      const img = images[m];
      // one replay, traced
      dev_restore(img);
      dev_trace_start();
      expect<i32>(journal_load(j_start, j_blocks)).toBe(0);
      expect<i32>(journal_recover()).toBe(wantTx[m], "transactions replayed");
      dev_trace_stop();
      const RT = dev_trace_len();
      // the replay ends by rewriting the journal superblock (log empty): the last write to it
      let jsbIdx: i32 = -1;
      for (let i: i32 = 0; i < RT; i++) if (<u64>dev_trace_blk(i) == j_start) jsbIdx = i;
      expect<i32>(jsbIdx).toBeGreaterThan(0);
      expect<i32>(dev_trace_blk(RT - 1)).toBe(-1, "replay ends with a FLUSH");
      dev_snapshot(SLOT_R1);
      // a second replay on the replayed image: nothing to do, no byte changes
      expect<i32>(journal_load(j_start, j_blocks)).toBe(0);
      expect<i32>(journal_recover()).toBe(0);
      dev_snapshot(SLOT_R2);
      expect<i32>(dev_equal(SLOT_R1, SLOT_R2)).toBe(-1, "second replay changed the device");
      // a crash after every write of the replay, then a full replay
      for (let q: i32 = 0; q < RT; q++) {
        dev_restore(img);
        for (let i: i32 = 0; i < q; i++) dev_trace_apply(i);
        expect<i32>(journal_load(j_start, j_blocks)).toBe(0);
        const r = journal_recover();
        // once the new journal superblock is down the log is empty: nothing left to replay
        const want = q > jsbIdx ? 0 : wantTx[m];
        if (r != want) fail("replay after a crashed replay: transactions", <u64>r, q);
        dev_snapshot(SLOT_R2);
        const d = dev_equal(SLOT_R1, SLOT_R2);
        if (d != -1) fail("replay after a crashed replay differs at block", <u64>d, q);
      }
      // and the replayed image mounts to the committed state
      dev_restore(SLOT_R1);
      expect<i32>(fs_mount(1)).toBe(0);
      expect<i32>(mount_replayed).toBe(0);
      check_state(<u32>wantTx[m] + 1, "replayed image");
      expect<i32>(fsck_run(false)).toBe(0);
      expect<i32>(fs_umount()).toBe(0);
      log<string>("image " + m.toString() + ": replay of " + wantTx[m].toString() + " transactions wrote " +
        RT.toString() + " trace entries; every crash point re-replays to identical bytes");
    }
  });
});

// ---- revoke -----------------------------------------------------------------------------------

const NODES_A: usize = heap.alloc(TOTAL);
const NODES_B: usize = heap.alloc(TOTAL);
const BUF: usize = heap.alloc(BLOCK_SIZE * 2);
const LOGBUF: usize = heap.alloc(BLOCK_SIZE * 2);
// per block: tid of the latest image in the log, tid of the latest revoke
const IMG_TID: usize = heap.alloc(<usize>TOTAL * 8);
const REV_TID: usize = heap.alloc(<usize>TOTAL * 8);

function data_pattern(p: usize, blk: u64): void {
  for (let i: u32 = 0; i < BLOCK_SIZE; i += 8) store<u64>(p + i, 0xda7a_0000_0000_0000 | (blk << 16) | <u64>i);
}

/** Parses the log on the device (from the journal superblock on, as recovery does, without
 * the checksums): latest image tid and latest revoke tid of every block. Returns commits. */
function scan_log(): u32 {
  memory.fill(IMG_TID, 0, <usize>TOTAL * 8);
  memory.fill(REV_TID, 0, <usize>TOTAL * 8);
  if (blk_read_sync(j_start, LOGBUF) != 0) fail("journal superblock read", 0, 0);
  let tid = load<u64>(LOGBUF, JSB_SEQUENCE);
  let pos = load<u32>(LOGBUF, JSB_START);
  let commits: u32 = 0;
  while (pos > 0 && pos < j_blocks) {
    if (blk_read_sync(j_start + pos, LOGBUF) != 0) fail("log read", pos, 0);
    const magic = load<u32>(LOGBUF, HDR_MAGIC);
    if (load<u64>(LOGBUF, HDR_TID) != tid) break;
    if (magic == MAGIC_JCOMMIT) { commits++; tid++; pos++; continue; }
    if (magic != MAGIC_JDESC && magic != MAGIC_JREVOKE) break;
    const n = load<u32>(LOGBUF, JD_COUNT);
    for (let i: u32 = 0; i < n; i++) {
      const b = load<u64>(LOGBUF + JD_TAGS + (<usize>i << 3));
      if (b < <u64>TOTAL) store<u64>((magic == MAGIC_JDESC ? IMG_TID : REV_TID) + (<usize>b << 3), tid);
    }
    pos += magic == MAGIC_JDESC ? 1 + n : 1;
  }
  return commits;
}

describe("journal: revoke", () => {
  it("a node logged in A, freed (revoked) in B, reused as data in C keeps its data through replay", () => {
    fs_fresh(TOTAL);
    read_journal_geometry();
    expect<i32>(fs_sync()).toBe(0);
    // A: 300 files grow the inode and dirent trees (new nodes, logged)
    for (let j: u32 = 0; j < 300; j++) create(7, j, 7);
    expect<i32>(fs_commit()).toBe(0);
    memory.fill(NODES_A, 0, TOTAL);
    // (only the inode and dirent trees: their freed nodes go back to free space, while
    // free-space tree nodes go to the AGFL)
    mark_tree(TREE_INODE, NODES_A);
    mark_tree(TREE_DIRENT, NODES_A);
    // B: delete them all: the trees shrink back, freed nodes are revoked
    for (let j: u32 = 0; j < 300; j++) remove(7, j);
    expect<i32>(fs_commit()).toBe(0);
    memory.fill(NODES_B, 0, TOTAL);
    mark_tree(TREE_INODE, NODES_B);
    mark_tree(TREE_DIRENT, NODES_B);
    // C: every node A had and B freed becomes file data (written in place, not journaled)
    const ino = make_extent_file(2);
    let freed: u32 = 0;
    for (let b: u32 = 0; b < TOTAL; b++) {
      if (load<u8>(NODES_A + b) == 0 || load<u8>(NODES_B + b) != 0) continue;
      const got = balloc(<u64>b, 1, 1);
      if (got != <u64>b || balloc_len != 1) fail("freed node not reusable at its own block", b, got);
      data_pattern(BUF, b);
      blk_add(VIRTIO_BLK_T_OUT, b, BUF);
      if (blk_flush() != 0) fail("data write", b, 0);
      store<u64>(LOGBUF, b);
      store<u32>(LOGBUF, 1, 8);
      store<u32>(LOGBUF, 0, 12);
      store<u64>(LOGBUF, 1, EXT_BIRTH); // born before any leaf holding it (fsck's [extent-birth])
      store<u32>(LOGBUF, 0, EXT_CSUM); // its one checksum (never read here)
      if (bt_insert(TREE_EXTENT, ino, freed, LOGBUF, ext_vlen(1)) != 0) fail("extent record", b, 0);
      freed++;
    }
    expect<u32>(freed).toBeGreaterThan(3, "B freed tree nodes");
    store<u64>(inode_get_mut(ino), freed, I_BLOCKS);
    expect<i32>(fs_commit()).toBe(0);
    // the log holds A's images of those blocks and B's revokes of them (the precondition)
    expect<u32>(scan_log()).toBeGreaterThanOrEqual(3);
    for (let b: u32 = 0; b < TOTAL; b++) {
      if (load<u8>(NODES_A + b) == 0 || load<u8>(NODES_B + b) != 0) continue;
      const img = load<u64>(IMG_TID + (<usize>b << 3));
      const rev = load<u64>(REV_TID + (<usize>b << 3));
      if (img == 0) fail("no image of the freed node in the log", b, 0);
      if (rev <= img) fail("no later revoke of the freed node in the log", b, rev);
    }
    // crash now: the data is on the device, A, B, C are only in the log
    dev_snapshot(SLOT_BASE);
    expect<i32>(fs_umount()).toBe(0);
    dev_restore(SLOT_BASE);
    expect<i32>(fs_mount(1)).toBe(0);
    expect<i32>(mount_replayed).toBeGreaterThanOrEqual(3);
    let checked: u32 = 0;
    for (let b: u32 = 0; b < TOTAL; b++) {
      if (load<u8>(NODES_A + b) == 0 || load<u8>(NODES_B + b) != 0) continue;
      expect<i32>(blk_read_sync(b, LOGBUF)).toBe(0);
      data_pattern(BUF, b);
      if (memory.compare(LOGBUF, BUF, BLOCK_SIZE) != 0) fail("replay wrote an old image over a revoked block", b, 0);
      checked++;
    }
    for (let j: u32 = 0; j < 300; j++) {
      name_of(7, j);
      if (dir_lookup(ROOT_INO, NAME, namelen)) fail("deleted file back after replay", j, 0);
    }
    expect<i32>(fsck_run(false)).toBe(0);
    expect<i32>(fs_umount()).toBe(0);
    log<string>("revoke: " + checked.toString() + " blocks logged in A, revoked in B, data in C: intact after replay");
  });
});
