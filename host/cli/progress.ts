// host/cli/progress.ts -- progress bars of the CLI's long copies (import, export, start) on a
// terminal (cli-progress), with an ETA over work = bytes + a per-file cost.
//
// Layer: CLI (Node). Interface: Progress (implements host/shell/tree.ts CopyProgress),
// formatEta, FILE_WORK_BYTES. Rules: bars are drawn only when stderr is a TTY.

import { performance } from "node:perf_hooks";
import cliProgress from "cli-progress";
import { MiB, formatRate } from "../shell/format.js";

export const FILE_WORK_BYTES = 64 * 1024;
/** Seconds of progress before an ETA is shown (earlier estimates swing wildly). */
const ETA_MIN_SECONDS = 0.5;

/** Seconds as cli-progress and coreutils-style tools print a remaining time: 45s, 2m15s, 1h02m. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A progress bar over bytes and files on stderr, drawn only when enabled (a TTY). The copy
 * loops are synchronous, so the bar redraws from update() (cli-progress' synchronousUpdate)
 * rather than from its timer.
 *
 * The bar and the ETA measure work = bytes + FILE_WORK_BYTES per file, averaged over the
 * whole run: a tree of many small files costs per file, not per byte, and cli-progress' own
 * ETA (the rate of its last 10 updates) swings with each file's size: it showed 2m15s for an
 * import of node_modules that took 3 s.
 */
export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly now: () => number;
  private readonly t0: number;
  bytes = 0;
  files = 0;

  /**
   * `enabled` defaults to "stderr is a TTY"; `opts.now` (ms) and `opts.stream` replace the
   * clock and stderr (tests).
   */
  constructor(label: string, readonly totalBytes: number, readonly totalFiles: number, enabled = process.stderr.isTTY === true,
    opts: { now?: () => number; stream?: NodeJS.WritableStream } = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    if (!enabled) return;
    this.bar = new cliProgress.SingleBar({
      format: `${label.padEnd(7)} [{bar}] {percentage}% | {mib}/{totalMib} MiB | {files}/{totalFiles} files | {rate} | ETA {etaText}`,
      barsize: 30, hideCursor: true, clearOnComplete: false, fps: 10, stream: opts.stream ?? process.stderr,
    }, cliProgress.Presets.shades_classic);
    this.bar.start(this.totalWork(), 0, this.payload());
  }

  /** Total work units (bytes plus the per-file cost), at least 1. */
  private totalWork(): number { return Math.max(this.totalBytes + this.totalFiles * FILE_WORK_BYTES, 1); }
  /** Work units done so far. */
  private work(): number { return Math.min(this.bytes + this.files * FILE_WORK_BYTES, this.totalWork()); }

  /** Seconds left at the average rate so far, or null while there is too little to go on. */
  eta(): number | null {
    const s = (this.now() - this.t0) / 1000;
    const done = this.work();
    if (s < ETA_MIN_SECONDS || done <= 0) return null;
    return (s * (this.totalWork() - done)) / done;
  }

  private payload(): object {
    const s = (this.now() - this.t0) / 1000;
    const eta = this.eta();
    return {
      mib: (this.bytes / MiB).toFixed(1), totalMib: (this.totalBytes / MiB).toFixed(1),
      files: this.files, totalFiles: this.totalFiles, rate: formatRate(this.bytes, s),
      etaText: eta === null ? "-" : formatEta(eta),
    };
  }

  /** Adds transferred bytes and finished files. */
  add(bytes: number, files: number): void {
    this.bytes += bytes;
    this.files += files;
    this.bar?.update(this.work(), this.payload());
  }

  /** Draws the final state and releases the terminal (always call, also on failure). */
  stop(): void {
    if (this.bar === null) return;
    this.bar.update(this.work(), this.payload());
    this.bar.stop();
    this.bar = null;
  }
}

// ---- sessions: a booted kernel with a timestamped log --------------------------------------

