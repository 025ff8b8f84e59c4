// host/web/page/views/tables.ts -- the table views: slab caches as /proc/slabinfo shows them,
// the B+ trees (levels, nodes per level, fill, the keys of a selected node), the journal ring.
//
// Layer: web role, page side. Interface: slabPanel, treePanel(parent, bus), journalPanel ->
// update(sample). Rules: a "–" is a number the current source does not give (the fallback
// before the kernel's view exports); selecting a tree or a node is a `views.select` message,
// and the next sample carries it.

import type { Bus } from "../bus.js";
import { TREE_LABELS, type ViewsSample } from "../../views-types.js";
import { el, esc, fmt, panel, setHTML, setText } from "./dom.js";

export function slabPanel(parent: HTMLElement): (s: ViewsSample) => void {
  const body = panel(parent, "view-slabs", "Slab caches", "slabinfo");
  const table = el("table", "slabs");
  body.append(table);
  return (s) => {
    const head = "<tr><th class=l>cache</th><th>active</th><th>total</th><th>objsize</th><th>per slab</th><th>per-CPU</th><th>partial</th><th>full</th><th>free</th><th>pages</th><th class=l>use</th></tr>";
    const rows = s.slabs.map((c) => {
      const pct = c.total > 0 ? (100 * c.active) / c.total : 0;
      return `<tr><td class=l>${esc(c.name)}</td><td>${fmt(c.active)}</td><td>${fmt(c.total)}</td><td>${c.objsize}</td><td>${fmt(c.objsPerSlab)}</td>` +
        `<td>${fmt(c.cpuCached)}</td><td>${fmt(c.slabsPartial)}</td><td>${fmt(c.slabsFull)}</td><td>${fmt(c.slabsFree)}</td><td>${fmt(c.pages)}</td>` +
        `<td class=l><span class=bar style="width:${(pct * 0.6).toFixed(0)}px"></span></td></tr>`;
    }).join("");
    setHTML(table, head + rows);
  };
}

export function treePanel(parent: HTMLElement, bus: Bus): (s: ViewsSample) => void {
  const body = panel(parent, "view-trees", "B+ trees", "levels, fill, keys of a node");
  const pick = el("select");
  TREE_LABELS.forEach((name, i) => { const o = el("option", "", name); o.value = String(i); pick.append(o); });
  pick.value = "1";
  const summary = el("div", "summary");
  const levels = el("table", "levels");
  const nodeHead = el("div", "summary");
  const up = el("button", "", "↑ parent");
  const keys = el("table", "keys");
  const keysBox = el("div", "scroll");
  keysBox.append(keys);
  body.append(pick, summary, levels, nodeHead, up, keysBox);
  let path: number[] = [];
  pick.onchange = () => { path = []; bus.send({ type: "views.select", tree: Number(pick.value), path }); };
  up.onclick = () => { path = path.slice(0, -1); bus.send({ type: "views.select", path }); };
  keys.onclick = (ev) => {
    const row = (ev.target as HTMLElement).closest("tr[data-ix]");
    if (row === null) return;
    path = [...path, Number(row.getAttribute("data-ix"))];
    bus.send({ type: "views.select", path });
  };
  return (s) => {
    const t = s.tree;
    if (t === null) return;
    if (pick.value !== String(t.tree)) pick.value = String(t.tree);
    path = t.path;
    setText(summary, `${TREE_LABELS[t.tree]}: height ${t.height}, ${fmt(t.nodes)} nodes (${fmt(t.leaves)} leaves), ${fmt(t.items)} items, fill ${(t.fillPermille / 10).toFixed(1)}%`);
    const max = Math.max(1, ...t.levels.map((l) => l.nodes));
    setHTML(levels, "<tr><th class=l>level</th><th>nodes</th><th>items</th><th>fill</th><th class=l></th></tr>" + t.levels.map((l, d) =>
      `<tr><td class=l>${d === 0 ? "root" : d === t.levels.length - 1 ? "leaves" : `depth ${d}`}</td><td>${fmt(l.nodes)}</td><td>${l.items > 0 || t.source === "export" ? fmt(l.items) : "–"}</td>` +
      `<td>${(l.fill * 100).toFixed(0)}%</td><td class=l><span class=bar style="width:${Math.max(1, (Math.log2(1 + l.nodes) / Math.log2(1 + max)) * 160).toFixed(0)}px"></span></td></tr>`).join(""));
    up.disabled = t.path.length === 0;
    if (t.node === null) { nodeHead.textContent = t.nodeNote ?? ""; setHTML(keys, ""); return; }
    const n = t.node;
    nodeHead.textContent = `node at [${t.path.join(", ")}]: block ${n.blk}, ${n.level === 0 ? "leaf" : `level ${n.level}`}, ${n.nitems} items, ${fmt(n.usedBytes)} bytes used` +
      (n.keys.length < n.nitems ? ` (first ${n.keys.length} keys)` : "") + (n.level > 0 ? " · click a key to open its child" : "");
    setHTML(keys, "<tr><th>#</th><th>k1</th><th>k2</th><th>" + (n.level > 0 ? "child block" : "value bytes") + "</th></tr>" + n.keys.map((k, i) =>
      `<tr${n.level > 0 ? ` data-ix="${i}" class=link` : ""}><td>${i}</td><td>${k.k1}</td><td>${k.k2}</td><td>${n.level > 0 ? k.child : k.valueLength}</td></tr>`).join(""));
  };
}

export function journalPanel(parent: HTMLElement): (s: ViewsSample) => void {
  const body = panel(parent, "view-journal", "Journal ring", "head, tail, transactions");
  const canvas = el("canvas", "ring");
  canvas.width = 512; canvas.height = 22;
  const text = el("div", "summary");
  const nums = el("table", "journal");
  body.append(canvas, text, nums);
  const ctx = canvas.getContext("2d")!;
  return (s) => {
    const j = s.journal;
    if (j === null || j.size <= 0) return;
    const W = canvas.width, H = canvas.height;
    const x = (b: number) => (b / j.size) * W;
    ctx.fillStyle = "#1b1f26"; ctx.fillRect(0, 0, W, H);
    // live log: tail .. head (wrapping)
    if (j.tail >= 0) {
      ctx.fillStyle = "#3b4252";
      if (j.head >= j.tail) ctx.fillRect(x(j.tail), 0, x(j.head) - x(j.tail), H);
      else { ctx.fillRect(x(j.tail), 0, W - x(j.tail), H); ctx.fillRect(0, 0, x(j.head), H); }
    }
    j.committed.forEach((c, i) => {
      ctx.fillStyle = i % 2 === 0 ? "#5e81ac" : "#81a1c1";
      const a = x(c.start), w = Math.max(1, x(c.blocks));
      if (c.start + c.blocks <= j.size) ctx.fillRect(a, 3, w, H - 6);
      else { ctx.fillRect(a, 3, W - a, H - 6); ctx.fillRect(0, 3, x(c.start + c.blocks - j.size), H - 6); }
    });
    if (j.runningLogBlocks > 0) { ctx.fillStyle = "#ebcb8b"; ctx.fillRect(x(j.head), 3, Math.max(2, x(j.runningLogBlocks)), H - 6); }
    ctx.fillStyle = "#bf616a"; ctx.fillRect(x(j.head) - 1, 0, 2, H);
    if (j.tail >= 0) { ctx.fillStyle = "#a3be8c"; ctx.fillRect(x(j.tail) - 1, 0, 2, H); }
    setHTML(text, `<span style="color:#a3be8c">tail ${j.tail < 0 ? "–" : j.tail}</span> · <span style="color:#bf616a">head ${j.head}</span> of ${fmt(j.size)} blocks at ${fmt(j.start)} · ` +
      `<span style="color:#5e81ac">committed, awaiting checkpoint: ${fmt(j.committedCount)} tx</span> · <span style="color:#ebcb8b">running</span>`);
    setHTML(nums, [
      ["running transaction", `tid 0x${j.runningTid.toString(16)}, ${fmt(j.runningBuffers)} buffers, ${fmt(j.runningLogBlocks)} log blocks`],
      ["committing", "none between calls (a commit runs inside one kernel call)"],
      ["checkpointing", `${fmt(j.checkpointBuffers)} buffers committed, not yet written home`],
      ["since boot", `${fmt(j.commits)} commits, ${fmt(j.checkpoints)} checkpoints, ${fmt(j.loggedBlocks)} blocks logged, ${fmt(j.absorbed)} absorbed, ${fmt(j.revokes)} revokes`],
    ].map(([a, b]) => `<tr><th class=l>${a}</th><td class=l>${b}</td></tr>`).join(""));
  };
}
