// test/opfs.test.ts -- OpfsBackend (host/web/opfs.ts) against a memory stand-in for the
// browser's FileSystemSyncAccessHandle: every BlockBackend rule (ranges, a short transfer is
// EIO, FLUSH is the handle's flush, EBADF after close, size checks), the same conformance
// cases run against MemoryBackend to show both backends agree, and openOpfsImage /
// writeOpfsImage / opfsError over a stand-in OPFS (navigator.storage).

import { afterEach, describe, expect, it, vi } from "vitest";
import { BlockError, MemoryBackend, SECTOR_SIZE, type BlockBackend } from "../host/vmm/blockdev.js";
import { OPFS_IMAGE_MAX_BYTES, OpfsBackend, openOpfsImage, opfsError, writeOpfsImage, type SyncHandle } from "../host/web/opfs.js";

/** A SyncHandle over a growable byte array, with counters and injectable faults. */
class MemHandle implements SyncHandle {
  bytes: Uint8Array;
  flushes = 0;
  closes = 0;
  /** Bytes the next read / write moves at most (short transfers), or null for all. */
  readLimit: number | null = null;
  writeLimit: number | null = null;
  /** Thrown by truncate when set (a DOMException as a browser throws it). */
  truncateError: unknown = null;

  constructor(size = 0) { this.bytes = new Uint8Array(size); }

  private open(): void { if (this.closes > 0) throw new DOMException("closed", "InvalidStateError"); }

  read(buffer: Uint8Array, { at }: { at: number }): number {
    this.open();
    const n = Math.max(0, Math.min(buffer.length, this.bytes.length - at, this.readLimit ?? Infinity));
    buffer.set(this.bytes.subarray(at, at + n));
    return n;
  }

  write(buffer: Uint8Array, { at }: { at: number }): number {
    this.open();
    const n = Math.min(buffer.length, this.writeLimit ?? Infinity);
    if (at + n > this.bytes.length) this.truncate(at + n);
    this.bytes.set(buffer.subarray(0, n), at);
    return n;
  }

  flush(): void { this.open(); this.flushes++; }
  getSize(): number { this.open(); return this.bytes.length; }

  truncate(newSize: number): void {
    this.open();
    if (this.truncateError !== null) throw this.truncateError;
    const b = new Uint8Array(newSize);
    b.set(this.bytes.subarray(0, newSize));
    this.bytes = b;
  }

  close(): void { this.closes++; }
}

const SIZE = 64 * SECTOR_SIZE;
const code = (fn: () => unknown): string => {
  try { fn(); } catch (err) { expect(err).toBeInstanceOf(BlockError); return (err as BlockError).code; }
  return "ok";
};

/** The two backends the conformance cases run on. */
const BACKENDS: [string, () => BlockBackend][] = [
  ["OpfsBackend", () => new OpfsBackend(new MemHandle(SIZE), SIZE)],
  ["MemoryBackend", () => new MemoryBackend(SIZE)],
];

describe.each(BACKENDS)("BlockBackend rules: %s", (_name, make) => {
  it("reads back what was written, sector aligned anywhere in the device", () => {
    const b = make();
    const data = new Uint8Array(3 * SECTOR_SIZE).map((_, i) => (i * 7) & 255);
    b.write(5 * SECTOR_SIZE, data);
    b.write(SIZE - SECTOR_SIZE, data.subarray(0, SECTOR_SIZE));
    const out = new Uint8Array(3 * SECTOR_SIZE);
    b.read(5 * SECTOR_SIZE, out);
    expect(out).toEqual(data);
    const last = new Uint8Array(SECTOR_SIZE);
    b.read(SIZE - SECTOR_SIZE, last);
    expect(last).toEqual(data.subarray(0, SECTOR_SIZE));
    expect(b.sizeBytes).toBe(SIZE);
  });

  it("refuses misaligned, negative, fractional and out-of-range requests with EINVAL", () => {
    const b = make();
    const s = new Uint8Array(SECTOR_SIZE);
    expect(code(() => b.read(1, s))).toBe("EINVAL");
    expect(code(() => b.write(0, new Uint8Array(100)))).toBe("EINVAL");
    expect(code(() => b.read(-SECTOR_SIZE, s))).toBe("EINVAL");
    expect(code(() => b.read(0.5, s))).toBe("EINVAL");
    expect(code(() => b.read(SIZE, s))).toBe("EINVAL");
    expect(code(() => b.write(SIZE - SECTOR_SIZE, new Uint8Array(2 * SECTOR_SIZE)))).toBe("EINVAL");
    expect(code(() => b.discard(SIZE, SECTOR_SIZE))).toBe("EINVAL");
    expect(code(() => b.discard(0, 3))).toBe("EINVAL");
    expect(code(() => b.read(0, new Uint8Array(0)))).toBe("ok");
    expect(code(() => b.flush())).toBe("ok");
  });

  it("throws EBADF for every call after close, and close twice is harmless", () => {
    const b = make();
    b.close();
    const s = new Uint8Array(SECTOR_SIZE);
    expect(code(() => b.read(0, s))).toBe("EBADF");
    expect(code(() => b.write(0, s))).toBe("EBADF");
    expect(code(() => b.flush())).toBe("EBADF");
    expect(code(() => b.discard(0, SECTOR_SIZE))).toBe("EBADF");
    expect(code(() => b.close())).toBe("ok");
  });
});

describe("OpfsBackend over a sync access handle", () => {
  it("checks its size against the file: positive, whole sectors, at most the file", () => {
    const h = new MemHandle(SIZE);
    expect(code(() => new OpfsBackend(h, 0))).toBe("EINVAL");
    expect(code(() => new OpfsBackend(h, SECTOR_SIZE + 1))).toBe("EINVAL");
    expect(code(() => new OpfsBackend(h, SIZE + SECTOR_SIZE))).toBe("EINVAL");
    expect(code(() => new OpfsBackend(h, Number.NaN))).toBe("EINVAL");
    expect(new OpfsBackend(h, SIZE - SECTOR_SIZE).sizeBytes).toBe(SIZE - SECTOR_SIZE);
  });

  it("turns a short read or write of the handle into EIO", () => {
    const h = new MemHandle(SIZE);
    const b = new OpfsBackend(h, SIZE);
    h.readLimit = 100;
    expect(() => b.read(0, new Uint8Array(SECTOR_SIZE))).toThrow(/EIO: OPFS short read: 100 of 512 bytes at 0/);
    h.readLimit = null;
    h.writeLimit = 0;
    expect(() => b.write(SECTOR_SIZE, new Uint8Array(SECTOR_SIZE))).toThrow(/EIO: OPFS short write: 0 of 512 bytes at 512/);
  });

  it("a file that shrank under the backend reads short: EIO, not zeroes", () => {
    const h = new MemHandle(SIZE);
    const b = new OpfsBackend(h, SIZE);
    h.truncate(SIZE / 2);
    expect(code(() => b.read(SIZE - SECTOR_SIZE, new Uint8Array(SECTOR_SIZE)))).toBe("EIO");
  });

  it("FLUSH is the handle's flush(); close() closes the handle once", () => {
    const h = new MemHandle(SIZE);
    const b = new OpfsBackend(h, SIZE);
    b.write(0, new Uint8Array(SECTOR_SIZE).fill(1));
    expect(h.flushes).toBe(0);
    b.flush();
    b.flush();
    expect(h.flushes).toBe(2);
    b.close();
    b.close();
    expect(h.closes).toBe(1);
  });

  it("deferFlushes holds flushes back to one barrier when it ends (mkfs of a new image)", () => {
    const h = new MemHandle(SIZE);
    const b = new OpfsBackend(h, SIZE);
    b.deferFlushes(true);
    b.deferFlushes(false);
    expect(h.flushes).toBe(0); // none asked for: none run
    b.deferFlushes(true);
    for (let i = 0; i < 20; i++) b.flush();
    expect(h.flushes).toBe(0);
    b.deferFlushes(false);
    expect(h.flushes).toBe(1);
    b.flush();
    expect(h.flushes).toBe(2); // back to one flush per FLUSH
    b.close();
    expect(code(() => b.deferFlushes(false))).toBe("EBADF");
  });

  it("discard is a hint: the bytes stay (OPFS cannot punch holes)", () => {
    const h = new MemHandle(SIZE);
    const b = new OpfsBackend(h, SIZE);
    b.write(0, new Uint8Array(SECTOR_SIZE).fill(9));
    b.discard(0, SECTOR_SIZE);
    expect(h.bytes[0]).toBe(9);
  });

  it("snapshot() is the whole image", () => {
    const h = new MemHandle(SIZE);
    h.bytes.fill(3);
    expect(Buffer.compare(new OpfsBackend(h, SIZE).snapshot(), new Uint8Array(SIZE).fill(3))).toBe(0);
  });
});

/** A stand-in OPFS root: files by name, each a MemHandle while it is open. */
function fakeOpfs(opts: { files?: Record<string, MemHandle>; noSyncHandles?: boolean; openError?: unknown } = {}) {
  const files = opts.files ?? {};
  const root = {
    async getFileHandle(name: string, o: { create?: boolean } = {}) {
      if (files[name] === undefined) {
        if (!o.create) throw new DOMException("missing", "NotFoundError");
        files[name] = new MemHandle(0);
      }
      const fh: Record<string, unknown> = {};
      if (!opts.noSyncHandles) {
        fh.createSyncAccessHandle = async () => {
          if (opts.openError) throw opts.openError;
          const h = files[name];
          h.closes = 0; // a new handle on the same file
          return h;
        };
      }
      return fh;
    },
  };
  vi.stubGlobal("navigator", { storage: { getDirectory: async () => root } });
  return files;
}

describe("openOpfsImage, writeOpfsImage, opfsError", () => {
  afterEach(() => { vi.unstubAllGlobals(); });

  it("creates a new image of the asked size, and reopens an existing one at its own size", async () => {
    const files = fakeOpfs();
    const a = await openOpfsImage("x.img", SIZE);
    expect(a.created).toBe(true);
    expect(a.backend.sizeBytes).toBe(SIZE);
    a.backend.close();
    files["x.img"].bytes = new Uint8Array(SIZE * 2 + 100); // an uploaded image of another size; a ragged tail is left out
    const b = await openOpfsImage("x.img", SIZE);
    expect(b.created).toBe(false);
    expect(b.backend.sizeBytes).toBe(SIZE * 2);
    b.backend.close();
    const c = await openOpfsImage("x.img", SIZE, true); // reformat: back to the asked size
    expect(c.created).toBe(true);
    expect(c.backend.sizeBytes).toBe(SIZE);
    expect(files["x.img"].bytes.length).toBe(SIZE);
  });

  it("ENOTSUP without OPFS or without sync access handles", async () => {
    vi.stubGlobal("navigator", {});
    await expect(openOpfsImage("x.img", SIZE)).rejects.toMatchObject({ code: "ENOTSUP" });
    await expect(writeOpfsImage("x.img", new Uint8Array(SECTOR_SIZE))).rejects.toMatchObject({ code: "ENOTSUP" });
    fakeOpfs({ noSyncHandles: true });
    await expect(openOpfsImage("x.img", SIZE)).rejects.toMatchObject({ code: "ENOTSUP", message: "ENOTSUP: this browser has no OPFS sync access handles" });
  });

  it("EBUSY when another tab holds the image (NoModificationAllowedError)", async () => {
    fakeOpfs({ openError: new DOMException("locked", "NoModificationAllowedError") });
    await expect(openOpfsImage("x.img", SIZE)).rejects.toMatchObject({ code: "EBUSY", message: "EBUSY: in use by another tab of this page (close it, or use that tab)" });
  });

  it("ENOSPC when the quota is full while sizing a new image; the handle is closed", async () => {
    const h = new MemHandle(0);
    h.truncateError = new DOMException("quota", "QuotaExceededError");
    fakeOpfs({ files: { "x.img": h } });
    await expect(openOpfsImage("x.img", SIZE)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(h.closes).toBe(1);
  });

  it("EINVAL for a file of an unusable size; the handle is closed", async () => {
    const tiny = new MemHandle(100);
    fakeOpfs({ files: { "x.img": tiny } });
    await expect(openOpfsImage("x.img", SIZE)).rejects.toMatchObject({ code: "EINVAL", message: "EINVAL: OPFS image x.img has an unusable size of 100 bytes" });
    expect(tiny.closes).toBe(1);
    const huge = new MemHandle(0);
    huge.getSize = () => OPFS_IMAGE_MAX_BYTES + SECTOR_SIZE;
    fakeOpfs({ files: { "x.img": huge } });
    await expect(openOpfsImage("x.img", SIZE)).rejects.toMatchObject({ code: "EINVAL" });
  });

  it("writeOpfsImage replaces the file's bytes, flushes and closes; refuses empty and oversized images", async () => {
    const files = fakeOpfs({ files: { "x.img": new MemHandle(SIZE * 2) } });
    const img = new Uint8Array(SIZE).fill(7);
    await writeOpfsImage("x.img", img);
    expect(Buffer.compare(files["x.img"].bytes, img)).toBe(0);
    expect(files["x.img"].flushes).toBe(1);
    expect(files["x.img"].closes).toBe(1);
    await expect(writeOpfsImage("x.img", new Uint8Array(0))).rejects.toMatchObject({ code: "EINVAL" });
    files["x.img"].writeLimit = 10;
    await expect(writeOpfsImage("x.img", img)).rejects.toMatchObject({ code: "EIO", message: `EIO: OPFS short write: 10 of ${SIZE} bytes` });
    expect(files["x.img"].closes).toBe(1); // closed again after the failure (a new handle counts from 0)
  });

  it("opfsError maps the browser's exceptions to one line with an errno name", () => {
    const own = new BlockError("EIO", "as it was");
    expect(opfsError(own, "x")).toBe(own);
    expect(opfsError(new DOMException("m", "NoModificationAllowedError"), "x").code).toBe("EBUSY");
    expect(opfsError(new DOMException("m", "QuotaExceededError"), "x").message).toBe("ENOSPC: the browser's storage quota is full (x)");
    expect(opfsError(new DOMException("gone", "NotFoundError"), "x").message).toBe("EIO: OPFS x: NotFoundError: gone");
    expect(opfsError("weird", "x").message).toBe("EIO: OPFS x: Error: weird");
  });
});
