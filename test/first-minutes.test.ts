// test/first-minutes.test.ts -- issue 10 §4 "The first ten minutes": what a new user meets
// first, run through the real CLI (`node bin/helix.js ...` in a child process).
//
// Covers the kernel log's wording (one `helixfs (vda): ` prefix, errno names, clean or not
// clean at mount, mount #1 after mkfs, hex transaction ids, the label), errors that keep their
// cause (truncated image, a full host disk, mkfs into a missing directory, bad sizes), mkfs
// over an existing image, Ctrl-C during import, `| head`, and the shell's coreutils manners.
// Oracles: the image's own bytes, the host tree, GNU stat/numfmt where they are installed.
// A full or slow host disk is simulated by test/fixtures/host-disk.mjs (a Node preload).

import { runHelix, BIN, NODE_FLAGS, type RunResult } from "./cli-run.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const HOST_DISK = path.join(ROOT, "test", "fixtures", "host-disk.mjs");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "helix-first-"));
const RUN_TIMEOUT_MS = 60_000;

function helix(args: string[], opts: { input?: string; env?: Record<string, string>; nodeFlags?: string[] } = {}): Promise<RunResult> {
  return runHelix(TMP, args, RUN_TIMEOUT_MS, opts);
}

/** The one-line failure contract; returns the line. */
function oneErrorLine(r: RunResult, exitCode: number): string {
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  expect(lines, `stderr: ${r.stderr}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^helix: \S/);
  expect(r.code, r.stderr).toBe(exitCode);
  return lines[0];
}

/** Kernel log lines (after the dmesg stamp) of a boot's stdout. */
function logLines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => /^\[ *\d+\.\d{6}\] /.test(l)).map((l) => l.replace(/^\[ *\d+\.\d{6}\] /, ""));
}

async function mkfs(name: string, size = "32M", extra: string[] = []): Promise<string> {
  const img = path.join(TMP, name);
  const r = await helix(["mkfs", img, "--size", size, "--force", ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return img;
}

afterAll(() => { fs.rmSync(TMP, { recursive: true, force: true }); });

describe("the kernel log", () => {
  it("mount lines: prefix, label, mount #1 after mkfs, cleanly unmounted, hex tid equal to inspect's", async () => {
    const img = await mkfs("log.img", "32M", ["--label", "photos"]);
    const b1 = await helix(["boot", img, "-c", "echo x > /x"]);
    expect(b1.code, b1.stderr).toBe(0);
    const fsLines = logLines(b1.stdout).filter((l) => /helixfs/.test(l));
    // every filesystem line carries the device prefix (ext4: `EXT4-fs (sda1): ...`)
    for (const l of fsLines) expect(l).toMatch(/^helixfs \(vda\): /);
    expect(b1.stdout).toMatch(/helixfs \(vda\): mounted filesystem 'photos' read-write, 8192 blocks .* mount #1$/m);
    expect(b1.stdout).toMatch(/helixfs \(vda\): was cleanly unmounted; journal /m);
    const b2 = await helix(["boot", img, "-c", "cat /x"]);
    expect(b2.stdout).toMatch(/mount #2$/m);
    const tid = /next transaction (0x[0-9a-f]+)/.exec(b2.stdout)?.[1];
    expect(tid).toBeDefined();
    // inspect mounts too: it sees the same next transaction (nothing committed in between but its own mount)
    const ins = await helix(["inspect", img]);
    expect(ins.code, ins.stderr).toBe(0);
    expect(ins.stdout).toMatch(/^ +label +'photos'$/m);
    expect(ins.stdout).toMatch(/^ +state +clean$/m);
    expect(ins.stdout).toMatch(/^ +mount count +3$/m);
    const itid = /^ +next transaction +(0x[0-9a-f]+)$/m.exec(ins.stdout)?.[1];
    expect(BigInt(itid!)).toBeGreaterThanOrEqual(BigInt(tid!));
    expect(ins.stdout).not.toMatch(/\b\d{12,}\b/); // no 15-digit decimal tids
  });

  it("a metadata error names its errno and the mount says why it is read-only and what to run", async () => {
    const img = await mkfs("corrupt.img");
    expect((await helix(["boot", img, "-q", "-c", "mkdir /d; echo x > /d/f"])).code).toBe(0);
    // damage the dirent tree's root node (inspect names its block): every lookup must read it
    const ins = await helix(["inspect", img]);
    const root = Number(/^ +dirent +(\d+) /m.exec(ins.stdout)![1]);
    const fd = fs.openSync(img, "r+");
    fs.writeSync(fd, Buffer.from("garbage!garbage!"), 0, 16, root * 4096 + 200);
    fs.closeSync(fd);
    const r = await helix(["boot", img, "-c", "ls /d"]);
    expect(r.code).toBe(1);
    const log = logLines(r.stdout).join("\n");
    expect(log).toMatch(/^helixfs \(vda\): metadata error EUCLEAN: journal aborted/m);
    expect(log).not.toMatch(/error 117|\b117\b/);
    // the next boot: read-only, says why, and names the command to run
    const again = await helix(["boot", img, "-c", "pwd"]);
    expect(again.stdout).toMatch(/helixfs \(vda\): mounted filesystem 'helixfs' read-only/);
    expect(again.stdout).toMatch(/helixfs \(vda\): mounted read-only: .*errors.*; run 'helix fsck .*corrupt\.img'/);
  });

  it("a boot killed mid-session: the next mount says it was not cleanly unmounted and what recovery replayed", async () => {
    const img = await mkfs("killed.img");
    const child = spawn(process.execPath, [...NODE_FLAGS, BIN, "boot", img], { cwd: TMP, env: { ...process.env, HELIX_NO_BUILD: "1" }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stdin.write("echo durable > /f\nsync\ncat /f\n");
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no output: ${out}`)), RUN_TIMEOUT_MS);
      const poll = setInterval(() => { if (out.includes("durable\n")) { clearInterval(poll); clearTimeout(t); resolve(); } }, 10);
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
    const r = await helix(["boot", img, "-c", "cat /f"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("durable\n");
    expect(r.stdout).toMatch(/helixfs \(vda\): was not cleanly unmounted: recovery replayed \d+ transactions? \(\d+ blocks?\)/);
    expect(r.stdout).not.toMatch(/was cleanly unmounted/);
    // and that boot unmounted cleanly
    expect((await helix(["boot", img, "-c", "pwd"])).stdout).toMatch(/was cleanly unmounted/);
  });
});

/** A host tree of 6 MB (six 1 MB files) for the full-disk tests; made once. */
function fullSrc(): string {
  const src = path.join(TMP, "full-src");
  if (!fs.existsSync(src)) {
    fs.mkdirSync(src);
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(src, `f${i}`), Buffer.alloc(1_000_000, i + 1));
  }
  return src;
}

describe("errors keep their real cause", () => {
  it("an image shorter than its filesystem says so", async () => {
    const img = await mkfs("short.img", "32M");
    fs.truncateSync(img, 20 * 1024 * 1024);
    const line = oneErrorLine(await helix(["boot", img, "-c", "pwd"]), 1);
    expect(line).toMatch(/shorter than the filesystem/);
    expect(line).not.toMatch(/version|features/);
    // cut below the smallest HelixFS: still a truncated image, not "too small"
    fs.truncateSync(img, 1024 * 1024);
    expect(oneErrorLine(await helix(["boot", img, "-c", "pwd"]), 1)).toMatch(/shorter than the filesystem/);
    // a small file that never held HelixFS is "too small"
    const zero = path.join(TMP, "zero.img");
    fs.writeFileSync(zero, Buffer.alloc(1024 * 1024));
    expect(oneErrorLine(await helix(["boot", zero, "-c", "pwd"]), 1)).toMatch(/device too small/);
  });

  it("a full host disk says ENOSPC on the host; the image stays consistent and the next boot says to run fsck", async () => {
    const img = await mkfs("full.img", "64M");
    const r = await helix(["import", img, fullSrc(), "/d"], { nodeFlags: [...NODE_FLAGS, "--import", HOST_DISK], env: { HELIX_TEST_HOST_FREE: String(1_000_000) } });
    const line = oneErrorLine(r, 1);
    expect(line).toMatch(/the host could not write the image '.*full\.img': ENOSPC: No space left on device/);
    expect(line).toMatch(/run 'helix fsck .*full\.img'/);
    expect(line).not.toMatch(/\bEIO\b|Input\/output/);
    const b = await helix(["boot", img, "-c", "pwd"]);
    expect(b.stdout).toMatch(/mounted read-only: .*; run 'helix fsck .*full\.img'/);
    // whatever was committed is sound: fsck finds nothing (and clears the error state)
    expect((await helix(["fsck", img])).code).toBe(0);
    expect((await helix(["boot", img, "-c", "pwd"])).stdout).toMatch(/mounted filesystem 'helixfs' read-write/);
  });

  it("on a real small tmpfs (where mounting one is allowed): the same one line and read-only next boot", async () => {
    const dir = path.join(TMP, "tmpfs");
    fs.mkdirSync(dir);
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", dir]).status !== 0) return; // not root: the preload test above stands in
    try {
      const img = path.join(dir, "t.img");
      expect((await helix(["mkfs", img, "--size", "64M"])).code).toBe(0);
      const line = oneErrorLine(await helix(["import", img, fullSrc(), "/d"]), 1);
      expect(line).toMatch(/the host could not write the image '.*t\.img': ENOSPC: No space left on device \(the host's disk is full\)/);
      expect((await helix(["boot", img, "-c", "pwd"])).stdout).toMatch(/mounted read-only: .*; run 'helix fsck .*t\.img'/);
    } finally {
      spawnSync("umount", [dir]);
    }
  });

  it("the same writes without the full disk succeed (the ENOSPC above comes from the host)", async () => {
    const img = await mkfs("notfull.img", "64M");
    const r = await helix(["import", img, fullSrc(), "/d"], { nodeFlags: [...NODE_FLAGS, "--import", HOST_DISK], env: { HELIX_TEST_HOST_FREE: String(64 << 20) } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/6 files/);
  });

  it("mkfs on a full host disk names the host's ENOSPC", async () => {
    const img = path.join(TMP, "nospace.img");
    const line = oneErrorLine(await helix(["mkfs", img, "--size", "32M"], { nodeFlags: [...NODE_FLAGS, "--import", HOST_DISK], env: { HELIX_TEST_HOST_FREE: "0" } }), 1);
    expect(line).toBe(`helix: ${img}: mkfs failed: the host could not write the image '${img}': ENOSPC: No space left on device (the host's disk is full)`);
  });

  it("mkfs into a missing directory: one clean line", async () => {
    const line = oneErrorLine(await helix(["mkfs", path.join(TMP, "no", "such", "dir", "x.img")]), 1);
    expect(line).toBe(`helix: cannot create '${path.join(TMP, "no", "such", "dir", "x.img")}': directory '${path.join(TMP, "no", "such", "dir")}' does not exist`);
  });

  it("every bad --size gets the same hint, exit 2 (docs/cli.md)", async () => {
    const lines: string[] = [];
    for (const s of ["12Q", "0", "100", "1M", "-5M", ""]) {
      lines.push(oneErrorLine(await helix(["mkfs", path.join(TMP, "q.img"), "--size", s]), 2).replace(`'${s}'`, "'S'"));
    }
    expect(new Set(lines).size).toBe(1);
    expect(lines[0]).toBe("helix: bad size 'S': use a number with K, M, G or T (e.g. 256M), at least 4M");
    expect(fs.existsSync(path.join(TMP, "q.img"))).toBe(false);
  });

  it("exit codes follow the table of docs/cli.md", async () => {
    const doc = fs.readFileSync(path.join(ROOT, "docs", "cli.md"), "utf8");
    const table = new Map([...doc.matchAll(/^\| (\d+) \| (.*) \|$/gm)].map((m) => [Number(m[1]), m[2]]));
    expect([...table.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 4, 8, 130]);
    expect(table.get(2)).toMatch(/unknown command or option/);
    expect(table.get(4)).toMatch(/fsck.*uncorrected/);
    expect(table.get(8)).toMatch(/fsck.*operational/);
    expect(table.get(130)).toMatch(/Ctrl-C/);
    oneErrorLine(await helix(["frob"]), 2);
    oneErrorLine(await helix(["boot", "x.img", "--frob"]), 2);
    oneErrorLine(await helix(["boot", path.join(TMP, "missing.img")]), 1);
    oneErrorLine(await helix(["fsck", path.join(TMP, "missing.img")]), 8);
    oneErrorLine(await helix(["crashtest", "--only", "nope"]), 2);
  });
});

describe("mkfs over an existing image", () => {
  it("refuses without --force when not asked on a terminal; the image is untouched; --force overwrites", async () => {
    const img = await mkfs("keep.img", "32M", ["--label", "precious"]);
    expect((await helix(["boot", img, "-q", "-c", "echo keep > /k"])).code).toBe(0);
    const before = fs.readFileSync(img);
    const line = oneErrorLine(await helix(["mkfs", img, "--size", "32M"]), 1);
    expect(line).toBe(`helix: '${img}' contains a HelixFS file system labelled 'precious' (32.0 MiB); use --force to overwrite it`);
    expect(fs.readFileSync(img).equals(before)).toBe(true);
    expect((await helix(["boot", img, "-q", "-c", "cat /k"])).stdout).toBe("keep\n");
    // a file that is not HelixFS is not asked about (mke2fs asks only about file systems it knows)
    const other = path.join(TMP, "other.img");
    fs.writeFileSync(other, Buffer.alloc(8192, 7));
    expect((await helix(["mkfs", other, "--size", "16M"])).code).toBe(0);
    expect((await helix(["mkfs", img, "--size", "32M", "--force"])).code).toBe(0);
    const r = await helix(["boot", img, "-q", "-c", "cat /k"]);
    expect(r.stderr).toMatch(/No such file or directory/);
  });

  it("on a terminal it asks, as mke2fs does: 'n' keeps the image, 'y' formats it", async () => {
    if (spawnSync("script", ["--version"]).status !== 0) return; // util-linux script(1) gives the child a terminal
    const img = await mkfs("ask.img", "32M", ["--label", "asked"]);
    const ask = (answer: string) => spawnSync("script", ["-qec", `"${process.execPath}" ${NODE_FLAGS.join(" ")} "${BIN}" mkfs "${img}" --size 16M`, "/dev/null"], {
      cwd: TMP, env: { ...process.env, HELIX_NO_BUILD: "1" }, input: `${answer}\n`, encoding: "utf8", timeout: RUN_TIMEOUT_MS,
    });
    const no = ask("n");
    expect(no.stdout).toMatch(/'.*ask\.img' contains a HelixFS file system labelled 'asked' \(32\.0 MiB\)\r?\nProceed anyway\? \(y,N\)/);
    expect(no.stdout).toMatch(/helix: .*ask\.img: not overwritten/);
    expect(no.status).toBe(1);
    expect(fs.statSync(img).size).toBe(32 << 20);
    const yes = ask("y");
    expect(yes.status, yes.stdout).toBe(0);
    expect(fs.statSync(img).size).toBe(16 << 20);
  });
});

describe("Ctrl-C during import", () => {
  it("stops between files, commits what was copied, unmounts cleanly and says what was kept", async () => {
    const img = await mkfs("intr.img", "64M");
    const src = path.join(TMP, "intr-src");
    fs.mkdirSync(src);
    const N = 400;
    for (let i = 0; i < N; i++) fs.writeFileSync(path.join(src, `f${String(i).padStart(4, "0")}`), `file ${i}\n`.repeat(i % 50 + 1));
    // each host read sleeps 5 ms: the import takes seconds, Ctrl-C lands in the middle
    const child = spawn(process.execPath, [...NODE_FLAGS, "--import", HOST_DISK, BIN, "import", img, src, "/d"], {
      cwd: TMP, env: { ...process.env, HELIX_NO_BUILD: "1", HELIX_TEST_SLOW_READ_MS: "5" }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    setTimeout(() => child.kill("SIGINT"), 1000);
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    expect(code, stderr).toBe(130);
    const m = /^interrupted: kept (\d+) files?, 0 dirs, 0 symlinks, (\d+) bytes .* of 400 files, .*committed; the image is consistent and cleanly unmounted$/m.exec(stdout);
    expect(m, stdout).not.toBeNull();
    const kept = Number(m![1]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(N);
    expect(stderr.trim()).toMatch(/^helix: import interrupted before '.*f\d{4}'$/);
    // the image holds exactly the files it says, each whole
    const ls = await helix(["boot", img, "-c", "ls /d"]);
    expect(ls.stdout).toMatch(/was cleanly unmounted/);
    const names = ls.stdout.split("\n").filter((l) => /^f\d{4}$/.test(l));
    expect(names.length).toBe(kept);
    expect(names).toEqual(fs.readdirSync(src).sort().slice(0, kept));
    let bytes = 0;
    for (const n of names) bytes += fs.statSync(path.join(src, n)).size;
    expect(Number(m![2])).toBe(bytes);
    const cat = await helix(["boot", img, "-q", "-c", `cat /d/${names[kept - 1]}`]);
    expect(cat.stdout).toBe(fs.readFileSync(path.join(src, names[kept - 1]), "utf8"));
    expect((await helix(["fsck", img])).code).toBe(0);
  });
});

describe("pipes", () => {
  it("`helix ... | head` exits quietly on EPIPE and still unmounts cleanly", async () => {
    const img = await mkfs("pipe.img");
    const script = "mkdir /m; " + Array.from({ length: 400 }, (_, i) => `touch /m/file-with-a-long-name-${i}`).join("; ");
    expect((await helix(["boot", img, "-q", "-c", script])).code).toBe(0);
    const r = spawnSync("sh", ["-c", `"${process.execPath}" ${NODE_FLAGS.join(" ")} "${BIN}" boot "${img}" -c 'ls -l /m; ls -l /m; stat /m' | head -2`], {
      cwd: TMP, env: { ...process.env, HELIX_NO_BUILD: "1" }, encoding: "utf8", timeout: RUN_TIMEOUT_MS,
    });
    expect(r.stdout.split("\n").filter((l) => l).length).toBe(2);
    expect(r.stderr).toBe("");
    expect((await helix(["boot", img, "-c", "pwd"])).stdout).toMatch(/was cleanly unmounted/);
  });
});

describe("the shell follows coreutils", () => {
  const img = path.join(TMP, "sh.img");
  beforeAll(async () => {
    await mkfs("sh.img", "128M");
    const r = await helix(["boot", img, "-q", "-c", "mkdir /d /d/e /t; echo A > /a; echo B > /b; echo C > /c; echo f > /d/f; echo g > /t/g; ln -s /d /l; ln -s /a /la"]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("cat a b c interleaves output and errors in order", async () => {
    const out = path.join(TMP, "cat.out");
    const fd = fs.openSync(out, "w");
    const r = spawnSync(process.execPath, [...NODE_FLAGS, BIN, "boot", img, "-q", "-c", "cat /a /nope /b /nope2 /c"], {
      cwd: TMP, env: { ...process.env, HELIX_NO_BUILD: "1" }, stdio: ["ignore", fd, fd], timeout: RUN_TIMEOUT_MS,
    });
    fs.closeSync(fd);
    expect(r.status).toBe(1);
    expect(fs.readFileSync(out, "utf8")).toBe("A\nhelix: cat: /nope: No such file or directory\nB\nhelix: cat: /nope2: No such file or directory\nC\n");
  });

  it("ls -l LINK describes the link; ls LINK/ and ls LINK list the directory", async () => {
    const r = await helix(["boot", img, "-q", "-c", "ls -l /l; ls -l /la; ls /l"]);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^lrwxrwxrwx +1 +0 +0 +2 \S+ \S+ \/l -> \/d$/);
    expect(lines[1]).toMatch(/^lrwxrwxrwx .* \/la -> \/a$/);
    expect(lines.slice(2)).toEqual(["e", "f"]);
  });

  it("tree A B shows both, with one report line for both", async () => {
    const r = await helix(["boot", img, "-q", "-c", "tree /d /t"]);
    expect(r.stdout).toBe("/d\n├── e\n└── f\n/t\n└── g\n\n1 directory, 2 files\n");
  });

  it("stat prints nanoseconds in coreutils' format (GNU stat on the same file as the oracle)", async () => {
    const src = path.join(TMP, "stat-src");
    fs.mkdirSync(src, { recursive: true });
    const f = path.join(src, "ns.txt");
    fs.writeFileSync(f, "nanoseconds\n");
    const touch = spawnSync("touch", ["-d", "2001-02-03 04:05:06.123456789 UTC", f]);
    if (touch.status !== 0) return; // no GNU touch: nothing to compare with
    expect((await helix(["import", img, src, "/s"])).code).toBe(0);
    const ours = (await helix(["boot", img, "-q", "-c", "stat /s/ns.txt"])).stdout.split("\n");
    const gnu = spawnSync("stat", [f], { env: { ...process.env, TZ: "UTC", LC_ALL: "C" }, encoding: "utf8" }).stdout.split("\n");
    expect(ours[0]).toBe("  File: '/s/ns.txt'");
    expect(ours.find((l) => l.startsWith("Modify:"))).toBe("Modify: 2001-02-03 04:05:06.123456789 +0000");
    expect(gnu.find((l) => l.startsWith("Modify:"))).toBe(ours.find((l) => l.startsWith("Modify:")));
    // the same layout line by line: labels and column positions
    const shape = (l: string) => l.replace(/\d+/g, "9").replace(/\(\s*9\/\s*\w+\)/g, "(U)").replace(/'[^']*'/g, "'N'").replace(/\/[-rwx]{10}/, "/M").replace(/\s+$/, "");
    for (const i of [1, 3]) expect(shape(ours[i]).split(/\s+/).filter((w) => /:$/.test(w))).toEqual(shape(gnu[i]).split(/\s+/).filter((w) => /:$/.test(w)));
  });

  it("df -h prints coreutils human sizes (numfmt --to=iec --round=up as the oracle)", async () => {
    const r = await helix(["boot", img, "-q", "-c", "df -h; df"]);
    const [hdr, row, , krow] = r.stdout.split("\n");
    expect(hdr.split(/\s+/)).toEqual(["Filesystem", "Size", "Used", "Avail", "Use%", "Mounted", "on"]);
    const cols = row.split(/\s+/);
    expect(cols[1]).toBe("128M");
    const kcols = krow.split(/\s+/).map(Number);
    const numfmt = spawnSync("numfmt", ["--to=iec", "--round=up", String(kcols[1] * 1024), String(kcols[2] * 1024), String(kcols[3] * 1024)], { encoding: "utf8" });
    if (numfmt.status === 0) expect(cols.slice(1, 4)).toEqual(numfmt.stdout.trim().split("\n"));
  });

  it("help lists every command the shell runs", async () => {
    const help = (await helix(["boot", img, "-q", "-c", "help"])).stdout;
    const { SHELL_COMMANDS } = await import("../host/shell/shell.js");
    for (const c of SHELL_COMMANDS) expect(help).toContain(`  ${c.usage}`);
    // and every command in the help runs (none is "command not found")
    const names = [...help.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]);
    expect(names.length).toBe(SHELL_COMMANDS.length);
    const r = await helix(["boot", img, "-q", "-c", names.filter((n) => n !== "exit").map((n) => `${n} --bogus-operand-x`).join("; ")]);
    expect(r.stderr).not.toMatch(/command not found/);
  });
});

describe("crashtest output", () => {
  it("every violation shows its workload's operations and a minimised workload with that same violation; a helix: summary line ends the run", async () => {
    const r = await runHelix(ROOT, ["crashtest", "--workload", "random", "--states", "20", "--break", "1", "--jobs", "1", "--sample", "1", "--seed", "3"], 300_000);
    expect(r.code).toBe(1);
    const count = Number(/^violations +(\d+)$/m.exec(r.stdout)![1]);
    expect(count).toBeGreaterThan(0);
    const errLines = r.stderr.trim().split("\n");
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toMatch(new RegExp(`^helix: crashtest: ${count} violations? \\(.*\\) in \\d+ crash states of 1 workloads$`));
    const blocks = r.stdout.split("\n\n").filter((b) => b.startsWith("violation "));
    expect(blocks.length).toBe(Math.min(count, 20));
    let repro: { kind: string; path: string; args: string[] } | null = null;
    for (const b of blocks) {
      const [, kind, vpath] = /^violation (\S+) at (\S+): /.exec(b)!;
      const w = /^ {2}workload (\S+) \((\d+) steps?\), state (\S+): (.+)$/m.exec(b);
      expect(w, b).not.toBeNull();
      expect(w![4].split("; ").length).toBe(2 * Number(w![2])); // an operation and its persistence point per step
      if (Number(w![2]) === 1) continue;
      const m = /^ {2}minimised workload \((\d+) of (\d+) steps\): (.+)\n {4}violation there: (\S+) at (\S+): .*, state (\S+)\n {4}reproduce: helix crashtest --steps '([^']*)' (.*)$/m.exec(b);
      expect(m, b).not.toBeNull();
      expect([m![4], m![5]]).toEqual([kind, vpath]); // the violation it names is in that workload
      expect(JSON.parse(m![7])).toHaveLength(Number(m![1]));
      repro ??= { kind, path: vpath, args: ["crashtest", "--steps", m![7], ...m![8].split(" ")] };
    }
    expect(repro).not.toBeNull();
    // the minimised workload's reproduction line shows that violation again
    const again = await runHelix(ROOT, repro!.args, 120_000);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/^crash states +1$/m);
    expect(again.stdout).toContain(`violation ${repro!.kind} at ${repro!.path}: `);
  });
});
