// host/web/opfs.ts -- OpfsBackend: a disk image in the browser's Origin Private File System,
// read and written through a FileSystemSyncAccessHandle (WHATWG File System standard, "OPFS").
//
// Layer: web role, a BlockBackend (host/vmm/blockdev.ts) like FileBackend is under Node; the
// virtio-blk device model above it is the same one Node uses. Interface: openOpfsImage(name,
// bytes) -> OpfsImage (the backend and whether the file was new); OpfsBackend over any
// SyncHandle (the real handle in a worker, a memory stand-in in vitest).
// Rules:
//  - sync access handles exist only in a dedicated worker on a secure origin; the page never
//    touches the image, the worker owns it;
//  - one writer per image: createSyncAccessHandle() takes the file's exclusive lock, so a
//    second tab gets NoModificationAllowedError, reported as EBUSY with one line;
//  - every call moves every byte or throws BlockError (a short read or write from the handle
//    is EIO); FLUSH is the handle's flush(), so a completed FLUSH is on stable storage.

import { BlockBackend, BlockError, checkRange, SECTOR_SIZE } from "../vmm/blockdev.js";

/** Largest image the page creates or accepts (1 GiB: OPFS quota and the demo's purpose). */
export const OPFS_IMAGE_MAX_BYTES = 2 ** 30;

/**
 * The part of FileSystemSyncAccessHandle a backend uses. Offsets and sizes are in bytes;
 * read and write return how many bytes they moved.
 */
export interface SyncHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  flush(): void;
  getSize(): number;
  truncate(newSize: number): void;
  close(): void;
}

/** A BlockBackend over an OPFS file's sync access handle. */
export class OpfsBackend implements BlockBackend {
  private handle: SyncHandle | null;
  /** Flushes are held back (deferFlushes) ... */
  private deferring = false;
  /** ... and one was asked for meanwhile. */
  private flushPending = false;

  /**
   * Wraps an open handle whose file holds the image. `sizeBytes` must be a positive multiple
   * of SECTOR_SIZE and at most the file's size. Throws BlockError('EINVAL') otherwise.
   */
  constructor(handle: SyncHandle, readonly sizeBytes: number) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % SECTOR_SIZE !== 0 || sizeBytes > handle.getSize()) {
      throw new BlockError("EINVAL", `bad OPFS image size ${sizeBytes} (file holds ${handle.getSize()} bytes)`);
    }
    this.handle = handle;
  }

  read(offset: number, dst: Uint8Array): void {
    const h = this.live();
    checkRange(this.sizeBytes, offset, dst.length);
    const n = h.read(dst, { at: offset });
    if (n !== dst.length) throw new BlockError("EIO", `OPFS short read: ${n} of ${dst.length} bytes at ${offset}`);
  }

  write(offset: number, src: Uint8Array): void {
    const h = this.live();
    checkRange(this.sizeBytes, offset, src.length);
    const n = h.write(src, { at: offset });
    if (n !== src.length) throw new BlockError("EIO", `OPFS short write: ${n} of ${src.length} bytes at ${offset}`);
  }

  flush(): void {
    const h = this.live();
    if (this.deferring) { this.flushPending = true; return; }
    h.flush();
  }

  /**
   * Holds flushes back while `on`; turning it off runs one flush when any was asked for.
   * Only for mkfs of a new image: an OPFS flush is an fsync (milliseconds), mkfs asks for ~20,
   * and a new image interrupted half-made is reformatted anyway, so one barrier at the end
   * gives the same result. Never while a filesystem is mounted (DESIGN §5's ordering).
   */
  deferFlushes(on: boolean): void {
    const h = this.live();
    this.deferring = on;
    if (!on && this.flushPending) {
      this.flushPending = false;
      h.flush();
    }
  }

  /** OPFS cannot punch holes: discard is only a hint, so nothing is done (DESIGN §3). */
  discard(offset: number, length: number): void {
    this.live();
    checkRange(this.sizeBytes, offset, length);
  }

  /** The whole image as bytes (for a download): reads it in one call. */
  snapshot(): Uint8Array {
    const out = new Uint8Array(this.sizeBytes);
    this.read(0, out);
    return out;
  }

  close(): void {
    if (this.handle === null) return;
    const h = this.handle;
    this.handle = null;
    h.close();
  }

  private live(): SyncHandle {
    if (this.handle === null) throw new BlockError("EBADF", "OPFS backend is closed");
    return this.handle;
  }
}

/** An image opened in OPFS: its backend, and whether the file was created (or resized) now. */
export interface OpfsImage {
  backend: OpfsBackend;
  created: boolean;
}

/**
 * A sync access handle on the OPFS file `name`, created if missing. Worker only. Errors:
 * BlockError('ENOTSUP') without OPFS or its sync access handles, others as opfsError.
 */
async function openSyncHandle(name: string): Promise<SyncHandle> {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<FileSystemDirectoryHandle> } } }).navigator?.storage;
  if (storage?.getDirectory === undefined) throw new BlockError("ENOTSUP", "this browser has no Origin Private File System");
  try {
    const dir = await storage.getDirectory();
    const file = await dir.getFileHandle(name, { create: true });
    if (typeof (file as { createSyncAccessHandle?: unknown }).createSyncAccessHandle !== "function") {
      throw new BlockError("ENOTSUP", "this browser has no OPFS sync access handles");
    }
    return await (file as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle();
  } catch (err) {
    throw opfsError(err, name);
  }
}

/**
 * Opens (creating if missing) the OPFS file `name` as an image of `sizeBytes` bytes. A file of
 * another size is left as it is and opened at its own size (an uploaded image keeps its
 * size). `reset` gives the file `sizeBytes` bytes whatever it held (a reformat; the image
 * counts as created). Worker only. Errors: BlockError('EBUSY') when another tab holds the image,
 * BlockError('ENOTSUP') when this browser has no OPFS sync access handles, BlockError('EIO')
 * for any other storage failure (quota, a broken file).
 */
export async function openOpfsImage(name: string, sizeBytes: number, reset = false): Promise<OpfsImage> {
  const handle = await openSyncHandle(name);
  let created = false;
  const size = handle.getSize();
  if (size === 0 || reset) {
    try {
      handle.truncate(sizeBytes);
    } catch (err) {
      handle.close();
      throw opfsError(err, name);
    }
    created = true;
  }
  const bytes = created ? sizeBytes : size - (size % SECTOR_SIZE);
  if (bytes <= 0 || bytes > OPFS_IMAGE_MAX_BYTES) {
    handle.close();
    throw new BlockError("EINVAL", `OPFS image ${name} has an unusable size of ${size} bytes`);
  }
  return { backend: new OpfsBackend(handle, bytes), created };
}

/** Replaces the OPFS file `name` with `bytes` (an uploaded image). Worker only; errors as openOpfsImage. */
export async function writeOpfsImage(name: string, bytes: Uint8Array): Promise<void> {
  if (bytes.length === 0 || bytes.length > OPFS_IMAGE_MAX_BYTES) throw new BlockError("EINVAL", `an image of ${bytes.length} bytes cannot be used (1 byte to 1 GiB)`);
  const handle = await openSyncHandle(name);
  try {
    handle.truncate(0);
    const n = handle.write(bytes, { at: 0 });
    if (n !== bytes.length) throw new BlockError("EIO", `OPFS short write: ${n} of ${bytes.length} bytes`);
    handle.flush();
  } catch (err) {
    throw opfsError(err, name);
  } finally {
    handle.close();
  }
}

/** A DOMException or other failure of the OPFS API as a BlockError with one line. */
export function opfsError(err: unknown, name: string): BlockError {
  if (err instanceof BlockError) return err;
  const e = err as { name?: string; message?: string };
  if (e?.name === "NoModificationAllowedError") return new BlockError("EBUSY", `in use by another tab of this page (close it, or use that tab)`);
  if (e?.name === "QuotaExceededError") return new BlockError("ENOSPC", `the browser's storage quota is full (${name})`);
  return new BlockError("EIO", `OPFS ${name}: ${e?.name ?? "Error"}: ${e?.message ?? String(err)}`);
}
