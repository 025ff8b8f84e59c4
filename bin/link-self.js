#!/usr/bin/env node
// bin/link-self.js -- `postinstall`: links this package's own `helix` command into
// node_modules/.bin, so `npx helix ...` (the README's lines) runs this CLI in a fresh clone.
//
// Why: npm never links a package's own "bin" into its own node_modules/.bin. npm >= 7's npx
// finds it through package.json, but a dev dependency (@as-pect/cli -> glob-promise ->
// npm-install-peers) installs npm 6 into node_modules/.bin, and wherever that directory is on
// PATH (npm scripts, direnv, shells that add ./node_modules/.bin) `npx` is npm 6's: it looks
// only in node_modules/.bin and then the registry, where `helix` is an unrelated package
// whose usage it printed. With the link, every npx finds ours first.
//
// Layer: outside the TypeScript build (runs before it). Interface: `node bin/link-self.js
// [ROOT]` (ROOT: the package root, default this file's; tests pass a scratch copy). Rules:
// only for the top-level package (not when installed as someone's dependency); an existing
// correct link is left alone, a stale one replaced, a real file never touched; never fails
// the install: a problem is one warning line on stderr and exit 0.

import { lstatSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The commands to link: package.json "bin" (kept in step by test/npx.test.ts). */
const BINS = { helix: "bin/helix.js" };

/**
 * Links each of BINS into ROOT/node_modules/.bin (relative symlinks, as npm makes them).
 * Returns what it did per command: "linked", "ok" (already right), "skipped: <why>".
 */
export function linkSelf(root) {
  const done = {};
  if (basename(dirname(root)) === "node_modules") {
    for (const name of Object.keys(BINS)) done[name] = "skipped: installed as a dependency (npm links its bin)";
    return done;
  }
  const binDir = join(root, "node_modules", ".bin");
  mkdirSync(binDir, { recursive: true });
  for (const [name, file] of Object.entries(BINS)) {
    const link = join(binDir, name);
    const target = relative(binDir, join(root, file));
    let st = null;
    try { st = lstatSync(link); } catch { /* no link yet */ }
    if (st !== null && !st.isSymbolicLink()) { done[name] = `skipped: ${link} exists and is not a symlink`; continue; }
    if (st !== null && readlinkSync(link) === target) { done[name] = "ok"; continue; }
    if (st !== null) unlinkSync(link);
    symlinkSync(target, link);
    done[name] = "linked";
  }
  return done;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), ".."));
  try {
    linkSelf(root);
  } catch (err) {
    process.stderr.write(`helix: postinstall: could not link node_modules/.bin/helix: ${err instanceof Error ? err.message : err}\n`);
  }
}
