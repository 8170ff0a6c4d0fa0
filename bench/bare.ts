/**
 * The HTTP benchmark's baseline on Deno: the bare Hono app (./bare-app.ts: reads the body,
 * answers 200) on Deno.serve. Twins: ./bare-bun.ts (Bun.serve), ./bare-node.ts (Node).
 *
 *   deno run --allow-net bench/bare.ts [PORT]     (default 0: any free port; loopback only)
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; SIGTERM stops it.
 */
import { app, listeningLine } from "./bare-app.ts";

const port = Number(Deno.args[0] ?? 0);
const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ port }) => console.log(listeningLine(port)),
}, app.fetch);
Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
