// test/fs-exports.test.ts -- kernel.fs has every name Node 20's `fs` has (issue 13's target).
//
// The oracle is Node itself: the names are enumerated at run time from require('fs'),
// require('fs').promises and the prototype chain (and own properties) of a real FileHandle of
// node:fs/promises, so a name Node adds is a failure here, not a silent gap. Each name must
// exist on a booted kernel's fs / fs.promises / FileHandle with the same `typeof` (function vs
// number vs object). Only lchmod/lchmodSync are exempt: Node documents them as macOS only (on
// Linux fs.lchmod is undefined).

import { afterAll, describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import * as nodeFs from "node:fs";
import * as path from "node:path";
import { bootDevice, freshDevice } from "./helpers.js";

const require = createRequire(import.meta.url);
const realFs = require("fs") as Record<string, unknown>;
const MACOS_ONLY = new Set(["lchmod", "lchmodSync"]);

const k = bootDevice(freshDevice());
const kfs = k.fs as unknown as Record<string, unknown>;
afterAll(() => k.shutdown());

/** Names of `obj` whose typeof differs on `ours` (or are missing there), as "name: node-type vs ours-type". */
function mismatches(names: Iterable<string>, node: Record<string, unknown>, ours: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const n of names) {
    if (MACOS_ONLY.has(n) && node[n] === undefined) continue;
    if (!(n in ours)) out.push(`${n}: missing`);
    else if (typeof node[n] !== typeof ours[n]) out.push(`${n}: ${typeof node[n]} in Node, ${typeof ours[n]} here`);
  }
  return out;
}

/** Every string key on `obj` and its prototypes (up to Object.prototype). */
function allKeys(obj: object): string[] {
  const keys = new Set<string>();
  for (let p: object | null = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const key of Reflect.ownKeys(p)) if (typeof key === "string" && key !== "constructor") keys.add(key);
  }
  return [...keys].sort();
}

describe("Node 20's fs names on kernel.fs", () => {
  it("the oracle enumerates what Node has (the check below cannot pass vacuously)", () => {
    const names = Object.keys(realFs);
    expect(names.length).toBeGreaterThan(100);
    for (const n of ["readFile", "readFileSync", "promises", "constants", "F_OK", "Dir", "ReadStream"]) expect(names).toContain(n);
    // the checker reports a missing name and a type mismatch
    expect(mismatches(["a", "b", "lchmod"], { a: 1, b: () => 0, lchmod: undefined }, { a: "x" })).toEqual(["a: number in Node, string here", "b: missing"]);
  });

  it("every export of require('fs') exists with the same type", () => {
    expect(mismatches(Object.keys(realFs), realFs, kfs)).toEqual([]);
  });

  it("every export of fs.promises exists with the same type", () => {
    const np = realFs.promises as Record<string, unknown>;
    expect(mismatches(Object.keys(np), np, kfs.promises as Record<string, unknown>)).toEqual([]);
  });

  it("every method and property of a FileHandle exists with the same type", async () => {
    const dir = nodeFs.mkdtempSync("/dev/shm/helix-exports-");
    const file = path.join(dir, "f");
    nodeFs.writeFileSync(file, "x");
    k.fs.writeFileSync("/f", "x");
    const nh = await nodeFs.promises.open(file, "r");
    const kh = await k.fs.promises.open("/f", "r");
    try {
      const names = allKeys(nh);
      expect(names).toContain("readFile");
      expect(names).toContain("close");
      expect(mismatches(names, nh as unknown as Record<string, unknown>, kh as unknown as Record<string, unknown>)).toEqual([]);
    } finally {
      await nh.close();
      await kh.close();
      nodeFs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fs.constants and fs.promises.constants equal Node's (names, values, order), and F_OK..X_OK are their aliases", () => {
    expect(Object.entries(kfs.constants as object)).toEqual(Object.entries(realFs.constants as object));
    expect(Object.entries((kfs.promises as Record<string, object>).constants)).toEqual(Object.entries(realFs.constants as object));
    for (const n of ["F_OK", "R_OK", "W_OK", "X_OK"]) expect(kfs[n]).toBe(realFs[n]);
  });

  it("fs._toUnixTimestamp converts like Node's and throws Node's TypeError", () => {
    const t = kfs._toUnixTimestamp as (v: unknown, n?: string) => number;
    const nt = realFs._toUnixTimestamp as (v: unknown, n?: string) => number;
    for (const v of [0, 1.5, "12", new Date(1234567)]) expect(t(v)).toBe(nt(v));
    const err = (f: () => unknown) => { try { f(); } catch (e) { return [(e as Error).name, (e as { code?: string }).code, (e as Error).message]; } return "no throw"; };
    expect(err(() => t({}, "atime"))).toEqual(err(() => nt({}, "atime")));
  });

  it("FileReadStream/FileWriteStream follow ReadStream/WriteStream and can be replaced, as graceful-fs does", () => {
    const fs = kfs as { FileReadStream: unknown; ReadStream: unknown; FileWriteStream: unknown; WriteStream: unknown };
    expect(fs.FileReadStream).toBe(fs.ReadStream);
    expect(fs.FileWriteStream).toBe(fs.WriteStream);
    const saved = fs.FileReadStream;
    class Mine {}
    fs.FileReadStream = Mine;
    try {
      expect(fs.FileReadStream).toBe(Mine);
      expect(fs.ReadStream).toBe(saved); // replacing the alias leaves the class itself alone
    } finally {
      fs.FileReadStream = saved;
    }
    expect(fs.FileReadStream).toBe(fs.ReadStream);
  });

  it("the callback functions work when detached from the object (as graceful-fs and destructuring use them)", async () => {
    const { writeFile, readFile } = k.fs as unknown as { writeFile: (...a: unknown[]) => void; readFile: (...a: unknown[]) => void };
    await new Promise<void>((res, rej) => writeFile("/detached", "d", (e: Error | null) => (e ? rej(e) : res())));
    const got = await new Promise((res) => readFile("/detached", "utf8", (...a: unknown[]) => res(a)));
    expect(got).toEqual([null, "d"]);
  });
});
