// test/snapshot-cli.test.ts -- `helix snapshot create|list|delete|rollback|diff` and
// `helix boot --snapshot` as users run them: `node bin/helix.js ...` in a child process, on one
// image in tmpfs that the tests below change in order.
//
// Oracles: the host tree imported into the image (what a snapshot must read back), the JSON
// list (the table must show the same figures in df -h sizes), the changes the tests make (the
// diff must list exactly them), fsck at the end. Every failure ends as one stderr line
// `helix: ...`, exit 1 (runtime: unknown snapshot, EEXIST, ENOTEMPTY, EROFS) or 2 (usage: bad
// name, missing or unknown command), no stack trace.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { runHelix, type RunResult } from "./cli-run.js";
import { humanSize } from "../host/shell/format.js";
import { MiB, TMPFS, bytesOf } from "./helpers.js";
import { parseMountOptions } from "../host/fuse/mount.js";
import { loadFuseBinding } from "../host/fuse/binding.js";

/** Real FUSE mounts work here: Linux, root, /dev/fuse, the addon and fusermount (as test/fuse.test.ts asks). */
const FUSE = (() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0 || !fs.existsSync("/dev/fuse")) return false;
  try { loadFuseBinding(); } catch { return false; }
  return ["/usr/bin/fusermount", "/bin/fusermount"].some((p) => fs.existsSync(p));
})();

const TMP = fs.mkdtempSync(path.join(TMPFS, "helix-snap-cli-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
/** Longest one CLI run may take (a hang is a bug). */
const RUN_TIMEOUT_MS = 60_000;
const IMG = path.join(TMP, "snap.img");
/** The file only the first snapshot keeps after it is removed from the live tree. */
const BIG_BYTES = 2 * MiB;

function helix(args: string[]): Promise<RunResult> { return runHelix(TMP, args, RUN_TIMEOUT_MS); }

/** Expects success with nothing on stderr; returns stdout. */
function ok(r: RunResult): string {
  expect(r.stderr, r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

/** Asserts the one-line failure contract and returns the line. */
function oneErrorLine(r: RunResult, exitCode: number): string {
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  expect(lines, `stderr: ${r.stderr}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^helix: \S/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr + r.stdout).not.toContain("RuntimeError");
  expect(r.code).toBe(exitCode);
  return lines[0];
}

interface ListedSnap { name: string; id: number; tid: number; created: string; type: string; origin: string | null; referencedBytes: number; exclusiveBytes: number; sharedBytes: number }

async function listJson(): Promise<ListedSnap[]> {
  return JSON.parse(ok(await helix(["snapshot", "list", IMG, "--json"]))) as ListedSnap[];
}

beforeAll(async () => {
  const src = path.join(TMP, "src");
  fs.mkdirSync(path.join(src, "a"), { recursive: true });
  fs.writeFileSync(path.join(src, "a", "hello.txt"), "hello, snapshot\n");
  fs.writeFileSync(path.join(src, "a", "big.bin"), bytesOf(3, BIG_BYTES));
  fs.writeFileSync(path.join(src, "b.txt"), "bee\n");
  ok(await helix(["mkfs", IMG, "--size", "64M"]));
  ok(await helix(["import", IMG, src, "/"]));
}, 120_000);

describe("helix snapshot", () => {
  it("create prints the new snapshot; EEXIST and a bad name are one line (exit 1, exit 2)", async () => {
    expect(ok(await helix(["snapshot", "list", IMG]))).toBe("no snapshots\n");
    expect(await listJson()).toEqual([]);
    expect(ok(await helix(["snapshot", "create", IMG, "s1"]))).toMatch(/^created snapshot 's1' \(id \d+\), transaction 0x[0-9a-f]+, \S+ referenced\n$/);
    expect(oneErrorLine(await helix(["snapshot", "create", IMG, "s1"]), 1)).toMatch(/snap\.img: snapshot create 's1' failed: EEXIST/);
    for (const bad of ["bad/name", ".", "x".repeat(256)]) expect(oneErrorLine(await helix(["snapshot", "create", IMG, bad]), 2)).toMatch(/bad snapshot name/);
    expect(oneErrorLine(await helix(["snapshot"]), 2)).toMatch(/missing command/);
    expect(oneErrorLine(await helix(["snapshot", "frob", IMG]), 2)).toMatch(/unknown command 'frob'/);
    expect(oneErrorLine(await helix(["snapshot", "list", path.join(TMP, "none.img")]), 1)).toMatch(/does not exist/);
  }, 60_000);

  it("boot --snapshot reads the snapshot read-only while the live tree has changed; an unknown name is one line", async () => {
    ok(await helix(["boot", IMG, "-q", "-c", "rm /a/big.bin; echo changed > /a/hello.txt; mv /b.txt /c.txt; echo new > /new.txt"]));
    ok(await helix(["snapshot", "create", IMG, "s2"]));
    const r = await helix(["boot", IMG, "--snapshot", "s1", "-c", "cat /a/hello.txt; ls /a; ls /"]);
    const out = ok(r);
    expect(out).toContain("hello, snapshot\n");
    expect(out).toMatch(/big\.bin/);
    expect(out).toMatch(/b\.txt/);
    expect(out).not.toMatch(/new\.txt/);
    expect(out).toMatch(/mounted snapshot 's1' read-only/);
    const w = await helix(["boot", IMG, "--snapshot", "s1", "-q", "-c", "echo x > /z"]);
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/Read-only file system/);
    expect(oneErrorLine(await helix(["boot", IMG, "--snapshot", "nope", "-q", "-c", "ls"]), 1)).toMatch(/no snapshot named 'nope'/);
    expect(oneErrorLine(await helix(["boot", IMG, "--snapshot", "a/b", "-c", "ls"]), 2)).toMatch(/bad snapshot name/);
  }, 60_000);

  it("list: a table with df -h sizes and local times matching --json; the first snapshot holds the removed file exclusively", async () => {
    const js = await listJson();
    expect(js.map((s) => s.name)).toEqual(["s1", "s2"]);
    expect(js.every((s) => s.type === "snapshot" && s.origin === null)).toBe(true);
    expect(js[0].exclusiveBytes).toBeGreaterThanOrEqual(BIG_BYTES);
    const table = ok(await helix(["snapshot", "list", IMG])).trimEnd().split("\n");
    expect(table[0].split(/\s+/)).toEqual(["NAME", "ID", "CREATED", "TID", "REFER", "EXCL", "SHARED", "TYPE"]);
    expect(table).toHaveLength(3);
    js.forEach((s, i) => {
      const cols = table[i + 1].trim().split(/\s+/);
      const d = new Date(s.created);
      const p2 = (n: number) => String(n).padStart(2, "0");
      const local = [`${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`, `${p2(d.getHours())}:${p2(d.getMinutes())}`];
      expect(cols).toEqual([s.name, String(s.id), ...local, `0x${s.tid.toString(16)}`,
        humanSize(s.referencedBytes), humanSize(s.exclusiveBytes), humanSize(s.sharedBytes), "snapshot"]);
    });
  }, 60_000);

  it("df and inspect show the space held only by snapshots (the removed file s1 keeps)", async () => {
    const df = ok(await helix(["boot", IMG, "-q", "-c", "df -h; df"]));
    const h = /^Used includes (\S+) held only by snapshots$/m.exec(df);
    expect(h, df).not.toBeNull();
    const k = /^Used includes (\d+) 1K-blocks held only by snapshots$/m.exec(df);
    expect(Number(k![1]) * 1024).toBeGreaterThanOrEqual(BIG_BYTES);
    expect(h![1]).toBe(humanSize(Number(k![1]) * 1024));
    const ins = ok(await helix(["inspect", IMG]));
    const m = /^snapshots\n\s+snapshots and clones\s+2\n\s+held only by snapshots\s+(\d+) blocks/m.exec(ins);
    expect(m, ins).not.toBeNull();
    expect(Number(m![1]) * 4096).toBe(Number(k![1]) * 1024);
  }, 60_000);

  it("diff prints one line per change as zfs diff; B omitted is the live tree; --stats; unknown names are one line", async () => {
    const lines = ok(await helix(["snapshot", "diff", IMG, "s1", "s2"])).trimEnd().split("\n");
    for (const l of lines) expect(l).toMatch(/^([+\-M] \/\S*|R \/\S+ -> \/\S+)$/);
    expect(lines).toContain("- /a/big.bin");
    expect(lines).toContain("+ /new.txt");
    expect(lines).toContain("M /a/hello.txt");
    expect(lines).toContain("R /b.txt -> /c.txt");
    expect(lines.filter((l) => !/^M \/(a)?$/.test(l))).toHaveLength(4); // parents may show as modified
    expect(ok(await helix(["snapshot", "diff", IMG, "s2"]))).toBe("");
    expect(ok(await helix(["snapshot", "diff", IMG, "s2", "--stats"]))).toMatch(/^0 change\(s\); read \d+ of \d+ tree nodes \(\d+\.\d\d%\)\n$/);
    expect(oneErrorLine(await helix(["snapshot", "diff", IMG, "s1", "nope"]), 1)).toMatch(/no snapshot named 'nope'/);
    expect(oneErrorLine(await helix(["snapshot", "diff", IMG, "nope"]), 1)).toMatch(/no snapshot named 'nope'/);
  }, 60_000);

  it("rollback: the live tree becomes the snapshot; ENOTEMPTY while a newer one exists; ENOENT", async () => {
    ok(await helix(["boot", IMG, "-q", "-c", "echo later > /later.txt"]));
    expect(oneErrorLine(await helix(["snapshot", "rollback", IMG, "s1"]), 1)).toMatch(/ENOTEMPTY \(newer snapshots than 's1' exist: delete them first\)/);
    expect(oneErrorLine(await helix(["snapshot", "rollback", IMG, "nope"]), 1)).toMatch(/ENOENT \(no snapshot named 'nope'\)/);
    expect(ok(await helix(["snapshot", "rollback", IMG, "s2"]))).toMatch(/^rolled back to snapshot 's2' \(transaction 0x[0-9a-f]+\)\n$/);
    const ls = ok(await helix(["boot", IMG, "-q", "-c", "ls /; cat /a/hello.txt"]));
    expect(ls).not.toMatch(/later\.txt/);
    expect(ls).toMatch(/new\.txt/);
    expect(ls).toContain("changed\n");
  }, 60_000);

  it("delete waits for the background free and prints what it freed; the space is free afterwards; ENOENT", async () => {
    const df = async () => Number(/^vda\s+\d+\s+\d+\s+(\d+)/m.exec(ok(await helix(["boot", IMG, "-q", "-c", "df"])))![1]);
    const before = await df();
    const out = ok(await helix(["snapshot", "delete", IMG, "s1"]));
    const m = /^deleted snapshot 's1' \(id \d+\): freed (\S+) \((\d+) blocks\)\n$/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![2]) * 4096).toBeGreaterThanOrEqual(BIG_BYTES);
    expect(m![1]).toBe(humanSize(Number(m![2]) * 4096));
    const after = await df();
    expect((after - before) * 1024).toBeGreaterThanOrEqual(BIG_BYTES);
    expect((await listJson()).map((s) => s.name)).toEqual(["s2"]);
    expect(oneErrorLine(await helix(["snapshot", "delete", IMG, "s1"]), 1)).toMatch(/ENOENT \(no snapshot named 's1'\)/);
    expect(ok(await helix(["boot", IMG, "-q", "-c", "df -h"]))).not.toMatch(/held only by snapshots/);
  }, 60_000);

  it("clones: create --writable makes a clone and its origin; boot --snapshot of the clone writes; the origin cannot go first", async () => {
    expect(ok(await helix(["snapshot", "create", IMG, "work", "--writable"]))).toMatch(/^created clone 'work' \(id \d+\) of snapshot 'work@origin'/);
    const js = await listJson();
    const clone = js.find((s) => s.name === "work")!;
    expect(clone.type).toBe("clone");
    expect(clone.origin).toBe("work@origin");
    expect(ok(await helix(["snapshot", "list", IMG]))).toMatch(/^work\s.*clone of work@origin$/m);
    const w = ok(await helix(["boot", IMG, "--snapshot", "work", "-c", "echo cloned > /clone.txt; cat /clone.txt"]));
    expect(w).toMatch(/mounted clone 'work' read-write/);
    expect(w).toContain("cloned\n");
    expect(ok(await helix(["boot", IMG, "-q", "-c", "ls /"]))).not.toMatch(/clone\.txt/);
    expect(oneErrorLine(await helix(["snapshot", "delete", IMG, "work@origin"]), 1)).toMatch(/EBUSY/);
    // the clone's delete takes the origin made for it along
    expect(ok(await helix(["snapshot", "delete", IMG, "work"]))).toMatch(/^deleted clone 'work' \(id \d+\) and its origin 'work@origin': freed \S+ \(\d+ blocks\)\n$/);
    expect((await listJson()).map((s) => s.name)).toEqual(["s2"]);
  }, 90_000);

  it("-o snapshot=NAME: parsed, and a bad name is a usage error before anything starts", async () => {
    expect(parseMountOptions(["ro,snapshot=s2"]).snapshot).toBe("s2");
    expect(() => parseMountOptions(["snapshot=a/b"])).toThrow(/bad mount option 'snapshot=a\/b': the name contains '\/'/);
    expect(() => parseMountOptions(["snapshot="])).toThrow(/the name is empty/);
    const dir = fs.mkdtempSync(path.join(TMP, "mnt-"));
    expect(oneErrorLine(await helix(["mount", IMG, dir, "-o", "snapshot=.."]), 2)).toMatch(/bad mount option/);
  }, 60_000);

  // always runs: .ci/run installs fuse and libfuse2; where FUSE is missing this fails, it never skips
  it("helix mount -o snapshot=NAME: host programs read the snapshot through FUSE, read-only", async () => {
    if (!FUSE) throw new Error("FUSE mounts cannot run here (need Linux, root, /dev/fuse, fuse-native and fusermount)");
    const dir = fs.mkdtempSync(path.join(TMP, "mnt-"));
    ok(await helix(["mount", IMG, dir, "-o", "snapshot=s2"]));
    try {
      expect(fs.readFileSync(path.join(dir, "a", "hello.txt"), "utf8")).toBe("changed\n");
      expect(fs.readdirSync(dir).sort()).toEqual(expect.arrayContaining(["a", "c.txt", "new.txt"]));
      expect(() => fs.writeFileSync(path.join(dir, "x"), "no")).toThrow(expect.objectContaining({ code: "EROFS" }));
    } finally {
      ok(await helix(["umount", dir]));
    }
    expect(oneErrorLine(await helix(["mount", IMG, dir, "-o", "snapshot=nope"]), 1)).toMatch(/no snapshot named 'nope'/);
  }, 90_000);

  it("fsck is clean after all of the above", async () => {
    expect(ok(await helix(["fsck", IMG]))).toMatch(/clean/);
  }, 60_000);
});
