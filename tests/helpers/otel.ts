/**
 * Real OTLP clients for the e2e tests: the OpenTelemetry JS SDK with its OTLP/HTTP exporters,
 * protobuf (`exporter-*-otlp-proto`) or JSON (`exporter-*-otlp-http`), or its OTLP/gRPC
 * exporters (`exporter-*-otlp-grpc`, protocol "grpc": `url` is `http://HOST:GRPC_PORT`), with or
 * without gzip.
 *
 *   await sendLogs({ url: srv.url, protocol: "proto", gzip: true, service: "svc" }, ({ logger }) => {
 *     logger.emit({ body: "hello", severityNumber: SeverityNumber.INFO });
 *   });
 *
 * Each `send*` builds a provider with the given resource, runs `fn`, force-flushes once and
 * shuts down; it throws unless every export the SDK made succeeded (the exporter's own result,
 * which is FAILED for any non-2xx answer). It returns the number of exports and what the SDK
 * exported (its own records, spans, metrics: the oracle for values read back).
 */
import {
  type Context,
  context,
  type Meter,
  type Span,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { Logger } from "@opentelemetry/api-logs";
export { SeverityNumber } from "@opentelemetry/api-logs";
export { SpanKind, SpanStatusCode, ValueType } from "@opentelemetry/api";
export { AggregationType } from "@opentelemetry/sdk-metrics";
export { TraceState } from "@opentelemetry/core";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  type SdkLogRecord,
  SimpleLogRecordProcessor,
} from "@opentelemetry/sdk-logs";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
  type ViewOptions,
} from "@opentelemetry/sdk-metrics";
import { OTLPLogExporter as LogsProto } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPLogExporter as LogsJson } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPTraceExporter as TraceProto } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as TraceJson } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPMetricExporter as MetricsProto } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPMetricExporter as MetricsJson } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPLogExporter as LogsGrpc } from "@opentelemetry/exporter-logs-otlp-grpc";
import { OTLPTraceExporter as TraceGrpc } from "@opentelemetry/exporter-trace-otlp-grpc";
import { OTLPMetricExporter as MetricsGrpc } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { Metadata } from "@grpc/grpc-js";

export type Protocol = "proto" | "json" | "grpc";

export interface ClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:4318` (the signal path is added). */
  url: string;
  protocol: Protocol;
  gzip?: boolean;
  /** `service.name` of the resource. */
  service: string;
  /** More resource attributes. */
  resource?: Record<string, string | number | boolean | string[]>;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
}

/** Every (protocol, gzip) pair the tests cover. */
export const CLIENT_VARIANTS: { protocol: Protocol; gzip: boolean }[] = [
  { protocol: "proto", gzip: false },
  { protocol: "proto", gzip: true },
  { protocol: "json", gzip: false },
  { protocol: "json", gzip: true },
];

function exporterConfig(o: ClientOptions, path: string) {
  return {
    url: `${o.url}${path}`,
    // CompressionAlgorithm is a string enum ("gzip" | "none") of otlp-exporter-base.
    // deno-lint-ignore no-explicit-any
    compression: (o.gzip ? "gzip" : "none") as any,
    headers: o.headers ?? {},
    timeoutMillis: 10_000,
  };
}

/** The gRPC exporters' options: `url` is the server itself, headers go as metadata. */
function grpcConfig(o: ClientOptions) {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(o.headers ?? {})) metadata.set(k.toLowerCase(), v);
  return {
    url: o.url,
    // deno-lint-ignore no-explicit-any
    compression: (o.gzip ? "gzip" : "none") as any,
    metadata,
    timeoutMillis: 10_000,
  };
}

function resourceOf(o: ClientOptions) {
  return resourceFromAttributes({ "service.name": o.service, ...o.resource });
}

/** Records every export result and stops sending once `closed` (so shutdown sends nothing more). */
class Recorder<T> {
  results: ExportResult[] = [];
  /** What the SDK handed to the exporter, one entry per export. */
  sent: T[] = [];
  closed = false;
  #pending = new Set<Promise<void>>();
  /** Waits for exports still in flight (SimpleLogRecordProcessor.forceFlush does not). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
  wrap(inner: {
    export(items: T, cb: (r: ExportResult) => void): void;
    shutdown(): Promise<void>;
    forceFlush?(): Promise<void>;
  }) {
    return {
      export: (items: T, cb: (r: ExportResult) => void) => {
        if (this.closed) return cb({ code: ExportResultCode.SUCCESS });
        this.sent.push(items);
        let done!: () => void;
        const p = new Promise<void>((r) => (done = r));
        this.#pending.add(p);
        inner.export(items, (r) => {
          this.results.push(r);
          this.#pending.delete(p);
          done();
          cb(r);
        });
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    };
  }
  check(what: string): Sent<T> {
    const failed = this.results.filter((r) => r.code !== ExportResultCode.SUCCESS);
    if (failed.length > 0) {
      throw new Error(
        `${what}: ${failed.length} of ${this.results.length} exports failed: ${
          failed.map((r) => String(r.error?.message ?? r.error)).join("; ")
        }`,
      );
    }
    if (this.results.length === 0) throw new Error(`${what}: the SDK made no export`);
    return { exports: this.results.length, sent: this.sent };
  }
}

/** What a `send*` call exported: the number of exports and the SDK's data of each. */
export interface Sent<T> {
  exports: number;
  sent: T[];
}

export interface LogsScope {
  logger: Logger;
  /** A tracer (spans are not exported) to make a span context for `contextOf`. */
  tracer: Tracer;
  /** The context in which `span` is active, for `logger.emit({ context })`. */
  contextOf(span: Span): Context;
}

/** Sends log records emitted by `fn` through the SDK's OTLP log exporter. */
export async function sendLogs(
  o: ClientOptions,
  fn: (s: LogsScope) => void | Promise<void>,
  opts: { batch?: boolean; scope?: string; scopeVersion?: string } = {},
): Promise<Sent<SdkLogRecord[]>> {
  const inner = o.protocol === "grpc"
    ? new LogsGrpc(grpcConfig(o))
    : o.protocol === "proto"
    ? new LogsProto(exporterConfig(o, "/v1/logs"))
    : new LogsJson(exporterConfig(o, "/v1/logs"));
  const rec = new Recorder<SdkLogRecord[]>();
  const exporter = rec.wrap(inner) as unknown as LogRecordExporter;
  const processor = opts.batch
    ? new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 60_000 })
    : new SimpleLogRecordProcessor({ exporter });
  const provider = new LoggerProvider({ resource: resourceOf(o), processors: [processor] });
  const tracerProvider = new BasicTracerProvider({ resource: resourceOf(o) });
  try {
    await fn({
      logger: provider.getLogger(opts.scope ?? "e2e-logs", opts.scopeVersion ?? "1.2.3"),
      tracer: tracerProvider.getTracer("e2e-logs"),
      contextOf: (span) => trace.setSpan(context.active(), span),
    });
    await provider.forceFlush();
    await rec.settle();
    rec.closed = true;
    return rec.check("sendLogs");
  } finally {
    rec.closed = true;
    await provider.shutdown();
    await tracerProvider.shutdown();
  }
}

/** Sends the spans `fn` ends through the SDK's OTLP trace exporter (SimpleSpanProcessor). */
export async function sendSpans(
  o: ClientOptions,
  fn: (tracer: Tracer) => void | Promise<void>,
  opts: { scope?: string; scopeVersion?: string } = {},
): Promise<Sent<ReadableSpan[]>> {
  const inner = o.protocol === "grpc"
    ? new TraceGrpc(grpcConfig(o))
    : o.protocol === "proto"
    ? new TraceProto(exporterConfig(o, "/v1/traces"))
    : new TraceJson(exporterConfig(o, "/v1/traces"));
  const rec = new Recorder<ReadableSpan[]>();
  const exporter = rec.wrap(inner) as unknown as SpanExporter;
  const provider = new BasicTracerProvider({
    resource: resourceOf(o),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  try {
    await fn(provider.getTracer(opts.scope ?? "e2e-traces", opts.scopeVersion ?? "4.5.6"));
    await provider.forceFlush();
    await rec.settle();
    rec.closed = true;
    return rec.check("sendSpans");
  } finally {
    rec.closed = true;
    await provider.shutdown();
  }
}

/**
 * Records the measurements `fn` makes and exports them once (one collection through
 * PeriodicExportingMetricReader.forceFlush; the reader's shutdown sends nothing more).
 */
export async function sendMetrics(
  o: ClientOptions,
  fn: (meter: Meter) => void | Promise<void>,
  opts: {
    views?: ViewOptions[];
    temporality?: "cumulative" | "delta";
    scope?: string;
    scopeVersion?: string;
  } = {},
): Promise<Sent<ResourceMetrics>> {
  const temporality = opts.temporality === "delta"
    ? AggregationTemporality.DELTA
    : AggregationTemporality.CUMULATIVE;
  const cfg = { ...exporterConfig(o, "/v1/metrics"), temporalityPreference: temporality };
  const inner = o.protocol === "grpc"
    ? new MetricsGrpc({ ...grpcConfig(o), temporalityPreference: temporality })
    : o.protocol === "proto"
    ? new MetricsProto(cfg)
    : new MetricsJson(cfg);
  const rec = new Recorder<ResourceMetrics>();
  const wrapped = rec.wrap(inner);
  const exporter: PushMetricExporter = {
    ...wrapped,
    selectAggregationTemporality: (k) => inner.selectAggregationTemporality!(k),
  };
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({
    resource: resourceOf(o),
    readers: [reader],
    views: opts.views ?? [],
  });
  try {
    await fn(provider.getMeter(opts.scope ?? "e2e-metrics", opts.scopeVersion ?? "7.8.9"));
    await provider.forceFlush();
    await rec.settle();
    rec.closed = true;
    return rec.check("sendMetrics");
  } finally {
    rec.closed = true;
    await provider.shutdown();
  }
}
