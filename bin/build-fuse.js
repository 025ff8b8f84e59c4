#!/usr/bin/env node
// bin/build-fuse.js -- `postinstall`: applies patches/ with patch-package, then rebuilds
// fuse-native's addon from its (patched) source with node-gyp, so build/Release/fuse.node (which node-gyp-build loads
// before the prebuilds) is the patched one that hands each request's caller to JS
// (patches/fuse-native+2.2.6.patch, host/fuse/binding.ts).
//
// Layer: outside the TypeScript build (runs at install). Interface: `node bin/build-fuse.js`.
// Rules: Linux only (elsewhere it says so and does nothing); node-gyp is npm's own (the
// `npm_config_node_gyp` npm gives install scripts, else the one bundled next to npm); Node's
// headers come from /usr/include/node when the system has them (no download); never fails the
// install (fuse-native is an optional dependency, patch-package a dev one: an install without
// either, or a platform fuse-native does not build on, still runs everything but the mount):
// a failure is one warning line on stderr and exit 0 (`helix mount` then says that
// fuse-native is not patched).

import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

function warn(msg) {
  process.stderr.write(`helixfs: ${msg}\n`);
  process.exit(0);
}

if (process.platform !== "linux") warn("FUSE mounts are Linux only: fuse-native is not rebuilt");
let dir;
try {
  dir = dirname(createRequire(join(ROOT, "package.json")).resolve("fuse-native/package.json"));
} catch {
  warn("fuse-native is not installed: 'helix mount' will not work");
}
// patches/ first (patch-package is a devDependency: an install without dev packages has none)
let patcher;
try {
  patcher = createRequire(join(ROOT, "package.json")).resolve("patch-package/dist/index.js");
} catch {
  warn("patch-package is not installed: fuse-native stays unpatched ('helix mount' needs the patch)");
}
const p = spawnSync(process.execPath, [patcher], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
if (p.status !== 0) {
  const why = (p.stderr ?? "").split("\n").filter((l) => l.trim() !== "")[0] ?? `exit ${p.status}`;
  warn(`applying patches/ to fuse-native failed (${why.trim()}): 'helix mount' needs the patch`);
}
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  "/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
  "/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
].filter((p) => typeof p === "string" && p !== "" && existsSync(p));
if (candidates.length === 0) warn("node-gyp not found: fuse-native is not rebuilt ('helix mount' needs the patched addon)");
const args = [candidates[0], "rebuild"];
if (existsSync("/usr/include/node/node_api.h")) args.push("--nodedir=/usr");
const r = spawnSync(process.execPath, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
if (r.status !== 0) {
  const why = (r.stderr ?? "").split("\n").filter((l) => /error/i.test(l))[0] ?? `exit ${r.status}`;
  warn(`rebuilding fuse-native failed (${why.trim()}): 'helix mount' needs a C compiler, make and python3`);
}
