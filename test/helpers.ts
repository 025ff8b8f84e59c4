// test/helpers.ts -- shared test fixtures: kernels on memory devices (the debug build, with
// assertions on), crash snapshots, corruption helpers.

import { MemoryBackend } from "../host/blockdev.js";
import { bootWith, type Kernel } from "../host/kernel.js";
import { kernelModule } from "../host/node.js";

export const MiB = 1 << 20;
export const BLOCK = 4096;

/** Formats a fresh memory device of `bytes` and returns it (not mounted). */
export function freshDevice(bytes = 64 * MiB): MemoryBackend {
  const dev = new MemoryBackend(bytes);
  const k = bootWith({ device: dev, module: kernelModule(true), mkfs: true, noMount: true, memoryMiB: 64 });
  // shutdown closes the device: keep the bytes and hand back a new backend over them
  const bytesCopy = dev.bytes;
  k.shutdown();
  return new MemoryBackend(bytesCopy);
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
