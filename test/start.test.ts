// test/start.test.ts -- the main job (`helix start`, tools/start.ts) on a generated tree.
//
// A few hundred files in nested directories, empty files, a 1 MiB file, symlinks (relative,
// dangling, to a directory), unusual modes: `helix start --source DIR --image IMG` must copy,
// reboot, verify and fsck them and exit 0 with a summary; a second run verifies again; a
// --verify-only run after a host file changed must name that file and exit 1.
// Rules: runs `node bin/helix.js` in a child process with a timeout; HELIX_NO_BUILD=1.

import { runHelix, type RunResult } from "./cli-run.js";
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "helix.js");
const TMP = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "helix-start-"));
const RUN_TIMEOUT_MS = 120_000;

function helix(args: string[]): Promise<RunResult> {
  return runHelix(TMP, args, RUN_TIMEOUT_MS);
}

/** Deterministic pseudo-random bytes. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; b[i] = s >>> 24; }
  return b;
}

/** Generates the source tree; returns its file, dir (including the root) and symlink counts. */
function generate(root: string): { files: number; dirs: number; symlinks: number; bytes: number } {
  let files = 0, dirs = 1, symlinks = 0, total = 0;
  const file = (p: string, data: Buffer | string) => {
    fs.writeFileSync(p, data);
    files++;
    total += Buffer.byteLength(data);
  };
  fs.mkdirSync(root);
  for (let p = 0; p < 12; p++) {
    const pkg = path.join(root, `pkg-${p}`);
    fs.mkdirSync(path.join(pkg, "lib", "deep", "deeper"), { recursive: true });
    fs.mkdirSync(path.join(pkg, "empty"));
    dirs += 5;
    file(path.join(pkg, "package.json"), JSON.stringify({ name: `pkg-${p}`, version: `1.${p}.0`, main: "lib/index.js" }, null, 2));
    file(path.join(pkg, "README.md"), `# pkg-${p}\n`.repeat(p * 40));
    file(path.join(pkg, ".npmignore"), "");
    for (let i = 0; i < 20; i++) file(path.join(pkg, "lib", `m${i}.js`), `export const v${i} = ${i};\n`.repeat((i * 37 + p) % 200));
    for (let i = 0; i < 4; i++) file(path.join(pkg, "lib", "deep", "deeper", `d${i}.bin`), bytes((i + 1) * 5000 + p, p * 10 + i));
    fs.symlinkSync("lib/m0.js", path.join(pkg, "main-link.js"));
    fs.symlinkSync(`../pkg-${(p + 1) % 12}`, path.join(pkg, "sibling"));
    symlinks += 2;
  }
  fs.mkdirSync(path.join(root, ".bin"));
  dirs++;
  for (let i = 0; i < 6; i++) { fs.symlinkSync(`../pkg-${i}/lib/m1.js`, path.join(root, ".bin", `tool${i}`)); symlinks++; }
  fs.symlinkSync("nowhere/at/all", path.join(root, ".bin", "dangling"));
  symlinks++;
  file(path.join(root, "big.bin"), bytes(1024 * 1024, 99));
  file(path.join(root, "empty.txt"), "");
  file(path.join(root, "exec.sh"), "#!/bin/sh\nexit 0\n");
  fs.chmodSync(path.join(root, "exec.sh"), 0o755);
  fs.chmodSync(path.join(root, "pkg-3", "lib"), 0o700);
  fs.chmodSync(path.join(root, "pkg-4", "README.md"), 0o600);
  return { files, dirs, symlinks, bytes: total };
}

afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

describe("helix start", () => {
  const src = path.join(TMP, "tree");
  const img = path.join(TMP, "start.img");
  const counts = generate(src);

  it("imports, reboots, verifies and fscks a generated tree", async () => {
    expect(counts.files).toBeGreaterThan(300);
    const r = await helix(["start", "--source", src, "--image", img, "--memory", "128"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const o = r.stdout;
    expect(o).toMatch(new RegExp(`^ +files +${counts.files}$`, "m"));
    expect(o).toMatch(new RegExp(`^ +directories +${counts.dirs}$`, "m"));
    expect(o).toMatch(new RegExp(`^ +symlinks +${counts.symlinks}$`, "m"));
    expect(o).toMatch(new RegExp(`^ +bytes +${counts.bytes} `, "m"));
    expect(o).toMatch(/^ +import +[\d.]+ s +[\d.]+ MiB\/s/m);
    expect(o).toMatch(/^ +verify +[\d.]+ s +[\d.]+ MiB\/s/m);
    expect(o).toMatch(/^ +free space +[\d.]+ MiB of 256\.0 MiB/m);
    expect(o).toMatch(/^ +journal +\d+ commits, \d+ checkpoints, \d+ logged blocks/m);
    expect(o).toMatch(/^ +replayed tx +0 /m);
    expect(o).toMatch(/^ +fsck +clean/m);
    expect(o).toMatch(/^ +result +OK/m);
    expect(fs.existsSync(img)).toBe(true);
  });

  it("a second run verifies again", async () => {
    const r = await helix(["start", "--source", src, "--image", img]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ +result +OK/m);
    const v = await helix(["start", "--verify-only", "--source", src, "--image", img]);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^ +result +OK/m);
  });

  it("--verify-only names the first file that differs from the host", async () => {
    fs.appendFileSync(path.join(src, "pkg-2", "lib", "m5.js"), "// changed on the host\n");
    const r = await helix(["start", "--verify-only", "--source", src, "--image", img]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^helix: start: verify failed: \/tree\/pkg-2\/lib\/m5\.js: size/);
  });

  it("--no-keep removes the image; a missing source is one error line", async () => {
    const img2 = path.join(TMP, "gone.img");
    const r = await helix(["start", "--source", path.join(src, "pkg-0"), "--image", img2, "--no-keep"]);
    expect(r.code).toBe(0);
    expect(fs.existsSync(img2)).toBe(false);
    const bad = await helix(["start", "--source", path.join(TMP, "nothing"), "--image", img2]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toEqual([`helix: host directory '${path.join(TMP, "nothing")}' does not exist`]);
  });
});
