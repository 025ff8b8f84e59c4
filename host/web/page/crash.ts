// host/web/page/crash.ts -- crash exploration and the benchmark in the page (issue 11 §4, §6):
// buttons that type `crashtest ...` and `bench ...` at the shell (so the terminal shows the
// CLI's lines), a progress bar fed by `crash.progress` / `bench.progress`, and the last
// result in one line.
//
// Layer: web role, page side, over host/web/page/bus.ts and terminal.ts. Interface:
// mountCrash (a Feature of host/web/page/main.ts). Rules: the page never waits on the worker;
// ids are stable (#crash-*, #bench-*) for the end-to-end test.

import type { Bus } from "./bus.js";
import type { PageTerminal } from "./terminal.js";
import { elWith as el } from "./views/dom.js";


/** Mounts the crash-exploration and benchmark panel. */
export function mountCrash(views: HTMLElement, bus: Bus, term: PageTerminal): void {
  const panel = el("section", { id: "crash-panel", class: "panel" });
  panel.append(el("h2", {}, "Crash exploration and benchmark"));
  panel.append(el("p", { class: "narration" }, "crashtest records a workload's block writes, builds every disk a power cut could leave " +
    "(flush points, prefixes, subsets, torn sectors), recovers each on a fresh kernel and checks what fsync promised. " +
    "bench runs the metadata benchmark on OPFS, HelixFS beside ZenFS."));
  const wl = el("select", { id: "crash-workload" });
  for (const w of ["ace1", "ace2", "random"]) wl.append(el("option", { value: w }, w));
  const sample = el("input", { id: "crash-sample", type: "number", placeholder: "sample (all)", min: "1", style: "width:8em" });
  const run = el("button", { id: "crash-run" }, "crashtest");
  const files = el("input", { id: "bench-files", type: "number", value: "20000", min: "100", style: "width:7em" });
  const bench = el("button", { id: "bench-run" }, "bench");
  const row = el("div", { class: "row" });
  row.append(wl, sample, run, el("span", {}, " "), files, bench);
  const progress = el("progress", { id: "crash-progress", max: "1", value: "0" });
  const status = el("p", { id: "crash-status", class: "narration" }, "");
  panel.append(row, progress, status);
  views.append(panel);

  run.onclick = () => term.type(`crashtest ${wl.value}${sample.value !== "" ? ` --sample ${Number(sample.value)}` : ""}`);
  bench.onclick = () => term.type(`bench --files ${Number(files.value)}`);
  bus.on("crash.progress", (m) => {
    progress.value = Number(m.workloadsDone) / Math.max(1, Number(m.workloads));
    status.textContent = `crashtest: ${m.workloadsDone}/${m.workloads} workloads, ${m.states} states, ${m.violations} violations, ${Math.round(Number(m.statesPerSecond))} states/s`;
  });
  bus.on("crash.done", (m) => {
    progress.value = 1;
    status.textContent = `crashtest: ${m.states} states, ${m.violations} violations in ${Number(m.seconds).toFixed(1)} s (${Math.round(Number(m.states) / Math.max(Number(m.seconds), 1e-3))} states/s)`;
  });
  bus.on("bench.progress", (m) => {
    progress.value = Number(m.fraction);
    status.textContent = `bench: ${String(m.text)}`;
  });
}
