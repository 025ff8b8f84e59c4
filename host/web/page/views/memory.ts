// host/web/page/views/memory.ts -- the physical memory map: one cell per 4 KiB frame, coloured
// by owner (free by migratetype, per-CPU, slab per cache, page cache clean/dirty, buffers,
// journal, kernel), the buddy free lists per order and migratetype, and the owner under the
// pointer.
//
// Layer: web role, page side. Interface: memoryPanel(parent) -> update(sample). Rules: the map
// is a hand-written canvas, one pixel per frame (MAP_COLUMNS per row) scaled up by CSS with
// pixelated rendering, drawn with one putImageData per sample; hover reads the last frame map.

import { MIGRATETYPES, type MemoryView, type SlabRow, type ViewsSample } from "../../views-types.js";
import { el, esc, fmt, ownerColour, ownerName, panel, paletteRGBA } from "./dom.js";

/** Frames per row of the map (1 MiB per row). */
export const MAP_COLUMNS = 256;
/** CSS pixels per frame cell. */
const CELL_PX = 2;

export function memoryPanel(parent: HTMLElement): (s: ViewsSample) => void {
  const body = panel(parent, "view-memory", "Physical memory", "one cell per 4 KiB frame");
  const canvas = el("canvas", "memmap");
  canvas.id = "memmap";
  const hover = el("div", "hover", "hover a frame to name its owner");
  const legend = el("div", "legend");
  const buddy = el("table", "buddy");
  const summary = el("div", "summary");
  body.append(summary, canvas, hover, legend, buddy);
  const ctx = canvas.getContext("2d")!;
  const palette = paletteRGBA();
  let last: MemoryView | null = null;
  let slabs: readonly SlabRow[] = [];
  let image: ImageData | null = null;
  let legendKey = "";
  let legendCounts: HTMLElement[] = [];
  let buddyCells: HTMLTableCellElement[] = [];

  canvas.addEventListener("mousemove", (ev) => {
    if (last === null) return;
    const r = canvas.getBoundingClientRect();
    const x = Math.floor(((ev.clientX - r.left) / r.width) * canvas.width);
    const y = Math.floor(((ev.clientY - r.top) / r.height) * canvas.height);
    const pfn = y * MAP_COLUMNS + x;
    if (x < 0 || x >= MAP_COLUMNS || pfn >= last.frames.length) { hover.textContent = pfn < last.maxFrames ? `pfn ${pfn}: not present yet (hotplug)` : ""; return; }
    const addr = last.physBase + pfn * 4096;
    hover.textContent = `pfn ${pfn} @ 0x${addr.toString(16)}: ${ownerName(last.frames[pfn], slabs)}`;
  });

  return (s) => {
    const m = s.memory;
    if (m === null) return;
    last = m;
    slabs = s.slabs;
    const rows = Math.ceil(Math.max(m.maxFrames, m.frames.length) / MAP_COLUMNS);
    if (canvas.width !== MAP_COLUMNS || canvas.height !== rows) {
      canvas.width = MAP_COLUMNS;
      canvas.height = rows;
      canvas.style.width = `${MAP_COLUMNS * CELL_PX}px`;
      canvas.style.height = `${rows * CELL_PX}px`;
      image = null;
    }
    image ??= ctx.createImageData(MAP_COLUMNS, rows);
    const px = new Uint32Array(image.data.buffer);
    const n = m.frames.length;
    const hist = new Uint32Array(256);
    const frames = m.frames;
    for (let i = 0; i < n; i++) { const c = frames[i]; px[i] = palette[c]; hist[c]++; }
    px.fill(0xff181410, n); // frames not present yet: the background
    ctx.putImageData(image, 0, 0);

    summary.textContent = `${fmt(n)} frames present (${fmt(m.maxFrames)} at most), ${fmt(m.freePages)} free; ` +
      `kernel image and static data below 0x${m.physBase.toString(16)}${m.source === "fallback" ? " · read from the frame table" : ""}`;
    // legend: rebuilt when the set of owners changes, otherwise only its counts are rewritten
    const order: [number, number][] = [];
    hist.forEach((c, code) => { if (c > 0) order.push([code, c]); });
    const key = order.map(([c]) => c).join(",") + "|" + slabs.map((c) => c.name).join(",");
    if (key !== legendKey) {
      legendKey = key;
      legend.innerHTML = order.map(([code]) => `<span class=item><i class=swatch style="background:${ownerColour(code)}"></i>${esc(ownerName(code, slabs))} <b></b></span>`).join("") +
        `<span class=item><i class=swatch style="background:#101418;outline:1px solid #2a2f37"></i>not present yet (memory hotplug adds frames as the caches grow)</span>`;
      legendCounts = [...legend.querySelectorAll("b")];
    }
    order.forEach(([, c], i) => { const t = fmt(c); if (legendCounts[i].textContent !== t) legendCounts[i].textContent = t; });
    // buddy table: built once per shape, cells rewritten when they change
    const orders = m.blocks.length;
    if (buddyCells.length !== (orders + 1) * MIGRATETYPES.length + orders) {
      const head = `<tr><th>order</th>${Array.from({ length: orders }, (_, o) => `<th>${o}</th>`).join("")}<th>per-CPU</th></tr>`;
      const rowsHtml = MIGRATETYPES.map((mt) => `<tr><th>${mt}</th>${"<td></td>".repeat(orders + 1)}</tr>`).join("");
      buddy.innerHTML = `<caption>buddy free lists: free blocks of 2^order frames, by migratetype</caption>${head}${rowsHtml}<tr><th>frag ‰</th>${"<td></td>".repeat(orders)}</tr>`;
      buddyCells = [...buddy.querySelectorAll("td")];
    }
    const vals: string[] = [];
    MIGRATETYPES.forEach((_, i) => { for (const per of m.blocks) vals.push(fmt(per[i])); vals.push(fmt(m.pcp[i])); });
    for (const v of m.fragIndex) vals.push(v < 0 ? "–" : String(v));
    vals.forEach((v, i) => { if (buddyCells[i].textContent !== v) buddyCells[i].textContent = v; });
  };
}
