// host/vmm/kernel.ts -- the VMM: loads the kernel module, gives it memory, a clock, a console and
// a virtio-blk device, and binds its syscalls to the Sys table behind the Node-shaped fs.
//
// Layer: host top. Interface: boot()/bootSync() -> Kernel { fs, sys, mkfs, mount, shutdown,
// fsck, info, snapshots (host/vmm/snapshots.ts) }. Rules: one syscall = one crossing; strings
// and stat records move through the kernel's argument area, file data through its transfer
// buffer (views are re-made when memory.grow replaces the buffer); a kernel abort is a panic:
// the Kernel is dead after it and every later call throws KernelPanic. This file has no Node imports, so the browser
// reuses it; the Node helpers (image files, module loading) are in host/node/node.ts.

import { ReadOnlyBackend, type BlockBackend } from "./blockdev.js";
import { VirtioBlkDevice } from "./virtio.js";
import { FRAME_OWNERS, FRAME_SLAB, FRAME_MIGRATETYPES } from "./framemap.js";
import { KernelError, errnoName } from "./errors.js";
export { KernelError, errnoName };
import {
  Snapshots, decodeSnapInfo, decodeDiff, SNAPSHOT_MAX, SNAPINFO_BYTES, SNAPSHOT_NAME_MAX,
  type SnapshotInfo, type SnapshotDiff, type SnapshotKernel, type ViewKernel,
} from "./snapshots.js";
export { Snapshots, type SnapshotInfo, type SnapshotDiff };
export { FRAME_OWNERS, FRAME_SLAB, FRAME_MIGRATETYPES };
import { createFs, ROOT_CRED, type Cred, type Sys, type StatRecord, type StatfsRecord, type DirentRecord, type HelixFs, type SysPath, type SysName } from "../fs/fs.js";
import { type InotifyEvent, type InotifyListener, IN_ALL_EVENTS, IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_MASK_ADD, IN_MASK_CREATE, IN_IGNORED, IN_Q_OVERFLOW, IN_UNMOUNT, ALL_INOTIFY_BITS } from "../fs/sys.js";

/** The queue size the driver uses (dev/virtio_blk.ts QUEUE_SIZE). */
const QUEUE_SIZE = 256;
const ARG_PATH1 = 0;
const ARG_PATH2 = 4096;
const ARG_OUT = 8192;
/** Linux limits of extended attributes (fs/xattr.ts): name bytes, value bytes; AT_SYMLINK_NOFOLLOW. */
const XATTR_NAME_MAX = 255, XATTR_SIZE_MAX = 65536, AT_SYMLINK_NOFOLLOW = 0x100;
const ERANGE = 34, E2BIG = 7;
const PATH_BYTES_MAX = 4096;
/** Most supplementary groups in one struct cred (fs/cred.ts NGROUPS_MAX). */
const NGROUPS_MAX = 256;
const ENAMETOOLONG = 36;
/** Default physical memory limit in MiB. */
export const DEFAULT_MEMORY_MIB = 256;

/** Counters of kernel_info, in the order inspect_info (assembly/fs/inspect.ts) writes them. */
export const INFO_FIELDS = [
  "totalBlocks", "freeBlocks", "availBlocks", "inodes", "nextIno", "journalStart", "journalBlocks",
  "journalHead", "tid", "mountCount", "state", "mountReplayedTx", "mountOrphans", "mountUsedBackup",
  "readOnly", "errored", "hInode", "hDirent", "hExtent", "hBno", "hCnt", "rInode", "rDirent",
  "rExtent", "rBno", "rCnt", "memTotalPages", "memFreePages", "cachedPages", "dirtyPages",
  "pinnedMeta", "cacheHits", "cacheMisses", "evictions", "commits", "checkpoints", "loggedBlocks",
  "absorbed", "revokes", "replayedBlocks", "blkRequests", "blkNotifies", "blkReadBlocks",
  "blkWriteBlocks", "blkFlushes", "blkErrors", "btLookups", "btSplits", "btMerges", "allocs",
  "frees", "goalHits", "readPages", "writtenPages", "extentsAllocated", "memoryBytes",
  "reservedBlocks", "mountReason", "replayedTx", "errorState", "csumErrors", "dcacheHits", "dcacheMisses",
  "icacheHits", "freebehind", "readThrough", "writeThrough", "discardedBlocks", "discardErrors", "mountFoundState",
  // snapshots (assembly/fs/snapshot.ts): records, blocks only snapshots hold (the dead list),
  // background work pending, the newest snapshot's tid, the mounted snapshot/clone id (0: the
  // live filesystem), the snapshot and dead-list tree heights, nodes shadowed this boot,
  // parent-transid mismatches met this boot, the cow floor in force
  "snapshots", "snapshotOnlyBlocks", "snapshotWorkPending", "lastSnapshotTid", "mountedSnapshotId",
  "hSnap", "hDead", "btShadows", "transidErrors", "cowFloor", "rSnap", "rDead",
] as const;
export type KernelInfo = Record<(typeof INFO_FIELDS)[number], number>;
export const TREE_NAMES = ["inode", "dirent", "extent", "bno", "cnt", "snap", "dead"] as const;

/** Bytes of a B+ tree node for items and values (fill factor denominator, fs/btree.ts). */
export const NODE_CAPACITY = 4032;
/** Most keys Kernel.treeNode returns per node (fs/inspect.ts NODE_KEYS_MAX). */
export const NODE_KEYS_MAX = 256;
/** Most extents Kernel.extentMap returns per call (fs/inspect.ts EXTMAP_MAX). */
export const EXTMAP_MAX = 256;
/** Most buckets of Kernel.freeMap (fs/inspect.ts FREEMAP_BUCKETS_MAX). */
export const FREEMAP_BUCKETS_MAX = 4096;
/** One kmem_cache as /proc/slabinfo shows it (Kernel.slabTable). */
export interface SlabStats {
  name: string; objsize: number; stride: number; objsPerSlab: number; order: number; active: number; total: number;
  cpuCached: number; slabsPartial: number; slabsFull: number; slabsFree: number; pages: number; limit: number; batchcount: number;
}
/** One B+ tree node (Kernel.treeNode). */
export interface TreeNodeView {
  blk: number; level: number; nitems: number; next: number; prev: number; usedBytes: number;
  keys: { k1: bigint; k2: bigint; child: number; valueLength: number }[];
}
/** The journal ring (Kernel.journalView). */
export interface JournalView {
  start: number; size: number; tail: number; head: number; runningTid: number; runningBuffers: number; runningRevokes: number;
  runningLogBlocks: number; runningSinceMs: number; checkpointBuffers: number; committedCount: number; commits: number;
  checkpoints: number; loggedBlocks: number; absorbed: number; revokes: number; aborted: boolean;
  committed: { tid: number; start: number; blocks: number; buffers: number; revokes: number }[];
}
/** A file's extents (Kernel.extentMap). */
export interface ExtentMapView {
  size: number; inline: boolean; dirtyPages: number; more: boolean;
  extents: { fileBlock: number; diskBlock: number; length: number; flags: number }[];
}

/** Why a mount failed (fs/super.ts MR_*), as a sentence for one-line errors. */
const MOUNT_REASONS = [
  "mount failed",
  "not a HelixFS image (no superblock magic)",
  "corrupted superblock (checksum or geometry) and no valid backup",
  "unsupported HelixFS version or features",
  "corrupted journal",
  "I/O error reading the superblock",
  "device too small for a HelixFS image",
  "the image is shorter than the filesystem it holds (truncated or partly copied?)",
  "in use", // MR_MMP_BUSY: Kernel.mount names the holder instead
  "the image predates snapshots (no SNAPSHOT feature: an older on-disk layout); copy its files out with an older helix, then helix mkfs and helix import",
  "no such snapshot or clone",
];
/** fs/super.ts MR_MMP_BUSY. */
const MR_MMP_BUSY = 8;
const EBUSY = 16;

/** Who holds an image, from its MMP block (docs/format.md "MMP block"). */
export interface MmpHolder {
  /** Sequence number (0xFF4D4D50 clean, 0xE24D4D50 fsck). */
  seq: number;
  /** Seconds between the holder's updates. */
  interval: number;
  /** Last update and the holder's mount, ms since the epoch. */
  timeMs: number;
  mountTimeMs: number;
  pid: number;
  /** Hostname of the holder's machine. */
  node: string;
  /** The holder's program, e.g. 'helix boot'. */
  program: string;
  /** The holder held a host lock on the image. */
  hostLocked: boolean;
}
/** MMP seq of an fsck (fs/mmp.ts MMP_SEQ_FSCK). */
const MMP_SEQ_FSCK = 0xe24d4d50;

/** "in use by pid 1234 on host X (helix boot, since 2026-12-05 21:00:00 UTC)" for `h`. */
export function describeHolder(h: MmpHolder | null): string {
  if (h === null) return "in use by another process on this host (it holds the image's lock)";
  if (h.seq === MMP_SEQ_FSCK) return `in use: fsck is running on host ${h.node || "?"}`;
  const since = h.mountTimeMs > 0 ? `, since ${new Date(h.mountTimeMs).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")}` : "";
  return `in use by pid ${h.pid} on host ${h.node || "?"} (${h.program || "unknown program"}${since})`;
}

/** Identity a kernel writes into the MMP block of the images it mounts (fs/mmp.ts). */
export interface MmpIdentity {
  /** Hostname (<= 64 bytes); host/node/node.ts gives os.hostname(). */
  node: string;
  /** Process id. */
  pid: number;
  /** Program name (<= 32 bytes), e.g. 'helix boot'. */
  program: string;
  /**
   * The host holds an exclusive lock on the image, or the device is private to this process
   * (a memory device): then a holder named by this node is known to be gone and a clean image
   * is taken without waiting. False only for a shared file without a host lock.
   */
  exclusive: boolean;
  /** Update interval in seconds that mkfs writes (1..300, default 5). */
  mmpInterval?: number;
}

/** Sleeps the calling thread `ms` ms (Atomics.wait; a spin where the thread may not block). */
export function sleepMs(ms: number): void {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  } catch {
    const end = Date.now() + ms;
    while (Date.now() < end) { /* a browser main thread cannot block */ }
  }
}

/**
 * The host's hook on a kernel's memory: called right after kernel_boot has grown the module's
 * memory to memoryMiB (a large allocation outside the JS heap) and after shutdown. None by
 * default (browsers); host/node.ts sets one that keeps Node 20 from hanging at exit
 * (host/heap-settle.ts). It must not throw and must not call back into a kernel.
 */
let memoryHook: (() => void) | null = null;

/** Sets (or with null clears) the hook called after every kernel boot and shutdown. */
export function setKernelMemoryHook(hook: (() => void) | null): void { memoryHook = hook; }

/** A kernel panic: the module aborted (an assertion or a kernel bug); the Kernel is dead. */
export class KernelPanic extends Error {
  readonly code = "EKERNELPANIC";
  constructor(message: string) { super(`kernel panic: ${message}`); this.name = "KernelPanic"; }
}

const NS_PER_SEC = 1_000_000_000n;

/**
 * A struct stat read from the argument area's doubles (the kernel writes Node's statValues
 * shape). The ns times become BigInts only when asked for (BigIntStats); Stats uses the ms.
 */
class KernelStat implements StatRecord {
  dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number; rdev: number;
  size: number; blksize: number; blocks: number;
  atimeMs: number; mtimeMs: number; ctimeMs: number; birthtimeMs: number;
  private readonly aSec: number; private readonly aNsec: number;
  private readonly mSec: number; private readonly mNsec: number;
  private readonly cSec: number; private readonly cNsec: number;
  private readonly bSec: number; private readonly bNsec: number;
  /** Reads the record at f64 index `i` of `f`. */
  constructor(f: Float64Array, i: number) {
    this.dev = f[i]; this.ino = f[i + 1]; this.mode = f[i + 2]; this.nlink = f[i + 3];
    this.uid = f[i + 4]; this.gid = f[i + 5]; this.rdev = f[i + 6]; this.size = f[i + 7];
    this.blksize = f[i + 8]; this.blocks = f[i + 9];
    this.atimeMs = f[i + 10]; this.mtimeMs = f[i + 11]; this.ctimeMs = f[i + 12]; this.birthtimeMs = f[i + 13];
    this.aSec = f[i + 14]; this.aNsec = f[i + 15]; this.mSec = f[i + 16]; this.mNsec = f[i + 17];
    this.cSec = f[i + 18]; this.cNsec = f[i + 19]; this.bSec = f[i + 20]; this.bNsec = f[i + 21];
  }
  get atimeNs(): bigint { return BigInt(this.aSec) * NS_PER_SEC + BigInt(this.aNsec); }
  get mtimeNs(): bigint { return BigInt(this.mSec) * NS_PER_SEC + BigInt(this.mNsec); }
  get ctimeNs(): bigint { return BigInt(this.cSec) * NS_PER_SEC + BigInt(this.cNsec); }
  get birthtimeNs(): bigint { return BigInt(this.bSec) * NS_PER_SEC + BigInt(this.bNsec); }
}

/** Options of boot(). */
export interface BootOptions {
  /** The block device backend (an image file via host/node/node.ts, a MemoryBackend, ...). */
  device: BlockBackend;
  /** The compiled kernel module. */
  module: WebAssembly.Module;
  /** Physical memory limit in MiB (32..3072, default DEFAULT_MEMORY_MIB). */
  memoryMiB?: number;
  /** Simulated CPUs (1..4, default 1). */
  cpus?: number;
  /** Receives kernel log lines (default: dropped). */
  log?: (line: string) => void;
  /** Format the device before mounting. */
  mkfs?: boolean;
  /** Do not mount (mkfs only, or an inspection that mounts later). */
  noMount?: boolean;
  /**
   * Online discard (ext4's `-o discard`): after each commit is durable, the blocks it freed
   * are sent to the device as DISCARD requests. A memory device zeroes them; an image file
   * booted by path (host/node/node.ts) gets zeroes written over them, since Node cannot punch
   * holes (a FileBackend passed as `device` does what its own `discard` option says).
   * Default false.
   */
  discard?: boolean;
  /** Identity for multiple-mount protection (default: node 'localhost', pid 0, program 'helixfs', exclusive). */
  identity?: MmpIdentity;
  /** The host's sleep for the kernel's `sleep_ms` import (default sleepMs). */
  sleep?: (ms: number) => void;
  /**
   * The mount fsck runs on (fs/super.ts MNT_*): "check" mounts read-only (the journal is
   * replayed, nothing else is written); "preen" mounts read-write even when the superblock
   * records an error; "yes" also gives up committed transactions that follow a damaged one
   * in the journal (otherwise such a log mounts read-only).
   */
  fsckMount?: "check" | "preen" | "yes";
  /**
   * Run the MMP heartbeat from a timer while mounted (default false): for devices other hosts
   * or processes may share (host/node/node.ts sets it for image files). Syscalls beat it as well.
   */
  mmpHeartbeat?: boolean;
  /**
   * The credentials `sys` and `fs` run their syscalls with (default ROOT_CRED; host/node/node.ts
   * passes the process's ids). `sysAs` makes a Sys for other credentials.
   */
  cred?: Cred;
  /**
   * Mount this snapshot or clone instead of the live filesystem (sys_mount_snapshot before
   * sys_mount): a snapshot mounts read-only, a clone read-write. The mount fails with
   * KernelError ENOENT ("no snapshot named ...") when there is none.
   */
  snapshot?: string;
  /**
   * Mount read-only WITHOUT journal recovery, MMP or any write (MNT_RDONLY | MNT_NORECOVERY,
   * ext4's `norecovery`): for a view of a snapshot on a device a live kernel is using.
   */
  norecovery?: boolean;
}

/** sys_mount flags (fs/super.ts MNT_DISCARD, MNT_FSCK, MNT_FSCK_JOURNAL). */
const MNT_DISCARD = 2;
const MNT_FSCK = 4;
const MNT_FSCK_JOURNAL = 8;
const MNT_RDONLY = 16;
/** Mount without journal replay, MMP or writes (SNAPSHOT_ABI; fs/super.ts MNT_NORECOVERY). */
const MNT_NORECOVERY = 32;
/** Milliseconds between two runs of the snapshot idle worker (sys_snapshot_work). */
const SNAPSHOT_WORK_INTERVAL_MS = 10;
/** Units of background snapshot work per idle-worker run (1 unit: a dead-list entry or a tree node). */
const SNAPSHOT_WORK_TICK_BUDGET = 256;
const ENOENT = 2;
/** fs/super.ts MR_NO_SNAPSHOT: the snapshot sys_mount_snapshot named is not there. */
const MR_NO_SNAPSHOT = 10;
const EINVAL = 22, EISDIR = 21;
const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

/**
 * A file offset for the kernel's i64 argument, or null when it is not an integer in
 * [0, 2^63): the ABI would wrap it (2^64 + 4096 becomes 4096), so the caller answers EINVAL.
 */
export function fileOffsetArg(pos: number | bigint): bigint | null {
  if (typeof pos === "number" && !Number.isInteger(pos)) return null;
  const b = BigInt(pos);
  return b >= 0n && b <= I64_MAX ? b : null;
}

/**
 * A timestamp in ns for the kernel's i64 argument: the on-disk format keeps i64 ns (1677 to
 * 2262), so a time past either end is clamped to it, as Linux's timestamp_truncate clamps
 * to a filesystem's s_time_min/s_time_max (ext4 without extra epoch bits stops at 2038),
 * never wrapped (9.3e9 s would otherwise land in 1680). docs/decisions.md.
 */
export function timeNsArg(ns: bigint): bigint {
  return ns > I64_MAX ? I64_MAX : ns < I64_MIN ? I64_MIN : ns;
}

/** sys_fsck flags (fs/fsck.ts FSCK_*). */
export const FSCK_VERBOSE = 1, FSCK_DATA = 2, FSCK_PREEN = 4, FSCK_YES = 8, FSCK_MARK_ERRORS = 16;

/** Statistics of the last fsck run (kernel_fsck_stats). */
export interface FsckStats {
  nodes: number; inodes: number; dirents: number; extents: number; freeExtents: number; usedBlocks: number;
  /** Changes the repair made, and repairs it could not make or was not allowed to. */
  fixed: number; unfixed: number;
  /** Data blocks read and checked (FSCK_DATA). */
  dataBlocks: number;
  /** Superblock state before this mount (0 dirty: not cleanly unmounted, 1 clean, 2 error). */
  mountPrevState: number;
  /** This mount gave up a damaged journal's later transactions (fsckMount "yes"). */
  mountDroppedLog: boolean;
  /** Journal superblock fields this mount's recovery put right (1: log start, 2: first block). */
  journalSbRepaired: number;
}

type Exports = Record<string, any> & { memory: WebAssembly.Memory };

/** A booted kernel: the module instance, its device and its Node-shaped fs. */
export class Kernel {
  readonly fs: HelixFs;
  readonly sys: Sys;
  readonly device: VirtioBlkDevice;
  readonly logLines: string[] = [];
  private readonly x: Exports;
  private u8!: Uint8Array;
  private dv!: DataView;
  private f64!: Float64Array;
  private args = 0;
  /** The boot credentials: `sys` runs with them and mkfs makes them the root directory's owner. */
  private bootCred: Cred = ROOT_CRED;
  /** Where the host writes a struct cred (fs/cred.ts) and which Cred is there now. */
  private credArea = 0;
  private credThere: Cred | null = null;
  private xfer = 0;
  private xferSize = 0;
  private dead: string | null = null;
  private mounted = false;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  private readonly log?: (line: string) => void;
  private readonly mountFlags: number;
  private mmpTimer: ReturnType<typeof setInterval> | null = null;
  private readonly mmpHeartbeat: boolean;
  /** The snapshot idle worker (sys_snapshot_work while work is pending), or null. */
  private snapTimer: ReturnType<typeof setInterval> | null = null;
  /** The snapshot or clone `mount` names to sys_mount_snapshot (BootOptions.snapshot), or null. */
  private readonly snapshotName: string | null;
  /** The module and boot options, for the second kernel of a snapshot view. */
  private readonly bootOpts: BootOptions;
  /** Snapshots and clones of the mounted filesystem (host/vmm/snapshots.ts). */
  readonly snapshots: Snapshots;
  /**
   * inotify multiplexing (docs/notify.md): the listeners of each kernel watch, in the order
   * they were added (libuv's per-wd handle list), each with the events it asked for.
   */
  private readonly inotifyWatches = new Map<number, { mask: number; listener: InotifyListener }[]>();
  private inotifyScheduled = false;
  /**
   * Events read from the kernel and not yet dispatched (from inotifyNext on): every drain
   * dispatches these first, so a drain that a listener's syscall scheduled cannot pass events
   * read before it (FIFO even when a listener throws).
   */
  private inotifyPending: InotifyEvent[] = [];
  private inotifyNext = 0;

  /** Use boot(); this wires an instantiated module. */
  constructor(instantiate: (imports: WebAssembly.Imports) => WebAssembly.Instance, readonly backend: BlockBackend, opts: BootOptions) {
    this.log = opts.log;
    const fm = opts.fsckMount;
    this.mountFlags = (opts.discard ? MNT_DISCARD : 0) | (fm === "check" ? MNT_RDONLY : fm ? MNT_FSCK : 0) | (fm === "yes" ? MNT_FSCK_JOURNAL : 0) |
      (opts.norecovery ? MNT_RDONLY | MNT_NORECOVERY : 0);
    this.snapshotName = opts.snapshot !== undefined && opts.snapshot !== "" ? opts.snapshot : null;
    this.bootOpts = opts;
    this.snapshots = new Snapshots(this as SnapshotKernel);
    this.mmpHeartbeat = opts.mmpHeartbeat === true;
    let pending = "";
    let lastMs = -1;
    let lastNs = 0n;
    const imports: WebAssembly.Imports = {
      env: {
        virtio_notify: () => this.device.notify(),
        // the inotify queue became non-empty: read it once the running call has returned
        fsnotify_wake: () => this.inotifySchedule(),
        console_write: (ptr: number, len: number) => {
          pending += this.dec.decode(this.mem().subarray(ptr, ptr + len));
          let nl: number;
          while ((nl = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            this.logLines.push(line);
            if (this.logLines.length > 2000) this.logLines.shift();
            this.log?.(line);
          }
        },
        sleep_ms: (ms: number) => (opts.sleep ?? sleepMs)(ms),
        clock_ns: () => {
          // the clock has millisecond resolution: reuse the BigInt within a millisecond
          const ms = Date.now();
          if (ms !== lastMs) { lastMs = ms; lastNs = BigInt(ms) * 1_000_000n; }
          return lastNs;
        },
        abort: (msg: number, file: number, line: number, col: number) => {
          const m = this.readAsString(msg), f = this.readAsString(file);
          this.dead = `${m} at ${f}:${line}:${col}`;
          throw new KernelPanic(this.dead);
        },
      },
    };
    const inst = instantiate(imports);
    this.x = inst.exports as Exports;
    this.device = new VirtioBlkDevice(backend, () => this.x.memory.buffer, QUEUE_SIZE);
    this.refresh();
    const mib = opts.memoryMiB ?? DEFAULT_MEMORY_MIB;
    const cpus = opts.cpus ?? 1;
    const r = this.call("kernel_boot", mib, cpus);
    memoryHook?.();
    if (r < 0) throw new KernelError(errnoName(-r), `boot failed: ${errnoName(-r)} (memory ${mib} MiB must be 32..3072, cpus ${cpus} must be 1..4)`, -r);
    this.args = this.x.kernel_args();
    this.xfer = this.x.kernel_xfer();
    this.xferSize = this.x.kernel_xfer_size();
    const p = this.call("virtio_blk_probe", 0, BigInt(Math.floor(backend.sizeBytes / 512)), QUEUE_SIZE);
    if (p < 0) throw new KernelError(errnoName(-p), `virtio-blk probe failed: ${errnoName(-p)}`, -p);
    this.refresh();
    this.device.setQueue(this.dv.getUint32(this.args + ARG_OUT, true), this.dv.getUint32(this.args + ARG_OUT + 4, true), this.dv.getUint32(this.args + ARG_OUT + 8, true));
    this.call("virtio_blk_identify"); // logs the serial; a device without one is still usable
    this.setIdentity(opts.identity ?? { node: "localhost", pid: 0, program: "helixfs", exclusive: true });
    this.credArea = this.x.kernel_cred();
    this.bootCred = opts.cred ?? ROOT_CRED;
    this.sys = this.makeSys(this.bootCred);
    this.fs = createFs(this.sys);
  }

  private readAsString(ptr: number): string {
    if (!ptr) return "?";
    const u8 = this.mem();
    const len = new Uint32Array(u8.buffer, ptr - 4, 1)[0] >>> 1;
    let s = "";
    for (let i = 0; i < len && i < 512; i++) s += String.fromCharCode(u8[ptr + 2 * i] | (u8[ptr + 2 * i + 1] << 8));
    return s;
  }

  private latin1Buf: { latin1Slice(start: number, end: number): string } | null = null;
  private latin1Of: ArrayBufferLike | null = null;

  /**
   * Bytes [start, end) of linear memory as Latin-1 (exact for ASCII). Node's Buffer has a
   * native latin1Slice; the browser's Buffer (the `buffer` package) has none, so there the
   * bytes go through String.fromCharCode (names are at most NAME_MAX bytes).
   */
  private latin1(start: number, end: number): string {
    if (this.latin1Of !== this.x.memory.buffer) {
      this.latin1Of = this.x.memory.buffer;
      const B = (globalThis as unknown as { Buffer?: { from(b: ArrayBufferLike): { latin1Slice?: unknown } } }).Buffer;
      const b = B?.from(this.latin1Of);
      this.latin1Buf = typeof b?.latin1Slice === "function" ? b as { latin1Slice(s: number, e: number): string } : null;
    }
    if (this.latin1Buf === null) return String.fromCharCode(...this.mem().subarray(start, end));
    return this.latin1Buf.latin1Slice(start, end);
  }

  private readonly strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  /** Bytes [start, end) of linear memory decoded as UTF-8, or null if they are not UTF-8. */
  private utf8(start: number, end: number): string | null {
    try {
      return this.strict.decode(this.mem().subarray(start, end));
    } catch {
      return null;
    }
  }

  /**
   * A name or symlink target at [start, end) of linear memory as a SysName: a string when it
   * is UTF-8, else a copy of its bytes (names are bytes; a string would lose them).
   */
  private name(start: number, end: number): SysName {
    return this.utf8(start, end) ?? this.mem().slice(start, end);
  }

  /**
   * The kernel's memory as bytes. memory.grow detaches the old ArrayBuffer, and a view of a
   * detached buffer has length 0: checking that is a field read, where comparing with
   * `memory.buffer` calls into the engine on every syscall.
   */
  private mem(): Uint8Array {
    if (this.u8 === undefined || this.u8.length === 0) this.refresh();
    return this.u8;
  }
  private refresh(): void {
    this.u8 = new Uint8Array(this.x.memory.buffer);
    this.dv = new DataView(this.x.memory.buffer);
    this.f64 = new Float64Array(this.x.memory.buffer);
  }
  private view(): DataView { this.mem(); return this.dv; }

  /**
   * Calls an export with up to 8 arguments (missing ones arrive as undefined and are not
   * passed on past the export's arity); a trap or abort becomes KernelPanic and kills the
   * kernel. Fixed parameters instead of a rest array: this runs once per syscall.
   */
  private call(name: string, a0?: unknown, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown,
               a6?: unknown, a7?: unknown): any {
    if (this.dead !== null) throw new KernelPanic(`kernel is dead (${this.dead})`);
    try {
      return this.x[name](a0, a1, a2, a3, a4, a5, a6, a7);
    } catch (e) {
      if (e instanceof KernelPanic) throw e;
      if (e instanceof WebAssembly.RuntimeError) {
        this.dead = `${e.message} in ${name}`;
        throw new KernelPanic(this.dead);
      }
      throw e;
    }
  }

  /**
   * Writes a path into the argument area as UTF-8 (a Uint8Array: its exact bytes); returns
   * its byte length or -ENAMETOOLONG. ASCII is copied a char at a time, the rest goes
   * through TextEncoder.encodeInto (as wasm-bindgen's passStringToWasm does): for short
   * paths the plain loop is several times cheaper than encodeInto's call.
   */
  private putPath(p: SysPath, at: number): number {
    const u8 = this.mem();
    const base = this.args + at;
    if (typeof p !== "string") {
      if (p.length >= PATH_BYTES_MAX) return -ENAMETOOLONG;
      u8.set(p, base);
      return p.length;
    }
    const n = p.length;
    if (n < PATH_BYTES_MAX) {
      let i = 0;
      for (; i < n; i++) {
        const c = p.charCodeAt(i);
        if (c > 0x7f) break;
        u8[base + i] = c;
      }
      if (i === n) return n;
      if (n * 3 < PATH_BYTES_MAX) return i + this.enc.encodeInto(p.slice(i), u8.subarray(base + i, base + PATH_BYTES_MAX)).written!;
    }
    const bytes = this.enc.encode(p);
    if (bytes.length >= PATH_BYTES_MAX) return -ENAMETOOLONG;
    u8.set(bytes, base);
    return bytes.length;
  }

  private path1(p: SysPath): number { return this.putPath(p, ARG_PATH1); }

  /**
   * Writes an extended attribute's name NUL-terminated at ARG_PATH2 (the kernel reads it as
   * Linux's setxattr reads its C string); returns its address, or -ERANGE when it is longer
   * than any name the kernel accepts (XATTR_NAME_MAX 255 bytes) so it cannot overrun the area.
   */
  private putXattrName(name: SysPath): number {
    const l = this.putPath(name, ARG_PATH2);
    if (l < 0 || l > XATTR_NAME_MAX) return -ERANGE;
    this.mem()[this.args + ARG_PATH2 + l] = 0;
    return this.args + ARG_PATH2;
  }

  /** stat/lstat of `p` through export `fn` (the hottest syscalls: no closures on the way). */
  private statPath(fn: string, cred: Cred, p: SysPath): StatRecord | number {
    const l = this.putPath(p, ARG_PATH1);
    if (l < 0) return l;
    const r: number = this.call(fn, this.credPtr(cred), this.args + ARG_PATH1, l, this.args + ARG_OUT);
    return r < 0 ? r : this.readStat();
  }

  private readStat(): StatRecord {
    this.mem();
    return new KernelStat(this.f64, (this.args + ARG_OUT) / 8);
  }

  /** Copies the first `n` bytes of the transfer buffer into `bufs` in order (readv's scatter). */
  private scatter(bufs: readonly Uint8Array[], n: number): void {
    const mem = this.mem();
    let o = this.xfer;
    for (const b of bufs) {
      if (n <= 0) break;
      const m = Math.min(b.length, n);
      b.set(mem.subarray(o, o + m));
      o += m;
      n -= m;
    }
  }

  /** Copies `bufs` in order into the transfer buffer, up to its size (writev's gather); returns the bytes copied. */
  private gather(bufs: readonly Uint8Array[]): number {
    const mem = this.mem();
    let o = this.xfer;
    const end = this.xfer + this.xferSize;
    for (const b of bufs) {
      if (o >= end) break;
      const m = Math.min(b.length, end - o);
      mem.set(m === b.length ? b : b.subarray(0, m), o);
      o += m;
    }
    return o - this.xfer;
  }

  /**
   * The struct cred pointer for `cred`: writes it into the kernel's cred area unless it is the
   * one written last (Cred objects are immutable by contract; one Sys keeps one). Throws a
   * RangeError for ids that are not u32 or more than NGROUPS_MAX groups.
   */
  private credPtr(cred: Cred): number {
    if (cred === this.credThere) return this.credArea;
    const g = cred.groups;
    if (g.length > NGROUPS_MAX) throw new RangeError(`at most ${NGROUPS_MAX} supplementary groups (got ${g.length})`);
    // every id is checked before the area changes: a refused Cred leaves the one there intact
    const bad = (v: number) => !Number.isInteger(v) || v < 0 || v > 0xffffffff;
    for (const v of [cred.uid, cred.gid, ...g]) if (bad(v)) throw new RangeError(`credential id ${v} is not a u32`);
    const dv = this.view();
    const o = this.credArea;
    dv.setUint32(o, cred.uid, true);
    dv.setUint32(o + 4, cred.gid, true);
    dv.setUint32(o + 8, g.length, true);
    dv.setUint32(o + 12, 0, true);
    for (let i = 0; i < g.length; i++) dv.setUint32(o + 16 + 4 * i, g[i], true);
    this.credThere = cred;
    return o;
  }

  /** Most bytes of events one sys_inotify_read copies (the kernel queue holds at most 512 KiB; the rest comes in the next read). */
  private static readonly INOTIFY_READ_MAX = 64 * 1024;

  /** Drains the inotify queue in a microtask (once: a drain already scheduled covers it). */
  private inotifySchedule(): void {
    if (this.inotifyScheduled) return;
    this.inotifyScheduled = true;
    queueMicrotask(() => this.inotifyDrain());
  }

  /**
   * Reads every queued inotify event and hands each to the listeners of its watch (the listener
   * list as it is when the event's turn comes: one added by an earlier event's listener hears
   * it, one removed does not, as libuv dispatches). Events a listener's calls cause are read
   * in the same loop, after the ones read before them. A listener that throws leaves the rest
   * in inotifyPending for a new microtask's drain, then throws.
   */
  private inotifyDrain(): void {
    this.inotifyScheduled = false;
    if (this.dead !== null) { this.inotifyPending = []; this.inotifyNext = 0; return; }
    for (let reads = 0; reads < 1 << 20;) {
      if (this.inotifyNext >= this.inotifyPending.length) {
        this.inotifyPending = this.inotifyReadBatch();
        this.inotifyNext = 0;
        reads++;
        if (this.inotifyPending.length === 0) return;
      }
      const ev = this.inotifyPending[this.inotifyNext++];
      try {
        this.inotifyDispatch(ev);
      } catch (e) {
        this.inotifySchedule();
        throw e;
      }
    }
  }

  /** One sys_inotify_read's events, parsed (names copied out: the listeners reuse the buffer). */
  private inotifyReadBatch(): InotifyEvent[] {
    const r: number = this.call("sys_inotify_read", this.xfer, Math.min(this.xferSize, Kernel.INOTIFY_READ_MAX));
    const out: InotifyEvent[] = [];
    if (r <= 0) return out;
    const dv = this.view();
    const u8 = this.mem();
    for (let o = this.xfer, end = this.xfer + r; o < end;) {
      const len = dv.getUint32(o + 12, true);
      let name: SysName | null = null;
      if (len > 0) {
        const z = u8.indexOf(0, o + 16);
        name = this.name(o + 16, z < 0 || z > o + 16 + len ? o + 16 + len : z);
      }
      out.push({ wd: dv.getInt32(o, true), mask: dv.getUint32(o + 4, true), cookie: dv.getUint32(o + 8, true), name });
      o += 16 + len;
    }
    return out;
  }

  private inotifyDispatch(ev: InotifyEvent): void {
    const always = IN_IGNORED | IN_Q_OVERFLOW | IN_UNMOUNT;
    if (ev.wd === -1) {
      for (const list of [...this.inotifyWatches.values()]) for (const w of [...list]) w.listener(ev);
      return;
    }
    const list = this.inotifyWatches.get(ev.wd);
    if (list === undefined) return; // its last listener left: the kernel's IN_IGNORED of rm_watch
    for (const w of [...list]) {
      if (!list.includes(w)) continue; // removed by an earlier listener of this event
      if ((ev.mask & (w.mask | always)) !== 0) w.listener(ev);
    }
  }

  /**
   * A Sys whose syscalls run with `cred` (the kernel makes every permission decision with it):
   * what a FUSE request or a test of another user needs. Cheap; keep one per credential.
   */
  sysAs(cred: Cred): Sys {
    return this.makeSys(Object.freeze({ uid: cred.uid, gid: cred.gid, groups: Object.freeze([...cred.groups]) }));
  }

  private makeSys(cred: Cred): Sys {
    const k = this;
    const A = () => k.args;
    const C = () => k.credPtr(cred);
    const path2 = (a: SysPath, b: SysPath, fn: string): number => {
      const l1 = k.putPath(a, ARG_PATH1);
      if (l1 < 0) return l1;
      const l2 = k.putPath(b, ARG_PATH2);
      if (l2 < 0) return l2;
      return k.call(fn, C(), A() + ARG_PATH1, l1, A() + ARG_PATH2, l2);
    };
    const withPath = (p: SysPath, fn: (ptr: number, len: number) => number): number => {
      const l = k.path1(p);
      return l < 0 ? l : fn(A() + ARG_PATH1, l);
    };
    const inotifyAddWatch = (p: SysPath, mask: number, listener: InotifyListener): number => {
      // the kernel's mark carries the union of its listeners' events (IN_MASK_ADD): each
      // listener filters its own
      // Linux's first checks (the host's IN_MASK_ADD below must not hide them): a mask without
      // any inotify bit, or IN_MASK_ADD with IN_MASK_CREATE, is EINVAL
      if ((mask & ALL_INOTIFY_BITS) === 0 || ((mask & IN_MASK_ADD) !== 0 && (mask & IN_MASK_CREATE) !== 0)) return -EINVAL;
      const kmask = ((mask & (IN_ALL_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)) | IN_MASK_ADD) >>> 0;
      const wd: number = withPath(p, (a, l) => k.call("sys_inotify_add_watch", C(), a, l, kmask));
      if (wd < 0) return wd;
      let list = k.inotifyWatches.get(wd);
      if (list === undefined) k.inotifyWatches.set(wd, list = []);
      list.push({ mask: mask & IN_ALL_EVENTS, listener });
      return wd;
    };
    const inotifyRmWatch = (wd: number, listener: InotifyListener): number => {
      const list = k.inotifyWatches.get(wd);
      const i = list === undefined ? -1 : list.findIndex((w) => w.listener === listener);
      if (i < 0) return -EINVAL;
      list!.splice(i, 1);
      if (list!.length > 0) return 0;
      k.inotifyWatches.delete(wd);
      // the kernel may have ended the watch already (its inode was freed): -EINVAL then
      if (k.dead === null) k.call("sys_inotify_rm_watch", wd);
      return 0;
    };
    return {
      inotifyAddWatch,
      inotifyRmWatch,
      open: (p, flags, mode) => withPath(p, (a, l) => k.call("sys_open", C(), a, l, flags >>> 0, mode >>> 0)),
      close: (fd) => k.call("sys_close", C(), fd),
      read(fd, buf, off, len, pos) {
        const n = Math.min(len, k.xferSize);
        const at = pos === null ? null : fileOffsetArg(pos);
        if (pos !== null && at === null) return -EINVAL;
        const r: number = at === null ? k.call("sys_read", C(), fd, k.xfer, n) : k.call("sys_pread", C(), fd, k.xfer, n, at);
        if (r > 0) buf.set(k.mem().subarray(k.xfer, k.xfer + r), off);
        return r;
      },
      write(fd, buf, off, len, pos) {
        const n = Math.min(len, k.xferSize);
        k.mem().set(buf.subarray(off, off + n), k.xfer);
        const at = pos === null ? null : fileOffsetArg(pos);
        if (pos !== null && at === null) return -EINVAL;
        return at === null ? k.call("sys_write", C(), fd, k.xfer, n) : k.call("sys_pwrite", C(), fd, k.xfer, n, at);
      },
      // readv/writev: ONE sys_read/sys_write per transfer buffer. The iovecs are gathered
      // into it (or scattered from it) here, so a writev is one atomic write in the kernel,
      // as in Linux, and costs one crossing however many buffers it has.
      readv(fd, bufs, pos) {
        let want = 0;
        for (const b of bufs) want += b.length;
        const n = Math.min(want, k.xferSize);
        const at = pos === null ? null : fileOffsetArg(pos);
        if (pos !== null && at === null) return -EINVAL;
        const r: number = at === null ? k.call("sys_read", C(), fd, k.xfer, n) : k.call("sys_pread", C(), fd, k.xfer, n, at);
        if (r > 0) k.scatter(bufs, r);
        // Linux's vfs_readv returns 0 for an empty list once the fd is readable, before the
        // file's read (which says EISDIR for a directory, where read(2) of 0 bytes does)
        if (n === 0 && r === -EISDIR) return 0;
        return r;
      },
      writev(fd, bufs, pos) {
        const at = pos === null ? null : fileOffsetArg(pos);
        if (pos !== null && at === null) return -EINVAL; // before copying anything
        const n = k.gather(bufs);
        return at === null ? k.call("sys_write", C(), fd, k.xfer, n) : k.call("sys_pwrite", C(), fd, k.xfer, n, at);
      },
      lseek: (fd, offset, whence) => Number(k.call("sys_lseek", C(), fd, BigInt(offset), whence)),
      truncate: (p, len) => withPath(p, (a, l) => k.call("sys_truncate", C(), a, l, BigInt(len))),
      ftruncate: (fd, len) => k.call("sys_ftruncate", C(), fd, BigInt(len)),
      fallocate: (fd, mode, offset, len) => Number.isSafeInteger(offset) && Number.isSafeInteger(len)
        ? k.call("sys_fallocate", C(), fd, mode >>> 0, BigInt(offset), BigInt(len)) : -EINVAL,
      fsync: (fd) => k.call("sys_fsync", C(), fd),
      fdatasync: (fd) => k.call("sys_fdatasync", C(), fd),
      sync: () => k.call("sys_sync"),
      stat: (p) => k.statPath("sys_stat", cred, p),
      lstat: (p) => k.statPath("sys_lstat", cred, p),
      fstat(fd) { const r = k.call("sys_fstat", C(), fd, A() + ARG_OUT); return r < 0 ? r : k.readStat(); },
      mkdir: (p, mode) => withPath(p, (a, l) => k.call("sys_mkdir", C(), a, l, mode >>> 0)),
      rmdir: (p) => withPath(p, (a, l) => k.call("sys_rmdir", C(), a, l)),
      chdir: (p) => withPath(p, (a, l) => k.call("sys_chdir", C(), a, l)),
      unlink: (p) => withPath(p, (a, l) => k.call("sys_unlink", C(), a, l)),
      rename: (a, b) => path2(a, b, "sys_rename"),
      link: (a, b) => path2(a, b, "sys_link"),
      symlink: (t, p) => path2(t, p, "sys_symlink"),
      readlink(p) {
        const r = withPath(p, (a, l) => k.call("sys_readlink", C(), a, l, k.xfer, 4096));
        return r < 0 ? r : k.name(k.xfer, k.xfer + r);
      },
      scandir(p) {
        const r: number = withPath(p, (a, l) => k.call("sys_scandir", C(), a, l, k.xfer, k.xferSize, A() + ARG_OUT));
        if (r <= 0) return r < 0 ? r : [];
        const ascii = k.view().getUint32(A() + ARG_OUT + 4, true) !== 0;
        // one decode and one split instead of a string per record: names hold no NUL
        const end = k.xfer + r - 1; // without the last NUL
        if (ascii) return k.latin1(k.xfer, end).split("\0");
        const all = k.utf8(k.xfer, end);
        if (all !== null) return all.split("\0");
        // some name is not UTF-8: decode name by name, keeping the bytes of those that are not
        const out: SysName[] = [];
        const u8 = k.mem();
        for (let o = k.xfer; o <= end;) {
          const e = u8.indexOf(0, o);
          const stop = e < 0 || e > end ? end : e;
          out.push(k.name(o, stop));
          o = stop + 1;
        }
        return out;
      },
      getdents(fd) {
        const out: DirentRecord[] = [];
        for (;;) {
          const r: number = k.call("sys_getdents", C(), fd, k.xfer, k.xferSize);
          if (r < 0) return r;
          if (r === 0) return out;
          const dv = k.view();
          const u8 = k.mem();
          let o = k.xfer;
          const end = k.xfer + r;
          while (o < end) {
            const reclen = dv.getUint16(o + 16, true);
            const type = dv.getUint8(o + 18);
            let e = o + 19;
            let ascii = true;
            while (u8[e] !== 0) { if (u8[e] > 0x7f) ascii = false; e++; }
            // ASCII names (the common case) skip TextDecoder's per-call overhead
            const name = ascii ? k.latin1(o + 19, e) : k.name(o + 19, e);
            // "." and ".." are the records at d_off 1 and 2 (the kernel's positions 0..2); an
            // entry stored on disk under such a name has a key-based d_off and is passed on
            // for the caller to refuse (names are input), never hidden
            if (dv.getUint32(o + 12, true) !== 0 || dv.getUint32(o + 8, true) > 2) out.push({ name, ino: Number(dv.getBigUint64(o, true)), type });
            o += reclen;
          }
        }
      },
      chmod: (p, mode) => withPath(p, (a, l) => k.call("sys_chmod", C(), a, l, mode >>> 0)),
      chown: (p, uid, gid) => withPath(p, (a, l) => k.call("sys_chown", C(), a, l, uid >>> 0, gid >>> 0)),
      lchown: (p, uid, gid) => withPath(p, (a, l) => k.call("sys_lchown", C(), a, l, uid >>> 0, gid >>> 0)),
      fchmod: (fd, mode) => k.call("sys_fchmod", C(), fd, mode >>> 0),
      fchown: (fd, uid, gid) => k.call("sys_fchown", C(), fd, uid >>> 0, gid >>> 0),
      futimens: (fd, at, mt) => k.call("sys_futimens", C(), fd, utimeArg(at), utimeArg(mt)),
      access: (p, mode) => withPath(p, (a, l) => k.call("sys_access", C(), a, l, mode >>> 0)),
      utimens(p, at, mt, noFollow) {
        return withPath(p, (a, l) => k.call("sys_utimensat", C(), a, l, utimeArg(at), utimeArg(mt), noFollow ? 0x100 : 0));
      },
      mknod: (p, mode, rdev) => withPath(p, (a, l) => k.call("sys_mknod", C(), a, l, mode >>> 0, BigInt.asUintN(64, BigInt(rdev)))),
      setxattr(p, name, value, flags, noFollow) {
        if (value.length > XATTR_SIZE_MAX) return -E2BIG; // checked here: it may exceed the transfer buffer
        return withPath(p, (a, l) => {
          const np = k.putXattrName(name);
          if (np < 0) return np;
          k.mem().set(value, k.xfer);
          return k.call("sys_setxattr", C(), a, l, np, k.xfer, value.length, flags >>> 0, noFollow ? AT_SYMLINK_NOFOLLOW : 0);
        });
      },
      getxattr(p, name, noFollow): Uint8Array | number {
        const r = withPath(p, (a, l) => {
          const np = k.putXattrName(name);
          return np < 0 ? np : k.call("sys_getxattr", C(), a, l, np, k.xfer, XATTR_SIZE_MAX, noFollow ? AT_SYMLINK_NOFOLLOW : 0);
        });
        return r < 0 ? r : k.mem().slice(k.xfer, k.xfer + r);
      },
      listxattr(p, noFollow): SysName[] | number {
        const r = withPath(p, (a, l) => k.call("sys_listxattr", C(), a, l, k.xfer, XATTR_SIZE_MAX, noFollow ? AT_SYMLINK_NOFOLLOW : 0));
        if (r <= 0) return r < 0 ? r : [];
        // names are bytes: each one NUL-terminated, decoded as UTF-8 where it is
        const out: SysName[] = [];
        const u8 = k.mem();
        for (let o = k.xfer, end = k.xfer + r; o < end;) {
          const e = u8.indexOf(0, o);
          const stop = e < 0 || e > end ? end : e;
          out.push(k.name(o, stop));
          o = stop + 1;
        }
        return out;
      },
      removexattr(p, name, noFollow) {
        return withPath(p, (a, l) => {
          const np = k.putXattrName(name);
          return np < 0 ? np : k.call("sys_removexattr", C(), a, l, np, noFollow ? AT_SYMLINK_NOFOLLOW : 0);
        });
      },
      statfs(p): StatfsRecord | number {
        const r = withPath(p, (a, l) => k.call("sys_statfs", C(), a, l, A() + ARG_OUT));
        if (r < 0) return r;
        const dv = k.view();
        const o = A() + ARG_OUT;
        const g = (i: number) => Number(dv.getBigUint64(o + 8 * i, true));
        return { type: g(0), bsize: g(1), blocks: g(2), bfree: g(3), bavail: g(4), files: g(5), ffree: g(6), namelen: g(7) };
      },
    };
  }

  /**
   * Formats the device (mkfs); the root directory is owned by the boot credentials' uid and
   * gid (mke2fs root_owner), or by `owner`. Throws KernelError with a one-line message on failure.
   */
  mkfs(label = "helixfs", owner: Cred = this.bootCred): void {
    const l = this.putPath(label.slice(0, 63), ARG_PATH1);
    const r = this.call("sys_mkfs", this.credPtr(owner), this.args, l);
    if (r < 0) {
      const why = r === -28 ? "device too small (HelixFS needs at least 2 MiB)" : r === -22 ? "device too large" : errnoName(-r);
      throw new KernelError(errnoName(-r), `mkfs failed: ${why}`, -r);
    }
  }

  /** Gives the kernel the identity it writes into MMP blocks (call before mkfs/mount). */
  setIdentity(id: MmpIdentity): void {
    const nl = this.putPath(id.node.slice(0, 64), ARG_PATH1);
    const pl = this.putPath(id.program.slice(0, 32), ARG_PATH2);
    this.call("kernel_mmp_identity", Math.max(nl, 0), Math.max(pl, 0), id.pid >>> 0, id.exclusive ? 1 : 0, id.mmpInterval ?? 0);
  }

  /** The MMP record the kernel read last (the holder a refused mount met), or null. */
  mmpHolder(): MmpHolder | null {
    const o = this.args + ARG_OUT;
    if (this.call("kernel_mmp_holder", o) === 0) return null;
    const dv = this.view();
    const str = (at: number, max: number): string => {
      const b = this.mem().subarray(o + at, o + at + max);
      const end = b.indexOf(0);
      return this.dec.decode(end < 0 ? b : b.subarray(0, end));
    };
    return {
      seq: dv.getUint32(o + 32, true), interval: dv.getUint32(o + 36, true),
      timeMs: Number(dv.getBigInt64(o + 40, true) / 1_000_000n), mountTimeMs: Number(dv.getBigInt64(o + 48, true) / 1_000_000n),
      pid: dv.getUint32(o + 56, true), hostLocked: (dv.getUint32(o + 60, true) & 1) !== 0,
      node: str(64, 64), program: str(128, 32),
    };
  }

  /**
   * Who holds the image, read from its MMP block without writing anything (for an image whose
   * host lock is taken): the holder, null when the image has no MMP block, or "unknown" when
   * the block is clean, damaged or the superblock unreadable (a holder that has just taken the
   * lock is writing it: ask again).
   */
  probeHolder(): MmpHolder | null | "unknown" {
    const r = this.call("kernel_mmp_probe");
    return r === 1 ? this.mmpHolder() : r === 0 ? null : "unknown";
  }

  /** Starts the MMP heartbeat after a mount (a timer that never keeps the process alive). */
  private startMmpTimer(): void {
    this.stopMmpTimer();
    if (!this.mmpHeartbeat) return;
    const ms: number = this.call("sys_mmp_tick");
    if (ms <= 0) return;
    // the timer holds the kernel weakly: a kernel dropped without shutdown can still be freed
    const self = new WeakRef<Kernel>(this);
    // twice per interval: a late timer still updates the block well inside a watcher's wait
    const timer = setInterval(() => {
      const k = self.deref();
      if (k === undefined) { clearInterval(timer); return; }
      k.beat();
    }, Math.max(1, Math.floor(ms / 2)));
    (timer as { unref?: () => void }).unref?.();
    this.mmpTimer = timer;
  }
  /** One heartbeat from the timer; stops it when the claim is lost (logged) or the kernel died. */
  private beat(): void {
    if (this.dead !== null || !this.mounted) { this.stopMmpTimer(); return; }
    try {
      if (this.call("sys_mmp_tick") === -EBUSY) this.stopMmpTimer(); // lost (logged); an I/O error retries

    } catch { this.stopMmpTimer(); }
  }
  private stopMmpTimer(): void {
    if (this.mmpTimer !== null) { clearInterval(this.mmpTimer); this.mmpTimer = null; }
  }

  /**
   * Mounts the filesystem (journal replay). Throws KernelError with the reason on failure;
   * EBUSY with "in use by pid P on host H (program, since T)" when multiple-mount protection
   * finds another holder.
   */
  mount(): void {
    if (this.snapshotName !== null) this.nameMountSnapshot(this.snapshotName);
    const r = this.call("sys_mount", this.mountFlags);
    if (r < 0) {
      const reason = this.x.sys_mount_reason() as number;
      if (reason === MR_MMP_BUSY) throw new KernelError("EBUSY", describeHolder(this.mmpHolder()), EBUSY);
      if (this.snapshotName !== null && reason === MR_NO_SNAPSHOT) throw new KernelError("ENOENT", `mount failed: no snapshot named '${this.snapshotName}'`, ENOENT);
      const why = reason > 0 && MOUNT_REASONS[reason] ? MOUNT_REASONS[reason] : `${errnoName(-r)} while mounting`;
      throw new KernelError(errnoName(-r), `mount failed: ${why}`, -r);
    }
    this.mounted = true;
    this.startMmpTimer();
    // a background delete cut short by an unmount or a crash goes on where it stopped
    this.kickSnapshotWorker();
  }

  /** Syncs, then drops every clean page and buffer from the kernel's caches (drop_caches). */
  dropCaches(): void {
    const r = this.call("sys_drop_caches");
    if (r < 0) throw new KernelError(errnoName(-r), `drop_caches failed: ${errnoName(-r)}`, -r);
  }

  /**
   * Unmounts (cleanly when possible), attaches `device` in place of the current one (which
   * is closed) and mounts it: one kernel checks many images (crash states) without a new
   * instance per image. Throws KernelError when the new mount fails (the kernel stays usable).
   */
  remount(device: BlockBackend): void {
    this.stopMmpTimer();
    this.stopSnapshotWorker();
    this.snapshots.closeAll();
    if (this.mounted) {
      this.mounted = false;
      const r = this.call("sys_umount");
      if (r < 0 && r !== -5 /* EIO: an aborted journal */) throw new KernelError(errnoName(-r), `unmount failed: ${errnoName(-r)}`, -r);
    }
    this.backend.close();
    (this as { backend: BlockBackend }).backend = device;
    const p = this.call("virtio_blk_probe", 0, BigInt(Math.floor(device.sizeBytes / 512)), QUEUE_SIZE);
    if (p < 0) throw new KernelError(errnoName(-p), `virtio-blk probe failed: ${errnoName(-p)}`, -p);
    const dv = this.view();
    const dev = new VirtioBlkDevice(device, () => this.x.memory.buffer, QUEUE_SIZE);
    dev.setQueue(dv.getUint32(this.args + ARG_OUT, true), dv.getUint32(this.args + ARG_OUT + 4, true), dv.getUint32(this.args + ARG_OUT + 8, true));
    (this as { device: VirtioBlkDevice }).device = dev;
    this.logLines.length = 0;
    this.mount();
  }

  /**
   * Clears the error state recorded in the superblock after a metadata error, once fsck on
   * this (read-only) mount found nothing; the next mount is read-write. Throws KernelError
   * (EINVAL) when no error state is recorded.
   */
  clearErrors(): void {
    const r = this.call("sys_clear_errors");
    if (r < 0) throw new KernelError(errnoName(-r), `clearing the error state failed: ${errnoName(-r)}`, -r);
  }

  /**
   * Runs fsck on the mounted filesystem; returns the number of problems found (lines in the
   * log starting with "fsck: "). `flags`: true (verbose), false (quiet) or FSCK_* bits; with
   * FSCK_PREEN/FSCK_YES it also repairs (see fs/fsck.ts) and fsckStats() says what it did.
   */
  fsck(flags: boolean | number = true): number {
    const r = this.call("sys_fsck", flags === true ? FSCK_VERBOSE : flags === false ? 0 : flags);
    if (r < 0) throw new KernelError(errnoName(-r), `fsck could not run: ${errnoName(-r)}`, -r);
    return r;
  }

  /**
   * The kernel's data-block checksum (XXH32, `seed` u32) of `data`, computed in the kernel
   * (lib/xxhash.ts); at most the transfer buffer's size (RangeError beyond). For tools that
   * check blocks on an image and for tests against a reference implementation.
   */
  checksum(data: Uint8Array, seed = 0): number {
    if (data.length > this.xferSize) throw new RangeError(`checksum: ${data.length} bytes exceed the ${this.xferSize}-byte transfer buffer`);
    this.mem().set(data, this.xfer);
    return this.call("kernel_xxh32", data.length, seed >>> 0) >>> 0;
  }

  /** fsck statistics of the last run. */
  fsckStats(): FsckStats {
    this.call("kernel_fsck_stats", this.args + ARG_OUT);
    const dv = this.view();
    const g = (i: number) => Number(dv.getBigUint64(this.args + ARG_OUT + 8 * i, true));
    return {
      nodes: g(0), inodes: g(1), dirents: g(2), extents: g(3), freeExtents: g(4), usedBlocks: g(5),
      fixed: g(6), unfixed: g(7), dataBlocks: g(8), mountPrevState: g(9), mountDroppedLog: g(10) !== 0, journalSbRepaired: g(11),
    };
  }

  /** Every kernel counter (kernel_info). */
  info(): KernelInfo {
    const n = this.call("kernel_info", this.args + ARG_OUT);
    const dv = this.view();
    const out = {} as KernelInfo;
    INFO_FIELDS.forEach((f, i) => { if (i < n) out[f] = Number(dv.getBigUint64(this.args + ARG_OUT + 8 * i, true)); });
    return out;
  }

  /** The volume label of the mounted filesystem (mkfs --label). Throws KernelError on a read error. */
  label(): string {
    const n = this.call("kernel_label", this.args + ARG_OUT);
    if (n < 0) throw new KernelError(errnoName(-n), `reading the label failed: ${errnoName(-n)}`, -n);
    return new TextDecoder().decode(this.mem().subarray(this.args + ARG_OUT, this.args + ARG_OUT + n));
  }

  /** Per-tree statistics. */
  treeInfo(tree: number): { nodes: number; leaves: number; items: number; bytes: number; height: number; fillPermille: number } {
    this.call("kernel_tree_info", tree, this.args + ARG_OUT);
    const dv = this.view();
    const g = (i: number) => Number(dv.getBigUint64(this.args + ARG_OUT + 8 * i, true));
    return { nodes: g(0), leaves: g(1), items: g(2), bytes: g(3), height: g(4), fillPermille: g(5) };
  }

  /** Free extents by floor(log2(length in blocks)). */
  freeHistogram(): number[] {
    this.call("kernel_free_histogram", this.args + ARG_OUT);
    const dv = this.view();
    return Array.from({ length: 32 }, (_, i) => Number(dv.getBigUint64(this.args + ARG_OUT + 8 * i, true)));
  }

  /** Slab caches: name, object size, active and total objects, slabs, pages. */
  slabInfo(): { name: string; objsize: number; active: number; total: number; slabs: number; pages: number }[] {
    const n: number = this.call("kernel_slab_count");
    const out = [];
    for (let i = 0; i < n; i++) {
      const len: number = this.call("kernel_slab_info", i, this.args + ARG_OUT);
      const dv = this.view();
      const o = this.args + ARG_OUT;
      out.push({
        name: this.dec.decode(this.mem().subarray(o, o + len)), objsize: dv.getUint32(o + 32, true),
        active: dv.getUint32(o + 36, true), total: dv.getUint32(o + 40, true), slabs: dv.getUint32(o + 44, true), pages: dv.getUint32(o + 48, true),
      });
    }
    return out;
  }

  /** Buddy allocator: free blocks and fragmentation index (per mille) for orders 0..10. */
  mmInfo(): { freeBlocks: number[]; fragIndex: number[] } {
    this.call("kernel_mm_info", this.args + ARG_OUT);
    const dv = this.view();
    const o = this.args + ARG_OUT;
    return {
      freeBlocks: Array.from({ length: 11 }, (_, i) => dv.getUint32(o + 4 * i, true)),
      fragIndex: Array.from({ length: 11 }, (_, i) => dv.getInt32(o + 44 + 4 * i, true)),
    };
  }

  // ---- live views (issue 11): one export call per view per sample ----------------------------
  // Each reads the kernel's own structures in one crossing and copies the result out of the
  // argument area or transfer buffer; a negative return becomes a KernelError naming the errno.
  // Cost per call at 256 MiB with 10,000 files: see test/views.test.ts ("cost" test).

  /** Throws KernelError for a negative export result `r` of view `what`; returns r otherwise. */
  private viewResult(r: number, what: string): number {
    if (r < 0) throw new KernelError(errnoName(-r), `${what} failed: ${errnoName(-r)}`, -r);
    return r;
  }

  /**
   * The frame map: one owner byte per 4 KiB frame of physical memory, pfn 0 (the frame at
   * freeAreas().physBase) first; codes in FRAME_OWNERS (free by migratetype, per-CPU free,
   * frame table, kernel buffers, page cache clean/dirty, buffers clean/running/checkpoint,
   * FRAME_SLAB + kmem_cache index = slabTable()[index]). A copy, nr_frames bytes long.
   */
  frameMap(): Uint8Array {
    const n = this.viewResult(this.call("kernel_frame_map", this.xfer, this.xferSize), "frame map");
    return this.mem().slice(this.xfer, this.xfer + n);
  }

  /**
   * Buddy free lists by order and migratetype (Linux /proc/pagetypeinfo): `blocks[order][mt]`
   * free blocks of 2^order frames (mt: FRAME_MIGRATETYPES), `pcp[mt]` frames on the per-CPU
   * lists, `pageblocks[mt]` 4 MiB pageblocks of each type; frame counts and physBase (byte
   * address of pfn 0; below it lie the kernel image and static data).
   */
  freeAreas(): { physBase: number; frames: number; maxFrames: number; reservedFrames: number; freeFrames: number; blocks: number[][]; pcp: number[]; pageblocks: number[] } {
    this.viewResult(this.call("kernel_mm_free_areas", this.args + ARG_OUT), "free areas");
    const dv = this.view();
    const o = this.args + ARG_OUT;
    const u = (i: number) => dv.getUint32(o + 4 * i, true);
    const orders = u(5), mts = u(6);
    const blocks = Array.from({ length: orders }, (_, ord) => Array.from({ length: mts }, (_, mt) => u(8 + ord * mts + mt)));
    const at = 8 + orders * mts;
    return {
      physBase: u(0), frames: u(1), maxFrames: u(2), reservedFrames: u(3), freeFrames: u(4), blocks,
      pcp: Array.from({ length: mts }, (_, mt) => u(at + mt)), pageblocks: Array.from({ length: mts }, (_, mt) => u(at + mts + mt)),
    };
  }

  /**
   * /proc/slabinfo in one call: per kmem_cache (index = its frame-map code - FRAME_SLAB):
   * object size and stride in bytes, objects per slab, slab order, objects active (held by
   * callers) and total, objects cached in the per-CPU arrays, slabs partial/full/free,
   * frames, per-CPU array limit and batchcount.
   */
  slabTable(): SlabStats[] {
    const n = this.viewResult(this.call("kernel_slab_table", this.xfer, this.xferSize), "slab table");
    const dv = this.view();
    const out: SlabStats[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.xfer + 96 * i;
      const u = (k: number) => dv.getUint32(r + 32 + 4 * k, true);
      const name = this.mem().subarray(r, r + 32);
      const len = name.indexOf(0) < 0 ? 32 : name.indexOf(0);
      out.push({
        name: this.dec.decode(name.subarray(0, len)), objsize: u(0), stride: u(1), objsPerSlab: u(2), order: u(3),
        active: u(4), total: u(5), cpuCached: u(6), slabsPartial: u(7), slabsFull: u(8), slabsFree: u(9), pages: u(10),
        limit: u(11), batchcount: u(12),
      });
    }
    return out;
  }

  /**
   * Tree `tree` (0..4, TREE_NAMES) level by level, root first: nodes, items, used bytes and
   * fill (used / (nodes * 4032), 0..1). Visits every node. KernelError EINVAL for a bad
   * tree, EUCLEAN for a damaged one.
   */
  treeLevels(tree: number): { nodes: number; items: number; bytes: number; fill: number }[] {
    const h = this.viewResult(this.call("kernel_tree_levels", tree >>> 0, this.args + ARG_OUT), "tree levels");
    const dv = this.view();
    return Array.from({ length: h }, (_, d) => {
      const g = (k: number) => Number(dv.getBigUint64(this.args + ARG_OUT + 24 * d + 8 * k, true));
      return { nodes: g(0), items: g(1), bytes: g(2), fill: g(0) === 0 ? 0 : g(2) / (g(0) * NODE_CAPACITY) };
    });
  }

  /**
   * The node of tree `tree` reached from the root by child indices `path` (one per level,
   * [] = the root): its block, level (0 = leaf), item count, sibling links (leaves), used
   * bytes, and its first `max` (<= NODE_KEYS_MAX) keys (k1, k2 as bigint) with the child
   * block (internal) or value length in bytes (leaf). A page walks the tree top-down by
   * appending an index. KernelError EINVAL for a bad tree, a path longer than the tree or an
   * index past its node's items.
   */
  treeNode(tree: number, path: number[] = [], max = NODE_KEYS_MAX): TreeNodeView {
    if (path.length > 8) throw new KernelError("EINVAL", `tree node failed: EINVAL (path of ${path.length} levels)`, EINVAL);
    const dv = this.view();
    path.forEach((ix, d) => dv.setUint16(this.args + ARG_PATH1 + 2 * d, ix, true));
    const n = this.viewResult(this.call("kernel_tree_node", tree >>> 0, this.args + ARG_PATH1, path.length, this.args + ARG_OUT, max >>> 0), "tree node");
    return this.readNode(n);
  }

  /**
   * Node `index` (0 = leftmost; treeLevels()[depth].nodes of them) at `depth` (0 = the root)
   * of tree `tree`, as treeNode shows it: a page can pick any node of a level without its
   * path. Walks the internal levels above it. KernelError EINVAL for a bad tree, depth or index.
   */
  treeNodeAt(tree: number, depth: number, index: number, max = NODE_KEYS_MAX): TreeNodeView {
    const n = this.viewResult(this.call("kernel_tree_node_at", tree >>> 0, depth >>> 0, index >>> 0, this.args + ARG_OUT, max >>> 0), "tree node");
    return this.readNode(n);
  }

  /** Decodes the node kernel_tree_node(_at) wrote with `n` items listed. */
  private readNode(n: number): TreeNodeView {
    const v = this.view();
    const o = this.args + ARG_OUT;
    const level = v.getUint32(o + 8, true);
    const keys = Array.from({ length: n }, (_, i) => {
      const q = o + 40 + 24 * i;
      const x = Number(v.getBigUint64(q + 16, true));
      return { k1: v.getBigUint64(q, true), k2: v.getBigUint64(q + 8, true), child: level > 0 ? x : 0, valueLength: level > 0 ? 0 : x };
    });
    return {
      blk: Number(v.getBigUint64(o, true)), level, nitems: v.getUint32(o + 12, true), next: Number(v.getBigUint64(o + 16, true)),
      prev: Number(v.getBigUint64(o + 24, true)), usedBytes: v.getUint32(o + 32, true), keys,
    };
  }

  /**
   * The journal ring (blocks relative to the journal's start; block 0 is its superblock):
   * tail..head holds the transactions committed since the last checkpoint (`committed`, the
   * last 64 listed with their tid, first block, log blocks incl. the commit block, buffers,
   * revokes; `committedCount` counts them all); the running transaction's tid, buffers,
   * revokes, log blocks it will need and start (ms since the epoch, 0 when empty); buffers
   * awaiting checkpoint; cumulative commits, checkpoints, logged and absorbed blocks,
   * revokes. No transaction is ever mid-commit between calls (a commit runs inside one).
   */
  journalView(): JournalView {
    const n = this.viewResult(this.call("kernel_journal_view", this.xfer), "journal view");
    const dv = this.view();
    const g = (i: number) => Number(dv.getBigUint64(this.xfer + 8 * i, true));
    const committed = Array.from({ length: n }, (_, i) => {
      const b = 18 + 5 * i;
      return { tid: g(b), start: g(b + 1), blocks: g(b + 2), buffers: g(b + 3), revokes: g(b + 4) };
    });
    return {
      start: g(0), size: g(1), tail: g(2), head: g(3), runningTid: g(4), runningBuffers: g(5), runningRevokes: g(6),
      runningLogBlocks: g(7), runningSinceMs: Math.floor(g(8) / 1e6), checkpointBuffers: g(9), committedCount: g(10),
      commits: g(11), checkpoints: g(12), loggedBlocks: g(13), absorbed: g(14), revokes: g(15), aborted: g(16) !== 0, committed,
    };
  }

  /**
   * A file's extent map (by inode number or path), starting with the extent that holds file
   * block `from`: (file block, disk block, length in 4 KiB blocks, flags) in file order, at
   * most `max` (<= EXTMAP_MAX; `more` says extents follow: call again from the last one's
   * end). Also the size in bytes, whether the data is inline (no extents), and dirty cached
   * pages not yet written back (not in any extent yet). KernelError ENOENT: no such file.
   */
  extentMap(file: number | string, from = 0, max = EXTMAP_MAX): ExtentMapView {
    let ino = file;
    if (typeof ino === "string") {
      const st = this.statPath("sys_stat", ROOT_CRED, ino);
      if (typeof st === "number") this.viewResult(st, "extent map");
      ino = (st as StatRecord).ino;
    }
    this.viewResult(this.call("kernel_extent_map", BigInt(ino), BigInt(from), this.xfer, max >>> 0), "extent map");
    const dv = this.view();
    const o = this.xfer;
    const listed = dv.getUint32(o + 12, true);
    const extents = Array.from({ length: listed }, (_, i) => {
      const q = o + 24 + 24 * i;
      return { fileBlock: Number(dv.getBigUint64(q, true)), diskBlock: Number(dv.getBigUint64(q + 8, true)), length: dv.getUint32(q + 16, true), flags: dv.getUint32(q + 20, true) };
    });
    return { size: Number(dv.getBigUint64(o, true)), inline: (dv.getUint32(o + 8, true) & 1) !== 0, dirtyPages: dv.getUint32(o + 16, true), more: dv.getUint32(o + 20, true) !== 0, extents };
  }

  /**
   * The disk's free space as one strip of at most `buckets` (1..FREEMAP_BUCKETS_MAX) equal
   * runs of `blocksPerBucket` blocks (the last may be shorter): free blocks per run and
   * `fraction` free (0..1), from the free-space tree; totals in blocks. KernelError EINVAL
   * for a bucket count out of range.
   */
  freeMap(buckets = 256): { totalBlocks: number; blocksPerBucket: number; freeBlocks: number; free: Uint32Array; fraction: Float64Array } {
    const n = this.viewResult(this.call("kernel_free_map", this.xfer, buckets >>> 0), "free map");
    const dv = this.view();
    const total = Number(dv.getBigUint64(this.xfer, true));
    const per = Number(dv.getBigUint64(this.xfer + 8, true));
    const free = new Uint32Array(this.mem().slice(this.xfer + 32, this.xfer + 32 + 4 * n).buffer);
    const fraction = new Float64Array(n);
    for (let b = 0; b < n; b++) fraction[b] = free[b] / Math.min(per, total - b * per);
    return { totalBlocks: total, blocksPerBucket: per, freeBlocks: Number(dv.getBigUint64(this.xfer + 24, true)), free, fraction };
  }

  // ---- snapshots (issue 14; SNAPSHOT_ABI, docs/abi.md): one export call each -----------------
  // The typed wrappers Snapshots (host/vmm/snapshots.ts, `kernel.snapshots`) is built on.
  // Names go through the argument area (ARG_PATH1, ARG_PATH2); records come back in the
  // transfer buffer. A negative result becomes KernelError naming the errno and the cause.

  /** True when the loaded kernel exports the snapshot calls (an older build does not). */
  get hasSnapshots(): boolean { return typeof this.x.sys_snapshot_create === "function"; }

  /** Throws KernelError EOPNOTSUPP when the kernel build lacks export `fn` (the snapshot calls). */
  private needSnapshots(what: string, fn = "sys_snapshot_create"): void {
    if (typeof this.x[fn] !== "function") throw new KernelError("EOPNOTSUPP", `${what} failed: EOPNOTSUPP (this kernel build has no snapshots: rebuild it)`, 95);
  }

  /** Writes snapshot name `name` at `at` of the argument area; returns its byte length (EINVAL when too long). */
  private putSnapName(name: string, at: number, what: string): number {
    const l = this.putPath(name, at);
    if (l < 0 || l > SNAPSHOT_NAME_MAX) throw new KernelError("EINVAL", `${what} failed: EINVAL (the name is longer than ${SNAPSHOT_NAME_MAX} bytes)`, EINVAL);
    return l;
  }

  /** KernelError for snapshot call result `r` < 0, with the cause SNAPSHOT_ABI gives that errno for `op`. */
  private snapError(r: number, op: "create" | "delete" | "rollback" | "diff" | "list" | "work" | "mount", what: string, name: string): KernelError {
    const e = errnoName(-r);
    const causes: Record<string, string> = {
      ENOENT: `no snapshot named '${name}'`,
      EEXIST: `a snapshot named '${name}' exists`,
      EINVAL: op === "rollback" ? `'${name}' is a clone (roll back to a snapshot)` : "bad name: 1..255 bytes, no '/' or NUL, not '.' or '..'",
      EROFS: "the filesystem is mounted read-only",
      ENOSPC: "no space left, or the filesystem holds the most snapshots it can (256)",
      EOPNOTSUPP: "the mounted filesystem is a clone (snapshot the main filesystem)",
      EBUSY: op === "rollback" ? "files are open, or the mounted filesystem is a clone" : `'${name}' is the origin of a clone, or the mounted filesystem`,
      ENOTEMPTY: `newer snapshots than '${name}' exist: delete them first`,
      ERANGE: "more changes than one transfer buffer holds",
    };
    return new KernelError(e, `${what} failed: ${e}${causes[e] ? ` (${causes[e]})` : ""}`, -r);
  }

  /**
   * sys_snapshot_create: snapshot `name` of the live filesystem (flags SNAP_WRITABLE = 1: a
   * writable clone, with its origin `<name>@origin`). Returns the new id (> 0). KernelError
   * EINVAL, EEXIST, EROFS, ENOSPC, EOPNOTSUPP (see Snapshots.create).
   */
  snapshotCreate(name: string, flags: number): number {
    const what = `snapshot create '${name}'`;
    this.needSnapshots(what);
    const l = this.putSnapName(name, ARG_PATH1, what);
    const r = this.call("sys_snapshot_create", this.args + ARG_PATH1, l, flags >>> 0);
    const id = Number(r); // i64: a BigInt
    if (id < 0) throw this.snapError(id, "create", what, name);
    return id;
  }

  /** sys_snapshot_list: at most `cap` (<= SNAPSHOT_MAX) snapshots in creation order, deleting ones included (flag). */
  snapshotList(cap = SNAPSHOT_MAX): SnapshotInfo[] {
    this.needSnapshots("snapshot list");
    const n: number = this.call("sys_snapshot_list", this.xfer, Math.min(cap, Math.floor(this.xferSize / SNAPINFO_BYTES)) >>> 0);
    if (n < 0) throw this.snapError(n, "list", "snapshot list", "");
    return decodeSnapInfo(this.view(), this.xfer, n);
  }

  /** sys_snapshot_delete: marks `name` deleting and queues the background free. KernelError ENOENT, EBUSY, EROFS. */
  snapshotDelete(name: string): void {
    const what = `snapshot delete '${name}'`;
    this.needSnapshots(what);
    const l = this.putSnapName(name, ARG_PATH1, what);
    const r: number = this.call("sys_snapshot_delete", this.args + ARG_PATH1, l);
    if (r < 0) throw this.snapError(r, "delete", what, name);
  }

  /**
   * sys_snapshot_work: does at most `budget` units of background work (dead-list entries or
   * tree nodes); returns the units still pending (0 = idle). 0 without snapshot support.
   */
  snapshotWork(budget: number): number {
    if (!this.hasSnapshots || !this.mounted) return 0;
    const r: number = this.call("sys_snapshot_work", budget >>> 0);
    if (r < 0) throw this.snapError(r, "work", "snapshot work", "");
    return r;
  }

  /** sys_snapshot_rollback: the live filesystem becomes snapshot `name`. KernelError ENOENT, EBUSY, ENOTEMPTY, EINVAL, EROFS. */
  snapshotRollback(name: string): void {
    const what = `snapshot rollback '${name}'`;
    this.needSnapshots(what);
    const l = this.putSnapName(name, ARG_PATH1, what);
    const r: number = this.call("sys_snapshot_rollback", this.args + ARG_PATH1, l);
    if (r < 0) throw this.snapError(r, "rollback", what, name);
  }

  /**
   * sys_snapshot_diff from snapshot `a` to snapshot `b` (null: the live filesystem), with the
   * nodes the walk read (kernel_snapshot_diff_nodes) and the two trees' nodes
   * (kernel_snapshot_diff_total). KernelError ENOENT (naming the missing one), ERANGE when
   * the changes exceed the transfer buffer (1 MiB).
   */
  snapshotDiff(a: string | null, b: string | null): SnapshotDiff {
    const what = `snapshot diff '${a ?? "live"}' '${b ?? "live"}'`;
    this.needSnapshots(what, "sys_snapshot_diff");
    const la = a === null ? 0 : this.putSnapName(a, ARG_PATH1, what);
    const lb = b === null ? 0 : this.putSnapName(b, ARG_PATH2, what);
    const r: number = this.call("sys_snapshot_diff", this.args + ARG_PATH1, la, this.args + ARG_PATH2, lb, this.xfer, this.xferSize);
    if (r < 0) {
      const names = new Set(this.snapshotList().filter((s) => !s.deleting).map((s) => s.name));
      const missing = [a, b].find((n) => n !== null && !names.has(n)) ?? a ?? "";
      throw this.snapError(r, "diff", what, missing);
    }
    const nodes = Number(this.call("kernel_snapshot_diff_nodes"));
    const total = Number(this.call("kernel_snapshot_diff_total"));
    return decodeDiff(this.view(), this.xfer, r, nodes, total);
  }

  /** Names the snapshot or clone the next sys_mount mounts (sys_mount_snapshot). */
  private nameMountSnapshot(name: string): void {
    const what = `mount of snapshot '${name}'`;
    this.needSnapshots(what);
    const l = this.putSnapName(name, ARG_PATH1, what);
    const r: number = this.call("sys_mount_snapshot", this.args + ARG_PATH1, l);
    if (r < 0) throw this.snapError(r, "mount", what, name);
  }

  /** sync(2) for Snapshots.open: commit and checkpoint. KernelError on failure. */
  syncAll(): void {
    const r: number = this.call("sys_sync");
    if (r < 0) throw new KernelError(errnoName(-r), `sync failed: ${errnoName(-r)}`, -r);
  }

  /** Free 4 KiB blocks (kernel_info freeBlocks). */
  freeBlocks(): number { return this.info().freeBlocks; }

  /**
   * A second kernel of `memoryMiB` on a ReadOnlyBackend window of this kernel's device,
   * mounted on snapshot `name` with MNT_RDONLY | MNT_NORECOVERY (nothing written, no
   * journal replay, no MMP), with this kernel's module and boot credentials. Call syncAll()
   * first. KernelError when the mount fails (ENOENT: no such snapshot).
   */
  bootSnapshotView(name: string, memoryMiB: number): ViewKernel {
    const o = this.bootOpts;
    return bootWith({
      device: new ReadOnlyBackend(this.backend), module: o.module, memoryMiB, cpus: 1, snapshot: name, norecovery: true,
      cred: this.bootCred, sleep: o.sleep, identity: { node: "localhost", pid: 0, program: "helixfs snapshot view", exclusive: false },
    });
  }

  /**
   * Runs the snapshot idle worker while background work is pending: sys_snapshot_work with
   * SNAPSHOT_WORK_TICK_BUDGET units every SNAPSHOT_WORK_INTERVAL_MS, stopping at 0 (like the
   * commit timer of host/web/system.ts, never keeping the process alive). A no-op when
   * nothing is pending, the mount is read-only, or the kernel has no snapshots.
   */
  kickSnapshotWorker(): void {
    if (this.snapTimer !== null || !this.hasSnapshots || !this.mounted || this.dead !== null) return;
    let pending: number;
    try { pending = this.call("sys_snapshot_work", 0); } catch { return; }
    if (pending <= 0) return;
    const self = new WeakRef<Kernel>(this);
    const timer = setInterval(() => {
      const k = self.deref();
      if (k === undefined) { clearInterval(timer); return; }
      k.snapshotTick();
    }, SNAPSHOT_WORK_INTERVAL_MS);
    (timer as { unref?: () => void }).unref?.();
    this.snapTimer = timer;
  }

  /** One idle-worker run; stops the timer at 0 pending, on an error (logged by the kernel) or a dead kernel. */
  private snapshotTick(): void {
    if (this.dead !== null || !this.mounted) { this.stopSnapshotWorker(); return; }
    try {
      if (this.call("sys_snapshot_work", SNAPSHOT_WORK_TICK_BUDGET) <= 0) this.stopSnapshotWorker();
    } catch { this.stopSnapshotWorker(); }
  }

  private stopSnapshotWorker(): void {
    if (this.snapTimer !== null) { clearInterval(this.snapTimer); this.snapTimer = null; }
  }

  /** True while the snapshot idle worker's timer runs. */
  get snapshotWorkerRunning(): boolean { return this.snapTimer !== null; }

  /** Raw export access for benchmarks and tools (no error mapping), up to 5 arguments. */
  callExport(name: string, ...a: unknown[]): any {
    if (a.length > 5) throw new RangeError(`callExport: ${name} takes at most 5 arguments here, got ${a.length}`);
    return this.call(name, ...a);
  }

  /** Unmounts cleanly (commit, checkpoint, state clean) and releases the device. */
  shutdown(): void {
    this.stopMmpTimer();
    this.stopSnapshotWorker();
    // views read this kernel's device, which closes below
    this.snapshots.closeAll();
    try {
      if (this.mounted && this.dead === null) {
        const r = this.call("sys_umount");
        this.mounted = false;
        if (r < 0) throw new KernelError(errnoName(-r), `unmount failed: ${errnoName(-r)}`, -r);
      }
    } finally {
      this.backend.close();
      memoryHook?.();
    }
  }

  /** True after a panic. */
  get isDead(): boolean { return this.dead !== null; }
}

/** A utimens time for the kernel: UTIME_NOW / UTIME_OMIT (Linux's ns values) become -1 / -2. */
function utimeArg(t: bigint): bigint {
  return t === BigInt((1 << 30) - 1) ? -1n : t === BigInt((1 << 30) - 2) ? -2n : timeNsArg(t);
}

/** Boots a kernel on `opts.device`: mkfs if asked, then mount unless noMount. */
export function bootWith(opts: BootOptions): Kernel {
  const k = new Kernel((imports) => new WebAssembly.Instance(opts.module, imports), opts.device, opts);
  try {
    if (opts.mkfs) k.mkfs();
    if (!opts.noMount) k.mount();
  } catch (e) {
    try { opts.device.close(); } catch { /* already failing */ }
    throw e;
  }
  return k;
}
