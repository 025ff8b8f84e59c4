// host/crash/workload.ts -- crash-test workloads and their oracle (issue 3 §3-§4).
//
// Layer: host, beside the crash-state generator; no Node imports (runs in workers/browsers).
// Interface: aceWorkloads(len), randomWorkload(seed, ops), runWorkload(fs, w, mark) ->
// Expectations, checkRecovered(fs, exp, progress) -> Violation[].
// Rules:
//  - a workload is a setup (two directories, two files, synced) followed by steps, each an
//    operation and a persistence point (fsync of the file, fsync of its parent directory,
//    fdatasync, or sync), as in ACE (Mohan et al., OSDI 2018, "Finding Crash-Consistency
//    Bugs with Bounded Black-Box Crash Testing");
//  - the oracle is the live filesystem itself: right after a persistence point returns, the
//    state it promised (DESIGN §5) is read through the fs API and kept; a crash state whose
//    last completed persistence point is k must show that state for every object no later
//    operation touched before the crash;
//  - every byte a workload writes is one of a few pattern values, so a recovered file holding
//    any other byte shows data that was never written to it;
//  - mknod and the xattr operations run where the fs has them (HelixFs extensions; node:fs
//    has none: the step then records ENOSYS); a file's extended attributes are part of the
//    metadata an fsync promises (not fdatasync's), and the setup gives /A/foo one;
//  - snapshots (issue 14; SNAPSHOT_ABI.md) where the fs has them (snapshotFs in
//    host/crash/snapsys.ts; elsewhere the steps record ENOSYS): the setup ends by taking
//    snapshot "base" of the synced setup tree, so every workload's writes copy shared blocks;
//    create, delete and rollback are their own persistence point ("self": each commits before
//    it returns). What the oracle holds them to (snapshotOracle, rollbackInFlight, treeSettled):
//      create    atomic: after a crash the snapshot is absent or holds exactly the tree it was
//                taken of; once create returned it exists, and the live tree is durable (it
//                commits first);
//      delete    once it returned the name is gone; its background free resumes at mount and
//                ends with the free space of a filesystem where the snapshot never existed;
//      rollback  atomic: the live tree is all the old tree (every promise made before it
//                holds) or exactly the snapshot's tree; once it returned, the snapshot's.

/** Names the ACE workloads draw from: two directories with two files each. */
export const DIRS = ["/A", "/B"] as const;
export const FILES = ["/A/foo", "/A/bar", "/B/foo", "/B/bar"] as const;
/** Sizes in bytes for the writes of ACE workloads. */
const PAGE = 4096;

export type Op =
  | { op: "creat"; path: string }
  | { op: "mkdir"; path: string }
  | { op: "write"; path: string; offset: number; len: number; byte: number }
  | { op: "truncate"; path: string; len: number }
  /** fallocate(2) with Linux FALLOC_FL_* `mode` (0, KEEP_SIZE 1, PUNCH_HOLE|KEEP_SIZE 3, ZERO_RANGE 0x10 [|1]). */
  | { op: "falloc"; path: string; mode: number; offset: number; len: number }
  | { op: "link"; from: string; to: string }
  | { op: "unlink"; path: string }
  | { op: "rename"; from: string; to: string }
  | { op: "symlink"; target: string; path: string }
  | { op: "rmdir"; path: string }
  | { op: "mknod"; path: string; kind: "fifo" | "chr" }
  | { op: "setxattr"; path: string; name: string; len: number; byte: number }
  | { op: "removexattr"; path: string; name: string }
  /** Snapshot operations (host/crash/snapsys.ts SnapshotOps). */
  | { op: "snap-create"; name: string }
  | { op: "snap-delete"; name: string }
  | { op: "snap-rollback"; name: string }
  /** sys_snapshot_work(budget) then sync, repeated until no work is pending: a crash lands between batches. */
  | { op: "snap-work"; budget: number }
  /** `files` new files dir/f0.. of `len` bytes of `byte` each (a tree a snapshot then holds). */
  | { op: "fill"; dir: string; files: number; len: number; byte: number }
  /** Unlinks dir/f0..dir/f<files-1> (what fill made). */
  | { op: "wipe"; dir: string; files: number };

/** "self": no call; the operation (a snapshot operation) is durable when it returns. */
export type PersistKind = "fsync" | "fsync-parent" | "fdatasync" | "sync" | "self";
export interface Persist { kind: PersistKind; path: string }
export interface Step { op: Op; persist: Persist }
export interface Workload { id: string; steps: Step[] }

/** The part of the Node-shaped fs a workload needs (HelixFs and node:fs both fit). */
export interface WorkloadFs {
  openSync(p: string, flags: string | number, mode?: number): number;
  closeSync(fd: number): void;
  writeSync(fd: number, b: Uint8Array, off: number, len: number, pos: number | null): number;
  fsyncSync(fd: number): void;
  fdatasyncSync(fd: number): void;
  mkdirSync(p: string): unknown;
  rmdirSync(p: string): void;
  unlinkSync(p: string): void;
  renameSync(a: string, b: string): void;
  linkSync(a: string, b: string): void;
  symlinkSync(t: string, p: string): void;
  truncateSync(p: string, len: number): void;
  /** HelixFS's fallocate (node:fs has none: the step's outcome is then ENOSYS). */
  fallocateSync?(fd: number, mode: number, offset: number, len: number): void;
  readFileSync(p: string): Uint8Array;
  readdirSync(p: string): string[];
  lstatSync(p: string): { ino: number; mode: number; size: number; nlink: number; isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean };
  readlinkSync(p: string): string;
  writeFileSync(p: string, d: Uint8Array | string): void;
  rmSync(p: string, o: { recursive: boolean; force: boolean }): void;
  syncSync?(): void;
  mkfifoSync?(p: string, mode?: number): void;
  mknodSync?(p: string, mode: number, rdev?: number): void;
  setxattrSync?(p: string, name: string, value: Uint8Array, flags?: number): void;
  getxattrSync?(p: string, name: string): Uint8Array;
  listxattrSync?(p: string): string[];
  removexattrSync?(p: string, name: string): void;
  /** Snapshots (host/crash/snapsys.ts snapshotFs): errors are thrown with `code` like the fs's. */
  snapshotCreateSync?(name: string): void;
  snapshotDeleteSync?(name: string): void;
  snapshotRollbackSync?(name: string): void;
  snapshotWorkSync?(budget: number): number;
  snapshotNamesSync?(): string[];
}

/** The snapshot the setup takes last (of the synced setup tree). */
export const SETUP_SNAPSHOT = "base";
/** The snapshot name ACE workloads create (and delete and roll back to). */
export const ACE_SNAPSHOT = "s1";
/** Pattern byte of the files the snapshot-delete workload fills a directory with. */
const FILL_BYTE = 0x49;

/** Linux FALLOC_FL_* bits the workloads use. */
const FALLOC_KEEP_SIZE = 0x01, FALLOC_PUNCH_HOLE = 0x02, FALLOC_ZERO_RANGE = 0x10;

/** Pattern bytes: setup data, then one value per write step; 0 is a hole. */
export const SETUP_BYTE = 0x5a;
const STEP_BYTES = [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48];

function parent(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/** The setup every workload starts from (synced before the workload). */
export function setup(fs: WorkloadFs): void {
  for (const d of DIRS) fs.mkdirSync(d);
  fs.writeFileSync("/A/foo", new Uint8Array(2 * PAGE).fill(SETUP_BYTE));
  fs.writeFileSync("/B/foo", new Uint8Array(100).fill(SETUP_BYTE));
  fs.setxattrSync?.("/A/foo", "user.setup", new Uint8Array(40).fill(SETUP_BYTE));
  fs.syncSync?.();
  fs.snapshotCreateSync?.(SETUP_SNAPSHOT);
}

/** Every single operation of the ACE space over the file set, with its main object (and, for snapshot operations, their only persistence point). */
function aceOps(byte: number): { op: Op; object: string; persists?: Persist[] }[] {
  const out: { op: Op; object: string; persists?: Persist[] }[] = [];
  for (const f of ["/A/bar", "/B/bar"]) out.push({ op: { op: "creat", path: f }, object: f });
  for (const d of ["/A/C", "/B/C"]) out.push({ op: { op: "mkdir", path: d }, object: d });
  for (const f of ["/A/foo", "/B/foo"]) {
    out.push({ op: { op: "write", path: f, offset: 0, len: PAGE, byte }, object: f }); // overwrite / extend
    out.push({ op: { op: "write", path: f, offset: f === "/A/foo" ? 2 * PAGE : 100, len: 3000, byte }, object: f }); // append
    out.push({ op: { op: "write", path: f, offset: 1000, len: 5000, byte }, object: f }); // unaligned
    out.push({ op: { op: "write", path: f, offset: 16 * PAGE + 7, len: PAGE, byte }, object: f }); // past a hole
    out.push({ op: { op: "truncate", path: f, len: 20000 }, object: f }); // grow
    out.push({ op: { op: "truncate", path: f, len: 10 }, object: f }); // shrink
    // fallocate: preallocate and grow, preallocate past EOF, punch a hole, zero a range
    out.push({ op: { op: "falloc", path: f, mode: 0, offset: PAGE, len: 4 * PAGE }, object: f });
    out.push({ op: { op: "falloc", path: f, mode: FALLOC_KEEP_SIZE, offset: 0, len: 8 * PAGE }, object: f });
    out.push({ op: { op: "falloc", path: f, mode: FALLOC_PUNCH_HOLE | FALLOC_KEEP_SIZE, offset: 1000, len: PAGE + 500 }, object: f });
    out.push({ op: { op: "falloc", path: f, mode: FALLOC_ZERO_RANGE, offset: 100, len: 3 * PAGE }, object: f });
  }
  out.push({ op: { op: "link", from: "/A/foo", to: "/A/bar" }, object: "/A/bar" });
  out.push({ op: { op: "link", from: "/A/foo", to: "/B/bar" }, object: "/B/bar" });
  for (const f of ["/A/foo", "/B/foo"]) out.push({ op: { op: "unlink", path: f }, object: f });
  out.push({ op: { op: "rename", from: "/A/foo", to: "/A/bar" }, object: "/A/bar" });
  out.push({ op: { op: "rename", from: "/A/foo", to: "/B/bar" }, object: "/B/bar" });
  out.push({ op: { op: "rename", from: "/A/foo", to: "/B/foo" }, object: "/B/foo" }); // over an existing file
  out.push({ op: { op: "rename", from: "/B", to: "/A/C" }, object: "/A/C" }); // a directory
  out.push({ op: { op: "symlink", target: "foo", path: "/A/bar" }, object: "/A/bar" });
  out.push({ op: { op: "rmdir", path: "/A/C" }, object: "/A/C" });
  out.push({ op: { op: "mknod", path: "/A/bar", kind: "fifo" }, object: "/A/bar" });
  out.push({ op: { op: "mknod", path: "/B/bar", kind: "chr" }, object: "/B/bar" });
  out.push({ op: { op: "setxattr", path: "/A/foo", name: "user.setup", len: 900, byte }, object: "/A/foo" }); // replace, grows
  out.push({ op: { op: "setxattr", path: "/B/foo", name: "trusted.t", len: 30, byte }, object: "/B/foo" }); // create
  out.push({ op: { op: "removexattr", path: "/A/foo", name: "user.setup" }, object: "/A/foo" });
  // snapshots: each operation is its own persistence point
  const self: Persist[] = [{ kind: "self", path: "/" }];
  out.push({ op: { op: "snap-create", name: ACE_SNAPSHOT }, object: "/", persists: self });
  for (const name of [SETUP_SNAPSHOT, ACE_SNAPSHOT]) {
    out.push({ op: { op: "snap-delete", name }, object: "/", persists: self });
    out.push({ op: { op: "snap-rollback", name }, object: "/", persists: self });
  }
  return out;
}

function persistsFor(object: string): Persist[] {
  return [
    { kind: "fsync", path: object },
    { kind: "fsync-parent", path: parent(object) },
    { kind: "fdatasync", path: object },
    { kind: "sync", path: "/" },
  ];
}

/**
 * The bounded exhaustive ACE space: every sequence of `len` steps (1..3), each an operation
 * followed by each persistence point.
 */
export function aceWorkloads(len: number): Workload[] {
  if (len < 1 || len > 3) throw new RangeError("ACE sequences have 1 to 3 operations");
  let seqs: Step[][] = [[]];
  for (let i = 0; i < len; i++) {
    const next: Step[][] = [];
    for (const s of seqs) {
      for (const { op, object, persists } of aceOps(STEP_BYTES[i])) {
        for (const persist of persists ?? persistsFor(object)) next.push([...s, { op, persist }]);
      }
    }
    seqs = next;
  }
  return seqs.map((steps, i) => ({ id: `ace${len}-${i}`, steps }));
}

/** A seeded random workload of `n` steps mixing every operation and persistence point. */
export function randomWorkload(seed: number, n: number): Workload {
  let x = (seed >>> 0) * 2654435761 + 1;
  const rnd = (m: number) => { x = (x * 1103515245 + 12345) >>> 0; return (x >>> 8) % m; };
  const steps: Step[] = [];
  for (let i = 0; i < n; i++) {
    const ops = aceOps(STEP_BYTES[i % STEP_BYTES.length]);
    const { op, object, persists } = ops[rnd(ops.length)];
    const ps = persists ?? persistsFor(object);
    steps.push({ op, persist: ps[rnd(ps.length)] });
  }
  return { id: `random-${seed}-${n}`, steps };
}

/** Files the snapshot-delete workload fills /A/many with, and their size in bytes. */
export const SNAPDEL_FILES = 48, SNAPDEL_FILE_BYTES = 6000;

/**
 * The crash-in-a-background-delete workloads: a directory of many files, snapshot "big", the
 * directory wiped (the snapshot alone holds its blocks and tree nodes), the snapshot deleted,
 * and its background free run in batches of `budget` units with a sync after each (so crash
 * states fall between batches); `rollback`: roll back to it before deleting instead.
 */
export function snapshotWorkloads(): Workload[] {
  const sync = (path = "/"): Persist => ({ kind: "sync", path });
  const self: Persist = { kind: "self", path: "/" };
  const fill: Step = { op: { op: "fill", dir: "/A/many", files: SNAPDEL_FILES, len: SNAPDEL_FILE_BYTES, byte: FILL_BYTE }, persist: sync() };
  const create: Step = { op: { op: "snap-create", name: "big" }, persist: self };
  const wipe: Step = { op: { op: "wipe", dir: "/A/many", files: SNAPDEL_FILES }, persist: sync() };
  const del: Step = { op: { op: "snap-delete", name: "big" }, persist: self };
  const work = (budget: number): Step => ({ op: { op: "snap-work", budget }, persist: sync() });
  return [
    { id: "snapdel-1", steps: [fill, create, wipe, del, work(1)] },
    { id: "snapdel-4", steps: [fill, create, wipe, del, work(4)] },
    { id: "snapdel-base", steps: [fill, create, wipe, { op: { op: "snap-delete", name: SETUP_SNAPSHOT }, persist: self }, del, work(2)] },
    { id: "snaproll", steps: [fill, create, wipe, { op: { op: "snap-rollback", name: "big" }, persist: self }, del, work(3)] },
    { id: "snaproll-unsynced", steps: [fill, create, { op: { op: "wipe", dir: "/A/many", files: SNAPDEL_FILES }, persist: { kind: "fsync", path: "/A/foo" } }, { op: { op: "snap-rollback", name: "big" }, persist: self }] },
  ];
}

// ---- running -----------------------------------------------------------------------------

/** What one object looked like when a persistence point promised it. */
export interface ObjectState {
  path: string;
  type: "file" | "dir" | "symlink" | "special" | "absent";
  ino?: number; // files: a hard link changes the file under every name
  data?: Uint8Array; // files: contents
  size?: number;
  mode?: number;
  nlink?: number;
  target?: string; // symlinks
  entries?: string[]; // directories: sorted names
  xattrs?: string; // files and directories where the fs lists them: sorted "name=hex value" lines
}

/** What must hold after persistence point `index`: objects promised there. */
export interface Promise_ {
  index: number;
  /** Objects whose state is promised (all of them after sync). */
  objects: ObjectState[];
  /** Objects each later step touches, in order (for excluding them from checks). */
}

/** The workload run: per step the objects it touches, and what each persistence promised. */
export interface Expectations {
  workload: Workload;
  touched: string[][]; // per step
  touchedInos: Set<number>[]; // per step: inodes of the objects it touched, before and after
  promises: Promise_[]; // per step (index = step)
  /** Byte values any file may legitimately hold. */
  bytes: Set<number>;
  /** Outcome of each step's operation ('ok' or an errno code). */
  outcomes: string[];
  /** Per step: its persistence point returned (its promise was taken). */
  persisted: boolean[];
  /** Snapshots at the workload's start (the setup's "base"): name -> the whole tree it holds. */
  snapStart: Map<string, ObjectState[]>;
  /** Per step: what a successful snapshot operation did (undefined for other steps and failures). */
  snapEffects: (SnapEffect | undefined)[];
}

/**
 * A successful snapshot operation: create (`tree`: what the snapshot holds, the live tree when
 * it was taken), delete, or rollback (`tree`: the snapshot's tree, which the live tree became).
 */
export interface SnapEffect { kind: "create" | "delete" | "rollback"; name: string; tree?: ObjectState[] }

/** The snapshot operations among Op. */
function isSnapOp(op: Op): boolean {
  return op.op === "snap-create" || op.op === "snap-delete" || op.op === "snap-rollback" || op.op === "snap-work";
}

/** Paths of `fill`/`wipe`'s files. */
function fillPaths(dir: string, files: number): string[] {
  return Array.from({ length: files }, (_, i) => `${dir}/f${i}`);
}

function objectsOf(op: Op): string[] {
  switch (op.op) {
    case "link": case "rename": return [op.from, op.to];
    case "symlink": return [op.path];
    case "snap-create": case "snap-delete": case "snap-work": return []; // the live tree does not change
    case "snap-rollback": return ["/"]; // all of it
    case "fill": case "wipe": return [op.dir, ...fillPaths(op.dir, op.files)];
    default: return [op.path];
  }
}

/** The extended attributes of `path` as sorted "name=hex" lines, or undefined where the fs has none. */
function xattrsOf(fs: WorkloadFs, path: string): string | undefined {
  if (!fs.listxattrSync || !fs.getxattrSync) return undefined;
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return fs.listxattrSync(path).slice().sort().map((n) => `${n}=${hex(fs.getxattrSync!(path, n))}`).join("\n");
}

/** Every object of the tree, "/" first, files with their data (what a sync or a snapshot holds). */
export function captureTree(fs: WorkloadFs): ObjectState[] {
  const all: string[] = [];
  walk(fs, "/", all);
  return [snapshot(fs, "/", false), ...all.map((p) => snapshot(fs, p, true))];
}

/**
 * The first difference between two captured trees, as one line, or null when they hold the
 * same paths with the same types, contents, sizes, modes, link counts, targets and xattrs
 * (inode numbers are not compared).
 */
export function diffCaptured(want: ObjectState[], got: ObjectState[]): string | null {
  const g = new Map(got.map((o) => [o.path, o]));
  for (const w of want) {
    const o = g.get(w.path);
    if (o === undefined) return `${w.path}: missing (expected a ${w.type})`;
    const d = same(w, o, true);
    if (d) return `${w.path}: ${d}`;
  }
  const wp = new Set(want.map((o) => o.path));
  for (const o of got) if (!wp.has(o.path)) return `${o.path}: present (a ${o.type}), expected absent`;
  return null;
}

function snapshot(fs: WorkloadFs, path: string, withData: boolean): ObjectState {
  let st;
  try { st = fs.lstatSync(path); } catch { return { path, type: "absent" }; }
  if (st.isDirectory()) return { path, type: "dir", mode: st.mode, entries: fs.readdirSync(path).slice().sort(), xattrs: xattrsOf(fs, path) };
  if (st.isSymbolicLink()) return { path, type: "symlink", target: fs.readlinkSync(path) };
  if (!st.isFile()) return { path, type: "special", ino: st.ino, mode: st.mode, nlink: st.nlink };
  const s: ObjectState = { path, type: "file", ino: st.ino, size: st.size, mode: st.mode, nlink: st.nlink, xattrs: xattrsOf(fs, path) };
  if (withData) s.data = fs.readFileSync(path);
  return s;
}

function walk(fs: WorkloadFs, dir: string, out: string[]): void {
  for (const n of fs.readdirSync(dir)) {
    const p = dir === "/" ? `/${n}` : `${dir}/${n}`;
    out.push(p);
    let st;
    try { st = fs.lstatSync(p); } catch { continue; }
    if (st.isDirectory()) walk(fs, p, out);
  }
}

function apply(fs: WorkloadFs, op: Op): string {
  try {
    switch (op.op) {
      case "creat": fs.closeSync(fs.openSync(op.path, "a", 0o644)); break;
      case "mkdir": fs.mkdirSync(op.path); break;
      case "write": {
        const fd = fs.openSync(op.path, "r+");
        try { fs.writeSync(fd, new Uint8Array(op.len).fill(op.byte), 0, op.len, op.offset); } finally { fs.closeSync(fd); }
        break;
      }
      case "truncate": fs.truncateSync(op.path, op.len); break;
      case "falloc": {
        if (!fs.fallocateSync) return "ENOSYS";
        const fd = fs.openSync(op.path, "r+");
        try { fs.fallocateSync(fd, op.mode, op.offset, op.len); } finally { fs.closeSync(fd); }
        break;
      }
      case "link": fs.linkSync(op.from, op.to); break;
      case "unlink": fs.unlinkSync(op.path); break;
      case "rename": fs.renameSync(op.from, op.to); break;
      case "symlink": fs.symlinkSync(op.target, op.path); break;
      case "rmdir": fs.rmdirSync(op.path); break;
      case "mknod":
        if (!fs.mknodSync) return "ENOSYS";
        fs.mknodSync(op.path, op.kind === "fifo" ? 0o10644 : 0o20644, op.kind === "chr" ? 0x103 : 0);
        break;
      case "setxattr":
        if (!fs.setxattrSync) return "ENOSYS";
        fs.setxattrSync(op.path, op.name, new Uint8Array(op.len).fill(op.byte));
        break;
      case "removexattr":
        if (!fs.removexattrSync) return "ENOSYS";
        fs.removexattrSync(op.path, op.name);
        break;
      case "snap-create":
        if (!fs.snapshotCreateSync) return "ENOSYS";
        fs.snapshotCreateSync(op.name);
        break;
      case "snap-delete":
        if (!fs.snapshotDeleteSync) return "ENOSYS";
        fs.snapshotDeleteSync(op.name);
        break;
      case "snap-rollback":
        if (!fs.snapshotRollbackSync) return "ENOSYS";
        fs.snapshotRollbackSync(op.name);
        break;
      case "snap-work": {
        if (!fs.snapshotWorkSync) return "ENOSYS";
        for (let batch = 0; ; batch++) {
          if (batch === SNAP_WORK_BATCHES_MAX) throw new Error(`snap-work: work still pending after ${batch} batches of ${op.budget}`);
          const pending = fs.snapshotWorkSync(op.budget);
          fs.syncSync?.();
          if (pending === 0) break;
        }
        break;
      }
      case "fill":
        fs.mkdirSync(op.dir);
        for (const p of fillPaths(op.dir, op.files)) fs.writeFileSync(p, new Uint8Array(op.len).fill(op.byte));
        break;
      case "wipe":
        for (const p of fillPaths(op.dir, op.files)) fs.unlinkSync(p);
        break;
    }
    return "ok";
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code) throw e;
    return code;
  }
}

/** Batches a snap-work step runs at most (each one sys_snapshot_work(budget) and a sync). */
const SNAP_WORK_BATCHES_MAX = 100_000;

function persist(fs: WorkloadFs, p: Persist): string {
  try {
    if (p.kind === "self") return "ok";
    if (p.kind === "sync") { fs.syncSync?.(); return "ok"; }
    const fd = fs.openSync(p.path, "r");
    try { if (p.kind === "fdatasync") fs.fdatasyncSync(fd); else fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    return "ok";
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code) throw e;
    return code;
  }
}

/**
 * Runs `w` (after setup) on `fs`, calling `mark(name)` at each boundary the crash-state
 * generator needs: `op:<i>` before step i's operation and `persist:<i>` once its persistence
 * point returned. Returns the oracle's expectations.
 */
export function runWorkload(fs: WorkloadFs, w: Workload, mark: (name: string) => void): Expectations {
  const bytes = new Set<number>([0, SETUP_BYTE]);
  const touched: string[][] = [];
  const touchedInos: Set<number>[] = [];
  const promises: Promise_[] = [];
  const outcomes: string[] = [];
  const persisted: boolean[] = [];
  const snapEffects: (SnapEffect | undefined)[] = [];
  // the setup's snapshots hold the tree the workload starts from (setup takes them last)
  const snapStart = new Map<string, ObjectState[]>();
  const startNames = fs.snapshotNamesSync?.() ?? [];
  if (startNames.length > 0) {
    const tree = captureTree(fs);
    for (const n of startNames) snapStart.set(n, tree);
  }
  const inosOf = (paths: string[], into: Set<number>) => {
    for (const p of paths) { try { into.add(fs.lstatSync(p).ino); } catch { /* absent */ } }
  };
  w.steps.forEach((step, i) => {
    const objs = objectsOf(step.op);
    const inos = new Set<number>();
    inosOf(objs, inos);
    mark(`op:${i}`);
    if (step.op.op === "write" || step.op.op === "fill") bytes.add(step.op.byte);
    outcomes.push(apply(fs, step.op));
    const op = step.op;
    let effect: SnapEffect | undefined;
    if (outcomes[i] === "ok" && (op.op === "snap-create" || op.op === "snap-delete" || op.op === "snap-rollback")) {
      const kind = op.op === "snap-create" ? "create" : op.op === "snap-delete" ? "delete" : "rollback";
      effect = { kind, name: op.name, tree: kind === "delete" ? undefined : captureTree(fs) };
    }
    snapEffects.push(effect);
    inosOf(objs, inos);
    touched.push(objs);
    touchedInos.push(inos);
    const r = persist(fs, step.persist);
    mark(`persist:${i}`);
    persisted.push(r === "ok");
    let objects: ObjectState[] = [];
    if (r === "ok") {
      if (step.persist.kind === "sync") {
        objects = captureTree(fs);
      } else if (step.persist.kind === "self") {
        // create commits the whole tree first; a rollback's tree is the snapshot's; delete promises no live object
        if (effect?.kind === "create" || effect?.kind === "rollback") objects = effect.tree!;
      } else if (step.persist.kind === "fsync-parent") {
        objects = [snapshot(fs, step.persist.path, false)];
      } else {
        // fsync: data and metadata; fdatasync: data and size (Linux: what is needed to read it)
        const s = snapshot(fs, step.persist.path, true);
        if (step.persist.kind === "fdatasync") { delete s.mode; delete s.nlink; delete s.xattrs; }
        objects = [s];
      }
    }
    promises.push({ index: i, objects });
  });
  return { workload: w, touched, touchedInos, promises, bytes, outcomes, persisted, snapStart, snapEffects };
}

// ---- the snapshot oracle ---------------------------------------------------------------------

/** What a crash state must show of one snapshot: present with `tree`, absent, or either. */
export interface SnapExpect { present: "yes" | "no" | "either"; tree?: ObjectState[] }

/**
 * The snapshots a crash state must (or may) list, by name, given the last completed
 * persistence point and the last step that began (see checkRecovered): the setup's snapshots,
 * changed by every successful create and delete up to `lastPersist`; a create or delete in
 * flight makes its name "either" (create: absent, or present holding exactly its tree).
 * A name missing from the map must not be listed.
 */
export function snapshotOracle(exp: Expectations, lastPersist: number, startedUpTo: number): Map<string, SnapExpect> {
  const out = new Map<string, SnapExpect>();
  for (const [n, tree] of exp.snapStart) out.set(n, { present: "yes", tree });
  for (let i = 0; i <= startedUpTo && i < exp.snapEffects.length; i++) {
    const e = exp.snapEffects[i];
    if (e === undefined || e.kind === "rollback") continue;
    const done = i <= lastPersist;
    const was = out.get(e.name);
    if (e.kind === "create") out.set(e.name, { present: done ? "yes" : "either", tree: e.tree });
    else if (done) out.set(e.name, { present: "no" });
    else if (was) out.set(e.name, { present: was.present === "no" ? "no" : "either", tree: was.tree });
  }
  return out;
}

/**
 * The rollbacks that may have begun but whose persistence point had not returned, with the
 * snapshot tree each would leave (a self-persisted step is the last one begun, so at most one).
 */
export function rollbacksInFlight(exp: Expectations, lastPersist: number, startedUpTo: number): SnapEffect[] {
  const out: SnapEffect[] = [];
  for (let i = lastPersist + 1; i <= startedUpTo && i < exp.snapEffects.length; i++) {
    const e = exp.snapEffects[i];
    if (e?.kind === "rollback") out.push(e);
  }
  return out;
}

/**
 * True when the live tree at the crash is the workload's final tree and all of it is durable:
 * no step after `lastPersist` changes the live tree, and the last step that did change it is
 * followed (by `lastPersist`) by a whole-tree persistence point: a sync, a snapshot create
 * (it commits first) or a rollback (the setup, synced, counts when no step changed the tree).
 * Only then must the free space after deleting every snapshot equal the final image's.
 */
export function treeSettled(exp: Expectations, lastPersist: number): boolean {
  const steps = exp.workload.steps;
  const changes = (i: number) => exp.outcomes[i] === "ok" && !(isSnapOp(steps[i].op) && steps[i].op.op !== "snap-rollback");
  let last = -1;
  for (let i = 0; i < steps.length; i++) if (changes(i)) last = i;
  if (last === -1) return true;
  if (last > lastPersist) return false;
  for (let j = last; j <= lastPersist; j++) {
    if (!exp.persisted[j]) continue;
    if (steps[j].persist.kind === "sync") return true;
    const e = exp.snapEffects[j];
    if (e !== undefined && e.kind !== "delete") return true;
  }
  return false;
}

// ---- checking ----------------------------------------------------------------------------

export type ViolationKind = "persisted-missing" | "persisted-wrong" | "garbage-bytes" | "rename-atomicity" | "create-in-dir" | "remove-dir" | "rollback-atomicity";
export interface Violation { kind: ViolationKind; path: string; detail: string }

/** True when `x` lies below directory `dir` ("/" holds everything). */
function below(x: string, dir: string): boolean {
  return dir === "/" ? x !== "/" : x.startsWith(dir + "/");
}

/** Two paths one of which is the other or lies below it (a change to one changes the other). */
function related(a: string, b: string): boolean {
  return a === b || below(a, b) || below(b, a);
}

function same(a: ObjectState, b: ObjectState, withMeta: boolean): string | null {
  if (a.type !== b.type) return `type ${b.type}, expected ${a.type}`;
  if (a.type === "file") {
    if (a.size !== b.size) return `size ${b.size}, expected ${a.size}`;
    if (a.data && b.data && !equalBytes(a.data, b.data)) return "contents differ";
    if (withMeta && a.mode !== undefined && a.mode !== b.mode) return `mode ${b.mode?.toString(8)}, expected ${a.mode.toString(8)}`;
    if (withMeta && a.nlink !== undefined && a.nlink !== b.nlink) return `nlink ${b.nlink}, expected ${a.nlink}`;
  }
  if (a.type === "special" && a.mode !== undefined && a.mode !== b.mode) return `mode ${b.mode?.toString(8)}, expected ${a.mode?.toString(8)}`;
  if (withMeta && a.xattrs !== undefined && b.xattrs !== undefined && a.xattrs !== b.xattrs) return `xattrs [${b.xattrs}], expected [${a.xattrs}]`;
  if (a.type === "dir" && a.entries && b.entries && a.entries.join("/") !== b.entries.join("/")) return `entries [${b.entries}], expected [${a.entries}]`;
  if (a.type === "symlink" && a.target !== b.target) return `target ${b.target}, expected ${a.target}`;
  return null;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Checks a recovered filesystem against the oracle. `lastPersist` is the index of the last
 * step whose persistence point had completed at the crash (-1: none); `startedUpTo` is the
 * last step whose operation had begun. Objects touched by steps after `lastPersist` (up to
 * `startedUpTo`) may be in either state and are not compared, except that a rename in
 * flight must leave the file under one of its names. Then: no byte outside the written
 * patterns, a file can be created in every directory and every directory removed once
 * emptied (this changes the recovered filesystem).
 */
export function checkRecovered(fs: WorkloadFs, exp: Expectations, lastPersist: number, startedUpTo: number): Violation[] {
  const v: Violation[] = [];
  const inflight: string[] = [];
  const inflightInos = new Set<number>();
  // a rollback in flight is atomic: the whole tree is the snapshot's (and nothing older is
  // promised any more), or none of it is (every older promise holds): it is then not in flight
  let rolledBack = false;
  const rollingBack = rollbacksInFlight(exp, lastPersist, startedUpTo).length > 0;
  for (const e of rollbacksInFlight(exp, lastPersist, startedUpTo)) if (diffCaptured(e.tree!, captureTree(fs)) === null) rolledBack = true;
  for (let i = lastPersist + 1; i <= startedUpTo && i < exp.touched.length; i++) {
    if (exp.snapEffects[i]?.kind === "rollback") continue;
    inflight.push(...exp.touched[i]);
    for (const n of exp.touchedInos[i]) inflightInos.add(n);
  }
  // the newest promise for each object: a completed step that changes an object (by one of
  // its paths, or its inode through a hard link) voids older promises unless it promises anew
  const promised = new Map<string, ObjectState>();
  for (let i = 0; i <= lastPersist; i++) {
    for (const t of exp.touched[i]) for (const p of [...promised.keys()]) if (related(p, t)) promised.delete(p);
    for (const [p, o] of [...promised]) if (o.ino !== undefined && exp.touchedInos[i].has(o.ino)) promised.delete(p);
    for (const o of exp.promises[i].objects) promised.set(o.path, o);
  }
  if (rolledBack) promised.clear();
  for (const [path, want] of promised) {
    if (inflight.some((t) => related(t, path))) continue;
    if (want.ino !== undefined && inflightInos.has(want.ino)) continue;
    const got = snapshot(fs, path, true);
    // with a rollback in flight that did not happen, a broken old promise is a half rollback
    const rb = rollingBack && !rolledBack;
    if (want.type !== "absent" && got.type === "absent") { v.push({ kind: rb ? "rollback-atomicity" : "persisted-missing", path, detail: `expected a ${want.type}${rb ? " (neither the old tree nor the snapshot's)" : ""}` }); continue; }
    const diff = same(want, got, want.mode !== undefined);
    if (diff) v.push({ kind: rb ? "rollback-atomicity" : "persisted-wrong", path, detail: rb ? `${diff} (neither the old tree nor the snapshot's)` : diff });
  }
  // a rename in flight: the file is under the old or the new name, never neither
  for (let i = lastPersist + 1; i <= startedUpTo && i < exp.workload.steps.length; i++) {
    const op = exp.workload.steps[i].op;
    if (op.op === "rename" && exp.outcomes[i] === "ok") {
      const a = snapshot(fs, op.from, false), b = snapshot(fs, op.to, false);
      if (a.type === "absent" && b.type === "absent") v.push({ kind: "rename-atomicity", path: op.from, detail: `neither ${op.from} nor ${op.to} exists` });
    }
  }
  // bytes never written
  const all: string[] = [];
  try { walk(fs, "/", all); } catch (e) { v.push({ kind: "persisted-missing", path: "/", detail: `walk failed: ${(e as Error).message}` }); }
  const dirs = ["/"];
  for (const p of all) {
    let st;
    try { st = fs.lstatSync(p); } catch { continue; }
    if (st.isDirectory()) { dirs.push(p); continue; }
    if (!st.isFile()) continue;
    let data: Uint8Array;
    try { data = fs.readFileSync(p); } catch (e) { v.push({ kind: "garbage-bytes", path: p, detail: `unreadable: ${(e as Error).message}` }); continue; }
    for (let i = 0; i < data.length; i++) {
      if (!exp.bytes.has(data[i])) { v.push({ kind: "garbage-bytes", path: p, detail: `byte 0x${data[i].toString(16)} at ${i}` }); break; }
    }
  }
  // every directory takes a new file and can be removed once emptied
  for (const d of dirs) {
    const probe = d === "/" ? "/.crash-probe" : `${d}/.crash-probe`;
    try { fs.writeFileSync(probe, "p"); fs.unlinkSync(probe); } catch (e) { v.push({ kind: "create-in-dir", path: d, detail: (e as Error).message }); }
  }
  for (const d of dirs.slice(1).reverse()) {
    try { fs.rmSync(d, { recursive: true, force: false }); } catch (e) { v.push({ kind: "remove-dir", path: d, detail: (e as Error).message }); }
  }
  return v;
}
