// test/abi.test.ts -- the kernel's ABI as a checked contract (tools/abi.ts, issue 10 §5):
// both builds read and validated by binaryen.js, their imports and exports against the tables
// of docs/abi.md, the compiler's generated bindings and what host/vmm/kernel.ts provides and
// calls. Oracles: the real build (must agree), and drift made on purpose in each side (a
// renamed export, a changed or missing doc row, a host call with a wrong name, count or
// type) that must be named. Also the size report against the module's own byte count and,
// for the release build, its source map.

import { describe, it, expect } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import binaryen from "binaryen";
import {
  checkTree, checkAbi, readModule, parseAbiDoc, parseBindings, scanHost, hostFiles, sizeReport, summarizeSizes,
  MODULE_FILES, ROOT, type ModuleAbi, type SourceMap,
} from "../tools/abi.js";

const read = (f: string) => fs.readFileSync(path.join(ROOT, f));
const docText = read("docs/abi.md").toString("utf8");
const bindings = parseBindings(read("build/helix.d.ts").toString("utf8"));
const releaseBytes = new Uint8Array(read(MODULE_FILES[0]));
const release = readModule(releaseBytes);
const host = scanHost(hostFiles());

/** The checks with one side replaced. */
function check(p: { modules?: Map<string, ModuleAbi>; doc?: string; host?: ReturnType<typeof scanHost> } = {}): string[] {
  return checkAbi({
    modules: p.modules ?? new Map([[MODULE_FILES[0], release]]),
    doc: parseAbiDoc(p.doc ?? docText),
    bindings,
    host: p.host ?? host,
  });
}

/** `bytes` with export `from` renamed to `to` (binaryen rewrites the module). */
function renameExport(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const m = (binaryen.readBinary as (d: Uint8Array, f?: number) => binaryen.Module)(bytes, binaryen.Features.All);
  try {
    const e = binaryen.getExportInfo(m.getExport(from));
    m.removeExport(from);
    m.addFunctionExport(e.value, to);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

/** docs/abi.md with the table row of `name` passed through `edit`. */
function editRow(name: string, edit: (row: string) => string): string {
  const lines = docText.split("\n");
  const i = lines.findIndex((l) => l.startsWith(`| \`${name}\` |`));
  expect(i, `row of ${name}`).toBeGreaterThan(0);
  lines[i] = edit(lines[i]);
  return lines.join("\n");
}

describe("the kernel's ABI", () => {
  it("both builds validate and agree with docs/abi.md, the generated bindings and the host", () => {
    const { problems, modules } = checkTree();
    expect(problems).toEqual([]);
    const doc = parseAbiDoc(docText);
    for (const [label, m] of modules) {
      expect(m.valid, label).toBe(true);
      expect([...m.exports.keys()].sort(), label).toEqual([...doc.exports.keys()].sort());
      expect([...m.imports.keys()].sort(), label).toEqual([...doc.imports.keys()].sort());
    }
    // the scan sees the host's real use: the syscalls, helpers that pass names on, the imports
    const called = new Set(host.calls.map((c) => c.name));
    for (const n of ["kernel_boot", "sys_open", "sys_pread", "sys_stat", "sys_rename", "sys_mount_reason", "bench_buddy"]) expect(called, n).toContain(n);
    expect(host.provides.map((p) => p.name).sort()).toEqual(["abort", "clock_ns", "console_write", "fsnotify_wake", "sleep_ms", "virtio_notify"]);
    expect(host.calls.find((c) => c.name === "sys_pread")!.args).toEqual(["number", "number", "number", "number", "bigint"]);
  });

  it("names an export renamed in the kernel", () => {
    const renamed = readModule(renameExport(releaseBytes, "sys_fsync", "sys_fsync2"));
    expect(renamed.valid).toBe(true);
    const problems = check({ modules: new Map([["renamed.wasm", renamed]]) });
    expect(problems).toContain("renamed.wasm exports sys_fsync2(i32, i32) -> i32, which docs/abi.md does not list");
    expect(problems.some((p) => /^docs\/abi\.md:\d+ lists export sys_fsync, which renamed\.wasm does not export$/.test(p))).toBe(true);
    expect(problems.some((p) => /^host\/vmm\/kernel\.ts:\d+: the host calls sys_fsync, which the kernel does not export$/.test(p))).toBe(true);
  });

  it("names a doc row whose types, name or presence changed", () => {
    // a wasm-level type: caught against the module
    let problems = check({ doc: editRow("sys_pread", (r) => r.replace("pos: i64", "pos: u32")) });
    expect(problems.some((p) => /^sys_pread: docs\/abi\.md:\d+ says \(i32, i32, i32, i32, i32\) -> i32, build\/helix\.wasm has \(i32, i32, i32, i32, i64\) -> i32$/.test(p)), problems.join("\n")).toBe(true);
    // signedness: the same wasm type, caught against the compiler's bindings
    problems = check({ doc: editRow("sys_close", (r) => r.replace("fd: i32", "fd: u32")) });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^sys_close: docs\/abi\.md:\d+ says \(usize, u32\) -> i32, the compiler's bindings \(build\/helix\.d\.ts\) say \(usize, i32\) -> i32$/);
    // a result type
    problems = check({ doc: editRow("sys_lseek", (r) => r.replace("| `i64` |", "| `i32` |")) });
    expect(problems.some((p) => p.startsWith("sys_lseek: docs/abi.md:") && p.includes("-> i32, build/helix.wasm has (i32, i32, i64, i32) -> i64"))).toBe(true);
    // a row removed, a row renamed
    problems = check({ doc: editRow("sys_umount", () => "") });
    expect(problems).toContain("build/helix.wasm exports sys_umount() -> i32, which docs/abi.md does not list");
    problems = check({ doc: editRow("clock_ns", (r) => r.replace("clock_ns", "clock_ms")) });
    expect(problems).toContain("build/helix.wasm imports clock_ns() -> i64, which docs/abi.md does not list");
    expect(problems.some((p) => /lists import clock_ms, which build\/helix\.wasm does not import$/.test(p))).toBe(true);
    // a row that is not a type
    problems = check({ doc: editRow("sys_sync", (r) => r.replace("| `i32` |", "| `int` |")) });
    expect(problems.some((p) => p.includes("'int' is not an AssemblyScript value type"))).toBe(true);
    expect(() => parseAbiDoc(editRow("sys_sync", (r) => r.replace("| - |", "| fd |")))).toThrow(/parameter 'fd' of sys_sync is not 'name: type'/);
  });

  it("names host calls and imports that drift from the kernel", () => {
    const kernelTs = path.join(ROOT, "host/vmm/kernel.ts");
    const src = fs.readFileSync(kernelTs, "utf8");
    const scanWith = (from: string | RegExp, to: string) => {
      const text = src.replace(from, to);
      expect(text, `edit ${from}`).not.toBe(src);
      return check({ host: scanHost(hostFiles(), new Map([[kernelTs, text]])) });
    };
    // a name the kernel does not export
    let problems = scanWith('k.call("sys_fsync", C(), fd)', 'k.call("sys_fsynk", C(), fd)');
    expect(problems.some((p) => /^host\/vmm\/kernel\.ts:\d+: the host calls sys_fsynk, which the kernel does not export$/.test(p))).toBe(true);
    // a number where the kernel takes an i64 (a TypeError at the call)
    problems = scanWith('k.call("sys_pread", C(), fd, k.xfer, n, at)', 'k.call("sys_pread", C(), fd, k.xfer, n, Number(at))');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^host\/vmm\/kernel\.ts:\d+: argument 5 of sys_pread is a number; the kernel takes i64 \(a bigint\)$/);
    // an argument too few (a missing i32 silently becomes 0)
    problems = scanWith('k.call("sys_chmod", C(), a, l, mode >>> 0)', 'k.call("sys_chmod", C(), a, l)');
    expect(problems.some((p) => p.includes("sys_chmod is called with 3 arguments; it takes 4"))).toBe(true);
    // through a helper that passes the name on
    problems = scanWith('path2(a, b, "sys_rename")', 'path2(a, b, "sys_renam")');
    expect(problems.some((p) => /host\/vmm\/kernel\.ts:\d+ \(via path2\): the host calls sys_renam, which the kernel does not export$/.test(p))).toBe(true);
    // an import not provided, one returning the wrong type
    problems = scanWith(/clock_ns: \(\) => \{/, "clock_nz: () => {");
    expect(problems).toContain("the kernel imports env.clock_ns() -> i64, which host/vmm/kernel.ts does not provide (instantiation fails)");
    problems = scanWith("return lastNs;", "return Number(lastNs);");
    expect(problems.some((p) => /env\.clock_ns returns number; the kernel expects an i64 \(a bigint\)$/.test(p))).toBe(true);
  });

  it("reports every section and function body of both builds", () => {
    for (const f of MODULE_FILES) {
      const bytes = new Uint8Array(read(f));
      const r = sizeReport(bytes);
      expect(r.total).toBe(bytes.length);
      // 8-byte preamble, then each section: a 1-byte id, its LEB128 size, its payload
      const lebLen = (n: number) => Math.max(1, Math.ceil(Math.log2(n + 1) / 7));
      expect(8 + r.sections.reduce((s, x) => s + 1 + lebLen(x.bytes) + x.bytes, 0), f).toBe(bytes.length);
      const code = r.sections.find((s) => s.name === "code")!;
      const bodies = r.functions.reduce((s, x) => s + x.bytes, 0);
      expect(bodies, f).toBeLessThan(code.bytes);
      // what is left are the size fields: one LEB128 per body, minimal or padded to 5 bytes
      // (binaryen pads some when it writes a source map), and the count
      const sizeFields = code.bytes - bodies - lebLen(r.functions.length);
      expect(sizeFields, f).toBeGreaterThanOrEqual(r.functions.reduce((s, x) => s + lebLen(x.bytes), 0));
      expect(sizeFields, f).toBeLessThanOrEqual(5 * r.functions.length);
      const m = readModule(bytes);
      expect(r.functions.length + m.imports.size, f).toBe(countFunctions(bytes));
      expect(r.functions.find((x) => x.name === "sys_open" || x.name.endsWith("/sys_open")), `${f}: sys_open named`).toBeDefined();
    }
    const debug = sizeReport(new Uint8Array(read(MODULE_FILES[1])));
    expect(debug.functions.filter((x) => x.name.startsWith("func[")).length, "the debug build names every function").toBe(0);
    // the release build has no name section: its source map attributes every code byte
    const map = JSON.parse(read(`${MODULE_FILES[0]}.map`).toString("utf8")) as SourceMap;
    const rel = sizeReport(releaseBytes, map);
    const bodies = rel.functions.reduce((s, x) => s + x.bytes, 0);
    expect(rel.files.reduce((s, x) => s + x.bytes, 0)).toBe(bodies);
    expect(rel.functions.filter((x) => x.source === undefined)).toEqual([]);
    expect(rel.functions.find((x) => x.name === "kernel_boot")!.source).toBe("index.ts kernel_boot");
    expect(rel.files.map((f) => f.name)).toContain("fs/btree.ts");
    expect(summarizeSizes("r", rel).join("\n")).not.toMatch(/func\[/);
  });
});

/** Functions of a module (imported and defined) as binaryen counts them. */
function countFunctions(bytes: Uint8Array): number {
  const m = (binaryen.readBinary as (d: Uint8Array, f?: number) => binaryen.Module)(bytes, binaryen.Features.All);
  try { return m.getNumFunctions(); } finally { m.dispose(); }
}
