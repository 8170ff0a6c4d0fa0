/**
 * The HTTP benchmark's baseline on Bun: the bare Hono app (./bare-app.ts: reads the body,
 * answers 200) on Bun.serve, the way src/entry/platform.ts serves the real app on Bun.
 *
 *   node_modules/.bin/bun run bench/bare-bun.ts [PORT]   (default 0: any free port; loopback only)
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready; SIGTERM stops it.
 */
import process from "node:process";
import { app, listeningLine } from "./bare-app.ts";

declare const Bun: {
  serve(o: {
    hostname: string;
    port: number;
    fetch: (req: Request) => Response | Promise<Response>;
    maxRequestBodySize?: number;
  }): { port: number; stop(closeActive?: boolean): Promise<void> };
};

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  fetch: app.fetch,
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
});
console.log(listeningLine(server.port));
process.on("SIGTERM", async () => {
  await server.stop(true);
  process.exit(0);
});
