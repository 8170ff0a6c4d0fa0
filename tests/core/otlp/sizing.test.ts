/**
 * Column buffers sized from earlier requests (src/core/otlp/sizing.ts), the scratch objects a
 * decode reuses, and the bulk fill of the columns rows repeat from their resource and scope.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import type { Column } from "../../../src/core/columns/index.ts";
import {
  learnSizes,
  reservedBytes,
  resetSizes,
  sizedTable,
  wasSized,
} from "../../../src/core/otlp/sizing.ts";
import { pooledScratchBytes } from "../../../src/core/otlp/scratch.ts";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import type { Signal } from "../../../src/core/tables.ts";
import { generateRequest } from "../../../bench/gen.ts";
import { decode } from "../../../src/core/otlp/index.ts";
import { dec, encodePb, fld, readTable, type Req } from "../fixtures.ts";

const SIGNALS: Signal[] = ["logs", "traces", "metrics"];

/** Every table of a decode, read back. */
function readAll(signal: Signal, body: Uint8Array) {
  const d = dec(signal, body);
  return {
    records: d.records,
    rejected: d.rejected,
    tables: d.tables.map((t) => ({ table: t.table, cols: readTable(t) })),
  };
}

function gen(signal: Signal, records: number, seed: number): Uint8Array {
  return generateRequest(signal, { records, seed, services: 3 }).protobuf;
}

/** The distinct ArrayBuffers behind a table's column buffers. */
function buffersOf(cols: Record<string, Column>): Set<ArrayBufferLike> {
  const out = new Set<ArrayBufferLike>();
  // deno-lint-ignore no-explicit-any
  const walk = (c: any) => {
    for (const f of ["offsets", "data", "values", "halves"]) {
      if (ArrayBuffer.isView(c[f]) && c[f].byteLength > 0) out.add(c[f].buffer);
    }
    if (c.keys) walk(c.keys);
    if (c.values && !ArrayBuffer.isView(c.values)) walk(c.values);
    if (c.child) walk(c.child);
  };
  for (const c of Object.values(cols)) walk(c);
  return out;
}

for (const signal of SIGNALS) {
  Deno.test(`${signal}: a decode sized from a history gives the same rows as one without`, () => {
    const body = gen(signal, 300, 5);
    resetSizes();
    const fresh = readAll(signal, body);
    readAll(signal, gen(signal, 200, 6)); // learn
    const sized = readAll(signal, body);
    deepStrictEqual(sized, fresh);
    strictEqual(fresh.records, 300);
  });

  Deno.test(`${signal}: a history of small requests does not break a large one, nor the reverse`, () => {
    const big = gen(signal, 3000, 7), small = gen(signal, 2, 8);
    resetSizes();
    const bigFresh = readAll(signal, big);
    resetSizes();
    const smallFresh = readAll(signal, small);
    readAll(signal, gen(signal, 1, 9));
    deepStrictEqual(readAll(signal, big), bigFresh); // estimates far too small: buffers grow
    deepStrictEqual(readAll(signal, small), smallFresh); // estimates far too large
  });
}

Deno.test("sizedTable() starts empty without a history, then carves every buffer from one", () => {
  resetSizes();
  const body = gen("logs", 100, 1);
  const first = sizedTable("logs", body.length);
  strictEqual(wasSized(first), false);
  const d = dec("logs", body);
  const t = sizedTable("logs", body.length);
  ok(wasSized(t));
  const bufs = buffersOf(t.cols as unknown as Record<string, Column>);
  strictEqual(bufs.size, 1);
  // Room for about as much as the request just decoded needed, within the margin.
  const need = d.tables[0].byteSize();
  const have = [...bufs][0].byteLength;
  ok(have >= need && have < 2 * need, `${have} bytes for a request that needed ${need}`);
});

Deno.test("sizedTable() never reserves more than 16× the input from a skewed history", () => {
  resetSizes();
  // 100 resource attributes copied into 2,000 tiny records: the columns are ~100× the input.
  const attrs = Array.from({ length: 100 }, (_, i) => ({
    key: `attribute.number.${i}`,
    value: { stringValue: `value of attribute ${i}` },
  }));
  const req: Req = {
    resourceLogs: [{
      resource: { attributes: attrs },
      scopeLogs: [{ logRecords: Array.from({ length: 2000 }, () => ({ severityNumber: 9 })) }],
    }],
  };
  const body = encodePb("logs", req);
  const d = dec("logs", body);
  ok(d.tables[0].byteSize() > 50 * body.length);
  const t = sizedTable("logs", 1_000_000);
  const bytes = [...buffersOf(t.cols as unknown as Record<string, Column>)][0].byteLength;
  ok(bytes <= 16 * 1_000_000 + 64 * 1024, `${bytes} bytes reserved`);
  // And a table made after that still decodes correctly.
  const expected = readTable(d.tables[0]).ResourceAttributes[0];
  strictEqual((expected as unknown[]).length, 100);
  deepStrictEqual(readAll("logs", body).tables[0].cols.ResourceAttributes[1999], expected);
});

Deno.test("learnSizes() ignores empty tables and empty input", () => {
  resetSizes();
  const empty = sizedTable("gauge", 1000);
  learnSizes(empty, 1000);
  learnSizes(empty, 0);
  strictEqual(wasSized(sizedTable("gauge", 1000)), false);
});

Deno.test("a decode that fails half-way does not disturb the next one", () => {
  const good = gen("traces", 50, 3);
  const expected = readAll("traces", good);
  // The same request cut short: resources and scopes were read before the error.
  throws(() => dec("traces", good.subarray(0, good.length - 7)), DecodeError);
  throws(() => dec("logs", good), DecodeError);
  deepStrictEqual(readAll("traces", good), expected);
});

const str = (s: string) => ({ stringValue: s });

Deno.test("each row repeats its own resource and scope, across resources, scopes and empty ones", () => {
  const req: Req = {
    resourceLogs: [
      {
        resource: {
          attributes: [{ key: "service.name", value: str("a") }, {
            key: "k",
            value: { intValue: "7" },
          }],
        },
        schemaUrl: "https://res/a",
        scopeLogs: [
          {
            scope: { name: "s1", version: "1", attributes: [{ key: "x", value: str("1") }] },
            schemaUrl: "https://scope/1",
            logRecords: [{ body: str("r1") }, { body: str("r2") }, { body: str("r3") }],
          },
          { scope: { name: "s2" }, logRecords: [] },
          { scope: { name: "s3" }, logRecords: [{ body: str("r4") }] },
        ],
      },
      { resource: {}, scopeLogs: [{ logRecords: [{ body: str("r5") }] }] },
      {
        resource: { attributes: [{ key: "service.namespace", value: str("ns") }] },
        scopeLogs: [{ scope: { version: "9" }, logRecords: [{ body: str("r6") }, {}] }],
      },
    ],
  };
  const t = readAll("logs", encodePb("logs", req)).tables[0].cols;
  deepStrictEqual(t.Body, ["r1", "r2", "r3", "r4", "r5", "r6", ""]);
  deepStrictEqual(t.ServiceName, ["a", "a", "a", "a", "", "", ""]);
  deepStrictEqual(t.ServiceNamespace, ["", "", "", "", "", "ns", "ns"]);
  const resA = [["k", "7"], ["service.name", "a"]];
  deepStrictEqual(t.ResourceAttributes, [
    resA,
    resA,
    resA,
    resA,
    [],
    [["service.namespace", "ns"]],
    [["service.namespace", "ns"]],
  ]);
  deepStrictEqual(t.ResourceSchemaUrl, Array(4).fill("https://res/a").concat(["", "", ""]));
  deepStrictEqual(t.ScopeName, ["s1", "s1", "s1", "s3", "", "", ""]);
  deepStrictEqual(t.ScopeVersion, ["1", "1", "1", "", "", "9", "9"]);
  deepStrictEqual(t.ScopeSchemaUrl, Array(3).fill("https://scope/1").concat(["", "", "", ""]));
  deepStrictEqual(t.ScopeAttributes, Array(3).fill([["x", "1"]]).concat([[], [], [], []]));
});

Deno.test("metric rows repeat their resource and scope in every table a scope wrote to", () => {
  const point = (v: number) => ({ timeUnixNano: "1", asDouble: v });
  const req: Req = {
    resourceMetrics: [1, 2].map((n) => ({
      resource: { attributes: [{ key: "service.name", value: str(`svc${n}`) }] },
      scopeMetrics: [{
        scope: { name: `scope${n}` },
        metrics: [
          { name: "g", gauge: { dataPoints: [point(1), point(2)] } },
          { name: "s", sum: { dataPoints: Array.from({ length: n }, () => point(3)) } },
          {
            name: "g2",
            description: "second",
            unit: "ms",
            gauge: { dataPoints: [point(4), { timeUnixNano: "1" }, point(5)] },
          },
        ],
      }],
    })),
  };
  const d = readAll("metrics", encodePb("metrics", req));
  const gauge = d.tables.find((t) => t.table === "gauge")!.cols;
  const sum = d.tables.find((t) => t.table === "sum")!.cols;
  deepStrictEqual(gauge.Value, [1, 2, 4, 5, 1, 2, 4, 5]);
  deepStrictEqual(gauge.ServiceName, [...Array(4).fill("svc1"), ...Array(4).fill("svc2")]);
  deepStrictEqual(gauge.ScopeName, [...Array(4).fill("scope1"), ...Array(4).fill("scope2")]);
  deepStrictEqual(gauge.MetricName, ["g", "g", "g2", "g2", "g", "g", "g2", "g2"]);
  deepStrictEqual(gauge.MetricDescription, [
    "",
    "",
    "second",
    "second",
    "",
    "",
    "second",
    "second",
  ]);
  deepStrictEqual(gauge.MetricUnit, ["", "", "ms", "ms", "", "", "ms", "ms"]);
  deepStrictEqual(sum.MetricName, ["s", "s", "s"]);
  strictEqual(d.rejected, 2); // the points without a value
  deepStrictEqual(sum.ServiceName, ["svc1", "svc2", "svc2"]);
  deepStrictEqual(sum.ResourceAttributes, [
    [["service.name", "svc1"]],
    [["service.name", "svc2"]],
    [["service.name", "svc2"]],
  ]);
});

Deno.test("a table that used under half its reserved buffer keeps an exact-size copy instead", () => {
  resetSizes();
  const gaugeOnly = generateRequest("metrics", { records: 2000, seed: 3, metricKinds: ["gauge"] });
  const mostlyHistograms = generateRequest("metrics", {
    records: 2000,
    seed: 4,
    metricKinds: ["histogram", "histogram", "histogram", "gauge"],
  });
  const fresh = readAll("metrics", mostlyHistograms.protobuf);
  readAll("metrics", gaugeOnly.protobuf); // gauge: a high rate per input byte
  const d = decode("metrics", mostlyHistograms.protobuf, "protobuf", { receivedAtNs: 1n });
  const gauge = d.tables.find((t) => t.table === "gauge")!;
  ok(wasSized(gauge));
  const used = gauge.byteSize();
  const kept = reservedBytes(gauge);
  ok(kept > 0 && kept <= 2 * used + 64 * 1024, `${kept} bytes kept for ${used} used`);
  const bufs = buffersOf(gauge.cols as unknown as Record<string, Column>);
  strictEqual(bufs.size, 1);
  strictEqual([...bufs][0].byteLength, kept);
  deepStrictEqual(
    {
      records: d.records,
      rejected: d.rejected,
      tables: d.tables.map((t) => ({ table: t.table, cols: readTable(t) })),
    },
    fresh,
  );
});

Deno.test("scratch grown by a record of 100,000 attributes is not kept for the next request", () => {
  // KeyValue{key "k", value AnyValue{string_value "v"}} as LogRecord field 6, 100,000 times.
  const kv = [0x32, 8, 0x0a, 1, 0x6b, 0x12, 3, 0x0a, 1, 0x76];
  const attrs = new Uint8Array(kv.length * 100_000);
  for (let i = 0; i < 100_000; i++) attrs.set(kv, i * kv.length);
  const body = fld(1, 2, fld(2, 2, fld(2, 2, attrs)));
  const d = dec("logs", body);
  deepStrictEqual(readTable(d.tables[0]).LogAttributes, [[["k", "v"]]]);
  strictEqual(pooledScratchBytes(), 0);
  dec("logs", gen("logs", 20, 1));
  const kept = pooledScratchBytes();
  ok(kept > 0 && kept < 64 * 1024, `${kept} bytes kept after a usual request`);
});
