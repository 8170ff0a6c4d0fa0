/**
 * The benchmark's request generator (bench/gen.ts): deterministic for a seed, exact record
 * counts, protobuf that the reference implementation (protobufjs over proto/) reads as the same
 * message.
 */
import { deepStrictEqual, notDeepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import protobuf from "protobufjs";
import {
  countRecords,
  generate,
  generateRequest,
  type GenSignal,
  METRIC_KINDS,
  PbWriter,
  toProtobuf,
} from "../../bench/gen.ts";
import { otlpRoot } from "../e2e/proto.ts";

const SIGNALS: GenSignal[] = ["logs", "traces", "metrics"];
const TYPE: Record<GenSignal, string> = {
  logs: "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
  traces: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
  metrics: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
};

Deno.test("generate() is deterministic for a seed and differs between seeds", () => {
  for (const s of SIGNALS) {
    const a = generateRequest(s, { records: 40, seed: 42 });
    const b = generateRequest(s, { records: 40, seed: 42 });
    const c = generateRequest(s, { records: 40, seed: 43 });
    deepStrictEqual(a.protobuf, b.protobuf, `${s}: protobuf differs for one seed`);
    strictEqual(a.json, b.json, `${s}: JSON differs for one seed`);
    notDeepStrictEqual(a.protobuf, c.protobuf, `${s}: seeds 42 and 43 gave the same request`);
  }
});

Deno.test("generate() makes exactly the requested number of records", () => {
  for (const s of SIGNALS) {
    for (const n of [1, 2, 7, 250]) {
      strictEqual(countRecords(s, generate(s, { records: n, seed: 3 })), n, `${s} × ${n}`);
    }
  }
  throws(() => generate("logs", { records: 0 }), RangeError);
});

Deno.test("generate() covers all five metric kinds, exemplars, events, links and trace context", () => {
  const m = generate("metrics", { records: 300, seed: 5 });
  const kinds = new Set<string>();
  let exemplars = 0;
  for (const rm of m.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const metric of sm.metrics) {
        for (const k of METRIC_KINDS) {
          if (!metric[k]) continue;
          kinds.add(k);
          for (const p of metric[k].dataPoints) exemplars += p.exemplars?.length ?? 0;
        }
      }
    }
  }
  deepStrictEqual([...kinds].sort(), [...METRIC_KINDS].sort());
  ok(exemplars > 0, "no exemplars");
  const t = generate("traces", { records: 300, seed: 5 });
  const spans = t.resourceSpans.flatMap((r: { scopeSpans: { spans: unknown[] }[] }) =>
    r.scopeSpans.flatMap((s) => s.spans)
  );
  ok(spans.some((s: { events?: unknown[] }) => s.events?.length), "no events");
  ok(spans.some((s: { links?: unknown[] }) => s.links?.length), "no links");
  ok(spans.some((s: { status?: { code: number } }) => s.status?.code === 2), "no error status");
  const l = generate("logs", { records: 300, seed: 5 });
  const recs = l.resourceLogs.flatMap((
    r: { scopeLogs: { logRecords: { traceId?: string; body: { stringValue: string } }[] }[] },
  ) => r.scopeLogs.flatMap((s) => s.logRecords));
  const traced = recs.filter((r: { traceId?: string }) => r.traceId).length;
  ok(traced > 100 && traced < 200, `trace context on ${traced} of 300 logs, expected about half`);
  for (const r of recs) {
    const n = r.body.stringValue.length;
    ok(n >= 100 && n <= 300, `body of ${n} characters`);
  }
});

Deno.test("PbWriter writes multi-byte length prefixes for long strings and nested messages", () => {
  const w = new PbWriter();
  w.tag(1, 2);
  w.begin();
  w.tag(2, 2);
  w.string("x".repeat(300));
  w.end();
  const b = w.finish();
  // 0x0a, len(303) = 0xaf 0x02, 0x12, len(300) = 0xac 0x02, then the 300 bytes
  deepStrictEqual([...b.subarray(0, 6)], [0x0a, 0xaf, 0x02, 0x12, 0xac, 0x02]);
  strictEqual(b.length, 306);
});

Deno.test("toProtobuf() bytes read back in protobufjs as the message it encodes itself", async () => {
  const root = await otlpRoot();
  const opts: protobuf.IConversionOptions = {
    longs: String,
    enums: Number,
    bytes: String,
    defaults: false,
  };
  for (const s of SIGNALS) {
    const req = generate(s, { records: 60, seed: 11 });
    const T = root.lookupType(TYPE[s]);
    const ours = T.toObject(T.decode(toProtobuf(s, req)), opts);
    const oracle = T.toObject(
      T.decode(T.encode(T.fromObject(withBinaryIds(req) as Record<string, unknown>)).finish()),
      opts,
    );
    deepStrictEqual(ours, oracle, `${s}: protobuf disagrees with protobufjs`);
  }
});

const ID_KEYS = new Set(["traceId", "spanId", "parentSpanId"]);

function withBinaryIds(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withBinaryIds);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (ID_KEYS.has(k) && typeof x === "string") {
      out[k] = Uint8Array.from(x.match(/../g)!.map((h) => parseInt(h, 16)));
    } else out[k] = withBinaryIds(x);
  }
  return out;
}
