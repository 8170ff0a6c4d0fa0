/**
 * The HTTP benchmark's baseline on Node: the bare Hono app (./bare-app.ts: reads the body,
 * answers 200) served by src/entry/platform.ts's listen(), as the real app is on Node.
 * Node 20 does not run TypeScript: bench/http.ts bundles this file with esbuild first, as the
 * server itself is bundled (dist/node/main.mjs).
 *
 *   node bare-node.mjs [PORT]     (default 0: any free port; loopback only)
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; SIGTERM stops it.
 */
import process from "node:process";
import { listen } from "../src/entry/platform.ts";
import { app, BODY_LIMIT, listeningLine } from "./bare-app.ts";

const server = await listen(app.fetch, "127.0.0.1", Number(process.argv[2] ?? 0), (e) => {
  console.error(e);
}, BODY_LIMIT);
console.log(listeningLine(server.port));
process.on("SIGTERM", () => {
  server.close();
  process.exit(0);
});
