// test/lock.test.ts -- one writer per image (issue 10 §1): the host lock (flock on the image
// file, host/node/blockdev-node.ts) and multiple-mount protection (the MMP block, assembly/fs/mmp.ts).
//
// Process tests run the real `helix` CLI (bin/helix.js, HELIX_NO_BUILD=1) in child processes:
// two boots racing for one image (exactly one wins, every trial), a SIGKILLed holder that must
// not block the next boot, mkfs over an image in use. MMP tests stand in for a second machine,
// whose host lock this host cannot see: a kernel on a shared memory device with another
// hostname, and a child process that opens the image without the host lock. The oracle is
// the holder's own identity (pid, hostname) and the data it committed.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { BIN, NODE_FLAGS, runHelix, type RunResult } from "./cli-run.js";
import { MemoryBackend, type BlockBackend } from "../host/vmm/blockdev.js";
import { hostLockAvailable } from "../host/node/blockdev-node.js";
import { bootWith, KernelError, sleepMs, type Kernel, type MmpIdentity } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { crc32c } from "../host/crash/fuzz.js";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const TMP = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-lock-"));
const RUN_TIMEOUT_MS = 60_000;
/** Race trials: each starts two boots of one image at the same moment. */
const RACE_TRIALS = 25;
const BLOCK = 4096;
const HOST = os.hostname();
/** The one line a refused writer prints (docs/cli.md). */
const BUSY_LINE = /^helix: (.+): in use by pid (\d+) on host (.+) \((.+), since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/;

function helix(args: string[], input?: string): Promise<RunResult> {
  return runHelix(TMP, args, RUN_TIMEOUT_MS, { input });
}

/** A `helix` child whose stdin stays open: it holds the image until release() (or a kill). */
interface Holder { child: ChildProcess; stdout: string; stderr: string; done: Promise<number | null>; release(): void }
function startBoot(image: string, script = ""): Holder {
  const child = spawn(process.execPath, [...NODE_FLAGS, BIN, "boot", image], {
    cwd: TMP, env: { ...process.env, HELIX_NO_BUILD: "1", HELIX_DEBUG: "" }, stdio: ["pipe", "pipe", "pipe"],
  });
  const h: Holder = {
    child, stdout: "", stderr: "",
    done: new Promise((resolve, reject) => {
      const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`helix boot ${image} hung`)); }, RUN_TIMEOUT_MS);
      child.on("close", (code) => { clearTimeout(timer); resolve(code); });
    }),
    release: () => { child.stdin!.end(); },
  };
  child.stdout!.on("data", (d) => { h.stdout += d; });
  child.stderr!.on("data", (d) => { h.stderr += d; });
  child.stdin!.on("error", () => { /* the loser exits before reading its script */ });
  if (script) child.stdin!.write(script);
  return h;
}

/** Resolves when `h` printed its mount lines (it holds the image) or exited. */
async function mountedOrExited(h: Holder): Promise<"mounted" | "exited"> {
  let exited = false;
  void h.done.then(() => { exited = true; });
  for (let i = 0; i < RUN_TIMEOUT_MS / 10; i++) {
    if (/helixfs \(vda\): \d+ blocks free/.test(h.stdout)) return "mounted";
    if (exited) return "exited";
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("neither mounted nor exited");
}

beforeAll(() => {
  // the host lock needs the optional dependency fs-ext (package.json); without it only the
  // MMP block guards images and the race below is decided by its waits, not by the lock
  expect(hostLockAvailable(), "fs-ext is not installed: run npm install").toBe(true);
});
afterAll(() => { fs.rmSync(TMP, { recursive: true, force: true }); });

describe("host lock: one read-write boot per image file", () => {
  it(`two processes race to boot one image read-write: exactly one wins, ${RACE_TRIALS} trials out of ${RACE_TRIALS}`, async () => {
    const img = path.join(TMP, "race.img");
    expect((await helix(["mkfs", img, "--size", "16M"])).code).toBe(0);
    for (let t = 0; t < RACE_TRIALS; t++) {
      const a = startBoot(img, `echo a > /a-${t}\n`);
      const b = startBoot(img, `echo b > /b-${t}\n`);
      // the loser exits at once; the winner holds the image until its stdin closes
      const [sa, sb] = await Promise.all([mountedOrExited(a), mountedOrExited(b)]);
      a.release(); b.release();
      const [ca, cb] = await Promise.all([a.done, b.done]);
      const outcome = `trial ${t}: a ${sa}/${ca} b ${sb}/${cb}; stderr a=${JSON.stringify(a.stderr)} b=${JSON.stringify(b.stderr)}`;
      expect([sa, sb].sort(), outcome).toEqual(["exited", "mounted"]);
      const [win, lose] = sa === "mounted" ? [a, b] : [b, a];
      expect([ca, cb].sort(), outcome).toEqual([0, 1]);
      expect(win.stderr, outcome).toBe("");
      // exactly one line, naming the winner's pid and this host
      const lines = lose.stderr.split("\n").filter((l) => l !== "");
      expect(lines.length, outcome).toBe(1);
      const m = BUSY_LINE.exec(lines[0]);
      expect(m, outcome).not.toBeNull();
      expect(m![1]).toBe(img);
      expect(Number(m![2])).toBe(win.child.pid);
      expect(m![3]).toBe(HOST);
      expect(m![4]).toBe("helix boot");
    }
    // every winner's write is there, no loser's, and the image is consistent
    const ls = await helix(["boot", img, "-q", "-c", "ls /"]);
    expect(ls.code).toBe(0);
    const names = ls.stdout.split(/\s+/).filter((n) => /^[ab]-\d+$/.test(n));
    expect(names.length).toBe(RACE_TRIALS);
    expect(new Set(names.map((n) => n.slice(2))).size).toBe(RACE_TRIALS);
    expect((await helix(["fsck", img])).code).toBe(0);
  });

  it("a SIGKILLed holder does not block the next boot, which takes over at once and keeps its fsynced data", async () => {
    const img = path.join(TMP, "kill.img");
    expect((await helix(["mkfs", img, "--size", "16M"])).code).toBe(0);
    for (let t = 0; t < 3; t++) {
      const h = startBoot(img, `echo kept-${t} > /k${t}\nsync\necho synced-${t}\n`);
      expect(await mountedOrExited(h)).toBe("mounted");
      for (let i = 0; i < 6000 && !h.stdout.includes(`synced-${t}`); i++) await new Promise((r) => setTimeout(r, 10));
      h.child.kill("SIGKILL");
      expect(await h.done).toBeNull(); // killed, never unmounted
      const next = await helix(["boot", img, "-c", `cat /k${t}`]);
      expect(next.stderr).toBe("");
      expect(next.code).toBe(0);
      expect(next.stdout).toContain(`kept-${t}`);
      expect(next.stdout).toContain(`helixfs (vda): MMP: not unmounted by pid ${h.child.pid} on host ${HOST} (its lock is gone): taking over`);
    }
    expect((await helix(["fsck", img])).code).toBe(0);
  });

  it("mkfs over an image in use is refused and leaves it whole; other commands are refused the same way", async () => {
    const img = path.join(TMP, "busy.img");
    expect((await helix(["mkfs", img, "--size", "16M"])).code).toBe(0);
    const h = startBoot(img, "echo keep > /keep\nsync\necho synced\n");
    expect(await mountedOrExited(h)).toBe("mounted");
    for (let i = 0; i < 6000 && !h.stdout.includes("synced"); i++) await new Promise((r) => setTimeout(r, 10));
    const size = fs.statSync(img).size;
    for (const args of [["mkfs", img, "--size", "8M"], ["fsck", img], ["inspect", img], ["boot", img, "-c", "ls"]]) {
      const r = await helix(args);
      // fsck's operational error is e2fsck's 8 (docs/cli.md); every other command's is 1
      expect(r.code, args.join(" ")).toBe(args[0] === "fsck" ? 8 : 1);
      expect(r.stderr.split("\n").filter((l) => l).length, args.join(" ")).toBe(1);
      const m = BUSY_LINE.exec(r.stderr.trim());
      expect(m, r.stderr).not.toBeNull();
      expect(Number(m![2])).toBe(h.child.pid);
    }
    expect(fs.statSync(img).size).toBe(size);
    h.release();
    expect(await h.done).toBe(0);
    const r = await helix(["boot", img, "-q", "-c", "cat /keep"]);
    expect(r.stdout).toBe("keep\n");
  });

  it("an image without an MMP block (made before it) is still refused while held, with the lock as the only witness", async () => {
    const img = path.join(TMP, "old.img");
    expect((await helix(["mkfs", img, "--size", "16M"])).code).toBe(0);
    const bytes = new Uint8Array(fs.readFileSync(img));
    makeOld(bytes);
    fs.writeFileSync(img, bytes);
    const h = startBoot(img);
    expect(await mountedOrExited(h)).toBe("mounted");
    const r = await helix(["boot", img, "-c", "ls"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`helix: ${img}: in use by another process on this host (it holds the image's lock)\n`);
    h.release();
    expect(await h.done).toBe(0);
    expect((await helix(["fsck", img])).code).toBe(0);
  });
});

/** Turns a fresh image into one made before MMP: no feature bit, no field, the log spans the area. */
function makeOld(b: Uint8Array): void {
  const sb = new DataView(b.buffer, b.byteOffset, BLOCK);
  const jstart = Number(sb.getBigUint64(72, true)), jblocks = sb.getUint32(80, true);
  sb.setUint32(60, sb.getUint32(60, true) & ~0x100, true);
  sb.setBigUint64(640, 0n, true);
  new DataView(b.buffer, b.byteOffset + jstart * BLOCK, BLOCK).setUint32(36, jblocks, true);
  b.fill(0, (jstart + jblocks - 1) * BLOCK, (jstart + jblocks) * BLOCK);
  for (const blk of [0, jstart]) reseal(b, blk);
}

// ---- multiple-mount protection: a holder whose host lock is not visible ----------------------

const MMP_INTERVAL_S = 1;
/** What a mount waits before it believes a foreign holder is gone: 2 x interval + 1 s. */
const MMP_WAIT_MS = (2 * MMP_INTERVAL_S + 1) * 1000;

/** A view of a shared device whose close() leaves it open (two kernels share one disk). */
function share(dev: MemoryBackend): BlockBackend {
  return {
    sizeBytes: dev.sizeBytes,
    read: (o, d) => dev.read(o, d), write: (o, s) => dev.write(o, s),
    flush: () => dev.flush(), discard: (o, l) => dev.discard(o, l), close: () => { /* shared */ },
  };
}

function boot(dev: BlockBackend, identity: MmpIdentity, opts: { mkfs?: boolean; log?: string[]; sleep?: (ms: number) => void } = {}): Kernel {
  return bootWith({
    device: dev, module: kernelModule(true), memoryMiB: 64, mkfs: opts.mkfs, identity, sleep: opts.sleep,
    log: opts.log ? (l) => opts.log!.push(l) : undefined,
  });
}

const OTHER: MmpIdentity = { node: "otherhost", pid: 4242, program: "helix boot", exclusive: true, mmpInterval: MMP_INTERVAL_S };
const THIS: MmpIdentity = { node: "thishost", pid: 7, program: "test", exclusive: true };

/** Geometry of the MMP block: superblock field 640 (docs/format.md). */
function mmpBlock(dev: MemoryBackend): number { return Number(new DataView(dev.bytes.buffer, 640, 8).getBigUint64(0, true)); }
function mmpSeq(dev: MemoryBackend): number { return new DataView(dev.bytes.buffer, mmpBlock(dev) * BLOCK + 32, 4).getUint32(0, true); }
const SEQ_CLEAN = 0xff4d4d50;

describe("multiple-mount protection (MMP block)", () => {
  it("mkfs writes a clean MMP block; a mount writes its identity; unmount writes clean again", () => {
    const dev = new MemoryBackend(16 << 20);
    const k = boot(share(dev), OTHER, { mkfs: true });
    const blk = mmpBlock(dev);
    const sbv = new DataView(dev.bytes.buffer, 0, BLOCK);
    expect(sbv.getUint32(60, true) & 0x100).toBe(0x100); // INCOMPAT_MMP
    expect(blk).toBe(Number(sbv.getBigUint64(72, true)) + sbv.getUint32(80, true) - 1); // journal area's last block
    const rec = dev.bytes.subarray(blk * BLOCK, blk * BLOCK + 160);
    expect(new TextDecoder().decode(rec.subarray(0, 4))).toBe("HMMP");
    expect(mmpSeq(dev)).not.toBe(SEQ_CLEAN);
    expect(new TextDecoder().decode(rec.subarray(64, 73))).toBe("otherhost");
    expect(new DataView(rec.buffer, rec.byteOffset + 56, 4).getUint32(0, true)).toBe(4242);
    k.shutdown();
    expect(mmpSeq(dev)).toBe(SEQ_CLEAN);
    // a clean image boots at once (no wait) for anyone
    let slept = 0;
    const k2 = boot(share(dev), THIS, { sleep: (ms) => { slept += ms; } });
    expect(slept).toBe(0);
    k2.shutdown();
  });

  it("a live holder on another machine (its block keeps changing) is detected and named", () => {
    const dev = new MemoryBackend(16 << 20);
    const a = boot(share(dev), OTHER, { mkfs: true });
    a.fs.writeFileSync("/from-a", "a");
    // a stays mounted: the other machine
    let waits = 0;
    // while this machine waits, the other one runs: its heartbeat writes the block
    const sleep = (ms: number) => { waits++; sleepMs(ms); expect(a.callExport("sys_mmp_tick")).toBeGreaterThan(0); };
    const seq0 = mmpSeq(dev);
    let err: unknown = null;
    try { boot(share(dev), THIS, { sleep }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toBe("EBUSY");
    expect((err as KernelError).message).toMatch(/^in use by pid 4242 on host otherhost \(helix boot, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/);
    expect(waits).toBe(1);
    expect(mmpSeq(dev)).not.toBe(seq0); // the holder kept beating, nothing of ours was written over it
    // the refused mount wrote nothing: the holder still owns the block and carries on
    a.fs.writeFileSync("/from-a-2", "still mine");
    a.shutdown();
    expect(mmpSeq(dev)).toBe(SEQ_CLEAN);
  });

  it("a stale holder (block unchanged for the wait) is taken over with a log line; the old holder then stops writing", () => {
    const dev = new MemoryBackend(16 << 20);
    const a = boot(share(dev), OTHER, { mkfs: true });
    a.fs.writeFileSync("/committed", "by a");
    a.sys.sync();
    // the other machine hangs: no heartbeat while we wait
    const log: string[] = [];
    let slept = 0;
    const b = boot(share(dev), THIS, { log, sleep: (ms) => { slept += ms; sleepMs(ms); } });
    expect(slept).toBe(2 * MMP_WAIT_MS); // watched the block, then watched its own claim
    expect(log).toContain(`helixfs (vda): MMP: block of pid 4242 on host otherhost unchanged for ${MMP_WAIT_MS / 1000} s (stale): taking over`);
    expect(b.fs.readFileSync("/committed", "utf8")).toBe("by a");
    // the old holder wakes up: its next heartbeat sees our seq and it turns read-only
    const aLog = a.logLines;
    expect(a.callExport("sys_mmp_tick")).toBe(-16);
    expect(aLog.some((l) => l.includes("MMP: the filesystem seems to be mounted by pid 7 on host thishost as well"))).toBe(true);
    expect(() => a.fs.writeFileSync("/late", "x")).toThrow(expect.objectContaining({ code: "EROFS" }));
    b.fs.writeFileSync("/b", "b");
    b.shutdown();
    a.shutdown(); // writes nothing: the claim is b's
    const c = boot(share(dev), THIS);
    expect(c.fs.readFileSync("/b", "utf8")).toBe("b");
    expect(c.fs.existsSync("/late")).toBe(false);
    expect(c.fsck(false)).toBe(0);
    c.shutdown();
  });

  it("a holder of this host whose lock is gone is taken over at once; another host's is not", () => {
    const dev = new MemoryBackend(16 << 20);
    boot(share(dev), { ...THIS, mmpInterval: MMP_INTERVAL_S }, { mkfs: true }); // crashes: never unmounted
    let slept = 0;
    const log: string[] = [];
    const k = boot(share(dev), { ...THIS, pid: 8 }, { log, sleep: (ms) => { slept += ms; } });
    expect(slept).toBe(0);
    expect(log).toContain("helixfs (vda): MMP: not unmounted by pid 7 on host thishost (its lock is gone): taking over");
    // without an exclusive host lock the same block makes the mount wait, as from another host
    const slept2: number[] = [];
    const k2 = boot(share(dev), { ...THIS, pid: 9, exclusive: false }, { sleep: (ms) => { slept2.push(ms); sleepMs(ms); } });
    expect(slept2).toEqual([MMP_WAIT_MS, MMP_WAIT_MS]);
    // k stalled through k2's wait and was taken over; it has not noticed yet
    try { k.fs.writeFileSync("/zombie", "z"); } catch { /* noticed already: fine */ }
    k2.fs.writeFileSync("/live", "l");
    k2.shutdown();
    // k's unmount checks the block first: not its seq any more, so it writes nothing at all
    const before = new Uint8Array(dev.bytes);
    k.shutdown();
    expect(Buffer.compare(Buffer.from(before), Buffer.from(dev.bytes))).toBe(0);
    expect(k.logLines.some((l) => l.includes("seems to be mounted by pid 9 on host thishost as well"))).toBe(true);
    const c = boot(share(dev), THIS);
    expect(c.fs.readFileSync("/live", "utf8")).toBe("l");
    expect(c.fs.existsSync("/zombie")).toBe(false);
    expect(c.fsck(false)).toBe(0);
    c.shutdown();
  });

  it("images made before MMP (no INCOMPAT_MMP) still boot", () => {
    const dev = new MemoryBackend(16 << 20);
    boot(share(dev), THIS, { mkfs: true }).shutdown();
    const b = dev.bytes;
    makeOld(b);
    const sb = new DataView(b.buffer, 0, BLOCK);
    const jstart = Number(sb.getBigUint64(72, true)), jblocks = sb.getUint32(80, true);
    const k = boot(share(dev), THIS);
    k.fs.writeFileSync("/old", "ok");
    expect(k.fsck(false)).toBe(0);
    k.shutdown();
    expect(b.subarray((jstart + jblocks - 1) * BLOCK, (jstart + jblocks) * BLOCK).every((x) => x === 0)).toBe(true); // no MMP written
  });

  it("a holder whose MMP block is overwritten with garbage stops writing (read-only)", () => {
    const dev = new MemoryBackend(16 << 20);
    const k = boot(share(dev), THIS, { mkfs: true });
    dev.bytes[mmpBlock(dev) * BLOCK + 40] ^= 0xff;
    expect(k.callExport("sys_mmp_tick")).toBe(1000 * 5); // not due yet: untouched
    const before = new Uint8Array(dev.bytes);
    k.shutdown(); // the check at unmount finds the damage: nothing is written
    expect(Buffer.compare(Buffer.from(before), Buffer.from(dev.bytes))).toBe(0);
    expect(k.logLines).toContain("helixfs (vda): MMP: the block was overwritten with garbage while mounted; stopping all writes (read-only)");
  });

  it("a damaged MMP block under this host's lock is rewritten with a log line", () => {
    const dev = new MemoryBackend(16 << 20);
    boot(share(dev), THIS, { mkfs: true }).shutdown();
    dev.bytes[mmpBlock(dev) * BLOCK + 70] ^= 0xff;
    const log: string[] = [];
    const k = boot(share(dev), THIS, { log, sleep: () => { throw new Error("no wait expected"); } });
    expect(log).toContain("helixfs (vda): MMP: block damaged; this host holds the image's lock: rewriting it");
    k.shutdown();
    expect(mmpSeq(dev)).toBe(SEQ_CLEAN);
  });
});

/** Recomputes the crc32c of metadata block `blk` (crc field at byte 4). */
function reseal(b: Uint8Array, blk: number): void {
  const v = b.subarray(blk * BLOCK, (blk + 1) * BLOCK);
  new DataView(v.buffer, v.byteOffset + 4, 4).setUint32(0, 0, true);
  new DataView(v.buffer, v.byteOffset + 4, 4).setUint32(0, crc32c(0, v), true);
}

describe("multiple-mount protection across processes, without the host lock (another machine)", () => {
  it("a writer that holds no host lock is named after the MMP wait; killed, it is taken over as stale", async () => {
    const img = path.join(TMP, "remote.img");
    // the other machine: formats and mounts the image without this host's lock, and stays up
    const script = `
      import { bootSync } from ${JSON.stringify(path.join(ROOT, "dist", "host", "node", "node.js"))};
      const k = bootSync({ image: ${JSON.stringify(img)}, createBytes: 16 << 20, mkfs: true, hostLock: false,
        identity: { node: "otherhost", program: "remote writer", mmpInterval: ${MMP_INTERVAL_S} } });
      k.fs.writeFileSync("/remote", "from the other machine");
      k.sys.sync();
      console.log("mounted");
      // the interval holds the kernel: the MMP heartbeat holds it weakly, so a kernel nothing
      // references is freed at the next GC (one runs right after boot) and stops beating
      setInterval(() => k.isDead, 1000);`;
    const remote = spawn(process.execPath, [...NODE_FLAGS, "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", errOut = "";
    remote.stdout.on("data", (d) => { out += d; });
    remote.stderr.on("data", (d) => { errOut += d; });
    const exited = new Promise((r) => remote.on("close", r));
    try {
      for (let i = 0; i < 3000 && !out.includes("mounted"); i++) await new Promise((r) => setTimeout(r, 10));
      expect(out, errOut).toContain("mounted");
      // this host's lock is free, so only the MMP block can refuse us
      const r = await helix(["boot", img, "-c", "ls /"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^helix: ${img.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: in use by pid ${remote.pid} on host otherhost \\(remote writer, since .+ UTC\\)\\n$`));
    } finally {
      remote.kill("SIGKILL");
      await exited;
    }
    // the other machine died: its block stops changing and is taken over after the wait
    const r2 = await helix(["boot", img, "-c", "cat /remote"]);
    expect(r2.stderr).toBe("");
    expect(r2.code).toBe(0);
    expect(r2.stdout).toContain(`helixfs (vda): MMP: block of pid ${remote.pid} on host otherhost unchanged for ${MMP_WAIT_MS / 1000} s (stale): taking over`);
    expect(r2.stdout).toContain("from the other machine");
  });
});
