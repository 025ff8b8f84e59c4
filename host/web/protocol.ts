// host/web/protocol.ts -- the messages between the page and the kernel's worker.
//
// Layer: web role, shared by host/web/worker.ts and host/web/page/. Interface: PageMessage
// (page -> worker), WorkerMessage (worker -> page), both plain structured-clone objects.
// Rules: the page never waits on the kernel: every request is a message, every answer or
// sample arrives as one; bulk bytes (images, files) move as transferred ArrayBuffers; a
// feature adds its own message types here, prefixed with its name (`views.`, `power.`,
// `crash.`, `bench.`), so the worker routes them by prefix.

/** Where the image lives: OPFS (persists across reloads) or memory (the fallback). */
export type BackendKind = "opfs" | "memory";

/** Page -> worker. */
export type PageMessage =
  /** Boot (or reboot) the kernel on the OPFS image, formatting it when it is new or `format`. */
  | { type: "boot"; format?: boolean }
  /** Unmount cleanly and release the image (the page is going away). */
  | { type: "shutdown" }
  /** One line typed at the shell. */
  | { type: "shell.line"; line: string }
  /** Tab completion of a partial line. */
  | { type: "shell.complete"; line: string }
  /** Replace the image with uploaded bytes, then boot it. */
  | { type: "image.upload"; name: string; bytes: ArrayBuffer }
  /** Send the whole image back (as `image.bytes`). */
  | { type: "image.download" }
  /** Send one file of the image back (as `file.bytes`). */
  | { type: "file.download"; path: string }
  /** Copy dropped host files and folders into the current directory. */
  | { type: "files.drop"; entries: DroppedEntry[] }
  /** A feature's own message (views., power., crash., bench.). */
  | { type: `${"views" | "power" | "crash" | "bench"}.${string}`; [k: string]: unknown };

/** One dropped entry: a path relative to the drop target and what to make there. */
export type DroppedEntry =
  | { kind: "dir"; path: string }
  | { kind: "file"; path: string; bytes: ArrayBuffer; mtimeMs: number };

/** Worker -> page. */
export type WorkerMessage =
  /** Terminal output (\n line ends; the terminal converts). */
  | { type: "term.out"; text: string }
  /** The shell's prompt: the worker is ready for the next line. */
  | { type: "term.prompt"; prompt: string }
  /** Completion candidates for `shell.complete`. */
  | { type: "term.completions"; word: string; candidates: string[] }
  /** The kernel booted: bootMs from boot() to the prompt, readyMs since the worker started (its time origin), where the image lives, a notice for the user. */
  | { type: "booted"; bootMs: number; readyMs: number; backend: BackendKind; imageBytes: number; notice: string | null }
  /** The kernel cannot go on (panic, trap, an image that does not mount): one line; the page offers reboot and reformat. `restart`: only a new worker can help (the kernel module did not load). */
  | { type: "fatal"; message: string; restart?: boolean }
  /** An action failed (bad upload, missing file): one line; the kernel goes on. */
  | { type: "error"; message: string }
  /** The whole image, for a download. */
  | { type: "image.bytes"; name: string; bytes: ArrayBuffer }
  /** One file of the image, for a download. */
  | { type: "file.bytes"; name: string; bytes: ArrayBuffer }
  /** A feature's own message. */
  | { type: `${"views" | "power" | "crash" | "bench"}.${string}`; [k: string]: unknown };
