// test/scandir.test.ts -- readdirSync through the kernel's scandir (names sorted in the kernel)
// against Node's readdirSync on tmpfs (libuv sorts with strcmp), and its fallback to getdents
// when a directory's names do not fit in one call.

import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freshDevice, bootDevice, MiB } from "./helpers.js";

const TMP = nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
const base = nodeFs.mkdtempSync(path.join(TMP, "helix-scandir-"));
afterAll(() => nodeFs.rmSync(base, { recursive: true, force: true }));

const k = bootDevice(freshDevice(64 * MiB));
afterAll(() => k.shutdown());
let round = 0;

/** Creates `names` in a new kernel directory and a new tmpfs directory; returns both paths. */
function populate(names: string[]): { mine: string; real: string } {
  round++;
  const mine = `/s${round}`, real = path.join(base, `s${round}`);
  k.fs.mkdirSync(mine);
  nodeFs.mkdirSync(real);
  for (const n of names) {
    k.fs.writeFileSync(`${mine}/${n}`, "");
    nodeFs.writeFileSync(path.join(real, n), "");
  }
  return { mine, real };
}

// Names that share long prefixes (the kernel sorts by an 8-byte key first), differ in the
// bytes after it, are prefixes of each other, or hold 2-, 3- and 4-byte UTF-8 characters.
const PIECES = ["a", "b", "A", "0", "~", "-", ".x", "abcdefgh", "abcdefg", "ä", "é", "€", "\uffef", "😀", "z".repeat(30)];
const nameArb = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.join(""))
  .filter((n) => n !== "." && n !== ".." && Buffer.byteLength(n) <= 255);

describe("scandir", () => {
  it("names come back in Node's (strcmp) order for random name sets", () => {
    fc.assert(fc.property(fc.uniqueArray(nameArb, { minLength: 0, maxLength: 60 }), (names) => {
      const { mine, real } = populate(names);
      expect(k.fs.readdirSync(mine)).toEqual(nodeFs.readdirSync(real));
      // the getdents path (Dirents) agrees on the names
      expect((k.fs.readdirSync(mine, { withFileTypes: true }) as nodeFs.Dirent[]).map((d) => d.name)).toEqual(nodeFs.readdirSync(real));
    }), { numRuns: 60, seed: 7 });
  });

  it("a directory too big for one call falls back to getdents with the same result", () => {
    // 2,200 names of 250 bytes: ~550 KB of names, more than half the 1 MiB transfer buffer
    const names = Array.from({ length: 2200 }, (_, i) => `${String(i * 7919 % 2200).padStart(5, "0")}${"n".repeat(245)}`);
    const { mine, real } = populate(names);
    expect(k.sys.scandir!(mine)).toBe(-7); // E2BIG
    expect(k.fs.readdirSync(mine)).toEqual(nodeFs.readdirSync(real));
    expect(k.fsck(true)).toBe(0);
  });

  it("fails like Node's readdirSync: ENOENT, ENOTDIR, ELOOP", () => {
    const { mine, real } = populate(["f"]);
    k.fs.symlinkSync("loop", `${mine}/loop`);
    nodeFs.symlinkSync("loop", path.join(real, "loop"));
    for (const rel of ["missing", "f", "loop", "f/x"]) {
      const err = (f: () => unknown): string => { try { f(); return "ok"; } catch (e) { return `${(e as NodeJS.ErrnoException).code} ${(e as NodeJS.ErrnoException).syscall}`; } };
      expect(err(() => k.fs.readdirSync(`${mine}/${rel}`))).toBe(err(() => nodeFs.readdirSync(path.join(real, rel))));
    }
  });
});
