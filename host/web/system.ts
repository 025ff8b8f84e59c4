// host/web/system.ts -- the kernel as the page's worker runs it: one image (OPFS, or memory
// where OPFS is missing), one booted kernel, one shell, and the boot log printed as
// `helix boot` prints it.
//
// Layer: web role, worker side, over host/vmm (bootWith, Kernel), host/shell (Shell, the
// dmesg-style lines) and host/web/opfs.ts. Interface: WebSystem -- boot(), reboot(), the live
// kernel, backend and shell, print(); features (views, power, crash, bench) get it as their
// context. Rules: every kernel failure ends as one line (a `fatal` message when the kernel
// cannot go on); the worker never traps (KernelPanic is caught); the image is always closed
// before it is reopened (the OPFS handle is exclusive).

import { bootWith, Kernel, KernelError, KernelPanic } from "../vmm/kernel.js";
import { BlockError, MemoryBackend, type BlockBackend } from "../vmm/blockdev.js";
import { dmesgStamp, errorMessage, mountLines, FS_LOG_PREFIX } from "../shell/format.js";
import { Shell, parseShell } from "../shell/shell.js";
import { openOpfsImage } from "./opfs.js";
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

/** How the worker posts to the page. */
export type Post = (msg: WorkerMessage, transfer?: Transferable[]) => void;

/** A shell command a feature adds in the worker (crashtest, bench): runs on its own, may take its time. */
export type WebCommand = (args: string[], sys: WebSystem) => void | Promise<void>;

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
  /** The disk's volatile write cache between the kernel and `backend` (host/web/volatile.ts): the power cut drops it. */
  device: VolatileCacheBackend | null = null;
  /** Called after the shell's `sync` returned (paths fsync'ed, or null for a whole sync). */
  onShellSync: ((paths: string[] | null) => void) | null = null;
  /** Commands features add to the page's shell, by name (a line holding only that command runs it). */
  readonly commands = new Map<string, WebCommand>();
  /** The `help` lines of those commands (usage, what it does), by name. */
  readonly commandHelp = new Map<string, [string, string]>();
  /** The image's bytes when OPFS is missing (kept across reboots of this worker). */
  private memoryBytes: Uint8Array | null = null;
  /** performance.now() when the current boot started. */
  private bootT0 = 0;

  constructor(readonly module: WebAssembly.Module, readonly post: Post) {}

  /** Terminal output. */
  print(text: string): void { this.post({ type: "term.out", text }); }

  /** Prints one kernel log line with its time since boot, as dmesg does. */
  printLog(text: string, t = (performance.now() - this.bootT0) / 1000): void { this.print(`${dmesgStamp(t)} ${text}\n`); }

  /** Sends the shell's prompt. */
  prompt(): void { if (this.shell !== null) this.post({ type: "term.prompt", prompt: this.shell.prompt() }); }

  /**
   * Opens the image (OPFS; memory with a notice where OPFS is missing), formats it when it is
   * new or `format` is set, boots and mounts, prints the boot log, posts `booted` and the
   * prompt. A failure posts `fatal` with one line and leaves no kernel.
   */
  async boot(format = false, prompt = true): Promise<void> {
    this.shutdown();
    this.bootT0 = performance.now();
    let notice: string | null = null;
    let created = false;
    try {
      try {
        const img = await openOpfsImage(IMAGE_NAME, DEFAULT_IMAGE_BYTES);
        this.backend = img.backend;
        this.backendKind = "opfs";
        created = img.created;
      } catch (err) {
        if (!(err instanceof BlockError) || err.code !== "ENOTSUP") throw err;
        notice = `${err.message.replace(/^ENOTSUP: /, "")}: the image lives in memory and is lost on reload`;
        if (this.memoryBytes === null) { this.memoryBytes = new Uint8Array(DEFAULT_IMAGE_BYTES); created = true; }
        this.backend = new MemoryBackend(this.memoryBytes);
        this.backendKind = "memory";
      }
      this.device = new VolatileCacheBackend(this.backend);
      // wrappers (the views' I/O tap) sit above the cache: they see the requests the kernel makes
      let device: BlockBackend = this.device;
      for (const wrap of DEVICE_WRAPPERS) device = wrap(device);
      this.kernel = bootWith({
        device, module: this.module, memoryMiB: WEB_MEMORY_MIB, mkfs: created || format,
        log: (line) => this.printLog(line),
        identity: { node: "browser", pid: 1, program: "helix web", exclusive: true },
      });
    } catch (err) {
      this.closeBackend();
      this.post({ type: "fatal", message: bootMessage(err) });
      return;
    }
    for (const m of mountLines(this.kernel, IMAGE_NAME)) this.printLog(m);
    this.shell = new Shell(this.kernel.fs, {
      out: (d) => this.print(typeof d === "string" ? d : new TextDecoder().decode(d)), err: (l) => this.print(l + "\n"),
      onSync: (p) => this.onShellSync?.(p),
    });
    this.post({
      type: "booted", bootMs: performance.now() - this.bootT0, readyMs: performance.now(), backend: this.backendKind,
      imageBytes: this.backend!.sizeBytes, notice,
    });
    for (const hook of BOOT_HOOKS) hook(this);
    if (prompt) this.prompt();
  }

  /** Runs one shell line (or a feature's command, awaited); a kernel panic becomes `fatal`. */
  runLine(line: string): void | Promise<void> {
    const shell = this.shell;
    if (shell === null) { this.post({ type: "error", message: "the kernel is not running: reboot or reformat" }); return; }
    const feature = this.featureCommand(line);
    if (feature !== null) {
      return (async () => {
        try { await feature.run(feature.args, this); } catch (err) { this.print(`helix: ${feature.name}: ${errorMessage(err)}\n`); }
        this.prompt();
      })();
    }
    if (!this.guard(() => shell.run(line))) return;
    if (line.trim() === "help" && this.commandHelp.size > 0) {
      this.print("commands of the page (a line holding only the command):\n");
      for (const [usage, does] of this.commandHelp.values()) this.print(`  ${usage}\n      ${does}\n`);
    }
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
        this.post({ type: "fatal", message: `kernel panic: ${errorMessage(err)}` });
      } else {
        this.post({ type: "error", message: errorMessage(err) });
      }
      return false;
    }
  }

  /** The feature command a line holds alone (`crashtest ace1`), or null (the shell runs the line). */
  private featureCommand(line: string): { name: string; args: string[]; run: WebCommand } | null {
    let cmds;
    try { cmds = parseShell(line); } catch { return null; }
    if (cmds.length !== 1 || cmds[0].redirect !== undefined) return null;
    const [name, ...args] = cmds[0].argv;
    const run = this.commands.get(name);
    return run === undefined ? null : { name, args, run };
  }

  /**
   * Drops the kernel without unmounting (a power cut: no journal commit, no clean flag, the
   * cache below is the caller's to cut) and forgets the closed backend.
   */
  dropKernel(): void {
    this.kernel = null;
    this.shell = null;
    this.device = null;
    this.backend = null;
  }

  /** Unmounts cleanly when the kernel is alive, then releases the image. */
  shutdown(): void {
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

/** One line for a failed boot, worded as the CLI words it. */
export function bootMessage(err: unknown): string {
  if (err instanceof KernelError || err instanceof BlockError) return `${IMAGE_NAME}: ${errorMessage(err)}`;
  if (err instanceof KernelPanic || err instanceof WebAssembly.RuntimeError) return `${IMAGE_NAME}: kernel panic while booting: ${errorMessage(err)}`;
  return `${IMAGE_NAME}: ${errorMessage(err)}`;
}

