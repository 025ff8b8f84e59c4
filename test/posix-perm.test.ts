// test/posix-perm.test.ts -- issue 12 §2: permissions, ownership and timestamps by category,
// each asserting the exact errno and mode/owner/time results Linux gives (the cases of
// pjdfstest's open, chmod, chown, link, unlink, rmdir, rename, truncate and utimensat tests,
// run on the kernel through Sys as root and as unprivileged users).
//
// Users: root; nobody (65534:65534, no other groups); u2 (65533:65533, also in 65534);
// u3 (65532:65532). The differential test (differential-perm.test.ts) checks the same rules
// against Linux itself; this file pins them one by one.

import { describe, it, expect, beforeEach } from "vitest";
import { freshDevice, bootDevice, MiB } from "./helpers.js";
import { bootWith, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { createFs } from "../host/fs/fs.js";
import {
  O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY, O_NOATIME, UTIME_NOW, UTIME_OMIT,
  type Sys, type StatRecord,
} from "../host/fs/fs.js";

const EPERM = -1, ENOENT = -2, EACCES = -13, EEXIST = -17, ENOTDIR = -20, EISDIR = -21, EINVAL = -22,
  ENOTEMPTY = -39;
const NOBODY = { uid: 65534, gid: 65534, groups: [] as number[] };
const U2 = { uid: 65533, gid: 65533, groups: [65534] };
const U3 = { uid: 65532, gid: 65532, groups: [] as number[] };

let k: Kernel;
let root: Sys, nobody: Sys, u2: Sys, u3: Sys;

beforeEach(() => {
  k = bootDevice(freshDevice(16 * MiB));
  root = k.sys;
  nobody = k.sysAs(NOBODY);
  u2 = k.sysAs(U2);
  u3 = k.sysAs(U3);
});

function st(sys: Sys, p: string): StatRecord {
  const s = sys.lstat(p);
  if (typeof s === "number") throw new Error(`lstat ${p}: ${s}`);
  return s;
}
const mode = (p: string): number => st(root, p).mode & 0o7777;
/** Creates a file as `sys` with `m`; returns 0 or -errno. */
function create(sys: Sys, p: string, m = 0o644): number {
  const fd = sys.open(p, O_WRONLY | O_CREAT | O_EXCL, m);
  return fd < 0 ? fd : sys.close(fd);
}
/** open + close: 0 or -errno. */
function tryOpen(sys: Sys, p: string, flags: number): number {
  const fd = sys.open(p, flags, 0o644);
  return fd < 0 ? fd : sys.close(fd);
}
/** A file or directory made by root, then given to `uid:gid` with `m`. */
function made(p: string, m: number, uid: number, gid: number, dir = false): void {
  expect(dir ? root.mkdir(p, m) : create(root, p, m)).toBe(0);
  expect(root.chown(p, uid, gid)).toBe(0);
  expect(root.chmod(p, m)).toBe(0);
}
function writeAs(sys: Sys, p: string): number {
  const fd = sys.open(p, O_WRONLY, 0);
  if (fd < 0) return fd;
  const n = sys.write(fd, new Uint8Array([120]), 0, 1, null);
  sys.close(fd);
  return n;
}
/** Waits past the kernel clock's millisecond, so a time set now differs from one set before. */
const tick = (): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3); };

describe("ownership of new inodes", () => {
  it("belongs to the caller's uid and gid; a set-gid directory gives its gid (and the bit to directories)", () => {
    made("/pub", 0o777, 0, 0, true);
    expect(create(nobody, "/pub/f")).toBe(0);
    expect(st(root, "/pub/f")).toMatchObject({ uid: 65534, gid: 65534 });
    made("/sg", 0o2777, 0, 100, true);
    expect(create(nobody, "/sg/f", 0o755)).toBe(0);
    expect(nobody.mkdir("/sg/d", 0o755)).toBe(0);
    expect(nobody.symlink("x", "/sg/l")).toBe(0);
    expect(st(root, "/sg/f")).toMatchObject({ uid: 65534, gid: 100 });
    expect(st(root, "/sg/l")).toMatchObject({ uid: 65534, gid: 100 });
    expect(st(root, "/sg/d")).toMatchObject({ uid: 65534, gid: 100, mode: 0o42755 });
    // a set-gid program made there by a caller outside the group loses the bit; root keeps it
    expect(create(nobody, "/sg/p", 0o2755)).toBe(0);
    expect(mode("/sg/p")).toBe(0o755);
    expect(create(root, "/sg/q", 0o2755)).toBe(0);
    expect(mode("/sg/q")).toBe(0o2755);
    // mkdir drops set-uid and set-gid from the mode asked for (outside a set-gid parent)
    expect(root.mkdir("/m", 0o7777)).toBe(0);
    expect(mode("/m")).toBe(0o1777);
  });

  it("mkfs makes the creator the owner of the root directory", () => {
    const dev = new MemoryBackend(16 * MiB);
    const kk = bootWith({ device: dev, module: kernelModule(true), mkfs: true, memoryMiB: 64, cred: { uid: 1000, gid: 1001, groups: [] } });
    expect(st(kk.sys, "/")).toMatchObject({ uid: 1000, gid: 1001, mode: 0o40755 });
    expect(create(kk.sys, "/mine")).toBe(0);
    // root can still use an image made by another user
    expect(create(kk.sysAs({ uid: 0, gid: 0, groups: [] }), "/r")).toBe(0);
    expect(create(kk.sysAs(NOBODY), "/n")).toBe(EACCES);
    kk.shutdown();
  });
});

describe("open", () => {
  beforeEach(() => {
    made("/d", 0o755, 65534, 65534, true);
    made("/d/f", 0o640, 65534, 65534);
  });

  it("asks for read/write permission by access mode, and write for O_TRUNC", () => {
    const cases: [Sys, number, number][] = [
      [nobody, O_RDONLY, 0], [nobody, O_WRONLY, 0], [nobody, O_RDWR, 0],
      [u2, O_RDONLY, 0], [u2, O_WRONLY, EACCES], [u2, O_RDWR, EACCES], [u2, O_RDONLY | O_TRUNC, EACCES],
      [u3, O_RDONLY, EACCES], [u3, O_WRONLY, EACCES],
      [root, O_RDWR | O_TRUNC, 0],
    ];
    for (const [sys, flags, want] of cases) expect(tryOpen(sys, "/d/f", flags)).toBe(want);
    // a 0 mode: only root
    expect(nobody.chmod("/d/f", 0)).toBe(0);
    expect(tryOpen(nobody, "/d/f", O_RDONLY)).toBe(EACCES);
    expect(tryOpen(root, "/d/f", O_RDWR)).toBe(0);
  });

  it("creating needs write and search on the parent; an existing name does not", () => {
    expect(create(u2, "/d/new")).toBe(EACCES);
    expect(tryOpen(u2, "/d/f", O_RDONLY | O_CREAT)).toBe(0);
    expect(tryOpen(u2, "/d/f", O_RDONLY | O_CREAT | O_EXCL)).toBe(EEXIST);
    expect(u2.mkdir("/d/f", 0o755)).toBe(EEXIST); // EEXIST before EACCES
    // a file created with mode 0 is still open for writing (pjdfstest open/26)
    const fd = nobody.open("/d/zero", O_WRONLY | O_CREAT, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(nobody.write(fd, new Uint8Array(3), 0, 3, null)).toBe(3);
    nobody.close(fd);
    expect(mode("/d/zero")).toBe(0);
  });

  it("orders EISDIR and ENOTDIR before permission, and O_NOATIME needs the owner or root", () => {
    made("/d/sub", 0o500, 0, 0, true);
    expect(tryOpen(nobody, "/d/sub", O_WRONLY)).toBe(EISDIR);
    expect(tryOpen(nobody, "/d/sub", O_RDONLY | O_TRUNC)).toBe(EISDIR);
    expect(tryOpen(nobody, "/d/sub", O_RDONLY | O_CREAT)).toBe(EISDIR);
    expect(tryOpen(u3, "/d/f", O_RDONLY | O_DIRECTORY)).toBe(ENOTDIR);
    expect(tryOpen(nobody, "/d/sub/x", O_RDONLY)).toBe(EACCES); // search permission
    expect(nobody.chmod("/d/f", 0o644)).toBe(0);
    expect(tryOpen(u3, "/d/f", O_RDONLY | O_NOATIME)).toBe(EPERM);
    expect(tryOpen(nobody, "/d/f", O_RDONLY | O_NOATIME)).toBe(0);
    expect(tryOpen(root, "/d/f", O_RDONLY | O_NOATIME)).toBe(0);
  });
});

describe("removing and renaming: the parent's permissions and the sticky bit", () => {
  it("needs write and search on the parent (EACCES), before the type (EISDIR, ENOTDIR)", () => {
    made("/ro", 0o555, 65534, 65534, true);
    expect(create(root, "/ro/f")).toBe(0);
    expect(root.mkdir("/ro/s", 0o777)).toBe(0);
    expect(nobody.unlink("/ro/f")).toBe(EACCES);
    expect(nobody.unlink("/ro/s")).toBe(EACCES);
    expect(nobody.rmdir("/ro/f")).toBe(EACCES);
    expect(nobody.rmdir("/ro/s")).toBe(EACCES);
    expect(nobody.rmdir("/ro/.")).toBe(EINVAL);
    expect(nobody.rmdir("/ro/..")).toBe(ENOTEMPTY);
    expect(nobody.rename("/ro/f", "/ro/g")).toBe(EACCES);
    expect(nobody.unlink("/ro/none")).toBe(ENOENT);
    expect(nobody.unlink("/ro/s/")).toBe(EISDIR); // a trailing slash decides first
    expect(nobody.chmod("/ro", 0o755)).toBe(0);
    expect(nobody.unlink("/ro/s")).toBe(EISDIR);
    expect(nobody.rmdir("/ro/f")).toBe(ENOTDIR);
    expect(nobody.unlink("/ro/f")).toBe(0);
    expect(nobody.rmdir("/ro/s")).toBe(0);
  });

  it("in a sticky directory only the entry's owner, the directory's owner or root removes or renames (EPERM)", () => {
    made("/tmp", 0o1777, 65533, 65533, true);
    for (const [sys, name] of [[nobody, "a"], [nobody, "b"], [nobody, "c"], [u3, "x"]] as [Sys, string][]) {
      expect(create(sys, `/tmp/${name}`, 0o666)).toBe(0);
    }
    expect(nobody.mkdir("/tmp/dn", 0o777)).toBe(0);
    expect(u3.unlink("/tmp/a")).toBe(EPERM);
    expect(u3.rmdir("/tmp/dn")).toBe(EPERM);
    expect(u3.rename("/tmp/a", "/tmp/z")).toBe(EPERM); // from
    expect(u3.rename("/tmp/x", "/tmp/a")).toBe(EPERM); // over another's file
    expect(nobody.rename("/tmp/x", "/tmp/y")).toBe(EPERM);
    expect(u3.rename("/tmp/x", "/tmp/y")).toBe(0);
    expect(nobody.unlink("/tmp/a")).toBe(0); // the entry's owner
    expect(u2.unlink("/tmp/b")).toBe(0); // the directory's owner
    expect(root.unlink("/tmp/c")).toBe(0);
    expect(u2.rmdir("/tmp/dn")).toBe(0);
  });

  it("a directory moving to another parent needs write permission on itself (its ..)", () => {
    made("/A", 0o777, 65534, 65534, true);
    made("/B", 0o777, 65534, 65534, true);
    made("/A/s", 0o755, 0, 0, true);
    expect(nobody.rename("/A/s", "/B/s")).toBe(EACCES);
    expect(nobody.rename("/A/s", "/A/t")).toBe(0); // same parent: .. stays
    expect(root.chmod("/A/t", 0o777)).toBe(0);
    expect(nobody.rename("/A/t", "/B/t")).toBe(0);
    expect(root.mkdir("/B/u", 0o755)).toBe(0);
    expect(create(root, "/B/f")).toBe(0);
    expect(nobody.rename("/B/t", "/B/f")).toBe(-20); // ENOTDIR over a file
    expect(nobody.rename("/B/f", "/B/u")).toBe(EISDIR);
    expect(nobody.rename("/B/t", "/B/t")).toBe(0);
  });
});

describe("link", () => {
  it("needs write on the target's parent and, for another's file, read and write on it (protected_hardlinks)", () => {
    made("/h", 0o777, 0, 0, true);
    made("/h/rf", 0o644, 0, 0);
    made("/h/rw", 0o666, 0, 0);
    made("/h/su", 0o4777, 0, 0);
    made("/ro", 0o555, 65534, 65534, true);
    expect(nobody.link("/h/rf", "/h/l1")).toBe(EPERM);
    expect(nobody.link("/h/rw", "/h/l2")).toBe(0);
    expect(nobody.link("/h/su", "/h/l3")).toBe(EPERM);
    expect(create(nobody, "/h/mine")).toBe(0);
    expect(nobody.link("/h/mine", "/ro/l")).toBe(EACCES);
    expect(nobody.link("/h/mine", "/h/mine")).toBe(EEXIST);
    expect(root.link("/h", "/h/dl")).toBe(EPERM);
    expect(st(root, "/h/rw").nlink).toBe(2);
  });
});

describe("chmod", () => {
  it("only the owner or root (EPERM, ctime kept); set-gid only within one's groups; sticky on files kept", () => {
    made("/f", 0o644, 65534, 65534);
    const c0 = st(root, "/f").ctimeNs;
    tick();
    expect(u3.chmod("/f", 0o777)).toBe(EPERM);
    expect(st(root, "/f").ctimeNs).toBe(c0);
    expect(nobody.chmod("/f", 0o2755)).toBe(0);
    expect(mode("/f")).toBe(0o2755);
    expect(st(root, "/f").ctimeNs > c0).toBe(true);
    const notInGroup = k.sysAs({ uid: 65534, gid: 65533, groups: [] });
    expect(notInGroup.chmod("/f", 0o2755)).toBe(0);
    expect(mode("/f")).toBe(0o755);
    expect(nobody.chmod("/f", 0o1644)).toBe(0);
    expect(mode("/f")).toBe(0o1644);
    expect(root.chmod("/f", 0o6777)).toBe(0);
    expect(mode("/f")).toBe(0o6777);
    const fd = u3.open("/f", O_RDONLY, 0);
    expect(u3.fchmod!(fd, 0o600)).toBe(EPERM);
    u3.close(fd);
  });
});

describe("chown", () => {
  it("gives a file away only as root; the owner may pick one of its groups", () => {
    made("/f", 0o644, 65534, 65534);
    made("/g", 0o644, 65533, 65533);
    expect(nobody.chown("/f", 65533, -1)).toBe(EPERM);
    expect(nobody.chown("/f", 65534, -1)).toBe(0); // to itself
    expect(nobody.chown("/f", -1, 65533)).toBe(EPERM); // not its group
    expect(u2.chown("/g", -1, 65534)).toBe(0); // a supplementary group
    expect(u2.chown("/f", -1, 65534)).toBe(EPERM); // not the owner
    expect(root.chown("/f", 1, 2)).toBe(0);
    expect(st(root, "/f")).toMatchObject({ uid: 1, gid: 2 });
  });

  it("clears set-uid and set-gid (group-executable) of non-directories, even as root; -1 -1 still sets ctime", () => {
    made("/f", 0o6555, 65534, 65533);
    expect(root.chown("/f", 65532, 65531)).toBe(0);
    expect(mode("/f")).toBe(0o555);
    made("/d", 0o6555, 65534, 65533, true);
    expect(root.chown("/d", 65532, 65531)).toBe(0);
    expect(mode("/d")).toBe(0o6555);
    made("/u", 0o6555, 65534, 65533);
    expect(k.sysAs({ uid: 65534, gid: 65533, groups: [65532] }).chown("/u", -1, 65532)).toBe(0);
    expect(st(root, "/u")).toMatchObject({ mode: 0o100555, gid: 65532 });
    // set-gid without group-execute (a locking mark) stays for the group's members
    made("/m", 0o2644, 65534, 65534);
    expect(nobody.chown("/m", -1, 65534)).toBe(0);
    expect(mode("/m")).toBe(0o2644);
    const c0 = st(root, "/m").ctimeNs;
    tick();
    expect(root.chown("/m", -1, -1)).toBe(0);
    expect(st(root, "/m").ctimeNs > c0).toBe(true);
    // another user's -1 -1: nothing to change is allowed, clearing set-uid is not
    made("/n", 0o644, 65534, 65534);
    expect(u3.chown("/n", -1, -1)).toBe(0);
    expect(root.chmod("/n", 0o4644)).toBe(0);
    expect(u3.chown("/n", -1, -1)).toBe(EPERM);
    expect(mode("/n")).toBe(0o4644);
  });
});

describe("writes and truncation clear set-uid/set-gid (file_remove_privs)", () => {
  it("for a caller other than root (pjdfstest chmod/12)", () => {
    for (const m of [0o4777, 0o2777, 0o6777]) {
      made("/f", m, 0, 0);
      expect(writeAs(nobody, "/f")).toBe(1);
      expect(mode("/f")).toBe(0o777);
      expect(root.unlink("/f")).toBe(0);
    }
    made("/r", 0o6777, 65534, 65534);
    expect(writeAs(root, "/r")).toBe(1);
    expect(mode("/r")).toBe(0o6777);
    // set-gid without group-execute: kept for a member of the group, cleared for others
    made("/g", 0o2666, 0, 65534);
    expect(writeAs(u2, "/g")).toBe(1);
    expect(mode("/g")).toBe(0o2666);
    expect(writeAs(u3, "/g")).toBe(1);
    expect(mode("/g")).toBe(0o666);
    made("/t", 0o4666, 0, 0);
    expect(nobody.truncate("/t", 5)).toBe(0);
    expect(mode("/t")).toBe(0o666);
  });

  it("truncate by path needs write permission (EACCES); directories are EISDIR", () => {
    made("/f", 0o644, 0, 0);
    expect(nobody.truncate("/f", 0)).toBe(EACCES);
    expect(nobody.truncate("/", 0)).toBe(EISDIR);
    expect(root.truncate("/f", 7)).toBe(0);
    expect(st(root, "/f").size).toBe(7);
  });
});

describe("utimensat (pjdfstest utimensat/06, 07)", () => {
  const NOW = BigInt(UTIME_NOW), OMIT = BigInt(UTIME_OMIT);
  it("UTIME_NOW for both needs owner, write permission or root; explicit times need owner or root", () => {
    made("/f", 0o644, 0, 0);
    expect(nobody.utimens("/f", NOW, NOW, false)).toBe(EACCES);
    expect(nobody.utimens("/f", OMIT, 5n, false)).toBe(EPERM);
    expect(nobody.utimens("/f", 5n, OMIT, false)).toBe(EPERM);
    expect(nobody.utimens("/f", NOW, OMIT, false)).toBe(EPERM);
    expect(root.chmod("/f", 0o666)).toBe(0);
    expect(nobody.utimens("/f", NOW, NOW, false)).toBe(0);
    expect(nobody.utimens("/f", 5n, 6n, false)).toBe(EPERM);
    expect(root.chown("/f", 65534, 65534)).toBe(0);
    expect(root.chmod("/f", 0o444)).toBe(0);
    expect(nobody.utimens("/f", 1_000_000_123n, 2_000_000_456n, false)).toBe(0);
    expect(st(root, "/f")).toMatchObject({ atimeNs: 1_000_000_123n, mtimeNs: 2_000_000_456n });
    // both UTIME_OMIT: nothing happens, not even a look at the path or a ctime change
    const c0 = st(root, "/f").ctimeNs;
    tick();
    expect(u3.utimens("/f", OMIT, OMIT, false)).toBe(0);
    expect(u3.utimens("/none", OMIT, OMIT, false)).toBe(0);
    expect(st(root, "/f").ctimeNs).toBe(c0);
    const fd = u3.open("/f", O_RDONLY, 0);
    expect(u3.futimens!(fd, 5n, 5n)).toBe(EPERM);
    u3.close(fd);
  });
});

describe("access", () => {
  it("answers for the caller's ids (root: any read/write, execute only with an x bit)", () => {
    made("/d", 0o750, 65534, 65534, true);
    made("/d/f", 0o640, 65534, 65534);
    const R = 4, W = 2, X = 1;
    const cases: [Sys, string, number, number][] = [
      [nobody, "/d/f", R | W, 0], [nobody, "/d/f", X, EACCES], [u2, "/d/f", R, 0], [u2, "/d/f", W, EACCES],
      [u3, "/d/f", 0, EACCES] /* search on /d */, [u2, "/d", X, 0], [u3, "/d", X, EACCES],
      [root, "/d/f", R | W, 0], [root, "/d/f", X, EACCES], [root, "/d", X, 0], [nobody, "/d/none", 0, ENOENT],
      [nobody, "/d/f", 8, EINVAL],
    ];
    for (const [sys, p, m, want] of cases) expect([p, m, sys.access!(p, m)]).toEqual([p, m, want]);
    expect(k.fs.accessSync("/d/f", R)).toBeUndefined();
  });
});

describe("timestamps", () => {
  it("create, link, rename and unlink change the times Linux changes", () => {
    expect(root.mkdir("/p", 0o755)).toBe(0);
    const t = (p: string) => { const s = st(root, p); return [s.mtimeNs, s.ctimeNs]; };
    let p0 = t("/p");
    tick();
    expect(create(root, "/p/f")).toBe(0);
    let p1 = t("/p");
    expect(p1[0] > p0[0] && p1[1] > p0[1]).toBe(true);
    const f0 = t("/p/f");
    p0 = p1;
    tick();
    expect(root.link("/p/f", "/p/g")).toBe(0);
    p1 = t("/p");
    const f1 = t("/p/f");
    expect(p1[0] > p0[0] && p1[1] > p0[1]).toBe(true);
    expect(f1[0]).toBe(f0[0]); // mtime kept
    expect(f1[1] > f0[1]).toBe(true); // ctime changed
    tick();
    expect(root.rename("/p/g", "/p/h")).toBe(0);
    const f2 = t("/p/h");
    expect(f2[0]).toBe(f0[0]);
    expect(f2[1] > f1[1]).toBe(true);
    tick();
    expect(root.unlink("/p/h")).toBe(0);
    expect(t("/p/f")[1] > f2[1]).toBe(true); // nlink changed: ctime
  });
});

describe("descriptor variants through HelixFs", () => {
  it("fchmodSync/fchownSync/futimesSync and FileHandle chmod/chown/utimes apply the same rules", async () => {
    made("/d", 0o777, 0, 0, true);
    const fs = createFs(nobody);
    const other = createFs(u3);
    fs.writeFileSync("/d/f", "x", { mode: 0o644 });
    const fd = other.openSync("/d/f", "r");
    expect(() => other.fchmodSync(fd, 0o600)).toThrow(/EPERM: operation not permitted, fchmod/);
    expect(() => other.fchownSync(fd, 65532, -1)).toThrow(/EPERM/);
    expect(() => other.futimesSync(fd, 5, 5)).toThrow(/EPERM: operation not permitted, futime/);
    other.closeSync(fd);
    const h = await fs.promises.open("/d/f", "r");
    await h.chmod(0o4755);
    await h.chown(-1, 65534);
    await h.utimes(1000, 2000);
    await h.close();
    const s = st(root, "/d/f");
    // the owner's chown cleared set-uid (Linux clears it on every chown of a non-directory)
    expect([s.mode, s.uid, s.gid, s.atimeNs, s.mtimeNs]).toEqual([0o100755, 65534, 65534, 1000_000_000_000n, 2000_000_000_000n]);
    expect(() => other.accessSync("/d/f", 2)).toThrow(/EACCES: permission denied, access '\/d\/f'/);
  });
});

describe("limits (pjdfstest open/02, 03, 12, symlink/03)", () => {
  it("NAME_MAX 255, PATH_MAX 4096 with the NUL, 40 symlinks followed, targets under PATH_MAX", () => {
    const ENAMETOOLONG = -36, ELOOP = -40;
    expect(create(root, `/${"n".repeat(255)}`)).toBe(0);
    expect(create(root, `/${"n".repeat(256)}`)).toBe(ENAMETOOLONG);
    // nested 254-byte names: a path of 4095 bytes works, 4096 does not
    let dir = "";
    for (let i = 0; i < 16; i++) {
      dir += `/${String.fromCharCode(97 + i).repeat(254)}`;
      expect(root.mkdir(dir, 0o755)).toBe(0);
    }
    const rest = 4095 - dir.length - 1;
    expect(create(root, `${dir}/${"f".repeat(rest)}`)).toBe(0);
    expect(create(root, `${dir}/${"f".repeat(rest + 1)}`)).toBe(ENAMETOOLONG);
    // a chain of 40 symlinks resolves, 41 is ELOOP; so is a loop
    expect(create(root, "/t")).toBe(0);
    let prev = "t";
    for (let i = 1; i <= 41; i++) { expect(root.symlink(prev, `/l${i}`)).toBe(0); prev = `l${i}`; }
    expect(tryOpen(root, "/l40", O_RDONLY)).toBe(0);
    expect(tryOpen(root, "/l41", O_RDONLY)).toBe(ELOOP);
    expect(root.symlink("loop2", "/loop1")).toBe(0);
    expect(root.symlink("loop1", "/loop2")).toBe(0);
    expect(tryOpen(root, "/loop1", O_RDONLY)).toBe(ELOOP);
    expect(root.symlink("x".repeat(4095), "/long")).toBe(0);
    expect(root.symlink("x".repeat(4096), "/toolong")).toBe(ENAMETOOLONG);
  });
});

describe("a read-only filesystem (pjdfstest open/14, 15)", () => {
  it("is EROFS where a change would begin, and opens that change nothing still work", () => {
    made("/d", 0o755, 65534, 65534, true);
    made("/d/f", 0o644, 65534, 65534);
    const bytes = (k.backend as MemoryBackend).bytes; // the same array: the clean shutdown writes into it
    k.shutdown();
    const ro = bootWith({ device: new MemoryBackend(bytes.slice()), module: kernelModule(true), fsckMount: "check", memoryMiB: 64 });
    const EROFS = -30;
    const s = ro.sys, n = ro.sysAs(NOBODY), o = ro.sysAs(U3);
    expect(tryOpen(s, "/d/f", O_RDONLY | O_CREAT)).toBe(0); // exists: nothing to create
    expect(tryOpen(s, "/d/new", O_RDONLY | O_CREAT)).toBe(EROFS);
    for (const fl of [O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC]) expect(tryOpen(s, "/d/f", fl)).toBe(EROFS);
    expect(tryOpen(o, "/d/f", O_WRONLY)).toBe(EROFS); // before EACCES
    expect(tryOpen(s, "/d/none", O_RDONLY)).toBe(ENOENT);
    expect(n.access!("/d/f", 2)).toBe(EROFS);
    expect(n.access!("/d/f", 4)).toBe(0);
    ro.shutdown();
    k = bootDevice(freshDevice(16 * MiB)); // for the next beforeEach's symmetry
  });
});
