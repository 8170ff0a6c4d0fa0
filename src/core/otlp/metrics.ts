/**
 * ExportMetricsServiceRequest (protobuf) → one row per data point in the gauge, sum, histogram,
 * exponential_histogram and summary tables. Resources and scopes: ./envelope.ts.
 *
 * Metric (metrics.proto)
 *   1 name string, 2 description string, 3 unit string,
 *   oneof data: 5 gauge Gauge, 7 sum Sum, 9 histogram Histogram,
 *               10 exponential_histogram ExponentialHistogram, 11 summary Summary
 *   12 metadata KeyValue (not stored)
 * Gauge: 1 data_points NumberDataPoint
 * Sum: 1 data_points NumberDataPoint, 2 aggregation_temporality enum, 3 is_monotonic bool
 * Histogram: 1 data_points HistogramDataPoint, 2 aggregation_temporality enum
 * ExponentialHistogram: 1 data_points ExponentialHistogramDataPoint, 2 aggregation_temporality enum
 * Summary: 1 data_points SummaryDataPoint
 *
 * NumberDataPoint
 *   7 attributes KeyValue, 2 start_time_unix_nano fixed64, 3 time_unix_nano fixed64,
 *   oneof value: 4 as_double double, 6 as_int sfixed64; 5 exemplars Exemplar, 8 flags uint32
 * HistogramDataPoint
 *   9 attributes KeyValue, 2 start_time_unix_nano fixed64, 3 time_unix_nano fixed64,
 *   4 count fixed64, 5 sum double (optional), 6 bucket_counts repeated fixed64,
 *   7 explicit_bounds repeated double, 8 exemplars Exemplar, 10 flags uint32,
 *   11 min double (optional), 12 max double (optional)
 * ExponentialHistogramDataPoint
 *   1 attributes KeyValue, 2 start_time_unix_nano fixed64, 3 time_unix_nano fixed64,
 *   4 count fixed64, 5 sum double (optional), 6 scale sint32, 7 zero_count fixed64,
 *   8 positive Buckets, 9 negative Buckets, 10 flags uint32, 11 exemplars Exemplar,
 *   12 min double (optional), 13 max double (optional), 14 zero_threshold double
 * ExponentialHistogramDataPoint.Buckets
 *   1 offset sint32, 2 bucket_counts repeated uint64
 * SummaryDataPoint
 *   7 attributes KeyValue, 2 start_time_unix_nano fixed64, 3 time_unix_nano fixed64,
 *   4 count fixed64, 5 sum double, 6 quantile_values ValueAtQuantile, 8 flags uint32
 * SummaryDataPoint.ValueAtQuantile
 *   1 quantile double, 2 value double
 * Exemplar
 *   7 filtered_attributes KeyValue, 2 time_unix_nano fixed64,
 *   oneof value: 3 as_double double, 6 as_int sfixed64; 4 span_id bytes, 5 trace_id bytes
 *
 * Repeated numbers are accepted packed and unpacked, as protobuf parsers must.
 */
import type { I64Col, NumCol } from "../columns/index.ts";
import type { GaugeColumns, TableBuilder } from "../tables.ts";
import type { WireReader } from "../proto/reader.ts";
import { fillBytes } from "../columns/index.ts";
import { ProtoCtx, SPAN_ID_BYTES, TRACE_ID_BYTES } from "./context.ts";
import { Envelope } from "./envelope.ts";
import { learnSizes, sizedTable } from "./sizing.ts";
import type { Decoded, DecodeOptions } from "./types.ts";

type CommonCols = Pick<
  GaugeColumns,
  | "ResourceAttributes"
  | "ResourceSchemaUrl"
  | "ScopeName"
  | "ScopeVersion"
  | "ScopeAttributes"
  | "ScopeDroppedAttrCount"
  | "ScopeSchemaUrl"
  | "ServiceName"
  | "MetricName"
  | "MetricDescription"
  | "MetricUnit"
  | "Attributes"
  | "StartTimeUnix"
  | "TimeUnix"
  | "ServiceNamespace"
  | "ServiceInstanceId"
>;
type ExemplarCols = Pick<
  GaugeColumns,
  | "Exemplars.FilteredAttributes"
  | "Exemplars.TimeUnix"
  | "Exemplars.Value"
  | "Exemplars.SpanId"
  | "Exemplars.TraceId"
>;

/** The five metric tables, made on first use, and the rejected-point bookkeeping. */
export class MetricTables {
  gauge?: TableBuilder<"gauge">;
  sum?: TableBuilder<"sum">;
  histogram?: TableBuilder<"histogram">;
  exponential_histogram?: TableBuilder<"exponential_histogram">;
  summary?: TableBuilder<"summary">;
  records = 0;
  rejected = 0;
  private reasons: string[] = [];
  private moreReasons = 0;

  /** `inputBytes`: size of the protobuf request (tables are sized from it, see ./sizing.ts). */
  constructor(private readonly inputBytes: number) {}

  get gaugeT() {
    return this.gauge ??= sizedTable("gauge", this.inputBytes);
  }
  get sumT() {
    return this.sum ??= sizedTable("sum", this.inputBytes);
  }
  get histogramT() {
    return this.histogram ??= sizedTable("histogram", this.inputBytes);
  }
  get expT() {
    return this.exponential_histogram ??= sizedTable("exponential_histogram", this.inputBytes);
  }
  get summaryT() {
    return this.summary ??= sizedTable("summary", this.inputBytes);
  }

  /** Fills the resource's and scope's columns of the rows the scope added to each table. */
  fillScope(env: Envelope): void {
    for (
      const t of [this.gauge, this.sum, this.histogram, this.exponential_histogram, this.summary]
    ) {
      if (t !== undefined) {
        env.fillScope(t.cols, t.cols.TimeUnix.length - t.cols.ServiceName.length);
      }
    }
  }

  /** Counts `n` rejected points of metric `name`. */
  reject(name: string, n: number): void {
    this.rejected += n;
    if (this.reasons.length < 5) {
      this.reasons.push(`metric "${name}": ${n} data point${n === 1 ? "" : "s"} without a value`);
    } else this.moreReasons++;
  }

  result(): Decoded {
    const tables = [this.gauge, this.sum, this.histogram, this.exponential_histogram, this.summary]
      .filter((t): t is TableBuilder<never> => t !== undefined && t.length > 0);
    for (const t of tables) learnSizes(t, this.inputBytes);
    let message = this.reasons.join("; ");
    if (this.moreReasons > 0) message += `; and ${this.moreReasons} more metrics`;
    return { tables, records: this.records, rejected: this.rejected, message };
  }
}

export function decodeMetricsProto(body: Uint8Array, opts: DecodeOptions): Decoded {
  const ctx = new ProtoCtx(body, "ExportMetricsServiceRequest", opts);
  const env = new Envelope(ctx);
  const out = new MetricTables(body.length);
  const r = ctx.r;
  // The current metric: name, description, unit ranges.
  const m: MetricRanges = { nameS: 0, nameE: 0, descS: 0, descE: 0, unitS: 0, unitE: 0 };

  env.walk((start, end) => {
    let kind = 0, dataS = 0, dataE = 0;
    m.nameS =
      m.nameE =
      m.descS =
      m.descE =
      m.unitS =
      m.unitE =
        0;
    r.pos = start;
    while (r.pos < end) {
      const tag = r.tag(end);
      switch (tag) {
        case 0x0a: // 1 name
          m.nameE = r.string(end, "Metric.name");
          m.nameS = r.start;
          break;
        case 0x12: // 2 description
          m.descE = r.string(end, "Metric.description");
          m.descS = r.start;
          break;
        case 0x1a: // 3 unit
          m.unitE = r.string(end, "Metric.unit");
          m.unitS = r.start;
          break;
        case 0x2a: // 5 gauge
        case 0x3a: // 7 sum
        case 0x4a: // 9 histogram
        case 0x52: // 10 exponential_histogram
        case 0x5a: // 11 summary
          kind = tag >>> 3;
          dataE = r.bytes(end);
          dataS = r.start;
          break;
        default:
          r.skip(tag, end);
      }
    }
    if (kind === 0) return; // a metric without data: no rows
    // The data message: aggregation_temporality (2) and is_monotonic (3) may follow the points.
    let temporality = 0, monotonic = false;
    r.pos = dataS;
    while (r.pos < dataE) {
      const tag = r.tag(dataE);
      if (tag === 0x10) temporality = r.uint32(dataE) | 0;
      else if (tag === 0x18) {
        r.varint64(dataE);
        monotonic = (r.lo | r.hi) !== 0;
      } else r.skip(tag, dataE);
    }
    let points = 0, missing = 0;
    r.pos = dataS;
    while (r.pos < dataE) {
      const tag = r.tag(dataE);
      if (tag !== 0x0a) { // 1 data_points
        r.skip(tag, dataE);
        continue;
      }
      const pe = r.len(dataE);
      const ps = r.pos;
      points++;
      switch (kind) {
        case 5:
          if (!numberPoint(ctx, out.gaugeT.cols, ps, pe)) missing++;
          break;
        case 7: {
          const c = out.sumT.cols;
          if (numberPoint(ctx, c, ps, pe)) {
            c.AggregationTemporality.append(temporality);
            c.IsMonotonic.append(monotonic);
          } else missing++;
          break;
        }
        case 9:
          histogramPoint(ctx, out.histogramT.cols, ps, pe, temporality);
          break;
        case 10:
          expHistogramPoint(ctx, out.expT.cols, ps, pe, temporality);
          break;
        case 11:
          summaryPoint(ctx, out.summaryT.cols, ps, pe);
          break;
      }
      r.pos = pe;
    }
    // The metric's name, description and unit for the rows its points added, in bulk.
    const t = kind === 5
      ? out.gauge
      : kind === 7
      ? out.sum
      : kind === 9
      ? out.histogram
      : kind === 10
      ? out.exponential_histogram
      : out.summary;
    if (t !== undefined) {
      const c = t.cols, rows = c.TimeUnix.length - c.MetricName.length;
      fillBytes(c.MetricName, body, m.nameS, m.nameE, rows);
      fillBytes(c.MetricDescription, body, m.descS, m.descE, rows);
      fillBytes(c.MetricUnit, body, m.unitS, m.unitE, rows);
    }
    out.records += points - missing;
    if (missing > 0) out.reject(ctx.text(m.nameS, m.nameE), missing);
  }, () => out.fillScope(env));
  const d = out.result();
  ctx.release();
  return d;
}

interface MetricRanges {
  nameS: number;
  nameE: number;
  descS: number;
  descE: number;
  unitS: number;
  unitE: number;
}

/**
 * The data point's attributes and times (the metric's name, description and unit are filled
 * after its points, the resource's and scope's columns at the end of the scope:
 * `MetricTables.fillScope`).
 */
function common(
  ctx: ProtoCtx,
  c: CommonCols,
  sLo: number,
  sHi: number,
  tLo: number,
  tHi: number,
): void {
  ctx.attrs.flush(c.Attributes);
  c.StartTimeUnix.append(sLo, sHi);
  c.TimeUnix.append(tLo, tHi);
}

/** A signed 64-bit integer (halves) as the nearest double. */
function int64ToDouble(lo: number, hi: number): number {
  return (hi | 0) * 4294967296 + lo;
}

/**
 * A gauge or sum NumberDataPoint; false (and no row) when it has no value. The caller appends
 * the sum-only columns after a true return.
 */
function numberPoint(
  ctx: ProtoCtx,
  c: CommonCols & ExemplarCols & { Value: NumCol<Float64Array>; Flags: NumCol<Uint32Array> },
  start: number,
  end: number,
): boolean {
  const r = ctx.r;
  let sLo = 0, sHi = 0, tLo = 0, tHi = 0, flags = 0, value = 0, has = false;
  ctx.attrs.begin();
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x3a: // 7 attributes
        ctx.attrs.add(r.len(end));
        break;
      case 0x11: // 2 start_time_unix_nano
        r.fixed64(end);
        sLo = r.lo;
        sHi = r.hi;
        break;
      case 0x19: // 3 time_unix_nano
        r.fixed64(end);
        tLo = r.lo;
        tHi = r.hi;
        break;
      case 0x21: // 4 as_double
        value = r.double(end);
        has = true;
        break;
      case 0x31: // 6 as_int
        r.fixed64(end);
        value = int64ToDouble(r.lo, r.hi);
        has = true;
        break;
      case 0x40: // 8 flags
        flags = r.uint32(end);
        break;
      default: // 5 exemplars: second pass below
        r.skip(tag, end);
    }
  }
  if (!has) return false;
  common(ctx, c, sLo, sHi, tLo, tHi);
  c.Value.append(value);
  c.Flags.append(flags);
  exemplars(ctx, c, start, end, 0x2a);
  return true;
}

/** Appends the exemplars (field tag `tag`) of the data point `[start, end)` as one list row. */
function exemplars(ctx: ProtoCtx, c: ExemplarCols, start: number, end: number, tag: number): void {
  const r = ctx.r;
  r.pos = start;
  while (r.pos < end) {
    const t = r.tag(end);
    if (t !== tag) {
      r.skip(t, end);
      continue;
    }
    const e = r.len(end);
    let lo = 0, hi = 0, value = 0, spanS = 0, spanE = 0, traceS = 0, traceE = 0;
    ctx.subAttrs.begin();
    while (r.pos < e) {
      const x = r.tag(e);
      switch (x) {
        case 0x3a: // 7 filtered_attributes
          ctx.subAttrs.add(r.len(e));
          break;
        case 0x11: // 2 time_unix_nano
          r.fixed64(e);
          lo = r.lo;
          hi = r.hi;
          break;
        case 0x19: // 3 as_double
          value = r.double(e);
          break;
        case 0x31: // 6 as_int
          r.fixed64(e);
          value = int64ToDouble(r.lo, r.hi);
          break;
        case 0x22: // 4 span_id
          spanE = r.bytes(e);
          spanS = r.start;
          break;
        case 0x2a: // 5 trace_id
          traceE = r.bytes(e);
          traceS = r.start;
          break;
        default:
          r.skip(x, e);
      }
    }
    ctx.subAttrs.flush(c["Exemplars.FilteredAttributes"].child);
    c["Exemplars.TimeUnix"].child.append(lo, hi);
    c["Exemplars.Value"].child.append(value);
    ctx.id(c["Exemplars.SpanId"].child, spanS, spanE, SPAN_ID_BYTES, "Exemplar.span_id");
    ctx.id(c["Exemplars.TraceId"].child, traceS, traceE, TRACE_ID_BYTES, "Exemplar.trace_id");
    r.pos = e;
  }
  c["Exemplars.FilteredAttributes"].endRow();
  c["Exemplars.TimeUnix"].endRow();
  c["Exemplars.Value"].endRow();
  c["Exemplars.SpanId"].endRow();
  c["Exemplars.TraceId"].endRow();
}

/** Appends repeated fixed64 values (packed: `[r.pos, e)`) to `out`. */
function packedFixed64(r: WireReader, e: number, out: I64Col, field: string): void {
  if ((e - r.pos) % 8 !== 0) r.fail(`packed ${field} is not a multiple of 8 bytes`, r.pos);
  while (r.pos < e) {
    r.fixed64(e);
    out.append(r.lo, r.hi);
  }
}

/** Appends packed doubles `[r.pos, e)` to `out`. */
function packedDouble(r: WireReader, e: number, out: NumCol<Float64Array>, field: string): void {
  if ((e - r.pos) % 8 !== 0) r.fail(`packed ${field} is not a multiple of 8 bytes`, r.pos);
  while (r.pos < e) out.append(r.double(e));
}

function histogramPoint(
  ctx: ProtoCtx,
  c: TableBuilder<"histogram">["cols"],
  start: number,
  end: number,
  temporality: number,
): void {
  const r = ctx.r;
  let sLo = 0, sHi = 0, tLo = 0, tHi = 0, cLo = 0, cHi = 0, flags = 0;
  let sum = 0, min = 0, max = 0;
  const counts = c.BucketCounts.child, bounds = c.ExplicitBounds.child;
  ctx.attrs.begin();
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x4a: // 9 attributes
        ctx.attrs.add(r.len(end));
        break;
      case 0x11: // 2 start_time_unix_nano
        r.fixed64(end);
        sLo = r.lo;
        sHi = r.hi;
        break;
      case 0x19: // 3 time_unix_nano
        r.fixed64(end);
        tLo = r.lo;
        tHi = r.hi;
        break;
      case 0x21: // 4 count
        r.fixed64(end);
        cLo = r.lo;
        cHi = r.hi;
        break;
      case 0x29: // 5 sum
        sum = r.double(end);
        break;
      case 0x32: // 6 bucket_counts, packed
        packedFixed64(r, r.len(end), counts, "HistogramDataPoint.bucket_counts");
        break;
      case 0x31: // 6 bucket_counts, one value
        r.fixed64(end);
        counts.append(r.lo, r.hi);
        break;
      case 0x3a: // 7 explicit_bounds, packed
        packedDouble(r, r.len(end), bounds, "HistogramDataPoint.explicit_bounds");
        break;
      case 0x39: // 7 explicit_bounds, one value
        bounds.append(r.double(end));
        break;
      case 0x50: // 10 flags
        flags = r.uint32(end);
        break;
      case 0x59: // 11 min
        min = r.double(end);
        break;
      case 0x61: // 12 max
        max = r.double(end);
        break;
      default: // 8 exemplars: second pass below
        r.skip(tag, end);
    }
  }
  common(ctx, c, sLo, sHi, tLo, tHi);
  c.Count.append(cLo, cHi);
  c.Sum.append(sum);
  c.BucketCounts.endRow();
  c.ExplicitBounds.endRow();
  exemplars(ctx, c, start, end, 0x42);
  c.Flags.append(flags);
  c.Min.append(min);
  c.Max.append(max);
  c.AggregationTemporality.append(temporality);
}

/** Reads ExponentialHistogramDataPoint.Buckets `[r.pos, e)`: counts into `out`, returns the offset. */
function buckets(r: WireReader, e: number, out: I64Col): number {
  let offset = 0;
  while (r.pos < e) {
    const tag = r.tag(e);
    switch (tag) {
      case 0x08: { // 1 offset (sint32)
        const z = r.uint32(e);
        offset = (z >>> 1) ^ -(z & 1);
        break;
      }
      case 0x12: { // 2 bucket_counts, packed
        const pe = r.len(e);
        while (r.pos < pe) {
          r.varint64(pe);
          out.append(r.lo, r.hi);
        }
        break;
      }
      case 0x10: // 2 bucket_counts, one value
        r.varint64(e);
        out.append(r.lo, r.hi);
        break;
      default:
        r.skip(tag, e);
    }
  }
  return offset;
}

function expHistogramPoint(
  ctx: ProtoCtx,
  c: TableBuilder<"exponential_histogram">["cols"],
  start: number,
  end: number,
  temporality: number,
): void {
  const r = ctx.r;
  let sLo = 0, sHi = 0, tLo = 0, tHi = 0, cLo = 0, cHi = 0, zLo = 0, zHi = 0;
  let flags = 0, scale = 0, posOffset = 0, negOffset = 0;
  let sum = 0, min = 0, max = 0, zeroThreshold = 0;
  ctx.attrs.begin();
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x0a: // 1 attributes
        ctx.attrs.add(r.len(end));
        break;
      case 0x11: // 2 start_time_unix_nano
        r.fixed64(end);
        sLo = r.lo;
        sHi = r.hi;
        break;
      case 0x19: // 3 time_unix_nano
        r.fixed64(end);
        tLo = r.lo;
        tHi = r.hi;
        break;
      case 0x21: // 4 count
        r.fixed64(end);
        cLo = r.lo;
        cHi = r.hi;
        break;
      case 0x29: // 5 sum
        sum = r.double(end);
        break;
      case 0x30: { // 6 scale (sint32)
        const z = r.uint32(end);
        scale = (z >>> 1) ^ -(z & 1);
        break;
      }
      case 0x39: // 7 zero_count
        r.fixed64(end);
        zLo = r.lo;
        zHi = r.hi;
        break;
      case 0x42: // 8 positive
        posOffset = buckets(r, r.len(end), c.PositiveBucketCounts.child);
        break;
      case 0x4a: // 9 negative
        negOffset = buckets(r, r.len(end), c.NegativeBucketCounts.child);
        break;
      case 0x50: // 10 flags
        flags = r.uint32(end);
        break;
      case 0x61: // 12 min
        min = r.double(end);
        break;
      case 0x69: // 13 max
        max = r.double(end);
        break;
      case 0x71: // 14 zero_threshold
        zeroThreshold = r.double(end);
        break;
      default: // 11 exemplars: second pass below
        r.skip(tag, end);
    }
  }
  common(ctx, c, sLo, sHi, tLo, tHi);
  c.Count.append(cLo, cHi);
  c.Sum.append(sum);
  c.Scale.append(scale);
  c.ZeroCount.append(zLo, zHi);
  c.PositiveOffset.append(posOffset);
  c.PositiveBucketCounts.endRow();
  c.NegativeOffset.append(negOffset);
  c.NegativeBucketCounts.endRow();
  exemplars(ctx, c, start, end, 0x5a);
  c.Flags.append(flags);
  c.Min.append(min);
  c.Max.append(max);
  c.AggregationTemporality.append(temporality);
  c.ZeroThreshold.append(zeroThreshold);
}

function summaryPoint(
  ctx: ProtoCtx,
  c: TableBuilder<"summary">["cols"],
  start: number,
  end: number,
): void {
  const r = ctx.r;
  let sLo = 0, sHi = 0, tLo = 0, tHi = 0, cLo = 0, cHi = 0, flags = 0, sum = 0;
  const qs = c["ValueAtQuantiles.Quantile"].child, vs = c["ValueAtQuantiles.Value"].child;
  ctx.attrs.begin();
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x3a: // 7 attributes
        ctx.attrs.add(r.len(end));
        break;
      case 0x11: // 2 start_time_unix_nano
        r.fixed64(end);
        sLo = r.lo;
        sHi = r.hi;
        break;
      case 0x19: // 3 time_unix_nano
        r.fixed64(end);
        tLo = r.lo;
        tHi = r.hi;
        break;
      case 0x21: // 4 count
        r.fixed64(end);
        cLo = r.lo;
        cHi = r.hi;
        break;
      case 0x29: // 5 sum
        sum = r.double(end);
        break;
      case 0x32: { // 6 quantile_values
        const e = r.len(end);
        let q = 0, v = 0;
        while (r.pos < e) {
          const t = r.tag(e);
          if (t === 0x09) q = r.double(e); // 1 quantile
          else if (t === 0x11) v = r.double(e); // 2 value
          else r.skip(t, e);
        }
        qs.append(q);
        vs.append(v);
        break;
      }
      case 0x40: // 8 flags
        flags = r.uint32(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  common(ctx, c, sLo, sHi, tLo, tHi);
  c.Count.append(cLo, cHi);
  c.Sum.append(sum);
  c["ValueAtQuantiles.Quantile"].endRow();
  c["ValueAtQuantiles.Value"].endRow();
  c.Flags.append(flags);
}
