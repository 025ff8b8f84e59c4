// host/web/page/power.ts -- pull the plug (issue 11 §4), page side: the power panel (cut now,
// or cut in the middle of a command after N device writes; drop every write after the last
// FLUSH or let a seeded random subset through, torn at sectors) and the replay view (the
// journal replay step by step, the recovery counters, fsck, and the survivors list).
//
// Layer: web role, page side, over host/web/page/bus.ts. Interface: mountPower (a Feature of
// host/web/page/main.ts). Rules: the page never waits on the worker: buttons send messages,
// `power.report` fills the view; ids are stable (#power-*, #replay-*) for the end-to-end test.

import type { Bus } from "./bus.js";
import type { PageTerminal } from "./terminal.js";
import { elWith as el } from "./views/dom.js";
import type { PowerReport } from "../power.js";


/** Mounts the power panel and its replay view into `views`. */
export function mountPower(views: HTMLElement, bus: Bus, _term: PageTerminal): void {
  const panel = el("section", { id: "power-panel", class: "panel" });
  panel.append(el("h2", {}, "Pull the plug"));
  panel.append(el("p", { class: "narration" }, "The disk keeps writes in a volatile cache until a FLUSH. Cut the power: what was not flushed is lost " +
    "(or, at random, partly written, torn at 512-byte sectors); the kernel reboots from the image and replays its journal. " +
    "`sync FILE` in the shell fsyncs a file."));
  const mode = el("select", { id: "power-mode" });
  mode.append(el("option", { value: "drop" }, "lose every write after the last FLUSH"), el("option", { value: "random" }, "random subset survives, torn sectors"));
  const seed = el("input", { id: "power-seed", type: "number", placeholder: "seed (random)", min: "0", style: "width:8em" });
  const cut = el("button", { id: "power-cut" }, "Pull the plug");
  const row1 = el("div", { class: "row" });
  row1.append(mode, seed, cut);
  const line = el("input", { id: "power-line", type: "text", value: "mkdir -p /burst; echo one > /burst/a; sync /burst/a; echo two > /burst/b; echo three > /burst/c; sync", style: "width:60%" });
  const writes = el("input", { id: "power-writes", type: "number", value: "3", min: "1", style: "width:5em" });
  const during = el("button", { id: "power-cut-during" }, "Run and cut after N writes");
  const row2 = el("div", { class: "row" });
  row2.append(line, writes, during);
  panel.append(row1, row2);

  const view = el("div", { id: "replay-view" });
  view.append(el("p", { class: "narration" }, "No power cut yet."));
  panel.append(view);
  views.append(panel);

  const opts = () => ({ mode: mode.value, ...(seed.value !== "" ? { seed: Number(seed.value) } : {}) });
  cut.onclick = () => bus.send({ type: "power.cut", ...opts() });
  during.onclick = () => bus.send({ type: "power.cutDuring", ...opts(), line: line.value, afterWrites: Number(writes.value) });
  let reports = 0;
  bus.on("power.report", (m) => { render(view, m.report as PowerReport); view.dataset.reports = String(++reports); });
}

/** Fills the replay view from a report. */
function render(view: HTMLElement, r: PowerReport): void {
  view.replaceChildren();
  const c = r.cut;
  view.append(el("h3", {}, "What the cut did"));
  view.append(el("p", { id: "replay-cut" }, c.pendingUnits === 0 ? "The write cache was empty: every write had been flushed."
    : `${c.pendingWrites} writes (${c.pendingUnits} blocks) were in the cache: ${c.mode === "drop" ? "all lost" : `${c.survived} reached the disk whole, ${c.torn} torn, ${c.dropped} lost (seed ${c.seed})`}.`));
  if (r.error !== null) { view.append(el("p", { id: "replay-error", class: "error" }, r.error)); return; }
  view.append(el("h3", {}, "Journal replay, step by step"));
  const ol = el("ol", { id: "replay-steps" });
  for (const s of r.replay) ol.append(el("li", { class: `step-${s.kind}`, "data-kind": s.kind }, s.text));
  if (r.replay.length === 0) ol.append(el("li", { class: "step-info", "data-kind": "info" }, "nothing to replay: the journal was empty"));
  view.append(ol);
  view.append(el("p", { id: "replay-counters" }, `${r.counters.replayedTx} transactions replayed, ${r.counters.replayedBlocks} blocks written home, ` +
    `${r.counters.orphans} orphans freed; back at the prompt ${r.rebootMs.toFixed(0)} ms after the cut.`));
  view.append(el("p", { id: "replay-fsck", class: r.fsck.problems === 0 ? "ok" : "error" },
    r.fsck.problems === 0 ? "fsck: clean" : `fsck: ${r.fsck.problems} problem(s): ${r.fsck.lines.slice(0, 5).join("; ")}`));
  view.append(el("h3", {}, "Which files survived, and why"));
  const table = el("table", { id: "replay-files" });
  const head = el("tr");
  for (const h of ["file", "", "bytes before", "after", "why"]) head.append(el("th", {}, h));
  table.append(head);
  for (const f of r.files) {
    const tr = el("tr", { class: `file-${f.status}`, "data-path": f.path, "data-status": f.status });
    tr.append(el("td", {}, f.path), el("td", {}, f.status), el("td", {}, f.sizeBefore === null ? "-" : String(f.sizeBefore)),
      el("td", {}, f.sizeAfter === null ? "-" : String(f.sizeAfter)), el("td", {}, f.reason));
    table.append(tr);
  }
  view.append(table);
  if (r.filesNotListed > 0) view.append(el("p", {}, `${r.filesNotListed} more files were not compared.`));
}
