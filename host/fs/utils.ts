// host/fs/utils.ts -- what every part of the Node-shaped fs shares (Node's internal/fs/utils,
// internal/errors and internal/validators roles): error objects, argument validators, name
// and path byte helpers, Stats / BigIntStats / StatFs / Dirent, option types, named limits.
//
// Layer: host/fs, under fs.ts and its parts (promises, streams, callbacks, dir, cp, watch).
// Interface: pure functions and classes; no state, no Sys calls.
// Rules: errors and messages match Node 20 on Linux byte for byte (see fs.ts's header);
// nothing here imports Node built-ins (the browser runs it with a Buffer polyfill).

import { ERRNO, EISDIR, S_IFMT, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK, S_IFSOCK, DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_SYNC, type StatRecord, type StatfsRecord, type SysPath, type SysName } from "./sys.js";

// ---- named limits --------------------------------------------------------------------------

/** Bytes moved by one read/write syscall: the kernel's transfer buffer (docs/abi.md). */
export const IO_CHUNK_MAX = 1024 * 1024;
/** Node's largest buffer for readFile (kIoMaxLength). */
export const IO_MAX_LENGTH = 2 ** 31 - 1;
/** Chunk for reading files whose size is unknown (Node's kReadFileUnknownBufferLength). */
export const READ_UNKNOWN_CHUNK = 64 * 1024;
/** Largest uid/gid (Node's kMaxUserId). */
export const MAX_USER_ID = 2 ** 32 - 1;
/** Steps of recursive mkdir before giving up (a path has at most PATH_MAX / 2 components). */
export const MKDIRP_STEPS_MAX = 4096;
/** Node's defaults for rm / rmdir options. */
export const DEFAULT_RM_OPTIONS = { retryDelay: 100, maxRetries: 0, recursive: false, force: false };
export const DEFAULT_RMDIR_OPTIONS = { retryDelay: 100, maxRetries: 0, recursive: false };
export const NOT_EMPTY_CODES = new Set(["ENOTEMPTY", "EEXIST", "EPERM"]);
export const RETRY_CODES = new Set(["EBUSY", "EMFILE", "ENFILE", "ENOTEMPTY", "EPERM"]);

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
export function nodeError<E extends Error>(Base: new (message: string) => E, code: string, message: string): E & { code: string } {
  const err = new Base(message) as E & { code: string };
  err.code = code;
  Object.defineProperty(err, "toString", {
    value() { return `${err.name} [${code}]: ${err.message}`; }, enumerable: false, configurable: true, writable: true,
  });
  return err;
}

export const K_TYPES = ["string", "function", "number", "object", "Function", "Object", "boolean", "bigint", "symbol"];

export function formatList(items: string[], type = "and"): string {
  if (items.length <= 2) return items.join(` ${type} `);
  return `${items.slice(0, -1).join(", ")}, ${type} ${items[items.length - 1]}`;
}

/** A short rendering of a value, like util.inspect for the cases fs errors print. */
export function inspect(value: unknown): string {
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
  if (Array.isArray(value)) return value.length === 0 ? "[]" : `[ ${value.map(inspect).join(", ")} ]`;
  if (value instanceof Date) return value.toISOString();
  const keys = Object.keys(value as object);
  const tag = Object.getPrototypeOf(value) === null ? "[Object: null prototype] " : "";
  if (keys.length === 0) return `${tag}{}`;
  return `${tag}{ ${keys.map((k) => `${k}: ${inspect((value as Record<string, unknown>)[k])}`).join(", ")} }`;
}

/** Node's determineSpecificType: how ERR_INVALID_ARG_TYPE describes the value it got. */
export function describeReceived(value: unknown): string {
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
export function invalidArgValue(name: string, value: unknown, reason = "is invalid"): TypeError & { code: string } {
  let shown = inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return nodeError(TypeError, "ERR_INVALID_ARG_VALUE", `The ${name.includes(".") ? "property" : "argument"} '${name}' ${reason}. Received ${shown}`);
}

export function addNumericalSeparator(val: string): string {
  let res = "";
  let i = val.length;
  const start = val[0] === "-" ? 1 : 0;
  for (; i >= start + 4; i -= 3) res = `_${val.slice(i - 3, i)}${res}`;
  return `${val.slice(0, i)}${res}`;
}

/** Node's ERR_OUT_OF_RANGE (RangeError). */
export function outOfRange(name: string, range: string, input: unknown): RangeError & { code: string } {
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
export function fsEisdir(path: string): Error {
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

export function isUint8Array(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

export function isArrayBufferView(v: unknown): v is ArrayBufferView {
  return ArrayBuffer.isView(v);
}

export function toU8(v: ArrayBufferView): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function validateInteger(value: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== "number") throw invalidArgType(name, "number", value);
  if (!Number.isInteger(value)) throw outOfRange(name, "an integer", value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
}

export function validateInt32(value: unknown, name: string, min = -2147483648, max = 2147483647): asserts value is number {
  validateInteger(value, name, min, max);
}

export function validateUint32(value: unknown, name: string): asserts value is number {
  validateInteger(value, name, 0, 4294967295);
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== "boolean") throw invalidArgType(name, "boolean", value);
}

export function validateObject(value: unknown, name: string, allowNullable = false): void {
  if ((!allowNullable && value === null) || Array.isArray(value) || (typeof value !== "object" && value !== null)) {
    throw invalidArgType(name, "Object", value);
  }
}

/**
 * Node's validateRmdirOptions: `defaults` (DEFAULT_RMDIR_OPTIONS, or DEFAULT_RM_OPTIONS for
 * rm) merged with `options`; recursive a boolean, retryDelay an int32 >= 0, maxRetries a
 * uint32, else ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE. rm checks `force` itself.
 */
export function validateRmdirOptions(options: unknown, defaults: Options = DEFAULT_RMDIR_OPTIONS): Options {
  if (options === undefined) return defaults;
  validateObject(options, "options");
  const o = { ...defaults, ...(options as Options) };
  validateBoolean(o.recursive, "options.recursive");
  validateInt32(o.retryDelay, "options.retryDelay", 0);
  validateUint32(o.maxRetries, "options.maxRetries");
  return o;
}

export function validateBuffer(buffer: unknown, name = "buffer"): asserts buffer is ArrayBufferView {
  if (!isArrayBufferView(buffer)) throw invalidArgType(name, ["Buffer", "TypedArray", "DataView"], buffer);
}

/** Node's file: URL -> path conversion (POSIX rules). */
export function fileURLToPath(url: URL): string {
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

export function isURL(v: unknown): v is URL {
  const u = v as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown } | null;
  return Boolean(u?.href && u.protocol && u.auth === undefined && u.path === undefined);
}

/** Validates a path argument and returns it as a string or Uint8Array (URLs converted). */
export function getValidatedPath(fileURLOrPath: unknown, propName = "path"): string | Uint8Array {
  const path = isURL(fileURLOrPath) ? fileURLToPath(fileURLOrPath) : fileURLOrPath;
  if (typeof path !== "string" && !isUint8Array(path)) throw invalidArgType(propName, ["string", "Buffer", "URL"], path);
  if (typeof path === "string" ? path.includes("\u0000") : path.includes(0)) {
    throw invalidArgValue(propName, path, "must be a string, Uint8Array, or URL without null bytes");
  }
  return path;
}

// ignoreBOM: a name may begin with EF BB BF, and those bytes are part of it
export const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });
export const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
export const utf8Encoder = new TextEncoder();

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
export function strictUtf8(b: Uint8Array): string | null {
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
export function callerPath(p: string | Uint8Array): SysPath {
  if (typeof p === "string") return p;
  return strictUtf8(p) ?? p;
}

/** Bytes a + b (a new Uint8Array). */
export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export const SLASH = new Uint8Array([47]);

/** The part of a path before its last '/', or null when it has none (mkdir -p's parent). */
export function dirnameSys(p: SysPath): SysPath | null {
  if (typeof p === "string") {
    const slash = p.lastIndexOf("/");
    return slash < 0 ? null : p.slice(0, slash);
  }
  const slash = p.lastIndexOf(47);
  return slash < 0 ? null : callerPath(p.subarray(0, slash));
}

/** `dir/name` for SysPaths; strings join as strings, anything else as bytes. */
export function joinSys(dir: SysPath, name: SysName): SysPath {
  if (typeof dir === "string" && typeof name === "string") return `${dir}/${name}`;
  return concatBytes(concatBytes(nameBytes(dir), SLASH), nameBytes(name));
}

/** Byte order (strcmp) of two names. */
export function compareNameBytes(a: SysName, b: SysName): number {
  if (typeof a === "string" && typeof b === "string") return compareUtf8(a, b);
  const x = nameBytes(a), y = nameBytes(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export function getValidatedFd(fd: unknown, propName = "fd"): number {
  if (Object.is(fd, -0)) return 0;
  validateInt32(fd, propName, 0);
  return fd;
}

/**
 * The fd check of Node's C++ bindings (GetValidatedFd: close, fstat, fsync, fdatasync,
 * ftruncate, fchmod, fchown, futimes): the errors of getValidatedFd, but the number is shown
 * as V8 prints it ("Received 10000000000", not "10_000_000_000"), a negative fraction is out of
 * range rather than not an integer, a bigint shows without its "n", a function without its
 * name, a null-prototype object as "an instance of Object".
 */
export function getValidatedFdNative(fd: unknown): number {
  const prefix = 'The "fd" argument must be of type number. Received';
  if (typeof fd === "bigint") throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE", `${prefix} type bigint (${fd})`);
  if (typeof fd === "function") throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE", `${prefix} function`);
  if (fd !== null && typeof fd === "object" && Object.getPrototypeOf(fd) === null) throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE", `${prefix} an instance of Object`);
  if (typeof fd !== "number") throw invalidArgType("fd", "number", fd);
  const outOfRange = fd < 0 || fd > 2147483647;
  if (outOfRange && Number.isFinite(fd)) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "fd" is out of range. It must be >= 0 && <= 2147483647. Received ${fd}`);
  if (outOfRange || !Number.isInteger(fd)) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "fd" is out of range. It must be an integer. Received ${fd}`);
  return fd === 0 ? 0 : fd; // -0 is fd 0
}

/**
 * The mode check of Node's C++ access/copyFile bindings (GetValidFileMode), with their own
 * messages: null/undefined pass; a non-number is ERR_INVALID_ARG_TYPE; a non-finite number
 * 'mode is out of range'; otherwise the number truncated toward 0 (7.5 is 7, -0.5 is 0) must
 * be in 0..7. Returns the mode to use (truncated), or undefined for null/undefined.
 */
export function validateFileModeNative(mode: unknown): number | undefined {
  if (mode == null) return undefined;
  if (typeof mode !== "number") throw nodeError(TypeError, "ERR_INVALID_ARG_TYPE", "mode must be int32 or null/undefined");
  if (!Number.isFinite(mode)) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", "mode is out of range");
  const m = Math.trunc(mode);
  if (m < 0 || m > 7) throw nodeError(RangeError, "ERR_OUT_OF_RANGE", "mode is out of range: >= 0 && <= 7");
  return m === 0 ? 0 : m;
}

export function isInt32(v: unknown): v is number {
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
export function parseFileMode(value: unknown, name: string, def?: number): number {
  value ??= def;
  if (typeof value === "string") {
    if (!/^[0-7]+$/.test(value)) throw invalidArgValue(name, value, "must be a 32-bit unsigned integer or an octal string");
    value = parseInt(value, 8);
  }
  validateUint32(value, name);
  return value;
}

export function assertEncoding(encoding: unknown): void {
  if (encoding && !Buffer.isEncoding(encoding as string)) throw invalidArgValue("encoding", encoding, "is invalid encoding");
}

export type Options = Record<string, unknown>;

/** Node's getOptions: null -> defaults; a string is the encoding; objects are used as given. */
export function getOptions(options: unknown, defaults: Options = {}): Options {
  if (options == null || typeof options === "function") return defaults;
  let o: Options;
  if (typeof options === "string") o = { ...defaults, encoding: options };
  else if (typeof options !== "object") throw invalidArgType("options", ["string", "Object"], options);
  else o = options as Options;
  if (o.encoding !== "buffer") assertEncoding(o.encoding);
  return o;
}

export function validateOffsetLengthRead(offset: number, length: number, bufferLength: number): void {
  if (offset < 0) throw outOfRange("offset", ">= 0", offset);
  if (length < 0) throw outOfRange("length", ">= 0", length);
  if (offset + length > bufferLength) throw outOfRange("length", `<= ${bufferLength - offset}`, length);
}

export function validateOffsetLengthWrite(offset: number, length: number, byteLength: number): void {
  if (offset > byteLength) throw outOfRange("offset", `<= ${byteLength}`, offset);
  if (length > byteLength - offset) throw outOfRange("length", `<= ${byteLength - offset}`, length);
  if (length < 0) throw outOfRange("length", ">= 0", length);
  validateInt32(length, "length", 0);
}

export function validatePosition(position: unknown, name: string): void {
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
export function readPosition(position: unknown): number | bigint | null {
  if (typeof position === "bigint") return position < 0n ? null : position;
  if (typeof position === "number" && position >= 0) return position;
  return null;
}

/**
 * A write position as Node's writeSync takes it, unvalidated: only a number that is a safe
 * integer counts (node_file.cc GetOffset), and a negative one means "current" as in libuv;
 * anything else (a bigint, 2^64 + 4096, 1.5, NaN) writes at the current position.
 */
export function writePosition(position: unknown): number | null {
  return typeof position === "number" && Number.isSafeInteger(position) && position >= 0 ? position : null;
}

export function validateStringAfterArrayBufferView(buffer: unknown, name: string): asserts buffer is string {
  if (typeof buffer !== "string") throw invalidArgType(name, ["string", "Buffer", "TypedArray", "DataView"], buffer);
}

export function validateEncoding(data: string, encoding: unknown): void {
  const normalized = typeof encoding === "string" ? encoding.toLowerCase() : undefined;
  if (normalized === "hex" && data.length % 2 !== 0) {
    throw invalidArgValue("encoding", encoding, `is invalid for data of length ${data.length}`);
  }
}

/** Node's toUnixTimestamp: seconds as a number, a numeric string, or a Date -> seconds. */
export function toUnixTimestamp(time: unknown, name = "time"): number {
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

export const NS_PER_SEC = 1_000_000_000n;

/** Splits ns since the epoch into (sec, nsec) with 0 <= nsec < 1e9, as struct timespec. */
export function timespec(ns: bigint): [number, number] {
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
export function msFromNs(ns: bigint): number {
  if (ns === memoNs) return memoMs;
  const [sec, nsec] = timespec(ns);
  memoNs = ns;
  memoMs = sec * 1e3 + nsec / 1e6;
  return memoMs;
}

export function dateFromMs(ms: number | bigint): Date {
  return new Date(Math.round(Number(ms)));
}

/** Methods shared by Stats and BigIntStats (Node's StatsBase). */
export abstract class StatsBase<T extends number | bigint> {
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
export function defineLazyDates(proto: object): void {
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

export function dtFromMode(mode: number): number {
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
export const NON_BMP_ORDER = /[\ud800-\uffff]/;

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
export function normalizePath(p: string): string {
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

export function joinPath(a: string, b: string): string {
  return normalizePath(a === "" ? b : b === "" ? a : `${a}/${b}`);
}

/** path.posix.relative(from, to) for two paths built by joinPath from the same base. */
export function relativePath(from: string, to: string): string {
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

