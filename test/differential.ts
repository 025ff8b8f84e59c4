// test/differential.ts -- differential testing of a Node-fs-shaped subject against Linux.
//
// Layer: test harness (not a test file). runDifferential() generates a seeded random sequence
// of file-system operations over a small namespace, runs each on the subject (HelixFs over the
// kernel, or over NodeSys) and on Node's real fs in a fresh tmpfs directory (Linux is the
// oracle), and requires identical results.
// Interface: runDifferential({ makeSubject, seed, ops, ... }) -> DifferentialReport, or throws
// DifferentialMismatch naming the seed, the op index, the op, both results and recent history.
// Rules:
//  - only deterministic things are compared: return values, error code/errno/syscall/message
//    (paths made root-relative), file contents, sizes of files and symlinks, link counts,
//    modes, owners, directory listings (as sorted sets), symlink targets; never inode or device
//    numbers, directory sizes, blocks, or times (except right after utimes);
//  - symlink targets never contain '..' and are never absolute, so nothing resolves outside
//    either root, whatever renames do to the tree;
//  - the oracle's directory sits under an empty guard directory and is removed at the end;
//    both roots are chmod'ed to ROOT_MODE first (mkfs and mkdtemp make them differently);
//  - bounded: at most SLOTS_MAX open files, paths of at most DEPTH_MAX components.

import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => any;

/** The part of Node's fs API the harness calls (HelixFs and node:fs both fit). */
export interface DiffFs {
  openSync: Fn; closeSync: Fn; readSync: Fn; writeSync: Fn; ftruncateSync: Fn; truncateSync: Fn;
  fsyncSync: Fn; fdatasyncSync: Fn; fstatSync: Fn; statSync: Fn; lstatSync: Fn; readdirSync: Fn;
  mkdirSync: Fn; rmdirSync: Fn; rmSync: Fn; unlinkSync: Fn; renameSync: Fn; linkSync: Fn;
  symlinkSync: Fn; readlinkSync: Fn; readFileSync: Fn; writeFileSync: Fn; appendFileSync: Fn;
  existsSync: Fn; chmodSync: Fn; chownSync: Fn; utimesSync: Fn; copyFileSync: Fn;
  accessSync: Fn; fchmodSync: Fn; fchownSync: Fn; futimesSync: Fn;
  // issue 13: path and tree functions
  readvSync: Fn; writevSync: Fn;
  realpathSync: Fn; mkdtempSync: Fn; opendirSync: Fn; cpSync: Fn; lchownSync: Fn;
}

/** What makeSubject returns. */
export interface DifferentialSubject {
  /** The API under test. Re-read after reboot(), which may replace it. */
  fs: DiffFs;
  /** Existing, empty directory in the subject's namespace where the ops run ('/' is fine). */
  root: string;
  /** Clean shutdown and remount (fds are closed first by the harness). Optional. */
  reboot?(): void;
  /**
   * The API as further users (actors 1, 2, ...; `fs` is actor 0), over the same namespace,
   * when the run has several (oracleOthers). Re-read after reboot(). Optional.
   */
  others?: DiffFs[];
  /** Called once at the end, pass or fail. Optional. */
  dispose?(): void;
}

export type OpKind =
  | "open" | "close" | "read" | "write" | "pread" | "pwrite" | "ftruncate" | "fstat" | "fsync" | "fdatasync"
  | "truncate" | "writeFile" | "appendFile" | "readFile" | "mkdir" | "mkdirp" | "rmdir" | "rm" | "unlink"
  | "rename" | "link" | "symlink" | "readlink" | "stat" | "lstat" | "exists" | "readdir" | "chmod" | "chown"
  | "utimes" | "copyFile" | "access" | "fchmod" | "fchown" | "futimes"
  | "realpath" | "mkdtemp" | "opendir" | "cp" | "lchown" | "readv" | "writev";

/** Options of runDifferential. */
export interface DifferentialOptions {
  makeSubject(): DifferentialSubject;
  /** PRNG seed: the same seed gives the same op sequence. */
  seed: number;
  /** Number of operations. */
  ops: number;
  /** Parent directory of the oracle's tree. Default /dev/shm if it exists, else os.tmpdir(). */
  tmpDir?: string;
  /** Probability per op of a clean reboot of the subject (when it has reboot). Default 0.02. */
  rebootRate?: number;
  /** Compare the whole trees every this many ops (and always at the end). Default 8. */
  checkEvery?: number;
  /** Largest ordinary write in bytes. Default 8192. */
  maxWriteBytes?: number;
  /** Probability that a write is larger than 1 MiB (exercises chunking). Default 0.002. */
  bigWriteRate?: number;
  /** Compare link counts of directories (Linux: 2 + subdirectories). Default true. */
  compareDirNlink?: boolean;
  /** Compare uid/gid. Default true. */
  compareOwners?: boolean;
  /**
   * The oracle's fs (default node:fs in this process). A user oracle (test/oracle.ts) runs
   * the calls as another user; then give rootOwner too.
   */
  oracleFs?: DiffFs;
  /** Owner given to the oracle's root directory (by this process, before the first op). */
  rootOwner?: { uid: number; gid: number };
  /**
   * The oracle's fs as further users (actors 1, 2, ...), matching the subject's `others`:
   * each op that is not on a descriptor then runs as a random actor (a descriptor's ops as
   * the actor that opened it), so one user's ops meet another's files (sticky bits, groups,
   * owners). Default none.
   */
  oracleOthers?: DiffFs[];
  /** Mode both roots get before the first op (default 0o755; 0o1777 for several actors). */
  rootMode?: number;
  /**
   * Probability that a metadata op also reports which of mtime/ctime it changed, on the
   * inode and on the parent directories it touches (each side waits TIME_TICK_MS first, so
   * the coarse clock of tmpfs has moved on). Default 0 (it costs time).
   */
  timeRate?: number;
  /** Relative weights per op kind (0 disables); merged over the defaults. */
  weights?: Partial<Record<OpKind, number>>;
  /** Receives one line per op with both results (for debugging). */
  log?(line: string): void;
}

/** What a passing run did. */
export interface DifferentialReport {
  seed: number;
  ops: number;
  opCounts: Record<string, number>;
  /** Error codes both sides agreed on, by code. */
  errorCounts: Record<string, number>;
  reboots: number;
  treeChecks: number;
}

/** Thrown when subject and oracle disagree. */
export class DifferentialMismatch extends Error {
  constructor(
    readonly seed: number, readonly opIndex: number, readonly op: unknown,
    readonly subject: unknown, readonly oracle: unknown, readonly history: string[],
  ) {
    super([
      `differential mismatch: seed=${seed} op #${opIndex}`,
      `op:      ${show(op)}`,
      `subject: ${show(subject)}`,
      `oracle:  ${show(oracle)}`,
      `recent ops (oldest first):`,
      ...history.map((h) => `  ${h}`),
      `reproduce: runDifferential({ seed: ${seed}, ops: ${opIndex + 1}, ... })`,
    ].join("\n"));
    this.name = "DifferentialMismatch";
  }
}

const SLOTS_MAX = 6;
const DEPTH_MAX = 4;
/** Paths remembered as existing, to steer ops towards success (a bias, not a model). */
const KNOWN_MAX = 48;
const HISTORY_MAX = 25;
/** Mode both roots get before the first op. */
const ROOT_MODE = 0o755;
const BIG_WRITE = 1024 * 1024 + 4099;
const POS_MAX = 70_000;
/**
 * Positions that would wrap or round on the way to a 64-bit offset: Node's writeSync takes
 * only a safe integer (anything else writes at the current position), readSync refuses them
 * (ERR_OUT_OF_RANGE) or passes a bigint on (EINVAL where pos + len overflows).
 */
const WRAP_POSITIONS: (number | bigint)[] = [2 ** 64 + 4096, 2 ** 63, 2 ** 53, -1, -5, 1.5, NaN,
  2n ** 64n + 5n, 2n ** 63n - 1n, 2n ** 62n, 5n, -1n];
/** Names: short ones, 255-byte ones (ASCII and 2-byte UTF-8), and 256-byte ones (ENAMETOOLONG). */
const LONG = "L".repeat(255);
const LONG_UTF8 = `${"ü".repeat(127)}x`;
const TOOLONG = "T".repeat(256);
const TOOLONG_UTF8 = "ü".repeat(128);
const SHORT_NAMES = ["a", "b", "c", "d", "e"];
const FLAGS: (string | number)[] = ["r", "r+", "w", "wx", "w+", "a", "ax", "a+",
  nodeFs.constants.O_RDONLY | nodeFs.constants.O_DIRECTORY,
  nodeFs.constants.O_RDONLY | nodeFs.constants.O_NOFOLLOW,
  nodeFs.constants.O_RDWR | nodeFs.constants.O_CREAT | nodeFs.constants.O_EXCL | nodeFs.constants.O_NOFOLLOW,
  // permissions: O_TRUNC asks for write even read-only, O_NOATIME only for the owner or root
  nodeFs.constants.O_RDONLY | nodeFs.constants.O_TRUNC, nodeFs.constants.O_RDONLY | nodeFs.constants.O_NOATIME,
  nodeFs.constants.O_WRONLY | nodeFs.constants.O_CREAT];
const MODES = [0o644, 0o600, 0o755, 0o640, 0o777, 0o400, 0o1755, 0o4755, 0o2755, 0o2644, 0o6777, 0o1777, 0o000, 0o311];
/** Owners chown picks: root, nobody (65534), another user, and -1 (leave). */
const UIDS = [0, 1, 1000, 65534, 65533, -1];
const GIDS = [0, 2, 1000, 65534, 65533, -1];
/** access(2) modes: F_OK, X_OK, W_OK, R_OK and combinations. */
const ACCESS_MODES = [0, 1, 2, 4, 6, 7];
/** How long a timed op waits before it runs: more than a tick of Linux's coarse clock (HZ >= 100). */
const TIME_TICK_MS = 12;
const TIMES = [0, 1, 86400.5, 1e9 + 0.25, 1700000000.123456, 2e9, "1234.5", new Date(1_600_000_000_123)];

const DEFAULT_WEIGHTS: Record<OpKind, number> = {
  open: 8, close: 5, read: 5, write: 7, pread: 4, pwrite: 5, ftruncate: 2, fstat: 2, fsync: 1, fdatasync: 1,
  truncate: 3, writeFile: 6, appendFile: 3, readFile: 5, mkdir: 7, mkdirp: 3, rmdir: 3, rm: 2, unlink: 4,
  rename: 7, link: 3, symlink: 4, readlink: 2, stat: 3, lstat: 3, exists: 1, readdir: 3, chmod: 2, chown: 1,
  utimes: 2, copyFile: 3, access: 2, fchmod: 1, fchown: 1, futimes: 1,
  realpath: 3, mkdtemp: 1, opendir: 2, cp: 3, lchown: 1, readv: 3, writev: 3,
};
const FD_OPS = new Set<OpKind>(["close", "read", "write", "pread", "pwrite", "ftruncate", "fstat", "fsync", "fdatasync",
  "fchmod", "fchown", "futimes", "readv", "writev"]);
/** Ops that may report which timestamps they changed (timeRate). */
const TIMED_OPS = new Set<OpKind>(["write", "pwrite", "writev", "ftruncate", "truncate", "mkdir", "rmdir", "unlink", "rename", "link",
  "symlink", "chmod", "chown", "utimes", "fchmod", "fchown", "futimes", "open"]);

/** A small fast PRNG (sfc32) with helpers; the seed fixes the whole run. */
class Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9; this.b = 0x243f6a88; this.c = 0xb7e15162; this.d = seed | 0;
    for (let i = 0; i < 15; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
}

/** Deterministic bytes for a write (the op records only seed and size). */
function bytesFor(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** 53-bit hash of bytes (cyrb53): contents compare by (length, hash). */
function hashBytes(b: Uint8Array): string {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i], 2654435761);
    h2 = Math.imul(h2 ^ b[i], 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16);
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x instanceof Date ? `Date(${x.getTime()})` : x)) ?? String(v);
}

// ---- ops -----------------------------------------------------------------------------------

type Op = { kind: OpKind } & Record<string, unknown>;

/**
 * One side of the comparison: its fs, how relative paths become its paths, its open fds.
 * With several actors, `fs` is the running op's actor's (viewFor) and `actors` all of them.
 */
interface Side {
  fs: DiffFs;
  prefix: string; // paths are `${prefix}/${rel}`
  fds: (number | undefined)[];
  /** Open fds as `${actor}:${fd}` (users' fd numbers are their own). */
  opened: Set<string>;
  actors: DiffFs[];
  /** The actor running the op, and the actor that opened each slot. */
  actor: number;
  slotActor: number[];
}

/** The side as the op's actor: a descriptor's ops run as the actor that opened it. */
function viewFor(side: Side, op: Op): Side {
  const a = FD_OPS.has(op.kind) ? side.slotActor[op.slot as number] ?? 0 : (op.as as number | undefined) ?? 0;
  return a === side.actor ? side : { ...side, fs: side.actors[a], actor: a };
}

const p = (s: Side, rel: string): string => `${s.prefix}/${rel}`;

/**
 * Generates ops from the PRNG. It tracks which slots hold open files and, to reach deeper
 * trees than blind guessing would, which paths recent ops created (learned from the oracle's
 * results, so the sequence is still a function of the seed alone).
 */
class Generator {
  readonly weights: [OpKind, number][];
  private total: number;
  readonly slots: boolean[] = Array(SLOTS_MAX).fill(false);
  private known: string[] = [];
  private knownDirs: string[] = [];

  constructor(private rng: Rng, weights: Partial<Record<OpKind, number>>, private maxWrite: number, private bigRate: number,
    private timeRate = 0, private actors = 1) {
    const w = { ...DEFAULT_WEIGHTS, ...weights };
    this.weights = (Object.keys(w) as OpKind[]).map((k) => [k, w[k]] as [OpKind, number]).filter(([, n]) => n > 0);
    this.total = this.weights.reduce((n, [, x]) => n + x, 0);
  }

  private name(): string {
    const r = this.rng;
    if (r.chance(0.04)) return r.pick([LONG, LONG_UTF8]);
    if (r.chance(0.01)) return r.pick([TOOLONG, TOOLONG_UTF8]);
    return r.pick(SHORT_NAMES);
  }

  path(allowRoot = false): string {
    const r = this.rng;
    if (allowRoot && r.chance(0.05)) return "";
    const slash = r.chance(0.04) ? "/" : "";
    if (this.known.length > 0 && r.chance(0.45)) return r.pick(this.known) + slash;
    if (this.knownDirs.length > 0 && r.chance(0.45)) {
      const dir = r.pick(this.knownDirs);
      if (dir.split("/").length < DEPTH_MAX) return `${dir}/${this.name()}${slash}`;
    }
    const depth = 1 + (r.chance(0.45) ? 1 + (r.chance(0.3) ? 1 : 0) : 0);
    const parts: string[] = [];
    for (let i = 0; i < depth; i++) parts.push(this.name());
    return parts.join("/") + slash;
  }

  /** A path that probably exists (for ops that read, change or remove something). */
  src(dirs = false): string {
    const r = this.rng;
    const pool = dirs ? this.knownDirs : r.chance(0.7) ? this.known : this.knownDirs;
    if (pool.length > 0 && r.chance(0.75)) return r.pick(pool) + (r.chance(0.03) ? "/" : "");
    return this.path();
  }

  /** Learns from an op the oracle completed successfully. */
  observe(op: Op): void {
    const clean = (x: unknown): string => String(x).replace(/\/+$/, "");
    const add = (list: string[], x: string): void => {
      if (x === "" || list.includes(x)) return;
      list.push(x);
      if (list.length > KNOWN_MAX) list.shift();
    };
    const drop = (x: string): void => {
      const gone = (k: string): boolean => k === x || k.startsWith(`${x}/`);
      this.known = this.known.filter((k) => !gone(k));
      this.knownDirs = this.knownDirs.filter((k) => !gone(k));
    };
    switch (op.kind) {
      case "mkdir": case "mkdirp": add(this.knownDirs, clean(op.path)); break;
      case "open": case "writeFile": case "appendFile": case "symlink": add(this.known, clean(op.path)); break;
      case "link": case "copyFile": add(this.known, clean(op.to)); break;
      case "cp": add(this.known, clean(op.to)); break;
      case "rename": {
        const from = clean(op.from), to = clean(op.to);
        const wasDir = this.knownDirs.includes(from);
        drop(from);
        add(wasDir ? this.knownDirs : this.known, to);
        break;
      }
      case "rm": case "rmdir": case "unlink": drop(clean(op.path)); break;
      default: break;
    }
  }

  /** Relative, '..'-free symlink targets: siblings, descendants, self, '.', dangling. */
  private target(linkPath: string): string {
    const r = this.rng;
    const base = linkPath.replace(/\/$/, "").split("/").pop() ?? "a";
    switch (r.int(7)) {
      case 0: return base; // a loop onto itself
      case 1: return ".";
      case 2: return "nonexistent";
      case 3: return `${r.pick(SHORT_NAMES)}/${r.pick(SHORT_NAMES)}`;
      case 4: return r.chance(0.2) ? LONG : r.pick(SHORT_NAMES) + "/";
      default: return r.pick(SHORT_NAMES);
    }
  }

  private size(): number {
    const r = this.rng;
    if (r.chance(this.bigRate)) return BIG_WRITE;
    if (r.chance(0.7)) return r.int(600);
    return r.int(this.maxWrite + 1);
  }

  private slot(open: boolean): number {
    const idx = this.slots.map((v, i) => (v === open ? i : -1)).filter((i) => i >= 0);
    return idx.length === 0 ? -1 : this.rng.pick(idx);
  }

  next(): Op {
    const r = this.rng;
    for (;;) {
      let x = r.next() * this.total;
      let kind: OpKind = this.weights[0][0];
      for (const [k, w] of this.weights) { if ((x -= w) < 0) { kind = k; break; } }
      if (FD_OPS.has(kind) && this.slot(true) < 0) continue;
      if (kind === "open" && this.slot(false) < 0) kind = "close";
      const op = this.make(kind);
      if (this.timeRate > 0 && TIMED_OPS.has(kind) && r.chance(this.timeRate)) op.timed = true;
      if (this.actors > 1 && !FD_OPS.has(kind)) op.as = r.int(this.actors);
      return op;
    }
  }

  private make(kind: OpKind): Op {
    const r = this.rng;
    const pos = (): number | bigint => (r.chance(0.03) ? r.pick(WRAP_POSITIONS) : r.chance(0.2) ? POS_MAX - r.int(100) : r.int(9000));
    const vpos = (): unknown => (r.chance(0.4) ? null : r.chance(0.15) ? r.pick([-1, 1.5, NaN, "7", 2 ** 53]) : pos());
    // "." or ".." as the last component (rename: EBUSY on Linux whatever the other name is)
    const dots = (p: string): string => (r.chance(0.06) ? `${p.replace(/\/+$/, "")}/${r.pick([".", ".."])}`.replace(/^\//, "") : p);
    switch (kind) {
      case "open": return { kind, slot: this.slot(false), path: r.chance(0.5) ? this.src() : this.path(true), flags: r.pick(FLAGS), mode: r.pick(MODES) };
      case "close": case "fstat": case "fsync": case "fdatasync": return { kind, slot: this.slot(true) };
      case "read": return { kind, slot: this.slot(true), len: r.chance(0.1) ? 0 : 1 + r.int(9000) };
      case "pread": return { kind, slot: this.slot(true), len: 1 + r.int(9000), pos: pos() };
      case "write": return { kind, slot: this.slot(true), size: this.size(), seed: r.int(1e9) };
      case "pwrite": return { kind, slot: this.slot(true), size: this.size(), seed: r.int(1e9), pos: pos() };
      // readv/writev: 0..4 buffers (some empty; 0 buffers is EINVAL for readv, 0 for writev),
      // at the current position, at an offset, or at a position Node treats as current
      case "readv": return { kind, slot: this.slot(true), lens: Array.from({ length: r.int(5) }, () => (r.chance(0.2) ? 0 : r.int(3000))), pos: vpos() };
      case "writev": return { kind, slot: this.slot(true), sizes: Array.from({ length: r.int(5) }, () => (r.chance(0.2) ? 0 : this.size())), seed: r.int(1e9), pos: vpos() };
      case "ftruncate": return { kind, slot: this.slot(true), len: r.chance(0.3) ? 0 : r.int(POS_MAX) };
      case "truncate": return { kind, path: this.src(), len: r.chance(0.3) ? 0 : r.int(POS_MAX) };
      case "writeFile": return { kind, path: this.path(), size: this.size(), seed: r.int(1e9), flag: r.pick(["w", "w", "wx", "a", "r+"]), mode: r.pick(MODES) };
      case "appendFile": return { kind, path: this.path(), size: this.size(), seed: r.int(1e9) };
      case "readFile": return { kind, path: this.src() };
      case "mkdir": return { kind, path: this.path(), mode: r.pick(MODES) };
      case "mkdirp": return { kind, path: this.path(), mode: r.pick(MODES) };
      case "rmdir": return { kind, path: this.src(true) };
      case "unlink": case "readlink": case "stat": case "lstat": case "exists":
        return { kind, path: r.chance(0.05) ? "" : this.src() };
      case "rm": return { kind, path: this.src(), recursive: r.chance(0.6), force: r.chance(0.5) };
      case "rename": return { kind, from: dots(this.src()), to: dots(this.path()) };
      case "link": return { kind, from: this.src(), to: this.path() };
      case "symlink": { const lp = this.path(); return { kind, target: this.target(lp), path: lp }; }
      case "readdir": return { kind, path: r.chance(0.1) ? "" : this.src(true), withFileTypes: r.chance(0.5) };
      case "chmod": return { kind, path: this.src(), mode: r.pick(MODES) };
      case "chown": return { kind, path: this.src(), uid: r.pick(UIDS), gid: r.pick(GIDS) };
      case "fchmod": return { kind, slot: this.slot(true), mode: r.pick(MODES) };
      case "fchown": return { kind, slot: this.slot(true), uid: r.pick(UIDS), gid: r.pick(GIDS) };
      case "futimes": return { kind, slot: this.slot(true), atime: r.pick(TIMES), mtime: r.pick(TIMES) };
      case "access": return { kind, path: r.chance(0.05) ? "" : this.src(), mode: r.pick(ACCESS_MODES) };
      case "utimes": return { kind, path: this.src(), atime: r.pick(TIMES), mtime: r.pick(TIMES) };
      case "copyFile": return { kind, from: this.src(), to: this.path(), excl: r.chance(0.3) };
      case "realpath": return { kind, path: r.chance(0.05) ? "" : dots(this.src()), native: r.chance(0.5) };
      case "mkdtemp": return { kind, prefix: this.path() };
      case "opendir": return { kind, path: r.chance(0.1) ? "" : this.src(true), recursive: r.chance(0.3) };
      // into a fresh name mostly, so a copy that fails part-way is rare (see exec)
      case "cp": return { kind, from: this.src(), to: r.chance(0.85) ? this.path() : this.src(), recursive: r.chance(0.7), force: r.chance(0.7), errorOnExist: r.chance(0.3) };
      case "lchown": return { kind, path: this.src(), uid: r.pick(UIDS), gid: r.pick(GIDS) };
    }
  }
}

// ---- running and normalizing ---------------------------------------------------------------

interface Compare { dirNlink: boolean; owners: boolean }

/** Makes `s` root-relative: `${prefix}/x` -> '/x'. */
function unroot(side: Side, s: unknown): unknown {
  return typeof s === "string" ? s.split(`${side.prefix}/`).join("/") : s;
}

function normError(side: Side, e: unknown): Record<string, unknown> {
  const err = e as Error & Record<string, unknown>;
  const out: Record<string, unknown> = { error: err.code ?? err.name, name: err.name, message: unroot(side, err.message) };
  if (err.errno !== undefined) out.errno = err.errno;
  if (err.syscall !== undefined) out.syscall = err.syscall;
  if (err.path !== undefined) out.path = unroot(side, err.path);
  if (err.dest !== undefined) out.dest = unroot(side, err.dest);
  return out;
}

interface StatLike { mode: number; nlink: number; uid: number; gid: number; size: number; isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean }

function normStat(st: StatLike, cmp: Compare): Record<string, unknown> {
  const dir = st.isDirectory();
  const out: Record<string, unknown> = { mode: st.mode.toString(8) };
  if (!dir || cmp.dirNlink) out.nlink = st.nlink;
  if (cmp.owners) { out.uid = st.uid; out.gid = st.gid; }
  if (!dir) out.size = st.size;
  return out;
}

function exec(side: Side, op: Op, cmp: Compare): unknown {
  const fs = side.fs;
  const fd = (): number => side.fds[op.slot as number] as number;
  switch (op.kind) {
    case "open": {
      const n = fs.openSync(p(side, op.path as string), op.flags, op.mode);
      side.fds[op.slot as number] = n;
      side.slotActor[op.slot as number] = side.actor;
      side.opened.add(`${side.actor}:${n}`);
      return "fd";
    }
    case "close": {
      const n = fd();
      side.fds[op.slot as number] = undefined;
      side.opened.delete(`${side.actor}:${n}`);
      return fs.closeSync(n);
    }
    case "read": case "pread": {
      const buf = Buffer.alloc(op.len as number);
      const n = fs.readSync(fd(), buf, 0, op.len, op.kind === "pread" ? op.pos : null);
      return { n, data: hashBytes(buf.subarray(0, n)) };
    }
    case "write": case "pwrite":
      return fs.writeSync(fd(), bytesFor(op.seed as number, op.size as number), 0, op.size, op.kind === "pwrite" ? op.pos : null);
    case "readv": {
      const bufs = (op.lens as number[]).map((n) => Buffer.alloc(n));
      const n = fs.readvSync(fd(), bufs, op.pos);
      return { n, data: hashBytes(Buffer.concat(bufs)) }; // the whole lists: where each byte landed
    }
    case "writev": {
      const all = bytesFor(op.seed as number, (op.sizes as number[]).reduce((a, b) => a + b, 0));
      const bufs: Buffer[] = [];
      let o = 0;
      for (const n of op.sizes as number[]) { bufs.push(all.subarray(o, o + n)); o += n; }
      return fs.writevSync(fd(), bufs, op.pos);
    }
    case "ftruncate": return fs.ftruncateSync(fd(), op.len);
    case "fstat": return normStat(fs.fstatSync(fd()), cmp);
    case "fsync": return fs.fsyncSync(fd());
    case "fdatasync": return fs.fdatasyncSync(fd());
    case "truncate": return fs.truncateSync(p(side, op.path as string), op.len);
    case "writeFile":
      return fs.writeFileSync(p(side, op.path as string), bytesFor(op.seed as number, op.size as number), { flag: op.flag, mode: op.mode });
    case "appendFile": return fs.appendFileSync(p(side, op.path as string), bytesFor(op.seed as number, op.size as number));
    case "readFile": { const b: Buffer = fs.readFileSync(p(side, op.path as string)); return { len: b.length, hash: hashBytes(b) }; }
    case "mkdir": return fs.mkdirSync(p(side, op.path as string), op.mode);
    case "mkdirp": return unroot(side, fs.mkdirSync(p(side, op.path as string), { recursive: true, mode: op.mode }));
    case "rmdir": return fs.rmdirSync(p(side, op.path as string));
    case "rm": return fs.rmSync(p(side, op.path as string), { recursive: op.recursive, force: op.force });
    case "unlink": return fs.unlinkSync(p(side, op.path as string));
    case "rename": return fs.renameSync(p(side, op.from as string), p(side, op.to as string));
    case "link": return fs.linkSync(p(side, op.from as string), p(side, op.to as string));
    case "symlink": return fs.symlinkSync(op.target, p(side, op.path as string));
    case "readlink": return fs.readlinkSync(p(side, op.path as string));
    case "stat": return normStat(fs.statSync(p(side, op.path as string)), cmp);
    case "lstat": return normStat(fs.lstatSync(p(side, op.path as string)), cmp);
    case "exists": return fs.existsSync(p(side, op.path as string));
    case "readdir": {
      const list = fs.readdirSync(p(side, op.path as string), { withFileTypes: op.withFileTypes });
      const names = (list as (string | { name: string; isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean })[])
        .map((e) => (typeof e === "string" ? e : `${e.name}:${e.isFile() ? "f" : e.isDirectory() ? "d" : e.isSymbolicLink() ? "l" : "?"}`));
      return names.sort();
    }
    case "chmod": return fs.chmodSync(p(side, op.path as string), op.mode);
    case "chown": return fs.chownSync(p(side, op.path as string), op.uid, op.gid);
    case "utimes": {
      const target = p(side, op.path as string);
      fs.utimesSync(target, op.atime, op.mtime);
      const st = fs.statSync(target);
      return { atimeMs: st.atimeMs, mtimeMs: st.mtimeMs };
    }
    case "copyFile":
      return fs.copyFileSync(p(side, op.from as string), p(side, op.to as string), op.excl ? nodeFs.constants.COPYFILE_EXCL : 0);
    case "access": return fs.accessSync(p(side, op.path as string), op.mode);
    case "fchmod": return fs.fchmodSync(fd(), op.mode);
    case "fchown": return fs.fchownSync(fd(), op.uid, op.gid);
    case "futimes": {
      fs.futimesSync(fd(), op.atime, op.mtime);
      const st = fs.fstatSync(fd());
      return { atimeMs: st.atimeMs, mtimeMs: st.mtimeMs };
    }
    case "realpath": {
      const target = p(side, op.path as string);
      const r: string = op.native ? realpathNative(fs)(target) : fs.realpathSync(target);
      // '..' at the root stays there in the kernel's namespace (as in a chroot), but a final
      // '..' after a symlink to '.' (dots() above) climbs out of the oracle's root: an ancestor
      // of the root is the root
      const above = side.prefix !== "" && side.prefix.startsWith(r === "/" ? r : `${r}/`);
      return r === side.prefix || above || (r === "/" && side.prefix === "") ? "/" : unroot(side, r);
    }
    case "mkdtemp": return execMkdtemp(side, op);
    case "opendir": return execOpendir(side, op);
    case "cp": return execCp(side, op);
    case "lchown": return fs.lchownSync(p(side, op.path as string), op.uid, op.gid);
  }
}

/** realpathSync.native of a DiffFs (the user oracle's proxy names it "realpathSync.native"). */
function realpathNative(fs: DiffFs): Fn {
  return (fs.realpathSync as Fn & { native?: Fn }).native ?? (fs as unknown as Record<string, Fn>)["realpathSync.native"];
}

/**
 * mkdtemp: the name's shape (prefix + 6 of [A-Za-z0-9]) and the new directory's mode; the
 * directory is removed again, since its random name differs between the sides.
 */
function execMkdtemp(side: Side, op: Op): unknown {
  const prefix = p(side, op.prefix as string);
  const made: string = side.fs.mkdtempSync(prefix);
  const shape = made.length === prefix.length + 6 && made.startsWith(prefix) && /^[A-Za-z0-9]{6}$/.test(made.slice(-6));
  const mode = (side.fs.lstatSync(made).mode as number).toString(8);
  side.fs.rmdirSync(made);
  return { shape, mode };
}

/**
 * opendir: every entry read with readSync (name, type, parentPath) as a sorted set (a Dir
 * gives getdents order, which differs between file systems), then readSync after closeSync
 * (ERR_DIR_CLOSED).
 */
function execOpendir(side: Side, op: Op): unknown {
  const dir = side.fs.opendirSync(p(side, op.path as string), { recursive: op.recursive });
  const out: string[] = [];
  try {
    for (let d = dir.readSync(); d !== null; d = dir.readSync()) {
      const kind = d.isFile() ? "f" : d.isDirectory() ? "d" : d.isSymbolicLink() ? "l" : "?";
      out.push(`${d.name}:${kind}:${unroot(side, `${d.parentPath}/`)}`);
    }
  } finally {
    dir.closeSync();
  }
  let afterClose: unknown = "no error";
  try { dir.readSync(); } catch (e) { afterClose = normError(side, e); }
  return { entries: out.sort(), afterClose };
}

/**
 * cp: cpSync with verbatimSymlinks (snapshots compare link targets as written, and cp would
 * make them absolute, so different between the sides). A copy that fails part-way leaves a
 * partial tree that depends on the directory order (getdents order differs between file
 * systems): then the destination is removed on both sides, and when the failing entry is
 * not src or dest itself only the error's code and syscall are compared. Onto an existing
 * dest the copy is not recursive (a directory then fails early with ERR_FS_EISDIR).
 */
function execCp(side: Side, op: Op): unknown {
  const src = p(side, op.from as string), dest = p(side, op.to as string);
  // onto something that exists a recursive copy could fail part-way at an entry that depends
  // on the directory order, and the partial tree would stay: copy into existing names one
  // entry deep only (the same decision on both sides: their trees are equal so far)
  let existed = false; // lstat: a dangling link exists too
  try { existed = side.fs.lstatSync(dest) !== undefined; } catch { /* absent or unreachable */ }
  // a link copied onto an existing name is checked with its verbatim (relative) target
  // resolved against process.cwd() (a Node quirk): the sides' cwds differ, so leave that case
  // to test/dirops.test.ts, which gives both an unrelated cwd
  let srcIsLink = false;
  try { srcIsLink = side.fs.lstatSync(src).isSymbolicLink(); } catch { /* cp reports it */ }
  if (existed && srcIsLink) return "link onto an existing name: not compared here";
  try {
    return side.fs.cpSync(src, dest, { recursive: op.recursive && !existed, force: op.force, errorOnExist: op.errorOnExist, verbatimSymlinks: true });
  } catch (e) {
    const err = e as Error & Record<string, unknown>;
    const early = String(err.code).startsWith("ERR_") || err.path === src || err.path === dest || err.path === undefined;
    if (!existed) try { side.fs.rmSync(dest, { recursive: true, force: true }); } catch { /* as the oracle would be */ }
    if (early) throw e;
    const short = new Error(String(err.code)) as Error & Record<string, unknown>;
    short.code = err.code;
    short.syscall = err.syscall;
    throw short;
  }
}

const parentOf = (rel: string): string => {
  const parts = rel.replace(/\/+$/, "").split("/");
  parts.pop();
  return parts.join("/");
};

/**
 * What a timed op watches: [before, after] pairs of paths (lstat unless `follow`), or the
 * op's descriptor. rename watches the moved inode under its old and new names.
 */
function watched(op: Op): { before: string | number; after: string | number; follow: boolean }[] {
  const same = (x: string, follow = false) => ({ before: x, after: x, follow });
  const path = op.path as string;
  switch (op.kind) {
    case "write": case "pwrite": case "ftruncate": case "fchmod": case "fchown": case "futimes":
      return [{ before: op.slot as number, after: op.slot as number, follow: true }];
    case "truncate": case "chmod": case "chown": case "utimes": return [same(path, true)];
    case "open": return [same(path, true), same(parentOf(path))];
    case "mkdir": case "rmdir": case "unlink": case "symlink": return [same(parentOf(path))];
    case "link": return [same(op.from as string), same(parentOf(op.to as string))];
    case "rename": {
      const from = op.from as string, to = op.to as string;
      return [{ before: from, after: to, follow: false }, same(parentOf(from)), same(parentOf(to))];
    }
    default: return [];
  }
}

/** mtime/ctime in ms of a watched thing, or null when it cannot be looked at. */
function timesOf(side: Side, w: string | number, follow: boolean): [number, number] | null {
  try {
    const st = typeof w === "number" ? side.fs.fstatSync(side.fds[w]) : follow ? side.fs.statSync(p(side, w)) : side.fs.lstatSync(p(side, w));
    return [st.mtimeMs, st.ctimeMs];
  } catch {
    return null;
  }
}

const sleepMs = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

/**
 * Runs a timed op: waits a clock tick, runs it, and adds which of mtime ("m") and ctime ("c")
 * changed on each watched thing ("-" when it could not be looked at before or after).
 */
function execTimed(side: Side, op: Op, cmp: Compare): unknown {
  const ws = watched(op);
  const fdBefore = typeof ws[0]?.before === "number" ? side.fds[ws[0].before as number] : undefined;
  const before = ws.map((w) => timesOf(side, w.before, w.follow));
  sleepMs(TIME_TICK_MS);
  const v = exec(side, op, cmp);
  const changed = ws.map((w, i) => {
    // an open that replaced the slot's fd watches the same file under its path instead
    if (typeof w.after === "number" && side.fds[w.after] !== fdBefore) return "-";
    const a = before[i], b = timesOf(side, w.after, w.follow);
    if (a === null || b === null) return "-";
    return `${b[0] !== a[0] ? "m" : ""}${b[1] !== a[1] ? "c" : ""}` || "=";
  });
  return { v: v === undefined ? "ok" : v, changed };
}

function run(whole: Side, op: Op, cmp: Compare): unknown {
  const side = viewFor(whole, op);
  try {
    const v = op.timed ? execTimed(side, op, cmp) : exec(side, op, cmp);
    return v === undefined ? "ok" : { ok: v };
  } catch (e) {
    return normError(side, e);
  }
}

/** A snapshot of a whole tree: rel path -> what is comparable about it. */
function snapshot(side: Side, cmp: Compare): Map<string, unknown> {
  const out = new Map<string, unknown>();
  // as another user parts of the tree may be unreadable: the error is what is compared then
  const code = (e: unknown): string => `!${String((e as { code?: unknown }).code ?? e)}`;
  const walk = (rel: string): void => {
    const full = rel === "" ? `${side.prefix}/` : p(side, rel);
    let st: StatLike & { isSymbolicLink(): boolean; isFile(): boolean };
    try { st = side.fs.lstatSync(full); } catch (e) { out.set(rel, code(e)); return; }
    const entry: Record<string, unknown> = normStat(st, cmp);
    out.set(rel, entry);
    try {
      if (st.isSymbolicLink()) entry.target = side.fs.readlinkSync(full);
      else if (st.isFile()) entry.hash = hashBytes(side.fs.readFileSync(full));
      else if (st.isDirectory()) {
        const names = (side.fs.readdirSync(full) as string[]).slice().sort();
        entry.children = names;
        for (const n of names) walk(rel === "" ? n : `${rel}/${n}`);
      }
    } catch (e) {
      entry.content = code(e);
    }
  };
  walk("");
  return out;
}

function diffSnapshots(a: Map<string, unknown>, b: Map<string, unknown>): { path: string; subject: unknown; oracle: unknown } | null {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const k of keys) {
    if (show(a.get(k)) !== show(b.get(k))) return { path: k, subject: a.get(k) ?? "(missing)", oracle: b.get(k) ?? "(missing)" };
  }
  return null;
}

function defaultTmp(): string {
  return nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
}

function closeAll(side: Side): void {
  for (const key of side.opened) {
    const [a, fd] = key.split(":").map(Number);
    try { side.actors[a].closeSync(fd); } catch { /* already gone (reboot) */ }
  }
  side.opened.clear();
  side.fds.fill(undefined);
}

/**
 * Runs `opts.ops` seeded random operations on the subject and on Node's fs in a fresh
 * tmpfs directory and requires identical results (see the file header for what is compared).
 * Returns a report, or throws DifferentialMismatch (seed, op index, op, both results).
 */
export function runDifferential(opts: DifferentialOptions): DifferentialReport {
  const cmp: Compare = { dirNlink: opts.compareDirNlink ?? true, owners: opts.compareOwners ?? true };
  const rng = new Rng(opts.seed);
  const oracleActors = [opts.oracleFs ?? nodeFs as unknown as DiffFs, ...(opts.oracleOthers ?? [])];
  const gen = new Generator(rng, opts.weights ?? {}, opts.maxWriteBytes ?? 8192, opts.bigWriteRate ?? 0.002, opts.timeRate ?? 0,
    oracleActors.length);
  const base = nodeFs.mkdtempSync(path.join(opts.tmpDir ?? defaultTmp(), "helix-diff-"));
  const oracleRoot = path.join(base, "guard", "root");
  nodeFs.mkdirSync(oracleRoot, { recursive: true });
  if (opts.rootOwner) {
    // another user must reach the root: mkdtemp made `base` 0700
    nodeFs.chmodSync(base, 0o755);
    nodeFs.chmodSync(path.join(base, "guard"), 0o755);
    nodeFs.chownSync(oracleRoot, opts.rootOwner.uid, opts.rootOwner.gid);
  }
  const subject = opts.makeSubject();
  const subjectActors = (): DiffFs[] => [subject.fs, ...(subject.others ?? [])];
  if (subjectActors().length !== oracleActors.length) throw new Error("differential: the subject and the oracle need as many actors");
  const newSide = (actors: DiffFs[], prefix: string): Side => ({
    fs: actors[0], prefix, fds: Array(SLOTS_MAX).fill(undefined), opened: new Set(), actors, actor: 0, slotActor: Array(SLOTS_MAX).fill(0),
  });
  const oracle = newSide(oracleActors, oracleRoot);
  const subj = newSide(subjectActors(), subject.root.replace(/\/+$/, ""));
  const report: DifferentialReport = { seed: opts.seed, ops: opts.ops, opCounts: {}, errorCounts: {}, reboots: 0, treeChecks: 0 };
  // The roots were made by different means (mkfs, mkdtemp, mkdir): give them one mode.
  subj.fs.chmodSync(`${subj.prefix}/`, opts.rootMode ?? ROOT_MODE);
  oracle.fs.chmodSync(oracleRoot, opts.rootMode ?? ROOT_MODE);
  const history: string[] = [];
  const checkEvery = Math.max(1, opts.checkEvery ?? 8);
  const rebootRate = subject.reboot ? opts.rebootRate ?? 0.02 : 0;
  let passed = false;

  const compareTrees = (i: number, why: string): void => {
    report.treeChecks++;
    let a: Map<string, unknown> | { walkError: unknown };
    try {
      a = snapshot(subj, cmp);
    } catch (e) {
      a = { walkError: normError(subj, e) };
    }
    const b = snapshot(oracle, cmp);
    const d = a instanceof Map ? diffSnapshots(a, b) : { path: "", subject: a, oracle: "(walk ok)" };
    if (d) throw new DifferentialMismatch(opts.seed, i, { kind: "treeCheck", after: why, path: d.path }, d.subject, d.oracle, history.slice());
  };

  try {
    for (let i = 0; i < opts.ops; i++) {
      if (rng.chance(rebootRate)) {
        closeAll(subj);
        closeAll(oracle);
        gen.slots.fill(false);
        subject.reboot!();
        subj.fs = subject.fs;
        subj.actors = subjectActors();
        report.reboots++;
        history.push(`#${i} reboot`);
        compareTrees(i, "reboot");
      }
      const op = gen.next();
      const a = run(subj, op, cmp);
      const b = run(oracle, op, cmp);
      const line = `#${i} ${show(op)} => ${show(b)}`;
      opts.log?.(line);
      if (show(a) !== show(b)) throw new DifferentialMismatch(opts.seed, i, op, a, b, history.slice());
      history.push(line.length > 300 ? `${line.slice(0, 300)}...` : line);
      if (history.length > HISTORY_MAX) history.shift();
      report.opCounts[op.kind] = (report.opCounts[op.kind] ?? 0) + 1;
      const code = (b as { error?: string }).error;
      if (code) report.errorCounts[code] = (report.errorCounts[code] ?? 0) + 1;
      if (!code) gen.observe(op);
      if (op.kind === "open" && !code) gen.slots[op.slot as number] = true;
      if (op.kind === "close") gen.slots[op.slot as number] = false;
      if ((i + 1) % checkEvery === 0) compareTrees(i, `op #${i}`);
    }
    compareTrees(opts.ops, "end");
    passed = true;
    return report;
  } finally {
    closeAll(oracle);
    try {
      closeAll(subj);
      subject.dispose?.();
    } catch (e) {
      if (passed) throw e; // a failing dispose (fsck, say) fails a passing run; never masks a mismatch
    } finally {
      nodeFs.rmSync(base, { recursive: true, force: true });
    }
  }
}
