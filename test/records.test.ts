// test/records.test.ts -- issue 10 §6: the kernel trusts no field it reads from disk.
// Every case crafts a real image whose checksums are all valid (test/craft.ts) with one field
// made hostile, boots the debug kernel (assertions on) on it and asserts the behaviour the
// issue asks for: EUCLEAN through the metadata error path (journal aborted, read-only), never
// a trap (EKERNELPANIC), never a byte that is not the file's; or, for block and inode numbers,
// that nothing outside the data area is ever written, freed or replayed over.

import { describe, it, expect, beforeAll } from "vitest";
import fc from "fast-check";
import { KernelPanic, type Kernel } from "../host/vmm/kernel.js";
import { MemoryBackend } from "../host/vmm/blockdev.js";
import { bootDevice, freshDevice, MiB, BLOCK } from "./helpers.js";
import {
  TREE_INODE, TREE_DIRENT, TREE_EXTENT, TREE_BNO, TREE_CNT, N, I, EXT, DE, LEAF_ITEM, NODE_ITEM, ORPHAN_DIR,
  blockView, reseal, makeImage, deviceOf, readSuper, treeRoot, nodesOf, leavesOf, leafItems, findItem,
  insertLeafItem, logTransactions, retag, expectErrno, expectReadOnlyAfterError,
} from "./craft.js";

/** Boots the debug kernel on a copy of `img` (a refused mount or a trap fails the test). */
function boot(img: Uint8Array): Kernel { return bootDevice(deviceOf(img)); }

/** /small (ino 16, inline), /big (ino 17, 5 extent blocks), /link (ino 18, inline symlink), /d/x. */
let base: Uint8Array;
const BIG = Buffer.alloc(20000, 65);
beforeAll(() => {
  base = makeImage((fs) => {
    fs.writeFileSync("/small", "hello\n");
    fs.writeFileSync("/big", BIG);
    fs.symlinkSync("/small", "/link");
    fs.mkdirSync("/d");
    fs.writeFileSync("/d/x", "x");
  });
});

/** A copy of `img` with `edit` applied to the bytes of block `b`, resealed. */
function edited(img: Uint8Array, b: number, edit: (v: DataView) => void): Uint8Array {
  const out = img.slice();
  edit(blockView(out, b));
  reseal(out, b);
  return out;
}

describe("B+ tree node fields are verified when a node is read (bt_node_verify)", () => {
  it("a leaf with nitems 0xFFFF: readdir is EUCLEAN and the next create no trap (trap-nitems)", () => {
    const leaf = treeRoot(base, TREE_DIRENT).root;
    const k = boot(edited(base, leaf, (v) => v.setUint16(N.NITEMS, 0xffff, true)));
    expectErrno(() => k.fs.readdirSync("/"), ["EUCLEAN"]);
    expectErrno(() => k.fs.writeFileSync("/b", "y"), ["EUCLEAN", "EROFS"]);
    expectReadOnlyAfterError(k);
    expect(k.logLines.some((l) => /corrupt metadata at block \d+ .*item count/.test(l))).toBe(true);
    k.shutdown();
  });

  // one field of the dirent root leaf (the leaf readdir of / reads), each made inconsistent
  // with the block; the node's crc is valid
  const leafCases: [string, (v: DataView) => void][] = [
    ["vend 0xFFFF", (v) => v.setUint16(N.VEND, 0xffff, true)],
    ["vend inside the item array", (v) => v.setUint16(N.VEND, N.ITEMS + 4, true)],
    ["vused not the sum of the values", (v) => v.setUint16(N.VUSED, v.getUint16(N.VUSED, true) + 1, true)],
    ["a value running past the block", (v) => v.setUint16(N.ITEMS + 16, 4090, true)],
    ["a value length of 0xFFFF", (v) => v.setUint16(N.ITEMS + 18, 0xffff, true)],
  ];
  for (const [name, edit] of leafCases) {
    it(`a leaf with ${name}: EUCLEAN, read-only`, () => {
      const leaf = treeRoot(base, TREE_DIRENT).root;
      expect(leafItems(base, leaf).length).toBeGreaterThanOrEqual(2);
      const k = boot(edited(base, leaf, edit));
      expectErrno(() => k.fs.readdirSync("/"), ["EUCLEAN"]);
      expectReadOnlyAfterError(k);
      k.shutdown();
    });
  }

  it("a leaf with keys out of order: EUCLEAN, not a failed search assertion", () => {
    const a = findItem(base, TREE_INODE, 16), b = findItem(base, TREE_INODE, 17);
    expect(b.block).toBe(a.block);
    const k = boot(edited(base, a.block, (v) => {
      v.setBigUint64(a.itemOff, 17n, true);
      v.setBigUint64(b.itemOff, 16n, true);
    }));
    expectErrno(() => k.fs.statSync("/small"), ["EUCLEAN"]);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  it("an internal node with nitems past its capacity or a child outside the data area: EUCLEAN", () => {
    const img = makeImage((fs) => { for (let i = 0; i < 400; i++) fs.writeFileSync(`/f${i}`, "z"); });
    const { root, height } = treeRoot(img, TREE_DIRENT);
    expect(height).toBeGreaterThan(1);
    for (const edit of [
      (v: DataView) => v.setUint16(N.NITEMS, 0xffff, true),
      (v: DataView) => v.setBigUint64(N.ITEMS + NODE_ITEM + 16, 0n, true), // child 1 -> the superblock
      (v: DataView) => v.setBigUint64(N.ITEMS + 16, 3n, true), // child 0 -> the journal
    ]) {
      const k = boot(edited(img, root, edit));
      expectErrno(() => { for (let i = 0; i < 400; i++) k.fs.statSync(`/f${i}`); }, ["EUCLEAN"]);
      expectReadOnlyAfterError(k);
      k.shutdown();
    }
  });

  it("fsck flags a leaf with vend 0xFFFF", () => {
    const leaf = treeRoot(base, TREE_EXTENT).root;
    const k = boot(edited(base, leaf, (v) => v.setUint16(N.VEND, 0xffff, true)));
    expect(k.fsck(true)).toBeGreaterThan(0);
    expect(k.logLines.some((l) => l.startsWith("fsck") && /vend/.test(l))).toBe(true);
    k.shutdown();
  });
});

describe("record fields are verified where a record is used", () => {
  it("an inline inode claiming 64 KiB: read and append are EUCLEAN, no byte of kernel memory (trap-inline size)", () => {
    const it = findItem(base, TREE_INODE, 16);
    const k = boot(edited(base, it.block, (v) => v.setBigUint64(it.voff + I.SIZE, 65536n, true)));
    expectErrno(() => k.fs.readFileSync("/small"), ["EUCLEAN"]);
    expectErrno(() => k.fs.appendFileSync("/small", "more"), ["EUCLEAN", "EROFS"]);
    expectReadOnlyAfterError(k);
    expect(k.logLines.some((l) => /corrupt inode 16: inline size/.test(l))).toBe(true);
    k.shutdown();
  });

  it("an inline symlink claiming 64 KiB: readlink is EUCLEAN, not kernel memory", () => {
    const it = findItem(base, TREE_INODE, 18);
    const k = boot(edited(base, it.block, (v) => v.setBigUint64(it.voff + I.SIZE, 65536n, true)));
    expectErrno(() => k.fs.readlinkSync("/link"), ["EUCLEAN"]);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  it("the INLINE flag on a file with extents: EUCLEAN, the record is not read as data (trap-inline flag)", () => {
    const it = findItem(base, TREE_INODE, 17);
    const k = boot(edited(base, it.block, (v) => v.setUint32(it.voff + I.FLAGS, 1, true)));
    expectErrno(() => k.fs.readFileSync("/big"), ["EUCLEAN"]);
    expectErrno(() => k.fs.appendFileSync("/big", "more"), ["EUCLEAN", "EROFS"]);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  it("an inode of size 2^63: EUCLEAN, and fsck flags it", () => {
    const it = findItem(base, TREE_INODE, 17);
    const img = edited(base, it.block, (v) => v.setBigUint64(it.voff + I.SIZE, 1n << 63n, true));
    let k = boot(img);
    expect(k.fsck(true)).toBeGreaterThan(0);
    expect(k.logLines.some((l) => l.startsWith("fsck") && /size beyond the largest file/.test(l))).toBe(true);
    k.shutdown();
    k = boot(img);
    expectErrno(() => k.fs.readFileSync("/big"), ["EUCLEAN"]);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  it("a dirent whose namelen exceeds its record: lookup and readdir are EUCLEAN (not ENOENT, not an empty dir)", () => {
    const leaf = treeRoot(base, TREE_DIRENT).root;
    const it = leafItems(base, leaf).find((x) => x.k1 === 2n && blockView(base, leaf).getUint8(x.voff + DE.NAMELEN) === 5)!;
    const img = edited(base, leaf, (v) => v.setUint8(it.voff + DE.NAMELEN, 200));
    let k = boot(img);
    expectErrno(() => k.fs.readdirSync("/"), ["EUCLEAN"]);
    expectReadOnlyAfterError(k);
    k.shutdown();
    k = boot(img);
    const name = Buffer.from(base.subarray(leaf * BLOCK + it.voff + DE.NAME, leaf * BLOCK + it.voff + DE.NAME + 5)).toString();
    expectErrno(() => k.fs.statSync(`/${name}`), ["EUCLEAN"]);
    k.shutdown();
  });

  it("a dirent naming the root inode or an ino past 2^32 (a page cache mapping shared with ino & 0xffffffff): EUCLEAN", () => {
    const leaf = treeRoot(base, TREE_DIRENT).root;
    const it = leafItems(base, leaf).find((x) => x.k1 === 2n && blockView(base, leaf).getBigUint64(x.voff + DE.INO, true) === 19n)!; // /d
    for (const ino of [2n, (1n << 32n) + 19n]) {
      const k = boot(edited(base, leaf, (v) => v.setBigUint64(it.voff + DE.INO, ino, true)));
      expectErrno(() => k.fs.statSync("/d"), ["EUCLEAN"]);
      expectReadOnlyAfterError(k);
      k.shutdown();
    }
  });

  // the extent record of /big (ino 17: one extent of 5 blocks), one field at a time
  const extentCases: [string, (v: DataView, voff: number) => void][] = [
    ["length 0", (v, o) => v.setUint32(o + EXT.LEN, 0, true)],
    ["length 257", (v, o) => v.setUint32(o + EXT.LEN, 257, true)],
    ["more blocks than checksums", (v, o) => v.setUint32(o + EXT.LEN, 6, true)],
    ["unknown flags", (v, o) => v.setUint32(o + EXT.FLAGS, 2, true)],
    ["the unwritten flag on an image without the unwritten feature", (v, o) => v.setUint32(o + EXT.FLAGS, 1, true)],
    ["disk blocks in the journal", (v, o) => v.setBigUint64(o + EXT.DISK, 2n, true)],
    ["disk blocks past the end", (v, o) => v.setBigUint64(o + EXT.DISK, 4094n, true)],
  ];
  for (const [name, edit] of extentCases) {
    it(`an extent with ${name}: read is EUCLEAN`, () => {
      const it = findItem(base, TREE_EXTENT, 17);
      const k = boot(edited(base, it.block, (v) => edit(v, it.voff)));
      expectErrno(() => k.fs.readFileSync("/big"), ["EUCLEAN"]);
      expectReadOnlyAfterError(k);
      k.shutdown();
    });
  }
});

describe("block and inode numbers are verified against the data area", () => {
  it("an extent into the journal is never freed: no acknowledged file is lost across a remount (journal-alloc)", () => {
    const img = makeImage((fs) => fs.writeFileSync("/big", BIG));
    const it = findItem(img, TREE_EXTENT, 16);
    const dev = deviceOf(edited(img, it.block, (v) => v.setBigUint64(it.voff + EXT.DISK, 2n, true)));
    let k = bootDevice(dev);
    expectErrno(() => k.fs.unlinkSync("/big"), ["EUCLEAN"]);
    const acked: number[] = [];
    const written: number[] = [];
    for (let i = 0; i < 200; i++) {
      try { k.fs.writeFileSync(`/w${i}`, Buffer.alloc(8192, i)); written.push(i); } catch (e) { expect(e).not.toBeInstanceOf(KernelPanic); }
    }
    try { k.fs.syncSync(); acked.push(...written); } catch (e) { expect(e).not.toBeInstanceOf(KernelPanic); }
    const bytes = dev.bytes; // shutdown closes the device
    try { k.shutdown(); } catch (e) { expect(e).not.toBeInstanceOf(KernelPanic); }
    k = bootDevice(new MemoryBackend(bytes));
    for (const i of acked) expect(Buffer.from(k.fs.readFileSync(`/w${i}`)).equals(Buffer.alloc(8192, i)), `/w${i}`).toBe(true);
    k.shutdown();
  });

  it("a free extent at block 0: allocation is EUCLEAN, not ENOSPC with space free", () => {
    const img = makeImage((fs) => fs.writeFileSync("/a", "x"));
    const bno = leafItems(img, treeRoot(img, TREE_BNO).root);
    expect(bno.length).toBe(1); // one free extent: every allocation draws from it
    const len = blockView(img, bno[0].block).getBigUint64(bno[0].voff, true);
    let out = edited(img, bno[0].block, (v) => v.setBigUint64(bno[0].itemOff, 0n, true));
    const cnt = findItem(out, TREE_CNT, len, bno[0].k1);
    out = edited(out, cnt.block, (v) => v.setBigUint64(cnt.itemOff + 8, 0n, true));
    const k = boot(out);
    k.fs.writeFileSync("/new", Buffer.alloc(8192, 7));
    expectErrno(() => k.fs.syncSync(), ["EUCLEAN"]);
    expectReadOnlyAfterError(k);
    expect(k.logLines.some((l) => /corrupt free extent \(0, /.test(l))).toBe(true);
    k.shutdown();
  });

  it("free-space trees that disagree (by-size names a start the by-offset tree lacks): EUCLEAN, not ENOENT", () => {
    const img = makeImage((fs) => fs.writeFileSync("/a", "x"));
    const bno = leafItems(img, treeRoot(img, TREE_BNO).root);
    expect(bno.length).toBe(1);
    const len = blockView(img, bno[0].block).getBigUint64(bno[0].voff, true);
    const cnt = findItem(img, TREE_CNT, len, bno[0].k1);
    const k = boot(edited(img, cnt.block, (v) => v.setBigUint64(cnt.itemOff + 8, bno[0].k1 - 1n, true)));
    k.fs.writeFileSync("/new", Buffer.alloc(8192, 7));
    expectErrno(() => k.fs.syncSync(), ["EUCLEAN"]);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  it("an AGFL count past AGFL_MAX: EUCLEAN at the first allocation, not a read past the superblock", () => {
    const k = boot(edited(base, 0, (v) => v.setUint32(192, 0xffff, true)));
    k.fs.writeFileSync("/new", Buffer.alloc(8192, 7));
    expectErrno(() => k.fs.syncSync(), ["EUCLEAN"]);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  it("an AGFL entry in the journal is never used for a free-space tree node", () => {
    const img = makeImage((fs) => { for (let i = 0; i < 320; i++) fs.writeFileSync(`/f${i}`, Buffer.alloc(4096, i)); });
    const out = edited(img, 0, (v) => { for (let i = 0; i < 32; i++) v.setBigUint64(200 + 8 * i, 5n, true); });
    const dev = deviceOf(out);
    const k = bootDevice(dev);
    const journal = out.slice(BLOCK, (1 + readSuper(out).jblocks) * BLOCK);
    // every other file goes: 160 separate free extents split the by-offset leaf, whose new
    // node would come from the AGFL
    let err: any;
    try {
      for (let i = 0; i < 320; i += 2) k.fs.unlinkSync(`/f${i}`);
      k.fs.syncSync();
    } catch (e) { err = e; }
    expect(err?.code).toBe("EUCLEAN");
    expectReadOnlyAfterError(k);
    expect(k.logLines.some((l) => /corrupt AGFL entry or count 5/.test(l))).toBe(true);
    const bytes = dev.bytes; // shutdown closes the device
    k.shutdown();
    // nothing was written into the log as a tree node
    const after = bytes.subarray(BLOCK, (1 + readSuper(out).jblocks) * BLOCK);
    for (let b = 0; b < journal.length / BLOCK; b++) {
      expect(blockView(after, b).getUint32(0, true) === 0x4e544248 && blockView(after, b).getBigUint64(8, true) === 5n, `log block ${b + 1}`).toBe(false);
    }
  });

  /** The base image with item (ORPHAN_DIR, ino) -> { ino, DT_REG, namelen 0 } added. */
  function withOrphan(img: Uint8Array, ino: number): Uint8Array {
    const out = img.slice();
    const rec = new Uint8Array(10);
    new DataView(rec.buffer).setBigUint64(0, BigInt(ino), true);
    rec[8] = 8;
    insertLeafItem(out, treeRoot(out, TREE_DIRENT).root, BigInt(ORPHAN_DIR), BigInt(ino), rec);
    return out;
  }

  it("an orphan entry naming the root is not freed at mount (orphan-root)", () => {
    const k = boot(withOrphan(base, 2));
    expect(k.fs.readdirSync("/").sort()).toEqual(["big", "d", "link", "small"]);
    expect(k.fs.statSync("/").isDirectory()).toBe(true);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  it("an orphan entry naming a live file with links does not delete it", () => {
    const k = boot(withOrphan(base, 17));
    expect(Buffer.from(k.fs.readFileSync("/big")).equals(BIG)).toBe(true);
    expect(k.logLines.some((l) => /orphan list names inode 17/.test(l))).toBe(true);
    expectReadOnlyAfterError(k);
    k.shutdown();
  });

  /** An image whose log holds two committed transactions (A: /a, B: /b), not checkpointed. */
  function twoTransactions(): Uint8Array {
    const dev = freshDevice(16 * MiB);
    const k = bootDevice(dev);
    k.fs.writeFileSync("/base", "base");
    k.fs.syncSync();
    for (const name of ["/a", "/b"]) {
      const fd = k.fs.openSync(name, "w");
      k.fs.writeSync(fd, `contents of ${name}`);
      k.fs.fsyncSync(fd);
      k.fs.closeSync(fd);
    }
    const img = dev.bytes.slice(); // power cut
    k.shutdown();
    expect(logTransactions(img).length).toBeGreaterThanOrEqual(2);
    return img;
  }

  it("a replay tag pointing at a later log block does not let replay overwrite its own log", () => {
    const img = twoTransactions();
    const txs = logTransactions(img);
    retag(img, 0, 0, txs[1].blocks[0]); // tx A's first image -> tx B's descriptor
    const { jstart, logBlocks } = readSuper(img); // the MMP block after the log changes at every mount
    const log = img.slice(jstart * BLOCK, (jstart + logBlocks) * BLOCK);
    const dev = deviceOf(img);
    const k = bootDevice(dev);
    expect(Buffer.from(dev.bytes.subarray(jstart * BLOCK, (jstart + logBlocks) * BLOCK)).equals(log), "the log is untouched").toBe(true);
    expect(k.info().readOnly).toBeTruthy();
    expect(k.logLines.some((l) => /logs block \d+, outside the data area/.test(l))).toBe(true);
    expect(k.fs.readFileSync("/base", "utf8")).toBe("base");
    k.shutdown();
  });

  it("a replay tag pointing at the backup superblock or past the end is not replayed", () => {
    for (const where of ["backup", "past the end"]) {
      const img = twoTransactions();
      const { total } = readSuper(img);
      retag(img, 1, 0, where === "backup" ? total - 1 : total + 10);
      const backup = img.slice((total - 1) * BLOCK, total * BLOCK);
      const dev = deviceOf(img);
      let k: Kernel | undefined;
      try { k = bootDevice(dev); } catch (e) { expect(e).not.toBeInstanceOf(KernelPanic); throw e; }
      expect(Buffer.from(dev.bytes.subarray((total - 1) * BLOCK, total * BLOCK)).equals(backup), where).toBe(true);
      expect(k.info().readOnly).toBeTruthy();
      // transaction A, before the damaged one, was replayed
      expect(k.fs.readFileSync("/a", "utf8")).toBe("contents of /a");
      k.shutdown();
    }
  });
});

describe("property: random field corruptions of real leaves never trap or leak", () => {
  // Every file holds one byte value repeated (file i: 0x61 + i), every symlink target one
  // letter repeated: a successful read may return only that byte or zeros (a hole, a size
  // grown by the corruption); any other byte came from somewhere else (kernel memory,
  // another inode's record).
  const FILES = [3, 700, 1024, 1025, 5000, 20000, 70000];
  let img: Uint8Array;
  beforeAll(() => {
    img = makeImage((fs) => {
      FILES.forEach((n, i) => fs.writeFileSync(`/f${i}`, Buffer.alloc(n, 0x61 + i)));
      fs.symlinkSync("/" + "q".repeat(40), "/l0");
      fs.symlinkSync("/" + "r".repeat(1500), "/l1");
      fs.mkdirSync("/dir");
      for (let i = 0; i < 30; i++) fs.writeFileSync(`/dir/e${i}`, Buffer.alloc(10, 0x61 + FILES.length));
    });
  });

  /** Field offsets of a leaf worth corrupting: header fields, item fields, record fields. */
  function fieldsOf(leaf: number, tree: number): { off: number; size: 1 | 2 | 4 | 8 }[] {
    const out: { off: number; size: 1 | 2 | 4 | 8 }[] = [
      { off: N.TREE, size: 1 }, { off: N.LEVEL, size: 1 }, { off: N.NITEMS, size: 2 }, { off: N.VEND, size: 2 },
      { off: N.VUSED, size: 2 }, { off: N.NEXT, size: 8 }, { off: N.PREV, size: 8 },
    ];
    for (const it of leafItems(img, leaf)) {
      out.push({ off: it.itemOff, size: 8 }, { off: it.itemOff + 8, size: 8 }, { off: it.itemOff + 16, size: 2 }, { off: it.itemOff + 18, size: 2 });
      const rec: [number, 1 | 2 | 4 | 8][] =
        tree === TREE_INODE ? [[I.MODE, 4], [I.NLINK, 4], [I.SIZE, 8], [I.FLAGS, 4], [I.BLOCKS, 8], [I.PARENT, 8]]
        : tree === TREE_DIRENT ? [[DE.INO, 8], [DE.TYPE, 1], [DE.NAMELEN, 1]]
        : tree === TREE_EXTENT ? [[EXT.DISK, 8], [EXT.LEN, 4], [EXT.FLAGS, 4]]
        : tree === TREE_BNO ? [[0, 8]] : [];
      for (const [o, size] of rec) if (o + size <= it.vlen) out.push({ off: it.voff + o, size });
    }
    return out;
  }

  const pickValue = (size: number, r: number, old: bigint): bigint => {
    const max = (1n << BigInt(8 * size)) - 1n;
    const choices = [0n, 1n, max, max >> 1n, old + 1n, old - 1n, old ^ (1n << BigInt(r % (8 * size))), 2n, 4096n, 65535n, 1n << 63n];
    return choices[r % choices.length] & max;
  };

  it("no EKERNELPANIC, no foreign byte, in 150 corrupted images", () => {
    const leaves = [TREE_INODE, TREE_DIRENT, TREE_EXTENT, TREE_BNO, TREE_CNT].flatMap((t) => leavesOf(img, t).map((b) => ({ b, t })));
    fc.assert(fc.property(fc.nat(leaves.length - 1), fc.nat(), fc.nat(), fc.nat(), (li, fi, vi, fi2) => {
      const { b, t } = leaves[li];
      const fields = fieldsOf(b, t);
      const out = img.slice();
      for (const pick of [fi, fi2].slice(0, 1 + (vi & 1))) {
        const f = fields[pick % fields.length];
        const v = blockView(out, b);
        const get = () => f.size === 1 ? BigInt(v.getUint8(f.off)) : f.size === 2 ? BigInt(v.getUint16(f.off, true)) : f.size === 4 ? BigInt(v.getUint32(f.off, true)) : v.getBigUint64(f.off, true);
        const val = pickValue(f.size, vi >>> 1, get());
        if (f.size === 1) v.setUint8(f.off, Number(val)); else if (f.size === 2) v.setUint16(f.off, Number(val), true);
        else if (f.size === 4) v.setUint32(f.off, Number(val), true); else v.setBigUint64(f.off, val, true);
      }
      reseal(out, b);
      walkHostile(out);
    }), { numRuns: 150, seed: 1010 });
  });

  /** Boots on `image` and uses everything; asserts no trap and no foreign byte. */
  function walkHostile(image: Uint8Array): void {
    let k: Kernel;
    try { k = boot(image); } catch (e) { expect(e).not.toBeInstanceOf(KernelPanic); return; }
    const attempt = (fn: () => void) => {
      try { fn(); } catch (e: any) {
        expect(e).not.toBeInstanceOf(KernelPanic);
        expect(typeof e.code === "string" && /^E[A-Z]+$/.test(e.code), `an errno, not ${String(e)}`).toBe(true);
      }
    };
    FILES.forEach((_, i) => attempt(() => {
      const got = Buffer.from(k.fs.readFileSync(`/f${i}`));
      for (const x of got) if (x !== 0 && x !== 0x61 + i) throw new Error(`/f${i}: foreign byte ${x}`);
    }));
    for (const [p, ch] of [["/l0", "q"], ["/l1", "r"]]) attempt(() => {
      const t = k.fs.readlinkSync(p, "latin1") as string;
      if (!/^\/?[a-z\0]*$/.test(t) || [...t.slice(1)].some((c) => c !== ch && c !== "\0")) throw new Error(`${p}: foreign target ${JSON.stringify(t.slice(0, 40))}`);
    });
    attempt(() => { for (const n of k.fs.readdirSync("/dir") as string[]) k.fs.statSync(`/dir/${n}`); });
    attempt(() => k.fs.readdirSync("/"));
    attempt(() => k.fs.appendFileSync("/f1", Buffer.alloc(3000, 0x62)));
    attempt(() => k.fs.writeFileSync("/new", Buffer.alloc(9000, 0x7a)));
    attempt(() => k.fs.unlinkSync("/f5"));
    attempt(() => k.fs.syncSync());
    attempt(() => { k.fsck(false); });
    expect(k.isDead).toBe(false);
    attempt(() => k.shutdown());
  }
});
