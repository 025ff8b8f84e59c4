// host/fs/watch.ts -- fs.watch (with `recursive`), fs.promises.watch, fs.watchFile/unwatchFile.
//
// Layer: host/fs, beside fs.ts (which adds thin methods over these). Below: the kernel's one
// inotify instance through Sys.inotifyAddWatch / inotifyRmWatch (host/vmm/kernel.ts shares it
// among every watcher and every Sys of a kernel), and a few HelixFs methods (WatchFs).
// Interface: FSWatcher (Node's native watcher), RecursiveWatcher (Node 20's JS emulation on
// Linux), watchPromise (fs.promises.watch), StatWatcher + StatWatchers (watchFile).
// Rules:
//  - Node 20 on Linux is the model: libuv watches with IN_ATTRIB | IN_CREATE | IN_MODIFY |
//    IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_MOVED_FROM | IN_MOVED_TO and maps an event
//    with IN_ATTRIB or IN_MODIFY to 'change' and any other bit to 'rename' (rename wins), the
//    filename being the event's name or the watched path's basename (the path given to the
//    first live watcher of that inode on the same Sys, as libuv's shared watcher_list; the
//    user's path, not the resolved one); IN_IGNORED is an event
//    too ('rename'), IN_Q_OVERFLOW (wd -1) reaches no watcher;
//  - `recursive` on Linux is Node's JS emulation (lib/internal/fs/recursive_watch.js): one
//    watch per file and directory, a stat at each event, names relative to the watched
//    directory; we follow its steps so its results (and quirks) are the same;
//  - events arrive asynchronously (a microtask after the syscall that caused them), whoever
//    made the change: another Sys of the same kernel, the FUSE mount;
//  - a persistent watcher keeps the event loop alive with one idle timer (no polling);
//    unref() releases it; watchFile polls stat every `interval` ms as libuv's uv_fs_poll does;
//  - no Node built-ins besides `events`; Buffer is the global one (the browser runs this file
//    with a polyfill, as fs.ts).

import { EventEmitter } from "events";
import { AbortError, validateAbortSignal } from "./async.js";
import {
  ENOENT, ENOSPC, ENOSYS, IN_ATTRIB, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MODIFY, IN_MOVE_SELF, IN_MOVED_FROM,
  IN_MOVED_TO, type InotifyEvent, type InotifyListener, type StatRecord, type Sys, type SysName, type SysPath,
} from "./sys.js";
import {
  BigIntStats, Dirent, type Encoding, type FsError, Stats, getOptions, getValidatedPath, invalidArgType, invalidArgValue,
  nameBytes, showPath, uvException, validateBoolean, validateObject, validateUint32,
} from "./utils.js";

/** The events libuv asks inotify for (uv_fs_event_start on Linux). */
export const UV_INOTIFY_MASK = IN_ATTRIB | IN_CREATE | IN_MODIFY | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |
  IN_MOVED_FROM | IN_MOVED_TO;
/** Node's watchFile poll interval in ms (what libev used; Node keeps it). */
export const STAT_POLL_INTERVAL_MS = 5007;
/** A timer that never fires in practice: what keeps the loop alive for a persistent watcher. */
const KEEPALIVE_MS = 2 ** 31 - 1;

/** The HelixFs methods the watchers need (fs.ts passes itself). */
export interface WatchFs {
  readonly sys: Sys;
  resolvePath(p: SysPath): SysPath;
  statSync(path: SysPath, options?: { bigint?: boolean; throwIfNoEntry?: boolean }): Stats | BigIntStats | undefined;
  readdirSync(path: SysPath, options: { withFileTypes: true }): Dirent<string | Buffer>[];
}

/** Options of fs.watch. */
export interface WatchOptions {
  persistent?: boolean; recursive?: boolean; encoding?: Encoding | null; signal?: AbortSignal;
}
/** fs.watch's listener: eventType 'rename' | 'change', the name (a Buffer for encoding 'buffer'), or null. */
export type WatchListener = (eventType: "rename" | "change", filename: string | Buffer | null) => void;

/** A keep-alive handle: an idle timer, ref'd or not (a browser's timers have no ref). */
class KeepAlive {
  private timer: ReturnType<typeof setInterval> | null = null;
  constructor(ref: boolean) {
    this.timer = setInterval(() => {}, KEEPALIVE_MS);
    if (!ref) this.unref();
  }
  ref(): void { (this.timer as { ref?: () => void } | null)?.ref?.(); }
  unref(): void { (this.timer as { unref?: () => void } | null)?.unref?.(); }
  stop(): void { if (this.timer !== null) clearInterval(this.timer); this.timer = null; }
}

/** A name in the watcher's encoding: utf8 strings as they are, 'buffer' as a Buffer, others re-encoded. */
function encodeName(n: SysName, encoding: string): string | Buffer {
  if (encoding === "buffer") return Buffer.from(nameBytes(n));
  if (encoding === "utf8" || encoding === "utf-8") return showPath(n);
  return Buffer.from(nameBytes(n)).toString(encoding as BufferEncoding);
}

/** libuv's uv__basename_r: what follows the last '/' (all of it when there is none). */
function basenameOf(p: SysPath): SysName {
  if (typeof p === "string") return p.slice(p.lastIndexOf("/") + 1);
  return p.subarray(p.lastIndexOf(47) + 1);
}

/** The watch error Node throws: UVException with syscall 'watch' and a `filename`. */
function watchError(r: number, filename: string | Uint8Array): FsError {
  const shown = typeof filename === "string" ? filename : showPath(filename);
  const err = uvException(r, "watch", shown);
  if (-r === ENOSPC) err.message = `ENOSPC: System limit for number of file watchers reached, watch '${shown}'`;
  (err as FsError & { filename: unknown }).filename = filename;
  return err;
}

// ---- fs.watch: the native watcher ---------------------------------------------------------------

/**
 * The name an event without one reports, per Sys (one process's inotify instance) and wd: the
 * basename of the path the first live watcher of that wd was given (libuv keeps one
 * watcher_list per wd with the first handle's path, and every handle reports its basename).
 * `users` counts the FSWatchers on the wd; the entry goes with the last.
 */
const wdBases = new WeakMap<Sys, Map<number, { base: SysName; users: number }>>();

/**
 * Node's FSWatcher (the native one): 'change' (eventType, filename), 'error', 'close' (in a
 * microtask after close()). start() throws ENOENT/ENOTDIR/EACCES/... with syscall 'watch'.
 */
export class FSWatcher extends EventEmitter {
  private sys: Sys | null = null;
  private wd = -1;
  private keep: KeepAlive | null = null;
  private closed = false;
  private readonly listener: InotifyListener = (ev) => this.onEvent(ev);
  private base: { base: SysName; users: number } | null = null;
  private encoding = "utf8";

  /** Watches `abs` (a kernel path; `shown` is the caller's, for errors). Throws the watch error. */
  start(sys: Sys, abs: SysPath, shown: string | Uint8Array, persistent: boolean, encoding: string): void {
    if (this.closed || this.sys !== null) return;
    if (sys.inotifyAddWatch === undefined) throw watchError(-ENOSYS, shown);
    const wd = abs.length === 0 ? -ENOENT : sys.inotifyAddWatch(abs, UV_INOTIFY_MASK, this.listener);
    if (wd < 0) throw watchError(wd, shown);
    this.sys = sys;
    this.wd = wd;
    let bases = wdBases.get(sys);
    if (bases === undefined) wdBases.set(sys, bases = new Map());
    let b = bases.get(wd);
    if (b === undefined) bases.set(wd, b = { base: basenameOf(shown), users: 0 });
    b.users++;
    this.base = b;
    this.encoding = encoding;
    this.keep = new KeepAlive(persistent);
  }

  private onEvent(ev: InotifyEvent): void {
    if (this.closed || ev.wd !== this.wd) return;
    const change = (ev.mask & (IN_ATTRIB | IN_MODIFY)) !== 0;
    const rename = (ev.mask & ~(IN_ATTRIB | IN_MODIFY)) !== 0;
    const name = encodeName(ev.name ?? this.base!.base, this.encoding);
    this.emit("change", rename || !change ? "rename" : "change", name);
  }

  /** Stops watching; 'close' follows in a microtask (Node: process.nextTick). Idempotent. */
  close(): void {
    if (this.closed || this.sys === null) return;
    this.closed = true;
    this.sys.inotifyRmWatch?.(this.wd, this.listener);
    if (this.base !== null && --this.base.users === 0) wdBases.get(this.sys)?.delete(this.wd);
    this.keep?.stop();
    queueMicrotask(() => this.emit("close"));
  }

  /** Keeps the event loop alive while open (the default for persistent watchers). */
  ref(): this { if (!this.closed) this.keep?.ref(); return this; }
  /** Lets the event loop end while this watcher is open. */
  unref(): this { if (!this.closed) this.keep?.unref(); return this; }
}

// ---- fs.watch({ recursive: true }): Node 20's emulation on Linux -------------------------------

/** `file` relative to `root` (a descendant or the root itself). */
function relativeTo(root: string, file: string): string {
  if (file === root) return "";
  return file.slice(root === "/" ? 1 : root.length + 1);
}
function joinPath(dir: string, name: string): string { return dir === "/" ? `/${name}` : `${dir}/${name}`; }

/**
 * Node 20's recursive FSWatcher on Linux (lib/internal/fs/recursive_watch.js): a native watch on
 * every file and directory under the root, a stat of the file at each of its events; reports
 * 'rename' for names that appear or go and 'change' for files whose watch fired, with paths
 * relative to the root. close() emits 'close' at once; ref()/unref() do nothing (as Node's).
 */
export class RecursiveWatcher extends EventEmitter {
  private closed = false;
  private readonly files = new Map<string, Stats>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly symbolic = new Set<string>();
  private root = "/";
  private watchingFile = false;
  private readonly persistent: boolean | undefined;
  private readonly signal: AbortSignal | undefined;

  /** Validates the options as Node's constructor does (TypeErrors). */
  constructor(private readonly fs: WatchFs, options: WatchOptions) {
    super();
    const { persistent, recursive, signal, encoding } = options;
    if (recursive != null) validateBoolean(recursive, "options.recursive");
    if (persistent != null) validateBoolean(persistent, "options.persistent");
    if (signal != null) validateAbortSignal(signal, "options.signal");
    if (encoding != null && typeof encoding !== "string") throw invalidArgValue("options.encoding", encoding);
    this.persistent = persistent;
    this.signal = signal ?? undefined;
  }

  /**
   * What fs.promises.watch({ recursive: true }) iterates on Linux (Node 20): each next() waits
   * for the next 'change' with a once-listener, so events emitted while no next() waits are
   * not seen (Node's behaviour, kept); the signal closes the watcher and rejects with AbortError.
   */
  [Symbol.asyncIterator](): AsyncIterator<{ eventType: "rename" | "change"; filename: string }> {
    const signal = this.signal;
    type R = IteratorResult<{ eventType: "rename" | "change"; filename: string }>;
    const wait = (resolve: (r: R) => void, reject: (e: unknown) => void) => {
      const onAbort = () => { this.close(); reject(new AbortError(undefined, { cause: signal?.reason })); };
      if (signal?.aborted) { onAbort(); return; }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.once("change", (eventType: "rename" | "change", filename: string) => {
        signal?.removeEventListener("abort", onAbort);
        resolve({ done: false, value: { eventType, filename } });
      });
    };
    return {
      next: () => this.closed ? Promise.resolve({ done: true, value: undefined } as R) : new Promise<R>(wait),
      return: () => { this.close(); return Promise.resolve({ done: true, value: undefined } as R); },
    };
  }

  /** Node's kFSWatchStart: a missing root throws stat's ENOENT (with `filename`); other errors are swallowed. */
  start(filename: string | Uint8Array): void {
    const abs = showPath(this.fs.resolvePath(filename));
    try {
      const st = this.fs.statSync(abs) as Stats;
      this.root = abs;
      this.closed = false;
      this.watchingFile = st.isFile();
      this.watchFile(abs);
      if (st.isDirectory()) this.watchFolder(abs);
    } catch (e) {
      const err = e as FsError & { filename?: unknown };
      if (err.code === "ENOENT") { err.filename = abs; throw err; }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.files.keys()) { this.watchers.get(f)?.close(); this.watchers.delete(f); }
    this.files.clear();
    this.symbolic.clear();
    this.emit("close");
  }

  ref(): void {}
  unref(): void {}

  private unwatchFiles(file: string): void {
    this.symbolic.delete(file);
    for (const f of [...this.files.keys()]) {
      if (!f.startsWith(file)) continue;
      this.files.delete(f);
      this.watchers.get(f)?.close();
      this.watchers.delete(f);
    }
  }

  private watchFolder(folder: string): void {
    try {
      for (const d of this.fs.readdirSync(folder, { withFileTypes: true })) {
        if (this.closed) break;
        const f = joinPath(folder, String(d.name));
        if (this.files.has(f)) continue;
        this.emit("change", "rename", relativeTo(this.root, f));
        if (d.isSymbolicLink()) this.symbolic.add(f);
        try {
          this.watchFile(f);
          if (d.isDirectory() && !d.isSymbolicLink()) this.watchFolder(f);
        } catch (e) {
          if ((e as FsError).code !== "ENOENT") throw e;
        }
      }
    } catch (e) {
      this.emit("error", e);
    }
  }

  private watchFile(file: string): void {
    if (this.closed || this.files.has(file)) return;
    this.files.set(file, this.fs.statSync(file) as Stats);
    const w = new FSWatcher();
    w.start(this.fs.sys, file, file, this.persistent ?? true, "utf8");
    w.on("change", () => this.onFileEvent(file, w));
    this.watchers.set(file, w);
  }

  private onFileEvent(file: string, w: FSWatcher): void {
    const before = this.files.get(file);
    let now: Stats | undefined;
    try {
      now = this.fs.statSync(file) as Stats;
      this.files.set(file, now);
    } catch { /* removed */ }
    if (now === undefined || (now.birthtimeMs === 0 && before !== undefined && before.birthtimeMs !== 0)) {
      this.files.delete(file);
      this.watchers.delete(file);
      w.close();
      this.emit("change", "rename", relativeTo(this.root, file));
      this.unwatchFiles(file);
    } else if (file === this.root && this.watchingFile) {
      this.emit("change", "change", file.slice(file.lastIndexOf("/") + 1));
    } else if (this.symbolic.has(file)) {
      this.emit("change", "rename", relativeTo(this.root, file));
    } else if (now.isDirectory()) {
      this.watchFolder(file);
    } else {
      this.emit("change", "change", relativeTo(this.root, file));
    }
  }
}

/**
 * fs.watch(filename[, options][, listener]): a native FSWatcher, or with `recursive` Node 20's
 * emulation. Throws Node's TypeErrors for bad arguments and the watch error (ENOENT, ...).
 */
export function watch(fs: WatchFs, filename: unknown, options?: unknown, listener?: unknown): FSWatcher | RecursiveWatcher {
  if (typeof options === "function") listener = options;
  const opts = { ...getOptions(options) } as WatchOptions;
  if (opts.persistent === undefined) opts.persistent = true;
  if (opts.recursive === undefined) opts.recursive = false;
  const path = getValidatedPath(filename);
  let w: FSWatcher | RecursiveWatcher;
  if (opts.recursive) {
    const r = new RecursiveWatcher(fs, opts);
    r.start(path);
    w = r;
  } else {
    const n = new FSWatcher();
    n.start(fs.sys, fs.resolvePath(path), path, opts.persistent !== false, opts.encoding ?? "utf8");
    w = n;
  }
  if (listener) w.addListener("change", listener as WatchListener);
  const signal = opts.signal;
  if (signal) {
    if (signal.aborted) queueMicrotask(() => w.close());
    else {
      const onAbort = () => w.close();
      signal.addEventListener("abort", onAbort);
      w.once("close", () => signal.removeEventListener("abort", onAbort));
    }
  }
  return w;
}

// ---- fs.promises.watch ---------------------------------------------------------------------------

/**
 * fs.promises.watch: an async iterator of { eventType, filename } for `filename`'s native watch,
 * or with `recursive` the iterator of Node 20's emulation (RecursiveWatcher). On the native
 * watch, events that arrive while the consumer is busy wait in order (Node's deferred can
 * drop them). The signal ends it with AbortError; return() closes the watch.
 */
export async function* watchPromise(fs: WatchFs, filename: unknown, options: unknown = {}): AsyncGenerator<{ eventType: "rename" | "change"; filename: string | Buffer | null }> {
  validateObject(options, "options");
  const rec = (options as WatchOptions).recursive;
  if (rec != null) {
    validateBoolean(rec, "options.recursive");
    if (rec) {
      const w = new RecursiveWatcher(fs, options as WatchOptions);
      w.start(getValidatedPath(filename));
      yield* { [Symbol.asyncIterator]: () => w[Symbol.asyncIterator]() };
      return;
    }
  }
  const path = getValidatedPath(filename);
  const { persistent = true, recursive = false, encoding = "utf8", signal } = options as WatchOptions;
  validateBoolean(persistent, "options.persistent");
  validateBoolean(recursive, "options.recursive");
  validateAbortSignal(signal, "options.signal");
  // Node 20 passes ERR_INVALID_ARG_VALUE its arguments swapped here: "The argument 'zz' is
  // invalid encoding. Received 'encoding'"; the message is kept byte for byte
  if (encoding && encoding !== "buffer" && !Buffer.isEncoding(encoding)) throw invalidArgValue(String(encoding), "encoding", "is invalid encoding");
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
  const queue: { eventType: "rename" | "change"; filename: string | Buffer | null }[] = [];
  let wake: (() => void) | null = null;
  let aborted = false;
  const w = new FSWatcher();
  const onAbort = () => { aborted = true; w.close(); wake?.(); };
  try {
    signal?.addEventListener("abort", onAbort, { once: true });
    w.on("change", (eventType: "rename" | "change", name: string | Buffer | null) => { queue.push({ eventType, filename: name }); wake?.(); });
    w.start(fs.sys, fs.resolvePath(path), path, persistent, encoding ?? "utf8");
    for (;;) {
      while (queue.length > 0 && !aborted) yield queue.shift()!;
      if (aborted || signal?.aborted) throw new AbortError(undefined, { cause: signal?.reason });
      await new Promise<void>((resolve) => { wake = resolve; });
      wake = null;
    }
  } finally {
    w.close();
    signal?.removeEventListener("abort", onAbort);
  }
}

// ---- fs.watchFile / fs.unwatchFile -----------------------------------------------------------------

/** A StatRecord of zeros: what watchFile reports for a file that is not there. */
const ZERO_STAT: StatRecord = {
  dev: 0, ino: 0, mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, size: 0, blksize: 0, blocks: 0,
  atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, birthtimeNs: 0n, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, birthtimeMs: 0,
};

/** libuv's statbuf_eq: the fields uv_fs_poll compares. */
function sameStat(a: StatRecord, b: StatRecord): boolean {
  return a.ctimeNs === b.ctimeNs && a.mtimeNs === b.mtimeNs && a.birthtimeNs === b.birthtimeNs && a.size === b.size &&
    a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.ino === b.ino && a.dev === b.dev;
}

/**
 * Node's StatWatcher: polls stat of one path every `interval` ms (libuv uv_fs_poll) and emits
 * 'change' (curr, prev) when it differs, or when the path stops (or starts) being there, with
 * zeroed Stats for a missing file (prev: the last Stats the file had, also when it reappears);
 * a first stat that fails reports once (zeroed, zeroed). A stat that throws (a kernel panic)
 * ends the polling instead of throwing from the timer.
 * 'stop' follows stop(). ref()/unref() count like Node's.
 */
export class StatWatcher extends EventEmitter {
  private timer: ReturnType<typeof setInterval> | null = null;
  private prev: StatRecord = ZERO_STAT;
  private status = 0; // libuv busy_polling: 0 before the first stat, 1 after a success, -errno after a failure
  private refs = 1;
  private maxRefs = 1;

  constructor(private readonly bigint: boolean) { super(); }

  /** Starts polling `abs` (a kernel path). */
  start(sys: Sys, abs: SysPath, persistent: boolean, interval: number): void {
    if (this.timer !== null) return;
    const poll = () => this.poll(sys, abs);
    this.timer = setInterval(poll, Math.max(1, interval));
    if (!persistent) this.unref();
    queueMicrotask(poll); // uv_fs_poll_start stats at once
  }

  private poll(sys: Sys, abs: SysPath): void {
    if (this.timer === null) return;
    let r: StatRecord | number;
    try {
      r = abs.length === 0 ? -ENOENT : sys.stat(abs);
    } catch {
      // a dead kernel (KernelPanic) answers no stat again, and a throw from a timer callback
      // would be an uncaught exception that ends the process: polling ends, quietly, as if
      // unwatchFile had run except that the listeners stay and no 'stop' is emitted
      this.halt();
      return;
    }
    if (typeof r === "number") {
      // libuv keeps the last good stat: it is the prev of this report and of the reappearance's
      if (this.status !== r) { this.report(ZERO_STAT, this.prev); this.status = r; }
      return;
    }
    if (this.status < 0 || (this.status !== 0 && !sameStat(this.prev, r))) this.report(r, this.prev);
    this.prev = r; // a fresh record per stat (its times may be getters: no spread copy)
    this.status = 1;
  }

  private report(curr: StatRecord, prev: StatRecord): void {
    const S = this.bigint ? BigIntStats : Stats;
    this.emit("change", new S(curr), new S(prev));
  }

  /** Ends the timer (no 'stop' event). */
  private halt(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Stops polling; 'stop' follows in a microtask. */
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    queueMicrotask(() => this.emit("stop"));
  }

  ref(): this {
    if (this.refs === this.maxRefs) return this;
    if (this.timer && this.refs++ === 0) (this.timer as { ref?: () => void }).ref?.();
    return this;
  }
  unref(): this {
    if (this.refs === 0) return this;
    if (this.timer && --this.refs === 0) (this.timer as { unref?: () => void }).unref?.();
    return this;
  }
  /** Node's kFSStatWatcherAddOrCleanRef. */
  addOrCleanRef(op: "add" | "clean" | "cleanAll"): void {
    if (op === "add") { this.refs++; this.maxRefs++; }
    else if (op === "clean") { this.maxRefs--; this.unref(); }
    else { this.maxRefs = 0; this.refs = 0; (this.timer as { unref?: () => void } | null)?.unref?.(); }
  }
}

/** The StatWatchers of one HelixFs, by absolute path (Node's module-level statWatchers map). */
export class StatWatchers {
  private readonly byPath = new Map<string, StatWatcher>();
  constructor(private readonly fs: WatchFs) {}

  /** fs.watchFile(filename[, options], listener). */
  watchFile(filename: unknown, options: unknown, listener?: unknown): StatWatcher {
    const abs = showPath(this.fs.resolvePath(getValidatedPath(filename)));
    if (options === null || typeof options !== "object") { listener = options; options = null; }
    const o = { interval: STAT_POLL_INTERVAL_MS, persistent: true, ...(options as object | null) } as { interval: unknown; persistent: unknown; bigint?: unknown };
    if (typeof listener !== "function") throw invalidArgType("listener", "Function", listener);
    let stat = this.byPath.get(abs);
    if (stat === undefined) {
      stat = new StatWatcher(o.bigint === true);
      validateUint32(o.interval, "interval");
      stat.start(this.fs.sys, abs, o.persistent !== false, o.interval);
      this.byPath.set(abs, stat);
    } else {
      stat.addOrCleanRef("add");
    }
    stat.addListener("change", listener as (c: Stats, p: Stats) => void);
    return stat;
  }

  /** fs.unwatchFile(filename[, listener]). */
  unwatchFile(filename: unknown, listener?: unknown): void {
    const abs = showPath(this.fs.resolvePath(getValidatedPath(filename)));
    const stat = this.byPath.get(abs);
    if (stat === undefined) return;
    if (typeof listener === "function") {
      const before = stat.listenerCount("change");
      stat.removeListener("change", listener as (...a: unknown[]) => void);
      if (stat.listenerCount("change") < before) stat.addOrCleanRef("clean");
    } else {
      stat.removeAllListeners("change");
      stat.addOrCleanRef("cleanAll");
    }
    if (stat.listenerCount("change") === 0) {
      stat.stop();
      this.byPath.delete(abs);
    }
  }
}
