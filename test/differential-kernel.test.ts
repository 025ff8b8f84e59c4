// test/differential-kernel.test.ts -- the kernel's fs against Linux (Node's fs on tmpfs):
// thousands of seeded random operation sequences, including error cases and reboots, must
// give identical results. A mismatch prints the seed and op to reproduce.

import { describe, it, expect } from "vitest";
import { runDifferential, type DifferentialSubject } from "./differential.js";
import { freshDevice, bootDevice, MiB } from "./helpers.js";
import type { Kernel } from "../host/vmm/kernel.js";
import { MemoryBackend } from "../host/vmm/blockdev.js";

const SEEDS = Number(process.env.HELIX_DIFF_SEEDS ?? 1000);
const OPS = Number(process.env.HELIX_DIFF_OPS ?? 150);
const BLOCK_SEEDS = 100;

function kernelSubject(): DifferentialSubject {
  let current = freshDevice(32 * MiB);
  let k: Kernel = bootDevice(current);
  const subject: DifferentialSubject = {
    fs: k.fs,
    root: "/",
    reboot() {
      // clean shutdown closes the backend: reopen the same bytes
      expect(k.fsck(true)).toBe(0);
      const bytes = current.bytes;
      k.shutdown();
      current = new MemoryBackend(bytes);
      k = bootDevice(current);
      subject.fs = k.fs;
    },
    dispose() {
      const problems = k.fsck(true);
      const log = k.logLines.filter((l) => l.startsWith("fsck"));
      k.shutdown();
      expect(log).toEqual([]);
      expect(problems).toBe(0);
    },
  };
  return subject;
}

describe("differential: kernel fs vs Node fs on tmpfs", () => {
  for (let block = 0; block < SEEDS; block += BLOCK_SEEDS) {
    it(`seeds ${block}..${Math.min(block + BLOCK_SEEDS, SEEDS) - 1} (${OPS} ops each)`, () => {
      for (let seed = block; seed < Math.min(block + BLOCK_SEEDS, SEEDS); seed++) {
        const report = runDifferential({ makeSubject: kernelSubject, seed: 1000 + seed, ops: OPS, rebootRate: 0.02 });
        expect(report.ops).toBe(OPS);
      }
    });
  }
});
