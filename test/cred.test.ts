// test/cred.test.ts -- issue 12: the credentials argument of the syscall ABI (fs/cred.ts).
//
// Layer: integration tests over the debug kernel on a memory device.
// Covers: a struct cred the kernel refuses (outside memory, too many groups, a reserved field
// set) fails the call with EFAULT/EINVAL before it does anything; the host's checks on a Cred;
// search permission on every directory of a path by owner, group, supplementary group and
// others, with root's exception; one Sys per credential over one kernel.

import { describe, it, expect, afterEach } from "vitest";
import type { Kernel } from "../host/vmm/kernel.js";
import { freshDevice, bootDevice } from "./helpers.js";

const ENOENT = 2, EACCES = 13, EFAULT = 14, EINVAL = 22;
let k: Kernel | null = null;
afterEach(() => { k?.shutdown(); k = null; });

/** A kernel with /d (mode `mode`, owner 1000:50) holding file f. */
function setup(mode: number): Kernel {
  k = bootDevice(freshDevice());
  k.fs.mkdirSync("/d");
  k.fs.writeFileSync("/d/f", "x");
  k.fs.chownSync("/d", 1000, 50);
  k.fs.chmodSync("/d", mode);
  return k;
}

/** Raw exports, to hand the kernel structs the host API would never write. */
function raw(k: Kernel): Record<string, (...a: unknown[]) => number> & { memory: WebAssembly.Memory } {
  return (k as unknown as { x: Record<string, (...a: unknown[]) => number> & { memory: WebAssembly.Memory } }).x;
}

describe("struct cred at the syscall boundary", () => {
  it("refuses a cred outside memory, with too many groups or a reserved field set", () => {
    const kk = setup(0o755);
    const x = raw(kk);
    const args = x.kernel_args() as number;
    const p = x.kernel_cred() as number;
    const dv = new DataView(x.memory.buffer);
    const path = new TextEncoder().encode("/d/f");
    new Uint8Array(x.memory.buffer).set(path, args);
    const stat = (cred: number) => x.sys_stat(cred, args, path.length, args + 8192);
    dv.setUint32(p, 0, true); dv.setUint32(p + 4, 0, true); dv.setUint32(p + 8, 0, true); dv.setUint32(p + 12, 0, true);
    expect(stat(p)).toBe(0);
    expect(stat(0)).toBe(-EFAULT);
    expect(stat(x.memory.buffer.byteLength - 8)).toBe(-EFAULT);
    dv.setUint32(p + 8, 257, true);
    expect(stat(p)).toBe(-EINVAL);
    dv.setUint32(p + 8, 0, true); dv.setUint32(p + 12, 1, true);
    expect(stat(p)).toBe(-EINVAL);
    // a refused cred leaves nothing changed: the unlink does not happen
    const unlink = x.sys_unlink(p, args, path.length);
    expect(unlink).toBe(-EINVAL);
    dv.setUint32(p + 12, 0, true); // the area the host API writes root's cred into: put it back
    expect(kk.fs.existsSync("/d/f")).toBe(true);
  });

  it("the host refuses ids that are not u32 and more than 256 groups", () => {
    const kk = setup(0o755);
    expect(() => kk.sysAs({ uid: -1, gid: 0, groups: [] }).stat("/")).toThrow(RangeError);
    expect(() => kk.sysAs({ uid: 1.5, gid: 0, groups: [] }).stat("/")).toThrow(RangeError);
    expect(() => kk.sysAs({ uid: 1, gid: 0, groups: Array.from({ length: 257 }, (_, i) => i) }).stat("/")).toThrow(/at most 256/);
    expect(typeof kk.sysAs({ uid: 1, gid: 0, groups: Array.from({ length: 256 }, (_, i) => i) }).stat("/")).toBe("object");
    // a refused Cred leaves the credentials in the kernel's area as they were: the next call of
    // the Sys whose Cred is there still runs as that Cred, not as half of the refused one
    const user = kk.sysAs({ uid: 2000, gid: 2000, groups: [] });
    kk.fs.chmodSync("/d", 0o700);
    expect(user.stat("/d/f")).toBe(-13);
    expect(() => kk.sysAs({ uid: 0, gid: 0, groups: [-1] }).stat("/d/f")).toThrow(RangeError);
    expect(user.stat("/d/f")).toBe(-13);
  });
});

describe("search permission on the directories of a path", () => {
  // who: [uid, gid, groups]; what each mode of /d (owner 1000, group 50) lets them reach
  const who: Record<string, [number, number, number[]]> = {
    owner: [1000, 1000, []], group: [2000, 50, []], supplementary: [2000, 2000, [7, 50]], other: [2000, 2000, []], root: [0, 0, []],
  };
  const cases: [number, Record<string, boolean>][] = [
    [0o700, { owner: true, group: false, supplementary: false, other: false, root: true }],
    [0o610, { owner: false, group: true, supplementary: true, other: false, root: true }],
    [0o001, { owner: false, group: false, supplementary: false, other: true, root: true }],
    [0o000, { owner: false, group: false, supplementary: false, other: false, root: true }],
    [0o077, { owner: false, group: true, supplementary: true, other: true, root: true }],
  ];
  for (const [mode, can] of cases) {
    it(`mode ${mode.toString(8).padStart(4, "0")}`, () => {
      const kk = setup(mode);
      for (const [name, [uid, gid, groups]] of Object.entries(who)) {
        const sys = kk.sysAs({ uid, gid, groups });
        const st = sys.stat("/d/f");
        expect(typeof st === "number" ? st : 0, name).toBe(can[name] ? 0 : -EACCES);
        // a missing name behind the directory: ENOENT only for who may search it
        expect(sys.stat("/d/missing"), name).toBe(can[name] ? -ENOENT : -EACCES);
        // the directory itself is reached through "/", which everyone may search
        expect(typeof sys.stat("/d"), name).toBe("object");
      }
    });
  }
});
