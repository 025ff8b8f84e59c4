// test/cli-run.ts -- runs the `helix` CLI as a child process for the CLI and main-job tests.

import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The CLI launcher. */
export const BIN = path.join(ROOT, "bin", "helix.js");
/** Node flags for the launcher's process: none (plain `node` must do; test/exit-hang.test.ts). */
export const NODE_FLAGS: string[] = [];

export interface RunResult { code: number | null; stdout: string; stderr: string }

/**
 * Runs `node NODE_FLAGS bin/helix.js ...args` in `cwd` (no build step: HELIX_NO_BUILD=1) with optional
 * stdin, extra environment and other node flags; resolves with the exit code and output, never throws on a
 * non-zero exit; rejects when the run takes longer than `timeoutMs` (a hang is a bug).
 */
export function runHelix(cwd: string, args: string[], timeoutMs: number, opts: { input?: string; env?: Record<string, string>; nodeFlags?: string[] } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeFlags ?? NODE_FLAGS), BIN, ...args], {
      cwd, env: { ...process.env, HELIX_NO_BUILD: "1", HELIX_DEBUG: "", ...opts.env }, stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`helix ${args.join(" ")} timed out`)); }, timeoutMs);
    child.on("error", (e) => { clearTimeout(timer); reject(e); });
    child.on("close", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(opts.input ?? "");
  });
}
