// tools/fuzz-images.ts -- the image fuzzing campaign of issue 3 §5: mount and walk N images
// with random corruption in their metadata; count traps, hangs and host crashes (target: 0).
//
// Layer: a tool on host/crash/fuzz.ts (mutations, walk, classification), host/node/node.ts (the kernel
// module) and Node worker_threads.
// Interface: node dist/tools/fuzz-images.js [--images N] [--seed S] [--jobs J] [--timeout MS]
//   [--image I] [--reseal (adds "field" mutations)] [--kinds K,K...] [--max-mutations K] [--no-remount]
//   [--no-fsck] [--debug] [--kernel FILE] [--json FILE] [--results FILE]
//   Prints a summary (outcomes, refusals by message, error codes, traps, hangs, crashes,
//   wrong bytes, stale-block swaps and what caught them, images per second) and one
//   reproduction line per trap, hang or crash; `--image I` reruns image I of the campaign
//   alone and prints its mutations, result and kernel log tail.
//   Exit status 0 when there was no trap, hang, host crash or unclear refusal and (without
//   --reseal, whose crafted images pass every check by design) no wrong bytes, else 1.
// Rules:
//  - the main thread builds the base image once (mkfs + population + a journal holding
//    committed, not checkpointed transactions), its table of stale block versions (from the
//    images taken at each checkpoint of the build, and the log area) and compiles the kernel
//    once; all go to the workers (the image in a SharedArrayBuffer, the module by structured clone); nothing
//    writes to the shared image, not even for a moment (host/crash/fuzz.ts computes checksums
//    without zeroing the crc field in place: an early version did, and two workers parsing
//    at once left a zero crc in the shared superblock, skewing a whole campaign);
//  - each worker runs one image at a time; a worker that does not answer within --timeout is
//    a hang: it is terminated and replaced, and the campaign goes on;
//  - image I of campaign S is fuzzed with imageSeed(S, I), and the kernel runs on a
//    deterministic clock, so a reproduction line replays the same run exactly.

import * as os from "node:os";
import * as fs from "node:fs";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { kernelModule } from "../host/node/node.js";
import {
  MUTATION_KINDS, RESEAL_KINDS, buildBaseImage, imageSeed, parseImage, runImage, staleTable,
  type ImageResult, type RunOptions, type Mutation, type MutationKind, type StaleTable,
} from "../host/crash/fuzz.js";

/** Default number of images (issue 3: 10,000). */
const DEFAULT_IMAGES = 10_000;
/** Default per-image time limit: a worker silent for longer is hung. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Kernel log lines kept per image (sent back only for traps, crashes and --image). */
const LOG_TAIL = 40;
/** Examples kept per finding kind in the summary. */
const EXAMPLES = 5;
/** A refusal that names no reason (only the errno, or "mount failed" again): one line, but
 * not the clear message DESIGN §5 asks for; listed with reproduction lines, not fatal. */
const VAGUE_REFUSAL = /^mount failed: (mount failed|E[A-Z0-9]+)$/;

/** What the main thread sends each worker at start. */
interface WorkerInit { module: WebAssembly.Module; base: SharedArrayBuffer; stale: StaleTable; opts: RunOptions; keepLog: boolean }
/** One job and its answer. */
interface Job { index: number; seed: number }
interface Answer { index: number; result: ImageResult; log: string[] }

// ---- worker ---------------------------------------------------------------------------------

function workerMain(): void {
  const init = workerData as WorkerInit;
  const base = new Uint8Array(init.base);
  const layout = parseImage(base);
  parentPort!.on("message", (job: Job) => {
    const log: string[] = [];
    const result = runImage(init.module, base, job.seed, {
      ...init.opts, layout, stale: init.stale, log: (l) => { log.push(l); if (log.length > LOG_TAIL) log.shift(); },
    });
    const interesting = init.keepLog || result.outcome === "trap" || result.outcome === "crash" || result.outcome === "unclear";
    parentPort!.postMessage({ index: job.index, result, log: interesting ? log : [] } satisfies Answer);
  });
}

// ---- main -----------------------------------------------------------------------------------

interface Options {
  images: number; seed: number; jobs: number; timeout: number; image?: number; reseal: boolean; kinds?: MutationKind[];
  maxMutations: number; remount: boolean; fsck: boolean; debug: boolean; kernel?: string; json?: string; results?: string;
}

/** A trap, hang, crash or unclear refusal, with what reproduces it. */
interface Finding { kind: "trap" | "hang" | "crash" | "unclear"; index: number; seed: number; message: string; phase?: string; mutations?: Mutation[]; log?: string[] }

/** Images containing one kind of stale-block swap, by what caught them first. */
interface StaleRow { images: number; generation: number; refused: number; "read-only": number; errors: number; unnoticed: number; other: number; garbage: number }

/** Running totals of a campaign. */
class Tally {
  images = 0;
  outcomes: Record<string, number> = { mounted: 0, "mounted-ro": 0, refused: 0, unclear: 0, trap: 0, hang: 0, crash: 0 };
  refusals = new Map<string, number>();
  codes = new Map<string, { count: number; images: number }>();
  remount: Record<string, number> = {};
  readOnlyAtMount = 0;
  erroredInWalk = 0;
  usedBackup = 0;
  /** Mounted read-write, no error flagged, yet fewer committed transactions replayed than the log holds. */
  silentRollback = 0;
  fsckProblemImages = 0;
  garbageImages = 0;
  garbageExamples: string[] = [];
  byMutation = new Map<string, Record<string, number>>();
  /** Images whose kernel log had "parent transid verify failed" (stale metadata caught). */
  transidImages = 0;
  /** Images with a stale-block swap, and the swaps by where they went and what caught them. */
  staleImages = 0;
  staleMutations = 0;
  staleBy = new Map<string, StaleRow>();
  findings: Finding[] = [];
  /** Refusals matching VAGUE_REFUSAL (image index, seed, message). */
  vague: Finding[] = [];
  imageMs: number[] = [];

  constructor(readonly logTransactions: number) {}

  add(index: number, r: ImageResult, log: string[]): void {
    this.images++;
    this.outcomes[r.outcome]++;
    this.imageMs.push(r.ms);
    if (r.outcome === "refused") {
      this.refusals.set(r.message!, (this.refusals.get(r.message!) ?? 0) + 1);
      if (VAGUE_REFUSAL.test(r.message!)) this.vague.push({ kind: "unclear", index, seed: r.seed, message: r.message!, phase: r.phase, mutations: r.mutations });
    }
    for (const [c, n] of Object.entries(r.codes)) {
      const e = this.codes.get(c) ?? { count: 0, images: 0 };
      e.count += n; e.images++;
      this.codes.set(c, e);
    }
    if (r.remount) this.remount[r.remount] = (this.remount[r.remount] ?? 0) + 1;
    if (r.readOnlyAtMount) this.readOnlyAtMount++;
    else if (r.errored) this.erroredInWalk++;
    if (r.usedBackup) this.usedBackup++;
    if ((r.outcome === "mounted" || r.outcome === "mounted-ro") && !r.readOnlyAtMount && r.replayedTx < this.logTransactions) this.silentRollback++;
    if (r.fsckProblems) this.fsckProblemImages++;
    if (r.garbage.length) {
      this.garbageImages++;
      if (this.garbageExamples.length < EXAMPLES) this.garbageExamples.push(`image ${index}: ${r.garbage[0]}`);
    }
    if (r.transidErrors > 0) this.transidImages++;
    const stale = r.mutations.filter((m) => m.kind === "stale");
    if (stale.length > 0) {
      this.staleImages++;
      this.staleMutations += stale.length;
      // caught by the generation check, or else by what (a swap among other mutations may be
      // caught by what the others broke: the row counts images, per swap kind in them)
      const by = r.transidErrors > 0 ? "generation" : r.outcome === "refused" ? "refused" :
        r.outcome === "mounted-ro" ? "read-only" : r.codes.EUCLEAN || r.codes.EIO ? "errors" : r.outcome === "mounted" ? "unnoticed" : r.outcome;
      for (const key of new Set(stale.map((m) => `${m.target} ${m.stale!.into}${m.stale!.into === "log" ? (m.resealed ? " resealed" : " unresealed") : ""}`))) {
        const row = this.staleBy.get(key) ?? { images: 0, generation: 0, refused: 0, "read-only": 0, errors: 0, unnoticed: 0, other: 0, garbage: 0 };
        row.images++;
        if (by in row) (row as unknown as Record<string, number>)[by]++; else row.other++;
        if (r.garbage.length) row.garbage++;
        this.staleBy.set(key, row);
      }
    }
    for (const m of r.mutations) {
      const key = `${m.kind} ${m.target}`;
      const row = this.byMutation.get(key) ?? {};
      row[r.outcome] = (row[r.outcome] ?? 0) + 1;
      this.byMutation.set(key, row);
    }
    if (r.outcome === "trap" || r.outcome === "crash" || r.outcome === "unclear") {
      this.findings.push({ kind: r.outcome, index, seed: r.seed, message: r.message ?? "", phase: r.phase, mutations: r.mutations, log });
    }
  }

  hang(index: number, seed: number, ms: number): void {
    this.images++;
    this.outcomes.hang++;
    this.findings.push({ kind: "hang", index, seed, message: `no answer within ${ms} ms` });
  }

  crash(index: number, seed: number, message: string): void {
    this.images++;
    this.outcomes.crash++;
    this.findings.push({ kind: "crash", index, seed, message });
  }
}

function parseOptions(argv: string[]): Options {
  const int = (name: string, min: number) => (v: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  const p = new Command("fuzz-images")
    .description("Mount and walk images with random metadata corruption (issue 3 §5); count traps, hangs and host crashes.")
    .option("--images <n>", "images to run", int("images", 1), DEFAULT_IMAGES)
    .option("--seed <s>", "campaign seed", int("seed", 0), 1)
    .option("--jobs <n>", "worker threads (default: one per core)", int("jobs", 1), Math.max(1, os.availableParallelism()))
    .option("--timeout <ms>", "per-image time limit; a worker silent longer is a hang", int("timeout", 100), DEFAULT_TIMEOUT_MS)
    .option("--image <i>", "rerun image I of the campaign alone, with details", int("image", 0))
    .option("--reseal", "recompute checksums after corrupting (crafted images; beyond the DESIGN §5 contract)", false)
    .option("--kinds <list>", `mutation kinds, comma-separated, of ${RESEAL_KINDS.join(", ")} (default: ${MUTATION_KINDS.join(", ")}; with --reseal also field)`)
    .option("--max-mutations <k>", "mutations per image: 1..K", int("max-mutations", 1), 3)
    .option("--no-remount", "skip the second mount after unmount")
    .option("--no-fsck", "skip fsck at the end of each walk")
    .option("--debug", "use the debug kernel (assertions on)", false)
    .option("--kernel <file>", "kernel module to load instead of build/helix[.debug].wasm")
    .option("--json <file>", "also write the summary as JSON")
    .option("--results <file>", "write one JSON line per image (index, seed, outcome, message, mutations, ...)")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  p.parse(argv, { from: "user" });
  const o = p.opts();
  let kinds: MutationKind[] | undefined;
  if (o.kinds !== undefined) {
    kinds = String(o.kinds).split(",").map((k) => k.trim()) as MutationKind[];
    const bad = kinds.filter((k) => !RESEAL_KINDS.includes(k));
    if (bad.length > 0 || kinds.length === 0) throw new Error(`--kinds: unknown mutation kind '${bad[0] ?? ""}' (one of ${RESEAL_KINDS.join(", ")})`);
  }
  return {
    images: o.images, seed: o.seed, jobs: o.jobs, timeout: o.timeout, image: o.image, reseal: !!o.reseal, kinds,
    maxMutations: o.maxMutations, remount: o.remount !== false, fsck: o.fsck !== false, debug: !!o.debug, kernel: o.kernel, json: o.json, results: o.results,
  };
}

/** The command line that reruns image `index` with the options that shape it. */
function reproLine(o: Options, index: number): string {
  const flags = [`--seed ${o.seed}`, `--image ${index}`];
  if (o.reseal) flags.push("--reseal");
  if (o.kinds) flags.push(`--kinds ${o.kinds.join(",")}`);
  if (o.maxMutations !== 3) flags.push(`--max-mutations ${o.maxMutations}`);
  if (!o.remount) flags.push("--no-remount");
  if (!o.fsck) flags.push("--no-fsck");
  if (o.debug) flags.push("--debug");
  if (o.kernel) flags.push(`--kernel ${o.kernel}`);
  return `node dist/tools/fuzz-images.js ${flags.join(" ")}`;
}

function describeMutation(m: Mutation): string {
  const what = `${m.target} block ${m.block}`;
  switch (m.kind) {
    case "bitflip": return `flip ${m.bits!.length} bit(s) of ${what} at bit ${m.bits!.join(",")}`;
    case "swap": return `swap ${what} with ${m.otherTarget} block ${m.other}`;
    case "field": return `set ${m.field!.name} (byte ${m.field!.off}, ${m.field!.size} B) of ${what} to ${m.field!.value}`;
    case "stale": {
      const st = m.stale!;
      const at = st.into === "home" ? `its home` : `the log image replayed there (log block ${m.block}${m.resealed ? ", transaction resealed" : ""})`;
      return `stale: block ${st.home} (${m.target === "journal" ? "replayed from the journal" : m.target}) at ${at}: version of tid ${st.tid} (from the ${st.source}), expected tid ${st.current}`;
    }
    default: return `${m.kind} ${what}`;
  }
}

function pct(n: number, of: number): string { return of ? `${((100 * n) / of).toFixed(1)}%` : "-"; }

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0;
}

/** Runs every job on a pool of workers; resolves when all are answered or declared hung. */
function runPool(o: Options, init: WorkerInit, jobs: Job[], onAnswer: (a: Answer) => void, onHang: (j: Job) => void, onCrash: (j: Job, msg: string) => void): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  let next = 0;
  let pending = jobs.length;
  return new Promise((resolve) => {
    if (pending === 0) { resolve(); return; }
    const spawn = () => {
      const w = new Worker(self, { workerData: init });
      let job: Job | null = null;
      let timer: NodeJS.Timeout | null = null;
      let retired = false;
      const finish = () => { if (--pending === 0) resolve(); };
      const feed = () => {
        if (next >= jobs.length) { retired = true; void w.terminate(); return; }
        job = jobs[next++];
        timer = setTimeout(() => {
          // a hang: the kernel loops (or the host does); kill the thread and carry on
          retired = true;
          const j = job!;
          job = null;
          void w.terminate();
          onHang(j);
          finish();
          if (next < jobs.length) spawn();
        }, o.timeout);
        w.postMessage(job);
      };
      w.on("message", (a: Answer) => {
        if (timer) clearTimeout(timer);
        job = null;
        onAnswer(a);
        finish();
        feed();
      });
      const died = (msg: string) => {
        if (retired) return;
        retired = true;
        if (timer) clearTimeout(timer);
        if (job) { const j = job; job = null; onCrash(j, msg); finish(); }
        if (next < jobs.length) spawn();
      };
      w.on("error", (e) => died(`worker error: ${e instanceof Error ? e.message : String(e)}`));
      w.on("exit", (code) => died(`worker exited with code ${code}`));
      feed();
    };
    for (let i = 0; i < Math.min(o.jobs, jobs.length); i++) spawn();
  });
}

async function main(argv: string[]): Promise<number> {
  let o: Options;
  try { o = parseOptions(argv); } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return 0;
    process.stderr.write(`fuzz-images: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const module = o.kernel ? new WebAssembly.Module(fs.readFileSync(o.kernel)) : kernelModule(o.debug);
  const t0 = performance.now();
  const baseInfo = buildBaseImage(module);
  const layout = parseImage(baseInfo.image);
  const stale = staleTable(baseInfo.image, layout, baseInfo.history);
  const shared = new SharedArrayBuffer(baseInfo.image.length);
  new Uint8Array(shared).set(baseInfo.image);
  const buildMs = performance.now() - t0;
  const kinds = [...layout.byKind].map(([k, v]) => `${v.length} ${k}`).join(", ");
  console.log(`base image: 16 MiB, ${baseInfo.files} files, ${baseInfo.dirs} dirs, ${baseInfo.symlinks} symlinks, ${baseInfo.hardlinks} hard links, ` +
    `${layout.transactions.length} committed transactions in the journal, ${baseInfo.orphans} orphan (built in ${buildMs.toFixed(0)} ms)`);
  console.log(`metadata blocks: ${layout.meta.length} (${kinds})`);
  console.log(`stale versions: ${stale.versions.length} of ${stale.byBlock.size} blocks (${stale.versions.filter((v) => v.source === "history").length} from ${baseInfo.history.length} earlier images, ` +
    `${stale.versions.filter((v) => v.source === "log").length} from the log area)`);
  const opts: RunOptions = { reseal: o.reseal, kinds: o.kinds, maxMutations: o.maxMutations, remount: o.remount, walk: { noFsck: !o.fsck } };
  const single = o.image !== undefined;
  const init: WorkerInit = { module, base: shared, stale, opts, keepLog: single };
  const indices = single ? [o.image!] : Array.from({ length: o.images }, (_, i) => i);
  const jobs = indices.map((index) => ({ index, seed: imageSeed(o.seed, index) }));
  const tally = new Tally(layout.transactions.length);
  const kernelName = o.kernel ?? (o.debug ? "build/helix.debug.wasm" : "build/helix.wasm");
  console.log(`campaign: seed ${o.seed}, ${jobs.length} image(s), ${Math.min(o.jobs, jobs.length)} worker(s), timeout ${o.timeout} ms, kernel ${kernelName}` +
    `${o.reseal ? ", checksums resealed after corruption" : ""}${o.kinds ? `, kinds ${o.kinds.join(",")}` : ""}`);

  const tty = process.stderr.isTTY;
  let lastProgress = 0;
  const progress = (force = false) => {
    const now = performance.now();
    if (!force && now - lastProgress < (tty ? 250 : 15000)) return;
    lastProgress = now;
    const rate = tally.images / ((now - t1) / 1000);
    const line = `images ${tally.images}/${jobs.length}  traps ${tally.outcomes.trap}  hangs ${tally.outcomes.hang}  crashes ${tally.outcomes.crash}  ${rate.toFixed(1)}/s`;
    process.stderr.write(tty ? `\r${line}   ` : `${line}\n`);
  };
  const answers: Answer[] = [];
  const results = o.results ? fs.openSync(o.results, "w") : null;
  const record = (line: object) => { if (results !== null) fs.writeSync(results, JSON.stringify(line) + "\n"); };
  const t1 = performance.now();
  await runPool(o, init, jobs,
    (a) => { tally.add(a.index, a.result, a.log); record({ index: a.index, ...a.result }); if (single) answers.push(a); progress(); },
    (j) => { tally.hang(j.index, j.seed, o.timeout); record({ index: j.index, seed: j.seed, outcome: "hang" }); progress(); },
    (j, msg) => { tally.crash(j.index, j.seed, msg); record({ index: j.index, seed: j.seed, outcome: "crash", message: msg }); progress(); });
  if (results !== null) fs.closeSync(results);
  const seconds = (performance.now() - t1) / 1000;
  if (tty) process.stderr.write("\r" + " ".repeat(90) + "\r");

  if (single) {
    const a = answers[0];
    if (a) {
      console.log(`\nimage ${o.image} (seed ${a.result.seed}):`);
      for (const m of a.result.mutations) console.log(`  mutation: ${describeMutation(m)}${m.resealed ? " (resealed)" : ""}`);
      const { mutations: _m, ...rest } = a.result;
      console.log(`  result: ${JSON.stringify(rest)}`);
      if (a.log.length) console.log(`  kernel log (last ${a.log.length} lines):\n${a.log.map((l) => `    ${l}`).join("\n")}`);
    } else {
      const f = tally.findings[0];
      console.log(`\nimage ${o.image}: ${f?.kind}: ${f?.message}`);
    }
  }

  // ---- summary ----
  const n = tally.images;
  const oc = tally.outcomes;
  const sorted = tally.imageMs.slice().sort((a, b) => a - b);
  console.log(`\nimages               ${n}`);
  console.log(`mounted              ${oc.mounted} (${pct(oc.mounted, n)})  read-write through the walk`);
  console.log(`mounted read-only    ${oc["mounted-ro"]} (${pct(oc["mounted-ro"], n)})  ${tally.readOnlyAtMount} read-only at mount, ${oc["mounted-ro"] - tally.readOnlyAtMount} flagged errors during the walk`);
  console.log(`refused with message ${oc.refused} (${pct(oc.refused, n)})`);
  for (const [msg, c] of [...tally.refusals].sort((a, b) => b[1] - a[1])) console.log(`  ${String(c).padStart(6)}  ${msg}`);
  console.log(`unclear refusals     ${oc.unclear}  (not a one-line KernelError)`);
  console.log(`refusals w/o reason  ${tally.vague.length}  (one line, but naming no reason)`);
  console.log(`traps                ${oc.trap}  (KernelPanic, WebAssembly.RuntimeError, wasm stack overflow)`);
  console.log(`hangs                ${oc.hang}  (no answer within ${o.timeout} ms)`);
  console.log(`host crashes         ${oc.crash}`);
  console.log(`remount after walk   ${Object.entries(tally.remount).map(([k, v]) => `${k} ${v}`).join(", ") || "-"}`);
  console.log(`backup superblock    used by ${tally.usedBackup} mounts`);
  console.log(`journal              ${tally.silentRollback} mounts dropped committed transactions without flagging an error`);
  console.log(`fsck after the walk  found problems on ${tally.fsckProblemImages} images`);
  console.log(`data mismatches      ${tally.garbageImages} images returned file bytes that were never written there`);
  for (const g of tally.garbageExamples) console.log(`  ${g}`);
  console.log(`generation check     caught stale metadata ("parent transid verify failed") in ${tally.transidImages} images`);
  if (tally.staleImages > 0) {
    console.log(`stale-block swaps    ${tally.staleMutations} in ${tally.staleImages} images; images by swap kind and what caught them first:`);
    for (const [k, row] of [...tally.staleBy].sort()) {
      const { images, garbage, ...by } = row;
      console.log(`  ${k.padEnd(30)} ${String(images).padStart(6)} images: ${Object.entries(by).filter(([, v]) => v > 0).map(([a, b]) => `${a} ${b}`).join(", ")}; wrong bytes in ${garbage}`);
    }
  }
  console.log(`error codes seen     ${[...tally.codes].sort((a, b) => b[1].images - a[1].images).map(([c, e]) => `${c} ${e.count} (${e.images} images)`).join(", ")}`);
  console.log(`time                 ${seconds.toFixed(1)} s, ${(n / seconds).toFixed(1)} images/s with ${Math.min(o.jobs, jobs.length)} workers ` +
    `(${(n / seconds / Math.min(o.jobs, jobs.length)).toFixed(1)}/s per worker); per image median ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, max ${(sorted[sorted.length - 1] ?? 0).toFixed(1)} ms`);
  console.log(`by mutation (outcomes of images containing it):`);
  for (const [k, row] of [...tally.byMutation].sort()) console.log(`  ${k.padEnd(26)} ${Object.entries(row).map(([a, b]) => `${a} ${b}`).join(", ")}`);

  const bad = tally.findings;
  if (bad.length) {
    console.log(`\n${bad.length} trap(s)/hang(s)/crash(es)/unclear refusal(s):`);
    const byKind = new Map<string, number>();
    for (const f of bad) {
      const seen = byKind.get(f.kind) ?? 0;
      byKind.set(f.kind, seen + 1);
      console.log(`  ${f.kind} image ${f.index}${f.phase ? ` in ${f.phase}` : ""}: ${f.message}`);
      if (seen < EXAMPLES && f.mutations) for (const m of f.mutations) console.log(`      ${describeMutation(m)}`);
      console.log(`      ${reproLine(o, f.index)}`);
    }
  }
  if (tally.vague.length) {
    console.log(`\n${tally.vague.length} refusal(s) without a reason (first ${Math.min(EXAMPLES, tally.vague.length)}):`);
    for (const f of tally.vague.slice(0, EXAMPLES)) {
      console.log(`  image ${f.index}: ${f.message}`);
      for (const m of f.mutations ?? []) console.log(`      ${describeMutation(m)}`);
      console.log(`      ${reproLine(o, f.index)}`);
    }
  }
  if (o.json) {
    fs.writeFileSync(o.json, JSON.stringify({
      options: o, images: n, seconds, outcomes: oc, refusals: Object.fromEntries(tally.refusals), codes: Object.fromEntries(tally.codes),
      remount: tally.remount, usedBackup: tally.usedBackup, silentRollback: tally.silentRollback, fsckProblemImages: tally.fsckProblemImages,
      garbageImages: tally.garbageImages, transidImages: tally.transidImages,
      stale: { images: tally.staleImages, mutations: tally.staleMutations, by: Object.fromEntries(tally.staleBy) }, findings: bad.map((f) => ({ ...f, repro: reproLine(o, f.index) })),
      vagueRefusals: tally.vague.map((f) => ({ ...f, repro: reproLine(o, f.index) })),
    }, null, 2));
  }
  return oc.trap + oc.hang + oc.crash + oc.unclear > 0 || (!o.reseal && tally.garbageImages > 0) ? 1 : 0;
}

if (isMainThread) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`fuzz-images: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 2;
  });
} else {
  workerMain();
}
