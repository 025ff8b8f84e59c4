// host/cli/copy.ts -- copying trees between the host's filesystem and an image: scanHostTree
// (the host side of `import` and `start`), importTree (hashing each host file as it is read),
// exportTree (times to the microsecond the host keeps).
//
// Layer: CLI (Node), over the portable copy loop of host/shell/tree.ts. Interface:
// scanHostTree, importTree, importTreeInterruptible, exportTree. Rules: names are bytes; a
// host error names the host path; nothing is copied before the whole walk succeeded.

import * as nodefs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { uvException, type HelixFs } from "../fs/fs.js";
import { CliError, errCode, strerror } from "../shell/format.js";
import {
  COPY_CHUNK, copySteps, copyTree, ensureGuestDir, quoteName, runInterruptible, scanGuestTree, scanTree, setTimes, underDir,
  type CopyStats, type ScannedTree, type TreeEntry, type TreeSink,
} from "../shell/tree.js";
import type { Progress } from "./progress.js";

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

