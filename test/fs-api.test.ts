// test/fs-api.test.ts -- host/fs/fs.ts over NodeSys compared with Node's real fs.
//
// Every check runs the same code twice: on createFs(new NodeSys(subjDir)) with kernel paths
// '/x', and on Node's fs with host paths `${realDir}/x`; both directories live on tmpfs. The
// outcomes (return values, or error class/code/errno/syscall/path/dest/message with the real
// directory prefix removed) must be identical.

import { afterAll, beforeEach, describe, expect, it } from "vitest";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { isMainThread } from "node:worker_threads";
import { BigIntStats, createFs, HelixFs, IO_CHUNK_MAX, Stats, Sys } from "../host/fs/fs.js";
import { NodeSys } from "../host/node/nodesys.js";

const TMP = nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
const base = nodeFs.mkdtempSync(path.join(TMP, "helix-fsapi-"));
const subjDir = path.join(base, "subj");
const realDir = path.join(base, "real");
nodeFs.mkdirSync(subjDir);
nodeFs.mkdirSync(realDir);
const UMASK = process.umask();
const sys = new NodeSys(subjDir);
const hfs: HelixFs = createFs(sys, { umask: UMASK });

afterAll(() => nodeFs.rmSync(base, { recursive: true, force: true }));
beforeEach(() => {
  sys.closeAll();
  for (const d of [subjDir, realDir]) for (const n of nodeFs.readdirSync(d)) nodeFs.rmSync(path.join(d, n), { recursive: true, force: true });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFs = any;
type P = (rel: string) => string;
type Outcome = { ok: unknown } | { err: Record<string, unknown> };

function strip(v: unknown): unknown {
  if (typeof v === "string") return v.split(realDir).join("");
  if (Buffer.isBuffer(v)) return { buffer: strip(v.toString("latin1")) };
  return v;
}

function errShape(e: unknown): Record<string, unknown> {
  const err = e as Error & Record<string, unknown>;
  const out: Record<string, unknown> = {
    name: err.name, message: strip(err.message), keys: Object.keys(err).sort(),
    code: err.code, errno: err.errno, syscall: err.syscall, path: strip(err.path), dest: strip(err.dest),
    isTypeError: err instanceof TypeError, isRangeError: err instanceof RangeError,
  };
  if (err.info) out.info = { ...(err.info as object), path: strip((err.info as Record<string, unknown>).path) };
  return out;
}

const DATE_FIELDS = ["atime", "mtime", "ctime", "birthtime"];
/** Reads the four Date fields (materialising lazy ones as own properties), returns `s`. */
function withDates(s: object): Record<string, unknown> {
  const r = s as Record<string, unknown>;
  for (const k of DATE_FIELDS) void r[k];
  return r;
}

/** A comparable projection of a value (Stats minus ino/dev/times, Dirents, Buffers). */
function norm(v: unknown): unknown {
  if (v === undefined || v === null || typeof v !== "object") return strip(v);
  if (Buffer.isBuffer(v)) return strip(v);
  if (Array.isArray(v)) return v.map(norm);
  const o = v as Record<string, unknown>;
  if (typeof o.isFile === "function" && "mode" in o) {
    withDates(o); // Node 20 has eager Dates, HelixFS lazy ones (Node 22+): compare them read
    const s = o as unknown as Stats;
    return {
      keys: Object.keys(o), mode: s.mode, nlink: s.nlink, uid: s.uid, gid: s.gid, rdev: s.rdev, size: s.size,
      blksize: s.blksize, blocks: s.blocks, types: [s.isFile(), s.isDirectory(), s.isSymbolicLink(), s.isFIFO(), s.isSocket(), s.isBlockDevice(), s.isCharacterDevice()],
      fieldTypes: Object.keys(o).map((k) => (o[k] instanceof Date ? "date" : typeof o[k])),
    };
  }
  if (typeof o.isFile === "function" && "name" in o) {
    const d = o as unknown as nodeFs.Dirent;
    return { keys: Object.keys(o), name: strip(d.name), parentPath: strip(d.parentPath), path: strip(d.path),
      types: [d.isFile(), d.isDirectory(), d.isSymbolicLink()] };
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = norm(o[k]);
  return out;
}

function outcome(f: (fs: AnyFs, p: P) => unknown, fs: AnyFs, p: P): Outcome {
  try {
    return { ok: norm(f(fs, p)) };
  } catch (e) {
    return { err: errShape(e) };
  }
}

const subP: P = (rel) => `/${rel}`;
const realP: P = (rel) => `${realDir}/${rel}`;

/** Runs `f` on both and expects identical outcomes; returns the subject's. */
function same(f: (fs: AnyFs, p: P) => unknown): Outcome {
  const a = outcome(f, hfs, subP);
  const b = outcome(f, nodeFs, realP);
  expect(a).toEqual(b);
  return a;
}

async function outcomeAsync(f: (fs: AnyFs, p: P) => Promise<unknown>, fs: AnyFs, p: P): Promise<Outcome> {
  try {
    return { ok: norm(await f(fs, p)) };
  } catch (e) {
    return { err: errShape(e) };
  }
}

async function sameAsync(f: (fs: AnyFs, p: P) => Promise<unknown>): Promise<Outcome> {
  const a = await outcomeAsync(f, hfs, subP);
  const b = await outcomeAsync(f, nodeFs, realP);
  expect(a).toEqual(b);
  return a;
}

/** The same small tree on both sides. */
function tree(): void {
  same((fs, p) => {
    fs.mkdirSync(p("d/sub"), { recursive: true });
    fs.writeFileSync(p("f"), "hello world");
    fs.writeFileSync(p("d/g"), Buffer.from([1, 2, 3]));
    fs.symlinkSync("f", p("lf"));
    fs.symlinkSync("d", p("ld"));
    fs.symlinkSync("nothing", p("dangling"));
    fs.symlinkSync("loop", p("loop"));
    return fs.readdirSync(p(""));
  });
}

const TARGETS = ["missing", "f", "d", "lf", "ld", "dangling", "loop", "f/x", "missing/x", "d/", "f/", "x".repeat(256)];

describe("open, read, write", () => {
  it("string flags on every kind of target", () => {
    tree();
    for (const flag of ["r", "rs", "r+", "w", "wx", "w+", "wx+", "a", "ax", "a+", "ax+", "as", "as+", "rs+"]) {
      for (const t of TARGETS) {
        same((fs, p) => {
          const fd = fs.openSync(p(t), flag, 0o640);
          fs.closeSync(fd);
          return { flag, t, st: fs.lstatSync(p(t.replace(/\/$/, ""))) };
        });
      }
      nodeFs.rmSync(path.join(subjDir, "missing"), { force: true });
      nodeFs.rmSync(path.join(realDir, "missing"), { force: true });
      nodeFs.rmSync(path.join(subjDir, "nothing"), { force: true });
      nodeFs.rmSync(path.join(realDir, "nothing"), { force: true });
    }
  });

  it("numeric flags: O_DIRECTORY, O_NOFOLLOW, O_EXCL through a dangling symlink", () => {
    tree();
    const C = nodeFs.constants;
    for (const flags of [C.O_RDONLY | C.O_DIRECTORY, C.O_RDONLY | C.O_NOFOLLOW, C.O_WRONLY | C.O_CREAT | C.O_EXCL, C.O_RDWR | C.O_TRUNC]) {
      for (const t of TARGETS) same((fs, p) => { fs.closeSync(fs.openSync(p(t), flags)); return { flags, t }; });
    }
  });

  it("read and write signatures, positions, append and EOF", () => {
    same((fs, p) => {
      const fd = fs.openSync(p("a"), "w+");
      const out: unknown[] = [];
      out.push(fs.writeSync(fd, "héllo wörld"));
      out.push(fs.writeSync(fd, "XY", 2));
      out.push(fs.writeSync(fd, Buffer.from("abcdef"), 1, 3));
      out.push(fs.writeSync(fd, Buffer.from("abcdef"), 2, 2, 40)); // hole up to 40
      out.push(fs.writeSync(fd, new Uint16Array([0x4142, 0x4344]), { offset: 1, length: 2 }));
      out.push(fs.writeSync(fd, "6869", null, "hex"));
      const b = Buffer.alloc(64);
      out.push(fs.readSync(fd, b, 0, 64, 0), b.toString("latin1"));
      out.push(fs.readSync(fd, b, { position: 3, length: 5 }), b.subarray(0, 5));
      out.push(fs.readSync(fd, b, 0, 10, null)); // current position: EOF
      out.push(fs.readSync(fd, b, 0, 10, 1000)); // far past EOF
      out.push(fs.readSync(fd, b), fs.readSync(fd, b, 5, 0, 0));
      out.push(fs.readSync(fd, new DataView(b.buffer, b.byteOffset, 8), 0, 8, 2n), b.subarray(0, 8));
      fs.closeSync(fd);
      const ap = fs.openSync(p("a"), "a+");
      out.push(fs.writeSync(ap, "tail", 0)); // Linux: pwrite on O_APPEND appends
      out.push(fs.readSync(ap, b, 0, 4, null)); // append fds start reading at 0
      fs.closeSync(ap);
      out.push(fs.readFileSync(p("a")));
      return out;
    });
  });

  it("fd errors: EISDIR, EBADF on the wrong mode, closed fds", () => {
    tree();
    same((fs, p) => { const fd = fs.openSync(p("d"), "r"); try { return fs.readSync(fd, Buffer.alloc(4)); } finally { fs.closeSync(fd); } });
    same((fs, p) => { const fd = fs.openSync(p("f"), "r"); try { return fs.writeSync(fd, "x"); } finally { fs.closeSync(fd); } });
    same((fs, p) => { const fd = fs.openSync(p("f"), "w"); try { return fs.readSync(fd, Buffer.alloc(4)); } finally { fs.closeSync(fd); } });
    same((fs, p) => { const fd = fs.openSync(p("f"), "r"); try { return fs.ftruncateSync(fd, 2); } finally { fs.closeSync(fd); } });
    for (const op of ["close", "fstat", "fsync", "fdatasync", "read", "write", "ftruncate"]) {
      same((fs, p) => {
        const fd = fs.openSync(p("f"), "r+");
        fs.closeSync(fd);
        switch (op) {
          case "close": return fs.closeSync(fd);
          case "fstat": return fs.fstatSync(fd);
          case "fsync": return fs.fsyncSync(fd);
          case "fdatasync": return fs.fdatasyncSync(fd);
          case "read": return fs.readSync(fd, Buffer.alloc(2));
          case "write": return fs.writeSync(fd, "x");
          default: return fs.ftruncateSync(fd, 1);
        }
      });
    }
  });

  it("truncate and ftruncate grow, shrink and clamp negative lengths", () => {
    tree();
    same((fs, p) => {
      const out: unknown[] = [];
      fs.truncateSync(p("f"), 3); out.push(fs.readFileSync(p("f")));
      fs.truncateSync(p("f"), 10); out.push(fs.readFileSync(p("f")));
      fs.truncateSync(p("f"), -5); out.push(fs.statSync(p("f")).size);
      fs.truncateSync(p("lf"), 7); out.push(fs.statSync(p("f")).size);
      const fd = fs.openSync(p("f"), "r+");
      fs.ftruncateSync(fd, 100_000); out.push(fs.fstatSync(fd).size);
      fs.ftruncateSync(fd); out.push(fs.fstatSync(fd).size);
      fs.closeSync(fd);
      return out;
    });
    for (const t of ["d", "missing", "f/x", "dangling"]) same((fs, p) => fs.truncateSync(p(t), 1));
  });
});

describe("stat family", () => {
  it("Date fields are lazy, cached and assignable, as in Node 22+", () => {
    tree();
    for (const bigint of [false, true]) {
      const st = hfs.statSync("/f", { bigint }) as unknown as Record<string, unknown>;
      expect(Object.keys(st)).not.toContain("mtime");
      const m = st.mtime as Date;
      expect(m).toBeInstanceOf(Date);
      expect(m.getTime()).toBe(Math.round(Number(st.mtimeMs)));
      expect(st.mtime).toBe(m);
      expect(Object.keys(st)).toContain("mtime");
      st.ctime = "replaced";
      expect(st.ctime).toBe("replaced");
      expect(hfs.statSync("/f").ctime).toBeInstanceOf(Date);
    }
  });

  it("Stats fields equal Node's on the very same file, bigint too", () => {
    tree();
    hfs.utimesSync("/f", 1700000000.123456, new Date(1234567890123));
    for (const t of ["f", "d", "lf", "ld", "d/g", ""]) {
      const host = path.join(subjDir, t);
      for (const bigint of [false, true]) {
        const mine = hfs.statSync(`/${t}`, { bigint }) as unknown as Record<string, unknown>;
        const real = nodeFs.statSync(host, { bigint }) as unknown as Record<string, unknown>;
        // Node 22+ keeps the Dates lazy: not own keys until read, then cached (Node 20: eager)
        expect(Object.keys(mine)).toEqual(Object.keys(real).filter((k) => !DATE_FIELDS.includes(k)));
        expect(withDates(mine).atime).toBe(mine.atime);
        expect(Object.keys(mine)).toEqual(Object.keys(withDates(real)));
        expect({ ...mine }).toEqual({ ...real });
        const lm = withDates(hfs.lstatSync(`/${t}`, { bigint }));
        expect({ ...lm }).toEqual({ ...withDates(nodeFs.lstatSync(host, { bigint })) });
      }
    }
    const fd = hfs.openSync("/f", "r");
    const hostFd = nodeFs.openSync(path.join(subjDir, "f"), "r");
    expect({ ...withDates(hfs.fstatSync(fd)) }).toEqual({ ...withDates(nodeFs.fstatSync(hostFd)) });
    expect(hfs.fstatSync(fd, { bigint: true })).toBeInstanceOf(BigIntStats);
    hfs.closeSync(fd);
    nodeFs.closeSync(hostFd);
  });

  it("type predicates, throwIfNoEntry and errors", () => {
    tree();
    for (const t of TARGETS) {
      same((fs, p) => fs.statSync(p(t)));
      same((fs, p) => fs.lstatSync(p(t)));
      same((fs, p) => fs.statSync(p(t), { throwIfNoEntry: false }));
      same((fs, p) => fs.lstatSync(p(t), { bigint: true, throwIfNoEntry: false }));
      same((fs, p) => fs.existsSync(p(t)));
    }
    same((fs) => [fs.existsSync(""), fs.existsSync(5), fs.existsSync("a\0b"), fs.existsSync(undefined)]);
    if (process.getuid?.() === 0) { // access() answers for root, which is what the kernel models
      same((fs, p) => { fs.chmodSync(p("d/g"), 0o644); fs.chmodSync(p("f"), 0o700); return null; });
      for (const t of [...TARGETS, "d/g"]) for (const m of [undefined, 0, 1, 2, 4, 7]) same((fs, p) => fs.accessSync(p(t), m));
      same((fs, p) => fs.accessSync(p("f"), 8));
      same((fs, p) => fs.promises.access(p("d/g"), 1).catch((e: Error) => errShape(e)));
    }
  });

  it("statfs has Node's shape", () => {
    const mine = hfs.statfsSync("/");
    const real = nodeFs.statfsSync(realDir);
    expect(Object.keys(mine)).toEqual(Object.keys(real));
    expect(Object.values(hfs.statfsSync("/", { bigint: true })).every((v) => typeof v === "bigint")).toBe(true);
    same((fs, p) => fs.statfsSync(p("missing")));
  });

  it("chmod, chown, utimes, lutimes", () => {
    tree();
    same((fs, p) => {
      fs.chmodSync(p("f"), 0o604);
      fs.chmodSync(p("d"), "751");
      fs.chownSync(p("f"), 123, 456);
      fs.chownSync(p("lf"), -1, 7);
      return [fs.statSync(p("f")), fs.statSync(p("d")).mode];
    });
    for (const t of [0, 1.5, 1700000000.123456789, "1234.5", new Date(1e12 + 0.5), "-5", 2 ** 40 + 0.3]) {
      same((fs, p) => {
        fs.utimesSync(p("f"), t, t);
        const s = fs.statSync(p("f"), { bigint: true });
        return [String(s.atimeNs), String(s.mtimeNs), fs.statSync(p("f")).mtimeMs];
      });
    }
    same((fs, p) => {
      fs.lutimesSync(p("dangling"), 10, 20);
      const s = fs.lstatSync(p("dangling"));
      return [s.atimeMs, s.mtimeMs];
    });
    for (const t of ["missing", "f/x", "dangling", "loop"]) {
      same((fs, p) => fs.chmodSync(p(t), 0o600));
      same((fs, p) => fs.chownSync(p(t), 1, 1));
      same((fs, p) => fs.utimesSync(p(t), 1, 1));
    }
    same((fs, p) => fs.utimesSync(p("f"), "Infinity", 1));
  });
});

describe("directories", () => {
  it("readdir: sorted names, withFileTypes, encodings, recursive", () => {
    tree();
    same((fs, p) => {
      for (const n of ["b", "a", "C", "_", "ä", "😀", "\uffef", "z".repeat(255)]) fs.writeFileSync(p(`d/${n}`), n);
      return [
        fs.readdirSync(p("d")), fs.readdirSync(p("d/")), fs.readdirSync(p("ld")),
        fs.readdirSync(p("d"), { withFileTypes: true }), fs.readdirSync(p(""), { withFileTypes: true }),
        fs.readdirSync(p("d"), "buffer"), fs.readdirSync(p("d"), { encoding: "hex" }),
        fs.readdirSync(p(""), { recursive: true }), fs.readdirSync(p(""), { recursive: true, withFileTypes: true }),
        fs.readdirSync(Buffer.from(p("d")), { withFileTypes: true }).map((d: nodeFs.Dirent) => Buffer.isBuffer(d.parentPath)),
      ];
    });
    for (const t of TARGETS) same((fs, p) => fs.readdirSync(p(t)));
  });

  it("readdir sorts whatever order the kernel returns and asks lstat for DT_UNKNOWN", () => {
    tree();
    for (const n of ["b", "a", "C", "ä", "😀", "\uffef"]) hfs.writeFileSync(`/d/${n}`, n);
    const scrambled: Sys = Object.create(sys);
    scrambled.getdents = (fd) => {
      const r = sys.getdents(fd);
      return typeof r === "number" ? r : r.reverse().map((e) => ({ ...e, type: 0 }));
    };
    const sfs = createFs(scrambled, { umask: UMASK });
    expect(sfs.readdirSync("/d")).toEqual(nodeFs.readdirSync(path.join(subjDir, "d")));
    const types = (list: nodeFs.Dirent[]) => list.map((d) => [d.name, d.isFile(), d.isDirectory(), d.isSymbolicLink()]);
    expect(types(sfs.readdirSync("/", { withFileTypes: true }) as unknown as nodeFs.Dirent[]))
      .toEqual(types(nodeFs.readdirSync(subjDir, { withFileTypes: true })));
  });

  it("mkdir, recursive results and errors", () => {
    tree();
    for (const t of [...TARGETS, "a/b/c", "a/b/c/", "d/sub/n1/n2", "lf/x", "ld/new", "dangling/x", "d/../q/../r", "a//b2"]) {
      same((fs, p) => [fs.mkdirSync(p(t), { recursive: true }), fs.existsSync(p(t))]);
      same((fs, p) => fs.mkdirSync(p(t)));
    }
    same((fs, p) => { fs.mkdirSync(p("m1"), 0o700); fs.mkdirSync(p("m2"), { mode: "750" }); fs.mkdirSync(p("m3"), { mode: 0o1777 }); return [fs.statSync(p("m1")), fs.statSync(p("m2")), fs.statSync(p("m3"))]; });
  });

  // process.chdir is not available in worker threads (vitest's 'threads' pool).
  it.skipIf(!isMainThread)("relative paths resolve against cwd, and mkdir -p returns them relative", () => {
    const sub = createFs(sys, { cwd: "/", umask: UMASK });
    const before = process.cwd();
    process.chdir(realDir);
    try {
      const run = (fs: AnyFs) => { const out = [fs.mkdirSync("r1/r2", { recursive: true }), fs.writeFileSync("r1/f", "x"), fs.readdirSync("r1")]; try { fs.readFileSync("r1/nope"); } catch (e) { out.push(errShape(e)); } return out; };
      expect(norm(run(sub))).toEqual(norm(run(nodeFs)));
    } finally {
      process.chdir(before);
    }
  });

  it("rmdir, rm with recursive and force, unlink", () => {
    tree();
    for (const t of TARGETS) {
      same((fs, p) => fs.rmdirSync(p(t)));
      same((fs, p) => fs.unlinkSync(p(t)));
    }
    tree();
    same((fs, p) => { fs.mkdirSync(p("e")); fs.rmdirSync(p("e")); return fs.existsSync(p("e")); });
    for (const opts of [undefined, { force: true }, { recursive: true }, { recursive: true, force: true }]) {
      for (const t of ["missing", "d", "f", "ld", "dangling", "f/x", "loop"]) {
        same((fs, p) => { fs.rmSync(p(t), opts); return fs.readdirSync(p("")); });
      }
      tree();
    }
    same((fs, p) => fs.rmSync(p("d"), { recursive: "yes" }));
    same((fs, p) => fs.rmSync(p("d"), { maxRetries: -1 }));
  });

  it("rename, link, symlink, readlink", () => {
    tree();
    const pairs = [["f", "f2"], ["f", "d"], ["d", "f"], ["d", "d/sub/x"], ["d", "e"], ["missing", "z"], ["f", "missing/z"],
      ["lf", "lf2"], ["f", "lf2"], ["d/g", "d/sub"], ["e", "d"], ["f2", "f2"], ["e", "e/"]];
    for (const [a, b] of pairs) {
      same((fs, p) => { fs.renameSync(p(a), p(b)); return fs.readdirSync(p(""), { recursive: true }); });
      same((fs, p) => { fs.linkSync(p(a), p(`${b}.ln`)); return fs.lstatSync(p(`${b}.ln`)); });
      same((fs, p) => { fs.symlinkSync(a, p(b)); return fs.readlinkSync(p(b)); });
    }
    for (const t of TARGETS) same((fs, p) => [fs.readlinkSync(p(t)), fs.readlinkSync(p(t), "buffer")]);
    same((fs, p) => fs.symlinkSync("x", p("sy"), "bogus"));
    same((fs, p) => { fs.symlinkSync(Buffer.from("t\u00e9"), pathToFileURL(p("sy2"))); return fs.readlinkSync(p("sy2"), { encoding: "hex" }); });
  });
});

describe("whole-file functions", () => {
  it("readFile, writeFile, appendFile: encodings, flags, modes, fds", () => {
    tree();
    same((fs, p) => {
      const out: unknown[] = [];
      fs.writeFileSync(p("w1"), "héllo", { mode: 0o600 }); out.push(fs.statSync(p("w1")), fs.readFileSync(p("w1"), "utf8"));
      fs.writeFileSync(p("w2"), "68656c6c6f", "hex"); out.push(fs.readFileSync(p("w2"), "latin1"));
      fs.writeFileSync(p("w3"), new Float32Array([1.5, 2.5])); out.push(fs.readFileSync(p("w3")));
      fs.appendFileSync(p("w3"), "tail"); fs.appendFileSync(p("w4"), Buffer.from("new"), { mode: "640" });
      out.push(fs.readFileSync(p("w3"), { encoding: "base64" }), fs.statSync(p("w4")));
      fs.writeFileSync(p("w1"), "again", { flag: "a" }); out.push(fs.readFileSync(p("w1"), "utf8"));
      fs.writeFileSync(p("w5"), "", { flush: true }); out.push(fs.readFileSync(p("w5")));
      const fd = fs.openSync(p("w1"), "r+");
      fs.readSync(fd, Buffer.alloc(2), 0, 2, null);
      out.push(fs.readFileSync(fd, "utf8")); // the rest from the position
      fs.writeFileSync(fd, "ZZ"); fs.appendFileSync(fd, "!"); fs.closeSync(fd);
      out.push(fs.readFileSync(p("w1"), { encoding: "utf8", flag: "r+" }), fs.readFileSync(pathToFileURL(p("w1"))));
      out.push(fs.readFileSync(p("lf"), "ascii"));
      return out;
    });
    for (const t of TARGETS) {
      same((fs, p) => fs.readFileSync(p(t)));
      same((fs, p) => fs.readFileSync(p(t), "utf8"));
      same((fs, p) => { fs.writeFileSync(p(t), "w", { flag: "wx" }); return fs.readFileSync(p(t.replace(/\/$/, "")), "utf8"); });
      same((fs, p) => { fs.appendFileSync(p(t), Buffer.from("a")); return fs.lstatSync(p(t.replace(/\/$/, ""))); });
    }
    same((fs, p) => fs.readFileSync(p("f"), { flag: "zz" }));
    same((fs, p) => fs.writeFileSync(p("f"), 42));
    same((fs, p) => fs.writeFileSync(p("f"), "x", { encoding: "nope" }));
  });

  it("reads and writes large files in syscalls of at most 1 MiB", () => {
    const calls: number[] = [];
    const counting: Sys = Object.create(sys);
    counting.read = (fd, buf, off, len, pos) => { calls.push(len); return sys.read(fd, buf, off, len, pos); };
    counting.write = (fd, buf, off, len, pos) => { calls.push(len); return sys.write(fd, buf, off, len, pos); };
    const cfs = createFs(counting, { umask: UMASK });
    const big = Buffer.alloc(IO_CHUNK_MAX * 2 + 12345);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    cfs.writeFileSync("/big", big);
    expect(cfs.readFileSync("/big").equals(big)).toBe(true);
    const fd = cfs.openSync("/big", "r");
    const b = Buffer.alloc(big.length);
    expect(cfs.readSync(fd, b, 0, b.length, 0)).toBe(big.length);
    cfs.closeSync(fd);
    expect(Math.max(...calls)).toBeLessThanOrEqual(IO_CHUNK_MAX);
    expect(calls.length).toBeGreaterThanOrEqual(9);
  });

  it("copyFile: modes, EXCL, itself, hard links, directories, failures remove the target", () => {
    tree();
    same((fs, p) => { fs.chmodSync(p("f"), 0o751); fs.linkSync(p("f"), p("hard")); return null; });
    const C = nodeFs.constants;
    const cases: [string, string, number?][] = [["f", "c1"], ["f", "c1"], ["f", "c1", C.COPYFILE_EXCL], ["f", "f"], ["f", "hard"],
      ["f", "lf"], ["f", "dangling"], ["d", "c2"], ["d", "c1"], ["f", "d"], ["missing", "c3"], ["f", "missing/x"], ["lf", "c4"],
      ["ld", "c5"], ["f", "c6", C.COPYFILE_FICLONE], ["f", "c7", C.COPYFILE_FICLONE_FORCE], ["f", "c1", C.COPYFILE_FICLONE_FORCE],
      ["loop", "c8"], ["f", "f/"], ["f", "c9", 8], ["f", "c9", -1]];
    for (const [a, b, m] of cases) {
      same((fs, p) => { fs.copyFileSync(p(a), p(b), m); return [fs.readdirSync(p(""), { withFileTypes: true }), fs.readFileSync(p(b))]; });
    }
    same((fs, p) => fs.copyFileSync(p("f"), p("cx"), "x"));
    same((fs, p) => { fs.copyFileSync(p("f"), p("cm")); return fs.statSync(p("cm")); });
  });
});

/** An fd number that is open on neither side. */
const BADFD = 999_999;

describe("argument validation", () => {
  it("throws Node's TypeErrors and RangeErrors before any syscall", () => {
    const bad: ((fs: AnyFs, p: P) => unknown)[] = [
      (fs) => fs.openSync(5), (fs) => fs.openSync({}), (fs) => fs.openSync("a\0b"), (fs, p) => fs.openSync(p("f"), "zz"),
      (fs, p) => fs.openSync(p("f"), "r", "999"), (fs, p) => fs.openSync(p("f"), "r", -1), (fs, p) => fs.openSync(p("f"), 1.5),
      (fs) => fs.closeSync("1"), (fs) => fs.closeSync(-1), (fs) => fs.closeSync(1.5), (fs) => fs.closeSync(2 ** 31),
      (fs) => fs.readSync(BADFD, "str"), (fs) => fs.readSync(BADFD, Buffer.alloc(4), -1, 1, 0), (fs) => fs.readSync(BADFD, Buffer.alloc(4), 0, 8, 0),
      (fs) => fs.readSync(BADFD, Buffer.alloc(0), 0, 1, 0), (fs) => fs.readSync(BADFD, Buffer.alloc(4), 0, 1, "x"), (fs) => fs.readSync(BADFD, Buffer.alloc(4), 0, 1, -2),
      (fs) => fs.readSync(BADFD, Buffer.alloc(4), null), (fs) => fs.writeSync(BADFD, 5), (fs) => fs.writeSync(BADFD, Buffer.alloc(2), 3),
      (fs) => fs.writeSync(BADFD, Buffer.alloc(2), 0, 3), (fs) => fs.writeSync(BADFD, "abc", 0, "hex"), (fs) => fs.statSync(null),
      (fs) => fs.statSync(new URL("http://x/y")), (fs) => fs.statSync(new URL("file://host/y")), (fs) => fs.statSync(new URL("file:///a%2Fb")),
      (fs, p) => fs.mkdirSync(p("m"), { recursive: 1 }), (fs, p) => fs.mkdirSync(p("m"), "8"), (fs, p) => fs.readdirSync(p(""), { recursive: "x" }),
      (fs, p) => fs.readdirSync(p(""), 5), (fs, p) => fs.readdirSync(p(""), "bogus"), (fs, p) => fs.chownSync(p("f"), -2, 0),
      (fs, p) => fs.chownSync(p("f"), "1", 0), (fs, p) => fs.utimesSync(p("f"), "soon", 0), (fs, p) => fs.utimesSync(p("f"), {}, 0),
      (fs, p) => fs.ftruncateSync(BADFD, "x"), (fs, p) => fs.truncateSync(p("f"), 1.5), (fs, p) => fs.rmSync(p("f"), { force: 1 }),
      (fs, p) => fs.rmdirSync(p("f"), 5), (fs, p) => fs.writeFileSync(p("f"), "x", { flush: 1 }), (fs, p) => fs.renameSync(p("f"), 3),
      (fs, p) => fs.linkSync(7, p("f")), (fs, p) => fs.symlinkSync(null, p("f")), (fs, p) => fs.readlinkSync(true),
      (fs, p) => fs.copyFileSync(p("f"), {}), (fs, p) => fs.chmodSync(p("f"), "rwx"), (fs, p) => fs.chmodSync(p("f"), 2 ** 33),
      (fs, p) => fs.readFileSync(p("f"), 3), (fs, p) => fs.statSync(Symbol("s")), (fs, p) => fs.statSync(10n),
      (fs, p) => fs.readSync(BADFD, Buffer.alloc(4), 1, 1, 2 ** 63), (fs, p) => fs.readSync(BADFD, Buffer.alloc(4), 1, 1, 2n ** 64n),
    ];
    tree();
    for (const f of bad) same(f);
  });
});

describe("promises", () => {
  it("resolve and reject like Node's fs.promises", async () => {
    tree();
    await sameAsync(async (fs, p) => {
      const P = fs.promises;
      const out: unknown[] = [];
      const fh = await P.open(p("pf"), "w+", 0o644);
      out.push(typeof fh.fd, await fh.write("hello promises"), await fh.write(Buffer.from("XY"), 0, 2, 0));
      const r = await fh.read(Buffer.alloc(8), 0, 8, 0);
      out.push(r.bytesRead, r.buffer, (await fh.read({ buffer: Buffer.alloc(4), position: 3 })).buffer);
      out.push(await fh.stat(), await fh.truncate(5), await fh.sync(), await fh.datasync());
      await fh.writeFile("more"); await fh.appendFile("!");
      out.push(await fh.readFile("utf8"));
      await fh.close();
      await fh.close();
      out.push(fh.fd);
      try { await fh.read(Buffer.alloc(1), 0, 1, 0); } catch (e) { out.push(errShape(e)); }
      out.push(await P.readFile(p("pf"), "utf8"), await P.writeFile(p("pw"), "w"), await P.appendFile(p("pw"), "a"), await P.readFile(p("pw")));
      out.push(await P.mkdir(p("pd/a/b"), { recursive: true }), await P.readdir(p("pd"), { withFileTypes: true }));
      out.push(await P.stat(p("pf")), await P.lstat(p("lf")), await P.readlink(p("lf")), await P.copyFile(p("pf"), p("pc")));
      out.push(await P.rename(p("pc"), p("pc2")), await P.link(p("pc2"), p("pc3")), await P.symlink("pc3", p("pc4")));
      out.push(await P.chmod(p("pc2"), 0o600), await P.chown(p("pc2"), 5, 6), await P.utimes(p("pc2"), 5, 6), await P.lutimes(p("pc4"), 7, 8));
      out.push(await P.truncate(p("pc2"), 2), await P.readFile(p("pc3"), "latin1"), await P.unlink(p("pc3")));
      out.push(await P.rm(p("pd"), { recursive: true }), await P.rmdir(p("d/sub")), await P.readdir(p("")));
      return out;
    });
    const rejections: ((fs: AnyFs, p: P) => Promise<unknown>)[] = [
      (fs, p) => fs.promises.open(p("missing")), (fs, p) => fs.promises.readFile(p("d")), (fs, p) => fs.promises.readFile(3),
      (fs, p) => fs.promises.mkdir(p("f/x"), { recursive: true }), (fs, p) => fs.promises.rm(p("d")), (fs, p) => fs.promises.rmdir(p("d")),
      (fs, p) => fs.promises.rename(p("d"), p("d/sub/x")), (fs, p) => fs.promises.copyFile(p("f"), p("f"), 1),
      (fs, p) => fs.promises.readdir(p("f")), (fs, p) => fs.promises.stat(p("loop")), (fs, p) => fs.promises.truncate(p("d")),
      (fs, p) => fs.promises.writeFile(p("d"), "x"), (fs, p) => fs.promises.open(p("f"), "zz"), (fs, p) => fs.promises.readlink(p("f")),
    ];
    for (const f of rejections) await sameAsync(f);
  });
});
