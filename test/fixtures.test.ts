// test/fixtures.test.ts -- the fixture helpers: kernel.fs trees from and to JSON
// (host/fs/fixtures.ts, memfs's fromJSON/toJSON roles) and from and to a host directory
// (host/node/hostdir.ts).
//
// Oracles: memfs itself (the same JSON written into a memfs Volume and read back with its
// toJSON must give what the kernel gives), the JSON round trip (JSON -> kernel -> JSON is the
// identity, property-tested), and Node's fs on tmpfs (a host tree copied into the kernel and
// back out is walked beside the original: types, modes, sizes, bytes, link targets, hard-link
// groups, atime/mtime to the microsecond). The kernel's fsck must stay clean.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as nodeFs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { Volume } from "memfs";
import type { Kernel } from "../host/vmm/kernel.js";
import { type DirectoryJSON, type NestedDirectoryJSON, secondsToNs, toUnixTimestamp } from "../host/fs/fs.js";
import { flattenJSON } from "../host/fs/fixtures.js";
import { exportHostDir, importHostDir, usSeconds } from "../host/node/hostdir.js";
import * as entry from "../host/index.js";
import { bootDevice, bytesOf, freshDevice, fsckClean, MiB, scratchDir } from "./helpers.js";

const base = scratchDir("helix-fixtures-");

let k: Kernel;
beforeEach(() => { k = bootDevice(freshDevice(64 * MiB)); });
afterEach(() => { fsckClean(k); k.shutdown(); });

/** Values as Buffers, so Uint8Array and Buffer compare equal. */
function canon(json: DirectoryJSON): Record<string, string | Buffer | null> {
  const out: Record<string, string | Buffer | null> = {};
  for (const [key, v] of Object.entries(json)) out[key] = v === null || typeof v === "string" ? v : Buffer.from(v);
  return out;
}

// ---- JSON ----------------------------------------------------------------------------------

const nameArb = fc.oneof(
  fc.stringMatching(/^[a-z0-9_-][a-z0-9._-]{0,7}$/).filter((s) => s !== "." && s !== ".."),
  fc.constantFrom("é", "日本", "a b", "😀x", "\u00a0", ".hidden"),
);
/** A nested tree: names -> content (text or bytes) or a subtree (an empty one is an empty dir). */
const treeArb = (contentArb: fc.Arbitrary<string | Uint8Array>): fc.Arbitrary<NestedDirectoryJSON> =>
  fc.letrec<{ tree: NestedDirectoryJSON }>((tie) => ({
    tree: fc.dictionary(nameArb, fc.oneof({ depthSize: "small", maxDepth: 3 }, contentArb, tie("tree")), { maxKeys: 5 }),
  })).tree;

describe("fromJSON / toJSON", () => {
  it("JSON -> kernel -> JSON is the identity and equals memfs's toJSON (text contents)", () => {
    fc.assert(fc.property(treeArb(fc.string({ unit: "binary", maxLength: 40 })), (nested) => {
      const fs = k.fs;
      fs.rmSync("/t", { recursive: true, force: true });
      const flat = flattenJSON(nested);
      fs.fromJSON(flat, "/t");
      const back = fs.toJSON("/t", {}, true);
      const vol = Volume.fromJSON(flat as Record<string, string | null>, "/t");
      expect(back).toEqual(vol.toJSON("/t", {}, true));
      // an empty tree has no keys (memfs too): the root itself is then only a directory
      expect(back).toEqual(flat);
    }), { numRuns: 60 });
  });

  it("bytes round-trip with asBuffer; absolute keys and the default cwd", () => {
    fc.assert(fc.property(treeArb(fc.uint8Array({ maxLength: 300 })), (nested) => {
      const fs = k.fs;
      fs.rmSync("/b", { recursive: true, force: true });
      const flat = flattenJSON(nested);
      const abs: DirectoryJSON = {};
      for (const [key, v] of Object.entries(flat)) abs[`/b/${key}`] = v;
      fs.mkdirSync("/b");
      fs.fromJSON(abs);
      expect(canon(fs.toJSON(["/b"], {}, false, true))).toEqual(canon(Object.keys(abs).length ? abs : { "/b": null }));
    }), { numRuns: 40 });
  });

  it("fromNestedJSON, relative cwd, parents created, files replaced, toJSON of a file and of several paths", () => {
    const fs = k.fs;
    fs.fromNestedJSON({ a: { b: { "c.txt": "hello" }, e: null, f: {} }, "top.bin": Buffer.from([0, 255, 1]) }, "/n");
    fs.fromJSON({ "a/b/c.txt": "replaced", "x/../y/./z": "dots" }, "n");
    expect(fs.readFileSync("/n/a/b/c.txt", "utf8")).toBe("replaced");
    expect(fs.readFileSync("/n/y/z", "utf8")).toBe("dots");
    expect(fs.statSync("/n/a/e").isDirectory()).toBe(true);
    expect(fs.toJSON("/n/a/b/c.txt")).toEqual({ "/n/a/b/c.txt": "replaced" });
    expect(fs.toJSON("/n/a/b/c.txt", {}, true)).toEqual({ "c.txt": "replaced" });
    expect(fs.toJSON(["/n/a/b", "/n/a/e", "/missing"], { keep: "me" })).toEqual({ keep: "me", "/n/a/b/c.txt": "replaced", "/n/a/e": null });
    expect(fs.toJSON("/n/top.bin", {}, false, true)["/n/top.bin"]).toEqual(Buffer.from([0, 255, 1]));
    expect(fs.toJSON()["/n/a/f"]).toBe(null);
    // like memfs's Volume, the fs serializes as its tree: JSON.stringify calls toJSON("") (the cwd)
    expect(JSON.parse(JSON.stringify(fs))).toEqual(fs.toJSON("/"));
  });

  it("toJSON omits symlinks, FIFOs and hard-link identity; a directory left empty by that is null; a named symlink is followed", () => {
    const fs = k.fs;
    fs.fromJSON({ "/s/real/f": "data", "/s/only-links": null });
    fs.symlinkSync("../real/f", "/s/only-links/l");
    fs.symlinkSync("/s/real", "/s/dirlink");
    fs.mkfifoSync("/s/real/fifo");
    fs.linkSync("/s/real/f", "/s/real/g");
    expect(fs.toJSON("/s")).toEqual({ "/s/real/f": "data", "/s/real/g": "data", "/s/only-links": null });
    expect(fs.toJSON("/s/dirlink", {}, true)).toEqual({ f: "data", g: "data" });
    // memfs drops the directory that holds only a symlink; the kernel keeps it as null
    const vol = Volume.fromJSON({ "/s/only-links": null });
    vol.symlinkSync("/x", "/s/only-links/l");
    expect(vol.toJSON("/s")).toEqual({});
  });

  it("errors: bad arguments are Node's TypeErrors, before anything is written; clashes are the fs's errors", () => {
    const fs = k.fs;
    const bad = (f: () => unknown, code: string, msg?: RegExp): void => {
      let err: (Error & { code?: string }) | undefined;
      try { f(); } catch (e) { err = e as Error & { code?: string }; }
      expect(err?.code).toBe(code);
      if (msg) expect(err?.message).toMatch(msg);
    };
    bad(() => fs.fromJSON(null as unknown as DirectoryJSON), "ERR_INVALID_ARG_TYPE", /The "json" argument must be of type object. Received null/);
    bad(() => fs.fromJSON(["a"] as unknown as DirectoryJSON), "ERR_INVALID_ARG_TYPE");
    bad(() => fs.fromJSON({ "/ok": "x", "/bad": 5 } as unknown as DirectoryJSON), "ERR_INVALID_ARG_TYPE",
      /^The "json\["\/bad"\]" argument must be of type string or an instance of Uint8Array or null. Received type number \(5\)$/);
    expect(fs.existsSync("/ok")).toBe(false); // validated before writing
    bad(() => fs.fromJSON({ a: "x" }, 7 as unknown as string), "ERR_INVALID_ARG_TYPE", /"cwd" argument must be of type string/);
    bad(() => fs.toJSON([5 as unknown as string]), "ERR_INVALID_ARG_TYPE", /"paths" argument/);
    fs.fromJSON({ "/d/sub": null, "/file": "x" });
    bad(() => fs.fromJSON({ "/d/sub": "text" }), "EISDIR", /^EISDIR: illegal operation on a directory, open '\/d\/sub'$/);
    bad(() => fs.fromJSON({ "/file/inner": "x" }), "EEXIST", /^EEXIST: file already exists, mkdir '\/file'$/); // mkdir -p of the parent, as Node's

    bad(() => fs.fromJSON({ "/file/inner": null }), "ENOTDIR", /^ENOTDIR: not a directory, mkdir '\/file\/inner'$/);
    // a name that is not UTF-8 cannot be a JSON key
    fs.writeFileSync(Buffer.from([0x2f, 0x64, 0x2f, 0xff, 0xfe]), "x");
    bad(() => fs.toJSON("/d"), "EILSEQ", /^EILSEQ: illegal byte sequence, scandir '\/d\/\uFFFD\uFFFD'$/);
  });
});

// ---- host directories ----------------------------------------------------------------------

/** One entry as the oracle sees it: type, permission bits, size, content or target, mtime in us, hard-link group. */
interface Seen { type: string; mode: number; size: number; data: string; mtimeUs: bigint; group: number }

type WalkFs = Pick<typeof nodeFs, "lstatSync" | "readdirSync" | "readFileSync" | "readlinkSync">;

/**
 * Walks `root` on an fs with Node's API (node:fs or a HelixFs) into path -> Seen; hard links
 * become the same `group` number, numbered in walk order so two trees compare.
 */
function walk(fs: WalkFs, root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const groups = new Map<string, number>();
  const rec = (rel: Buffer): void => {
    const p = Buffer.concat([Buffer.from(root), rel]);
    const st = fs.lstatSync(p, { bigint: true }) as nodeFs.BigIntStats;
    const m = Number(st.mode);
    const type = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "link" : st.isFIFO() ? "fifo" : "other";
    let data = "";
    if (type === "file") data = (fs.readFileSync(p) as Buffer).toString("base64");
    if (type === "link") data = (fs.readlinkSync(p, { encoding: "buffer" }) as Buffer).toString("base64");
    const key = `${st.ino}`;
    if (!groups.has(key)) groups.set(key, groups.size);
    out.set(rel.toString("latin1"), {
      type, mode: type === "link" ? 0 : m & 0o7777, size: type === "dir" ? 0 : Number(st.size), data,
      mtimeUs: st.mtimeNs / 1000n, group: type === "dir" ? -1 : groups.get(key)!,
    });
    if (type === "dir") {
      for (const n of (fs.readdirSync(p, { encoding: "buffer" }) as Buffer[]).sort(Buffer.compare)) rec(Buffer.concat([rel, Buffer.from("/"), n]));
    }
  };
  rec(Buffer.alloc(0));
  return out;
}

/**
 * The [atime, mtime] (in units of `unitNs`) of the entries `keys` (relative paths as walk() names them) by lstat alone:
 * any read or readdir may move an atime (the host's relatime, the kernel's own rule), so the
 * test takes them between the copies without reading anything.
 */
function timesAt(fs: WalkFs, root: string, keys: Iterable<string>, unitNs: bigint): Map<string, [bigint, bigint]> {
  const out = new Map<string, [bigint, bigint]>();
  for (const rel of keys) {
    const st = fs.lstatSync(Buffer.concat([Buffer.from(root), Buffer.from(rel, "latin1")]), { bigint: true }) as nodeFs.BigIntStats;
    out.set(rel, [st.atimeNs / unitNs, st.mtimeNs / unitNs]);
  }
  return out;
}

/** A host tree with every kind of entry the copy keeps, with odd modes and sub-us times. */
function makeHostTree(dir: string): void {
  nodeFs.mkdirSync(dir);
  nodeFs.mkdirSync(path.join(dir, "a/b/c"), { recursive: true });
  nodeFs.writeFileSync(path.join(dir, "empty"), "");
  nodeFs.writeFileSync(path.join(dir, "a/small.txt"), "small text\n");
  nodeFs.writeFileSync(path.join(dir, "a/b/big.bin"), bytesOf(7, IO_BIG));
  nodeFs.writeFileSync(path.join(dir, "a/b/c/exec.sh"), "#!/bin/sh\necho hi\n");
  nodeFs.chmodSync(path.join(dir, "a/b/c/exec.sh"), 0o4755);
  nodeFs.writeFileSync(path.join(dir, "private"), "secret");
  nodeFs.chmodSync(path.join(dir, "private"), 0o600);
  nodeFs.linkSync(path.join(dir, "a/small.txt"), path.join(dir, "hardlink"));
  nodeFs.symlinkSync("a/small.txt", path.join(dir, "rel-link"));
  nodeFs.symlinkSync("/nowhere/at/all", path.join(dir, "dangling"));
  nodeFs.symlinkSync("a/b", path.join(dir, "dir-link"));
  nodeFs.writeFileSync(Buffer.from(`${dir}/bad-\xff-name`, "latin1"), "bytes name");
  nodeFs.mkdirSync(path.join(dir, "ro"));
  nodeFs.writeFileSync(path.join(dir, "ro/inside"), "in a read-only dir");
  nodeFs.mkdirSync(path.join(dir, "sticky"));
  nodeFs.chmodSync(path.join(dir, "sticky"), 0o1777);
  let t = 1_600_000_000.123456;
  for (const p of ["empty", "a/small.txt", "a/b/big.bin", "private", "ro/inside", "a/b/c/exec.sh"]) {
    nodeFs.utimesSync(path.join(dir, p), t, t + 0.5);
    t += 1000.000001;
  }
  nodeFs.lutimesSync(path.join(dir, "rel-link"), 1_500_000_000.25, 1_500_000_001.75);
  nodeFs.chmodSync(path.join(dir, "ro"), 0o555);
  for (const p of ["a/b/c", "a/b", "a", "ro", "."]) nodeFs.utimesSync(path.join(dir, p), 1_400_000_000.000999, 1_400_000_000.999001);
}
const IO_BIG = 1.5 * MiB; // more than one IO_CHUNK_MAX

describe("importHostDir / exportHostDir", () => {
  it("host -> kernel -> host keeps types, modes, bytes, link targets, hard links and times (ns into the kernel, us out)", () => {
    const src = path.join(base, "src1");
    makeHostTree(src);
    const orig = walk(nodeFs, src); // (its reads move the host's atimes once: relatime)
    const keys = [...orig.keys()];
    const srcTimes = timesAt(nodeFs, src, keys, 1n);
    const counts = importHostDir(k.fs, src, "/imported");
    expect(counts).toMatchObject({ files: 7, dirs: 6, symlinks: 3, links: 1, special: 0, bytes: IO_BIG + 0 + 11 + 18 + 6 + 10 + 18 });
    expect(timesAt(k.fs as unknown as WalkFs, "/imported", keys, 1n)).toEqual(srcTimes); // into the kernel: to the ns
    expect(walk(k.fs as unknown as WalkFs, "/imported")).toEqual(orig);
    const kTimes = timesAt(k.fs as unknown as WalkFs, "/imported", keys, 1000n);
    const out = path.join(base, "out1");
    expect(exportHostDir(k.fs, "/imported", out)).toEqual(counts);
    expect(timesAt(nodeFs, out, keys, 1000n)).toEqual(kTimes); // onto the host: to the us
    expect(walk(nodeFs, out)).toEqual(orig);
    // the package entry exports the same functions
    expect(entry.importHostDir).toBe(importHostDir);
    expect(entry.exportHostDir).toBe(exportHostDir);
  });

  it("random trees round-trip (property)", () => {
    let run = 0;
    fc.assert(fc.property(treeArb(fc.uint8Array({ maxLength: 2000 })), fc.array(fc.integer({ min: 0, max: 0o777 }), { minLength: 8, maxLength: 8 }),
      fc.bigInt({ min: 0n, max: 4_000_000_000n * 1_000_000_000n }), (nested, modes, ns) => {
        const src = path.join(base, `prop-src-${run}`), out = path.join(base, `prop-out-${run}`), dest = `/prop${run++}`;
        nodeFs.mkdirSync(src);
        const flat = flattenJSON(nested);
        let i = 0;
        for (const [key, v] of Object.entries(flat)) {
          const p = path.join(src, key);
          if (v === null) nodeFs.mkdirSync(p, { recursive: true });
          else {
            nodeFs.mkdirSync(path.dirname(p), { recursive: true });
            nodeFs.writeFileSync(p, v);
            nodeFs.chmodSync(p, modes[i++ % modes.length] | 0o400);
            const sec = usSeconds(ns + BigInt(i) * 1_000_001_001n);
            nodeFs.utimesSync(p, sec, sec);
          }
        }
        importHostDir(k.fs, src, dest);
        exportHostDir(k.fs, dest, out);
        const orig = walk(nodeFs, src);
        expect(walk(k.fs as unknown as WalkFs, dest)).toEqual(orig);
        expect(walk(nodeFs, out)).toEqual(orig);
      }), { numRuns: 15 });
  });

  it("usSeconds gives seconds that utimes truncates back to the same microsecond, before 1970 too (property, against fs.ts's libuv rule)", () => {
    const floorUs = (ns: bigint): bigint => (ns >= 0n ? ns / 1000n : (ns - 999n) / 1000n) * 1000n;
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 32n) * 1_000_000_000n, max: 2n ** 32n * 1_000_000_000n - 1n }), (ns) => {
      const t = usSeconds(ns);
      expect(typeof t === "string" ? ns < 0n : ns >= 0n).toBe(true); // negative times only as strings
      expect(secondsToNs(toUnixTimestamp(t))).toBe(floorUs(ns));
    }), { numRuns: 3000 });
    // and Node itself keeps a time before 1970 set that way
    const f = path.join(base, "old");
    nodeFs.writeFileSync(f, "");
    nodeFs.utimesSync(f, usSeconds(-86_400_123_456_789n) as number, usSeconds(-1n) as number);
    const st = nodeFs.statSync(f, { bigint: true });
    expect([st.atimeNs, st.mtimeNs]).toEqual([-86_400_123_457_000n, -1000n]);
  });

  it("merges into an existing directory (files replaced, others kept); a host FIFO becomes a kernel FIFO", () => {
    const src = path.join(base, "src2");
    nodeFs.mkdirSync(src);
    nodeFs.writeFileSync(path.join(src, "f"), "new");
    execFileSync("mkfifo", ["-m", "0640", path.join(src, "pipe")]);
    k.fs.fromJSON({ "/m/f": "old contents", "/m/keep": "kept" });
    expect(importHostDir(k.fs, src, "/m")).toMatchObject({ files: 1, special: 1 });
    expect(k.fs.toJSON("/m", {}, true)).toEqual({ f: "new", keep: "kept" });
    const st = k.fs.lstatSync("/m/pipe");
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o640);
  });

  it("a source root that is a symlink to a directory is followed (links below it are not)", () => {
    const real = path.join(base, "real-root");
    nodeFs.mkdirSync(real);
    nodeFs.writeFileSync(path.join(real, "f"), "via a link");
    nodeFs.symlinkSync("f", path.join(real, "l"));
    nodeFs.symlinkSync(real, path.join(base, "root-link"));
    expect(importHostDir(k.fs, path.join(base, "root-link"), "/viaLink")).toMatchObject({ files: 1, symlinks: 1, dirs: 1 });
    expect(k.fs.readFileSync("/viaLink/f", "utf8")).toBe("via a link");
    expect(k.fs.readlinkSync("/viaLink/l")).toBe("f");
    k.fs.symlinkSync("/viaLink", "/kernel-link");
    const out = path.join(base, "via-out");
    exportHostDir(k.fs, "/kernel-link", out);
    expect(nodeFs.lstatSync(out).isDirectory()).toBe(true);
    expect(nodeFs.readlinkSync(path.join(out, "l"))).toBe("f");
  });

  it("errors are one line, name both paths and keep the cause's code", () => {
    const fs = k.fs;
    const fails = (f: () => unknown, code: string, msg: RegExp): void => {
      let err: (Error & { code?: string; cause?: unknown }) | undefined;
      try { f(); } catch (e) { err = e as Error & { code?: string }; }
      expect(err, "should throw").toBeDefined();
      expect(err!.code).toBe(code);
      expect(err!.message).toMatch(msg);
      expect(err!.message).not.toContain("\n");
    };
    const missing = path.join(base, "no-such-dir");
    fails(() => importHostDir(fs, missing, "/x"), "ENOENT", new RegExp(`^importHostDir: host '${missing}' -> kernel '/x': ENOENT: no such file or directory, stat '${missing}'$`));
    const file = path.join(base, "a-file");
    nodeFs.writeFileSync(file, "x");
    fails(() => importHostDir(fs, file, "/x"), "ENOTDIR", /^importHostDir: host '.*a-file' -> kernel '\/x': ENOTDIR: not a directory/);
    const src = path.join(base, "src3");
    nodeFs.mkdirSync(path.join(src, "clash"), { recursive: true });
    fails(() => importHostDir(fs, src, "/no/parent"), "ENOENT", /^importHostDir: host '.*src3' -> kernel '\/no\/parent': ENOENT: no such file or directory, mkdir '\/no\/parent'$/);
    fs.fromJSON({ "/c/clash": "a file where the source has a directory" });
    fails(() => importHostDir(fs, src, "/c"), "EEXIST", /^importHostDir: host '.*src3\/clash' -> kernel '\/c\/clash': EEXIST: file already exists, mkdir '\/c\/clash'$/);
    fs.mkdirSync("/fd");
    fs.mkfifoSync("/fd/p");
    fails(() => exportHostDir(fs, "/fd", path.join(base, "fd-out")), "ERR_HOSTDIR_UNSUPPORTED",
      /^exportHostDir: kernel '\/fd\/p' -> host '.*fd-out\/p': cannot create a FIFO \(Node's fs makes no FIFOs, sockets or devices\)$/);
    fails(() => exportHostDir(fs, "/missing", path.join(base, "m-out")), "ENOENT", /^exportHostDir: kernel '\/missing' -> host '.*m-out': ENOENT: no such file or directory, stat '\/missing'$/);
    fails(() => importHostDir(fs, 5 as unknown as string, "/x"), "ERR_INVALID_ARG_TYPE", /^The "hostDir" argument must be of type string\. Received type number \(5\)$/);
    fails(() => exportHostDir(fs, "/x", null as unknown as string), "ERR_INVALID_ARG_TYPE", /^The "hostDir" argument must be of type string\. Received null$/);
    fails(() => importHostDir({} as typeof fs, base, "/x"), "ERR_INVALID_ARG_TYPE", /^The "fs" argument must be an instance of HelixFs\. Received an instance of Object$/);
  });
});
