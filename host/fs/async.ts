// host/fs/async.ts -- the asynchronous plumbing shared by fs.promises, FileHandle and the
// callback API: macrotask scheduling, AbortSignal handling, and whole-file reads and writes
// that yield to the event loop between chunks.
//
// Layer: host/fs, under fs.ts (promises, FileHandle) and callback.ts. Imports sys.ts/utils.ts
// only; works on ChunkFs, a structural slice of HelixFs's synchronous methods (never fs.ts).
// Interface: deferKind, nextMacrotask(), defer(fn) (the one macrotask scheduler of host/fs:
// streams, Dir, cp and the callback API all use it), AbortError, checkAborted(signal),
// validateAbortSignal(signal, name), validateFunction(fn, name), readWholeFd(), writeWholeFd().
// Rules:
//  - one step moves at most IO_CHUNK_MAX bytes (one kernel transfer); between two steps the
//    loop awaits a macrotask (setImmediate, else a MessageChannel/setTimeout turn), so timers,
//    I/O callbacks and setImmediate callbacks of other code run during a long read or write;
//  - an AbortSignal is checked before the first step and between steps, like Node's
//    readFileHandle / writeFileHandle / ReadFileContext: AbortError (name 'AbortError', code
//    'ABORT_ERR', cause = signal.reason); bytes already written stay written (Node does the same);
//  - results are the same as the synchronous twins (readFileSync / writeFileSync): same
//    syscalls, same order, same errors; only the scheduling differs.
// No Node imports: runs in a browser.

import { S_IFMT, S_IFREG } from "./sys.js";
import { IO_CHUNK_MAX, IO_MAX_LENGTH, READ_UNKNOWN_CHUNK, invalidArgType, isArrayBufferView, nodeError, toU8 } from "./utils.js";

// ---- scheduling ----------------------------------------------------------------------------

type Task = () => void;

/** A host's macrotask sources, best first. */
export type MacrotaskSource = "setImmediate" | "MessageChannel" | "setTimeout";

/**
 * The macrotask source every deferred step of host/fs uses, chosen once when this module
 * loads: setImmediate (Node); else a MessageChannel (browsers: a task without setTimeout's
 * 4 ms clamp after nesting, which would make a 10,000-entry promises.cp take >= 40 s); else
 * setTimeout(0) as the last resort.
 */
export const deferKind: MacrotaskSource =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function" ? "setImmediate"
    : typeof (globalThis as { MessageChannel?: unknown }).MessageChannel === "function" ? "MessageChannel" : "setTimeout";

/**
 * The scheduler of `kind`. Tasks run in the order they were scheduled; one that throws is
 * reported by the host and does not stop the rest.
 */
function makeScheduler(kind: MacrotaskSource): (fn: Task) => void {
  const g = globalThis as { setImmediate?: (f: Task) => void; MessageChannel?: typeof MessageChannel };
  if (kind === "setImmediate") {
    const setImmediate = g.setImmediate!;
    return (fn) => { setImmediate(fn); };
  }
  if (kind === "MessageChannel") {
    const queue: Task[] = [];
    const channel = new g.MessageChannel!();
    channel.port1.onmessage = () => { queue.shift()?.(); };
    return (fn) => { queue.push(fn); channel.port2.postMessage(null); };
  }
  return (fn) => { setTimeout(fn, 0); };
}
const scheduleMacrotask = makeScheduler(deferKind);

/**
 * Runs `fn` in a later macrotask (never synchronously, never before the current microtasks).
 * The callback API, the streams and Dir's asynchronous reads deliver every result this way,
 * as libuv's thread pool does for Node.
 */
export function defer(fn: Task): void {
  scheduleMacrotask(fn);
}

/** A promise that resolves in a later macrotask: `await nextMacrotask()` yields to the event loop. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => scheduleMacrotask(resolve));
}

// ---- validation ----------------------------------------------------------------------------

/** Node's validateFunction: TypeError ERR_INVALID_ARG_TYPE 'The "cb" argument must be of type function. Received ...'. */
export function validateFunction(value: unknown, name: string): asserts value is (...args: unknown[]) => unknown {
  if (typeof value !== "function") throw invalidArgType(name, "Function", value);
}

/** The part of an AbortSignal these functions read. */
export interface SignalLike { readonly aborted: boolean; readonly reason?: unknown }

/**
 * Node's validateAbortSignal: undefined passes; anything else must be an object with an
 * `aborted` property, else TypeError ERR_INVALID_ARG_TYPE ('The "options.signal" property ...').
 */
export function validateAbortSignal(signal: unknown, name: string): void {
  if (signal !== undefined && (signal === null || typeof signal !== "object" || !("aborted" in signal))) {
    throw invalidArgType(name, "AbortSignal", signal);
  }
}

/** Node's AbortError (internal/errors.js): message 'The operation was aborted', code 'ABORT_ERR'. */
export class AbortError extends Error {
  readonly code = "ABORT_ERR";
  /** `cause` is the signal's reason. */
  constructor(message = "The operation was aborted", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AbortError";
  }
}

/** Throws AbortError (cause: signal.reason) when `signal` is aborted; undefined/null never aborts. */
export function checkAborted(signal: SignalLike | undefined | null): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

// ---- whole-file reads and writes -----------------------------------------------------------

/** The synchronous HelixFs methods the chunked loops run on (a structural slice of HelixFs). */
export interface ChunkFs {
  fstatSync(fd: number): { mode: number; size: number };
  readSync(fd: number, buffer: ArrayBufferView, offset: number, length: number, position: number | null): number;
  writeSync(fd: number, buffer: ArrayBufferView, offset: number, length: number, position: number | null): number;
}

/**
 * Reads `fd` from its current position to EOF as readFileSync does (size from fstat for a
 * regular file, else READ_UNKNOWN_CHUNK pieces until a 0-byte read), in steps of at most
 * IO_CHUNK_MAX bytes with a macrotask between steps. Returns the bytes read (a Buffer).
 * Throws (rejects with) the fstat/read error (uvException: EBADF, EISDIR, EIO, ...),
 * RangeError ERR_FS_FILE_TOO_LARGE above IO_MAX_LENGTH bytes, or AbortError.
 */
export async function readWholeFd(fs: ChunkFs, fd: number, signal?: SignalLike | null): Promise<Buffer> {
  checkAborted(signal);
  const st = fs.fstatSync(fd);
  const size = (st.mode & S_IFMT) === S_IFREG ? st.size : 0;
  if (size > IO_MAX_LENGTH) throw nodeError(RangeError, "ERR_FS_FILE_TOO_LARGE", `File size (${size}) is greater than 2 GiB`);
  if (size !== 0) {
    const buffer = Buffer.allocUnsafe(size);
    let pos = 0;
    for (;;) {
      checkAborted(signal);
      const n = fs.readSync(fd, buffer, pos, Math.min(size - pos, IO_CHUNK_MAX), null);
      pos += n;
      if (n === 0 || pos >= size) break;
      await nextMacrotask();
    }
    return pos < size ? buffer.subarray(0, pos) : buffer;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let sinceYield = 0;
  for (;;) {
    checkAborted(signal);
    const chunk = Buffer.allocUnsafe(READ_UNKNOWN_CHUNK);
    const n = fs.readSync(fd, chunk, 0, READ_UNKNOWN_CHUNK, null);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
    sinceYield += n;
    if (sinceYield >= IO_CHUNK_MAX) { sinceYield = 0; await nextMacrotask(); }
  }
  return Buffer.concat(chunks, total);
}

/**
 * Writes all of `data` at `fd`'s current position as writeFileSync does (write until done; a
 * short write continues where it stopped), in steps of at most IO_CHUNK_MAX bytes with a
 * macrotask between steps. Throws the write error (uvException: EBADF, ENOSPC, EFBIG, ...)
 * or AbortError (checked before each step; bytes written so far stay).
 */
export async function writeWholeFd(fs: ChunkFs, fd: number, data: Uint8Array, signal?: SignalLike | null): Promise<void> {
  checkAborted(signal);
  let off = 0;
  while (off < data.length) {
    checkAborted(signal);
    off += fs.writeSync(fd, data, off, Math.min(data.length - off, IO_CHUNK_MAX), null);
    if (off < data.length) await nextMacrotask();
  }
}

/** Node's isCustomIterable: an (async) iterable that is neither a string nor an ArrayBufferView. */
export function isCustomIterable(v: unknown): v is Iterable<unknown> | AsyncIterable<unknown> {
  if (v == null || typeof v === "string" || isArrayBufferView(v)) return false;
  const o = v as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown };
  return typeof o[Symbol.iterator] === "function" || typeof o[Symbol.asyncIterator] === "function";
}

/**
 * Node's writeFileHandle for an (async) iterable: each item (an ArrayBufferView, or a string
 * in `encoding`, default utf8) is written in full at `fd`'s position with writeWholeFd; the
 * signal is checked before each item. Rejects like writeWholeFd, or with what the iterator throws.
 */
export async function writeIterableFd(fs: ChunkFs, fd: number, data: Iterable<unknown> | AsyncIterable<unknown>, signal: SignalLike | null | undefined, encoding: unknown): Promise<void> {
  checkAborted(signal);
  for await (const item of data) {
    checkAborted(signal);
    const bytes = isArrayBufferView(item) ? toU8(item) : Buffer.from(item as string, (encoding as BufferEncoding) || "utf8");
    await writeWholeFd(fs, fd, bytes, signal);
  }
}
