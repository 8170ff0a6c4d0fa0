/**
 * The observability endpoints in the app: open like /health by default, behind the configured
 * auth with server.metrics_auth = true, absent with server.metrics = false; the app built by
 * `assemble()` as every entry builds it (memory storage, write-through).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { assemble } from "../../src/entry/assemble.ts";
import { silentLogger } from "../../src/log/log.ts";
import { createMemoryStorage } from "../../src/storage/memory.ts";
import { parseExposition } from "../helpers/prometheus.ts";

async function appWith(env: Record<string, string>) {
  const config = loadConfig({
    platform: "server",
    env: { OTLP2PARQUET_BATCH_ENABLED: "false", OTLP2PARQUET_STORAGE_BACKEND: "memory", ...env },
  });
  return (await assemble(config, silentLogger, { storage: createMemoryStorage() })).app;
}

const PATHS = ["/metrics", "/api/stats", "/dashboard"];

Deno.test("/metrics, /api/stats and /dashboard are open by default, even when exports need auth", async () => {
  const app = await appWith({ OTLP2PARQUET_AUTH_BEARER_TOKEN: "s3cret" });
  for (const p of PATHS) strictEqual((await app.request(p)).status, 200, p);
  strictEqual((await app.request("/v1/logs", { method: "POST", body: "{}" })).status, 401);
  const html = await app.request("/dashboard");
  ok(html.headers.get("content-type")?.startsWith("text/html"));
  ok(html.headers.get("content-security-policy")?.includes("default-src 'none'"));
  const stats = await (await app.request("/api/stats")).json();
  deepStrictEqual(stats.totals.records, { logs: 0, traces: 0, metrics: 0 });
  strictEqual((await app.request("/metrics", { method: "POST" })).status, 405);
});

Deno.test("server.metrics_auth = true puts them behind the bearer token or basic credentials", async () => {
  const app = await appWith({
    OTLP2PARQUET_AUTH_BEARER_TOKEN: "s3cret",
    OTLP2PARQUET_AUTH_BASIC_USERNAME: "ops",
    OTLP2PARQUET_AUTH_BASIC_PASSWORD: "pw",
    OTLP2PARQUET_SERVER_METRICS_AUTH: "true",
  });
  for (const p of PATHS) {
    const r = await app.request(p);
    strictEqual(r.status, 401, p);
    ok(r.headers.get("www-authenticate")?.includes("Bearer"), p);
    ok(/Missing credentials/.test((await r.json()).message), p);
    strictEqual(
      (await app.request(p, { headers: { authorization: "Bearer wrong" } })).status,
      401,
      p,
    );
    strictEqual(
      (await app.request(p, { headers: { authorization: "Bearer s3cret" } })).status,
      200,
      p,
    );
    strictEqual(
      (await app.request(p, { headers: { authorization: `Basic ${btoa("ops:pw")}` } })).status,
      200,
      p,
    );
  }
  strictEqual((await app.request("/health")).status, 200);
  // The metrics still count the refused scrapes.
  const m = parseExposition(
    await (await app.request("/metrics", { headers: { authorization: "Bearer s3cret" } })).text(),
  );
  strictEqual(
    m.value("otlp2parquet_requests_total", { transport: "http", route: "/metrics", code: "401" }),
    2,
  );
});

Deno.test("server.metrics = false: no endpoints (404), nothing counted", async () => {
  const app = await appWith({ OTLP2PARQUET_SERVER_METRICS: "false" });
  for (const p of PATHS) strictEqual((await app.request(p)).status, 404, p);
  strictEqual((await app.request("/health")).status, 200);
});
