// test/layers.ts -- the host's layering rules as a checker (docs/decisions.md "Host layout").
//
// Layer: test oracle. Interface: checkLayers(sources) -> violations, over a map of host file
// path (relative to the repository, e.g. "host/vmm/kernel.ts") to its source text.
// Rules it enforces:
//  - a role imports only from roles below it (ROLE_USES); a file outside every role folder
//    other than the package entry is a violation;
//  - portable roles (fs, vmm, crash, shell, web) import no Node built-in (`node:*` or a bare
//    built-in name), no Node-only package, and do not touch the `process` global;
//  - no import cycle between host files (a cycle hides the dependency direction);
//  - host/ never imports tools/ or test/; the one file it imports from outside host/ is the
//    kernel module, as a Vite asset URL (`build/helix.wasm?url`).

import { builtinModules } from "node:module";
import * as path from "node:path";

/** The host's roles, each a folder of host/, and the roles each may import from. */
export const ROLE_USES: Readonly<Record<string, readonly string[]>> = {
  fs: [],
  vmm: ["fs"],
  crash: ["fs", "vmm"],
  shell: ["fs", "vmm"],
  node: ["fs", "vmm", "crash"],
  fuse: ["fs", "vmm", "shell", "node"],
  web: ["fs", "vmm", "crash", "shell"],
  cli: ["fs", "vmm", "crash", "shell", "node", "fuse"],
};
/** Roles that must run in a browser worker or page as well as under Node. */
export const PORTABLE_ROLES: ReadonlySet<string> = new Set(["fs", "vmm", "crash", "shell", "web"]);
/** Files directly in host/ and the role they count as (the package's Node entry). */
export const ENTRY_FILES: Readonly<Record<string, string>> = { "host/index.ts": "node" };
/** npm packages that exist only for Node (native addons, terminals, argv parsing). */
export const NODE_ONLY_PACKAGES: ReadonlySet<string> = new Set(["fs-ext", "cli-progress", "commander", "memfs", "fuse-native", "node-gyp-build"]);

/** npm packages named like a Node built-in that portable code may import: browser implementations the package depends on. */
export const BROWSER_PACKAGES: ReadonlySet<string> = new Set(["buffer", "stream", "events"]);

/** One broken rule, with the file and a one-line reason. */
export interface LayerViolation {
  kind: "role" | "node-import" | "process-global" | "cycle" | "outside";
  file: string;
  detail: string;
}

const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Source text without comments and string contents other than import specifiers. */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:\\])\/\/.*$/gm, "$1");
}

/** The module specifiers a file imports (static, re-exports and dynamic imports). */
export function importsOf(src: string): string[] {
  const out: string[] = [];
  for (const m of stripComments(src).matchAll(IMPORT_RE)) out.push(m[1] ?? m[2]);
  return out;
}

/** The role of a host file: its first folder under host/, an entry file's role, or null. */
export function roleOf(file: string): string | null {
  if (ENTRY_FILES[file] !== undefined) return ENTRY_FILES[file];
  const m = /^host\/([^/]+)\//.exec(file);
  return m !== null && ROLE_USES[m[1]] !== undefined ? m[1] : null;
}

/** True when `spec` names a Node built-in module (`node:fs`, `fs`, `fs/promises`). */
function isBuiltin(spec: string): boolean {
  if (BROWSER_PACKAGES.has(spec)) return false;
  return spec.startsWith("node:") || builtinModules.includes(spec) || builtinModules.includes(spec.split("/")[0]);
}

/** The package name of a bare specifier (`@scope/pkg/sub` -> `@scope/pkg`). */
function packageOf(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** Resolves a relative `.js` specifier of `file` to the host source file it names. */
function resolve(file: string, spec: string): string {
  return path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, ".ts");
}

/** Every violation of the rules in the header, in a stable order. */
export function checkLayers(sources: ReadonlyMap<string, string>): LayerViolation[] {
  const out: LayerViolation[] = [];
  const edges = new Map<string, string[]>();
  for (const [file, src] of sources) {
    const role = roleOf(file);
    if (role === null) { out.push({ kind: "outside", file, detail: "not in a role folder of host/" }); continue; }
    const portable = PORTABLE_ROLES.has(role);
    const targets: string[] = [];
    for (const spec of importsOf(src)) {
      if (spec.startsWith(".") && /^[^?]+\.wasm\?url$/.test(spec)) {
        // a Vite asset import of the kernel module: allowed from build/ only
        if (!resolve(file, spec.replace(/\?url$/, "")).startsWith("build/")) out.push({ kind: "role", file, detail: `imports the asset ${spec} from outside build/` });
      } else if (spec.startsWith(".")) {
        const target = resolve(file, spec);
        if (!target.startsWith("host/")) { out.push({ kind: "role", file, detail: `imports ${target} from outside host/` }); continue; }
        targets.push(target);
        const to = roleOf(target);
        if (to !== null && to !== role && !ROLE_USES[role].includes(to)) {
          out.push({ kind: "role", file, detail: `${role} imports ${to} (${target})` });
        }
      } else if (portable && (isBuiltin(spec) || NODE_ONLY_PACKAGES.has(packageOf(spec)))) {
        out.push({ kind: "node-import", file, detail: `portable role ${role} imports '${spec}'` });
      }
    }
    if (portable && /(^|[^.\w$])process\s*\./m.test(stripComments(src).replace(/(["'`])(?:\\.|(?!\1)[^\\])*\1/g, '""'))) {
      out.push({ kind: "process-global", file, detail: `portable role ${role} uses the Node 'process' global` });
    }
    edges.set(file, targets);
  }
  for (const cycle of cyclesOf(edges)) out.push({ kind: "cycle", file: cycle[0], detail: `import cycle: ${[...cycle, cycle[0]].join(" -> ")}` });
  return out;
}

/** The strongly connected components with more than one file (or a self-import), Tarjan's algorithm. */
function cyclesOf(edges: ReadonlyMap<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    for (let w = ""; w !== v;) { w = stack.pop()!; on.delete(w); scc.push(w); }
    if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) out.push(scc.reverse());
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}
