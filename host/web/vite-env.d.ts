// host/web/vite-env.d.ts -- module types of the asset imports Vite resolves at build time.

/** `import url from "x.wasm?url"`: the built asset's URL, relative to the page. */
declare module "*?url" {
  const url: string;
  export default url;
}
