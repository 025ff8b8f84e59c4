// host/fs/fs.ts -- a Node-fs-shaped API over an abstract syscall table (Sys).
//
// Layer: the top of the host. Below it is a Sys: the WebAssembly kernel's sys_* exports
// (bound by host/vmm/kernel.ts) or NodeSys (host/node/nodesys.ts, Node's own fs under a directory, the
// oracle's adapter in tests). Above it are programs that expect Node's `fs`.
// Interface: createFs(sys, { cwd, umask }) -> HelixFs: Node's synchronous functions (openSync,
// readFileSync, mkdirSync, rmSync, ...), `promises`, `constants`, with Node's semantics.
// Rules:
//  - results and errors match Node on Linux: a failed syscall becomes an Error whose message
//    is `${code}: ${description}, ${syscall} '${path}'` (+ ` -> '${dest}'`), with `errno`
//    (negative), `code`, `syscall`, `path`, `dest`; bad arguments become Node's TypeError /
//    RangeError with `code` ERR_INVALID_ARG_TYPE etc., thrown before any syscall;
//  - composite functions (copyFileSync, mkdirSync recursive, rmSync, readFileSync, ...) run the
//    same syscall sequence as libuv / Node's JS, so partial failures leave the same state;
//  - readdir names come back sorted by byte order (strcmp), because libuv's scandir sorts them;
//  - paths reach Sys absolute: relative paths are joined onto opts.cwd; `.`, `..` and
//    trailing slashes are left for the kernel's path walk (they depend on symlinks);
//  - names are bytes: a path is a string, or its exact bytes when a Buffer path is not UTF-8
//    (SysPath); names and targets come back the same way (SysName), so `encoding: 'buffer'`
//    returns them byte for byte and string results show bad bytes as U+FFFD, as Node does;
//  - the creation mask (opts.umask, default 0o022) is applied here, because the kernel ABI
//    passes modes verbatim; applying it twice (NodeSys) is harmless;
//  - every syscall moves at most IO_CHUNK_MAX bytes (the kernel's 1 MiB transfer buffer).
// No Node imports: this file runs in a browser given a global Buffer (or a polyfill).

// ---- the syscall table ---------------------------------------------------------------------

/** struct stat as the kernel reports it. Sizes in bytes, `blocks` in 512-byte units, times in ns since the epoch. */
export interface StatRecord {
  dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number; rdev: number;
  size: number; blksize: number; blocks: number;
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint; birthtimeNs: bigint;
  /** The same times in ms as Node computes them (sec * 1e3 + nsec / 1e6), when the source has them. */
  atimeMs?: number; mtimeMs?: number; ctimeMs?: number; birthtimeMs?: number;
}

/** struct statfs: `bsize` in bytes; block counts in `bsize` units; `namelen` = NAME_MAX. */
export interface StatfsRecord {
  type: number; bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number; namelen: number;
}

/**
 * A path as it crosses the Sys interface. Linux names are bytes: a string travels as its
 * UTF-8 encoding; a Uint8Array is the exact bytes of a path that is not valid UTF-8 (a
 * string cannot carry those). Both have `length` 0 only for the empty path.
 */
export type SysPath = string | Uint8Array;

/**
 * A name (or symlink target) coming back from Sys: a string when its bytes are valid UTF-8
 * (the common case, no copy), else a Uint8Array holding the exact bytes.
 */
export type SysName = string | Uint8Array;

/** One directory entry; `type` is a Linux DT_* value (DT_UNKNOWN 0 makes the caller lstat). */
export interface DirentRecord { name: SysName; ino: number; type: number /* DT_* */ }

/**
 * Credentials a syscall runs with (Linux struct cred): user id, group id and supplementary
 * groups, each a u32. The kernel makes every permission decision with them. Treat a Cred as
 * immutable: a Sys bound to one may cache it in the kernel.
 */
export interface Cred { readonly uid: number; readonly gid: number; readonly groups: readonly number[] }
/** Root's credentials: the default of a kernel booted without `cred`. */
export const ROOT_CRED: Cred = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] });

/**
 * The kernel's syscalls. Every method returns >= 0 (or the record) on success, or -errno
 * (Linux numbers) on failure. Paths are absolute within the kernel's namespace, strings or
 * exact bytes (SysPath); names and symlink targets come back as SysName. Offsets, lengths and
 * sizes are in bytes; `pos` null means "at and advancing the file position", a number (or,
 * for read, a bigint) means pread/pwrite at that offset; an offset that is not an integer in
 * [0, 2^63) is EINVAL, never wrapped. `uid`/`gid` -1 leaves the id unchanged. utimens times
 * are ns since the epoch (UTIME_NOW / UTIME_OMIT allowed).
 */
export interface Sys {
  open(path: SysPath, flags: number, mode: number): number; close(fd: number): number;
  read(fd: number, buf: Uint8Array, off: number, len: number, pos: number | bigint | null): number;
  write(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null): number;
  lseek(fd: number, offset: number, whence: number): number;
  truncate(path: SysPath, len: number): number; ftruncate(fd: number, len: number): number;
  fsync(fd: number): number; fdatasync(fd: number): number; sync(): number;
  stat(path: SysPath): StatRecord | number; lstat(path: SysPath): StatRecord | number; fstat(fd: number): StatRecord | number;
  mkdir(path: SysPath, mode: number): number; rmdir(path: SysPath): number; unlink(path: SysPath): number;
  rename(from: SysPath, to: SysPath): number; link(existing: SysPath, newPath: SysPath): number;
  symlink(target: SysPath, path: SysPath): number; readlink(path: SysPath): SysName | number;
  getdents(fd: number): DirentRecord[] | number; /* all entries except . and .. */
  /**
   * Optional: the names of a directory except . and .., sorted by UTF-8 bytes (strcmp), in
   * one call; -E2BIG when they are too many for one call (the caller then uses getdents).
   */
  scandir?(path: SysPath): SysName[] | number;
  chmod(path: SysPath, mode: number): number; chown(path: SysPath, uid: number, gid: number): number;
  /** Optional: chown without following a final symlink (lchown(2); the FUSE adapter's chown of a symlink). */
  lchown?(path: SysPath, uid: number, gid: number): number;
  utimens(path: SysPath, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): number;
  statfs(path: SysPath): StatfsRecord | number;
  /** access(2) (following symlinks) with the Sys's credentials: F_OK 0, R_OK 4, W_OK 2, X_OK 1. */
  /**
   * Optional: chdir(2) of the kernel's one working directory, where relative paths start ("/"
   * after every mount). 0 or -errno (ENOENT, ENOTDIR, EACCES: no search permission on the
   * path or on the directory, ELOOP, ENAMETOOLONG). Absolute paths are unaffected.
   */
  chdir?(path: SysPath): number;
  access?(path: SysPath, mode: number): number;
  /** fchmod(2), fchown(2) (-1 leaves an id) and futimens(2) (ns; UTIME_NOW / UTIME_OMIT) on a descriptor. */
  fchmod?(fd: number, mode: number): number;
  fchown?(fd: number, uid: number, gid: number): number;
  futimens?(fd: number, atimeNs: bigint, mtimeNs: bigint): number;
  /** mknod(2): `mode` is type | permission bits (S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK, S_IFREG), `rdev` a Linux dev_t for CHR/BLK. */
  mknod?(path: SysPath, mode: number, rdev: number): number;
  /** setxattr(2) / lsetxattr(2) (`noFollow`); `flags` 1 XATTR_CREATE, 2 XATTR_REPLACE. */
  setxattr?(path: SysPath, name: SysPath, value: Uint8Array, flags: number, noFollow: boolean): number;
  /** getxattr(2) / lgetxattr(2): the value (a copy), or -errno. */
  getxattr?(path: SysPath, name: SysPath, noFollow: boolean): Uint8Array | number;
  /** listxattr(2) / llistxattr(2): full names ("user.x"; bytes that are not UTF-8 as a Uint8Array), or -errno. */
  listxattr?(path: SysPath, noFollow: boolean): SysName[] | number;
  /** removexattr(2) / lremovexattr(2). */
  removexattr?(path: SysPath, name: SysPath, noFollow: boolean): number;
  /**
   * Optional: fallocate(2) on an fd open for writing; `mode` is Linux's FALLOC_FL_* bits (0,
   * KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE with or without KEEP_SIZE). 0 or -errno.
   */
  fallocate?(fd: number, mode: number /* Linux FALLOC_FL_* */, offset: number, len: number): number;
}

// ---- Linux numbers -------------------------------------------------------------------------

export const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200, O_NOCTTY = 0o400,
  O_TRUNC = 0o1000, O_APPEND = 0o2000, O_NONBLOCK = 0o4000, O_DSYNC = 0o10000, O_DIRECT = 0o40000,
  O_DIRECTORY = 0o200000, O_NOFOLLOW = 0o400000, O_NOATIME = 0o1000000, O_SYNC = 0o4010000;
export const S_IFMT = 0o170000, S_IFSOCK = 0o140000, S_IFLNK = 0o120000, S_IFREG = 0o100000,
  S_IFBLK = 0o60000, S_IFDIR = 0o40000, S_IFCHR = 0o20000, S_IFIFO = 0o10000;
export const DT_UNKNOWN = 0, DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8, DT_LNK = 10, DT_SOCK = 12;
export const SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2, SEEK_DATA = 3, SEEK_HOLE = 4;
/** fallocate modes (Linux include/uapi/linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01, FALLOC_FL_PUNCH_HOLE = 0x02, FALLOC_FL_ZERO_RANGE = 0x10;
/** utimens nanosecond values meaning "now" and "leave unchanged" (Linux). */
export const UTIME_NOW = (1 << 30) - 1, UTIME_OMIT = (1 << 30) - 2;

export const EPERM = 1, ENOENT = 2, EIO = 5, E2BIG = 7, EBADF = 9, EACCES = 13, EEXIST = 17, ENOTDIR = 20,
  EISDIR = 21, EINVAL = 22, ENOSPC = 28, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40,
  EOPNOTSUPP = 95;

/** Node's `fs.constants` on Linux. */
export const constants = Object.freeze({
  UV_FS_SYMLINK_DIR: 1, UV_FS_SYMLINK_JUNCTION: 2, O_RDONLY, O_WRONLY, O_RDWR,
  UV_DIRENT_UNKNOWN: 0, UV_DIRENT_FILE: 1, UV_DIRENT_DIR: 2, UV_DIRENT_LINK: 3, UV_DIRENT_FIFO: 4,
  UV_DIRENT_SOCKET: 5, UV_DIRENT_CHAR: 6, UV_DIRENT_BLOCK: 7,
  S_IFMT, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK, S_IFSOCK,
  O_CREAT, O_EXCL, UV_FS_O_FILEMAP: 0, O_NOCTTY, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOATIME, O_NOFOLLOW,
  O_SYNC, O_DSYNC, O_DIRECT, O_NONBLOCK,
  S_IRWXU: 0o700, S_IRUSR: 0o400, S_IWUSR: 0o200, S_IXUSR: 0o100, S_IRWXG: 0o70, S_IRGRP: 0o40,
  S_IWGRP: 0o20, S_IXGRP: 0o10, S_IRWXO: 0o7, S_IROTH: 0o4, S_IWOTH: 0o2, S_IXOTH: 0o1,
  F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1,
  UV_FS_COPYFILE_EXCL: 1, COPYFILE_EXCL: 1, UV_FS_COPYFILE_FICLONE: 2, COPYFILE_FICLONE: 2,
  UV_FS_COPYFILE_FICLONE_FORCE: 4, COPYFILE_FICLONE_FORCE: 4,
});

/**
 * errno -> [code, description] as libuv names them (uv_err_name / uv_strerror on Linux).
 * HelixFS adds EUCLEAN, EBADMSG, ESTALE and EDQUOT, which libuv does not map (Node would say
 * UNKNOWN); any other number becomes UNKNOWN like in Node.
 */
const ERRNO: ReadonlyMap<number, readonly [string, string]> = new Map<number, readonly [string, string]>([
  [1, ["EPERM", "operation not permitted"]], [2, ["ENOENT", "no such file or directory"]],
  [3, ["ESRCH", "no such process"]], [4, ["EINTR", "interrupted system call"]], [5, ["EIO", "i/o error"]],
  [6, ["ENXIO", "no such device or address"]], [7, ["E2BIG", "argument list too long"]],
  [9, ["EBADF", "bad file descriptor"]], [11, ["EAGAIN", "resource temporarily unavailable"]],
  [12, ["ENOMEM", "not enough memory"]], [13, ["EACCES", "permission denied"]],
  [14, ["EFAULT", "bad address in system call argument"]], [16, ["EBUSY", "resource busy or locked"]],
  [17, ["EEXIST", "file already exists"]], [18, ["EXDEV", "cross-device link not permitted"]],
  [19, ["ENODEV", "no such device"]], [20, ["ENOTDIR", "not a directory"]],
  [21, ["EISDIR", "illegal operation on a directory"]], [22, ["EINVAL", "invalid argument"]],
  [23, ["ENFILE", "file table overflow"]], [24, ["EMFILE", "too many open files"]],
  [25, ["ENOTTY", "inappropriate ioctl for device"]], [26, ["ETXTBSY", "text file is busy"]],
  [27, ["EFBIG", "file too large"]], [28, ["ENOSPC", "no space left on device"]],
  [29, ["ESPIPE", "invalid seek"]], [30, ["EROFS", "read-only file system"]], [31, ["EMLINK", "too many links"]],
  [32, ["EPIPE", "broken pipe"]], [34, ["ERANGE", "result too large"]], [36, ["ENAMETOOLONG", "name too long"]],
  [38, ["ENOSYS", "function not implemented"]], [39, ["ENOTEMPTY", "directory not empty"]],
  [40, ["ELOOP", "too many symbolic links encountered"]], [61, ["ENODATA", "no data available"]],
  [71, ["EPROTO", "protocol error"]], [74, ["EBADMSG", "bad message"]],
  [75, ["EOVERFLOW", "value too large for defined data type"]], [84, ["EILSEQ", "illegal byte sequence"]],
  [95, ["ENOTSUP", "operation not supported on socket"]], [116, ["ESTALE", "stale file handle"]],
  [117, ["EUCLEAN", "structure needs cleaning"]], [121, ["EREMOTEIO", "remote I/O error"]],
  [122, ["EDQUOT", "disk quota exceeded"]], [125, ["ECANCELED", "operation canceled"]],
]);

// ---- named limits --------------------------------------------------------------------------

/** Bytes moved by one read/write syscall: the kernel's transfer buffer (docs/abi.md). */
export const IO_CHUNK_MAX = 1024 * 1024;
/** Node's largest buffer for readFile (kIoMaxLength). */
const IO_MAX_LENGTH = 2 ** 31 - 1;
/** Chunk for reading files whose size is unknown (Node's kReadFileUnknownBufferLength). */
const READ_UNKNOWN_CHUNK = 64 * 1024;
/** Largest uid/gid (Node's kMaxUserId). */
const MAX_USER_ID = 2 ** 32 - 1;
/** Steps of recursive mkdir before giving up (a path has at most PATH_MAX / 2 components). */
const MKDIRP_STEPS_MAX = 4096;
/** Node's defaults for rm / rmdir options. */
const DEFAULT_RM_OPTIONS = { retryDelay: 100, maxRetries: 0, recursive: false, force: false };
const DEFAULT_RMDIR_OPTIONS = { retryDelay: 100, maxRetries: 0, recursive: false };
const NOT_EMPTY_CODES = new Set(["ENOTEMPTY", "EEXIST", "EPERM"]);
const RETRY_CODES = new Set(["EBUSY", "EMFILE", "ENFILE", "ENOTEMPTY", "EPERM"]);

// ---- errors --------------------------------------------------------------------------------

/** The shape of Node's fs errors: an Error with errno (negative), code, syscall, path, dest. */
export interface FsError extends Error {
  errno: number; code: string; syscall: string; path?: string; dest?: string;
}

/** errno name for a positive or negative Linux errno, e.g. 2 -> 'ENOENT'; 'UNKNOWN' if unmapped. */
export function errnoName(errno: number): string {
  return (ERRNO.get(Math.abs(errno)) ?? ["UNKNOWN"])[0];
}

/**
 * Builds Node's error for a failed syscall: `r` is -errno (or errno); `path`/`dest` are the
 * caller's strings as given (relative paths stay relative, like Node).
 */
export function uvException(r: number, syscall: string, path?: string, dest?: string): FsError {
  const errno = -Math.abs(r);
  const [code, desc] = ERRNO.get(-errno) ?? ["UNKNOWN", "unknown error"];
  let message = `${code}: ${desc}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  const err = new Error(message) as FsError;
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  if (dest !== undefined) err.dest = dest;
  return err;
}

/** An error with a Node `code` (ERR_*), printed like Node's: `TypeError [ERR_X]: message`. */
function nodeError<E extends Error>(Base: new (message: string) => E, code: string, message: string): E & { code: string } {
  const err = new Base(message) as E & { code: string };
  err.code = code;
  Object.defineProperty(err, "toString", {
    value() { return `${err.name} [${code}]: ${err.message}`; }, enumerable: false, configurable: true, writable: true,
  });
  return err;
}

const K_TYPES = ["string", "function", "number", "object", "Function", "Object", "boolean", "bigint", "symbol"];

function formatList(items: string[], type = "and"): string {
  if (items.length <= 2) return items.join(` ${type} `);
  return `${items.slice(0, -1).join(", ")}, ${type} ${items[items.length - 1]}`;
}

/** A short rendering of a value, like util.inspect for the cases fs errors print. */
function inspect(value: unknown): string {
  if (typeof value === "string") {
    const esc = value.replace(/[\x00-\x1f\x7f\\]/g, (c) => {
      const map: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v", "\\": "\\\\" };
      return map[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`;
    });
    if (!esc.includes("'")) return `'${esc}'`;
    if (!esc.includes('"')) return `"${esc}"`;
    return `\`${esc}\``;
  }
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return `[Function: ${value.name || "(anonymous)"}]`;
  if (typeof value === "symbol") return value.toString();
  if (value === null || value === undefined || typeof value === "boolean") return String(value);
  if (isUint8Array(value)) {
    const name = typeof Buffer !== "undefined" && Buffer.isBuffer(value) ? "Buffer" : value.constructor.name;
    if (name === "Buffer") {
      const hex = Array.from(value.subarray(0, 50), (b) => b.toString(16).padStart(2, "0")).join(" ");
      const more = value.length > 50 ? ` ... ${value.length - 50} more bytes` : "";
      return `<Buffer ${hex}${more}>`;
    }
    return `${name}(${value.length}) [${value.length ? " " + Array.from(value.subarray(0, 100)).join(", ") + " " : ""}]`;
  }
  if (Array.isArray(value)) return `[ ${value.map(inspect).join(", ")} ]`;
  if (value instanceof Date) return value.toISOString();
  const keys = Object.keys(value as object);
  if (keys.length === 0) return "{}";
  return `{ ${keys.map((k) => `${k}: ${inspect((value as Record<string, unknown>)[k])}`).join(", ")} }`;
}

/** Node's determineSpecificType: how ERR_INVALID_ARG_TYPE describes the value it got. */
function describeReceived(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  switch (typeof value) {
    case "bigint": return `type bigint (${value}n)`;
    case "number":
      if (value === 0) return 1 / value === -Infinity ? "type number (-0)" : "type number (0)";
      return `type number (${value})`;
    case "boolean": return `type boolean (${value})`;
    case "symbol": return `type symbol (${String(value)})`;
    case "function": return `function ${value.name}`;
    case "object": {
      const ctor = (value as { constructor?: { name?: string } }).constructor;
      if (ctor && typeof ctor.name === "string") return `an instance of ${ctor.name}`;
      return inspect(value);
    }
    case "string": {
      const s = (value as string).length > 28 ? `${(value as string).slice(0, 25)}...` : (value as string);
      return s.includes("'") ? `type string (${JSON.stringify(s)})` : `type string ('${s}')`;
    }
    default: return inspect(value);
  }
}

/** Node's ERR_INVALID_ARG_TYPE (TypeError). */
export function invalidArgType(name: string, expected: string | string[], actual: unknown): TypeError & { code: string } {
  const list = Array.isArray(expected) ? expected : [expected];
  let msg = "The ";
  if (name.endsWith(" argument")) msg += `${name} `;
  else msg += `"${name}" ${name.includes(".") ? "property" : "argument"} `;
  msg += "must be ";
  const types: string[] = [], instances: string[] = [], other: string[] = [];
  for (const v of list) {
    if (K_TYPES.includes(v)) types.push(v.toLowerCase());
    else if (/^[A-Z][a-zA-Z0-9]*$/.test(v)) instances.push(v);
    else other.push(v);
  }
  if (instances.length > 0) {
    const pos = types.indexOf("object");
    if (pos !== -1) { types.splice(pos, 1); instances.push("Object"); }
  }
  if (types.length > 0) {
    msg += `${types.length > 1 ? "one of type" : "of type"} ${formatList(types, "or")}`;
    if (instances.length > 0 || other.length > 0) msg += " or ";
  }
  if (instances.length > 0) {
    msg += `an instance of ${formatList(instances, "or")}`;
    if (other.length > 0) msg += " or ";
  }
  if (other.length > 0) {
    if (other.length > 1) msg += `one of ${formatList(other, "or")}`;
    else msg += (other[0].toLowerCase() !== other[0] ? "an " : "") + other[0];
  }
  msg += `. Received ${describeReceived(actual)}`;
  return nodeError(TypeError, "ERR_INVALID_ARG_TYPE", msg);
}

/** Node's ERR_INVALID_ARG_VALUE (TypeError). */
function invalidArgValue(name: string, value: unknown, reason = "is invalid"): TypeError & { code: string } {
  let shown = inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The ${name.includes(".") ? "property" : "argument"} '${name}' ${reason}. Received ${shown}`);
}

function addNumericalSeparator(val: string): string {
  let res = "";
  let i = val.length;
  const start = val[0] === "-" ? 1 : 0;
  for (; i >= start + 4; i -= 3) res = `_${val.slice(i - 3, i)}${res}`;
  return `${val.slice(0, i)}${res}`;
}

/** Node's ERR_OUT_OF_RANGE (RangeError). */
function outOfRange(name: string, range: string, input: unknown): RangeError & { code: string } {
  let received: string;
  if (typeof input === "number" && Number.isInteger(input) && Math.abs(input) > 2 ** 32) {
    received = addNumericalSeparator(String(input));
  } else if (typeof input === "bigint") {
    received = String(input);
    if (input > 2n ** 32n || input < -(2n ** 32n)) received = addNumericalSeparator(received);
    received += "n";
  } else {
    received = inspect(input);
  }
  return nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "${name}" is out of range. It must be ${range}. Received ${received}`);
}

/** Node's SystemError ERR_FS_EISDIR, thrown by rm on a directory without `recursive`. */
function fsEisdir(path: string): Error {
  const info = { code: "EISDIR", message: "is a directory", path, syscall: "rm", errno: EISDIR };
  const err = new Error(`Path is a directory: rm returned EISDIR (is a directory) ${path}`);
  Object.defineProperty(err, "name", { value: "SystemError", enumerable: false, writable: true, configurable: true });
  Object.assign(err, { code: "ERR_FS_EISDIR", info, errno: EISDIR, syscall: "rm", path });
  return err;
}

// ---- validators (Node's internal/validators, internal/fs/utils) ----------------------------

/** A path argument: string, Buffer / Uint8Array (UTF-8), or a file: URL. */
export type PathLike = string | Uint8Array | URL;
/** A path or a file descriptor. */
export type PathOrFd = PathLike | number;

function isUint8Array(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function isArrayBufferView(v: unknown): v is ArrayBufferView {
  return ArrayBuffer.isView(v);
}

function toU8(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function validateInteger(value: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== "number") throw invalidArgType(name, "number", value);
  if (!Number.isInteger(value)) throw outOfRange(name, "an integer", value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
}

function validateInt32(value: unknown, name: string, min = -2147483648, max = 2147483647): asserts value is number {
  validateInteger(value, name, min, max);
}

function validateUint32(value: unknown, name: string): asserts value is number {
  validateInteger(value, name, 0, 4294967295);
}

function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== "boolean") throw invalidArgType(name, "boolean", value);
}

function validateObject(value: unknown, name: string, allowNullable = false): void {
  if ((!allowNullable && value === null) || Array.isArray(value) || (typeof value !== "object" && value !== null)) {
    throw invalidArgType(name, "Object", value);
  }
}

function validateBuffer(buffer: unknown, name = "buffer"): asserts buffer is ArrayBufferView {
  if (!isArrayBufferView(buffer)) throw invalidArgType(name, ["Buffer", "TypedArray", "DataView"], buffer);
}

/** Node's file: URL -> path conversion (POSIX rules). */
function fileURLToPath(url: URL): string {
  if (url.protocol !== "file:") throw nodeError(TypeError, "ERR_INVALID_URL_SCHEME", "The URL must be of scheme file");
  if (url.hostname !== "") {
    throw nodeError(TypeError, "ERR_INVALID_FILE_URL_HOST", 'File URL host must be "localhost" or empty on linux');
  }
  const pathname = url.pathname;
  for (let n = 0; n < pathname.length; n++) {
    if (pathname[n] === "%" && pathname[n + 1] === "2" && (pathname.charCodeAt(n + 2) | 0x20) === 102) {
      throw nodeError(TypeError, "ERR_INVALID_FILE_URL_PATH", "File URL path must not include encoded / characters");
    }
  }
  return decodeURIComponent(pathname);
}

function isURL(v: unknown): v is URL {
  const u = v as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown } | null;
  return Boolean(u?.href && u.protocol && u.auth === undefined && u.path === undefined);
}

/** Validates a path argument and returns it as a string or Uint8Array (URLs converted). */
function getValidatedPath(fileURLOrPath: unknown, propName = "path"): string | Uint8Array {
  const path = isURL(fileURLOrPath) ? fileURLToPath(fileURLOrPath) : fileURLOrPath;
  if (typeof path !== "string" && !isUint8Array(path)) throw invalidArgType(propName, ["string", "Buffer", "URL"], path);
  if (typeof path === "string" ? path.includes("\u0000") : path.includes(0)) {
    throw invalidArgValue(propName, path, "must be a string, Uint8Array, or URL without null bytes");
  }
  return path;
}

// ignoreBOM: a name may begin with EF BB BF, and those bytes are part of it
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** The exact bytes of a SysName or SysPath (a string's UTF-8 encoding). */
export function nameBytes(n: SysName): Uint8Array {
  return typeof n === "string" ? utf8Encoder.encode(n) : n;
}

/**
 * A SysName as a string for messages and string-encoded results: bytes that are not UTF-8
 * become U+FFFD per invalid sequence, as Node's readdir and error messages show them.
 */
export function showPath(n: SysName): string {
  return typeof n === "string" ? n : utf8Decoder.decode(n);
}

/** `b` decoded as UTF-8 if it is valid UTF-8, else null. */
function strictUtf8(b: Uint8Array): string | null {
  let ascii = true;
  for (let i = 0; i < b.length; i++) if (b[i] > 0x7f) { ascii = false; break; }
  if (ascii) return utf8Decoder.decode(b);
  try {
    return utf8Strict.decode(b);
  } catch {
    return null;
  }
}

/**
 * A validated path argument as it goes to Sys: a string stays a string; a Buffer becomes a
 * string when it is valid UTF-8 (it then encodes back to the same bytes) and stays bytes
 * otherwise, so a name like `bad\xff` reaches the kernel byte for byte.
 */
function callerPath(p: string | Uint8Array): SysPath {
  if (typeof p === "string") return p;
  return strictUtf8(p) ?? p;
}

/** Bytes a + b (a new Uint8Array). */
function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const SLASH = new Uint8Array([47]);

/** The part of a path before its last '/', or null when it has none (mkdir -p's parent). */
function dirnameSys(p: SysPath): SysPath | null {
  if (typeof p === "string") {
    const slash = p.lastIndexOf("/");
    return slash < 0 ? null : p.slice(0, slash);
  }
  const slash = p.lastIndexOf(47);
  return slash < 0 ? null : callerPath(p.subarray(0, slash));
}

/** `dir/name` for SysPaths; strings join as strings, anything else as bytes. */
function joinSys(dir: SysPath, name: SysName): SysPath {
  if (typeof dir === "string" && typeof name === "string") return `${dir}/${name}`;
  return concatBytes(concatBytes(nameBytes(dir), SLASH), nameBytes(name));
}

/** Byte order (strcmp) of two names. */
function compareNameBytes(a: SysName, b: SysName): number {
  if (typeof a === "string" && typeof b === "string") return compareUtf8(a, b);
  const x = nameBytes(a), y = nameBytes(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function getValidatedFd(fd: unknown, propName = "fd"): number {
  if (Object.is(fd, -0)) return 0;
  validateInt32(fd, propName, 0);
  return fd;
}

function isInt32(v: unknown): v is number {
  return typeof v === "number" && (v | 0) === v;
}

/** Node's stringToFlags: 'r', 'w+', 'ax', ... or a number -> Linux open flags. */
export function stringToFlags(flags: unknown, name = "flags"): number {
  if (typeof flags === "number") {
    validateInt32(flags, name);
    return flags;
  }
  if (flags == null) return O_RDONLY;
  switch (flags) {
    case "r": return O_RDONLY;
    case "rs": case "sr": return O_RDONLY | O_SYNC;
    case "r+": return O_RDWR;
    case "rs+": case "sr+": return O_RDWR | O_SYNC;
    case "w": return O_TRUNC | O_CREAT | O_WRONLY;
    case "wx": case "xw": return O_TRUNC | O_CREAT | O_WRONLY | O_EXCL;
    case "w+": return O_TRUNC | O_CREAT | O_RDWR;
    case "wx+": case "xw+": return O_TRUNC | O_CREAT | O_RDWR | O_EXCL;
    case "a": return O_APPEND | O_CREAT | O_WRONLY;
    case "ax": case "xa": return O_APPEND | O_CREAT | O_WRONLY | O_EXCL;
    case "as": case "sa": return O_APPEND | O_CREAT | O_WRONLY | O_SYNC;
    case "a+": return O_APPEND | O_CREAT | O_RDWR;
    case "ax+": case "xa+": return O_APPEND | O_CREAT | O_RDWR | O_EXCL;
    case "as+": case "sa+": return O_APPEND | O_CREAT | O_RDWR | O_SYNC;
  }
  throw invalidArgValue("flags", flags);
}

/** Node's parseFileMode: a uint32 or an octal string; `def` when undefined/null. */
function parseFileMode(value: unknown, name: string, def?: number): number {
  value ??= def;
  if (typeof value === "string") {
    if (!/^[0-7]+$/.test(value)) throw invalidArgValue(name, value, "must be a 32-bit unsigned integer or an octal string");
    value = parseInt(value, 8);
  }
  validateUint32(value, name);
  return value;
}

function assertEncoding(encoding: unknown): void {
  if (encoding && !Buffer.isEncoding(encoding as string)) throw invalidArgValue("encoding", encoding, "is invalid encoding");
}

type Options = Record<string, unknown>;

/** Node's getOptions: null -> defaults; a string is the encoding; objects are used as given. */
function getOptions(options: unknown, defaults: Options = {}): Options {
  if (options == null || typeof options === "function") return defaults;
  let o: Options;
  if (typeof options === "string") o = { ...defaults, encoding: options };
  else if (typeof options !== "object") throw invalidArgType("options", ["string", "Object"], options);
  else o = options as Options;
  if (o.encoding !== "buffer") assertEncoding(o.encoding);
  return o;
}

function validateOffsetLengthRead(offset: number, length: number, bufferLength: number): void {
  if (offset < 0) throw outOfRange("offset", ">= 0", offset);
  if (length < 0) throw outOfRange("length", ">= 0", length);
  if (offset + length > bufferLength) throw outOfRange("length", `<= ${bufferLength - offset}`, length);
}

function validateOffsetLengthWrite(offset: number, length: number, byteLength: number): void {
  if (offset > byteLength) throw outOfRange("offset", `<= ${byteLength}`, offset);
  if (length > byteLength - offset) throw outOfRange("length", `<= ${byteLength - offset}`, length);
  if (length < 0) throw outOfRange("length", ">= 0", length);
  validateInt32(length, "length", 0);
}

function validatePosition(position: unknown, name: string): void {
  if (typeof position === "number") validateInteger(position, name, -1);
  else if (typeof position === "bigint") {
    if (!(position >= -(2n ** 63n) && position <= 2n ** 63n - 1n)) {
      throw outOfRange(name, `>= ${-(2n ** 63n)} && <= ${2n ** 63n - 1n}`, position);
    }
  } else throw invalidArgType(name, ["integer", "bigint"], position);
}

/**
 * A validated read position for Sys: null for "current" (any negative value, like libuv);
 * a bigint stays a bigint, so positions past 2^53 keep every bit (pread at 2^63 - 1 is
 * EINVAL from the kernel, as from Linux, not a read at a rounded offset).
 */
function readPosition(position: unknown): number | bigint | null {
  if (typeof position === "bigint") return position < 0n ? null : position;
  if (typeof position === "number" && position >= 0) return position;
  return null;
}

/**
 * A write position as Node's writeSync takes it, unvalidated: only a number that is a safe
 * integer counts (node_file.cc GetOffset), and a negative one means "current" as in libuv;
 * anything else (a bigint, 2^64 + 4096, 1.5, NaN) writes at the current position.
 */
function writePosition(position: unknown): number | null {
  return typeof position === "number" && Number.isSafeInteger(position) && position >= 0 ? position : null;
}

function validateStringAfterArrayBufferView(buffer: unknown, name: string): asserts buffer is string {
  if (typeof buffer !== "string") throw invalidArgType(name, ["string", "Buffer", "TypedArray", "DataView"], buffer);
}

function validateEncoding(data: string, encoding: unknown): void {
  const normalized = typeof encoding === "string" ? encoding.toLowerCase() : undefined;
  if (normalized === "hex" && data.length % 2 !== 0) {
    throw invalidArgValue("encoding", encoding, `is invalid for data of length ${data.length}`);
  }
}

/** Node's toUnixTimestamp: seconds as a number, a numeric string, or a Date -> seconds. */
function toUnixTimestamp(time: unknown, name = "time"): number {
  // eslint-disable-next-line eqeqeq
  if (typeof time === "string" && +time == (time as unknown as number)) return +time;
  if (typeof time === "number" && Number.isFinite(time)) return time < 0 ? Date.now() / 1000 : time;
  if (time instanceof Date) return time.getTime() / 1000;
  throw invalidArgType(name, ["Date", "Time in seconds"], time);
}

/**
 * Seconds (a double) -> ns since the epoch, exactly as libuv's uv__fs_to_timespec: truncate
 * to whole seconds, then to whole microseconds (libuv keeps microsecond resolution).
 * Returns null for values libuv cannot represent (it fails them with EINVAL).
 */
export function secondsToNs(time: number): bigint | null {
  if (!Number.isFinite(time) || Math.abs(time) >= 2 ** 63) return null; // C's double -> long cast is undefined there
  let sec = Math.trunc(time);
  let nsec = Math.trunc((time - sec) * 1e9);
  nsec -= nsec % 1000;
  if (nsec < 0) { nsec += 1e9; sec -= 1; }
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
}

// ---- Stats, StatFs, Dirent -----------------------------------------------------------------

const NS_PER_SEC = 1_000_000_000n;

/** Splits ns since the epoch into (sec, nsec) with 0 <= nsec < 1e9, as struct timespec. */
function timespec(ns: bigint): [number, number] {
  let sec = ns / NS_PER_SEC;
  let nsec = ns % NS_PER_SEC;
  if (nsec < 0n) { nsec += NS_PER_SEC; sec -= 1n; }
  return [Number(sec), Number(nsec)];
}

// One-entry memo for msFromNs: a stat's four times are often equal, and bigint division is
// the most expensive part of building Stats.
let memoNs = 0n;
let memoMs = 0;

/** Milliseconds as Node computes them from a timespec (a double). */
function msFromNs(ns: bigint): number {
  if (ns === memoNs) return memoMs;
  const [sec, nsec] = timespec(ns);
  memoNs = ns;
  memoMs = sec * 1e3 + nsec / 1e6;
  return memoMs;
}

function dateFromMs(ms: number | bigint): Date {
  return new Date(Math.round(Number(ms)));
}

/** Methods shared by Stats and BigIntStats (Node's StatsBase). */
abstract class StatsBase<T extends number | bigint> {
  dev!: T; mode!: T; nlink!: T; uid!: T; gid!: T; rdev!: T; blksize!: T; ino!: T; size!: T; blocks!: T;
  protected abstract checkModeProperty(type: number): boolean;
  isDirectory(): boolean { return this.checkModeProperty(S_IFDIR); }
  isFile(): boolean { return this.checkModeProperty(S_IFREG); }
  isBlockDevice(): boolean { return this.checkModeProperty(S_IFBLK); }
  isCharacterDevice(): boolean { return this.checkModeProperty(S_IFCHR); }
  isSymbolicLink(): boolean { return this.checkModeProperty(S_IFLNK); }
  isFIFO(): boolean { return this.checkModeProperty(S_IFIFO); }
  isSocket(): boolean { return this.checkModeProperty(S_IFSOCK); }
}

/** Node's fs.Stats: number fields, *Ms times (doubles), Date times (lazy, see below). */
export class Stats extends StatsBase<number> {
  atimeMs: number; mtimeMs: number; ctimeMs: number; birthtimeMs: number;
  declare atime: Date; declare mtime: Date; declare ctime: Date; declare birthtime: Date;
  /** Builds Stats from a kernel StatRecord. */
  constructor(r: StatRecord) {
    super();
    this.dev = r.dev; this.mode = r.mode; this.nlink = r.nlink; this.uid = r.uid; this.gid = r.gid;
    this.rdev = r.rdev; this.blksize = r.blksize; this.ino = r.ino; this.size = r.size; this.blocks = r.blocks;
    this.atimeMs = r.atimeMs ?? msFromNs(r.atimeNs);
    this.mtimeMs = r.mtimeMs ?? msFromNs(r.mtimeNs);
    this.ctimeMs = r.ctimeMs ?? msFromNs(r.ctimeNs);
    this.birthtimeMs = r.birthtimeMs ?? msFromNs(r.birthtimeNs);
  }
  protected checkModeProperty(type: number): boolean { return (this.mode & S_IFMT) === type; }
}

/** Node's fs.BigIntStats ({ bigint: true }): bigint fields, *Ms, *Ns and Date times (lazy). */
export class BigIntStats extends StatsBase<bigint> {
  atimeMs: bigint; mtimeMs: bigint; ctimeMs: bigint; birthtimeMs: bigint;
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint; birthtimeNs: bigint;
  declare atime: Date; declare mtime: Date; declare ctime: Date; declare birthtime: Date;
  /** Builds BigIntStats from a kernel StatRecord. */
  constructor(r: StatRecord) {
    super();
    this.dev = BigInt(r.dev); this.mode = BigInt(r.mode); this.nlink = BigInt(r.nlink); this.uid = BigInt(r.uid);
    this.gid = BigInt(r.gid); this.rdev = BigInt(r.rdev); this.blksize = BigInt(r.blksize); this.ino = BigInt(r.ino);
    this.size = BigInt(r.size); this.blocks = BigInt(r.blocks);
    this.atimeMs = r.atimeNs / 1_000_000n;
    this.mtimeMs = r.mtimeNs / 1_000_000n;
    this.ctimeMs = r.ctimeNs / 1_000_000n;
    this.birthtimeMs = r.birthtimeNs / 1_000_000n;
    this.atimeNs = r.atimeNs; this.mtimeNs = r.mtimeNs; this.ctimeNs = r.ctimeNs; this.birthtimeNs = r.birthtimeNs;
  }
  protected checkModeProperty(type: number): boolean { return (this.mode & BigInt(S_IFMT)) === BigInt(type); }
}

/**
 * The Date fields of Stats and BigIntStats are built on first read from the *Ms field, then
 * cached as an own enumerable property; assigning one stores the value. This is Node's
 * behaviour since v22 (nodejs/node#50908, "fs: make stats date fields lazy"): four eager
 * Dates were most of the cost of a stat that never reads them. As in Node 22+, a Date field
 * is not an own key until it has been read or set.
 */
function defineLazyDates(proto: object): void {
  for (const name of ["atime", "mtime", "ctime", "birthtime"]) {
    const msKey = `${name}Ms`;
    const own = (obj: object, value: unknown): void => {
      Object.defineProperty(obj, name, { value, writable: true, enumerable: true, configurable: true });
    };
    Object.defineProperty(proto, name, {
      enumerable: true,
      configurable: true,
      get(this: Record<string, number | bigint>): Date {
        const d = dateFromMs(this[msKey]);
        own(this, d);
        return d;
      },
      set(this: object, value: unknown) { own(this, value); },
    });
  }
}
defineLazyDates(Stats.prototype);
defineLazyDates(BigIntStats.prototype);

/** Node's fs.StatFs (numbers, or bigints with { bigint: true }). */
export class StatFs<T extends number | bigint = number> {
  type: T; bsize: T; blocks: T; bfree: T; bavail: T; files: T; ffree: T;
  /** Builds StatFs from a kernel StatfsRecord; `conv` makes numbers or bigints. */
  constructor(r: StatfsRecord, conv: (n: number) => T) {
    this.type = conv(r.type); this.bsize = conv(r.bsize); this.blocks = conv(r.blocks); this.bfree = conv(r.bfree);
    this.bavail = conv(r.bavail); this.files = conv(r.files); this.ffree = conv(r.ffree);
  }
}

/** A directory entry from readdirSync(..., { withFileTypes: true }), like Node's fs.Dirent. */
export class Dirent<N extends string | Uint8Array = string> {
  name: N;
  parentPath: string | Uint8Array;
  /** Alias of parentPath (deprecated in Node, still present). */
  path: string | Uint8Array;
  readonly #type: number;
  /** `type` is a Linux DT_* value. */
  constructor(name: N, type: number, parentPath: string | Uint8Array) {
    this.name = name;
    this.parentPath = parentPath;
    this.path = parentPath;
    this.#type = type;
  }
  isDirectory(): boolean { return this.#type === DT_DIR; }
  isFile(): boolean { return this.#type === DT_REG; }
  isBlockDevice(): boolean { return this.#type === DT_BLK; }
  isCharacterDevice(): boolean { return this.#type === DT_CHR; }
  isSymbolicLink(): boolean { return this.#type === DT_LNK; }
  isFIFO(): boolean { return this.#type === DT_FIFO; }
  isSocket(): boolean { return this.#type === DT_SOCK; }
}

function dtFromMode(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFREG: return DT_REG;
    case S_IFDIR: return DT_DIR;
    case S_IFLNK: return DT_LNK;
    case S_IFIFO: return DT_FIFO;
    case S_IFCHR: return DT_CHR;
    case S_IFBLK: return DT_BLK;
    case S_IFSOCK: return DT_SOCK;
    default: return DT_UNKNOWN;
  }
}

/** strcmp order of the UTF-8 encodings of two strings (what libuv's scandir sort produces). */
/** Names whose UTF-16 order may differ from their UTF-8 byte order. */
const NON_BMP_ORDER = /[\ud800-\uffff]/;

export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 orders surrogates (U+10000..) below U+E000..U+FFFF; UTF-8 orders by code point.
    if (x >= 0xd800 && x <= 0xdfff) x += 0x2000; else if (x >= 0xe000) x -= 0x800;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x2000; else if (y >= 0xe000) y -= 0x800;
    return x - y;
  }
  return a.length - b.length;
}

// ---- POSIX path helpers (no node:path in browsers) -----------------------------------------

/** path.posix.normalize for the strings readdir's recursive mode builds. */
function normalizePath(p: string): string {
  if (p === "") return ".";
  const abs = p.startsWith("/");
  const trailing = p.endsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
      continue;
    }
    out.push(part);
  }
  let s = out.join("/");
  if (s === "" && !abs) s = ".";
  if (s !== "" && trailing && s !== ".") s += "/";
  return abs ? `/${s}` : s;
}

function joinPath(a: string, b: string): string {
  return normalizePath(a === "" ? b : b === "" ? a : `${a}/${b}`);
}

/** path.posix.relative(from, to) for two paths built by joinPath from the same base. */
function relativePath(from: string, to: string): string {
  const f = normalizePath(from).replace(/\/$/, "").split("/").filter((s) => s !== "" && s !== ".");
  const t = normalizePath(to).replace(/\/$/, "").split("/").filter((s) => s !== "" && s !== ".");
  let i = 0;
  while (i < f.length && i < t.length && f[i] === t[i]) i++;
  return [...Array(f.length - i).fill(".."), ...t.slice(i)].join("/");
}

// ---- option types --------------------------------------------------------------------------

export type Encoding = BufferEncoding | "buffer";
export interface StatOptions { bigint?: boolean; throwIfNoEntry?: boolean }
export interface ReaddirOptions { encoding?: Encoding | null; withFileTypes?: boolean; recursive?: boolean }
export interface MkdirOptions { recursive?: boolean; mode?: number | string }
export interface RmOptions { force?: boolean; recursive?: boolean; maxRetries?: number; retryDelay?: number }
export interface ReadFileOptions { encoding?: Encoding | null; flag?: string | number }
export interface WriteFileOptions { encoding?: BufferEncoding | null; mode?: number | string; flag?: string | number; flush?: boolean }
export interface ReadSyncOptions { offset?: number; length?: number; position?: number | bigint | null }
export type FileData = string | ArrayBufferView;
export type TimeLike = number | string | Date;

/** Options of createFs. */
export interface CreateFsOptions {
  /** Directory that relative paths resolve against (absolute, in the kernel's namespace). Default '/'. */
  cwd?: string;
  /** File creation mask applied to open(O_CREAT) and mkdir modes. Default 0o022. */
  umask?: number;
}

// ---- the API -------------------------------------------------------------------------------

/**
 * Node's synchronous fs API (and `promises`) over a Sys. Create with createFs(). Methods throw
 * Node-shaped errors (see FsError, uvException) and Node's argument TypeErrors/RangeErrors.
 */
export class HelixFs {
  /** Node's fs.constants (Linux values). */
  readonly constants = constants;
  /** Async versions of the functions below (Node's fs.promises). */
  readonly promises: HelixFsPromises;
  readonly Stats = Stats;
  readonly Dirent = Dirent;
  /** The syscall table this API runs on. */
  readonly sys: Sys;
  /** Absolute directory relative paths resolve against. */
  readonly cwd: string;
  /** Creation mask applied to new files and directories. */
  readonly umask: number;

  /** Use createFs(). Throws TypeError if opts.cwd is not absolute. */
  constructor(sys: Sys, opts: CreateFsOptions = {}) {
    const cwd = opts.cwd ?? "/";
    if (typeof cwd !== "string" || !cwd.startsWith("/")) throw invalidArgValue("cwd", cwd, "must be an absolute path");
    this.sys = sys;
    this.cwd = cwd.length > 1 ? cwd.replace(/\/+$/, "") || "/" : cwd;
    this.umask = (opts.umask ?? 0o022) & 0o777;
    this.promises = new HelixFsPromises(this);
  }

  // ---- path and result plumbing ----

  /**
   * The absolute kernel path for a caller's path ('' stays '' and fails as ENOENT); bytes
   * stay bytes (the cwd joins in front as UTF-8).
   */
  resolvePath(p: string): string;
  resolvePath(p: SysPath): SysPath;
  resolvePath(p: SysPath): SysPath {
    if (typeof p !== "string") {
      if (p.length === 0 || p[0] === 47) return p;
      return joinSys(this.cwd === "/" ? "" : this.cwd, p);
    }
    if (p === "" || p.charCodeAt(0) === 47 /* '/' */) return p;
    return this.cwd === "/" ? `/${p}` : `${this.cwd}/${p}`;
  }

  private check(r: number, syscall: string, path?: string, dest?: string): number {
    if (r < 0) throw uvException(r, syscall, path, dest);
    return r;
  }

  private record<T extends object>(r: T | number, syscall: string, path?: string): T {
    if (typeof r === "number") throw uvException(r, syscall, path);
    return r;
  }

  private sysStat(abs: SysPath): StatRecord | number { return abs.length === 0 ? -ENOENT : this.sys.stat(abs); }
  private sysLstat(abs: SysPath): StatRecord | number { return abs.length === 0 ? -ENOENT : this.sys.lstat(abs); }

  private makeStats(r: StatRecord, options: unknown): Stats | BigIntStats {
    return (options as StatOptions | undefined)?.bigint ? new BigIntStats(r) : new Stats(r);
  }

  // ---- files ----

  /** open(2): `flags` like 'r', 'w+', 'ax' or Linux numbers; `mode` (default 0o666) masked by umask. Returns an fd. */
  openSync(path: PathLike, flags?: string | number | null, mode?: number | string | null): number {
    const p = getValidatedPath(path);
    const f = stringToFlags(flags);
    const m = parseFileMode(mode, "mode", 0o666);
    return this.openRaw(callerPath(p), f, m);
  }

  private openRaw(q: SysPath, flags: number, mode: number): number {
    const abs = this.resolvePath(q);
    const m = (flags & O_CREAT) !== 0 ? mode & 0o7777 & ~this.umask : mode & 0o7777;
    return this.check(abs.length === 0 ? -ENOENT : this.sys.open(abs, flags, m), "open", showPath(q));
  }

  /** close(2). */
  closeSync(fd: number): void {
    this.check(this.sys.close(getValidatedFd(fd)), "close");
  }

  /**
   * read(2)/pread(2) into `buffer`: readSync(fd, buffer, offset, length, position) or
   * readSync(fd, buffer, { offset, length, position }). Returns bytes read (0 at EOF).
   */
  readSync(fd: number, buffer: ArrayBufferView, offsetOrOptions?: number | ReadSyncOptions | null, length?: number, position?: number | bigint | null): number;
  readSync(fd: number, buffer: ArrayBufferView, ...rest: unknown[]): number {
    fd = getValidatedFd(fd);
    validateBuffer(buffer);
    let offset = rest[0];
    let length = rest[1];
    let position = rest[2];
    if (rest.length <= 1 || typeof offset === "object") {
      if (offset !== undefined) validateObject(offset, "options", true);
      const o = (offset ?? {}) as ReadSyncOptions;
      offset = o.offset === undefined ? 0 : o.offset;
      length = o.length === undefined ? buffer.byteLength - (offset as number) : o.length;
      position = o.position === undefined ? null : o.position;
    }
    if (offset === undefined) offset = 0;
    else validateInteger(offset, "offset", 0);
    const len = (length as number) | 0;
    if (len === 0) return 0;
    if (buffer.byteLength === 0) throw invalidArgValue("buffer", buffer, "is empty and cannot be written");
    validateOffsetLengthRead(offset as number, len, buffer.byteLength);
    if (position == null) position = -1;
    validatePosition(position, "position");
    return this.readChunks(fd, toU8(buffer), offset as number, len, readPosition(position));
  }

  /** Reads up to `len` bytes in syscalls of at most IO_CHUNK_MAX; stops at a short read. */
  private readChunks(fd: number, u8: Uint8Array, off: number, len: number, pos: number | bigint | null): number {
    let done = 0;
    while (done < len) {
      const want = Math.min(len - done, IO_CHUNK_MAX);
      const at = pos === null ? null : typeof pos === "bigint" ? pos + BigInt(done) : pos + done;
      const r = this.sys.read(fd, u8, off + done, want, at);
      if (r < 0) {
        if (done > 0) return done; // a later chunk failed: report the short read, like read(2)
        this.check(r, "read");
      }
      if (r > want) throw uvException(-EIO, "read"); // the kernel claims more than asked: never trust it
      done += r;
      if (r < want) break;
    }
    return done;
  }

  /** Writes `len` bytes in syscalls of at most IO_CHUNK_MAX; stops at a short write. */
  private writeChunks(fd: number, u8: Uint8Array, off: number, len: number, pos: number | null): number {
    let done = 0;
    do {
      const want = Math.min(len - done, IO_CHUNK_MAX);
      const r = this.sys.write(fd, u8, off + done, want, pos === null ? null : pos + done);
      if (r < 0) {
        if (done > 0) return done;
        this.check(r, "write");
      }
      if (r > want) throw uvException(-EIO, "write");
      done += r;
      if (r < want) break;
    } while (done < len);
    return done;
  }

  /**
   * write(2)/pwrite(2): writeSync(fd, buffer, offset?, length?, position?),
   * writeSync(fd, buffer, { offset, length, position }) or writeSync(fd, string, position?, encoding?).
   * Returns bytes written.
   */
  writeSync(fd: number, buffer: ArrayBufferView | string, offsetOrOptions?: number | ReadSyncOptions | null, length?: number | BufferEncoding | null, position?: number | bigint | null): number;
  writeSync(fd: number, buffer: unknown, ...rest: unknown[]): number {
    fd = getValidatedFd(fd);
    let offset = rest[0];
    let length = rest[1];
    let position = rest[2];
    if (isArrayBufferView(buffer)) {
      if (typeof offset === "object") {
        const o = (offset ?? {}) as ReadSyncOptions;
        offset = o.offset === undefined ? 0 : o.offset;
        length = o.length === undefined ? buffer.byteLength - (offset as number) : o.length;
        position = o.position === undefined ? null : o.position;
      }
      if (offset == null) offset = 0;
      else validateInteger(offset, "offset", 0);
      if (typeof length !== "number") length = buffer.byteLength - (offset as number);
      validateOffsetLengthWrite(offset as number, length as number, buffer.byteLength);
      return this.writeChunks(fd, toU8(buffer), offset as number, length as number, writePosition(position));
    }
    validateStringAfterArrayBufferView(buffer, "buffer");
    validateEncoding(buffer, length);
    const enc = typeof length === "string" && Buffer.isEncoding(length) ? length : "utf8";
    const bytes = Buffer.from(buffer, enc);
    return this.writeChunks(fd, bytes, 0, bytes.length, writePosition(offset));
  }

  /**
   * HelixFS extension (Node has no fallocate): fallocate(2) on `fd` for bytes
   * [offset, offset + len) with Linux's FALLOC_FL_* `mode`: 0 allocates (reads as zeros) and
   * grows the size, FALLOC_FL_KEEP_SIZE allocates only, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE frees,
   * FALLOC_FL_ZERO_RANGE (optionally with KEEP_SIZE) zeroes. Throws EBADF, EINVAL,
   * EOPNOTSUPP, EISDIR, ENODEV, ESPIPE, EFBIG, ENOSPC, EROFS, EIO like Linux (syscall
   * 'fallocate'). Preallocated blocks do not promise later writes space: data is
   * copy-on-write (docs/format.md, "UNWRITTEN").
   */
  fallocateSync(fd: number, mode: number, offset: number, len: number): void {
    fd = getValidatedFd(fd);
    validateInteger(mode, "mode", 0, 0xffffffff);
    validateInteger(offset, "offset");
    validateInteger(len, "len");
    if (!this.sys.fallocate) throw uvException(-ENOSYS, "fallocate");
    this.check(this.sys.fallocate(fd, mode, offset, len), "fallocate");
  }

  /**
   * HelixFS extension (Node has no lseek): lseek(2) with SEEK_SET, SEEK_CUR, SEEK_END,
   * SEEK_DATA or SEEK_HOLE; returns the new offset. SEEK_DATA/SEEK_HOLE throw ENXIO at or past
   * EOF (and SEEK_DATA when only holes follow); holes are whole 4 KiB blocks, EOF is a hole.
   */
  lseekSync(fd: number, offset: number, whence: number): number {
    fd = getValidatedFd(fd);
    validateInteger(offset, "offset");
    validateInteger(whence, "whence", 0, 0xffffffff);
    return this.check(this.sys.lseek(fd, offset, whence), "lseek");
  }

  /** ftruncate(2); negative lengths count as 0 (Node). */
  ftruncateSync(fd: number, len: number = 0): void {
    validateInteger(len, "len");
    len = Math.max(0, len);
    this.check(this.sys.ftruncate(getValidatedFd(fd), len), "ftruncate");
  }

  /** Node's truncateSync: open(path, 'r+'), ftruncate, close (errors name 'open' or 'ftruncate'). */
  truncateSync(path: PathOrFd, len?: number): void {
    if (typeof path === "number") return this.ftruncateSync(path, len);
    if (len === undefined) len = 0;
    const fd = this.openSync(path, "r+");
    try {
      this.ftruncateSync(fd, len);
    } finally {
      this.closeSync(fd);
    }
  }

  /** fsync(2): after it returns the file's data and metadata are durable. */
  fsyncSync(fd: number): void {
    this.check(this.sys.fsync(getValidatedFd(fd)), "fsync");
  }

  /** fdatasync(2): the file's data and size are durable. */
  fdatasyncSync(fd: number): void {
    this.check(this.sys.fdatasync(getValidatedFd(fd)), "fdatasync");
  }

  /** sync(2): everything is durable. (Not in Node's fs; HelixFS extension.) */
  syncSync(): void {
    this.check(this.sys.sync(), "sync");
  }

  // ---- metadata ----

  /** stat(2) (follows symlinks). With { throwIfNoEntry: false } returns undefined on ENOENT. */
  statSync(path: PathLike, options?: StatOptions & { bigint?: false }): Stats;
  statSync(path: PathLike, options: StatOptions & { bigint: true }): BigIntStats;
  statSync(path: PathLike, options?: StatOptions): Stats | BigIntStats | undefined;
  statSync(path: PathLike, options: StatOptions = { bigint: false, throwIfNoEntry: true }): Stats | BigIntStats | undefined {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const r = this.sysStat(this.resolvePath(q));
    if (r === -ENOENT && options.throwIfNoEntry === false) return undefined;
    return this.makeStats(this.record(r, "stat", s), options);
  }

  /** lstat(2) (does not follow a final symlink). */
  lstatSync(path: PathLike, options?: StatOptions & { bigint?: false }): Stats;
  lstatSync(path: PathLike, options: StatOptions & { bigint: true }): BigIntStats;
  lstatSync(path: PathLike, options?: StatOptions): Stats | BigIntStats | undefined;
  lstatSync(path: PathLike, options: StatOptions = { bigint: false, throwIfNoEntry: true }): Stats | BigIntStats | undefined {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const r = this.sysLstat(this.resolvePath(q));
    if (r === -ENOENT && options.throwIfNoEntry === false) return undefined;
    return this.makeStats(this.record(r, "lstat", s), options);
  }

  /** fstat(2). */
  fstatSync(fd: number, options?: { bigint?: false }): Stats;
  fstatSync(fd: number, options: { bigint: true }): BigIntStats;
  fstatSync(fd: number, options: { bigint?: boolean } = { bigint: false }): Stats | BigIntStats {
    return this.makeStats(this.record(this.sys.fstat(getValidatedFd(fd)), "fstat"), options);
  }

  /**
   * access(2): the kernel decides with the Sys's credentials (Sys.access). A Sys without
   * access treats the caller as root: F_OK, R_OK and W_OK need only existence; X_OK needs an
   * execute bit or a directory. Throws EACCES, ENOENT, ... otherwise.
   */
  accessSync(path: PathLike, mode?: number): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    validateMode(mode);
    if (this.sys.access) {
      const abs = this.resolvePath(q);
      this.check(abs.length === 0 ? -ENOENT : this.sys.access(abs, (mode ?? 0) & 7), "access", s);
      return;
    }
    const st = this.record(this.sysStat(this.resolvePath(q)), "access", s);
    const x = (st.mode & S_IFMT) === S_IFDIR || (st.mode & 0o111) !== 0;
    if (((mode ?? 0) & constants.X_OK) !== 0 && !x) throw uvException(-EACCES, "access", s);
  }

  /** True if `path` resolves (following symlinks) to something; never throws. */
  existsSync(path: PathLike): boolean {
    let p: string | Uint8Array;
    try {
      p = getValidatedPath(path);
    } catch {
      return false;
    }
    return typeof this.sysStat(this.resolvePath(callerPath(p))) !== "number";
  }

  /** chmod(2); `mode` is a number or an octal string. */
  chmodSync(path: PathLike, mode: number | string): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const m = parseFileMode(mode, "mode");
    const abs = this.resolvePath(q);
    this.check(abs.length === 0 ? -ENOENT : this.sys.chmod(abs, m & 0o7777), "chmod", s);
  }

  /** chown(2); -1 leaves an id unchanged. */
  chownSync(path: PathLike, uid: number, gid: number): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    validateInteger(uid, "uid", -1, MAX_USER_ID);
    validateInteger(gid, "gid", -1, MAX_USER_ID);
    const abs = this.resolvePath(q);
    this.check(abs.length === 0 ? -ENOENT : this.sys.chown(abs, uid, gid), "chown", s);
  }

  /** fchmod(2) on an open descriptor (Sys.fchmod; ENOSYS without it). */
  fchmodSync(fd: number, mode: number | string): void {
    const f = getValidatedFd(fd);
    const m = parseFileMode(mode, "mode");
    this.check(this.sys.fchmod ? this.sys.fchmod(f, m & 0o7777) : -ENOSYS, "fchmod");
  }

  /** fchown(2) on an open descriptor; -1 leaves an id unchanged (Sys.fchown; ENOSYS without it). */
  fchownSync(fd: number, uid: number, gid: number): void {
    const f = getValidatedFd(fd);
    validateInteger(uid, "uid", -1, MAX_USER_ID);
    validateInteger(gid, "gid", -1, MAX_USER_ID);
    this.check(this.sys.fchown ? this.sys.fchown(f, uid, gid) : -ENOSYS, "fchown");
  }

  /** futimens(2) on an open descriptor; times as utimesSync takes them (Sys.futimens; ENOSYS without it). */
  futimesSync(fd: number, atime: TimeLike, mtime: TimeLike): void {
    const f = getValidatedFd(fd);
    const a = secondsToNs(toUnixTimestamp(atime));
    const m = secondsToNs(toUnixTimestamp(mtime));
    if (a === null || m === null) throw uvException(-EINVAL, "futime");
    this.check(this.sys.futimens ? this.sys.futimens(f, a, m) : -ENOSYS, "futime");
  }

  /** utimensat(2) following symlinks; times are seconds (numbers or numeric strings) or Dates, kept to the microsecond. */
  utimesSync(path: PathLike, atime: TimeLike, mtime: TimeLike): void {
    this.utimes(path, atime, mtime, false, "utime");
  }

  /** Like utimesSync, but changes a symlink itself. */
  lutimesSync(path: PathLike, atime: TimeLike, mtime: TimeLike): void {
    this.utimes(path, atime, mtime, true, "lutime");
  }

  private utimes(path: PathLike, atime: TimeLike, mtime: TimeLike, noFollow: boolean, syscall: string): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const a = secondsToNs(toUnixTimestamp(atime));
    const m = secondsToNs(toUnixTimestamp(mtime));
    const abs = this.resolvePath(q);
    if (a === null || m === null) throw uvException(-EINVAL, syscall, s);
    this.check(abs.length === 0 ? -ENOENT : this.sys.utimens(abs, a, m, noFollow), syscall, s);
  }

  /** statfs(2). */
  statfsSync(path: PathLike, options?: { bigint?: false }): StatFs<number>;
  statfsSync(path: PathLike, options: { bigint: true }): StatFs<bigint>;
  statfsSync(path: PathLike, options: { bigint?: boolean } = { bigint: false }): StatFs<number> | StatFs<bigint> {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const abs = this.resolvePath(q);
    const r = this.record(abs.length === 0 ? -ENOENT : this.sys.statfs(abs), "statfs", s);
    return options?.bigint ? new StatFs<bigint>(r, BigInt) : new StatFs<number>(r, Number);
  }

  // ---- names ----

  /** unlink(2). */
  unlinkSync(path: PathLike): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const abs = this.resolvePath(q);
    this.check(abs.length === 0 ? -ENOENT : this.sys.unlink(abs), "unlink", s);
  }

  /** rename(2): atomic; replaces an existing target. */
  renameSync(oldPath: PathLike, newPath: PathLike): void {
    const qa = callerPath(getValidatedPath(oldPath, "oldPath"));
    const qb = callerPath(getValidatedPath(newPath, "newPath"));
    const a = showPath(qa), b = showPath(qb);
    const fa = this.resolvePath(qa);
    const fb = this.resolvePath(qb);
    this.check(fa.length === 0 || fb.length === 0 ? -ENOENT : this.sys.rename(fa, fb), "rename", a, b);
  }

  /** link(2): a new name for an existing file. */
  linkSync(existingPath: PathLike, newPath: PathLike): void {
    const qa = callerPath(getValidatedPath(existingPath, "existingPath"));
    const qb = callerPath(getValidatedPath(newPath, "newPath"));
    const a = showPath(qa), b = showPath(qb);
    const fa = this.resolvePath(qa);
    const fb = this.resolvePath(qb);
    this.check(fa.length === 0 || fb.length === 0 ? -ENOENT : this.sys.link(fa, fb), "link", a, b);
  }

  /** symlink(2): `target` is stored verbatim; `type` ('file' | 'dir' | 'junction') only matters on Windows. */
  symlinkSync(target: PathLike, path: PathLike, type?: string | null): void {
    if (typeof type === "string" && type !== "dir" && type !== "file" && type !== "junction") {
      throw nodeError(Error, "ERR_FS_INVALID_SYMLINK_TYPE", `Symlink type must be one of "dir", "file", or "junction". Received "${type}"`);
    }
    const qt = callerPath(getValidatedPath(target, "target"));
    const t = showPath(qt);
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const abs = this.resolvePath(q);
    this.check(abs.length === 0 ? -ENOENT : this.sys.symlink(qt, abs), "symlink", t, s);
  }

  /** readlink(2): the target as stored; { encoding: 'buffer' } returns a Buffer. */
  readlinkSync(path: PathLike, options?: { encoding?: Encoding | null } | Encoding | null): string | Buffer {
    const o = getOptions(options);
    const q = callerPath(getValidatedPath(path, "oldPath"));
    const s = showPath(q);
    const abs = this.resolvePath(q);
    const r = abs.length === 0 ? -ENOENT : this.sys.readlink(abs);
    if (typeof r === "number") throw uvException(r, "readlink", s);
    return encodeName(r, o.encoding);
  }

  // ---- special files and extended attributes (HelixFS extensions: Node's fs has none) ----

  /** The kernel path of a caller's path for the extensions below, with its display form. */
  private extPath(path: PathLike): [SysPath, string] {
    const q = callerPath(getValidatedPath(path));
    return [this.resolvePath(q), showPath(q)];
  }

  /** A Sys method the extensions need, or ENOSYS (another Sys implementation may lack it). */
  private need<K extends keyof Sys>(name: K, syscall: string, s: string): NonNullable<Sys[K]> {
    const f = this.sys[name];
    if (typeof f !== "function") throw uvException(-ENOSYS, syscall, s);
    return (f as (...a: unknown[]) => unknown).bind(this.sys) as NonNullable<Sys[K]>;
  }

  /**
   * mknod(2) (a HelixFS extension): `mode` is the type (S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK,
   * S_IFREG or 0) | permission bits, less the umask; `rdev` the device number of a CHR/BLK
   * node (Linux dev_t, as stat's rdev reports it). Throws EEXIST, ENOENT, EACCES, EPERM
   * (devices without root; S_IFDIR), EINVAL (a bad type), EROFS, ENOSPC, ENAMETOOLONG.
   */
  mknodSync(path: PathLike, mode: number, rdev = 0): void {
    const [abs, s] = this.extPath(path);
    const m = (mode & 0o170000) | (mode & 0o7777 & ~this.umask);
    this.check(abs.length === 0 ? -ENOENT : this.need("mknod", "mknod", s)(abs, m, rdev), "mknod", s);
  }

  /** mkfifo(3) (a HelixFS extension): mknodSync(path, S_IFIFO | mode). */
  mkfifoSync(path: PathLike, mode = 0o666): void {
    const [abs, s] = this.extPath(path);
    const m = S_IFIFO | (mode & 0o7777 & ~this.umask);
    this.check(abs.length === 0 ? -ENOENT : this.need("mknod", "mkfifo", s)(abs, m, 0), "mkfifo", s);
  }

  /**
   * setxattr(2) (a HelixFS extension; { noFollow: true } is lsetxattr): sets attribute
   * `name` ("user.x", "trusted.x", "security.x") to `value` (a string is UTF-8). `flags`
   * 1 XATTR_CREATE (EEXIST when present), 2 XATTR_REPLACE (ENODATA when absent). Throws
   * ERANGE (name empty or over 255 bytes), E2BIG (value over 65536 bytes), ENOSPC (over what
   * one metadata item holds: about 1.3 KB less the name), EOPNOTSUPP (another namespace),
   * EPERM, EACCES, ENOENT, EROFS.
   */
  setxattrSync(path: PathLike, name: string, value: Uint8Array | string, flags = 0, options?: { noFollow?: boolean }): void {
    const [abs, s] = this.extPath(path);
    const v = typeof value === "string" ? new TextEncoder().encode(value) : value;
    const f = this.need("setxattr", "setxattr", s);
    this.check(abs.length === 0 ? -ENOENT : f(abs, String(name), v, flags, options?.noFollow === true), "setxattr", s);
  }

  /** getxattr(2) (a HelixFS extension): the value as a Buffer. Throws ENODATA when absent. */
  getxattrSync(path: PathLike, name: string, options?: { noFollow?: boolean }): Buffer {
    const [abs, s] = this.extPath(path);
    const f = this.need("getxattr", "getxattr", s);
    const r = abs.length === 0 ? -ENOENT : f(abs, String(name), options?.noFollow === true);
    if (typeof r === "number") throw uvException(r, "getxattr", s);
    return Buffer.from(r.buffer, r.byteOffset, r.byteLength);
  }

  /** listxattr(2) (a HelixFS extension): the attribute names (trusted.* only for root). */
  listxattrSync(path: PathLike, options?: { noFollow?: boolean }): string[] {
    const [abs, s] = this.extPath(path);
    const f = this.need("listxattr", "listxattr", s);
    const r = abs.length === 0 ? -ENOENT : f(abs, options?.noFollow === true);
    if (typeof r === "number") throw uvException(r, "listxattr", s);
    // a name that is not UTF-8 comes back as bytes: shown with replacement characters here
    return r.map((n) => (typeof n === "string" ? n : new TextDecoder().decode(n)));
  }

  /** removexattr(2) (a HelixFS extension). Throws ENODATA when absent. */
  removexattrSync(path: PathLike, name: string, options?: { noFollow?: boolean }): void {
    const [abs, s] = this.extPath(path);
    const f = this.need("removexattr", "removexattr", s);
    this.check(abs.length === 0 ? -ENOENT : f(abs, String(name), options?.noFollow === true), "removexattr", s);
  }

  // ---- directories ----

  /**
   * mkdir(2). With { recursive: true } creates missing parents and returns the first
   * directory created (as Node: relative to what the caller passed), or undefined.
   */
  mkdirSync(path: PathLike, options?: MkdirOptions | number | string | null): string | undefined {
    let mode: unknown = 0o777;
    let recursive: unknown = false;
    if (typeof options === "number" || typeof options === "string") mode = options;
    else if (options) {
      if (options.recursive !== undefined) recursive = options.recursive;
      if (options.mode !== undefined) mode = options.mode;
    }
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    validateBoolean(recursive, "options.recursive");
    const m = parseFileMode(mode, "mode") & 0o1777 & ~this.umask;
    if (!recursive) {
      this.check(this.mkdirRaw(q, m), "mkdir", s);
      return undefined;
    }
    const first = this.mkdirp(q, s, m);
    return first === undefined ? undefined : showPath(first);
  }

  private mkdirRaw(q: SysPath, mode: number): number {
    const abs = this.resolvePath(q);
    return abs.length === 0 ? -ENOENT : this.sys.mkdir(abs, mode);
  }

  /** Node's MKDirpSync (src/node_file.cc): a stack of paths, parents pushed on ENOENT. */
  private mkdirp(q: SysPath, s: string, mode: number): SysPath | undefined {
    const stack = [q];
    let first: SysPath | undefined;
    for (let steps = 0; stack.length > 0; steps++) {
      if (steps > MKDIRP_STEPS_MAX) throw uvException(-ENOENT, "mkdir", s);
      const next = stack.pop()!;
      let err = this.mkdirRaw(next, mode);
      for (;;) {
        if (err === 0) {
          first ??= next;
        } else if (err === -EACCES || err === -ENOSPC || err === -ENOTDIR || err === -EPERM) {
          throw uvException(err, "mkdir", s);
        } else if (err === -ENOENT) {
          const dirname = dirnameSys(next);
          if (dirname !== null) {
            stack.push(next, dirname);
          } else if (stack.length === 0) {
            err = -EEXIST;
            continue;
          }
        } else {
          const st = this.sysStat(this.resolvePath(next));
          if (typeof st === "number") throw uvException(st, "mkdir", s);
          if ((st.mode & S_IFMT) !== S_IFDIR) {
            throw uvException(err === -EEXIST && stack.length > 0 ? -ENOTDIR : -EEXIST, "mkdir", s);
          }
        }
        break;
      }
    }
    return first;
  }

  /** rmdir(2). { recursive: true } is Node's deprecated alias of rmSync(path, { recursive: true }). */
  rmdirSync(path: PathLike, options?: RmOptions): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    if (options?.recursive) {
      const o = this.validateRmOptions(q, { ...options, force: false }, true);
      if (o !== false) return this.rimraf(q, o);
    } else {
      validateRmdirOptions(options);
    }
    const abs = this.resolvePath(q);
    this.check(abs.length === 0 ? -ENOENT : this.sys.rmdir(abs), "rmdir", s);
  }

  /** Node's rmSync: removes files, and directories with { recursive: true }; { force } ignores ENOENT. */
  rmSync(path: PathLike, options?: RmOptions): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    const o = this.validateRmOptions(q, options, false);
    if (o !== false) this.rimraf(q, o);
  }

  private validateRmOptions(s: SysPath, options: unknown, expectDir: boolean): Required<RmOptions> | false {
    const o = validateRmdirOptions(options, DEFAULT_RM_OPTIONS) as Required<RmOptions>;
    validateBoolean(o.force, "options.force");
    if (!o.force || expectDir || !o.recursive) {
      const isDirectory = this.lstatSync(s, { throwIfNoEntry: !o.force })?.isDirectory();
      if (expectDir && !isDirectory) return false;
      if (isDirectory && !o.recursive) throw fsEisdir(showPath(s));
    }
    return o;
  }

  /** Node's rimrafSync (lib/internal/fs/rimraf.js), retries without sleeping. */
  private rimraf(path: SysPath, options: Required<RmOptions>): void {
    let st: Stats | undefined;
    try {
      st = this.lstatSync(path);
    } catch (err) {
      if ((err as FsError).code === "ENOENT") return;
    }
    try {
      if (st?.isDirectory()) this.rmdirChildren(path, options, null);
      else this.unlinkRetry(path, options);
    } catch (err) {
      const code = (err as FsError).code;
      if (code === "ENOENT") return;
      if (code === "EPERM") return this.rmdirChildren(path, options, err as Error);
      if (code !== "EISDIR") throw err;
      this.rmdirChildren(path, options, err as Error);
    }
  }

  private unlinkRetry(path: SysPath, options: Required<RmOptions>): void {
    const tries = options.maxRetries + 1;
    for (let i = 1; i <= tries; i++) {
      try {
        return this.unlinkSync(path);
      } catch (err) {
        const code = (err as FsError).code;
        if (RETRY_CODES.has(code) && i < tries && options.retryDelay > 0) continue;
        if (code === "ENOENT") return;
        if (i === tries) throw err;
      }
    }
  }

  private rmdirChildren(path: SysPath, options: Required<RmOptions>, originalErr: Error | null): void {
    try {
      this.rmdirSync(path);
    } catch (err) {
      const code = (err as FsError).code;
      if (code === "ENOENT") return;
      if (code === "ENOTDIR") throw originalErr ?? err;
      if (NOT_EMPTY_CODES.has(code)) {
        // names as bytes (Node's rimraf reads them with encoding 'buffer'): a lossy string
        // of a non-UTF-8 name would name nothing, and the directory would stay
        for (const child of this.scandirNames(path)) this.rimraf(joinSys(path, child), options);
        const tries = options.maxRetries + 1;
        for (let i = 1; i <= tries; i++) {
          try {
            return this.rmdirSync(path);
          } catch (err2) {
            const c2 = (err2 as FsError).code;
            if (RETRY_CODES.has(c2) && i < tries && options.retryDelay > 0) continue;
            if (c2 === "ENOENT") return;
            if (i === tries) throw err2;
          }
        }
      }
      throw originalErr ?? err;
    }
  }

  /**
   * Directory entries except '.' and '..', sorted by byte order as Node (libuv scandir)
   * returns them. Options: encoding ('buffer' -> Buffers), withFileTypes (-> Dirent),
   * recursive (Node's breadth-first walk; relative paths).
   */
  readdirSync(path: PathLike, options?: (ReaddirOptions & { encoding?: BufferEncoding | null; withFileTypes?: false }) | BufferEncoding | null): string[];
  readdirSync(path: PathLike, options: (ReaddirOptions & { encoding: "buffer"; withFileTypes?: false }) | "buffer"): Buffer[];
  readdirSync(path: PathLike, options: ReaddirOptions & { encoding?: BufferEncoding | null; withFileTypes: true }): Dirent[];
  readdirSync(path: PathLike, options: ReaddirOptions & { encoding: "buffer"; withFileTypes: true }): Dirent<Buffer>[];
  readdirSync(path: PathLike, options?: ReaddirOptions | Encoding | null): string[] | Buffer[] | Dirent<string | Buffer>[];
  readdirSync(path: PathLike, options?: ReaddirOptions | Encoding | null): string[] | Buffer[] | Dirent<string | Buffer>[] {
    const o = getOptions(options) as ReaddirOptions;
    const p = getValidatedPath(path);
    const q = callerPath(p);
    if (o.recursive != null) validateBoolean(o.recursive, "options.recursive");
    if (o.recursive) return this.readdirRecursive(q, o);
    if (!o.withFileTypes) {
      const names = this.scandirNames(q);
      if ((o.encoding == null || o.encoding === "utf8" || o.encoding === "utf-8") && names.every((n) => typeof n === "string")) return names as string[];
      return names.map((n) => encodeName(n, o.encoding)) as string[] | Buffer[];
    }
    return this.scandir(q).map((e) => this.dirent(p, q, e, o.encoding));
  }

  /**
   * Names only, sorted in byte order (strcmp): sorted by the syscall table's scandir when it
   * has one (the kernel's), else read with getdents and sorted here (the built-in sort
   * compares UTF-16 units, equal to UTF-8 byte order unless NON_BMP_ORDER matches or a name
   * is bytes). Errors are reported as 'scandir'.
   */
  private scandirNames(q: SysPath): SysName[] {
    if (this.sys.scandir !== undefined) {
      const abs = this.resolvePath(q);
      const r = abs.length === 0 ? -ENOENT : this.sys.scandir(abs);
      if (r !== -E2BIG) return this.record(r, "scandir", showPath(q));
    }
    return sortNames(this.scandirRaw(q).map((e) => e.name), (n) => n);
  }

  /** open(O_DIRECTORY) + getdents + close, unsorted; errors are reported as 'scandir'. */
  private scandirRaw(q: SysPath): DirentRecord[] {
    const abs = this.resolvePath(q);
    const fd = abs.length === 0 ? -ENOENT : this.sys.open(abs, O_RDONLY | O_DIRECTORY, 0);
    this.check(fd, "scandir", showPath(q));
    const list = this.sys.getdents(fd);
    this.sys.close(fd);
    return this.record(list, "scandir", showPath(q));
  }

  private scandir(q: SysPath): DirentRecord[] {
    return sortNames(this.scandirRaw(q).slice(), (e) => e.name);
  }

  /** A Dirent for `e` in directory `q` (`parent`: the path as the caller gave it, Node's parentPath). */
  private dirent(parent: string | Uint8Array, q: SysPath, e: DirentRecord, encoding: unknown): Dirent<string | Buffer> {
    let type = e.type;
    if (type === DT_UNKNOWN) { // the file system did not say: ask, like Node's getDirent
      type = dtFromMode((this.lstatSync(childPath(q, e.name)) as Stats).mode);
    }
    return new Dirent<string | Buffer>(encodeName(e.name, encoding), type, parent);
  }

  /**
   * Node's breadth-first recursive readdir. Names that are not UTF-8 are followed by their
   * bytes (Node 20 follows the lossy string and misses what lies below such a directory).
   */
  private readdirRecursive(base: SysPath, o: ReaddirOptions): string[] | Buffer[] | Dirent<string | Buffer>[] {
    const out: (string | Buffer | Dirent<string | Buffer>)[] = [];
    const queue: SysPath[] = [base];
    const rels: SysName[] = [""];
    for (let i = 0; i < queue.length; i++) {
      const dir = queue[i];
      for (const e of this.scandir(dir)) {
        const child = childPath(dir, e.name);
        const rel = typeof child === "string" && typeof base === "string" ? relativePath(base, child)
          : rels[i] === "" ? e.name : joinSys(rels[i], e.name);
        if (o.withFileTypes) {
          const d = this.dirent(typeof dir === "string" ? dir : Buffer.from(dir), dir, e, o.encoding);
          out.push(d);
          if (d.isDirectory()) { queue.push(child); rels.push(rel); }
        } else {
          out.push(encodeName(rel, o.encoding));
          const st = this.sysStat(this.resolvePath(child)); // follows symlinks, like Node
          if (typeof st !== "number" && (st.mode & S_IFMT) === S_IFDIR) { queue.push(child); rels.push(rel); }
        }
      }
    }
    return out as string[] | Buffer[] | Dirent<string | Buffer>[];
  }

  // ---- whole files ----

  /** Reads a whole file (or the rest of an fd) into a Buffer, or a string with an encoding. */
  readFileSync(path: PathOrFd, options?: { encoding?: null; flag?: string | number } | null): Buffer;
  readFileSync(path: PathOrFd, options: { encoding: BufferEncoding; flag?: string | number } | BufferEncoding): string;
  readFileSync(path: PathOrFd, options?: ReadFileOptions | Encoding | null): string | Buffer;
  readFileSync(path: PathOrFd, options?: ReadFileOptions | Encoding | null): string | Buffer {
    const o = getOptions(options, { flag: "r" }) as ReadFileOptions;
    const isUserFd = isInt32(path);
    const fd = isUserFd ? path : this.openSync(path, o.flag, 0o666);
    let buffer: Buffer;
    try {
      buffer = this.readAll(fd);
    } catch (err) {
      if (!isUserFd) this.closeSync(fd);
      throw err;
    }
    if (!isUserFd) this.closeSync(fd);
    return o.encoding && o.encoding !== "buffer" ? buffer.toString(o.encoding) : buffer;
  }

  /** Node's readFileSync loop: size from fstat for regular files, else read until EOF. */
  private readAll(fd: number): Buffer {
    const st = this.record(this.sys.fstat(fd), "fstat");
    const size = (st.mode & S_IFMT) === S_IFREG ? st.size : 0;
    if (size > IO_MAX_LENGTH) throw nodeError(RangeError, "ERR_FS_FILE_TOO_LARGE", `File size (${size}) is greater than 2 GiB`);
    if (size !== 0) {
      const buffer = Buffer.allocUnsafe(size);
      let pos = 0;
      let n: number;
      do {
        n = this.readChunks(fd, buffer, pos, size - pos, null);
        pos += n;
      } while (n !== 0 && pos < size);
      return pos < size ? buffer.subarray(0, pos) : buffer;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(READ_UNKNOWN_CHUNK);
      const n = this.readChunks(fd, chunk, 0, READ_UNKNOWN_CHUNK, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    return Buffer.concat(chunks, total);
  }

  /** Writes a whole file (default flag 'w', mode 0o666, encoding 'utf8'); { flush } fsyncs it. */
  writeFileSync(path: PathOrFd, data: FileData, options?: WriteFileOptions | BufferEncoding | null): void {
    const o = getOptions(options, { encoding: "utf8", mode: 0o666, flag: "w", flush: false }) as WriteFileOptions;
    const flush = o.flush ?? false;
    validateBoolean(flush, "options.flush");
    const flag = o.flag || "w";
    let bytes: Uint8Array;
    if (isArrayBufferView(data)) bytes = toU8(data);
    else {
      validateStringAfterArrayBufferView(data, "data");
      bytes = Buffer.from(data, o.encoding || "utf8");
    }
    const isUserFd = isInt32(path);
    const fd = isUserFd ? path : this.openSync(path, flag, o.mode ?? 0o666);
    try {
      let offset = 0;
      while (offset < bytes.length) offset += this.writeSync(fd, bytes, offset, bytes.length - offset);
      if (flush) this.fsyncSync(fd);
    } finally {
      if (!isUserFd) this.closeSync(fd);
    }
  }

  /** Appends to a file (flag 'a'; forced to 'a' for an fd). */
  appendFileSync(path: PathOrFd, data: FileData, options?: WriteFileOptions | BufferEncoding | null): void {
    const o = { ...getOptions(options, { encoding: "utf8", mode: 0o666, flag: "a" }) } as WriteFileOptions;
    if (!o.flag || isInt32(path)) o.flag = "a";
    this.writeFileSync(path, data, o);
  }

  /**
   * Copies a regular file as libuv's uv_fs_copyfile does: open src, open/create dest with
   * src's mode, truncate it (unless COPYFILE_EXCL), chmod it to src's mode, copy the bytes;
   * on failure after dest was opened, dest is unlinked. Copying a file onto itself (same
   * inode) does nothing.
   */
  copyFileSync(src: PathLike, dest: PathLike, mode?: number | null): void {
    const qa = callerPath(getValidatedPath(src, "src"));
    const qb = callerPath(getValidatedPath(dest, "dest"));
    const a = showPath(qa), b = showPath(qb);
    validateMode(mode);
    this.check(this.copyFile(this.resolvePath(qa), this.resolvePath(qb), mode ?? 0), "copyfile", a, b);
  }

  private copyFile(src: SysPath, dest: SysPath, mode: number): number {
    if (src.length === 0 || dest.length === 0) return -ENOENT;
    const sys = this.sys;
    const srcFd = sys.open(src, O_RDONLY, 0);
    if (srcFd < 0) return srcFd;
    let destFd = -1;
    let err = 0;
    try {
      const st = sys.fstat(srcFd);
      if (typeof st === "number") return (err = st);
      const excl = (mode & constants.COPYFILE_EXCL) !== 0;
      destFd = sys.open(dest, O_WRONLY | O_CREAT | (excl ? O_EXCL : 0), st.mode & 0o7777 & ~this.umask);
      if (destFd < 0) return (err = destFd);
      if (!excl) {
        const dst = sys.fstat(destFd);
        if (typeof dst === "number") return (err = dst);
        if (dst.dev === st.dev && dst.ino === st.ino) return 0; // same file: nothing to do
        const t = sys.ftruncate(destFd, 0);
        if (t < 0) return (err = t);
      }
      const c = sys.chmod(dest, st.mode & 0o7777);
      if (c < 0) return (err = c);
      if ((mode & constants.COPYFILE_FICLONE_FORCE) !== 0) return (err = -EOPNOTSUPP); // no reflinks
      if ((st.mode & S_IFMT) === S_IFDIR) return (err = -EISDIR); // sendfile(2) from a directory
      return (err = this.copyBytes(srcFd, destFd, st.size));
    } finally {
      sys.close(srcFd);
      if (destFd >= 0) {
        sys.close(destFd);
        if (err < 0) sys.unlink(dest);
      }
    }
  }

  /** Copies `size` bytes from srcFd (pread from 0) to destFd (its position); 0 or -errno. */
  private copyBytes(srcFd: number, destFd: number, size: number): number {
    const chunk = new Uint8Array(Math.min(Math.max(size, 1), IO_CHUNK_MAX));
    let pos = 0;
    while (pos < size) {
      const n = this.sys.read(srcFd, chunk, 0, Math.min(chunk.length, size - pos), pos);
      if (n < 0) return n;
      if (n === 0) break; // the source shrank: copy what there was
      for (let w = 0; w < n;) {
        const r = this.sys.write(destFd, chunk, w, n - w, null);
        if (r < 0) return r;
        if (r === 0) return -EIO;
        w += r;
      }
      pos += n;
    }
    return 0;
  }
}

/** The mode check of Node's C++ access/copyFile bindings (their own messages). */
function validateMode(mode: unknown): void {
  if (mode == null) return;
  if (!isInt32(mode)) throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE", "mode must be int32 or null/undefined");
  if (mode < 0 || mode > 7) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", "mode is out of range: >= 0 && <= 7");
}

function validateRmdirOptions(options: unknown, defaults: Options = DEFAULT_RMDIR_OPTIONS): Options {
  if (options === undefined) return defaults;
  validateObject(options, "options");
  const o = { ...defaults, ...(options as Options) };
  validateBoolean(o.recursive, "options.recursive");
  validateInt32(o.retryDelay, "options.retryDelay", 0);
  validateUint32(o.maxRetries, "options.maxRetries");
  return o;
}

/**
 * A name in the requested encoding: a string (utf8 / default; lossy for bytes that are not
 * UTF-8, as Node), a Buffer of its exact bytes ('buffer'), or its bytes re-encoded.
 */
function encodeName(name: SysName, encoding: unknown): string & Buffer {
  if (encoding === "buffer") return (typeof name === "string" ? Buffer.from(name, "utf8") : Buffer.from(name)) as string & Buffer;
  if (!encoding || encoding === "utf8" || encoding === "utf-8") return showPath(name) as string & Buffer;
  const b = typeof name === "string" ? Buffer.from(name, "utf8") : Buffer.from(name.buffer, name.byteOffset, name.length);
  return b.toString(encoding as BufferEncoding) as string & Buffer;
}

/** `dir`'s child `name` as Node builds it (path.join for strings), in bytes when either is bytes. */
function childPath(dir: SysPath, name: SysName): SysPath {
  if (typeof dir === "string" && typeof name === "string") return joinPath(dir, name);
  const d = nameBytes(dir);
  return joinSys(d.length > 1 && d[d.length - 1] === 47 ? d.subarray(0, d.length - 1) : d, name);
}

/**
 * Sorts items by their names in byte order (libuv's scandir uses strcmp). Strings sort with
 * the built-in comparison where UTF-16 order equals UTF-8 byte order (no surrogates or
 * U+E000..U+FFFF); names that are bytes compare as bytes.
 */
function sortNames<T>(items: T[], nameOf: (t: T) => SysName): T[] {
  let plain = true, bytes = false;
  for (const it of items) {
    const n = nameOf(it);
    if (typeof n !== "string") bytes = true;
    else if (NON_BMP_ORDER.test(n)) plain = false;
  }
  if (bytes) return items.sort((a, b) => compareNameBytes(nameOf(a), nameOf(b)));
  if (!plain) return items.sort((a, b) => compareUtf8(nameOf(a) as string, nameOf(b) as string));
  return items.sort((a, b) => {
    const x = nameOf(a) as string, y = nameOf(b) as string;
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

// ---- promises ------------------------------------------------------------------------------

/** Rejects like Node when a FileHandle is used after close. */
function closedHandle(syscall: string): FsError {
  const err = new Error("file closed") as FsError;
  err.code = "EBADF";
  err.syscall = syscall;
  return err;
}

/** Node's fs.promises FileHandle over a HelixFs fd. */
export class FileHandle {
  #fs: HelixFs;
  #fd: number;

  /** Wraps an open fd (use HelixFs.promises.open). */
  constructor(fs: HelixFs, fd: number) {
    this.#fs = fs;
    this.#fd = fd;
  }

  /** The fd, or -1 after close. */
  get fd(): number { return this.#fd; }

  private live(syscall: string): number {
    if (this.#fd === -1) throw closedHandle(syscall);
    return this.#fd;
  }

  /** Reads into `buffer` (default a fresh 16 KiB Buffer); position null/undefined = current. */
  async read(buffer?: ArrayBufferView | { buffer?: ArrayBufferView; offset?: number; length?: number; position?: number | null } | null,
    offset?: number | { offset?: number; length?: number; position?: number | null } | null, length?: number | null,
    position?: number | bigint | null): Promise<{ bytesRead: number; buffer: ArrayBufferView }> {
    const fd = this.live("read");
    let buf = buffer as ArrayBufferView | undefined;
    let off: unknown = offset;
    let len: unknown = length;
    let pos: unknown = position;
    if (!isArrayBufferView(buf)) {
      if (buffer !== undefined) validateObject(buffer, "options", true);
      const o = (buffer ?? {}) as { buffer?: ArrayBufferView; offset?: number; length?: number; position?: number | null };
      buf = o.buffer ?? Buffer.alloc(16384);
      off = o.offset ?? 0;
      len = o.length ?? buf.byteLength - (off as number);
      pos = o.position ?? null;
      validateBuffer(buf);
    }
    if (off !== null && typeof off === "object") {
      const o = off as { offset?: number; length?: number; position?: number | null };
      off = o.offset ?? 0;
      len = o.length ?? buf.byteLength - (off as number);
      pos = o.position ?? null;
    }
    if (off == null) off = 0;
    else validateInteger(off, "offset", 0);
    len ??= buf.byteLength - (off as number);
    if (len === 0) return { bytesRead: 0, buffer: buf };
    if (buf.byteLength === 0) throw invalidArgValue("buffer", buf, "is empty and cannot be written");
    validateOffsetLengthRead(off as number, len as number, buf.byteLength);
    if (!Number.isSafeInteger(pos)) pos = -1;
    const bytesRead = this.#fs.readSync(fd, buf, off as number, len as number, pos as number);
    return { bytesRead, buffer: buf };
  }

  /** Writes a buffer (offset, length, position) or a string (position, encoding). */
  async write(buffer: ArrayBufferView | string, offset?: number | { offset?: number; length?: number; position?: number | null } | null,
    length?: number | BufferEncoding | null, position?: number | null): Promise<{ bytesWritten: number; buffer: ArrayBufferView | string }> {
    const fd = this.live("write");
    if ((buffer as ArrayBufferView | undefined)?.byteLength === 0) return { bytesWritten: 0, buffer };
    const bytesWritten = this.#fs.writeSync(fd, buffer, offset, length as number, position);
    return { bytesWritten, buffer };
  }

  /** fstat. */
  async stat(options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    return this.#fs.fstatSync(this.live("fstat"), (options ?? { bigint: false }) as { bigint: true });
  }

  /** ftruncate (default length 0). */
  async truncate(len = 0): Promise<void> { this.#fs.ftruncateSync(this.live("ftruncate"), len); }
  /** fchmod. */
  async chmod(mode: number | string): Promise<void> { this.#fs.fchmodSync(this.live("fchmod"), mode); }
  /** fchown (-1 leaves an id). */
  async chown(uid: number, gid: number): Promise<void> { this.#fs.fchownSync(this.live("fchown"), uid, gid); }
  /** futimens. */
  async utimes(atime: TimeLike, mtime: TimeLike): Promise<void> { this.#fs.futimesSync(this.live("futime"), atime, mtime); }
  /** fsync. */
  async sync(): Promise<void> { this.#fs.fsyncSync(this.live("fsync")); }
  /** fdatasync. */
  async datasync(): Promise<void> { this.#fs.fdatasyncSync(this.live("fdatasync")); }

  /** Reads from the current position to EOF. */
  async readFile(options?: ReadFileOptions | Encoding | null): Promise<string | Buffer> {
    return this.#fs.readFileSync(this.live("read"), options);
  }

  /** Writes `data` at the current position. */
  async writeFile(data: FileData, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    this.#fs.writeFileSync(this.live("write"), data, options);
  }

  /** Appends `data` (at the current position, like Node's FileHandle.appendFile). */
  async appendFile(data: FileData, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    this.#fs.writeFileSync(this.live("write"), data, options);
  }

  /** Closes the fd; closing twice is a no-op. */
  async close(): Promise<void> {
    if (this.#fd === -1) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#fs.closeSync(fd);
  }

  async [Symbol.asyncDispose](): Promise<void> { return this.close(); }
}

/** Node's fs.promises over a HelixFs: every function resolves or rejects like its sync twin. */
export class HelixFsPromises {
  readonly constants = constants;
  #fs: HelixFs;

  /** Use HelixFs.promises. */
  constructor(fs: HelixFs) { this.#fs = fs; }

  /** Opens a file and returns a FileHandle. */
  async open(path: PathLike, flags?: string | number | null, mode?: number | string | null): Promise<FileHandle> {
    return new FileHandle(this.#fs, this.#fs.openSync(path, flags, mode));
  }
  async readFile(path: PathLike | FileHandle, options?: ReadFileOptions | Encoding | null): Promise<string | Buffer> {
    if (path instanceof FileHandle) return path.readFile(options);
    return this.#fs.readFileSync(getValidatedPath(path) as PathLike, options);
  }
  async writeFile(path: PathLike | FileHandle, data: FileData, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    if (path instanceof FileHandle) return path.writeFile(data, options);
    this.#fs.writeFileSync(getValidatedPath(path) as PathLike, data, options);
  }
  async appendFile(path: PathLike | FileHandle, data: FileData, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    if (path instanceof FileHandle) return path.appendFile(data, options);
    this.#fs.appendFileSync(getValidatedPath(path) as PathLike, data, options);
  }
  async stat(path: PathLike, options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    return this.#fs.statSync(path, { bigint: options?.bigint ?? false, throwIfNoEntry: true }) as Stats | BigIntStats;
  }
  async lstat(path: PathLike, options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    return this.#fs.lstatSync(path, { bigint: options?.bigint ?? false, throwIfNoEntry: true }) as Stats | BigIntStats;
  }
  async statfs(path: PathLike, options?: { bigint?: boolean }): Promise<StatFs<number> | StatFs<bigint>> {
    return this.#fs.statfsSync(path, (options ?? { bigint: false }) as { bigint: true });
  }
  async readdir(path: PathLike, options?: ReaddirOptions | Encoding | null): Promise<string[] | Buffer[] | Dirent<string | Buffer>[]> {
    return this.#fs.readdirSync(path, options);
  }
  async mkdir(path: PathLike, options?: MkdirOptions | number | string | null): Promise<string | undefined> {
    return this.#fs.mkdirSync(path, options);
  }
  async rmdir(path: PathLike, options?: RmOptions): Promise<void> { this.#fs.rmdirSync(path, options); }
  async rm(path: PathLike, options?: RmOptions): Promise<void> { this.#fs.rmSync(path, options); }
  async unlink(path: PathLike): Promise<void> { this.#fs.unlinkSync(path); }
  async rename(oldPath: PathLike, newPath: PathLike): Promise<void> { this.#fs.renameSync(oldPath, newPath); }
  async link(existingPath: PathLike, newPath: PathLike): Promise<void> { this.#fs.linkSync(existingPath, newPath); }
  async symlink(target: PathLike, path: PathLike, type?: string | null): Promise<void> { this.#fs.symlinkSync(target, path, type); }
  async readlink(path: PathLike, options?: { encoding?: Encoding | null } | Encoding | null): Promise<string | Buffer> {
    return this.#fs.readlinkSync(path, options);
  }
  /** HelixFS extensions (no Node equivalent): see the *Sync versions. */
  async mknod(path: PathLike, mode: number, rdev = 0): Promise<void> { this.#fs.mknodSync(path, mode, rdev); }
  async mkfifo(path: PathLike, mode = 0o666): Promise<void> { this.#fs.mkfifoSync(path, mode); }
  async setxattr(path: PathLike, name: string, value: Uint8Array | string, flags = 0, options?: { noFollow?: boolean }): Promise<void> {
    this.#fs.setxattrSync(path, name, value, flags, options);
  }
  async getxattr(path: PathLike, name: string, options?: { noFollow?: boolean }): Promise<Buffer> { return this.#fs.getxattrSync(path, name, options); }
  async listxattr(path: PathLike, options?: { noFollow?: boolean }): Promise<string[]> { return this.#fs.listxattrSync(path, options); }
  async removexattr(path: PathLike, name: string, options?: { noFollow?: boolean }): Promise<void> { this.#fs.removexattrSync(path, name, options); }
  async truncate(path: PathLike, len = 0): Promise<void> {
    const fd = this.#fs.openSync(getValidatedPath(path) as PathLike, "r+");
    try {
      this.#fs.ftruncateSync(fd, len);
    } finally {
      this.#fs.closeSync(fd);
    }
  }
  async access(path: PathLike, mode?: number): Promise<void> { this.#fs.accessSync(path, mode); }
  async chmod(path: PathLike, mode: number | string): Promise<void> { this.#fs.chmodSync(path, mode); }
  async chown(path: PathLike, uid: number, gid: number): Promise<void> { this.#fs.chownSync(path, uid, gid); }
  async utimes(path: PathLike, atime: TimeLike, mtime: TimeLike): Promise<void> { this.#fs.utimesSync(path, atime, mtime); }
  async lutimes(path: PathLike, atime: TimeLike, mtime: TimeLike): Promise<void> { this.#fs.lutimesSync(path, atime, mtime); }
  async copyFile(src: PathLike, dest: PathLike, mode?: number | null): Promise<void> { this.#fs.copyFileSync(src, dest, mode); }
}

/**
 * Creates the Node-fs-shaped API over `sys`. opts.cwd (absolute, default '/') anchors relative
 * paths; opts.umask (default 0o022) masks creation modes. Throws TypeError for a relative cwd.
 */
export function createFs(sys: Sys, opts?: CreateFsOptions): HelixFs {
  return new HelixFs(sys, opts);
}
