// vite.config.ts -- the browser demo's build (`npm run build:web`): host/web/ into dist/web/,
// with relative URLs so the folder works from any path of any static host.
import { defineConfig } from "vite";

export default defineConfig({
  root: "host/web",
  base: "./",
  publicDir: false,
  build: { outDir: "../../dist/web", emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 2048 },
  // host/fs imports Node's `stream` and `events` by their bare names: Node resolves them to its
  // built-ins; the browser build gets the npm packages that are the same code (readable-stream
  // is Node's streams, events is Node's EventEmitter).
  resolve: { alias: { stream: "readable-stream", events: "events/" } },
  worker: { format: "es" },
  server: { fs: { allow: ["../.."] } },
});
