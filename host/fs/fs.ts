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
// Parts: sys.ts (the Sys table, Linux numbers), utils.ts (errors, validators, Stats, Dirent),
// this file (the API object); each further family of functions has its own file beside it.

export * from "./sys.js";
export * from "./utils.js";
export type { DirectoryJSON, NestedDirectoryJSON } from "./fixtures.js";
export { FSWatcher, StatWatcher } from "./watch.js";
import { type FSWatcher, type RecursiveWatcher, type StatWatcher, StatWatchers, type WatchFs, watch, watchPromise } from "./watch.js";
import { readvAll, validateBufferArray, writevAll } from "./vectored.js";
import { EventEmitter } from "events";
import { LineReader, ReadStream, type ReadStreamOptions, type StreamHost, WriteStream, type WriteStreamOptions, fileHandleWebStream, openAsBlob } from "./stream.js";
export { LineReader, ReadStream, type ReadStreamOptions, type StreamOps, WriteStream, type WriteStreamOptions } from "./stream.js";
export { Dir, type OpendirOptions } from "./dir.js";
export { type CpOptions } from "./cp.js";
import { Dir, type OpendirOptions, opendir } from "./dir.js";
import { type CpHost, type CpOptions, cpAsync, cpSync, validateCpOptions } from "./cp.js";
import { mkdtemp, realpathJs, realpathNative } from "./paths.js";
import { copyFileNow, copyFileYielding } from "./copyfile.js";

/** realpathSync with its `.native` twin, as Node's fs.realpathSync. */
export interface RealpathSync {
  (path: PathLike, options?: { encoding?: Encoding | null } | Encoding | null): string | Buffer;
  native(path: PathLike, options?: { encoding?: Encoding | null } | Encoding | null): string | Buffer;
}
import { DT_UNKNOWN, type DirentRecord, E2BIG, EACCES, EEXIST, EINVAL, EIO, ENOENT, ENOSPC, ENOSYS, ENOTDIR, EPERM, O_CREAT, O_DIRECTORY, O_RDONLY, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, type StatRecord, type Sys, type SysName, type SysPath, constants } from "./sys.js";
import * as fixtures from "./fixtures.js";
import type { DirectoryJSON, NestedDirectoryJSON } from "./fixtures.js";
import { BigIntStats, type CreateFsOptions, DEFAULT_RM_OPTIONS, Dirent, type Encoding, type FileData, type FsError, IO_CHUNK_MAX, IO_MAX_LENGTH, MAX_USER_ID, MKDIRP_STEPS_MAX, type MkdirOptions, NON_BMP_ORDER, NOT_EMPTY_CODES, type PathLike, type PathOrFd, READ_UNKNOWN_CHUNK, RETRY_CODES, type ReadFileOptions, type ReadSyncOptions, type ReaddirOptions, type RmOptions, StatFs, type StatOptions, Stats, type TimeLike, type WriteFileOptions, callerPath, compareNameBytes, compareUtf8, dirnameSys, dtFromMode, fsEisdir, getOptions, getValidatedFd, getValidatedPath, invalidArgValue, isArrayBufferView, isInt32, joinPath, joinSys, nameBytes, nodeError, parseFileMode, readPosition, relativePath, secondsToNs, showPath, stringToFlags, toU8, toUnixTimestamp, uvException, validateBoolean, validateBuffer, validateEncoding, validateInteger, validateObject, validateOffsetLengthRead, validateOffsetLengthWrite, validatePosition, validateStringAfterArrayBufferView, writePosition } from "./utils.js";
import { getValidatedFdNative, validateFileModeNative } from "./utils.js";
import { validateRmdirOptions } from "./utils.js";
import { type CallbackApi, installCallbackApi, readFileChunked, writeFileChunked, writeFileData, writeHandleData } from "./callback.js";
import { type SignalLike, checkAborted, validateAbortSignal } from "./async.js";

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
  readonly Dir = Dir;
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
    this.check(this.sys.close(getValidatedFdNative(fd)), "close");
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
    this.check(this.sys.ftruncate(getValidatedFdNative(fd), len), "ftruncate");
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
    this.check(this.sys.fsync(getValidatedFdNative(fd)), "fsync");
  }

  /** fdatasync(2): the file's data and size are durable. */
  fdatasyncSync(fd: number): void {
    this.check(this.sys.fdatasync(getValidatedFdNative(fd)), "fdatasync");
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
    return this.makeStats(this.record(this.sys.fstat(getValidatedFdNative(fd)), "fstat"), options);
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
    this.chownPath(path, uid, gid, "chown", (abs) => this.sys.chown(abs, uid, gid));
  }

  /**
   * chownSync / lchownSync after Node's checks (the path; uid and gid integers in
   * [-1, MAX_USER_ID], else ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE): `call` runs on the
   * absolute path ('' is ENOENT); a -errno throws uvException(errno, syscall, path).
   */
  private chownPath(path: PathLike, uid: number, gid: number, syscall: string, call: (abs: SysPath) => number): void {
    const q = callerPath(getValidatedPath(path));
    const s = showPath(q);
    validateInteger(uid, "uid", -1, MAX_USER_ID);
    validateInteger(gid, "gid", -1, MAX_USER_ID);
    const abs = this.resolvePath(q);
    this.check(abs.length === 0 ? -ENOENT : call(abs), syscall, s);
  }

  /** fchmod(2) on an open descriptor (Sys.fchmod; ENOSYS without it). */
  fchmodSync(fd: number, mode: number | string): void {
    const f = getValidatedFdNative(fd);
    const m = parseFileMode(mode, "mode");
    this.check(this.sys.fchmod ? this.sys.fchmod(f, m & 0o7777) : -ENOSYS, "fchmod");
  }

  /** fchown(2) on an open descriptor; -1 leaves an id unchanged (Sys.fchown; ENOSYS without it). */
  fchownSync(fd: number, uid: number, gid: number): void {
    const f = getValidatedFdNative(fd);
    validateInteger(uid, "uid", -1, MAX_USER_ID);
    validateInteger(gid, "gid", -1, MAX_USER_ID);
    this.check(this.sys.fchown ? this.sys.fchown(f, uid, gid) : -ENOSYS, "fchown");
  }

  /** futimens(2) on an open descriptor; times as utimesSync takes them (Sys.futimens; ENOSYS without it). */
  futimesSync(fd: number, atime: TimeLike, mtime: TimeLike): void {
    const f = getValidatedFdNative(fd);
    const a = secondsToNs(toUnixTimestamp(atime));
    const m = secondsToNs(toUnixTimestamp(mtime));
    if (a === null || m === null) throw uvException(-EINVAL, "futime");
    this.check(this.sys.futimens ? this.sys.futimens(f, a, m) : -ENOSYS, "futime");
  }

  /** utimensat(2) following symlinks; times are seconds (numbers or numeric strings) or Dates, kept to the microsecond. */
  utimesSync(path: PathLike, atime: TimeLike, mtime: TimeLike): void {
    this.setTimes(path, atime, mtime, false, "utime");
  }

  /** Like utimesSync, but changes a symlink itself. */
  lutimesSync(path: PathLike, atime: TimeLike, mtime: TimeLike): void {
    this.setTimes(path, atime, mtime, true, "lutime");
  }

  private setTimes(path: PathLike, atime: TimeLike, mtime: TimeLike, noFollow: boolean, syscall: string): void {
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
   * inode) does nothing. The steps are copyfile.ts's, shared with promises.cp.
   */
  copyFileSync(src: PathLike, dest: PathLike, mode?: number | null): void {
    const qa = callerPath(getValidatedPath(src, "src"));
    const qb = callerPath(getValidatedPath(dest, "dest"));
    const a = showPath(qa), b = showPath(qb);
    validateMode(mode);
    this.check(copyFileNow(this.sys, this.resolvePath(qa), this.resolvePath(qb), mode ?? 0, this.umask), "copyfile", a, b);
  }

  /**
   * copyFileSync's copy with a macrotask between IO_CHUNK_MAX chunks (fs.promises.copyFile
   * and the callback form): a large file does not hold the event loop. Arguments are checked
   * first (throws synchronously, as copyFileSync); the copy's error rejects.
   */
  copyFileAsync(src: PathLike, dest: PathLike, mode?: number | null): Promise<void> {
    const qa = callerPath(getValidatedPath(src, "src"));
    const qb = callerPath(getValidatedPath(dest, "dest"));
    const a = showPath(qa), b = showPath(qb);
    validateMode(mode);
    return copyFileYielding(this.sys, this.resolvePath(qa), this.resolvePath(qb), mode ?? 0, this.umask)
      .then((r) => { this.check(r, "copyfile", a, b); });
  }

  // ---- watch (issue 13) ----

  #statWatchers?: StatWatchers;

  /**
   * fs.watch(filename[, options][, listener]): changes to `filename` (a directory: its entries)
   * made through this kernel by anyone; `recursive` follows Node 20's emulation on Linux.
   * Throws ENOENT etc. with syscall 'watch' (recursive: stat's), and Node's TypeErrors.
   */
  watch(filename: PathLike, options?: unknown, listener?: unknown): FSWatcher | RecursiveWatcher {
    return watch(this as unknown as WatchFs, filename, options, listener);
  }
  /** fs.watchFile(filename[, options], listener): stat polling every options.interval ms (default 5007). */
  watchFile(filename: PathLike, options: unknown, listener?: unknown): StatWatcher {
    this.#statWatchers ??= new StatWatchers(this as unknown as WatchFs);
    return this.#statWatchers.watchFile(filename, options, listener);
  }
  /** fs.unwatchFile(filename[, listener]): removes `listener` (all when absent). */
  unwatchFile(filename: PathLike, listener?: unknown): void {
    this.#statWatchers?.unwatchFile(filename, listener);
  }

  // ---- readv/writev and streams (issue 13) ----

  /**
   * readv(2)/preadv(2): fills `buffers` (ArrayBufferView[]) in order; `position` a safe
   * integer >= 0 reads there, anything else at the current position (Node's rule). Returns
   * bytes read (0 at EOF). Throws ERR_INVALID_ARG_TYPE, EINVAL for an empty list, EBADF, EISDIR.
   */
  readvSync(fd: number, buffers: readonly ArrayBufferView[], position?: number | null): number {
    fd = getValidatedFd(fd);
    validateBufferArray(buffers);
    return readvAll(this.sys, fd, buffers, writePosition(position));
  }

  /**
   * writev(2)/pwritev(2): writes `buffers` in order as one write per 1 MiB (atomic like
   * Linux's writev); `position` as in readvSync. Returns bytes written (0 for an empty list).
   */
  writevSync(fd: number, buffers: readonly ArrayBufferView[], position?: number | null): number {
    fd = getValidatedFd(fd);
    validateBufferArray(buffers);
    return writevAll(this.sys, fd, buffers, writePosition(position));
  }

  /** fs.ReadStream bound to this fs (`new fs.ReadStream(path, options)`); also fs.FileReadStream. */
  readonly ReadStream: typeof ReadStream = boundStream(ReadStream, this);
  readonly FileReadStream: typeof ReadStream = this.ReadStream;
  /** fs.WriteStream bound to this fs; also fs.FileWriteStream. */
  readonly WriteStream: typeof WriteStream = boundStream(WriteStream, this);
  readonly FileWriteStream: typeof WriteStream = this.WriteStream;

  /** Node's createReadStream: a ReadStream of `path` (or options.fd); see ReadStream for options and errors. */
  createReadStream(path: PathLike | null | undefined, options?: ReadStreamOptions | BufferEncoding | null): ReadStream {
    return new this.ReadStream(path, options);
  }

  /** Node's createWriteStream: a WriteStream to `path` (or options.fd); see WriteStream. */
  createWriteStream(path: PathLike | null | undefined, options?: WriteStreamOptions | BufferEncoding | null): WriteStream {
    return new this.WriteStream(path, options);
  }

  /** Node's openAsBlob: Promise of a Blob of the file (read now); throws synchronously like Node 20 (see stream.ts). */
  openAsBlob(path: PathLike, options?: { type?: string }): Promise<Blob> {
    return openAsBlob(this as StreamHost, path, options);
  }

  // ---- path and tree functions (issue 13) ----

  /**
   * Node 20's fs.realpathSync (its JS walk: lexical resolve, then lstat/stat/readlink per
   * component; see paths.ts), and as `.native` libuv's realpath(3). Relative paths resolve
   * against the cwd; options is an encoding or { encoding } ('buffer' gives a Buffer).
   */
  readonly realpathSync: RealpathSync = Object.assign(
    (path: PathLike, options?: { encoding?: Encoding | null } | Encoding | null) => realpathJs(this, path, options),
    { native: (path: PathLike, options?: { encoding?: Encoding | null } | Encoding | null) => realpathNative(this, path, options) },
  );

  /** Node's fs.mkdtempSync: creates `prefix` + 6 random [A-Za-z0-9] with mode 0o700 and returns its path (see paths.ts). */
  mkdtempSync(prefix: PathLike, options?: { encoding?: Encoding | null } | Encoding | null): string | Buffer {
    return mkdtemp(this, prefix, options);
  }

  /** Node's fs.opendirSync: a Dir over the kernel's getdents (entries unsorted; see dir.ts). */
  opendirSync(path: PathLike, options?: OpendirOptions | Encoding | null): Dir {
    return opendir(this, path, options);
  }

  /** Node's fs.cpSync: copies a file, symlink or (recursive) tree with Node 20's semantics (see cp.ts). */
  cpSync(src: PathLike | string, dest: PathLike | string, options?: CpOptions): void {
    const o = validateCpOptions(options);
    const a = getValidatedPath(src, "src") as string;
    const b = getValidatedPath(dest, "dest") as string;
    cpSync(this as unknown as CpHost, a, b, o);
  }

  /** lchown(2): chown of a symlink itself; -1 leaves an id (Sys.lchown; ENOSYS without it). */
  lchownSync(path: PathLike, uid: number, gid: number): void {
    this.chownPath(path, uid, gid, "lchown", (abs) => (this.sys.lchown ? this.sys.lchown(abs, uid, gid) : -ENOSYS));
  }

  // ---- fixtures (issue 13) ----

  /**
   * memfs's vol.fromJSON(json, cwd): writes { path: text | bytes | null (a directory) },
   * creating parents; relative keys join `cwd` (default this.cwd). See fixtures.ts fromJSON.
   */
  fromJSON(json: DirectoryJSON, cwd?: string): void { fixtures.fromJSON(this, json, cwd); }
  /** memfs's vol.fromNestedJSON(json, cwd): { dir: { name: content } } form. See fixtures.ts. */
  fromNestedJSON(json: NestedDirectoryJSON, cwd?: string): void { fixtures.fromNestedJSON(this, json, cwd); }
  /**
   * memfs's vol.toJSON(paths?, json?, isRelative?, asBuffer?): regular files and directories
   * (empty ones as null) under `paths` (default "/"); symlinks and special files are omitted.
   * See fixtures.ts toJSON.
   */
  toJSON(paths?: string | string[], json?: DirectoryJSON, isRelative?: boolean, asBuffer?: boolean): DirectoryJSON {
    return fixtures.toJSON(this, paths, json, isRelative, asBuffer);
  }

  // ---- callback API and Node's aliases (issue 13) ----
  /** Installs the callback API (fs.x(..., cb)), F_OK..X_OK, _toUnixTimestamp, FileReadStream/FileWriteStream: callback.ts. */
  readonly #callbackApi = installCallbackApi(this);
}

/** The callback API's functions and aliases, installed per instance by installCallbackApi (callback.ts). */
// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-unsafe-declaration-merging
export interface HelixFs extends CallbackApi {}

/** The mode check of Node's C++ access/copyFile bindings (their own messages). */
function validateMode(mode: unknown): void {
  validateFileModeNative(mode);
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

/** getAsyncId values: HelixFS has no async_hooks, so each FileHandle gets the next number. */
let nextAsyncId = 1;

/**
 * Node's fs.promises FileHandle over a HelixFs fd. An EventEmitter like Node's: emits 'close'
 * when close() is called. A readFile/writeFile/appendFile in progress holds a reference: a
 * close() meanwhile emits 'close' at once but closes the fd (and settles) when it ends.
 */
export class FileHandle extends EventEmitter {
  #fs: HelixFs;
  #fd: number;
  #refs = 1;
  #asyncId = nextAsyncId++;
  #closePromise: Promise<void> | undefined;
  #closeSettle: ((err?: unknown) => void) | undefined;

  /** Wraps an open fd (use HelixFs.promises.open). */
  constructor(fs: HelixFs, fd: number) {
    super();
    this.#fs = fs;
    this.#fd = fd;
  }

  /** The fd, or -1 after close. */
  get fd(): number { return this.#fd; }

  /** A number unique to this handle (Node: the async_hooks id of its FileHandle). */
  getAsyncId(): number { return this.#asyncId; }

  private live(syscall: string): number {
    if (this.#fd === -1) throw closedHandle(syscall);
    return this.#fd;
  }

  /** Node's fsCall: rejects EBADF 'file closed' (syscall `syscall`) after close; holds a reference while `fn` runs. */
  async #call<T>(syscall: string, fn: (fd: number) => Promise<T>): Promise<T> {
    const fd = this.live(syscall);
    this.#refs++;
    try {
      return await fn(fd);
    } finally {
      this.#unref();
    }
  }

  #unref(): void {
    if (--this.#refs !== 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    const settle = this.#closeSettle;
    this.#closeSettle = undefined;
    try {
      this.#fs.closeSync(fd);
      settle?.();
    } catch (err) {
      settle?.(err ?? new Error("close failed"));
    }
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

  /**
   * Reads from the current position to EOF (Node's readFile(handle, options)): chunks of at
   * most IO_CHUNK_MAX with a macrotask between them; options.signal aborts (AbortError).
   */
  readFile(options?: ReadFileOptions & { signal?: SignalLike } | Encoding | null): Promise<string | Buffer> {
    return this.#call("readFile", (fd) => {
      const o = getOptions(options, { flag: "r" }) as ReadFileOptions & { signal?: SignalLike };
      return readFileChunked(this.#fs, fd, 0, o.encoding, o.signal);
    });
  }

  /** Writes `data` (a string, an ArrayBufferView or an (async) iterable of them) at the current position, in chunks; honours options.signal. */
  writeFile(data: FileData | Iterable<unknown> | AsyncIterable<unknown>, options?: WriteFileOptions & { signal?: SignalLike } | BufferEncoding | null): Promise<void> {
    return this.#call("writeFile", (fd) => writeHandleData(this.#fs, fd, data, options));
  }

  /** Like writeFile (Node's FileHandle.appendFile writes at the current position too). */
  appendFile(data: FileData | Iterable<unknown> | AsyncIterable<unknown>, options?: WriteFileOptions & { signal?: SignalLike } | BufferEncoding | null): Promise<void> {
    return this.#call("writeFile", (fd) => writeHandleData(this.#fs, fd, data, options));
  }

  /**
   * Closes the fd and emits 'close'; closing again resolves at once. While a readFile/
   * writeFile holds the handle, the fd closes (and the promise settles) when that call ends.
   */
  close(): Promise<void> {
    if (this.#fd === -1) return Promise.resolve();
    if (this.#closePromise) return this.#closePromise;
    if (--this.#refs === 0) {
      const fd = this.#fd;
      this.#fd = -1;
      try {
        this.#fs.closeSync(fd);
        this.#closePromise = Promise.resolve();
      } catch (err) {
        this.#closePromise = Promise.reject(err);
      }
    } else {
      this.#closePromise = new Promise<void>((resolve, reject) => {
        this.#closeSettle = (err?: unknown) => (err === undefined ? resolve() : reject(err));
      });
    }
    const p = this.#closePromise;
    p.then(() => { this.#closePromise = undefined; }, () => { this.#closePromise = undefined; });
    this.emit("close");
    return p;
  }

  async [Symbol.asyncDispose](): Promise<void> { return this.close(); }

  // ---- readv/writev and streams (issue 13) ----

  /** readv into `buffers` at `position` (see HelixFs.readvSync): { bytesRead, buffers }. */
  async readv(buffers: readonly ArrayBufferView[], position?: number | null): Promise<{ bytesRead: number; buffers: readonly ArrayBufferView[] }> {
    const fd = this.live("readv");
    validateBufferArray(buffers);
    return { bytesRead: readvAll(this.#fs.sys, fd, buffers, writePosition(position)), buffers };
  }

  /** writev of `buffers` at `position` (see HelixFs.writevSync): { bytesWritten, buffers }. */
  async writev(buffers: readonly ArrayBufferView[], position?: number | null): Promise<{ bytesWritten: number; buffers: readonly ArrayBufferView[] }> {
    const fd = this.live("writev");
    validateBufferArray(buffers);
    return { bytesWritten: writevAll(this.#fs.sys, fd, buffers, writePosition(position)), buffers };
  }

  /** A ReadStream on this handle (options as createReadStream's, without fd and fs); closing either closes both. */
  createReadStream(options?: Omit<ReadStreamOptions, "fd" | "fs">): ReadStream {
    return new ReadStream(undefined, { ...options, fd: this });
  }

  /** A WriteStream on this handle (options as createWriteStream's, without fd and fs). */
  createWriteStream(options?: Omit<WriteStreamOptions, "fd" | "fs">): WriteStream {
    return new WriteStream(undefined, { ...options, fd: this });
  }

  /** A web ReadableStream of the file from the current position (see fileHandleWebStream); locks the handle. */
  readableWebStream(options?: { type?: string }): ReadableStream<Uint8Array> {
    return fileHandleWebStream(this, options);
  }

  /**
   * The file's lines (Node: a readline.Interface with crlfDelay Infinity over
   * createReadStream(options)); here a LineReader with the same async iterator and events.
   */
  readLines(options?: Omit<ReadStreamOptions, "fd" | "fs">): LineReader {
    return new LineReader(this.createReadStream(options));
  }
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
  /**
   * Reads a whole file (path or FileHandle) in chunks of at most IO_CHUNK_MAX bytes with a
   * macrotask between them; options.signal aborts before the open and between chunks
   * (AbortError, code 'ABORT_ERR'). Rejects like readFileSync otherwise.
   */
  async readFile(path: PathLike | FileHandle, options?: ReadFileOptions & { signal?: SignalLike } | Encoding | null): Promise<string | Buffer> {
    const o = getOptions(options, { flag: "r" }) as ReadFileOptions & { signal?: SignalLike };
    if (path instanceof FileHandle) return path.readFile(o);
    checkAborted(o.signal);
    const p = getValidatedPath(path) as PathLike;
    const fd = this.#fs.openSync(p, o.flag || "r", 0o666);
    return readFileChunked(this.#fs, fd, 0, o.encoding, o.signal).finally(() => this.#fs.closeSync(fd));
  }
  /**
   * Writes a whole file (path or FileHandle): a string, an ArrayBufferView, or an (async)
   * iterable of them; in chunks with a macrotask between them; options.signal aborts
   * (AbortError) before the open and between chunks; { flush } fsyncs.
   */
  async writeFile(path: PathLike | FileHandle, data: FileData | Iterable<unknown> | AsyncIterable<unknown>, options?: WriteFileOptions & { signal?: SignalLike } | BufferEncoding | null): Promise<void> {
    const o = getOptions(options, { encoding: "utf8", mode: 0o666, flag: "w", flush: false }) as WriteFileOptions & { signal?: SignalLike };
    const flag = o.flag || "w";
    const flush = o.flush ?? false;
    validateBoolean(flush, "options.flush");
    const bytes = writeFileData(data, o.encoding);
    validateAbortSignal(o.signal, "options.signal");
    if (path instanceof FileHandle) return path.writeFile(bytes, o);
    checkAborted(o.signal);
    return writeFileChunked(this.#fs, getValidatedPath(path), bytes, flag, o.mode, flush, o.signal, o.encoding);
  }
  /** writeFile with flag 'a' by default (Node's promises.appendFile). */
  async appendFile(path: PathLike | FileHandle, data: FileData | Iterable<unknown> | AsyncIterable<unknown>, options?: WriteFileOptions & { signal?: SignalLike } | BufferEncoding | null): Promise<void> {
    const o = { ...getOptions(options, { encoding: "utf8", mode: 0o666, flag: "a" }) } as WriteFileOptions;
    o.flag = o.flag || "a";
    return this.writeFile(path, data, o);
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
  /** Node's fs.promises.mkdir: the async MKDirpAsync rules for `recursive` (as the callback form; errors name the failing step). */
  mkdir(path: PathLike, options?: MkdirOptions | number | string | null): Promise<string | undefined> {
    return new Promise((resolve, reject) => this.#fs.mkdir(path, options, (err: Error | null, first?: string) => (err ? reject(err) : resolve(first))));
  }
  async rmdir(path: PathLike, options?: RmOptions): Promise<void> { this.#fs.rmdirSync(path, options); }
  /** Node's fs.promises.rm: lstat first, as Node's async validateRmOptions (as the callback form). */
  rm(path: PathLike, options?: RmOptions): Promise<void> {
    return new Promise((resolve, reject) => this.#fs.rm(path, options, (err: Error | null) => (err ? reject(err) : resolve())));
  }
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
  /** Node's fs.promises.copyFile: uv_fs_copyfile's steps, yielding to the event loop between 1 MiB chunks. */
  async copyFile(src: PathLike, dest: PathLike, mode?: number | null): Promise<void> { return this.#fs.copyFileAsync(src, dest, mode); }

  // ---- watch (issue 13) ----

  /** fs.promises.watch(filename[, options]): an async iterator of { eventType, filename }; `signal` ends it with AbortError. */
  watch(filename: PathLike, options?: unknown): AsyncGenerator<{ eventType: "rename" | "change"; filename: string | Buffer | null }> {
    return watchPromise(this.#fs as unknown as WatchFs, filename, options);
  }

  // ---- path and tree functions (issue 13) ----

  /** Node's fs.promises.realpath: libuv's realpath(3) (= realpathSync.native). */
  async realpath(path: PathLike, options?: { encoding?: Encoding | null } | Encoding | null): Promise<string | Buffer> {
    return this.#fs.realpathSync.native(path, options);
  }
  /** Node's fs.promises.mkdtemp. */
  async mkdtemp(prefix: PathLike, options?: { encoding?: Encoding | null } | Encoding | null): Promise<string | Buffer> {
    return mkdtemp(this.#fs, prefix, options, true);
  }
  /** Node's fs.promises.opendir (a Dir; see dir.ts). */
  async opendir(path: PathLike, options?: OpendirOptions | Encoding | null): Promise<Dir> { return opendir(this.#fs, path, options, true); }
  /** Node's fs.promises.cp: yields to the event loop between entries and 1 MiB chunks (see cp.ts). */
  async cp(src: PathLike, dest: PathLike, options?: CpOptions): Promise<void> {
    const o = validateCpOptions(options);
    const a = getValidatedPath(src, "src") as string;
    const b = getValidatedPath(dest, "dest") as string;
    return cpAsync(this.#fs as unknown as CpHost, a, b, o);
  }
  /** Node's fs.promises.lchown. */
  async lchown(path: PathLike, uid: number, gid: number): Promise<void> { this.#fs.lchownSync(path, uid, gid); }

  // ---- callback API and Node's aliases (issue 13) ----
  /** Node on Linux has no lchmod: rejects with Error ERR_METHOD_NOT_IMPLEMENTED, as Node's does. */
  async lchmod(_path: PathLike, _mode: number | string): Promise<void> {
    throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", "The lchmod() method is not implemented");
  }
}

/**
 * Creates the Node-fs-shaped API over `sys`. opts.cwd (absolute, default '/') anchors relative
 * paths; opts.umask (default 0o022) masks creation modes. Throws TypeError for a relative cwd.
 */
export function createFs(sys: Sys, opts?: CreateFsOptions): HelixFs {
  return new HelixFs(sys, opts);
}


/**
 * `Base` with `host` as the HelixFs its default file operations use (fs.ReadStream,
 * fs.WriteStream): a function like Base, so `new`, a plain call and `Bound.apply(this, args)`
 * on an object made from Bound.prototype (the legacy subclassing graceful-fs does) all work.
 */
function boundStream<T extends typeof ReadStream | typeof WriteStream>(Base: T, host: HelixFs): T {
  const B = Base as unknown as (this: object, path: unknown, options: unknown, host: StreamHost) => object | void;
  function Bound(this: object | undefined, path?: unknown, options?: unknown): object {
    if (!(this instanceof Bound)) return new (Bound as unknown as new (p: unknown, o: unknown) => object)(path, options);
    B.call(this, path, options, host as StreamHost);
    return this;
  }
  Bound.prototype = Base.prototype;
  Object.setPrototypeOf(Bound, Base);
  Object.defineProperty(Bound, "name", { value: Base.name });
  return Bound as unknown as T;
}
