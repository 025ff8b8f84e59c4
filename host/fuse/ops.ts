// host/fuse/ops.ts -- every FUSE operation as kernel syscalls, run with the caller's credentials.
//
// Layer: FUSE role (Node only), above host/fuse/binding.ts and a booted Kernel (host/vmm/).
// Interface: new FuseOps(kernel, binding, opts).handlers() -> the addon's handler table;
// .implemented() -> which ops libfuse may call; onInit(fn).
// Rules:
//  - no host-side cache that could disagree with the kernel: every request is one or a few
//    syscalls; file and directory handles are kernel file descriptors (open/opendir/create
//    return one, release/releasedir close it); nothing about files is remembered here;
//  - the kernel makes every permission decision: each request runs on a Sys bound to the
//    caller's uid, gid and supplementary groups (Kernel.sysAs, one Sys per distinct Cred);
//  - supplementary groups come from /proc/PID/task/PID/status "Groups:" (what libfuse's
//    fuse_req_getgroups reads), read asynchronously and kept GROUPS_TTL_MS per (pid, uid, gid):
//    a request whose caller is not cached waits for the read; the JS thread never blocks;
//  - POSIX meanings: flush (each close(2) of a descriptor) writes nothing back, the kernel's
//    page cache is the file (close promises no durability): it is not implemented, so the
//    FUSE module stops sending it after libfuse's first ENOSYS; fsync/fsyncdir are the kernel's
//    fsync/fdatasync of the handle; release closes the kernel descriptor;
//  - ops other helpers add to Sys (mknod, xattrs, access) are wired when the Sys has them and
//    left to libfuse's ENOSYS otherwise (the FUSE kernel then answers EOPNOTSUPP for xattrs);
//  - a handler never throws into the addon: an exception answers -EIO (and is logged once);
//  - a path of PATH_MAX bytes or more (libfuse 2 builds full paths from the mount's root, so a
//    caller's valid relative path below a deep working directory arrives longer than Linux's
//    limit) is run relative to the kernel's working directory: chdir (as the caller) to its
//    directory in pieces under PATH_MAX, the op with the rest, chdir back to "/" on every exit
//    (handlers run to completion on the JS thread, so no other request sees that directory).
//    Shorter paths take no extra step (docs/decisions.md "Long FUSE paths").

import * as fsp from "node:fs/promises";
import { Buffer } from "node:buffer";
import type { Kernel } from "../vmm/kernel.js";
import {
  DT_DIR, O_CREAT, O_DIRECTORY, O_RDONLY, SEEK_SET, UTIME_NOW, UTIME_OMIT,
  type Cred, type StatRecord, type Sys, type SysName, type SysPath,
} from "../fs/fs.js";
import { FUSE_OPS, FUSE_OP_SLOTS, type FuseBinding, type FuseHandle, type FuseOpName } from "./binding.js";

const EPERM = 1, EIO = 5, ENOENT = 2, ERANGE = 34, ENOSYS = 38, ENAMETOOLONG = 36;

/** Linux PATH_MAX in bytes: the kernel refuses a path of this many bytes or more (fs/namei.ts). */
export const PATH_MAX = 4096;

/**
 * Which arguments of an op are paths the op resolves (a symlink's target is data, not a path;
 * ops on a handle ignore their path). Only these are shortened by the working directory.
 */
const PATH_ARGS: Partial<Record<FuseOpName, readonly number[]>> = {
  getattr: [0], access: [0], statfs: [0], opendir: [0], readdir: [0], open: [0], create: [0],
  truncate: [0], utimens: [0], readlink: [0], chown: [0], chmod: [0], mknod: [0], setxattr: [0],
  getxattr: [0], listxattr: [0], removexattr: [0], unlink: [0], rmdir: [0], mkdir: [0],
  rename: [0, 1], link: [0, 1], symlink: [1],
};

/** Whether a path argument at `which` is PATH_MAX bytes or more (one length compare each). */
function isLong(args: unknown[], which: readonly number[]): boolean {
  for (const i of which) {
    const p = args[i];
    if (typeof p === "string" && p.length >= PATH_MAX) return true;
  }
  return false;
}

/** How a long path runs: chdir through `steps` in order (the first is absolute), then use `rel`. */
export interface LongPathPlan { steps: string[]; rel: string[] }

/** `p` without its last component (and trailing slashes): "/a/b" -> "/a", "/a" -> "" (the root). */
function dirOf(p: string): string {
  let e = p.length;
  while (e > 1 && p[e - 1] === "/") e--;
  const k = p.lastIndexOf("/", e - 1);
  return k <= 0 ? "" : p.slice(0, k);
}

/**
 * Splits absolute wire paths (one char per byte) for a run below a working directory: the
 * deepest directory all of them are under (their common parent, "" being the root), cut at
 * '/' into chdir steps each under PATH_MAX bytes, and each path relative to it. -ENAMETOOLONG
 * when a relative rest is still PATH_MAX bytes or more (two long paths that part high up: one
 * working directory cannot shorten both) or a step has no '/' to cut at (a component of 4096
 * bytes, which no FUSE lookup sends).
 */
export function planLongPaths(paths: readonly string[]): LongPathPlan | number {
  let d = dirOf(paths[0]);
  for (const q of paths) {
    while (d !== "" && !(q.startsWith(d + "/") && q.length > d.length + 1)) d = dirOf(d);
  }
  const rel = paths.map((q) => q.slice(d.length).replace(/^\/+/, ""));
  if (rel.some((r) => r.length >= PATH_MAX || r.length === 0)) return -ENAMETOOLONG;
  const steps: string[] = [];
  let rest = d === "" ? "/" : d;
  while (rest.length >= PATH_MAX) {
    const k = rest.lastIndexOf("/", PATH_MAX - 1);
    if (k < 0 || (k === 0 && steps.length > 0)) return -ENAMETOOLONG;
    steps.push(k === 0 ? "/" : rest.slice(0, k));
    rest = rest.slice(k + 1).replace(/^\/+/, "");
  }
  if (rest !== "") steps.push(rest);
  return { steps, rel };
}

/** How long the supplementary groups read for a (pid, uid, gid) are reused, in ms. */
export const GROUPS_TTL_MS = 1000;
/** Cached callers at most (a cache miss only costs one /proc read). */
const GROUPS_CACHE_MAX = 4096;
/** Distinct credentials with a Sys kept at most (each is a few closures). */
const SYS_CACHE_MAX = 1024;
/** Supplementary groups passed to the kernel at most (fs/cred.ts NGROUPS_MAX). */
const NGROUPS_MAX = 256;
/** Bytes of one request at most (max_write / max_read given to libfuse). */
export const FUSE_IO_MAX = 128 * 1024;

/** The u32 layout of a stat reply (fuse-native.c populate_stat, as patched). */
const STAT_WORDS = 21;
/** The u32 layout of a statfs reply (fuse-native.c populate_statvfs). */
const STATFS_WORDS = 11;
/** FUSE statvfs flag bits (ST_RDONLY, ST_NOSUID). */
const ST_RDONLY = 1;

/** Options of the adapter. */
export interface FuseOpsOptions {
  /** Mounted read-only: statfs reports ST_RDONLY (the FUSE mount is `ro`, the kernel mount too). */
  readOnly?: boolean;
  /** Receives one line per unexpected exception in a handler. */
  log?: (line: string) => void;
  /** Reads a caller's supplementary groups (tests); default: /proc/PID/task/PID/status. */
  readGroups?: (pid: number, uid: number, gid: number) => Promise<number[]>;
}

/** Parses the "Groups:" line of /proc/PID/status (space-separated decimal gids). */
export function parseGroups(status: string): number[] {
  const m = /^Groups:[ \t]*(.*)$/m.exec(status);
  if (m === null) return [];
  return m[1].trim().split(/\s+/).filter((x) => x !== "").map(Number).filter((g) => Number.isInteger(g) && g >= 0);
}

/** The fs id (the fourth field: real, effective, saved, fs) of a "Uid:" or "Gid:" line, or -1. */
export function parseFsId(status: string, key: "Uid" | "Gid"): number {
  const re = key === "Uid" ? /^Uid:[ \t]*\d+\s+\d+\s+\d+\s+(\d+)/m : /^Gid:[ \t]*\d+\s+\d+\s+\d+\s+(\d+)/m;
  const m = re.exec(status);
  return m === null ? -1 : Number(m[1]);
}

/**
 * Supplementary groups of process `pid` (thread id), [] when it is gone or not readable, or
 * when its fs ids are no longer the request's `uid` and `gid` (it changed ids after the
 * request, or died and its pid went to another process): no groups is the safe side.
 */
async function procGroups(pid: number, uid: number, gid: number): Promise<number[]> {
  if (pid <= 0) return [];
  try {
    const status = await fsp.readFile(`/proc/${pid}/task/${pid}/status`, "latin1");
    if (parseFsId(status, "Uid") !== uid || parseFsId(status, "Gid") !== gid) return [];
    return parseGroups(status);
  } catch {
    return [];
  }
}

const NON_ASCII = /[^\x00-\x7f]/;
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/**
 * A path or name from the addon (a latin1 string: one char per byte) as a SysPath: ASCII
 * stays as is; other bytes become the UTF-8 string they spell, or stay bytes when they are
 * not UTF-8 (the kernel then gets them byte for byte).
 */
export function fromWire(s: string): SysPath {
  if (!NON_ASCII.test(s)) return s;
  const bytes = Buffer.from(s, "latin1");
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return new Uint8Array(bytes);
  }
}

/** A name or target for the addon: its exact bytes as a latin1 string. */
export function toWire(n: SysName): string {
  if (typeof n === "string") return NON_ASCII.test(n) ? Buffer.from(n, "utf8").toString("latin1") : n;
  return Buffer.from(n.buffer, n.byteOffset, n.byteLength).toString("latin1");
}

const NS = 1_000_000_000n;

/** Writes `sec` (may be negative) and `nsec` of a time in ns at word `i` of a stat reply. */
function putTime(w: Uint32Array, i: number, ns: bigint): void {
  let sec = ns / NS, nsec = ns % NS;
  if (nsec < 0n) { nsec += NS; sec -= 1n; }
  w[i] = Number(BigInt.asUintN(32, sec));
  w[i + 1] = Number(BigInt.asUintN(32, sec >> 32n));
  w[i + 2] = Number(nsec);
}

/** A stat reply (fuse-native.c populate_stat as patched: times in s + ns). */
export function statWords(st: StatRecord | null): Uint32Array {
  const w = new Uint32Array(STAT_WORDS);
  if (st === null) return w;
  w[0] = st.mode; w[1] = st.uid; w[2] = st.gid;
  w[3] = st.size % 2 ** 32; w[4] = Math.floor(st.size / 2 ** 32);
  w[5] = st.dev; w[6] = st.nlink; w[7] = st.ino; w[8] = st.rdev; w[9] = st.blksize;
  w[10] = st.blocks % 2 ** 32; w[11] = Math.floor(st.blocks / 2 ** 32);
  putTime(w, 12, st.atimeNs); putTime(w, 15, st.mtimeNs); putTime(w, 18, st.ctimeNs);
  return w;
}

/** Set-user-ID and set-group-ID bits. */
const S_ISID = 0o6000;

/**
 * True when a chmod to `mode` only clears set-id bits of `path` (its other bits unchanged): the
 * Linux FUSE module's file_remove_privs before a write or truncate by someone who may write
 * but not chmod. FUSE 2.9's protocol cannot say "kill suid" (handle_killpriv is 7.26+), so it
 * sends a chmod as the writer, which the kernel refuses (EPERM) and the write would fail. The
 * kernel clears those bits itself in the write or truncate that follows (file_remove_privs),
 * so that chmod is answered 0 without a change. (An explicit `chmod u-s` by a non-owner looks
 * the same and is answered 0 without a change instead of EPERM.)
 */
function killsPrivOnly(sys: Sys, path: SysPath, mode: number): boolean {
  const st = sys.lstat(path);
  if (typeof st === "number") return false;
  const cur = st.mode & 0o7777, next = mode & 0o7777;
  return next !== cur && (next & ~S_ISID) === (cur & ~S_ISID) && (next & S_ISID & ~cur) === 0;
}

/** A readdir entry's stat for libfuse's filler: only st_ino and the type bits (DT_* << 12 = S_IF*). */
export function direntWords(ino: number, type: number): Uint32Array {
  const w = new Uint32Array(STAT_WORDS);
  w[0] = (type & 0xf) << 12;
  w[7] = ino;
  return w;
}

/** utimens time from the addon's (sec low, sec high, nsec) triple, UTIME_NOW/OMIT kept. */
function timeArg(lo: number, hi: number, nsec: number): bigint {
  if (nsec === UTIME_NOW || nsec === UTIME_OMIT) return BigInt(nsec);
  return (BigInt(hi) * 2n ** 32n + BigInt(lo >>> 0)) * NS + BigInt(nsec);
}

/**
 * Sys with the optional methods other helpers add (PREAMBLE's agreed names and shapes); the
 * adapter calls them when the kernel's Sys has them, so they work once merged.
 */
export interface SysExt extends Sys {
  mknod?(path: SysPath, mode: number, rdev: number): number;
  setxattr?(path: SysPath, name: SysPath, value: Uint8Array, flags: number, noFollow: boolean): number;
  getxattr?(path: SysPath, name: SysPath, noFollow: boolean): Uint8Array | number;
  listxattr?(path: SysPath, noFollow: boolean): SysName[] | number;
  removexattr?(path: SysPath, name: SysPath, noFollow: boolean): number;
  access?(path: SysPath, mode: number): number;
  fallocate?(fd: number, mode: number, offset: number, len: number): number;
}

/** A request's arguments after the path: at most 8 (utimens and fallocate have 7 after it). */
type Args = [unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown];

/** A signal function of the addon: answers one request. */
type Signal = (h: FuseHandle, res: number, ...out: unknown[]) => void;

/**
 * The FUSE request handlers of one mount over one kernel. Every handler answers exactly once,
 * with the syscall's result (negative errno) and the reply the addon expects for that op.
 */
export class FuseOps {
  private readonly sysByCred = new Map<string, Sys>();
  /** Recent callers by pid: their ids, the Sys of their credentials, and until when (ms) it holds. */
  private readonly callers = new Map<number, { uid: number; gid: number; sys: Sys; until: number }>();
  private readonly readGroups: (pid: number, uid: number, gid: number) => Promise<number[]>;
  private initFn: (() => void) | null = null;
  private errorsLogged = 0;
  /** Answers the addon took so far (see handlers(): exactly one answer per request). */
  private answers = 0;

  constructor(private readonly kernel: Kernel, private readonly b: FuseBinding, private readonly opts: FuseOpsOptions = {}) {
    this.readGroups = opts.readGroups ?? procGroups;
  }

  /** Calls `fn` when libfuse has initialised the connection: the mount is live. */
  onInit(fn: () => void): void { this.initFn = fn; }

  /** The Sys of `cred` (one per distinct credential). */
  sysFor(cred: Cred): Sys {
    const key = `${cred.uid}:${cred.gid}:${cred.groups.join(",")}`;
    let s = this.sysByCred.get(key);
    if (s === undefined) {
      if (this.sysByCred.size >= SYS_CACHE_MAX) this.sysByCred.clear();
      s = this.kernel.sysAs(cred);
      this.sysByCred.set(key, s);
    }
    return s;
  }

  /**
   * The Sys for the caller of request `h`, now when its groups are cached, else a promise
   * (one /proc read). Groups are kept GROUPS_TTL_MS per (pid, uid, gid).
   */
  private callerSys(h: FuseHandle): Sys | Promise<Sys> {
    const o = this.b.offsetof_caller;
    const uid = h.readUInt32LE(o), gid = h.readUInt32LE(o + 4), pid = h.readUInt32LE(o + 8);
    // keyed by pid alone (a number: no string per request); uid and gid must match too
    const hit = this.callers.get(pid);
    if (hit !== undefined && hit.uid === uid && hit.gid === gid && hit.until > Date.now()) return hit.sys;
    return this.readGroups(pid, uid, gid).then((all) => {
      const groups = all.filter((g) => g !== gid).slice(0, NGROUPS_MAX);
      const sys = this.sysFor({ uid, gid, groups });
      if (this.callers.size >= GROUPS_CACHE_MAX) this.callers.clear();
      this.callers.set(pid, { uid, gid, sys, until: Date.now() + GROUPS_TTL_MS });
      return sys;
    });
  }

  /** Which ops libfuse may call (a Uint32Array of FUSE_OP_SLOTS flags, by op code). */
  implemented(): Uint32Array {
    const flags = new Uint32Array(FUSE_OP_SLOTS);
    const probe = this.kernel.sys as SysExt;
    const optional: Partial<Record<FuseOpName, boolean>> = {
      access: typeof probe.access === "function",
      fallocate: typeof probe.fallocate === "function",
      mknod: typeof probe.mknod === "function",
      setxattr: typeof probe.setxattr === "function",
      getxattr: typeof probe.getxattr === "function",
      listxattr: typeof probe.listxattr === "function",
      removexattr: typeof probe.removexattr === "function",
    };
    for (const name of FUSE_OPS) {
      // flush (each close(2) of a descriptor) has nothing to write back: the FUSE module's
      // writes reach the kernel as they happen and the kernel's page cache is the file, so close
      // promises no more (POSIX). Left out, libfuse answers ENOSYS once and the Linux FUSE
      // module stops sending it (fc->no_flush), a round trip less per close
      if (name === "error" || name === "flush") continue;
      if (optional[name] === false) continue;
      flags[this.b[`op_${name}`] as number] = 1;
    }
    return flags;
  }

  /**
   * The addon's handler table: handlers[op code](handle, op, ...args). Per request, nothing is
   * allocated here when the caller's Sys is cached: the reply wrapper is made once per op and
   * the arguments pass as fixed parameters (no rest array, no closure per request).
   */
  handlers(): unknown[] {
    const table: unknown[] = new Array(FUSE_OP_SLOTS).fill(undefined);
    const impl = this.ops();
    for (const name of FUSE_OPS) {
      const signal = this.b[`fuse_native_signal_${name}`] as Signal | undefined;
      if (signal === undefined) continue;
      const fail = this.failReply(name);
      const body = impl[name];
      if (body === undefined) {
        table[this.b[`op_${name}`] as number] = (h: FuseHandle) => fail(signal, h, -ENOSYS);
        continue;
      }
      // a request is answered exactly once: a second answer would wake the FUSE thread's next
      // request with this one's result. `answers` counts the answers the addon took (its
      // argument checks throw before it posts); bodies run synchronously on this one thread,
      // so an unchanged count after a throw means this request is still unanswered.
      const reply: Signal = (hh, res, a?, b?, c?) => {
        if (a === undefined) signal(hh, res);
        else if (c === undefined) { if (b === undefined) signal(hh, res, a); else signal(hh, res, a, b); }
        else signal(hh, res, a, b, c);
        this.answers++;
      };
      // a path libfuse built may be PATH_MAX bytes or more (the caller's relative path below a
      // deep working directory): the op then runs below a kernel working directory (enterLong),
      // and "/" comes back on every exit
      const long = PATH_ARGS[name];
      const run = (sys: Sys, h: FuseHandle, a: Args) => {
        const before = this.answers;
        let moved = false;
        try {
          let args: unknown[] = a;
          if (long !== undefined && isLong(a, long)) {
            const r = this.enterLong(sys, a, long, () => { moved = true; });
            if (typeof r === "number") { fail(signal, h, r); return; }
            args = r;
          }
          body(reply, h, sys, args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7]);
        } catch (err) {
          this.logError(name, err);
          if (this.answers === before) fail(signal, h, -EIO);
        } finally {
          if (moved) this.leaveLong();
        }
      };
      // init and error carry no caller worth a /proc read
      const direct = name === "init" || name === "error";
      table[this.b[`op_${name}`] as number] = (h: FuseHandle, _op: number, a0?: unknown, a1?: unknown, a2?: unknown,
        a3?: unknown, a4?: unknown, a5?: unknown, a6?: unknown, a7?: unknown) => {
        const before = this.answers;
        let s: Sys | Promise<Sys>;
        try {
          s = direct ? this.kernel.sys : this.callerSys(h);
          if (!(s instanceof Promise)) {
            // paths are arguments 0 and 1: one length compare each on the common path
            const mayBeLong = long !== undefined &&
              ((typeof a0 === "string" && a0.length >= PATH_MAX) || (typeof a1 === "string" && a1.length >= PATH_MAX));
            if (mayBeLong) run(s, h, [a0, a1, a2, a3, a4, a5, a6, a7]);
            else body(reply, h, s, a0, a1, a2, a3, a4, a5, a6, a7);
            return;
          }
        } catch (err) {
          this.logError(name, err);
          if (this.answers === before) fail(signal, h, -EIO);
          return;
        }
        const args: Args = [a0, a1, a2, a3, a4, a5, a6, a7];
        s.then((sys) => run(sys, h, args), (err) => { this.logError(name, err); fail(signal, h, -EIO); });
      };
    }
    return table;
  }

  /**
   * Moves the kernel's working directory (as the caller: its search permissions apply) under
   * the long paths of `args` at `which`, and returns the args with those paths relative to it,
   * or -errno (the chdir's: what the full walk would meet in those directories; ENAMETOOLONG
   * as planLongPaths says, or when the Sys has no chdir). `onMove` is called before the first
   * chdir, so the caller restores "/" even when a later step fails.
   */
  private enterLong(sys: SysExt, args: unknown[], which: readonly number[], onMove: () => void): unknown[] | number {
    if (typeof sys.chdir !== "function") return -ENAMETOOLONG;
    const idx = which.filter((i) => typeof args[i] === "string");
    const plan = planLongPaths(idx.map((i) => args[i] as string));
    if (typeof plan === "number") return plan;
    onMove();
    for (const step of plan.steps) {
      const r = sys.chdir(fromWire(step));
      if (r < 0) return r;
    }
    const out = args.slice();
    idx.forEach((i, j) => { out[i] = plan.rel[j]; });
    return out;
  }

  /** The working directory back to "/" (as root: the caller may not search "/"). */
  private leaveLong(): void {
    const r = this.kernel.sys.chdir?.("/") ?? 0;
    if (r < 0) this.logError("chdir /", new Error(`errno ${-r}`));
  }

  private logError(name: string, err: unknown): void {
    if (this.errorsLogged++ < 20) this.opts.log?.(`fuse ${name}: ${String((err as Error)?.message ?? err).split("\n")[0]}`);
  }

  /** The reply of a failed request of `name`: the addon reads its output arguments even then. */
  private failReply(name: FuseOpName): (s: Signal, h: FuseHandle, res: number) => void {
    switch (name) {
      case "getattr": case "fgetattr": return (s, h, r) => s(h, r, statWords(null));
      case "statfs": return (s, h, r) => s(h, r, new Uint32Array(STATFS_WORDS));
      case "readdir": return (s, h, r) => s(h, r, [], []);
      case "readlink": return (s, h, r) => s(h, r, "");
      case "open": case "opendir": case "create": return (s, h, r) => s(h, r, 0);
      default: return (s, h, r) => s(h, r);
    }
  }

  /** The op bodies: each calls `reply` exactly once. */
  private ops(): Partial<Record<FuseOpName, (reply: Signal, h: FuseHandle, sys: SysExt, ...a: any[]) => void>> {
    const ro = this.opts.readOnly === true;
    const path = (p: string | null): SysPath | null => (p === null ? null : fromWire(p));
    const noPath = -ENOENT;
    const rc = (r: number) => (r < 0 ? r : 0);
    const statReply = (reply: Signal, h: FuseHandle, st: StatRecord | number) =>
      typeof st === "number" ? reply(h, st, statWords(null)) : reply(h, 0, statWords(st));
    return {
      init: (reply, h) => {
        reply(h, 0);
        const fn = this.initFn;
        this.initFn = null;
        if (fn !== null) setImmediate(fn);
      },
      error: (reply, h) => reply(h, 0),
      getattr: (reply, h, sys, p: string | null) => {
        const q = path(p);
        statReply(reply, h, q === null ? noPath : sys.lstat(q));
      },
      fgetattr: (reply, h, sys, _p: string | null, fd: number) => statReply(reply, h, sys.fstat(fd)),
      access: (reply, h, sys, p: string | null, mode: number) => {
        const q = path(p);
        reply(h, q === null ? noPath : rc(sys.access!(q, mode)));
      },
      statfs: (reply, h, sys, p: string | null) => {
        const st = sys.statfs(path(p) ?? "/");
        const w = new Uint32Array(STATFS_WORDS);
        if (typeof st === "number") { reply(h, st, w); return; }
        const clamp = (n: number) => Math.min(n, 2 ** 32 - 1);
        w[0] = st.bsize; w[1] = st.bsize; w[2] = clamp(st.blocks); w[3] = clamp(st.bfree); w[4] = clamp(st.bavail);
        w[5] = clamp(st.files); w[6] = clamp(st.ffree); w[7] = clamp(st.ffree); w[8] = 0; w[9] = ro ? ST_RDONLY : 0;
        w[10] = st.namelen;
        reply(h, 0, w);
      },
      opendir: (reply, h, sys, p: string | null) => {
        const q = path(p);
        if (q === null) { reply(h, noPath, 0); return; }
        const fd = sys.open(q, O_RDONLY | O_DIRECTORY, 0);
        reply(h, fd < 0 ? fd : 0, fd < 0 ? 0 : fd);
      },
      readdir: (reply, h, sys, p: string | null, fd: number) => {
        // libfuse asks again from offset 0 after rewinddir(): the kernel's position goes back too
        const r = sys.lseek(fd, 0, SEEK_SET);
        if (r < 0) { reply(h, r, [], []); return; }
        const ents = sys.getdents(fd);
        if (typeof ents === "number") { reply(h, ents, [], []); return; }
        // each entry with its inode number and type (d_ino, d_type: a stat with only those),
        // so readdir's callers (find, ls, git) need no stat to tell directories from files
        const self = sys.fstat(fd);
        const selfIno = typeof self === "number" ? 0 : self.ino;
        const q = path(p);
        // the parent of "/a" is "/", of a relative "a" (a long path's rest) the working directory
        const k = typeof q === "string" ? q.lastIndexOf("/") : -1;
        const parent = q === null || typeof q !== "string" || q === "/" ? self : sys.lstat(k > 0 ? q.slice(0, k) : k === 0 ? "/" : ".");
        const names = [".", ".."];
        const stats = [direntWords(selfIno, DT_DIR), direntWords(typeof parent === "number" ? selfIno : parent.ino, DT_DIR)];
        for (const e of ents) {
          names.push(toWire(e.name));
          stats.push(direntWords(e.ino, e.type));
        }
        reply(h, 0, names, stats);
      },
      releasedir: (reply, h, sys, _p: string | null, fd: number) => reply(h, rc(sys.close(fd))),
      fsyncdir: (reply, h, sys, _p: string | null, datasync: number, fd: number) =>
        reply(h, rc(datasync !== 0 ? sys.fdatasync(fd) : sys.fsync(fd))),
      open: (reply, h, sys, p: string | null, flags: number) => {
        const q = path(p);
        if (q === null) { reply(h, noPath, 0); return; }
        const fd = sys.open(q, flags & ~O_CREAT, 0);
        reply(h, fd < 0 ? fd : 0, fd < 0 ? 0 : fd);
      },
      create: (reply, h, sys, p: string | null, mode: number, flags: number) => {
        const q = path(p);
        if (q === null) { reply(h, noPath, 0); return; }
        const fd = sys.open(q, flags | O_CREAT, mode);
        reply(h, fd < 0 ? fd : 0, fd < 0 ? 0 : fd);
      },
      read: (reply, h, sys, _p: string | null, fd: number, buf: Buffer, len: number, lo: number, hi: number) => {
        const offset = lo + hi * 2 ** 32;
        let done = 0;
        // a regular file's read is short only at its end (FUSE without direct_io expects that)
        while (done < len) {
          const r = sys.read(fd, buf, done, len - done, offset + done);
          if (r < 0) { if (done === 0) done = r; break; }
          if (r === 0) break;
          done += r;
        }
        reply(h, done, 0, buf.buffer);
      },
      write: (reply, h, sys, _p: string | null, fd: number, buf: Buffer, len: number, lo: number, hi: number) => {
        const offset = lo + hi * 2 ** 32;
        let done = 0;
        while (done < len) {
          const r = sys.write(fd, buf, done, len - done, offset + done);
          if (r < 0) { if (done === 0) done = r; break; }
          if (r === 0) break;
          done += r;
        }
        reply(h, done, 0, buf.buffer);
      },
      release: (reply, h, sys, _p: string | null, fd: number) => reply(h, rc(sys.close(fd))),
      fsync: (reply, h, sys, _p: string | null, datasync: number, fd: number) =>
        reply(h, rc(datasync !== 0 ? sys.fdatasync(fd) : sys.fsync(fd))),
      truncate: (reply, h, sys, p: string | null, lo: number, hi: number) => {
        const q = path(p);
        reply(h, q === null ? noPath : rc(sys.truncate(q, lo + hi * 2 ** 32)));
      },
      ftruncate: (reply, h, sys, _p: string | null, fd: number, lo: number, hi: number) =>
        reply(h, rc(sys.ftruncate(fd, lo + hi * 2 ** 32))),
      utimens: (reply, h, sys, p: string | null, alo: number, ahi: number, ans: number, mlo: number, mhi: number, mns: number) => {
        const q = path(p);
        // the path names the node itself (the VFS resolved it): a symlink's own times
        reply(h, q === null ? noPath : rc(sys.utimens(q, timeArg(alo, ahi, ans), timeArg(mlo, mhi, mns), true)));
      },
      readlink: (reply, h, sys, p: string | null) => {
        const q = path(p);
        const t = q === null ? noPath : sys.readlink(q);
        if (typeof t === "number") reply(h, t, "");
        else reply(h, 0, toWire(t));
      },
      chown: (reply, h, sys, p: string | null, uid: number, gid: number) => {
        const q = path(p);
        if (q === null) { reply(h, noPath); return; }
        // lchown(2) reaches FUSE on the symlink itself: do not follow it
        reply(h, rc(sys.lchown !== undefined ? sys.lchown(q, uid, gid) : sys.chown(q, uid, gid)));
      },
      chmod: (reply, h, sys, p: string | null, mode: number) => {
        const q = path(p);
        if (q === null) { reply(h, noPath); return; }
        const r = sys.chmod(q, mode);
        reply(h, r === -EPERM && killsPrivOnly(sys, q, mode) ? 0 : rc(r));
      },
      mknod: (reply, h, sys, p: string | null, mode: number, dev: number) => {
        const q = path(p);
        reply(h, q === null ? noPath : rc(sys.mknod!(q, mode, dev)));
      },
      setxattr: (reply, h, sys, p: string | null, name: string, value: Buffer, _pos: number, flags: number) => {
        const q = path(p);
        const r = q === null ? noPath : rc(sys.setxattr!(q, fromWire(name), new Uint8Array(value), flags, true));
        reply(h, r, value.buffer);
      },
      getxattr: (reply, h, sys, p: string | null, name: string, buf: Buffer) => {
        const q = path(p);
        const v = q === null ? noPath : sys.getxattr!(q, fromWire(name), true);
        if (typeof v === "number") { reply(h, v, buf.buffer); return; }
        if (buf.length === 0) { reply(h, v.length, buf.buffer); return; }
        if (v.length > buf.length) { reply(h, -ERANGE, buf.buffer); return; }
        buf.set(v, 0);
        reply(h, v.length, buf.buffer);
      },
      listxattr: (reply, h, sys, p: string | null, buf: Buffer) => {
        const q = path(p);
        const names = q === null ? noPath : sys.listxattr!(q, true);
        if (typeof names === "number") { reply(h, names, buf.buffer); return; }
        // the addon's strings are bytes (latin1): each name's exact bytes, NUL-terminated
        const list = Buffer.from(names.map((n) => toWire(n) + "\0").join(""), "latin1");
        if (buf.length === 0) { reply(h, list.length, buf.buffer); return; }
        if (list.length > buf.length) { reply(h, -ERANGE, buf.buffer); return; }
        buf.set(list, 0);
        reply(h, list.length, buf.buffer);
      },
      removexattr: (reply, h, sys, p: string | null, name: string) => {
        const q = path(p);
        reply(h, q === null ? noPath : rc(sys.removexattr!(q, fromWire(name), true)));
      },
      fallocate: (reply, h, sys, _p: string | null, mode: number, olo: number, ohi: number, llo: number, lhi: number, fd: number) =>
        reply(h, rc(sys.fallocate!(fd, mode, olo + ohi * 2 ** 32, llo + lhi * 2 ** 32))),
      unlink: (reply, h, sys, p: string | null) => { const q = path(p); reply(h, q === null ? noPath : rc(sys.unlink(q))); },
      rmdir: (reply, h, sys, p: string | null) => { const q = path(p); reply(h, q === null ? noPath : rc(sys.rmdir(q))); },
      mkdir: (reply, h, sys, p: string | null, mode: number) => {
        const q = path(p);
        reply(h, q === null ? noPath : rc(sys.mkdir(q, mode)));
      },
      rename: (reply, h, sys, a: string | null, b: string | null) => {
        const x = path(a), y = path(b);
        reply(h, x === null || y === null ? noPath : rc(sys.rename(x, y)));
      },
      link: (reply, h, sys, a: string | null, b: string | null) => {
        const x = path(a), y = path(b);
        reply(h, x === null || y === null ? noPath : rc(sys.link(x, y)));
      },
      symlink: (reply, h, sys, target: string | null, p: string | null) => {
        const x = path(target), y = path(p);
        reply(h, x === null || y === null ? noPath : rc(sys.symlink(x, y)));
      },
    };
  }
}
