// test/start.test.ts -- the main job (`helix start`, host/cli/start.ts) on a generated tree.
//
// A few hundred files in nested directories, empty files, a 1 MiB file, symlinks (relative,
// dangling, to a directory), unusual modes, names that are not UTF-8 or hold control bytes:
// `helix start --source DIR --image IMG` must copy, reboot, verify and fsck them and exit 0
// with a summary; a second run verifies again; a --verify-only run after a host file changed
// must name that file and exit 1. verifyTree itself is shown to catch each kind of
// difference on its own: a changed byte, a symlink target, a mode, an mtime, a missing or an
// extra directory entry, and names or targets that differ only in bytes a string would lose.
// Rules: runs `node bin/helix.js` in a child process with a timeout; HELIX_NO_BUILD=1.

import { runHelix, type RunResult } from "./cli-run.js";
import { importTree, scanHostTree } from "../host/cli/copy.js";
import type { ScannedTree } from "../host/shell/tree.js";
import type { HelixFs } from "../host/fs/fs.js";
import { verifyTree } from "../host/cli/start.js";
import { bootDevice, freshDevice, MiB } from "./helpers.js";
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
  const file = (p: string | Buffer, data: Buffer | string) => {
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
  // names are bytes: not UTF-8 (the example), control bytes, NFC and NFD
  const odd = path.join(root, "odd");
  fs.mkdirSync(odd);
  fs.mkdirSync(Buffer.concat([Buffer.from(odd + "/"), Buffer.from("dir\xff\n", "latin1")]));
  dirs += 2;
  for (const n of [Buffer.from("bad\xff\xfename", "latin1"), Buffer.from("a\nb\x01"), Buffer.from("caf\u00e9"), Buffer.from("cafe\u0301"),
    Buffer.from("dir\xff\n/in\x80", "latin1")]) {
    file(Buffer.concat([Buffer.from(odd + "/"), n]), n);
  }
  fs.symlinkSync(Buffer.from("to\xfe", "latin1"), Buffer.concat([Buffer.from(odd + "/"), Buffer.from("link\xfe", "latin1")]));
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

// ---- verifyTree, one difference at a time ---------------------------------------------------

const L = (s: string) => Buffer.from(s, "latin1");
const at = (dir: string, rel: Buffer | string) => Buffer.concat([Buffer.from(`${dir}/`), typeof rel === "string" ? Buffer.from(rel) : rel]);

/** A small host tree for verifyTree: non-UTF-8 names, NFC and NFD, a symlink, a subdirectory. */
function smallTree(root: string): void {
  fs.mkdirSync(root);
  fs.writeFileSync(at(root, "a.txt"), "hello, world\n");
  fs.writeFileSync(at(root, L("b\xff")), "bytes");
  fs.writeFileSync(at(root, "caf\u00e9"), "nfc");
  fs.symlinkSync(L("t\xfe"), at(root, L("ln\xfe")));
  fs.mkdirSync(at(root, L("d\x80")));
  fs.writeFileSync(at(root, L("d\x80/f")), "in d");
  fs.chmodSync(at(root, L("d\x80/f")), 0o640);
}

/**
 * Runs `change` on the imported image, then puts back the atime/mtime of `keep` (paths under
 * /v whose times the change touched as a side effect, e.g. the parent directory), so exactly
 * one kind of difference is left for verifyTree to find.
 */
function tamper(fs2: HelixFs, keep: (string | Buffer)[], change: () => void): void {
  const saved = keep.map((p) => ({ p: at("/v", p), st: fs2.lstatSync(at("/v", p), { bigint: true }) }));
  change();
  for (const { p, st } of saved) expect(fs2.sys.utimens(p, st.atimeNs, st.mtimeNs, true)).toBe(0);
}

describe("verifyTree catches each kind of difference", () => {
  const src = path.join(TMP, "small");
  smallTree(src);
  const tree: ScannedTree = scanHostTree(src);

  /** A fresh image with the small tree imported under /v; runs `fn` on its fs, then shuts down. */
  function onImage(fn: (fs2: HelixFs) => void): void {
    const k = bootDevice(freshDevice(64 * MiB));
    try {
      importTree(k.fs, tree, "/v");
      fn(k.fs);
    } finally {
      k.shutdown();
    }
  }
  const details = (fs2: HelixFs) => verifyTree(fs2, tree, "/v").details;

  it("an untouched import verifies clean, every name found by its bytes", () => {
    expect(tree.files).toBe(4);
    onImage((fs2) => {
      const r = verifyTree(fs2, tree, "/v");
      expect(r.details).toEqual([]);
      expect([r.files, r.dirs, r.symlinks]).toEqual([4, 2, 1]);
    });
  });

  it("a changed byte (same size)", () => onImage((fs2) => {
    tamper(fs2, ["a.txt"], () => {
      const fd = fs2.openSync("/v/a.txt", "r+");
      fs2.writeSync(fd, "H", 0);
      fs2.closeSync(fd);
    });
    expect(details(fs2)).toEqual([expect.stringMatching(/^\/v\/a\.txt: content differs \(sha256 /)]);
  }));

  it("a wrong symlink target, also when it differs only in a byte that is not UTF-8", () => onImage((fs2) => {
    tamper(fs2, ["", L("ln\xfe")], () => {
      fs2.unlinkSync(at("/v", L("ln\xfe")));
      fs2.symlinkSync(L("t\xff"), at("/v", L("ln\xfe")));
    });
    expect(details(fs2)).toEqual(["/v/ln\\xfe: symlink target 't\\xff' in the image, 't\\xfe' on the host"]);
  }));

  it("a wrong mode", () => onImage((fs2) => {
    tamper(fs2, [L("d\x80/f")], () => fs2.chmodSync(at("/v", L("d\x80/f")), 0o600));
    expect(details(fs2)).toEqual(["/v/d\\x80/f: mode 600 in the image, 640 on the host"]);
  }));

  it("a wrong mtime, off by one nanosecond", () => onImage((fs2) => {
    const st = fs2.lstatSync("/v/a.txt", { bigint: true });
    expect(fs2.sys.utimens("/v/a.txt", st.atimeNs, st.mtimeNs + 1n, true)).toBe(0);
    expect(details(fs2)).toEqual([`/v/a.txt: mtime ${st.mtimeNs + 1n} ns in the image, ${st.mtimeNs} ns on the host`]);
  }));

  it("a missing directory entry", () => onImage((fs2) => {
    tamper(fs2, [L("d\x80")], () => fs2.unlinkSync(at("/v", L("d\x80/f"))));
    const d = details(fs2);
    expect(d).toContain("/v/d\\x80: directory listing differs: 'f' is missing from the image");
    expect(d).toContainEqual(expect.stringMatching(/^\/v\/d\\x80\/f: No such file or directory \(ENOENT/));
    expect(d).toHaveLength(2);
  }));

  it("an extra directory entry", () => onImage((fs2) => {
    tamper(fs2, [""], () => fs2.writeFileSync("/v/extra", ""));
    expect(details(fs2)).toEqual(["/v: directory listing differs: 'extra' is in the image but not on the host"]);
  }));

  it("a name that differs only in bytes a string would lose, or only in normalization (NFC/NFD)", () => onImage((fs2) => {
    tamper(fs2, [""], () => fs2.renameSync(at("/v", L("b\xff")), at("/v", L("b\xfe"))));
    expect(details(fs2)).toEqual([
      "/v: directory listing differs: 'b\\xfe' is in the image but not on the host",
      expect.stringMatching(/^\/v\/b\\xff: No such file or directory \(ENOENT/),
    ]);
    tamper(fs2, [""], () => {
      fs2.renameSync(at("/v", L("b\xfe")), at("/v", L("b\xff")));
      fs2.renameSync("/v/caf\u00e9", "/v/cafe\u0301");
    });
    expect(details(fs2)).toEqual([
      "/v: directory listing differs: 'cafe\u0301' is in the image but not on the host",
      expect.stringMatching(/^\/v\/caf\u00e9: No such file or directory \(ENOENT/),
    ]);
  }));
});
