// test/web-views-sampler.test.ts -- the live views' sampler under Node: every part of a
// views.sample against an oracle (the kernel's own counters: kernel_info, kernel_mm_info,
// kernel_slab_info, kernel_tree_info), the block I/O tap against the device's counters, and the
// scenarios' chunking (samples go out while a scenario runs).

import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { IoTap, TAP_RING_MAX } from "../host/web/iotap.js";
import { gatherSample, sampleTransfers, statGroups, ViewsSampler, viewsHandlers } from "../host/web/views.js";
import { STAT_GROUPS } from "../host/shell/format.js";
import { memoryFromFrameTable, physBaseFromLog, pickSources } from "../host/web/views-sources.js";
import { runScenario, SCENARIOS, type ScenarioHost } from "../host/web/scenarios.js";
import { FRAME_SLAB } from "../host/web/views-types.js";

const MiB = 1 << 20;

function boot(tap: IoTap): Kernel {
  return bootWith({ device: tap, module: kernelModule(false), memoryMiB: 64, mkfs: true });
}

function countCodes(frames: Uint8Array, pred: (c: number) => boolean): number {
  let n = 0;
  for (const c of frames) if (pred(c)) n++;
  return n;
}

describe("views sampler", () => {
  it("every part of a sample agrees with the kernel's counters", () => {
    const tap = new IoTap(new MemoryBackend(64 * MiB));
    const k = boot(tap);
    for (let i = 0; i < 500; i++) k.fs.writeFileSync(`/f${i}`, new Uint8Array(3000).fill(i & 0xff));
    k.fs.mkdirSync("/d");
    k.info(); // kernel_info reads the superblock: cache it, so the reads below allocate nothing
    // memory first, with its oracles read right beside it (a later part of a sample, e.g. the
    // extent map's path lookup, may allocate)
    const info = k.info();
    const mem = pickSources(k).memory(k, info);
    const mm = k.mmInfo();
    expect(mem.source).toBe("export");

    // memory: the free blocks per order, summed over migratetypes, are the buddy's own counts
    expect(mem.blocks.map((per) => per.reduce((a, b) => a + b, 0))).toEqual(mm.freeBlocks);
    // free frames in the map = buddy blocks' frames + per-CPU frames = the kernel's free page count
    const freeInMap = countCodes(mem.frames, (c) => c <= 3);
    const freeInBlocks = mem.blocks.reduce((a, per, o) => a + per.reduce((x, y) => x + y, 0) * 2 ** o, 0) + mem.pcp.reduce((a, b) => a + b, 0);
    expect(freeInMap).toBe(freeInBlocks);
    expect(freeInMap).toBe(info.memFreePages);
    // slab frames = the slab caches' pages; nothing is unknown; more than one owner
    const slabPages = k.slabInfo().reduce((a, c) => a + c.pages, 0);
    expect(countCodes(mem.frames, (c) => c >= FRAME_SLAB && c < 255)).toBe(slabPages);
    expect(countCodes(mem.frames, (c) => c === 255)).toBe(0);
    expect(new Set(mem.frames).size).toBeGreaterThan(4);
    expect(countCodes(mem.frames, (c) => c >= 16 && c <= 20)).toBe(info.cachedPages);
    // the kernel's frame map and the host's walk of the frame table agree on free frames
    const walk = memoryFromFrameTable(k, info);
    expect(walk.frames.length).toBe(mem.frames.length);
    expect(walk.frames.every((c, i) => (c <= 3) === (mem.frames[i] <= 3))).toBe(true);

    const s = gatherSample(k, tap, { tree: 1, path: [], file: "/f1" });

    // slabs: the same caches as kernel_slab_info
    expect(s.slabs.map((c) => [c.name, c.active, c.total])).toEqual(k.slabInfo().map((c) => [c.name, c.active, c.total]));
    // tree: levels end in the leaves, height as kernel_tree_info says
    const ti = k.treeInfo(1);
    expect(s.tree!.levels.length).toBe(ti.height);
    expect(s.tree!.levels[s.tree!.levels.length - 1].nodes).toBe(ti.leaves);
    expect(s.tree!.levels.reduce((a, l) => a + l.nodes, 0)).toBe(ti.nodes);
    // journal and free space as kernel_info has them
    expect(s.journal!.head).toBe(info.journalHead);
    expect(s.journal!.commits).toBe(info.commits);
    expect(s.freeSpace!.freeBlocks).toBe(info.freeBlocks);
    expect(s.freeSpace!.histogram).toEqual(k.freeHistogram());
    // the stat groups carry every counter `helix stat` groups
    expect(s.stat.map(([g]) => g)).toEqual(STAT_GROUPS.map(([g]) => g));
    expect(Object.fromEntries(s.stat.flatMap(([, rows]) => rows)).freeBlocks).toBe(info.freeBlocks);
    expect(s.extents!.path).toBe("/f1");
    // transfers: the frame map and the block events' buffers
    expect(s.extents).toMatchObject({ path: "/f1", size: 3000, error: null });
    k.fs.writeFileSync("/big", new Uint8Array(256 * 1024).fill(1));
    k.sys.sync();
    const big = gatherSample(k, tap, { tree: 2, path: [], file: "/big" }).extents!;
    expect(big.extents.reduce((a, e) => a + e.length, 0)).toBe(64); // 256 KiB in 4 KiB blocks
    expect(gatherSample(k, tap, { tree: 2, path: [], file: "/nope" }).extents!.error).toMatch(/ENOENT/);
    expect(s.tree!.node!.nitems).toBeGreaterThan(0);
    expect(sampleTransfers(s)).toContain(s.memory!.frames.buffer);
    k.shutdown();
  });

  it("the fallback frame walk agrees with the buddy counters (the source before the kernel's frame-map export)", () => {
    const tap = new IoTap(new MemoryBackend(64 * MiB));
    const k = boot(tap);
    for (let i = 0; i < 200; i++) k.fs.writeFileSync(`/g${i}`, new Uint8Array(9000));
    const m = memoryFromFrameTable(k, k.info());
    expect(m.blocks.map((per) => per.reduce((a, b) => a + b, 0))).toEqual(k.mmInfo().freeBlocks);
    expect(countCodes(m.frames, (c) => c <= 3)).toBe(k.info().memFreePages);
    expect(physBaseFromLog(k.logLines)).toBe(m.physBase);
    expect(physBaseFromLog(["no such line"])).toBeNull();
    k.shutdown();
  });

  it("the block I/O tap sees the device's requests: writes, reads, flushes", () => {
    const tap = new IoTap(new MemoryBackend(64 * MiB));
    const k = boot(tap);
    const before = k.info(); // kernel_info reads the superblock (a read when it is not cached)
    const dev0 = { ...k.device.stats };
    tap.drain();
    k.fs.writeFileSync("/big", new Uint8Array(4 * MiB).fill(7));
    k.sys.sync();
    k.dropCaches();
    k.fs.readFileSync("/big");
    const after = k.info();
    const ev = tap.drain();
    const sum = (kind: number) => ev.bytes.reduce((a, b, i) => a + (ev.kind[i] === kind ? b : 0), 0);
    expect(sum(0)).toBe(k.device.stats.bytesRead - dev0.bytesRead);
    expect(sum(1)).toBe(k.device.stats.bytesWritten - dev0.bytesWritten);
    expect(sum(1) / 4096).toBe(after.blkWriteBlocks - before.blkWriteBlocks);
    expect(sum(0)).toBeGreaterThanOrEqual(4 * MiB);
    expect(countCodes(ev.kind, (c) => c === 2)).toBe(after.blkFlushes - before.blkFlushes);
    expect(countCodes(ev.kind, (c) => c === 2)).toBe(k.device.stats.flushes - dev0.flushes);
    expect(ev.t.every((t, i) => i === 0 || t >= ev.t[i - 1])).toBe(true);
    expect(tap.drain().t.length).toBe(0);
    k.shutdown();
  });

  it("a full tap ring counts what it drops instead of growing", () => {
    const tap = new IoTap(new MemoryBackend(1 * MiB));
    for (let i = 0; i < TAP_RING_MAX + 5; i++) tap.flush();
    const ev = tap.drain();
    expect(ev.t.length).toBe(TAP_RING_MAX);
    expect(ev.dropped).toBe(5);
    expect(tap.totals.requests[2]).toBe(TAP_RING_MAX + 5);
  });

  it("scenarios run in chunks that let samples out, and a bad name or a gone kernel ends with one line", async () => {
    const tap = new IoTap(new MemoryBackend(64 * MiB));
    let k: Kernel | null = boot(tap);
    const sources = pickSources(k);
    const lines: string[] = [];
    let ticks = 0;
    const host: ScenarioHost = {
      kernel: () => k, say: (l) => lines.push(l), select: () => {},
      tick: () => { ticks++; gatherSample(k!, tap, { tree: 1, path: [], file: "" }, ticks, sources); },
      yield: () => new Promise((r) => setImmediate(r)),
    };
    const r = await runScenario("create", host);
    expect(r.ok, r.message).toBe(true);
    expect(ticks).toBeGreaterThan(5);
    expect(k.fs.readdirSync("/demo/files/d7").length).toBe(100);
    expect(lines.some((l) => /created 10000 files/.test(l))).toBe(true);

    expect(await runScenario("nope", host)).toEqual({ ok: false, message: expect.stringMatching(/^no scenario 'nope' \(have: create, /) });
    // the kernel goes away mid-scenario: it stops and says so
    const k0 = k;
    host.tick = () => { k = null; };
    const gone = await runScenario("journal", host);
    expect(gone).toEqual({ ok: false, message: expect.stringMatching(/stopped \(the kernel was rebooted\)/) });
    k0.shutdown();
    expect(SCENARIOS.map((s) => s.name)).toEqual(["create", "fragment", "fill", "large", "journal"]);
  });

  it("statGroups keeps only counters the kernel reports", () => {
    const g = statGroups({ freeBlocks: 5 } as never);
    expect(g.find(([n]) => n === "allocator")![1]).toEqual([["freeBlocks", 5]]);
  });
});

describe("views scenarios under Node", () => {
  it("fragment, fill, large and journal do what they narrate", async () => {
    const tap = new IoTap(new MemoryBackend(64 * MiB));
    const k = bootWith({ device: tap, module: kernelModule(false), memoryMiB: 128, mkfs: true });
    const lines: string[] = [];
    let selected = "";
    const host: ScenarioHost = {
      kernel: () => k, say: (l) => lines.push(l), select: (f) => { selected = f; }, tick: () => {},
      yield: () => new Promise((r) => setImmediate(r)),
    };
    const big = (l: string) => l.split(": ").pop()!.split(" ").slice(-3).reduce((a, b) => a + Number(b), 0); // free blocks of orders 8..10

    expect(await runScenario("fragment", host)).toMatchObject({ ok: true });
    const holes = lines.find((l) => l.includes("holes:"))!, merged = lines.find((l) => l.includes("merged:"))!;
    expect(big(merged)).toBeGreaterThan(big(holes)); // the buddy allocator merged the freed frames

    lines.length = 0;
    expect(await runScenario("fill", host)).toMatchObject({ ok: true });
    expect(lines.some((l) => /^disk full after \d+ files/.test(l))).toBe(true);
    const m = /(\d+) blocks free in (\d+) free extents/.exec(lines[lines.length - 1])!;
    expect(Number(m[2])).toBeGreaterThan(20); // every other file deleted: many separate free extents
    expect(k.freeHistogram().reduce((a, b) => a + b, 0)).toBe(Number(m[2]));

    lines.length = 0;
    expect(await runScenario("large", host)).toMatchObject({ ok: true });
    expect(selected).toBe("/demo/large.bin");
    expect(k.fs.statSync("/demo/large.bin").size).toBeGreaterThan(0);
    expect(lines[lines.length - 1]).toMatch(/written and fsynced; \d+ pages written back/);

    lines.length = 0;
    const before = k.info();
    expect(await runScenario("journal", host)).toMatchObject({ ok: true });
    expect(k.info().commits - before.commits).toBeGreaterThanOrEqual(60);
    expect(lines[lines.length - 1]).toMatch(/^\d+ commits, \d+ checkpoints/);
    expect(k.fsck(false)).toBe(0);
    k.shutdown();
  });
});

describe("views failure paths", () => {
  it("a sampler error is posted once as one line, and sampling goes on", () => {
    const posted: { type: string; message?: string }[] = [];
    let fail = true;
    const fake = {
      isDead: false,
      info() { if (fail) throw new Error("boom"); return {}; },
    } as unknown as Kernel;
    const s = new ViewsSampler(() => fake, (m) => posted.push(m as never));
    s.sampleNow();
    s.sampleNow();
    expect(posted).toEqual([{ type: "error", message: "views: boom" }]);
    fail = false;
    expect(() => s.sampleNow()).not.toThrow(); // still failing (the fake has no views): not reported again
    expect(posted.length).toBe(1);
    expect(new ViewsSampler(() => null, (m) => posted.push(m as never)).sampleNow()).toBeUndefined();
  });

  it("a node path past the tree, a scenario without a kernel, a scenario message before boot", async () => {
    const tap = new IoTap(new MemoryBackend(64 * MiB));
    const k = boot(tap);
    const s = gatherSample(k, tap, { tree: 0, path: [999], file: "" });
    expect(s.tree!.node).toBeNull();
    expect(s.tree!.nodeNote).toMatch(/^no node at path \[999\]: tree node failed: EINVAL/);
    k.shutdown();
    expect(await runScenario("create", { kernel: () => null, say: () => {}, tick: () => {}, select: () => {} })).toEqual({ ok: false, message: "the kernel is not running" });
    const posted: unknown[] = [];
    await viewsHandlers["views.scenario"]({ type: "views.scenario", name: "create" }, { kernel: null, post: (m: unknown) => posted.push(m) } as never);
    expect(posted).toEqual([{ type: "error", message: "views: the kernel is not running" }]);
  });
});
