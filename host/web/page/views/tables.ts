// host/web/page/views/tables.ts -- the table views: slab caches as /proc/slabinfo shows them,
// the B+ trees (levels, nodes per level, fill, the keys of a selected node), the journal ring.
//
// Layer: web role, page side. Interface: slabPanel, treePanel(parent, bus), journalPanel ->
// update(sample). Rules: a "–" is a number the current source does not give (the fallback
// before the kernel's view exports); selecting a tree or a node is a `views.select` message,
// and the next sample carries it.

import type { Bus } from "../bus.js";
import { TREE_LABELS, type ViewsSample } from "../../views-types.js";
import { el, fillTable, fmt, panel, setHTML, setText } from "./dom.js";

export function slabPanel(parent: HTMLElement): (s: ViewsSample) => void {
  const body = panel(parent, "view-slabs", "Slab caches", "slabinfo");
  const table = el("table", "slabs");
  body.append(table);
  return (s) => {
    const rows = fillTable(table, ["cache", "active", "total", "objsize", "per slab", "per-CPU", "partial", "full", "free", "pages", "use"],
      s.slabs.map((c) => [c.name, fmt(c.active), fmt(c.total), String(c.objsize), fmt(c.objsPerSlab), fmt(c.cpuCached), fmt(c.slabsPartial),
        fmt(c.slabsFull), fmt(c.slabsFree), fmt(c.pages), ""]), ["l", "", "", "", "", "", "", "", "", "", "l"]);
    rows.forEach((tr, i) => {
      const c = s.slabs[i];
      bar(tr.cells[10], c.total > 0 ? (60 * c.active) / c.total : 0);
    });
  };
}

/** A bar of `px` pixels in cell `td` (made once, then resized). */
function bar(td: HTMLTableCellElement, px: number): void {
  let b = td.firstElementChild as HTMLElement | null;
  if (b === null) { b = el("span", "bar"); td.append(b); }
  const w = `${Math.max(1, px).toFixed(0)}px`;
  if (b.style.width !== w) b.style.width = w;
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
    fillTable(levels, ["level", "nodes", "items", "fill", ""], t.levels.map((l, d) =>
      [d === 0 ? "root" : d === t.levels.length - 1 ? "leaves" : `depth ${d}`, fmt(l.nodes), fmt(l.items), `${(l.fill * 100).toFixed(0)}%`, ""]), ["l", "", "", "", "l"])
      .forEach((tr, d) => bar(tr.cells[4], (Math.log2(1 + t.levels[d].nodes) / Math.log2(1 + max)) * 160));
    up.disabled = t.path.length === 0;
    if (t.node === null) { setText(nodeHead, t.nodeNote ?? ""); fillTable(keys, [], []); return; }
    const n = t.node;
    setText(nodeHead, `node at [${t.path.join(", ")}]: block ${n.blk}, ${n.level === 0 ? "leaf" : `level ${n.level}`}, ${n.nitems} items, ${fmt(n.usedBytes)} bytes used` +
      (n.keys.length < n.nitems ? ` (first ${n.keys.length} keys)` : "") + (n.level > 0 ? " · click a key to open its child" : ""));
    fillTable(keys, ["#", "k1", "k2", n.level > 0 ? "child block" : "value bytes"], n.keys.map((k, i) => [String(i), k.k1, k.k2, String(n.level > 0 ? k.child : k.valueLength)]))
      .forEach((tr, i) => {
        if (n.level > 0) { tr.dataset.ix = String(i); tr.className = "link"; } else { delete tr.dataset.ix; tr.className = ""; }
      });
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
    fillTable(nums, [], [
      ["running transaction", `tid 0x${j.runningTid.toString(16)}, ${fmt(j.runningBuffers)} buffers, ${fmt(j.runningLogBlocks)} log blocks`],
      ["committing", "none between calls (a commit runs inside one kernel call)"],
      ["checkpointing", `${fmt(j.checkpointBuffers)} buffers committed, not yet written home`],
      ["since boot", `${fmt(j.commits)} commits, ${fmt(j.checkpoints)} checkpoints, ${fmt(j.loggedBlocks)} blocks logged, ${fmt(j.absorbed)} absorbed, ${fmt(j.revokes)} revokes`],
    ], ["l", "l"]);
  };
}
