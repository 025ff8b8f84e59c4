// test/browser.ts -- the end-to-end tests' browser: the built page (dist/web) served by Vite's
// preview server, Debian's Chromium driven by playwright-core, and helpers that type shell
// lines into the page's terminal.
//
// Layer: tests (Node). Interface: CHROMIUM, browserMissing(), buildWeb(), startWeb() ->
// WebEnv (url, browser, newPage(), close()), openPage(), waitForPrompt(), shell(),
// terminalText(), lastBoot(). Rules:
//  - no browser download: Chromium is /usr/bin/chromium (.ci/run installs Debian's package);
//    missing, a test file skips with the reason outside CI and fails in CI (CI=true);
//  - the page is built only when dist/web is missing or older than its inputs (host/,
//    build/helix.wasm, vite.config.ts), through Vite's JS API;
//  - each WebEnv has its own free port (4601-4609 unless WEB_TEST_PORTS says otherwise) and
//    closes everything it started.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { build, preview, type PreviewServer } from "vite";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Debian's Chromium (the `chromium` package). */
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** The built page. */
export const WEB_OUT = join(ROOT, "dist/web");
/** Ports the tests may serve on (first..last). */
const PORTS = (process.env.WEB_TEST_PORTS ?? "4601-4609").split("-").map(Number);
/** Chromium's flags: headless, no sandbox (CI runs as root), nothing that reaches the network. */
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
/** How long a shell line may run before the test gives up (ms). */
export const LINE_TIMEOUT_MS = 20_000;

/**
 * Why the browser tests cannot run, or null when they can. Throws in CI (CI=true) when
 * Chromium is missing: there a skipped end-to-end test would hide a broken setup.
 */
export function browserMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const why = `${CHROMIUM} is missing (install Debian's chromium package: apt-get install -y chromium)`;
  if (process.env.CI === "true") throw new Error(`browser tests cannot run in CI: ${why}`);
  return why;
}

/** Newest mtime (ms) of the files under `p` (a file or a folder). */
function newest(p: string): number {
  let st;
  try { st = statSync(p); } catch { return 0; }
  if (!st.isDirectory()) return st.mtimeMs;
  let n = 0;
  for (const e of readdirSync(p)) n = Math.max(n, newest(join(p, e)));
  return n;
}

/** Whether dist/web is missing or older than what it is built from. */
export function webStale(): boolean {
  const index = join(WEB_OUT, "index.html");
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return [join(ROOT, "host"), join(ROOT, "build/helix.wasm"), join(ROOT, "vite.config.ts")].some((p) => newest(p) > built);
}

/** The lock several test files (vitest runs them in parallel processes) build the page under. */
const BUILD_LOCK = join(ROOT, "dist/.web-build.lock");
/** A lock older than this (ms) was left by a killed run. */
const BUILD_LOCK_STALE_MS = 120_000;

/**
 * Builds the page (vite build) when it is stale, under BUILD_LOCK so that parallel test files
 * never write dist/web at the same time (the second one finds it fresh). Throws when the
 * kernel is not built.
 */
export async function buildWeb(): Promise<void> {
  if (!existsSync(join(ROOT, "build/helix.wasm"))) throw new Error("build/helix.wasm is missing: run 'npm run build:kernel'");
  if (!webStale()) return;
  mkdirSync(dirname(BUILD_LOCK), { recursive: true });
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      let age = 0;
      try { age = Date.now() - statSync(BUILD_LOCK).mtimeMs; } catch { continue; }
      if (age > BUILD_LOCK_STALE_MS) { rmSync(BUILD_LOCK, { recursive: true, force: true }); continue; }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (webStale()) await build({ configFile: join(ROOT, "vite.config.ts"), root: join(ROOT, "host/web"), logLevel: "warn" });
  } finally {
    rmSync(BUILD_LOCK, { recursive: true, force: true });
  }
}

/** A free TCP port on 127.0.0.1 in PORTS. */
async function freePort(): Promise<number> {
  for (let p = PORTS[0]; p <= (PORTS[1] ?? PORTS[0]); p++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(p, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error(`no free port in ${PORTS.join("-")}`);
}

/** A served page and a browser to open it. */
export interface WebEnv {
  /** The page's URL (http://localhost:PORT/: localhost is a secure origin, OPFS works). */
  url: string;
  browser: Browser;
  server: PreviewServer;
  /** A new browser context (its own OPFS) and a page in it, not yet loaded. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Builds if needed, serves dist/web and launches Chromium. */
export async function startWeb(): Promise<WebEnv> {
  await buildWeb();
  const port = await freePort();
  const server = await preview({
    configFile: join(ROOT, "vite.config.ts"), root: join(ROOT, "host/web"), logLevel: "warn",
    preview: { port, strictPort: true, host: "127.0.0.1", open: false },
  });
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  } catch (err) {
    await server.close();
    throw err;
  }
  return {
    url: `http://localhost:${port}/`,
    browser,
    server,
    newContext: () => browser.newContext({ acceptDownloads: true }),
    async close() {
      await browser.close().catch(() => {});
      await server.close();
    },
  };
}

/** Waits until the page's terminal shows a prompt (the kernel booted and the shell waits). */
export async function waitForPrompt(page: Page, timeout = LINE_TIMEOUT_MS): Promise<void> {
  await page.waitForFunction(() => (window as unknown as { helix?: { term: { promptShown(): boolean } } }).helix?.term.promptShown() === true, null, { timeout });
}

/** Opens `url` in `page` and waits for the shell's prompt. */
export async function openPage(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await waitForPrompt(page);
}

/**
 * Types `line` at the shell and waits for the next prompt; returns what the worker printed
 * in between (command output and error lines, \n line ends), with `error` messages as the
 * page prints them (`helix: ...`). A `fatal` ends the wait with `FATAL: ...` appended.
 */
export async function shell(page: Page, line: string, timeout = LINE_TIMEOUT_MS): Promise<string> {
  return page.evaluate(({ line, timeout }) => new Promise<string>((resolve, reject) => {
    type Bus = { on(t: string, fn: (m: Record<string, unknown>) => void): () => void };
    const helix = (window as unknown as { helix: { bus: Bus; term: { type(l: string): void } } }).helix;
    let out = "";
    const offs: (() => void)[] = [];
    const done = (fn: () => void) => { clearTimeout(timer); offs.forEach((f) => f()); fn(); };
    const timer = setTimeout(() => done(() => reject(new Error(`no prompt ${timeout} ms after '${line}'; output so far: ${out}`))), timeout);
    offs.push(helix.bus.on("term.out", (m) => { out += String(m.text); }));
    offs.push(helix.bus.on("error", (m) => { out += `helix: ${String(m.message)}\n`; }));
    offs.push(helix.bus.on("term.prompt", () => done(() => resolve(out))));
    offs.push(helix.bus.on("fatal", (m) => done(() => resolve(`${out}FATAL: ${String(m.message)}\n`))));
    helix.term.type(line);
  }), { line, timeout });
}

/** The terminal's text as the user sees it (wrapped lines joined, trailing blanks cut). */
export async function terminalText(page: Page): Promise<string> {
  return page.evaluate(() => {
    type Line = { isWrapped: boolean; translateToString(trim: boolean): string };
    const t = (window as unknown as { helix: { term: { term: { buffer: { active: { length: number; getLine(i: number): Line | undefined } } } } } }).helix.term.term;
    const b = t.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) {
      const l = b.getLine(i);
      if (l === undefined) continue;
      const s = l.translateToString(true);
      if (l.isWrapped && lines.length > 0) lines[lines.length - 1] += s;
      else lines.push(s);
    }
    return lines.join("\n").replace(/\s+$/, "");
  });
}

/** The last `booted` message the page got (bootMs, readyMs, backend, imageBytes, notice). */
export async function lastBoot(page: Page): Promise<{ bootMs: number; readyMs: number; backend: string; imageBytes: number; notice: string | null } | null> {
  return page.evaluate(() => (window as unknown as { helix: { lastBoot(): never } }).helix.lastBoot());
}

/**
 * Waits for the next worker message of `type` after `action` runs in the page's context (so
 * it cannot be missed); returns the message.
 */
export async function nextMessage(page: Page, type: string, action: () => Promise<void>, timeout = LINE_TIMEOUT_MS): Promise<Record<string, unknown>> {
  await page.evaluate(({ type }) => {
    type Bus = { on(t: string, fn: (m: Record<string, unknown>) => void): () => void };
    const w = window as unknown as { helix: { bus: Bus }; __next?: Promise<Record<string, unknown>> };
    w.__next = new Promise((resolve) => { const off = w.helix.bus.on(type, (m) => { off(); resolve({ ...m, bytes: undefined }); }); });
  }, { type });
  await action();
  return page.evaluate(({ timeout }) => {
    const w = window as unknown as { __next: Promise<Record<string, unknown>> };
    return Promise.race([w.__next, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out")), timeout))]);
  }, { timeout });
}
