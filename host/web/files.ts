// host/web/files.ts -- files between the visitor's computer and the page's image: dropped
// files and folders copied in, one file or the whole image downloaded, an image uploaded.
//
// Layer: web role, worker side, over host/shell/tree.ts (the copy loop `helix import` uses),
// host/vmm (a check boot of an upload) and host/web/system.ts. Interface: FILES (the
// handlers of files.drop, file.download, image.download, image.upload), downloadCommand
// (the page shell's `download FILE`), dropTree, checkImage, OverlayBackend.
// Rules:
//  - a drop goes through the same walk and copy as the CLI's import (scanTree, copyTree), so
//    a name over NAME_MAX, a full disk, ... end in the same one-line errors, and nothing is
//    copied before the whole drop was walked;
//  - an uploaded image is booted on a copy-on-write view of its bytes before it replaces
//    anything: a bad one gets the CLI's one-line error and the running kernel and its image
//    stay as they were;
//  - a downloaded image is the cleanly unmounted state (superblock clean, MMP block free), so
//    `helix boot` under Node mounts it at once; the kernel mounts it again afterwards.

import posix from "path-browserify";
import { bootWith } from "../vmm/kernel.js";
import { BlockError, checkRange, SECTOR_SIZE, type BlockBackend } from "../vmm/blockdev.js";
import { errorMessage, formatBytes, plural, strerror, CliError } from "../shell/format.js";
import { shellFailure, type ShellExtension } from "../shell/shell.js";
import { copyTree, quoteName, scanTree, setTimes, underDir, ensureGuestDir, type ScannedTree, type TreeEntry } from "../shell/tree.js";
import type { HelixFs } from "../fs/fs.js";
import { OPFS_IMAGE_MAX_BYTES } from "./opfs.js";
import type { DroppedEntry, PageMessage } from "./protocol.js";
import { NO_SLEEP, WebSystem, IMAGE_NAME } from "./system.js";

/** Entries one drop may hold (bounds the walk and the message). */
export const DROP_ENTRIES_MAX = 100_000;
/** Bytes one drop may hold: no image the page makes or accepts is larger. */
export const DROP_BYTES_MAX = OPFS_IMAGE_MAX_BYTES;
/** Smallest image (bytes) the CLI boots: one 4 KiB block (host/node/node.ts bootSync). */
const IMAGE_MIN_BYTES = 4096;
/** Physical memory (MiB) of the kernel that checks an upload (the mount needs little). */
const CHECK_MEMORY_MIB = 64;
/** Permission bits of dropped files and directories (a browser gives none). */
const DROP_FILE_PERM = 0o644, DROP_DIR_PERM = 0o755;

// ---- drop ----------------------------------------------------------------------------------

/** A dropped entry by its path (bytes of the page's UTF-8 names). */
interface DropNode { kind: "file" | "dir"; bytes?: Uint8Array; mtimeNs: bigint; children: Buffer[] }

/**
 * The dropped entries as a scanned tree rooted at the drop (rel paths as the page sent
 * them): the same walk as the CLI's import, so a bad name (empty, `..`, over NAME_MAX) or a
 * tree nested too deep is refused with its one-line error before anything is copied.
 * Errors: CliError.
 */
export function dropTree(entries: readonly DroppedEntry[], nowMs = Date.now()): { tree: ScannedTree; nodes: Map<string, DropNode> } {
  if (entries.length > DROP_ENTRIES_MAX) throw new CliError(`the drop holds ${entries.length} entries; the page takes at most ${DROP_ENTRIES_MAX}`);
  const total = entries.reduce((a, e) => a + (e.kind === "file" ? e.bytes.byteLength : 0), 0);
  if (total > DROP_BYTES_MAX) throw new CliError(`the drop holds ${formatBytes(total)}; the page takes at most ${formatBytes(DROP_BYTES_MAX)}`);
  const nowNs = BigInt(Math.round(nowMs)) * 1_000_000n;
  const nodes = new Map<string, DropNode>([["", { kind: "dir", mtimeNs: nowNs, children: [] }]]);
  const key = (rel: Buffer) => rel.toString("latin1");
  for (const e of entries) {
    // a path's parts are names: '/' separates them, every other byte is kept for the walk to judge
    const parts = String(e.path).split("/").filter((p, i, a) => p !== "" || a.length === 1);
    let rel = Buffer.alloc(0);
    parts.forEach((part, i) => {
      const name = Buffer.from(part);
      const child = rel.length === 0 ? name : Buffer.concat([rel, Buffer.from("/"), name]);
      const parent = nodes.get(key(rel))!;
      const last = i === parts.length - 1;
      let node = nodes.get(key(child));
      if (node === undefined) {
        const isFile = last && e.kind === "file";
        node = isFile
          ? { kind: "file", bytes: new Uint8Array(e.bytes), mtimeNs: BigInt(Math.round(e.mtimeMs)) * 1_000_000n, children: [] }
          : { kind: "dir", mtimeNs: nowNs, children: [] };
        if (parent.kind !== "dir") throw new CliError(`the drop holds '${quoteName(rel)}' both as a file and as a folder`);
        parent.children.push(name);
        nodes.set(key(child), node);
      }
      rel = child;
    });
  }
  const stat = (n: DropNode) => ({
    mode: BigInt(n.kind === "dir" ? 0o040000 | DROP_DIR_PERM : 0o100000 | DROP_FILE_PERM),
    size: BigInt(n.bytes?.length ?? 0), atimeNs: n.mtimeNs, mtimeNs: n.mtimeNs,
    isDirectory: () => n.kind === "dir", isFile: () => n.kind === "file", isSymbolicLink: () => false,
  });
  const tree = scanTree("", stat(nodes.get("")!), {
    show: (rel) => rel.length === 0 ? "the dropped items" : quoteName(rel),
    lstat: (rel) => { const n = nodes.get(key(rel)); return n === undefined ? null : stat(n); },
    readdir: (rel) => [...(nodes.get(key(rel))?.children ?? [])],
    readlink: () => { throw new CliError("a drop holds no symlinks"); },
    skip: () => false,
  });
  return { tree, nodes };
}

/**
 * Copies a drop into the image under `dest` (an existing directory; folders are merged into,
 * files replaced), with each file's mtime. Returns the summary line. Errors: CliError as the
 * CLI's import words it (`import stopped at 'a/b' -> /dest/a/b: ...`).
 */
export function copyDrop(fs: HelixFs, entries: readonly DroppedEntry[], dest: string): string {
  const { tree, nodes } = dropTree(entries);
  const gp = (e: TreeEntry) => underDir(dest, e.rel);
  const stats = copyTree(tree, "import", {
    root() { if (!fs.statSync(dest).isDirectory()) throw new CliError(`${dest}: Not a directory`); },
    dir: (e) => ensureGuestDir(fs, gp(e), e.perm),
    symlink: () => { throw new CliError("a drop holds no symlinks"); },
    file(e) {
      const bytes = nodes.get(e.rel.toString("latin1"))!.bytes!;
      const fd = fs.openSync(gp(e), "w", e.perm);
      try {
        for (let w = 0; w < bytes.length;) w += fs.writeSync(fd, bytes, w, bytes.length - w);
      } finally {
        fs.closeSync(fd);
      }
      setTimes(fs, gp(e), e.atimeNs, e.mtimeNs);
      return bytes.length;
    },
    // the drop's root is the current directory: its mode and times stay as they are
    dirMeta: (e) => { if (e.rel.length > 0) setTimes(fs, gp(e), e.atimeNs, e.mtimeNs); },
    where: (e) => e === null ? `'${dest}'` : `'${quoteName(e.rel)}' -> ${quoteName(gp(e))}`,
  });
  fs.syncSync();
  return `copied ${plural(stats.files, "file")}, ${plural(stats.dirs, "dir")}, ${stats.bytes} bytes (${formatBytes(stats.bytes)}) into ${dest}`;
}

// ---- download ------------------------------------------------------------------------------

/** The bytes of file `p` of the image and its name. Errors: Node-shaped fs errors, EISDIR. */
function readGuestFile(fs: HelixFs, p: string): { name: string; bytes: Uint8Array } {
  const st = fs.statSync(p);
  if (st.isDirectory()) throw Object.assign(new Error("EISDIR: is a directory"), { code: "EISDIR" });
  return { name: posix.basename(p) || "file", bytes: fs.readFileSync(p) };
}

/** The page shell's `download FILE...`: each file goes to the page, which saves it. */
export function downloadCommand(sys: WebSystem): ShellExtension {
  return {
    name: "download", usage: "download FILE...", does: "save files of the image to this computer (the browser's downloads)",
    run(args, out, shell) {
      if (args.length === 0) throw shellFailure("download: missing operand");
      let failed: string | null = null;
      for (const op of args) {
        try {
          const f = readGuestFile(shell.fs, shell.abs(op));
          const buf = new Uint8Array(f.bytes).buffer; // a copy of its own: the kernel's Buffer may be a view
          sys.post({ type: "file.bytes", name: f.name, bytes: buf }, [buf]);
          out(`download: ${op}: ${f.bytes.length} bytes\n`);
        } catch (err) {
          failed ??= `download: ${op}: ${strerror(err)}`;
        }
      }
      if (failed !== null) throw shellFailure(failed);
    },
  };
}

// ---- upload --------------------------------------------------------------------------------

/**
 * A copy-on-write view of an image's bytes: reads see the bytes and any writes made through
 * the view; the bytes themselves never change (the check boot of an upload replays a journal
 * and writes its MMP block into the view, not into what will be stored).
 */
export class OverlayBackend implements BlockBackend {
  readonly sizeBytes: number;
  private readonly written = new Map<number, Uint8Array>(); // sector -> its bytes
  private closed = false;

  constructor(private readonly base: Uint8Array) {
    if (base.length === 0 || base.length % SECTOR_SIZE !== 0) throw new BlockError("EINVAL", `bad overlay size ${base.length}`);
    this.sizeBytes = base.length;
  }

  read(offset: number, dst: Uint8Array): void {
    this.live();
    checkRange(this.sizeBytes, offset, dst.length);
    dst.set(this.base.subarray(offset, offset + dst.length));
    if (this.written.size === 0) return;
    for (let s = 0; s < dst.length; s += SECTOR_SIZE) {
      const w = this.written.get((offset + s) / SECTOR_SIZE);
      if (w !== undefined) dst.set(w, s);
    }
  }

  write(offset: number, src: Uint8Array): void {
    this.live();
    checkRange(this.sizeBytes, offset, src.length);
    for (let s = 0; s < src.length; s += SECTOR_SIZE) this.written.set((offset + s) / SECTOR_SIZE, src.slice(s, s + SECTOR_SIZE));
  }

  flush(): void { this.live(); }

  discard(offset: number, length: number): void {
    this.live();
    checkRange(this.sizeBytes, offset, length);
  }

  close(): void { this.closed = true; }

  private live(): void { if (this.closed) throw new BlockError("EBADF", "overlay backend is closed"); }
}

/**
 * Why `bytes` (an uploaded file named `name`) cannot be booted, as the CLI's one line for the
 * same file says it (`x.img: mount failed: not a HelixFS image (no superblock magic)`), or
 * null when a kernel mounts it. Nothing of `bytes` is changed.
 */
export function checkImage(name: string, bytes: Uint8Array, module: WebAssembly.Module): string | null {
  if (bytes.length < IMAGE_MIN_BYTES || bytes.length % SECTOR_SIZE !== 0) {
    return `'${name}' is not a HelixFS image (size ${bytes.length} is not a multiple of 512 bytes of at least 4 KiB)`;
  }
  if (bytes.length > OPFS_IMAGE_MAX_BYTES) return `'${name}' is ${formatBytes(bytes.length)}: the page takes images of at most ${formatBytes(OPFS_IMAGE_MAX_BYTES)}`;
  try {
    const k = bootWith({
      device: new OverlayBackend(bytes), module, memoryMiB: CHECK_MEMORY_MIB, sleep: NO_SLEEP,
      identity: { node: "browser", pid: 2, program: "helix web check", exclusive: true },
    });
    k.shutdown();
    return null;
  } catch (err) {
    return `${name}: ${errorMessage(err)}`;
  }
}

/** An upload's file name on one line (a name is shown, never trusted). */
function uploadName(name: unknown): string {
  const s = quoteName(String(name ?? "image")).slice(0, 255);
  return s === "" ? "image" : s;
}

// ---- handlers ------------------------------------------------------------------------------

type Msg = PageMessage & Record<string, unknown>;

/** The worker's handlers of the file and image messages. */
export const FILES: Record<string, (m: Msg, sys: WebSystem) => void | Promise<void>> = {
  "files.drop": (m, sys) => {
    const shell = sys.shell;
    if (shell === null) { sys.post({ type: "error", message: "the kernel is not running: reboot or reformat, then drop again" }); return; }
    const entries = (m.entries ?? []) as DroppedEntry[];
    let line = "";
    const ok = sys.guard(() => {
      try {
        line = copyDrop(shell.fs, entries, shell.cwd);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        line = "";
        sys.post({ type: "error", message: err.message });
      }
    });
    if (ok && line !== "") sys.print(line + "\n");
  },

  "file.download": (m, sys) => {
    const shell = sys.shell;
    if (shell === null) { sys.post({ type: "error", message: "the kernel is not running: reboot or reformat" }); return; }
    sys.guard(() => {
      const p = String(m.path ?? "");
      try {
        const f = readGuestFile(shell.fs, shell.abs(p));
        const buf = new Uint8Array(f.bytes).buffer;
        sys.post({ type: "file.bytes", name: f.name, bytes: buf }, [buf]);
      } catch (err) {
        sys.post({ type: "error", message: `download: ${p}: ${strerror(err)}` });
      }
    });
  },

  "image.download": async (_m, sys) => {
    const bytes = await sys.imageBytes();
    if (bytes === null) return;
    const buf = bytes.buffer as ArrayBuffer;
    sys.post({ type: "image.bytes", name: IMAGE_NAME, bytes: buf }, [buf]);
  },

  "image.upload": async (m, sys) => {
    const name = uploadName(m.name);
    const bytes = new Uint8Array(m.bytes as ArrayBuffer);
    const why = checkImage(name, bytes, sys.module);
    if (why !== null) { sys.post({ type: "error", message: why }); return; }
    await sys.replaceImage(name, bytes);
  },
};
