// host/web/system.ts -- the kernel as the page's worker runs it: one image (OPFS, or memory
// where OPFS is missing), one booted kernel, one shell, and the boot log printed as
// `helix boot` prints it.
//
// Layer: web role, worker side, over host/vmm (bootWith, Kernel), host/shell (Shell, the
// dmesg-style lines), host/web/opfs.ts and volatile.ts. Interface: WebSystem -- boot(),
// imageBytes(), replaceImage(), runLine(), addCommand(), dropKernel() (a power cut),
// shutdown(); the live kernel, device, backend and shell; DEVICE_WRAPPERS and BOOT_HOOKS.
// Features (files, views, power, crash, bench) get it as their context. Rules: every kernel failure ends as one line (a `fatal` message when the kernel
// cannot go on); the worker never traps (KernelPanic is caught); the image is always closed
// before it is reopened (the OPFS handle is exclusive).

import { bootWith, Kernel, KernelError, KernelPanic } from "../vmm/kernel.js";
import { BlockError, MemoryBackend, type BlockBackend } from "../vmm/blockdev.js";
import { dmesgStamp, errorMessage, mountLines, snapshotSpace, FS_LOG_PREFIX } from "../shell/format.js";
import { Shell, parseShell, shellFailure, type ShellExtension } from "../shell/shell.js";
import { OpfsBackend, openOpfsImage, writeOpfsImage } from "./opfs.js";
import { VolatileCacheBackend } from "./volatile.js";
import type { BackendKind, WorkerMessage } from "./protocol.js";

/** The OPFS file that holds the page's image. */
export const IMAGE_NAME = "helix.img";
/** Size of a new image (the boot target is measured on 64 MiB). */
export const DEFAULT_IMAGE_BYTES = 64 * 1024 * 1024;
/** Physical memory of the page's kernel, MiB. */
export const WEB_MEMORY_MIB = 128;

/** Wrappers every device gets before the kernel boots on it, in order (views: the block I/O tap). */
export const DEVICE_WRAPPERS: ((b: BlockBackend) => BlockBackend)[] = [];
/** Called after every successful boot (views: start the sampler). */
export const BOOT_HOOKS: ((sys: WebSystem) => void)[] = [];

/**
 * A long-running command of the page's shell (crashtest, bench): it owns the worker while it
 * runs (awaited, yielding to let samples out) and so runs only as a line of its own; `help`
 * and completion list it with the shell's own commands.
 */
export interface WebCommand {
  name: string;
  usage: string;
  does: string;
  run(args: string[], sys: WebSystem): Promise<void>;
}

/**
 * The kernel's sleep in the page: none. The kernel sleeps only in multiple-mount protection,
 * to wait out a holder named in the MMP block that might still be alive on another machine.
 * The page's image is private to this worker (OPFS's sync access handle is an exclusive
 * lock, a memory image is this worker's own), so such a holder is known to be gone, and an
 * image uploaded from Node while it was mounted boots at once instead of after 11 s.
 */
export const NO_SLEEP = (_ms: number): void => {};

/**
 * How often (ms) the worker runs the journal's commit timer while the kernel idles: a
 * transaction older than the kernel's commit interval (5 s, jbd2's commit=5) then commits
 * even when no syscall comes, so a page closed without unmounting loses at most the last
 * few seconds, as a Linux machine that loses power does.
 */
export const COMMIT_TIMER_MS = 1000;

/** How the worker posts to the page. */
export type Post = (msg: WorkerMessage, transfer?: Transferable[]) => void;

/** The booted system of one worker. */
export class WebSystem {
  /** The live kernel (null before the first boot and after a failed one). */
  kernel: Kernel | null = null;
  /** The block backend under the kernel (OPFS or memory). */
  backend: BlockBackend | null = null;
  /** Where the image lives. */
  backendKind: BackendKind = "opfs";
  /** The shell bound to the live kernel. */
  shell: Shell | null = null;
  /** The image's bytes when OPFS is missing (kept across reboots of this worker). */
  private memoryBytes: Uint8Array | null = null;
  /** performance.now() when the current boot started. */
  private bootT0 = 0;
  /** The host's own shell commands (the page's `download`, and the WebCommands' help entries). */
  readonly extensions: ShellExtension[] = [];
  /** The page's long-running commands, by name (addCommand). */
  private readonly commands = new Map<string, WebCommand>();
  /** The disk's volatile write cache between the kernel and `backend` (host/web/volatile.ts): the power cut drops it. */
  device: VolatileCacheBackend | null = null;
  /** Called after the shell's `sync` returned (paths fsync'ed, or null for a whole sync). */
  onShellSync: ((paths: string[] | null) => void) | null = null;
  /** The commit timer while a kernel runs (see COMMIT_TIMER_MS). */
  private commitTimer: ReturnType<typeof setInterval> | null = null;

  /** The compiled kernel, once `loading` resolved. */
  private mod: WebAssembly.Module | null = null;

  /**
   * `loading`: the kernel module being compiled; the first boot opens the image while it
   * compiles (both take tens of ms on a first visit).
   */
  constructor(private readonly loading: Promise<WebAssembly.Module>, readonly post: Post) {
    loading.then((m) => { this.mod = m; }, () => { /* boot() reports it */ });
  }

  /** The compiled kernel module. Throws before it is loaded (boot() waits for it). */
  get module(): WebAssembly.Module {
    if (this.mod === null) throw new Error("the kernel module is not loaded yet");
    return this.mod;
  }

  /** Terminal output. */
  print(text: string): void { this.post({ type: "term.out", text }); }

  /** Prints one kernel log line with its time since boot, as dmesg does. */
  printLog(text: string, t = (performance.now() - this.bootT0) / 1000): void { this.print(`${dmesgStamp(t)} ${text}\n`); }

  /** Sends the shell's prompt. */
  prompt(): void { if (this.shell !== null) this.post({ type: "term.prompt", prompt: this.shell.prompt() }); }

  /**
   * Opens the image (OPFS; memory with a notice where OPFS is missing), formats it when it is
   * new or `format` is set (a reformat also gives the image its default size, so it works on
   * an image of any size or contents), boots and mounts, prints the boot log, posts `booted`
   * and (unless `prompt` is false) the prompt. A failure posts `fatal` with one line and
   * leaves no kernel. `cwd`: the shell's directory after the boot, when it still exists.
   */
  async boot(format = false, opts: { cwd?: string; prompt?: boolean } = {}): Promise<void> {
    this.shutdown();
    this.bootT0 = performance.now();
    let opened: { notice: string | null; created: boolean };
    const [img, mod] = await Promise.allSettled([this.openImage(format), this.loading]);
    if (mod.status === "rejected") {
      this.closeBackend();
      this.post({ type: "fatal", message: `cannot load the kernel module: ${errorMessage(mod.reason)}`, restart: true });
      return;
    }
    if (img.status === "rejected") {
      this.closeBackend();
      this.post({ type: "fatal", message: bootMessage(img.reason) });
      return;
    }
    opened = img.value;
    this.start(opened.created || format, opened.notice, opts.cwd ?? "/", opts.prompt ?? true);
  }

  /** Opens the image into `backend`; whether it was created now, and a notice for the page. */
  private async openImage(reset: boolean): Promise<{ notice: string | null; created: boolean }> {
    try {
      const img = await openBusyRetry(() => openOpfsImage(IMAGE_NAME, DEFAULT_IMAGE_BYTES, reset));
      this.backend = img.backend;
      this.backendKind = "opfs";
      return { notice: null, created: img.created };
    } catch (err) {
      if (!(err instanceof BlockError) || err.code !== "ENOTSUP") throw err;
      const notice = `${err.message.replace(/^ENOTSUP: /, "")}: the image lives in memory and is lost on reload`;
      let created = false;
      if (this.memoryBytes === null || reset) { this.memoryBytes = new Uint8Array(DEFAULT_IMAGE_BYTES); created = true; }
      this.backend = new MemoryBackend(this.memoryBytes);
      this.backendKind = "memory";
      return { notice, created };
    }
  }

  /** Boots a kernel on the open backend (see boot). */
  private start(mkfs: boolean, notice: string | null, cwd: string, prompt = true): void {
    // mkfs of an OPFS image runs with its flushes held back to one (OpfsBackend.deferFlushes)
    const opfs = mkfs && this.backend instanceof OpfsBackend ? this.backend : null;
    try {
      opfs?.deferFlushes(true);
      this.device = new VolatileCacheBackend(this.backend!);
      // wrappers (the views' I/O tap) sit above the cache: they see the requests the kernel makes
      let device: BlockBackend = this.device;
      for (const wrap of DEVICE_WRAPPERS) device = wrap(device);
      this.kernel = bootWith({
        device, module: this.module, memoryMiB: WEB_MEMORY_MIB, mkfs, sleep: NO_SLEEP, noMount: opfs !== null,
        log: (line) => this.printLog(line),
        identity: { node: "browser", pid: 1, program: "helix web", exclusive: true },
      });
      if (opfs !== null) {
        opfs.deferFlushes(false);
        this.kernel.mount();
      }
    } catch (err) {
      this.kernel = null;
      this.closeBackend();
      this.post({ type: "fatal", message: bootMessage(err) });
      return;
    }
    for (const m of mountLines(this.kernel, IMAGE_NAME)) this.printLog(m);
    this.startCommitTimer();
    this.shell = new Shell(this.kernel.fs, {
      out: (d) => this.print(typeof d === "string" ? d : new TextDecoder().decode(d)), err: (l) => this.print(l + "\n"),
      onSync: (p) => this.onShellSync?.(p),
      snapshotBytes: () => (this.kernel === null || this.kernel.isDead ? 0 : snapshotSpace(this.kernel.info())?.heldBytes ?? 0),
    }, this.extensions);
    try { if (this.kernel.fs.statSync(cwd).isDirectory()) this.shell.cwd = cwd; } catch { /* gone: stay at / */ }
    this.post({
      type: "booted", bootMs: performance.now() - this.bootT0, readyMs: performance.now(), backend: this.backendKind,
      imageBytes: this.backend!.sizeBytes, notice,
    });
    for (const hook of BOOT_HOOKS) hook(this);
    if (prompt) this.prompt();
  }

  /**
   * The whole image as it is after a clean unmount (every commit checkpointed, the MMP block
   * free), so that `helix boot` mounts it under Node at once. A running kernel is unmounted
   * for the copy and mounted again (the shell keeps its directory); without one, the image is
   * read as it lies. Returns null after posting `error` or `fatal` when it cannot be read.
   */
  async imageBytes(): Promise<Uint8Array | null> {
    const running = this.kernel !== null;
    const cwd = this.shell?.cwd ?? "/";
    if (running) {
      this.print(`${dmesgStamp((performance.now() - this.bootT0) / 1000)} ${FS_LOG_PREFIX}unmounting to save a consistent copy of the image\n`);
      const k = this.kernel!;
      this.stopCommitTimer();
      this.kernel = null;
      this.shell = null;
      try {
        k.shutdown();
      } catch (err) {
        // the image is not the clean copy a download promises (and the cache may have lost
        // writes with the failed unmount): stop here, as a failed boot does
        this.closeBackend();
        this.post({ type: "fatal", message: `${IMAGE_NAME}: unmount failed: ${errorMessage(err)}` });
        return null;
      }
    }
    this.closeBackend();
    let bytes: Uint8Array | null = null;
    let notice: string | null = null;
    try {
      notice = (await this.openImage(false)).notice;
      const b = this.backend!;
      bytes = new Uint8Array(b.sizeBytes);
      b.read(0, bytes);
    } catch (err) {
      this.closeBackend();
      this.post({ type: running ? "fatal" : "error", message: bootMessage(err) });
      return null;
    }
    if (running) {
      this.bootT0 = performance.now();
      this.start(false, notice, cwd);
    } else {
      this.closeBackend();
    }
    return bytes;
  }

  /**
   * Replaces the image with `bytes` (an upload that checkImage accepted) and boots it. The
   * running kernel is shut down first (the OPFS handle is exclusive). Errors end as `fatal`.
   */
  async replaceImage(name: string, bytes: Uint8Array): Promise<void> {
    this.shutdown();
    this.print(`${name}: ${bytes.length} bytes (${(bytes.length / 2 ** 20).toFixed(1)} MiB): replaces the image; booting it\n`);
    if (this.backendKind === "memory") {
      this.memoryBytes = bytes;
    } else {
      try {
        await writeOpfsImage(IMAGE_NAME, bytes);
      } catch (err) {
        if (!(err instanceof BlockError) || err.code !== "ENOTSUP") { this.post({ type: "fatal", message: bootMessage(err) }); return; }
        this.memoryBytes = bytes;
      }
    }
    await this.boot(false);
  }

  /**
   * Adds a long-running command to the page's shell: a line holding only it runs `run`
   * (awaited); `help` and completion list it; inside a longer line it fails with one line.
   */
  addCommand(cmd: WebCommand): void {
    this.commands.set(cmd.name, cmd);
    this.extensions.push({
      name: cmd.name, usage: cmd.usage, does: cmd.does,
      run: () => { throw shellFailure(`${cmd.name}: runs only as a line of its own`); },
    });
  }

  /** Runs one shell line (or a page command, awaited); a kernel panic becomes `fatal`. */
  runLine(line: string): void | Promise<void> {
    const shell = this.shell;
    if (shell === null) { this.post({ type: "error", message: "the kernel is not running: reboot or reformat" }); return; }
    const feature = this.pageCommand(line);
    if (feature !== null) {
      return (async () => {
        try { await feature.cmd.run(feature.args, this); } catch (err) { this.print(`helix: ${feature.cmd.name}: ${errorMessage(err)}\n`); }
        this.prompt();
      })();
    }
    if (!this.guard(() => shell.run(line))) return;
    if (shell.exitStatus !== null) {
      this.printLog(`${FS_LOG_PREFIX}unmounting`);
      this.shutdown();
      this.print("the kernel is shut down; reboot to go on\n");
      this.post({ type: "fatal", message: "the kernel was shut down (exit)" });
      return;
    }
    this.prompt();
  }

  /**
   * Runs `fn` against the live kernel; a KernelPanic (or any trap) posts `fatal` and drops the
   * kernel, other errors post `error`. Returns whether fn completed.
   */
  guard(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      if (err instanceof KernelPanic || err instanceof WebAssembly.RuntimeError) {
        this.kernel = null;
        this.shell = null;
        this.closeBackend();
        // a KernelPanic's message starts with "kernel panic: " already; a bare trap gets it
        this.post({ type: "fatal", message: err instanceof KernelPanic ? errorMessage(err) : `kernel panic: ${errorMessage(err)}` });
      } else {
        this.post({ type: "error", message: errorMessage(err) });
      }
      return false;
    }
  }

  /** The page command a line holds alone (`crashtest ace1`), or null (the shell runs the line). */
  private pageCommand(line: string): { cmd: WebCommand; args: string[] } | null {
    let cmds;
    try { cmds = parseShell(line); } catch { return null; }
    if (cmds.length !== 1 || cmds[0].redirect !== undefined) return null;
    const [name, ...args] = cmds[0].argv;
    const cmd = this.commands.get(name);
    return cmd === undefined ? null : { cmd, args };
  }

  /**
   * Drops the kernel without unmounting (a power cut: no journal commit, no clean flag, the
   * cache below is the caller's to cut) and forgets the closed backend.
   */
  dropKernel(): void {
    this.stopCommitTimer();
    this.kernel = null;
    this.shell = null;
    this.device = null;
    this.backend = null;
  }

  /** Runs the kernel's commit timer every COMMIT_TIMER_MS while this kernel lives. */
  private startCommitTimer(): void {
    this.stopCommitTimer();
    const k = this.kernel;
    this.commitTimer = setInterval(() => {
      if (this.kernel !== k || k === null || k.isDead) { this.stopCommitTimer(); return; }
      // a failed commit is logged by the kernel (and turns it read-only); a panic is fatal
      this.guard(() => { k.callExport("sys_commit_timer"); });
    }, COMMIT_TIMER_MS);
  }

  private stopCommitTimer(): void {
    if (this.commitTimer !== null) { clearInterval(this.commitTimer); this.commitTimer = null; }
  }

  /** Unmounts cleanly when the kernel is alive, then releases the image. */
  shutdown(): void {
    this.stopCommitTimer();
    const k = this.kernel;
    this.kernel = null;
    this.shell = null;
    if (k !== null) {
      try { k.shutdown(); } catch { /* a dead kernel: the backend is closed below */ }
    }
    this.closeBackend();
  }

  private closeBackend(): void {
    try { this.backend?.close(); } catch { /* already closed */ }
    this.backend = null;
    this.device = null;
  }

}

/** Tries of an image open that found the image busy (see openBusyRetry). */
const OPEN_BUSY_TRIES = 15;
/** Milliseconds between two of them (the tries span ~1.5 s). */
const OPEN_BUSY_GAP_MS = 100;

/**
 * Runs `open` again while it fails with EBUSY, up to OPEN_BUSY_TRIES times: a reloaded page,
 * or a worker replaced after a failure, starts while the old worker still lets go of the
 * image's handle. Another tab that really holds it is still refused, ~1.5 s later.
 */
async function openBusyRetry<T>(open: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await open();
    } catch (err) {
      if (!(err instanceof BlockError) || err.code !== "EBUSY" || i >= OPEN_BUSY_TRIES) throw err;
      await new Promise((r) => setTimeout(r, OPEN_BUSY_GAP_MS));
    }
  }
}

/** One line for a failed boot, worded as the CLI words it. */
export function bootMessage(err: unknown): string {
  // another tab: the CLI's "x.img: in use by ..." has no errno name in front either
  if (err instanceof BlockError && err.code === "EBUSY") return `${IMAGE_NAME}: ${errorMessage(err).replace(/^EBUSY: /, "")}`;
  if (err instanceof KernelError || err instanceof BlockError) return `${IMAGE_NAME}: ${errorMessage(err)}`;
  // as the CLI's bootError: "x.img: kernel panic: ..." (a KernelPanic's message has the prefix)
  if (err instanceof WebAssembly.RuntimeError) return `${IMAGE_NAME}: kernel panic: ${errorMessage(err)}`;
  return `${IMAGE_NAME}: ${errorMessage(err)}`;
}

