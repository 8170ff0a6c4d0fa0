/**
 * Splits decoded rows into (table, service, hour) partitions, and the object keys of SCHEMA.md:
 *
 *   {signal_dir}/{service}/year=YYYY/month=MM/day=DD/hour=HH/{timestamp}-{id}.parquet
 *
 * (the storage layer adds the configured prefix).
 */
import type { Column, I64Col, Utf8Col } from "./columns.ts";
import { TableBuilder, tableDir, type TableName, TIME_COLUMN } from "./tables.ts";

export interface Partition {
  table: TableName;
  /** `ServiceName` as written in the rows (not yet made safe for a path). */
  service: string;
  /** Hours since the Unix epoch (UTC) of every row's time. */
  hour: number;
  /** Earliest row time, epoch nanoseconds. */
  minTimeNs: bigint;
  rows: TableBuilder;
}

const decoder = new TextDecoder();

/**
 * Hours since the epoch of an unsigned 64-bit nanosecond time given as 32-bit halves, exactly:
 * 3.6e12 = 2^13 × 439453125, and (hi·2^19 + lo>>>13) < 2^51 is exact in a double.
 */
export function hourOf(lo: number, hi: number): number {
  return Math.floor((hi * 524288 + (lo >>> 13)) / 439453125);
}

export function partition(b: TableBuilder): Partition[] {
  const n = b.length;
  if (n === 0) return [];
  const cols = b.cols as unknown as Record<string, unknown>;
  const time = cols[TIME_COLUMN[b.table]] as I64Col;
  const svc = cols.ServiceName as Utf8Col;
  const groupOf = new Int32Array(n);
  const groups: {
    service: string;
    hour: number;
    count: number;
    minLo: number;
    minHi: number;
    first: number;
    last: number;
  }[] = [];
  const byKey = new Map<string, number>();
  let prevStart = -1, prevEnd = -1, prevHour = NaN, prevGroup = -1;
  for (let i = 0; i < n; i++) {
    const lo = time.halves[2 * i], hi = time.halves[2 * i + 1];
    const h = hourOf(lo, hi);
    const s = svc.offsets[i], e = svc.offsets[i + 1];
    let g: number;
    if (h === prevHour && sameBytes(svc.data, s, e, prevStart, prevEnd)) {
      g = prevGroup;
    } else {
      const service = decoder.decode(svc.data.subarray(s, e));
      const key = `${h}\u0000${service}`;
      let found = byKey.get(key);
      if (found === undefined) {
        found = groups.length;
        byKey.set(key, found);
        groups.push({ service, hour: h, count: 0, minLo: lo, minHi: hi, first: i, last: i });
      }
      g = found;
      prevStart = s, prevEnd = e, prevHour = h, prevGroup = g;
    }
    groupOf[i] = g;
    const gr = groups[g];
    gr.count++;
    gr.last = i;
    if (hi < gr.minHi || (hi === gr.minHi && lo < gr.minLo)) {
      gr.minHi = hi;
      gr.minLo = lo;
    }
  }
  const result = (gi: number, rows: TableBuilder): Partition => {
    const gr = groups[gi];
    return {
      table: b.table,
      service: gr.service,
      hour: gr.hour,
      minTimeNs: (BigInt(gr.minHi) << 32n) | BigInt(gr.minLo),
      rows,
    };
  };
  if (groups.length === 1) return [result(0, b)];
  // The rows of a group usually arrive together (one ResourceLogs per service, records in time
  // order): such a group is a slice of the decoded columns, without copying the values. The
  // others are gathered row by row.
  const members = groups.map((g) =>
    g.last - g.first + 1 === g.count ? null : new Int32Array(g.count)
  );
  const fill = new Int32Array(groups.length);
  for (let i = 0; i < n; i++) {
    const m = members[groupOf[i]];
    if (m !== null) m[fill[groupOf[i]]++] = i;
  }
  return groups.map((g, gi) => {
    const m = members[gi];
    return result(gi, m === null ? sliceRows(b, g.first, g.last + 1) : b.take(m));
  });
}

/** Rows `[start, end)` of `b`, sharing its buffers (see `Column.slice`). */
function sliceRows(b: TableBuilder, start: number, end: number): TableBuilder {
  const out: Record<string, Column> = {};
  for (const [k, c] of Object.entries(b.cols as unknown as Record<string, Column>)) {
    out[k] = c.slice(start, end);
  }
  return new TableBuilder(b.table, out as never);
}

function sameBytes(d: Uint8Array, as: number, ae: number, bs: number, be: number): boolean {
  if (ae - as !== be - bs) return false;
  for (let i = 0; i < ae - as; i++) if (d[as + i] !== d[bs + i]) return false;
  return true;
}

const SEGMENT_MAX = 128;

/**
 * A service name as one safe path segment: keeps `A–Z a–z 0–9 . _ -`, replaces anything else
 * with `_`, never `.` or `..`, at most 128 characters, `unknown_service` when empty.
 */
export function safeSegment(name: string): string {
  if (name === "") return "unknown_service";
  let out = "";
  for (const ch of name) {
    out += /^[A-Za-z0-9._-]$/.test(ch) ? ch : "_";
    if (out.length >= SEGMENT_MAX) break;
  }
  out = out.slice(0, SEGMENT_MAX);
  if (out === "." || out === "..") out = out.replaceAll(".", "_");
  return out;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** The object key (without the storage prefix) of a file holding partition rows. */
export function objectKey(
  table: TableName,
  service: string,
  minTimeNs: bigint,
  id: string,
): string {
  const hour = Number(minTimeNs / 3_600_000_000_000n);
  const d = new Date(hour * 3_600_000);
  const us = minTimeNs / 1000n;
  return `${tableDir(table)}/${safeSegment(service)}/year=${d.getUTCFullYear()}/month=${
    pad(d.getUTCMonth() + 1)
  }/day=${pad(d.getUTCDate())}/hour=${pad(d.getUTCHours())}/${us}-${id}.parquet`;
}
