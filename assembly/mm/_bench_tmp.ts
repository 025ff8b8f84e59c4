export * from "./buddy";
export * from "./slab";
export * from "./bench";
import { mm_init } from "./buddy";
export function setup(mib: u32): void {
  let start = <usize>memory.size() << 16;
  memory.grow(<i32>(mib << 4));
  mm_init(start, <usize>memory.size() << 16, start + (<usize>mib << 20) * 2);
}
