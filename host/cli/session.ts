// host/cli/session.ts -- a booted kernel on an image file for one CLI command: Session (boot,
// timestamped kernel log, dmesg-style mount lines, clean close), mkfs of an image file, image
// sizes, fsck passes.
//
// Layer: CLI (Node), above host/node/node.ts. Interface: Session.open / withSession,
// mkfsImage, imageSize, existingHelixFs, runFsck, hostCauseOf, bootError.
// Rules: errors are CliError with one line naming the image; a session is always closed
// (sys_umount) before its command returns.

import * as nodefs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { bootSync, parseSize } from "../node/node.js";
import { Kernel, KernelError, KernelPanic, FSCK_VERBOSE, type KernelInfo } from "../vmm/kernel.js";
import type { HelixFs } from "../fs/fs.js";
import { BLOCK_SIZE, CliError, MiB, STRERROR, UsageError, errCode, errorMessage, mountLines, strerror } from "../shell/format.js";

/** Smallest image mkfs accepts (the kernel needs room for a superblock, journal and trees). */
export const MKFS_MIN_BYTES = 4 * 1024 * 1024;

export interface KernelOptions {
  /** Physical memory limit in MiB (default DEFAULT_MEMORY_MIB). */
  memoryMiB?: number;
  /** Simulated CPUs (default 1). */
  cpus?: number;
  /** Boot the debug kernel (assertions on). */
  debug?: boolean;
  /** Mount for fsck (host/vmm/kernel.ts BootOptions.fsckMount). */
  fsckMount?: "check" | "preen" | "yes";
  /** Mount this snapshot (read-only) or clone (read-write) instead of the live filesystem. */
  snapshot?: string;
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
      k = bootSync({ image, memoryMiB: opts.memoryMiB, cpus: opts.cpus, debug: opts.debug, log, fsckMount: opts.fsckMount, snapshot: opts.snapshot });
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

  /** The dmesg-style lines that describe the mount (host/shell/format.ts mountLines). */
  mountLines(): string[] { return mountLines(this.k, this.image); }


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
export function bootError(image: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof KernelError || err instanceof KernelPanic) return new CliError(`${image}: ${errorMessage(err)}`);
  // host/node/node.ts and FileBackend errors already name the image
  return new CliError(errorMessage(err));
}

/** Opens a session; a shorthand used by host/cli/start.ts. */
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
export function fsckPass(s: Session, flags: number): { lines: string[]; count: number } {
  const lines: string[] = [];
  s.setSink((l) => { if (l.text.startsWith("fsck:")) lines.push(l.text); });
  try {
    return { lines, count: s.k.fsck(flags) };
  } finally {
    s.setSink(null);
  }
}

/** Checks that mkfs can create `image`: not a directory, and its directory exists. CliError otherwise. */
export function checkImagePath(image: string): void {
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
