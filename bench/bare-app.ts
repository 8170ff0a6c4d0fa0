/**
 * The HTTP benchmark's baseline app, shared by its three servers (bare.ts on Deno.serve,
 * bare-bun.ts on Bun.serve, bare-node.ts on @hono/node-server): a Hono app whose OTLP routes only
 * read the request body and answer 200 with an empty (valid) Export*ServiceResponse. Whatever the
 * real server costs beyond this, on the same runtime, is our overhead.
 */
import { Hono } from "hono";

export const app = new Hono();
app.post("/v1/:signal", async (c) => {
  await c.req.arrayBuffer();
  return c.body(new Uint8Array(0), 200, { "content-type": "application/x-protobuf" });
});
app.get("/health", (c) => c.text("ok"));

/** The start-up line bench/http.ts waits for. */
export const listeningLine = (port: number) => `listening on http://127.0.0.1:${port}`;
