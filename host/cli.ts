// host/cli.ts -- the `helix` command line: mkfs, boot (boot log + shell), import, export, fsck,
// inspect, stat and start (tools/start.ts).
//
// Layer: the top of the host, above host/node.ts (bootSync, parseSize) and the Node-shaped fs
// of a booted Kernel (host/fs.ts). bin/helix.js is a launcher that builds if needed and calls
// main(); tools/start.ts reuses the tree copy, progress and formatting pieces exported here.
// Interface: main(argv) -> exit code; openSession(image, opts) -> Session (a booted kernel
// with a timestamped log); scanHostTree / importTree / exportTree; Shell; Progress.
// Rules:
//  - every failure ends as ONE line `helix: <message>` on stderr with exit code 2 (usage:
//    unknown command or option, bad size, bad number) or 1 (runtime: missing image, not a
//    HelixFS image, ENOSPC, kernel panic); stacks are printed only with HELIX_DEBUG=1. A
//    WebAssembly trap never escapes: host/kernel.ts turns it into KernelPanic, a one-liner;
//  - a booted kernel is always shut down (sys_umount) before a command returns, on success
//    and on failure, so the image is left clean whenever the kernel is still alive;
//  - stdout carries results, stderr carries the one error line and progress bars; bars are
//    drawn only when stderr is a TTY, so pipes and tests see plain text;
//  - tree copies (import, export, start) carry names and symlink targets as exact bytes and
//    refuse a directory entry that is not one path component before copying anything;
//  - kernel calls are synchronous: a command is a plain loop over syscalls, no promises per
//    file (one syscall = one JS->WASM crossing, DESIGN.md §1).

import * as nodefs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import * as readline from "node:readline";
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Command, CommanderError } from "commander";
import cliProgress from "cli-progress";
import { bootSync, parseSize, setProgramName, assertImageFree, ROOT } from "./node.js";
import {
  Kernel, KernelError, KernelPanic, INFO_FIELDS, TREE_NAMES, DEFAULT_MEMORY_MIB, type KernelInfo,
  FSCK_VERBOSE, FSCK_DATA, FSCK_PREEN, FSCK_YES, FSCK_MARK_ERRORS,
} from "./kernel.js";

/** The prefix of the kernel's filesystem log lines (assembly/lib/printk.ts FS_PREFIX). */
export const FS_LOG_PREFIX = "helixfs (vda): ";
import { uvException, type HelixFs } from "./fs.js";

// ---- named limits --------------------------------------------------------------------------

/** Filesystem block size (docs/abi.md statfs bsize; fs/format.ts BLOCK_SIZE). */
export const BLOCK_SIZE = 4096;
/** Bytes moved per host read / kernel write while copying (the kernel's 1 MiB transfer buffer). */
export const COPY_CHUNK = 1024 * 1024;
/** Smallest image mkfs accepts (the kernel needs room for a superblock, journal and trees). */
export const MKFS_MIN_BYTES = 4 * 1024 * 1024;
/** Default image size of mkfs. */
const MKFS_DEFAULT_SIZE = "256M";
/** Deepest directory nesting the tree walkers follow (bounds the walk, TIGER_STYLE). */
const TREE_DEPTH_MAX = 256;
/** Entries one tree walk visits before giving up (a runaway walk is a bug, not a big tree). */
const TREE_ENTRIES_MAX = 10_000_000;
/** Memory limits the kernel accepts (host/kernel.ts BootOptions). */
const MEMORY_MIB_MIN = 32, MEMORY_MIB_MAX = 3072, CPUS_MIN = 1, CPUS_MAX = 4;
/** Width of the text bars of `inspect`. */
const HIST_BAR_WIDTH = 40;
/** Commands one shell line may hold (bounds a pasted script). */
const SHELL_COMMANDS_MAX = 100_000;

const MiB = 1024 * 1024;

// ---- errors --------------------------------------------------------------------------------

/** A failure the CLI reports as one line; exitCode 1 (runtime) unless a subclass says otherwise. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) { super(message); this.name = "CliError"; }
}

/** Bad command-line input (unknown option, bad size, bad number): exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) { super(message, 2); this.name = "UsageError"; }
}

/** Collapses a message to one line (kernel and commander messages may span lines). */
export function oneLine(s: string): string {
  return s.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0).join(" ");
}

/** The message of any thrown value, one line. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return oneLine(err.message) || err.name;
  return oneLine(String(err));
}

/** The errno name (`code`) of a Node-shaped fs error, or undefined. */
function errCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

/** strerror(3) texts for the codes the shell prints (coreutils style). */
const STRERROR: Record<string, string> = {
  EPERM: "Operation not permitted", ENOENT: "No such file or directory", EIO: "Input/output error",
  EBADF: "Bad file descriptor", ENOMEM: "Cannot allocate memory", EACCES: "Permission denied",
  EBUSY: "Device or resource busy", EEXIST: "File exists", EXDEV: "Invalid cross-device link",
  ENOTDIR: "Not a directory", EISDIR: "Is a directory", EINVAL: "Invalid argument",
  EMFILE: "Too many open files", EFBIG: "File too large", ENOSPC: "No space left on device",
  EROFS: "Read-only file system", EMLINK: "Too many links", ENAMETOOLONG: "File name too long",
  ENOTEMPTY: "Directory not empty", ELOOP: "Too many levels of symbolic links",
  EUCLEAN: "Structure needs cleaning", EBADMSG: "Bad message", ENOSYS: "Function not implemented",
  ENOTSUP: "Operation not supported", EOPNOTSUPP: "Operation not supported", ESTALE: "Stale file handle",
  EDQUOT: "Disk quota exceeded", EOVERFLOW: "Value too large for defined data type",
};

/** The strerror text for an fs error, or its one-line message when the code is not known. */
export function strerror(err: unknown): string {
  const c = errCode(err);
  if (c !== undefined && STRERROR[c] !== undefined) return STRERROR[c];
  return errorMessage(err);
}

// ---- formatting ----------------------------------------------------------------------------

/** Bytes in binary units with one decimal: 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** A rate in MiB/s with one decimal; "-" when the time is too short to mean anything. */
export function formatRate(bytes: number, seconds: number): string {
  return seconds > 0.0005 ? `${(bytes / MiB / seconds).toFixed(1)} MiB/s` : "- MiB/s";
}

/**
 * coreutils' human-readable size (df -h, ls -lh): powers of 1024 with one-letter units, one
 * decimal below 10, always rounded up (human_ceiling): 134217728 -> "128M", 2228224 -> "2.2M".
 */
export function humanSize(bytes: number): string {
  const units = ["", "K", "M", "G", "T", "P", "E"];
  if (bytes < 1024) return String(bytes);
  let u = 0, v = bytes;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  if (v < 10) {
    const t = Math.ceil(v * 10 - 1e-9) / 10;
    if (t < 10) return `${t.toFixed(1)}${units[u]}`;
    v = t;
  }
  let n = Math.ceil(v - 1e-9);
  if (n >= 1024 && u < units.length - 1) { n = 1; u++; return `${(1).toFixed(1)}${units[u]}`; }
  return `${n}${units[u]}`;
}

/** dmesg's timestamp: seconds since boot, `[%5lu.%06lu]`. */
export function dmesgStamp(seconds: number): string {
  return `[${seconds.toFixed(6).padStart(12)}]`;
}

/** Renders rows as left/right aligned columns (numbers right, text left). */
export function table(rows: (string | number)[][], header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths: number[] = [];
  for (const r of all) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, String(c).length); });
  const line = (r: (string | number)[]) => r.map((c, i) => {
    const s = String(c);
    const last = i === r.length - 1;
    if (typeof c === "number") return s.padStart(widths[i]);
    return last ? s : s.padEnd(widths[i]);
  }).join("  ").trimEnd();
  return all.map(line).join("\n");
}

/** ls -l's mode string, e.g. "drwxr-xr-x". */
export function modeString(mode: number): string {
  const t = mode & 0o170000;
  const type = t === 0o040000 ? "d" : t === 0o120000 ? "l" : t === 0o100000 ? "-" : t === 0o010000 ? "p" :
    t === 0o140000 ? "s" : t === 0o020000 ? "c" : t === 0o060000 ? "b" : "?";
  const rwx = (bits: number, special: boolean, sch: string) =>
    ((bits & 4) ? "r" : "-") + ((bits & 2) ? "w" : "-") +
    (special ? ((bits & 1) ? sch : sch.toUpperCase()) : (bits & 1) ? "x" : "-");
  return type + rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, "s") + rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, "s") +
    rwx(mode & 7, (mode & 0o1000) !== 0, "t");
}

function pad2(n: number): string { return String(n).padStart(2, "0"); }

/** Local time as "YYYY-MM-DD HH:MM" (ls -l --time-style=long-iso). */
function shortTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** UTC time with nanoseconds, as stat(1) prints it: "2024-05-01 10:20:30.123456789 +0000". */
function fullTime(ns: bigint): string {
  const sec = ns / 1_000_000_000n, frac = ns % 1_000_000_000n;
  const d = new Date(Number(sec) * 1000);
  const iso = d.toISOString().slice(0, 19).replace("T", " ");
  return `${iso}.${String(frac < 0n ? -frac : frac).padStart(9, "0")} +0000`;
}

// ---- progress ------------------------------------------------------------------------------

/** Work a file costs besides its bytes, in bytes of copying (open, create, chmod, utimens, close). */
export const FILE_WORK_BYTES = 64 * 1024;
/** Seconds of progress before an ETA is shown (earlier estimates swing wildly). */
const ETA_MIN_SECONDS = 0.5;

/** Seconds as cli-progress and coreutils-style tools print a remaining time: 45s, 2m15s, 1h02m. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A progress bar over bytes and files on stderr, drawn only when enabled (a TTY). The copy
 * loops are synchronous, so the bar redraws from update() (cli-progress' synchronousUpdate)
 * rather than from its timer.
 *
 * The bar and the ETA measure work = bytes + FILE_WORK_BYTES per file, averaged over the
 * whole run: a tree of many small files costs per file, not per byte, and cli-progress' own
 * ETA (the rate of its last 10 updates) swings with each file's size: it showed 2m15s for an
 * import of node_modules that took 3 s.
 */
export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly now: () => number;
  private readonly t0: number;
  bytes = 0;
  files = 0;

  /**
   * `enabled` defaults to "stderr is a TTY"; `opts.now` (ms) and `opts.stream` replace the
   * clock and stderr (tests).
   */
  constructor(label: string, readonly totalBytes: number, readonly totalFiles: number, enabled = process.stderr.isTTY === true,
    opts: { now?: () => number; stream?: NodeJS.WritableStream } = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    if (!enabled) return;
    this.bar = new cliProgress.SingleBar({
      format: `${label.padEnd(7)} [{bar}] {percentage}% | {mib}/{totalMib} MiB | {files}/{totalFiles} files | {rate} | ETA {etaText}`,
      barsize: 30, hideCursor: true, clearOnComplete: false, fps: 10, stream: opts.stream ?? process.stderr,
    }, cliProgress.Presets.shades_classic);
    this.bar.start(this.totalWork(), 0, this.payload());
  }

  /** Total work units (bytes plus the per-file cost), at least 1. */
  private totalWork(): number { return Math.max(this.totalBytes + this.totalFiles * FILE_WORK_BYTES, 1); }
  /** Work units done so far. */
  private work(): number { return Math.min(this.bytes + this.files * FILE_WORK_BYTES, this.totalWork()); }

  /** Seconds left at the average rate so far, or null while there is too little to go on. */
  eta(): number | null {
    const s = (this.now() - this.t0) / 1000;
    const done = this.work();
    if (s < ETA_MIN_SECONDS || done <= 0) return null;
    return (s * (this.totalWork() - done)) / done;
  }

  private payload(): object {
    const s = (this.now() - this.t0) / 1000;
    const eta = this.eta();
    return {
      mib: (this.bytes / MiB).toFixed(1), totalMib: (this.totalBytes / MiB).toFixed(1),
      files: this.files, totalFiles: this.totalFiles, rate: formatRate(this.bytes, s),
      etaText: eta === null ? "-" : formatEta(eta),
    };
  }

  /** Adds transferred bytes and finished files. */
  add(bytes: number, files: number): void {
    this.bytes += bytes;
    this.files += files;
    this.bar?.update(this.work(), this.payload());
  }

  /** Draws the final state and releases the terminal (always call, also on failure). */
  stop(): void {
    if (this.bar === null) return;
    this.bar.update(this.work(), this.payload());
    this.bar.stop();
    this.bar = null;
  }
}

// ---- sessions: a booted kernel with a timestamped log --------------------------------------

/** Kernel options shared by the commands that boot. */
export interface KernelOptions {
  /** Physical memory limit in MiB (default DEFAULT_MEMORY_MIB). */
  memoryMiB?: number;
  /** Simulated CPUs (default 1). */
  cpus?: number;
  /** Boot the debug kernel (assertions on). */
  debug?: boolean;
  /** Mount for fsck (host/kernel.ts BootOptions.fsckMount). */
  fsckMount?: "check" | "preen" | "yes";
}

/** One kernel log line with its time since boot in seconds. */
export interface LogLine { t: number; text: string }

/**
 * A booted and mounted kernel on an image. Kernel log lines are timestamped as they arrive;
 * until a sink is set they are kept in `log` (the boot log), afterwards they go to the sink.
 */
export class Session {
  readonly log: LogLine[] = [];
  private sink: ((l: LogLine) => void) | null = null;
  private closed = false;

  private constructor(readonly image: string, readonly k: Kernel, readonly t0: number) {}

  /**
   * Boots the kernel on `image` and mounts it. Errors: CliError with a one-line reason that
   * names the image (missing, not a HelixFS image, corrupted superblock, kernel panic).
   */
  static open(image: string, opts: KernelOptions = {}): Session {
    const t0 = performance.now();
    let session: Session | null = null;
    const early: LogLine[] = [];
    const log = (text: string) => {
      const line = { t: (performance.now() - t0) / 1000, text };
      if (session === null) early.push(line);
      else if (session.sink !== null) session.sink(line);
      else session.log.push(line);
    };
    let k: Kernel;
    try {
      k = bootSync({ image, memoryMiB: opts.memoryMiB, cpus: opts.cpus, debug: opts.debug, log, fsckMount: opts.fsckMount });
    } catch (err) {
      throw bootError(image, err);
    }
    session = new Session(image, k, t0);
    session.log.push(...early);
    return session;
  }

  /** Seconds since boot started. */
  now(): number { return (performance.now() - this.t0) / 1000; }

  /** Routes later kernel log lines to `fn` (null: keep them in `log`). */
  setSink(fn: ((l: LogLine) => void) | null): void { this.sink = fn; }

  /** The Node-shaped fs of the kernel. */
  get fs(): HelixFs { return this.k.fs; }

  /**
   * Lines that describe the mount, dmesg-style with the kernel's prefix (FS_LOG_PREFIX): label,
   * size, mount count, whether the filesystem was cleanly unmounted (and what recovery
   * replayed), orphans, and for a read-only mount why and what to run.
   */
  mountLines(): string[] {
    const i = this.k.info();
    const dev = FS_LOG_PREFIX;
    const lines = [
      `${dev}mounted filesystem '${this.k.label()}' ${i.readOnly ? "read-only" : "read-write"}, ${i.totalBlocks} blocks of ${BLOCK_SIZE / 1024} KiB ` +
        `(${formatBytes(i.totalBlocks * BLOCK_SIZE)}), mount #${i.mountCount}`,
    ];
    const journal = `journal ${i.journalBlocks} blocks at block ${i.journalStart}, head ${i.journalHead}, next transaction ${formatTid(i.tid)}`;
    if (i.mountFoundState === STATE_CLEAN && i.mountReplayedTx === 0) {
      lines.push(`${dev}was cleanly unmounted; ${journal}`);
    } else {
      lines.push(`${dev}was not cleanly unmounted: recovery replayed ${plural(i.mountReplayedTx, "transaction")} ` +
        `(${plural(i.replayedBlocks, "block")}); ${journal}`);
    }
    if (i.mountOrphans > 0) lines.push(`${dev}${plural(i.mountOrphans, "orphan inode")} cleaned up`);
    if (i.mountUsedBackup) lines.push(`${dev}primary superblock was bad: restored from the backup copy`);
    if (i.readOnly) lines.push(`${dev}${readOnlyReason(i, this.image)}`);
    lines.push(`${dev}${i.freeBlocks} blocks free (${formatBytes(i.freeBlocks * BLOCK_SIZE)}), ${plural(i.inodes, "inode")}`);
    return lines;
  }

  /**
   * The host-side cause of the device's first failed request (e.g. the host's disk is full),
   * as one phrase, or null. The kernel only sees an I/O error; this is what the user needs.
   */
  hostCause(): string | null {
    return hostCauseOf(this.k.device.hostError, this.image);
  }

  /**
   * Unmounts and releases the image. Safe to call twice and after a panic. When `quiet` is
   * false, errors are thrown; the callers that are already failing pass true and keep their
   * own (first) error.
   */
  close(quiet = false): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.k.shutdown();
    } catch (err) {
      if (!quiet) throw new CliError(`${this.image}: ${errorMessage(err)}`);
    }
  }
}

/** Superblock states (fs/format.ts STATE_*). */
const STATE_DIRTY = 0, STATE_CLEAN = 1, STATE_ERROR = 2;

/** The state a superblock was found in at mount, as `inspect` and the mount lines say it. */
function stateName(s: number): string {
  return s === STATE_CLEAN ? "clean" : s === STATE_DIRTY ? "not clean (was not cleanly unmounted)" :
    s === STATE_ERROR ? "errors recorded (a metadata error)" : `unknown (${s})`;
}

/** Why a mount is read-only (kernel_info flags), with `run 'helix fsck IMAGE'` when fsck is the way out. */
function readOnlyReason(i: KernelInfo, image: string): string {
  const fsck = `; run 'helix fsck ${image}'`;
  if (i.errorState === 1 || i.mountFoundState === STATE_ERROR) return `mounted read-only: the filesystem has errors recorded by an earlier metadata error${fsck}`;
  if (i.errored === 1) return `mounted read-only: a metadata error met while mounting aborted the journal${fsck}`;
  return "mounted read-only"; // unknown ro_compat features (and any later read-only cause)
}

/** `n thing` / `n things`. */
export function plural(n: number, thing: string): string { return `${n} ${thing}${n === 1 ? "" : "s"}`; }

/**
 * A transaction id as the log and `inspect` print it: hex (mkfs draws the first tid from the
 * clock, so in decimal it is a 15-digit number nobody can read or compare at a glance).
 */
export function formatTid(tid: number): string { return `0x${tid.toString(16)}`; }

/**
 * The host-side cause of a failed device request as one phrase, or null: "the host could
 * not write the image 'x.img': ENOSPC: No space left on device" (ENOSPC: the host's disk is full).
 */
export function hostCauseOf(err: Error | null, image: string): string | null {
  if (err === null) return null;
  const code = errCode(err);
  const what = /^\w+: (read|readv)\b/.test(err.message) ? "read" : /^\w+: fsync\b/.test(err.message) ? "flush" : "write";
  const why = code !== undefined ? `${code}: ${STRERROR[code] ?? errorMessage(err)}` : errorMessage(err);
  return `the host could not ${what} the image '${image}': ${why}${code === "ENOSPC" ? " (the host's disk is full)" : ""}`;
}

/** Turns a boot/mount failure into a one-line CliError that names the image. */
function bootError(image: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof KernelError || err instanceof KernelPanic) return new CliError(`${image}: ${errorMessage(err)}`);
  // host/node.ts and FileBackend errors already name the image
  return new CliError(errorMessage(err));
}

/** Opens a session; a shorthand used by tools/start.ts. */
export function openSession(image: string, opts: KernelOptions = {}): Session { return Session.open(image, opts); }

/** Runs `fn` on a session and always closes it; the first error wins. */
export function withSession<T>(image: string, opts: KernelOptions, fn: (s: Session) => T): T {
  const s = Session.open(image, opts);
  let ok = false;
  try {
    const r = fn(s);
    ok = true;
    return r;
  } finally {
    s.close(!ok);
  }
}

// ---- host trees ----------------------------------------------------------------------------

/** Kinds of tree entries copied between the host and the image. */
export type EntryKind = "file" | "dir" | "symlink";

/** Longest name (bytes) of one path component on Linux and in HelixFS (params.ts NAME_MAX). */
export const NAME_MAX = 255;

/**
 * One entry of a scanned tree. Names are bytes on Linux (a name need not be UTF-8), so `rel`
 * (relative to the tree root, empty for the root itself) and `target` are kept as the exact
 * bytes read from the source and written to the destination unchanged.
 */
export interface TreeEntry {
  rel: Buffer;
  kind: EntryKind;
  /** Bytes (files; symlink target length otherwise 0). */
  size: number;
  /** Permission bits (mode & 0o7777). */
  perm: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  /** Symlink target (exact bytes). */
  target?: Buffer;
  /** SHA-256 (hex) of the bytes actually copied, set by importTree. */
  sha256?: string;
}

/** A scanned tree: entries in pre-order (a directory before its children, names sorted). */
export interface ScannedTree {
  root: string;
  entries: TreeEntry[];
  /** Bytes of regular files. */
  bytes: number;
  files: number;
  dirs: number;
  symlinks: number;
  /** Sockets, FIFOs and devices: not copied (relative paths, escaped by quoteName). */
  skipped: string[];
}

/** Byte-order comparison of names (libuv's scandir and the kernel's readdir sort this way). */
export function compareNames(a: string | Uint8Array, b: string | Uint8Array): number {
  return Buffer.compare(typeof a === "string" ? Buffer.from(a) : a, typeof b === "string" ? Buffer.from(b) : b);
}

/**
 * A name or path for a message, byte for byte and on one line: valid UTF-8 shows as text,
 * a backslash as `\\`, control characters as `\n`, `\t`, `\xHH` (C1 ones as `\u0085`), and
 * every byte that is not part of valid UTF-8 as `\xHH` (so `bad\xff\xfename` names the file
 * it means).
 */
export function quoteName(b: string | Uint8Array): string {
  const bytes = typeof b === "string" ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.length);
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const c = bytes[i];
    const len = utf8SeqLen(bytes, i);
    if (len === 0) { out += `\\x${c.toString(16).padStart(2, "0")}`; i++; continue; }
    if (len === 1) {
      out += c === 0x5c ? "\\\\" : c === 0x0a ? "\\n" : c === 0x09 ? "\\t" : c === 0x0d ? "\\r"
        : c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, "0")}` : String.fromCharCode(c);
    } else if (len === 2 && c === 0xc2 && bytes[i + 1] < 0xa0) { // C1 controls (U+0080..U+009F)
      out += `\\u00${bytes[i + 1].toString(16)}`;
    } else {
      out += bytes.toString("utf8", i, i + len);
    }
    i += len;
  }
  return out;
}

/** Length of the valid UTF-8 sequence at b[i] (1..4), or 0 if b[i] does not start one. */
function utf8SeqLen(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no surrogates
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * Why `name` (one directory entry as read from a source) is not a single path component,
 * or null when it is one: empty, `.` or `..`, holding `/` or NUL, or longer than NAME_MAX.
 * A tree copy joins names onto a destination path, so a name like `../../x` read from a
 * crafted image would write outside the target: such names are refused where they enter.
 */
export function badComponent(name: Uint8Array): string | null {
  if (name.length === 0) return "empty name";
  if (name.length === 1 && name[0] === 0x2e) return "'.' stored as a name";
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return "'..' stored as a name";
  if (name.includes(0x2f)) return "name contains '/'";
  if (name.includes(0)) return "name contains NUL";
  if (name.length > NAME_MAX) return `name longer than NAME_MAX (${name.length} > ${NAME_MAX} bytes)`;
  return null;
}

const SLASH = Buffer.from("/");

/** `rel/name` in bytes (the root's rel is empty). */
function joinRel(rel: Buffer, name: Buffer): Buffer { return rel.length === 0 ? name : Buffer.concat([rel, SLASH, name]); }

/** An absolute path `dir/rel` in bytes (`dir` itself for the root entry). */
function underDir(dir: string, rel: Buffer): Buffer {
  if (rel.length === 0) return Buffer.from(dir);
  return Buffer.concat([Buffer.from(dir === "/" ? "" : dir.replace(/\/+$/, "")), SLASH, rel]);
}

/** The stat fields a tree walk needs (Node's and HelixFs's BigIntStats both fit). */
interface WalkStats {
  mode: bigint; size: bigint; atimeNs: bigint; mtimeNs: bigint;
  isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean;
}

/** Where a tree walk reads from: the host's fs or the image's, by path relative to the root. */
interface TreeSource {
  /** Display path of `rel` for messages. */
  show(rel: Buffer): string;
  /** lstat of `rel`, or null when the entry vanished while we looked (then it is left out). */
  lstat(rel: Buffer): WalkStats | null;
  /** The names in directory `rel`, exact bytes. */
  readdir(rel: Buffer): Buffer[];
  /** The target of symlink `rel`, exact bytes. */
  readlink(rel: Buffer): Buffer;
  /** True to leave `rel` out (the image itself when it lies inside the tree). */
  skip(rel: Buffer): boolean;
}

/**
 * Walks a tree (lstat, names in byte order, symlinks not followed) from its root's stat into
 * entries. Errors: CliError past TREE_ENTRIES_MAX entries or TREE_DEPTH_MAX levels, CliError
 * naming a directory entry that is not one path component (badComponent), and whatever the
 * source throws.
 */
function scanTree(root: string, rootStat: WalkStats, src: TreeSource): ScannedTree {
  const tree: ScannedTree = { root, entries: [], bytes: 0, files: 0, dirs: 0, symlinks: 0, skipped: [] };
  tree.entries.push({ rel: Buffer.alloc(0), kind: "dir", size: 0, perm: Number(rootStat.mode) & 0o7777, atimeNs: rootStat.atimeNs, mtimeNs: rootStat.mtimeNs });
  const walk = (rel: Buffer, depth: number) => {
    if (depth > TREE_DEPTH_MAX) throw new CliError(`'${src.show(rel)}': directories nested deeper than ${TREE_DEPTH_MAX}`);
    const names = src.readdir(rel);
    names.sort(compareNames);
    for (const name of names) {
      const why = badComponent(name);
      if (why !== null) throw new CliError(`'${src.show(rel)}' holds an entry named '${quoteName(name)}': ${why}; refusing to copy it`);
      const r = joinRel(rel, name);
      if (src.skip(r)) continue;
      if (tree.entries.length >= TREE_ENTRIES_MAX) throw new CliError(`'${root}' has more than ${TREE_ENTRIES_MAX} entries`);
      const s = src.lstat(r);
      if (s === null) continue;
      const base = { rel: r, perm: Number(s.mode) & 0o7777, atimeNs: s.atimeNs, mtimeNs: s.mtimeNs };
      if (s.isDirectory()) {
        tree.entries.push({ ...base, kind: "dir", size: 0 });
        tree.dirs++;
        walk(r, depth + 1);
      } else if (s.isFile()) {
        tree.entries.push({ ...base, kind: "file", size: Number(s.size) });
        tree.files++;
        tree.bytes += Number(s.size);
      } else if (s.isSymbolicLink()) {
        tree.entries.push({ ...base, kind: "symlink", size: 0, target: src.readlink(r) });
        tree.symlinks++;
      } else {
        tree.skipped.push(quoteName(r));
      }
    }
  };
  walk(tree.entries[0].rel, 0);
  return tree;
}

/**
 * Walks a host directory (lstat, names in byte order, read as bytes) without following
 * symlinks below the root. `exclude` holds absolute host paths to leave out (the image
 * itself, when it lies inside the tree). Errors: CliError if the root is missing or not a
 * directory, or as scanTree.
 */
export function scanHostTree(root: string, exclude: ReadonlySet<string> = new Set()): ScannedTree {
  let st: nodefs.BigIntStats;
  try {
    st = nodefs.statSync(root, { bigint: true });
  } catch (err) {
    throw new CliError(errCode(err) === "ENOENT" ? `host directory '${root}' does not exist` : `host directory '${root}': ${strerror(err)}`);
  }
  if (!st.isDirectory()) throw new CliError(`'${root}' is not a directory`);
  const excluded = [...exclude].map((p) => Buffer.from(path.resolve(p)));
  const hp = (rel: Buffer) => underDir(root, rel);
  return scanTree(root, st, {
    show: (rel) => quoteName(hp(rel)),
    lstat(rel) {
      try {
        return nodefs.lstatSync(hp(rel), { bigint: true });
      } catch (err) {
        if (errCode(err) === "ENOENT") return null; // vanished while we looked: not part of the snapshot
        throw new CliError(`cannot stat '${quoteName(hp(rel))}': ${strerror(err)}`);
      }
    },
    readdir(rel) {
      try { return nodefs.readdirSync(hp(rel), "buffer"); } catch (err) { throw new CliError(`cannot read host directory '${quoteName(hp(rel))}': ${strerror(err)}`); }
    },
    readlink(rel) {
      try { return nodefs.readlinkSync(hp(rel), "buffer"); } catch (err) { throw new CliError(`cannot read symlink '${quoteName(hp(rel))}': ${strerror(err)}`); }
    },
    skip: (rel) => excluded.length > 0 && excluded.some((x) => x.equals(hp(rel))),
  });
}

/** What a copy did. */
export interface CopyStats {
  files: number; dirs: number; symlinks: number; bytes: number; seconds: number; skipped: number;
  /** Set when the copy was interrupted (SIGINT): the first host entry not copied (quoted), or null. */
  interrupted?: string | null;
}

/** Sets a path's times to the nanosecond (utimensat without following symlinks). */
function setTimes(fs: HelixFs, p: Buffer, atimeNs: bigint, mtimeNs: bigint): void {
  const r = fs.sys.utimens(p, atimeNs, mtimeNs, true);
  if (r < 0) throw uvException(r, "utimensat", quoteName(p));
}

/** mkdir that accepts an existing directory (importing over an existing tree merges). */
function ensureGuestDir(fs: HelixFs, p: string | Buffer, perm: number): void {
  try {
    fs.mkdirSync(p, { mode: perm & 0o777 });
  } catch (err) {
    if (errCode(err) !== "EEXIST" || !fs.lstatSync(p).isDirectory()) throw err;
  }
}

/** One side of a tree copy: how copyTree creates each kind of entry at the destination. */
interface TreeSink {
  /** Creates the destination root (with parents). */
  root(): void;
  /** Creates a directory other than the root (an existing one is merged into). */
  dir(e: TreeEntry): void;
  /** Creates a symlink (replacing an existing one) with its times. */
  symlink(e: TreeEntry): void;
  /** Copies a regular file with its permission bits and times; returns the bytes copied. */
  file(e: TreeEntry): number;
  /** Sets a directory's permission bits and times (called children first). */
  dirMeta(e: TreeEntry): void;
  /** Names an entry (source -> destination) for an error message; null: the root. */
  where(e: TreeEntry | null): string;
}

/**
 * Copies every entry of `tree` through `sink` in pre-order, then sets directory metadata in
 * reverse pre-order: creating a child changes its parent's mtime, so directories get their
 * times after their children. Errors: CliError `<verb> stopped at <where>: <reason>`, after
 * which nothing more is copied; a kernel panic is its own one-line CliError.
 */
function copyTree(tree: ScannedTree, verb: string, sink: TreeSink, progress?: Progress, cause?: () => string | null): CopyStats {
  const steps = copySteps(tree, verb, sink, progress, cause);
  for (;;) {
    const r = steps.next(false);
    if (r.done) return r.value;
  }
}

/**
 * copyTree as steps: yields after each entry; next(true) asks it to stop there (between
 * entries: every file copied so far is whole), set the metadata of the directories made so
 * far, and return with `interrupted` set. `cause` names a host-side cause (a full host disk)
 * that replaces the kernel's errno in the message.
 */
function* copySteps(tree: ScannedTree, verb: string, sink: TreeSink, progress?: Progress, cause?: () => string | null): Generator<void, CopyStats, boolean> {
  const t0 = performance.now();
  const stats: CopyStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, seconds: 0, skipped: tree.skipped.length };
  let current: TreeEntry | null = null;
  let done = tree.entries.length;
  try {
    sink.root();
    for (let i = 0; i < tree.entries.length; i++) {
      const e = tree.entries[i];
      current = e;
      if (e.kind === "dir") {
        if (e.rel.length !== 0) { sink.dir(e); stats.dirs++; }
      } else {
        if (e.kind === "symlink") {
          sink.symlink(e);
          stats.symlinks++;
        } else {
          stats.bytes += sink.file(e);
          stats.files++;
        }
        progress?.add(0, 1);
      }
      if (yield) {
        done = i + 1;
        const next = tree.entries[i + 1];
        stats.interrupted = next !== undefined ? quoteName(underDir(tree.root, next.rel)) : null;
        break;
      }
    }
    for (let i = done - 1; i >= 0; i--) {
      current = tree.entries[i];
      if (current.kind === "dir") sink.dirMeta(current);
    }
  } catch (err) {
    if (err instanceof KernelPanic) throw new CliError(errorMessage(err));
    throw new CliError(`${verb} stopped at ${sink.where(current)}: ${cause?.() ?? errorMessage(err)}`);
  }
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}

/** Time between two yields of an interruptible copy to the event loop (signals run there). */
const COPY_YIELD_MS = 50;

/**
 * Runs copy steps to the end, giving the event loop a turn every COPY_YIELD_MS so that a
 * SIGINT handler can run; when `stop()` turns true the copy stops after the current entry.
 */
async function runInterruptible(steps: Generator<void, CopyStats, boolean>, stop: () => boolean): Promise<CopyStats> {
  let last = performance.now();
  let r = steps.next(false);
  while (!r.done) {
    if (performance.now() - last >= COPY_YIELD_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      last = performance.now();
    }
    r = steps.next(stop());
  }
  return r.value;
}

/**
 * Copies a scanned host tree into the image under `dest` (created with parents if missing):
 * files, directories and symlinks, with permission bits and atime/mtime to the nanosecond.
 * Each file's SHA-256 is computed over the bytes as they are copied (stored in entry.sha256),
 * so a later verify compares the image with what was imported even if the host file changes
 * afterwards. Errors: CliError naming the host file and the guest path (e.g. ENOSPC), after
 * which nothing more is copied.
 */
export function importTree(fs: HelixFs, tree: ScannedTree, dest: string, progress?: Progress, cause?: () => string | null): CopyStats {
  return copyTree(tree, "import", importSink(fs, tree, dest, progress), progress, cause);
}

/**
 * importTree that stops between entries once `stop()` turns true (Ctrl-C), with the copied
 * part whole; the result's `interrupted` names the first entry left out.
 */
export function importTreeInterruptible(fs: HelixFs, tree: ScannedTree, dest: string, stop: () => boolean, progress?: Progress, cause?: () => string | null): Promise<CopyStats> {
  return runInterruptible(copySteps(tree, "import", importSink(fs, tree, dest, progress), progress, cause), stop);
}

/** The sink of an import: how each kind of host entry is created in the image. */
function importSink(fs: HelixFs, tree: ScannedTree, dest: string, progress?: Progress): TreeSink {
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  const gp = (e: TreeEntry) => underDir(dest, e.rel);
  const hp = (e: TreeEntry) => underDir(tree.root, e.rel);
  return {
    root() {
      fs.mkdirSync(dest, { recursive: true });
      if (!fs.statSync(dest).isDirectory()) throw uvException(-20, "mkdir", dest);
    },
    dir: (e) => ensureGuestDir(fs, gp(e), e.perm),
    symlink(e) {
      try { fs.unlinkSync(gp(e)); } catch (err) { if (errCode(err) !== "ENOENT") throw err; }
      fs.symlinkSync(e.target!, gp(e));
      setTimes(fs, gp(e), e.atimeNs, e.mtimeNs);
    },
    file: (e) => copyHostFileIn(fs, hp(e), gp(e), e, buf, progress),
    dirMeta(e) {
      fs.chmodSync(gp(e), e.perm);
      setTimes(fs, gp(e), e.atimeNs, e.mtimeNs);
    },
    where: (e) => e === null ? `'${dest}'` : `'${quoteName(hp(e))}' -> ${quoteName(gp(e))}`,
  };
}

/** Copies one host file into the image, hashing what it copies. Returns the bytes copied. */
function copyHostFileIn(fs: HelixFs, hp: Buffer, gp: Buffer, e: TreeEntry, buf: Buffer, progress?: Progress): number {
  const hfd = nodefs.openSync(hp, "r");
  const hash = createHash("sha256");
  let pos = 0;
  try {
    const gfd = fs.openSync(gp, "w", e.perm & 0o777);
    try {
      for (;;) {
        const n = nodefs.readSync(hfd, buf, 0, buf.length, pos);
        if (n === 0) break;
        hash.update(buf.subarray(0, n));
        for (let w = 0; w < n;) w += fs.writeSync(gfd, buf, w, n - w);
        pos += n;
        progress?.add(n, 0);
      }
    } finally {
      fs.closeSync(gfd);
    }
  } finally {
    nodefs.closeSync(hfd);
  }
  // the mode passed to open was masked by the umask; set the exact bits (setuid etc. too)
  fs.chmodSync(gp, e.perm);
  setTimes(fs, gp, e.atimeNs, e.mtimeNs);
  e.sha256 = hash.digest("hex");
  e.size = pos;
  return pos;
}

/**
 * Walks a tree inside the image (lstat, readdir in byte order) into the same entry shape as
 * scanHostTree. Errors: Node-shaped fs errors from the kernel (the caller names the path).
 */
export function scanGuestTree(fs: HelixFs, root: string): ScannedTree {
  const st = fs.statSync(root, { bigint: true });
  if (!st.isDirectory()) throw uvException(-20, "scandir", root);
  const gp = (rel: Buffer) => underDir(root, rel);
  return scanTree(root, st, {
    show: (rel) => quoteName(gp(rel)),
    lstat: (rel) => fs.lstatSync(gp(rel), { bigint: true }),
    readdir: (rel) => fs.readdirSync(gp(rel), "buffer"),
    readlink: (rel) => fs.readlinkSync(gp(rel), "buffer") as Buffer,
    skip: () => false,
  });
}

/**
 * Copies a tree of the image (`src`) to a host directory (created with parents if missing):
 * files, directories and symlinks with permission bits and times (the host keeps times to
 * the microsecond). Existing host files are overwritten. Errors: CliError naming the path.
 */
export function exportTree(fs: HelixFs, src: string, hostDir: string, progressOf?: (t: ScannedTree) => Progress | undefined): CopyStats {
  let tree: ScannedTree;
  try {
    tree = scanGuestTree(fs, src);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${src}: ${strerror(err)}`);
  }
  const progress = progressOf?.(tree);
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  const hostTime = hostSeconds;
  const hp = (e: TreeEntry) => underDir(path.resolve(hostDir), e.rel);
  const setMeta = (e: TreeEntry) => {
    nodefs.chmodSync(hp(e), e.perm);
    nodefs.utimesSync(hp(e), hostTime(e.atimeNs), hostTime(e.mtimeNs));
  };
  try {
    return copyTree(tree, "export", {
      root: () => nodefs.mkdirSync(hostDir, { recursive: true }),
      dir(e) {
        try { nodefs.mkdirSync(hp(e), { mode: 0o700 }); } catch (err) { if (errCode(err) !== "EEXIST" || !nodefs.lstatSync(hp(e)).isDirectory()) throw err; }
      },
      symlink(e) {
        try { nodefs.unlinkSync(hp(e)); } catch (err) { if (errCode(err) !== "ENOENT") throw err; }
        nodefs.symlinkSync(e.target!, hp(e));
        nodefs.lutimesSync(hp(e), hostTime(e.atimeNs), hostTime(e.mtimeNs));
      },
      file(e) {
        const n = copyGuestFileOut(fs, underDir(src, e.rel), hp(e), buf, progress);
        setMeta(e);
        return n;
      },
      dirMeta: setMeta,
      where: (e) => e === null ? `'${hostDir}'` : `${quoteName(underDir(src, e.rel))} -> '${quoteName(hp(e))}'`,
    }, progress);
  } finally {
    progress?.stop();
  }
}

/** Half a microsecond in seconds (see hostSeconds). */
const HALF_US = 5e-7;

/**
 * ns since the epoch as the seconds value Node's utimes turns back into the same (truncated)
 * microsecond: libuv truncates a double to whole microseconds, and sec + us / 1e6 can land
 * just below the intended one, so it is nudged half a microsecond away from the edge. Node reads a
 * negative number as "now", so times before 1970 go as numeric strings (passed unchanged).
 */
function hostSeconds(ns: bigint): number {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) { nsec += 1_000_000_000n; sec -= 1n; }
  const us = nsec / 1000n; // the host keeps microseconds: truncate, as utimes(2) would
  const t = Number(sec) + Number(us) / 1e6 + (sec < 0n ? -HALF_US : HALF_US);
  return (t < 0 ? String(t) : t) as number;
}

/** Copies one file of the image to a new host file (mode 0600 until the caller sets it). */
function copyGuestFileOut(fs: HelixFs, gp: Buffer, hp: Buffer, buf: Buffer, progress?: Progress): number {
  const gfd = fs.openSync(gp, "r");
  try {
    const hfd = nodefs.openSync(hp, "w", 0o600);
    try {
      let pos = 0;
      for (;;) {
        const n = fs.readSync(gfd, buf, 0, buf.length, pos);
        if (n === 0) return pos;
        for (let w = 0; w < n;) w += nodefs.writeSync(hfd, buf, w, n - w);
        pos += n;
        progress?.add(n, 0);
      }
    } finally {
      nodefs.closeSync(hfd);
    }
  } finally {
    fs.closeSync(gfd);
  }
}

// ---- the shell -----------------------------------------------------------------------------

/** Where the shell writes: command output and error lines. */
export interface ShellIO {
  out(data: string | Uint8Array): void;
  err(line: string): void;
}

/** One parsed command: words and an optional output redirection. */
interface ParsedCommand { argv: string[]; redirect?: { file: string; append: boolean } }

/** A shell syntax or usage error inside one command (printed, the shell goes on). */
class ShellError extends Error {}

/**
 * Splits shell text into commands at unquoted `;` and newlines. Words may be quoted with
 * '...' (literal) or "..." (backslash escapes \" \\ \$ \`), a backslash escapes one
 * character outside quotes, `#` at the start of a word starts a comment, and `>` / `>>`
 * redirect the command's output to a file in the image.
 */
export function parseShell(text: string): ParsedCommand[] {
  const cmds: ParsedCommand[] = [];
  let words: string[] = [];
  let redirect: ParsedCommand["redirect"];
  let pendingRedirect: boolean | null = null; // append flag while waiting for the file word
  let word = "";
  let inWord = false;
  const endWord = () => {
    if (!inWord) return;
    if (pendingRedirect !== null) { redirect = { file: word, append: pendingRedirect }; pendingRedirect = null; }
    else words.push(word);
    word = "";
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (pendingRedirect !== null) throw new ShellError("syntax error: redirection without a file name");
    if (words.length > 0) {
      if (cmds.length >= SHELL_COMMANDS_MAX) throw new ShellError(`more than ${SHELL_COMMANDS_MAX} commands`);
      cmds.push({ argv: words, redirect });
    } else if (redirect) {
      throw new ShellError("syntax error: redirection without a command");
    }
    words = [];
    redirect = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const j = text.indexOf("'", i + 1);
      if (j < 0) throw new ShellError("syntax error: unterminated quote (')");
      word += text.slice(i + 1, j);
      inWord = true;
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && j + 1 < text.length && '"\\$`'.includes(text[j + 1])) { word += text[++j]; continue; }
        word += text[j];
      }
      if (j >= text.length) throw new ShellError('syntax error: unterminated quote (")');
      inWord = true;
      i = j;
    } else if (c === "\\" && i + 1 < text.length) {
      if (text[i + 1] !== "\n") { word += text[i + 1]; inWord = true; }
      i++;
    } else if (c === ";" || c === "\n") {
      endCommand();
    } else if (c === ">") {
      endWord();
      if (pendingRedirect !== null) throw new ShellError("syntax error near '>'");
      const append = text[i + 1] === ">";
      if (append) i++;
      pendingRedirect = append;
    } else if (c === "|" || c === "<" || c === "&") {
      // no pipes, input redirection or jobs: refuse rather than pass the character as a word
      throw new ShellError(`syntax error: '${c}' is not supported (the shell has ';', '>' and '>>')`);
    } else if (c === " " || c === "\t" || c === "\r") {
      endWord();
    } else if (c === "#" && !inWord) {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand();
  return cmds;
}

/** Splits `-rf`-style flags from operands; unknown flags are a ShellError. */
function getopts(args: string[], allowed: string, cmd: string): { f: Set<string>; ops: string[] } {
  const f = new Set<string>();
  const ops: string[] = [];
  let flagsDone = false;
  for (const a of args) {
    if (!flagsDone && a === "--") { flagsDone = true; continue; }
    if (!flagsDone && a.length > 1 && a[0] === "-") {
      for (const ch of a.slice(1)) {
        if (!allowed.includes(ch)) throw new ShellError(`${cmd}: invalid option -- '${ch}'`);
        f.add(ch);
      }
    } else {
      ops.push(a);
    }
  }
  return { f, ops };
}

/**
 * The shell's commands: name, flags (getopts takes them from here) and the help line. `help`
 * prints this table, tab completion offers its names, so neither can miss a command.
 */
export const SHELL_COMMANDS: readonly { name: string; flags: string; usage: string; does: string }[] = [
  { name: "ls", flags: "la1", usage: "ls [-l] [-a] [-1] [PATH...]", does: "list directories (-l: long format; a symlink operand is described, not followed)" },
  { name: "cd", flags: "", usage: "cd [DIR]", does: "change the current directory" },
  { name: "pwd", flags: "", usage: "pwd", does: "print the current directory" },
  { name: "cat", flags: "", usage: "cat FILE...", does: "print files" },
  { name: "echo", flags: "n", usage: "echo [-n] TEXT...", does: "print text (-n: no newline)" },
  { name: "mkdir", flags: "p", usage: "mkdir [-p] DIR...", does: "make directories (-p: with parents, no error if existing)" },
  { name: "rm", flags: "rRf", usage: "rm [-r] [-f] PATH...", does: "remove files (-r: and trees; -f: ignore missing)" },
  { name: "rmdir", flags: "", usage: "rmdir DIR...", does: "remove empty directories" },
  { name: "mv", flags: "f", usage: "mv [-f] SRC... DEST", does: "rename, or move into a directory" },
  { name: "cp", flags: "rR", usage: "cp [-r] SRC... DEST", does: "copy within the image (-r: trees; symlinks recreated)" },
  { name: "ln", flags: "sf", usage: "ln [-s] [-f] TARGET LINK", does: "make a hard link (-s: symbolic; -f: replace LINK)" },
  { name: "stat", flags: "", usage: "stat PATH...", does: "show inode details (times to the nanosecond, UTC)" },
  { name: "touch", flags: "", usage: "touch FILE...", does: "create files or set their times to now" },
  { name: "tree", flags: "", usage: "tree [DIR...]", does: "show directory trees" },
  { name: "df", flags: "h", usage: "df [-h]", does: "show free space (-h: human sizes, 128M)" },
  { name: "sync", flags: "", usage: "sync", does: "commit everything to the image" },
  { name: "help", flags: "", usage: "help", does: "this text" },
  { name: "exit", flags: "", usage: "exit [N]", does: "leave the shell (the kernel is shut down cleanly)" },
];

/** The text of `help`. */
export function shellHelp(): string {
  const w = Math.max(...SHELL_COMMANDS.map((c) => c.usage.length));
  return "commands (paths are inside the image; relative paths start at the current directory):\n" +
    SHELL_COMMANDS.map((c) => `  ${c.usage.padEnd(w)}  ${c.does}\n`).join("") +
    "any command's output can go to a file in the image: CMD > FILE, CMD >> FILE (append);\n" +
    "quoting: '...', \"...\", \\x; ';' or a newline separates commands; '#' starts a comment\n";
}

/** The flags a shell command accepts (SHELL_COMMANDS). */
function flagsOf(cmd: string): string { return SHELL_COMMANDS.find((c) => c.name === cmd)?.flags ?? ""; }

/**
 * A small POSIX-flavoured shell over a kernel's fs. Commands run synchronously; a failing
 * command prints `helix: CMD: OPERAND: strerror` through io.err and the shell goes on;
 * `failures` counts them. A kernel panic is not a command failure: it propagates (the kernel
 * is dead and the session must end).
 */
export class Shell {
  /** Current directory (absolute, normalized). */
  cwd = "/";
  /** Commands that failed so far. */
  failures = 0;
  /** Set by `exit`: the status to leave with. */
  exitStatus: number | null = null;
  private lastStatus = 0;

  constructor(readonly fs: HelixFs, readonly io: ShellIO) {}

  /** Runs every command of `text`; stops early after `exit`. */
  run(text: string): void {
    let cmds: ParsedCommand[];
    try {
      cmds = parseShell(text);
    } catch (err) {
      if (!(err instanceof ShellError)) throw err;
      this.fail(err.message);
      return;
    }
    for (const c of cmds) {
      if (this.exitStatus !== null) return;
      this.runOne(c);
    }
  }

  /** The prompt of the interactive shell. */
  prompt(): string { return `helix:${this.cwd}# `; }

  private fail(msg: string): void {
    this.failures++;
    this.lastStatus = 1;
    this.io.err(`helix: ${msg}`);
  }

  /** The kernel path of an operand: absolute as is, relative joined onto cwd (the kernel resolves . and ..). */
  abs(p: string): string {
    if (p.startsWith("/")) return p;
    if (p === "" ) return this.cwd;
    return this.cwd === "/" ? `/${p}` : `${this.cwd}/${p}`;
  }

  private runOne(c: ParsedCommand): void {
    const [name, ...args] = c.argv;
    // output goes out as it is made (so `cat a b c` interleaves data and errors in order, as
    // coreutils does); only a redirection collects it for the file
    const chunks: (string | Uint8Array)[] = [];
    const out = c.redirect ? (d: string | Uint8Array) => { chunks.push(d); } : (d: string | Uint8Array) => { this.io.out(d); };
    let ok = true;
    const onErr = (msg: string) => { ok = false; this.fail(msg); };
    try {
      this.dispatch(name, args, out, onErr);
    } catch (err) {
      if (err instanceof KernelPanic) throw err;
      ok = false;
      this.fail(err instanceof ShellError ? err.message : `${name}: ${strerror(err)}`);
    }
    if (c.redirect) {
      const file = this.abs(c.redirect.file);
      const data = Buffer.concat(chunks.map((d) => (typeof d === "string" ? Buffer.from(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength))));
      try {
        if (c.redirect.append) this.fs.appendFileSync(file, data);
        else this.fs.writeFileSync(file, data);
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        ok = false;
        this.fail(`${c.redirect.file}: ${strerror(err)}`);
      }
    }
    if (ok) this.lastStatus = 0;
  }

  /** Runs `fn` for each operand, printing `cmd: operand: strerror` for the ones that fail. */
  private each(cmd: string, ops: string[], onErr: (m: string) => void, fn: (op: string) => void): void {
    if (ops.length === 0) throw new ShellError(`${cmd}: missing operand`);
    for (const op of ops) {
      try {
        fn(op);
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        onErr(err instanceof ShellError ? err.message : `${cmd}: ${op}: ${strerror(err)}`);
      }
    }
  }

  private isDir(p: string): boolean {
    try { return this.fs.statSync(p).isDirectory(); } catch { return false; }
  }

  private dispatch(name: string, args: string[], out: (d: string | Uint8Array) => void, onErr: (m: string) => void): void {
    const fs = this.fs;
    switch (name) {
      case "help": out(shellHelp()); return;
      case "exit": {
        const n = args.length > 0 ? Number(args[0]) : this.lastStatus;
        if (!Number.isInteger(n) || n < 0 || n > 255) throw new ShellError(`exit: ${args[0]}: numeric argument required`);
        this.exitStatus = n;
        return;
      }
      case "pwd": out(this.cwd + "\n"); return;
      case "cd": {
        const target = path.posix.normalize(this.abs(args[0] ?? "/"));
        if (args.length > 1) throw new ShellError("cd: too many arguments");
        let st;
        try { st = fs.statSync(target); } catch (err) {
          if (err instanceof KernelPanic) throw err;
          throw new ShellError(`cd: ${args[0]}: ${strerror(err)}`);
        }
        if (!st.isDirectory()) throw new ShellError(`cd: ${args[0]}: Not a directory`);
        this.cwd = target.length > 1 ? target.replace(/\/+$/, "") : "/";
        return;
      }
      case "echo": {
        const noNewline = args[0] === "-n";
        out((noNewline ? args.slice(1) : args).join(" ") + (noNewline ? "" : "\n"));
        return;
      }
      case "ls": return this.ls(args, out, onErr);
      case "cat": {
        const { ops } = getopts(args, flagsOf("cat"), "cat");
        this.each("cat", ops, onErr, (op) => out(fs.readFileSync(this.abs(op))));
        return;
      }
      case "mkdir": {
        const { f, ops } = getopts(args, flagsOf("mkdir"), "mkdir");
        this.each("mkdir", ops, onErr, (op) => { fs.mkdirSync(this.abs(op), { recursive: f.has("p") }); });
        return;
      }
      case "rmdir": {
        const { ops } = getopts(args, flagsOf("rmdir"), "rmdir");
        this.each("rmdir", ops, onErr, (op) => fs.rmdirSync(this.abs(op)));
        return;
      }
      case "rm": {
        const { f, ops } = getopts(args, flagsOf("rm"), "rm");
        const recursive = f.has("r") || f.has("R"), force = f.has("f");
        if (ops.length === 0 && force) return;
        this.each("rm", ops, onErr, (op) => {
          const p = this.abs(op);
          if (path.posix.normalize(p) === "/") throw new ShellError("rm: it is dangerous to operate recursively on '/'");
          let st;
          try { st = fs.lstatSync(p); } catch (err) {
            if (force && errCode(err) === "ENOENT") return;
            throw err;
          }
          if (st.isDirectory()) {
            if (!recursive) throw new ShellError(`rm: ${op}: Is a directory`);
            fs.rmSync(p, { recursive: true, force });
          } else {
            fs.unlinkSync(p);
          }
        });
        return;
      }
      case "mv": {
        const { ops } = getopts(args, flagsOf("mv"), "mv");
        if (ops.length < 2) throw new ShellError(`mv: missing ${ops.length === 0 ? "file operand" : `destination file operand after '${ops[0]}'`}`);
        const dest = ops.pop()!;
        const into = this.isDir(this.abs(dest));
        if (ops.length > 1 && !into) throw new ShellError(`mv: target '${dest}': Not a directory`);
        for (const src of ops) {
          const to = into ? `${this.abs(dest).replace(/\/+$/, "")}/${path.posix.basename(src)}` : this.abs(dest);
          try { fs.renameSync(this.abs(src), to); } catch (err) {
            if (err instanceof KernelPanic) throw err;
            onErr(`mv: ${src} -> ${dest}: ${strerror(err)}`);
          }
        }
        return;
      }
      case "cp": {
        const { f, ops } = getopts(args, flagsOf("cp"), "cp");
        const recursive = f.has("r") || f.has("R");
        if (ops.length < 2) throw new ShellError(`cp: missing ${ops.length === 0 ? "file operand" : `destination file operand after '${ops[0]}'`}`);
        const dest = ops.pop()!;
        const into = this.isDir(this.abs(dest));
        if (ops.length > 1 && !into) throw new ShellError(`cp: target '${dest}': Not a directory`);
        for (const src of ops) {
          const to = into ? `${this.abs(dest).replace(/\/+$/, "")}/${path.posix.basename(src)}` : this.abs(dest);
          try {
            if (this.isDir(this.abs(src))) {
              if (!recursive) { onErr(`cp: -r not specified; omitting directory '${src}'`); continue; }
              this.copyTree(this.abs(src), to);
            } else {
              fs.copyFileSync(this.abs(src), to);
            }
          } catch (err) {
            if (err instanceof KernelPanic) throw err;
            onErr(`cp: ${src} -> ${dest}: ${strerror(err)}`);
          }
        }
        return;
      }
      case "ln": {
        const { f, ops } = getopts(args, flagsOf("ln"), "ln");
        if (ops.length !== 2) throw new ShellError("ln: usage: ln [-s] TARGET LINK");
        const [target, link] = ops;
        const lp = this.isDir(this.abs(link)) ? `${this.abs(link).replace(/\/+$/, "")}/${path.posix.basename(target)}` : this.abs(link);
        try {
          if (f.has("f")) { try { fs.unlinkSync(lp); } catch (err) { if (errCode(err) !== "ENOENT") throw err; } }
          if (f.has("s")) fs.symlinkSync(target, lp);
          else fs.linkSync(this.abs(target), lp);
        } catch (err) {
          if (err instanceof KernelPanic) throw err;
          onErr(`ln: ${link}: ${strerror(err)}`);
        }
        return;
      }
      case "stat": {
        const { ops } = getopts(args, flagsOf("stat"), "stat");
        this.each("stat", ops, onErr, (op) => out(this.statText(op)));
        return;
      }
      case "touch": {
        const { ops } = getopts(args, flagsOf("touch"), "touch");
        this.each("touch", ops, onErr, (op) => {
          const p = this.abs(op);
          fs.closeSync(fs.openSync(p, "a"));
          const now = Date.now() / 1000;
          fs.utimesSync(p, now, now);
        });
        return;
      }
      case "df": {
        const { f } = getopts(args, flagsOf("df"), "df");
        const s = fs.statfsSync("/");
        const k = (n: number) => Math.floor((n * s.bsize) / 1024);
        const used = s.blocks - s.bfree;
        const pct = used + s.bavail > 0 ? Math.ceil((used * 100) / (used + s.bavail)) : 0;
        const h = (n: number) => humanSize(n * s.bsize);
        const row = f.has("h") ? ["vda", h(s.blocks), h(used), h(s.bavail), `${pct}%`, "/"] : ["vda", k(s.blocks), k(used), k(s.bavail), `${pct}%`, "/"];
        out(table([row], ["Filesystem", f.has("h") ? "Size" : "1K-blocks", "Used", f.has("h") ? "Avail" : "Available", "Use%", "Mounted on"]) + "\n");
        return;
      }
      case "sync": fs.syncSync(); return;
      case "tree": {
        // like tree(1): each operand's tree in turn, then one report line for them all
        const { ops } = getopts(args, flagsOf("tree"), "tree");
        const counts = { dirs: 0, files: 0 };
        for (const op of ops.length > 0 ? ops : ["."]) {
          try { out(this.treeText(op, counts)); } catch (err) {
            if (err instanceof KernelPanic || err instanceof ShellError) throw err;
            onErr(`tree: ${op}: ${strerror(err)}`);
          }
        }
        const { dirs, files } = counts;
        out(`\n${dirs} ${dirs === 1 ? "directory" : "directories"}, ${files} ${files === 1 ? "file" : "files"}\n`);
        return;
      }
      default:
        throw new ShellError(`${name}: command not found (try 'help')`);
    }
  }

  private ls(args: string[], out: (d: string) => void, onErr: (m: string) => void): void {
    const fs = this.fs;
    const { f, ops } = getopts(args, flagsOf("ls"), "ls");
    const long = f.has("l"), all = f.has("a");
    const targets = ops.length > 0 ? ops : ["."];
    const entryLine = (name: string, p: string): string => {
      if (!long) return name;
      const s = fs.lstatSync(p);
      let line = `${modeString(s.mode)} ${String(s.nlink).padStart(3)} ${String(s.uid).padStart(4)} ${String(s.gid).padStart(4)} ` +
        `${String(s.size).padStart(10)} ${shortTime(s.mtimeMs)} ${name}`;
      if (s.isSymbolicLink()) line += ` -> ${fs.readlinkSync(p, "utf8") as string}`;
      return line;
    };
    const files: string[] = [], dirs: string[] = [];
    for (const op of targets) {
      try {
        const p = this.abs(op);
        // like coreutils: -l describes a symlink operand itself (no -H/-L); without -l a
        // symlink to a directory lists the directory
        if (long && !op.endsWith("/") && fs.lstatSync(p).isSymbolicLink()) { files.push(entryLine(op, p)); continue; }
        const st = fs.statSync(p, { throwIfNoEntry: true });
        if (st.isDirectory()) dirs.push(op);
        else files.push(entryLine(op, p));
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        // a dangling symlink still lists
        try { const p = this.abs(op); fs.lstatSync(p); files.push(entryLine(op, p)); }
        catch { onErr(`ls: ${op}: ${strerror(err)}`); }
      }
    }
    let text = files.length > 0 ? files.join("\n") + "\n" : "";
    dirs.forEach((d, i) => {
      const p = this.abs(d);
      try {
        const names = fs.readdirSync(p).filter((n) => all || !n.startsWith("."));
        if (all) names.unshift(".", "..");
        const lines = names.map((n) => entryLine(n, p === "/" ? `/${n}` : `${p.replace(/\/+$/, "")}/${n}`));
        if (targets.length > 1) text += `${text.length > 0 || i > 0 ? "\n" : ""}${d}:\n`;
        if (long) {
          const blocks = names.reduce((a, n) => {
            try { return a + fs.lstatSync(p === "/" ? `/${n}` : `${p.replace(/\/+$/, "")}/${n}`).blocks; } catch { return a; }
          }, 0);
          text += `total ${Math.ceil(blocks / 2)}\n`;
        }
        text += lines.map((l) => l + "\n").join("");
      } catch (err) {
        if (err instanceof KernelPanic) throw err;
        onErr(`ls: ${d}: ${strerror(err)}`);
      }
    });
    out(text);
  }

  /**
   * stat(1)'s default output (coreutils 9: `%N`, `%-10s`, `Device: %Hd,%Ld`, uid/gid with
   * names), times with their nanoseconds in UTC.
   */
  private statText(op: string): string {
    const fs = this.fs;
    const p = this.abs(op);
    const s = fs.lstatSync(p, { bigint: true });
    const mode = Number(s.mode);
    const kind = s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symbolic link" : s.isFile() ? (s.size === 0n ? "regular empty file" : "regular file") : "special file";
    const q = (n: string) => `'${n.replace(/'/g, "'\\''")}'`;
    const file = s.isSymbolicLink() ? `${q(op)} -> ${q(fs.readlinkSync(p, "utf8") as string)}` : q(op);
    const dev = Number(s.dev);
    const owner = (id: bigint) => `(${String(id).padStart(5)}/${(id === 0n ? "root" : "UNKNOWN").padStart(8)})`;
    return [
      `  File: ${file}`,
      `  Size: ${String(s.size).padEnd(10)}\tBlocks: ${String(s.blocks).padEnd(10)} IO Block: ${String(s.blksize).padEnd(6)} ${kind}`,
      `Device: ${Math.floor(dev / 256) & 0xfff},${dev & 0xff}\tInode: ${String(s.ino).padEnd(11)} Links: ${s.nlink}`,
      `Access: (${(mode & 0o7777).toString(8).padStart(4, "0")}/${modeString(mode)})  Uid: ${owner(s.uid)}   Gid: ${owner(s.gid)}`,
      `Access: ${fullTime(s.atimeNs)}`,
      `Modify: ${fullTime(s.mtimeNs)}`,
      `Change: ${fullTime(s.ctimeNs)}`,
      ` Birth: ${fullTime(s.birthtimeNs)}`,
    ].join("\n") + "\n";
  }

  /** One operand of `tree`: its lines; adds what it saw to `counts`. */
  private treeText(op: string, counts: { dirs: number; files: number }): string {
    const fs = this.fs;
    const root = this.abs(op);
    if (!fs.statSync(root).isDirectory()) { counts.files++; return `${op}  [error opening dir]\n`; }
    const lines = [op];
    let ndirs = 0, nfiles = 0;
    const walk = (dir: string, prefix: string, depth: number) => {
      if (depth > TREE_DEPTH_MAX) throw new ShellError(`tree: ${op}: nested deeper than ${TREE_DEPTH_MAX}`);
      const ents = fs.readdirSync(dir, { withFileTypes: true });
      ents.forEach((d, i) => {
        const last = i === ents.length - 1;
        const p = dir === "/" ? `/${d.name}` : `${dir.replace(/\/+$/, "")}/${d.name}`;
        let label = d.name;
        if (d.isSymbolicLink()) label += ` -> ${fs.readlinkSync(p, "utf8") as string}`;
        lines.push(`${prefix}${last ? "└── " : "├── "}${label}`);
        if (d.isDirectory()) { ndirs++; walk(p, prefix + (last ? "    " : "│   "), depth + 1); }
        else nfiles++;
      });
    };
    walk(root, "", 0);
    counts.dirs += ndirs;
    counts.files += nfiles;
    return `${lines.join("\n")}\n`;
  }

  /** cp -r within the image: directories, files (copyFileSync) and symlinks (recreated). */
  private copyTree(src: string, dest: string): void {
    const fs = this.fs;
    const srcNorm = path.posix.normalize(src).replace(/\/+$/, "");
    const destNorm = path.posix.normalize(dest).replace(/\/+$/, "");
    if (destNorm === srcNorm || destNorm.startsWith(srcNorm + "/")) throw new ShellError(`cp: cannot copy a directory, '${src}', into itself, '${dest}'`);
    const walk = (s: string, d: string, depth: number) => {
      if (depth > TREE_DEPTH_MAX) throw new ShellError(`cp: ${src}: nested deeper than ${TREE_DEPTH_MAX}`);
      const st = fs.statSync(s);
      ensureGuestDir(fs, d, st.mode & 0o7777);
      for (const e of fs.readdirSync(s, { withFileTypes: true })) {
        const sp = `${s}/${e.name}`, dp = `${d}/${e.name}`;
        if (e.isDirectory()) walk(sp, dp, depth + 1);
        else if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(sp, "utf8") as string, dp);
        else fs.copyFileSync(sp, dp);
      }
    };
    walk(srcNorm, destNorm, 0);
  }
}

/** Tab completion of the interactive shell: command names, then paths inside the image. */
function completer(shell: Shell): (line: string) => [string[], string] {
  const cmds = SHELL_COMMANDS.map((c) => c.name);
  return (line: string) => {
    const word = line.slice(line.search(/\S*$/));
    if (!/\s/.test(line.trimStart()) && !line.includes("/")) {
      const hits = cmds.filter((c) => c.startsWith(word));
      return [hits.map((h) => h + " "), word];
    }
    const slash = word.lastIndexOf("/");
    const dirPart = slash >= 0 ? word.slice(0, slash + 1) : "";
    const base = slash >= 0 ? word.slice(slash + 1) : word;
    try {
      const dir = shell.abs(dirPart === "" ? "." : dirPart);
      const ents = shell.fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.name.startsWith(base));
      return [ents.map((e) => dirPart + e.name + (e.isDirectory() ? "/" : "")), word];
    } catch {
      return [[], word];
    }
  };
}

// ---- commands ------------------------------------------------------------------------------

/** Set once stdout's reader has gone (EPIPE): output is dropped from then on. */
let stdoutGone = false;

/**
 * Makes a closed stdout quiet, as a program killed by SIGPIPE is (`helix ... | head`): Node
 * ignores SIGPIPE, so a write to a closed pipe fails with EPIPE, reported as an 'error' event.
 * That error ends the output, never the command: the kernel still unmounts cleanly. Other
 * stdout errors stay errors.
 */
function quietEpipe(): void {
  if (process.stdout.listenerCount("error") > 0) return;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") { stdoutGone = true; return; }
    process.stderr.write(`helix: stdout: ${errorMessage(err)}\n`);
    process.exit(1);
  });
}

/** Writes to stdout (strings or bytes); nothing once the reader is gone. */
function print(s: string | Uint8Array): void { if (!stdoutGone) process.stdout.write(s); }

/** Parses an integer option in [min, max] or throws UsageError. */
function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(String(value).trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`bad ${name} '${value}': must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** The kernel options of --memory / --cpus / --debug. */
export function kernelOptions(o: { memory?: string; cpus?: string; debug?: boolean }): KernelOptions {
  return {
    memoryMiB: intOption(o.memory, "--memory (MiB)", MEMORY_MIB_MIN, MEMORY_MIB_MAX),
    cpus: intOption(o.cpus, "--cpus", CPUS_MIN, CPUS_MAX),
    debug: o.debug === true,
  };
}

/**
 * Parses an image size for mkfs: K/M/G/T suffixes, at least MKFS_MIN_BYTES. Every bad size
 * (`12Q`, `0`, `100`: under one block, `1M`: too small) gets the same hint. UsageError otherwise.
 */
export function imageSize(s: string): number {
  const hint = `bad size '${s}': use a number with K, M, G or T (e.g. 256M), at least ${MKFS_MIN_BYTES / MiB}M`;
  let bytes: number;
  try {
    bytes = parseSize(s);
  } catch {
    throw new UsageError(hint);
  }
  if (bytes < MKFS_MIN_BYTES) throw new UsageError(hint);
  return bytes;
}

/** What a host file holds at its primary (or backup) superblock, when it is a HelixFS image. */
export interface ExistingFs { label: string; bytes: number }

/** HelixFS superblock magic ("HLFX", fs/format.ts MAGIC_SUPER) at byte 0 of block 0 and of the last block. */
const MAGIC_SUPER = 0x5846_4c48;
/** Byte offset of the label in the superblock (docs/format.md), and its room. */
const SB_LABEL_OFFSET = 504, SB_LABEL_BYTES = 64;

/**
 * Looks for a HelixFS superblock (magic only: a damaged filesystem still counts, as mke2fs's
 * check finds a damaged ext4) in an existing host file. Returns null for a missing, empty or
 * other file. Never throws for a file it cannot read (then there is nothing to protect).
 */
export function existingHelixFs(image: string): ExistingFs | null {
  let fd: number;
  try { fd = nodefs.openSync(image, "r"); } catch { return null; }
  try {
    const size = nodefs.fstatSync(fd).size;
    const b = Buffer.alloc(BLOCK_SIZE);
    for (const at of [0, Math.floor(size / BLOCK_SIZE) - 1]) {
      if (at < 0 || nodefs.readSync(fd, b, 0, BLOCK_SIZE, at * BLOCK_SIZE) !== BLOCK_SIZE) continue;
      if (b.readUInt32LE(0) !== MAGIC_SUPER) continue;
      const raw = b.subarray(SB_LABEL_OFFSET, SB_LABEL_OFFSET + SB_LABEL_BYTES);
      const end = raw.indexOf(0);
      return { label: raw.subarray(0, end < 0 ? raw.length : end).toString("utf8"), bytes: size };
    }
    return null;
  } catch {
    return null;
  } finally {
    nodefs.closeSync(fd);
  }
}

/**
 * Asks before mkfs overwrites an existing HelixFS image, as mke2fs asks "contains a ext4 file
 * system ... Proceed anyway? (y,N)": on a terminal it asks; otherwise (scripts, pipes) it
 * refuses. `force` skips the question. Throws CliError (exit 1) when refused.
 */
async function confirmOverwrite(image: string, force: boolean): Promise<void> {
  if (force) return;
  const old = existingHelixFs(image);
  if (old === null) return;
  const what = `'${image}' contains a HelixFS file system labelled '${old.label}' (${formatBytes(old.bytes)})`;
  if (process.stdin.isTTY !== true) throw new CliError(`${what}; use --force to overwrite it`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const answer = await new Promise<string>((resolve) => {
    rl.on("close", () => resolve(""));
    rl.question(`${what}\nProceed anyway? (y,N) `, resolve);
  });
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(`${image}: not overwritten`);
}

/** Checks that mkfs can create `image`: not a directory, and its directory exists. CliError otherwise. */
function checkImagePath(image: string): void {
  let st: nodefs.Stats | null = null;
  try { st = nodefs.statSync(image); } catch { /* a new file */ }
  if (st?.isDirectory()) throw new CliError(`cannot create '${image}': Is a directory`);
  const dir = path.dirname(path.resolve(image));
  let d: nodefs.Stats;
  try { d = nodefs.statSync(dir); } catch (err) {
    throw new CliError(`cannot create '${image}': directory '${path.dirname(image)}' ${errCode(err) === "ENOENT" ? "does not exist" : strerror(err)}`);
  }
  if (!d.isDirectory()) throw new CliError(`cannot create '${image}': '${path.dirname(image)}' is not a directory`);
}

/**
 * mkfs: creates (or overwrites) a sparse image and formats it; returns the counters of the
 * fresh filesystem (from mkfs's own mount, which is not counted: the first boot is mount #1).
 * Errors: CliError with one line (the image's directory missing, the host refusing the file).
 */
export function mkfsImage(image: string, bytes: number, label: string, opts: KernelOptions = {}): KernelInfo {
  checkImagePath(image);
  let k: Kernel;
  try {
    k = bootSync({ image, createBytes: bytes, noMount: true, memoryMiB: opts.memoryMiB, cpus: opts.cpus, debug: opts.debug });
  } catch (err) {
    const c = errCode(err);
    if (c !== undefined && STRERROR[c] !== undefined && !(err instanceof KernelError)) throw new CliError(`cannot create '${image}': ${STRERROR[c]}`);
    throw bootError(image, err);
  }
  let info: KernelInfo;
  try {
    k.mkfs(label);
    // the counters of mkfs's own (uncounted) mount are still there: no second mount for the
    // summary, so the first boot after mkfs is mount #1
    info = k.info();
  } catch (err) {
    const cause = hostCauseOf(k.device.hostError, image);
    try { k.shutdown(); } catch { /* the mkfs error is the one to report */ }
    if (cause !== null && !(err instanceof KernelPanic)) throw new CliError(`${image}: mkfs failed: ${cause}`);
    throw bootError(image, err);
  }
  k.shutdown();
  return info;
}

async function cmdMkfs(image: string, o: { size: string; label: string; memory?: string; force?: boolean }): Promise<number> {
  const bytes = imageSize(o.size);
  if (Buffer.byteLength(o.label) > 63) throw new UsageError(`label '${o.label}' is longer than 63 bytes`);
  const kopts = kernelOptions(o);
  checkImagePath(image);
  // an image in use is refused before anything asks about overwriting it (mkfs would refuse later)
  try { assertImageFree(image); } catch (err) { throw bootError(image, err); }
  await confirmOverwrite(image, o.force === true);
  const i = mkfsImage(image, bytes, o.label, kopts);
  print(`${image}: HelixFS, label '${o.label}', ${formatBytes(i.totalBlocks * BLOCK_SIZE)} (${i.totalBlocks} blocks of ${BLOCK_SIZE} bytes)\n`);
  print(`  journal: ${i.journalBlocks} blocks (${formatBytes(i.journalBlocks * BLOCK_SIZE)}) at block ${i.journalStart}\n`);
  print(`  free:    ${i.freeBlocks} blocks (${formatBytes(i.freeBlocks * BLOCK_SIZE)}), ${i.availBlocks} available\n`);
  print(`  inodes:  ${i.inodes} in use\n`);
  return 0;
}

async function cmdBoot(image: string, o: { command?: string; memory?: string; cpus?: string; debug?: boolean; quiet?: boolean }): Promise<number> {
  const kopts = kernelOptions(o);
  const s = Session.open(image, kopts);
  let ok = false;
  try {
    const stamp = (l: LogLine) => `${dmesgStamp(l.t)} ${l.text}\n`;
    if (!o.quiet) {
      for (const l of s.log) print(stamp(l));
      const t = s.now();
      for (const m of s.mountLines()) print(stamp({ t, text: m }));
    }
    // later kernel messages (errors met by a command) show up like a console's printk
    s.setSink((l) => print(stamp(l)));
    // the first failure caused by the host (a full disk) is named once, after the command's line
    let causeShown = false;
    const err = (line: string) => {
      process.stderr.write(line + "\n");
      const cause = causeShown ? null : s.hostCause();
      if (cause !== null) { causeShown = true; process.stderr.write(`helix: ${cause}; the filesystem is read-only now: run 'helix fsck ${image}'\n`); }
    };
    const shell = new Shell(s.fs, { out: print, err });
    let status: number;
    if (o.command !== undefined) {
      shell.run(o.command);
      status = shell.exitStatus ?? (shell.failures > 0 ? 1 : 0);
    } else if (process.stdin.isTTY) {
      status = await interactive(shell);
    } else {
      // a script on stdin: one line at a time, like `sh < script`
      const rl = readline.createInterface({ input: process.stdin, terminal: false });
      for await (const line of rl) {
        shell.run(line);
        if (shell.exitStatus !== null) break;
      }
      rl.close();
      status = shell.exitStatus ?? (shell.failures > 0 ? 1 : 0);
    }
    if (!o.quiet) print(stamp({ t: s.now(), text: "helixfs (vda): unmounting" }));
    ok = true;
    s.close();
    return status;
  } finally {
    if (!ok) s.close(true);
  }
}

/** The interactive shell on a TTY; resolves with the exit status. */
function interactive(shell: Shell): Promise<number> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: true, completer: completer(shell), historySize: 500 });
    print("HelixFS shell. Type 'help' for commands, 'exit' or Ctrl-D to shut down.\n");
    rl.setPrompt(shell.prompt());
    rl.prompt();
    let done = false;
    rl.on("line", (line) => {
      try {
        shell.run(line);
      } catch (err) {
        done = true;
        rl.close();
        reject(err);
        return;
      }
      if (shell.exitStatus !== null) { done = true; rl.close(); resolve(shell.exitStatus); return; }
      rl.setPrompt(shell.prompt());
      rl.prompt();
    });
    // Ctrl-C clears the line instead of killing the VM with the image mounted
    rl.on("SIGINT", () => { print("^C\n"); rl.write(null, { ctrl: true, name: "u" }); rl.prompt(); });
    rl.on("close", () => { if (!done) { print("\n"); resolve(0); } });
  });
}

/** Exit status after SIGINT, as a shell reports a command killed by it (128 + 2). */
export const EXIT_SIGINT = 130;

async function cmdImport(image: string, hostDir: string, dest: string, o: { memory?: string; cpus?: string; debug?: boolean }): Promise<number> {
  const kopts = kernelOptions(o);
  if (!dest.startsWith("/")) throw new UsageError(`image path '${dest}' must be absolute`);
  const exclude = new Set([path.resolve(image)]);
  const tree = scanHostTree(path.resolve(hostDir), exclude);
  const t0 = performance.now();
  // Ctrl-C stops the copy between two entries; what was copied is committed and the image
  // unmounted cleanly. A second Ctrl-C leaves at once (the journal keeps the image consistent).
  let interrupts = 0;
  const onSigint = () => { if (++interrupts > 1) process.exit(EXIT_SIGINT); };
  process.on("SIGINT", onSigint);
  let stats: CopyStats;
  try {
    const s = Session.open(image, kopts);
    let ok = false;
    try {
      const progress = new Progress("import", tree.bytes, tree.files + tree.symlinks);
      try {
        stats = await importTreeInterruptible(s.fs, tree, dest, () => interrupts > 0, progress, () => s.hostCause());
        s.fs.syncSync();
      } finally {
        progress.stop();
      }
      ok = true;
      s.close();
    } catch (err) {
      const cause = s.hostCause();
      if (cause !== null && !(err instanceof CliError && err.message.includes(cause))) {
        throw new CliError(`${image}: ${cause}; the image is read-only from here on: run 'helix fsck ${image}'`);
      }
      if (err instanceof CliError && /^import stopped at /.test(err.message) && cause !== null) {
        throw new CliError(`${err.message}; the image keeps what was committed before: run 'helix fsck ${image}'`);
      }
      throw err;
    } finally {
      if (!ok) s.close(true);
    }
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
  // report the time until the data is durable: copy, sync and the unmount's checkpoint
  stats.seconds = (performance.now() - t0) / 1000;
  const what = copiedWhat(stats);
  if (stats.interrupted !== undefined) {
    print(`interrupted: kept ${what} of ${tree.files} files, ${formatBytes(tree.bytes)} in ${image}:${dest}, committed; ` +
      `the image is consistent and cleanly unmounted\n`);
    process.stderr.write(`helix: import interrupted${stats.interrupted !== null ? ` before '${stats.interrupted}'` : ""}\n`);
    return EXIT_SIGINT;
  }
  print(`imported ${hostDir} -> ${image}:${dest}: ${what} in ${stats.seconds.toFixed(2)} s, ${formatRate(stats.bytes, stats.seconds)}\n`);
  if (tree.skipped.length > 0) print(`skipped ${tree.skipped.length} special files (sockets, FIFOs, devices), e.g. ${tree.skipped[0]}\n`);
  return 0;
}

/** "3 files, 1 dir, 2 symlinks, 4096 bytes (4.0 KiB)": what a tree copy moved. */
function copiedWhat(stats: CopyStats): string {
  return `${plural(stats.files, "file")}, ${plural(stats.dirs, "dir")}, ${plural(stats.symlinks, "symlink")}, ` +
    `${stats.bytes} bytes (${formatBytes(stats.bytes)})`;
}

function cmdExport(image: string, src: string, hostDir: string, o: { memory?: string; cpus?: string; debug?: boolean }): number {
  const kopts = kernelOptions(o);
  if (!src.startsWith("/")) throw new UsageError(`image path '${src}' must be absolute`);
  const stats = withSession(image, kopts, (s) =>
    exportTree(s.fs, src, hostDir, (t) => new Progress("export", t.bytes, t.files + t.symlinks)));
  print(`exported ${image}:${src} -> ${hostDir}: ${copiedWhat(stats)} in ${stats.seconds.toFixed(2)} s, ${formatRate(stats.bytes, stats.seconds)}\n`);
  return 0;
}

/** Runs fsck on a session; returns the problem lines (kernel log lines starting with "fsck:"). */
export function runFsck(s: Session, flags: number = FSCK_VERBOSE): { problems: string[]; count: number; stats: ReturnType<Kernel["fsckStats"]>; clearedErrors: boolean } {
  const lines = fsckPass(s, flags);
  const count = lines.count;
  // like e2fsck: a clean check clears the error state a metadata error recorded
  let clearedErrors = false;
  if (count === 0 && s.k.info().errorState === 1) { s.k.clearErrors(); clearedErrors = true; }
  return { problems: lines.lines, count, stats: s.k.fsckStats(), clearedErrors };
}

/** One kernel fsck run; its "fsck:" log lines and the number of problems it found. */
function fsckPass(s: Session, flags: number): { lines: string[]; count: number } {
  const lines: string[] = [];
  s.setSink((l) => { if (l.text.startsWith("fsck:")) lines.push(l.text); });
  try {
    return { lines, count: s.k.fsck(flags) };
  } finally {
    s.setSink(null);
  }
}

/** fsck exit codes, as e2fsck's (bits; docs/cli.md). */
export const FSCK_EXIT = { clean: 0, corrected: 1, uncorrected: 4, operational: 8 } as const;
/** Problem lines the kernel prints per pass (fs/fsck.ts FSCK_REPORT_MAX); the rest are counted. */
const FSCK_SHOWN_MAX = 100;
/** Repair passes before giving up (each repair can reveal what the damage hid, as e2fsck restarts). */
const FSCK_PASSES_MAX = 6;

/**
 * Maps the inodes of data-checksum problems to a path each (a walk of the namespace, done
 * only when such problems exist); an inode no name reaches maps to nothing.
 */
function pathsOf(fs: HelixFs, inos: Set<number>): Map<number, string> {
  const found = new Map<number, string>();
  const stack = ["/"];
  while (stack.length > 0 && found.size < inos.size) {
    const dir = stack.pop()!;
    let names: string[];
    try { names = fs.readdirSync(dir) as string[]; } catch { continue; }
    for (const n of names) {
      const p = dir === "/" ? `/${n}` : `${dir}/${n}`;
      let st;
      try { st = fs.lstatSync(p); } catch { continue; }
      if (inos.has(Number(st.ino)) && !found.has(Number(st.ino))) found.set(Number(st.ino), p);
      if (st.isDirectory()) stack.push(p);
    }
  }
  return found;
}

/** Prints one pass's lines (data-checksum lines get the file's path), then "N more". */
function printFsckLines(s: Session, lines: string[], count: number): void {
  const dataInos = new Set<number>();
  for (const l of lines) if (l.endsWith("[data-csum]") || l.endsWith("[data-io]")) dataInos.add(Number(/inode (\d+)/.exec(l)?.[1] ?? 0));
  const paths = dataInos.size > 0 ? pathsOf(s.fs, dataInos) : new Map<number, string>();
  for (const l of lines) {
    const ino = Number(/inode (\d+)/.exec(l)?.[1] ?? 0);
    const p = (l.endsWith("[data-csum]") || l.endsWith("[data-io]")) ? paths.get(ino) : undefined;
    print((p !== undefined ? l.replace(/ \[data-(csum|io)\]$/, `, path ${p} [data-$1]`) : l) + "\n");
  }
  const shown = lines.filter((l) => !l.startsWith("fsck: fixed:") && !l.startsWith("fsck: could not fix:")).length;
  if (count > shown && shown >= FSCK_SHOWN_MAX) print(`fsck: ... and ${count - shown} more problem(s) not shown\n`);
}

/**
 * `helix fsck [-p | -y] [--data] IMAGE`, as e2fsck: says what the mount did on the way
 * (unclean unmount, superblock restored from the backup, journal recovery, orphans), checks,
 * and with -p / -y repairs in passes until a pass is clean or changes nothing. Returns the
 * exit code: 0 clean, 1 errors corrected, 4 errors left uncorrected, 8 operational error.
 */
function cmdFsck(image: string, o: { memory?: string; cpus?: string; debug?: boolean; preen?: boolean; yes?: boolean; data?: boolean }): number {
  if (o.preen && o.yes) throw new UsageError("fsck: only one of the options -p or -y may be specified");
  const mode = o.yes ? "yes" as const : o.preen ? "preen" as const : undefined;
  const kopts = { ...kernelOptions(o), fsckMount: mode ?? "check" as const };
  let s: Session;
  try {
    s = Session.open(image, kopts);
  } catch (err) {
    throw new CliError(errorMessage(err), FSCK_EXIT.operational);
  }
  let ok = false;
  try {
    const code = fsckSession(s, image, mode, o.data === true);
    ok = true;
    return code;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${image}: fsck: ${errorMessage(err)}`, FSCK_EXIT.operational);
  } finally {
    s.close(!ok);
  }
}

function fsckSession(s: Session, image: string, mode: "preen" | "yes" | undefined, data: boolean): number {
  const info = s.k.info();
  const mounted = s.k.fsckStats();
  let corrected = 0;
  // what the mount did on the way: said, never silent
  if (mounted.mountPrevState === 0) print(`${image}: was not cleanly unmounted, check forced.\n`);
  if (mounted.mountPrevState === 2) print(`${image}: contains a filesystem with errors, check forced.\n`);
  if (info.mountUsedBackup) { print(`${image}: primary superblock was damaged, restored from the backup\n`); corrected++; }
  if (info.mountReplayedTx > 0) print(`${image}: recovering journal (${info.mountReplayedTx} transaction${info.mountReplayedTx === 1 ? "" : "s"})\n`);
  if (mounted.journalSbRepaired !== 0) {
    const what = [mounted.journalSbRepaired & 1 ? "log start outside the journal" : "", mounted.journalSbRepaired & 2 ? "first log block wrong" : ""].filter((x) => x).join(", ");
    print(`${image}: journal superblock damaged (${what}): rewritten by the journal recovery\n`);
    corrected++;
  }
  if (mounted.mountDroppedLog) { print(`${image}: journal damaged: committed transactions after the damaged one discarded\n`); corrected++; }
  if (info.mountOrphans > 0) { print(`${image}: cleared ${info.mountOrphans} orphaned inode(s) (unlinked while open)\n`); corrected++; }
  if (mode && info.readOnly) print(`${image}: mounted read-only${info.errored ? " after a metadata error" : ""}: nothing can be repaired\n`);
  const base = FSCK_VERBOSE | (data ? FSCK_DATA : 0);
  let count: number;
  if (!mode) {
    const r = fsckPass(s, base);
    printFsckLines(s, r.lines, r.count);
    count = r.count;
  } else {
    const repair = mode === "yes" ? FSCK_YES : FSCK_PREEN;
    let pass = 1;
    for (;;) {
      const r = fsckPass(s, base | repair);
      printFsckLines(s, r.lines, r.count);
      count = r.count;
      const fixed = s.k.fsckStats().fixed;
      corrected += fixed;
      if (r.count === 0 || fixed === 0) break;
      if (++pass > FSCK_PASSES_MAX) {
        // still changing: one more check says what is left and flags it
        const last = fsckPass(s, base | FSCK_MARK_ERRORS);
        printFsckLines(s, last.lines, last.count);
        count = last.count;
        break;
      }
      print(`${image}: restarting the check after repairs (pass ${pass})\n`);
    }
    if (count > 0 && !s.k.info().readOnly) fsckPass(s, FSCK_MARK_ERRORS); // the next mount is read-only
  }
  const st = s.k.fsckStats();
  let cleared = false;
  if (count === 0 && s.k.info().errorState === 1) { s.k.clearErrors(); cleared = true; }
  print(`${image}: ${count === 0 ? "clean" : `${count} problem(s)`}: ${st.inodes} inodes, ${st.dirents} dirents, ${st.extents} extents, ` +
    `${st.freeExtents} free extents, ${st.nodes} tree nodes, ${st.usedBlocks} blocks accounted` +
    `${data ? `, ${st.dataBlocks} data blocks checked` : ""}\n`);
  if (cleared) print(`${image}: the error state recorded by an earlier metadata error is cleared (next mount is read-write)\n`);
  if (corrected > 0) print(`\n${image}: ***** FILE SYSTEM WAS MODIFIED *****\n`);
  if (count > 0) {
    if (mode === "preen") print(`${image}: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.\n\t(i.e., 'helix fsck -y ${image}')\n`);
    process.stderr.write(`helix: ${image}: ${count} problem(s) left uncorrected\n`);
    return FSCK_EXIT.uncorrected;
  }
  return corrected > 0 ? FSCK_EXIT.corrected : FSCK_EXIT.clean;
}

/** The free-space histogram as text bars (log2 buckets of extent length in blocks). */
export function histogramText(h: number[]): string {
  const max = Math.max(...h, 1);
  const last = h.reduce((a, v, i) => (v > 0 ? i : a), -1);
  if (last < 0) return "  (no free extents)\n";
  const rows: string[] = [];
  for (let i = 0; i <= last; i++) {
    const lo = 2 ** i, hi = 2 ** (i + 1) - 1;
    const range = lo === hi ? `${lo}` : `${lo}-${hi}`;
    const bar = "#".repeat(Math.ceil((h[i] / max) * HIST_BAR_WIDTH));
    rows.push(`  ${range.padStart(21)} blocks ${String(h[i]).padStart(8)} ${bar}`);
  }
  return rows.join("\n") + "\n";
}

function cmdInspect(image: string, o: { memory?: string; cpus?: string; debug?: boolean }): number {
  const text = withSession(image, kernelOptions(o), (s) => {
    const i = s.k.info();
    const out: string[] = [];
    const blocks = (n: number) => `${n} (${formatBytes(n * BLOCK_SIZE)})`;
    out.push(`superblock (${image})`);
    out.push(table([
      ["label", `'${s.k.label()}'`],
      ["blocks", blocks(i.totalBlocks)], ["free", blocks(i.freeBlocks)], ["available", blocks(i.availBlocks)],
      ["reserved", blocks(i.reservedBlocks)], ["inodes", String(i.inodes)], ["next inode", String(i.nextIno)],
      ["journal start", String(i.journalStart)], ["journal size", blocks(i.journalBlocks)], ["journal head", String(i.journalHead)],
      // the state as found: inspecting mounts the image, which marks it dirty while mounted
      ["next transaction", formatTid(i.tid)], ["state", stateName(i.mountFoundState)], ["mount count", String(i.mountCount)],
      ["read-only", i.readOnly ? "yes" : "no"], ["errors", i.errored ? "yes" : "no"], ["backup used", i.mountUsedBackup ? "yes" : "no"],
    ].map((r) => ["  " + r[0], r[1]])));
    out.push("", "trees");
    const roots = [i.rInode, i.rDirent, i.rExtent, i.rBno, i.rCnt];
    const rows = TREE_NAMES.map((name, t) => {
      const ti = s.k.treeInfo(t);
      return ["  " + name, roots[t] ?? 0, ti.height, ti.nodes, ti.leaves, ti.items, ti.bytes, `${(ti.fillPermille / 10).toFixed(1)}%`];
    });
    out.push(table(rows, ["  tree", "root", "height", "nodes", "leaves", "items", "bytes", "fill"]));
    out.push("", "free space by extent length");
    out.push(histogramText(s.k.freeHistogram()).trimEnd());
    out.push("", "journal");
    out.push(table([
      ["area", `blocks ${i.journalStart}..${i.journalStart + i.journalBlocks - 1} (${formatBytes(i.journalBlocks * BLOCK_SIZE)})`],
      ["head", String(i.journalHead)], ["next transaction", formatTid(i.tid)],
      ["replayed at this mount", `${i.mountReplayedTx} transaction(s), ${i.replayedBlocks} block(s)`],
      ["orphans at this mount", String(i.mountOrphans)],
      ["since boot", `${i.commits} commits, ${i.checkpoints} checkpoints, ${i.loggedBlocks} logged blocks, ${i.absorbed} absorbed, ${i.revokes} revokes`],
    ].map((r) => ["  " + r[0], r[1]])));
    return out.join("\n") + "\n";
  });
  print(text);
  return 0;
}

/** kernel_info counters grouped for `helix stat`; counters not named here land in "other". */
const INFO_GROUPS: [string, (typeof INFO_FIELDS)[number][]][] = [
  ["memory", ["memoryBytes", "memTotalPages", "memFreePages"]],
  ["page cache", ["cachedPages", "dirtyPages", "pinnedMeta", "cacheHits", "cacheMisses", "evictions", "freebehind", "readThrough", "writeThrough", "readPages", "writtenPages", "csumErrors"]],
  ["lookup caches", ["dcacheHits", "dcacheMisses", "icacheHits"]],
  ["journal", ["journalStart", "journalBlocks", "journalHead", "tid", "commits", "checkpoints", "loggedBlocks", "absorbed", "revokes", "replayedBlocks", "replayedTx", "mountReplayedTx"]],
  ["block device", ["blkRequests", "blkNotifies", "blkReadBlocks", "blkWriteBlocks", "blkFlushes", "blkErrors"]],
  ["B+ tree", ["btLookups", "btSplits", "btMerges", "hInode", "hDirent", "hExtent", "hBno", "hCnt", "rInode", "rDirent", "rExtent", "rBno", "rCnt"]],
  ["allocator", ["totalBlocks", "freeBlocks", "availBlocks", "reservedBlocks", "allocs", "frees", "goalHits", "extentsAllocated", "discardedBlocks", "discardErrors"]],
  ["inodes and mount", ["inodes", "nextIno", "mountCount", "state", "mountFoundState", "mountOrphans", "mountUsedBackup", "mountReason", "readOnly", "errored"]],
];

function cmdStat(image: string, o: { memory?: string; cpus?: string; debug?: boolean }): number {
  const text = withSession(image, kernelOptions(o), (s) => {
    const i = s.k.info();
    const out: string[] = [];
    const seen = new Set<string>();
    for (const [group, fields] of INFO_GROUPS) {
      out.push(group);
      const rows: (string | number)[][] = [];
      for (const f of fields) {
        if (i[f] === undefined) continue;
        seen.add(f);
        rows.push([`  ${f}`, i[f]]);
      }
      if (group === "page cache" && i.cacheHits + i.cacheMisses > 0) rows.push(["  hit ratio", `${((100 * i.cacheHits) / (i.cacheHits + i.cacheMisses)).toFixed(1)}%`]);
      if (group === "memory") rows.push(["  summary", `linear memory ${formatBytes(i.memoryBytes)}; frames ${formatBytes(i.memFreePages * BLOCK_SIZE)} free of ${formatBytes(i.memTotalPages * BLOCK_SIZE)}`]);
      out.push(table(rows), "");
    }
    const rest = (Object.keys(i) as (keyof KernelInfo)[]).filter((f) => !seen.has(f));
    if (rest.length > 0) out.push("other", table(rest.map((f) => [`  ${f}`, i[f]])), "");
    const mm = s.k.mmInfo();
    out.push("buddy allocator (free blocks per order, fragmentation index per mille; '-' = enough free)");
    out.push(table([
      ["  free", ...mm.freeBlocks],
      ["  frag", ...mm.fragIndex.map((v) => (v < 0 ? "-" : v))],
    ], ["  order", ...mm.freeBlocks.map((_, o) => String(o))]), "");
    out.push("slabinfo - version: 2.1 (helix)");
    const slabs = s.k.slabInfo();
    out.push(table(slabs.map((c) => [c.name, c.active, c.total, c.objsize, c.slabs, c.pages, c.slabs > 0 ? Math.round(c.total / c.slabs) : 0]),
      ["# name", "<active_objs>", "<num_objs>", "<objsize>", "<slabs>", "<pages>", "<objperslab>"]));
    return out.join("\n") + "\n";
  });
  print(text);
  return 0;
}

// ---- the program ---------------------------------------------------------------------------

/** Builds the commander program; actions store their exit code in `status`. */
function program(status: { code: number }): Command {
  const p = new Command("helix");
  p.description("HelixFS: a journaled B+ tree filesystem kernel in WebAssembly, and its tools")
    .version(readVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stdout.write(s), // help requested with --help goes to stdout
      outputError: () => { /* reported once, by main() */ },
    })
    .showHelpAfterError(false)
    .allowExcessArguments(false);
  const kernelFlags = (c: Command) => c
    .option("--memory <MiB>", `kernel memory limit in MiB (${MEMORY_MIB_MIN}..${MEMORY_MIB_MAX}, default ${DEFAULT_MEMORY_MIB})`)
    .option("--cpus <n>", `simulated CPUs (${CPUS_MIN}..${CPUS_MAX})`)
    .option("--debug", "boot the debug kernel (assertions on)");

  p.command("mkfs").argument("<IMAGE>", "image file (created or overwritten, sparse)")
    .description("create and format an image")
    .option("-s, --size <size>", "image size with K/M/G/T suffix (>= 4M)", MKFS_DEFAULT_SIZE)
    .option("-L, --label <label>", "volume label", "helixfs")
    .option("-F, --force", "overwrite an existing HelixFS image without asking")
    .option("--memory <MiB>", "kernel memory limit in MiB")
    .action(async (image: string, o) => { status.code = await cmdMkfs(image, o); });

  kernelFlags(p.command("boot").argument("<IMAGE>").description("boot the kernel on an image: boot log, then a shell")
    .option("-c, --command <cmds>", "run these shell commands (separated by ';' or newlines) instead of a shell")
    .option("-q, --quiet", "do not print the boot log"))
    .action(async (image: string, o) => { status.code = await cmdBoot(image, o); });

  kernelFlags(p.command("import").argument("<IMAGE>").argument("<HOSTDIR>", "host directory to copy")
    .argument("[PATH]", "directory inside the image", "/").description("copy a host directory tree into the image"))
    .action(async (image: string, hostDir: string, dest: string, o) => { status.code = await cmdImport(image, hostDir, dest, o); });

  kernelFlags(p.command("export").argument("<IMAGE>").argument("<PATH>", "directory inside the image")
    .argument("<HOSTDIR>", "host directory (created if missing)").description("copy a tree of the image to the host"))
    .action((image: string, src: string, hostDir: string, o) => { status.code = cmdExport(image, src, hostDir, o); });

  kernelFlags(p.command("fsck").argument("<IMAGE>")
    .description("check an image, and repair it with -p or -y (exit 0 clean, 1 errors corrected, 4 errors left, 8 operational error)")
    .option("-p, --preen", "repair what is safe without asking (link counts, free space, orphaned entries, lost+found, counters)")
    .option("-y, --yes", "repair everything fsck can")
    .option("--data", "also read every data block and check it against its extent's checksum"))
    .action((image: string, o) => { status.code = cmdFsck(image, o); });

  kernelFlags(p.command("inspect").argument("<IMAGE>").description("superblock, B+ trees, free space histogram, journal"))
    .action((image: string, o) => { status.code = cmdInspect(image, o); });

  kernelFlags(p.command("stat").argument("<IMAGE>").description("kernel statistics: counters, buddy allocator, slab caches"))
    .action((image: string, o) => { status.code = cmdStat(image, o); });

  p.command("crashtest").description("crash-consistency campaign: record workloads, build crash states, recover and check each")
    .option("--workload <kind>", "ace1 | ace2 | ace3 | random", "ace1")
    .option("--seed <n>", "seed of the crash-state choices and random workloads", "1")
    .option("--states <n>", "crash states per workload at most", "1000")
    .option("--jobs <n>", "worker threads", String(Math.max(1, os.cpus().length)))
    .option("--image-size <size>", "size of the test image", "8M")
    .option("--sample <n>", "check a seeded sample of this many workloads")
    .option("--only <id>", "check only this workload (reproduction)")
    .option("--state <id>", "check only this crash state of it (reproduction)")
    .option("--steps <json>", "check only this workload, given as its steps (a minimised workload's reproduction)")
    .option("--break <flags>", "debug: break the journal ordering (1 = no flush after commit, 2 = none before, 4 = discard before commit)")
    .option("--discard", "record the workloads with online discard")
    .option("--debug", "run the debug kernel (assertions on)")
    .action(async (o) => {
      const kinds = ["ace1", "ace2", "ace3", "random"];
      if (!kinds.includes(o.workload)) throw new UsageError(`--workload must be one of ${kinds.join(", ")}`);
      const crash = await import("../tools/crashtest.js");
      status.code = await crash.runCrashtest({
        workload: o.workload, seed: intOption(o.seed, "--seed", 0, 2 ** 31) ?? 1,
        states: intOption(o.states, "--states", 1, 1_000_000) ?? 1000,
        jobs: intOption(o.jobs, "--jobs", 1, 64) ?? 1,
        imageBytes: imageSize(o.imageSize),
        sample: intOption(o.sample, "--sample", 1, 10_000_000),
        only: o.only, state: o.state, steps: o.steps,
        breakOrdering: intOption(o.break, "--break", 0, 7), discard: o.discard === true, debug: o.debug === true,
      });
    });

  p.command("start").description("the main job: import a tree (node_modules), reboot, verify every byte, fsck")
    .option("--image <path>", "image file (default: helix.img in the repository root)")
    .option("--source <dir>", "host tree to import (default: the repository's node_modules)")
    .option("--size <size>", "image size (default: 2x the tree, at least 256M)")
    .option("--memory <MiB>", `kernel memory limit in MiB (default ${DEFAULT_MEMORY_MIB})`)
    .option("--keep", "keep the image afterwards", true)
    .option("--no-keep", "delete the image afterwards")
    .option("--verify-only", "do not create or import: verify an existing image against the tree")
    .action(async (o) => {
      // a dynamic import: tools/start.ts imports this module, so a static import would be a cycle
      const start = await import("../tools/start.js");
      status.code = await start.runStart({
        image: o.image, source: o.source,
        size: o.size, memoryMiB: intOption(o.memory, "--memory (MiB)", MEMORY_MIB_MIN, MEMORY_MIB_MAX),
        keep: o.keep !== false, verifyOnly: o.verifyOnly === true,
      });
    });
  return p;
}

function readVersion(): string {
  try {
    return (JSON.parse(nodefs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version?: string }).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/**
 * Runs the CLI with `argv` (without node and the script). Returns the exit code; prints
 * results on stdout and, on failure, exactly one line `helix: <message>` on stderr.
 */
export async function main(argv: string[]): Promise<number> {
  const status = { code: 0 };
  quietEpipe();
  try {
    if (argv.length === 0) throw new UsageError("missing command (try 'helix --help')");
    setProgramName(`helix ${argv[0]}`.slice(0, 32)); // names this process in the MMP blocks it writes
    await program(status).parseAsync(argv, { from: "user" });
    return status.code;
  } catch (err) {
    return report(err);
  }
}

/** Prints the one error line for `err` (and its stack with HELIX_DEBUG=1); returns the exit code. */
export function report(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
    process.stderr.write(`helix: ${oneLine(err.message.replace(/^error: /, ""))}\n`);
    return 2;
  }
  const code = err instanceof CliError ? err.exitCode : 1;
  process.stderr.write(`helix: ${errorMessage(err)}\n`);
  if (process.env.HELIX_DEBUG === "1" && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
  return code;
}
