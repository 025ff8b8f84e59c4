#!/usr/bin/env node
// bin/helix.js -- launcher of the `helix` CLI (package.json "bin"; `npm start` runs `helix start`).
//
// Layer: outside the TypeScript build, so it works on a fresh clone. Interface: the CLI's
// arguments; it builds when needed, then calls main() of dist/host/cli/main.js and exits with its
// code. Rules:
//  - build only when something is missing (every command) or, for `start`, when sources are
//    newer than the build (a fresh `npm start` must never run stale code); the build's own
//    output goes to stderr so stdout stays the command's;
//  - HELIX_NO_BUILD=1 never builds (tests: others may be editing sources mid-run);
//  - whatever goes wrong ends as ONE line `helix: ...` on stderr and a non-zero exit;
//  - plain `node`, no V8 flags: the package itself keeps Node 20 from hanging at exit
//    (host/heap-settle.ts, docs/decisions.md "Node 20 exit hang").

import { existsSync, readdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Outputs of `npm run build:kernel` and `npm run build:host`. */
const KERNEL_OUT = ["build/helix.wasm", "build/helix.debug.wasm"];
const HOST_OUT = ["dist/host/cli/main.js", "dist/host/index.js", "dist/host/cli/start.js"];
/** Inputs of each build step. */
const KERNEL_IN = ["assembly", "asconfig.json"];
const HOST_IN = ["host", "tools", "tsconfig.json"];

function fail(message, code = 1) {
  process.stderr.write(`helix: ${String(message).split("\n")[0]}\n`);
  process.exit(code);
}

/** Newest mtime (ms) of .ts/.json files under the inputs (bounded walk; tests/specs excluded). */
function newestInput(inputs) {
  let newest = 0;
  const stack = inputs.map((p) => join(ROOT, p));
  for (let guard = 0; stack.length > 0 && guard < 100000; guard++) {
    const p = stack.pop();
    let st;
    try { st = statSync(p); } catch { continue; }
    if (st.isDirectory()) {
      if (p.endsWith("__tests__")) continue;
      for (const n of readdirSync(p)) stack.push(join(p, n));
    } else if (/\.(ts|json)$/.test(p) && !/\.spec\.ts$/.test(p)) {
      newest = Math.max(newest, st.mtimeMs);
    }
  }
  return newest;
}

/** Oldest mtime (ms) of the outputs; 0 when one is missing. */
function oldestOutput(outputs) {
  let oldest = Infinity;
  for (const o of outputs) {
    const p = join(ROOT, o);
    if (!existsSync(p)) return 0;
    oldest = Math.min(oldest, statSync(p).mtimeMs);
  }
  return oldest;
}

function build(script) {
  process.stderr.write(`helix: building (npm run ${script}) ...\n`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["run", "--silent", script], { cwd: ROOT, stdio: ["ignore", 2, 2] });
  if (r.error) fail(`cannot run npm run ${script}: ${r.error.message}`);
  if (r.status !== 0) fail(`build failed: 'npm run ${script}' exited with ${r.status ?? r.signal} (see the output above)`);
}

const argv = process.argv.slice(2);

await run();

async function run() {
  if (process.env.HELIX_NO_BUILD !== "1") {
    const strict = argv[0] === "start";
    const kernelOld = oldestOutput(KERNEL_OUT);
    const hostOld = oldestOutput(HOST_OUT);
    if (kernelOld === 0 || (strict && newestInput(KERNEL_IN) > kernelOld)) build("build:kernel");
    if (hostOld === 0 || (strict && newestInput(HOST_IN) > hostOld)) build("build:host");
  } else if (!existsSync(join(ROOT, "dist/host/cli/main.js"))) {
    fail("dist/host/cli/main.js is missing: run 'npm run build'");
  }

  process.on("uncaughtException", (err) => fail(err instanceof Error ? err.message : err));
  try {
    const { main } = await import(pathToFileURL(join(ROOT, "dist/host/cli/main.js")).href);
    process.exitCode = await main(argv);
  } catch (err) {
    fail(err instanceof Error ? err.message : err);
  }
}
