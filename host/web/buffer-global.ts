// host/web/buffer-global.ts -- installs the `buffer` package's Buffer as the global Node has.
//
// Layer: web role, imported FIRST by the worker entry (module evaluation follows import order,
// and host/shell/tree.ts makes a Buffer when it loads). Interface: none (a side effect).
// Rules: never replaces an existing global Buffer (under Node, vitest keeps Node's).

import { Buffer } from "buffer";

const g = globalThis as { Buffer?: unknown };
if (g.Buffer === undefined) g.Buffer = Buffer;
