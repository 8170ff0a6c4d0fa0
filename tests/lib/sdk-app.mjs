/**
 * For tests/lib/sdk.test.ts: an application instrumented with the OpenTelemetry JS SDK whose
 * every export goes to two exporters at once (a tee): ours from `otlp2parquet/sdk`, writing
 * files with the library, and the SDK's own OTLP/HTTP protobuf exporter, sending to the server.
 * Plain JavaScript, so Node, Deno and Bun run it as it is:
 *
 *   node|bun|deno run -A tests/lib/sdk-app.mjs LIB_URL OUT_DIR SERVER_URL SERVICE
 *
 * LIB_URL is the folder of the library's entries (dist/lib/ built, or src/lib/ for Deno), with
 * `index` and `sdk` modules. It makes spans with attributes, events, links and statuses, log
 * records in and out of span context, and every metric kind the SDK has (sums from counters and
 * up-down counters, gauges, histograms, exponential histograms; the JS SDK makes no summaries),
 * then shuts the providers down and prints one JSON line with what was exported.
 */
import process from "node:process";
import { context, SpanKind, SpanStatusCode, trace, ValueType } from "@opentelemetry/api";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { ExportResultCode, TraceState } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import {
  AggregationType,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";

const [libUrl, out, serverUrl, service] = process.argv.slice(2);
const ext = libUrl.includes("/src/") ? "ts" : "mjs";
const { createWriter } = await import(new URL(`index.${ext}`, libUrl).href);
const { ParquetLogRecordExporter, ParquetMetricExporter, ParquetSpanExporter } = await import(
  new URL(`sdk.${ext}`, libUrl).href
);

const exports = { traces: 0, logs: 0, metrics: 0 };
const failures = [];

/** One exporter that hands every batch to `ours` and `theirs`; fails if either does. */
function tee(signal, ours, theirs) {
  return {
    export(items, done) {
      exports[signal]++;
      let left = 2, failed = null;
      const one = (name) => (r) => {
        if (r.code !== ExportResultCode.SUCCESS) {
          failed = r;
          failures.push(`${signal} ${name}: ${r.error?.message ?? r.error}`);
        }
        if (--left === 0) done(failed ?? r);
      };
      ours.export(items, one("ours"));
      theirs.export(items, one("otlp"));
    },
    forceFlush: async () => {
      await ours.forceFlush();
      await theirs.forceFlush?.();
    },
    shutdown: async () => {
      await ours.shutdown();
      await theirs.shutdown();
    },
    selectAggregationTemporality: ours.selectAggregationTemporality?.bind(ours),
  };
}

const resource = resourceFromAttributes({
  "service.name": service,
  "service.version": "1.2.3",
  "deployment.environment": "test",
});
// One writer shared by the span and metric exporters; the log exporter makes its own (with its
// own write-ahead log directory: one writer per log).
const writer = await createWriter({ storage: { backend: "fs", path: out }, log: false });
const ours = {
  traces: new ParquetSpanExporter({ writer }),
  metrics: new ParquetMetricExporter({ writer }),
  logs: new ParquetLogRecordExporter({
    storage: { backend: "fs", path: out },
    batch: { wal_dir: `${out}/.wal-logs` },
    log: false,
  }),
};

const tracerProvider = new BasicTracerProvider({
  resource,
  spanProcessors: [
    new BatchSpanProcessor(
      tee("traces", ours.traces, new OTLPTraceExporter({ url: `${serverUrl}/v1/traces` })),
      { scheduledDelayMillis: 60_000 },
    ),
  ],
});
const loggerProvider = new LoggerProvider({
  resource,
  processors: [
    new BatchLogRecordProcessor({
      exporter: tee("logs", ours.logs, new OTLPLogExporter({ url: `${serverUrl}/v1/logs` })),
      scheduledDelayMillis: 60_000,
    }),
  ],
});
const reader = new PeriodicExportingMetricReader({
  exporter: tee(
    "metrics",
    ours.metrics,
    new OTLPMetricExporter({ url: `${serverUrl}/v1/metrics` }),
  ),
  exportIntervalMillis: 3_600_000,
});
const meterProvider = new MeterProvider({
  resource,
  readers: [reader],
  views: [{
    instrumentName: "latency.exp",
    aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM },
  }],
});

// Spans: a server span with a client child, events, links (one with a trace state), statuses.
const tracer = tracerProvider.getTracer("sdk-app", "0.1.0");
const linked = tracer.startSpan("linked-target");
linked.end();
tracer.startActiveSpan(
  "GET /orders",
  { kind: SpanKind.SERVER, attributes: { "http.method": "GET", "http.status_code": 200 } },
  (server) => {
    server.addEvent("request.received", { "bytes": 512, "ok": true });
    server.setAttribute("tags", ["a", "b"]);
    const client = tracer.startSpan("SELECT orders", {
      kind: SpanKind.CLIENT,
      attributes: { "db.system": "postgresql", "db.rows": 3.5 },
      links: [
        { context: linked.spanContext(), attributes: { "link.kind": "follows" } },
        {
          context: {
            ...linked.spanContext(),
            traceState: new TraceState("vendor=abc,other=x"),
          },
        },
      ],
    });
    client.addEvent("exception", { "exception.message": "timeout", "exception.type": "Error" });
    client.setStatus({ code: SpanStatusCode.ERROR, message: "query timed out" });
    client.end();
    for (let i = 0; i < 5; i++) {
      const s = tracer.startSpan(`step ${i}`, { kind: SpanKind.INTERNAL, attributes: { i } });
      s.addEvent(`tick ${i}`);
      s.end();
    }
    server.setStatus({ code: SpanStatusCode.OK });
    server.end();
  },
);

// Logs: every severity kind, bodies of several types, attributes, inside a span's context.
const logger = loggerProvider.getLogger("sdk-app-logs", "0.2.0");
const span = tracer.startSpan("with-logs");
const inSpan = trace.setSpan(context.active(), span);
const severities = [
  [SeverityNumber.DEBUG, "DEBUG"],
  [SeverityNumber.INFO, "INFO"],
  [SeverityNumber.WARN, "WARN"],
  [SeverityNumber.ERROR, "ERROR"],
];
for (let i = 0; i < 12; i++) {
  const [severityNumber, severityText] = severities[i % severities.length];
  logger.emit({
    severityNumber,
    severityText,
    body: i % 3 === 0 ? { msg: `structured ${i}`, n: i } : `log line ${i}`,
    attributes: { "log.index": i, "log.even": i % 2 === 0, "log.name": `n${i}` },
    ...(i % 2 === 0 ? { context: inSpan } : {}),
    ...(i === 5 ? { eventName: "app.event" } : {}),
  });
}
span.end();

// Metrics: every kind the SDK produces.
const meter = meterProvider.getMeter("sdk-app-metrics", "0.3.0");
const counter = meter.createCounter("requests", { unit: "1", description: "requests served" });
const upDown = meter.createUpDownCounter("queue.depth", { valueType: ValueType.INT });
const histogram = meter.createHistogram("latency", { unit: "ms" });
const expHistogram = meter.createHistogram("latency.exp", { unit: "ms" });
const gauge = meter.createGauge("temperature", { unit: "Cel" });
meter.createObservableGauge("memory.used").addCallback((r) => r.observe(1234, { pool: "heap" }));
meter.createObservableCounter("cpu.time").addCallback((r) => r.observe(42.5, { cpu: "0" }));
meter.createObservableUpDownCounter("connections").addCallback((r) => r.observe(7));
for (let i = 0; i < 20; i++) {
  const attrs = { route: i % 2 ? "/a" : "/b" };
  counter.add(1, attrs);
  upDown.add(i % 3 === 0 ? -1 : 2, attrs);
  histogram.record(i * 3.5, attrs);
  expHistogram.record(0.5 + i * 7, attrs);
  gauge.record(20 + i / 10, { room: "r1" });
}

await tracerProvider.forceFlush();
await loggerProvider.forceFlush();
await meterProvider.forceFlush();
await tracerProvider.shutdown();
await loggerProvider.shutdown();
await meterProvider.shutdown();
await writer.close();
console.log(JSON.stringify({ exports, failures, stats: writer.stats() }));
