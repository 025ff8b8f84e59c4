// host/fs/stream.ts -- Node's fs streams over HelixFS: ReadStream, WriteStream, readLines,
// readableWebStream and openAsBlob.
//
// Layer: host/fs, beside fs.ts, which adds the thin methods (HelixFs.createReadStream,
// createWriteStream, openAsBlob, fs.ReadStream/WriteStream; FileHandle.createReadStream,
// createWriteStream, readableWebStream, readLines). Interface: ReadStream, WriteStream (Node
// 20's lib/internal/fs/streams.js behaviour: options flags, encoding, fd (number or
// FileHandle), mode, autoClose, emitClose, start, end (inclusive), highWaterMark (64 KiB),
// signal, flush, `fs`; events open/ready/close; bytesRead/bytesWritten/path/pending),
// LineReader, fileHandleWebStream, openAsBlob.
// Rules:
//  - this file never imports fs.ts: it works on StreamHost, the few sync methods of HelixFs
//    it needs, and on FileHandleLike (a FileHandle's promise methods);
//  - the default file operations run the sync call at once and call back from a macrotask
//    (setImmediate, else a MessageChannel), like libuv's thread pool does: a stream gives the
//    event loop a turn between chunks, and each read is at most highWaterMark bytes;
//  - argument errors are thrown synchronously by the constructors with Node's codes and
//    messages; open errors (ENOENT, a bad flag or mode) are emitted as 'error', as Node does;
//  - a FileHandle is an EventEmitter here as in Node: its 'close' destroys the streams on it.
// Differences from Node (documented, deliberate): readLines returns a LineReader (the async
// iterator and 'line'/'close'/'pause'/'resume'/'error' events of readline's Interface with
// crlfDelay Infinity), not a readline.Interface, which is not portable; openAsBlob reads the
// file when called (Node's Blob reads lazily and fails if the file changed since), so a
// directory is refused at once (Node gives a Blob of the directory's size whose reads fail).

import { Readable, Writable, finished } from "stream";
import { EventEmitter } from "events";
import { defer } from "./async.js";
import { type Options, type PathLike, getOptions, getValidatedFd, getValidatedPath, invalidArgType, nodeError, outOfRange, validateBoolean, validateInteger, validateObject } from "./utils.js";

// ---- limits --------------------------------------------------------------------------------

/** Default highWaterMark of a ReadStream (Node: 64 KiB; a WriteStream keeps Writable's 16 KiB). */
export const READ_STREAM_HWM = 64 * 1024;
/** Bytes per read of readableWebStream (Node's StreamBase reads 64 KiB). */
export const WEB_STREAM_CHUNK = 64 * 1024;
/** Bytes per read of a type 'bytes' readableWebStream when the reader brings no buffer (Node: 16 KiB). */
export const WEB_STREAM_AUTO_CHUNK = 16 * 1024;
/** Lines a LineReader's async iterator queues before it pauses its input (readline's events.on watermark). */
export const LINE_QUEUE_MAX = 1024;
/** Zero-byte writes in a row a WriteStream retries before ERR_SYSTEM_ERROR (Node's writeAll). */
const WRITE_RETRIES_MAX = 5;

// ---- what this file needs from HelixFs ----------------------------------------------------

/** The sync methods of HelixFs the default stream operations call (HelixFs fits). */
export interface StreamHost {
  openSync(path: PathLike, flags?: string | number | null, mode?: number | string | null): number;
  closeSync(fd: number): void;
  readSync(fd: number, buffer: ArrayBufferView, offset: number, length: number, position: number | null): number;
  writeSync(fd: number, buffer: ArrayBufferView, offset: number, length: number, position: number | null): number;
  writevSync(fd: number, buffers: readonly ArrayBufferView[], position?: number | null): number;
  fsyncSync(fd: number): void;
  readFileSync(path: PathLike): string | Uint8Array;
}

/** A FileHandle as the streams use it (HelixFs's FileHandle fits): its fd and promise methods, and its 'close' event. */
export interface FileHandleLike {
  readonly fd: number;
  read(buffer: ArrayBufferView, offset: number, length: number, position: number | null | undefined): Promise<{ bytesRead: number }>;
  write(buffer: ArrayBufferView, offset: number, length: number, position: number | null | undefined): Promise<{ bytesWritten: number }>;
  writev(buffers: readonly ArrayBufferView[], position: number | null | undefined): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
  on(event: "close", listener: () => void): unknown;
  once(event: "close", listener: () => void): unknown;
}

type Cb<T extends unknown[] = []> = (err: Error | null, ...rest: T) => void;

/**
 * File operations in Node's callback shape (the `fs` option of Node's streams): a stream calls
 * open, read, write, writev, fsync and close of this table. Each calls back exactly once.
 */
export interface StreamOps {
  open?(path: PathLike, flags: string | number, mode: string | number, cb: Cb<[number]>): void;
  close?(fd: number, cb: (err?: Error | null) => void): void;
  read?(fd: number, buf: Uint8Array, off: number, len: number, pos: number | undefined, cb: Cb<[number, Uint8Array]>): void;
  write?(fd: number, buf: Uint8Array, off: number, len: number, pos: number | undefined, cb: Cb<[number, Uint8Array]>): void;
  writev?(fd: number, bufs: Uint8Array[], pos: number | undefined, cb: Cb<[number, Uint8Array[]]>): void;
  fsync?(fd: number, cb: (err?: Error | null) => void): void;
}

// ---- scheduling (defer: async.ts's macrotask scheduler) -------------------------------------

/** Runs `op` now and delivers its result or its error to `cb` from a macrotask. */
function settle<T>(op: () => T, cb: (err: Error | null, v?: T) => void): void {
  let v: T;
  try {
    v = op();
  } catch (e) {
    defer(() => cb(e as Error));
    return;
  }
  defer(() => cb(null, v));
}

/** StreamOps over a HelixFs's sync calls (the default `fs` of the streams it makes). */
export function hostOps(host: StreamHost): StreamOps {
  return {
    open: (path, flags, mode, cb) => settle(() => host.openSync(path, flags, mode), (e, fd) => cb(e, fd as number)),
    close: (fd, cb) => settle(() => host.closeSync(fd), (e) => cb(e)),
    read: (fd, buf, off, len, pos, cb) => settle(() => host.readSync(fd, buf, off, len, pos ?? null), (e, n) => cb(e, e ? 0 : n as number, buf)),
    write: (fd, buf, off, len, pos, cb) => settle(() => host.writeSync(fd, buf, off, len, pos ?? null), (e, n) => cb(e, e ? 0 : n as number, buf)),
    writev: (fd, bufs, pos, cb) => settle(() => host.writevSync(fd, bufs, pos ?? null), (e, n) => cb(e, e ? 0 : n as number, bufs)),
    fsync: (fd, cb) => settle(() => host.fsyncSync(fd), (e) => cb(e)),
  };
}

/** StreamOps over a FileHandle (Node's FileHandleOperations): open is not possible. */
function handleOps(h: FileHandleLike): StreamOps {
  const later = <T>(p: Promise<T>, ok: (v: T) => void, bad: (e: Error) => void) =>
    p.then((v) => defer(() => ok(v)), (e: Error) => defer(() => bad(e)));
  return {
    open: () => { throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", "The open() method is not implemented"); },
    close: (_fd, cb) => later(h.close(), () => cb(), cb),
    fsync: (_fd, cb) => later(h.sync(), () => cb(), cb),
    read: (_fd, buf, off, len, pos, cb) => later(h.read(buf, off, len, pos), (r) => cb(null, r.bytesRead, buf), (e) => cb(e, 0, buf)),
    write: (_fd, buf, off, len, pos, cb) => later(h.write(buf, off, len, pos), (r) => cb(null, r.bytesWritten, buf), (e) => cb(e, 0, buf)),
    writev: (_fd, bufs, pos, cb) => later(h.writev(bufs, pos), (r) => cb(null, r.bytesWritten, bufs), (e) => cb(e, 0, bufs)),
  };
}

// ---- option plumbing shared by both streams ------------------------------------------------

function isFileHandle(v: unknown): v is FileHandleLike {
  const h = v as FileHandleLike | null;
  return typeof h === "object" && h !== null && typeof h.fd === "number" && typeof h.read === "function" &&
    typeof h.close === "function" && typeof h.on === "function";
}

/** Node's validateFunction for `options.fs.<name>`. */
function validateOp(ops: StreamOps, name: keyof StreamOps): void {
  if (typeof ops[name] !== "function") throw invalidArgType(`options.fs.${name}`, "Function", ops[name]);
}

/** What the constructors settle before calling Readable/Writable (they may throw first). */
interface Opened { ops: StreamOps; fd: number | null; path?: string | Uint8Array; flags?: string | number; mode?: string | number; handle?: FileHandleLike }

/**
 * The file a stream is on: options.fd (a number or a FileHandle) or `path` opened later with
 * flags/mode. Throws ERR_INVALID_ARG_TYPE (path, options.fd, options.fs.open),
 * ERR_METHOD_NOT_IMPLEMENTED (a FileHandle with options.fs), ERR_OUT_OF_RANGE (fd).
 */
function fileOf(path: unknown, o: Options, host: StreamHost | undefined, defaultFlags: string): Opened {
  const custom = o.fs as StreamOps | undefined;
  if (o.fd == null) {
    const ops = custom || defaultOps(host);
    validateOp(ops, "open");
    const p = getValidatedPath(path);
    return { ops, fd: null, path: p, flags: o.flags === undefined ? defaultFlags : o.flags as string | number, mode: o.mode === undefined ? 0o666 : o.mode as number };
  }
  if (typeof o.fd === "number") return { ops: custom || defaultOps(host), fd: getValidatedFd(o.fd) };
  if (isFileHandle(o.fd)) {
    if (custom) throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", "The FileHandle with fs method is not implemented");
    return { ops: handleOps(o.fd), fd: getValidatedFd(o.fd.fd), handle: o.fd };
  }
  throw invalidArgType("options.fd", ["number", "FileHandle"], o.fd);
}

function defaultOps(host: StreamHost | undefined): StreamOps {
  if (host === undefined) throw invalidArgType("options.fs", "Object", undefined); // an unbound class with neither fs nor FileHandle
  return hostOps(host);
}

/**
 * Opens `s.path` through its ops (Node's _construct): 'open' then 'ready', or the error. A
 * stream whose open() was replaced (the legacy way to subclass, graceful-fs's) is opened by
 * calling that open(): its 'open' or 'error' event settles the construction, as in Node.
 */
function construct(s: ReadStreamBase | WriteStreamBase, ops: StreamOps, callback: (err?: Error | null) => void): void {
  if (typeof s.fd === "number") { callback(); return; }
  if (s.open !== ReadStreamBase.prototype.open && s.open !== WriteStreamBase.prototype.open) { constructByOpen(s, callback); return; }
  try {
    ops.open!(s.path!, s.flags!, s.mode!, (er, fd) => {
      if (er) { callback(er); return; }
      s.fd = fd;
      callback();
      s.emit("open", fd);
      s.emit("ready");
    });
  } catch (e) {
    callback(e as Error); // a custom open that throws: an 'error' like a failed open
  }
}

/** Construction through a replaced open(): the first 'open' or 'error' it emits ends it. */
function constructByOpen(s: ReadStreamBase | WriteStreamBase, callback: (err?: Error | null) => void): void {
  const emit = s.emit;
  s.emit = function (this: typeof s, event: string | symbol, ...args: unknown[]): boolean {
    if (event === "open") { this.emit = emit; callback(); return emit.call(this, event, ...args); }
    if (event === "error") { this.emit = emit; callback(args[0] as Error); return true; }
    return emit.call(this, event, ...args);
  } as typeof s.emit;
  s.open();
}

/** Node's close(): fsync first when `flush`, then close the fd once. */
function closeFile(s: ReadStream | WriteStream, ops: StreamOps, err: Error | null, cb: (e?: Error | null) => void): void {
  if (s.fd === null || s.fd === undefined) { cb(err); return; } // not Node's `!fd`: fd 0 is a file here (no stdio)
  const shut = (e: Error | null) => {
    ops.close!(s.fd as number, (er) => cb(er || e));
    s.fd = null;
  };
  if (s instanceof WriteStream && s.flush) ops.fsync!(s.fd, (fe) => shut(err || fe || null));
  else shut(err);
}

const kIoDone = Symbol("kIoDone");
/** A stream's file operations and whether one is running (symbols: the constructors are functions, see ReadStreamCtor). */
const kOps = Symbol("kOps"), kBusy = Symbol("kBusy");

/** A stream's internal state object (Node's and readable-stream's both have them; @types/node does not say so). */
function stateOf(s: Readable | Writable, key: "_readableState" | "_writableState"): { autoDestroy: boolean } {
  return (s as unknown as Record<string, { autoDestroy: boolean }>)[key];
}

// ---- ReadStream ----------------------------------------------------------------------------

/** Options of createReadStream / new ReadStream (Node 20's). */
export interface ReadStreamOptions {
  flags?: string | number; encoding?: BufferEncoding | null; fd?: number | FileHandleLike | null; mode?: number | string;
  autoClose?: boolean; emitClose?: boolean; start?: number; end?: number; highWaterMark?: number;
  signal?: AbortSignal; fs?: StreamOps | null;
}

/**
 * Node's fs.ReadStream: reads [start, end] (end inclusive; from the current position when
 * start is undefined) in reads of at most highWaterMark bytes (64 KiB default). Throws
 * synchronously on bad options (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE for start/end,
 * ERR_INVALID_ARG_VALUE); emits 'error' for a failed open or read, then 'close' (emitClose).
 * `host` is the HelixFs whose sync calls the default operations use (HelixFs.ReadStream
 * binds it); without it, options.fs or a FileHandle fd must supply them.
 */
class ReadStreamBase extends Readable {
  /** The open fd, or null before 'open' and after close. */
  declare fd: number | null;
  /** The path given (a FileHandle or fd stream: undefined). */
  declare path: string | Uint8Array | undefined;
  declare flags: string | number | undefined;
  declare mode: string | number | undefined;
  declare start: number | undefined;
  declare end: number;
  /** Next read position when `start` was given, else undefined (reads at the file position). */
  declare pos: number | undefined;
  /** Bytes read so far. */
  declare bytesRead: number;
  declare [kOps]: StreamOps;
  declare [kBusy]: boolean;

  /** Whether autoClose (Readable's autoDestroy) is on. */
  get autoClose(): boolean { return stateOf(this, "_readableState").autoDestroy; }
  set autoClose(v: boolean) { stateOf(this, "_readableState").autoDestroy = v; }

  /** True until the file is open. */
  get pending(): boolean { return this.fd === null; }

  /** Node's deprecated no-op; a subclass that replaces it opens the file itself (see construct). */
  open(): void { /* the stream opens itself in _construct */ }

  override _construct(callback: (error?: Error | null) => void): void { construct(this, this[kOps], callback); }

  override _read(n: number): void {
    n = this.pos !== undefined ? Math.min(this.end - this.pos + 1, n) : Math.min(this.end - this.bytesRead + 1, n);
    if (n <= 0) { this.push(null); return; }
    const buf = Buffer.allocUnsafeSlow(n);
    this[kBusy] = true;
    this[kOps].read!(this.fd as number, buf, 0, n, this.pos, (er, bytesRead) => {
      this[kBusy] = false;
      if (this.destroyed) { this.emit(kIoDone, er); return; } // _destroy waits for this to close the fd
      if (er) { this.destroy(er); return; }
      if (bytesRead > 0) {
        if (this.pos !== undefined) this.pos += bytesRead;
        this.bytesRead += bytesRead;
        // a short read: copy to fit rather than keep the large backing store alive (as Node)
        this.push(bytesRead === n ? buf : Buffer.from(buf.subarray(0, bytesRead)));
      } else {
        this.push(null);
      }
    });
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this[kBusy]) this.once(kIoDone, (er: Error | null) => closeFile(this, this[kOps], err || er, cb));
    else closeFile(this, this[kOps], err, cb);
  }

  /** Destroys the stream (closing the fd); `cb` runs when it has finished. */
  close(cb?: (err?: Error | null) => void): void {
    if (typeof cb === "function") finished(this, cb);
    this.destroy();
  }
}

/**
 * The ReadStream constructor: a function, as Node's is, so that `new ReadStream(...)`,
 * `ReadStream(...)` and the legacy subclassing `ReadStream.apply(this, args)` (graceful-fs,
 * fs-extra) all work; `host` as described on ReadStreamBase.
 */
function ReadStreamCtor(this: ReadStreamBase, path?: PathLike | null, options?: ReadStreamOptions | BufferEncoding | null, host?: StreamHost): ReadStreamBase | void {
  if (!(this instanceof ReadStreamCtor)) return new (ReadStreamCtor as unknown as ReadStreamClass)(path, options, host);
  const o: Options = { ...getOptions(options, {}) };
  if (o.highWaterMark === undefined) o.highWaterMark = READ_STREAM_HWM;
  const file = fileOf(path, o, host, "r");
  validateOp(file.ops, "read");
  o.autoDestroy = o.autoClose === undefined ? true : o.autoClose;
  if (o.autoDestroy) validateOp(file.ops, "close");
  const start = o.start as number | undefined;
  let end = o.end as number | undefined;
  if (start !== undefined) validateInteger(start, "start", 0);
  if (end === undefined) end = Infinity;
  else if (end !== Infinity) {
    validateInteger(end, "end", 0);
    if (start !== undefined && start > end) throw outOfRange("start", `<= "end" (here: ${end})`, start);
  }
  delete o.fs; // Readable has no use for these and would keep references
  delete o.fd;
  Readable.call(this, o); // Node's Readable is a function constructor too (so is readable-stream's)
  this.bytesRead = 0;
  this[kBusy] = false;
  this[kOps] = file.ops;
  this.fd = file.fd;
  this.path = file.path;
  this.flags = file.flags;
  this.mode = file.mode;
  this.start = start;
  this.end = end;
  this.pos = start;
  if (file.handle) file.handle.on("close", () => this.close());
}
ReadStreamCtor.prototype = ReadStreamBase.prototype;
Object.defineProperty(ReadStreamBase.prototype, "constructor", { value: ReadStreamCtor, writable: true, configurable: true });
Object.setPrototypeOf(ReadStreamCtor, Readable);
Object.defineProperty(ReadStreamCtor, "name", { value: "ReadStream" });

/** The type of ReadStream: constructible with `new`, callable without, like Node's. */
export type ReadStreamClass = {
  new (path?: PathLike | null, options?: ReadStreamOptions | BufferEncoding | null, host?: StreamHost): ReadStreamBase;
  (path?: PathLike | null, options?: ReadStreamOptions | BufferEncoding | null, host?: StreamHost): ReadStreamBase;
  readonly prototype: ReadStreamBase;
};
/** Node's fs.ReadStream (see ReadStreamBase). */
export const ReadStream = ReadStreamCtor as unknown as ReadStreamClass;
export type ReadStream = ReadStreamBase;

// ---- WriteStream ---------------------------------------------------------------------------

/** Options of createWriteStream / new WriteStream (Node 20's). */
export interface WriteStreamOptions {
  flags?: string | number; encoding?: BufferEncoding | null; fd?: number | FileHandleLike | null; mode?: number | string;
  autoClose?: boolean; emitClose?: boolean; start?: number; highWaterMark?: number; flush?: boolean;
  signal?: AbortSignal; fs?: StreamOps | null;
}

/**
 * Node's fs.WriteStream: writes at `start` (then onwards) or at the file position ('w' by
 * default; 'a' appends); corked or queued chunks go out as one writev. Throws synchronously
 * on bad options (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE for start); emits 'error' for a
 * failed open or write (ERR_SYSTEM_ERROR after WRITE_RETRIES_MAX zero-byte writes).
 * `host` as for ReadStream.
 */
class WriteStreamBase extends Writable {
  declare fd: number | null;
  declare path: string | Uint8Array | undefined;
  declare flags: string | number | undefined;
  declare mode: string | number | undefined;
  declare start: number | undefined;
  /** Next write position when `start` was given, else undefined (the file position / append). */
  declare pos: number | undefined;
  /** fsync before close. */
  declare flush: boolean;
  /** Bytes written so far. */
  declare bytesWritten: number;
  declare [kOps]: StreamOps;
  declare [kBusy]: boolean;

  get autoClose(): boolean { return stateOf(this, "_writableState").autoDestroy; }
  set autoClose(v: boolean) { stateOf(this, "_writableState").autoDestroy = v; }

  /** True until the file is open. */
  get pending(): boolean { return this.fd === null; }

  /** Node's deprecated no-op; a subclass that replaces it opens the file itself (see construct). */
  open(): void { /* the stream opens itself in _construct */ }

  override _construct(callback: (error?: Error | null) => void): void { construct(this, this[kOps], callback); }

  /** Node's writeAll: writes `data` fully, retrying short writes, at most WRITE_RETRIES_MAX zero-byte ones. */
  private writeAll(data: Uint8Array, size: number, pos: number | undefined, cb: (e?: Error | null) => void, retries = 0): void {
    this[kOps].write!(this.fd as number, data, 0, size, pos, (er, n) => {
      if ((er as { code?: string } | null)?.code === "EAGAIN") { er = null; n = 0; }
      if (this.destroyed || er) { cb(er || nodeError(Error, "ERR_STREAM_DESTROYED", "Cannot call write after a stream was destroyed")); return; }
      this.bytesWritten += n;
      retries = n ? 0 : retries + 1;
      size -= n;
      if (pos !== undefined) pos += n;
      if (retries > WRITE_RETRIES_MAX) cb(nodeError(Error, "ERR_SYSTEM_ERROR", "A system error occurred: write failed"));
      else if (size) this.writeAll(data.subarray(n), size, pos, cb, retries);
      else cb();
    });
  }

  /** Node's writevAll: one writev of the chunks; what stays after a short one goes again as one buffer. */
  private writevAll(chunks: Uint8Array[], size: number, pos: number | undefined, cb: (e?: Error | null) => void, retries = 0): void {
    this[kOps].writev!(this.fd as number, chunks, pos, (er, n) => {
      if ((er as { code?: string } | null)?.code === "EAGAIN") { er = null; n = 0; }
      if (this.destroyed || er) { cb(er || nodeError(Error, "ERR_STREAM_DESTROYED", "Cannot call writev after a stream was destroyed")); return; }
      this.bytesWritten += n;
      retries = n ? 0 : retries + 1;
      size -= n;
      if (pos !== undefined) pos += n;
      if (retries > WRITE_RETRIES_MAX) cb(nodeError(Error, "ERR_SYSTEM_ERROR", "A system error occurred: writev failed"));
      else if (size) this.writevAll([Buffer.concat(chunks).subarray(n)], size, pos, cb, retries);
      else cb();
    });
  }

  private done(cb: (e?: Error | null) => void): (er?: Error | null) => void {
    return (er) => {
      this[kBusy] = false;
      cb(er);
      if (this.destroyed) this.emit(kIoDone, er); // _destroy waits for this to close the fd
    };
  }

  override _write(data: Buffer, _encoding: BufferEncoding, cb: (e?: Error | null) => void): void {
    this[kBusy] = true;
    this.writeAll(data, data.length, this.pos, this.done(cb));
    if (this.pos !== undefined) this.pos += data.length;
  }

  override _writev(data: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    const chunks = data.map((d) => d.chunk);
    let size = 0;
    for (const c of chunks) size += c.length;
    this[kBusy] = true;
    this.writevAll(chunks, size, this.pos, this.done(cb));
    if (this.pos !== undefined) this.pos += size;
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (this[kBusy]) this.once(kIoDone, (er: Error | null) => closeFile(this, this[kOps], err || er, cb));
    else closeFile(this, this[kOps], err, cb);
  }

  /** Ends the stream and closes the fd; `cb` runs on 'close'. */
  close(cb?: (err?: Error | null) => void): void {
    if (cb) {
      if (this.closed) { defer(() => cb()); return; }
      this.on("close", cb);
    }
    if (!this.autoClose) this.on("finish", () => this.destroy());
    this.end();
  }

  /** Node's alias of end() (files have no shutdown()). */
  destroySoon(): this { return this.end(); }
}

/** The WriteStream constructor: a function, as Node's is (see ReadStreamCtor). */
function WriteStreamCtor(this: WriteStreamBase, path?: PathLike | null, options?: WriteStreamOptions | BufferEncoding | null, host?: StreamHost): WriteStreamBase | void {
  if (!(this instanceof WriteStreamCtor)) return new (WriteStreamCtor as unknown as WriteStreamClass)(path, options, host);
  const o: Options = { ...getOptions(options, {}) };
  o.decodeStrings = true; // only buffers reach _write
  const file = fileOf(path, o, host, "w");
  o.autoDestroy = o.autoClose === undefined ? true : o.autoClose;
  const ops = file.ops;
  if (!ops.write && !ops.writev) throw invalidArgType("options.fs.write", "function", ops.write);
  if (ops.write) validateOp(ops, "write");
  if (ops.writev) validateOp(ops, "writev");
  if (o.autoDestroy) validateOp(ops, "close");
  let flush = o.flush as boolean | undefined | null;
  if (flush == null) flush = false;
  else { validateBoolean(flush, "options.flush"); validateOp(ops, "fsync"); }
  const start = o.start as number | undefined;
  if (start !== undefined) validateInteger(start, "start", 0);
  const encoding = o.encoding as BufferEncoding | undefined;
  delete o.fs;
  delete o.fd;
  Writable.call(this, o);
  this.bytesWritten = 0;
  this[kBusy] = false;
  // either operation may be missing from a custom `fs`: the other one does all the writes
  if (!ops.writev) (this as { _writev: unknown })._writev = null;
  if (!ops.write) this._write = (chunk, encoding, cb) => this._writev!([{ chunk, encoding } as { chunk: Buffer }], cb);
  this[kOps] = ops;
  this.fd = file.fd;
  this.path = file.path;
  this.flags = file.flags;
  this.mode = file.mode;
  this.flush = flush;
  this.start = start;
  this.pos = start;
  if (encoding) this.setDefaultEncoding(encoding);
  if (file.handle) file.handle.on("close", () => this.close());
}
WriteStreamCtor.prototype = WriteStreamBase.prototype;
Object.defineProperty(WriteStreamBase.prototype, "constructor", { value: WriteStreamCtor, writable: true, configurable: true });
Object.setPrototypeOf(WriteStreamCtor, Writable);
Object.defineProperty(WriteStreamCtor, "name", { value: "WriteStream" });

/** The type of WriteStream: constructible with `new`, callable without, like Node's. */
export type WriteStreamClass = {
  new (path?: PathLike | null, options?: WriteStreamOptions | BufferEncoding | null, host?: StreamHost): WriteStreamBase;
  (path?: PathLike | null, options?: WriteStreamOptions | BufferEncoding | null, host?: StreamHost): WriteStreamBase;
  readonly prototype: WriteStreamBase;
};
/** Node's fs.WriteStream (see WriteStreamBase). */
export const WriteStream = WriteStreamCtor as unknown as WriteStreamClass;
export type WriteStream = WriteStreamBase;

// ---- readLines -----------------------------------------------------------------------------

/** The line endings readline splits on (\r\n, \n, and a \r not followed by \n). */
const LINE_ENDING = /\r\n|\n|\r/;

/**
 * Lines of a Readable, as readline's Interface gives them with crlfDelay Infinity: split on
 * \n, \r\n and a lone \r (a \r\n split across chunks is one ending); the last line is given
 * if it is not empty; UTF-8 is decoded across chunk boundaries (an incomplete sequence at the
 * very end is dropped, as readline drops it). Events: 'line' (string), 'close', 'pause',
 * 'resume', 'error' (the input's). Async-iterable: yields the lines, throws the input's error;
 * leaving the loop early closes the reader (the input is paused, as readline leaves it).
 * Not a readline.Interface: no prompt, history, terminal or output.
 */
export class LineReader extends EventEmitter implements AsyncIterable<string> {
  /** The stream the lines come from. */
  readonly input: Readable;
  /** Always Infinity: a \r\n is one line ending however the chunks fall. */
  readonly crlfDelay = Infinity;
  /** True after close(). */
  closed = false;
  #partial: string | null = null;
  #sawReturn = false;
  #decoder = new TextDecoder("utf-8");
  #paused = false;
  readonly #onData = (chunk: Uint8Array | string) => this.write(chunk);
  readonly #onEnd = () => {
    if (this.#partial !== null && this.#partial.length > 0) this.emit("line", this.#partial);
    this.#partial = null;
    this.close();
  };
  readonly #onError = (err: Error) => this.emit("error", err);

  /** Starts reading `input` (it flows from here on). */
  constructor(input: Readable) {
    super();
    this.input = input;
    input.on("data", this.#onData);
    input.on("end", this.#onEnd);
    input.on("error", this.#onError);
    input.resume();
  }

  private write(chunk: Uint8Array | string): void {
    let s = typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (this.#sawReturn) {
      if (s.charCodeAt(0) === 10) s = s.slice(1);
      this.#sawReturn = false;
    }
    if (!LINE_ENDING.test(s)) {
      if (s) this.#partial = this.#partial === null ? s : this.#partial + s;
      return;
    }
    if (this.#partial !== null) { s = this.#partial + s; this.#partial = null; }
    this.#sawReturn = s.endsWith("\r");
    const lines = s.split(LINE_ENDING);
    this.#partial = lines.pop() as string;
    for (const line of lines) {
      if (this.closed) return;
      this.emit("line", line);
    }
  }

  /** Stops reading (the input is paused and left open, as readline leaves it) and emits 'close' once. */
  close(): void {
    if (this.closed) return;
    this.pause();
    this.input.off("data", this.#onData);
    this.input.off("end", this.#onEnd);
    this.input.off("error", this.#onError);
    this.closed = true;
    this.emit("close");
  }

  /** Pauses the input; emits 'pause'. */
  pause(): this {
    if (this.#paused) return this;
    this.input.pause();
    this.#paused = true;
    this.emit("pause");
    return this;
  }

  /** Resumes the input; emits 'resume'. */
  resume(): this {
    if (!this.#paused) return this;
    this.input.resume();
    this.#paused = false;
    this.emit("resume");
    return this;
  }

  /** The lines until 'close'; rejects with the input's error. At most LINE_QUEUE_MAX lines wait before the input pauses. */
  [Symbol.asyncIterator](): AsyncIterator<string> {
    const queue: string[] = [];
    let failure: Error | null = null;
    let ended = this.closed;
    let wake: (() => void) | null = null;
    const poke = () => { const w = wake; wake = null; if (w) w(); };
    const onLine = (l: string) => { queue.push(l); if (queue.length >= LINE_QUEUE_MAX) this.pause(); poke(); };
    const onClose = () => { ended = true; poke(); };
    const onError = (e: Error) => { failure = e; poke(); };
    const detach = () => { this.off("line", onLine); this.off("close", onClose); this.off("error", onError); };
    this.on("line", onLine);
    this.on("close", onClose);
    this.on("error", onError);
    return {
      next: async (): Promise<IteratorResult<string>> => {
        for (;;) {
          if (queue.length > 0) {
            const value = queue.shift() as string;
            if (queue.length < LINE_QUEUE_MAX / 2 && this.#paused && !this.closed) this.resume();
            return { value, done: false };
          }
          if (failure) { const f = failure; failure = null; detach(); throw f; }
          if (ended) { detach(); return { value: undefined, done: true }; }
          await new Promise<void>((r) => { wake = r; });
        }
      },
      return: async (): Promise<IteratorResult<string>> => {
        detach();
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

// ---- readableWebStream ---------------------------------------------------------------------

const lockedHandles = new WeakSet<object>();

/** Node's ERR_INVALID_STATE (an Error, "Invalid state: ..."). */
function invalidState(what: string): Error {
  return nodeError(Error, "ERR_INVALID_STATE", `Invalid state: ${what}`);
}

/**
 * FileHandle.readableWebStream: a web ReadableStream of the file from the handle's position
 * (Uint8Array chunks of up to WEB_STREAM_CHUNK bytes; with { type: 'bytes' } a byte stream
 * that fills the reader's BYOB buffers). The handle is locked to it: a second call throws
 * ERR_INVALID_STATE, as it does after close. Closing the handle cancels the stream.
 */
export function fileHandleWebStream(h: FileHandleLike, options: { type?: string } = {}): ReadableStream<Uint8Array> {
  if (h.fd === -1) throw invalidState("The FileHandle is closed");
  if (lockedHandles.has(h)) throw invalidState("The FileHandle is locked");
  validateObject(options, "options");
  if (options.type !== undefined && typeof options.type !== "string") throw invalidArgType("options.type", "string", options.type);
  lockedHandles.add(h);
  let done = false;
  const finish = () => { done = true; };
  let stream: ReadableStream<Uint8Array>;
  if (options.type === "bytes") {
    stream = new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: WEB_STREAM_AUTO_CHUNK,
      async pull(controller) {
        const req = controller.byobRequest!;
        const view = req.view!;
        const { bytesRead } = await h.read(view, 0, view.byteLength, null);
        if (bytesRead === 0) { finish(); controller.close(); }
        req.respond(bytesRead);
      },
      cancel() { finish(); },
    }) as ReadableStream<Uint8Array>;
  } else {
    stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const buf = new Uint8Array(WEB_STREAM_CHUNK);
        const { bytesRead } = await h.read(buf, 0, buf.length, null);
        if (bytesRead === 0) { finish(); controller.close(); return; }
        controller.enqueue(bytesRead === buf.length ? buf : buf.slice(0, bytesRead));
      },
      cancel() { finish(); },
    }, { highWaterMark: 0 });
  }
  h.once("close", () => { if (!done) { finish(); stream.cancel().catch(() => {}); } });
  return stream;
}

// ---- openAsBlob ----------------------------------------------------------------------------

/**
 * fs.openAsBlob: a Blob of the file's bytes (read now; see the header) with options.type.
 * Throws synchronously, as Node 20 does: ERR_INVALID_ARG_TYPE for options, options.type or
 * path; ERR_INVALID_ARG_VALUE "Unable to open file as blob" when the file cannot be read.
 */
export function openAsBlob(host: StreamHost, path: unknown, options: unknown = {}): Promise<Blob> {
  validateObject(options, "options");
  const type = (options as { type?: unknown }).type || "";
  if (typeof type !== "string") throw invalidArgType("options.type", "string", type);
  const p = getValidatedPath(path);
  let bytes: Uint8Array;
  try {
    bytes = host.readFileSync(p) as Uint8Array; // no encoding: a Buffer
  } catch {
    throw nodeError(TypeError, "ERR_INVALID_ARG_VALUE", "Unable to open file as blob");
  }
  return Promise.resolve(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
}
