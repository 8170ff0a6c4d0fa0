/**
 * The HTTP benchmark's baseline on Node: the bare Hono app (./bare-app.ts: reads the body,
 * answers 200) on @hono/node-server, the way src/runtime/platform.ts serves the real app on Node.
 * Node 20 does not run TypeScript: bench/http.ts bundles this file with esbuild first, as the
 * server itself is bundled (dist/node/main.mjs).
 *
 *   node bare-node.mjs [PORT]     (default 0: any free port; loopback only)
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; SIGTERM stops it.
 */
import process from "node:process";
import { serve } from "@hono/node-server";
import { app, listeningLine } from "./bare-app.ts";

const server = serve(
  { fetch: app.fetch, hostname: "127.0.0.1", port: Number(process.argv[2] ?? 0) },
  (info) => console.log(listeningLine(info.port)),
);
process.on("SIGTERM", () => {
  server.close();
  (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  process.exit(0);
});
