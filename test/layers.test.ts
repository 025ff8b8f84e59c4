// test/layers.test.ts -- the host's layout keeps its rules (test/layers.ts): roles import only
// downwards, portable roles import nothing of Node, no import cycles; and the checker itself
// reports each kind of violation it claims to find.

import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkLayers, importsOf } from "./layers.js";

const ROOT = path.resolve(import.meta.dirname, "..");

/** Every .ts file under host/, keyed by its repository-relative path. */
function hostSources(): Map<string, string> {
  const out = new Map<string, string>();
  for (const rel of fs.readdirSync(path.join(ROOT, "host"), { recursive: true, encoding: "utf8" })) {
    if (!rel.endsWith(".ts")) continue;
    out.set(`host/${rel.split(path.sep).join("/")}`, fs.readFileSync(path.join(ROOT, "host", rel), "utf8"));
  }
  return out;
}

describe("host layout", () => {
  it("every host file keeps the layering rules", () => {
    const sources = hostSources();
    expect(sources.size).toBeGreaterThan(20);
    expect(checkLayers(sources)).toEqual([]);
  });

  it("the package's entry and the CLI reach every role (the checker sees the real graph)", () => {
    const imports = importsOf(hostSources().get("host/cli/main.ts")!);
    expect(imports).toContain("../node/node.js");
    expect(imports).toContain("../shell/shell.js");
    expect(imports).toContain("node:fs");
  });
});

describe("the layering checker finds each kind of violation", () => {
  const ok = "export const x = 1;\n";
  const check = (files: Record<string, string>) => checkLayers(new Map(Object.entries(files))).map((v) => `${v.kind} ${v.file}`);

  it("a portable role importing a Node built-in, bare or node:", () => {
    expect(check({ "host/vmm/a.ts": 'import * as fs from "node:fs";\n' })).toEqual(["node-import host/vmm/a.ts"]);
    expect(check({ "host/shell/a.ts": 'import { join } from "path";\n' })).toEqual(["node-import host/shell/a.ts"]);
    expect(check({ "host/crash/a.ts": 'const w = await import("worker_threads");\n' })).toEqual(["node-import host/crash/a.ts"]);
    expect(check({ "host/web/a.ts": 'import { Command } from "commander";\n' })).toEqual(["node-import host/web/a.ts"]);
  });

  it("a portable role touching the process global (but not in a comment or a string)", () => {
    expect(check({ "host/fs/a.ts": "export const pid = process.pid;\n" })).toEqual(["process-global host/fs/a.ts"]);
    expect(check({ "host/fs/a.ts": '// process.exit() is not called here\nexport const s = "process.pid";\n' })).toEqual([]);
  });

  it("Node roles may import Node built-ins", () => {
    expect(check({ "host/node/a.ts": 'import * as fs from "node:fs";\n', "host/cli/b.ts": 'import * as os from "os";\n' })).toEqual([]);
  });

  it("an import upwards or sideways between roles", () => {
    expect(check({ "host/vmm/a.ts": 'import { x } from "../cli/b.js";\n', "host/cli/b.ts": ok })).toEqual(["role host/vmm/a.ts"]);
    expect(check({ "host/web/a.ts": 'import { x } from "../node/b.js";\n', "host/node/b.ts": ok })).toEqual(["role host/web/a.ts"]);
    expect(check({ "host/fs/a.ts": 'export { x } from "../vmm/b.js";\n', "host/vmm/b.ts": ok })).toEqual(["role host/fs/a.ts"]);
    expect(check({ "host/cli/a.ts": 'import { x } from "../../tools/b.js";\n' })).toEqual(["role host/cli/a.ts"]);
  });

  it("an asset import of anything but the kernel build", () => {
    expect(check({ "host/web/a.ts": 'import u from "../../build/helix.wasm?url";\n' })).toEqual([]);
    expect(check({ "host/web/a.ts": 'import u from "../../test/x.wasm?url";\n' })).toEqual(["role host/web/a.ts"]);
  });

  it("a file outside the role folders", () => {
    expect(check({ "host/misc.ts": ok })).toEqual(["outside host/misc.ts"]);
  });

  it("an import cycle, direct or through a dynamic import", () => {
    expect(check({ "host/cli/a.ts": 'import { y } from "./b.js";\n', "host/cli/b.ts": 'const m = await import("./a.js");\n' }))
      .toEqual(["cycle host/cli/a.ts"]);
    expect(check({ "host/cli/a.ts": 'import { y } from "./b.js";\n', "host/cli/b.ts": 'import { z } from "./c.js";\n', "host/cli/c.ts": ok })).toEqual([]);
  });
});
