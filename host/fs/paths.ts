// host/fs/paths.ts -- path functions of the Node-shaped fs: realpath (Node's JS walk and the
// realpath(3) walk of realpathSync.native), mkdtemp, and the POSIX path arithmetic
// (path.resolve / dirname / isAbsolute) that realpath and cp do in Node's JS.
//
// Layer: host/fs, beside fs.ts (which adds thin HelixFs / HelixFsPromises methods over these).
// Interface: realpathJs(host, path, options), realpathNative(host, path, options),
// mkdtemp(host, prefix, options), resolvePosix(cwd, ...paths), dirnamePosix, isAbsolutePosix,
// encodeSysName. `host` is the small structural PathHost (HelixFs fits it): no import of fs.ts.
// Rules:
//  - realpathJs is Node 20's fs.realpathSync: the path is first resolved *lexically* against
//    the cwd (so `link/..` is the link's parent, not the target's), then walked one
//    component at a time with lstat; each symlink is stat'ed once (so a loop or a dangling
//    link fails in 'stat') and read with readlink; errors carry the absolute path walked;
//  - realpathNative is glibc's realpath(3) (what libuv's uv_fs_realpath calls): `..` is
//    applied after symlinks, a non-directory followed by anything (or a trailing slash) is
//    ENOTDIR, more than SYMLINKS_MAX links is ELOOP; errors carry the caller's path and
//    syscall 'realpath';
//  - mkdtemp is libuv's uv_fs_mkdtemp over glibc's mkdtemp(3): prefix + 6 random characters
//    of [A-Za-z0-9], mkdir mode 0o700 (less the umask), retried on EEXIST;
//  - names are bytes: realpathNative keeps bytes that are not UTF-8 (a Buffer path, a link
//    target) exactly, as glibc does ('buffer' encoding returns them); realpathJs is lossy
//    there because Node's is (`path += ''`).

import { EEXIST, ELOOP, ENOENT, ENOTDIR, S_IFDIR, S_IFLNK, S_IFMT, type Sys, type SysName, type SysPath } from "./sys.js";
import { callerPath, concatBytes, fileURLToPath, getOptions, isURL, getValidatedPath, nameBytes, normalizePath, showPath, utf8Encoder, uvException } from "./utils.js";

/** glibc's __eloop_threshold(): symlinks realpath(3) follows before ELOOP (Linux's MAXSYMLINKS). */
export const SYMLINKS_MAX = 40;
/**
 * Components realpathJs looks at before giving up with ELOOP: Node's walk has no bound (every
 * link it follows has been stat'ed, so the kernel's ELOOP ends loops); this one is a backstop.
 */
export const REALPATH_STEPS_MAX = 1 << 16;
/** Random characters mkdtemp(3) puts after the prefix (the template's XXXXXX). */
export const MKDTEMP_RANDOM_CHARS = 6;
/** glibc's __gen_tempname alphabet (62 characters). */
export const MKDTEMP_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/** glibc's attempts before giving up with EEXIST (62^3). */
export const MKDTEMP_ATTEMPTS_MAX = 62 * 62 * 62;
/** Permission bits of a mkdtemp directory (before the umask). */
export const MKDTEMP_MODE = 0o700;

/** What these functions need of HelixFs: its Sys, cwd (absolute) and umask. */
export interface PathHost {
  readonly sys: Sys;
  readonly cwd: string;
  readonly umask: number;
  resolvePath(p: SysPath): SysPath;
}

// ---- POSIX path arithmetic (Node's path.posix, without node:path) -----------------------------

/** path.posix.isAbsolute. */
export function isAbsolutePosix(p: string): boolean {
  return p.length > 0 && p.charCodeAt(0) === 47;
}

/** path.posix.resolve(...paths) with `cwd` as process.cwd(): absolute, normalized, no trailing '/'. */
export function resolvePosix(cwd: string, ...paths: string[]): string {
  let joined = "";
  for (let i = paths.length - 1; i >= -1 && !isAbsolutePosix(joined); i--) {
    const part = i >= 0 ? paths[i] : cwd;
    if (part.length === 0) continue;
    joined = joined.length === 0 ? part : `${part}/${joined}`;
  }
  const n = normalizePath(joined.startsWith("/") ? joined : `/${joined}`);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** path.posix.dirname: '.' for a bare name, '/' for a child of the root, '//' kept as Node does. */
export function dirnamePosix(p: string): string {
  if (p.length === 0) return ".";
  const hasRoot = p.charCodeAt(0) === 47;
  let end = -1;
  let matchedSlash = true;
  for (let i = p.length - 1; i >= 1; i--) {
    if (p.charCodeAt(i) === 47) {
      if (!matchedSlash) { end = i; break; }
    } else matchedSlash = false;
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return p.slice(0, end);
}

/**
 * A name or path in the requested encoding, as Node's bindings return them: a string for
 * utf8 / no encoding (bytes that are not UTF-8 shown as U+FFFD), a Buffer of the exact bytes
 * for 'buffer', else the bytes re-encoded (e.g. 'hex', 'latin1').
 */
export function encodeSysName(name: SysName, encoding: unknown): string | Buffer {
  if (encoding === "buffer") return Buffer.from(nameBytes(name));
  if (!encoding || encoding === "utf8" || encoding === "utf-8") return showPath(name);
  return Buffer.from(nameBytes(name)).toString(encoding as BufferEncoding);
}

// ---- realpath ------------------------------------------------------------------------------

/** Node's encodeRealpathResult: the string itself, or its UTF-8 bytes as a Buffer / re-encoded. */
function encodeRealpathResult(p: string, options: Record<string, unknown>): string | Buffer {
  return encodeSysName(p, options.encoding);
}

/**
 * Node 20's fs.realpathSync (the JS one): the canonical absolute path of `path` (string,
 * Buffer, file: URL; relative to host.cwd; '' is the cwd), in options.encoding. Throws
 * ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for a bad path or encoding; ENOENT, ENOTDIR,
 * EACCES from 'lstat' for a missing or unreachable component; ENOENT / ELOOP from 'stat' for
 * a dangling or looping symlink; each error names the absolute path walked so far.
 */
export function realpathJs(host: PathHost, path: unknown, options: unknown): string | Buffer {
  const o = getOptions(options);
  // Node: toPathIfFileURL, then `p += ''` (a Buffer becomes its UTF-8 text, a number its
  // digits), then validatePath: only null bytes are refused
  const given = isURL(path) ? fileURLToPath(path) : path;
  const v = typeof given === "string" ? given : `${given as string}`;
  getValidatedPath(v);
  let p = resolvePosix(host.cwd, v);
  const seenLinks = new Map<string, SysName>();
  const knownHard = new Set<string>();
  let current = "/", base = "/", pos = 1;
  for (let steps = 0; pos < p.length; steps++) {
    if (steps > REALPATH_STEPS_MAX) throw uvException(-ELOOP, "lstat", base);
    const slash = p.indexOf("/", pos);
    const previous = current;
    if (slash === -1) {
      const last = p.slice(pos);
      current += last;
      base = previous + last;
      pos = p.length;
    } else {
      current += p.slice(pos, slash + 1);
      base = previous + p.slice(pos, slash);
      pos = slash + 1;
    }
    if (knownHard.has(base)) continue;
    const st = host.sys.lstat(base);
    if (typeof st === "number") throw uvException(st, "lstat", base);
    if ((st.mode & S_IFMT) !== S_IFLNK) {
      knownHard.add(base);
      continue;
    }
    const id = `${st.dev.toString(32)}:${st.ino.toString(32)}`;
    let target = seenLinks.get(id);
    if (target === undefined) {
      const s = host.sys.stat(base); // fails for a dangling link (ENOENT) or a loop (ELOOP)
      if (typeof s === "number") throw uvException(s, "stat", base);
      const t = host.sys.readlink(base);
      if (typeof t === "number") throw uvException(t, "readlink", base);
      target = t;
      seenLinks.set(id, t);
    }
    p = resolvePosix(host.cwd, resolvePosix(host.cwd, previous, showPath(target)), p.slice(pos));
    current = base = "/";
    pos = 1;
  }
  return encodeRealpathResult(p, o);
}

// realpath(3)'s walk is written once, over Components<C>: strings (every name UTF-8, the
// common case: String.split and join) or bytes (a path or link target that is not UTF-8).

/** What a component is to the walk: skipped ('' or '.'), the parent ('..'), or a name. */
const enum Step { Skip, Up, Name }

/** The component arithmetic of one representation C of names (string or bytes). */
interface Components<C> {
  /** The '/'-separated components of `p` (empty ones included, as String.split gives), or null when C cannot hold p. */
  split(p: SysName): C[] | null;
  /** What `c` is to the walk. */
  step(c: C): Step;
  /** '/' + `parts` joined by '/', as a SysPath (bytes only when they are not UTF-8). */
  join(parts: readonly C[]): SysPath;
}

/** Names as strings: a byte name that is not UTF-8 cannot be held (split gives null). */
const STRING_COMPONENTS: Components<string> = {
  split: (p) => (typeof p === "string" ? p.split("/") : null),
  step: (c) => (c === "" || c === "." ? Step.Skip : c === ".." ? Step.Up : Step.Name),
  join: (parts) => `/${parts.join("/")}`,
};

/** Names as bytes: holds every name. */
const BYTE_COMPONENTS: Components<Uint8Array> = {
  split: (p) => splitBytes(nameBytes(p)),
  step: (c) => (c.length === 0 || (c.length === 1 && c[0] === 46) ? Step.Skip
    : c.length === 2 && c[0] === 46 && c[1] === 46 ? Step.Up : Step.Name),
  join: joinBytes,
};

/** The components of a byte path between '/' (empty ones included, as String.split gives). */
function splitBytes(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === 47) { out.push(b.subarray(start, i)); start = i + 1; }
  }
  return out;
}

/** '/' + components joined by '/', as a SysPath (a string when the bytes are UTF-8). */
function joinBytes(parts: readonly Uint8Array[]): SysPath {
  let n = 1;
  for (const c of parts) n += c.length + 1;
  const out = new Uint8Array(Math.max(1, n - 1));
  out[0] = 47;
  let o = 1;
  parts.forEach((c, k) => {
    if (k > 0) out[o++] = 47;
    out.set(c, o);
    o += c.length;
  });
  return callerPath(out);
}

/** Whether a path or link target starts with '/'. */
function isAbsoluteName(n: SysName): boolean {
  return typeof n === "string" ? n.charCodeAt(0) === 47 : n[0] === 47;
}

/**
 * realpath(3) as glibc walks it, on the absolute path `abs`, over the names of `names`:
 * the canonical path, or -errno (ENOENT: a component is missing or a link dangles; ENOTDIR:
 * a non-directory is followed by more of the path or a trailing '/'; ELOOP: more than
 * SYMLINKS_MAX links; EACCES; ...), or null when `names` cannot hold a name met on the way
 * (a link target that is not UTF-8 in a string walk: walk again over bytes).
 */
function realpathWalk<C>(sys: Sys, names: Components<C>, abs: SysPath): SysPath | number | null {
  let rest = names.split(abs);
  if (rest === null) return null;
  const resolved: C[] = [];
  let links = 0;
  for (let i = 0; i < rest.length; i++) {
    const comp = rest[i];
    const step = names.step(comp);
    if (step === Step.Skip) continue;
    if (step === Step.Up) { resolved.pop(); continue; }
    resolved.push(comp);
    const here = names.join(resolved);
    const st = sys.lstat(here);
    if (typeof st === "number") return st;
    const type = st.mode & S_IFMT;
    if (type === S_IFLNK) {
      resolved.pop();
      if (++links > SYMLINKS_MAX) return -ELOOP;
      const t = sys.readlink(here);
      if (typeof t === "number") return t;
      const target = names.split(t);
      if (target === null) return null;
      if (isAbsoluteName(t)) resolved.length = 0;
      rest = [...target, ...rest.slice(i + 1)];
      i = -1;
      continue;
    }
    if (type !== S_IFDIR && i < rest.length - 1) return -ENOTDIR;
  }
  return names.join(resolved);
}

/**
 * Node's fs.realpathSync.native and fs.promises.realpath (libuv's realpath(3)): the
 * canonical absolute path of `path` (relative to host.cwd) in options.encoding. Throws
 * ERR_INVALID_ARG_* for bad arguments; ENOENT (also for ''), ENOTDIR, ELOOP, EACCES as
 * uvException(errno, 'realpath', path as given).
 */
export function realpathNative(host: PathHost, path: unknown, options: unknown): string | Buffer {
  const o = getOptions(options);
  const q = callerPath(getValidatedPath(path));
  const s = showPath(q);
  if (q.length === 0) throw uvException(-ENOENT, "realpath", s);
  const abs = host.resolvePath(q);
  const r = realpathWalk(host.sys, STRING_COMPONENTS, abs) ?? realpathWalk(host.sys, BYTE_COMPONENTS, abs)!;
  if (typeof r === "number") throw uvException(r, "realpath", s);
  return encodeSysName(r, o.encoding);
}

// ---- mkdtemp -------------------------------------------------------------------------------

/** MKDTEMP_RANDOM_CHARS characters of MKDTEMP_ALPHABET from the platform's CSPRNG. */
function randomSuffix(): string {
  const bytes = new Uint8Array(MKDTEMP_RANDOM_CHARS);
  globalThis.crypto.getRandomValues(bytes);
  let out = "";
  for (const b of bytes) out += MKDTEMP_ALPHABET[b % MKDTEMP_ALPHABET.length];
  return out;
}

/**
 * Node's fs.mkdtempSync / fs.promises.mkdtemp: creates the directory `prefix` + 6 random
 * characters with mode 0o700 (less the umask) and returns its path (relative if the prefix
 * is) in options.encoding ('buffer' gives a Buffer of the exact bytes). Throws
 * ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for a bad prefix or encoding; mkdir's errors
 * (ENOENT, ENOTDIR, EACCES, ENOSPC, EEXIST after MKDTEMP_ATTEMPTS_MAX collisions, ...) as
 * uvException(errno, 'mkdtemp', prefix + 'XXXXXX'). `errorShowsAttempt`: the error names
 * the last name tried instead, as Node 20's asynchronous mkdtemp does (glibc's mkdtemp(3)
 * fills the template in place and libuv reports that buffer).
 */
export function mkdtemp(host: PathHost, prefix: unknown, options: unknown, errorShowsAttempt = false): string | Buffer {
  const o = getOptions(options);
  const q = callerPath(getValidatedPath(prefix, "prefix"));
  const template = `${showPath(q)}XXXXXX`;
  const mode = MKDTEMP_MODE & ~host.umask;
  let r = -EEXIST;
  let tried = template;
  for (let attempt = 0; attempt < MKDTEMP_ATTEMPTS_MAX && r === -EEXIST; attempt++) {
    const suffix = randomSuffix();
    tried = showPath(q) + suffix;
    const name: SysPath = typeof q === "string" ? q + suffix : concatBytes(q, utf8Encoder.encode(suffix));
    const abs = host.resolvePath(name);
    r = abs.length === 0 ? -ENOENT : host.sys.mkdir(abs, mode);
    if (r === 0) return encodeSysName(name, o.encoding);
  }
  throw uvException(r, "mkdtemp", errorShowsAttempt ? tried : template);
}
