// host/web/page/views/index.ts -- the live views: mounts every panel into #views, takes the
// worker's `views.sample` messages and draws the newest one once per animation frame.
//
// Layer: web role, page side (a Feature of host/web/page/main.ts). Interface: mountViews(views,
// bus, term); window.helix.views = { updates (performance.now() of each drawn sample), samples
// received, sampler and draw costs, `paused` to take the views' drawing out of a measurement }
// for the end-to-end tests. Rules: the page never
// waits on the kernel; a burst of samples is coalesced to the newest (its block events are
// kept: the timeline merges every sample's requests); a panel that throws is reported on the
// console and the others still draw.

import type { Bus } from "../bus.js";
import type { PageTerminal } from "../terminal.js";
import type { ScenarioInfo, ViewsSample } from "../../views-types.js";
import { el } from "./dom.js";
import { memoryPanel } from "./memory.js";
import { journalPanel, slabPanel, treePanel } from "./tables.js";
import { diskPanel, ioPanel, statPanel } from "./io.js";

/** Script time per animation frame for the panels, ms (a frame also lays out and paints). */
const FRAME_BUDGET_MS = 4;

/** What the tests read from window.helix.views. */
export interface ViewsProbe { updates: number[]; samples: number; costMs: number[]; lastSeq: number; workerT: number[]; arrivals: number[]; drawMs: number[]; panelMs: Record<string, number>; paused: boolean }

export function mountViews(views: HTMLElement, bus: Bus, term: PageTerminal): void {
  const probe: ViewsProbe = { updates: [], samples: 0, costMs: [], lastSeq: 0, workerT: [], arrivals: [], drawMs: [], panelMs: {}, paused: false };
  const bar = el("section", "panel scenarios");
  const status = el("div", "summary", "scenarios: each runs in the kernel's worker, in chunks, while the views update");
  bar.append(el("h2", "", "Scenarios"), el("div", "row"), status);
  views.append(bar);
  const buttons = bar.querySelector(".row") as HTMLElement;
  const ioUpdate = ioPanel(views);
  const panels: [string, (s: ViewsSample) => void][] = [
    ["memory", memoryPanel(views)], ["slabs", slabPanel(views)], ["trees", treePanel(views, bus)], ["journal", journalPanel(views)],
    ["disk", diskPanel(views, bus)], ["stat", statPanel(views)],
  ];
  let pending: ViewsSample | null = null; // the newest sample not yet being drawn
  let current: ViewsSample | null = null; // the sample being drawn, panel by panel
  let queue: number[] = []; // panels still to draw for `current`
  let scheduled = false;
  let running: string | null = null;
  let drawStart = 0;

  const schedule = () => { if (!scheduled) { scheduled = true; requestAnimationFrame(draw); } };
  // Panels are drawn in animation frames of at most FRAME_BUDGET_MS of script each: a sample's
  // panels may spread over two or three frames (16 ms apart), so no frame's task (script,
  // then style, layout and paint of what changed) grows long; every panel still draws every sample.
  const draw = () => {
    scheduled = false;
    if (queue.length === 0) {
      if (pending === null) return;
      current = pending;
      pending = null;
      queue = panels.map((_, i) => i);
      drawStart = performance.now();
    }
    const s = current!;
    const t0 = performance.now();
    while (queue.length > 0 && performance.now() - t0 < FRAME_BUDGET_MS) {
      const [name, p] = panels[queue.shift()!];
      const t1 = performance.now();
      try { p(s); } catch (err) { console.error(err); }
      probe.panelMs[name] = (probe.panelMs[name] ?? 0) + performance.now() - t1;
    }
    if (queue.length > 0) { schedule(); return; }
    probe.drawMs.push(performance.now() - drawStart);
    if (probe.drawMs.length > 10_000) probe.drawMs.splice(0, 5_000);
    if (s.scenario !== running) {
      running = s.scenario;
      for (const b of buttons.querySelectorAll("button")) (b as HTMLButtonElement).disabled = running !== null;
      if (running !== null) status.textContent = `running: ${running}`;
    }
    probe.updates.push(performance.now());
    probe.lastSeq = s.seq;
    if (probe.updates.length > 10_000) probe.updates.splice(0, 5_000);
    if (pending !== null) schedule();
  };

  bus.on("views.sample", (m) => {
    const s = m as unknown as ViewsSample;
    // main.ts sets window.helix after the features mount: attach the probe when samples flow
    (window as unknown as { helix: Record<string, unknown> }).helix.views ??= probe;
    probe.samples++;
    if (probe.paused) return; // tests measure the page without the views' drawing (a bound)
    probe.costMs.push(s.costMs);
    probe.workerT.push(s.t);
    probe.arrivals.push(performance.now());
    if (probe.costMs.length > 10_000) for (const a of [probe.costMs, probe.workerT, probe.arrivals]) a.splice(0, 5_000);
    // the timeline must see every sample's requests, even when a frame draws only the newest
    const t0 = performance.now();
    try { ioUpdate(s); } catch (err) { console.error(err); }
    probe.drawMs.push(performance.now() - t0);
    probe.panelMs.io = (probe.panelMs.io ?? 0) + performance.now() - t0;
    pending = s;
    schedule();
  });
  bus.on("views.scenarios", (m) => {
    buttons.replaceChildren(...(m.list as ScenarioInfo[]).map((sc) => {
      const b = el("button", "", sc.title);
      b.title = sc.narration;
      b.dataset.scenario = sc.name;
      b.onclick = () => bus.send({ type: "views.scenario", name: sc.name });
      return b;
    }));
  });
  bus.on("views.scenario.done", (m) => {
    status.textContent = `${String(m.message)} (${(Number(m.ms) / 1000).toFixed(1)} s)`;
    for (const b of buttons.querySelectorAll("button")) (b as HTMLButtonElement).disabled = false;
    running = null;
  });
  bus.on("booted", () => bus.send({ type: "views.scenarios" }));
  void term;
}
