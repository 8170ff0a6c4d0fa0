/**
 * The output tables of docs/schema.md, column by column and in order. A table builder always holds
 * every column of the extended profile; the default profile writes the leading columns only.
 */
import { col, type Column } from "./columns/index.ts";

export type Signal = "logs" | "traces" | "metrics";
export type MetricTable = "gauge" | "sum" | "histogram" | "exponential_histogram" | "summary";
export type TableName = "logs" | "traces" | MetricTable;
export type Profile = "default" | "extended";

export const TABLE_NAMES: readonly TableName[] = [
  "logs",
  "traces",
  "gauge",
  "sum",
  "histogram",
  "exponential_histogram",
  "summary",
];

/** Directory of a table in the object key layout. */
export function tableDir(t: TableName): string {
  return t === "logs" || t === "traces" ? t : `metrics/${t}`;
}

export function signalOf(t: TableName): Signal {
  return t === "logs" || t === "traces" ? t : "metrics";
}

const logsCols = () => ({
  Timestamp: col.ts(),
  TraceId: col.str(),
  SpanId: col.str(),
  TraceFlags: col.u8(),
  SeverityText: col.str(),
  SeverityNumber: col.u8(),
  ServiceName: col.str(),
  Body: col.str(),
  ResourceSchemaUrl: col.str(),
  ResourceAttributes: col.map(),
  ScopeSchemaUrl: col.str(),
  ScopeName: col.str(),
  ScopeVersion: col.str(),
  ScopeAttributes: col.map(),
  LogAttributes: col.map(),
  EventName: col.str(),
  // extended
  ObservedTimestamp: col.ts(),
  DroppedAttributesCount: col.u32(),
  Flags: col.u32(),
  ServiceNamespace: col.str(),
  ServiceInstanceId: col.str(),
});

const tracesCols = () => ({
  Timestamp: col.ts(),
  TraceId: col.str(),
  SpanId: col.str(),
  ParentSpanId: col.str(),
  TraceState: col.str(),
  SpanName: col.str(),
  SpanKind: col.str(),
  ServiceName: col.str(),
  ResourceAttributes: col.map(),
  ScopeName: col.str(),
  ScopeVersion: col.str(),
  SpanAttributes: col.map(),
  Duration: col.u64(),
  StatusCode: col.str(),
  StatusMessage: col.str(),
  "Events.Timestamp": col.listTs(),
  "Events.Name": col.listStr(),
  "Events.Attributes": col.listMap(),
  "Links.TraceId": col.listStr(),
  "Links.SpanId": col.listStr(),
  "Links.TraceState": col.listStr(),
  "Links.Attributes": col.listMap(),
  // extended
  SpanFlags: col.u32(),
  DroppedAttributesCount: col.u32(),
  DroppedEventsCount: col.u32(),
  DroppedLinksCount: col.u32(),
  ServiceNamespace: col.str(),
  ServiceInstanceId: col.str(),
});

const metricCommon = () => ({
  ResourceAttributes: col.map(),
  ResourceSchemaUrl: col.str(),
  ScopeName: col.str(),
  ScopeVersion: col.str(),
  ScopeAttributes: col.map(),
  ScopeDroppedAttrCount: col.u32(),
  ScopeSchemaUrl: col.str(),
  ServiceName: col.str(),
  MetricName: col.str(),
  MetricDescription: col.str(),
  MetricUnit: col.str(),
  Attributes: col.map(),
  StartTimeUnix: col.ts(),
  TimeUnix: col.ts(),
});

const exemplarCols = () => ({
  "Exemplars.FilteredAttributes": col.listMap(),
  "Exemplars.TimeUnix": col.listTs(),
  "Exemplars.Value": col.listF64(),
  "Exemplars.SpanId": col.listStr(),
  "Exemplars.TraceId": col.listStr(),
});

const serviceExt = () => ({ ServiceNamespace: col.str(), ServiceInstanceId: col.str() });

const gaugeCols = () => ({
  ...metricCommon(),
  Value: col.f64(),
  Flags: col.u32(),
  ...exemplarCols(),
  ...serviceExt(),
});

const sumCols = () => ({
  ...metricCommon(),
  Value: col.f64(),
  Flags: col.u32(),
  ...exemplarCols(),
  AggregationTemporality: col.i32(),
  IsMonotonic: col.bool(),
  ...serviceExt(),
});

const histogramCols = () => ({
  ...metricCommon(),
  Count: col.u64(),
  Sum: col.f64(),
  BucketCounts: col.listU64(),
  ExplicitBounds: col.listF64(),
  ...exemplarCols(),
  Flags: col.u32(),
  Min: col.f64(),
  Max: col.f64(),
  AggregationTemporality: col.i32(),
  ...serviceExt(),
});

const expHistogramCols = () => ({
  ...metricCommon(),
  Count: col.u64(),
  Sum: col.f64(),
  Scale: col.i32(),
  ZeroCount: col.u64(),
  PositiveOffset: col.i32(),
  PositiveBucketCounts: col.listU64(),
  NegativeOffset: col.i32(),
  NegativeBucketCounts: col.listU64(),
  ...exemplarCols(),
  Flags: col.u32(),
  Min: col.f64(),
  Max: col.f64(),
  AggregationTemporality: col.i32(),
  ZeroThreshold: col.f64(),
  ...serviceExt(),
});

const summaryCols = () => ({
  ...metricCommon(),
  Count: col.u64(),
  Sum: col.f64(),
  "ValueAtQuantiles.Quantile": col.listF64(),
  "ValueAtQuantiles.Value": col.listF64(),
  Flags: col.u32(),
  ...serviceExt(),
});

export type LogsColumns = ReturnType<typeof logsCols>;
export type TracesColumns = ReturnType<typeof tracesCols>;
export type GaugeColumns = ReturnType<typeof gaugeCols>;
export type SumColumns = ReturnType<typeof sumCols>;
export type HistogramColumns = ReturnType<typeof histogramCols>;
export type ExpHistogramColumns = ReturnType<typeof expHistogramCols>;
export type SummaryColumns = ReturnType<typeof summaryCols>;

const factories = {
  logs: logsCols,
  traces: tracesCols,
  gauge: gaugeCols,
  sum: sumCols,
  histogram: histogramCols,
  exponential_histogram: expHistogramCols,
  summary: summaryCols,
};

/** Number of leading columns that form the default profile, per table. */
const DEFAULT_WIDTH: Record<TableName, number> = {
  logs: 16,
  traces: 22,
  gauge: 14 + 2 + 5,
  sum: 14 + 2 + 5 + 2,
  histogram: 14 + 4 + 5 + 4,
  exponential_histogram: 14 + 8 + 5 + 4,
  summary: 14 + 5,
};

/** Column holding each row's time, which decides its hour partition. */
export const TIME_COLUMN: Record<TableName, string> = {
  logs: "Timestamp",
  traces: "Timestamp",
  gauge: "TimeUnix",
  sum: "TimeUnix",
  histogram: "TimeUnix",
  exponential_histogram: "TimeUnix",
  summary: "TimeUnix",
};

type ColumnsOf = {
  logs: LogsColumns;
  traces: TracesColumns;
  gauge: GaugeColumns;
  sum: SumColumns;
  histogram: HistogramColumns;
  exponential_histogram: ExpHistogramColumns;
  summary: SummaryColumns;
};

/** Rows of one table being built: one column builder per output column. */
export class TableBuilder<T extends TableName = TableName> {
  /**
   * The one ArrayBuffer every column buffer of this builder was carved from, when a merge made
   * it so (see `inArena`): given back to the pool once the rows are no longer needed.
   */
  arena: ArrayBuffer | null = null;

  constructor(
    readonly table: T,
    readonly cols: ColumnsOf[T] = factories[table]() as ColumnsOf[T],
  ) {}

  get length(): number {
    return (this.cols as unknown as Record<string, Column>)[TIME_COLUMN[this.table]].length;
  }

  /** Columns written for `profile`, in output order. */
  columns(profile: Profile): [string, Column][] {
    const all = Object.entries(this.cols as unknown as Record<string, Column>);
    return profile === "extended" ? all : all.slice(0, DEFAULT_WIDTH[this.table]);
  }

  byteSize(): number {
    let n = 0;
    for (const c of Object.values(this.cols as unknown as Record<string, Column>)) {
      n += c.byteSize();
    }
    return n;
  }

  /** A builder with rows `indices` of this one. */
  take(indices: Int32Array): TableBuilder<T> {
    const out: Record<string, Column> = {};
    for (const [k, c] of Object.entries(this.cols as unknown as Record<string, Column>)) {
      out[k] = c.take(indices);
    }
    return new TableBuilder(this.table, out as unknown as ColumnsOf[T]);
  }

  /** Throws if a decoder left the columns with different lengths (a bug, not bad input). */
  assertAligned(): void {
    const n = this.length;
    const cols = this.cols as unknown as Record<string, Column>;
    for (const k in cols) {
      const c = cols[k];
      if (c.length !== n) {
        throw new Error(
          `internal: ${this.table} column "${k}" has ${c.length} rows, expected ${n}`,
        );
      }
    }
  }
}

export function newTable<T extends TableName>(table: T): TableBuilder<T> {
  return new TableBuilder(table);
}
