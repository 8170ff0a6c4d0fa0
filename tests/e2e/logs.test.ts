/**
 * Server mode end to end, logs: the OpenTelemetry JS SDK's OTLP log exporters (protobuf and JSON,
 * with and without gzip) send to the real server; DuckDB reads the Parquet back.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { mapKeys, mapObj } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import { CLIENT_VARIANTS, sendLogs, SeverityNumber } from "../helpers/otel.ts";
import {
  assertColumns,
  assertKeys,
  DEFAULT_COLUMNS,
  filesOf,
  readNs,
  rowsOf,
  uniqueService,
} from "./support.ts";

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
  Deno.test(`SDK logs over ${variant} are stored with SCHEMA.md's columns and the values sent`, async () => {
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
