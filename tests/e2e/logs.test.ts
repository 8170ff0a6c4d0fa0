/**
 * Server mode end to end, logs: the OpenTelemetry JS SDK's OTLP log exporters (protobuf and JSON,
 * with and without gzip) send to the real server; DuckDB reads the Parquet back.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { mapKeys, mapObj } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import { CLIENT_VARIANTS, sendLogs, SeverityNumber } from "../helpers/otel.ts";
import {
  assertColumns,
  assertJsonOk,
  assertKeys,
  DEFAULT_COLUMNS,
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
import { encodeLogsRequest } from "./proto.ts";

/** 2023-11-14T22:13:20.123456789Z: every record of the test is in hour 22 of that day. */
const BASE_S = 1_700_000_000;
const BASE_NS = 1_700_000_000_123_456_789n;

interface Case {
  body: unknown;
  expected: string;
  severity: SeverityNumber;
  severityText: string;
}

const CASES: Case[] = [
  {
    body: "hello world",
    expected: "hello world",
    severity: SeverityNumber.INFO,
    severityText: "INFO",
  },
  { body: 42, expected: "42", severity: SeverityNumber.WARN, severityText: "WARN" },
  { body: 0.5, expected: "0.5", severity: SeverityNumber.ERROR, severityText: "ERROR" },
  { body: true, expected: "true", severity: SeverityNumber.DEBUG, severityText: "DEBUG" },
  {
    body: new Uint8Array([0, 1, 2, 250, 255]),
    expected: "AAEC+v8=",
    severity: SeverityNumber.TRACE,
    severityText: "TRACE",
  },
  {
    body: [1, "two", false, 2.5, new Uint8Array([1, 2])],
    expected: '[1,"two",false,2.5,"AQI="]',
    severity: SeverityNumber.INFO4,
    severityText: "INFO4",
  },
  {
    body: { zeta: "z", alpha: 1, mid: { b: [true], a: 1.25 }, raw: new Uint8Array([255]) },
    expected: '{"alpha":1,"mid":{"a":1.25,"b":[true]},"raw":"/w==","zeta":"z"}',
    severity: SeverityNumber.FATAL4,
    severityText: "FATAL4",
  },
  { body: undefined, expected: "", severity: SeverityNumber.FATAL, severityText: "FATAL" },
  { body: 1e-7, expected: "1e-7", severity: SeverityNumber.UNSPECIFIED, severityText: "" },
  {
    body: Number.MAX_SAFE_INTEGER,
    expected: "9007199254740991",
    severity: SeverityNumber.WARN2,
    severityText: "WARN2",
  },
];

for (const { protocol, gzip } of CLIENT_VARIANTS) {
  const variant = `${protocol}${gzip ? "+gzip" : ""}`;
  Deno.test(`SDK logs over ${variant} are stored with docs/schema.md's columns and the values sent`, async () => {
    await withServer({}, async (srv) => {
      const service = uniqueService(`logs-${protocol}${gzip ? "-gz" : ""}`);
      let traceId = "", spanId = "";
      await sendLogs(
        {
          url: srv.url,
          protocol,
          gzip,
          service,
          resource: { "host.name": "h1", "deployment.environment": "test" },
        },
        ({ logger, tracer, contextOf }) => {
          const span = tracer.startSpan("parent");
          traceId = span.spanContext().traceId;
          spanId = span.spanContext().spanId;
          CASES.forEach((c, i) => {
            const first = i === 0;
            logger.emit({
              timestamp: [BASE_S + i, 123_456_789],
              observedTimestamp: [BASE_S + i, 999],
              severityNumber: c.severity,
              severityText: c.severityText || undefined,
              body: c.body as never,
              attributes: first
                ? {
                  i: "0",
                  "z.key": "v",
                  "a.int": 7,
                  "m.double": 2.5,
                  "b.bool": false,
                  arr: ["x", "y"],
                  ints: [1, 2],
                }
                : { i: String(i) },
              context: first ? contextOf(span) : undefined,
              eventName: first ? "e2e.event" : undefined,
            });
          });
          span.end();
        },
        // the protobuf variant without gzip sends one request per record (10 files)
        { batch: !(protocol === "proto" && !gzip) },
      );

      const files = await filesOf(srv, "logs", service);
      await assertColumns(files, DEFAULT_COLUMNS.logs);
      await assertKeys(srv, "logs", service);

      const rows = await rowsOf(files);
      strictEqual(rows.length, CASES.length);
      rows.sort((a, b) => +mapObj(a.LogAttributes).i - +mapObj(b.LogAttributes).i);
      rows.forEach((r, i) => {
        const c = CASES[i];
        const first = i === 0;
        strictEqual((r.Timestamp as Date).getTime(), (BASE_S + i) * 1000 + 123, `Timestamp ${i}`);
        strictEqual(r.Body, c.expected, `Body of record ${i}`);
        strictEqual(r.SeverityNumber, c.severity, `SeverityNumber ${i}`);
        strictEqual(r.SeverityText, c.severityText, `SeverityText ${i}`);
        strictEqual(r.ServiceName, service);
        strictEqual(r.TraceId, first ? traceId : "");
        strictEqual(r.SpanId, first ? spanId : "");
        strictEqual(r.TraceFlags, first ? 1 : 0);
        strictEqual(r.EventName, first ? "e2e.event" : "");
        strictEqual(r.ResourceSchemaUrl, "");
        strictEqual(r.ScopeSchemaUrl, "");
        strictEqual(r.ScopeName, "e2e-logs");
        strictEqual(r.ScopeVersion, "1.2.3");
        deepStrictEqual(mapObj(r.ScopeAttributes), {});
        deepStrictEqual(mapKeys(r.ResourceAttributes), [
          "deployment.environment",
          "host.name",
          "service.name",
        ]);
        deepStrictEqual(mapObj(r.ResourceAttributes), {
          "deployment.environment": "test",
          "host.name": "h1",
          "service.name": service,
        });
      });
      // attribute values of every kind, keys sorted
      deepStrictEqual(mapKeys(rows[0].LogAttributes), [
        "a.int",
        "arr",
        "b.bool",
        "i",
        "ints",
        "m.double",
        "z.key",
      ]);
      deepStrictEqual(mapObj(rows[0].LogAttributes), {
        "a.int": "7",
        arr: '["x","y"]',
        "b.bool": "false",
        i: "0",
        ints: "[1,2]",
        "m.double": "2.5",
        "z.key": "v",
      });
      // hex ids are lowercase and of the right length
      strictEqual(traceId, traceId.toLowerCase());
      strictEqual(traceId.length, 32);
      strictEqual(spanId.length, 16);

      // nanoseconds, exactly (DuckDB truncates to µs)
      const ns: bigint[] = [];
      for (const f of files) {
        for (const r of await readNs(f, ["Timestamp"])) ns.push(r.Timestamp as bigint);
      }
      ns.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      deepStrictEqual(ns, CASES.map((_, i) => BASE_NS + BigInt(i) * 1_000_000_000n));
    });
  });
}

/** Hand-built AnyValue bodies (OTLP/JSON form) and their strings per docs/schema.md. */
const ANY_VALUES: [unknown, string][] = [
  [{ stringValue: "plain" }, "plain"],
  [{ intValue: "9223372036854775807" }, "9223372036854775807"],
  [{ intValue: "-9223372036854775808" }, "-9223372036854775808"],
  [{ doubleValue: 1e21 }, "1e+21"],
  [{ doubleValue: 0.1 + 0.2 }, "0.30000000000000004"],
  [{ doubleValue: "NaN" }, "NaN"],
  [{ doubleValue: "-Infinity" }, "-Infinity"],
  [{ boolValue: false }, "false"],
  [{ bytesValue: "AQL/" }, "AQL/"],
  [{}, ""],
  [
    {
      arrayValue: {
        values: [
          { intValue: "9223372036854775807" },
          { doubleValue: "Infinity" },
          { bytesValue: "AQI=" },
          {
            kvlistValue: {
              values: [{ key: "b", value: { boolValue: false } }, {
                key: "a",
                value: { stringValue: "x" },
              }],
            },
          },
        ],
      },
    },
    '[9223372036854775807,"Infinity","AQI=",{"a":"x","b":false}]',
  ],
  [{ arrayValue: {} }, "[]"],
  [{ kvlistValue: {} }, "{}"],
];

for (const format of ["json", "protobuf"] as const) {
  Deno.test(`hand-built ${format} bodies of every AnyValue kind become docs/schema.md's strings`, async () => {
    await withServer({}, async (srv) => {
      const service = uniqueService(`anyvalue-${format}`);
      const req = logsRequest(
        service,
        ANY_VALUES.map(([body], i) => ({
          timeUnixNano: String(BASE_NS + BigInt(i)),
          body,
          attributes: [{ key: "attr", value: body }, { key: "i", value: { intValue: String(i) } }],
        })),
      );
      const a = format === "json"
        ? await postJson(srv, "/v1/logs", req)
        : await post(`${srv.url}/v1/logs`, await encodeLogsRequest(req), PROTO_TYPE);
      strictEqual(a.status, 200, text(a.body));
      const rows = await rowsOf(await filesOf(srv, "logs", service));
      rows.sort((x, y) => +mapObj(x.LogAttributes).i - +mapObj(y.LogAttributes).i);
      deepStrictEqual(rows.map((r) => r.Body), ANY_VALUES.map(([, s]) => s));
      deepStrictEqual(rows.map((r) => mapObj(r.LogAttributes).attr), ANY_VALUES.map(([, s]) => s));
    });
  });
}

Deno.test("a log record without time_unix_nano takes observed_time_unix_nano, else the receive time", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("logs-time");
    const before = BigInt(Date.now()) * 1_000_000n;
    const a = await postJson(
      srv,
      "/v1/logs",
      logsRequest(service, [
        { observedTimeUnixNano: "1700000000987654321", body: sv("observed") },
        { timeUnixNano: "0", observedTimeUnixNano: "0", body: sv("received") },
      ]),
    );
    const after = BigInt(Date.now()) * 1_000_000n;
    assertJsonOk(a);
    const files = await filesOf(srv, "logs", service);
    const times = new Map<string, bigint>();
    for (const f of files) {
      for (const r of await readNs(f, ["Body", "Timestamp"])) {
        times.set(r.Body as string, r.Timestamp as bigint);
      }
    }
    strictEqual(times.get("observed"), 1_700_000_000_987_654_321n);
    const received = times.get("received")!;
    ok(
      received >= before - 1_000_000n && received <= after + 1_000_000n,
      `receive time ${received} not within [${before}, ${after}]`,
    );
  });
});
