// test/semantics.test.ts -- issue 10 §6: semantics that must not change at extremes.
//
// Layer: integration tests over the debug kernel on memory devices.
// Covers: the rename-into-own-subtree check at any depth and on a parent-pointer cycle;
// side effects before a failure (EMFILE, ENOSPC in symlink/mkdir); ENOSPC reported by write()
// and never by a later commit (a scenario and a property test against a model of the
// acknowledged bytes); host values that would wrap (positions, times) and rename with "." or
// ".." against Node's fs on tmpfs as the oracle.

import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, expect, afterAll } from "vitest";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import type { Kernel } from "../host/vmm/kernel.js";
import { crc32c } from "../host/crash/fuzz.js";
import { freshDevice, bootDevice, fsckClean, bytesOf, MiB, BLOCK } from "./helpers.js";

/** A directory on tmpfs (Linux's fs as the oracle), removed at the end. */
const oracleRoot = nodeFs.mkdtempSync(path.join(nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-sem-"));
afterAll(() => nodeFs.rmSync(oracleRoot, { recursive: true, force: true }));

function codeOf(f: () => unknown): string {
  try { f(); return "OK"; } catch (e) { return (e as { code?: string }).code ?? String(e); }
}

/** Remounts the device's bytes (clean shutdown first). */
function remount(k: Kernel, dev: MemoryBackend): { k: Kernel; dev: MemoryBackend } {
  const bytes = dev.bytes;
  k.shutdown();
  const d = new MemoryBackend(bytes);
  return { k: bootDevice(d), dev: d };
}

// ---- rename into its own subtree ------------------------------------------------------------

describe("rename: the ancestor check is exact at any depth", () => {
  it("refuses a directory into its own subtree 68,000 levels down (EINVAL), tree intact", () => {
    const dev = freshDevice(64 * MiB);
    const k = bootDevice(dev);
    const fs = k.fs, STEP = 2000, HOPS = 34; // past the old 65,536-step cap
    fs.mkdirSync("/c");
    for (let h = 0; h < HOPS; h++) {
      for (let i = 0; i < STEP; i++) { fs.mkdirSync("/n"); fs.renameSync("/c", "/n/d"); fs.renameSync("/n", "/c"); }
      fs.symlinkSync(Array(STEP).fill("d").join("/"), "/c/j"); // a short path 2,000 levels down
    }
    const deep = "/c" + "/j".repeat(HOPS);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
    expect(codeOf(() => fs.renameSync("/c", deep + "/x"))).toBe("EINVAL");
    // the target that is an ancestor of the source: ENOTEMPTY (Linux's lock_rename trap)
    fs.mkdirSync(deep + "/y");
    expect(codeOf(() => fs.renameSync(deep + "/y", "/c"))).toBe("ENOTEMPTY");
    expect(fs.readdirSync("/")).toEqual(["c"]);
    fs.rmdirSync(deep + "/y");
    // still one tree: every hop's directory is still reached from the root
    for (let h = 1; h <= HOPS; h++) expect(fs.statSync("/c" + "/j".repeat(h)).isDirectory()).toBe(true);
    fsckClean(k); // 68,000 levels reachable, with no depth cap in fsck's reachability either
    k.shutdown();
  }, 120_000);

  it("fails closed with EUCLEAN on a cycle of parent pointers instead of looping or saying yes", () => {
    const dev = freshDevice(16 * MiB);
    let k = bootDevice(dev);
    k.fs.mkdirSync("/a");
    k.fs.mkdirSync("/a/b");
    k.fs.mkdirSync("/c");
    const ia = k.fs.statSync("/a").ino, ib = k.fs.statSync("/a/b").ino;
    const img = dev.bytes; // shutdown closes the device: keep its bytes
    k.shutdown();
    // crafted damage: a's parent pointer names b, so a -> b -> a never reaches the root
    expect(patchParent(img, ia, ib)).toBe(true);
    k = bootDevice(new MemoryBackend(img));
    expect(codeOf(() => k.fs.renameSync("/c", "/a/b/c"))).toBe("EUCLEAN");
    expect(k.fs.existsSync("/c")).toBe(true);
    k.shutdown();
  });
});

/** Sets inode `ino`'s parent field (I_PARENT, offset 72 of its record) in the inode tree's leaf. */
function patchParent(img: Uint8Array, ino: number, parent: number): boolean {
  const dv = (b: number) => new DataView(img.buffer, img.byteOffset + b * BLOCK, BLOCK);
  const TREE_INODE = 0, SB_TREES = 1024, I_PARENT = 72;
  const root = Number(dv(0).getBigUint64(SB_TREES + 24 * TREE_INODE, true)); // height 1: the root is the leaf
  const v = dv(root);
  if (v.getUint8(33) !== 0) return false; // not a leaf
  for (let i = 0; i < v.getUint16(34, true); i++) {
    const o = 64 + 20 * i;
    if (v.getBigUint64(o, true) !== BigInt(ino)) continue;
    v.setBigUint64(v.getUint16(o + 16, true) + I_PARENT, BigInt(parent), true);
    v.setUint32(4, 0, true);
    v.setUint32(4, crc32c(0, img.subarray(root * BLOCK, (root + 1) * BLOCK)), true);
    return true;
  }
  return false;
}

// ---- side effects before a failure ----------------------------------------------------------

describe("a failing call leaves nothing behind", () => {
  it("EMFILE: writeFileSync/appendFileSync/copyFileSync/open neither truncate nor create", () => {
    const k = bootDevice(freshDevice(16 * MiB));
    const fs = k.fs;
    fs.writeFileSync("/precious", "data");
    fs.writeFileSync("/src", "source bytes");
    const fds: number[] = [];
    for (;;) {
      try { fds.push(fs.openSync("/precious", "r")); } catch (e) { expect((e as { code: string }).code).toBe("EMFILE"); break; }
    }
    expect(fds.length).toBe(4096);
    expect(codeOf(() => fs.writeFileSync("/precious", "new"))).toBe("EMFILE");
    expect(codeOf(() => fs.writeFileSync("/other", "x"))).toBe("EMFILE");
    expect(codeOf(() => fs.appendFileSync("/other2", "x"))).toBe("EMFILE");
    expect(codeOf(() => fs.openSync("/precious", "r+"))).toBe("EMFILE");
    expect(codeOf(() => fs.openSync("/precious", fs.constants.O_RDONLY | fs.constants.O_TRUNC))).toBe("EMFILE");
    expect(fs.statSync("/precious").size).toBe(4);
    expect(fs.existsSync("/other") || fs.existsSync("/other2")).toBe(false);
    // Linux takes the descriptor before it walks the path: EMFILE even for a missing parent
    expect(codeOf(() => fs.openSync("/missing/x", "w"))).toBe("EMFILE");
    fs.closeSync(fds.pop()!); // one free: copyFile's source opens, its target cannot
    expect(codeOf(() => fs.copyFileSync("/src", "/precious"))).toBe("EMFILE");
    expect(codeOf(() => fs.copyFileSync("/src", "/copy"))).toBe("EMFILE");
    for (const fd of fds) fs.closeSync(fd);
    expect(fs.readFileSync("/precious", "utf8")).toBe("data");
    expect(fs.readdirSync("/").sort()).toEqual(["precious", "src"]);
    fsckClean(k);
    k.shutdown();
  });

  it("open flags that fail on an existing file leave its bytes alone, as on Linux", () => {
    const C = nodeFs.constants;
    const flags: [string, number | string][] = [["wx", "wx"], ["ax+", "ax+"], ["TRUNC|DIRECTORY", C.O_RDWR | C.O_TRUNC | C.O_DIRECTORY],
      ["TRUNC|NOFOLLOW on a link", C.O_RDWR | C.O_TRUNC | C.O_NOFOLLOW], ["CREAT|EXCL|TRUNC", C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_TRUNC],
      ["w on a trailing slash", "w"], ["TRUNC|CREAT on a directory", C.O_RDWR | C.O_TRUNC | C.O_CREAT]];
    const run = (fs: typeof nodeFs | Kernel["fs"], root: string): string[] => {
      fs.writeFileSync(`${root}/f`, "keep me");
      fs.symlinkSync("f", `${root}/l`);
      fs.mkdirSync(`${root}/dir`);
      return flags.map(([label, fl]) => {
        const target = label.includes("link") ? "l" : label.includes("slash") ? "f/" : label.includes("directory") ? "dir" : "f";
        const code = codeOf(() => fs.closeSync(fs.openSync(`${root}/${target}`, fl)));
        return `${label}: ${code} ${fs.readFileSync(`${root}/f`, "utf8")}`;
      });
    };
    const k = bootDevice(freshDevice(16 * MiB));
    const got = run(k.fs, "");
    expect(got).toEqual(run(nodeFs, nodeFs.mkdtempSync(`${oracleRoot}/open-`)));
    expect(got.every((l) => l.endsWith("keep me") && !l.includes(" OK "))).toBe(true);
    k.shutdown();
  });

  it("ENOSPC: a symlink whose target needs a block and a mkdir leave no name behind", () => {
    const k = bootDevice(freshDevice(8 * MiB));
    const fs = k.fs;
    fillUntilEnospc(fs, "/fill");
    const long = "t".repeat(2000); // over INLINE_MAX: needs a data block
    let made = 0;
    for (let i = 0; i < 2000; i++) {
      const c = codeOf(() => fs.symlinkSync(long, `/s${i}`));
      if (c === "ENOSPC") {
        expect(codeOf(() => fs.lstatSync(`/s${i}`))).toBe("ENOENT");
        break;
      }
      expect(c).toBe("OK");
      expect(fs.readlinkSync(`/s${i}`)).toBe(long);
      made++;
    }
    for (let i = 0; i < 100000; i++) {
      const c = codeOf(() => fs.mkdirSync(`/d${i}`));
      if (c === "ENOSPC") { expect(fs.existsSync(`/d${i}`)).toBe(false); break; }
      expect(c).toBe("OK");
    }
    expect(made).toBeLessThan(2000);
    fs.fsyncSync(fs.openSync("/fill", "r"));
    fsckClean(k);
    k.shutdown();
  });
});

/** Appends 64 KiB chunks (then single blocks) to `p` until write() says ENOSPC. */
function fillUntilEnospc(fs: Kernel["fs"], p: string): number {
  const fd = fs.openSync(p, "w");
  let total = 0;
  for (const chunk of [65536, 4096]) {
    const buf = Buffer.alloc(chunk, 0x5a);
    for (;;) {
      try { total += fs.writeSync(fd, buf); } catch (e) { expect((e as { code: string }).code).toBe("ENOSPC"); break; }
    }
  }
  fs.closeSync(fd);
  return total;
}

// ---- ENOSPC comes from write(), never from a later commit -----------------------------------

describe("ENOSPC at write(): commits never run out of space", () => {
  it("1-byte writes 4 MB apart after a far sparse write: ENOSPC at write, fsync works, data survives", () => {
    let dev = freshDevice(16 * MiB);
    let k = bootDevice(dev);
    const fs = k.fs, fd = fs.openSync("/sparse", "w+");
    fs.writeSync(fd, Buffer.from("end"), 0, 3, 2 ** 40);
    fs.fsyncSync(fd);
    let n = 0;
    let code = "";
    for (; n < 100000; n++) {
      code = codeOf(() => fs.writeSync(fd, Buffer.from([n & 0xff]), 0, 1, n * 4096000));
      if (code !== "OK") break;
    }
    expect(code).toBe("ENOSPC");
    expect(n).toBeGreaterThan(1000); // the reservation is not so pessimistic that the disk looks full early
    expect(codeOf(() => fs.fsyncSync(fd))).toBe("OK");
    expect(k.logLines.filter((l) => /abort|read-only/.test(l))).toEqual([]);
    fs.closeSync(fd);
    fs.writeFileSync("/after", "still writable");
    ({ k, dev } = remount(k, dev));
    const b = Buffer.alloc(1);
    for (let i = 0; i < n; i += 97) {
      expect(k.fs.readSync(k.fs.openSync("/sparse", "r"), b, 0, 1, i * 4096000)).toBe(1);
      expect(b[0]).toBe(i & 0xff);
    }
    expect(k.fs.readFileSync("/after", "utf8")).toBe("still writable");
    k.fs.unlinkSync("/sparse");
    fsckClean(k);
    k.shutdown();
  }, 60_000);

  for (const seed of [1, 2, 3]) {
    it(`property: random sparse writes, appends, truncates, creates until ENOSPC, then fsync + remount (seed ${seed})`, () => {
      propertyRun(seed);
    }, 60_000);
  }
});

/** xorshift32 */
function rng(seed: number): () => number {
  let x = seed * 2654435761 >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

/**
 * Runs random operations on an 8 MiB device until some write or create says ENOSPC (and a
 * few hundred more ops past it), keeping a model of every file's bytes; every call that
 * succeeded is acknowledged. Then fsync every file, sync, remount: no journal abort, every
 * file equals its model, fsck clean, and the filesystem still takes writes.
 */
function propertyRun(seed: number): void {
  const r = rng(seed);
  let dev = freshDevice(8 * MiB);
  let k = bootDevice(dev);
  const fs = k.fs;
  const model = new Map<string, Uint8Array>();
  const fds = new Map<string, number>();
  const int = (n: number) => Math.floor(r() * n);
  let enospc = 0;
  const grow = (a: Uint8Array, size: number): Uint8Array => { const b = new Uint8Array(size); b.set(a.subarray(0, Math.min(a.length, size))); return b; };
  for (let op = 0; op < 4000 && enospc < 300; op++) {
    const names = [...model.keys()];
    const kind = names.length === 0 ? 0 : int(10);
    const name = kind === 0 ? `/f${int(40)}` : names[int(names.length)];
    try {
      if (kind === 0) {
        if (model.has(name)) continue;
        fds.set(name, fs.openSync(name, "w+"));
        model.set(name, new Uint8Array(0));
      } else {
        const fd = fds.get(name)!;
        let cur = model.get(name)!;
        if (kind <= 3) { // sparse write far out, or inside
          const pos = r() < 0.5 ? int(64) * 65536 * 4 + int(4096) : int(Math.max(1, cur.length));
          const data = bytesOf(seed * 1000 + op, 1 + int(r() < 0.8 ? 64 : 20000));
          const w = fs.writeSync(fd, data, 0, data.length, pos);
          if (pos + w > cur.length) cur = grow(cur, pos + w);
          cur.set(data.subarray(0, w), pos);
        } else if (kind <= 6) { // append
          const data = bytesOf(seed * 1000 + op, 1 + int(r() < 0.7 ? 3000 : 70000));
          const w = fs.writeSync(fd, data, 0, data.length, cur.length);
          cur = grow(cur, cur.length + w);
          cur.set(data.subarray(0, w), cur.length - w);
        } else if (kind <= 8) { // truncate down or up
          const len = r() < 0.6 ? int(cur.length + 1) : cur.length + int(200000);
          fs.ftruncateSync(fd, len);
          cur = grow(cur, len);
        } else if (r() < 0.3) {
          fs.fsyncSync(fd);
        } else continue;
        model.set(name, cur);
      }
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== "ENOSPC" && code !== "EFBIG") throw e;
      enospc++;
    }
  }
  expect(enospc).toBeGreaterThan(0);
  for (const fd of fds.values()) fs.fsyncSync(fd);
  expect(k.logLines.filter((l) => /abort|read-only/.test(l))).toEqual([]);
  fsckClean(k);
  for (const fd of fds.values()) fs.closeSync(fd);
  ({ k, dev } = remount(k, dev));
  for (const [name, want] of model) {
    const got = k.fs.readFileSync(name);
    expect(got.length, name).toBe(want.length);
    expect(Buffer.compare(got, Buffer.from(want)), name).toBe(0);
  }
  fsckClean(k);
  // still writable once something is freed
  for (const name of [...model.keys()].slice(0, 3)) k.fs.unlinkSync(name);
  k.fs.writeFileSync("/after", "ok");
  k.fs.fsyncSync(k.fs.openSync("/after", "r"));
  fsckClean(k);
  k.shutdown();
}

// ---- host values that would wrap, and rename's "." and ".." ---------------------------------

describe("host values that would wrap behave as Node's fs on tmpfs", () => {
  const POSITIONS: unknown[] = [2 ** 64 + 4096, 2 ** 64, 2 ** 63, 2 ** 53, 2 ** 62, 4096, 5, -1, -2, 1.5, NaN, Infinity,
    -Infinity, 2n ** 64n + 5n, 2n ** 63n, 2n ** 63n - 1n, 2n ** 62n, 2n ** 53n + 1n, 5n, -1n, -2n, null, undefined, "7"];

  /** Each position through writeSync(buffer), writeSync(string) and readSync on a fresh 10-byte file. */
  function probe(fs: typeof nodeFs | Kernel["fs"], dir: string): string[] {
    const out: string[] = [];
    for (const pos of POSITIONS) {
      for (const op of ["write", "writeString", "read"]) {
        const f = `${dir}/probe`;
        if (fs.existsSync(f)) fs.unlinkSync(f);
        const fd = fs.openSync(f, "w+");
        fs.writeSync(fd, Buffer.from("0123456789"));
        let res: string;
        try {
          if (op === "write") res = String(fs.writeSync(fd, Buffer.from("ab"), 0, 2, pos as number));
          else if (op === "writeString") res = String(fs.writeSync(fd, "ab", pos as number));
          else { const b = Buffer.alloc(2); res = `${fs.readSync(fd, b, 0, 2, pos as number)}:${b.toString("hex")}`; }
          res += ` ${fs.readFileSync(f).toString("hex")}`;
        } catch (e) {
          const err = e as { code?: string; message?: string };
          res = `${err.code} ${(err.message ?? "").split(dir).join("")}`;
        }
        fs.closeSync(fd);
        out.push(`${String(pos)}${typeof pos === "bigint" ? "n" : ""} ${op}: ${res}`);
      }
    }
    return out;
  }

  it("writeSync/readSync positions past 2^53, 2^63, 2^64, negative, fractional and bigint", () => {
    const k = bootDevice(freshDevice(16 * MiB));
    const dir = nodeFs.mkdtempSync(`${oracleRoot}/pos-`);
    expect(probe(k.fs, "")).toEqual(probe(nodeFs, dir));
    fsckClean(k);
    k.shutdown();
  });

  it("a pread or pwrite offset that is not an i64 is EINVAL at the Sys boundary, never wrapped", () => {
    const k = bootDevice(freshDevice(16 * MiB));
    const fd = k.fs.openSync("/f", "w+");
    k.fs.writeSync(fd, Buffer.from("0123456789"));
    const buf = new Uint8Array(2);
    expect(k.sys.write(fd, buf, 0, 2, 2 ** 64 + 4096)).toBe(-22);
    expect(k.sys.read(fd, buf, 0, 2, 2n ** 64n + 5n)).toBe(-22);
    expect(k.sys.read(fd, buf, 0, 2, 2n ** 63n - 1n)).toBe(-22); // pos + len overflows loff_t
    expect(k.sys.write(fd, buf, 0, 2, 1.5)).toBe(-22);
    expect(k.fs.readFileSync("/f", "utf8")).toBe("0123456789");
    k.shutdown();
  });

  it("utimes past year 2262 clamps to the format's last nanosecond instead of wrapping to 1680", () => {
    const k = bootDevice(freshDevice(16 * MiB));
    const fs = k.fs;
    fs.writeFileSync("/t", "x");
    fs.utimesSync("/t", 9.3e9, 9.3e9);
    const st = fs.statSync("/t", { bigint: true });
    expect(st.mtimeNs).toBe(2n ** 63n - 1n);
    expect(st.atimeNs).toBe(2n ** 63n - 1n);
    expect(fs.statSync("/t").mtime.getUTCFullYear()).toBe(2262);
    // inside the range nothing changes; far in the past clamps to the first nanosecond
    fs.utimesSync("/t", 9.2e9, new Date(-9.3e12));
    const st2 = fs.statSync("/t", { bigint: true });
    expect(st2.atimeNs).toBe(9_200_000_000n * 1_000_000_000n);
    expect(st2.mtimeNs).toBe(-(2n ** 63n));
    // libuv refuses a double it cannot convert, as on Linux
    expect(codeOf(() => fs.utimesSync("/t", 1e19, 1e19))).toBe("EINVAL");
    k.shutdown();
  });

  it("rename with '.' or '..' as either last component is what Linux returns (EBUSY ...)", () => {
    const cases: [string, string][] = [["d/.", "x"], ["d/..", "x"], ["d", "d/."], ["d", "d/.."], ["f", "d/."], ["f", "d/.."],
      ["d/e", "."], ["d/e", ".."], [".", "x"], ["..", "x"], ["d/e/..", "x"], ["f", "."], ["empty", ".."], ["d/.", "d/."],
      ["x/.", "y"], ["nonexist", "d/."], ["nonexist", "x/."], ["d/e", "nonexist/."], ["d/e", "f/."], ["f/.", "x"],
      ["d/e/", "x/."], ["empty", "empty/."], ["f", "f/."], ["d/e", "d/e/.."], ["d/.", "d/e"], ["d/e/.", "x"], ["l/.", "x"],
      ["d", "l/."], ["f/", "d/."], ["T".repeat(256), "d/."], ["d/.", "T".repeat(256)], ["d/./e", "d/./g"]];
    const run = (fs: typeof nodeFs | Kernel["fs"], root: string): string[] => {
      fs.mkdirSync(`${root}/d`); fs.mkdirSync(`${root}/d/e`); fs.writeFileSync(`${root}/f`, "x");
      fs.mkdirSync(`${root}/empty`); fs.symlinkSync("d", `${root}/l`);
      return cases.map(([a, b]) => `${a.slice(0, 12)} -> ${b.slice(0, 12)}: ${codeOf(() => fs.renameSync(`${root}/${a}`, `${root}/${b}`))}`);
    };
    const k = bootDevice(freshDevice(16 * MiB));
    const got = run(k.fs, "");
    expect(got).toEqual(run(nodeFs, nodeFs.mkdtempSync(`${oracleRoot}/rn-`)));
    expect(got.filter((l) => l.endsWith("EBUSY")).length).toBeGreaterThan(15);
    k.shutdown();
  });
});
