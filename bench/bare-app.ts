/**
 * The HTTP benchmark's baseline app, shared by its three servers (bare.ts on Deno.serve,
 * bare-bun.ts on Bun.serve, bare-node.ts on @hono/node-server): a Hono app whose OTLP routes only
 * read the request body and answer 200 with an empty (valid) Export*ServiceResponse. Whatever the
 * real server costs beyond this, on the same runtime, is our overhead.
 */
import { Hono } from "hono";
import { readBody } from "../src/http/body.ts";

/** The bodies' limit, as the server's default server.max_payload_bytes. */
export const BODY_LIMIT = 20 << 20;

export const app = new Hono();
app.post("/v1/:signal", async (c) => {
  // As the real app reads it (on Node: the bytes the entry already took off the socket).
  await readBody(c.req.raw, BODY_LIMIT);
  return c.body(new Uint8Array(0), 200, { "content-type": "application/x-protobuf" });
});
app.get("/health", (c) => c.text("ok"));

/** The start-up line bench/http.ts waits for. */
export const listeningLine = (port: number) => `listening on http://127.0.0.1:${port}`;
