// test/web-files.test.ts -- the page worker's file logic (host/web/files.ts) under Node: an
// upload is checked on a copy-on-write view (its bytes never change) and refused with the
// CLI's one line; a drop is walked like the CLI's import (bad names refused before anything is
// copied) and a full disk stops it with the import's line.

import { describe, expect, it } from "vitest";
import { bootSync, kernelModule } from "../host/node/node.js";
import { MemoryBackend, SECTOR_SIZE } from "../host/vmm/blockdev.js";
import { CliError } from "../host/shell/format.js";
import { OverlayBackend, checkImage, copyDrop, dropTree } from "../host/web/files.js";
import type { DroppedEntry } from "../host/web/protocol.js";

const MiB = 2 ** 20;
const file = (path: string, text: string): DroppedEntry => ({ kind: "file", path, bytes: new TextEncoder().encode(text).buffer as ArrayBuffer, mtimeMs: Date.UTC(2024, 0, 2) });

/** A formatted image's bytes (made under Node, as a visitor would upload it). */
function imageBytes(size = 8 * MiB): Uint8Array {
  const dev = new MemoryBackend(size);
  const k = bootSync({ device: dev, mkfs: true, memoryMiB: 32 });
  k.fs.writeFileSync("/hello", "hi\n");
  const bytes = dev.bytes.slice();
  k.shutdown();
  return bytes;
}

describe("checkImage", () => {
  it("accepts a good image without changing a byte of it", () => {
    const img = imageBytes();
    const before = img.slice();
    expect(checkImage("ok.img", img, kernelModule())).toBeNull();
    expect(Buffer.compare(img, before)).toBe(0); // (toEqual walks 8 MiB element by element: ~1 min)
  });

  it("refuses what the CLI refuses, with its line", () => {
    expect(checkImage("bad.img", new Uint8Array(8 * MiB).fill(0x5a), kernelModule())).toBe("bad.img: mount failed: not a HelixFS image (no superblock magic)");
    expect(checkImage("odd.img", new Uint8Array(1000), kernelModule())).toBe("'odd.img' is not a HelixFS image (size 1000 is not a multiple of 512 bytes of at least 4 KiB)");
    expect(checkImage("tiny.img", new Uint8Array(1 * MiB), kernelModule())).toBe("tiny.img: mount failed: device too small for a HelixFS image");
    // a truncated copy of a good image
    expect(checkImage("cut.img", imageBytes().slice(0, 4 * MiB), kernelModule())).toMatch(/^cut\.img: mount failed: /);
  });
});

describe("OverlayBackend", () => {
  it("reads its writes back and leaves the base bytes as they were", () => {
    const base = new Uint8Array(8 * SECTOR_SIZE).fill(1);
    const o = new OverlayBackend(base);
    o.write(SECTOR_SIZE, new Uint8Array(2 * SECTOR_SIZE).fill(2));
    const out = new Uint8Array(4 * SECTOR_SIZE);
    o.read(0, out);
    expect([out[0], out[SECTOR_SIZE], out[3 * SECTOR_SIZE - 1], out[3 * SECTOR_SIZE]]).toEqual([1, 2, 2, 1]);
    expect(base.every((b) => b === 1)).toBe(true);
    expect(() => o.read(1, out)).toThrow(/EINVAL/);
    o.close();
    expect(() => o.read(0, out)).toThrow(/EBADF/);
  });
});

describe("drops", () => {
  it("walks files and folders like the import (dirs before their children, names in byte order)", () => {
    const { tree } = dropTree([file("b.txt", "b"), { kind: "dir", path: "d" }, file("d/x", "xx"), file("a.txt", "a")]);
    expect(tree.entries.map((e) => `${e.kind} ${e.rel.toString()}`)).toEqual(["dir ", "file a.txt", "file b.txt", "dir d", "file d/x"]);
    expect([tree.files, tree.dirs, tree.bytes]).toEqual([3, 1, 4]);
  });

  it("refuses bad names before anything is copied, with the import's line", () => {
    const long = "n".repeat(256);
    expect(() => dropTree([file(long, "y")])).toThrow(`'the dropped items' holds an entry named '${long}': name longer than NAME_MAX (256 > 255 bytes); refusing to copy it`);
    expect(() => dropTree([file("d/../../x", "y")])).toThrow(/'d' holds an entry named '\.\.': '\.\.' stored as a name/);
    expect(() => dropTree([file("f", "1"), file("f/g", "2")])).toThrow(CliError);
  });

  it("copies into the current directory with mtimes; a full disk stops with the import's line and the kernel goes on", () => {
    const k = bootSync({ device: new MemoryBackend(8 * MiB), mkfs: true, memoryMiB: 32 });
    try {
      k.fs.mkdirSync("/in");
      expect(copyDrop(k.fs, [file("top.txt", "top\n"), file("f/one.txt", "one\n")], "/in")).toBe("copied 2 files, 1 dir, 8 bytes (8 B) into /in");
      expect(k.fs.readFileSync("/in/f/one.txt", "utf8")).toBe("one\n");
      expect(k.fs.statSync("/in/top.txt").mtimeMs).toBe(Date.UTC(2024, 0, 2));
      const big: DroppedEntry = { kind: "file", path: "big.bin", bytes: new ArrayBuffer(16 * MiB), mtimeMs: 0 };
      expect(() => copyDrop(k.fs, [big], "/in")).toThrow(/^import stopped at 'big\.bin' -> \/in\/big\.bin: ENOSPC/);
      k.fs.unlinkSync("/in/big.bin");
      k.fs.writeFileSync("/in/after", "ok");
      expect(k.fs.readFileSync("/in/after", "utf8")).toBe("ok");
    } finally {
      k.shutdown();
    }
  });
});

describe("the commit timer (sys_commit_timer, what the page's worker calls while the kernel idles)", () => {
  it("commits a running transaction once it is older than the commit interval, so a lost page keeps it", () => {
    const dev = new MemoryBackend(8 * MiB);
    const k = bootSync({ device: dev, mkfs: true, memoryMiB: 32 });
    let crashed: Uint8Array;
    try {
      k.callExport("sys_set_commit_interval", 50);
      k.fs.writeFileSync("/timed", "committed by the timer\n");
      expect(k.callExport("sys_commit_timer")).toBe(0); // younger than the interval: not due
      const t = Date.now();
      while (Date.now() - t < 80) { /* let the transaction age */ }
      expect(k.callExport("sys_commit_timer")).toBe(1);
      expect(k.callExport("sys_commit_timer")).toBe(0); // nothing left to commit
      crashed = dev.bytes.slice(); // the power goes here: no unmount
    } finally {
      k.shutdown();
    }
    const k2 = bootSync({ device: new MemoryBackend(crashed), memoryMiB: 32 });
    try {
      expect(k2.fs.readFileSync("/timed", "utf8")).toBe("committed by the timer\n");
    } finally {
      k2.shutdown();
    }
  });
});
