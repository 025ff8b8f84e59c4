// host/web/bench.ts -- `bench` in the page's shell (issue 11 §6): the metadata benchmark of
// `npm run bench` (tools/bench.ts: N files of 100 B in 100 directories; create / stat /
// readdir / read / unlink) on the Origin Private File System, HelixFS beside ZenFS
// (@zenfs/core with @zenfs/dom's WebAccess backend, the browser's most used filesystem
// library) in one run, with ops/s and ratios.
//
// Layer: web role, a worker feature over host/vmm (a second kernel on its own OPFS image) and
// host/web/opfs.ts; ZenFS is loaded on first use (dynamic import), so the demo's worker does
// not carry it until `bench` runs. Interface: benchCommand, registered by initBench as the
// `bench` command of WebSystem; posts `bench.progress` ({ fraction, text }) and `bench.done`
// ({ files, rows }).
// Rules:
//  - both contenders use the same OPFS: HelixFS a fresh image file (BENCH_IMAGE) through a
//    FileSystemSyncAccessHandle, ZenFS a fresh directory (BENCH_DIR); both are removed after;
//  - each contender uses its own natural API: the kernel's synchronous fs (one syscall per
//    call), ZenFS's fs.promises (its OPFS backend is asynchronous);
//  - HelixFS's create and unlink phases end with a sync (journal commit + FLUSH to OPFS) that
//    is timed with them, so its figures include durability; ZenFS writes each file through OPFS
//    as it goes;
//  - the kernel phases yield to the worker's event loop every SLICE_MS; pauses are not timed.

import { bootWith } from "../vmm/kernel.js";
import { errorMessage } from "../shell/format.js";
import { openOpfsImage } from "./opfs.js";
import type { WebSystem } from "./system.js";

/** The OPFS image of the bench kernel and the OPFS directory of ZenFS (both removed after). */
export const BENCH_IMAGE = "helix-bench.img";
export const BENCH_DIR = "zenfs-bench";
/** Bench image and kernel memory (the CLI's bench uses 512 MiB of both for 3 rounds; one round needs less). */
const BENCH_IMAGE_BYTES = 256 << 20;
const BENCH_MEMORY_MIB = 256;
/** Directories the files spread over, and the file size (tools/bench.ts). */
const BENCH_DIRS = 100;
const FILE_BYTES = 100;
/** Default and largest file counts. */
const DEFAULT_FILES = 20_000;
const FILES_MAX = 200_000;
/** readdir passes over every directory (tools/bench.ts). */
const READDIR_PASSES = 5;
/** Kernel work between two yields, ms. */
const SLICE_MS = 50;
/** The target of issue 11 §6: HelixFS at least this many times ZenFS in every column. */
export const TARGET_RATIO = 10;

/** ops/s per phase (readdir: entries/s). */
export interface MetaResult { create: number; stat: number; readdir: number; read: number; unlink: number }
const PHASES: (keyof MetaResult)[] = ["create", "stat", "readdir", "read", "unlink"];

/** The synchronous calls the kernel's fs offers. */
interface SyncFs {
  mkdirSync(p: string, o?: { recursive?: boolean }): unknown;
  writeFileSync(p: string, d: Uint8Array): void;
  statSync(p: string): unknown;
  readdirSync(p: string): unknown;
  readFileSync(p: string): unknown;
  unlinkSync(p: string): void;
  syncSync(): void;
}

/** The promise calls ZenFS offers (node:fs/promises shape). */
interface PromiseFs {
  mkdir(p: string, o?: { recursive?: boolean }): Promise<unknown>;
  writeFile(p: string, d: Uint8Array): Promise<void>;
  stat(p: string): Promise<unknown>;
  readdir(p: string): Promise<string[]>;
  readFile(p: string): Promise<unknown>;
  unlink(p: string): Promise<void>;
}

const pause = () => new Promise<void>((r) => setTimeout(r, 0));
const rate = (n: number, ms: number) => (n * 1000) / Math.max(ms, 1e-3);

/**
 * Times `n` synchronous operations `op(i)`, yielding every SLICE_MS (pauses not timed); `tail`
 * (a sync) runs timed after the last one. Returns ops/s.
 */
async function timedSync(n: number, op: (i: number) => void, tail?: () => void): Promise<number> {
  let busy = 0;
  let i = 0;
  while (i < n) {
    const t = performance.now();
    while (i < n && performance.now() - t < SLICE_MS) op(i++);
    if (i >= n && tail) tail();
    busy += performance.now() - t;
    await pause();
  }
  if (n === 0 && tail) { const t = performance.now(); tail(); busy += performance.now() - t; }
  return rate(n, busy);
}

/** Times `n` awaited operations in order. Returns ops/s. */
async function timedAsync(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await op(i);
  return rate(n, performance.now() - t);
}

/** The metadata workload on the kernel's fs under `root`. */
async function helixMeta(f: SyncFs, root: string, files: number, progress: (s: string) => void): Promise<MetaResult> {
  const data = new Uint8Array(FILE_BYTES).fill(0x61);
  for (let d = 0; d < BENCH_DIRS; d++) f.mkdirSync(`${root}/d${d}`, { recursive: true });
  f.syncSync();
  const p = (i: number) => `${root}/d${i % BENCH_DIRS}/f${i}`;
  progress("helixfs create");
  const create = await timedSync(files, (i) => f.writeFileSync(p(i), data), () => f.syncSync());
  progress("helixfs stat");
  const stat = await timedSync(files, (i) => { f.statSync(p(i)); });
  progress("helixfs readdir");
  let entries = 0;
  const readdirOps = await timedSync(READDIR_PASSES * BENCH_DIRS, (i) => { entries += (f.readdirSync(`${root}/d${i % BENCH_DIRS}`) as string[]).length; });
  const readdir = readdirOps * entries / (READDIR_PASSES * BENCH_DIRS);
  progress("helixfs read");
  const read = await timedSync(files, (i) => { f.readFileSync(p(i)); });
  progress("helixfs unlink");
  const unlink = await timedSync(files, (i) => f.unlinkSync(p(i)), () => f.syncSync());
  return { create, stat, readdir, read, unlink };
}

/** The metadata workload on ZenFS's promises API under `root`. */
async function zenMeta(f: PromiseFs, root: string, files: number, progress: (s: string) => void): Promise<MetaResult> {
  const data = new Uint8Array(FILE_BYTES).fill(0x61);
  for (let d = 0; d < BENCH_DIRS; d++) await f.mkdir(`${root}/d${d}`, { recursive: true });
  const p = (i: number) => `${root}/d${i % BENCH_DIRS}/f${i}`;
  progress("zenfs create");
  const create = await timedAsync(files, (i) => f.writeFile(p(i), data));
  progress("zenfs stat");
  const stat = await timedAsync(files, (i) => f.stat(p(i)));
  progress("zenfs readdir");
  let entries = 0;
  const t = performance.now();
  for (let r = 0; r < READDIR_PASSES; r++) for (let d = 0; d < BENCH_DIRS; d++) entries += (await f.readdir(`${root}/d${d}`)).length;
  const readdir = rate(entries, performance.now() - t);
  progress("zenfs read");
  const read = await timedAsync(files, (i) => f.readFile(p(i)));
  progress("zenfs unlink");
  const unlink = await timedAsync(files, (i) => f.unlink(p(i)));
  return { create, stat, readdir, read, unlink };
}

/** The OPFS root directory of this origin. Throws when the browser has none. */
async function opfsRoot(): Promise<FileSystemDirectoryHandle> {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<FileSystemDirectoryHandle> } } }).navigator?.storage;
  if (storage?.getDirectory === undefined) throw new Error("this browser has no Origin Private File System: the benchmark needs it");
  return storage.getDirectory();
}

/** Runs HelixFS on a fresh OPFS image. */
async function runHelix(sys: WebSystem, files: number, progress: (s: string) => void): Promise<MetaResult> {
  const root = await opfsRoot();
  await root.removeEntry(BENCH_IMAGE).catch(() => undefined);
  const img = await openOpfsImage(BENCH_IMAGE, BENCH_IMAGE_BYTES);
  let k;
  try {
    k = bootWith({ device: img.backend, module: sys.module, memoryMiB: BENCH_MEMORY_MIB, mkfs: true, identity: { node: "browser", pid: 2, program: "helix bench", exclusive: true } });
  } catch (e) {
    img.backend.close();
    throw e;
  }
  try {
    return await helixMeta(k.fs as unknown as SyncFs, "/bench", files, progress);
  } finally {
    try { k.shutdown(); } catch { /* closing after a failure */ }
    img.backend.close();
    await root.removeEntry(BENCH_IMAGE).catch(() => undefined);
  }
}

/** Runs ZenFS (WebAccess over an OPFS directory). */
async function runZen(files: number, progress: (s: string) => void): Promise<MetaResult> {
  const root = await opfsRoot();
  await root.removeEntry(BENCH_DIR, { recursive: true }).catch(() => undefined);
  const dir = await root.getDirectoryHandle(BENCH_DIR, { create: true });
  const zen = await import("@zenfs/core");
  const { WebAccess } = await import("@zenfs/dom");
  await zen.configureSingle({ backend: WebAccess, handle: dir });
  try {
    return await zenMeta(zen.fs.promises as unknown as PromiseFs, "/bench", files, progress);
  } finally {
    await root.removeEntry(BENCH_DIR, { recursive: true }).catch(() => undefined);
  }
}

/** The result table: ops/s of both and the ratio per phase, a miss of the target marked. */
export function benchTable(files: number, h: MetaResult, z: MetaResult): { lines: string[]; rows: { phase: string; helix: number; zen: number; ratio: number }[] } {
  const rows = PHASES.map((ph) => ({ phase: ph, helix: h[ph], zen: z[ph], ratio: h[ph] / z[ph] }));
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const head = ["phase", "helixfs ops/s", "zenfs ops/s", "ratio", `target >= ${TARGET_RATIO}x`];
  const body = rows.map((r) => [r.phase, fmt(r.helix), fmt(r.zen), `${r.ratio.toFixed(1)}x`, r.ratio >= TARGET_RATIO ? "met" : "MISSED"]);
  const w = head.map((_, c) => Math.max(head[c].length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]) => cells.map((x, c) => (c === 0 ? x.padEnd(w[c]) : x.padStart(w[c]))).join("  ");
  return {
    rows,
    lines: [
      `metadata benchmark: ${files.toLocaleString("en-US")} files of ${FILE_BYTES} B in ${BENCH_DIRS} directories, both on OPFS (readdir: entries/s)`,
      line(head), ...body.map(line),
      "helixfs: the kernel's sync fs on an OPFS image (create and unlink include a sync: commit + FLUSH); zenfs: @zenfs/core fs.promises on @zenfs/dom WebAccess",
    ],
  };
}

/** Parses `bench [--files N]`. */
export function parseBenchArgs(args: string[]): { files: number } {
  let files = DEFAULT_FILES;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--files" && i + 1 < args.length) {
      const n = Number(args[++i]);
      if (!Number.isSafeInteger(n) || n < BENCH_DIRS || n > FILES_MAX) throw new Error(`--files must be an integer in ${BENCH_DIRS}..${FILES_MAX}`);
      files = n;
    } else {
      throw new Error(`unknown argument '${args[i]}'; usage: bench [--files N] (default ${DEFAULT_FILES})`);
    }
  }
  return { files };
}

/** The `bench` command of the page's shell. */
export async function benchCommand(args: string[], sys: WebSystem): Promise<void> {
  let files: number;
  try { ({ files } = parseBenchArgs(args)); } catch (e) { sys.print(`helix: bench: ${errorMessage(e)}\n`); return; }
  let step = 0;
  const progress = (s: string) => {
    step++;
    sys.post({ type: "bench.progress", fraction: step / 10, text: s });
    sys.print(`\r\x1b[Kbench: ${s} (${files.toLocaleString("en-US")} files)...`);
  };
  let h: MetaResult, z: MetaResult;
  try {
    h = await runHelix(sys, files, progress);
    z = await runZen(files, progress);
  } catch (e) {
    sys.print(`\nhelix: bench: ${errorMessage(e)}\n`);
    return;
  }
  sys.print("\r\x1b[K");
  const t = benchTable(files, h, z);
  for (const l of t.lines) sys.print(l + "\n");
  sys.post({ type: "bench.done", files, rows: t.rows });
}

/** Sets the bench feature up on the worker's system: the shell's `bench` command. */
export function initBench(sys: WebSystem): void {
  sys.addCommand({
    name: "bench", usage: "bench [--files N]", run: benchCommand,
    does: `the metadata benchmark on OPFS, HelixFS beside ZenFS (default ${DEFAULT_FILES} files)`,
  });
}
