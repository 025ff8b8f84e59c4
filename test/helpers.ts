// test/helpers.ts -- shared test fixtures: kernels on memory devices (the debug build, with
// assertions on), crash snapshots, corruption helpers.

import { afterAll, expect } from "vitest";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";

export const MiB = 1 << 20;

/** Where oracle trees live: tmpfs (/dev/shm) where there is one, else the OS temp dir. */
export const TMPFS = nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();

/**
 * A new host directory TMPFS/prefix + 6 random characters, removed after the calling test
 * file's tests (call it at a file's top level, where afterAll may be called).
 */
export function scratchDir(prefix: string): string {
  const dir = nodeFs.mkdtempSync(path.join(TMPFS, prefix));
  afterAll(() => nodeFs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
export const BLOCK = 4096;

const templates = new Map<number, Uint8Array>();

/** A freshly formatted memory device of `bytes` (not mounted): a copy of a cached mkfs image. */
export function freshDevice(bytes = 64 * MiB): MemoryBackend {
  let image = templates.get(bytes);
  if (!image) {
    const dev = new MemoryBackend(bytes);
    const k = bootWith({ device: dev, module: kernelModule(true), mkfs: true, noMount: true, memoryMiB: 64 });
    image = dev.bytes; // shutdown closes the device: keep its bytes
    k.shutdown();
    templates.set(bytes, image);
  }
  return new MemoryBackend(new Uint8Array(image));
}

/** Boots the debug kernel on a device (mounting it). */
export function bootDevice(dev: MemoryBackend, memoryMiB = 64, log?: (l: string) => void): Kernel {
  return bootWith({ device: dev, module: kernelModule(true), memoryMiB, log });
}

/** A power cut: a copy of the device's bytes as they are now (whatever reached the disk). */
export function crashCopy(dev: MemoryBackend): MemoryBackend {
  return new MemoryBackend(new Uint8Array(dev.bytes));
}

/** Boots on `dev`, runs fsck, returns the problem count and the kernel (mounted). */
export function bootAndFsck(dev: MemoryBackend): { k: Kernel; problems: number; log: string[] } {
  const log: string[] = [];
  const k = bootDevice(dev, 64, (l) => log.push(l));
  const problems = k.fsck(true);
  return { k, problems, log: log.filter((l) => l.startsWith("fsck")) };
}

/** `n` deterministic pseudo-random bytes from `seed` (xorshift32). */
export function bytesOf(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed | 0) || 0x2545f491;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}

/** Runs fsck on a mounted kernel and expects no problem and no fsck report line. */
export function fsckClean(k: Kernel): void {
  const n = k.fsck(true);
  expect(k.logLines.filter((l) => l.startsWith("fsck")), "fsck report").toEqual([]);
  expect(n).toBe(0);
}
