// host/web/page/drop.ts -- files and folders dropped on the terminal go into the shell's
// current directory: read here (File and Directory Entries API), copied by the worker.
//
// Layer: web role, page side, over host/web/page/bus.ts. Interface: mountDrop(el, bus),
// readDrop(items) -> DroppedEntry[] (also what the end-to-end test calls). Rules: folders
// are read recursively (readEntries until it returns nothing: it answers in batches); the
// bytes move to the worker transferred, not copied; a read failure is one line in the
// terminal and nothing is sent; the worker applies the CLI import's checks and errors.

import type { DroppedEntry } from "../protocol.js";
import type { Bus } from "./bus.js";

/** Deepest folder nesting read (the worker refuses deeper trees anyway: TREE_DEPTH_MAX). */
const DROP_DEPTH_MAX = 256;
/** Entries read from one drop before giving up (the worker takes at most 100,000). */
const DROP_ENTRIES_MAX = 100_001;

/** What readDrop reads from: a dropped item (DataTransferItem) or its entry. */
type EntryLike = FileSystemEntry;

/** Reads every dropped item (files, folders with their contents) into entries. */
export async function readDrop(items: readonly EntryLike[]): Promise<DroppedEntry[]> {
  const out: DroppedEntry[] = [];
  const walk = async (e: EntryLike, path: string, depth: number): Promise<void> => {
    if (out.length >= DROP_ENTRIES_MAX) return;
    if (e.isFile) {
      const file = await new Promise<File>((resolve, reject) => (e as FileSystemFileEntry).file(resolve, reject));
      out.push({ kind: "file", path, bytes: await file.arrayBuffer(), mtimeMs: file.lastModified });
      return;
    }
    if (!e.isDirectory) return;
    out.push({ kind: "dir", path });
    if (depth >= DROP_DEPTH_MAX) return;
    const reader = (e as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${path}/${child.name}`, depth + 1);
    }
  };
  for (const item of items) await walk(item, item.name, 0);
  return out;
}

/** Makes `el` a drop target: dropped files and folders are sent to the worker as `files.drop`. */
export function mountDrop(el: HTMLElement, bus: Bus, report: (line: string) => void): void {
  el.addEventListener("dragover", (ev) => {
    if (!ev.dataTransfer?.types.includes("Files")) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = "copy";
    el.classList.add("drop");
  });
  el.addEventListener("dragleave", () => el.classList.remove("drop"));
  el.addEventListener("drop", (ev) => {
    el.classList.remove("drop");
    const dt = ev.dataTransfer;
    if (dt === null) return;
    ev.preventDefault();
    // entries must be taken while the event runs: the DataTransfer is emptied after it
    const entries: FileSystemEntry[] = [];
    const loose: File[] = [];
    for (const item of Array.from(dt.items)) {
      if (item.kind !== "file") continue;
      const e = item.webkitGetAsEntry?.() ?? null;
      if (e !== null) entries.push(e);
      else { const f = item.getAsFile(); if (f !== null) loose.push(f); }
    }
    void send(bus, entries, loose, report);
  });
}

/** Reads the drop and posts it; a read failure is reported, nothing is sent. */
async function send(bus: Bus, entries: FileSystemEntry[], loose: File[], report: (line: string) => void): Promise<void> {
  let dropped: DroppedEntry[];
  try {
    dropped = await readDrop(entries);
    for (const f of loose) dropped.push({ kind: "file", path: f.name, bytes: await f.arrayBuffer(), mtimeMs: f.lastModified });
  } catch (err) {
    report(`cannot read the dropped items: ${(err as Error)?.message ?? String(err)}`);
    return;
  }
  if (dropped.length === 0) return;
  const transfer = dropped.flatMap((d) => (d.kind === "file" ? [d.bytes] : []));
  bus.send({ type: "files.drop", entries: dropped }, transfer);
}
