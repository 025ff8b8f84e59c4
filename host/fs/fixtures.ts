// host/fs/fixtures.ts -- test fixtures as JSON: a tree of files and directories into and out of
// a HelixFs, in the shape memfs users already write (vol.fromJSON / vol.toJSON).
//
// Layer: host/fs, beside fs.ts (portable: no Node imports). It runs on any object with the few
// synchronous HelixFs methods of FixtureFs (fs.ts adds thin HelixFs.fromJSON / fromNestedJSON /
// toJSON over these functions).
// Interface:
//   fromJSON(fs, json, cwd?)            writes a flat { path: content | null } object;
//   fromNestedJSON(fs, nested, cwd?)    the same from { dir: { name: content, ... } };
//   toJSON(fs, paths?, json?, isRelative?, asBuffer?) -> { path: content | null }.
// The JSON shape (memfs's "DirectoryJSON"):
//   { "/a/b.txt": "text",              a regular file, its content as UTF-8 text;
//     "/a/raw.bin": Uint8Array | Buffer, a regular file, its exact bytes;
//     "/a/empty": null }                 a directory (with its parents);
//   keys are absolute or relative to `cwd`; parents of every key are created (mkdir -p).
// Rules:
//  - only regular files and directories have a JSON form. toJSON omits symlinks, FIFOs,
//    sockets and devices (memfs omits symlinks too); a directory whose entries were all omitted
//    (or that has none) appears as `null`, so that the directory itself survives a round trip
//    (memfs would drop a directory holding only a symlink). Hard links come back as separate
//    copies. Modes, owners and times are not recorded. For all of these use the host-directory
//    fixtures (host/node/hostdir.ts) instead;
//  - toJSON follows a symlink named in `paths` (memfs resolves it too) but not symlinks met
//    inside the walk, so a cycle of links cannot loop;
//  - contents come back as UTF-8 strings (lossy for bytes that are not UTF-8, as memfs) unless
//    asBuffer; names that are not valid UTF-8 cannot be JSON keys and fail with EILSEQ;
//  - errors are the fs's own (Node-shaped: EISDIR when a key names an existing directory,
//    ENOTDIR/EEXIST when a parent is a file, ...) or Node's ERR_INVALID_ARG_TYPE for a value
//    that is not a string, Uint8Array or null.

import { ENAMETOOLONG, S_IFDIR, S_IFMT, S_IFREG } from "./sys.js";
import { invalidArgType, isUint8Array, normalizePath, strictUtf8, utf8Decoder, uvException, validateObject } from "./utils.js";

/** A flat fixture: path -> UTF-8 text, exact bytes, or null for a directory. */
export type DirectoryJSON = Record<string, string | Uint8Array | null>;
/** A nested fixture: a name maps to content, null / {} (an empty directory) or a nested object. */
export interface NestedDirectoryJSON { [name: string]: string | Uint8Array | null | NestedDirectoryJSON }

/** The HelixFs methods the fixtures use (structural, so this file does not import fs.ts). */
export interface FixtureFs {
  readonly cwd: string;
  mkdirSync(path: string, options: { recursive: true }): string | undefined;
  writeFileSync(path: string, data: string | Uint8Array): void;
  readFileSync(path: string): Uint8Array;
  statSync(path: string, options: { throwIfNoEntry: false }): { mode: number } | undefined;
  lstatSync(path: string): { mode: number };
  readdirSync(path: string, options: { encoding: "buffer" }): Uint8Array[];
}

/** Linux's EILSEQ: a name the JSON form cannot hold. */
const EILSEQ = 84;
/**
 * Deepest directory nesting toJSON walks (it recurses once per level): a path of PATH_MAX
 * (4096) bytes holds at most 2048 names, so a real tree never reaches this.
 */
export const FIXTURE_DEPTH_MAX = 2048;

/** `p` as an absolute normalized path: absolute keys stay, relative ones join `cwd`. */
function resolveKey(p: string, cwd: string): string {
  return normalizePath(p.startsWith("/") ? p : `${cwd}/${p}`);
}

/** The directory part of an absolute normalized path ("/" for "/x"). */
function parentOf(abs: string): string {
  const slash = abs.lastIndexOf("/");
  return slash <= 0 ? "/" : abs.slice(0, slash);
}

/** `cwd` validated and made absolute against the fs's own cwd. */
function fixtureCwd(fs: FixtureFs, cwd: unknown): string {
  if (cwd === undefined) return fs.cwd;
  if (typeof cwd !== "string") throw invalidArgType("cwd", "string", cwd);
  return resolveKey(cwd, fs.cwd);
}

/**
 * memfs's vol.fromJSON(json, cwd): for every key (absolute, or relative to `cwd`, default the
 * fs's cwd), a string or Uint8Array value writes that file (creating its parents, mode 0o666
 * and 0o777 less the umask, replacing an existing file), null creates the directory and its
 * parents. Keys are applied in the object's order. Throws ERR_INVALID_ARG_TYPE (TypeError)
 * for a non-object `json`, a non-string `cwd` or a value of another type (before writing
 * anything), and the fs's errors (EISDIR, ENOTDIR, EEXIST, ENOSPC, ...) from the writes.
 */
export function fromJSON(fs: FixtureFs, json: DirectoryJSON, cwd?: string): void {
  validateObject(json, "json");
  const base = fixtureCwd(fs, cwd);
  const keys = Object.keys(json);
  for (const k of keys) {
    const v = json[k];
    if (v !== null && typeof v !== "string" && !isUint8Array(v)) throw invalidArgType(`json["${k}"]`, ["string", "Uint8Array", "null"], v);
  }
  for (const k of keys) {
    const abs = resolveKey(k, base);
    const v = json[k];
    if (v === null) {
      fs.mkdirSync(abs, { recursive: true });
    } else {
      fs.mkdirSync(parentOf(abs), { recursive: true });
      fs.writeFileSync(abs, v);
    }
  }
}

/**
 * memfs's flattenJSON: nested objects become paths joined with "/"; a null, a non-object or
 * an empty object becomes an empty directory (null). Throws ERR_INVALID_ARG_TYPE for a
 * non-object, or for nesting deeper than FIXTURE_DEPTH_MAX.
 */
export function flattenJSON(nested: NestedDirectoryJSON): DirectoryJSON {
  validateObject(nested, "json");
  const flat: DirectoryJSON = {};
  const walk = (prefix: string, node: NestedDirectoryJSON, depth: number): void => {
    if (depth > FIXTURE_DEPTH_MAX) throw invalidArgType("json", "Object", "nested deeper than FIXTURE_DEPTH_MAX");
    for (const name of Object.keys(node)) {
      const v = node[name];
      const p = prefix === "" ? name : `${prefix}/${name}`;
      if (typeof v === "string" || isUint8Array(v)) flat[p] = v;
      else if (v !== null && typeof v === "object" && Object.keys(v).length > 0) walk(p, v, depth + 1);
      else flat[p] = null;
    }
  };
  walk("", nested, 0);
  return flat;
}

/** memfs's vol.fromNestedJSON(json, cwd): fromJSON(fs, flattenJSON(nested), cwd). */
export function fromNestedJSON(fs: FixtureFs, nested: NestedDirectoryJSON, cwd?: string): void {
  fromJSON(fs, flattenJSON(nested), cwd);
}

/**
 * memfs's vol.toJSON(paths, json, isRelative, asBuffer): the regular files and directories
 * under each of `paths` (a string or an array; default "/"; a missing path is skipped, a
 * symlink named here is followed) added to `json` (returned). Keys are absolute, or with
 * `isRelative` relative to the path given (a file given directly is keyed by its base name;
 * the empty root itself then has no key). Values are UTF-8 strings, or Buffers-compatible
 * Uint8Arrays (the fs's Buffers) with `asBuffer`; a directory with no JSON-able entry is null.
 * Throws ERR_INVALID_ARG_TYPE for a path that is not a string, EILSEQ for a name that is not
 * UTF-8, and the fs's read errors (EACCES, EIO, ...).
 */
export function toJSON(fs: FixtureFs, paths?: string | string[], json: DirectoryJSON = {}, isRelative = false, asBuffer = false): DirectoryJSON {
  const list = paths === undefined ? ["/"] : Array.isArray(paths) ? paths : [paths];
  for (const p of list) {
    if (typeof p !== "string") throw invalidArgType("paths", "string", p);
    const abs = resolveKey(p, fs.cwd);
    const st = fs.statSync(abs, { throwIfNoEntry: false });
    if (st === undefined) continue;
    const type = st.mode & S_IFMT;
    const content = (f: string): string | Uint8Array => (asBuffer ? fs.readFileSync(f) : utf8Decoder.decode(fs.readFileSync(f)));
    if (type === S_IFREG) json[isRelative ? abs.slice(abs.lastIndexOf("/") + 1) : abs] = content(abs);
    else if (type === S_IFDIR) walkDir(fs, abs, isRelative ? abs : null, json, content, 0);
  }
  return json;
}

/**
 * Adds the files under directory `dir` to `json` (keys relative to `base` when it is not
 * null); returns whether it added any key, adding `dir: null` itself when it did not.
 */
function walkDir(fs: FixtureFs, dir: string, base: string | null, json: DirectoryJSON,
  content: (f: string) => string | Uint8Array, depth: number): boolean {
  if (depth > FIXTURE_DEPTH_MAX) throw uvException(-ENAMETOOLONG, "scandir", dir); // unreachable under PATH_MAX
  const keyOf = (p: string): string => (base === null ? p : base === "/" ? p.slice(1) : p.slice(base.length + 1));
  let added = false;
  for (const raw of fs.readdirSync(dir, { encoding: "buffer" })) {
    const name = strictUtf8(raw);
    if (name === null) throw uvException(-EILSEQ, "scandir", `${dir}/${utf8Decoder.decode(raw)}`);
    const p = dir === "/" ? `/${name}` : `${dir}/${name}`;
    const type = fs.lstatSync(p).mode & S_IFMT;
    if (type === S_IFREG) {
      json[keyOf(p)] = content(p);
      added = true;
    } else if (type === S_IFDIR) {
      walkDir(fs, p, base, json, content, depth + 1);
      added = true; // the subdirectory added at least its own null
    }
  }
  const key = keyOf(dir);
  if (!added && key !== "") json[key] = null;
  return added;
}
