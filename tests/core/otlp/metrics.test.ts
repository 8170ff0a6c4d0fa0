import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import { cat, dec, encodePb, fld, table, toOtlpJson } from "../fixtures.ts";
import { METRICS_REQ, POINT_NS } from "../requests.ts";

/** Columns 1–14 and the service columns for `n` rows of metric (name, description, unit). */
function common(
  n: number,
  name: string,
  desc: string,
  unit: string,
  attrs: unknown[],
  start: bigint[],
) {
  const fill = (v: unknown) => Array(n).fill(v);
  return {
    ResourceAttributes: fill([["service.instance.id", "inst"], ["service.name", "m"], [
      "service.namespace",
      "ns",
    ]]),
    ResourceSchemaUrl: fill("https://r"),
    ScopeName: fill("meter"),
    ScopeVersion: fill("2"),
    ScopeAttributes: fill([["k", "v"]]),
    ScopeDroppedAttrCount: fill(5),
    ScopeSchemaUrl: fill("https://s"),
    ServiceName: fill("m"),
    MetricName: fill(name),
    MetricDescription: fill(desc),
    MetricUnit: fill(unit),
    Attributes: attrs,
    StartTimeUnix: start,
    TimeUnix: fill(BigInt(POINT_NS)),
  };
}
const service = (n: number) => ({
  ServiceNamespace: Array(n).fill("ns"),
  ServiceInstanceId: Array(n).fill("inst"),
});
const noExemplars = (n: number) => ({
  "Exemplars.FilteredAttributes": Array(n).fill([]),
  "Exemplars.TimeUnix": Array(n).fill([]),
  "Exemplars.Value": Array(n).fill([]),
  "Exemplars.SpanId": Array(n).fill([]),
  "Exemplars.TraceId": Array(n).fill([]),
});

const EXPECTED: Record<string, Record<string, unknown[]>> = {
  gauge: {
    ...common(3, "temp", "Temperature", "Cel", [[["room", "a"]], [], []], [1n, 0n, 0n]),
    Value: [21.5, -9007199254740992, 9223372036854775808],
    Flags: [1, 0, 0],
    "Exemplars.FilteredAttributes": [[[["user", "u"]], []], [], []],
    "Exemplars.TimeUnix": [[1700000000000000001n, 0n], [], []],
    "Exemplars.Value": [[7, 0.25], [], []],
    "Exemplars.SpanId": [["00f067aa0ba902b7", ""], [], []],
    "Exemplars.TraceId": [["4bf92f3577b34da6a3ce929d0e0e4736", ""], [], []],
    ...service(3),
  },
  sum: {
    ...common(2, "requests", "", "1", [[], []], [0n, 0n]),
    Value: [10, NaN],
    Flags: [0, 0],
    ...noExemplars(2),
    AggregationTemporality: [2, 2],
    IsMonotonic: [true, true],
    ...service(2),
  },
  histogram: {
    ...common(2, "latency", "", "ms", [[], []], [1699999999000000000n, 0n]),
    Count: [5n, 18446744073709551615n],
    Sum: [12.5, 0],
    BucketCounts: [[1n, 2n, 2n], []],
    ExplicitBounds: [[1, 10], []],
    "Exemplars.FilteredAttributes": [[[]], []],
    "Exemplars.TimeUnix": [[0n], []],
    "Exemplars.Value": [[3], []],
    "Exemplars.SpanId": [["00f067aa0ba902b7"], []],
    "Exemplars.TraceId": [["4bf92f3577b34da6a3ce929d0e0e4736"], []],
    Flags: [0, 0],
    Min: [0.5, 0],
    Max: [9, 0],
    AggregationTemporality: [1, 1],
    ...service(2),
  },
  exponential_histogram: {
    ...common(1, "exp", "", "", [[]], [0n]),
    Count: [6n],
    Sum: [3],
    Scale: [-3],
    ZeroCount: [2n],
    PositiveOffset: [-2],
    PositiveBucketCounts: [[1n, 3n]],
    NegativeOffset: [5],
    NegativeBucketCounts: [[9007199254740993n]],
    ...noExemplars(1),
    Flags: [1],
    Min: [-1],
    Max: [4],
    AggregationTemporality: [2],
    ZeroThreshold: [1e-9],
    ...service(1),
  },
  summary: {
    ...common(2, "sum_q", "", "", [[["a", "true"], ["z", "1"]], []], [0n, 0n]),
    Count: [3n, 0n],
    Sum: [7.5, 0],
    "ValueAtQuantiles.Quantile": [[0.5, 0.99], []],
    "ValueAtQuantiles.Value": [[2, 5], []],
    Flags: [0, 0],
    ...service(2),
  },
};

const MESSAGE =
  'metric "temp": 1 data point without a value; metric "requests": 2 data points without a value; ' +
  'metric "none": 1 data point without a value';

function check(body: Uint8Array | string, format: "protobuf" | "json") {
  const d = dec("metrics", body, format);
  strictEqual(d.records, 10);
  strictEqual(d.rejected, 4);
  strictEqual(d.message, MESSAGE);
  deepStrictEqual(d.tables.map((t) => t.table), [
    "gauge",
    "sum",
    "histogram",
    "exponential_histogram",
    "summary",
  ]);
  for (const name of Object.keys(EXPECTED)) {
    deepStrictEqual(table(d, name as "gauge"), EXPECTED[name], name);
  }
}

Deno.test("decode() fills every column of the five metric tables and rejects points without a value", () => {
  check(encodePb("metrics", METRICS_REQ), "protobuf");
});

Deno.test("decode() gives the same metric columns for OTLP/JSON as for protobuf", () => {
  check(toOtlpJson("metrics", METRICS_REQ), "json");
});

Deno.test("decode() reads JSON metric enums by name and 64-bit counts as numbers", () => {
  const json = JSON.stringify({
    resourceMetrics: [{
      scopeMetrics: [{
        metrics: [{
          name: "c",
          sum: {
            aggregationTemporality: "AGGREGATION_TEMPORALITY_DELTA",
            isMonotonic: false,
            dataPoints: [{ asInt: 3, timeUnixNano: 5 }],
          },
        }, {
          name: "h",
          histogram: {
            dataPoints: [{
              count: 7,
              bucketCounts: [3, "4"],
              explicitBounds: [1.5],
              sum: "Infinity",
            }],
          },
        }],
      }],
    }],
  });
  const d = dec("metrics", json, "json");
  const sum = table(d, "sum"), h = table(d, "histogram");
  deepStrictEqual([sum.AggregationTemporality, sum.IsMonotonic, sum.Value, sum.TimeUnix], [
    [1],
    [false],
    [3],
    [5n],
  ]);
  deepStrictEqual([h.Count, h.BucketCounts, h.ExplicitBounds, h.Sum], [[7n], [[3n, 4n]], [[1.5]], [
    Infinity,
  ]]);
});

Deno.test("decode() accepts unpacked repeated numbers and fields in any order", () => {
  // HistogramDataPoint with bucket_counts and explicit_bounds one value per field, interleaved.
  const point = cat(
    fld(6, 1, 1n),
    fld(7, 1, 0.5),
    fld(3, 1, 9n),
    fld(6, 1, 2n),
    fld(4, 1, 3n),
    fld(12, 1, 7),
  );
  const hist = cat(fld(1, 2, point), fld(2, 0, 2)); // temporality after the points
  const metric = cat(fld(9, 2, hist), fld(1, 2, "late-name")); // name after the data
  const buckets = cat(fld(2, 0, 5), fld(1, 0, 3 /* zigzag -2 */), fld(2, 0, 6));
  const exp = fld(1, 2, cat(fld(8, 2, buckets), fld(6, 0, 1 /* zigzag -1 */)));
  const metric2 = cat(fld(1, 2, "e"), fld(10, 2, exp));
  const sum = cat(fld(1, 2, fld(6, 1, -5n)), fld(3, 0, 1), fld(2, 0, 1)); // as_int -5
  const metric3 = cat(fld(7, 2, sum), fld(1, 2, "s"));
  const req = fld(1, 2, fld(2, 2, cat(fld(2, 2, metric), fld(2, 2, metric2), fld(2, 2, metric3))));
  const d = dec("metrics", req);
  const h = table(d, "histogram"), e = table(d, "exponential_histogram"), s = table(d, "sum");
  deepStrictEqual(h.MetricName, ["late-name"]);
  deepStrictEqual(h.BucketCounts, [[1n, 2n]]);
  deepStrictEqual(h.ExplicitBounds, [[0.5]]);
  deepStrictEqual([h.Count, h.TimeUnix, h.Max, h.AggregationTemporality], [[3n], [9n], [7], [2]]);
  deepStrictEqual([e.PositiveOffset, e.PositiveBucketCounts, e.Scale], [[-2], [[5n, 6n]], [-1]]);
  deepStrictEqual([s.Value, s.IsMonotonic, s.AggregationTemporality], [[-5], [true], [1]]);
});

Deno.test("decode() of a metrics request cut at every byte either decodes or throws DecodeError", () => {
  const full = encodePb("metrics", METRICS_REQ);
  for (let n = 0; n < full.length; n++) {
    try {
      const d = dec("metrics", full.subarray(0, n));
      for (const t of d.tables) t.assertAligned();
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
  }
});
