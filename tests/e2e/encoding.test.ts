/**
 * Server mode end to end, request and response encodings over plain fetch: gzip'd and deflated
 * bodies, content-type parameters and sniffing, JSONL, the `{}` / empty-protobuf success answers
 * and `partial_success` for a point that cannot be stored.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { withServer } from "../helpers/server.ts";
import {
  assertJsonOk,
  compress,
  filesOf,
  gzip,
  JSON_TYPE,
  logsRequest,
  metricsRequest,
  Pb,
  pbLogsRequest,
  PbReader,
  post,
  PROTO_TYPE,
  RECORD_NS,
  rowsOf,
  sv,
  text,
  uniqueService,
  zstdRaw,
} from "./support.ts";

function oneLog(service: string, body: string) {
  return logsRequest(service, [{ timeUnixNano: RECORD_NS, body: sv(body) }]);
}

async function bodies(srv: Parameters<typeof filesOf>[0], service: string): Promise<string[]> {
  const rows = await rowsOf(await filesOf(srv, "logs", service), "Body", "ORDER BY Body");
  return rows.map((r) => r.Body as string);
}

Deno.test("gzip'd and deflated OTLP/JSON bodies are accepted with {}", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("enc-json");
    const gz = await gzip(JSON.stringify(oneLog(service, "gzip")));
    assertJsonOk(
      await post(`${srv.url}/v1/logs`, gz, { ...JSON_TYPE, "content-encoding": "gzip" }),
    );
    const zl = await compress(JSON.stringify(oneLog(service, "deflate")), "deflate");
    assertJsonOk(
      await post(`${srv.url}/v1/logs`, zl, { ...JSON_TYPE, "content-encoding": "deflate" }),
    );
    deepStrictEqual(await bodies(srv, service), ["deflate", "gzip"]);
  });
});

Deno.test("zstd bodies (hand-built frames) are accepted, JSON and protobuf", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("enc-zstd");
    const json = new TextEncoder().encode(JSON.stringify(oneLog(service, "zstd-json")));
    assertJsonOk(
      await post(`${srv.url}/v1/logs`, zstdRaw(json), { ...JSON_TYPE, "content-encoding": "zstd" }),
    );
    const rec = new Pb().fixed64(1, 1_700_000_000_123_456_789n).message(
      5,
      new Pb().string(1, "zstd-pb"),
    );
    const a = await post(`${srv.url}/v1/logs`, zstdRaw(pbLogsRequest(service, rec)), {
      ...PROTO_TYPE,
      "content-encoding": "zstd",
    });
    strictEqual(a.status, 200, text(a.body));
    deepStrictEqual(await bodies(srv, service), ["zstd-json", "zstd-pb"]);
  });
});

Deno.test("gzip'd and deflated protobuf bodies are accepted with an empty protobuf answer", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("enc-pb");
    for (const format of ["gzip", "deflate"] as const) {
      const rec = new Pb().fixed64(1, 1_700_000_000_123_456_789n).message(
        5,
        new Pb().string(1, format),
      );
      const body = await compress(pbLogsRequest(service, rec), format);
      const a = await post(`${srv.url}/v1/logs`, body, {
        ...PROTO_TYPE,
        "content-encoding": format,
      });
      strictEqual(a.status, 200, `${format}: ${text(a.body)}`);
      ok(a.headers.get("content-type")?.includes("application/x-protobuf"));
      strictEqual(a.body.length, 0, "ExportLogsServiceResponse with nothing set");
    }
    deepStrictEqual(await bodies(srv, service), ["deflate", "gzip"]);
  });
});

Deno.test("content-type parameters are allowed and a missing content type is sniffed", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("enc-type");
    const withCharset = { "content-type": "application/json; charset=utf-8" };
    assertJsonOk(
      await post(`${srv.url}/v1/logs`, JSON.stringify(oneLog(service, "charset")), withCharset),
    );
    const alias = { "content-type": "application/protobuf" };
    const rec = (s: string) =>
      new Pb().fixed64(1, 1_700_000_000_000_000_000n).message(5, new Pb().string(1, s));
    const a1 = await post(`${srv.url}/v1/logs`, pbLogsRequest(service, rec("alias")), alias);
    strictEqual(a1.status, 200, text(a1.body));
    // no content-type header at all (fetch sends none for a Uint8Array body)
    const sniffJson = new TextEncoder().encode(JSON.stringify(oneLog(service, "sniffed-json")));
    assertJsonOk(await post(`${srv.url}/v1/logs`, sniffJson, {}));
    const a2 = await post(`${srv.url}/v1/logs`, pbLogsRequest(service, rec("sniffed-pb")), {});
    strictEqual(a2.status, 200, text(a2.body));
    deepStrictEqual(await bodies(srv, service), ["alias", "charset", "sniffed-json", "sniffed-pb"]);
  });
});

Deno.test("JSONL: one ExportLogsServiceRequest per line", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("enc-jsonl");
    const lines = ["one", "two", "three"].map((b) => JSON.stringify(oneLog(service, b))).join("\n");
    const a = await post(`${srv.url}/v1/logs`, `${lines}\n`, {
      "content-type": "application/x-ndjson",
    });
    strictEqual(a.status, 200, text(a.body));
    deepStrictEqual(await bodies(srv, service), ["one", "three", "two"]);
  });
});

Deno.test("a gauge point without a value is counted in partial_success (JSON), the others stored", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("partial-json");
    const req = metricsRequest(service, [{
      name: "e2e.partial",
      gauge: {
        dataPoints: [
          { timeUnixNano: RECORD_NS, asDouble: 1.5 },
          { timeUnixNano: RECORD_NS },
          { timeUnixNano: RECORD_NS, asInt: "3" },
        ],
      },
    }]);
    const a = await post(`${srv.url}/v1/metrics`, JSON.stringify(req), JSON_TYPE);
    strictEqual(a.status, 200, text(a.body));
    const o = JSON.parse(text(a.body));
    const ps = o.partialSuccess ?? o.partial_success;
    ok(ps, `no partialSuccess in ${text(a.body)}`);
    strictEqual(Number(ps.rejectedDataPoints ?? ps.rejected_data_points), 1);
    const message = ps.errorMessage ?? ps.error_message;
    ok(typeof message === "string" && message.length > 0, `errorMessage: ${text(a.body)}`);
    const rows = await rowsOf(await filesOf(srv, "gauge", service), "Value", "ORDER BY Value");
    deepStrictEqual(rows.map((r) => r.Value), [1.5, 3]);
  });
});

Deno.test("a gauge point without a value is counted in partial_success (protobuf)", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("partial-pb");
    // NumberDataPoint: 2 start_time_unix_nano, 3 time_unix_nano (fixed64), 4 as_double
    // Metric: 1 name, 5 gauge; Gauge: 1 data_points; ScopeMetrics: 2 metrics
    const point = (v?: number) => {
      const p = new Pb().fixed64(3, 1_700_000_000_123_456_789n);
      return v === undefined ? p : p.double(4, v);
    };
    const gauge = new Pb().message(1, point(2.5)).message(1, point());
    const metric = new Pb().string(1, "e2e.partial").message(5, gauge);
    const res = new Pb().message(
      1,
      new Pb().string(1, "service.name").message(2, new Pb().string(1, service)),
    );
    const sm = new Pb().message(2, metric);
    const req = new Pb().message(1, new Pb().message(1, res).message(2, sm)).finish();
    const a = await post(`${srv.url}/v1/metrics`, req, PROTO_TYPE);
    strictEqual(a.status, 200, text(a.body));
    // ExportMetricsServiceResponse{1 partial_success{1 rejected_data_points int64, 2 error_message}}
    let rejected = -1n, message = "";
    const top = new PbReader(a.body);
    while (!top.done()) {
      const [f, w] = top.tag();
      if (f !== 1 || w !== 2) {
        top.skip(w);
        continue;
      }
      const ps = new PbReader(top.bytes());
      while (!ps.done()) {
        const [g, x] = ps.tag();
        if (g === 1 && x === 0) rejected = ps.varint();
        else if (g === 2 && x === 2) message = text(ps.bytes());
        else ps.skip(x);
      }
    }
    strictEqual(rejected, 1n);
    ok(message.length > 0, "error_message is empty");
    const rows = await rowsOf(await filesOf(srv, "gauge", service), "Value");
    deepStrictEqual(rows.map((r) => r.Value), [2.5]);
  });
});
