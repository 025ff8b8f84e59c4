// test/differential-nodesys.test.ts -- proves the differential harness with NodeSys as subject.
//
// HelixFs over NodeSys must agree with Node's fs for hundreds of seeds (the harness and fs.ts
// are consistent), and a subject with a planted bug must be caught with its seed and op.
// When the kernel exists, the lead plugs a kernel subject into the same runDifferential.

import { describe, expect, it } from "vitest";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createFs, Sys } from "../host/fs/fs.js";
import { NodeSys } from "../host/node/nodesys.js";
import { DifferentialMismatch, DifferentialReport, DifferentialSubject, runDifferential } from "./differential.js";

const TMP = nodeFs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
const UMASK = process.umask();
const SEEDS_PER_BLOCK = 50;
const BLOCKS = 6;
const OPS = 150;

/** A NodeSys-backed subject in a fresh directory; `root` is where the ops run inside it. */
function nodeSysSubject(root = "/", wrap: (s: Sys) => Sys = (s) => s): DifferentialSubject {
  const dir = nodeFs.mkdtempSync(path.join(TMP, "helix-subj-"));
  let sys = new NodeSys(dir);
  const subject: DifferentialSubject = {
    fs: createFs(wrap(sys), { umask: UMASK }),
    root,
    reboot() { // "remount": drop every fd and start over on the same directory
      sys.closeAll();
      sys = new NodeSys(dir);
      subject.fs = createFs(wrap(sys), { umask: UMASK });
    },
    dispose() {
      sys.closeAll();
      nodeFs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (root !== "/") subject.fs.mkdirSync(root, { recursive: true });
  return subject;
}

describe("differential harness with NodeSys as the subject", () => {
  const totals: DifferentialReport[] = [];
  for (let block = 0; block < BLOCKS; block++) {
    it(`seeds ${block * SEEDS_PER_BLOCK + 1}..${(block + 1) * SEEDS_PER_BLOCK} agree with Linux`, () => {
      for (let seed = block * SEEDS_PER_BLOCK + 1; seed <= (block + 1) * SEEDS_PER_BLOCK; seed++) {
        const root = seed % 5 === 0 ? "/mnt/w" : "/";
        totals.push(runDifferential({ makeSubject: () => nodeSysSubject(root), seed, ops: OPS, rebootRate: 0.02 }));
      }
    }, 120_000);
  }

  it("exercised every op kind and the interesting errors", () => {
    const ops = new Set(totals.flatMap((r) => Object.keys(r.opCounts)));
    const errors = new Set(totals.flatMap((r) => Object.keys(r.errorCounts)));
    expect(ops.size).toBe(42); // every OpKind, access, the fd-based fchmod/fchown/futimes, issue 13's realpath/mkdtemp/opendir/cp/lchown and readv/writev included
    for (const code of ["ENOENT", "EEXIST", "ENOTDIR", "EISDIR", "ENOTEMPTY", "EINVAL", "ELOOP", "ENAMETOOLONG", "EBADF", "EPERM", "ERR_FS_EISDIR"]) {
      expect(errors, code).toContain(code);
    }
    expect(totals.reduce((n, r) => n + r.reboots, 0)).toBeGreaterThan(0);
  });

  it("catches a planted bug and names the seed and op", () => {
    // unlink that forgets names starting with 'b': a lost-update bug a kernel could have.
    const buggy = (s: Sys): Sys => {
      const w: Sys = Object.create(s);
      w.unlink = (p) => (p.split("/").pop()!.startsWith("b") ? 0 : s.unlink(p));
      return w;
    };
    let caught: unknown;
    for (let seed = 1; seed <= 40 && !caught; seed++) {
      try {
        runDifferential({ makeSubject: () => nodeSysSubject("/", buggy), seed, ops: OPS });
      } catch (e) {
        caught = e;
      }
    }
    expect(caught).toBeInstanceOf(DifferentialMismatch);
    const m = caught as DifferentialMismatch;
    expect(m.message).toMatch(/seed=\d+ op #\d+/);
    expect(m.message).toContain("subject:");
    expect(m.message).toContain("oracle:");
  });

  it("catches wrong file contents through the tree comparison", () => {
    // pwrite that drops the last byte of every write at a position past 100: a data-loss bug.
    const buggy = (s: Sys): Sys => {
      const w: Sys = Object.create(s);
      w.write = (fd, buf, off, len, pos) => (len > 1 && (pos ?? 0) > 100 ? s.write(fd, buf, off, len - 1, pos) + 1 : s.write(fd, buf, off, len, pos));
      return w;
    };
    expect(() => {
      for (let seed = 1; seed <= 40; seed++) runDifferential({ makeSubject: () => nodeSysSubject("/", buggy), seed, ops: OPS });
    }).toThrow(DifferentialMismatch);
  });
});
