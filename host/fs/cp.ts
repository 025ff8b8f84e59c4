// host/fs/cp.ts -- Node 20's fs.cpSync and fs.promises.cp (internal/fs/cp/cp-sync.js, cp.js).
//
// Layer: host/fs, beside fs.ts (which adds HelixFs.cpSync and promises.cp over this).
// Interface: validateCpOptions(options), cpSync(host, src, dest, options),
// cpAsync(host, src, dest, options); `host` is the structural CpHost (HelixFs fits it).
// Rules:
//  - the same calls in the same order as Node's JS: lstat (stat with `dereference`) of src
//    and dest, the parent-chain check, mkdir -p of dest's parent, then per entry: copyFile +
//    chmod (+ stat/utimes with preserveTimestamps), mkdir + copy + chmod for directories,
//    readlink + symlink (targets made absolute unless verbatimSymlinks) for links; so errors
//    and partial results match Node's;
//  - Node's SystemErrors (ERR_FS_CP_EINVAL, _DIR_TO_NON_DIR, _NON_DIR_TO_DIR, _EEXIST,
//    _SYMLINK_TO_SUBDIRECTORY, _SOCKET, _FIFO_PIPE, _UNKNOWN, ERR_FS_EISDIR) with its
//    messages: `${prefix}: cp returned ${code} (${detail}) ${path}`; as in Node, cpSync's
//    ERR_FS_EISDIR carries errno EINVAL and cp's carries EISDIR;
//  - paths are strings (Node's path module refuses Buffers; so do we, after the same stats);
//    relative paths resolve against the HelixFs cwd;
//  - cpAsync yields to the event loop before each entry and between IO_CHUNK_MAX-byte chunks
//    of a file (copyfile.ts), so a large copy does not starve timers and I/O; its filter may
//    return a Promise.

import { EEXIST, EINVAL, EISDIR, ENOTDIR, type Sys, type SysPath } from "./sys.js";
import { type BigIntStats, type Stats, invalidArgType, joinPath, nodeError, describeReceived, uvException, validateBoolean, validateInteger, validateObject } from "./utils.js";
import { dirnamePosix, isAbsolutePosix, resolvePosix } from "./paths.js";
import type { Dir } from "./dir.js";
import { nextMacrotask } from "./async.js";
import { copyFileYielding } from "./copyfile.js";

/** Options of cpSync / promises.cp (Node's names and defaults). */
export interface CpOptions {
  dereference?: boolean; errorOnExist?: boolean; force?: boolean; preserveTimestamps?: boolean;
  recursive?: boolean; verbatimSymlinks?: boolean; mode?: number;
  filter?: (src: string, dest: string) => boolean | Promise<boolean>;
}
type CpOpts = Required<Omit<CpOptions, "filter">> & { filter?: CpOptions["filter"] };

/** What cp needs of HelixFs (its sync API, Sys and cwd). */
export interface CpHost {
  readonly sys: Sys;
  readonly cwd: string;
  readonly umask: number;
  resolvePath(p: SysPath): SysPath;
  lstatSync(path: string, options?: object): Stats | BigIntStats | undefined;
  statSync(path: string, options?: object): Stats | BigIntStats | undefined;
  existsSync(path: string): boolean;
  mkdirSync(path: string, options?: object): string | undefined;
  readlinkSync(path: string): string | Buffer;
  symlinkSync(target: string, path: string): void;
  unlinkSync(path: string): void;
  copyFileSync(src: string, dest: string, mode?: number): void;
  chmodSync(path: string, mode: number): void;
  utimesSync(path: string, atime: Date, mtime: Date): void;
  opendirSync(path: string): Dir;
}

const DEFAULT_CP_OPTIONS: CpOpts = {
  dereference: false, errorOnExist: false, filter: undefined, force: true, preserveTimestamps: false,
  recursive: false, verbatimSymlinks: false, mode: 0,
};

/** Node's validateCpOptions: booleans, mode in [0, 7], filter a function, not dereference + verbatimSymlinks. */
export function validateCpOptions(options: unknown): CpOpts {
  if (options === undefined) return { ...DEFAULT_CP_OPTIONS };
  validateObject(options, "options");
  const o = { ...DEFAULT_CP_OPTIONS, ...(options as CpOptions) } as CpOpts;
  validateBoolean(o.dereference, "options.dereference");
  validateBoolean(o.errorOnExist, "options.errorOnExist");
  validateBoolean(o.force, "options.force");
  validateBoolean(o.preserveTimestamps, "options.preserveTimestamps");
  validateBoolean(o.recursive, "options.recursive");
  validateBoolean(o.verbatimSymlinks, "options.verbatimSymlinks");
  if (o.mode == null) o.mode = 0;
  else validateInteger(o.mode, "mode", 0, 7);
  if (o.dereference && o.verbatimSymlinks) {
    throw nodeError(TypeError, "ERR_INCOMPATIBLE_OPTION_PAIR",
      'Option "dereference" cannot be used in combination with option "verbatimSymlinks"');
  }
  if (o.filter !== undefined && typeof o.filter !== "function") throw invalidArgType("options.filter", "Function", o.filter);
  return o;
}

// ---- errors --------------------------------------------------------------------------------

/** Node's SystemError prefixes for the cp codes. */
const CP_PREFIX: Record<string, string> = {
  ERR_FS_CP_DIR_TO_NON_DIR: "Cannot overwrite non-directory with directory",
  ERR_FS_CP_EEXIST: "Target already exists",
  ERR_FS_CP_EINVAL: "Invalid src or dest",
  ERR_FS_CP_FIFO_PIPE: "Cannot copy a FIFO pipe",
  ERR_FS_CP_NON_DIR_TO_DIR: "Cannot overwrite directory with non-directory",
  ERR_FS_CP_SOCKET: "Cannot copy a socket file",
  ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY: "Cannot overwrite symlink in subdirectory of self",
  ERR_FS_CP_UNKNOWN: "Cannot copy an unknown file type",
  ERR_FS_EISDIR: "Path is a directory",
};

/**
 * Node's SystemError for `key`: message `${prefix}: cp returned ${code} (${detail}) ${path}`,
 * `code` = key, enumerable `info` (the context) and `errno`/`syscall`/`path` read from it,
 * name 'SystemError'.
 */
function cpError(key: string, detail: string, path: string, errno: number, code: string): Error {
  const info = { message: detail, path, syscall: "cp", errno, code };
  const err = new Error(`${CP_PREFIX[key]}: cp returned ${code} (${detail}) ${path}`);
  Object.defineProperty(err, "name", { value: "SystemError", enumerable: false, writable: true, configurable: true });
  (err as Error & { code: string }).code = key;
  Object.defineProperty(err, "info", { value: info, enumerable: true, configurable: true, writable: false });
  for (const k of ["errno", "syscall", "path"] as const) {
    Object.defineProperty(err, k, {
      get: () => info[k], set: (v: never) => { info[k] = v; }, enumerable: true, configurable: true,
    });
  }
  Object.defineProperty(err, "toString", {
    value() { return `SystemError [${key}]: ${err.message}`; }, enumerable: false, configurable: true, writable: true,
  });
  return err;
}

// ---- shared checks (cp.js's areIdentical, isSrcSubdir) -------------------------------------

type AnyStats = Stats | BigIntStats;

/** Same inode (Node: only when dest has non-zero ino and dev). */
function areIdentical(a: AnyStats, b: AnyStats): boolean {
  return Boolean(b.ino) && Boolean(b.dev) && b.ino === a.ino && b.dev === a.dev;
}

/** True when every component of resolve(src) starts resolve(dest) (dest is src or below it). */
function isSrcSubdir(cwd: string, src: string, dest: string): boolean {
  const s = resolvePosix(cwd, src).split("/").filter(Boolean);
  const d = resolvePosix(cwd, dest).split("/").filter(Boolean);
  return s.every((c, i) => d[i] === c);
}

/**
 * Node's path functions refuse Buffers (after the stats, as in Node): `name` is what Node's
 * message calls the argument ('path' for dirname, 'paths[0]' for resolve).
 */
function asString(p: unknown, name = "path"): string {
  if (typeof p !== "string") throw invalidArgType(name, "string", p);
  return p;
}

/** The errors checkPaths throws for a src/dest pair, or null when the pair may be copied. */
function pairError(host: CpHost, src: string, dest: string, srcStat: AnyStats, destStat: AnyStats | undefined): Error | null {
  if (destStat) {
    if (areIdentical(srcStat, destStat)) return cpError("ERR_FS_CP_EINVAL", "src and dest cannot be the same", dest, EINVAL, "EINVAL");
    if (srcStat.isDirectory() && !destStat.isDirectory()) {
      return cpError("ERR_FS_CP_DIR_TO_NON_DIR", `cannot overwrite non-directory ${dest} with directory ${src}`, dest, EISDIR, "EISDIR");
    }
    if (!srcStat.isDirectory() && destStat.isDirectory()) {
      return cpError("ERR_FS_CP_NON_DIR_TO_DIR", `cannot overwrite directory ${dest} with non-directory ${src}`, dest, ENOTDIR, "ENOTDIR");
    }
  }
  if (srcStat.isDirectory() && isSrcSubdir(host.cwd, asString(src, "paths[0]"), asString(dest, "paths[0]"))) {
    return cpError("ERR_FS_CP_EINVAL", `cannot copy ${src} to a subdirectory of self ${dest}`, dest, EINVAL, "EINVAL");
  }
  return null;
}

/** The error for a src that is neither a directory, file, device nor symlink. */
function specialError(st: AnyStats, dest: string): Error {
  if (st.isSocket()) return cpError("ERR_FS_CP_SOCKET", `cannot copy a socket file: ${dest}`, dest, EINVAL, "EINVAL");
  if (st.isFIFO()) return cpError("ERR_FS_CP_FIFO_PIPE", `cannot copy a FIFO pipe: ${dest}`, dest, EINVAL, "EINVAL");
  return cpError("ERR_FS_CP_UNKNOWN", `cannot copy an unknown file type: ${dest}`, dest, EINVAL, "EINVAL");
}

/** The symlink target cp writes for the link `src` (absolute unless verbatimSymlinks). */
function linkTarget(host: CpHost, src: string, opts: CpOpts): string {
  let t = host.readlinkSync(src) as string;
  if (!opts.verbatimSymlinks && !isAbsolutePosix(t)) t = resolvePosix(host.cwd, dirnamePosix(src), t);
  return t;
}

/** readlink of an existing dest, made absolute; null when dest is not a link (EINVAL: cp then symlinks over it and fails EEXIST). */
function destLinkTarget(host: CpHost, dest: string): string | null {
  let t: string;
  try {
    t = host.readlinkSync(dest) as string;
  } catch (err) {
    if ((err as { code?: string }).code === "EINVAL") return null;
    throw err;
  }
  return isAbsolutePosix(t) ? t : resolvePosix(host.cwd, dirnamePosix(dest), t);
}

/** The ERR_FS_CP_EINVAL of a link whose target lies inside dest's. */
function linkIntoSelf(resolvedSrc: string, resolvedDest: string, dest: string): Error {
  return cpError("ERR_FS_CP_EINVAL", `cannot copy ${resolvedSrc} to a subdirectory of self ${resolvedDest}`, dest, EINVAL, "EINVAL");
}

/** The ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY of replacing a link to a directory above the source's target. */
function linkOverParent(resolvedSrc: string, resolvedDest: string, dest: string): Error {
  return cpError("ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY", `cannot overwrite ${resolvedDest} with ${resolvedSrc}`, dest, EINVAL, "EINVAL");
}

const BIG = { bigint: true, throwIfNoEntry: true };
const BIG_MAYBE = { bigint: true, throwIfNoEntry: false };

/** A src/dest pair that checkPaths let through: src's stats and dest's (undefined: no dest). */
interface CheckedPair { srcStat: AnyStats; destStat: AnyStats | undefined }

/** checkPaths after the filter (the same in cp-sync.js and cp.js): stats src and dest, throws pairError's error. */
function statPair(host: CpHost, src: string, dest: string, opts: CpOpts): CheckedPair {
  const stat = opts.dereference ? host.statSync.bind(host) : host.lstatSync.bind(host);
  const srcStat = stat(src, BIG)!;
  const destStat = stat(dest, BIG_MAYBE);
  const err = pairError(host, src, dest, srcStat, destStat);
  if (err) throw err;
  return { srcStat, destStat };
}

/** What copying one entry does next (Node's getStats dispatch). */
type EntryPlan =
  | { kind: "dir"; mode: number } // copy the children; mkdir + chmod when dest is missing
  | { kind: "file"; mode: number } // copy the bytes, then times (preserveTimestamps) and chmod
  | { kind: "link" } // copyLink
  | { kind: "skip" }; // dest exists, neither force nor errorOnExist

/**
 * Node's getStats and the part of onFile before the copy, shared by cpSync and cp: stats src
 * (stat with dereference, else lstat), and for a file whose dest exists unlinks dest (force)
 * or throws ERR_FS_CP_EEXIST (errorOnExist). Throws ERR_FS_EISDIR for a directory without
 * recursive (errno `eisdirErrno`: cpSync's is EINVAL, cp's EISDIR, as in Node) and
 * specialError for a socket, FIFO or unknown type.
 */
function planEntry(host: CpHost, destStat: AnyStats | undefined, src: string, dest: string, opts: CpOpts, eisdirErrno: number): EntryPlan {
  const st = (opts.dereference ? host.statSync(src) : host.lstatSync(src))!;
  if (st.isDirectory()) {
    if (!opts.recursive) throw cpError("ERR_FS_EISDIR", `${src} is a directory (not copied)`, src, eisdirErrno, "EISDIR");
    return { kind: "dir", mode: Number(st.mode) };
  }
  if (st.isFile() || st.isCharacterDevice() || st.isBlockDevice()) {
    if (destStat) {
      if (opts.force) host.unlinkSync(dest);
      else if (opts.errorOnExist) throw cpError("ERR_FS_CP_EEXIST", `${dest} already exists`, dest, EEXIST, "EEXIST");
      else return { kind: "skip" };
    }
    return { kind: "file", mode: Number(st.mode) };
  }
  if (st.isSymbolicLink()) return { kind: "link" };
  throw specialError(st, dest);
}

/** onFile after the bytes are copied: Node's handleTimestamps (preserveTimestamps), then chmod to src's mode. */
function finishFile(host: CpHost, mode: number, src: string, dest: string, opts: CpOpts): void {
  if (opts.preserveTimestamps) preserveTimes(host, mode, src, dest);
  host.chmodSync(dest, mode);
}

/** Node's handleTimestamps: make dest writable if src is not (utimes would need it), then copy atime/mtime. */
function preserveTimes(host: CpHost, srcMode: number, src: string, dest: string): void {
  if ((srcMode & 0o200) === 0) host.chmodSync(dest, srcMode | 0o200);
  const now = host.statSync(src) as Stats; // read's atime update: the stat taken before is stale
  host.utimesSync(dest, now.atime, now.mtime);
}

/**
 * Node's onLink: symlinks dest to src's target (made absolute unless verbatimSymlinks); over
 * an existing link, refuses a target inside dest's (ERR_FS_CP_EINVAL) and, when `dirCheck`
 * is a directory, a dest target inside src's (ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY), then
 * unlinks and symlinks. `dirCheck` is where Node's two copies differ: cp-sync.js stats dest,
 * cp.js stats src.
 */
function copyLink(host: CpHost, destStat: AnyStats | undefined, src: string, dest: string, opts: CpOpts, dirCheck: string): void {
  const resolvedSrc = linkTarget(host, src, opts);
  if (!destStat) return host.symlinkSync(resolvedSrc, dest);
  const resolvedDest = destLinkTarget(host, dest);
  if (resolvedDest === null) return host.symlinkSync(resolvedSrc, dest);
  if (isSrcSubdir(host.cwd, resolvedSrc, resolvedDest)) throw linkIntoSelf(resolvedSrc, resolvedDest, dest);
  if ((host.statSync(dirCheck) as Stats).isDirectory() && isSrcSubdir(host.cwd, resolvedDest, resolvedSrc)) {
    throw linkOverParent(resolvedSrc, resolvedDest, dest);
  }
  host.unlinkSync(dest);
  host.symlinkSync(resolvedSrc, dest);
}

// ---- cpSync (cp-sync.js) ---------------------------------------------------------------------

/**
 * Node's fs.cpSync(src, dest, options): copies a file, symlink or (with recursive) a tree.
 * Throws Node's argument errors (before any syscall), the ERR_FS_CP_* SystemErrors and
 * ERR_FS_EISDIR above, ERR_INVALID_RETURN_VALUE when filter returns a Promise, and the
 * uvExceptions of the calls it makes (lstat/stat ENOENT for a missing src, copyfile EEXIST
 * with COPYFILE_EXCL, symlink EEXIST, mkdir, chmod, ...).
 */
export function cpSync(host: CpHost, src: string, dest: string, opts: CpOpts): void {
  const checked = checkPathsSync(host, src, dest, opts);
  if (checked === null) return;
  checkParentPathsSync(host, src, checked.srcStat, dest);
  const parent = dirnamePosix(asString(dest));
  if (!host.existsSync(parent)) host.mkdirSync(parent, { recursive: true });
  copyEntrySync(host, checked.destStat, src, dest, opts);
}

function checkPathsSync(host: CpHost, src: string, dest: string, opts: CpOpts): CheckedPair | null {
  if (opts.filter) {
    const keep = opts.filter(src, dest);
    if (keep instanceof Promise || (keep !== null && typeof (keep as unknown as { then?: unknown })?.then === "function")) {
      throw nodeError(TypeError, "ERR_INVALID_RETURN_VALUE",
        `Expected boolean to be returned from the "filter" function but got ${describeReceived(keep)}.`);
    }
    if (!keep) return null;
  }
  return statPair(host, src, dest, opts);
}

function checkParentPathsSync(host: CpHost, src: string, srcStat: AnyStats, dest: string): void {
  const srcParent = resolvePosix(host.cwd, dirnamePosix(asString(src)));
  for (;;) {
    const destParent = resolvePosix(host.cwd, dirnamePosix(asString(dest)));
    if (destParent === srcParent || destParent === "/") return;
    const st = host.statSync(destParent, BIG_MAYBE);
    if (st === undefined) return;
    if (areIdentical(srcStat, st)) {
      throw cpError("ERR_FS_CP_EINVAL", `cannot copy ${src} to a subdirectory of self ${dest}`, dest, EINVAL, "EINVAL");
    }
    dest = destParent;
  }
}

/** Node's getStats (sync): copies one entry as planEntry says. */
function copyEntrySync(host: CpHost, destStat: AnyStats | undefined, src: string, dest: string, opts: CpOpts): void {
  const plan = planEntry(host, destStat, src, dest, opts, EINVAL);
  if (plan.kind === "dir") {
    if (!destStat) host.mkdirSync(dest);
    copyDirSync(host, src, dest, opts);
    if (!destStat) host.chmodSync(dest, plan.mode);
  } else if (plan.kind === "file") {
    host.copyFileSync(src, dest, opts.mode);
    finishFile(host, plan.mode, src, dest, opts);
  } else if (plan.kind === "link") {
    copyLink(host, destStat, src, dest, opts, dest);
  }
}

function copyDirSync(host: CpHost, src: string, dest: string, opts: CpOpts): void {
  const dir = host.opendirSync(src);
  try {
    for (let d = dir.readSync(); d !== null; d = dir.readSync()) {
      const name = d.name as string;
      const srcItem = joinPath(src, name);
      const destItem = joinPath(dest, name);
      const checked = checkPathsSync(host, srcItem, destItem, opts);
      if (checked !== null) copyEntrySync(host, checked.destStat, srcItem, destItem, opts);
    }
  } finally {
    dir.closeSync();
  }
}

// ---- promises.cp (cp.js) ---------------------------------------------------------------------

/**
 * Node's fs.promises.cp: as cpSync, but the filter may return a Promise, the EISDIR error
 * carries errno EISDIR, an existing link's replacement checks src (not dest) for being a
 * directory, and the copy yields to the event loop before each entry and between chunks.
 */
export async function cpAsync(host: CpHost, src: string, dest: string, opts: CpOpts): Promise<void> {
  const checked = await checkPathsAsync(host, src, dest, opts);
  if (checked === null) return;
  checkParentPathsSync(host, src, checked.srcStat, dest);
  const parent = dirnamePosix(asString(dest));
  if (!host.existsSync(parent)) {
    if (host.statSync(parent, { throwIfNoEntry: false }) === undefined) host.mkdirSync(parent, { recursive: true });
  }
  await copyEntryAsync(host, checked.destStat, src, dest, opts);
}

async function checkPathsAsync(host: CpHost, src: string, dest: string, opts: CpOpts): Promise<CheckedPair | null> {
  if (opts.filter && !(await opts.filter(src, dest))) return null;
  return statPair(host, src, dest, opts);
}

/** Node's getStats (cp.js): a macrotask first, then one entry as planEntry says. */
async function copyEntryAsync(host: CpHost, destStat: AnyStats | undefined, src: string, dest: string, opts: CpOpts): Promise<void> {
  await nextMacrotask();
  const plan = planEntry(host, destStat, src, dest, opts, EISDIR);
  if (plan.kind === "dir") {
    if (!destStat) host.mkdirSync(dest);
    await copyDirAsync(host, src, dest, opts);
    if (!destStat) host.chmodSync(dest, plan.mode);
  } else if (plan.kind === "file") {
    await copyFileChunked(host, src, dest, opts.mode);
    finishFile(host, plan.mode, src, dest, opts);
  } else if (plan.kind === "link") {
    copyLink(host, destStat, src, dest, opts, src);
  }
}

async function copyDirAsync(host: CpHost, src: string, dest: string, opts: CpOpts): Promise<void> {
  const dir = host.opendirSync(src);
  for await (const d of dir) {
    const name = d.name as string;
    const srcItem = joinPath(src, name);
    const destItem = joinPath(dest, name);
    const checked = await checkPathsAsync(host, srcItem, destItem, opts);
    if (checked !== null) await copyEntryAsync(host, checked.destStat, srcItem, destItem, opts);
  }
}

/**
 * copyFileSync(src, dest, mode) with a macrotask between IO_CHUNK_MAX-byte chunks: copyfile.ts's
 * steps (uv_fs_copyfile's), errors as uvException(errno, 'copyfile', src, dest).
 */
async function copyFileChunked(host: CpHost, src: string, dest: string, mode: number): Promise<void> {
  const r = await copyFileYielding(host.sys, host.resolvePath(src), host.resolvePath(dest), mode, host.umask);
  if (r < 0) throw uvException(r, "copyfile", src, dest);
}
