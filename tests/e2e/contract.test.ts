/**
 * Server mode end to end, the rest of the HTTP contract: OTLP/JSON leniencies, empty requests,
 * routes and probes, and concurrent requests in write-through mode.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { listParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import {
  assertError,
  assertJsonOk,
  attrs,
  filesOf,
  logsRequest,
  post,
  postJson,
  PROTO_TYPE,
  readNs,
  rowsOf,
  sv,
  text,
  uniqueService,
} from "./support.ts";

Deno.test("lenient OTLP/JSON: base64 ids, enum names, integers as numbers, unknown fields", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("lenient");
    // ids 5b8efff798038103d269b633813fc60c / eee19b7ec3c1b174 in base64
    const body = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{
      "stringValue":"${service}"}}]},"scopeSpans":[{"scope":{"name":"s","futureField":[1]},"spans":[{
      "traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ=","name":"b64","kind":"SPAN_KIND_SERVER",
      "startTimeUnixNano":1700000000000000000,"endTimeUnixNano":"1700000000000000250",
      "status":{"code":"STATUS_CODE_ERROR","message":"m"},"unknownField":{"x":1},
      "events":[{"timeUnixNano":"1700000000000000100","name":"e","droppedAttributesCount":0}]}]}]}]}`;
    assertJsonOk(await post(`${srv.url}/v1/traces`, body, { "content-type": "application/json" }));
    const files = await filesOf(srv, "traces", service);
    const [r] = await rowsOf(files);
    deepStrictEqual(
      [r.TraceId, r.SpanId, r.SpanKind, r.StatusCode, r.StatusMessage, r.Duration],
      ["5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "Server", "Error", "m", 250n],
    );
    deepStrictEqual(r["Events.Name"], ["e"]);
    const [exact] = await readNs(files[0], ["Timestamp"]);
    strictEqual(exact.Timestamp, 1_700_000_000_000_000_000n);
  });
});

Deno.test({
  name: "a JSON integer beyond 2^53 is stored exactly or rejected, never rounded",
  async fn() {
    await withServer({}, async (srv) => {
      const service = uniqueService("bigint-json");
      const body = JSON.stringify(logsRequest(service, [{ timeUnixNano: "T", body: sv("x") }]))
        .replace('"T"', "1700000000123456789");
      const a = await post(`${srv.url}/v1/logs`, body, { "content-type": "application/json" });
      if (a.status === 400) return void assertError(a, 400, "json", /timeUnixNano/);
      assertJsonOk(a);
      const [r] = await readNs((await filesOf(srv, "logs", service))[0], ["Timestamp"]);
      strictEqual(r.Timestamp, 1_700_000_000_123_456_789n);
    });
  },
});

Deno.test("empty export requests are accepted and write nothing", async () => {
  await withServer({}, async (srv) => {
    assertJsonOk(await postJson(srv, "/v1/logs", {}));
    assertJsonOk(await postJson(srv, "/v1/traces", { resourceSpans: [] }));
    assertJsonOk(await postJson(srv, "/v1/metrics", { resourceMetrics: [{ scopeMetrics: [] }] }));
    const pb = await post(`${srv.url}/v1/metrics`, new Uint8Array(0), PROTO_TYPE);
    strictEqual(pb.status, 200, text(pb.body));
    strictEqual(pb.body.length, 0);
    deepStrictEqual(await listParquet(srv.output), []);
  });
});

Deno.test("probes and routes: /health and /ready 200, GET on an endpoint 405, unknown path 404", async () => {
  await withServer({}, async (srv) => {
    for (const path of ["/health", "/ready"]) {
      const r = await fetch(`${srv.url}${path}`);
      await r.body?.cancel();
      strictEqual(r.status, 200, path);
    }
    const get = await fetch(`${srv.url}/v1/logs`);
    const getAnswer = {
      status: get.status,
      headers: get.headers,
      body: new Uint8Array(await get.arrayBuffer()),
      ms: 0,
    };
    assertError(getAnswer, 405);
    const nope = await post(`${srv.url}/v1/nope`, "{}", { "content-type": "application/json" });
    assertError(nope, 404);
  });
});

Deno.test("30 concurrent requests are all stored, each before its 200", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("concurrent");
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        postJson(srv, "/v1/logs", {
          resourceLogs: [{
            resource: { attributes: attrs({ "service.name": service }) },
            scopeLogs: [{
              logRecords: [{
                timeUnixNano: `17000000000000000${String(i).padStart(2, "0")}`,
                body: sv(`r${i}`),
              }],
            }],
          }],
        })),
    );
    for (const a of answers) assertJsonOk(a);
    const files = await filesOf(srv, "logs", service);
    const rows = await rowsOf(files, "Body", "ORDER BY Body");
    strictEqual(rows.length, 30);
    deepStrictEqual(
      rows.map((r) => r.Body),
      Array.from({ length: 30 }, (_, i) => `r${i}`).sort(),
    );
    ok(files.length >= 1);
  });
});
