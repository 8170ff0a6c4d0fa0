/**
 * The app's answers that do not depend on decoding succeeding: probes, routing, content
 * negotiation, limits, auth, and the google.rpc.Status bodies of errors.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  decodeStatusPb,
  gzip,
  jsonBytes,
  logsJson,
  logsPb,
  makeApp,
  send,
  testConfig,
  zstd,
} from "./fixtures.ts";

const MiB = 1024 * 1024;
const PB = { "content-type": "application/x-protobuf" };
const JSON_CT = { "content-type": "application/json" };

Deno.test("GET /health answers 200 with the status and version", async () => {
  const { app } = makeApp();
  const a = await send(app, "/health", { method: "GET" });
  strictEqual(a.status, 200);
  deepStrictEqual(a.json(), { status: "ok", version: "9.9.9-test" });
  const head = await send(app, "/health", { method: "HEAD" });
  strictEqual(head.status, 200);
});

Deno.test("GET /health stays 200 while storage is failing", async () => {
  const { app, storage } = makeApp();
  storage.failCheck = new Error("bucket gone");
  strictEqual((await send(app, "/health", { method: "GET" })).status, 200);
});

Deno.test("GET /ready answers 200 when the storage check passes", async () => {
  const { app, storage } = makeApp();
  const a = await send(app, "/ready", { method: "GET" });
  strictEqual(a.status, 200);
  deepStrictEqual(a.json(), { status: "ready", storage: "switch" });
  strictEqual(storage.checks, 1);
});

Deno.test("GET /ready answers 503 naming the storage problem, then recovers by itself", async () => {
  const { app, storage, clock } = makeApp();
  storage.failCheck = new Error('Cannot reach bucket "otel": connect ECONNREFUSED');
  const a = await send(app, "/ready", { method: "GET" });
  strictEqual(a.status, 503);
  const body = a.json();
  strictEqual(body.status, "unavailable");
  strictEqual(body.storage, "switch");
  ok(
    String(body.error).includes('Cannot reach bucket "otel": connect ECONNREFUSED'),
    String(body.error),
  );
  // Still failing within the cache period even though storage is back: the result is reused.
  storage.failCheck = null;
  clock.ns += 500_000_000n;
  strictEqual((await send(app, "/ready", { method: "GET" })).status, 503);
  strictEqual(storage.checks, 1);
  // After a second the check runs again and passes.
  clock.ns += 600_000_000n;
  strictEqual((await send(app, "/ready", { method: "GET" })).status, 200);
  strictEqual(storage.checks, 2);
});

Deno.test("GET /ready answers 503 when the storage check hangs", async () => {
  const { app, storage } = makeApp({ config: testConfig((c) => c.storage.retry.timeout_ms = 50) });
  let release = () => {};
  storage.check = () => new Promise<void>((resolve) => release = resolve);
  const t = performance.now();
  const a = await send(app, "/ready", { method: "GET" });
  strictEqual(a.status, 503);
  ok(String(a.json().error).includes("no answer within 50 ms"), a.text);
  ok(performance.now() - t < 1000);
  release();
});

Deno.test("GET /ready checks storage once for a flood of probes", async () => {
  const { app, storage } = makeApp();
  const answers = await Promise.all(
    Array.from({ length: 50 }, () => send(app, "/ready", { method: "GET" })),
  );
  ok(answers.every((a) => a.status === 200));
  strictEqual(storage.checks, 1);
});

Deno.test("an unknown route answers 404 with a Status body", async () => {
  const { app } = makeApp();
  const a = await send(app, "/v1/profiles", { body: "{}", headers: JSON_CT });
  strictEqual(a.status, 404);
  const s = a.json();
  strictEqual(s.code, 5);
  ok(String(s.message).includes("/v1/profiles"));
  deepStrictEqual(s.details, []);
});

Deno.test("a wrong method answers 405 with Allow and a Status body", async () => {
  const { app } = makeApp();
  const a = await send(app, "/v1/logs", { method: "GET" });
  strictEqual(a.status, 405);
  strictEqual(a.headers.get("allow"), "POST");
  strictEqual(a.json().code, 12);
  const b = await send(app, "/health", { method: "POST", body: "x" });
  strictEqual(b.status, 405);
  strictEqual(b.headers.get("allow"), "GET, HEAD");
});

Deno.test("POST with an unsupported Content-Type answers 415 naming it", async () => {
  const { app, storage } = makeApp();
  const a = await send(app, "/v1/logs", {
    body: "hello",
    headers: { "content-type": "text/plain" },
  });
  strictEqual(a.status, 415);
  strictEqual(a.headers.get("content-type"), "application/json");
  const s = a.json();
  strictEqual(s.code, 3);
  ok(String(s.message).includes('"text/plain"'), String(s.message));
  strictEqual(storage.puts, 0);
});

Deno.test("POST with an unsupported Content-Encoding answers 415 naming it, in protobuf", async () => {
  const { app } = makeApp();
  const a = await send(app, "/v1/traces", {
    body: logsPb(),
    headers: { ...PB, "content-encoding": "br" },
  });
  strictEqual(a.status, 415);
  strictEqual(a.headers.get("content-type"), "application/x-protobuf");
  const s = await decodeStatusPb(a.body);
  strictEqual(s.code, 3);
  ok(s.message.includes('"br"'), s.message);
  deepStrictEqual(s.details, []);
});

Deno.test("POST over the limit by Content-Length answers 413 before reading", async () => {
  const { app } = makeApp({ config: testConfig((c) => c.server.max_payload_bytes = MiB) });
  const body = new Uint8Array(2 * MiB);
  const a = await send(app, "/v1/logs", {
    body,
    headers: { ...PB, "content-length": String(body.length) },
  });
  strictEqual(a.status, 413);
  const s = await decodeStatusPb(a.body);
  strictEqual(s.code, 3);
  ok(s.message.includes("2097152 bytes") && s.message.includes("1048576"), s.message);
});

Deno.test("POST over the limit as a stream without Content-Length answers 413", async () => {
  const { app } = makeApp({ config: testConfig((c) => c.server.max_payload_bytes = MiB) });
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled >= 64 * MiB) return c.close();
      pulled += 64 * 1024;
      c.enqueue(new Uint8Array(64 * 1024));
    },
  }, { highWaterMark: 0 });
  const a = await send(app, "/v1/logs", { body: stream, headers: JSON_CT });
  strictEqual(a.status, 413);
  strictEqual(a.json().code, 3);
  ok(pulled < 2 * MiB, `read ${pulled} bytes`);
});

Deno.test("a gzip bomb answers 413 quickly", async () => {
  const { app, storage } = makeApp({ config: testConfig((c) => c.server.max_payload_bytes = MiB) });
  const bomb = gzip(new Uint8Array(256 * MiB)); // ~250 KB
  const t = performance.now();
  const a = await send(app, "/v1/logs", {
    body: bomb,
    headers: { ...PB, "content-encoding": "gzip" },
  });
  const ms = performance.now() - t;
  strictEqual(a.status, 413);
  ok((await decodeStatusPb(a.body)).message.includes("Decompressed gzip body"));
  ok(ms < 1000, `took ${ms} ms`);
  strictEqual(storage.puts, 0);
});

Deno.test("a zstd bomb answers 413 quickly", async () => {
  const { app } = makeApp({ config: testConfig((c) => c.server.max_payload_bytes = MiB) });
  const bomb = zstd(new Uint8Array(256 * MiB));
  const t = performance.now();
  const a = await send(app, "/v1/logs", {
    body: bomb,
    headers: { ...JSON_CT, "content-encoding": "zstd" },
  });
  strictEqual(a.status, 413);
  ok(performance.now() - t < 1000);
});

Deno.test("corrupt gzip answers 400 with a protobuf Status naming the encoding", async () => {
  const { app } = makeApp();
  const a = await send(app, "/v1/metrics", {
    body: new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    headers: { ...PB, "content-encoding": "gzip" },
  });
  strictEqual(a.status, 400);
  strictEqual(a.headers.get("content-type"), "application/x-protobuf");
  const s = await decodeStatusPb(a.body);
  strictEqual(s.code, 3);
  ok(s.message.startsWith("Cannot decompress gzip body"), s.message);
});

Deno.test("auth: a missing bearer token answers 401 with WWW-Authenticate", async () => {
  const { app, storage } = makeApp({ config: testConfig((c) => c.auth.bearer_token = "s3cret") });
  const a = await send(app, "/v1/logs", { body: jsonBytes(logsJson()), headers: JSON_CT });
  strictEqual(a.status, 401);
  strictEqual(a.headers.get("www-authenticate"), 'Bearer realm="otlp2parquet"');
  const s = a.json();
  strictEqual(s.code, 16);
  ok(String(s.message).startsWith("Missing credentials"), String(s.message));
  strictEqual(storage.puts, 0);
});

Deno.test("auth: a wrong bearer token answers 401, in protobuf for protobuf requests", async () => {
  const { app } = makeApp({ config: testConfig((c) => c.auth.bearer_token = "s3cret") });
  for (const token of ["s3cre", "s3cret2", "S3CRET", ""]) {
    const a = await send(app, "/v1/logs", {
      body: logsPb(),
      headers: { ...PB, authorization: `Bearer ${token}` },
    });
    strictEqual(a.status, 401, token);
    const s = await decodeStatusPb(a.body);
    strictEqual(s.code, 16);
  }
  const basic = await send(app, "/v1/logs", {
    body: logsPb(),
    headers: { ...PB, authorization: `Basic ${btoa("u:s3cret")}` },
  });
  strictEqual(basic.status, 401);
  ok((await decodeStatusPb(basic.body)).message.includes('scheme "Basic" is not accepted'));
});

Deno.test("auth: missing or wrong basic credentials answer 401", async () => {
  const { app } = makeApp({
    config: testConfig((c) => {
      c.auth.basic_username = "otel";
      c.auth.basic_password = "pä55:word";
    }),
  });
  const missing = await send(app, "/v1/traces", { body: "{}", headers: JSON_CT });
  strictEqual(missing.status, 401);
  strictEqual(
    missing.headers.get("www-authenticate"),
    'Basic realm="otlp2parquet", charset="UTF-8"',
  );
  for (const creds of ["otel:pä55:wor", "otel:", "other:pä55:word", "not base64!"]) {
    const value = creds === "not base64!" ? creds : utf8Base64(creds);
    const a = await send(app, "/v1/traces", {
      body: "{}",
      headers: { ...JSON_CT, authorization: `Basic ${value}` },
    });
    strictEqual(a.status, 401, creds);
    strictEqual(a.json().code, 16);
  }
});

Deno.test("auth: probes are not behind auth", async () => {
  const { app } = makeApp({ config: testConfig((c) => c.auth.bearer_token = "s3cret") });
  strictEqual((await send(app, "/health", { method: "GET" })).status, 200);
  strictEqual((await send(app, "/ready", { method: "GET" })).status, 200);
});

Deno.test("auth: with both bearer and basic configured, 401 offers both challenges", async () => {
  const { app } = makeApp({
    config: testConfig((c) => {
      c.auth.bearer_token = "t";
      c.auth.basic_username = "u";
      c.auth.basic_password = "p";
    }),
  });
  const a = await send(app, "/v1/logs", { body: "{}", headers: JSON_CT });
  strictEqual(a.status, 401);
  const challenges = a.headers.get("www-authenticate") ?? "";
  ok(challenges.includes("Bearer") && challenges.includes("Basic"), challenges);
});

Deno.test("requests are logged at debug without the payload, failures at warn", async () => {
  const { app, logger, storage } = makeApp();
  await send(app, "/v1/logs", {
    body: "secret-payload",
    headers: { "content-type": "text/plain" },
  });
  const line = logger.find("request")[0];
  ok(line, JSON.stringify(logger.lines));
  strictEqual(line.level, "debug");
  strictEqual(line.fields?.status, 415);
  strictEqual(line.fields?.path, "/v1/logs");
  strictEqual(line.fields?.content_type, "text/plain");
  ok(!JSON.stringify(logger.lines).includes("secret-payload"));
  storage.failCheck = new Error("down");
  await send(app, "/ready", { method: "GET" });
  const warn = logger.find("request failed")[0];
  strictEqual(warn.level, "warn");
  strictEqual(warn.fields?.status, 503);
});

function utf8Base64(s: string): string {
  let bin = "";
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}
