// host/fs/callback.ts -- Node's callback API (`fs.x(..., cb)`) over HelixFs's synchronous
// functions.
//
// Layer: host/fs, beside fs.ts (which installs it on every HelixFs). Imports sys.ts, utils.ts,
// async.ts, and the argument validators of vectored.ts and cp.ts; works on CallbackHost, a
// structural view of HelixFs (its sync twins by name, realpathSync.native, promises.mkdtemp,
// promises.opendir, promises.cp) that the type checker holds HelixFs to.
// Interface: installCallbackApi(fs) defines, as own enumerable properties of `fs`, the 43
// functions of CallbackApi (access ... writev, exists, realpath.native), Node's aliases
// (F_OK, R_OK, W_OK, X_OK, _toUnixTimestamp) and the FileReadStream/FileWriteStream accessors.
// Rules (Node 20's lib/fs.js, function by function):
//  - argument errors (TypeError/RangeError ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE,
//    ERR_OUT_OF_RANGE, ERR_FS_INVALID_SYMLINK_TYPE, ...) are THROWN synchronously, checked in
//    Node's order (e.g. rename checks "cb" before the paths, chmod checks the path and mode
//    first: which error a call with two bad arguments throws is the same as Node's);
//  - everything else (the syscall's errno as uvException, ERR_FS_FILE_TOO_LARGE, AbortError
//    during a read) goes to the callback, ALWAYS in a later macrotask (defer), never before the
//    call returns -- except where Node itself calls back synchronously: exists() of an invalid
//    path, readFile/writeFile with an already-aborted signal, readdir with recursive: true;
//  - callback argument lists are Node's: (err) on failure and (null) for no result, (null, v)
//    with one; read/write/readv/writev always (err, bytes, buffer(s)); exists (bool);
//  - the work itself is the synchronous twin run in that later macrotask, so results and
//    errors equal the sync API's -- except where Node's async code differs from its sync twin:
//    mkdir recursive (MKDirpAsync), rm (lstat first), and mkdtemp/opendir/cp, which run their
//    promises versions (error paths; cp's async filter); readFile/writeFile/appendFile run the chunked loops of
//    async.ts (at most IO_CHUNK_MAX bytes per step, a macrotask between steps, `signal`
//    checked between steps) so a large file does not block the event loop;
//  - a callback that throws is not caught here: it surfaces as an uncaught exception, as in Node.
// No Node imports: runs in a browser.

import { EACCES, EEXIST, ENOENT, ENOSPC, ENOTDIR, EPERM, constants } from "./sys.js";
import { DEFAULT_RMDIR_OPTIONS, DEFAULT_RM_OPTIONS, MAX_USER_ID, MKDIRP_STEPS_MAX, getValidatedFdNative, uvException, validateFileModeNative, type Options, getOptions, getValidatedFd, getValidatedPath, invalidArgValue, isArrayBufferView, isInt32, isURL, fileURLToPath, nodeError, parseFileMode, stringToFlags, toU8, toUnixTimestamp, validateBoolean, validateBuffer, validateEncoding, validateInteger, validateObject, validateOffsetLengthRead, validateOffsetLengthWrite, validatePosition, validateStringAfterArrayBufferView, } from "./utils.js";
import { validateRmdirOptions } from "./utils.js";
import { validateBufferArray } from "./vectored.js";
import { validateCpOptions } from "./cp.js";
import { type ChunkFs, type SignalLike, AbortError, checkAborted, defer, isCustomIterable, readWholeFd, validateAbortSignal, validateFunction, writeIterableFd, writeWholeFd } from "./async.js";

// ---- the host ------------------------------------------------------------------------------

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => any;
/** A Node-style callback. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Callback = (...args: any[]) => void;

/** The synchronous HelixFs methods the callbacks run, by name. */
type SyncName =
  | "accessSync" | "chmodSync" | "chownSync" | "copyFileSync" | "fchmodSync" | "fchownSync" | "fdatasyncSync"
  | "fstatSync" | "fsyncSync" | "ftruncateSync" | "futimesSync" | "lchownSync" | "linkSync" | "lstatSync"
  | "lutimesSync" | "mkdirSync" | "readdirSync" | "readlinkSync" | "readvSync" | "renameSync"
  | "rmSync" | "rmdirSync" | "statSync" | "statfsSync" | "symlinkSync" | "truncateSync" | "unlinkSync"
  | "utimesSync" | "writeSync" | "writevSync";

/** The fs.promises functions the callbacks settle from (where Node's async form differs from the sync one). */
type PromisedName = "cp" | "mkdtemp" | "opendir";

/**
 * What the callback API needs of a HelixFs: its synchronous methods (by name: SyncName),
 * realpathSync with its `.native`, and three fs.promises functions. HelixFs is checked against
 * this type where it installs the API, so every twin a callback runs exists.
 */
export type CallbackHost = ChunkFs & Readonly<Record<SyncName, Fn>> & {
  openSync(path: unknown, flags?: unknown, mode?: unknown): number;
  closeSync(fd: number): void;
  copyFileAsync(src: unknown, dest: unknown, mode?: number): Promise<void>;
  readonly realpathSync: Fn & { readonly native: Fn };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly promises: Readonly<Record<PromisedName, (...args: any[]) => Promise<unknown>>>;
};

// ---- delivery ------------------------------------------------------------------------------

/** Node's makeCallback: the callback, or TypeError ERR_INVALID_ARG_TYPE 'The "cb" argument ...'. */
function makeCallback(cb: unknown): Callback {
  validateFunction(cb, "cb");
  return cb as Callback;
}

/**
 * Runs `work` in a later macrotask and calls `cb` with Node's argument list: (null) when the
 * result is undefined, (null, result) otherwise, (err) when `work` throws.
 * The callback runs outside the try, so an exception it throws is not reported to it again.
 */
function later(cb: Callback, work: () => unknown): void {
  defer(() => {
    let args: unknown[];
    try {
      const r = work();
      args = r === undefined ? [null] : [null, r];
    } catch (err) {
      args = [err];
    }
    cb(...args);
  });
}

/** Like later(), for the calls whose callbacks take several results: `work` returns them as a list. */
function laterList(cb: Callback, work: () => unknown[], onError: (err: unknown) => unknown[]): void {
  defer(() => {
    let args: unknown[];
    try {
      args = [null, ...work()];
    } catch (err) {
      args = onError(err);
    }
    cb(...args);
  });
}

/** Calls `cb` in a later macrotask with exactly `args`. */
function laterWith(cb: Callback, ...args: unknown[]): void {
  defer(() => cb(...args));
}

/** Settles a promise into `cb` like later(): the callback runs in its own macrotask, outside the promise chain. */
function settle(cb: Callback, p: Promise<unknown>): void {
  p.then(
    (r) => laterWith(cb, ...(r === undefined ? [null] : [null, r])),
    (err) => laterWith(cb, err),
  );
}

// ---- validators Node's C++ bindings apply (their own messages) -----------------------------

/** Node's validateRmdirOptions (+ validateBoolean(force) of validateRmOptions when `rm`). */
function validateRmArgs(options: unknown, rm: boolean): void {
  const o = validateRmdirOptions(options, rm ? DEFAULT_RM_OPTIONS : DEFAULT_RMDIR_OPTIONS);
  if (rm) validateBoolean(o.force, "options.force");
}

/** Node's stringToSymlinkType check: a string type must be 'dir', 'file' or 'junction'. */
function validateSymlinkType(type: unknown): void {
  if (typeof type === "string" && type !== "dir" && type !== "file" && type !== "junction") {
    throw nodeError(Error, "ERR_FS_INVALID_SYMLINK_TYPE", `Symlink type must be one of "dir", "file", or "junction". Received "${type}"`);
  }
}

// ---- recursive mkdir -----------------------------------------------------------------------

/** The -errno of a failed sync call (a uvException), or rethrows anything else. */
function errnoOf(err: unknown): number {
  const n = (err as { errno?: unknown }).errno;
  if (typeof n !== "number" || n >= 0) throw err;
  return n;
}

/**
 * Node's MKDirpAsync (src/node_file.cc), which differs from the MKDirpSync behind mkdirSync:
 * a stack of paths, parents pushed on ENOENT; EEXIST of a parent that stat(2) finds missing
 * or not a directory is ENOTDIR; and every error names the path of the step that failed
 * ("mkdir 'd'" for a dangling symlink d in 'd/e'), where mkdirSync names the caller's path.
 * Returns the first directory created, or undefined. Throws uvException (syscall 'mkdir').
 */
function mkdirpAsync(fs: CallbackHost, path: string, mode: unknown): string | undefined {
  const mkdir = (p: string): number => { try { fs.mkdirSync(p, { mode }); return 0; } catch (e) { return errnoOf(e); } };
  const stat = (p: string): { isDirectory(): boolean } | number => { try { return fs.statSync(p); } catch (e) { return errnoOf(e); } };
  const stack = [path];
  let first: string | undefined;
  for (let steps = 0; stack.length > 0; steps++) {
    if (steps > MKDIRP_STEPS_MAX) throw uvException(-ENOENT, "mkdir", path);
    const next = stack.pop()!;
    let err = mkdir(next);
    for (;;) {
      if (err === 0) { first ??= next; break; }
      if (err === -EACCES || err === -ENOSPC || err === -ENOTDIR || err === -EPERM) throw uvException(err, "mkdir", next);
      if (err === -ENOENT) {
        const slash = next.lastIndexOf("/");
        const dirname = slash < 0 ? next : next.slice(0, slash);
        if (dirname !== next) stack.push(next, dirname);
        else if (stack.length === 0) { err = -EEXIST; continue; }
        break;
      }
      const st = stat(next);
      if (err === -EEXIST && stack.length > 0) {
        if (typeof st !== "number" && st.isDirectory()) break; // an existing parent: go on
        throw uvException(-ENOTDIR, "mkdir", next);
      }
      if (typeof st === "number") throw uvException(st, "mkdir", next);
      if (!st.isDirectory()) throw uvException(-EEXIST, "mkdir", next);
      return first; // the whole path exists as a directory
    }
  }
  return first;
}

// ---- whole files ---------------------------------------------------------------------------

/** Closes `fd` unless the caller owns it, then rethrows `err` (Node reports the first error). */
function closeAfter(fs: CallbackHost, fd: number, isUserFd: boolean, err: unknown): never {
  if (!isUserFd) {
    try { fs.closeSync(fd); } catch { /* the read/write error is the one reported */ }
  }
  throw err;
}

/**
 * readFile's work after validation: open (unless `path` is an fd), read to EOF in chunks
 * (readWholeFd), close, decode. Rejects with open/fstat/read/close errors, AbortError,
 * ERR_FS_FILE_TOO_LARGE, or ERR_UNKNOWN_ENCODING (from Buffer.toString, as Node's 'buffer').
 */
export async function readFileChunked(fs: CallbackHost, path: unknown, flags: number, encoding: unknown, signal: SignalLike | undefined): Promise<string | Buffer> {
  const isUserFd = isInt32(path);
  const fd = isUserFd ? path : fs.openSync(path, flags, 0o666);
  let data: Buffer;
  try {
    data = await readWholeFd(fs, fd, signal);
  } catch (err) {
    closeAfter(fs, fd, isUserFd, err);
  }
  if (!isUserFd) fs.closeSync(fd);
  return encoding ? data.toString(encoding as BufferEncoding) : data;
}

/**
 * writeFile's work after validation: open (unless an fd), write all in chunks
 * (writeWholeFd; an (async) iterable item by item, promises only), fsync when `flush`, close.
 * `writeEmpty` (the callback API, Node's writeAll) writes 0 bytes once for empty data, where
 * the promises skip the write. Rejects with the first error or AbortError.
 */
export async function writeFileChunked(fs: CallbackHost, path: unknown, data: Uint8Array | Iterable<unknown> | AsyncIterable<unknown>, flag: unknown, mode: unknown, flush: boolean, signal: SignalLike | undefined, encoding?: unknown, writeEmpty = false): Promise<void> {
  const isUserFd = isInt32(path);
  checkAborted(signal);
  const fd = isUserFd ? path : fs.openSync(path, flag, mode);
  try {
    if (isCustomIterable(data)) await writeIterableFd(fs, fd, data, signal, encoding);
    else if (writeEmpty && (data as Uint8Array).length === 0) fs.writeSync(fd, data as Uint8Array, 0, 0, null); // write(2) of 0 bytes: EBADF on a bad fd
    else await writeWholeFd(fs, fd, data, signal);
    if (flush) fs.fsyncSync(fd);
  } catch (err) {
    closeAfter(fs, fd, isUserFd, err);
  }
  if (!isUserFd) fs.closeSync(fd);
}

/** Node's writeFile data check: an ArrayBufferView or (async) iterable as is, else a string in `encoding` (TypeError ERR_INVALID_ARG_TYPE otherwise). */
export function writeFileData(data: unknown, encoding: unknown): Uint8Array | Iterable<unknown> | AsyncIterable<unknown> {
  if (isArrayBufferView(data)) return toU8(data);
  if (isCustomIterable(data)) return data;
  validateStringAfterArrayBufferView(data, "data");
  return Buffer.from(data, (encoding as BufferEncoding) || "utf8");
}

/**
 * FileHandle.writeFile's work (Node's promises.writeFile(handle, ...)): options, data and
 * signal checks, then the chunked write at the fd's current position (no flush for a handle).
 */
export function writeHandleData(fs: CallbackHost, fd: number, data: unknown, options: unknown): Promise<void> {
  const o = getOptions(options, { encoding: "utf8", mode: 0o666, flag: "w", flush: false });
  validateBoolean(o.flush ?? false, "options.flush");
  const bytes = writeFileData(data, o.encoding);
  validateAbortSignal(o.signal, "options.signal");
  return writeFileChunked(fs, fd, bytes, o.flag, o.mode, false, o.signal as SignalLike | undefined, o.encoding);
}

// ---- the API -------------------------------------------------------------------------------

type P = unknown; // path-like (string | Buffer | URL)
type NoParam = (err: Error | null) => void;

/** The callback API on HelixFs (Node 20's fs.x(..., cb)); see the header for the rules. */
export interface CallbackApi {
  access(path: P, mode: number | Callback, cb?: NoParam): void;
  appendFile(path: P | number, data: unknown, options: unknown, cb?: NoParam): void;
  chmod(path: P, mode: number | string, cb: NoParam): void;
  chown(path: P, uid: number, gid: number, cb: NoParam): void;
  close(fd: number, cb?: NoParam): void;
  copyFile(src: P, dest: P, mode: number | Callback, cb?: NoParam): void;
  cp(src: P, dest: P, options: unknown, cb?: NoParam): void;
  exists(path: P, cb: (exists: boolean) => void): void;
  fchmod(fd: number, mode: number | string, cb: NoParam): void;
  fchown(fd: number, uid: number, gid: number, cb: NoParam): void;
  fdatasync(fd: number, cb: NoParam): void;
  fstat(fd: number, options: unknown, cb?: Callback): void;
  fsync(fd: number, cb: NoParam): void;
  ftruncate(fd: number, len: number | Callback, cb?: NoParam): void;
  futimes(fd: number, atime: unknown, mtime: unknown, cb: NoParam): void;
  lchown(path: P, uid: number, gid: number, cb: NoParam): void;
  link(existingPath: P, newPath: P, cb: NoParam): void;
  lstat(path: P, options: unknown, cb?: Callback): void;
  lutimes(path: P, atime: unknown, mtime: unknown, cb: NoParam): void;
  mkdir(path: P, options: unknown, cb?: Callback): void;
  mkdtemp(prefix: P, options: unknown, cb?: Callback): void;
  open(path: P, flags?: unknown, mode?: unknown, cb?: Callback): void;
  opendir(path: P, options: unknown, cb?: Callback): void;
  read(fd: number, ...rest: unknown[]): void;
  readFile(path: P | number, options: unknown, cb?: Callback): void;
  readdir(path: P, options: unknown, cb?: Callback): void;
  readlink(path: P, options: unknown, cb?: Callback): void;
  readv(fd: number, buffers: ArrayBufferView[], position: unknown, cb?: Callback): void;
  realpath: ((path: P, options: unknown, cb?: Callback) => void) & { native(path: P, options: unknown, cb?: Callback): void };
  rename(oldPath: P, newPath: P, cb: NoParam): void;
  rm(path: P, options: unknown, cb?: NoParam): void;
  rmdir(path: P, options: unknown, cb?: NoParam): void;
  stat(path: P, options: unknown, cb?: Callback): void;
  statfs(path: P, options: unknown, cb?: Callback): void;
  symlink(target: P, path: P, type?: unknown, cb?: NoParam): void;
  truncate(path: P | number, len: unknown, cb?: NoParam): void;
  unlink(path: P, cb: NoParam): void;
  utimes(path: P, atime: unknown, mtime: unknown, cb: NoParam): void;
  write(fd: number, buffer: ArrayBufferView | string, ...rest: unknown[]): void;
  writeFile(path: P | number, data: unknown, options: unknown, cb?: NoParam): void;
  writev(fd: number, buffers: ArrayBufferView[], position: unknown, cb?: Callback): void;
  /** Node's F_OK/R_OK/W_OK/X_OK aliases of constants. */
  readonly F_OK: number;
  readonly R_OK: number;
  readonly W_OK: number;
  readonly X_OK: number;
  /** Node's internal toUnixTimestamp (exported as fs._toUnixTimestamp). */
  _toUnixTimestamp(time: unknown, name?: string): number;
  /** Aliases of ReadStream/WriteStream that a caller may replace (graceful-fs does). */
  FileReadStream: unknown;
  FileWriteStream: unknown;
}

/**
 * Node's isFd test in readFile/writeFile/appendFile (isInt32: `v === (v | 0)`), kept raw: a
 * bigint path throws its TypeError ('Cannot mix BigInt and other types ...') as Node does.
 */
function isFd(v: unknown): v is number {
  return v === ((v as number) | 0);
}

/** The default close callback: rethrows the error (an uncaught exception, as in Node). */
function defaultCloseCallback(err: unknown): void {
  if (err != null) throw err;
}

/** Builds the callback functions over `fs` (closures: they work when detached, like Node's). */
function build(fs: CallbackHost): Omit<CallbackApi, "F_OK" | "R_OK" | "W_OK" | "X_OK" | "_toUnixTimestamp" | "FileReadStream" | "FileWriteStream"> {
  const sync = (name: SyncName): Fn => fs[name].bind(fs);

  function access(path: P, mode: unknown, cb?: unknown): void {
    if (typeof mode === "function") { cb = mode; mode = constants.F_OK; }
    getValidatedPath(path);
    const done = makeCallback(cb);
    validateFileModeNative(mode); // GetValidFileMode of Node's C++ binding
    later(done, () => sync("accessSync")(path, mode));
  }

  function exists(path: P, cb: unknown): void {
    validateFunction(cb, "cb");
    try {
      access(path, constants.F_OK, (err: unknown) => (cb as Callback)(!err));
    } catch {
      return (cb as Callback)(false); // synchronously, as Node
    }
  }

  function readFile(path: P | number, options: unknown, cb?: unknown): void {
    cb ||= options;
    validateFunction(cb, "cb");
    const o = getOptions(options, { flag: "r" });
    const signal = o.signal as SignalLike | undefined;
    if (!isFd(path)) {
      if (signal?.aborted) return (cb as Callback)(new AbortError(undefined, { cause: signal.reason }));
      stringToFlags(o.flag, "options.flag");
      getValidatedPath(path);
    }
    const flags = isFd(path) ? 0 : stringToFlags(o.flag, "options.flag");
    settle(cb as Callback, readFileChunked(fs, path, flags, o.encoding, signal));
  }

  function writeFile(path: P | number, data: unknown, options: unknown, cb?: unknown): void {
    cb ||= options;
    validateFunction(cb, "cb");
    const o = getOptions(options, { encoding: "utf8", mode: 0o666, flag: "w", flush: false });
    const flag = o.flag || "w";
    const flush = o.flush ?? false;
    validateBoolean(flush, "options.flush");
    let bytes: Uint8Array;
    if (isArrayBufferView(data)) bytes = toU8(data);
    else {
      validateStringAfterArrayBufferView(data, "data");
      bytes = Buffer.from(data, (o.encoding as BufferEncoding) || "utf8");
    }
    const signal = o.signal as SignalLike | undefined;
    if (signal?.aborted) return (cb as Callback)(new AbortError(undefined, { cause: signal.reason }));
    if (isFd(path)) getValidatedFd(path); // the first fs.write's check, thrown synchronously
    else {
      getValidatedPath(path); // fs.open's checks, thrown synchronously
      parseFileMode(o.mode, "mode", 0o666);
      stringToFlags(flag);
    }
    settle(cb as Callback, writeFileChunked(fs, path, bytes, flag, o.mode, flush, signal, undefined, true));
  }

  function appendFile(path: P | number, data: unknown, options: unknown, cb?: unknown): void {
    cb ||= options;
    validateFunction(cb, "cb");
    const o = { ...getOptions(options, { encoding: "utf8", mode: 0o666, flag: "a" }) };
    if (!o.flag || isFd(path)) o.flag = "a";
    writeFile(path, data, o, cb);
  }

  function close(fd: number, cb: unknown = defaultCloseCallback): void {
    const done = cb === defaultCloseCallback ? defaultCloseCallback : makeCallback(cb);
    getValidatedFdNative(fd);
    later(done, () => fs.closeSync(fd));
  }

  function open(path: P, ...rest: unknown[]): void {
    getValidatedPath(path);
    let [flags, mode, cb] = rest;
    if (rest.length < 2) { cb = flags; flags = "r"; mode = 0o666; }
    else if (typeof mode === "function") { cb = mode; mode = 0o666; }
    else mode = parseFileMode(mode, "mode", 0o666);
    stringToFlags(flags);
    const done = makeCallback(cb);
    later(done, () => fs.openSync(path, flags, mode));
  }

  function read(fd: number, ...rest: unknown[]): void {
    getValidatedFd(fd);
    let [buffer, offset, length, position, cb] = rest as [ArrayBufferView | undefined, unknown, unknown, unknown, unknown];
    let params: unknown;
    if (rest.length <= 3) {
      if (rest.length === 3) { // read(fd, buffer, options, cb)
        validateObject(offset, "options", true);
        cb = length;
        params = offset;
      } else if (rest.length === 2) { // read(fd, buffer | options, cb)
        if (!isArrayBufferView(buffer)) {
          params = buffer;
          buffer = ((params ?? {}) as { buffer?: ArrayBufferView }).buffer ?? Buffer.alloc(16384);
        }
        cb = offset;
      } else { // read(fd, cb)
        cb = buffer;
        buffer = Buffer.alloc(16384);
      }
      if (params !== undefined) validateObject(params, "options", true);
      const p = (params ?? {}) as { offset?: unknown; length?: unknown; position?: unknown };
      offset = p.offset === undefined ? 0 : p.offset;
      length = p.length === undefined ? (buffer?.byteLength ?? NaN) - (offset as number) : p.length;
      position = p.position === undefined ? null : p.position;
    }
    validateBuffer(buffer);
    validateFunction(cb, "cb");
    const buf = buffer;
    if (offset == null) offset = 0;
    else validateInteger(offset, "offset", 0);
    const len = (length as number) | 0;
    if (len === 0) return laterWith(cb as Callback, null, 0, buf);
    if (buf.byteLength === 0) throw invalidArgValue("buffer", buf, "is empty and cannot be written");
    validateOffsetLengthRead(offset as number, len, buf.byteLength);
    if (position == null) position = -1;
    validatePosition(position, "position");
    const off = offset as number;
    laterList(cb as Callback, () => [fs.readSync(fd, buf, off, len, position as number), buf], (err) => [err, 0, buf]);
  }

  function write(fd: number, buffer: unknown, ...rest: unknown[]): void {
    getValidatedFd(fd);
    let [offset, length, position, cb] = rest;
    if (isArrayBufferView(buffer)) {
      cb ||= position || length || offset;
      validateFunction(cb, "cb");
      if (typeof offset === "object") {
        const o = (offset ?? {}) as { offset?: unknown; length?: unknown; position?: unknown };
        offset = o.offset === undefined ? 0 : o.offset;
        length = o.length === undefined ? buffer.byteLength - (offset as number) : o.length;
        position = o.position === undefined ? null : o.position;
      }
      if (offset == null || typeof offset === "function") offset = 0;
      else validateInteger(offset, "offset", 0);
      if (typeof length !== "number") length = buffer.byteLength - (offset as number);
      if (typeof position !== "number") position = null;
      validateOffsetLengthWrite(offset as number, length as number, buffer.byteLength);
      const [o, l, p] = [offset, length, position] as [number, number, number | null];
      return laterList(cb as Callback, () => [fs.writeSync(fd, buffer, o, l, p), buffer], (err) => [err, 0, buffer]);
    }
    validateStringAfterArrayBufferView(buffer, "buffer");
    if (typeof position !== "function") {
      if (typeof offset === "function") { position = offset; offset = null; }
      else position = length;
      length = "utf8";
    }
    validateEncoding(buffer, length);
    cb = position;
    validateFunction(cb, "cb");
    const [o, enc] = [offset, length];
    laterList(cb as Callback, () => [sync("writeSync")(fd, buffer, o, enc), buffer], (err) => [err, 0, buffer]);
  }

  function readv(fd: number, buffers: unknown, position: unknown, cb?: unknown): void {
    getValidatedFd(fd);
    validateBufferArray(buffers);
    cb ||= position;
    validateFunction(cb, "cb");
    const pos = typeof position === "number" ? position : null;
    laterList(cb as Callback, () => [sync("readvSync")(fd, buffers, pos), buffers], (err) => [err, 0, buffers]);
  }

  function writev(fd: number, buffers: unknown, position: unknown, cb?: unknown): void {
    getValidatedFd(fd);
    validateBufferArray(buffers);
    cb ||= position;
    validateFunction(cb, "cb");
    if (buffers.length === 0) return laterWith(cb as Callback, null, 0, buffers);
    const pos = typeof position === "number" ? position : null;
    laterList(cb as Callback, () => [sync("writevSync")(fd, buffers, pos), buffers], (err) => [err, 0, buffers]);
  }

  function rename(oldPath: P, newPath: P, cb: unknown): void {
    const done = makeCallback(cb);
    getValidatedPath(oldPath, "oldPath");
    getValidatedPath(newPath, "newPath");
    later(done, () => sync("renameSync")(oldPath, newPath));
  }

  function ftruncate(fd: number, len: unknown = 0, cb?: unknown): void {
    if (typeof len === "function") { cb = len; len = 0; }
    validateInteger(len, "len");
    const n = Math.max(0, len);
    const done = makeCallback(cb);
    getValidatedFdNative(fd);
    later(done, () => sync("ftruncateSync")(fd, n));
  }

  function truncate(path: P | number, len: unknown, cb?: unknown): void {
    if (typeof path === "number") return ftruncate(path, len, cb);
    if (typeof len === "function") { cb = len; len = 0; }
    else if (len === undefined) len = 0;
    validateInteger(len, "len");
    const n = Math.max(0, len);
    validateFunction(cb, "cb");
    getValidatedPath(path); // fs.open(path, 'r+') validates synchronously
    later(cb as Callback, () => sync("truncateSync")(path, n));
  }

  function rmdir(path: P, options: unknown, cb?: unknown): void {
    if (typeof options === "function") { cb = options; options = undefined; }
    const done = makeCallback(cb);
    getValidatedPath(path);
    validateRmArgs((options as Options | undefined)?.recursive ? { ...(options as Options), force: false } : options, Boolean((options as Options | undefined)?.recursive));
    later(done, () => sync("rmdirSync")(path, options));
  }

  function rm(path: P, options: unknown, cb?: unknown): void {
    if (typeof options === "function") { cb = options; options = undefined; }
    getValidatedPath(path);
    validateRmArgs(options, true);
    // no cb check in Node either. Node's async validateRmOptions always lstats first (rmSync
    // skips that with force + recursive), so an lstat error other than a forced ENOENT is the
    // one reported (ENOTDIR for 'file/x', with syscall 'lstat')
    const force = (options as Options | undefined)?.force === true;
    later(cb as Callback, () => {
      try {
        sync("lstatSync")(path);
      } catch (err) {
        if (force && (err as { code?: unknown }).code === "ENOENT") return undefined;
        throw err;
      }
      return sync("rmSync")(path, options);
    });
  }

  function fdCall(name: SyncName) {
    return function (fd: number, cb: unknown): void {
      const done = makeCallback(cb);
      getValidatedFdNative(fd);
      later(done, () => sync(name)(fd));
    };
  }

  function mkdir(path: P, options: unknown, cb?: unknown): void {
    let mode: unknown = 0o777;
    let recursive: unknown = false;
    if (typeof options === "function") cb = options;
    else if (typeof options === "number" || typeof options === "string") mode = options;
    else if (options) {
      const o = options as Options;
      if (o.recursive !== undefined) recursive = o.recursive;
      if (o.mode !== undefined) mode = o.mode;
    }
    const done = makeCallback(cb);
    getValidatedPath(path);
    validateBoolean(recursive, "options.recursive");
    parseFileMode(mode, "mode");
    const opts = { recursive, mode };
    const p = isURL(path) ? fileURLToPath(path) : path;
    if (recursive && typeof p === "string") return later(done, () => mkdirpAsync(fs, p, mode));
    later(done, () => sync("mkdirSync")(path, opts));
  }

  function readdir(path: P, options: unknown, cb?: unknown): void {
    const done = makeCallback(typeof options === "function" ? options : cb);
    const o = getOptions(options);
    getValidatedPath(path);
    if (o.recursive != null) validateBoolean(o.recursive, "options.recursive");
    if (o.recursive) return done(null, sync("readdirSync")(path, o)); // Node 20 does this synchronously, errors included
    later(done, () => sync("readdirSync")(path, o));
  }

  function statCall(name: SyncName, byFd: boolean) {
    return function (target: unknown, options: unknown = { bigint: false }, cb?: unknown): void {
      if (typeof options === "function") { cb = options; options = {}; }
      const done = makeCallback(cb);
      // Node reads options.bigint (a TypeError for null options) after the path check but
      // before the C++ binding checks the fd
      if (!byFd) getValidatedPath(target);
      const bigint = Boolean((options as { bigint?: unknown }).bigint);
      if (byFd) getValidatedFdNative(target);
      later(done, () => sync(name)(target, { bigint, throwIfNoEntry: true }));
    };
  }

  function statfs(path: P, options: unknown = { bigint: false }, cb?: unknown): void {
    if (typeof options === "function") { cb = options; options = {}; }
    validateFunction(cb, "cb");
    getValidatedPath(path);
    const bigint = Boolean((options as { bigint?: unknown }).bigint); // null options: Node's TypeError, thrown
    later(cb as Callback, () => sync("statfsSync")(path, { bigint }));
  }

  function readlink(path: P, options: unknown, cb?: unknown): void {
    const done = makeCallback(typeof options === "function" ? options : cb);
    const o = getOptions(options);
    getValidatedPath(path, "oldPath");
    later(done, () => sync("readlinkSync")(path, o));
  }

  function symlink(...args: unknown[]): void {
    const [target, path, type_] = args;
    const type = typeof type_ === "string" ? type_ : null;
    const done = makeCallback(args[args.length - 1]); // Node: the last argument, whatever the count
    getValidatedPath(target, "target");
    getValidatedPath(path);
    validateSymlinkType(type);
    later(done, () => sync("symlinkSync")(target, path, type));
  }

  function link(existingPath: P, newPath: P, cb: unknown): void {
    const done = makeCallback(cb);
    getValidatedPath(existingPath, "existingPath");
    getValidatedPath(newPath, "newPath");
    later(done, () => sync("linkSync")(existingPath, newPath));
  }

  function unlink(path: P, cb: unknown): void {
    const done = makeCallback(cb);
    getValidatedPath(path);
    later(done, () => sync("unlinkSync")(path));
  }

  function fchmod(fd: number, mode: unknown, cb: unknown): void {
    const m = parseFileMode(mode, "mode");
    const done = makeCallback(cb);
    getValidatedFdNative(fd);
    later(done, () => sync("fchmodSync")(fd, m));
  }

  function chmod(path: P, mode: unknown, cb: unknown): void {
    getValidatedPath(path);
    const m = parseFileMode(mode, "mode");
    const done = makeCallback(cb);
    later(done, () => sync("chmodSync")(path, m));
  }

  function ownerCall(name: SyncName) {
    return function (path: P, uid: unknown, gid: unknown, cb: unknown): void {
      const done = makeCallback(cb);
      getValidatedPath(path);
      validateInteger(uid, "uid", -1, MAX_USER_ID);
      validateInteger(gid, "gid", -1, MAX_USER_ID);
      later(done, () => sync(name)(path, uid, gid));
    };
  }

  function fchown(fd: number, uid: unknown, gid: unknown, cb: unknown): void {
    validateInteger(uid, "uid", -1, MAX_USER_ID);
    validateInteger(gid, "gid", -1, MAX_USER_ID);
    const done = makeCallback(cb);
    getValidatedFdNative(fd);
    later(done, () => sync("fchownSync")(fd, uid, gid));
  }

  function timesCall(name: SyncName) {
    return function (path: P, atime: unknown, mtime: unknown, cb: unknown): void {
      const done = makeCallback(cb);
      getValidatedPath(path);
      toUnixTimestamp(atime);
      toUnixTimestamp(mtime);
      later(done, () => sync(name)(path, atime, mtime));
    };
  }

  function futimes(fd: number, atime: unknown, mtime: unknown, cb: unknown): void {
    toUnixTimestamp(atime, "atime");
    toUnixTimestamp(mtime, "mtime");
    const done = makeCallback(cb);
    getValidatedFdNative(fd);
    later(done, () => sync("futimesSync")(fd, atime, mtime));
  }

  function realpath(p: P, options: unknown, cb?: unknown): void {
    if (typeof options === "function") cb = options;
    else validateFunction(cb, "cb");
    const o = getOptions(options);
    let s = isURL(p) ? fileURLToPath(p) : p;
    if (typeof s !== "string") s = `${s as string}`; // Node: p += ''
    getValidatedPath(s);
    const path = s;
    later(cb as Callback, () => fs.realpathSync(path, o));
  }
  realpath.native = function native(path: P, options: unknown, cb?: unknown): void {
    const done = makeCallback(cb || options);
    const o = getOptions(options);
    getValidatedPath(path);
    later(done, () => {
      const rp = fs.realpathSync; // .native is its property, called on it
      return rp.native.call(rp, path, o);
    });
  };

  function mkdtemp(prefix: P, options: unknown, cb?: unknown): void {
    const done = makeCallback(typeof options === "function" ? options : cb);
    const o = getOptions(options);
    getValidatedPath(prefix, "prefix");
    // promises.mkdtemp: Node's async mkdtemp names the random path in its errors, mkdtempSync the template
    settle(done, fs.promises.mkdtemp(prefix, o));
  }

  function opendir(path: P, options: unknown, cb?: unknown): void {
    cb = typeof options === "function" ? options : cb;
    validateFunction(cb, "callback");
    getValidatedPath(path);
    const o = getOptions(options, { encoding: "utf8" });
    // promises.opendir: Node's async opendir names the path in its errors, opendirSync does not
    settle(cb as Callback, fs.promises.opendir(path, o));
  }

  function copyFile(src: P, dest: P, mode: unknown, cb?: unknown): void {
    if (typeof mode === "function") { cb = mode; mode = 0; }
    getValidatedPath(src, "src");
    getValidatedPath(dest, "dest");
    const done = makeCallback(cb);
    validateFileModeNative(mode); // GetValidFileMode of Node's C++ binding
    settle(done, fs.copyFileAsync(src, dest, mode as number)); // yields between 1 MiB chunks
  }

  function cp(src: P, dest: P, options: unknown, cb?: unknown): void {
    if (typeof options === "function") { cb = options; options = undefined; }
    const done = makeCallback(cb);
    validateCpOptions(options);
    getValidatedPath(src, "src");
    getValidatedPath(dest, "dest");
    // promises.cp (not cpSync): an async options.filter is allowed here, as in Node; success
    // calls back (null, undefined), two arguments, as Node's callbackified cpFn does
    fs.promises.cp(src, dest, options).then(() => laterWith(done, null, undefined), (err) => laterWith(done, err));
  }

  return {
    access, appendFile, chmod, chown: ownerCall("chownSync"), close, copyFile, cp, exists, fchmod, fchown,
    fdatasync: fdCall("fdatasyncSync"), fstat: statCall("fstatSync", true), fsync: fdCall("fsyncSync"), ftruncate, futimes,
    lchown: ownerCall("lchownSync"), link, lstat: statCall("lstatSync", false), lutimes: timesCall("lutimesSync"), mkdir, mkdtemp,
    open, opendir, read, readFile, readdir, readlink, readv, realpath, rename, rm, rmdir,
    stat: statCall("statSync", false), statfs, symlink, truncate, unlink, utimes: timesCall("utimesSync"), write, writeFile, writev,
  } as ReturnType<typeof build>;
}

/** util.promisify's hook (a registered symbol, so no Node import is needed). */
const PROMISIFY_CUSTOM = Symbol.for("nodejs.util.promisify.custom");

/**
 * Gives the functions Node marks for util.promisify their promisified forms: exists resolves
 * a boolean (it has no error argument); read/write/readv/writev resolve { bytesRead |
 * bytesWritten, buffer | buffers } as Node's kCustomPromisifyArgsSymbol makes them.
 */
function addPromisified(api: Record<string, Callback>): void {
  const asObject = (fn: Callback, names: [string, string]) => (...args: unknown[]) => new Promise((resolve, reject) => {
    fn(...args, (err: unknown, n: unknown, buf: unknown) => (err ? reject(err) : resolve({ [names[0]]: n, [names[1]]: buf })));
  });
  const custom: [string, (...args: unknown[]) => Promise<unknown>][] = [
    ["exists", (path: unknown) => new Promise((resolve) => api.exists(path, resolve))],
    ["read", asObject(api.read, ["bytesRead", "buffer"])],
    ["write", asObject(api.write, ["bytesWritten", "buffer"])],
    ["readv", asObject(api.readv, ["bytesRead", "buffers"])],
    ["writev", asObject(api.writev, ["bytesWritten", "buffer"])], // sic: Node names writev's second value 'buffer'
  ];
  for (const [name, p] of custom) Object.defineProperty(api[name], PROMISIFY_CUSTOM, { value: p, enumerable: false });
}

/**
 * Defines the callback API on `fs` as own enumerable properties (bound closures, so
 * `const { readFile } = fs` works), plus F_OK/R_OK/W_OK/X_OK, _toUnixTimestamp and the
 * FileReadStream/FileWriteStream accessors (default: fs.ReadStream / fs.WriteStream; a
 * caller may assign its own, as graceful-fs does). Returns true (for a class-field initializer).
 */
export function installCallbackApi(fs: CallbackHost): true {
  const target = fs as unknown as Record<string, unknown>;
  const api = build(fs);
  addPromisified(api as unknown as Record<string, Callback>);
  for (const [name, fn] of Object.entries(api)) {
    // a method of the same name (even a private one) would be shadowed and break its callers
    if (name in target) throw new Error(`HelixFs.${name} already exists: the callback API would shadow it`);
    Object.defineProperty(target, name, { value: fn, writable: true, enumerable: true, configurable: true });
  }
  for (const k of ["F_OK", "R_OK", "W_OK", "X_OK"] as const) {
    Object.defineProperty(target, k, { value: constants[k], writable: true, enumerable: true, configurable: true });
  }
  Object.defineProperty(target, "_toUnixTimestamp", { value: toUnixTimestamp, writable: true, enumerable: true, configurable: true });
  for (const [alias, real] of [["FileReadStream", "ReadStream"], ["FileWriteStream", "WriteStream"]]) {
    if (alias in target) continue; // the streams part defines them itself
    let own: unknown;
    Object.defineProperty(target, alias, {
      get: () => own ?? target[real],
      set: (v: unknown) => { own = v; },
      enumerable: true, configurable: true,
    });
  }
  return true;
}
