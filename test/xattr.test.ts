// test/xattr.test.ts -- special inodes (mknod) and extended attributes, end to end (issue 12
// §2). Oracles: Linux on tmpfs through the real syscalls (test/fixtures/xattr-oracle.py runs
// os.setxattr/getxattr/listxattr/removexattr/mknod, as root and as uid 65534) for every errno
// choice it can show; a Map model for random xattr operations across remounts and crash
// replays; fsck's labels for crafted damage (test/image-edit.ts).

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as nfs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { bootWith, FSCK_VERBOSE, FSCK_YES, type Kernel } from "../host/vmm/kernel.js";
import { createFs, type Sys } from "../host/fs/fs.js";
import { kernelModule } from "../host/node/node.js";
import { freshDevice, bootDevice, crashCopy, fsckClean } from "./helpers.js";
import { TREE, I, setSb, items, editValue, rekeyItem, inodeItem, dv } from "./image-edit.js";
import { makeBaseImage } from "../host/crash/crashcheck.js";
import { runWorkload, checkRecovered, type Workload, type WorkloadFs } from "../host/crash/workload.js";

const ORACLE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "xattr-oracle.py");
const NOBODY = 65534;
const S_IFIFO = 0o010000, S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFSOCK = 0o140000, S_IFREG = 0o100000, S_IFDIR = 0o040000;
const XATTR_CREATE = 1, XATTR_REPLACE = 2;
const enc = new TextEncoder();
// CI runs as root: there the oracle cases run (and fail without root) instead of skipping
const isRoot = process.getuid?.() === 0 || process.env.CI === "true";

type Step =
  | { op: "setxattr"; path: string; name: string; value: number[]; flags?: number; noFollow?: boolean; uid?: number }
  | { op: "getxattr"; path: string; name: string; noFollow?: boolean; uid?: number }
  | { op: "listxattr"; path: string; noFollow?: boolean; uid?: number }
  | { op: "removexattr"; path: string; name: string; noFollow?: boolean; uid?: number }
  | { op: "mknod"; path: string; mode: number; rdev?: number; uid?: number }
  | { op: "stat"; path: string; uid?: number }
  | { op: "open"; path: string; flags: number; uid?: number };
type Result = { ok: unknown } | { errno: number };

/** Runs `steps` on Linux (tmpfs directory `root`). */
function linux(root: string, steps: Step[]): Result[] {
  const r = spawnSync("python3", [ORACLE], { input: JSON.stringify({ root, steps }), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`oracle failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Result[];
}

/** Runs `steps` on the kernel (raw syscalls: no umask), each as root or uid 65534. */
function helix(k: Kernel, steps: Step[]): Result[] {
  const root = k.sys;
  const nobody = k.sysAs({ uid: NOBODY, gid: NOBODY, groups: [] });
  const wrap = (r: unknown): Result => (typeof r === "number" && r < 0 ? { errno: -r } : { ok: r });
  return steps.map((s) => {
    const sys: Sys = s.uid === NOBODY ? nobody : root;
    switch (s.op) {
      case "setxattr": return wrap(sys.setxattr!(s.path, s.name, Uint8Array.from(s.value), s.flags ?? 0, s.noFollow ?? false));
      case "getxattr": { const r = sys.getxattr!(s.path, s.name, s.noFollow ?? false); return typeof r === "number" ? wrap(r) : { ok: Array.from(r) }; }
      case "listxattr": { const r = sys.listxattr!(s.path, s.noFollow ?? false); return typeof r === "number" ? wrap(r) : { ok: r.slice().sort() }; }
      case "removexattr": return wrap(sys.removexattr!(s.path, s.name, s.noFollow ?? false));
      case "mknod": return wrap(sys.mknod!(s.path, s.mode, s.rdev ?? 0));
      case "stat": { const r = sys.lstat(s.path); return typeof r === "number" ? wrap(r) : { ok: { mode: r.mode, rdev: r.rdev, size: r.size, nlink: r.nlink } }; }
      case "open": { const fd = sys.open(s.path, s.flags, 0); if (fd >= 0) sys.close(fd); return wrap(fd >= 0 ? 0 : fd); }
    }
  });
}

/** The same tree on tmpfs and on the kernel: files, a directory, a symlink, a FIFO, ownership and modes. */
function buildTree(k: Kernel, root: string): void {
  const mk = (p: string, kind: "file" | "dir", mode: number, uid = 0) => {
    if (kind === "dir") { nfs.mkdirSync(root + p); k.fs.mkdirSync(p); } else { nfs.writeFileSync(root + p, "x"); k.fs.writeFileSync(p, "x"); }
    nfs.chmodSync(root + p, mode); k.fs.chmodSync(p, mode);
    nfs.chownSync(root + p, uid, uid); k.fs.chownSync(p, uid, uid);
  };
  nfs.chmodSync(root, 0o755);
  mk("/f", "file", 0o644); mk("/d", "dir", 0o755); mk("/fo", "file", 0o644, NOBODY); mk("/nr", "file", 0o600);
  mk("/w", "file", 0o666); mk("/sticky", "dir", 0o1777); mk("/m", "dir", 0o755); mk("/open", "dir", 0o777);
  nfs.symlinkSync("f", root + "/s"); k.fs.symlinkSync("f", "/s");
  expect(linux(root, [{ op: "mknod", path: "/p", mode: S_IFIFO | 0o644 }])).toEqual([{ ok: 0 }]);
  expect(helix(k, [{ op: "mknod", path: "/p", mode: S_IFIFO | 0o644 }])).toEqual([{ ok: 0 }]);
}

const v = (s: string) => Array.from(enc.encode(s));

/** Unmounts `k` cleanly and boots a new kernel on the same bytes (a device closes at shutdown). */
function remount(k: Kernel, dev: MemoryBackend): Kernel {
  const img = dev.bytes;
  k.shutdown();
  const d2 = new MemoryBackend(img);
  lastDev = d2;
  return bootDevice(d2);
}
/** The device the last remount booted on. */
let lastDev: MemoryBackend | null = null;

/** Busy-waits `ms` milliseconds (timestamps must differ from the ones before). */
function spin(ms: number): void { const end = Date.now() + ms; while (Date.now() < end) { /* wait */ } }

describe.skipIf(!isRoot)("Linux on tmpfs is the oracle (as root and as uid 65534)", () => {
  let tmp: string;
  let k: Kernel;
  beforeAll(() => {
    tmp = nfs.mkdtempSync("/dev/shm/helix-xattr-");
    k = bootDevice(freshDevice(16 << 20));
    buildTree(k, tmp);
  });
  afterAll(() => { k?.shutdown(); nfs.rmSync(tmp, { recursive: true, force: true }); });

  it("xattr set/get/list/remove: flags, limits, namespaces, symlinks, FIFOs and permissions give Linux's results", () => {
    const long255 = "user." + "n".repeat(250), long256 = "user." + "n".repeat(251);
    const steps: Step[] = [
      { op: "setxattr", path: "/f", name: "user.a", value: v("v1") },
      { op: "getxattr", path: "/f", name: "user.a" },
      { op: "setxattr", path: "/f", name: "user.a", value: v("v2"), flags: XATTR_CREATE },
      { op: "setxattr", path: "/f", name: "user.a", value: v("v3"), flags: XATTR_REPLACE },
      { op: "getxattr", path: "/f", name: "user.a" },
      { op: "setxattr", path: "/f", name: "user.b", value: v("x"), flags: XATTR_REPLACE },
      { op: "getxattr", path: "/f", name: "user.zz" },
      { op: "removexattr", path: "/f", name: "user.zz" },
      { op: "setxattr", path: "/f", name: "user.e", value: [] },
      { op: "getxattr", path: "/f", name: "user.e" },
      { op: "setxattr", path: "/f", name: "", value: v("x") },
      { op: "getxattr", path: "/f", name: "" },
      { op: "setxattr", path: "/f", name: long256, value: v("x") },
      { op: "getxattr", path: "/f", name: long256 },
      { op: "removexattr", path: "/f", name: long256 },
      { op: "setxattr", path: "/f", name: long255, value: v("long") },
      { op: "getxattr", path: "/f", name: long255 },
      { op: "setxattr", path: "/f", name: "foo.bar", value: v("x") },
      { op: "getxattr", path: "/f", name: "foo.bar" },
      { op: "setxattr", path: "/f", name: "system.foo", value: v("x") },
      { op: "setxattr", path: "/f", name: "user.", value: v("x") },
      { op: "getxattr", path: "/f", name: "trusted." },
      { op: "setxattr", path: "/f", name: "user.big", value: new Array(65537).fill(1) },
      { op: "setxattr", path: "/f", name: "user.a", value: v("x"), flags: 4 },
      { op: "setxattr", path: "/missing", name: "user.a", value: v("x") },
      { op: "getxattr", path: "/f/x", name: "user.a" },
      { op: "setxattr", path: "/s", name: "user.a", value: v("x"), noFollow: true },
      { op: "setxattr", path: "/s", name: "user.c", value: v("via link") },
      { op: "getxattr", path: "/s", name: "user.c", noFollow: true },
      { op: "setxattr", path: "/s", name: "trusted.t", value: v("on the link"), noFollow: true },
      { op: "listxattr", path: "/s", noFollow: true },
      { op: "removexattr", path: "/s", name: "user.c", noFollow: true },
      { op: "setxattr", path: "/p", name: "user.a", value: v("x") },
      { op: "getxattr", path: "/p", name: "user.a" },
      { op: "setxattr", path: "/p", name: "trusted.p", value: v("fifo") },
      { op: "listxattr", path: "/p" },
      { op: "setxattr", path: "/f", name: "security.s", value: v("label") },
      { op: "setxattr", path: "/f", name: "trusted.f", value: v("root only") },
      { op: "setxattr", path: "/d", name: "user.d", value: v("dir") },
      { op: "listxattr", path: "/f" },
      { op: "listxattr", path: "/d" },
      { op: "removexattr", path: "/f", name: "user.e" },
      { op: "removexattr", path: "/f", name: "user.e" },
      // uid 65534
      { op: "getxattr", path: "/f", name: "user.c", uid: NOBODY },
      { op: "setxattr", path: "/f", name: "user.x", value: v("x"), uid: NOBODY },
      { op: "removexattr", path: "/f", name: "user.c", uid: NOBODY },
      { op: "getxattr", path: "/f", name: "trusted.f", uid: NOBODY },
      { op: "setxattr", path: "/f", name: "trusted.n", value: v("x"), uid: NOBODY },
      { op: "removexattr", path: "/f", name: "trusted.f", uid: NOBODY },
      { op: "listxattr", path: "/f", uid: NOBODY },
      { op: "getxattr", path: "/f", name: "security.s", uid: NOBODY },
      { op: "setxattr", path: "/f", name: "security.n", value: v("x"), uid: NOBODY },
      { op: "removexattr", path: "/f", name: "security.s", uid: NOBODY },
      { op: "setxattr", path: "/fo", name: "user.y", value: v("mine"), uid: NOBODY },
      { op: "getxattr", path: "/fo", name: "user.y", uid: NOBODY },
      { op: "setxattr", path: "/sticky", name: "user.z", value: v("x"), uid: NOBODY },
      { op: "getxattr", path: "/nr", name: "user.q", uid: NOBODY },
      { op: "listxattr", path: "/nr", uid: NOBODY },
      { op: "setxattr", path: "/w", name: "user.w", value: v("anyone"), uid: NOBODY },
      { op: "setxattr", path: "/w", name: "foo.x", value: v("x"), uid: NOBODY },
      { op: "setxattr", path: "/f", name: "foo.x", value: v("x"), uid: NOBODY },
      { op: "removexattr", path: "/w", name: "user.w", uid: NOBODY },
    ];
    const want = linux(tmp, steps);
    const got = helix(k, steps);
    const rows = steps.map((s, i) => ({ step: `${s.op} ${s.path} ${"name" in s ? s.name.slice(0, 24) : ""}${s.uid ? " as 65534" : ""}`, want: want[i], got: got[i] }));
    expect(rows.filter((r) => JSON.stringify(r.want) !== JSON.stringify(r.got))).toEqual([]);
    fsckClean(k);
  });

  it("mknod: types, modes, rdev, errors and ownership rules give Linux's results; readdir types match", () => {
    const steps: Step[] = [
      { op: "mknod", path: "/m/fifo", mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/m/chr", mode: S_IFCHR | 0o600, rdev: 0x103 },
      { op: "mknod", path: "/m/blk", mode: S_IFBLK | 0o640, rdev: 0x801 },
      { op: "mknod", path: "/m/sock", mode: S_IFSOCK | 0o755 },
      { op: "mknod", path: "/m/reg", mode: 0o644 },
      { op: "mknod", path: "/m/reg2", mode: S_IFREG | 0o600 },
      { op: "mknod", path: "/m/fifo5", mode: S_IFIFO | 0o600, rdev: 5 },
      { op: "mknod", path: "/m/sockrdev", mode: S_IFSOCK | 0o600, rdev: 7 },
      ...["fifo", "chr", "blk", "sock", "reg", "reg2", "fifo5", "sockrdev"].map((n): Step => ({ op: "stat", path: `/m/${n}` })),
      { op: "mknod", path: "/m/fifo", mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/m/chr", mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/nodir/x", mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/m/reg/x", mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/m/dir", mode: S_IFDIR | 0o755 },
      { op: "mknod", path: "/m/bad", mode: 0o170000 | 0o644 },
      { op: "mknod", path: "/m/bad2", mode: 0o070000 | 0o644 },
      { op: "mknod", path: "/m/" + "n".repeat(256), mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/m/slash/", mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/m/fifo/", mode: S_IFIFO | 0o644 },
      { op: "mknod", path: "/m/x", mode: S_IFIFO | 0o644, uid: NOBODY },
      { op: "mknod", path: "/open/chr", mode: S_IFCHR | 0o644, rdev: 0x103, uid: NOBODY },
      { op: "mknod", path: "/open/blk", mode: S_IFBLK | 0o644, rdev: 0x801, uid: NOBODY },
      { op: "mknod", path: "/open/fifo", mode: S_IFIFO | 0o644, uid: NOBODY },
      { op: "mknod", path: "/open/sock", mode: S_IFSOCK | 0o644, uid: NOBODY },
      { op: "mknod", path: "/nr/x", mode: S_IFIFO | 0o644, uid: NOBODY },
      { op: "open", path: "/m/fifo", flags: 0o1 | 0o4000 }, // O_WRONLY|O_NONBLOCK, no reader: ENXIO
      { op: "open", path: "/m/fifo", flags: 0o0 | 0o4000 }, // O_RDONLY|O_NONBLOCK
      { op: "open", path: "/m/sock", flags: 0o0 }, // a socket cannot be opened: ENXIO
      { op: "open", path: "/m/fifo", flags: 0o1 | 0o100 | 0o200 }, // O_CREAT|O_EXCL over it: EEXIST
    ];
    const want = linux(tmp, steps);
    const got = helix(k, steps);
    const rows = steps.map((s, i) => ({ step: `${s.op} ${s.path.slice(0, 30)} ${"mode" in s ? s.mode.toString(8) : ""}${s.uid ? " as 65534" : ""}`, want: want[i], got: got[i] }));
    expect(rows.filter((r) => JSON.stringify(r.want) !== JSON.stringify(r.got))).toEqual([]);
    const types = (ents: { name: string; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isFile(): boolean }[]) =>
      ents.map((e) => [e.name, e.isFIFO(), e.isCharacterDevice(), e.isBlockDevice(), e.isSocket(), e.isFile()]).sort();
    expect(types(k.fs.readdirSync("/m", { withFileTypes: true }) as never)).toEqual(types(nfs.readdirSync(tmp + "/m", { withFileTypes: true })));
    fsckClean(k);
  });
});

describe("special inodes: the host API and what this kernel does with them", () => {
  it("mkfifoSync/mknodSync apply the umask; stat and rdev survive a remount; open/read/write/truncate give the documented errors", () => {
    const dev = freshDevice(16 << 20);
    let k = bootDevice(dev);
    k.fs.mkfifoSync("/fifo");
    k.fs.mknodSync("/chr", S_IFCHR | 0o666, 0x10a05);
    k.fs.mknodSync("/blk", S_IFBLK | 0o660, 0x801);
    k.fs.mknodSync("/sock", S_IFSOCK | 0o777);
    expect(k.fs.statSync("/fifo").mode).toBe(S_IFIFO | 0o644);
    expect(() => k.fs.mknodSync("/fifo", S_IFIFO | 0o600)).toThrow(expect.objectContaining({ code: "EEXIST", syscall: "mknod", path: "/fifo" }));
    k = remount(k, dev);
    const st = (p: string) => { const s = k.fs.statSync(p); return [s.mode.toString(8), s.rdev, s.size, s.isFIFO(), s.isCharacterDevice(), s.isBlockDevice(), s.isSocket()]; };
    expect(st("/fifo")).toEqual(["10644", 0, 0, true, false, false, false]);
    expect(st("/chr")).toEqual(["20644", 0x10a05, 0, false, true, false, false]);
    expect(st("/blk")).toEqual(["60640", 0x801, 0, false, false, true, false]);
    expect(st("/sock")).toEqual(["140755", 0, 0, false, false, false, true]);
    // devices and sockets: no driver, no socket layer
    expect(() => k.fs.openSync("/chr", "r")).toThrow(expect.objectContaining({ code: "ENXIO" }));
    expect(() => k.fs.openSync("/blk", "r+")).toThrow(expect.objectContaining({ code: "ENXIO" }));
    expect(() => k.fs.openSync("/sock", "r")).toThrow(expect.objectContaining({ code: "ENXIO" }));
    // a FIFO: a writer without a reader is ENXIO with O_NONBLOCK; with a reader open it opens
    const O_WRONLY = 1, O_NONBLOCK = 0o4000;
    expect(() => k.fs.openSync("/fifo", O_WRONLY | O_NONBLOCK)).toThrow(expect.objectContaining({ code: "ENXIO" }));
    const r = k.fs.openSync("/fifo", "r");
    const buf = new Uint8Array(8);
    expect(k.fs.readSync(r, buf, 0, 8, null)).toBe(0); // no writer: end of file
    const w = k.fs.openSync("/fifo", O_WRONLY | O_NONBLOCK);
    expect(() => k.fs.writeSync(w, buf, 0, 8, null)).toThrow(expect.objectContaining({ code: "EAGAIN" }));
    expect(() => k.fs.readSync(r, buf, 0, 8, null)).toThrow(expect.objectContaining({ code: "EAGAIN" }));
    expect(() => k.fs.readSync(r, buf, 0, 8, 0)).toThrow(expect.objectContaining({ code: "ESPIPE" }));
    expect(() => k.fs.ftruncateSync(w, 0)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    k.fs.closeSync(r);
    expect(() => k.fs.writeSync(w, buf, 0, 8, null)).toThrow(expect.objectContaining({ code: "EPIPE" }));
    k.fs.closeSync(w);
    expect(() => k.fs.truncateSync("/fifo", 0)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => k.fs.truncateSync("/chr", 0)).toThrow(expect.objectContaining({ code: "ENXIO" })); // Node's truncateSync opens first
    expect(k.sys.truncate("/chr", 0)).toBe(-22); // truncate(2): EINVAL for anything but a regular file
    expect(k.sys.truncate("/sock", 0)).toBe(-22);
    // rename, link and unlink treat them as any non-directory
    k.fs.renameSync("/fifo", "/fifo2");
    k.fs.linkSync("/chr", "/chr2");
    expect(k.fs.statSync("/chr2").nlink).toBe(2);
    k.fs.unlinkSync("/chr");
    k.fs.unlinkSync("/sock");
    fsckClean(k);
    k.shutdown();
  });

  it("read-only: set/remove/mknod are EROFS after the walk's own errors (Linux's order); get and list work", () => {
    const dev = freshDevice(16 << 20);
    const k0 = bootDevice(dev);
    k0.fs.writeFileSync("/f", "x");
    k0.fs.setxattrSync("/f", "user.a", "v");
    const img = dev.bytes;
    k0.shutdown();
    const k = bootWith({ device: new MemoryBackend(img), module: kernelModule(true), memoryMiB: 64, fsckMount: "check" });
    try {
      expect(k.sys.setxattr!("/f", "user.b", enc.encode("x"), 0, false)).toBe(-30);
      expect(k.sys.setxattr!("/missing", "user.b", enc.encode("x"), 0, false)).toBe(-2);
      expect(k.sys.setxattr!("/f", "", enc.encode("x"), 0, false)).toBe(-34);
      expect(k.sys.removexattr!("/f", "user.a", false)).toBe(-30);
      expect(k.sys.mknod!("/p", S_IFIFO | 0o644, 0)).toBe(-30);
      expect(k.sys.mknod!("/f", S_IFIFO | 0o644, 0)).toBe(-17);
      expect(k.sys.mknod!("/nodir/p", S_IFIFO | 0o644, 0)).toBe(-2);
      expect(k.fs.getxattrSync("/f", "user.a").toString()).toBe("v");
      expect(k.fs.listxattrSync("/f")).toEqual(["user.a"]);
    } finally { k.shutdown(); }
  });

  it("fs.promises has the extensions too; a Sys without them makes the extension ENOSYS", async () => {
    const k = bootDevice(freshDevice(16 << 20));
    try {
      await k.fs.promises.writeFile("/f", "x");
      await (k.fs.promises as unknown as { mkfifo(p: string): Promise<void> }).mkfifo("/p");
      const pr = k.fs.promises as unknown as { setxattr(p: string, n: string, v: string): Promise<void>; getxattr(p: string, n: string): Promise<Buffer>; listxattr(p: string): Promise<string[]>; removexattr(p: string, n: string): Promise<void> };
      await pr.setxattr("/f", "user.a", "1");
      expect((await pr.getxattr("/f", "user.a")).toString()).toBe("1");
      expect(await pr.listxattr("/f")).toEqual(["user.a"]);
      await pr.removexattr("/f", "user.a");
      await expect(pr.getxattr("/f", "user.a")).rejects.toMatchObject({ code: "ENODATA", syscall: "getxattr" });
      expect(k.fs.statSync("/p").isFIFO()).toBe(true);
      const bare = createFs({ ...k.sys, setxattr: undefined, mknod: undefined } as Sys);
      expect(() => bare.setxattrSync("/f", "user.a", "1")).toThrow(expect.objectContaining({ code: "ENOSYS" }));
      expect(() => bare.mkfifoSync("/q")).toThrow(expect.objectContaining({ code: "ENOSYS" }));
    } finally { k.shutdown(); }
  });

  it("the first special inode sets INCOMPAT_SPECIAL, the first attribute RO_COMPAT_XATTR (not before)", () => {
    let img = freshDevice(16 << 20).bytes;
    const sbWord = (off: number) => new DataView(img.buffer, img.byteOffset).getUint32(off, true);
    const step = (f: (k: Kernel) => void) => {
      const dev = new MemoryBackend(img);
      const k = bootDevice(dev);
      f(k);
      img = dev.bytes;
      k.shutdown();
    };
    step((k) => k.fs.writeFileSync("/f", "x"));
    expect(sbWord(60) & 8).toBe(0);
    expect(sbWord(64) & 2).toBe(0);
    step((k) => k.fs.mkfifoSync("/p"));
    expect(sbWord(60) & 8).toBe(8);
    expect(sbWord(64) & 2).toBe(0);
    step((k) => k.fs.setxattrSync("/f", "user.a", "1"));
    expect(sbWord(64) & 2).toBe(2);
  });
});

// ---- extended attributes beyond the oracle ------------------------------------------------------

/** The largest value an attribute named `name` holds here (one B+ tree item: VALUE_MAX 1300). */
function valueMax(name: string): number {
  const prefix = ["user.", "trusted.", "security."].find((p) => name.startsWith(p))!;
  return 1300 - 4 - (enc.encode(name).length - prefix.length);
}

describe("extended attributes: limits, size probing, ctime, inode removal", () => {
  it("values up to one item's room are kept; one byte more is ENOSPC; above 64 KiB E2BIG", () => {
    const k = bootDevice(freshDevice(16 << 20));
    k.fs.writeFileSync("/f", "x");
    for (const name of ["user.a", "trusted." + "t".repeat(200), "security.s"]) {
      const max = valueMax(name);
      const val = Uint8Array.from({ length: max }, (_, i) => i * 7);
      k.fs.setxattrSync("/f", name, val);
      expect(Buffer.from(k.fs.getxattrSync("/f", name)).equals(Buffer.from(val))).toBe(true);
      expect(() => k.fs.setxattrSync("/f", name, new Uint8Array(max + 1))).toThrow(expect.objectContaining({ code: "ENOSPC", syscall: "setxattr" }));
    }
    expect(() => k.fs.setxattrSync("/f", "user.a", new Uint8Array(65537))).toThrow(expect.objectContaining({ code: "E2BIG" }));
    expect(() => k.fs.setxattrSync("/f", "user.a", new Uint8Array(1 << 21))).toThrow(expect.objectContaining({ code: "E2BIG" }));
    fsckClean(k);
    k.shutdown();
  });

  it("size probing as Linux (the FUSE layer's getxattr/listxattr with size 0, then too small: ERANGE)", () => {
    const k = bootDevice(freshDevice(16 << 20));
    k.fs.writeFileSync("/f", "x");
    k.fs.setxattrSync("/f", "user.abc", "hello");
    k.fs.setxattrSync("/f", "trusted.t", "x");
    const kk = k as unknown as { call(n: string, ...a: unknown[]): number; args: number; xfer: number; credPtr(c: unknown): number; mem(): Uint8Array };
    const m = kk.mem();
    m.set(enc.encode("/f"), kk.args);
    m.set([...enc.encode("user.abc"), 0], kk.args + 4096);
    const cred = kk.credPtr({ uid: 0, gid: 0, groups: [] });
    const get = (size: number) => kk.call("sys_getxattr", cred, kk.args, 2, kk.args + 4096, kk.xfer, size, 0);
    const list = (size: number) => kk.call("sys_listxattr", cred, kk.args, 2, kk.xfer, size, 0);
    expect(get(0)).toBe(5);
    expect(get(4)).toBe(-34);
    expect(get(5)).toBe(5);
    expect(list(0)).toBe("user.abc\0trusted.t\0".length);
    expect(list(5)).toBe(-34);
    expect(list(19)).toBe(19);
    expect(kk.call("sys_getxattr", cred, kk.args, 2, kk.args + 4096, kk.xfer, 5, 1)).toBe(-22); // unknown at_flags
    m.fill(0x61, kk.args + 4096, kk.args + 4096 + 300); // no NUL within 256 bytes: ERANGE
    expect(get(5)).toBe(-34);
    k.shutdown();
  });

  it("set and remove change ctime (not mtime); the names of one inode stop at 64 KiB of list (ENOSPC)", () => {
    const k = bootDevice(freshDevice(32 << 20));
    k.fs.writeFileSync("/f", "x");
    k.fs.utimesSync("/f", 1000, 1000);
    const before = k.fs.statSync("/f", { bigint: true }) as unknown as { ctimeNs: bigint; mtimeNs: bigint };
    spin(3);
    k.fs.setxattrSync("/f", "user.a", "1");
    const mid = k.fs.statSync("/f", { bigint: true }) as unknown as { ctimeNs: bigint; mtimeNs: bigint };
    expect(mid.ctimeNs > before.ctimeNs).toBe(true);
    expect(mid.mtimeNs).toBe(before.mtimeNs);
    k.fs.utimesSync("/f", 1000, 1000);
    const c1 = (k.fs.statSync("/f", { bigint: true }) as unknown as { ctimeNs: bigint }).ctimeNs;
    spin(3);
    k.fs.removexattrSync("/f", "user.a");
    expect((k.fs.statSync("/f", { bigint: true }) as unknown as { ctimeNs: bigint }).ctimeNs > c1).toBe(true);
    // 255-byte names, 256 bytes of list each: 256 of them fill 64 KiB
    let n = 0;
    for (; n < 300; n++) {
      try { k.fs.setxattrSync("/f", "user." + String(n).padStart(250, "x"), ""); } catch (e) { expect((e as { code: string }).code).toBe("ENOSPC"); break; }
    }
    expect(n).toBe(256);
    expect(k.fs.listxattrSync("/f")).toHaveLength(256);
    fsckClean(k);
    k.shutdown();
  });

  it("unlink removes an inode's attributes with it (and only then, for an open file; or at the mount after a crash); fsck stays clean", () => {
    const dev = freshDevice(16 << 20);
    const k = bootDevice(dev);
    const countItems = () => (k.treeInfo(0) as { items: number }).items;
    const base = countItems();
    k.fs.writeFileSync("/a", "x");
    k.fs.writeFileSync("/b", "x");
    for (let i = 0; i < 20; i++) { k.fs.setxattrSync("/a", `user.n${i}`, new Uint8Array(500)); k.fs.setxattrSync("/b", `user.n${i}`, "b"); }
    expect(countItems()).toBe(base + 2 + 40);
    k.fs.unlinkSync("/a");
    expect(countItems()).toBe(base + 1 + 20);
    const fd = k.fs.openSync("/b", "r");
    k.fs.unlinkSync("/b");
    expect(countItems()).toBe(base + 1 + 20); // open: an orphan keeps its attributes
    fsckClean(k);
    // a power cut while it is open: the next mount's orphan cleanup frees it with its attributes
    k.fs.fsyncSync(fd);
    const c = bootDevice(crashCopy(dev));
    try {
      expect((c.treeInfo(0) as { items: number }).items).toBe(base);
      fsckClean(c);
    } finally { c.shutdown(); }
    k.fs.closeSync(fd);
    expect(countItems()).toBe(base);
    fsckClean(k);
    k.shutdown();
  });
});

/** fs/xattr.ts xattr_hash: FNV-1a over the namespace byte and the name, folded, 31 bits. */
function xattrHash(ns: number, name: string): number {
  let x = Math.imul((0x811c9dc5 ^ ns) >>> 0, 0x01000193) >>> 0;
  for (const c of enc.encode(name)) x = Math.imul((x ^ c) >>> 0, 0x01000193) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) & 0x7fffffff;
}

describe("extended attributes whose names share a hash", () => {
  it("two user.* names with one 31-bit hash: both kept (seq 0 and 1), each found, removed and re-made by its name", () => {
    const [a, b] = ["c12vu", "ccuea"]; // found by a birthday search over "c" + base-36 numbers
    expect(xattrHash(1, a)).toBe(xattrHash(1, b));
    const dev = freshDevice(16 << 20);
    const k = bootDevice(dev);
    k.fs.writeFileSync("/f", "x");
    k.fs.setxattrSync("/f", "user." + a, "A");
    k.fs.setxattrSync("/f", "user." + b, "B");
    expect(() => k.fs.setxattrSync("/f", "user." + b, "B2", XATTR_CREATE)).toThrow(expect.objectContaining({ code: "EEXIST" }));
    expect(k.fs.getxattrSync("/f", "user." + a).toString()).toBe("A");
    expect(k.fs.getxattrSync("/f", "user." + b).toString()).toBe("B");
    expect(k.fs.listxattrSync("/f").sort()).toEqual(["user." + a, "user." + b]);
    k.fs.removexattrSync("/f", "user." + a); // the gap at seq 0 must not end the probe for b
    expect(k.fs.getxattrSync("/f", "user." + b).toString()).toBe("B");
    expect(() => k.fs.getxattrSync("/f", "user." + a)).toThrow(expect.objectContaining({ code: "ENODATA" }));
    k.fs.setxattrSync("/f", "user." + a, "A2", XATTR_CREATE);
    k.fs.setxattrSync("/f", "user." + b, "B3", XATTR_REPLACE);
    expect(k.fs.getxattrSync("/f", "user." + a).toString()).toBe("A2");
    expect(k.fs.getxattrSync("/f", "user." + b).toString()).toBe("B3");
    fsckClean(k);
    const ino = BigInt(k.fs.statSync("/f").ino);
    const img = dev.bytes;
    k.shutdown();
    const keys = items(img, TREE.inode).filter((x) => x.k1 === ino && x.k2 !== 0n).map((x) => x.k2);
    const hi = (BigInt(xattrHash(1, a)) + 1n) << 32n;
    expect(keys).toEqual([hi | 0n, hi | 1n]);
  });
});

// ---- property: random operations against a Map model, across remounts and crash replays ----------

const NAMES = ["user.a", "user.b", "user.c", "user." + "l".repeat(200), "trusted.t", "trusted.u", "security.s", "user.", "foo.x", ""];
const FILES = ["/x0", "/x1", "/dir"];

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % n; };
}

/** What Linux (and the model) says for setxattr of `name` with a `len`-byte value and `flags`. */
function modelSet(m: Map<string, Uint8Array>, name: string, val: Uint8Array, flags: number): number {
  if (name === "") return -34;
  if (!/^(user|trusted|security)\./.test(name)) return -95;
  if (/^(user|trusted|security)\.$/.test(name)) return -22;
  if (val.length > 65536) return -7;
  if (m.has(name) && (flags & XATTR_CREATE)) return -17;
  if (!m.has(name) && (flags & XATTR_REPLACE)) return -61;
  if (val.length > valueMax(name)) return -28;
  m.set(name, val);
  return 0;
}

function expectState(k: Kernel, model: Map<string, Map<string, Uint8Array>>, where: string): void {
  for (const f of FILES) {
    const want = model.get(f)!;
    const r = k.sys.listxattr!(f, false);
    const names = typeof r === "number" ? r : r.slice().sort();
    expect(names, `${where}: list ${f}`).toEqual([...want.keys()].sort());
    if (typeof names === "number") continue;
    for (const n of names) expect(Buffer.from(k.sys.getxattr!(f, n, false) as Uint8Array).equals(Buffer.from(want.get(n)!)), `${where}: ${f} ${n}`).toBe(true);
  }
}

describe("property: random xattr operations against a Map model", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: 600 operations with remounts and crash replays (fsync, then power cut): every result and the state match`, () => {
      const r = rng(seed * 7919);
      let dev = freshDevice(16 << 20);
      let k = bootDevice(dev);
      k.fs.writeFileSync("/x0", "0"); k.fs.writeFileSync("/x1", "1"); k.fs.mkdirSync("/dir");
      const model = new Map(FILES.map((f) => [f, new Map<string, Uint8Array>()]));
      let crashes = 0, remounts = 0;
      for (let i = 0; i < 600; i++) {
        const f = FILES[r(FILES.length)];
        const m = model.get(f)!;
        const name = NAMES[r(NAMES.length)];
        const what = r(100);
        const at = `seed ${seed} op ${i}`;
        if (what < 45) {
          const len = r(4) === 0 ? valueMax(name.startsWith("user.") || name.startsWith("trusted.") || name.startsWith("security.") ? name : "user.") + r(3) : r(300);
          const val = Uint8Array.from({ length: len }, () => r(256));
          const flags = r(4) === 0 ? XATTR_CREATE : r(4) === 0 ? XATTR_REPLACE : 0;
          const want = modelSet(m, name, val, flags);
          expect(k.sys.setxattr!(f, name, val, flags, false), `${at}: set ${f} ${name} ${len} ${flags}`).toBe(want);
        } else if (what < 65) {
          const got = k.sys.getxattr!(f, name, false);
          const want = name === "" ? -34 : !/^(user|trusted|security)\./.test(name) ? -95 : /\.$/.test(name) ? -22 : m.has(name) ? m.get(name)! : -61;
          if (typeof want === "number") expect(got, `${at}: get ${name}`).toBe(want);
          else expect(Buffer.from(got as Uint8Array).equals(Buffer.from(want)), `${at}: get ${name}`).toBe(true);
        } else if (what < 85) {
          const want = name === "" ? -34 : !/^(user|trusted|security)\./.test(name) ? -95 : /\.$/.test(name) ? -22 : m.has(name) ? 0 : -61;
          if (want === 0) m.delete(name);
          expect(k.sys.removexattr!(f, name, false), `${at}: remove ${name}`).toBe(want);
        } else if (what < 90 && f !== "/dir") {
          // the file goes with its attributes; a new one under the name has none
          k.fs.unlinkSync(f);
          k.fs.writeFileSync(f, "new");
          m.clear();
        } else if (what < 95) {
          expectState(k, model, `${at} before remount`);
          k = remount(k, dev);
          dev = lastDev!;
          expectState(k, model, `${at} after remount`);
          remounts++;
        } else {
          // fsync commits the running transaction; a power cut right after must replay it
          const fd = k.fs.openSync(f, "r");
          k.fs.fsyncSync(fd);
          const copy = crashCopy(dev);
          k.fs.closeSync(fd);
          const c = bootDevice(copy);
          try {
            expectState(c, model, `${at} after crash replay`);
            fsckClean(c);
          } finally { c.shutdown(); }
          crashes++;
        }
      }
      expectState(k, model, `seed ${seed} end`);
      fsckClean(k);
      k.shutdown();
      expect(remounts).toBeGreaterThan(5);
      expect(crashes).toBeGreaterThan(5);
    });
  }
});

// ---- fsck: each new check fires on crafted damage ------------------------------------------------

describe("fsck: special inodes and attribute items", () => {
  let base: Uint8Array;
  let fIno = 0, pIno = 0;
  beforeAll(() => {
    const dev = new MemoryBackend(16 << 20);
    const k = bootWith({ device: dev, module: kernelModule(true), mkfs: true, memoryMiB: 64 });
    k.fs.writeFileSync("/f", "x");
    k.fs.setxattrSync("/f", "user.one", "first");
    k.fs.setxattrSync("/f", "user.two", "second");
    k.fs.mkfifoSync("/p");
    fIno = Number(k.fs.statSync("/f").ino);
    pIno = Number(k.fs.statSync("/p").ino);
    fsckClean(k);
    base = dev.bytes;
    k.shutdown();
  });

  const xattrItem = (img: Uint8Array, name: string) => {
    const it = items(img, TREE.inode).find((x) => x.k1 === BigInt(fIno) && x.k2 !== 0n && Buffer.from(x.value.subarray(4, 4 + x.value[1])).toString() === name);
    if (!it) throw new Error(`no attribute ${name}`);
    return it;
  };
  const run = (img: Uint8Array, flags: number) => {
    const log: string[] = [];
    const k = bootWith({ device: new MemoryBackend(img), module: kernelModule(true), memoryMiB: 64, log: (l) => log.push(l) });
    try {
      const n = k.fsck(flags);
      return { n, labels: log.filter((l) => l.startsWith("fsck: ") && !l.startsWith("fsck: fixed")).map((l) => /\[([a-z-]+)\]$/.exec(l)?.[1]).filter(Boolean), k };
    } catch (e) { k.shutdown(); throw e; }
  };

  const CASES: { label: string; damage: (img: Uint8Array) => void; fixed?: boolean }[] = [
    { label: "xattr-orphan", fixed: true, damage: (img) => { const it = xattrItem(img, "one"); rekeyItem(img, it, 9999n, it.k2); } },
    { label: "xattr-record", fixed: true, damage: (img) => editValue(img, xattrItem(img, "one"), (d) => d.setUint16(2, d.getUint16(2, true) + 1, true)) },
    { label: "xattr-record", fixed: true, damage: (img) => editValue(img, xattrItem(img, "one"), (d) => d.setUint8(1, 0)) },
    { label: "xattr-namespace", fixed: true, damage: (img) => editValue(img, xattrItem(img, "one"), (d) => d.setUint8(0, 9)) },
    { label: "xattr-hash", fixed: true, damage: (img) => editValue(img, xattrItem(img, "one"), (_d, b) => { b[4] ^= 1; }) },
    { label: "inode-special", damage: (img) => editValue(img, inodeItem(img, pIno), (d) => d.setBigUint64(I.size, 5n, true)) },
    { label: "inode-special", damage: (img) => editValue(img, inodeItem(img, pIno), (d) => d.setUint32(I.flags, 1, true)) },
    { label: "feature-missing", damage: (img) => setSb(img, 60, dv(img, 0).getUint32(60, true) & ~8, 4) },
    { label: "inode-key", damage: (img) => setSb(img, 64, dv(img, 0).getUint32(64, true) & ~2, 4) },
  ];
  for (const c of CASES) {
    it(`[${c.label}]${c.fixed ? " (fsck -y removes the item, the other attribute stays)" : ""}`, () => {
      const img = new Uint8Array(base);
      c.damage(img);
      const r = run(img, FSCK_VERBOSE);
      expect(r.labels).toContain(c.label);
      expect(r.n).toBeGreaterThan(0);
      if (c.fixed) {
        r.k.fsck(FSCK_VERBOSE | FSCK_YES);
        expect(r.k.fsck(FSCK_VERBOSE)).toBe(0);
        expect(r.k.fs.getxattrSync("/f", "user.two").toString()).toBe("second");
      }
      r.k.shutdown();
    });
  }

  it("the undamaged image is clean and its attributes and FIFO read back", () => {
    const r = run(new Uint8Array(base), FSCK_VERBOSE);
    expect(r.labels).toEqual([]);
    expect(r.k.fs.listxattrSync("/f").sort()).toEqual(["user.one", "user.two"]);
    expect(r.k.fs.statSync("/p").isFIFO()).toBe(true);
    r.k.shutdown();
  });
});

// ---- the crash oracle compares what fsync promised of attributes and special files ----------

describe("crash workloads: the oracle has teeth for the new operations", () => {
  it("a recovered image missing a promised setxattr, removexattr or mknod is reported (persisted-wrong / persisted-missing)", () => {
    const module = kernelModule(true);
    const base = makeBaseImage(module);
    const cases: { w: Workload; kind: string }[] = [
      { w: { id: "set", steps: [{ op: { op: "setxattr", path: "/A/foo", name: "user.setup", len: 900, byte: 0x41 }, persist: { kind: "fsync", path: "/A/foo" } }] }, kind: "persisted-wrong" },
      { w: { id: "rm", steps: [{ op: { op: "removexattr", path: "/A/foo", name: "user.setup" }, persist: { kind: "fsync", path: "/A/foo" } }] }, kind: "persisted-wrong" },
      { w: { id: "new", steps: [{ op: { op: "setxattr", path: "/B/foo", name: "trusted.t", len: 30, byte: 0x41 }, persist: { kind: "sync", path: "/" } }] }, kind: "persisted-wrong" },
      { w: { id: "fifo", steps: [{ op: { op: "mknod", path: "/A/bar", kind: "fifo" }, persist: { kind: "fsync-parent", path: "/A" } }] }, kind: "persisted-wrong" },
      { w: { id: "chr", steps: [{ op: { op: "mknod", path: "/B/bar", kind: "chr" }, persist: { kind: "sync", path: "/" } }] }, kind: "persisted-missing" },
    ];
    for (const { w, kind } of cases) {
      // the expectations of a real run...
      const k = bootWith({ device: new MemoryBackend(new Uint8Array(base)), module, memoryMiB: 64 });
      const exp = runWorkload(k.fs as unknown as WorkloadFs, w, () => {});
      k.shutdown();
      expect(exp.outcomes, w.id).toEqual(["ok"]);
      // ...checked against the base image, where the step never happened
      const k2 = bootWith({ device: new MemoryBackend(new Uint8Array(base)), module, memoryMiB: 64 });
      const v = checkRecovered(k2.fs as unknown as WorkloadFs, exp, 0, 0);
      k2.shutdown();
      expect(v.map((x) => x.kind), w.id).toContain(kind);
      // and against itself after the step: nothing
      const k3 = bootWith({ device: new MemoryBackend(new Uint8Array(base)), module, memoryMiB: 64 });
      runWorkload(k3.fs as unknown as WorkloadFs, w, () => {});
      expect(checkRecovered(k3.fs as unknown as WorkloadFs, exp, 0, 0), w.id).toEqual([]);
      k3.shutdown();
    }
  });
});
