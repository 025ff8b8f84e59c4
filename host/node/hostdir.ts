// host/node/hostdir.ts -- fixtures from and to a host directory: copy a tree of the host's
// filesystem into a HelixFs (importHostDir) or out of one (exportHostDir), like `cp -a`.
//
// Layer: host/node (Node only: it reads and writes the host through node:fs). Below it is a
// HelixFs (host/fs/fs.ts); above it, tests and tools that need a real tree inside the kernel
// or the kernel's tree on the host (e.g. a .git directory checked by the real git).
// Interface:
//   importHostDir(fs, hostDir, dest) -> CopyCounts   host tree -> kernel tree
//   exportHostDir(fs, src, hostDir)  -> CopyCounts   kernel tree -> host tree
// Both run one walk (copyTree) between two objects with Node's synchronous fs API: node:fs and
// the HelixFs have the same method names and results, so one copy of the logic serves both.
// Rules:
//  - what is kept: file types (regular, directory, symlink; FIFOs, sockets and devices only
//    into a HelixFs, which has mknod; Node's fs cannot make them, so exporting one fails),
//    permission bits with setuid/setgid/sticky (applied after the contents, so a read-only
//    source directory still gets its entries), symlink targets byte for byte, hard links
//    (a second name of an already-copied inode becomes a link, not a copy), names byte for
//    byte (paths are Buffers), atime and mtime: to the nanosecond into a HelixFs (through
//    its Sys's utimensat, as `helix import` does), to the microsecond onto the host (Node's
//    utimes takes seconds as a double, which libuv keeps to the microsecond);
//  - what is not: owners (the kernel runs as root, the host caller may not), ctime and
//    birthtime (no syscall sets them), extended attributes, holes (a sparse file is
//    written out in full);
//  - the source root is followed if it is a symlink (to a directory); symlinks below it are
//    copied as symlinks, never followed;
//  - the destination directory is created if missing (its parent must exist) or merged into
//    if it is a directory: existing files are overwritten, a name of another type fails;
//    it takes the source directory's mode and times, like `cp -a src dest`;
//  - a directory's mode and times are set after its entries (post-order), since adding an
//    entry changes its mtime;
//  - every failure throws one Error with a one-line message naming the function, the source
//    and destination paths and the cause (`importHostDir: '/src/a' -> '/dest/a': EEXIST: ...`),
//    carrying the cause's `code`, `errno`, `syscall`, `path` and the cause itself (`cause`).

import * as nodeFs from "node:fs";
import * as path from "node:path";
import { type HelixFs, IO_CHUNK_MAX, invalidArgType, nodeError, uvException } from "../fs/fs.js";

/** What one copy made, by kind; `bytes` is the regular files' total size. */
export interface CopyCounts { files: number; dirs: number; symlinks: number; links: number; special: number; bytes: number }

/**
 * Deepest directory nesting copied (the walk recurses once per level): a path of PATH_MAX
 * (4096) bytes holds at most 2048 names.
 */
export const HOSTDIR_DEPTH_MAX = 2048;

const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;
const NS_PER_US = 1000n, TENTHS_PER_SEC = 10_000_000n;

/** The synchronous fs methods copyTree uses: node:fs and HelixFs both have them. */
interface TreeFs {
  lstatSync(p: Buffer, o: { bigint: true }): nodeFs.BigIntStats;
  statSync(p: Buffer, o: { bigint: true }): nodeFs.BigIntStats;
  readdirSync(p: Buffer, o: { encoding: "buffer" }): Buffer[];
  readlinkSync(p: Buffer, o: { encoding: "buffer" }): Buffer;
  openSync(p: Buffer, flags: string, mode?: number): number;
  readSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number;
  writeSync(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number;
  closeSync(fd: number): void;
  mkdirSync(p: Buffer, mode?: number): unknown;
  symlinkSync(target: Buffer, p: Buffer): void;
  linkSync(existing: Buffer, p: Buffer): void;
  chmodSync(p: Buffer, mode: number): void;
  /** Times are seconds: a number, or a numeric string (the only way Node's utimes takes a time before 1970). */
  lutimesSync(p: Buffer, atime: number | string, mtime: number | string): void;
  /** HelixFS only: FIFOs, sockets and devices. */
  mknodSync?(p: Buffer, mode: number, rdev: number): void;
}

/** Which way a copy goes, for messages. */
interface Side { fs: TreeFs; name: string }

/**
 * Copies the host directory `hostDir` (relative to process.cwd()) into the kernel as `dest`
 * (relative to fs.cwd), keeping types, modes, symlinks, hard links and times (see the header).
 * Returns the counts. Throws ERR_INVALID_ARG_TYPE for non-string paths; ENOTDIR when `hostDir`
 * is not a directory; ENOENT when it or dest's parent is missing; EEXIST / EISDIR / ENOTDIR
 * on a type clash inside an existing dest; ENOSPC when the kernel fills up; each as one
 * Error (see the header).
 */
export function importHostDir(fs: HelixFs, hostDir: string, dest: string): CopyCounts {
  checkArgs(fs, hostDir, dest, "hostDir", "dest");
  return copyRoot("importHostDir", { fs: nodeFs as unknown as TreeFs, name: "host" }, path.resolve(hostDir),
    { fs: fs as unknown as TreeFs, name: "kernel" }, fs.resolvePath(dest));
}

/**
 * Copies the kernel directory `src` (relative to fs.cwd) to the host as `hostDir` (relative to
 * process.cwd()), keeping types, modes, symlinks, hard links and times (see the header).
 * Returns the counts. Throws like importHostDir, and ERR_HOSTDIR_UNSUPPORTED for a FIFO,
 * socket or device (Node's fs cannot create them).
 */
export function exportHostDir(fs: HelixFs, src: string, hostDir: string): CopyCounts {
  checkArgs(fs, src, hostDir, "src", "hostDir");
  return copyRoot("exportHostDir", { fs: fs as unknown as TreeFs, name: "kernel" }, fs.resolvePath(src),
    { fs: nodeFs as unknown as TreeFs, name: "host" }, path.resolve(hostDir));
}

function checkArgs(fs: unknown, a: unknown, b: unknown, aName: string, bName: string): void {
  if (typeof fs !== "object" || fs === null || typeof (fs as HelixFs).lstatSync !== "function") throw invalidArgType("fs", "HelixFs", fs);
  if (typeof a !== "string") throw invalidArgType(aName, "string", a);
  if (typeof b !== "string") throw invalidArgType(bName, "string", b);
}

/** State of one copy: the two sides, hard links seen, counts, the function name for errors. */
interface Copy {
  fn: string; from: Side; to: Side; counts: CopyCounts;
  /** `${dev}:${ino}` of a source inode with more than one link -> its first destination path. */
  linked: Map<string, Buffer>;
  /** The one transfer buffer of this copy (IO_CHUNK_MAX bytes, allocated at the first file). */
  buf: Uint8Array | null;
}

function copyRoot(fn: string, from: Side, src: string, to: Side, dest: string): CopyCounts {
  const c: Copy = { fn, from, to, counts: { files: 0, dirs: 0, symlinks: 0, links: 0, special: 0, bytes: 0 }, linked: new Map(), buf: null };
  const s = Buffer.from(src), d = Buffer.from(dest);
  const st = step(c, s, d, () => from.fs.statSync(s, { bigint: true })); // the root may be a symlink to a directory (cp -r src/)
  if ((Number(st.mode) & S_IFMT) !== S_IFDIR) {
    throw hostDirError(c, s, d, nodeError(Error, "ENOTDIR", `ENOTDIR: not a directory, scandir '${src}'`));
  }
  copyDir(c, s, d, st, 0);
  return c.counts;
}

/** Runs `f`; a thrown error becomes the one-line hostDirError for the pair (s, d). */
function step<T>(c: Copy, s: Buffer, d: Buffer, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw hostDirError(c, s, d, e as Error);
  }
}

/** One-line Error: `fn: 'src' -> 'dest': cause`, with the cause's code, errno, syscall, path. */
function hostDirError(c: Copy, s: Buffer, d: Buffer, cause: Error): Error {
  const e = cause as Error & { code?: string; errno?: number; syscall?: string; path?: string };
  const err = new Error(`${c.fn}: ${c.from.name} '${s.toString()}' -> ${c.to.name} '${d.toString()}': ${e.message}`, { cause }) as typeof e;
  for (const k of ["code", "errno", "syscall", "path"] as const) if (e[k] !== undefined) (err as unknown as Record<string, unknown>)[k] = e[k];
  return err;
}

function child(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 47 ? Buffer.concat([dir, name]) : Buffer.concat([dir, Buffer.from("/"), name]);
}

/** Copies directory s (stat st) to d: creates d if missing, its entries, then its mode and times. */
function copyDir(c: Copy, s: Buffer, d: Buffer, st: nodeFs.BigIntStats, depth: number): void {
  if (depth > HOSTDIR_DEPTH_MAX) throw hostDirError(c, s, d, nodeError(Error, "ENAMETOOLONG", "ENAMETOOLONG: name too long"));
  const { from, to } = c;
  step(c, s, d, () => {
    let have: nodeFs.BigIntStats | undefined;
    try {
      have = to.fs.lstatSync(d, { bigint: true });
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
    }
    if (have === undefined) to.fs.mkdirSync(d, 0o700); // owner-only until its entries are in; the real mode comes last
    else if ((Number(have.mode) & S_IFMT) !== S_IFDIR) throw nodeError(Error, "EEXIST", `EEXIST: file already exists, mkdir '${d.toString()}'`);
  });
  c.counts.dirs++;
  const names = step(c, s, d, () => from.fs.readdirSync(s, { encoding: "buffer" }));
  for (const name of names) copyEntry(c, child(s, name), child(d, name), depth);
  step(c, s, d, () => {
    to.fs.chmodSync(d, Number(st.mode) & 0o7777);
    setTimes(to.fs, d, st);
  });
}

/** Copies one entry of any type from s to d. */
function copyEntry(c: Copy, s: Buffer, d: Buffer, depth: number): void {
  const { from, to } = c;
  const st = step(c, s, d, () => from.fs.lstatSync(s, { bigint: true }));
  const type = Number(st.mode) & S_IFMT;
  if (type === S_IFDIR) return copyDir(c, s, d, st, depth + 1);
  const key = `${st.dev}:${st.ino}`;
  const first = st.nlink > 1n ? c.linked.get(key) : undefined;
  if (first !== undefined) {
    step(c, s, d, () => to.fs.linkSync(first, d));
    c.counts.links++;
    return;
  }
  step(c, s, d, () => {
    if (type === S_IFREG) {
      c.buf ??= new Uint8Array(IO_CHUNK_MAX);
      c.counts.bytes += copyBytes(from.fs, s, to.fs, d, c.buf);
      to.fs.chmodSync(d, Number(st.mode) & 0o7777);
      c.counts.files++;
    } else if (type === S_IFLNK) {
      to.fs.symlinkSync(from.fs.readlinkSync(s, { encoding: "buffer" }), d);
      c.counts.symlinks++;
    } else {
      if (!to.fs.mknodSync) {
        throw nodeError(Error, "ERR_HOSTDIR_UNSUPPORTED", `cannot create a ${typeName(type)} (Node's fs makes no FIFOs, sockets or devices)`);
      }
      to.fs.mknodSync(d, Number(st.mode), Number(st.rdev));
      to.fs.chmodSync(d, Number(st.mode) & 0o7777);
      c.counts.special++;
    }
    setTimes(to.fs, d, st);
  });
  if (st.nlink > 1n) c.linked.set(key, d);
}

function typeName(type: number): string {
  return ({ 0o010000: "FIFO", 0o140000: "socket", 0o020000: "character device", 0o060000: "block device" } as Record<number, string>)[type] ?? `file of type 0o${type.toString(8)}`;
}

/**
 * Copies file s's bytes into a new or truncated d (mode 0o600 until chmod) through `buf`;
 * returns the bytes copied.
 */
function copyBytes(from: TreeFs, s: Buffer, to: TreeFs, d: Buffer, buf: Uint8Array): number {
  const src = from.openSync(s, "r");
  let dst = -1;
  try {
    dst = to.openSync(d, "w", 0o600);
    let total = 0;
    for (;;) {
      const n = from.readSync(src, buf, 0, buf.length, null);
      if (n === 0) return total;
      for (let w = 0; w < n;) {
        const r = to.writeSync(dst, buf, w, n - w, null);
        if (r <= 0) throw nodeError(Error, "EIO", "EIO: i/o error, write (no progress)"); // never spin
        w += r;
      }
      total += n;
    }
  } finally {
    from.closeSync(src);
    if (dst >= 0) to.closeSync(dst);
  }
}

/**
 * Sets d's atime and mtime (not following a symlink) to st's: exactly through the Sys of a
 * HelixFs (utimensat takes ns), else through lutimes to the microsecond (see usSeconds).
 */
function setTimes(to: TreeFs, d: Buffer, st: nodeFs.BigIntStats): void {
  const k = to as unknown as Partial<HelixFs>;
  if (k.sys !== undefined && k.resolvePath !== undefined) {
    const r = k.sys.utimens(k.resolvePath(d), st.atimeNs, st.mtimeNs, true);
    if (r < 0) throw uvException(r, "lutime", d.toString());
    return;
  }
  to.lutimesSync(d, usSeconds(st.atimeNs), usSeconds(st.mtimeNs));
}

/**
 * ns since the epoch -> the seconds value utimes turns back into the same whole microsecond
 * (the floor of ns / 1000). libuv truncates a double toward zero to whole microseconds, and a
 * double near today's dates is exact only to about 0.24 us, so the value is put half a
 * microsecond inside the intended one (above it for times after 1970, below before) and
 * rounded once, from its exact decimal form: right for every time within 2^32 s of 1970 (years
 * 1834 to 2106; beyond, a double cannot hold microseconds). Node's utimes reads a negative
 * number as "now", so a time before 1970 goes as a numeric string, which it parses unchanged.
 */
export function usSeconds(ns: bigint): number | string {
  const us = ns >= 0n ? ns / NS_PER_US : (ns - NS_PER_US + 1n) / NS_PER_US; // floor
  const tenths = us * 10n + (us >= 0n ? 5n : -5n); // in tenths of a microsecond
  const abs = tenths < 0n ? -tenths : tenths;
  const text = `${tenths < 0n ? "-" : ""}${abs / TENTHS_PER_SEC}.${(abs % TENTHS_PER_SEC).toString().padStart(7, "0")}`;
  const t = Number(text);
  return t < 0 ? text : t;
}
