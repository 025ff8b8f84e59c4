// host/shell/tree.ts -- walking and copying trees of files through a HelixFs: the scan that
// both ends share (names and symlink targets as exact bytes, bounded depth and size), the
// copy loop over a TreeSink, and the guest-side pieces (`cp -r` inside the image, walking an
// image tree for export and verification).
//
// Layer: portable (no node:* import; Buffer is the global Node provides and the page's worker
// installs from the `buffer` package). Used by host/shell/shell.ts, host/cli/copy.ts (host
// trees) and host/web/ (dropped folders). Interface: scanTree, copyTree, copySteps,
// runInterruptible, scanGuestTree, ensureGuestDir, quoteName, compareNames, badComponent.
// Rules: a copy creates directories before their children and sets directory times after
// them; a failure stops the copy with one line naming the entry; a kernel panic propagates.

import { KernelPanic } from "../vmm/kernel.js";
import { uvException, type HelixFs } from "../fs/fs.js";
import { CliError, errCode, errorMessage } from "./format.js";

/** Bytes moved per host read / kernel write while copying (the kernel's 1 MiB transfer buffer). */
export const COPY_CHUNK = 1024 * 1024;

/** Deepest directory nesting the tree walkers follow (bounds the walk, TIGER_STYLE). */
export const TREE_DEPTH_MAX = 256;
/** Entries one tree walk visits before giving up (a runaway walk is a bug, not a big tree). */
const TREE_ENTRIES_MAX = 10_000_000;

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
export function underDir(dir: string, rel: Buffer): Buffer {
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
export function scanTree(root: string, rootStat: WalkStats, src: TreeSource): ScannedTree {
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


/** What a copy did. */
export interface CopyStats {
  files: number; dirs: number; symlinks: number; bytes: number; seconds: number; skipped: number;
  /** Set when the copy was interrupted (SIGINT): the first host entry not copied (quoted), or null. */
  interrupted?: string | null;
}

/** Sets a path's times to the nanosecond (utimensat without following symlinks). */
export function setTimes(fs: HelixFs, p: Buffer, atimeNs: bigint, mtimeNs: bigint): void {
  const r = fs.sys.utimens(p, atimeNs, mtimeNs, true);
  if (r < 0) throw uvException(r, "utimensat", quoteName(p));
}

/** mkdir that accepts an existing directory (importing over an existing tree merges). */
export function ensureGuestDir(fs: HelixFs, p: string | Buffer, perm: number): void {
  try {
    fs.mkdirSync(p, { mode: perm & 0o777 });
  } catch (err) {
    if (errCode(err) !== "EEXIST" || !fs.lstatSync(p).isDirectory()) throw err;
  }
}

/** One side of a tree copy: how copyTree creates each kind of entry at the destination. */
export interface TreeSink {
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
export function copyTree(tree: ScannedTree, verb: string, sink: TreeSink, progress?: CopyProgress, cause?: () => string | null): CopyStats {
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
export function* copySteps(tree: ScannedTree, verb: string, sink: TreeSink, progress?: CopyProgress, cause?: () => string | null): Generator<void, CopyStats, boolean> {
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
export async function runInterruptible(steps: Generator<void, CopyStats, boolean>, stop: () => boolean): Promise<CopyStats> {
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

/** What a tree copy reports its progress to (host/cli/progress.ts Progress; a page's bar). */
export interface CopyProgress {
  /** Adds `bytes` copied and `files` finished. */
  add(bytes: number, files: number): void;
}
