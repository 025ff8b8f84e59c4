// test/differential-perm.test.ts -- issue 12: the kernel's permission, ownership and timestamp
// decisions against Linux's, by the differential harness (test/differential.ts):
//  - as root, with timed ops (which of mtime/ctime each metadata op changes, on the inode and
//    on its parent directories);
//  - as unprivileged users: the kernel runs the ops with kernel.sysAs(cred), the oracle is
//    node:fs in a child process that dropped to the same uid, gid and groups (test/oracle.ts),
//    so Linux itself decides every EACCES/EPERM, every suid/sgid bit cleared, every owner.
// The user runs need root (to drop privileges); they are skipped otherwise.

import { describe, it, expect, afterAll } from "vitest";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runDifferential, type DifferentialSubject, type DiffFs } from "./differential.js";
import { openUserOracle, userOraclesAvailable, type OracleCred, type UserOracle } from "./oracle.js";
import { freshDevice, bootDevice, MiB } from "./helpers.js";
import type { Kernel } from "../host/vmm/kernel.js";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { createFs } from "../host/fs/fs.js";

const SEEDS = Number(process.env.HELIX_PERM_SEEDS ?? 25);
const OPS = Number(process.env.HELIX_PERM_OPS ?? 150);
/** The user runs need root (CI runs as root: there they run, and fail without it, never skip). */
const RUN_USERS = userOraclesAvailable() || process.env.CI === "true";
/** Ops that change permissions and owners come more often than in the plain run. */
const WEIGHTS = { chmod: 5, chown: 4, fchmod: 3, fchown: 3, access: 4, utimes: 3, futimes: 2, mkdir: 9, rename: 8 };

/**
 * A kernel whose ops run as `cred` in /u, a directory root made for it (like the oracle's
 * root), and as the `others` users too (actors 1, 2, ...).
 */
function kernelSubjectAs(cred: OracleCred | null, others: OracleCred[] = []): () => DifferentialSubject {
  return () => {
    let current = freshDevice(32 * MiB);
    let k: Kernel = bootDevice(current);
    const root = cred ? "/u" : "/";
    const fsOf = (kk: Kernel): DiffFs => (cred ? createFs(kk.sysAs(cred)) : kk.fs) as unknown as DiffFs;
    const othersOf = (kk: Kernel): DiffFs[] => others.map((c) => createFs(kk.sysAs(c)) as unknown as DiffFs);
    if (cred) {
      k.fs.mkdirSync(root, 0o755);
      k.fs.chownSync(root, cred.uid, cred.gid);
    }
    const subject: DifferentialSubject = {
      fs: fsOf(k),
      others: othersOf(k),
      root,
      reboot() {
        expect(k.fsck(true)).toBe(0);
        const bytes = current.bytes;
        k.shutdown();
        current = new MemoryBackend(bytes);
        k = bootDevice(current);
        subject.fs = fsOf(k);
        subject.others = othersOf(k);
      },
      dispose() {
        const problems = k.fsck(true);
        const log = k.logLines.filter((l) => l.startsWith("fsck"));
        k.shutdown();
        expect(log).toEqual([]);
        expect(problems).toBe(0);
      },
    };
    return subject;
  };
}

describe("differential permissions: kernel vs Linux", () => {
  it(`as root with timed ops (${SEEDS} seeds of ${OPS} ops)`, () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const report = runDifferential({ makeSubject: kernelSubjectAs(null), seed: 7000 + seed, ops: OPS, weights: WEIGHTS, timeRate: 0.1, rebootRate: 0.01 });
      expect(report.ops).toBe(OPS);
    }
  });

  const users: [string, OracleCred][] = [
    ["nobody (65534, no groups)", { uid: 65534, gid: 65534, groups: [] }],
    ["65533 in groups 65533 and 65534", { uid: 65533, gid: 65533, groups: [65534] }],
  ];
  const oracles: UserOracle[] = [];
  const fifoDir = userOraclesAvailable() ? nodeFs.mkdtempSync(path.join(os.tmpdir(), "helix-oracle-")) : "";
  afterAll(() => {
    for (const o of oracles) o.close();
    if (fifoDir) nodeFs.rmSync(fifoDir, { recursive: true, force: true });
  });

  for (const [name, cred] of users) {
    it.skipIf(!RUN_USERS)(`as ${name} (${SEEDS} seeds of ${OPS} ops)`, () => {
      const dir = path.join(fifoDir, String(cred.uid));
      nodeFs.mkdirSync(dir);
      const oracle = openUserOracle(cred, dir);
      oracles.push(oracle);
      const errors: Record<string, number> = {};
      for (let seed = 0; seed < SEEDS; seed++) {
        const report = runDifferential({
          makeSubject: kernelSubjectAs(cred), seed: 9000 + seed, ops: OPS, weights: WEIGHTS, timeRate: 0.05, rebootRate: 0.01,
          oracleFs: oracle.fs, rootOwner: cred,
        });
        expect(report.ops).toBe(OPS);
        for (const [c, n] of Object.entries(report.errorCounts)) errors[c] = (errors[c] ?? 0) + n;
      }
      // the run met the permission errors it is about, not only successes
      expect(errors.EACCES ?? 0).toBeGreaterThan(0);
      expect(errors.EPERM ?? 0).toBeGreaterThan(0);
    });
  }

  // three users and root in one tree under a sticky, world-writable root (like /tmp): one
  // user's ops meet the others' files (sticky rules, group permissions, chown between users,
  // protected_hardlinks)
  it.skipIf(!RUN_USERS)(`as three users and root sharing a sticky directory (${SEEDS} seeds of ${OPS} ops)`, () => {
    const [a, b] = users.map(([, c]) => c);
    const c: OracleCred = { uid: 65532, gid: 65534, groups: [] };
    const rootCred: OracleCred = { uid: 0, gid: 0, groups: [] };
    const dir = path.join(fifoDir, "shared");
    nodeFs.mkdirSync(dir);
    const os = [a, b, c, rootCred].map((cr, i) => {
      const d = path.join(dir, String(i));
      nodeFs.mkdirSync(d);
      const o = openUserOracle(cr, d);
      oracles.push(o);
      return o;
    });
    const errors: Record<string, number> = {};
    for (let seed = 0; seed < SEEDS; seed++) {
      const report = runDifferential({
        makeSubject: kernelSubjectAs(a, [b, c, rootCred]), seed: 11000 + seed, ops: OPS, weights: WEIGHTS, timeRate: 0.05,
        rebootRate: 0.01, oracleFs: os[0].fs, oracleOthers: os.slice(1).map((o) => o.fs), rootOwner: a, rootMode: 0o1777,
      });
      for (const [code, n] of Object.entries(report.errorCounts)) errors[code] = (errors[code] ?? 0) + n;
    }
    expect(errors.EACCES ?? 0).toBeGreaterThan(0);
    expect(errors.EPERM ?? 0).toBeGreaterThan(0);
  });
});
