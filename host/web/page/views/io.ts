// host/web/page/views/io.ts -- block I/O (a timeline of requests by type and size over the last
// TIMELINE_MS, and the counters of `helix stat`), a selected file's extent map and the free
// space of the whole disk.
//
// Layer: web role, page side. Interface: ioPanel, statPanel, diskPanel(parent, bus) ->
// update(sample). Rules: the timeline bins requests by pixel column (bounded memory whatever
// the request rate) and draws them on a canvas: x = time, y = log2(size), colour = type,
// flushes as ticks on top; times are the worker's clock, so "now" is the newest sample's time.

import type { Bus } from "../bus.js";
import { BLK_KINDS, type ViewsSample } from "../../views-types.js";
import { bytes, el, fmt, panel, setHTML } from "./dom.js";

/** Window of the timeline, ms. */
export const TIMELINE_MS = 10_000;
/** Pixel columns of the timeline, and the ms each covers. */
const COLUMNS = 512;
const COLUMN_MS = TIMELINE_MS / COLUMNS;
/** Request types (BLK_KINDS). */
const KINDS = 5;
/** Colours by BLK_KINDS index. */
const KIND_COLOURS = ["#88c0d0", "#d08770", "#ebcb8b", "#b48ead", "#a3be8c"];
/** Sizes on the y axis: 512 B .. 16 MiB (log2 9..24). */
const LOG_MIN = 9, LOG_MAX = 24;

export function ioPanel(parent: HTMLElement): (s: ViewsSample) => void {
  const body = panel(parent, "view-io", "Block I/O", `requests of the last ${TIMELINE_MS / 1000} s by type and size`);
  const canvas = el("canvas", "timeline");
  canvas.width = COLUMNS; canvas.height = 120;
  const legend = el("div", "legend");
  body.append(canvas, legend);
  const ctx = canvas.getContext("2d")!;
  // requests binned by pixel column (COLUMN_MS each): per column and type, a bit per size
  // bucket (log2 of the size), the count and the bytes; a slot is reused when its column id
  // is older than the window, so the cost per sample is the new requests plus one pass over
  // COLUMNS x types, however many requests the window holds
  const colId = new Float64Array(COLUMNS).fill(-1);
  const sizes = new Uint16Array(COLUMNS * KINDS), counts = new Uint32Array(COLUMNS * KINDS), sums = new Float64Array(COLUMNS * KINDS);
  const slot = (col: number): number => {
    const i = col % COLUMNS;
    if (colId[i] !== col) { colId[i] = col; sizes.fill(0, i * KINDS, i * KINDS + KINDS); counts.fill(0, i * KINDS, i * KINDS + KINDS); sums.fill(0, i * KINDS, i * KINDS + KINDS); }
    return i * KINDS;
  };
  const perSecond = new Float64Array(KINDS), bytesPerSecond = new Float64Array(KINDS);
  let dropped = 0;
  return (s) => {
    const e = s.blk;
    dropped = e.dropped;
    for (let i = 0; i < e.t.length; i++) {
      const k = e.kind[i];
      const at = slot(Math.floor(e.t[i] / COLUMN_MS)) + k;
      const l = Math.min(LOG_MAX, Math.max(LOG_MIN, Math.round(Math.log2(Math.max(1, e.bytes[i])))));
      sizes[at] |= 1 << (l - LOG_MIN);
      counts[at]++;
      sums[at] += e.bytes[i];
    }
    const nowCol = Math.floor(s.t / COLUMN_MS), firstCol = nowCol - COLUMNS + 1;
    const W = canvas.width, H = canvas.height, top = 10, rowH = (H - top - 2) / (LOG_MAX - LOG_MIN + 1);
    ctx.fillStyle = "#14181d"; ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = "#2a2f37";
    for (let l = LOG_MIN; l <= LOG_MAX; l += 5) ctx.fillRect(0, top + (LOG_MAX - l) * rowH, W, 1);
    perSecond.fill(0); bytesPerSecond.fill(0);
    const secondCols = Math.ceil(1000 / COLUMN_MS);
    for (let k = 0; k < KINDS; k++) {
      ctx.fillStyle = KIND_COLOURS[k];
      for (let x = 0; x < COLUMNS; x++) {
        const col = firstCol + x, i = col % COLUMNS;
        if (col < 0 || colId[i] !== col) continue;
        const at = i * KINDS + k;
        if (counts[at] === 0) continue;
        if (col > nowCol - secondCols) { perSecond[k] += counts[at]; bytesPerSecond[k] += sums[at]; }
        if (k === 2) { ctx.fillRect(x, 0, 1, top - 2); continue; }
        for (let b = sizes[at], l = LOG_MAX; l >= LOG_MIN; l--) if (b & (1 << (l - LOG_MIN))) ctx.fillRect(x - 1, top + (LOG_MAX - l) * rowH, 3, Math.max(2, rowH - 1));
      }
    }
    setHTML(legend, BLK_KINDS.map((name, k) => `<span class=item><i class=swatch style="background:${KIND_COLOURS[k]}"></i>${name} ${perSecond[k]}/s${k !== 2 ? ` ${bytes(bytesPerSecond[k])}/s` : ""}</span>`).join("") +
      `<span class=item>y: 512 B … 16 MiB (log)${dropped > 0 ? `, ${dropped} requests not drawn (tap full)` : ""}</span>`);
  };
}

export function statPanel(parent: HTMLElement): (s: ViewsSample) => void {
  const body = panel(parent, "view-stat", "Counters", "helix stat");
  const grid = el("div", "statgrid");
  body.append(grid);
  // the tables are built once (per set of counters); a sample only rewrites the cells that changed
  let key = "";
  let cells: HTMLTableCellElement[] = [];
  let values: number[] = [];
  return (s) => {
    const k = s.stat.map(([g, rows]) => `${g}:${rows.map(([f]) => f).join(",")}`).join(";");
    if (k !== key) {
      key = k;
      setHTML(grid, s.stat.map(([g, rows]) => `<table><caption>${g}</caption>${rows.map(([f]) => `<tr><th class=l>${f}</th><td></td></tr>`).join("")}</table>`).join(""));
      cells = [...grid.querySelectorAll("td")];
      values = cells.map(() => NaN);
    }
    let i = 0;
    for (const [, rows] of s.stat) {
      for (const [, v] of rows) {
        if (values[i] !== v) { values[i] = v; cells[i].textContent = fmt(v); }
        i++;
      }
    }
  };
}

export function diskPanel(parent: HTMLElement, bus: Bus): (s: ViewsSample) => void {
  const body = panel(parent, "view-disk", "Disk: a file's extents, free space", "");
  const form = el("form", "row");
  const input = el("input");
  input.placeholder = "/path/of/a/file";
  input.size = 30;
  form.append(input, el("button", "", "Show extents"));
  form.onsubmit = (ev) => { ev.preventDefault(); bus.send({ type: "views.select", file: input.value.trim() }); };
  const ext = el("canvas", "strip");
  ext.width = 512; ext.height = 16;
  const extText = el("div", "summary");
  const free = el("canvas", "strip");
  free.width = 512; free.height = 16;
  const freeText = el("div", "summary");
  body.append(form, extText, ext, freeText, free);
  const ec = ext.getContext("2d")!, fc = free.getContext("2d")!;
  let typed = false;
  input.oninput = () => { typed = true; };
  return (s) => {
    const x = s.extents;
    ec.fillStyle = "#1b1f26"; ec.fillRect(0, 0, ext.width, ext.height);
    if (x === null) extText.textContent = "no file selected (the large-file scenario selects its file)";
    else {
      if (!typed && document.activeElement !== input) input.value = x.path;
      const total = Math.max(1, x.totalBlocks);
      x.extents.forEach((e, i) => {
        ec.fillStyle = `hsl(${(i * 47) % 360}, 60%, 60%)`;
        ec.fillRect((e.diskBlock / total) * ext.width, 0, Math.max(1, (e.length / total) * ext.width), ext.height);
      });
      extText.textContent = x.error !== null ? `${x.path}: ${x.error}` :
        `${x.path}: ${bytes(x.size)}, ${x.inline ? "inline data (no extents)" : `${x.extents.length}${x.more ? "+" : ""} extents`}` +
        (x.dirtyPages > 0 ? `, ${fmt(x.dirtyPages)} dirty pages not yet allocated` : "") +
        (x.extents.length > 0 ? ` · first: file block ${x.extents[0].fileBlock} → disk ${x.extents[0].diskBlock} ×${x.extents[0].length}` : "");
    }
    const f = s.freeSpace;
    if (f === null) return;
    fc.fillStyle = "#1b1f26"; fc.fillRect(0, 0, free.width, free.height);
    if (f.fraction.length > 0) {
      const w = free.width / f.fraction.length;
      for (let i = 0; i < f.fraction.length; i++) {
        const v = f.fraction[i];
        fc.fillStyle = `rgb(${Math.round(40 + 60 * (1 - v))}, ${Math.round(60 + 140 * v)}, ${Math.round(60 + 40 * v)})`;
        fc.fillRect(i * w, 0, Math.ceil(w), free.height);
      }
    } else {
      // fallback: the histogram of free extents by size, as bars
      const max = Math.max(1, ...f.histogram);
      const w = free.width / f.histogram.length;
      fc.fillStyle = "#a3be8c";
      f.histogram.forEach((n, i) => { const h = (n / max) * free.height; fc.fillRect(i * w, free.height - h, w - 1, h); });
    }
    const extents = f.histogram.reduce((a, b) => a + b, 0);
    freeText.textContent = `free space: ${fmt(f.freeBlocks)} of ${fmt(f.totalBlocks)} blocks in ${fmt(extents)} free extents` +
      (f.fraction.length > 0 ? ` (strip: ${fmt(f.blocksPerBucket)} blocks per column, green = free)` : " (bars: free extents by log2 size)");
  };
}
