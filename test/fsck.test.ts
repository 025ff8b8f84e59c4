// test/fsck.test.ts -- fsck with teeth. Every invariant fsck checks is broken on a real image
// by a structure-aware edit (test/image-edit.ts: decode the node, change one field or item,
// reseal the crc32c), and `helix fsck` must name it (its [label]) and exit non-zero; repairs
// (-p, -y) must say what they changed, exit 1, and leave an image the next fsck finds clean
// with every file's bytes intact. Also: --data finds 8 overwritten bytes by inode, path and
// block; what the mount did is said (journal recovery, unclean unmount, backup superblock);
// names from the disk are input (EUCLEAN from lookup and readdir); the metadata error
// lifecycle; hostile shapes (a DAG of shared nodes, a 5,000-level tree). Oracles: the labels
// fsck prints, e2fsck's exit codes, and a model of the files written.

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { RecordingBackend } from "../host/crash/recorder.js";
import { bootWith, FSCK_VERBOSE, FSCK_PREEN, FSCK_YES, type Kernel } from "../host/vmm/kernel.js";
import { kernelModule } from "../host/node/node.js";
import { runHelix, type RunResult } from "./cli-run.js";
import { bytesOf } from "./helpers.js";
import {
  BLOCK, TREE, SB, I, dv, reseal, setSb, sbU64, treeRoot, leaves, leafItems, items, findItem, removeItem, rekeyItem,
  swapItems, editValue, setNodeByte, direntItem, renameEntry, inodeItem, nameHash,
} from "./image-edit.js";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "helix-fsck-"));
const RUN_MS = 60_000;
const IMG_BYTES = 16 << 20;
const enc = new TextEncoder();

afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** The files of the base image: path -> bytes (the model every repair is checked against). */
const MODEL: Record<string, Uint8Array> = {
  "/d/abcdefg": enc.encode("hello, inline\n"),
  "/d/q": enc.encode("q\n"),
  "/d/nulname": enc.encode("nul\n"),
  "/big": bytesOf(7, 3 * BLOCK + 100),
  "/e/f/deep": bytesOf(8, 5000),
};
const DIRS = ["/d", "/e", "/e/f"];

function boot(img: Uint8Array, opts: { fsckMount?: "check" | "preen" | "yes"; log?: (l: string) => void } = {}): Kernel {
  return bootWith({ device: new MemoryBackend(img), module: kernelModule(false), memoryMiB: 64, ...opts });
}

let base: Uint8Array;
const inoOf: Record<string, number> = {};

beforeAll(() => {
  const dev = new MemoryBackend(IMG_BYTES);
  const k = bootWith({ device: dev, module: kernelModule(true), mkfs: true, memoryMiB: 64 });
  for (const d of DIRS) k.fs.mkdirSync(d);
  for (const [p, b] of Object.entries(MODEL)) k.fs.writeFileSync(p, b);
  for (const p of [...DIRS, ...Object.keys(MODEL)]) inoOf[p] = Number(k.fs.statSync(p).ino);
  base = dev.bytes;
  k.shutdown();
});

/** A copy of the base image. */
const fresh = () => new Uint8Array(base);
let seq = 0;
/** Writes `img` to a new file and returns its path. */
function file(img: Uint8Array): string {
  const p = path.join(TMP, `i${seq++}.img`);
  fs.writeFileSync(p, img);
  return p;
}
const helix = (args: string[]): Promise<RunResult> => runHelix(TMP, args, RUN_MS);

/** Labels in fsck's output. */
const labels = (out: string) => [...out.matchAll(/\[([a-z-]+)\]$/gm)].map((m) => m[1]);

/**
 * Reads every model file back and compares bytes: at its path, or where a repair put it: in
 * /lost+found as #ino, itself or through an ancestor directory that went there. `except`
 * lists files a repair is allowed to lose (it said so).
 */
function expectModelIntact(img: Uint8Array, except: string[] = []): void {
  const k = boot(img);
  try {
    for (const [p, want] of Object.entries(MODEL)) {
      if (except.includes(p)) continue;
      const candidates = [p];
      for (let cut = p.length; cut > 0; cut = p.lastIndexOf("/", cut - 1)) {
        const prefix = p.slice(0, cut);
        if (inoOf[prefix] !== undefined) candidates.push(`/lost+found/#${inoOf[prefix]}${p.slice(cut)}`);
      }
      const at = candidates.find((c) => k.fs.existsSync(c) && Number(k.fs.statSync(c).ino) === inoOf[p]);
      expect(at, `${p} is reachable after the repair`).toBeDefined();
      expect(Buffer.from(k.fs.readFileSync(at!) as Uint8Array).equals(Buffer.from(want)), `${p} (read at ${at})`).toBe(true);
    }
  } finally {
    k.shutdown();
  }
}

// ---- 1. every invariant, broken on purpose ----------------------------------------------------

interface Case {
  name: string;
  label: string;
  damage: (img: Uint8Array) => void;
  /** The mode that repairs it (null: left uncorrected, exit 4 even with -y). */
  fix: "-p" | "-y" | null;
}

const extentLeaf = (img: Uint8Array) => leaves(img, TREE.extent)[0];
const bnoLast = (img: Uint8Array) => { const all = items(img, TREE.bno); return all[all.length - 1]; };

const CASES: Case[] = [
  { name: "node checksum", label: "node-csum", fix: null, damage: (img) => { img[extentLeaf(img) * BLOCK + 4000] ^= 0x40; } },
  { name: "node self-location (misdirected write)", label: "node-location", fix: null,
    damage: (img) => { const b = extentLeaf(img); dv(img, b).setBigUint64(8, BigInt(b + 1), true); reseal(img, b); } },
  { name: "node in the wrong tree", label: "node-tree", fix: null, damage: (img) => setNodeByte(img, extentLeaf(img), "tree", TREE.dirent) },
  { name: "tree balance (a leaf at the wrong level)", label: "node-level", fix: null, damage: (img) => setNodeByte(img, extentLeaf(img), "level", 1) },
  { name: "key order", label: "key-order", fix: null, damage: (img) => swapItems(img, leaves(img, TREE.inode)[0], 0, 1) },
  { name: "free extent over a used block (doubly claimed)", label: "block-free-used", fix: "-p",
    damage: (img) => editValue(img, bnoLast(img), (v) => v.setBigUint64(0, v.getBigUint64(0, true) + 1n, true)) },
  { name: "leaked blocks", label: "blocks-leaked", fix: "-p",
    damage: (img) => editValue(img, bnoLast(img), (v) => v.setBigUint64(0, v.getBigUint64(0, true) - 3n, true)) },
  { name: "by-size free tree missing an extent", label: "free-cnt", fix: "-p", damage: (img) => removeItem(img, items(img, TREE.cnt)[0]) },
  { name: "superblock free blocks count", label: "sb-free-count", fix: "-p", damage: (img) => setSb(img, SB.free, sbU64(img, SB.free) + 5) },
  { name: "superblock inodes count", label: "sb-inode-count", fix: "-p", damage: (img) => setSb(img, SB.inodeCount, sbU64(img, SB.inodeCount) + 1) },
  { name: "file link count", label: "link-count", fix: "-p",
    damage: (img) => editValue(img, inodeItem(img, inoOf["/d/abcdefg"]), (v) => v.setUint32(I.nlink, 2, true)) },
  { name: "directory link count", label: "link-count", fix: "-p",
    damage: (img) => editValue(img, inodeItem(img, inoOf["/e"]), (v) => v.setUint32(I.nlink, 7, true)) },
  { name: "inode blocks count", label: "inode-blocks", fix: "-p",
    damage: (img) => editValue(img, inodeItem(img, inoOf["/big"]), (v) => v.setBigUint64(I.blocks, 9n, true)) },
  { name: "directory parent pointer", label: "dir-parent", fix: "-p",
    damage: (img) => editValue(img, inodeItem(img, inoOf["/e/f"]), (v) => v.setBigUint64(I.parent, 2n, true)) },
  { name: "dangling directory entry", label: "dirent-dangling", fix: "-p",
    damage: (img) => editValue(img, direntItem(img, 2, "big"), (v) => v.setBigUint64(0, 9999n, true)) },
  { name: "unreachable inode (its entry removed)", label: "inode-unattached", fix: "-p", damage: (img) => removeItem(img, direntItem(img, 2, "big")) },
  { name: "unreachable directory (its entry removed)", label: "dir-unconnected", fix: "-p", damage: (img) => removeItem(img, direntItem(img, 2, "e")) },
  { name: "entry type", label: "dirent-type", fix: "-y", damage: (img) => editValue(img, direntItem(img, 2, "d"), (v) => v.setUint8(8, 8)) },
  { name: "extents of a missing inode", label: "extent-orphan", fix: "-y",
    damage: (img) => { const it = findItem(img, TREE.extent, (x) => x.k1 === BigInt(inoOf["/big"])); rekeyItem(img, it, 9999n, it.k2); } },
  { name: "unwritten extent without the unwritten feature", label: "extent-unwritten", fix: null,
    damage: (img) => editValue(img, findItem(img, TREE.extent, (x) => x.k1 === BigInt(inoOf["/big"])), (v) => v.setUint32(12, 1, true)) },
  { name: "unwritten extent with data checksums", label: "extent-unwritten-csum", fix: null,
    damage: (img) => {
      setSb(img, 60, dv(img, 0).getUint32(60, true) | 0x10, 4); // INCOMPAT_UNWRITTEN
      editValue(img, findItem(img, TREE.extent, (x) => x.k1 === BigInt(inoOf["/big"])), (v) => v.setUint32(12, 1, true));
    } },
  { name: "extent past the end of the file", label: "extent-eof", fix: "-y",
    damage: (img) => editValue(img, inodeItem(img, inoOf["/e/f/deep"]), (v) => v.setBigUint64(I.size, 10n, true)) },
  { name: "entry named ../../x (hash recomputed)", label: "name-bad", fix: "-y", damage: (img) => renameEntry(img, direntItem(img, inoOf["/d"], "abcdefg"), enc.encode("../../x"), true) },
  { name: "entry named . on disk", label: "name-bad", fix: "-y", damage: (img) => renameEntry(img, direntItem(img, inoOf["/d"], "q"), enc.encode("."), true) },
  { name: "entry name with a NUL", label: "name-bad", fix: "-y", damage: (img) => renameEntry(img, direntItem(img, inoOf["/d"], "nulname"), enc.encode("nul\0ame"), true) },
  { name: "empty entry name (length 0, item shortened to match)", label: "name-bad", fix: "-y",
    damage: (img) => {
      const it = direntItem(img, inoOf["/d"], "q");
      const old = it.value[9];
      it.value[9] = 0; // namelen
      dv(img, it.leaf).setUint16(64 + 20 * it.i + 18, 10, true); // the item's value length
      dv(img, it.leaf).setUint16(38, dv(img, it.leaf).getUint16(38, true) - old, true); // vused: the node stays sound
      rekeyItem(img, { ...it, vlen: 10 }, it.k1, nameHash(new Uint8Array(0)));
    } },
  { name: "entry name that does not match its hash", label: "name-hash", fix: "-y", damage: (img) => renameEntry(img, direntItem(img, inoOf["/d"], "abcdefg"), enc.encode("abcdefh"), false) },
];

describe("each invariant: a structure-aware edit breaks it, helix fsck names it and exits non-zero", () => {
  it("the base image is clean (exit 0, no labels)", async () => {
    const r = await helix(["fsck", file(fresh())]);
    expect(labels(r.stdout)).toEqual([]);
    expect(r.code).toBe(0);
    // the edits below find what they expect: the trees are small enough for one leaf where it matters
    expect(treeRoot(base, TREE.dirent).height).toBe(1);
  });

  for (const c of CASES) {
    it(`${c.name}: [${c.label}]${c.fix ? `, repaired by fsck ${c.fix}` : ", left uncorrected"}`, async () => {
      const img = fresh();
      c.damage(img);
      const p = file(img);
      const r = await helix(["fsck", p]);
      expect(labels(r.stdout), r.stdout).toContain(c.label);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/left uncorrected/);
      // every problem line carries labelled fields
      for (const l of r.stdout.split("\n").filter((x) => x.endsWith(`[${c.label}]`))) expect(l).toMatch(/: (inode|block|tree|key|found|count) /);
      if (c.fix === null) {
        const y = await helix(["fsck", "-y", p]);
        expect(y.code, y.stdout).toBe(4);
        expect(labels(y.stdout)).toContain(c.label);
        return;
      }
      if (c.fix === "-y") {
        // preen does not make changes it cannot make safely: it stops and says so
        const pr = await helix(["fsck", "-p", p]);
        expect(pr.code, pr.stdout).toBe(4);
        expect(pr.stdout).toMatch(/UNEXPECTED INCONSISTENCY/);
      }
      const f = await helix(["fsck", c.fix, p]);
      expect(f.code, f.stdout + f.stderr).toBe(1);
      expect(f.stdout).toMatch(/^fsck: fixed: /m);
      expect(f.stdout).toMatch(/FILE SYSTEM WAS MODIFIED/);
      const again = await helix(["fsck", p]);
      expect(labels(again.stdout), again.stdout).toEqual([]);
      expect(again.code).toBe(0);
      // -y grows an extent-eof file (as e2fsck does); extent-orphan records are /big's, renumbered
      expectModelIntact(fs.readFileSync(p), c.label === "extent-eof" ? ["/e/f/deep"] : c.label === "extent-orphan" ? ["/big"] : []);
    });
  }
});

// ---- 2. data blocks ----------------------------------------------------------------------------

describe("helix fsck --data", () => {
  it("8 overwritten bytes of a file: metadata is clean, --data names inode, path and block", async () => {
    const img = fresh();
    const ext = findItem(img, TREE.extent, (x) => x.k1 === BigInt(inoOf["/big"]));
    const disk = Number(new DataView(ext.value.buffer, ext.value.byteOffset).getBigUint64(0, true));
    img.set(enc.encode("XXXXXXXX"), (disk + 1) * BLOCK + 123);
    const p = file(img);
    const plain = await helix(["fsck", p]);
    expect(plain.code).toBe(0);
    const r = await helix(["fsck", "--data", p]);
    expect(r.code).toBe(4);
    const line = r.stdout.split("\n").find((l) => l.endsWith("[data-csum]"));
    expect(line).toBeDefined();
    expect(line).toContain(`inode ${inoOf["/big"]}`);
    expect(line).toContain(`block ${disk + 1}`);
    expect(line).toContain("path /big");
    expect(r.stdout).toMatch(/data blocks checked/);
  });
});

// ---- 3. what the mount did on the way ------------------------------------------------------------

/** An image cut mid-life: `n` fsynced files in committed, uncheckpointed transactions. */
function crashed(n: number): { img: Uint8Array; k: Kernel } {
  const img = fresh();
  const dev = new MemoryBackend(img);
  const k = bootWith({ device: dev, module: kernelModule(false), memoryMiB: 64 });
  for (let i = 0; i < n; i++) {
    const fd = k.fs.openSync(`/c${i}`, "w");
    k.fs.writeSync(fd, bytesOf(100 + i, 300));
    k.fs.fsyncSync(fd);
    k.fs.closeSync(fd);
  }
  return { img: new Uint8Array(dev.bytes), k };
}

describe("reporting what the check did on the way", () => {
  it("after a crash: 'was not cleanly unmounted' and 'recovering journal (N transactions)', then clean", async () => {
    const { img, k } = crashed(3);
    k.shutdown();
    const r = await helix(["fsck", file(img)]);
    expect(r.stdout).toMatch(/was not cleanly unmounted, check forced/);
    expect(r.stdout).toMatch(/recovering journal \(\d+ transactions?\)/);
    expect(r.code).toBe(0);
  });

  it("a journal superblock whose log start lies outside the journal: said, put right by recovery, exit 1", async () => {
    const img = fresh();
    const j = sbU64(img, SB.journalStart);
    dv(img, j).setUint32(48, 0xfffffff0, true);
    reseal(img, j);
    const p = file(img);
    const r = await helix(["fsck", p]);
    expect(r.stdout).toMatch(/journal superblock damaged \(log start outside the journal\): rewritten by the journal recovery/);
    expect(r.code).toBe(1);
    expect(dv(fs.readFileSync(p), j).getUint32(48, true)).toBe(1);
    expect((await helix(["fsck", p])).code).toBe(0);
  });

  it("a damaged primary superblock: 'restored from the backup', exit 1 (corrected)", async () => {
    const img = fresh();
    img[100] ^= 1; // no reseal: block 0 fails its checksum
    const p = file(img);
    const r = await helix(["fsck", p]);
    expect(r.stdout).toMatch(/primary superblock was damaged, restored from the backup/);
    expect(r.code).toBe(1);
    expect((await helix(["fsck", p])).code).toBe(0);
  });

  it("a damaged transaction before committed ones: [journal-damaged], read-only; -y gives them up, then clean", async () => {
    const { img, k } = crashed(4);
    k.shutdown();
    // the first descriptor's first image: change a byte and reseal the image itself, so only
    // the transaction checksum in its commit block tells
    const j = sbU64(img, SB.journalStart);
    const head = dv(img, j).getUint32(48, true);
    const desc = j + head;
    expect(dv(img, desc).getUint32(0, true)).toBe(0x444a4c48); // HLJD
    const image = desc + 1;
    img[image * BLOCK + 3000] ^= 0xff;
    reseal(img, image);
    const p = file(img);
    const r = await helix(["fsck", p]);
    expect(labels(r.stdout)).toContain("journal-damaged");
    expect(r.code).toBe(4);
    const pr = await helix(["fsck", "-p", p]);
    expect(pr.code).toBe(4);
    const y = await helix(["fsck", "-y", p]);
    expect(y.stdout).toMatch(/journal damaged: committed transactions after the damaged one discarded/);
    expect(y.code, y.stdout).toBe(1);
    const after = await helix(["fsck", p]);
    expect(after.code, after.stdout).toBe(0);
  });

  it("problems past the first 100 are counted: '... and M more'", async () => {
    const img = fresh();
    const k = bootWith({ device: new MemoryBackend(img), module: kernelModule(false), memoryMiB: 64 });
    for (let i = 0; i < 130; i++) k.fs.writeFileSync(`/m${i}`, "x");
    k.shutdown();
    // every new file gets link count 3 (it has one name): 130 [link-count] problems
    for (const it of items(img, TREE.inode)) {
      const mode = new DataView(it.value.buffer, it.value.byteOffset).getUint32(0, true);
      if ((mode & 0o170000) === 0o100000 && it.k1 > BigInt(inoOf["/e/f/deep"])) editValue(img, it, (v) => v.setUint32(I.nlink, 3, true));
    }
    const r = await helix(["fsck", file(img)]);
    expect(r.code).toBe(4);
    expect(r.stdout.split("\n").filter((l) => l.endsWith("[link-count]"))).toHaveLength(100);
    expect(r.stdout).toMatch(/^fsck: \.\.\. and 30 more problem\(s\) not shown$/m);
    expect(r.stdout).toMatch(/: 130 problem\(s\):/);
  });

  it("usage: -p with -y is a usage error; a missing image is an operational error (8)", async () => {
    const p = file(fresh());
    const u = await helix(["fsck", "-p", "-y", p]);
    expect(u.code).toBe(2);
    const m = await helix(["fsck", path.join(TMP, "none.img")]);
    expect(m.code).toBe(8);
    expect(m.stderr.trim().split("\n")).toHaveLength(1);
  });
});

// ---- 4. names from the disk are input -------------------------------------------------------

describe("names from the disk: lookup and readdir say EUCLEAN", () => {
  const bad: [string, string, Uint8Array, boolean][] = [
    ["../../x (rehashed)", "abcdefg", enc.encode("../../x"), true],
    [". (rehashed)", "q", enc.encode("."), true],
    ["a NUL (rehashed)", "nulname", enc.encode("nul\0ame"), true],
    ["a name not matching its hash", "abcdefg", enc.encode("abcdefh"), false],
  ];
  for (const [what, old, name, rehash] of bad) {
    it(`an entry with ${what}: readdir fails with EUCLEAN instead of handing it out or hiding it`, () => {
      const img = fresh();
      renameEntry(img, direntItem(img, inoOf["/d"], old), name, rehash);
      const k = boot(img);
      try {
        expect(() => k.fs.readdirSync("/d")).toThrow(expect.objectContaining({ code: "EUCLEAN" }));
      } finally {
        k.shutdown();
      }
    });
  }

  it("a raw syscall cannot store such a name: a NUL in a component is EINVAL, and nothing is created", () => {
    const k = boot(fresh());
    try {
      expect(k.sys.mkdir("/a\0b", 0o755)).toBe(-22);
      expect(k.sys.open("/c\0d", 0o100 | 1, 0o644)).toBe(-22);
      expect(k.fs.readdirSync("/").sort()).toEqual(["big", "d", "e"]);
      expect(k.fsck(true)).toBe(0);
    } finally {
      k.shutdown();
    }
  });

  it("lookup of a name whose hash chain holds an unsound entry: EUCLEAN, not ENOENT", () => {
    const img = fresh();
    renameEntry(img, direntItem(img, inoOf["/d"], "abcdefg"), enc.encode("abcdefh"), false);
    const k = boot(img);
    try {
      expect(() => k.fs.statSync("/d/abcdefg")).toThrow(expect.objectContaining({ code: "EUCLEAN" }));
    } finally {
      k.shutdown();
    }
  });
});

// ---- 5. the metadata error lifecycle (docs/decisions.md) -------------------------------------

describe("the metadata error lifecycle", () => {
  it("an error aborts the journal, later changes get EROFS, the next mount is read-only and flagged, fsck -y clears it", async () => {
    const img = fresh();
    renameEntry(img, direntItem(img, inoOf["/d"], "abcdefg"), enc.encode("../../x"), true);
    const k = bootWith({ device: new MemoryBackend(img), module: kernelModule(false), memoryMiB: 64 });
    expect(k.info().readOnly).toBe(0);
    expect(() => k.fs.readdirSync("/d")).toThrow(expect.objectContaining({ code: "EUCLEAN" }));
    expect(k.info().errored).toBe(1);
    expect(() => k.fs.writeFileSync("/after", "x")).toThrow(expect.objectContaining({ code: "EROFS" }));
    k.shutdown();
    const after = new Uint8Array(img);
    expect(dv(after, 0).getUint32(SB.state, true)).toBe(2); // STATE_ERROR on disk
    const k2 = boot(new Uint8Array(after));
    expect(k2.info().readOnly).toBe(1);
    expect(k2.info().errorState).toBe(1);
    expect(() => k2.fs.writeFileSync("/after", "x")).toThrow(expect.objectContaining({ code: "EROFS" }));
    k2.shutdown();
    const p = file(after);
    const check = await helix(["fsck", p]);
    expect(check.stdout).toMatch(/contains a filesystem with errors, check forced/);
    expect(labels(check.stdout)).toContain("name-bad");
    expect(check.code).toBe(4);
    expect(dv(fs.readFileSync(p), 0).getUint32(SB.state, true)).toBe(2); // still flagged
    const y = await helix(["fsck", "-y", p]);
    expect(y.code, y.stdout).toBe(1);
    const repaired = new Uint8Array(fs.readFileSync(p));
    expect(dv(repaired, 0).getUint32(SB.state, true)).toBe(1); // clean: the flag is gone
    const k3 = boot(repaired);
    try {
      expect(k3.info().readOnly).toBe(0);
      k3.fs.writeFileSync("/after", "x");
      expect(k3.fsck(true)).toBe(0);
    } finally {
      k3.shutdown();
    }
    expectModelIntact(repaired);
  });
});

// ---- 6. repair property: random structural damage, fsck -y, clean, every byte intact ----------

/** Damage kinds the repair must undo without losing a byte of any file. */
const REPAIRABLE: ((img: Uint8Array, rnd: () => number) => void)[] = [
  (img, rnd) => { const all = items(img, TREE.inode); const it = all[Math.floor(rnd() * all.length)]; editValue(img, it, (v) => v.setUint32(I.nlink, v.getUint32(I.nlink, true) + 1 + Math.floor(rnd() * 3), true)); },
  (img, rnd) => { const fl = Object.keys(MODEL); const it = inodeItem(img, inoOf[fl[Math.floor(rnd() * fl.length)]]); editValue(img, it, (v) => v.setBigUint64(I.blocks, BigInt(Math.floor(rnd() * 50)), true)); },
  (img, rnd) => setSb(img, SB.free, sbU64(img, SB.free) + 1 + Math.floor(rnd() * 100)),
  (img, rnd) => setSb(img, SB.inodeCount, sbU64(img, SB.inodeCount) + 1 + Math.floor(rnd() * 3)),
  (img, rnd) => { const it = bnoLast(img); editValue(img, it, (v) => v.setBigUint64(0, v.getBigUint64(0, true) - BigInt(1 + Math.floor(rnd() * 20)), true)); },
  (img) => { const it = bnoLast(img); editValue(img, it, (v) => v.setBigUint64(0, v.getBigUint64(0, true) + 1n, true)); },
  (img, rnd) => { const es = items(img, TREE.dirent).filter((x) => x.k1 !== 1n); removeItem(img, es[Math.floor(rnd() * es.length)]); },
  (img, rnd) => { const es = items(img, TREE.dirent).filter((x) => x.k1 !== 1n); editValue(img, es[Math.floor(rnd() * es.length)], (v) => v.setBigUint64(0, 5000n + BigInt(Math.floor(rnd() * 100)), true)); },
  (img) => { try { renameEntry(img, direntItem(img, inoOf["/d"], "abcdefg"), enc.encode("../../x"), true); } catch { /* already renamed or removed */ } },
  (img) => { try { renameEntry(img, direntItem(img, inoOf["/d"], "nulname"), enc.encode("nulnamf"), false); } catch { /* gone */ } },
  (img, rnd) => { const ds = DIRS.map((d) => inoOf[d]); editValue(img, inodeItem(img, ds[Math.floor(rnd() * ds.length)]), (v) => v.setBigUint64(I.parent, 2n + BigInt(Math.floor(rnd() * 20)), true)); },
];

function rng(seed: number): () => number {
  let x = seed * 2654435761 >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

describe("repair property", () => {
  it("40 images with 1-4 random structural damages: fsck -y, then fsck is clean and every file reads back its exact bytes", () => {
    let fixes = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = rng(seed);
      const img = fresh();
      const n = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < n; i++) REPAIRABLE[Math.floor(rnd() * REPAIRABLE.length)](img, rnd);
      const log: string[] = [];
      const k = bootWith({ device: new MemoryBackend(img), module: kernelModule(false), memoryMiB: 64, fsckMount: "yes", log: (l) => log.push(l) });
      let found = k.fsck(FSCK_VERBOSE | FSCK_YES);
      expect(found, `seed ${seed}: the damage is seen`).toBeGreaterThan(0);
      for (let pass = 0; pass < 6 && found > 0; pass++) {
        const fixed = k.fsckStats().fixed;
        fixes += fixed;
        if (fixed === 0) break;
        found = k.fsck(FSCK_VERBOSE | FSCK_YES);
      }
      expect(found, `seed ${seed}: ${log.filter((l) => l.startsWith("fsck")).join("\n")}`).toBe(0);
      k.shutdown();
      const after = new Uint8Array(img);
      const k2 = boot(new Uint8Array(after));
      const left = k2.fsck(true);
      expect(left, `seed ${seed} after remount: ${k2.logLines.filter((l) => l.startsWith("fsck")).join("\n")}`).toBe(0);
      k2.shutdown();
      expectModelIntact(after);
    }
    expect(fixes).toBeGreaterThan(40);
  });

  it("a repair is crash-safe: cut at every write of fsck -y, the image mounts with the old problems or none, and fsck -y then leaves every file intact", () => {
    const img = fresh();
    editValue(img, inodeItem(img, inoOf["/d/q"]), (v) => v.setUint32(I.nlink, 4, true));
    editValue(img, bnoLast(img), (v) => v.setBigUint64(0, v.getBigUint64(0, true) - 5n, true));
    removeItem(img, direntItem(img, 2, "big"));
    const damaged = new Uint8Array(img);
    const rec = new RecordingBackend(new MemoryBackend(img));
    const k = bootWith({ device: rec, module: kernelModule(false), memoryMiB: 64, fsckMount: "yes" });
    const log0: string[] = [];
    const before = new Set(labels((() => { const n = k.fsck(true); log0.push(...k.logLines.filter((l) => l.startsWith("fsck"))); return log0.join("\n"); })()));
    expect(before).toEqual(new Set(["link-count", "blocks-leaked", "free-cnt", "sb-free-count", "inode-unattached"]));
    k.logLines.length = 0;
    expect(k.fsck(FSCK_VERBOSE | FSCK_YES)).toBeGreaterThan(0);
    expect(k.fsck(true)).toBe(0);
    k.shutdown();
    const n = rec.log.length;
    expect(n).toBeGreaterThan(5);
    let old = 0, clean = 0;
    for (let cut = 0; cut <= n; cut++) {
      const state = new Uint8Array(damaged);
      rec.log.replay(new MemoryBackend(state), { entry: cut });
      const kc = boot(state, { fsckMount: "yes" });
      const found = kc.fsck(true);
      const seen = new Set(labels(kc.logLines.filter((l) => l.startsWith("fsck")).join("\n")));
      if (found === 0) clean++;
      else { expect([...seen].sort(), `cut ${cut}`).toEqual([...before].sort()); old++; }
      for (let pass = 0; pass < 6 && kc.fsck(FSCK_YES) > 0; pass++) { /* repair */ }
      expect(kc.fsck(true), `cut ${cut}`).toBe(0);
      kc.shutdown();
      expectModelIntact(state);
    }
    expect(old).toBeGreaterThan(0);
    expect(clean).toBeGreaterThan(0);
  });

  it("preen refuses what is not safe: a bad name stays with -p (problems left), -y fixes it", () => {
    const img = fresh();
    renameEntry(img, direntItem(img, inoOf["/d"], "abcdefg"), enc.encode("../../x"), true);
    const k = boot(img, { fsckMount: "preen" });
    expect(k.fsck(FSCK_VERBOSE | FSCK_PREEN)).toBeGreaterThan(0);
    expect(k.fsckStats().fixed).toBe(0);
    expect(k.fsck(false)).toBeGreaterThan(0);
    k.shutdown();
  });
});

// ---- 7. hostile shapes ---------------------------------------------------------------------------

describe("hostile shapes", () => {
  it("a height-8 inode tree whose internal nodes all share one child: fsck and inspect end at once; fsck names the shared node", async () => {
    const img = fresh();
    const { root: leaf } = treeRoot(img, TREE.inode);
    const tid = dv(img, leaf).getBigUint64(16, true);
    let below = leaf;
    for (let lvl = 1; lvl <= 7; lvl++) {
      const b = 4000 + lvl, v = dv(img, b);
      img.fill(0, b * BLOCK, (b + 1) * BLOCK);
      v.setUint32(0, 0x4e544248, true); v.setBigUint64(8, BigInt(b), true); v.setBigUint64(16, tid, true);
      v.setUint8(32, 0); v.setUint8(33, lvl); v.setUint16(34, 126, true); v.setUint16(36, 4096, true);
      for (let j = 0; j < 126; j++) {
        v.setBigUint64(64 + 32 * j, BigInt(j), true); v.setBigUint64(64 + 32 * j + 16, BigInt(below), true);
        v.setBigUint64(64 + 32 * j + 24, tid, true); // every child's generation: the tid all carry
      }
      reseal(img, b);
      below = b;
    }
    dv(img, 0).setBigUint64(SB.roots, BigInt(below), true);
    dv(img, 0).setUint32(SB.roots + 8, 8, true);
    reseal(img, 0);
    const p = file(img);
    const t0 = Date.now();
    const r = await helix(["fsck", p]);
    expect(labels(r.stdout)).toContain("node-shared");
    expect(r.code).toBe(4);
    const ins = await helix(["inspect", p]);
    expect(ins.code).not.toBeNull();
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it("a consistent 5,000-level directory tree is clean (no depth cap in reachability)", () => {
    const dev = new MemoryBackend(64 << 20);
    const k = bootWith({ device: dev, module: kernelModule(false), mkfs: true, memoryMiB: 64 });
    k.fs.mkdirSync("/c");
    for (let i = 1; i < 5000; i++) { k.fs.mkdirSync("/n"); k.fs.renameSync("/c", "/n/d"); k.fs.renameSync("/n", "/c"); }
    expect(k.fsck(true), k.logLines.filter((l) => l.startsWith("fsck")).slice(0, 3).join("\n")).toBe(0);
    k.shutdown();
  });

  it("a cycle of directories detached from the root is found and -y reconnects it to /lost+found", () => {
    const img = fresh();
    // /e/f's entry moves into /e/f itself: /e/f is then its own parent through its entry
    const it = direntItem(img, inoOf["/e"], "f");
    rekeyItem(img, it, BigInt(inoOf["/e/f"]), it.k2);
    const k = boot(img, { fsckMount: "yes" });
    const log = () => k.logLines.filter((l) => l.startsWith("fsck")).join("\n");
    expect(k.fsck(true)).toBeGreaterThan(0);
    expect(log()).toMatch(/\[dir-unconnected\]/);
    let found = 1;
    for (let pass = 0; pass < 6 && found > 0; pass++) found = k.fsck(FSCK_VERBOSE | FSCK_YES);
    expect(k.fsck(true), log()).toBe(0);
    k.shutdown();
  });
});

