// test/watch.test.ts -- fs.watch (recursive and not), fs.promises.watch and fs.watchFile on
// kernel.fs, with Node's own fs.watch on tmpfs (/dev/shm) as the oracle for the same scripted
// changes; changes made by another Sys (other credentials) are seen; error paths match Node's.

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freshDevice, bootDevice, MiB } from "./helpers.js";
import type { Kernel } from "../host/vmm/kernel.js";
import { createFs, type HelixFs } from "../host/fs/fs.js";
import { FuseOps } from "../host/fuse/ops.js";
import { FUSE_OPS, type FuseBinding } from "../host/fuse/binding.js";
import { IN_ATTRIB, IN_CREATE, IN_DELETE, IN_IGNORED, IN_ISDIR, IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, type InotifyEvent } from "../host/fs/sys.js";

/** The fs surface both sides share in these tests. */
type AnyFs = Pick<typeof nodeFs, "writeFileSync" | "appendFileSync" | "chmodSync" | "mkdirSync" | "renameSync" | "unlinkSync" | "rmdirSync" | "watch">;
type Ev = [string, string, string | null];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Waits until `events` stops growing: Node's inotify events reach JS in a later turn of the
 * event loop (libuv's poll phase), the kernel's in a microtask; a few quiet rounds of 5 ms
 * cover both without depending on either's timing.
 */
async function settle(events: unknown[]): Promise<void> {
  let n = -1;
  for (let quiet = 0; quiet < 3;) {
    await sleep(5);
    if (events.length === n) quiet++; else { quiet = 0; n = events.length; }
  }
}

/** The scripted changes: create, write, chmod, renames within and across dirs, mkdir in the tree, unlink, rmdir. */
const STEPS: [string, (fs: AnyFs, r: string) => void][] = [
  ["create", (fs, r) => fs.writeFileSync(`${r}/a`, "1")],
  ["write", (fs, r) => fs.writeFileSync(`${r}/a`, "22")],
  ["chmod", (fs, r) => fs.chmodSync(`${r}/a`, 0o600)],
  ["mkdir", (fs, r) => fs.mkdirSync(`${r}/sub`)],
  ["create in sub", (fs, r) => fs.writeFileSync(`${r}/sub/b`, "x")],
  ["rename within", (fs, r) => fs.renameSync(`${r}/a`, `${r}/a2`)],
  ["rename across", (fs, r) => fs.renameSync(`${r}/a2`, `${r}/sub/a3`)],
  ["mkdir deep", (fs, r) => { fs.mkdirSync(`${r}/sub/deep`); fs.writeFileSync(`${r}/sub/deep/c`, "c"); }],
  ["append", (fs, r) => fs.appendFileSync(`${r}/sub/a3`, "more")],
  ["unlink", (fs, r) => fs.unlinkSync(`${r}/sub/b`)],
  ["rename dir", (fs, r) => fs.renameSync(`${r}/sub/deep`, `${r}/deep2`)],
  ["rmdir", (fs, r) => { fs.unlinkSync(`${r}/deep2/c`); fs.rmdirSync(`${r}/deep2`); }],
  ["write pre", (fs, r) => fs.writeFileSync(`${r}/pre`, "p2")],
  ["unlink pre", (fs, r) => fs.unlinkSync(`${r}/pre`)],
];

/**
 * Runs STEPS under three watchers (recursive on the root, non-recursive on the root, on the
 * file `pre`) and returns each watcher's events per step.
 */
async function script(fs: AnyFs, root: string): Promise<Record<string, Ev[][]>> {
  fs.writeFileSync(`${root}/pre`, "p");
  const got: Record<string, Ev[]> = { recursive: [], dir: [], file: [] };
  const all: unknown[] = [];
  const rec = (k: string) => (t: string, n: unknown) => {
    const e: Ev = [k, t, n === null ? null : String(n)];
    got[k].push(e);
    all.push(e);
  };
  const ws = [
    fs.watch(root, { recursive: true }, rec("recursive")),
    fs.watch(root, rec("dir")),
    fs.watch(`${root}/pre`, rec("file")),
  ];
  await settle(all);
  for (const k of Object.keys(got)) got[k].length = 0;
  const out: Record<string, Ev[][]> = { recursive: [], dir: [], file: [] };
  for (const [, step] of STEPS) {
    step(fs, root);
    await settle(all);
    for (const k of Object.keys(got)) { out[k].push(got[k].map((e) => e)); got[k].length = 0; }
  }
  for (const w of ws) w.close();
  return out;
}

let k: Kernel;
let fs: HelixFs;
let tmp: string;

beforeAll(() => {
  k = bootDevice(freshDevice(16 * MiB));
  fs = k.fs;
  tmp = nodeFs.mkdtempSync(path.join(nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-watch-"));
});
afterAll(() => {
  k.shutdown();
  nodeFs.rmSync(tmp, { recursive: true, force: true });
});

describe("fs.watch against Node's on tmpfs", () => {
  it("reports the same events for a scripted sequence (recursive, directory, file)", async () => {
    fs.mkdirSync("/w1");
    nodeFs.mkdirSync(`${tmp}/w1`);
    const mine = await script(fs as unknown as AnyFs, "/w1");
    const node = await script(nodeFs, `${tmp}/w1`);
    // compared step by step, watcher by watcher: nothing is normalised. Each watcher's events
    // of one step come from one batch of inotify events, whose order Linux fixes; the only
    // nondeterminism in Node is how its watchers interleave with each other (libuv's read
    // batches), which comparing per watcher leaves out
    for (const w of ["recursive", "dir", "file"]) {
      for (let i = 0; i < STEPS.length; i++) expect([w, STEPS[i][0], mine[w][i]]).toEqual([w, STEPS[i][0], node[w][i]]);
    }
    // the script did produce events of both kinds
    expect(mine.recursive.flat().some((e) => e[1] === "change")).toBe(true);
    expect(mine.recursive.flat().some((e) => e[1] === "rename" && e[2] === "sub/deep/c")).toBe(true);
  });

  it("encoding 'buffer' gives Buffers; a file watch names the file", async () => {
    fs.mkdirSync("/w2");
    const evs: unknown[][] = [];
    const w = fs.watch("/w2", { encoding: "buffer" }, (t, n) => evs.push([t, n]));
    fs.writeFileSync("/w2/x", "1");
    await settle(evs);
    w.close();
    expect(evs[0][0]).toBe("rename");
    expect(Buffer.isBuffer(evs[0][1])).toBe(true);
    expect(String(evs[0][1])).toBe("x");
  });

  it("sees changes made through another Sys with other credentials", async () => {
    fs.mkdirSync("/w3", { mode: 0o777 });
    fs.chmodSync("/w3", 0o777);
    const other = createFs(k.sysAs({ uid: 1000, gid: 1000, groups: [] }));
    const evs: unknown[][] = [];
    const w = fs.watch("/w3", (t, n) => evs.push([t, n]));
    other.writeFileSync("/w3/theirs", "hello");
    other.renameSync("/w3/theirs", "/w3/moved");
    await settle(evs);
    w.close();
    expect(evs).toEqual([["rename", "theirs"], ["change", "theirs"], ["rename", "theirs"], ["rename", "moved"]]);
  });

  it("sees changes made through the FUSE adapter (its requests run on the same kernel)", async () => {
    fs.mkdirSync("/w6", { mode: 0o777 });
    // the adapter's binding, faked as test/fuse.test.ts does: each answer is recorded
    const answers: unknown[][] = [];
    const b: Record<string, unknown> = { sizeof_fuse_thread_t: 64, offsetof_caller: 4 };
    FUSE_OPS.forEach((name, i) => {
      b[`op_${name}`] = i;
      b[`fuse_native_signal_${name}`] = (_h: unknown, res: number, ...out: unknown[]) => { answers.push([name, res, ...out]); };
    });
    const ops = new FuseOps(k, b as unknown as FuseBinding, { readGroups: async () => [] });
    const table = ops.handlers() as ((h: Buffer, op: number, ...a: unknown[]) => void)[];
    const root = Buffer.alloc(64); // caller uid 0, gid 0, pid 0
    const evs: unknown[][] = [];
    const w = fs.watch("/w6", { recursive: true }, (t, n) => evs.push([t, n]));
    table[FUSE_OPS.indexOf("mkdir")](root, 0, "/w6/viafuse", 0o755);
    await settle(evs);
    table[FUSE_OPS.indexOf("create")](root, 0, "/w6/viafuse/f", 0o100644, 0o2);
    await settle(evs);
    table[FUSE_OPS.indexOf("release")](root, 0, "/w6/viafuse/f", answers[1][2]);
    await settle(evs);
    w.close();
    expect(answers.map((a) => [a[0], a[1]])).toEqual([["mkdir", 0], ["create", 0], ["release", 0]]);
    expect(evs).toEqual([["rename", "viafuse"], ["rename", "viafuse/f"]]);
  });

  it("stops reporting after close() and emits 'close' once", async () => {
    fs.mkdirSync("/w4");
    const evs: unknown[] = [];
    let closes = 0;
    const w = fs.watch("/w4", () => evs.push(1));
    w.on("close", () => closes++);
    w.close();
    w.close();
    fs.writeFileSync("/w4/late", "1");
    await settle(evs);
    expect(evs).toEqual([]);
    expect(closes).toBe(1);
  });

  it("a signal closes the watcher", async () => {
    fs.mkdirSync("/w5");
    const ac = new AbortController();
    const evs: unknown[] = [];
    const w = fs.watch("/w5", { signal: ac.signal }, () => evs.push(1));
    let closed = false;
    w.on("close", () => { closed = true; });
    ac.abort();
    fs.writeFileSync("/w5/f", "1");
    await settle(evs);
    expect(closed).toBe(true);
    expect(evs).toEqual([]);
  });

  it("throws Node's errors for a missing path and bad arguments", () => {
    const same = (mineFn: () => unknown, nodeFn: () => unknown) => {
      let a: Record<string, unknown> = {}, b: Record<string, unknown> = {};
      try { (mineFn() as { close(): void }).close(); } catch (e) { a = e as Record<string, unknown>; }
      try { (nodeFn() as { close(): void }).close(); } catch (e) { b = e as Record<string, unknown>; }
      const shape = (e: Record<string, unknown>, root: string) => ({
        name: (e as unknown as Error).name, code: e.code, syscall: e.syscall, errno: e.errno,
        // Node's paths are under the tmpfs directory, ours under "/"
        message: root === "" ? String((e as unknown as Error).message) : String((e as unknown as Error).message).split(root).join(""),
        filename: e.filename === undefined ? undefined : root === "" ? String(e.filename) : String(e.filename).split(root).join(""),
      });
      expect(a.code, "HelixFs threw").toBeDefined();
      expect(shape(a, "")).toEqual(shape(b, tmp));
    };
    same(() => fs.watch("/nope"), () => nodeFs.watch(`${tmp}/nope`));
    same(() => fs.watch("/nope", { recursive: true }), () => nodeFs.watch(`${tmp}/nope`, { recursive: true }));
    same(() => fs.watch(123 as never), () => nodeFs.watch(123 as never));
    same(() => fs.watch("/", { recursive: 1 as never }), () => nodeFs.watch(tmp, { recursive: 1 as never }));
    same(() => fs.watch("/", { encoding: "nope" as never }), () => nodeFs.watch(tmp, { encoding: "nope" as never }));
    same(() => fs.watch("/", 5 as never), () => nodeFs.watch(tmp, 5 as never));
    same(() => fs.watch("/", { recursive: true, signal: 1 as never }), () => nodeFs.watch(tmp, { recursive: true, signal: 1 as never }));
    same(() => fs.watchFile("/x", {}), () => nodeFs.watchFile(`${tmp}/x`, {} as never));
    same(() => fs.watchFile("/x", { interval: "x" }, () => {}), () => nodeFs.watchFile(`${tmp}/x`, { interval: "x" as never }, () => {}));
  });
});

describe("fs.promises.watch", () => {
  it("yields { eventType, filename } and ends with AbortError on abort", async () => {
    fs.mkdirSync("/p1");
    const ac = new AbortController();
    const got: unknown[] = [];
    const run = (async () => {
      try {
        for await (const e of fs.promises.watch("/p1", { signal: ac.signal })) {
          got.push(e);
          if (got.length === 2) ac.abort();
        }
      } catch (e) {
        got.push([(e as Error).name, (e as { code: string }).code, (e as Error).message]);
      }
    })();
    await sleep(1);
    fs.writeFileSync("/p1/q", "x");
    await run;
    expect(got).toEqual([{ eventType: "rename", filename: "q" }, { eventType: "change", filename: "q" },
      ["AbortError", "ABORT_ERR", "The operation was aborted"]]);
  });

  it("with recursive, iterates Node 20's emulation: the same events as Node's for the same steps", async () => {
    const run = async (f: { promises: { watch(p: string, o: object): AsyncIterable<unknown> }; mkdirSync(p: string): unknown; writeFileSync(p: string, d: string): void }, root: string) => {
      f.mkdirSync(root);
      f.mkdirSync(`${root}/sub`);
      const ac = new AbortController();
      const got: unknown[] = [];
      const it = (async () => {
        try { for await (const e of f.promises.watch(root, { recursive: true, signal: ac.signal })) got.push(e); } catch (e) { got.push((e as Error).name); }
      })();
      await sleep(10);
      f.writeFileSync(`${root}/sub/deep`, "q");
      await settle(got);
      f.writeFileSync(`${root}/top`, "q");
      await settle(got);
      ac.abort();
      await it;
      return got;
    };
    const mine = await run(fs as never, "/pr");
    const node = await run(nodeFs as never, `${tmp}/pr`);
    expect(mine).toEqual(node);
    expect(mine.length).toBeGreaterThan(2);
  });

  it("rejects an already aborted signal and bad options as Node does", async () => {
    const ac = new AbortController();
    ac.abort();
    const first = async (it: AsyncIterable<unknown>) => { try { for await (const _ of it) return "value"; return "done"; } catch (e) { return [(e as Error).name, (e as { code: string }).code, (e as Error).message]; } };
    expect(await first(fs.promises.watch("/", { signal: ac.signal }))).toEqual(await first(nodeFs.promises.watch(tmp, { signal: ac.signal })));
    expect(await first(fs.promises.watch("/", { persistent: 1 as never }))).toEqual(await first(nodeFs.promises.watch(tmp, { persistent: 1 as never })));
    expect(await first(fs.promises.watch("/", { encoding: "zz" as never }))).toEqual(await first(nodeFs.promises.watch(tmp, { encoding: "zz" as never })));
    const missing = await first(fs.promises.watch("/none"));
    expect(missing).toEqual(["Error", "ENOENT", "ENOENT: no such file or directory, watch '/none'"]);
  });
});

describe("fs.watchFile", () => {
  it("reports a change with (curr, prev), zeroed Stats for a missing file, and stops on unwatchFile", async () => {
    fs.writeFileSync("/wf", "a");
    const seen: [number, number, number][] = [];
    const missing: [number, number][] = [];
    const l = (c: { size: number; nlink: number }, p: { size: number }) => seen.push([c.size, p.size, c.nlink]);
    const w = fs.watchFile("/wf", { interval: 5 }, l);
    fs.watchFile("/wf-missing", { interval: 5 }, (c, p) => missing.push([c.ino, p.ino]));
    await sleep(20);
    fs.writeFileSync("/wf", "abc");
    for (let i = 0; i < 40 && seen.length === 0; i++) await sleep(5);
    fs.unlinkSync("/wf");
    for (let i = 0; i < 40 && seen.length < 2; i++) await sleep(5);
    fs.unwatchFile("/wf", l);
    fs.unwatchFile("/wf-missing");
    expect(w.constructor.name).toBe("StatWatcher");
    expect(seen).toEqual([[3, 1, 1], [0, 3, 0]]);
    expect(missing).toEqual([[0, 0]]);
    fs.writeFileSync("/wf", "again");
    await sleep(20);
    expect(seen.length).toBe(2);
  });
});

describe("the kernel's inotify through Sys", () => {
  it("reports Linux's masks, names and cookies, and IN_IGNORED when the inode goes", async () => {
    fs.mkdirSync("/i1");
    fs.mkdirSync("/i1/d");
    fs.writeFileSync("/i1/f", "");
    const evs: InotifyEvent[] = [];
    const l = (e: InotifyEvent) => evs.push(e);
    const sys = k.sys;
    const wd = sys.inotifyAddWatch!("/i1", 0xfff, l);
    const wf = sys.inotifyAddWatch!("/i1/f", 0xfff, l);
    expect(sys.inotifyAddWatch!("/i1/./f", 0xfff, l)).toBe(wf); // same inode, same wd
    expect(sys.inotifyAddWatch!("/i1/none", 0xfff, l)).toBe(-2);
    expect(sys.inotifyAddWatch!("/i1/f", 0x01000000 | 2, l)).toBe(-20); // IN_ONLYDIR on a file
    fs.renameSync("/i1/f", "/i1/d/g");
    fs.unlinkSync("/i1/d/g");
    fs.rmdirSync("/i1/d");
    await settle(evs);
    const shown = evs.map((e) => [e.wd, e.mask, e.name]);
    expect(shown).toEqual([
      [wd, IN_MOVED_FROM, "f"], [wf, 0x800 /* IN_MOVE_SELF */, null], [wf, 0x800, null],
      [wf, IN_ATTRIB, null], [wf, IN_ATTRIB, null], [wf, 0x400 /* IN_DELETE_SELF */, null], [wf, 0x400, null],
      [wf, IN_IGNORED, null], [wf, IN_IGNORED, null],
      [wd, IN_DELETE | IN_ISDIR, "d"],
    ]);
    expect(sys.inotifyRmWatch!(wd, l)).toBe(0);
    expect(sys.inotifyRmWatch!(wd, l)).toBe(-22);
    void IN_CREATE; void IN_MODIFY; void IN_MOVED_TO;
  });
});

// ---- the kernel's raw events against Linux's inotify on tmpfs (python3 drives the syscalls) ----

/** One step of the raw-event script: the same syscalls on both sides. */
type RawOp = [string, ...(string | number)[]];

const RAW_ORACLE = String.raw`
import ctypes, os, struct, sys, json
libc = ctypes.CDLL(None, use_errno=True)
base, seqs = json.load(sys.stdin)
if seqs and isinstance(seqs[0][0], str): seqs = [seqs]
def drain():
    out = []
    while True:
        try: b = os.read(fd, 65536)
        except BlockingIOError: return out
        i = 0
        while i < len(b):
            wd, mask, cookie, l = struct.unpack_from('iIII', b, i)
            name = b[i+16:i+16+l].split(b'\0')[0].decode()
            out.append([wd, mask, cookie, name if l else None])
            i += 16 + l
def run(ops):
  res = []
  for op in ops:
    k, a = op[0], op[1:]
    r = 0
    try: r = step(k, a)
    except OSError as e: r = -e.errno
    res.append([r, drain()])
  return res
def step(k, a):
    r = 0
    if k == 'watch':
        r = libc.inotify_add_watch(fd, P(a[0]).encode(), a[1])
        if r < 0: r = -ctypes.get_errno()
    elif k == 'rmwatch': r = libc.inotify_rm_watch(fd, a[0]); r = r if r == 0 else -ctypes.get_errno()
    elif k == 'mkdir': os.mkdir(P(a[0]), 0o755)
    elif k == 'create': os.close(os.open(P(a[0]), os.O_CREAT | os.O_WRONLY, 0o644))
    elif k == 'write':
        f = os.open(P(a[0]), os.O_WRONLY); os.write(f, a[1].encode()); os.close(f)
    elif k == 'read':
        f = os.open(P(a[0]), os.O_RDONLY); os.read(f, 100); os.close(f)
    elif k == 'trunc': os.truncate(P(a[0]), a[1])
    elif k == 'chmod': os.chmod(P(a[0]), a[1])
    elif k == 'utime': os.utime(P(a[0]))
    elif k == 'rename': os.rename(P(a[0]), P(a[1]))
    elif k == 'link': os.link(P(a[0]), P(a[1]))
    elif k == 'symlink': os.symlink(a[0], P(a[1]))
    elif k == 'unlink': os.unlink(P(a[0]))
    elif k == 'rmdir': os.rmdir(P(a[0]))
    elif k == 'listdir': os.listdir(P(a[0]))
    return r
out = []
for i, ops in enumerate(seqs):
    fd = libc.inotify_init1(os.O_NONBLOCK)
    P = lambda p, b=base + '/' + str(i): b + p
    os.mkdir(P(''))
    out.append(run(ops))
    os.close(fd)
print(json.dumps(out if len(out) > 1 else out[0]))
`;

/** The same script on the kernel through the raw Sys calls; each step's result and the events it caused. */
async function rawKernel(base: string, ops: RawOp[]): Promise<[number, (number | string | null)[][]][]> {
  const sys = k.sys;
  const evs: InotifyEvent[] = [];
  const l = (e: InotifyEvent) => evs.push(e);
  const P = (p: string) => base + p;
  const out: [number, (number | string | null)[][]][] = [];
  const wds: number[] = [];
  /** A failed step's -errno ends the step (the oracle's OSError); the rest of it is skipped. */
  class Failed { constructor(readonly r: number) {} }
  const ok = (r: number) => { if (r < 0) throw new Failed(r); return r; };
  for (const [op, ...a] of ops) {
    let r = 0;
    const s = a[0] as string;
    try {
    if (op === "watch") {
      // one listener per wd, as one inotify instance has one watch per inode: a second add of a
      // watched inode changes its mask and must not double the deliveries here
      r = sys.inotifyAddWatch!(P(s), a[1] as number, l);
      if (r > 0 && wds.includes(r)) sys.inotifyRmWatch!(r, l);
      else if (r > 0) wds.push(r);
    }
    else if (op === "rmwatch") r = sys.inotifyRmWatch!(a[0] as number, l);
    else if (op === "mkdir") ok(sys.mkdir(P(s), 0o755));
    else if (op === "create") sys.close(ok(sys.open(P(s), 0o101, 0o644)));
    else if (op === "write") { const fd = ok(sys.open(P(s), 0o1, 0)); const d = Buffer.from(a[1] as string); ok(sys.write(fd, d, 0, d.length, null)); sys.close(fd); }
    else if (op === "read") { const fd = ok(sys.open(P(s), 0, 0)); ok(sys.read(fd, Buffer.alloc(100), 0, 100, null)); sys.close(fd); }
    else if (op === "trunc") ok(sys.truncate(P(s), a[1] as number));
    else if (op === "chmod") ok(sys.chmod(P(s), a[1] as number));
    else if (op === "utime") ok(sys.utimens(P(s), BigInt((1 << 30) - 1), BigInt((1 << 30) - 1), false));
    else if (op === "rename") ok(sys.rename(P(s), P(a[1] as string)));
    else if (op === "link") ok(sys.link(P(s), P(a[1] as string)));
    else if (op === "symlink") ok(sys.symlink(s, P(a[1] as string)));
    else if (op === "unlink") ok(sys.unlink(P(s)));
    else if (op === "rmdir") ok(sys.rmdir(P(s)));
    else if (op === "listdir") { const r2 = sys.scandir!(P(s)); if (typeof r2 === "number") ok(r2); }
    } catch (e) {
      if (!(e instanceof Failed)) throw e;
      r = e.r;
    }
    await Promise.resolve(); // the drain runs in a microtask after the call
    await Promise.resolve();
    out.push([r, evs.splice(0).map((e) => [e.wd, e.mask, e.cookie, e.name === null ? null : String(e.name)])]);
  }
  for (const wd of wds) sys.inotifyRmWatch!(wd, l);
  return out;
}

/** Watch descriptors and cookies are numbers each side picks: each becomes its order of first appearance. */
function canonical(res: [number, (number | string | null)[][]][]): unknown[] {
  const wd = new Map<number, number>(), ck = new Map<number, number>();
  const id = (m: Map<number, number>, v: number) => { if (!m.has(v)) m.set(v, m.size + 1); return m.get(v)!; };
  return res.map(([r, evs], i) => [i, r > 0 ? `wd${id(wd, r)}` : r, evs.map(([w, mask, c, n]) =>
    [w === -1 ? -1 : `wd${id(wd, w as number)}`, mask, c === 0 ? 0 : `c${id(ck, c as number)}`, n])]);
}

const hasPython = nodeFs.existsSync("/dev/shm") && (() => { try { execFileSync("python3", ["-c", "import ctypes"]); return true; } catch { return false; } })();

describe("the kernel's inotify against Linux's on tmpfs", () => {
  // CI has python3 and /dev/shm: there a missing oracle fails the test instead of skipping it
  it.runIf(hasPython || process.env.CI === "true")("the same syscalls give the same events (masks, names, cookies, wds, IN_IGNORED)", async () => {
    const ALL = 0xfff;
    const ops: RawOp[] = [
      ["mkdir", "/d"], ["mkdir", "/d/sub"], ["create", "/d/f"],
      ["watch", "/d", ALL], ["watch", "/d/f", ALL], ["watch", "/d/sub", ALL], ["watch", "/d/./f", ALL],
      ["watch", "/d/none", ALL], ["watch", "/d/f", 0x01000000 | ALL], ["watch", "/d/f", 0],
      ["write", "/d/f", "hello"], ["read", "/d/f"], ["trunc", "/d/f", 2], ["chmod", "/d/f", 0o600], ["utime", "/d/f"],
      ["create", "/d/g"], ["rename", "/d/g", "/d/g2"], ["rename", "/d/g2", "/d/sub/g3"], ["link", "/d/f", "/d/sub/h"],
      ["unlink", "/d/sub/h"], ["rename", "/d/sub/g3", "/d/f"], ["symlink", "target", "/d/sl"], ["listdir", "/d"],
      ["mkdir", "/d/sub/e"], ["watch", "/d/sub/e", ALL], ["rename", "/d/sub/e", "/d/e2"], ["chmod", "/d/e2", 0o700],
      ["rmdir", "/d/e2"], ["unlink", "/d/sl"], ["rmdir", "/d/sub"], ["write", "/d/f", "x"],
      ["create", "/d/last"], ["rmwatch", 999],
    ];
    fs.mkdirSync("/raw");
    const mine = canonical(await rawKernel("/raw", ops));
    const base = nodeFs.mkdtempSync(path.join(tmp, "raw-"));
    const theirs = canonical(JSON.parse(execFileSync("python3", ["-c", RAW_ORACLE], { input: JSON.stringify([base, ops]), encoding: "utf8" })));
    for (let i = 0; i < ops.length; i++) expect([ops[i], mine[i]]).toEqual([ops[i], theirs[i]]);
  });
});

describe("the kernel's inotify against Linux's on tmpfs, random sequences (property)", () => {
  /** xorshift32 from `seed`: the same sequences every run (HELIX_WATCH_SEQS makes more). */
  function rng(seed: number): (n: number) => number {
    let x = seed * 2654435761 >>> 0 || 1;
    return (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
  }
  const NAMES = ["/a", "/b", "/d", "/d/x", "/d/y", "/e", "/e/z", "/d/e"];
  function sequence(seed: number, n: number): RawOp[] {
    const r = rng(seed);
    const pick = () => NAMES[r(NAMES.length)];
    const ops: RawOp[] = [["watch", "", 0xfff]];
    const kinds = ["mkdir", "create", "write", "read", "trunc", "chmod", "utime", "rename", "link", "unlink", "rmdir", "symlink", "listdir", "watch"];
    for (let i = 0; i < n; i++) {
      const k = kinds[r(kinds.length)];
      if (k === "write") ops.push([k, pick(), "data".slice(0, 1 + r(4))]);
      else if (k === "trunc") ops.push([k, pick(), r(3)]);
      else if (k === "chmod") ops.push([k, pick(), r(2) ? 0o600 : 0o755]);
      else if (k === "rename" || k === "link") ops.push([k, pick(), pick()]);
      else if (k === "symlink") ops.push([k, "t", pick()]);
      else if (k === "watch") ops.push([k, pick(), 0xfff]);
      else ops.push([k, pick()]);
    }
    return ops;
  }
  it.runIf(hasPython || process.env.CI === "true")("random sequences of changes give Linux's events, errors and IN_IGNORED", async () => {
    const SEQS = Number(process.env.HELIX_WATCH_SEQS ?? 30), OPS = 25;
    const seqs: RawOp[][] = [];
    for (let i = 1; i <= SEQS; i++) seqs.push(sequence(i, OPS));
    const base = nodeFs.mkdtempSync(path.join(tmp, "rand-"));
    const theirs = JSON.parse(execFileSync("python3", ["-c", RAW_ORACLE], { input: JSON.stringify([base, seqs]), encoding: "utf8", maxBuffer: 64 << 20 }));
    let events = 0;
    for (let i = 0; i < SEQS; i++) {
      const dir = `/rand${i}`;
      fs.mkdirSync(dir);
      const mine = canonical(await rawKernel(dir, seqs[i]));
      const want = canonical(theirs[i]);
      for (let j = 0; j < seqs[i].length; j++) expect([i + 1, seqs[i][j], mine[j]]).toEqual([i + 1, seqs[i][j], want[j]]);
      events += (theirs[i] as [number, unknown[]][]).reduce((n, [, e]) => n + e.length, 0);
    }
    expect(events).toBeGreaterThan(SEQS * 3); // the sequences did things (about 170 events for 30)
  });
});

describe("fs.watch against Node's on tmpfs, random sequences (property)", () => {
  const NAMES = ["a", "b", "d", "d/x", "d/y", "e", "e/z", "d/e", "d/e/w"];
  type Step = [string, string, string?];
  function steps(seed: number, n: number): Step[] {
    let x = seed * 2654435761 >>> 0 || 1;
    const r = (m: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % m; };
    const kinds = ["write", "append", "mkdir", "rename", "unlink", "rmdir", "chmod"];
    const out: Step[] = [];
    for (let i = 0; i < n; i++) out.push([kinds[r(kinds.length)], NAMES[r(NAMES.length)], NAMES[r(NAMES.length)]]);
    return out;
  }
  function apply(f: AnyFs, root: string, [k, a, b]: Step): string {
    try {
      if (k === "write") f.writeFileSync(`${root}/${a}`, "w");
      else if (k === "append") f.appendFileSync(`${root}/${a}`, "a");
      else if (k === "mkdir") f.mkdirSync(`${root}/${a}`);
      else if (k === "rename") f.renameSync(`${root}/${a}`, `${root}/${b}`);
      else if (k === "unlink") f.unlinkSync(`${root}/${a}`);
      else if (k === "rmdir") f.rmdirSync(`${root}/${a}`);
      else f.chmodSync(`${root}/${a}`, 0o700);
      return "ok";
    } catch (e) {
      return (e as { code: string }).code;
    }
  }
  async function run(f: AnyFs, root: string, seq: Step[]): Promise<unknown[]> {
    const got: Ev[] = [];
    const ws = [
      f.watch(root, { recursive: true }, (t, n) => got.push(["recursive", t, n === null ? null : String(n)])),
      f.watch(root, (t, n) => got.push(["dir", t, n === null ? null : String(n)])),
    ];
    const out: unknown[] = [];
    for (const s of seq) {
      const r = apply(f, root, s);
      await settle(got);
      // per watcher: how Node's two watchers interleave depends on libuv's read batches
      out.push([s, r, got.filter((e) => e[0] === "recursive"), got.filter((e) => e[0] === "dir")]);
      got.length = 0;
    }
    for (const w of ws) w.close();
    return out;
  }
  it("random changes give each watcher the events Node's gives it", async () => {
    const SEQS = Number(process.env.HELIX_WATCH_NODE_SEQS ?? 6), N = 12;
    let events = 0;
    for (let i = 1; i <= SEQS; i++) {
      const seq = steps(i, N);
      fs.mkdirSync(`/nr${i}`);
      nodeFs.mkdirSync(`${tmp}/nr${i}`);
      const mine = await run(fs as unknown as AnyFs, `/nr${i}`, seq);
      const node = await run(nodeFs, `${tmp}/nr${i}`, seq);
      for (let j = 0; j < N; j++) expect([i, j, mine[j]]).toEqual([i, j, node[j]]);
      events += (node as [unknown, unknown, Ev[], Ev[]][]).reduce((n, s) => n + s[2].length + s[3].length, 0);
    }
    expect(events).toBeGreaterThan(SEQS * 5); // the sequences changed things
  });
});

describe("fs.watchFile: disappearance, reappearance and a dead kernel", () => {
  /** Writes `p`, polls it every 10 ms, unlinks it, writes it again: the (curr.size, prev.size) pairs. */
  async function vanish(wfs: Pick<typeof nodeFs, "writeFileSync" | "unlinkSync" | "watchFile" | "unwatchFile">, p: string): Promise<number[][]> {
    const seen: number[][] = [];
    wfs.writeFileSync(p, "abc");
    wfs.watchFile(p, { interval: 10 }, (c, pr) => seen.push([c.size, pr.size]));
    await sleep(60);
    wfs.unlinkSync(p);
    for (let i = 0; i < 60 && seen.length < 1; i++) await sleep(5);
    wfs.writeFileSync(p, "abcdefg");
    for (let i = 0; i < 60 && seen.length < 2; i++) await sleep(5);
    wfs.unwatchFile(p);
    return seen;
  }
  it("a file that disappears and reappears reports the last Stats it had as prev both times (Node's)", async () => {
    const ours = await vanish(fs as never, "/wf-vanish");
    const node = await vanish(nodeFs, `${tmp}/wf-vanish`);
    expect(node).toEqual([[0, 3], [7, 3]]);
    expect(ours).toEqual(node);
  });
  it("after a kernel panic the poll stops instead of throwing from its timer", async () => {
    const k2 = bootDevice(freshDevice(16 * MiB));
    k2.fs.writeFileSync("/f", "1");
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    try {
      const seen: unknown[] = [];
      const w = k2.fs.watchFile("/f", { interval: 5 }, (c) => seen.push(c));
      await sleep(20);
      expect(() => k2.callExport("kernel_info", 0x7ffffff0)).toThrow(/kernel panic/);
      await sleep(40);
      expect(uncaught).toEqual([]);
      expect(seen).toEqual([]);
      expect(() => k2.fs.unwatchFile("/f")).not.toThrow();
      expect(w.listenerCount("change")).toBe(0);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });
});

describe("fs.watch's ENOSPC (the kernel's WATCH_MAX) and EACCES", () => {
  /** The fields of Node's watch error (UVException with syscall 'watch' and `filename`). */
  const shape = (e: unknown) => { const x = e as Record<string, unknown>; return { message: x.message, code: x.code, errno: x.errno, syscall: x.syscall, path: x.path, filename: x.filename }; };
  it("throws Node's errors: ENOSPC past 8,192 watches on one kernel, EACCES without search permission", () => {
    const k2 = bootDevice(freshDevice(32 * MiB));
    try {
      const f2 = k2.fs;
      f2.mkdirSync("/m");
      const ws: { close(): void }[] = [];
      for (let i = 0; i < 8192; i++) {
        f2.writeFileSync(`/m/${i}`, "");
        ws.push(f2.watch(`/m/${i}`, { persistent: false }));
      }
      f2.writeFileSync("/m/last", "");
      let err: unknown = null;
      try { f2.watch("/m/last", { persistent: false }); } catch (e) { err = e; }
      expect(shape(err)).toEqual({
        message: "ENOSPC: System limit for number of file watchers reached, watch '/m/last'",
        code: "ENOSPC", errno: -28, syscall: "watch", path: "/m/last", filename: "/m/last",
      });
      ws.pop()!.close();
      expect(() => f2.watch("/m/last", { persistent: false }).close()).not.toThrow(); // a freed watch is usable again
      for (const w of ws) w.close();
      f2.mkdirSync("/p", { mode: 0o700 });
      f2.writeFileSync("/p/x", "");
      const other = createFs(k2.sysAs({ uid: 1000, gid: 1000, groups: [] }));
      err = null;
      try { other.watch("/p/x", { persistent: false }); } catch (e) { err = e; }
      expect(shape(err)).toEqual({
        message: "EACCES: permission denied, watch '/p/x'", code: "EACCES", errno: -13, syscall: "watch", path: "/p/x", filename: "/p/x",
      });
    } finally {
      k2.shutdown();
    }
  });
});

describe("several watchers on one inode", () => {
  /** Two watchers of `d` under different spellings, `d` chmodded: each watcher's (which, type, filename). */
  async function twoNames(wfs: Pick<typeof nodeFs, "mkdirSync" | "chmodSync" | "watch">, root: string, first: string, second: string): Promise<unknown[]> {
    const seen: unknown[] = [];
    wfs.mkdirSync(`${root}/d`);
    const ws = [wfs.watch(`${root}/${first}`, (t, n) => seen.push(["first", t, n])), wfs.watch(`${root}/${second}`, (t, n) => seen.push(["second", t, n]))];
    wfs.chmodSync(`${root}/d`, 0o700);
    await settle(seen);
    for (const w of ws) w.close();
    return seen;
  }
  it("report the basename of the first watcher's path, as libuv's shared watcher list (Node's)", async () => {
    for (const [a, b] of [["d/", "d/../d"], ["d/../d", "d/"]]) {
      const root = `/two-${a.length}`;
      const nroot = `${tmp}/two-${a.length}`;
      fs.mkdirSync(root); nodeFs.mkdirSync(nroot);
      const ours = await twoNames(fs as never, root, a, b);
      const node = await twoNames(nodeFs, nroot, a, b);
      expect(ours).toEqual(node);
      expect(node.length).toBe(2);
    }
  });
});

describe("inotify dispatch when a listener throws", () => {
  const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist");
  // in a child: the throw surfaces as an uncaught exception from a microtask, which the child
  // catches; here it would be an unhandled error of the test run
  it("keeps the kernel's order: the rest of the batch before events the throwing listener caused", () => {
    const src = `
      import { bootWith } from ${JSON.stringify(DIST + "/host/vmm/kernel.js")};
      import { kernelModule } from ${JSON.stringify(DIST + "/host/node/node.js")};
      import { MemoryBackend } from ${JSON.stringify(DIST + "/host/vmm/blockdev.js")};
      const k = bootWith({ device: new MemoryBackend(16 << 20), module: kernelModule(), mkfs: true, memoryMiB: 32 });
      const got = [], thrown = [];
      process.on("uncaughtException", (e) => thrown.push(String(e.message)));
      k.fs.mkdirSync("/d");
      k.sys.inotifyAddWatch("/d", 0x100, (e) => {
        const n = typeof e.name === "string" ? e.name : new TextDecoder().decode(e.name);
        got.push(n);
        if (n === "a") { k.fs.writeFileSync("/d/x", ""); throw new Error("listener of a"); }
        if (n === "b") throw new Error("listener of b");
      });
      for (const n of ["a", "b", "c"]) k.fs.writeFileSync("/d/" + n, "");
      setTimeout(() => { console.log(JSON.stringify({ got, thrown })); process.exit(0); }, 50);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", src], { timeout: 5000, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ got: ["a", "b", "c", "x"], thrown: ["listener of a", "listener of b"] });
  });
});

describe("persistent watchers keep the event loop alive; unref() and persistent: false do not", () => {
  const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist");
  /**
   * Runs a Node child that boots a kernel, starts a watcher with `how`, and returns whether it
   * exited by itself (status 0) within 1.5 s; false only when the timeout killed it (a crash
   * fails the test instead of passing for "kept alive").
   */
  const exitsAlone = (how: string) => {
    const src = `
      import { bootWith } from ${JSON.stringify(DIST + "/host/vmm/kernel.js")};
      import { kernelModule } from ${JSON.stringify(DIST + "/host/node/node.js")};
      import { MemoryBackend } from ${JSON.stringify(DIST + "/host/vmm/blockdev.js")};
      const k = bootWith({ device: new MemoryBackend(16 << 20), module: kernelModule(), mkfs: true, memoryMiB: 32 });
      k.fs.mkdirSync("/d");
      ${how}`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", src], { timeout: 1500, encoding: "utf8" });
    expect(r.stderr).toBe("");
    if (r.status === 0) return true;
    expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe("ETIMEDOUT");
    expect(r.signal).toBe("SIGTERM");
    return false;
  };
  // dist/ is what `npm run build` (the first step of `npm test`) makes
  it("a child with a watcher", () => {
    expect(exitsAlone(`k.fs.watch("/d", () => {});`)).toBe(false);
    expect(exitsAlone(`k.fs.watch("/d", { persistent: false }, () => {});`)).toBe(true);
    expect(exitsAlone(`k.fs.watch("/d", () => {}).unref();`)).toBe(true);
    expect(exitsAlone(`const w = k.fs.watch("/d", () => {}); w.close();`)).toBe(true);
    expect(exitsAlone(`k.fs.watchFile("/d", { interval: 50 }, () => {});`)).toBe(false);
    expect(exitsAlone(`k.fs.watchFile("/d", { interval: 50, persistent: false }, () => {});`)).toBe(true);
  });
});
