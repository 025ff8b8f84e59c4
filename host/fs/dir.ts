// host/fs/dir.ts -- Node's fs.Dir (opendirSync / fs.promises.opendir) over the kernel's getdents.
//
// Layer: host/fs, beside fs.ts (which adds HelixFs.opendirSync and promises.opendir over this).
// Interface: opendir(host, path, options) -> Dir; class Dir with Node 20's surface: `path`,
// readSync(), read() (Promise) / read(cb), closeSync(), close() / close(cb), entries() and
// [Symbol.asyncIterator] (closes the Dir when the loop ends or breaks).
// Rules:
//  - a Dir holds one fd opened O_RDONLY|O_DIRECTORY (opendir(3)); entries come in the
//    kernel's getdents order, unsorted, like libuv's uv_fs_readdir (readdirSync sorts, a Dir
//    does not); '.' and '..' never appear;
//  - Sys.getdents returns a directory's entries in one call; the Dir hands them to its buffer
//    options.bufferSize at a time, as libuv's reads of bufferSize entries would, so the order
//    of a recursive walk (a directory's children are appended to the buffer when the
//    directory's own Dirent is read) is Node's;
//  - recursive: every subdirectory is read whole (Node 20 reads only its first bufferSize
//    entries, a bug; we do not copy it);
//  - errors as Node 20: opening fails as uvException(errno, 'opendir'), without a path from
//    opendirSync (Node 20 drops it there) and with it from the asynchronous forms; reading as 'scandir' with the Dir's path, closing as 'closedir';
//    ERR_DIR_CLOSED after close, ERR_DIR_CONCURRENT_OPERATION for a sync call while an
//    asynchronous read is pending; asynchronous reads finish on a later turn of the event loop.

import { DT_UNKNOWN, type DirentRecord, ENOENT, O_DIRECTORY, O_RDONLY, type Sys, type SysName, type SysPath } from "./sys.js";
import { Dirent, type Encoding, callerPath, dtFromMode, getOptions, getValidatedPath, invalidArgType, joinPath, joinSys, nameBytes, nodeError, showPath, uvException, validateInteger } from "./utils.js";
import { encodeSysName } from "./paths.js";
import { defer } from "./async.js";

/** Entries a Dir moves into its buffer per read when options.bufferSize is not given (Node's default). */
export const DIR_BUFFER_SIZE_DEFAULT = 32;
/** Largest options.bufferSize (a uint32, as Node validates it). */
export const DIR_BUFFER_SIZE_MAX = 4294967295;

/** Options of opendirSync / promises.opendir. */
export interface OpendirOptions { encoding?: Encoding | null; bufferSize?: number; recursive?: boolean }

/** What a Dir needs of HelixFs. */
export interface DirHost {
  readonly sys: Sys;
  resolvePath(p: SysPath): SysPath;
}

/** Node's ERR_DIR_CLOSED. */
function dirClosed(): Error {
  return nodeError(Error, "ERR_DIR_CLOSED", "Directory handle was closed");
}

/** Node's ERR_DIR_CONCURRENT_OPERATION. */
function dirConcurrent(): Error {
  return nodeError(Error, "ERR_DIR_CONCURRENT_OPERATION",
    "Cannot do synchronous work on directory handle with concurrent asynchronous operations");
}

type DirCallback<T> = (err: Error | null, value?: T) => void;

/** One open directory stream: an fd and the entries read from it but not yet handed out. */
interface Handle { fd: number; records: DirentRecord[] | null; next: number }

/**
 * Opens `path` (string, Buffer, file: URL; relative to the cwd) as a Dir. Throws
 * ERR_INVALID_ARG_TYPE / _VALUE for a bad path, encoding or options; ERR_OUT_OF_RANGE for a
 * bufferSize that is not an integer in [1, 2^32 - 1]; ENOENT, ENOTDIR, EACCES, ELOOP, EMFILE
 * from 'opendir'. `errorPath`: whether that error names the path: Node 20's opendirSync does
 * not, its fs.opendir and fs.promises.opendir do (pass true for those).
 */
export function opendir(host: DirHost, path: unknown, options?: unknown, errorPath = false): Dir {
  const p = getValidatedPath(path);
  const o = getOptions(options, { encoding: "utf8" });
  const q = callerPath(p);
  const abs = host.resolvePath(q);
  const fd = abs.length === 0 ? -ENOENT : host.sys.open(abs, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) throw errorPath ? uvException(fd, "opendir", showPath(q)) : uvException(fd, "opendir");
  try {
    return new Dir(host, fd, p, q, o as OpendirOptions);
  } catch (err) {
    host.sys.close(fd); // bad options: Node leaves the handle to the GC; we have no GC for fds
    throw err;
  }
}

/** Node's fs.Dir: a directory stream read one Dirent at a time. */
export class Dir {
  #host: DirHost;
  #handle: Handle;
  #path: string | Uint8Array;
  #q: SysPath;
  #buffered: Dirent<string | Buffer>[] = [];
  #closed = false;
  /** null, or the operations waiting for the pending asynchronous read. */
  #queue: (() => void)[] | null = null;
  #encoding: unknown;
  #bufferSize: number;
  #recursive: boolean;

  /** Use opendir(). */
  constructor(host: DirHost, fd: number, path: string | Uint8Array, q: SysPath, options: OpendirOptions) {
    const o = { bufferSize: DIR_BUFFER_SIZE_DEFAULT, ...options };
    validateInteger(o.bufferSize, "options.bufferSize", 1, DIR_BUFFER_SIZE_MAX);
    this.#host = host;
    this.#handle = { fd, records: null, next: 0 };
    this.#path = path;
    this.#q = q;
    this.#encoding = o.encoding;
    this.#bufferSize = o.bufferSize;
    this.#recursive = Boolean(o.recursive);
  }

  /** The path this Dir was opened with (as given: a string, or a Buffer). */
  get path(): string | Uint8Array { return this.#path; }

  /**
   * The next Dirent, or null at the end. Throws ERR_DIR_CLOSED, ERR_DIR_CONCURRENT_OPERATION,
   * getdents' errors as 'scandir', and (recursive) opendir's errors for a subdirectory.
   */
  readSync(): Dirent<string | Buffer> | null {
    if (this.#closed) throw dirClosed();
    if (this.#queue !== null) throw dirConcurrent();
    return this.#next();
  }

  /**
   * The next Dirent (or null) through a Promise, or through `callback(err, dirent)` on a
   * later tick. Throws ERR_DIR_CLOSED at once (not through the Promise), and
   * ERR_INVALID_ARG_TYPE for a callback that is not a function.
   */
  read(): Promise<Dirent<string | Buffer> | null>;
  read(callback: DirCallback<Dirent<string | Buffer> | null>): void;
  read(callback?: DirCallback<Dirent<string | Buffer> | null>): Promise<Dirent<string | Buffer> | null> | void {
    if (this.#closed) throw dirClosed();
    if (callback === undefined) {
      return new Promise((resolve, reject) => this.#readAsync((err, d) => (err ? reject(err) : resolve(d ?? null))));
    }
    if (typeof callback !== "function") throw invalidArgType("callback", "Function", callback);
    this.#readAsync(callback);
  }

  #readAsync(callback: DirCallback<Dirent<string | Buffer> | null>): void {
    if (this.#closed) { queueMicrotask(() => callback(dirClosed())); return; }
    if (this.#queue !== null) { this.#queue.push(() => this.#readAsync(callback)); return; }
    if (this.#buffered.length > 0) { // Node hands a buffered entry out on the next tick, no pending state
      let d: Dirent<string | Buffer> | null = null;
      try {
        d = this.#next();
      } catch (err) {
        queueMicrotask(() => callback(err as Error));
        return;
      }
      queueMicrotask(() => callback(null, d));
      return;
    }
    this.#queue = [];
    defer(() => {
      let result: Dirent<string | Buffer> | null = null;
      let error: Error | null = null;
      try {
        result = this.#next();
      } catch (err) {
        error = err as Error;
      }
      const queue = this.#queue ?? [];
      this.#queue = null;
      queueMicrotask(() => { for (const op of queue) op(); });
      callback(error, result);
    });
  }

  /** Closes the fd. Throws ERR_DIR_CLOSED, ERR_DIR_CONCURRENT_OPERATION, or close's error as 'closedir'. */
  closeSync(): void {
    if (this.#closed) throw dirClosed();
    if (this.#queue !== null) throw dirConcurrent();
    this.#closeNow();
  }

  /**
   * Closes the fd after any pending read: a Promise (rejected with ERR_DIR_CLOSED when
   * already closed) or `callback(err)` on a later tick.
   */
  close(): Promise<void>;
  close(callback: (err: Error | null) => void): void;
  close(callback?: (err: Error | null) => void): Promise<void> | void {
    if (callback === undefined) {
      if (this.#closed) return Promise.reject(dirClosed());
      return new Promise((resolve, reject) => this.#closeAsync((err) => (err ? reject(err) : resolve())));
    }
    if (typeof callback !== "function") throw invalidArgType("callback", "Function", callback);
    if (this.#closed) { queueMicrotask(() => callback(dirClosed())); return; }
    this.#closeAsync(callback);
  }

  #closeAsync(callback: (err: Error | null) => void): void {
    if (this.#queue !== null) { this.#queue.push(() => this.close(callback)); return; }
    this.#closed = true;
    defer(() => {
      try {
        this.#closeFd();
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback(null);
    });
  }

  #closeNow(): void {
    this.#closed = true;
    this.#closeFd();
  }

  #closeFd(): void {
    const r = this.#host.sys.close(this.#handle.fd);
    if (r < 0) throw uvException(r, "closedir", showPath(this.#q));
  }

  /** Reads every entry, then closes the Dir (also when the loop breaks or throws). */
  async *entries(): AsyncGenerator<Dirent<string | Buffer>, void, undefined> {
    try {
      for (;;) {
        const d = await this.read();
        if (d === null) break;
        yield d;
      }
    } finally {
      await this.close();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Dirent<string | Buffer>, void, undefined> {
    return this.entries();
  }

  // ---- the buffer ----

  /** Shifts the next buffered Dirent, refilling the buffer from the handle when empty. */
  #next(): Dirent<string | Buffer> | null {
    if (this.#buffered.length === 0) {
      const batch = this.#fetch(this.#handle, this.#q);
      if (batch === null) return null;
      for (const e of batch) this.#buffered.push(this.#dirent(this.#path, this.#q, e));
    }
    const d = this.#buffered.shift()!;
    if (this.#recursive && d.isDirectory()) this.#readSubdir(d);
    return d;
  }

  /** Up to bufferSize records from `h`, or null at the end; getdents errors as 'scandir'. */
  #fetch(h: Handle, q: SysPath): DirentRecord[] | null {
    if (h.records === null) {
      const r = this.#host.sys.getdents(h.fd);
      if (typeof r === "number") throw uvException(r, "scandir", showPath(q));
      h.records = r;
    }
    if (h.next >= h.records.length) return null;
    const batch = h.records.slice(h.next, h.next + this.#bufferSize);
    h.next += batch.length;
    return batch;
  }

  /** Appends all entries of the directory `d` names to the buffer (Node's readSyncRecursive). */
  #readSubdir(d: Dirent<string | Buffer>): void {
    const parent = d.parentPath;
    const name = d.name;
    // Node: path.join(parentPath, name) (names in a Buffer encoding stay bytes here)
    const path: string | Uint8Array = typeof parent === "string" && typeof name === "string" ? joinPath(parent, name)
      : Buffer.from(nameBytes(joinSys(callerPath(parent), callerPath(name))));
    const q = callerPath(path);
    const abs = this.#host.resolvePath(q);
    const fd = abs.length === 0 ? -ENOENT : this.#host.sys.open(abs, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) throw uvException(fd, "opendir", showPath(q));
    const h: Handle = { fd, records: null, next: 0 };
    try {
      for (let batch = this.#fetch(h, q); batch !== null; batch = this.#fetch(h, q)) {
        for (const e of batch) this.#buffered.push(this.#dirent(path, q, e));
      }
    } finally {
      this.#host.sys.close(fd);
    }
  }

  /** A Dirent for record `e` of directory `q`; DT_UNKNOWN asks lstat, like Node's getDirent. */
  #dirent(parent: string | Uint8Array, q: SysPath, e: DirentRecord): Dirent<string | Buffer> {
    let type = e.type;
    if (type === DT_UNKNOWN) {
      const child = joinSys(q, e.name);
      const st = this.#host.sys.lstat(this.#host.resolvePath(child));
      if (typeof st === "number") throw uvException(st, "lstat", showPath(child));
      type = dtFromMode(st.mode);
    }
    return new Dirent<string | Buffer>(encodeSysName(e.name as SysName, this.#encoding), type, parent);
  }
}
