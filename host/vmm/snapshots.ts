// host/vmm/snapshots.ts -- the host API of whole-filesystem snapshots and clones (issue 14):
// `kernel.snapshots.create/list/delete/rollback/diff/open`, over the kernel's sys_snapshot_*
// exports (docs/abi.md, SNAPSHOT_ABI), and the decoders of the records those exports write.
//
// Layer: host/vmm (portable: no Node imports, no process). kernel.ts builds one Snapshots per
// Kernel and hands it itself as a SnapshotKernel (the calls below), so this file never imports
// kernel.ts (no import cycle). Interface: Snapshots, SnapshotInfo, SnapshotDiff, SnapshotView,
// decodeSnapInfo, decodeDiff, checkSnapshotName.
// Rules:
//  - every failure is a KernelError whose code is the errno name the kernel (or this file)
//    chose, with a one-line message naming the snapshot;
//  - the kernel owns the truth (names, ids, space); this file keeps only what the kernel
//    cannot see: the read-only views the host has open (a snapshot with a view cannot be
//    deleted: EBUSY, as `zfs destroy` of a mounted snapshot is refused);
//  - a view is a SECOND kernel on a ReadOnlyBackend of the same device, mounted with
//    MNT_RDONLY | MNT_NORECOVERY after the live kernel's sync put every block of the snapshot
//    home: it reads the snapshot's blocks, which are never written while the snapshot exists.
//
// Model (ZFS, Rodeh): a snapshot records the roots of the inode, dirent and extent trees at a
// committed transaction id `tid`; blocks born at or before it are shared with the live tree
// and copied on their first change; what the live tree drops that a snapshot still uses goes
// on a dead list; deleting a snapshot frees, in the background (sys_snapshot_work), the dead
// list entries no other snapshot needs.

import type { HelixFs } from "../fs/fs.js";
import { KernelError } from "./errors.js";

/** Longest snapshot name in bytes (SNAPINFO name[256]; NAME_MAX). */
export const SNAPSHOT_NAME_MAX = 255;
/** Most snapshots a filesystem holds (SNAPSHOT_ABI SNAPSHOT_MAX); list() asks for this many. */
export const SNAPSHOT_MAX = 256;
/** Bytes of one SNAPINFO record (sys_snapshot_list). */
export const SNAPINFO_BYTES = 320;
/** sys_snapshot_create flag: make a writable clone (and its origin snapshot `<name>@origin`). */
export const SNAP_WRITABLE = 1;
/** SNAPINFO flags: a writable clone; being freed in the background; the head this kernel mounted. */
export const SNAPF_WRITABLE = 1, SNAPF_DELETING = 2, SNAPF_MOUNTED = 4;
/** Units of background work one sys_snapshot_work call may do when the host waits (delete --wait). */
export const SNAPSHOT_WORK_BUDGET = 1024;
/** Most sys_snapshot_work calls one wait makes before it gives up (EIO): a kernel that never reaches 0 is a bug. */
export const SNAPSHOT_WAIT_CALLS_MAX = 1_000_000;
/** Memory of a view's kernel in MiB (a browse needs little cache). */
export const VIEW_MEMORY_MIB = 64;
/** Bytes of a diff record's header (kind u8, type u8, len1 u16, len2 u16). */
export const DIFF_HEADER_BYTES = 6;

/**
 * One snapshot or clone, decoded from a SNAPINFO record (little-endian, 320 bytes):
 *
 *    0 id u64 | 8 tid u64 | 16 ctime i64 ns | 24 flags u32 | 28 namelen u32
 *   32 referenced u64 | 40 exclusive u64 | 48 origin id u64 | 56 shared u64
 *   64 name[256] (namelen bytes, no NUL)
 */
export interface SnapshotInfo {
  /** Id (> 0), unique for the filesystem's life. */
  id: number;
  name: string;
  /** The committed transaction id it captured. */
  tid: number;
  /** Creation time, and the same in ns since 1970. */
  ctime: Date;
  ctimeNs: bigint;
  /** SNAPF_* bits, and each bit as a boolean. */
  flags: number;
  writable: boolean;
  deleting: boolean;
  mounted: boolean;
  /** Bytes reachable from it when it was created. */
  referencedBytes: number;
  /** Bytes only it holds: what deleting it frees now. */
  exclusiveBytes: number;
  /** referenced - exclusive: bytes it shares with the live tree or other snapshots. */
  sharedBytes: number;
  /** A clone's origin snapshot id; 0 for a snapshot. */
  origin: number;
}

/** Kinds of a diff record (sys_snapshot_diff). */
export const DIFF_CREATED = 1, DIFF_DELETED = 2, DIFF_MODIFIED = 3, DIFF_RENAMED = 4;

/** One change between two trees, in the kernel's order. */
export interface SnapshotChange {
  kind: "created" | "deleted" | "modified" | "renamed";
  /** The entry's type, DT_* (DT_REG 8, DT_DIR 4, DT_LNK 10, ...). */
  type: number;
  /** Absolute path ("/a/b"); for a rename, the old one. */
  path: string;
  /** A rename's new path. */
  to?: string;
}

/** What changed from snapshot `a` to `b` (or to the live filesystem). */
export interface SnapshotDiff {
  created: string[];
  deleted: string[];
  modified: string[];
  renamed: { from: string; to: string }[];
  /** Every change in the kernel's order, with its type. */
  changes: SnapshotChange[];
  /** Tree nodes the kernel read for this diff, and the nodes of the two trees. */
  nodesRead: number;
  nodesTotal: number;
}

/** A read-only view of a snapshot: a second kernel's fs. */
export interface SnapshotView {
  readonly name: string;
  readonly id: number;
  /** The snapshot's files, read-only: every write fails EROFS. */
  readonly fs: HelixFs;
  /** The view's own kernel (its info(), its ReadOnlyBackend as `backend`), for tools and tests. */
  readonly kernel: ViewKernel;
  /** True after close(). */
  readonly closed: boolean;
  /** Unmounts and drops the view's kernel (the device stays the live kernel's). Idempotent. */
  close(): void;
}

/** A booted view kernel as Snapshots needs it. */
export interface ViewKernel {
  readonly fs: HelixFs;
  shutdown(): void;
}

/**
 * The calls of a Kernel that Snapshots uses (kernel.ts implements them over the exports; each
 * throws KernelError with the errno the kernel returned).
 */
export interface SnapshotKernel {
  snapshotCreate(name: string, flags: number): number;
  snapshotList(cap?: number): SnapshotInfo[];
  snapshotDelete(name: string): void;
  snapshotWork(budget: number): number;
  snapshotRollback(name: string): void;
  snapshotDiff(a: string | null, b: string | null): SnapshotDiff;
  /** sys_sync: commit and checkpoint (every committed block at home). */
  syncAll(): void;
  /** Free blocks of 4 KiB (kernel_info freeBlocks). */
  freeBlocks(): number;
  /** Boots a second kernel on a read-only window of this one's device, mounted on snapshot `name` with MNT_RDONLY | MNT_NORECOVERY. */
  bootSnapshotView(name: string, memoryMiB: number): ViewKernel;
  /** Makes sure the idle timer runs sys_snapshot_work until it reports 0. */
  kickSnapshotWorker(): void;
}

/**
 * Why a snapshot name is refused, or null when it is valid (the kernel's rules: 1..255 bytes
 * of UTF-8, no '/' or NUL, not "." or ".."). The host checks first so the error names the rule.
 */
export function checkSnapshotName(name: string): string | null {
  if (typeof name !== "string" || name.length === 0) return "the name is empty";
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > SNAPSHOT_NAME_MAX) return `the name is ${bytes} bytes long (at most ${SNAPSHOT_NAME_MAX})`;
  if (name.includes("/")) return "the name contains '/'";
  if (name.includes("\0")) return "the name contains a NUL byte";
  if (name === "." || name === "..") return `'${name}' is not a name`;
  return null;
}

/** Throws KernelError EINVAL when `name` is not a valid snapshot name (`what` names the call). */
function assertName(name: string, what: string): void {
  const why = checkSnapshotName(name);
  if (why !== null) throw new KernelError("EINVAL", `${what} failed: EINVAL (${why})`, 22);
}

/**
 * Decodes `count` SNAPINFO records at byte `at` of `dv` (see SnapshotInfo for the layout).
 * Names are UTF-8 (the host only creates UTF-8 names); bytes are numbers (exact below 8 PiB).
 */
export function decodeSnapInfo(dv: DataView, at: number, count: number): SnapshotInfo[] {
  const out: SnapshotInfo[] = [];
  const dec = new TextDecoder();
  for (let i = 0; i < count; i++) {
    const o = at + SNAPINFO_BYTES * i;
    const u64 = (k: number) => Number(dv.getBigUint64(o + k, true));
    const flags = dv.getUint32(o + 24, true);
    const namelen = Math.min(dv.getUint32(o + 28, true), SNAPSHOT_NAME_MAX + 1);
    const ctimeNs = dv.getBigInt64(o + 16, true);
    out.push({
      id: u64(0), tid: u64(8), ctime: new Date(Number(ctimeNs / 1_000_000n)), ctimeNs, flags,
      writable: (flags & SNAPF_WRITABLE) !== 0, deleting: (flags & SNAPF_DELETING) !== 0, mounted: (flags & SNAPF_MOUNTED) !== 0,
      referencedBytes: u64(32), exclusiveBytes: u64(40), origin: u64(48), sharedBytes: u64(56),
      name: dec.decode(new Uint8Array(dv.buffer, dv.byteOffset + o + 64, namelen)),
    });
  }
  return out;
}

const KIND_NAMES = ["", "created", "deleted", "modified", "renamed"] as const;

/**
 * Decodes the packed records sys_snapshot_diff wrote into bytes [at, at + n) of `dv`:
 *
 *   kind u8 | type u8 | len1 u16 | len2 u16 | path1 [len1] | path2 [len2]
 *
 * (path2 only for a rename: path1 old, path2 new). Throws KernelError EIO on a record that
 * runs past the end or has an unknown kind (a kernel bug, never silently skipped).
 */
export function decodeDiff(dv: DataView, at: number, n: number, nodesRead = 0, nodesTotal = 0): SnapshotDiff {
  const dec = new TextDecoder();
  const out: SnapshotDiff = { created: [], deleted: [], modified: [], renamed: [], changes: [], nodesRead, nodesTotal };
  const end = at + n;
  const bad = (why: string) => new KernelError("EIO", `snapshot diff failed: EIO (malformed record at byte ${o - at}: ${why})`, 5);
  let o = at;
  while (o < end) {
    if (o + DIFF_HEADER_BYTES > end) throw bad("header past the end");
    const kind = dv.getUint8(o), type = dv.getUint8(o + 1);
    const l1 = dv.getUint16(o + 2, true), l2 = dv.getUint16(o + 4, true);
    if (kind < DIFF_CREATED || kind > DIFF_RENAMED) throw bad(`kind ${kind}`);
    if (o + DIFF_HEADER_BYTES + l1 + l2 > end) throw bad("paths past the end");
    const p1 = dec.decode(new Uint8Array(dv.buffer, dv.byteOffset + o + DIFF_HEADER_BYTES, l1));
    const change: SnapshotChange = { kind: KIND_NAMES[kind] as SnapshotChange["kind"], type, path: p1 };
    if (kind === DIFF_RENAMED) {
      change.to = dec.decode(new Uint8Array(dv.buffer, dv.byteOffset + o + DIFF_HEADER_BYTES + l1, l2));
      out.renamed.push({ from: p1, to: change.to });
    } else if (kind === DIFF_CREATED) out.created.push(p1);
    else if (kind === DIFF_DELETED) out.deleted.push(p1);
    else out.modified.push(p1);
    out.changes.push(change);
    o += DIFF_HEADER_BYTES + l1 + l2;
  }
  return out;
}

/** What delete() did. */
export interface DeleteResult {
  /** The snapshot as it was listed just before the delete. */
  snapshot: SnapshotInfo;
  /** Bytes the snapshot held alone when deleted (what the background free returns). */
  exclusiveBytes: number;
  /** With wait: free bytes gained from the delete until the background work finished; else 0. */
  freedBytes: number;
  /** Background work units still pending (0 with wait). */
  pending: number;
  /** Others the kernel deleted with it: a clone's own origin `<name>@origin` when no other clone grew from it. */
  alsoDeleted: string[];
}

/** kernel.snapshots: snapshots and clones of the filesystem a kernel has mounted. */
export class Snapshots {
  /** Open views by snapshot name (the kernel cannot see them; delete refuses EBUSY). */
  private readonly views = new Map<string, Set<SnapshotView>>();

  constructor(private readonly k: SnapshotKernel) {}

  /**
   * Creates snapshot `name` of the live filesystem (O(1): records the tree roots at the
   * current transaction after committing dirty data); with `writable`, a writable clone and
   * its origin snapshot `<name>@origin`. Returns the new snapshot's record.
   * Errors: EINVAL bad name; EEXIST name taken; EROFS read-only mount or a snapshot mounted;
   * ENOSPC no space or SNAPSHOT_MAX reached; EOPNOTSUPP the mounted head is a clone.
   */
  create(name: string, opts: { writable?: boolean } = {}): SnapshotInfo {
    assertName(name, `snapshot create '${name}'`);
    const id = this.k.snapshotCreate(name, opts.writable ? SNAP_WRITABLE : 0);
    const made = this.k.snapshotList().find((s) => s.id === id);
    if (made === undefined) throw new KernelError("EIO", `snapshot create '${name}': id ${id} is not listed`, 5);
    return made;
  }

  /**
   * The snapshots and clones in creation order; those being freed in the background (flag
   * DELETING, their names already free) only with `all`.
   */
  list(opts: { all?: boolean } = {}): SnapshotInfo[] {
    const all = this.k.snapshotList();
    return opts.all ? all : all.filter((s) => !s.deleting);
  }

  /** The snapshot named `name`. KernelError ENOENT when there is none (`what` names the call in the message). */
  get(name: string, what = `snapshot '${name}'`): SnapshotInfo {
    const s = this.list().find((x) => x.name === name);
    if (s === undefined) throw new KernelError("ENOENT", `${what} failed: ENOENT (no snapshot named '${name}')`, 2);
    return s;
  }

  /**
   * Deletes snapshot `name`: its name is free at once, its blocks are freed in the background.
   * With `wait`, runs the background work until nothing is pending and reports the free
   * space gained. Errors: ENOENT no such name; EBUSY a view of it is open (close it first),
   * it is a clone's origin, or it is the mounted head; EROFS read-only mount.
   */
  delete(name: string, opts: { wait?: boolean } = {}): DeleteResult {
    assertName(name, `snapshot delete '${name}'`);
    const open = this.views.get(name)?.size ?? 0;
    if (open > 0) throw new KernelError("EBUSY", `snapshot delete '${name}' failed: EBUSY (${open} open view${open === 1 ? "" : "s"}: close ${open === 1 ? "it" : "them"} first)`, 16);
    const listed = this.list();
    const before = listed.find((s) => s.name === name);
    const free0 = opts.wait ? this.k.freeBlocks() : 0;
    this.k.snapshotDelete(name);
    // the kernel found it, so it was listed a moment ago
    if (before === undefined) throw new KernelError("EIO", `snapshot delete '${name}': deleted, but it was not listed before`, 5);
    const snapshot = before;
    const left = new Set(this.list().map((s) => s.name));
    const alsoDeleted = listed.filter((s) => s.name !== name && !left.has(s.name)).map((s) => s.name);
    if (!opts.wait) {
      this.k.kickSnapshotWorker();
      return { snapshot, exclusiveBytes: snapshot.exclusiveBytes, freedBytes: 0, pending: this.k.snapshotWork(0), alsoDeleted };
    }
    this.waitIdle();
    // blocks freed by a transaction are reusable once it commits (btrfs pins them until then)
    this.k.syncAll();
    return { snapshot, exclusiveBytes: snapshot.exclusiveBytes, freedBytes: Math.max(0, this.k.freeBlocks() - free0) * 4096, pending: 0, alsoDeleted };
  }

  /**
   * Runs the background work (deletes, rollback frees) until the kernel reports none pending.
   * Returns the number of sys_snapshot_work calls made. KernelError EIO when it never ends.
   */
  waitIdle(): number {
    for (let calls = 1; calls <= SNAPSHOT_WAIT_CALLS_MAX; calls++) {
      if (this.k.snapshotWork(SNAPSHOT_WORK_BUDGET) === 0) return calls;
    }
    throw new KernelError("EIO", `snapshot background work still pending after ${SNAPSHOT_WAIT_CALLS_MAX} calls`, 5);
  }

  /** Background work units pending (0 = idle); does none. */
  pending(): number { return this.k.snapshotWork(0); }

  /**
   * Rolls the live filesystem back to snapshot `name` (atomic; the kernel drops its caches,
   * and the old live tree's blocks are freed in the background). Errors: ENOENT; EBUSY files
   * are open or the mounted head is a clone; ENOTEMPTY newer snapshots exist (delete them
   * first); EINVAL `name` is a clone; EROFS.
   */
  rollback(name: string): void {
    assertName(name, `snapshot rollback '${name}'`);
    this.k.snapshotRollback(name);
    this.k.kickSnapshotWorker();
  }

  /**
   * What changed from snapshot `a` to snapshot `b`, or to the live filesystem when `b` is
   * omitted (null). Walks only the subtrees whose generation differs. Errors: ENOENT unknown
   * name; ERANGE more changes than one transfer buffer holds.
   */
  diff(a: string, b: string | null = null): SnapshotDiff {
    assertName(a, `snapshot diff '${a}'`);
    if (b !== null) assertName(b, `snapshot diff '${b}'`);
    return this.k.snapshotDiff(a, b);
  }

  /**
   * A read-only view of snapshot `name` while the live filesystem goes on: syncs the live
   * kernel (every block of the snapshot at home), then boots a second kernel of `memoryMiB`
   * on a read-only window of the same device, mounted on the snapshot without journal
   * recovery. Its fs refuses writes with EROFS. Close it before deleting the snapshot.
   * Errors: EINVAL bad name; ENOENT no such snapshot; EBUSY it is the head this kernel has
   * mounted (read it through kernel.fs); a mount failure of the view as KernelError.
   */
  open(name: string, opts: { memoryMiB?: number } = {}): SnapshotView {
    assertName(name, `snapshot open '${name}'`);
    const info = this.get(name, `snapshot open '${name}'`);
    if (info.mounted) throw new KernelError("EBUSY", `snapshot open '${name}' failed: EBUSY (it is the mounted head: use kernel.fs)`, 16);
    this.k.syncAll();
    const vk = this.k.bootSnapshotView(name, opts.memoryMiB ?? VIEW_MEMORY_MIB);
    let set = this.views.get(name);
    if (set === undefined) this.views.set(name, set = new Set());
    const views = this.views;
    let closed = false;
    const view: SnapshotView = {
      name, id: info.id, fs: vk.fs, kernel: vk,
      get closed() { return closed; },
      close() {
        if (closed) return;
        closed = true;
        const s = views.get(name);
        s?.delete(view);
        if (s?.size === 0) views.delete(name);
        vk.shutdown();
      },
    };
    set.add(view);
    return view;
  }

  /** Number of open views (of `name`, or of all snapshots). */
  openViews(name?: string): number {
    if (name !== undefined) return this.views.get(name)?.size ?? 0;
    let n = 0;
    for (const s of this.views.values()) n += s.size;
    return n;
  }

  /** Closes every open view (the live kernel's shutdown calls this before it closes the device). */
  closeAll(): void {
    for (const set of [...this.views.values()]) for (const v of [...set]) {
      try { v.close(); } catch { /* a dead view kernel: its window is closed anyway */ }
    }
  }
}
