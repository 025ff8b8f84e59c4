// test/web-system.test.ts -- the page's worker system (host/web/system.ts, files.ts) under Node,
// where OPFS is missing and the image falls back to memory with a notice: boot, the shell and
// its `download`, the image download (cleanly unmounted) and upload (checked first), a kernel
// panic that becomes a `fatal` line and a reboot that recovers, reformat.

import { afterEach, describe, expect, it } from "vitest";
import { bootSync, kernelModule } from "../host/node/node.js";
import { KernelPanic } from "../host/vmm/kernel.js";
import { STATE_CLEAN } from "../host/shell/format.js";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { FILES, downloadCommand } from "../host/web/files.js";
import { WebSystem } from "../host/web/system.js";
import type { PageMessage, WorkerMessage } from "../host/web/protocol.js";

type Msg = WorkerMessage & Record<string, unknown>;

/** A worker system whose posts are collected; `text()` is the terminal output so far. */
function system() {
  const posts: Msg[] = [];
  const sys = new WebSystem(Promise.resolve(kernelModule()), (m) => { posts.push(m as Msg); });
  sys.extensions.push(downloadCommand(sys));
  const take = () => posts.splice(0);
  const text = (ms: Msg[]) => ms.filter((m) => m.type === "term.out").map((m) => String(m.text)).join("");
  const run = (line: string) => { sys.runLine(line); return text(take().filter((m) => m.type !== "term.prompt")); };
  const send = (m: Record<string, unknown>) => FILES[String(m.type)](m as PageMessage & Record<string, unknown>, sys);
  return { sys, posts, take, text, run, send };
}

let live: WebSystem[] = [];
afterEach(() => { for (const s of live) s.shutdown(); live = []; });

describe("the page's worker system (memory fallback under Node)", () => {
  it("boots with a notice, runs the shell, and downloads files through `download`", async () => {
    const w = system();
    live.push(w.sys);
    await w.sys.boot();
    const boot = w.take().find((m) => m.type === "booted")!;
    expect(boot.backend).toBe("memory");
    expect(String(boot.notice)).toBe("this browser has no Origin Private File System: the image lives in memory and is lost on reload");
    expect(w.run("mkdir /d; echo data > /d/f; cat /d/f")).toBe("data\n");
    expect(w.run("help")).toMatch(/download FILE\.\.\. +save files of the image/);
    w.sys.runLine("download /d/f /nope");
    const ms = w.take();
    expect(ms.filter((m) => m.type === "file.bytes").map((m) => [m.name, new TextDecoder().decode(m.bytes as ArrayBuffer)])).toEqual([["f", "data\n"]]);
    expect(w.text(ms)).toBe("download: /d/f: 5 bytes\nhelix: download: /nope: No such file or directory\n");
  });

  it("a download whose unmount fails sends no image: one fatal line, and a reboot recovers", async () => {
    const w = system();
    live.push(w.sys);
    await w.sys.boot();
    w.take();
    const k = w.sys.kernel!;
    k.shutdown = () => { throw new Error("EIO: i/o error"); };
    await w.send({ type: "image.download" });
    const ms = w.take();
    expect(ms.find((m) => m.type === "image.bytes")).toBeUndefined();
    expect(ms.filter((m) => m.type === "fatal").map((m) => m.message)).toEqual(["helix.img: unmount failed: EIO: i/o error"]);
    expect(w.sys.kernel).toBeNull();
    await w.sys.boot();
    expect(w.take().some((m) => m.type === "booted")).toBe(true);
    expect(w.run("ls /")).toBe("");
  });

  it("downloads a cleanly unmounted image that boots under Node, and keeps working", async () => {
    const w = system();
    live.push(w.sys);
    await w.sys.boot();
    w.run("mkdir /x; cd /x; echo kept > k");
    w.take();
    await w.send({ type: "image.download" });
    const ms = w.take();
    const img = ms.find((m) => m.type === "image.bytes")!;
    expect(w.text(ms)).toMatch(/unmounting to save a consistent copy of the image\n[^]*was cleanly unmounted/);
    const log: string[] = [];
    const k = bootSync({ device: new MemoryBackend(new Uint8Array(img.bytes as ArrayBuffer)), memoryMiB: 32, log: (l) => log.push(l) });
    try {
      expect(k.fs.readFileSync("/x/k", "utf8")).toBe("kept\n");
      expect(k.info().mountFoundState).toBe(STATE_CLEAN); // no replay
      expect(log.filter((l) => l.includes("MMP"))).toEqual([]); // no holder to wait out or take over
    } finally {
      k.shutdown();
    }
    expect(w.run("pwd; cat k")).toBe("/x\nkept\n");
  });

  it("refuses a bad upload with one line and keeps the kernel; boots a good one", async () => {
    const w = system();
    live.push(w.sys);
    await w.sys.boot();
    w.run("echo before > /b");
    w.take();
    const garbage = new Uint8Array(8 << 20).fill(0x5a);
    await w.send({ type: "image.upload", name: "bad.img", bytes: garbage.buffer });
    expect(w.take()).toEqual([{ type: "error", message: "bad.img: mount failed: not a HelixFS image (no superblock magic)" }]);
    expect(w.run("cat /b")).toBe("before\n");
    const dev = new MemoryBackend(16 << 20);
    const k = bootSync({ device: dev, mkfs: true, memoryMiB: 32 });
    k.fs.writeFileSync("/node", "from node\n");
    k.fs.syncSync();
    // taken while Node still has it mounted: the MMP block names a live holder on another
    // host, which the page's private image does not wait out (11 s otherwise)
    const bytes = dev.bytes.slice().buffer;
    k.shutdown();
    const t0 = performance.now();
    await w.send({ type: "image.upload", name: "good.img", bytes });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(w.take().find((m) => m.type === "booted")?.imageBytes).toBe(16 << 20);
    expect(w.run("cat /node; ls /")).toBe("from node\nnode\n");
  });

  it("a kernel panic is one fatal line; Reboot recovers what was committed, Reformat starts empty", async () => {
    const w = system();
    live.push(w.sys);
    await w.sys.boot();
    w.run("echo safe > /s; sync");
    w.take();
    w.sys.shell!.run = () => { throw new KernelPanic("unreachable executed"); };
    w.sys.runLine("ls");
    expect(w.take()).toEqual([{ type: "fatal", message: "kernel panic: unreachable executed" }]);
    expect(w.sys.kernel).toBeNull();
    w.sys.runLine("ls");
    expect(w.take()).toEqual([{ type: "error", message: "the kernel is not running: reboot or reformat" }]);
    await w.sys.boot();
    w.take();
    expect(w.run("cat /s")).toBe("safe\n");
    await w.sys.boot(true);
    w.take();
    expect(w.run("ls /")).toBe("");
  });
});
