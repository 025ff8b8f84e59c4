// test/demo.test.ts -- `npm run demo` (bin/demo.js): serves the built page on localhost and
// prints its URL; the URL answers with the page; bad arguments are one line and exit 1.

import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import * as path from "node:path";
import { buildWeb, ROOT } from "./browser.js";

const DEMO = path.join(ROOT, "bin", "demo.js");
/** How long the demo may take to print its URL (the page is built before, by buildWeb). */
const START_TIMEOUT_MS = 60_000;

describe("npm run demo", () => {
  it("serves the page and prints the URL; the page loads from it; SIGTERM stops it", async () => {
    await buildWeb();
    const child = spawn(process.execPath, [DEMO, "--port", "4690"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    try {
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL after ${START_TIMEOUT_MS} ms: ${out}`)), START_TIMEOUT_MS);
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /(http:\/\/\S+)/.exec(out);
          if (m) { clearTimeout(timer); resolve(m[1]); }
        });
        child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`demo exited with ${code}: ${out}`)); });
      });
      expect(url).toMatch(/^http:\/\/(localhost|127\.0\.0\.1):4690\/$/);
      const page = await (await fetch(url)).text();
      expect(page).toContain("<title>HelixFS");
      expect(page).toMatch(/src="\.\/assets\//); // relative URLs
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  }, 120_000);

  it("refuses a bad argument with one line and exit code 1", () => {
    for (const args of [["--port", "99999"], ["--bogus"], ["--host"]]) {
      const r = spawnSync(process.execPath, [DEMO, ...args], { cwd: ROOT, encoding: "utf8" });
      expect(r.status, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.stderr).toMatch(/^helix demo: /);
    }
  });
});
