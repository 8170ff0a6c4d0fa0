/**
 * Server mode end to end, metrics: the OpenTelemetry JS SDK's OTLP metric exporters send every
 * kind the SDK makes (gauge, sum, histogram, exponential histogram); hand-built requests add
 * summaries and exemplars (the SDK makes neither). DuckDB and hyparquet read them back.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { HrTime } from "@opentelemetry/api";
import type { ExponentialHistogram, Histogram, MetricData } from "@opentelemetry/sdk-metrics";
import { mapObj } from "../helpers/duckdb.ts";
import { type Server, withServer } from "../helpers/server.ts";
import { AggregationType, CLIENT_VARIANTS, sendMetrics, ValueType } from "../helpers/otel.ts";
import {
  assertColumns,
  assertJsonOk,
  assertKeys,
  attrs,
  DEFAULT_COLUMNS,
  filesOf,
  metricsRequest,
  post,
  PROTO_TYPE,
  readNs,
  rowsOf,
  type Table,
  text,
  uniqueService,
} from "./support.ts";
import { encodeMetricsRequest } from "./proto.ts";

const ns = (t: HrTime) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);

const EMPTY_EXEMPLARS = {
  "Exemplars.FilteredAttributes": [],
  "Exemplars.TimeUnix": [],
  "Exemplars.Value": [],
  "Exemplars.SpanId": [],
  "Exemplars.TraceId": [],
};

/** Common columns every metric row of the SDK tests has. */
function assertCommon(r: Record<string, unknown>, service: string, name: string) {
  strictEqual(r.ServiceName, service, name);
  deepStrictEqual(mapObj(r.ResourceAttributes), { "host.name": "m1", "service.name": service });
  strictEqual(r.ResourceSchemaUrl, "");
  strictEqual(r.ScopeName, "e2e-metrics");
  strictEqual(r.ScopeVersion, "7.8.9");
  deepStrictEqual(mapObj(r.ScopeAttributes), {});
  strictEqual(r.ScopeDroppedAttrCount, 0);
  strictEqual(r.ScopeSchemaUrl, "");
  strictEqual(r.Flags, 0, name);
  for (const [k, v] of Object.entries(EMPTY_EXEMPLARS)) deepStrictEqual(r[k], v, `${name} ${k}`);
}

/** Exact StartTimeUnix/TimeUnix (ns) of every row of `files`, by MetricName and attributes. */
async function exactTimes(files: string[]): Promise<Map<string, [bigint, bigint]>> {
  const out = new Map<string, [bigint, bigint]>();
  for (const f of files) {
    for (const r of await readNs(f, ["MetricName", "StartTimeUnix", "TimeUnix"])) {
      out.set(`${r.MetricName}`, [r.StartTimeUnix as bigint, r.TimeUnix as bigint]);
    }
  }
  return out;
}

for (const { protocol, gzip } of CLIENT_VARIANTS) {
  const variant = `${protocol}${gzip ? "+gzip" : ""}`;
  const temporality = protocol === "json" ? "delta" : "cumulative";
  Deno.test(`SDK metrics over ${variant} (${temporality}) fill gauge, sum, histogram and exponential_histogram`, async () => {
    await withServer({}, async (srv) => {
      const service = uniqueService(`metrics-${protocol}${gzip ? "-gz" : ""}`);
      const { sent } = await sendMetrics(
        { url: srv.url, protocol, gzip, service, resource: { "host.name": "m1" } },
        (meter) => {
          const c = meter.createCounter("e2e.requests", {
            description: "Requests served",
            unit: "1",
            valueType: ValueType.INT,
          });
          c.add(5, { route: "/a" });
          c.add(2, { route: "/b" });
          c.add(1, { route: "/a" });
          const q = meter.createUpDownCounter("e2e.queue", { description: "Queue depth" });
          q.add(3);
          q.add(-5.5);
          meter.createObservableGauge("e2e.temp", { unit: "Cel", description: "Temperature" })
            .addCallback((o) => {
              o.observe(21.5, { room: "a" });
              o.observe(-3, { room: "b" });
            });
          meter.createGauge("e2e.level").record(0.75, { tank: "t1" });
          const h = meter.createHistogram("e2e.latency", {
            unit: "ms",
            advice: { explicitBucketBoundaries: [0, 10, 100] },
          });
          for (const v of [1, 5, 50, 500]) h.record(v, { op: "get" });
          const e = meter.createHistogram("e2e.size", { unit: "By" });
          for (const v of [0, 1, 2, 4, 8, 1000]) e.record(v);
        },
        {
          temporality,
          views: [{
            instrumentName: "e2e.size",
            aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM, options: { maxSize: 160 } },
          }],
        },
      );
      strictEqual(sent.length, 1, "one export");
      const sdk = new Map<string, MetricData>(
        sent[0].scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m]),
      );
      const temporalityCode = temporality === "delta" ? 1 : 2;

      // gauge
      const gaugeFiles = await filesOf(srv, "gauge", service);
      await assertColumns(gaugeFiles, DEFAULT_COLUMNS.gauge);
      await assertKeys(srv, "gauge", service);
      const gauges = await rowsOf(gaugeFiles, "*", "ORDER BY MetricName, Value");
      deepStrictEqual(
        gauges.map((
          r,
        ) => [r.MetricName, r.MetricUnit, r.MetricDescription, mapObj(r.Attributes), r.Value]),
        [
          ["e2e.level", "", "", { tank: "t1" }, 0.75],
          ["e2e.temp", "Cel", "Temperature", { room: "b" }, -3],
          ["e2e.temp", "Cel", "Temperature", { room: "a" }, 21.5],
        ],
      );
      for (const r of gauges) assertCommon(r, service, `gauge ${r.MetricName}`);

      // sum
      const sumFiles = await filesOf(srv, "sum", service);
      await assertColumns(sumFiles, DEFAULT_COLUMNS.sum);
      await assertKeys(srv, "sum", service);
      const sums = await rowsOf(sumFiles, "*", "ORDER BY MetricName, Value");
      deepStrictEqual(
        sums.map((r) => [
          r.MetricName,
          r.MetricDescription,
          r.MetricUnit,
          mapObj(r.Attributes),
          r.Value,
          r.IsMonotonic,
          r.AggregationTemporality,
        ]),
        [
          // the SDK's delta preference keeps up-down counters cumulative (OTel spec)
          ["e2e.queue", "Queue depth", "", {}, -2.5, false, 2],
          ["e2e.requests", "Requests served", "1", { route: "/b" }, 2, true, temporalityCode],
          ["e2e.requests", "Requests served", "1", { route: "/a" }, 6, true, temporalityCode],
        ],
      );
      for (const r of sums) assertCommon(r, service, `sum ${r.MetricName}`);

      // histogram
      const histFiles = await filesOf(srv, "histogram", service);
      await assertColumns(histFiles, DEFAULT_COLUMNS.histogram);
      await assertKeys(srv, "histogram", service);
      const [hist, ...moreHist] = await rowsOf(histFiles);
      strictEqual(moreHist.length, 0);
      assertCommon(hist, service, "histogram");
      strictEqual(hist.MetricName, "e2e.latency");
      strictEqual(hist.MetricUnit, "ms");
      deepStrictEqual(mapObj(hist.Attributes), { op: "get" });
      strictEqual(hist.Count, 4n);
      strictEqual(hist.Sum, 556);
      deepStrictEqual(hist.BucketCounts, [0n, 2n, 1n, 1n]);
      deepStrictEqual(hist.ExplicitBounds, [0, 10, 100]);
      strictEqual(hist.Min, 1);
      strictEqual(hist.Max, 500);
      strictEqual(hist.AggregationTemporality, temporalityCode);
      const sdkHist = sdk.get("e2e.latency")!.dataPoints[0].value as Histogram;
      deepStrictEqual(hist.BucketCounts, sdkHist.buckets.counts.map(BigInt));

      // exponential histogram: compared with what the SDK aggregated
      const expFiles = await filesOf(srv, "exponential_histogram", service);
      await assertColumns(expFiles, DEFAULT_COLUMNS.exponential_histogram);
      await assertKeys(srv, "exponential_histogram", service);
      const [exp, ...moreExp] = await rowsOf(expFiles);
      strictEqual(moreExp.length, 0);
      assertCommon(exp, service, "exponential_histogram");
      const sdkExp = sdk.get("e2e.size")!.dataPoints[0].value as ExponentialHistogram;
      strictEqual(exp.MetricName, "e2e.size");
      strictEqual(exp.MetricUnit, "By");
      strictEqual(exp.Count, 6n);
      strictEqual(exp.Sum, 1015);
      strictEqual(exp.ZeroCount, 1n);
      strictEqual(exp.Min, 0);
      strictEqual(exp.Max, 1000);
      strictEqual(exp.AggregationTemporality, temporalityCode);
      strictEqual(exp.Scale, sdkExp.scale);
      strictEqual(exp.PositiveOffset, sdkExp.positive.offset);
      deepStrictEqual(exp.PositiveBucketCounts, sdkExp.positive.bucketCounts.map(BigInt));
      strictEqual(exp.NegativeOffset, sdkExp.negative.offset);
      deepStrictEqual(exp.NegativeBucketCounts, sdkExp.negative.bucketCounts.map(BigInt));
      const positive = (exp.PositiveBucketCounts as bigint[]).reduce((a, b) => a + b, 0n);
      strictEqual(positive + (exp.ZeroCount as bigint), 6n, "every value is in a bucket");
      ok((exp.Scale as number) < 20, `scale ${exp.Scale} was reduced to fit 160 buckets`);

      // nanosecond start and end times, exactly as the SDK stamped them
      const times = new Map<string, [bigint, bigint]>();
      for (const t of ["histogram", "exponential_histogram"] as Table[]) {
        for (const [k, v] of await exactTimes(await filesOf(srv, t, service))) times.set(k, v);
      }
      for (const name of ["e2e.latency", "e2e.size"]) {
        const p = sdk.get(name)!.dataPoints[0];
        deepStrictEqual(times.get(name), [ns(p.startTime), ns(p.endTime)], name);
      }
    });
  });
}

/** The ExportMetricsServiceRequest (OTLP/JSON) of the hand-built summary/exemplar tests. */
function summaryAndExemplars(service: string) {
  const exemplar = {
    filteredAttributes: attrs({ "user.id": "u1" }),
    timeUnixNano: "1700000000123456789",
    asInt: "7",
    spanId: "00f067aa0ba902b7",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  };
  return metricsRequest(service, [
    {
      name: "e2e.rpc.duration",
      description: "RPC duration",
      unit: "s",
      summary: {
        dataPoints: [{
          attributes: attrs({ method: "Get" }),
          startTimeUnixNano: "1700000000000000001",
          timeUnixNano: "1700000000123456789",
          count: "10",
          sum: 12.5,
          quantileValues: [
            { quantile: 0, value: 0.1 },
            { quantile: 0.5, value: 1 },
            { quantile: 0.99, value: 3.25 },
            { quantile: 1, value: 4 },
          ],
          flags: 1,
        }],
      },
    },
    {
      name: "e2e.latency",
      histogram: {
        aggregationTemporality: 1,
        dataPoints: [{
          timeUnixNano: "1700000000123456789",
          count: "2",
          sum: 7.5,
          bucketCounts: ["1", "1"],
          explicitBounds: [5],
          exemplars: [{ ...exemplar, asInt: undefined, asDouble: 6.5 }],
        }],
      },
    },
    {
      name: "e2e.hits",
      gauge: {
        dataPoints: [{
          timeUnixNano: "1700000000123456789",
          asDouble: 2.5,
          exemplars: [exemplar, { timeUnixNano: "1700000000000000002", asDouble: 0.5 }],
        }],
      },
    },
  ]);
}

async function assertSummaryAndExemplars(srv: Server, service: string) {
  const files = await filesOf(srv, "summary", service);
  await assertColumns(files, DEFAULT_COLUMNS.summary);
  await assertKeys(srv, "summary", service);
  const [s, ...more] = await rowsOf(files);
  strictEqual(more.length, 0);
  strictEqual(s.MetricName, "e2e.rpc.duration");
  strictEqual(s.MetricDescription, "RPC duration");
  strictEqual(s.MetricUnit, "s");
  deepStrictEqual(mapObj(s.Attributes), { method: "Get" });
  strictEqual(s.Count, 10n);
  strictEqual(s.Sum, 12.5);
  deepStrictEqual(s["ValueAtQuantiles.Quantile"], [0, 0.5, 0.99, 1]);
  deepStrictEqual(s["ValueAtQuantiles.Value"], [0.1, 1, 3.25, 4]);
  strictEqual(s.Flags, 1);
  const [exact] = await readNs(files[0], ["StartTimeUnix", "TimeUnix"]);
  deepStrictEqual(exact, {
    StartTimeUnix: 1_700_000_000_000_000_001n,
    TimeUnix: 1_700_000_000_123_456_789n,
  });

  const gaugeFiles = await filesOf(srv, "gauge", service);
  const [g] = await rowsOf(gaugeFiles);
  strictEqual(g.Value, 2.5);
  deepStrictEqual((g["Exemplars.FilteredAttributes"] as unknown[]).map(mapObj), [
    { "user.id": "u1" },
    {},
  ]);
  deepStrictEqual(g["Exemplars.Value"], [7, 0.5]);
  deepStrictEqual(g["Exemplars.SpanId"], ["00f067aa0ba902b7", ""]);
  deepStrictEqual(g["Exemplars.TraceId"], ["4bf92f3577b34da6a3ce929d0e0e4736", ""]);
  const [h] = await rowsOf(await filesOf(srv, "histogram", service));
  deepStrictEqual(
    [h.Count, h.Sum, h.BucketCounts, h.ExplicitBounds, h.Min, h.Max, h.AggregationTemporality],
    [2n, 7.5, [1n, 1n], [5], 0, 0, 1],
  );
  deepStrictEqual(h["Exemplars.Value"], [6.5]);
  deepStrictEqual(h["Exemplars.TraceId"], ["4bf92f3577b34da6a3ce929d0e0e4736"]);
  deepStrictEqual((h["Exemplars.FilteredAttributes"] as unknown[]).map(mapObj), [{
    "user.id": "u1",
  }]);
  const [ex] = await readNs(gaugeFiles[0], ["Exemplars.TimeUnix"]);
  deepStrictEqual(ex["Exemplars.TimeUnix"], [
    1_700_000_000_123_456_789n,
    1_700_000_000_000_000_002n,
  ]);
}

Deno.test("summary points and exemplars from a hand-built OTLP/JSON request are stored", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("summary-json");
    const a = await post(`${srv.url}/v1/metrics`, JSON.stringify(summaryAndExemplars(service)), {
      "content-type": "application/json",
    });
    assertJsonOk(a);
    await assertSummaryAndExemplars(srv, service);
  });
});

Deno.test("summary points and exemplars from a protobuf request (protobufjs over proto/) are stored", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("summary-proto");
    const body = await encodeMetricsRequest(summaryAndExemplars(service));
    const a = await post(`${srv.url}/v1/metrics`, body, PROTO_TYPE);
    strictEqual(a.status, 200, text(a.body));
    ok(a.headers.get("content-type")?.includes("protobuf"), a.headers.get("content-type")!);
    strictEqual(a.body.length, 0, "an empty ExportMetricsServiceResponse");
    await assertSummaryAndExemplars(srv, service);
  });
});

Deno.test("NaN and infinite metric values are stored as they are", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("nonfinite");
    const req = metricsRequest(service, [{
      name: "e2e.weird",
      gauge: {
        dataPoints: [NaN, Infinity, -Infinity].map((v, i) => ({
          timeUnixNano: `170000000000000000${i}`,
          asDouble: v,
          attributes: attrs({ i: String(i) }),
        })),
      },
    }]);
    const a = await post(`${srv.url}/v1/metrics`, await encodeMetricsRequest(req), PROTO_TYPE);
    strictEqual(a.status, 200, text(a.body));
    const rows = await rowsOf(await filesOf(srv, "gauge", service));
    const values = rows.sort((x, y) => +mapObj(x.Attributes).i - +mapObj(y.Attributes).i)
      .map((r) => r.Value);
    deepStrictEqual(values, [NaN, Infinity, -Infinity]);
  });
});
