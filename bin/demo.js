#!/usr/bin/env node
// bin/demo.js -- `npm run demo`: builds the browser demo when needed, serves it on localhost and
// prints the URL; Ctrl-C stops it.
//
// Layer: outside the TypeScript build, like bin/helix.js, so it works on a fresh clone.
// Interface: `node bin/demo.js [--port N] [--host H]` (default 127.0.0.1:4173, the next free
// port when taken unless --port is given). Rules:
//  - build only what is missing or stale: the kernel (npm run build:kernel) when
//    build/helix.wasm is missing; the page (vite build) when dist/web is missing or older than
//    host/, build/helix.wasm or vite.config.ts; build output goes to stderr;
//  - serve with Vite's preview server (a static server for the built folder, relative URLs);
//    localhost is a secure origin, which OPFS needs;
//  - whatever goes wrong ends as ONE line `helix demo: ...` on stderr and a non-zero exit.

import { existsSync, readdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WASM = join(ROOT, "build/helix.wasm");
const WEB_INDEX = join(ROOT, "dist/web/index.html");
/** What the page is built from. */
const WEB_IN = ["host", "build/helix.wasm", "vite.config.ts"];
/** Vite's usual preview port. */
const DEFAULT_PORT = 4173;
/** Walk bound of newestInput (a runaway walk is a bug, not a big tree). */
const WALK_MAX = 100_000;

function fail(message, code = 1) {
  process.stderr.write(`helix demo: ${String(message).split("\n")[0]}\n`);
  process.exit(code);
}

/** Newest mtime (ms) of the files under the inputs. */
function newestInput(inputs) {
  let newest = 0;
  const stack = inputs.map((p) => join(ROOT, p));
  for (let guard = 0; stack.length > 0 && guard < WALK_MAX; guard++) {
    const p = stack.pop();
    let st;
    try { st = statSync(p); } catch { continue; }
    if (st.isDirectory()) for (const n of readdirSync(p)) stack.push(join(p, n));
    else newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

function run(what, cmd, args) {
  process.stderr.write(`helix demo: building (${what}) ...\n`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ["ignore", 2, 2] });
  if (r.error) fail(`cannot run ${what}: ${r.error.message}`);
  if (r.status !== 0) fail(`build failed: '${what}' exited with ${r.status ?? r.signal} (see the output above)`);
}

/** Parses --port N and --host H. */
function parseArgs(argv) {
  const o = { port: null, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`bad port '${argv[i]}': use 1..65535`);
      o.port = n;
    } else if (a === "--host") {
      if (argv[i + 1] === undefined) fail("--host needs a value");
      o.host = argv[++i];
    } else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: npm run demo [-- --port N] [-- --host H]\nbuilds the browser demo if needed and serves it on localhost (Ctrl-C stops)\n");
      process.exit(0);
    } else {
      fail(`unknown argument '${a}' (try --help)`);
    }
  }
  return o;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  if (!existsSync(WASM)) run("npm run build:kernel", npm, ["run", "--silent", "build:kernel"]);
  if (!existsSync(WEB_INDEX) || newestInput(WEB_IN) > statSync(WEB_INDEX).mtimeMs) {
    run("vite build", process.execPath, [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "--config", join(ROOT, "vite.config.ts"), "--logLevel", "warn"]);
  }
  let preview;
  try {
    ({ preview } = await import("vite"));
  } catch (err) {
    fail(`cannot load vite (run 'npm install'): ${err.message}`);
  }
  const server = await preview({
    configFile: join(ROOT, "vite.config.ts"), root: join(ROOT, "host/web"), logLevel: "warn",
    preview: { port: opts.port ?? DEFAULT_PORT, strictPort: opts.port !== null, host: opts.host, open: false },
  });
  // localhost is a secure origin (OPFS) whichever loopback address it resolves to
  const port = server.httpServer.address()?.port ?? opts.port ?? DEFAULT_PORT;
  const url = opts.host === "127.0.0.1" || opts.host === "localhost" ? `http://localhost:${port}/` : (server.resolvedUrls?.local[0] ?? `http://${opts.host}:${port}/`);
  process.stdout.write(`HelixFS browser demo: ${url}\n(serving dist/web; Ctrl-C stops)\n`);
  const stop = () => { server.close().finally(() => process.exit(0)); };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((err) => fail(err instanceof Error ? err.message : err));
