/**
 * Export requests through the whole app (real decoders, the write-through writer, the memory
 * store): every content type and encoding, response bodies, partial success, and what the
 * writer's failures become.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { readParquet } from "../helpers/parquet.ts";
import { BackpressureError, type Writer } from "../../src/batch/types.ts";
import { StorageError } from "../../src/storage/types.ts";
import {
  decodeExportResponsePb,
  decodeStatusPb,
  gzip,
  jsonBytes,
  jsonlBytes,
  logsJson,
  logsPb,
  makeApp,
  metricsJson,
  metricsPb,
  rawDeflate,
  send,
  storageDown,
  T0,
  testConfig,
  tracesJson,
  tracesPb,
  zlibDeflate,
  zstd,
  ZSTD_PARAMS,
} from "./fixtures.ts";

const PB = { "content-type": "application/x-protobuf" };
const JSON_CT = { "content-type": "application/json" };

/** Every stored row's Body, over all files, sorted. */
function bodies(objects: Map<string, Uint8Array>): string[] {
  const out: string[] = [];
  for (const data of objects.values()) {
    const t = readParquet(data);
    const col = t.getChild("Body")!;
    for (let i = 0; i < t.numRows; i++) out.push(String(col.get(i)));
  }
  return out.sort();
}

function rowCount(objects: Map<string, Uint8Array>): number {
  let n = 0;
  for (const data of objects.values()) n += readParquet(data).numRows;
  return n;
}

const KEY =
  /^logs\/checkout\/year=2024\/month=05\/day=01\/hour=10\/1714557600000000-[0-9a-f]{16}\.parquet$/;

Deno.test("POST /v1/logs protobuf stores the rows and answers an empty protobuf response", async () => {
  const { app, storage } = makeApp();
  const a = await send(app, "/v1/logs", { body: logsPb(3), headers: PB });
  strictEqual(a.status, 200, a.text);
  strictEqual(a.headers.get("content-type"), "application/x-protobuf");
  strictEqual(a.body.length, 0);
  const keys = [...storage.objects.keys()];
  strictEqual(keys.length, 1);
  ok(KEY.test(keys[0]), keys[0]);
  deepStrictEqual(bodies(storage.objects), ["msg-0", "msg-1", "msg-2"]);
});

Deno.test("POST /v1/logs JSON answers {} and stores the rows", async () => {
  const { app, storage } = makeApp();
  const a = await send(app, "/v1/logs", { body: jsonBytes(logsJson(2)), headers: JSON_CT });
  strictEqual(a.status, 200, a.text);
  strictEqual(a.headers.get("content-type"), "application/json");
  strictEqual(a.text, "{}");
  deepStrictEqual(bodies(storage.objects), ["msg-0", "msg-1"]);
});

Deno.test("every OTLP content type is accepted and answered in its encoding", async () => {
  const cases: [string | null, Uint8Array, "protobuf" | "json"][] = [
    ["application/x-protobuf", logsPb(2), "protobuf"],
    ["application/protobuf", logsPb(2), "protobuf"],
    ["application/json", jsonBytes(logsJson(2)), "json"],
    ["application/json; charset=utf-8", jsonBytes(logsJson(2)), "json"],
    ["application/x-ndjson", jsonlBytes(logsJson(1), logsJson(1, "checkout", T0 + 1000n)), "json"],
    ["application/jsonl", jsonlBytes(logsJson(2)), "json"],
    ["application/json-lines", jsonlBytes(logsJson(2)), "json"],
    [null, logsPb(2), "protobuf"],
    [null, jsonBytes(logsJson(2)), "json"],
    [null, jsonlBytes(logsJson(1), logsJson(1, "checkout", T0 + 1000n)), "json"],
  ];
  for (const [type, body, answer] of cases) {
    const { app, storage } = makeApp();
    const a = await send(app, "/v1/logs", { body, headers: type ? { "content-type": type } : {} });
    strictEqual(a.status, 200, `${type}: ${a.text}`);
    strictEqual(
      a.headers.get("content-type"),
      answer === "protobuf" ? "application/x-protobuf" : "application/json",
      String(type),
    );
    strictEqual(rowCount(storage.objects), 2, String(type));
  }
});

Deno.test("every Content-Encoding is decoded: gzip, x-gzip, deflate (zlib and raw), zstd", async () => {
  const pb = logsPb(50);
  const cases: [string, Uint8Array][] = [
    ["gzip", gzip(pb)],
    ["x-gzip", gzip(pb)],
    ["deflate", zlibDeflate(pb)],
    ["deflate", rawDeflate(pb)],
    ["zlib", zlibDeflate(pb)],
    ["zstd", zstd(pb)],
    ["zstd", zstd(pb, { [ZSTD_PARAMS.ZSTD_c_contentSizeFlag]: 0 })],
    ["identity", pb],
  ];
  for (const [encoding, body] of cases) {
    const { app, storage } = makeApp();
    const a = await send(app, "/v1/logs", {
      body,
      headers: { ...PB, "content-encoding": encoding },
    });
    strictEqual(a.status, 200, `${encoding}: ${a.text}`);
    strictEqual(rowCount(storage.objects), 50, encoding);
  }
});

Deno.test("a compressed JSON body without Content-Type is sniffed after decompression", async () => {
  const { app, storage } = makeApp();
  const a = await send(app, "/v1/logs", {
    body: gzip(jsonBytes(logsJson(2))),
    headers: { "content-encoding": "gzip" },
  });
  strictEqual(a.status, 200, a.text);
  strictEqual(a.text, "{}");
  deepStrictEqual(bodies(storage.objects), ["msg-0", "msg-1"]);
});

Deno.test("POST /v1/traces and /v1/metrics store their tables", async () => {
  const { app, storage } = makeApp();
  strictEqual((await send(app, "/v1/traces", { body: tracesPb(3), headers: PB })).status, 200);
  strictEqual(
    (await send(app, "/v1/traces", { body: jsonBytes(tracesJson(2)), headers: JSON_CT })).status,
    200,
  );
  strictEqual((await send(app, "/v1/metrics", { body: metricsPb(4), headers: PB })).status, 200);
  const keys = [...storage.objects.keys()].sort();
  deepStrictEqual(keys.map((k) => k.split("/checkout/")[0]), ["metrics/gauge", "traces", "traces"]);
  let spans = 0;
  for (const k of keys.filter((k) => k.startsWith("traces/"))) {
    spans += readParquet(storage.objects.get(k)!).numRows;
  }
  strictEqual(spans, 5);
  strictEqual(readParquet(storage.objects.get(keys[0])!).numRows, 4);
});

Deno.test("partial_success is set only when records were rejected (protobuf)", async () => {
  const { app, storage } = makeApp();
  const full = await send(app, "/v1/metrics", { body: metricsPb(2, 0), headers: PB });
  strictEqual(full.status, 200);
  strictEqual(full.body.length, 0);
  const partial = await send(app, "/v1/metrics", { body: metricsPb(3, 3), headers: PB });
  strictEqual(partial.status, 200, partial.text);
  const r = await decodeExportResponsePb("metrics", partial.body);
  const ps = r.partial_success as Record<string, string>;
  strictEqual(ps.rejected_data_points, "3");
  ok(ps.error_message && ps.error_message.length > 0, JSON.stringify(r));
  // The valued points of both requests are stored (2 + 3), the valueless ones are not.
  strictEqual(rowCount(storage.objects), 5);
});

Deno.test("partial_success is set only when records were rejected (JSON)", async () => {
  const { app } = makeApp();
  const full = await send(app, "/v1/metrics", {
    body: jsonBytes(metricsJson(2, 0)),
    headers: JSON_CT,
  });
  strictEqual(full.text, "{}");
  const partial = await send(app, "/v1/metrics", {
    body: jsonBytes(metricsJson(1, 2)),
    headers: JSON_CT,
  });
  strictEqual(partial.status, 200, partial.text);
  const ps = partial.json().partialSuccess as Record<string, unknown>;
  strictEqual(ps.rejectedDataPoints, "2");
  ok(typeof ps.errorMessage === "string" && ps.errorMessage.length > 0);
});

Deno.test("an undecodable protobuf body answers 400 with the decoder's message as a Status", async () => {
  const { app, storage } = makeApp();
  const a = await send(app, "/v1/logs", {
    body: new Uint8Array([0x0a, 0xff, 0xff, 0x03, 1]),
    headers: PB,
  });
  strictEqual(a.status, 400);
  const s = await decodeStatusPb(a.body);
  strictEqual(s.code, 3);
  ok(/ExportLogsServiceRequest/.test(s.message), s.message);
  strictEqual(storage.puts, 0);
});

Deno.test("invalid JSON answers 400 with a JSON Status", async () => {
  const { app } = makeApp();
  const a = await send(app, "/v1/traces", { body: '{"resourceSpans": [', headers: JSON_CT });
  strictEqual(a.status, 400);
  const s = a.json();
  strictEqual(s.code, 3);
  ok(String(s.message).length > 0);
  deepStrictEqual(s.details, []);
});

Deno.test("auth: the right bearer token and basic credentials are accepted", async () => {
  const bearer = makeApp({ config: testConfig((c) => c.auth.bearer_token = "s3cret") });
  const a = await send(bearer.app, "/v1/logs", {
    body: logsPb(1),
    headers: { ...PB, authorization: "Bearer s3cret" },
  });
  strictEqual(a.status, 200, a.text);
  strictEqual(rowCount(bearer.storage.objects), 1);
  const basic = makeApp({
    config: testConfig((c) => {
      c.auth.basic_username = "otel";
      c.auth.basic_password = "pw:1";
    }),
  });
  const b = await send(basic.app, "/v1/logs", {
    body: logsPb(1),
    headers: { ...PB, authorization: `basic ${btoa("otel:pw:1")}` },
  });
  strictEqual(b.status, 200, b.text);
});

Deno.test("a failing storage put answers 503 with Retry-After, and the retry stores the same object", async () => {
  const { app, storage } = makeApp();
  storage.failPut = storageDown();
  const a = await send(app, "/v1/logs", { body: logsPb(2), headers: PB });
  strictEqual(a.status, 503);
  strictEqual(a.headers.get("retry-after"), "5");
  const s = await decodeStatusPb(a.body);
  strictEqual(s.code, 14);
  ok(
    s.message.startsWith("storage unavailable: ") && s.message.includes("ECONNREFUSED"),
    s.message,
  );
  strictEqual(storage.objects.size, 0);
  // Storage is back: the client's retry succeeds; retrying again overwrites the same key.
  storage.failPut = null;
  strictEqual((await send(app, "/v1/logs", { body: logsPb(2), headers: PB })).status, 200);
  strictEqual((await send(app, "/v1/logs", { body: logsPb(2), headers: PB })).status, 200);
  strictEqual(storage.objects.size, 1);
  strictEqual(storage.puts, 3);
});

Deno.test("a storage put throwing a plain error still answers 503, never 500", async () => {
  const { app, storage } = makeApp();
  storage.failPut = new Error("socket hang up");
  const a = await send(app, "/v1/logs", { body: jsonBytes(logsJson(1)), headers: JSON_CT });
  strictEqual(a.status, 503);
  ok(a.headers.get("retry-after"));
  const s = a.json();
  strictEqual(s.code, 14);
  ok(String(s.message).includes("socket hang up"), String(s.message));
});

Deno.test("a non-retryable StorageError answers 503 with a longer Retry-After", async () => {
  const { app, storage } = makeApp();
  storage.failPut = new StorageError('Cannot put "k" (s3): bucket "otel" does not exist', false);
  const a = await send(app, "/v1/logs", { body: jsonBytes(logsJson(1)), headers: JSON_CT });
  strictEqual(a.status, 503);
  strictEqual(a.headers.get("retry-after"), "30");
  ok(String(a.json().message).includes('bucket "otel" does not exist'));
});

function throwingWriter(err: Error): Writer {
  return {
    write: () => Promise.reject(err),
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

Deno.test("BackpressureError answers its status (429 or 503) with Retry-After", async () => {
  for (const status of [429, 503] as const) {
    const { app } = makeApp({
      writer: () =>
        throwingWriter(new BackpressureError("buffers are full (512 MiB)", 2.5, status)),
    });
    const a = await send(app, "/v1/logs", { body: logsPb(1), headers: PB });
    strictEqual(a.status, status);
    strictEqual(a.headers.get("retry-after"), "3");
    const s = await decodeStatusPb(a.body);
    strictEqual(s.code, status === 429 ? 8 : 14);
    strictEqual(s.message, "buffers are full (512 MiB)");
  }
});

Deno.test("an unexpected exception answers 500 with a Status and is logged with its stack", async () => {
  const { app, logger } = makeApp({ writer: () => throwingWriter(new TypeError("boom")) });
  const a = await send(app, "/v1/logs", { body: jsonBytes(logsJson(1)), headers: JSON_CT });
  strictEqual(a.status, 500);
  strictEqual(a.json().code, 13);
  const line = logger.lines.find((l) => l.level === "error");
  ok(line, JSON.stringify(logger.lines));
  ok(String(line.fields?.stack).includes("TypeError: boom"));
});

Deno.test("the writer gets the signal, format, decompressed body, the body as received and the receive time", async () => {
  const seen: {
    signal: string;
    format: string;
    bytes: number;
    encoded: unknown;
    receivedAtNs: bigint;
    rows: number;
  }[] = [];
  const { app, clock } = makeApp({
    writer: () => ({
      write(req) {
        seen.push({
          signal: req.signal,
          format: req.format,
          bytes: req.body.length,
          encoded: req.encoded,
          receivedAtNs: req.receivedAtNs,
          rows: req.partitions.reduce((n, p) => n + p.rows.length, 0),
        });
        return Promise.resolve();
      },
      flush: () => Promise.resolve(),
      close: () => Promise.resolve(),
    }),
  });
  clock.ns = 1_800_000_000_123_456_789n;
  const body = jsonlBytes(logsJson(2), logsJson(1));
  const gz = gzip(body);
  strictEqual(
    (await send(app, "/v1/logs", {
      body: zstd(gz),
      headers: { "content-type": "application/x-ndjson", "content-encoding": "gzip, zstd" },
    })).status,
    200,
  );
  strictEqual(
    (await send(app, "/v1/logs", {
      body,
      headers: { "content-type": "application/x-ndjson", "content-encoding": "identity" },
    })).status,
    200,
  );
  deepStrictEqual(seen, [{
    signal: "logs",
    format: "jsonl",
    bytes: body.length,
    encoded: { encodings: ["gzip", "zstd"], bytes: zstd(gz) },
    receivedAtNs: 1_800_000_000_123_456_789n,
    rows: 3,
  }, {
    signal: "logs",
    format: "jsonl",
    bytes: body.length,
    encoded: undefined,
    receivedAtNs: 1_800_000_000_123_456_789n,
    rows: 3,
  }]);
});

Deno.test("an empty export request answers 200 and stores nothing", async () => {
  const { app, storage } = makeApp();
  const a = await send(app, "/v1/logs", { body: new Uint8Array(0), headers: PB });
  strictEqual(a.status, 200, a.text);
  strictEqual(a.body.length, 0);
  const b = await send(app, "/v1/traces", { body: "{}", headers: JSON_CT });
  strictEqual(b.status, 200, b.text);
  strictEqual(storage.puts, 0);
});

Deno.test("write-through logs one debug line per stored file and one per request", async () => {
  const { app, logger } = makeApp();
  await send(app, "/v1/logs", { body: logsPb(2), headers: PB });
  const stored = logger.find("file stored");
  strictEqual(stored.length, 1);
  ok(KEY.test(String(stored[0].fields?.key)));
  strictEqual(stored[0].fields?.rows, 2);
  const req = logger.find("request")[0];
  strictEqual(req.fields?.status, 200);
  strictEqual(req.fields?.records, 2);
  strictEqual(req.fields?.rejected, 0);
});
