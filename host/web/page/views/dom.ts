// host/web/page/views/dom.ts -- small DOM and colour helpers the view panels share.
//
// Layer: web role, page side. Interface: panel(), el(), fmt(), the owner palette (ownerColour,
// ownerName). Rules: no framework; a panel's update writes only what changed where it is cheap
// to tell, and rebuilds small tables whole (at 10 Hz, a few dozen rows cost well under 1 ms).

import { FRAME_OWNER_NAMES, FRAME_SLAB, type SlabRow } from "../../views-types.js";

/** Makes an element with a class and text. */
/** An element with attributes (id, type, placeholder, ...) and optional text: the panels' controls. */
export function elWith<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== "") e.textContent = text;
  return e;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

/** A titled panel appended to `parent`; returns its body. */
export function panel(parent: HTMLElement, id: string, title: string, hint = ""): HTMLElement {
  const p = el("section", "panel");
  p.id = id;
  const h = el("h2", "", title);
  if (hint) h.append(el("span", "hint", hint));
  p.append(h);
  const body = el("div", "panel-body");
  p.append(body);
  parent.append(p);
  return body;
}

/** 12345 -> "12,345"; -1 (not known from this source) -> "–". */
export function fmt(n: number): string { return n < 0 ? "–" : n.toLocaleString("en-US"); }

/** Bytes as B/KiB/MiB/GiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ["KiB", "MiB", "GiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}

/** Sets `e`'s HTML when it differs from the last set (a string compare instead of a DOM parse and relayout). */
export function setHTML(e: HTMLElement, html: string): void {
  const d = e as HTMLElement & { _html?: string };
  if (d._html === html) return;
  d._html = html;
  e.innerHTML = html;
}

/** Sets `e`'s text when it differs. */
export function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

/**
 * Fills `table` with `rows` of cell texts under a header row `head`, reusing its rows and cells:
 * only cells whose text changed are written, rows are added or removed at the end (a full
 * innerHTML would re-parse and re-lay out the table at every sample). `cls[i]` is the class of
 * column i ("l" left-aligned). Returns the body rows, for callers that decorate them.
 */
export function fillTable(table: HTMLTableElement, head: string[], rows: string[][], cls: string[] = []): HTMLTableRowElement[] {
  const t = table as HTMLTableElement & { _head?: string };
  const key = head.join("\u0000");
  if (t._head !== key) {
    t._head = key;
    table.replaceChildren();
    const tr = table.insertRow();
    head.forEach((h, i) => { const th = el("th", cls[i] ?? "", h); tr.append(th); });
  }
  while (table.rows.length - 1 > rows.length) table.deleteRow(-1);
  rows.forEach((cells, r) => {
    const tr = table.rows[r + 1] ?? table.insertRow();
    cells.forEach((text, c) => {
      const td = tr.cells[c] ?? (() => { const d = tr.insertCell(); d.className = cls[c] ?? ""; return d; })();
      if (td.textContent !== text) td.textContent = text;
    });
  });
  return [...table.rows].slice(1);
}

/** HTML-escaped text. */
export function esc(s: string): string { return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!); }

/** Colours of the fixed owner codes (views-types.ts FRAME_OWNER_NAMES), as CSS hex. */
const FIXED: Record<number, string> = {
  0: "#2e7d32", 1: "#43a047", 2: "#66bb6a", 3: "#a5d6a7",
  4: "#4c566a", 5: "#5e6b85", 6: "#8e44ad", 7: "#16a085", 8: "#8d6e63", 9: "#ef6c00", 10: "#ec407a",
  16: "#1e88e5", 17: "#e53935", 18: "#26c6da", 19: "#fdd835", 20: "#ffb300", 255: "#ffffff",
};

/** The colour of owner `code`: fixed ones above, slab caches by golden-angle hue. */
export function ownerColour(code: number): string {
  const f = FIXED[code];
  if (f !== undefined) return f;
  if (code >= FRAME_SLAB) return `hsl(${((code - FRAME_SLAB) * 137.5) % 360}, 55%, 62%)`;
  return "#000000";
}

/** Owner names for a legend and the hover line; slab codes name their cache. */
export function ownerName(code: number, slabs: readonly SlabRow[]): string {
  if (code >= FRAME_SLAB && code < 255) return `slab: ${slabs[code - FRAME_SLAB]?.name ?? `cache ${code - FRAME_SLAB}`}`;
  return FRAME_OWNER_NAMES[code] ?? `owner ${code}`;
}

/** RGBA (little-endian u32 for ImageData) of every code, from ownerColour. */
export function paletteRGBA(): Uint32Array {
  const c = document.createElement("canvas").getContext("2d")!;
  const out = new Uint32Array(256);
  for (let code = 0; code < 256; code++) {
    c.fillStyle = ownerColour(code);
    c.fillRect(0, 0, 1, 1);
    const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
    out[code] = (255 << 24) | (b << 16) | (g << 8) | r;
  }
  return out;
}
