// host/web/page/main.ts -- the page: starts the kernel's worker, mounts the terminal, the
// header's actions (reboot, reformat, download and upload an image) and the feature panels.
//
// Layer: web role, page entry (bundled by Vite). Interface: the DOM of host/web/index.html;
// `window.helix` exposes the bus and terminal for the end-to-end tests. Rules: the page never
// waits on the kernel (everything goes through messages); a fatal error shows one line with
// the reboot and reformat buttons, and the page keeps working.

import { Bus } from "./bus.js";
import { mountTerminal, type PageTerminal } from "./terminal.js";
import { mountViews } from "./views/index.js";
import { mountPower } from "./power.js";
import { mountCrash } from "./crash.js";
import { mountDrop, readDrop } from "./drop.js";

/** The page's features: each mounts its panel and subscribes to its messages. */
export type Feature = (views: HTMLElement, bus: Bus, term: PageTerminal) => void;

/** Features mounted into #views (each feature module adds itself here). */
const FEATURES: Feature[] = [mountViews, mountPower, mountCrash];

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function main(): void {
  const bus = new Bus(() => new Worker(new URL("../worker.ts", import.meta.url), { type: "module" }));
  const term = mountTerminal($("terminal"), bus);
  const status = $("status"), notice = $("notice"), fatal = $("fatal");
  /** The last `booted` message (the end-to-end test reads its times). */
  let lastBoot: unknown = null;

  bus.on("booted", (m) => {
    lastBoot = m;
    fatal.hidden = true;
    status.textContent = `booted in ${Number(m.bootMs).toFixed(0)} ms (${Number(m.readyMs).toFixed(0)} ms after the worker started), ` +
      `image ${(Number(m.imageBytes) / 2 ** 20).toFixed(0)} MiB in ${m.backend === "opfs" ? "OPFS" : "memory"}`;
    notice.hidden = m.notice === null;
    notice.textContent = m.notice === null ? "" : String(m.notice);
  });
  bus.on("fatal", (m) => {
    fatal.hidden = false;
    fatal.textContent = `${String(m.message)} (Reboot to try again, Reformat to start from an empty image)`;
    status.textContent = "stopped";
  });
  bus.on("error", (m) => term.write(`\x1b[31mhelix: ${String(m.message)}\x1b[0m\n`));

  // a worker that failed outside the kernel's guard is replaced; its new one boots by itself
  const boot = (format: boolean) => {
    status.textContent = format ? "formatting…" : "booting…";
    if (!bus.broken) { bus.send({ type: "boot", format }); return; }
    bus.restart();
    if (format) bus.send({ type: "boot", format });
  };
  $("btn-reboot").onclick = () => boot(false);
  $("btn-reformat").onclick = () => { if (confirm("Erase the image and make a new filesystem?")) boot(true); };
  $("btn-download").onclick = () => bus.send({ type: "image.download" });
  bus.on("image.bytes", (m) => save(String(m.name), m.bytes as ArrayBuffer));
  bus.on("file.bytes", (m) => save(String(m.name), m.bytes as ArrayBuffer));
  const upload = $<HTMLInputElement>("upload");
  upload.onchange = async () => {
    const f = upload.files?.[0];
    if (f === undefined) return;
    upload.value = "";
    let bytes: ArrayBuffer;
    try {
      bytes = await f.arrayBuffer();
    } catch (err) {
      term.write(`\x1b[31mhelix: ${f.name}: cannot read the file: ${(err as Error)?.message ?? String(err)}\x1b[0m\n`);
      return;
    }
    bus.send({ type: "image.upload", name: f.name, bytes }, [bytes]);
  };

  // leaving or reloading: the worker unmounts cleanly if it gets the time (the commit timer
  // bounds what is lost when it does not)
  addEventListener("pagehide", () => bus.send({ type: "shutdown" }));
  mountDrop($("terminal"), bus, (line) => term.write(`\x1b[31mhelix: ${line}\x1b[0m\n`));

  for (const feature of FEATURES) feature($("views"), bus, term);
  (window as unknown as { helix: unknown }).helix = { bus, term, lastBoot: () => lastBoot, readDrop };
}

/** Offers `bytes` as a download named `name`. */
function save(name: string, bytes: ArrayBuffer): void {
  const url = URL.createObjectURL(new Blob([bytes]));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

main();
