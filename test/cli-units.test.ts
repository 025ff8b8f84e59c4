// test/cli-units.test.ts -- pieces of the CLI tested in-process: the progress bar's ETA
// (against the true remaining time of a simulated import), coreutils' human sizes (against
// GNU numfmt), and `npx helix` resolving this package's own bin (bin/link-self.js) with the
// npm 6 npx that a dev dependency installs into node_modules/.bin.

import { describe, expect, it, vi } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Progress, formatEta, FILE_WORK_BYTES } from "../host/cli/progress.js";
import { humanSize } from "../host/shell/format.js";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A node_modules-like tree: many small files, now and then a big one (sizes in bytes). */
function treeSizes(n: number, seed: number): number[] {
  let x = seed >>> 0;
  const rnd = () => { x = (x * 1664525 + 1013904223) >>> 0; return x / 2 ** 32; };
  return Array.from({ length: n }, () => (rnd() < 0.01 ? Math.floor(2e6 + rnd() * 8e6) : Math.floor(50 + rnd() * 3000)));
}

/** The simulated host: a cost per file unlike FILE_WORK_BYTES's (on purpose) plus a byte rate. */
const PER_FILE_MS = 5, MS_PER_BYTE = 1000 / (10 * 1024 * 1024);

/** Seconds of a bar's `ETA ...` text (45s, 2m15s, 1h02m), or null for "-" / none. */
function etaSeconds(frame: string): number | null {
  const m = /ETA (?:(\d+)h(\d\d)m|(\d+)m(\d\d)s|(\d+)s)\b/.exec(frame);
  if (m === null) return null;
  if (m[1] !== undefined) return Number(m[1]) * 3600 + Number(m[2]) * 60;
  if (m[3] !== undefined) return Number(m[3]) * 60 + Number(m[4]);
  return Number(m[5]);
}

describe("the progress bar's ETA", () => {
  it("the ETA the bar draws stays close to the true remaining time of an import of many small files and a few big ones", () => {
    const sizes = treeSizes(4000, 3);
    const cost = sizes.map((b) => PER_FILE_MS + b * MS_PER_BYTE);
    const total = cost.reduce((a, b) => a + b, 0);
    let now = 0;
    // cli-progress reads Date.now() (redraw throttle; its own ETA): it follows the simulated clock
    const spy = vi.spyOn(Date, "now").mockImplementation(() => now);
    const frames: { t: number; text: string }[] = [];
    const stream = { write: (s: string) => { frames.push({ t: now, text: s }); return true; }, isTTY: true, columns: 200, cursorTo() { return true; }, clearLine() { return true; }, moveCursor() { return true; }, on() { return stream; }, removeListener() { return stream; } };
    try {
      const p = new Progress("import", sizes.reduce((a, b) => a + b, 0), sizes.length, true, { now: () => now, stream: stream as unknown as NodeJS.WritableStream });
      for (let i = 0; i < sizes.length; i++) {
        now += cost[i];
        p.add(sizes[i], 1);
      }
      p.stop();
    } finally {
      spy.mockRestore();
    }
    const shown = frames.map((f) => ({ t: f.t, eta: etaSeconds(f.text) })).filter((f) => f.eta !== null && f.t > 0.1 * total);
    expect(shown.length).toBeGreaterThan(20);
    for (const f of shown) {
      const left = (total - f.t) / 1000;
      expect(Math.abs(f.eta! - left), `ETA ${f.eta} s shown at ${(f.t / 1000).toFixed(1)} s, ${left.toFixed(1)} s left`).toBeLessThanOrEqual(0.5 * left + 2);
    }
    expect(FILE_WORK_BYTES).toBeGreaterThan(0);
  });

  it("cli-progress' own ETA (the rate of its last 10 updates) on the same run is far off: why the bar does not use it", async () => {
    const { default: ETA } = await import("cli-progress/lib/eta.js" as string) as { default: new (len: number, t: number, v: number) => { update(t: number, v: number, total: number): void; getTime(): number | string } };
    const sizes = treeSizes(4000, 3);
    const totalBytes = sizes.reduce((a, b) => a + b, 0);
    const total = sizes.reduce((a, b) => a + PER_FILE_MS + b * MS_PER_BYTE, 0);
    const eta = new ETA(10, 0, 0);
    let now = 0, bytes = 0, worst = 0;
    for (const b of sizes) {
      now += PER_FILE_MS + b * MS_PER_BYTE;
      bytes += b;
      eta.update(now, bytes, totalBytes);
      const e = Number(eta.getTime());
      const left = (total - now) / 1000;
      if (now > 0.1 * total && Number.isFinite(e)) worst = Math.max(worst, Math.abs(e - left) - (0.5 * left + 2));
    }
    expect(worst).toBeGreaterThan(60);
  });

  it("formats remaining times like cli-progress: 45s, 2m15s, 1h02m", () => {
    expect([formatEta(0.4), formatEta(45), formatEta(135), formatEta(3720)]).toEqual(["0s", "45s", "2m15s", "1h02m"]);
  });
});

describe("coreutils human sizes", () => {
  it("match numfmt --to=iec --round=up (df -h, ls -lh)", () => {
    const values = [0, 1, 1023, 1024, 1025, 1536, 10 * 1024 - 1, 10 * 1024, 10 * 1024 + 1, 2228224, 134217728, 131072 * 1024, 1048575, 1048576, 1048577,
      1024 ** 3 - 1, 5 * 1024 ** 3 + 7, 999 * 1024 * 1024, 1023.5 * 1024 * 1024, 1024 ** 4 * 3];
    let x = 9;
    for (let i = 0; i < 200; i++) { x = (x * 1103515245 + 12345) >>> 0; values.push(Math.floor((x / 2 ** 32) * 2 ** (10 + (i % 30)))); }
    const r = spawnSync("numfmt", ["--to=iec", "--round=up", ...values.map(String)], { encoding: "utf8" });
    if (r.status !== 0) {
      expect([humanSize(134217728), humanSize(2228224), humanSize(1023)]).toEqual(["128M", "2.2M", "1023"]);
      return;
    }
    expect(values.map(humanSize)).toEqual(r.stdout.trim().split("\n"));
  });
});

describe("npx helix in a fresh clone", () => {
  it("npm 6's npx (in node_modules/.bin, from @as-pect/cli -> glob-promise -> npm-install-peers) runs our CLI once the postinstall linked it", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string>; scripts: Record<string, string> };
    // the postinstall also applies patches/ and rebuilds the FUSE addon (bin/build-fuse.js)
    expect(pkg.scripts.postinstall).toBe("node bin/link-self.js && node bin/build-fuse.js");
    const linker = fs.readFileSync(path.join(ROOT, "bin", "link-self.js"), "utf8");
    for (const [name, file] of Object.entries(pkg.bin)) expect(linker).toContain(`${name}: "${file}"`);
    const npx6 = path.join(ROOT, "node_modules", ".bin", "npx");
    if (!fs.existsSync(npx6)) return; // no npm 6 in the tree: the PATH case cannot happen
    // a scratch clone: our package.json and bin/, node_modules entries linked to the real ones
    const T = fs.mkdtempSync(path.join(os.tmpdir(), "helix-npx-"));
    try {
      fs.copyFileSync(path.join(ROOT, "package.json"), path.join(T, "package.json"));
      fs.mkdirSync(path.join(T, "bin"));
      fs.symlinkSync(path.join(ROOT, "bin", "helix.js"), path.join(T, "bin", "helix.js"));
      fs.copyFileSync(path.join(ROOT, "bin", "link-self.js"), path.join(T, "bin", "link-self.js"));
      const nm = path.join(T, "node_modules");
      fs.mkdirSync(path.join(nm, ".bin"), { recursive: true });
      for (const e of fs.readdirSync(path.join(ROOT, "node_modules"))) if (e !== ".bin") fs.symlinkSync(path.join(ROOT, "node_modules", e), path.join(nm, e));
      // the clone before its postinstall: no helix in .bin (the real tree may already have the link)
      for (const e of fs.readdirSync(path.join(ROOT, "node_modules", ".bin"))) if (e !== "helix") fs.symlinkSync(fs.realpathSync(path.join(ROOT, "node_modules", ".bin", e)), path.join(nm, ".bin", e));
      // PATH without any directory that already provides a helix (npm run puts the real tree's
      // node_modules/.bin first, which has the link once its postinstall ran)
      const rest = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "" && !fs.existsSync(path.join(d, "helix")));
      const env = { ...process.env, PATH: [path.join(nm, ".bin"), ...rest].join(path.delimiter), HELIX_NO_BUILD: "1", npm_config_yes: "" };
      const run = () => spawnSync("npx", ["--no-install", "helix", "--version"], { cwd: T, env, encoding: "utf8", timeout: 60_000 });
      const before = run();
      expect(before.stdout.trim()).not.toBe((JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version); // npm 6's npx does not know the package's own bin
      const link = spawnSync(process.execPath, [path.join(T, "bin", "link-self.js")], { cwd: T, encoding: "utf8" });
      expect(link.status, link.stderr).toBe(0);
      expect(fs.readlinkSync(path.join(nm, ".bin", "helix"))).toBe(path.join("..", "..", "bin", "helix.js"));
      const after = run();
      expect(after.status, after.stderr).toBe(0);
      expect(after.stdout.trim()).toBe((JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version);
      // running it again leaves the link alone; a real file of that name is never replaced
      expect(spawnSync(process.execPath, [path.join(T, "bin", "link-self.js")]).status).toBe(0);
      fs.unlinkSync(path.join(nm, ".bin", "helix"));
      fs.writeFileSync(path.join(nm, ".bin", "helix"), "#!/bin/sh\necho mine\n");
      expect(spawnSync(process.execPath, [path.join(T, "bin", "link-self.js")]).status).toBe(0);
      expect(fs.readFileSync(path.join(nm, ".bin", "helix"), "utf8")).toContain("mine");
    } finally {
      fs.rmSync(T, { recursive: true, force: true });
    }
  });
});
