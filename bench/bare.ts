/**
 * The HTTP benchmark's baseline: a bare Hono endpoint on Deno.serve that only reads the request
 * body and answers 200 with an empty (valid) Export*ServiceResponse. Whatever the real server
 * costs beyond this is our overhead.
 *
 *   deno run --allow-net bench/bare.ts [PORT]     (default 0: any free port; loopback only)
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready.
 */
import { Hono } from "hono";

const app = new Hono();
app.post("/v1/:signal", async (c) => {
  await c.req.arrayBuffer();
  return c.body(new Uint8Array(0), 200, { "content-type": "application/x-protobuf" });
});
app.get("/health", (c) => c.text("ok"));

const port = Number(Deno.args[0] ?? 0);
const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
}, app.fetch);
Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
