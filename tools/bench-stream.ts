// tools/bench-stream.ts -- the `stream` section of `npm run bench` (issue 13's target): a
// 256 MiB file streamed through createReadStream on kernel.fs against the same on Node's fs
// over tmpfs, in the same run.
//
// Workloads, each on both sides, best of STREAM_ROUNDS rounds, MB/s (10^6 bytes/s):
//  - read -> sink: createReadStream (64 KiB highWaterMark) piped into a Writable that drops
//    its chunks (stream.pipeline);
//  - read -> write: createReadStream through a PassThrough into createWriteStream (a copy);
//  - bound: a readSync loop of 64 KiB calls into a fresh Buffer per call (what the stream's
//    reads cost without the stream), and the same into one reused buffer.
// The kernel runs on a memory device (as tmpfs keeps its files in memory); its caches are
// dropped before each kernel read, so every block is read from the device and its checksum
// verified. Interface: benchStream(opts) -> StreamBench; printStream(result, print).

import * as fs from "node:fs";
import * as path from "node:path";
import { PassThrough, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { bootSync, memoryDevice } from "../host/node/node.js";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import type { Kernel } from "../host/vmm/kernel.js";

const MiB = 1 << 20;
/** Rounds per figure; each reports its best. */
export const STREAM_ROUNDS = 3;
/** The streams' highWaterMark (Node's default) and the bound's call size. */
const CHUNK = 64 * 1024;
/** Target of issue 13: kernel.fs / Node fs for the read stream. */
export const STREAM_TARGET = 0.7;

/** MB/s per workload for one side. */
export interface StreamSide { sink: number; copy: number; readSync: number; readSyncReused: number }
export interface StreamBench { mib: number; kernel: StreamSide; node: StreamSide }

/** The calls the workloads need (kernel.fs and node:fs both fit). */
type StreamFs = Pick<typeof fs, "createReadStream" | "createWriteStream" | "openSync" | "readSync" | "closeSync" | "rmSync">;

/** A Writable that counts and drops what it is given. */
function sink(): Writable & { bytes: number } {
  const w = new Writable({ write(chunk: Buffer, _enc, cb) { w.bytes += chunk.length; cb(); }, highWaterMark: CHUNK }) as Writable & { bytes: number };
  w.bytes = 0;
  return w;
}

const mbps = (bytes: number, ms: number): number => bytes / 1e3 / ms;

async function sinkRound(f: StreamFs, file: string, bytes: number): Promise<number> {
  const s = sink();
  const t = performance.now();
  await pipeline(f.createReadStream(file), s);
  const ms = performance.now() - t;
  if (s.bytes !== bytes) throw new Error(`stream bench: read ${s.bytes} of ${bytes} bytes`);
  return mbps(bytes, ms);
}

async function copyRound(f: StreamFs, file: string, to: string, bytes: number): Promise<number> {
  const t = performance.now();
  await pipeline(f.createReadStream(file), new PassThrough({ highWaterMark: CHUNK }), f.createWriteStream(to));
  const ms = performance.now() - t;
  f.rmSync(to);
  return mbps(bytes, ms);
}

function readSyncRound(f: StreamFs, file: string, bytes: number, reuse: boolean): number {
  const one = Buffer.allocUnsafeSlow(CHUNK);
  const t = performance.now();
  const fd = f.openSync(file, "r");
  let total = 0;
  for (;;) {
    const n = f.readSync(fd, reuse ? one : Buffer.allocUnsafeSlow(CHUNK), 0, CHUNK, null);
    if (n === 0) break;
    total += n;
  }
  f.closeSync(fd);
  const ms = performance.now() - t;
  if (total !== bytes) throw new Error(`stream bench: readSync got ${total} of ${bytes} bytes`);
  return mbps(bytes, ms);
}

/** Best of `rounds` of each workload on one side; `before` runs ahead of each kernel read (drop caches). */
async function side(f: StreamFs, file: string, to: string, bytes: number, before: () => void): Promise<StreamSide> {
  const r: StreamSide = { sink: 0, copy: 0, readSync: 0, readSyncReused: 0 };
  for (let i = 0; i < STREAM_ROUNDS; i++) {
    before(); r.sink = Math.max(r.sink, await sinkRound(f, file, bytes));
    before(); r.copy = Math.max(r.copy, await copyRound(f, file, to, bytes));
    before(); r.readSync = Math.max(r.readSync, readSyncRound(f, file, bytes, false));
    before(); r.readSyncReused = Math.max(r.readSyncReused, readSyncRound(f, file, bytes, true));
  }
  return r;
}

function kernelWith(deviceMiB: number): Kernel {
  const dev = memoryDevice(deviceMiB * MiB);
  const k0 = bootSync({ device: dev, mkfs: true, noMount: true, memoryMiB: 512 });
  const bytes = dev.bytes;
  k0.shutdown();
  return bootSync({ device: new MemoryBackend(bytes), memoryMiB: 512 });
}

/** Runs the section: `mib` MiB on kernel.fs (memory device) and on Node's fs in `tmpDir`. */
export async function benchStream(mib: number, tmpDir: string): Promise<StreamBench> {
  const bytes = mib * MiB;
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
  // Node's fs on tmpfs
  const dir = fs.mkdtempSync(path.join(tmpDir, "helix-bench-stream-"));
  let node: StreamSide;
  try {
    fs.writeFileSync(path.join(dir, "f"), data);
    node = await side(fs, path.join(dir, "f"), path.join(dir, "copy"), bytes, () => {});
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // kernel.fs on a memory device with room for the file and its copy
  const k = kernelWith(2 * mib + 128);
  let kernel: StreamSide;
  try {
    k.fs.writeFileSync("/f", data);
    kernel = await side(k.fs as unknown as StreamFs, "/f", "/copy", bytes, () => k.dropCaches());
  } finally {
    k.shutdown();
  }
  return { mib, kernel, node };
}

/** Prints the section's table with `printTable(title, head, rows)`. */
export function printStream(r: StreamBench, printTable: (title: string, head: string[], rows: string[][]) => void): void {
  const f = (v: number) => v.toFixed(0);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const cols: (keyof StreamSide)[] = ["sink", "copy", "readSync", "readSyncReused"];
  printTable(`streams: ${r.mib} MiB file, 64 KiB chunks (MB/s), best of ${STREAM_ROUNDS} rounds; kernel caches dropped before each read`,
    ["", "createReadStream -> sink", "-> PassThrough -> createWriteStream", "bound: readSync 64 KiB, fresh Buffer", "readSync 64 KiB, one buffer"], [
      ["kernel.fs (memory device)", ...cols.map((c) => f(r.kernel[c]))],
      ["node fs (tmpfs)", ...cols.map((c) => f(r.node[c]))],
      ["kernel.fs / node fs", ...cols.map((c) => x(r.kernel[c], r.node[c]))],
      ["target", `>= ${STREAM_TARGET.toFixed(2)}x`, "", "", ""],
      ["stream / its readSync bound", x(r.kernel.sink, r.kernel.readSync), "", "", ""],
    ]);
}
