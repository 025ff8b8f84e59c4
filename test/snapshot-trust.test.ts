// test/snapshot-trust.test.ts -- the kernel trusts no field of a snapshot record it reads from
// an image (assembly/fs/snapshot.ts rec_sound): a record whose name length disagrees with its
// length, with unknown flags or with a tree taller than HEIGHT_MAX is EUCLEAN to the call
// that meets it (one log line, the filesystem read-only), never a trap or a copy past the
// record; the live files stay readable. Oracle: the same image without the edit works.
// An image of the format before snapshots (test/fixtures/pre-snapshot.img.gz: made by the
// kernel of commit cf96ed3 with one file) is refused by name, never misread.

import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { runHelix } from "./cli-run.js";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { bootWith, KernelError } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { MiB, freshDevice } from "./helpers.js";
import { editValue, findItem } from "./image-edit.js";

const TREE_SNAP = 5;

/** An image holding /a and snapshot "s1" (committed, checkpointed, unmounted). */
function imageWithSnapshot(): Uint8Array {
  const dev = freshDevice(16 * MiB);
  const k = bootWith({ device: dev, module: kernelModule(false), memoryMiB: 64 });
  k.fs.writeFileSync("/a", "live bytes");
  k.snapshots.create("s1");
  const bytes = dev.bytes; // the array outlives the backend's close
  k.shutdown();
  return bytes;
}

function boot(img: Uint8Array) {
  return bootWith({ device: new MemoryBackend(img), module: kernelModule(false), memoryMiB: 64 });
}

const edits: [string, (v: DataView) => void][] = [
  ["a name length past the record", (v) => v.setUint32(20, 300, true)],
  ["a name length of 0 on a snapshot", (v) => v.setUint32(20, 0, true)],
  ["unknown flags", (v) => v.setUint32(16, 0x80, true)],
  ["an inode tree 200 levels tall", (v) => v.setUint32(24 + 8, 200, true)],
];

describe("a crafted snapshot record", () => {
  it("the unedited image lists s1 and boots it (the oracle)", () => {
    const k = boot(imageWithSnapshot());
    expect(k.snapshots.list().map((s) => s.name)).toEqual(["s1"]);
    k.shutdown();
  });

  for (const [what, edit] of edits) {
    it(`with ${what} is EUCLEAN to list, never a trap; the live files stay readable`, () => {
      const img = imageWithSnapshot();
      editValue(img, findItem(img, TREE_SNAP, () => true), (v) => edit(v));
      const k = boot(img);
      expect(k.fs.readFileSync("/a", "utf8")).toBe("live bytes");
      let err: unknown = null;
      try { k.snapshots.list(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(KernelError);
      expect((err as KernelError).code).toBe("EUCLEAN");
      expect(k.logLines.some((l) => l.includes("corrupt snapshot record"))).toBe(true);
      expect(k.isDead).toBe(false);
      expect(k.fs.readFileSync("/a", "utf8")).toBe("live bytes");
      k.shutdown();
    });
  }
});

describe("an image made before snapshots", () => {
  const old = () => new Uint8Array(gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "pre-snapshot.img.gz"))));

  it("is refused at mount with the reason, EINVAL, never misread", () => {
    let err: unknown = null;
    try { boot(old()); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toBe("EINVAL");
    expect((err as Error).message).toMatch(/predates snapshots/);
  });

  it("helix boot and helix fsck say so in one line with a non-zero exit", async () => {
    const dir = fs.mkdtempSync(path.join("/dev/shm", "helix-old-"));
    try {
      const img = path.join(dir, "old.img");
      fs.writeFileSync(img, old());
      for (const args of [["boot", img, "-c", "ls /"], ["fsck", img]]) {
        const r = await runHelix(dir, args, 60_000);
        expect(r.code).not.toBe(0);
        const lines = r.stderr.trim().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^helix: .*the image predates snapshots/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
