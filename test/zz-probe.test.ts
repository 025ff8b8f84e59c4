import { it } from "vitest";
import { startWeb, openPage, lastBoot, waitForPrompt } from "./browser.js";
it("probe", async () => {
  const env = await startWeb();
  for (let i = 0; i < 3; i++) {
  const ctx = await env.newContext();
  const page = await ctx.newPage();
  page.on("console", (m) => console.log("console:", m.text()));
  await openPage(page, env.url);
  console.log(await lastBoot(page));
  await page.reload(); await waitForPrompt(page);
  console.log(await lastBoot(page));
  await ctx.close();
  }
  await env.close();
}, 120000);
