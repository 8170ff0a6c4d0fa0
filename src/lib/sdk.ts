/**
 * OpenTelemetry JS SDK exporters that write through a library writer (`otlp2parquet/sdk`): add
 * one processor or reader and the application's spans, logs and metrics land as Parquet (or
 * Arrow IPC) files, with no Collector and no server.
 *
 *   const writer = await createWriter({ storage: { backend: "fs", path: "./data" } });
 *   new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new ParquetSpanExporter({ writer }))] });
 *
 * The SDK's objects are serialized by `@opentelemetry/otlp-transformer` (the serializer of the
 * SDK's own OTLP/HTTP protobuf exporters, so the bytes are exactly what those would send) and
 * decoded by our protobuf decoders: the rows equal what the same SDK sends to the server.
 *
 * SDK semantics: `export()` calls back with `ExportResultCode.SUCCESS`, or `FAILED` with the
 * writer's message. Retryable failures (buffers full, storage failing) are retried after the
 * writer's `retryAfterMs` until `timeoutMillis` (default 10 s, like the OTLP exporters) has
 * passed. `forceFlush()` waits for exports in flight and writes out the writer's buffers;
 * `shutdown()` waits for exports in flight, then closes a writer the exporter made itself from
 * options (a shared `writer` is only flushed: close it after the providers shut down); exports
 * after shutdown fail.
 *
 * The `@opentelemetry/*` packages are peer dependencies (the SDK 2.x / 0.223.x line).
 */
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import {
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from "@opentelemetry/otlp-transformer";
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs";
import {
  AggregationTemporality,
  InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { createWriter, type OtlpWriter, type WriterOptions } from "./index.ts";

export type { OtlpWriter, WriterOptions };

export interface ExporterOptions extends WriterOptions {
  /**
   * The writer to write through, shared by several exporters (then not closed by `shutdown()`).
   * Without it the exporter makes its own from the other options.
   */
  writer?: OtlpWriter | Promise<OtlpWriter>;
  /** How long an export may keep retrying a retryable failure. Default 10,000 ms. */
  timeoutMillis?: number;
}

export interface MetricExporterOptions extends ExporterOptions {
  /**
   * Aggregation temporality asked of the SDK: "cumulative" (default, as the OTLP exporters),
   * "delta" (counters, histograms and gauges as deltas, up-down counters cumulative) or
   * "lowmemory" (synchronous counters and histograms as deltas).
   */
  temporalityPreference?: "cumulative" | "delta" | "lowmemory";
}

const DEFAULT_TIMEOUT_MS = 10_000;

type Serialize<T> = (items: T) => Uint8Array | undefined;

/** What the three exporters share: the writer, retries, exports in flight, shutdown. */
class WriterExporter<T> {
  readonly #writer: Promise<OtlpWriter>;
  readonly #owned: boolean;
  readonly #timeoutMs: number;
  readonly #pending = new Set<Promise<void>>();
  #shutdown: Promise<void> | null = null;

  constructor(
    options: ExporterOptions,
    private readonly signal: "logs" | "traces" | "metrics",
    private readonly serialize: Serialize<T>,
  ) {
    const { writer, timeoutMillis, ...rest } = options;
    delete (rest as { temporalityPreference?: unknown }).temporalityPreference;
    this.#owned = writer === undefined;
    this.#writer = writer === undefined ? createWriter(rest) : Promise.resolve(writer);
    this.#writer.catch(() => {}); // reported by each export
    this.#timeoutMs = timeoutMillis ?? DEFAULT_TIMEOUT_MS;
  }

  export(items: T, done: (result: ExportResult) => void): void {
    if (this.#shutdown) {
      done({ code: ExportResultCode.FAILED, error: new Error("Exporter has been shutdown") });
      return;
    }
    const p = this.#send(items).then(
      done,
      (e) =>
        done({
          code: ExportResultCode.FAILED,
          error: e instanceof Error ? e : new Error(String(e)),
        }),
    );
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
  }

  async #send(items: T): Promise<ExportResult> {
    const writer = await this.#writer;
    const bytes = this.serialize(items);
    if (bytes === undefined) {
      return {
        code: ExportResultCode.FAILED,
        error: new Error(`Cannot serialize the ${this.signal} export (otlp-transformer)`),
      };
    }
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      const r = await writer.export(this.signal, bytes);
      if (r.ok) return { code: ExportResultCode.SUCCESS };
      const wait = r.retryAfterMs ?? 1000;
      if (!r.retryable || Date.now() + wait > deadline || this.#shutdown) {
        return { code: ExportResultCode.FAILED, error: new Error(r.message) };
      }
      await new Promise((res) => setTimeout(res, wait));
    }
  }

  async forceFlush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    const writer = await this.#writer;
    const r = await writer.flush();
    if (!r.ok) throw new Error(r.message);
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      await Promise.allSettled([...this.#pending]);
      const writer = await this.#writer.catch(() => null);
      if (!writer) return;
      if (this.#owned) await writer.close();
      else await writer.flush();
    })();
    return this.#shutdown;
  }
}

/** A `SpanExporter` (for `SimpleSpanProcessor` / `BatchSpanProcessor`) writing spans to files. */
export class ParquetSpanExporter implements SpanExporter {
  readonly #e: WriterExporter<ReadableSpan[]>;
  constructor(options: ExporterOptions = {}) {
    this.#e = new WriterExporter(
      options,
      "traces",
      (spans) => ProtobufTraceSerializer.serializeRequest(spans),
    );
  }
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#e.export(spans, resultCallback);
  }
  forceFlush(): Promise<void> {
    return this.#e.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.#e.shutdown();
  }
}

/** A `LogRecordExporter` (for the log record processors) writing log records to files. */
export class ParquetLogRecordExporter implements LogRecordExporter {
  readonly #e: WriterExporter<ReadableLogRecord[]>;
  constructor(options: ExporterOptions = {}) {
    this.#e = new WriterExporter(
      options,
      "logs",
      (logs) => ProtobufLogsSerializer.serializeRequest(logs),
    );
  }
  export(logs: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    this.#e.export(logs, resultCallback);
  }
  forceFlush(): Promise<void> {
    return this.#e.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.#e.shutdown();
  }
}

/** A `PushMetricExporter` (for `PeriodicExportingMetricReader`) writing data points to files. */
export class ParquetMetricExporter implements PushMetricExporter {
  readonly #e: WriterExporter<ResourceMetrics>;
  readonly #temporality: (t: InstrumentType) => AggregationTemporality;
  constructor(options: MetricExporterOptions = {}) {
    this.#e = new WriterExporter(
      options,
      "metrics",
      (m) => ProtobufMetricsSerializer.serializeRequest(m),
    );
    this.#temporality = temporalitySelector(options.temporalityPreference ?? "cumulative");
  }
  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.#e.export(metrics, resultCallback);
  }
  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this.#temporality(instrumentType);
  }
  forceFlush(): Promise<void> {
    return this.#e.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.#e.shutdown();
  }
}

/** The OTLP exporters' temporality preferences (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE). */
function temporalitySelector(
  pref: "cumulative" | "delta" | "lowmemory",
): (t: InstrumentType) => AggregationTemporality {
  if (pref !== "cumulative" && pref !== "delta" && pref !== "lowmemory") {
    throw new TypeError(
      `ParquetMetricExporter: temporalityPreference = ${
        JSON.stringify(pref)
      }: expected "cumulative", "delta" or "lowmemory"`,
    );
  }
  const { CUMULATIVE, DELTA } = AggregationTemporality;
  if (pref === "cumulative") return () => CUMULATIVE;
  if (pref === "delta") {
    return (t) =>
      t === InstrumentType.UP_DOWN_COUNTER || t === InstrumentType.OBSERVABLE_UP_DOWN_COUNTER
        ? CUMULATIVE
        : DELTA;
  }
  return (t) => t === InstrumentType.COUNTER || t === InstrumentType.HISTOGRAM ? DELTA : CUMULATIVE;
}
