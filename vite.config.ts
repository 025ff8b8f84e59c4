// vite.config.ts -- the browser demo's build (`npm run build:web`): host/web/ into dist/web/,
// with relative URLs so the folder works from any path of any static host.
import { defineConfig } from "vite";

export default defineConfig({
  root: "host/web",
  base: "./",
  publicDir: false,
  build: { outDir: "../../dist/web", emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 2048 },
  worker: { format: "es" },
  server: { fs: { allow: ["../.."] } },
});
