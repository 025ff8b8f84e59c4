// tools/abi.ts -- the kernel's ABI as a checked contract, and the module's size report
// (issue 10 §5). The last step of `npm run build`; test/abi.test.ts runs the same checks.
//
// Layer: tool over the build's outputs. Interface: readModule(bytes) (binaryen.js: read,
// validate, imports and exports with their wasm types), parseAbiDoc(markdown) (the tables of
// docs/abi.md), parseBindings(d.ts) (the compiler's AssemblyScript types), scanHost(files)
// (what the host provides and calls, with the TypeScript checker's argument types),
// checkAbi(...) -> one-line problems, sizeReport(bytes, map?) (sections, function bodies and,
// with the release build's source map, code bytes per source file and function).
// Rules: every difference between the kernel (both builds), docs/abi.md, the generated
// bindings and the host is a problem naming both sides; the build prints a few lines (the
// full per-function table goes to build/size-report.txt); a problem exits 1.
//
// The three sides and what each can tell:
//   kernel   (build/helix*.wasm, binaryen)   names, wasm types (i32/i64/f64/v128)
//   bindings (build/helix.d.ts, asc)         AssemblyScript types (u32 vs i32, usize)
//   docs     (docs/abi.md tables)            AssemblyScript types, the meaning
//   host     (host/vmm/kernel.ts, tsc)           names used, argument count, number vs bigint

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";
import ts from "typescript";

/** A wasm value type as binaryen names it, or "none" for no result. */
export type WasmType = "i32" | "i64" | "f32" | "f64" | "v128" | "none" | string;

/** A function signature on the wasm level. */
export interface WasmSig { params: WasmType[]; result: WasmType }

/** What binaryen read from one module. */
export interface ModuleAbi {
  valid: boolean;
  imports: Map<string, WasmSig & { module: string }>;
  exports: Map<string, WasmSig>;
  /** Exports that are not functions: name -> kind. */
  otherExports: Map<string, string>;
}

/** One row of a docs/abi.md table (AssemblyScript types). */
export interface DocRow { name: string; params: { name: string; type: string }[]; result: string; line: number }

/** One use of an export by the host, or one import it provides. */
export interface HostUse {
  name: string;
  where: string;
  /** Argument types as the TypeScript checker sees them ("number", "bigint", "unknown"...); null: not a call. */
  args: string[] | null;
}
export interface HostProvided { name: string; where: string; params: number; returns: string }
export interface HostAbi { calls: HostUse[]; provides: HostProvided[] }

/** Most problems printed by the build (the rest are counted). */
export const PROBLEMS_SHOWN_MAX = 20;
/** Functions named in the build's one-line size report. */
export const TOP_FUNCTIONS_SHOWN = 5;

const KIND_NAMES: Record<number, string> = { 0: "function", 1: "table", 2: "memory", 3: "global", 4: "tag" };

function typeName(t: number): WasmType {
  const b = binaryen as unknown as Record<string, number>;
  for (const n of ["none", "i32", "i64", "f32", "f64", "v128"]) if (b[n] === t) return n;
  return `type#${t}`;
}

function sigOf(params: number, results: number): WasmSig {
  const r = binaryen.expandType(results);
  return { params: binaryen.expandType(params).map(typeName), result: r.length === 0 ? "none" : r.map(typeName).join(",") };
}

/**
 * Reads a module with binaryen.js (every feature enabled: the kernel needs SIMD and bulk
 * memory), validates it and lists its imports and exports with their wasm signatures.
 */
export function readModule(bytes: Uint8Array): ModuleAbi {
  // binaryen.js 132 reads features as readBinary's second argument (its typings lag behind)
  const m = (binaryen.readBinary as (data: Uint8Array, features?: number) => binaryen.Module)(bytes, binaryen.Features.All);
  try {
    const valid = m.validate() === 1;
    const imports = new Map<string, WasmSig & { module: string }>();
    const byInternal = new Map<string, WasmSig>();
    for (let i = 0; i < m.getNumFunctions(); i++) {
      const f = binaryen.getFunctionInfo(m.getFunctionByIndex(i));
      const sig = sigOf(f.params, f.results);
      byInternal.set(f.name, sig);
      if (f.module) imports.set(f.base ?? "", { ...sig, module: f.module });
    }
    const exports = new Map<string, WasmSig>();
    const otherExports = new Map<string, string>();
    for (let i = 0; i < m.getNumExports(); i++) {
      const e = binaryen.getExportInfo(m.getExportByIndex(i));
      if (e.kind === binaryen.ExternalFunction) exports.set(e.name, byInternal.get(e.value)!);
      else otherExports.set(e.name, KIND_NAMES[e.kind] ?? `kind ${e.kind}`);
    }
    return { valid, imports, exports, otherExports };
  } finally {
    m.dispose();
  }
}

/** AssemblyScript type -> the wasm type it travels as. */
export function wasmTypeOf(asType: string): WasmType | null {
  switch (asType) {
    case "i8": case "u8": case "i16": case "u16": case "i32": case "u32": case "isize": case "usize": case "bool": return "i32";
    case "i64": case "u64": return "i64";
    case "f32": return "f32";
    case "f64": return "f64";
    case "v128": return "v128";
    case "void": return "none";
    default: return null;
  }
}

/**
 * The `import` and `export` tables of docs/abi.md: rows `| \`name\` | params | \`result\` | meaning |`
 * where params is `-` or `name: type, ...`. Throws on a row it cannot read (one line).
 */
export function parseAbiDoc(md: string): { imports: Map<string, DocRow>; exports: Map<string, DocRow> } {
  const out = { imports: new Map<string, DocRow>(), exports: new Map<string, DocRow>() };
  const lines = md.split("\n");
  let table: Map<string, DocRow> | null = null;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line.startsWith("|")) { table = null; return; }
    const cells = line.slice(1, line.endsWith("|") ? -1 : undefined).split("|").map((c) => c.trim());
    if (cells[0] === "import" && cells[1] === "parameters") { table = out.imports; return; }
    if (cells[0] === "export" && cells[1] === "parameters") { table = out.exports; return; }
    if (table === null || /^-+$/.test(cells[0])) return;
    const where = `docs/abi.md:${i + 1}`;
    const unq = (c: string) => c.replace(/^`|`$/g, "");
    const name = unq(cells[0]);
    if (!/^\w+$/.test(name) || cells.length < 3) throw new Error(`${where}: cannot read this table row: ${line.slice(0, 80)}`);
    const ps = unq(cells[1]);
    const params = ps === "-" || ps === "" ? [] : ps.split(",").map((p) => {
      const m = /^\s*(\w+)\s*:\s*(\w+)\s*$/.exec(p);
      if (!m) throw new Error(`${where}: parameter '${p.trim()}' of ${name} is not 'name: type'`);
      return { name: m[1], type: m[2] };
    });
    if ((table as Map<string, DocRow>).has(name)) throw new Error(`${where}: ${name} has two rows`);
    (table as Map<string, DocRow>).set(name, { name, params, result: unq(cells[2]), line: i + 1 });
  });
  return out;
}

/** The AssemblyScript signatures the compiler wrote into its bindings (build/helix.d.ts). */
export function parseBindings(dts: string): Map<string, { params: string[]; result: string }> {
  const out = new Map<string, { params: string[]; result: string }>();
  const re = /\/\*\*\n((?:\s*\*.*\n)*?)\s*\*\/\n\s*export function (\w+)\(/g;
  for (let m; (m = re.exec(dts)) !== null;) {
    const params = [...m[1].matchAll(/@param \w+ `([^`]+)`/g)].map((p) => p[1]);
    const r = /@returns `([^`]+)`/.exec(m[1]);
    out.set(m[2], { params, result: r ? r[1] : "void" });
  }
  return out;
}

/** Parsed sources (the lib .d.ts files above all) shared by scans in one process. */
const sourceCache = new Map<string, ts.SourceFile>();

/** Names a string literal may carry to be an export name. */
const EXPORT_NAME = /^(sys|kernel|virtio|bench)_\w+$/;

/**
 * What the host provides and calls, from its sources (TypeScript's parser and checker):
 * the properties of the `env` object it instantiates the module with, and every export it
 * calls: `call("name", ...)`/`callExport("name", ...)` (also through a helper that passes the
 * name on, like `statPath(fn, p)`), and `x.name(...)` on the exports object. `files` are
 * paths; `overrides` replaces a file's text (tests make drift without touching the tree).
 */
export function scanHost(files: string[], overrides: Map<string, string> = new Map()): HostAbi {
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  const abs = new Map([...overrides].map(([f, t]) => [path.resolve(f), t]));
  host.readFile = (f) => abs.get(path.resolve(f)) ?? readFile(f);
  host.getSourceFile = (f, lang, onError, create) => {
    const t = abs.get(path.resolve(f));
    if (t !== undefined) return ts.createSourceFile(f, t, lang, true);
    let sf = sourceCache.get(f);
    if (!sf) { sf = getSourceFile(f, lang, onError, create); if (sf) sourceCache.set(f, sf); }
    return sf;
  };
  const program = ts.createProgram(files, options, host);
  const checker = program.getTypeChecker();
  const calls: HostUse[] = [];
  const provides: HostProvided[] = [];
  // "bigint" or "number" when every member of the type is one (literal unions like 0 | 256 too)
  const jsType = (t: ts.Type): string => {
    const all = (flag: ts.TypeFlags) => (t.isUnion() ? t.types.every((x) => x.flags & flag) : (t.flags & flag) !== 0);
    return all(ts.TypeFlags.BigIntLike) ? "bigint" : all(ts.TypeFlags.NumberLike) ? "number" : checker.typeToString(t);
  };
  const typeText = (e: ts.Expression) => jsType(checker.getTypeAtLocation(e));
  // a spread hides the count: such a call is checked by name only
  const argTypes = (a: readonly ts.Expression[]) => (a.some(ts.isSpreadElement) ? null : a.map(typeText));
  for (const file of files) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`scanHost: cannot read ${file}`);
    const rel = path.relative(ROOT, sf.fileName);
    const at = (n: ts.Node) => `${rel}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
    // helper name -> index of the parameter that carries an export name on to call()
    const forwarders = new Map<string, { index: number; args: ts.Expression[]; where: string }>();
    const literalCalls: { callee: string; args: readonly ts.Expression[] }[] = [];
    const visit = (n: ts.Node): void => {
      if (ts.isPropertyAssignment(n) && n.name.getText(sf) === "env" && ts.isObjectLiteralExpression(n.initializer)) {
        for (const p of n.initializer.properties) {
          const fn = ts.isPropertyAssignment(p) ? p.initializer : ts.isMethodDeclaration(p) ? p : null;
          if (!p.name || !fn || !(ts.isArrowFunction(fn) || ts.isFunctionExpression(fn) || ts.isMethodDeclaration(fn))) continue;
          const sig = checker.getSignatureFromDeclaration(fn);
          const ret = sig ? checker.getReturnTypeOfSignature(sig) : undefined;
          const returns = ret ? jsType(ret) : "unknown";
          provides.push({ name: p.name.getText(sf), where: at(p), params: fn.parameters.length, returns });
        }
      }
      if (ts.isCallExpression(n)) {
        const callee = n.expression;
        const cname = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : "";
        const [first, ...rest] = n.arguments;
        if ((cname === "call" || cname === "callExport") && first) {
          if (ts.isStringLiteral(first)) calls.push({ name: first.text, where: at(n), args: argTypes(rest) });
          else if (ts.isIdentifier(first)) {
            // a helper passes the name on: find which of its parameters carries it
            for (let f: ts.Node | undefined = n.parent; f; f = f.parent) {
              if (ts.isFunctionLike(f)) {
                const index = f.parameters.findIndex((p) => p.name.getText(sf) === first.text);
                const owner = ts.isMethodDeclaration(f) ? f.name.getText(sf) : ts.isVariableDeclaration(f.parent) ? f.parent.name.getText(sf) : "";
                if (index >= 0 && owner) forwarders.set(owner, { index, args: rest, where: at(n) });
                break;
              }
            }
          }
        }
        if (cname) literalCalls.push({ callee: cname, args: n.arguments });
        // x.name(...) on the exports object
        if (ts.isPropertyAccessExpression(callee) && /(^|\.)x$/.test(callee.expression.getText(sf)) && EXPORT_NAME.test(callee.name.text)) {
          calls.push({ name: callee.name.text, where: at(n), args: argTypes(n.arguments) });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
    for (const c of literalCalls) {
      const fw = forwarders.get(c.callee);
      const lit = fw && c.args[fw.index];
      if (fw && lit && ts.isStringLiteral(lit) && EXPORT_NAME.test(lit.text)) {
        calls.push({ name: lit.text, where: `${fw.where} (via ${c.callee})`, args: argTypes(fw.args) });
      }
    }
  }
  return { calls, provides };
}

/** Inputs of checkAbi: the modules by label, the docs, the bindings, the host. */
export interface AbiInputs {
  modules: Map<string, ModuleAbi>;
  doc: ReturnType<typeof parseAbiDoc>;
  bindings: Map<string, { params: string[]; result: string }>;
  host: HostAbi;
}

const sigText = (s: WasmSig) => `(${s.params.join(", ")}) -> ${s.result}`;
const docSig = (r: DocRow): WasmSig => ({ params: r.params.map((p) => wasmTypeOf(p.type) ?? `?${p.type}`), result: wasmTypeOf(r.result) ?? `?${r.result}` });

/** Every drift between kernel, docs, bindings and host, one line each (empty: all agree). */
export function checkAbi(inp: AbiInputs): string[] {
  const problems: string[] = [];
  const doc = inp.doc;
  for (const side of [doc.imports, doc.exports]) {
    for (const r of side.values()) {
      for (const t of [...r.params.map((p) => p.type), r.result]) {
        if (wasmTypeOf(t) === null) problems.push(`docs/abi.md:${r.line}: ${r.name}: '${t}' is not an AssemblyScript value type`);
      }
    }
  }
  for (const [label, m] of inp.modules) {
    if (!m.valid) problems.push(`${label}: binaryen's validation failed`);
    for (const [name, kind] of m.otherExports) {
      if (!(name === "memory" && kind === "memory")) problems.push(`${label} exports ${kind} '${name}', which docs/abi.md does not describe (only 'memory' and functions)`);
    }
    if (m.otherExports.get("memory") !== "memory") problems.push(`${label} does not export its memory as 'memory'`);
    for (const [name, sig] of m.exports) {
      const r = doc.exports.get(name);
      if (!r) { problems.push(`${label} exports ${name}${sigText(sig)}, which docs/abi.md does not list`); continue; }
      const want = docSig(r);
      if (sigText(want) !== sigText(sig)) problems.push(`${name}: docs/abi.md:${r.line} says ${sigText(want)}, ${label} has ${sigText(sig)}`);
    }
    for (const r of doc.exports.values()) if (!m.exports.has(r.name)) problems.push(`docs/abi.md:${r.line} lists export ${r.name}, which ${label} does not export`);
    for (const [name, sig] of m.imports) {
      const r = doc.imports.get(name);
      if (sig.module !== "env") problems.push(`${label} imports ${sig.module}.${name}; docs/abi.md and the host provide module 'env' only`);
      if (!r) { problems.push(`${label} imports ${name}${sigText(sig)}, which docs/abi.md does not list`); continue; }
      const want = docSig(r);
      if (sigText(want) !== sigText(sig)) problems.push(`import ${name}: docs/abi.md:${r.line} says ${sigText(want)}, ${label} has ${sigText(sig)}`);
    }
    for (const r of doc.imports.values()) if (!m.imports.has(r.name)) problems.push(`docs/abi.md:${r.line} lists import ${r.name}, which ${label} does not import`);
  }
  // the compiler's own types (signedness, usize) against the docs' rows
  for (const [name, b] of inp.bindings) {
    const r = doc.exports.get(name);
    if (!r) continue; // reported above through the module
    const docTypes = `(${r.params.map((p) => p.type).join(", ")}) -> ${r.result}`;
    const asTypes = `(${b.params.join(", ")}) -> ${b.result}`;
    if (docTypes !== asTypes) problems.push(`${name}: docs/abi.md:${r.line} says ${docTypes}, the compiler's bindings (build/helix.d.ts) say ${asTypes}`);
  }
  // the host: what it provides must be what the module imports; what it calls must exist
  const anyModule = [...inp.modules.values()][0];
  if (anyModule) {
    const provided = new Map(inp.host.provides.map((p) => [p.name, p]));
    for (const [name, sig] of anyModule.imports) {
      const p = provided.get(name);
      if (!p) { problems.push(`the kernel imports env.${name}${sigText(sig)}, which host/vmm/kernel.ts does not provide (instantiation fails)`); continue; }
      if (p.params > sig.params.length) problems.push(`${p.where}: env.${name} takes ${p.params} parameters, the kernel passes ${sig.params.length}`);
      if (sig.result === "i64" && p.returns !== "bigint") problems.push(`${p.where}: env.${name} returns ${p.returns}; the kernel expects an i64 (a bigint)`);
      if ((sig.result === "i32" || sig.result === "f64") && p.returns !== "number") problems.push(`${p.where}: env.${name} returns ${p.returns}; the kernel expects ${sig.result} (a number)`);
    }
    for (const p of inp.host.provides) if (!anyModule.imports.has(p.name)) problems.push(`${p.where}: the host provides env.${p.name}, which the kernel does not import`);
    for (const c of inp.host.calls) {
      const sig = anyModule.exports.get(c.name);
      if (!sig) { problems.push(`${c.where}: the host calls ${c.name}, which the kernel does not export`); continue; }
      if (c.args === null) continue;
      if (c.args.length !== sig.params.length) { problems.push(`${c.where}: ${c.name} is called with ${c.args.length} arguments; it takes ${sig.params.length} ${sigText(sig)}`); continue; }
      c.args.forEach((a, i) => {
        const want = sig.params[i] === "i64" ? "bigint" : "number";
        if ((a === "bigint" || a === "number") && a !== want) problems.push(`${c.where}: argument ${i + 1} of ${c.name} is a ${a}; the kernel takes ${sig.params[i]} (a ${want})`);
      });
    }
  }
  return problems;
}

// ---- size report ----------------------------------------------------------------------------

const SECTION_NAMES = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "datacount", "tag"];

/** Sizes of a module: each section (custom sections by name) and each function body. */
export interface SizeReport {
  total: number;
  sections: { name: string; bytes: number }[];
  /** `source`: where most of the body's bytes come from, by the source map ("fs/btree.ts bt_insert"). */
  functions: { index: number; name: string; bytes: number; source?: string }[];
  /** Code bytes per source file (with a source map), largest first. */
  files: { name: string; bytes: number }[];
}

/** A source map (v3) as asc writes it for a wasm module: one line, columns are byte offsets. */
export interface SourceMap { sources: string[]; sourcesContent?: (string | null)[]; mappings: string }

const B64 = new Map([..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].map((c, i) => [c, i]));

/** The map's segments as (byte offset in the module, source index, 0-based line), by offset. */
export function decodeMappings(map: SourceMap): { off: number; src: number; line: number }[] {
  const out: { off: number; src: number; line: number }[] = [];
  const f = [0, 0, 0, 0, 0]; // running values: column (offset), source, line, column, name
  for (const seg of map.mappings.split(",")) {
    if (seg === "" || seg.includes(";")) continue; // wasm maps have one line
    let field = 0, value = 0, shift = 0;
    for (const c of seg) {
      const d = B64.get(c);
      if (d === undefined) throw new Error(`source map: bad character '${c}'`);
      value += (d & 31) << shift;
      if (d & 32) { shift += 5; continue; }
      f[field] += value & 1 ? -(value >>> 1) : value >>> 1;
      field++; value = 0; shift = 0;
    }
    if (field >= 3) out.push({ off: f[0], src: f[1], line: f[2] });
  }
  return out.sort((a, b) => a.off - b.off);
}

/** Named functions of a source text with their line spans (0-based), innermost last. */
function functionSpans(text: string): { name: string; from: number; to: number }[] {
  const sf = ts.createSourceFile("x.ts", text, ts.ScriptTarget.ES2022, false);
  const out: { name: string; from: number; to: number }[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n)) && n.body) {
      const name = ts.isConstructorDeclaration(n) ? "constructor" : n.name ? n.name.getText(sf) : "?";
      const owner = n.parent && ts.isClassDeclaration(n.parent) && n.parent.name ? `${n.parent.name.text}#` : "";
      out.push({ name: owner + name, from: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line, to: sf.getLineAndCharacterOfPosition(n.end).line });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/**
 * Walks the module's sections (wasm binary format: id u8, size LEB128, payload) and the
 * code section's bodies. Function names come from the name section (debug build) or, for
 * exported functions, the export section; others are `func[i]`.
 */
export function sizeReport(bytes: Uint8Array, map?: SourceMap): SizeReport {
  let pos = 8;
  const leb = () => { let r = 0, shift = 0, b; do { b = bytes[pos++]; r += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80); return r; };
  const str = () => { const n = leb(); const s = Buffer.from(bytes.subarray(pos, pos + n)).toString("utf8"); pos += n; return s; };
  const sections: SizeReport["sections"] = [];
  const bodies: { start: number; bytes: number }[] = [];
  const names = new Map<number, string>();
  const exported = new Map<number, string>();
  let imported = 0;
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = leb();
    const start = pos;
    const end = pos + size;
    let name = SECTION_NAMES[id] ?? `section ${id}`;
    if (id === 0) {
      name = `custom "${str()}"`;
      if (name === 'custom "name"') {
        while (pos < end) {
          const sub = bytes[pos++];
          const len = leb();
          const subEnd = pos + len;
          if (sub === 1) for (let n = leb(); n > 0; n--) { const i = leb(); names.set(i, str()); }
          pos = subEnd;
        }
      }
    } else if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        str(); str();
        const kind = bytes[pos++];
        if (kind === 0) { leb(); imported++; } else if (kind === 1) { pos++; const f = bytes[pos++]; leb(); if (f & 1) leb(); } else if (kind === 2) { const f = bytes[pos++]; leb(); if (f & 1) leb(); } else if (kind === 3) { pos += 2; } else { pos++; leb(); }
      }
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) { const s = str(); const kind = bytes[pos++]; const i = leb(); if (kind === 0) exported.set(i, s); }
    } else if (id === 10) {
      for (let n = leb(); n > 0; n--) { const b = leb(); bodies.push({ start: pos, bytes: b }); pos += b; }
    }
    sections.push({ name, bytes: end - start });
    pos = end;
  }
  const functions: SizeReport["functions"] = bodies.map((b, i) => {
    const index = imported + i;
    return { index, name: names.get(index) ?? exported.get(index) ?? `func[${index}]`, bytes: b.bytes };
  });
  const files = new Map<string, number>();
  if (map) {
    // each segment owns the bytes up to the next one; a body's bytes go to the source
    // function that owns most of them (inlined callees included), its file to the file totals
    const segs = decodeMappings(map);
    const spans = new Map<number, { name: string; from: number; to: number }[]>();
    const fnAt = (src: number, line: number) => {
      let l = spans.get(src);
      if (!l) spans.set(src, (l = functionSpans(map.sourcesContent?.[src] ?? "")));
      let best: string | null = null;
      for (const f of l) if (f.from <= line && line <= f.to) best = f.name; // innermost wins (visited later)
      return best ?? `line ${line + 1}`;
    };
    const short = (src: number) => (map.sources[src] ?? "?").replace(/^assembly\//, "");
    let j = 0;
    bodies.forEach((b, i) => {
      const end = b.start + b.bytes;
      while (j < segs.length && segs[j].off < b.start) j++;
      const by = new Map<string, number>();
      for (let k = j; k < segs.length && segs[k].off < end; k++) {
        const n = (k + 1 < segs.length && segs[k + 1].off < end ? segs[k + 1].off : end) - (k === j ? b.start : segs[k].off);
        const key = `${short(segs[k].src)} ${fnAt(segs[k].src, segs[k].line)}`;
        by.set(key, (by.get(key) ?? 0) + n);
        files.set(short(segs[k].src), (files.get(short(segs[k].src)) ?? 0) + n);
      }
      if (by.size === 0 && j > 0) {
        // a body no segment starts in (a few bytes of code the compiler made, e.g. a getter):
        // it belongs to the source line of the segment before it
        const k = j - 1;
        by.set(`${short(segs[k].src)} ${fnAt(segs[k].src, segs[k].line)}`, b.bytes);
        files.set(short(segs[k].src), (files.get(short(segs[k].src)) ?? 0) + b.bytes);
      }
      let top: [string, number] | null = null;
      for (const e of by) if (!top || e[1] > top[1]) top = e;
      if (top) functions[i].source = top[0];
    });
  }
  return { total: bytes.length, sections, functions, files: [...files].map(([name, n]) => ({ name, bytes: n })).sort((a, b) => b.bytes - a.bytes) };
}

const kib = (n: number) => (n >= 10240 ? `${(n / 1024).toFixed(0)} KiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

/** The report as text: sections, then every function by size. */
export function formatSizeReport(label: string, r: SizeReport): string {
  const out = [`${label}: ${r.total} bytes, ${r.functions.length} functions`, "", "section                 bytes"];
  for (const s of [...r.sections].sort((a, b) => b.bytes - a.bytes)) out.push(`${s.name.padEnd(20)} ${String(s.bytes).padStart(8)}`);
  if (r.files.length > 0) {
    out.push("", "code bytes by source file (source map)");
    for (const f of r.files) out.push(`${String(f.bytes).padStart(8)}  ${f.name}`);
  }
  out.push("", "function bytes (largest first)" + (r.files.length > 0 ? "; after the name, the source function most of its bytes come from" : ""));
  for (const f of [...r.functions].sort((a, b) => b.bytes - a.bytes)) out.push(`${String(f.bytes).padStart(8)}  ${f.name}${f.source ? `  (${f.source})` : ""}`);
  return out.join("\n") + "\n";
}

/** Two lines for the build: sections, then the largest functions. */
export function summarizeSizes(label: string, r: SizeReport): string[] {
  const secs = [...r.sections].sort((a, b) => b.bytes - a.bytes).slice(0, 4).map((s) => `${s.name} ${kib(s.bytes)}`).join(", ");
  const fname = (f: SizeReport["functions"][number]) => (f.name.startsWith("func[") && f.source ? f.source.replace(/^.* /, "") : f.name.replace(/^.*\//, ""));
  const top = [...r.functions].sort((a, b) => b.bytes - a.bytes).slice(0, TOP_FUNCTIONS_SHOWN).map((f) => `${fname(f)} ${kib(f.bytes)}`).join(", ");
  const lines = [`abi: ${label} ${kib(r.total)} (${secs}); largest of ${r.functions.length} functions: ${top}`];
  if (r.files.length > 0) lines.push(`abi: code by source file: ${r.files.slice(0, TOP_FUNCTIONS_SHOWN).map((f) => `${f.name} ${kib(f.bytes)}`).join(", ")}`);
  return lines;
}

// ---- the build step -------------------------------------------------------------------------

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (tools/ in sources, dist/tools/ when compiled). */
export const ROOT = fs.existsSync(path.join(here, "..", "package.json")) ? path.join(here, "..") : path.join(here, "..", "..");
export const MODULE_FILES = ["build/helix.wasm", "build/helix.debug.wasm"];

/** Host sources scanned: the VMM, and every host/tools file that calls exports by name. */
export function hostFiles(root = ROOT): string[] {
  const out = [path.join(root, "host/vmm/kernel.ts")];
  for (const dir of ["host", "tools"]) {
    for (const f of fs.readdirSync(path.join(root, dir))) {
      const p = path.join(root, dir, f);
      if (f.endsWith(".ts") && !out.includes(p) && /callExport\(/.test(fs.readFileSync(p, "utf8"))) out.push(p);
    }
  }
  return out;
}

/** Runs every check on the files of the tree at `root`; returns the problems and the reports. */
export function checkTree(root = ROOT): { problems: string[]; reports: Map<string, SizeReport>; modules: Map<string, ModuleAbi> } {
  const modules = new Map<string, ModuleAbi>();
  const reports = new Map<string, SizeReport>();
  for (const f of MODULE_FILES) {
    const bytes = fs.readFileSync(path.join(root, f));
    modules.set(f, readModule(bytes));
    const mapFile = path.join(root, `${f}.map`);
    // the release build's map (asconfig.json): names its functions, which have no name section
    const map = f === MODULE_FILES[0] && fs.existsSync(mapFile) ? (JSON.parse(fs.readFileSync(mapFile, "utf8")) as SourceMap) : undefined;
    reports.set(f, sizeReport(bytes, map));
  }
  const problems = checkAbi({
    modules,
    doc: parseAbiDoc(fs.readFileSync(path.join(root, "docs/abi.md"), "utf8")),
    bindings: parseBindings(fs.readFileSync(path.join(root, "build/helix.d.ts"), "utf8")),
    host: scanHost(hostFiles(root)),
  });
  return { problems, reports, modules };
}

function main(): number {
  let res;
  try {
    res = checkTree();
  } catch (e) {
    process.stderr.write(`abi: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}\n`);
    return 1;
  }
  const { problems, reports, modules } = res;
  const text = [...reports].map(([label, r]) => formatSizeReport(label, r)).join("\n");
  fs.writeFileSync(path.join(ROOT, "build/size-report.txt"), text);
  const rel = modules.get(MODULE_FILES[0])!;
  if (problems.length === 0) {
    process.stdout.write(`abi: ${MODULE_FILES.join(" and ")} valid; ${rel.imports.size} imports and ${rel.exports.size} exports agree with docs/abi.md, build/helix.d.ts and the host\n`);
  } else {
    for (const p of problems.slice(0, PROBLEMS_SHOWN_MAX)) process.stderr.write(`abi: ${p}\n`);
    if (problems.length > PROBLEMS_SHOWN_MAX) process.stderr.write(`abi: ... and ${problems.length - PROBLEMS_SHOWN_MAX} more\n`);
    process.stderr.write(`abi: ${problems.length} problem${problems.length === 1 ? "" : "s"}: the kernel, docs/abi.md and the host disagree\n`);
  }
  for (const l of summarizeSizes(MODULE_FILES[0], reports.get(MODULE_FILES[0])!)) process.stdout.write(`${l}\n`);
  process.stdout.write(`abi: per-function sizes of both builds in build/size-report.txt\n`);
  return problems.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
