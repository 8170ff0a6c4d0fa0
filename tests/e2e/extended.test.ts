/**
 * Server mode end to end, `OTLP2PARQUET_SCHEMA_PROFILE=extended`: every table gets docs/schema.md's
 * extra columns after the default ones, filled from the request.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { withServer } from "../helpers/server.ts";
import {
  assertColumns,
  assertJsonOk,
  attrs,
  DEFAULT_COLUMNS,
  EXTENDED_EXTRA,
  filesOf,
  postJson,
  readNs,
  rowsOf,
  type Table,
  TABLES,
  uniqueService,
} from "./support.ts";

const T = "1700000000123456789";
const OBSERVED = "1700000001987654321";

function res(service: string) {
  return {
    attributes: attrs({
      "service.name": service,
      "service.namespace": "ns1",
      "service.instance.id": "inst-1",
    }),
  };
}

const point = { timeUnixNano: T, startTimeUnixNano: "1700000000000000000" };

function requests(service: string) {
  const logs = {
    resourceLogs: [{
      resource: res(service),
      scopeLogs: [{
        scope: { name: "ext" },
        logRecords: [{
          timeUnixNano: T,
          observedTimeUnixNano: OBSERVED,
          body: { stringValue: "extended" },
          droppedAttributesCount: 3,
          flags: 257,
          traceId: "5b8efff798038103d269b633813fc60c",
          spanId: "eee19b7ec3c1b174",
        }],
      }],
    }],
  };
  const traces = {
    resourceSpans: [{
      resource: res(service),
      scopeSpans: [{
        scope: { name: "ext" },
        spans: [{
          traceId: "5b8efff798038103d269b633813fc60c",
          spanId: "eee19b7ec3c1b174",
          name: "ext-span",
          kind: 2,
          startTimeUnixNano: T,
          endTimeUnixNano: OBSERVED,
          flags: 769,
          droppedAttributesCount: 1,
          droppedEventsCount: 2,
          droppedLinksCount: 3,
        }],
      }],
    }],
  };
  const metrics = {
    resourceMetrics: [{
      resource: res(service),
      scopeMetrics: [{
        scope: { name: "ext" },
        metrics: [
          { name: "g", gauge: { dataPoints: [{ ...point, asDouble: 1 }] } },
          {
            name: "s",
            sum: {
              aggregationTemporality: 2,
              isMonotonic: true,
              dataPoints: [{ ...point, asInt: "2" }],
            },
          },
          {
            name: "h",
            histogram: {
              aggregationTemporality: 1,
              dataPoints: [{
                ...point,
                count: "3",
                sum: 6,
                bucketCounts: ["1", "2"],
                explicitBounds: [2.5],
                min: 1,
                max: 3,
              }],
            },
          },
          {
            name: "e",
            exponentialHistogram: {
              aggregationTemporality: 2,
              dataPoints: [{
                ...point,
                count: "4",
                sum: 10,
                scale: 2,
                zeroCount: "1",
                zeroThreshold: 0.001,
                positive: { offset: -1, bucketCounts: ["1", "0", "2"] },
                negative: { offset: 3, bucketCounts: [] },
              }],
            },
          },
          {
            name: "q",
            summary: {
              dataPoints: [{
                ...point,
                count: "2",
                sum: 3,
                quantileValues: [{ quantile: 0.5, value: 1.5 }],
              }],
            },
          },
        ],
      }],
    }],
  };
  return { logs, traces, metrics };
}

Deno.test("the extended profile appends its columns after the default ones, on all seven tables", async () => {
  await withServer({ env: { OTLP2PARQUET_SCHEMA_PROFILE: "extended" } }, async (srv) => {
    const service = uniqueService("extended");
    const r = requests(service);
    assertJsonOk(await postJson(srv, "/v1/logs", r.logs));
    assertJsonOk(await postJson(srv, "/v1/traces", r.traces));
    assertJsonOk(await postJson(srv, "/v1/metrics", r.metrics));

    const rows = {} as Record<Table, Record<string, unknown>>;
    for (const t of TABLES) {
      const files = await filesOf(srv, t, service);
      await assertColumns(files, [...DEFAULT_COLUMNS[t], ...EXTENDED_EXTRA[t]]);
      const all = await rowsOf(files);
      strictEqual(all.length, 1, t);
      rows[t] = all[0];
      strictEqual(rows[t].ServiceNamespace, "ns1", t);
      strictEqual(rows[t].ServiceInstanceId, "inst-1", t);
    }

    const log = rows.logs;
    strictEqual(log.TraceFlags, 1, "TraceFlags = flags & 0xff");
    strictEqual(log.Flags, 257);
    strictEqual(log.DroppedAttributesCount, 3);
    const [exact] = await readNs((await filesOf(srv, "logs", service))[0], [
      "Timestamp",
      "ObservedTimestamp",
    ]);
    deepStrictEqual(exact, { Timestamp: BigInt(T), ObservedTimestamp: BigInt(OBSERVED) });

    const span = rows.traces;
    strictEqual(span.SpanFlags, 769);
    strictEqual(span.DroppedAttributesCount, 1);
    strictEqual(span.DroppedEventsCount, 2);
    strictEqual(span.DroppedLinksCount, 3);
    strictEqual(span.Duration, BigInt(OBSERVED) - BigInt(T));
    strictEqual(span.SpanKind, "Server");

    strictEqual(rows.exponential_histogram.ZeroThreshold, 0.001);
    strictEqual(rows.exponential_histogram.Scale, 2);
    strictEqual(rows.exponential_histogram.PositiveOffset, -1);
    deepStrictEqual(rows.exponential_histogram.PositiveBucketCounts, [1n, 0n, 2n]);
    strictEqual(rows.exponential_histogram.NegativeOffset, 3);
    deepStrictEqual(rows.exponential_histogram.NegativeBucketCounts, []);
    strictEqual(rows.exponential_histogram.Min, 0, "Min is 0 when absent");
    strictEqual(rows.gauge.Value, 1);
    strictEqual(rows.sum.Value, 2);
    deepStrictEqual(rows.histogram.BucketCounts, [1n, 2n]);
    deepStrictEqual(rows.histogram.ExplicitBounds, [2.5]);
    strictEqual(rows.histogram.AggregationTemporality, 1);
    deepStrictEqual(rows.summary["ValueAtQuantiles.Value"], [1.5]);
  });
});
