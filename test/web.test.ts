// test/web.test.ts -- the browser demo end to end in Debian's headless Chromium (issue 11 §5,
// but the power cut, which test/power*.test.ts covers): the shell's output, persistence in
// OPFS across a reload, the image downloaded and booted under Node with every file compared,
// a corrupted upload refused with the CLI's line while the page goes on, a good upload
// booted, dropped files and folders (and the drop's errors), a second tab refused with EBUSY,
// reformat of a broken image, and the boot time to the prompt (target <= 300 ms, 64 MiB).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { bootSync } from "../host/node/node.js";
import {
  WEB_OUT, browserMissing, lastBoot, nextMessage, openPage, shell, startWeb, terminalText, waitForPrompt, type WebEnv,
} from "./browser.js";

const skip = browserMissing();
if (skip !== null) console.warn(`web.test.ts skipped: ${skip}`);

/** Boot-time runs per kind (the median is reported; WEB_BOOT_RUNS=N for more). */
const BOOT_RUNS = Number(process.env.WEB_BOOT_RUNS ?? 5);
/** The issue's target: boot to the prompt of a 64 MiB image, from the worker's start (ms). */
const BOOT_TARGET_MS = 300;
/** Bound on the first boot's median (mkfs included), see the test. */
const FIRST_BOOT_BOUND_MS = 2 * BOOT_TARGET_MS;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Strips the kernel log's "[    0.012345] " stamps and ANSI colours. */
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

describe.skipIf(skip !== null)("browser demo", () => {
  let env: WebEnv;
  let ctx: BrowserContext;
  let page: Page;
  let tmp: string;

  beforeAll(async () => {
    env = await startWeb();
    ctx = await env.newContext();
    page = await ctx.newPage();
    page.on("dialog", (d) => void d.accept());
    tmp = mkdtempSync(join(tmpdir(), "helix-web-"));
    await openPage(page, env.url);
  });

  afterAll(async () => {
    await env?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("runs the shell's commands with the CLI's output", async () => {
    expect(await shell(page, "mkdir /docs /docs/sub")).toBe("");
    expect(await shell(page, "echo hello web > /docs/a.txt")).toBe("");
    expect(await shell(page, "cat /docs/a.txt")).toBe("hello web\n");
    expect(await shell(page, "cd /docs; echo second >> a.txt; cat a.txt; pwd")).toBe("hello web\nsecond\n/docs\n");
    const ls = await shell(page, "ls -l /docs");
    expect(ls).toMatch(/^total \d+\n-rw-r--r-- +1 +0 +0 +17 \d{4}-\d\d-\d\d \d\d:\d\d a\.txt\ndrwxr-xr-x +2 +0 +0 +\d+ .* sub\n$/);
    expect(await shell(page, "mv a.txt sub/b.txt; ls sub")).toBe("b.txt\n");
    expect(await shell(page, "cat a.txt")).toBe("helix: cat: a.txt: No such file or directory\n");
    expect(await shell(page, "echo gone > /x; rm /x; ls /")).toBe("docs\n");
    expect(await shell(page, "rm /docs")).toBe("helix: rm: /docs: Is a directory\n");
    expect(await shell(page, "frobnicate")).toBe("helix: frobnicate: command not found (try 'help')\n");
    expect(await shell(page, "help")).toContain("download FILE...");
    // the terminal shows the same, prompt included
    expect(await terminalText(page)).toContain("helix:/docs# cat a.txt\nhelix: cat: a.txt: No such file or directory");
  });

  it("keeps the files in OPFS across a reload", async () => {
    await shell(page, "mkdir /keep; echo persisted > /keep/p.txt");
    await page.reload();
    await waitForPrompt(page);
    const boot = await lastBoot(page);
    expect(boot?.backend).toBe("opfs");
    expect(await shell(page, "cat /keep/p.txt /docs/sub/b.txt")).toBe("persisted\nhello web\nsecond\n");
    // the page unmounted on pagehide (else the commit timer's last commit is replayed)
    expect(plain(await terminalText(page))).toMatch(/helixfs \(vda\): was (cleanly unmounted|not cleanly unmounted: recovery replayed)/);
  });

  it("downloads a file through the page's `download` command", async () => {
    const [dl] = await Promise.all([page.waitForEvent("download"), shell(page, "download /keep/p.txt")]);
    expect(dl.suggestedFilename()).toBe("p.txt");
    const saved = join(tmp, "p.txt");
    await dl.saveAs(saved);
    expect(readFileSync(saved, "utf8")).toBe("persisted\n");
    expect(await shell(page, "download /nope /keep")).toBe("helix: download: /nope: No such file or directory\n");
    expect(await shell(page, "download")).toBe("helix: download: missing operand\n");
  });

  it("copies dropped files and folders into the current directory", async () => {
    await shell(page, "mkdir /in; cd /in");
    const out = await dropAndWait(page, [
      { path: "top.txt", text: "top\n" },
      { path: "folder/one.txt", text: "one\n" },
      { path: "folder/deeper/two.bin", text: "two two\n" },
      { path: "folder/empty", dir: true },
    ]);
    expect(out).toMatch(/^copied 3 files, 3 dirs, 16 bytes \(16 B\) into \/in\n$/);
    expect(await shell(page, "cat top.txt folder/one.txt folder/deeper/two.bin; ls folder")).toBe("top\none\ntwo two\ndeeper\nempty\none.txt\n");
    // a name over NAME_MAX: refused with the import's line, nothing copied
    const long = "n".repeat(300);
    expect(await dropAndWait(page, [{ path: "ok.txt", text: "x" }, { path: long, text: "y" }]))
      .toBe(`helix: 'the dropped items' holds an entry named '${long}': name longer than NAME_MAX (300 > 255 bytes); refusing to copy it\n`);
    expect(await shell(page, "ls")).toBe("folder\ntop.txt\n");
    // a full disk: the copy stops with ENOSPC, the page and kernel go on
    const full = await dropAndWait(page, [{ path: "big.bin", size: 80 * 2 ** 20 }]);
    expect(full).toMatch(/^helix: import stopped at 'big\.bin' -> \/in\/big\.bin: .*(ENOSPC|No space left)/);
    expect(await shell(page, "rm big.bin; echo after > after.txt; cat after.txt")).toBe("after\n");
  });

  it("takes a real drop event on the terminal, and reads dropped folders recursively", async () => {
    await shell(page, "cd /in");
    // a drop as the browser delivers it: a DragEvent whose DataTransfer holds Files
    const out = await page.evaluate(() => new Promise<string>((resolve) => {
      type Bus = { on(t: string, fn: (m: Record<string, unknown>) => void): () => void };
      const helix = (window as unknown as { helix: { bus: Bus } }).helix;
      const offs = [helix.bus.on("term.out", (m) => { offs.forEach((f) => f()); resolve(String(m.text)); }),
        helix.bus.on("error", (m) => { offs.forEach((f) => f()); resolve(`helix: ${String(m.message)}\n`); })];
      const dt = new DataTransfer();
      dt.items.add(new File(["dragged\n"], "dragged.txt", { lastModified: Date.UTC(2023, 5, 1) }));
      const el = document.getElementById("terminal")!;
      el.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
      el.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }));
    expect(out).toBe("copied 1 file, 0 dirs, 8 bytes (8 B) into /in\n");
    expect(await shell(page, "cat dragged.txt")).toBe("dragged\n");
    // a dropped folder: the page's reader walks directory entries (readEntries answers in
    // batches until an empty one), here entries shaped as Chromium's
    const entries = await page.evaluate(async () => {
      const fileEntry = (name: string, text: string) => ({ name, isFile: true, isDirectory: false, file: (ok: (f: File) => void) => ok(new File([text], name)) });
      const dirEntry = (name: string, batches: unknown[][]) => ({
        name, isFile: false, isDirectory: true,
        createReader: () => { let i = 0; return { readEntries: (ok: (e: unknown[]) => void) => ok(batches[i++] ?? []) }; },
      });
      const tree = dirEntry("photos", [[fileEntry("a.jpg", "A")], [fileEntry("b.jpg", "BB"), dirEntry("raw", [[fileEntry("c.raw", "CCC")]])]]);
      const read = await (window as unknown as { helix: { readDrop(items: unknown[]): Promise<{ kind: string; path: string; bytes?: ArrayBuffer }[]> } }).helix.readDrop([tree]);
      return read.map((e) => `${e.kind} ${e.path}${e.bytes ? ` ${e.bytes.byteLength}` : ""}`);
    });
    expect(entries).toEqual(["dir photos", "file photos/a.jpg 1", "file photos/b.jpg 2", "dir photos/raw", "file photos/raw/c.raw 3"]);
  });

  it("downloads the image, which helix boots under Node with every file as the page wrote it", async () => {
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#btn-download")]);
    expect(dl.suggestedFilename()).toBe("helix.img");
    const img = join(tmp, "helix.img");
    await dl.saveAs(img);
    await waitForPrompt(page);
    // the page's kernel is mounted again and its shell kept its directory
    expect(await shell(page, "pwd")).toBe("/in\n");
    const k = bootSync({ image: img, memoryMiB: 64 });
    try {
      const fs = k.fs;
      const files: Record<string, string> = {
        "/docs/sub/b.txt": "hello web\nsecond\n", "/keep/p.txt": "persisted\n", "/in/top.txt": "top\n",
        "/in/folder/one.txt": "one\n", "/in/folder/deeper/two.bin": "two two\n", "/in/after.txt": "after\n",
        "/in/dragged.txt": "dragged\n",
      };
      for (const [p, text] of Object.entries(files)) expect(fs.readFileSync(p, "utf8")).toBe(text);
      expect(fs.readdirSync("/").sort()).toEqual(["docs", "in", "keep"]);
      expect(fs.readdirSync("/in/folder/empty")).toEqual([]);
      expect(k.fsck(false)).toBe(0);
    } finally {
      k.shutdown();
    }
    writeFileSync(join(tmp, "ok"), "");
  });

  it("refuses a corrupted upload with the CLI's line and keeps the kernel and image", async () => {
    const bad = Buffer.alloc(8 * 2 ** 20, 0x5a);
    expect(await upload(page, "bad.img", bad)).toBe("helix: bad.img: mount failed: not a HelixFS image (no superblock magic)\n");
    expect(await upload(page, "odd.img", Buffer.alloc(1000))).toBe("helix: 'odd.img' is not a HelixFS image (size 1000 is not a multiple of 512 bytes of at least 4 KiB)\n");
    expect(await shell(page, "cat /keep/p.txt")).toBe("persisted\n");
    expect(await terminalText(page)).toContain("helix: bad.img: mount failed: not a HelixFS image (no superblock magic)");
  });

  it("boots an uploaded image made under Node", async () => {
    const img = join(tmp, "node.img");
    const k = bootSync({ image: img, createBytes: 32 * 2 ** 20, mkfs: true, memoryMiB: 64 });
    k.fs.mkdirSync("/from-node");
    k.fs.writeFileSync("/from-node/n.txt", "made under node\n");
    k.shutdown();
    const bootMsg = nextMessage(page, "booted", () => uploadFile(page, "node.img", readFileSync(img)));
    await bootMsg;
    await waitForPrompt(page);
    expect((await lastBoot(page))?.imageBytes).toBe(32 * 2 ** 20);
    expect(await shell(page, "cat /from-node/n.txt; ls /")).toBe("made under node\nfrom-node\n");
  });

  it("refuses a second tab with EBUSY, and the first goes on", async () => {
    const second = await ctx.newPage();
    const fatal = await second.goto(env.url).then(() => second.waitForSelector("#fatal:not([hidden])"));
    expect(await fatal.textContent()).toContain("helix.img: in use by another tab of this page");
    await second.close();
    expect(await shell(page, "ls /")).toBe("from-node\n");
  });

  it("shows a broken image's error with one line, and Reformat makes a new filesystem", async () => {
    // the worker lets go of the image (as when the page closes); the page then writes
    // garbage over it through OPFS, as a broken browser profile or a bad upload might leave it
    await page.evaluate(() => (window as unknown as { helix: { bus: { send(m: unknown): void } } }).helix.bus.send({ type: "shutdown" }));
    await page.evaluate(async () => {
      const dir = await navigator.storage.getDirectory();
      const fh = await dir.getFileHandle("helix.img");
      for (let i = 0; ; i++) {
        try {
          const w = await fh.createWritable();
          await w.write(new Uint8Array(8 << 20).fill(0x5a));
          await w.close();
          return;
        } catch (err) {
          if (i > 50) throw err; // the worker's handle is closed by its next message turn
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    await page.click("#btn-reboot");
    const fatal = await page.waitForSelector("#fatal:not([hidden])");
    expect(await fatal.textContent()).toContain("helix.img: mount failed: not a HelixFS image (no superblock magic)");
    await nextMessage(page, "booted", () => page.click("#btn-reformat"));
    await waitForPrompt(page);
    expect(await page.isHidden("#fatal")).toBe(true);
    expect((await lastBoot(page))?.imageBytes).toBe(64 * 2 ** 20);
    expect(await shell(page, "ls /; echo fresh > /f; cat /f")).toBe("fresh\n");
  });

  it("a worker that failed outside the kernel's guard is replaced by Reboot, and the image is still there", async () => {
    await shell(page, "echo survives > /w; sync");
    // what the browser reports when the worker's script throws where nothing catches it
    await page.evaluate(() => {
      const w = (window as unknown as { helix: { bus: { worker: Worker } } }).helix.bus.worker;
      w.onerror!(new ErrorEvent("error", { message: "Uncaught RangeError: boom", cancelable: true }));
    });
    const fatal = await page.waitForSelector("#fatal:not([hidden])");
    expect(await fatal.textContent()).toContain("the kernel's worker failed: Uncaught RangeError: boom");
    // Reboot ends that worker (its OPFS handle with it) and starts a new one
    await nextMessage(page, "booted", () => page.click("#btn-reboot"));
    await waitForPrompt(page);
    expect(await shell(page, "cat /w")).toBe("survives\n");
  });

  it("works from a sub-path of a static host (relative URLs)", async () => {
    const server = createServer((req, res) => {
      const m = /^\/some\/dir\/(.*)$/.exec((req.url ?? "").split("?")[0]);
      const rel = m === null ? null : (m[1] === "" ? "index.html" : m[1]);
      if (rel === null || rel.includes("..") || !existsSync(join(WEB_OUT, rel))) { res.writeHead(404).end(); return; }
      const type = rel.endsWith(".html") ? "text/html" : rel.endsWith(".js") ? "text/javascript" : rel.endsWith(".css") ? "text/css" : rel.endsWith(".wasm") ? "application/wasm" : "application/octet-stream";
      res.writeHead(200, { "content-type": type }).end(readFileSync(join(WEB_OUT, rel)));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const c = await env.newContext();
    try {
      const p = await c.newPage();
      await openPage(p, `http://localhost:${(server.address() as AddressInfo).port}/some/dir/`);
      expect(await shell(p, "echo sub-path ok")).toBe("sub-path ok\n");
    } finally {
      await c.close();
      server.close();
    }
  });

  it("boots a 64 MiB image to the prompt within the target", async () => {
    const first: number[] = [], again: number[] = [];
    for (let i = 0; i < BOOT_RUNS; i++) {
      const c = await env.newContext();
      const p = await c.newPage();
      await openPage(p, env.url);
      const b1 = await lastBoot(p);
      expect(b1?.imageBytes).toBe(64 * 2 ** 20);
      first.push(b1!.readyMs);
      await p.reload();
      await waitForPrompt(p);
      again.push((await lastBoot(p))!.readyMs);
      await c.close();
    }
    console.log(`boot to prompt, 64 MiB image, from the worker's start (median of ${BOOT_RUNS}): ` +
      `first boot with mkfs ${median(first).toFixed(0)} ms [${first.map((x) => x.toFixed(0)).join(", ")}], ` +
      `reboot of the image ${median(again).toFixed(0)} ms [${again.map((x) => x.toFixed(0)).join(", ")}] (target ${BOOT_TARGET_MS} ms)`);
    expect(median(again)).toBeLessThanOrEqual(BOOT_TARGET_MS);
    // a first visit also creates the OPFS file and runs mkfs (~100 ms of OPFS writes): its
    // median is at the target on an idle machine; the bound here keeps a shared CI machine
    // from failing on noise while still catching a regression of the first boot
    expect(median(first)).toBeLessThanOrEqual(FIRST_BOOT_BOUND_MS);
  });
});

/** One item of a synthetic drop: a file (text or `size` zero bytes) or a folder. */
interface DropItem { path: string; text?: string; size?: number; dir?: boolean }

/**
 * Drops `items` on the terminal as the browser would (a DataTransfer of Files through the
 * page's drop code: readDrop's entries are not constructible, so the folder structure goes
 * in the entries' paths through the same `files.drop` message) and returns what the worker
 * printed (its report, or its error line as the page shows it).
 */
async function dropAndWait(page: Page, items: DropItem[]): Promise<string> {
  return page.evaluate((items) => new Promise<string>((resolve) => {
    type Bus = { on(t: string, fn: (m: Record<string, unknown>) => void): () => void; send(m: unknown, t?: Transferable[]): void };
    const helix = (window as unknown as { helix: { bus: Bus } }).helix;
    const offs: (() => void)[] = [];
    const done = (s: string) => { offs.forEach((f) => f()); resolve(s); };
    offs.push(helix.bus.on("term.out", (m) => done(String(m.text))));
    offs.push(helix.bus.on("error", (m) => done(`helix: ${String(m.message)}\n`)));
    const entries = items.map((it) => it.dir
      ? { kind: "dir", path: it.path }
      : { kind: "file", path: it.path, bytes: it.text !== undefined ? new TextEncoder().encode(it.text).buffer : new ArrayBuffer(it.size ?? 0), mtimeMs: Date.UTC(2024, 0, 2) });
    helix.bus.send({ type: "files.drop", entries });
  }), items);
}

/** Where uploadFile puts the files it uploads (the page reads them after setInputFiles returns). */
const UPLOADS = mkdtempSync(join(tmpdir(), "helix-up-"));
afterAll(() => rmSync(UPLOADS, { recursive: true, force: true }));

/**
 * Uploads `bytes` as a file named `name` through the page's upload field (from a file: a
 * buffer would cross the DevTools protocol in base64, seconds for a few MiB). The file stays
 * until the tests end: the page reads it asynchronously.
 */
async function uploadFile(page: Page, name: string, bytes: Buffer): Promise<void> {
  const dir = mkdtempSync(join(UPLOADS, "u"));
  writeFileSync(join(dir, name), bytes);
  await page.setInputFiles("#upload", join(dir, name));
}

/** Uploads and returns the error line the page prints (`helix: ...`). */
async function upload(page: Page, name: string, bytes: Buffer): Promise<string> {
  const m = await nextMessage(page, "error", () => uploadFile(page, name, bytes));
  return `helix: ${String(m.message)}\n`;
}
