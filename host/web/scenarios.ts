// host/web/scenarios.ts -- the live views' one-click scenarios: workloads that run in the worker
// in chunks, so the sampler posts samples while they run, each narrated in a line or two.
//
// Layer: web role, worker side, over the kernel's Node-shaped fs (host/fs) and its statistics.
// Interface: SCENARIOS (name, title, narration, run), runScenario(name, host) -> { ok, message };
// another feature adds its own scenario with addScenario (webcrash: the ACE crash states).
// Rules: a chunk runs at most CHUNK_MS, then yields to the event loop (a MessageChannel, which
// no timer clamps) and calls host.tick() so a sample can go out; every loop has a bound; a
// scenario stops (and says so) when the kernel it started on is gone (reboot, panic); fs
// errors end it with one line, never a throw out of the worker; ENOSPC is an expected end of
// "fill the disk".

import type { Kernel } from "../vmm/kernel.js";
import { errCode, errorMessage, formatBytes } from "../shell/format.js";

/** Longest a scenario runs without yielding, ms (a sample can be late by at most this). */
export const CHUNK_MS = 8;
/** Files of "create 10,000 files", and the directories they spread over. */
export const CREATE_FILES = 10_000;
const CREATE_DIRS = 100;
/** Size of each file of "fill the disk", bytes. */
const FILL_FILE_BYTES = 256 * 1024;
/** Most files "fill the disk" writes (a bound: the disk fills long before). */
const FILL_FILES_MAX = 100_000;
/** Size of "write a large file" (at most 60% of the free space), and its write size. */
const LARGE_FILE_BYTES = 32 * 1024 * 1024;
const LARGE_WRITE_BYTES = 256 * 1024;
/** Files of "fragment memory", each this size. */
const FRAG_FILES = 3000;
const FRAG_FILE_BYTES = 8192;
/** Rounds of "commit and checkpoint", files created and renamed per round. */
const JOURNAL_ROUNDS = 60;
const JOURNAL_FILES = 40;

/** What a scenario needs from the worker. */
export interface ScenarioHost {
  /** The live kernel (null once it is gone). */
  kernel(): Kernel | null;
  /** Prints one narration or progress line to the terminal. */
  say(line: string): void;
  /** Called between chunks: the sampler posts a sample when one is due. */
  tick(): void;
  /** Selects a file for the extent-map view. */
  select(file: string): void;
  /** Yields to the event loop (default: a MessageChannel round trip). */
  yield?: () => Promise<void>;
}

/** One scenario. */
export interface Scenario {
  name: string;
  /** Button label. */
  title: string;
  /** One or two lines the terminal prints first, saying what to watch. */
  narration: string;
  run(ctx: ScenarioContext): Promise<void>;
}

/** A scenario ended: the kernel went away under it. */
class Gone extends Error {}

/** A running scenario's view of the worker. */
export class ScenarioContext {
  private t0 = performance.now();
  /** The longest run between two yields, ms (one kernel call, e.g. a commit, cannot be split). */
  longestChunkMs = 0;
  private readonly yieldFn: () => Promise<void>;
  constructor(readonly k: Kernel, private readonly host: ScenarioHost) { this.yieldFn = host.yield ?? messageYield; }
  get fs() { return this.k.fs; }
  say(line: string): void { this.host.say(line); }
  select(file: string): void { this.host.select(file); }

  /** Yields when the chunk has used its time; throws Gone when the kernel changed. */
  async maybeYield(): Promise<void> {
    if (performance.now() - this.t0 < CHUNK_MS) return;
    await this.yieldNow();
  }
  async yieldNow(): Promise<void> {
    this.longestChunkMs = Math.max(this.longestChunkMs, performance.now() - this.t0);
    await this.yieldFn();
    if (this.host.kernel() !== this.k || this.k.isDead) throw new Gone("the kernel was rebooted");
    this.host.tick();
    this.t0 = performance.now();
  }

  /**
   * Runs body(i) for i in [0, n), yielding every CHUNK_MS; prints progress `label` at each
   * tenth; stops early (returning the count done) when body returns false.
   */
  async loop(n: number, label: string, body: (i: number) => boolean | void): Promise<number> {
    const step = Math.max(1, Math.floor(n / 10));
    for (let i = 0; i < n; i++) {
      if (body(i) === false) return i;
      if ((i + 1) % step === 0 && i + 1 < n) this.say(`  ${label} ${i + 1} / ${n}`);
      await this.maybeYield();
    }
    return n;
  }
}

let channel: MessageChannel | null = null;
const waiting: (() => void)[] = [];
/** A macrotask turn without timer clamping (setTimeout(0) is clamped to 4 ms when nested). */
function messageYield(): Promise<void> {
  if (channel === null) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise((r) => { waiting.push(r); channel!.port2.postMessage(0); });
}

/** A directory name under /demo that does not exist yet: `base`, `base-2`, ... */
function freshDir(ctx: ScenarioContext, base: string): string {
  ctx.fs.mkdirSync("/demo", { recursive: true });
  for (let n = 1; n < 10_000; n++) {
    const p = `/demo/${base}${n === 1 ? "" : `-${n}`}`;
    if (!ctx.fs.existsSync(p)) { ctx.fs.mkdirSync(p); return p; }
  }
  throw new Error(`no free name for /demo/${base}`);
}

function buddyLine(k: Kernel): string {
  const f = k.mmInfo().freeBlocks;
  return `free buddy blocks by order 0..10: ${f.join(" ")}`;
}

const scenarios: Scenario[] = [
  {
    name: "create", title: "Create 10,000 files",
    narration: "Creates 10,000 small files in 100 directories. Watch the directory-entry and inode trees grow a level, the buffer cache take frames in the memory map (metadata buffers, the running transaction), and the journal commit and checkpoint.",
    async run(ctx) {
      const dir = freshDir(ctx, "files");
      const data = new TextEncoder().encode("hello from the live views\n");
      for (let d = 0; d < CREATE_DIRS; d++) ctx.fs.mkdirSync(`${dir}/d${d}`);
      const t0 = performance.now();
      await ctx.loop(CREATE_FILES, "files created:", (i) => { ctx.fs.writeFileSync(`${dir}/d${i % CREATE_DIRS}/f${i}`, data); });
      const s = (performance.now() - t0) / 1000;
      const ti = ctx.k.treeInfo(1);
      ctx.say(`created ${CREATE_FILES} files in ${dir} in ${s.toFixed(2)} s (${Math.round(CREATE_FILES / s)} files/s, chunks yielding every ${CHUNK_MS} ms); dirent tree: ${ti.height} levels, ${ti.nodes} nodes`);
    },
  },
  {
    name: "fragment", title: "Fragment memory, watch the buddy allocator merge",
    narration: "Fills the page cache with 3,000 files of 8 KiB, deletes every other one (free frames are scattered: the free blocks are small), then the rest and drops the caches: the buddy allocator merges the freed frames back into large blocks.",
    async run(ctx) {
      const dir = freshDir(ctx, "frag");
      const data = new Uint8Array(FRAG_FILE_BYTES).fill(0x5a);
      ctx.say(`  before: ${buddyLine(ctx.k)}`);
      await ctx.loop(FRAG_FILES, "files written:", (i) => { ctx.fs.writeFileSync(`${dir}/f${i}`, data); });
      ctx.say(`  filled: ${buddyLine(ctx.k)}`);
      await ctx.loop(FRAG_FILES / 2, "odd files deleted:", (i) => { ctx.fs.unlinkSync(`${dir}/f${2 * i + 1}`); });
      ctx.k.sys.sync();
      ctx.say(`  holes:  ${buddyLine(ctx.k)}`);
      await ctx.loop(FRAG_FILES / 2, "even files deleted:", (i) => { ctx.fs.unlinkSync(`${dir}/f${2 * i}`); });
      await ctx.yieldNow();
      ctx.k.dropCaches();
      ctx.say(`  merged: ${buddyLine(ctx.k)}`);
    },
  },
  {
    name: "fill", title: "Fill the disk, delete half",
    narration: "Writes 256 KiB files until the disk is full (ENOSPC), then deletes every other one: watch the free-space trees (by offset and by size) split into many small extents.",
    async run(ctx) {
      const dir = freshDir(ctx, "fill");
      const data = new Uint8Array(FILL_FILE_BYTES).fill(0xa5);
      let n = 0;
      for (; n < FILL_FILES_MAX; n++) {
        try { ctx.fs.writeFileSync(`${dir}/f${n}`, data); } catch (err) {
          if (errCode(err) !== "ENOSPC") throw err;
          try { ctx.fs.unlinkSync(`${dir}/f${n}`); } catch { /* the create itself failed */ }
          break;
        }
        if (n % 20 === 19) ctx.say(`  written ${n + 1} files (${formatBytes((n + 1) * FILL_FILE_BYTES)})`);
        await ctx.maybeYield();
      }
      ctx.k.sys.sync();
      const before = ctx.k.info();
      ctx.say(`disk full after ${n} files; ${before.freeBlocks} blocks free; deleting every other file`);
      await ctx.loop(Math.floor(n / 2), "deleted:", (i) => { ctx.fs.unlinkSync(`${dir}/f${2 * i}`); });
      ctx.k.sys.sync();
      const h = ctx.k.freeHistogram();
      ctx.say(`${ctx.k.info().freeBlocks} blocks free in ${h.reduce((a, b) => a + b, 0)} free extents; by-size tree: ${ctx.k.treeInfo(4).items} items`);
    },
  },
  {
    name: "large", title: "Write a large file",
    narration: "Writes one large file in 256 KiB writes, then fsyncs it: dirty pages pile up in the page cache, writeback sends them to disk as large writes, and free-behind drops the written pages.",
    async run(ctx) {
      ctx.fs.mkdirSync("/demo", { recursive: true });
      const avail = ctx.k.info().availBlocks * 4096;
      const size = Math.max(LARGE_WRITE_BYTES, Math.min(LARGE_FILE_BYTES, Math.floor((avail * 0.6) / LARGE_WRITE_BYTES) * LARGE_WRITE_BYTES));
      const path = "/demo/large.bin";
      ctx.select(path);
      const before = ctx.k.info();
      const chunk = new Uint8Array(LARGE_WRITE_BYTES);
      const fd = ctx.fs.openSync(path, "w");
      try {
        await ctx.loop(size / LARGE_WRITE_BYTES, "writes of 256 KiB:", (i) => {
          chunk.fill(i & 0xff);
          ctx.fs.writeSync(fd, chunk);
        });
        ctx.fs.fsyncSync(fd);
      } finally { ctx.fs.closeSync(fd); }
      const i = ctx.k.info();
      ctx.say(`${path}: ${formatBytes(size)} written and fsynced; ${i.writtenPages - before.writtenPages} pages written back, ${i.freebehind - before.freebehind} dropped behind, ${i.extentsAllocated - before.extentsAllocated} extents allocated`);
    },
  },
  {
    name: "journal", title: "Commit and checkpoint the journal",
    narration: "Runs 60 rounds of metadata changes (create, rename, delete 40 files), committing each round with sync: the journal's head moves round the ring; when the log fills, a checkpoint writes the blocks home and moves the tail.",
    async run(ctx) {
      const dir = freshDir(ctx, "journal");
      const before = ctx.k.info();
      for (let r = 0; r < JOURNAL_ROUNDS; r++) {
        for (let i = 0; i < JOURNAL_FILES; i++) ctx.fs.writeFileSync(`${dir}/r${r}-${i}`, "x");
        for (let i = 0; i < JOURNAL_FILES; i++) ctx.fs.renameSync(`${dir}/r${r}-${i}`, `${dir}/s${r}-${i}`);
        if (r > 0) for (let i = 0; i < JOURNAL_FILES; i++) ctx.fs.unlinkSync(`${dir}/s${r - 1}-${i}`);
        ctx.k.sys.sync();
        if (r % 10 === 9) {
          const i = ctx.k.info();
          ctx.say(`  round ${r + 1}: journal head ${i.journalHead} of ${i.journalBlocks}, ${i.commits - before.commits} commits, ${i.checkpoints - before.checkpoints} checkpoints`);
        }
        await ctx.yieldNow();
      }
      const i = ctx.k.info();
      ctx.say(`${i.commits - before.commits} commits, ${i.checkpoints - before.checkpoints} checkpoints, ${i.loggedBlocks - before.loggedBlocks} blocks logged, ${i.absorbed - before.absorbed} absorbed`);
    },
  },
];

/** The scenarios, in button order. */
export const SCENARIOS: readonly Scenario[] = scenarios;

/** Adds (or replaces, by name) a scenario: the hook for other features (webcrash: ACE crash states). */
export function addScenario(s: Scenario): void {
  const i = scenarios.findIndex((x) => x.name === s.name);
  if (i >= 0) scenarios[i] = s; else scenarios.push(s);
}

/** Runs scenario `name` on the host's live kernel; one line says how it ended. */
export async function runScenario(name: string, host: ScenarioHost): Promise<{ ok: boolean; message: string; longestChunkMs?: number }> {
  const s = scenarios.find((x) => x.name === name);
  if (s === undefined) return { ok: false, message: `no scenario '${name}' (have: ${scenarios.map((x) => x.name).join(", ")})` };
  const k = host.kernel();
  if (k === null) return { ok: false, message: "the kernel is not running" };
  host.say(`== ${s.title}`);
  host.say(s.narration);
  const ctx = new ScenarioContext(k, host);
  try {
    await s.run(ctx);
    return { ok: true, message: `${s.title}: done`, longestChunkMs: ctx.longestChunkMs };
  } catch (err) {
    const message = err instanceof Gone ? `${s.title}: stopped (${err.message})` : `${s.title}: ${errorMessage(err)}`;
    if (host.kernel() === k) host.say(message);
    return { ok: false, message };
  }
}
