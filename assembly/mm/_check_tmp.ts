export * from "./buddy";
export * from "./slab";
export * from "./bench";
export * from "./page";
