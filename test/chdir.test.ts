// test/chdir.test.ts -- the kernel's working directory (sys_chdir, fs/namei.ts cwd_ino) and the
// FUSE adapter's plan for paths of PATH_MAX bytes or more (host/fuse/ops.ts planLongPaths).
//
// Layer: integration tests over the debug kernel on a memory device, plus pure unit tests.
// Oracle: Linux on tmpfs (/dev/shm): the same op list runs in a Python child (os.chdir, os.*
// with relative and absolute paths, absolute ones under a scratch directory) and on the
// kernel's Sys; results (errno, or a small summary) must be equal, as root and as uid 65534.
// Also: the PATH_MAX limit of a caller's string is unchanged (Node API and Sys), and mkfs /
// mount put the working directory back at "/".

import { describe, it, expect, afterEach } from "vitest";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Kernel } from "../host/vmm/kernel.js";
import type { Sys } from "../host/fs/fs.js";
import { planLongPaths, PATH_MAX, FuseOps } from "../host/fuse/ops.js";
import { FUSE_OPS } from "../host/fuse/binding.js";
import { fakeBinding, handle } from "./fuse-fake.js";
import { freshDevice, bootDevice } from "./helpers.js";

const ENOENT = 2, ENAMETOOLONG = 36;
const NOBODY = { uid: 65534, gid: 65534, groups: [] as number[] };
// CI runs as root: there the uid-65534 cases run and fail without root instead of skipping
const IS_ROOT = process.getuid?.() === 0 || process.env.CI === "true";
const SHM = fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();

let k: Kernel | null = null;
afterEach(() => { k?.shutdown(); k = null; });

/** One op: [name, ...args]; paths starting with "/" are absolute (under the oracle's scratch dir). */
type Op = [string, ...(string | number)[]];

/** The oracle: runs `setup` as root then `ops` (as uid 65534 when `nobody`) in Python on tmpfs. */
const PY = String.raw`
import os, sys, json, errno, stat
spec = json.load(sys.stdin)
os.umask(0)
base = spec["base"]
def P(p): return base + p if p.startswith("/") else p
def one(op):
    n, a = op[0], op[1:]
    try:
        if n == "chdir": os.chdir(P(a[0])); return 0
        if n == "mkdir": os.mkdir(P(a[0]), a[1]); return 0
        if n == "rmdir": os.rmdir(P(a[0])); return 0
        if n == "write":
            fd = os.open(P(a[0]), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644); os.write(fd, b"x" * a[1]); os.close(fd); return 0
        if n == "unlink": os.unlink(P(a[0])); return 0
        if n == "rename": os.rename(P(a[0]), P(a[1])); return 0
        if n == "link": os.link(P(a[0]), P(a[1])); return 0
        if n == "symlink": os.symlink(a[0] if not a[0].startswith("/") else P(a[0]), P(a[1])); return 0
        if n == "chmod": os.chmod(P(a[0]), a[1]); return 0
        if n == "stat":
            st = os.lstat(P(a[0]))
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
            return "%s:%d:%d" % (kind, st.st_size if kind == "f" else 0, st.st_nlink if kind != "d" else 0)
        if n == "ls": return ",".join(sorted(os.listdir(P(a[0]))))
        raise Exception("op " + n)
    except OSError as e:
        return -e.errno
out = [one(op) for op in spec["setup"]]
if spec["nobody"]:
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
out += [one(op) for op in spec["ops"]]
print(json.dumps(out))
`;

function oracle(setup: Op[], ops: Op[], nobody: boolean): (string | number)[] {
  const base = fs.mkdtempSync(path.join(SHM, "helix-chdir-"));
  try {
    fs.chmodSync(base, 0o755);
    const out = execFileSync("python3", ["-c", PY], { input: JSON.stringify({ base, setup, ops, nobody }), encoding: "utf8" });
    return JSON.parse(out) as (string | number)[];
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** The same op on the kernel's Sys. */
function kop(s: Sys, op: Op): string | number {
  const [n, a, b] = op as [string, string, string | number];
  const rc = (r: number) => (r < 0 ? r : 0);
  switch (n) {
    case "chdir": return rc(s.chdir!(a));
    case "mkdir": return rc(s.mkdir(a, b as number));
    case "rmdir": return rc(s.rmdir(a));
    case "write": {
      const fd = s.open(a, 0o1101, 0o644); // O_CREAT | O_WRONLY | O_TRUNC
      if (fd < 0) return fd;
      const w = s.write(fd, new Uint8Array(b as number).fill(120), 0, b as number, null);
      s.close(fd);
      return w < 0 ? w : 0;
    }
    case "unlink": return rc(s.unlink(a));
    case "rename": return rc(s.rename(a, b as string));
    case "link": return rc(s.link(a, b as string));
    case "symlink": return rc(s.symlink(a, b as string));
    case "chmod": return rc(s.chmod(a, b as number));
    case "stat": {
      const st = s.lstat(a);
      if (typeof st === "number") return st;
      const kind = (st.mode & 0o170000) === 0o040000 ? "d" : (st.mode & 0o170000) === 0o120000 ? "l" : "f";
      return `${kind}:${kind === "f" ? st.size : 0}:${kind !== "d" ? st.nlink : 0}`;
    }
    case "ls": {
      const fd = s.open(a, 0o200000, 0); // O_DIRECTORY
      if (fd < 0) return fd;
      const ents = s.getdents(fd);
      s.close(fd);
      return typeof ents === "number" ? ents : ents.map((e) => String(e.name)).sort().join(",");
    }
    default: throw new Error(`op ${n}`);
  }
}

function kernelRun(setup: Op[], ops: Op[], nobody: boolean): (string | number)[] {
  k = bootDevice(freshDevice());
  const root = k.sys;
  const out = setup.map((op) => kop(root, op));
  const s = nobody ? k.sysAs(NOBODY) : root;
  return out.concat(ops.map((op) => kop(s, op)));
}

function compare(setup: Op[], ops: Op[], nobody = false): void {
  const want = oracle(setup, ops, nobody);
  const got = kernelRun(setup, ops, nobody);
  k?.shutdown(); k = null;
  const all = [...setup, ...ops];
  for (let i = 0; i < all.length; i++) expect([i, all[i], got[i]]).toEqual([i, all[i], want[i]]);
}

const TREE: Op[] = [
  ["mkdir", "/a", 0o755], ["mkdir", "/a/b", 0o755], ["write", "/a/b/f", 3], ["write", "/top", 5],
  ["mkdir", "/noexec", 0o666], ["mkdir", "/noexec/in", 0o755], ["mkdir", "/closed", 0o700],
  ["mkdir", "/open", 0o777], ["symlink", "a/b", "/lb"], ["symlink", "/loop2", "/loop1"], ["symlink", "/loop1", "/loop2"],
  ["symlink", "/top", "/lf"],
];

describe("chdir(2) against Linux on tmpfs", () => {
  it("errors: missing, not a directory, symlink loop, empty; a failed chdir keeps the old directory", () => {
    compare(TREE, [
      ["chdir", "/a"], ["chdir", "/nope"], ["stat", "b"], ["chdir", "/top"], ["stat", "b"], ["chdir", "/top/x"],
      ["chdir", "/lf"], ["chdir", "/loop1"], ["chdir", "nope"], ["chdir", ""], ["stat", "b/f"],
      ["chdir", "/lb"], ["stat", "f"], ["stat", ".."], ["ls", ".."], ["chdir", ".."], ["ls", "."],
    ]);
  });

  it.runIf(IS_ROOT)("as uid 65534: EACCES without search permission on the directory or on the path to it", () => {
    compare(TREE, [
      ["chdir", "/noexec"], ["chdir", "/noexec/in"], ["chdir", "/closed"], ["chdir", "/a/b"], ["stat", "f"],
      ["chdir", "/open"], ["write", "g", 7], ["stat", "g"], ["stat", "/open/g"], ["chdir", "../closed"], ["stat", "g"],
    ], true);
  });

  it("relative paths start at the working directory: create, rename, link, symlink, unlink, rmdir, '..'", () => {
    compare(TREE, [
      ["chdir", "/a"], ["mkdir", "c", 0o755], ["write", "c/x", 9], ["rename", "c/x", "b/y"], ["stat", "/a/b/y"],
      ["link", "b/y", "../top2"], ["stat", "/top2"], ["symlink", "b", "sl"], ["stat", "sl"], ["stat", "sl/y"],
      ["rename", "/a/b/f", "f2"], ["ls", "."], ["ls", "/a"], ["unlink", "sl"], ["rmdir", "c"], ["rmdir", "."],
      ["chdir", "b"], ["stat", "../../top"], ["chdir", "/a"], ["stat", "b/../../top"],
    ]);
  });

  it("the root's '..' is the root (the oracle's scratch directory has a parent, so the kernel alone)", () => {
    k = bootDevice(freshDevice());
    const s = k.sys;
    expect(s.mkdir("/a", 0o755)).toBe(0);
    expect(s.chdir!("/a")).toBe(0);
    const root = s.lstat("/") as { ino: number };
    expect((s.lstat("..") as { ino: number }).ino).toBe(root.ino);
    expect((s.lstat("../../..") as { ino: number }).ino).toBe(root.ino);
    expect((s.lstat("../../a") as { ino: number }).ino).toBe((s.lstat("/a") as { ino: number }).ino);
    expect(s.chdir!("/")).toBe(0);
    expect((s.lstat("..") as { ino: number }).ino).toBe(root.ino);
  });

  it("a removed working directory: relative paths are ENOENT, absolute ones work, chdir leaves it", () => {
    compare(TREE, [
      ["mkdir", "/gone", 0o755], ["chdir", "/gone"], ["rmdir", "/gone"], ["stat", "x"], ["write", "x", 1], ["mkdir", "d", 0o755],
      ["stat", "/top"], ["chdir", "/a"], ["stat", "b"],
      // a rename over the working directory removes it too
      ["mkdir", "/v", 0o755], ["mkdir", "/w", 0o755], ["chdir", "/w"], ["rename", "/v", "/w"], ["stat", "x"], ["chdir", "/"], ["stat", "w"],
    ]);
  });
});

describe("PATH_MAX is unchanged for a caller's path", () => {
  it("a path of 4096 bytes or more is ENAMETOOLONG for the Sys and the Node API, relative or absolute", () => {
    k = bootDevice(freshDevice());
    const s = k.sys;
    const comp = "d".repeat(200);
    let dir = "";
    while (dir.length + comp.length + 1 < 1000) { dir += (dir ? "/" : "") + comp; expect(s.mkdir("/" + dir, 0o755)).toBe(0); }
    expect(s.chdir!("/" + dir)).toBe(0);
    // relative paths of exactly 4095 bytes work below the working directory; 4096 do not
    const r4095 = "./".repeat(2046) + "fff", r4096 = "./".repeat(2046) + "ffff";
    expect([r4095.length, r4096.length]).toEqual([4095, 4096]);
    const w = s.open(r4095, 0o101, 0o644);
    expect(w).toBeGreaterThanOrEqual(0);
    s.close(w);
    expect(s.open(r4096, 0o101, 0o644)).toBe(-ENAMETOOLONG);
    expect(s.chdir!("./".repeat(2047) + "..")).toBe(-ENAMETOOLONG);
    expect(s.chdir!("/" + "./".repeat(2047) + ".")).toBe(-ENAMETOOLONG);
    const abs = "/" + dir + "/" + "./".repeat(Math.ceil((4096 - dir.length - 3) / 2)) + "f";
    expect(abs.length).toBeGreaterThanOrEqual(4096);
    expect(s.lstat(abs)).toBe(-ENAMETOOLONG);
    expect(() => k!.fs.statSync(abs)).toThrow(/ENAMETOOLONG/);
    expect(s.chdir!("/")).toBe(0);
    expect(typeof s.lstat(dir + "/fff")).toBe("object");
  });

  it("mkfs and mount put the working directory back at /", () => {
    k = bootDevice(freshDevice());
    expect(k.sys.mkdir("/a", 0o755)).toBe(0);
    expect(k.sys.mkdir("/a/a", 0o755)).toBe(0);
    expect(k.sys.chdir!("/a/a")).toBe(0);
    expect(k.sys.lstat("a")).toBe(-ENOENT);
    const x = (k as unknown as { x: Record<string, (...a: number[]) => number> }).x;
    expect(x.sys_umount()).toBe(0);
    expect(x.sys_mount(0)).toBe(0);
    expect(typeof k.sys.lstat("a/a")).toBe("object"); // from the root again
  });
});

describe("planLongPaths (FUSE paths of PATH_MAX bytes or more)", () => {
  /** A random absolute path of `n` components of 1..255 bytes. */
  function randomPath(rand: () => number, n: number): string {
    let p = "";
    for (let i = 0; i < n; i++) p += "/" + String.fromCharCode(97 + Math.floor(rand() * 26)).repeat(1 + Math.floor(rand() * 255));
    return p;
  }
  function lcg(seed: number): () => number { let s = seed >>> 0; return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32); }

  it("steps under PATH_MAX that rebuild each path's directory, rests under PATH_MAX", () => {
    const rand = lcg(7);
    for (let t = 0; t < 300; t++) {
      const shared = randomPath(rand, Math.floor(rand() * 80));
      const paths = [shared + randomPath(rand, 1 + Math.floor(rand() * 10))];
      if (rand() < 0.5) paths.push(shared + randomPath(rand, 1 + Math.floor(rand() * 10)));
      const plan = planLongPaths(paths);
      if (typeof plan === "number") {
        expect(plan).toBe(-ENAMETOOLONG);
        // only for two paths whose rests below their deepest common directory are too long
        expect(paths.length).toBe(2);
        const da = paths[0].split("/").slice(0, -1), db = paths[1].split("/").slice(0, -1);
        let c = 0;
        while (c < da.length && c < db.length && da[c] === db[c]) c++;
        const common = da.slice(0, c).join("/").length;
        expect(Math.max(paths[0].length, paths[1].length) - common - 1).toBeGreaterThanOrEqual(PATH_MAX);
        continue;
      }
      expect(plan.steps[0].startsWith("/")).toBe(true);
      for (const s of plan.steps) { expect(s.length).toBeLessThan(PATH_MAX); expect(s.length).toBeGreaterThan(0); }
      for (const s of plan.steps.slice(1)) expect(s.startsWith("/")).toBe(false);
      const dir = plan.steps.join("/").replace(/^\/+/, "/");
      plan.rel.forEach((r, i) => {
        expect(r.length).toBeLessThan(PATH_MAX);
        expect(r.startsWith("/")).toBe(false);
        expect((dir === "/" ? "/" : dir + "/") + r).toBe(paths[i]);
      });
    }
  });

  it("two long paths that part at the root: ENAMETOOLONG (one working directory cannot serve both)", () => {
    const a = "/x" + ("/" + "a".repeat(250)).repeat(17), b = "/y" + ("/" + "b".repeat(250)).repeat(17);
    expect(planLongPaths([a, b])).toBe(-ENAMETOOLONG);
    const plan = planLongPaths([a, a.slice(0, -3) + "zzz"]);
    expect(typeof plan).toBe("object");
  });
});

describe("FuseOps: long paths through the adapter (a fake binding), the working directory restored", () => {
  const flush = () => new Promise((r) => setImmediate(r));

  it("creates, stats, renames and links below 5,000-byte paths; every exit (success, a refused step, an exception) leaves '/'", async () => {
    const kk = k = bootDevice(freshDevice());
    const { b, answers } = fakeBinding();
    let throwOnLstat = false;
    const sysAs = kk.sysAs.bind(kk);
    kk.sysAs = (c) => {
      const s = sysAs(c);
      return { ...s, lstat: (p) => { if (throwOnLstat) throw new Error("injected"); return s.lstat(p); } };
    };
    const ops = new FuseOps(kk, b, { readGroups: async () => [] });
    const table = ops.handlers() as ((h: Buffer, op: number, ...a: unknown[]) => void)[];
    const root = handle(0, 0, 5), nobody = handle(65534, 65534, 7);
    const call = async (name: string, h: Buffer, ...a: unknown[]) => {
      const n = answers.length;
      table[FUSE_OPS.indexOf(name as never)](h, 0, ...a);
      await flush();
      expect(answers.length).toBe(n + 1);
      // the working directory is "/" again: a relative name resolves at the root
      expect(typeof kk.sys.lstat("marker")).toBe("object");
      return answers[n][1] as number;
    };
    expect(kk.sys.mkdir("/marker", 0o755)).toBe(0);
    let dir = "";
    for (let i = 0; i < 20; i++) {
      dir += "/" + String.fromCharCode(97 + i).repeat(250);
      expect(await call("mkdir", root, dir, 0o755)).toBe(0);
    }
    expect(dir.length).toBeGreaterThan(5000);
    expect(await call("create", root, dir + "/f", 0o644, 0o1)).toBe(0);
    expect(await call("getattr", root, dir + "/f")).toBe(0);
    const g = dir.slice(0, 4500 - 1).replace(/\/[a-z]*$/, "") + "/g"; // another long directory
    expect(g.length).toBeGreaterThanOrEqual(PATH_MAX);
    expect(await call("rename", root, dir + "/f", g)).toBe(0);
    expect(await call("getattr", root, g)).toBe(0);
    expect(await call("link", root, g, dir + "/h")).toBe(0);
    expect(await call("unlink", root, g)).toBe(0);
    expect(await call("getattr", root, dir + "/h")).toBe(0);
    expect(await call("getattr", root, dir + "/f")).toBe(-ENOENT);
    // refused as nobody: the last directory denies it search (the chdir step as the caller)
    expect(await call("chmod", root, dir, 0o700)).toBe(0);
    expect(await call("getattr", nobody, dir + "/x")).toBe(-13);
    expect(await call("getattr", root, dir + "/x")).toBe(-ENOENT);
    // an exception in the op after the chdir: EIO, and still "/" after it
    throwOnLstat = true;
    expect(await call("getattr", root, dir + "/x")).toBe(-5);
    throwOnLstat = false;
    // two long paths that part at the root: ENAMETOOLONG, nothing moved
    expect(await call("rename", root, dir + "/x", "/marker" + dir + "/y")).toBe(-ENAMETOOLONG);
    // the kernel walk of the same place, in steps, agrees with the adapter's answers
    const steps = planLongPaths([dir + "/f"]);
    if (typeof steps === "number") throw new Error("no plan");
    for (const st of steps.steps) expect(kk.sys.chdir!(st)).toBe(0);
    expect(kk.sys.lstat("f")).toBe(-ENOENT);
    expect(kk.sys.chdir!("/")).toBe(0);
  });
});
