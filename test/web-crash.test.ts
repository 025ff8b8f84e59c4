// test/web-crash.test.ts -- the browser demo's power cut, crashtest and benchmark (issue 11
// §4, §6) end to end in headless Debian Chromium (playwright-core, no browser download):
// write and fsync (`sync FILE`) one file, write another without; pull the plug; the replay
// view and the terminal show the recovery, fsck is clean, the fsynced file survived with its
// bytes and the other is gone; `crashtest` from the page's shell prints a summary with no
// violations and the CLI's reproduction format; `bench` runs HelixFS and ZenFS on the same OPFS
// and prints its table.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { browserMissing, startWeb, terminalText, type WebEnv } from "./browser.js";

/** Files of the page's benchmark: small in the test; HELIX_WEB_BENCH_FILES=20000 measures the figure. */
const BENCH_FILES = Number(process.env.HELIX_WEB_BENCH_FILES ?? 1000);
/** HELIX_WEB_CRASH_FULL=1 runs the whole of ace1 in the page (the states/s figure) instead of a sample. */
const CRASH_FULL = process.env.HELIX_WEB_CRASH_FULL === "1";
const skip = browserMissing();

let env: WebEnv;
let page: Page;

const termText = terminalText;

const PROMPT = /^helix:[^\n]*#/gm;
const prompts = (t: string): number => (t.match(PROMPT) ?? []).length;

/**
 * Types a shell line and waits for the next prompt with `until` matching the output since the
 * line was typed. Returns that output.
 */
async function run(p: Page, line: string, until: RegExp = /[\s\S]/, timeout = 60_000): Promise<string> {
  const before = (await termText(p)).trimEnd();
  const n = prompts(before);
  const from = before.lastIndexOf("\nhelix:") + 1;
  await p.evaluate((l) => (window as unknown as { helix: { term: { type(s: string): void } } }).helix.term.type(l), line);
  const t0 = Date.now();
  for (;;) {
    const text = (await termText(p)).trimEnd();
    const out = text.slice(from);
    if (prompts(text) > n && until.test(out)) return out;
    if (Date.now() - t0 > timeout) throw new Error(`timed out after '${line}':\n${out.slice(-2000)}`);
    await p.waitForTimeout(100);
  }
}

describe.skipIf(skip !== null)("browser demo: power cut, crashtest, bench", () => {
  beforeAll(async () => {
    env = await startWeb();
    page = await (await env.newContext()).newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    await page.goto(env.url);
    await page.waitForFunction(() => (window as unknown as { helix?: unknown }).helix !== undefined);
    await page.waitForFunction(() => /booted/.test(document.getElementById("status")?.textContent ?? ""), null, { timeout: 30_000 });
    // a fresh filesystem for this run (the OPFS image persists across runs)
    await page.evaluate(() => (window as unknown as { helix: { bus: { send(m: unknown): void } } }).helix.bus.send({ type: "boot", format: true }));
    await page.waitForTimeout(500);
    await run(page, "ls /");
  }, 120_000);

  afterAll(async () => { await env?.close(); });

  it("pull the plug: the fsynced file survives with its bytes, the unsynced one is gone, the replay view shows the recovery, fsck is clean", async () => {
    await run(page, "mkdir /docs; echo 'kept after the cut' > /docs/kept.txt; sync /docs/kept.txt");
    await run(page, "echo 'never synced' > /docs/lost.txt; cat /docs/lost.txt", /never synced/);
    await page.click("#power-cut");
    await page.waitForSelector("#replay-fsck", { timeout: 60_000 });
    const fsckText = await page.textContent("#replay-fsck");
    expect(fsckText).toBe("fsck: clean");
    const kept = await page.getAttribute('#replay-files tr[data-path="/docs/kept.txt"]', "data-status");
    const lost = await page.getAttribute('#replay-files tr[data-path="/docs/lost.txt"]', "data-status");
    expect(kept).toBe("survived");
    expect(lost).toBe("lost");
    const keptWhy = await page.textContent('#replay-files tr[data-path="/docs/kept.txt"] td:last-child');
    expect(keptWhy).toMatch(/fsync'ed by `sync FILE`/);
    const steps = await page.$$eval("#replay-steps li", (ls) => ls.map((l) => `${l.getAttribute("data-kind")}: ${l.textContent}`));
    expect(steps.join("\n")).toMatch(/found: journal: found \d+ committed transaction/);
    expect(steps.join("\n")).toMatch(/replayed: journal: replayed transaction \d+: \d+ of \d+ logged blocks written home/);
    const term = await termText(page);
    expect(term).toMatch(/POWER CUT/);
    expect(term).toMatch(/journal: replayed transaction/);
    expect(term).toMatch(/\[power\] fsck: clean/);
    expect(term).toMatch(/survived \/docs\/kept\.txt/);
    expect(term).toMatch(/lost +\/docs\/lost\.txt/);
    // the rebooted kernel serves the recovered state
    const out = await run(page, "cat /docs/kept.txt; ls /docs", /kept after the cut[\s\S]*kept\.txt/);
    expect(out).not.toMatch(/lost\.txt/);
  }, 120_000);

  it("pull the plug in the middle of a command, random subset with torn sectors: the kernel recovers, fsck is clean, what was synced before survives", async () => {
    await run(page, "echo 'durable' > /before.txt; sync");
    await page.selectOption("#power-mode", "random");
    await page.fill("#power-seed", "5");
    await page.fill("#power-line", "mkdir /burst; echo one > /burst/a; echo two > /burst/b; sync /burst/a; echo three > /burst/c; sync");
    await page.fill("#power-writes", "4");
    await page.click("#power-cut-during");
    await page.waitForFunction(() => document.getElementById("replay-view")?.dataset.reports === "2", null, { timeout: 60_000 });
    expect(await page.textContent("#replay-fsck")).toBe("fsck: clean");
    expect(await page.textContent("#replay-cut")).toMatch(/seed 5|cache was empty/);
    expect(await page.getAttribute('#replay-files tr[data-path="/before.txt"]', "data-status")).toBe("survived");
    const term = await termText(page);
    expect(term).toMatch(/\[power\] the plug goes after 4 device writes of: mkdir \/burst/);
    const out = await run(page, "cat /before.txt", /durable/);
    expect(out).toMatch(/durable/);
  }, 120_000);

  it("crashtest from the page's shell: a sample of ace1 prints the CLI's summary with no violations; a typed workload too; bad options are one line", async () => {
    const out = await run(page, `crashtest ace1 --seed 3${CRASH_FULL ? "" : " --sample 6"}`, /states per second/, 1_200_000);
    expect(out).toMatch(CRASH_FULL ? /crashtest \[=+\] \d+\/\d+ \|/ : /crashtest \[=+\] 6\/6 \|/);
    expect(out).toMatch(CRASH_FULL ? /^workloads +\d+ \(ace1, seed 3\)$/m : /^workloads +6 \(ace1, sample of 6, seed 3\)$/m);
    expect(out).toMatch(/^violations +0$/m);
    const states = Number(/^crash states +(\d+)$/m.exec(out)![1]);
    expect(states).toBeGreaterThan(50);
    const rate = /^states per second +(\d+)/m.exec(out)![1];
    console.log(`page crashtest: ${states} states, ${rate} states/s`);
    const status = await page.textContent("#crash-status");
    expect(status).toMatch(/0 violations/);
    const typed = await run(page, "crashtest -c 'touch /A/x; sync /A/x; mv /A/x /B/y; fsync-parent /B/y; write /B/y 0 5000; sync'", /states per second/, 120_000);
    expect(typed).toMatch(/^workloads +1 \(--steps, seed 1\)$/m);
    expect(typed).toMatch(/^violations +0$/m);
    const help = await run(page, "help", /^quoting: /m);
    expect(help).toMatch(/^ {2}crashtest \[ace1/m);
    expect(help).toMatch(/^ {2}bench \[--files N\]/m);
    const bad = await run(page, "crashtest ace9");
    expect(bad).toMatch(/^helix: crashtest: unknown argument 'ace9'; usage: crashtest/m);
    const bad2 = await run(page, "crashtest -c 'touch /A/x'");
    expect(bad2).toMatch(/^helix: crashtest: the last operation needs a persistence point/m);
  }, 1_500_000);

  it("crashtest with the kernel's journal ordering broken finds violations and prints the CLI's reproduction lines", async () => {
    const out = await run(page, "crashtest ace1 --sample 12 --break 1", /states per second[\s\S]*helix: crashtest: \d+ violation/, 120_000);
    expect(out).toMatch(/^ {2}reproduce: helix crashtest --workload ace1 --seed 1 --only ace1-\d+ --state \S+ --break 1$/m);
  }, 240_000);

  it("bench in the page: HelixFS and ZenFS on the same OPFS, a table with ops/s and ratios", async () => {
    const out = await run(page, `bench --files ${BENCH_FILES}`, /metadata benchmark[\s\S]*unlink/, 1_200_000);
    console.log(out.split("\n").filter((l) => !l.startsWith("bench:")).join("\n"));
    expect(out).toMatch(new RegExp(`^metadata benchmark: ${BENCH_FILES.toLocaleString("en-US")} files of 100 B in 100 directories, both on OPFS`, "m"));
    for (const phase of ["create", "stat", "readdir", "read", "unlink"]) {
      const m = new RegExp(`^${phase} +([\\d,]+) +([\\d,]+) +([\\d.]+)x +(met|MISSED)$`, "m").exec(out);
      expect(m, phase).not.toBeNull();
      expect(Number(m![1].replace(/,/g, ""))).toBeGreaterThan(0);
      expect(Number(m![2].replace(/,/g, ""))).toBeGreaterThan(0);
    }
    const bad = await run(page, "bench --files 5");
    expect(bad).toMatch(/^helix: bench: --files must be an integer in 100\.\.200000$/m);
  }, 1_500_000);
});
