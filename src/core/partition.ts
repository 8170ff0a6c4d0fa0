/**
 * Splits decoded rows into (table, service, hour) partitions, and the object keys (docs/schema.md):
 *
 *   {signal_dir}/{service}/year=YYYY/month=MM/day=DD/hour=HH/{timestamp}-{id}.parquet
 *
 * (`.arrow` with `output.format = "arrow"`)
 *
 * (the storage layer adds the configured prefix).
 */
import type { Column, I64Col, Utf8Col } from "./columns/index.ts";
import { TableBuilder, tableDir, type TableName, TIME_COLUMN } from "./tables.ts";
import { shareRows } from "./otlp/sizing.ts";

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

/** Row → group scratch, reused by every call (grown as needed, up to 64K rows). */
let groupScratch = new Int32Array(1024);

/** Recently seen service names: their UTF-8 bytes and their text (a request names a few). */
const recentBytes: Uint8Array[] = [];
const recentNames: string[] = [];
const RECENT_MAX = 16;

/** `ServiceName` bytes `d[s, e)` as text, from the recent names when they are there. */
function serviceText(d: Uint8Array, s: number, e: number): string {
  for (let k = 0; k < recentBytes.length; k++) {
    const r = recentBytes[k];
    if (r.length !== e - s) continue;
    let j = 0;
    while (j < r.length && r[j] === d[s + j]) j++;
    if (j === r.length) return recentNames[k];
  }
  const name = decoder.decode(d.subarray(s, e));
  if (e - s > 256) return name; // not kept
  if (recentBytes.length >= RECENT_MAX) {
    recentBytes.shift();
    recentNames.shift();
  }
  recentBytes.push(d.slice(s, e));
  recentNames.push(name);
  return name;
}

interface Group {
  service: string;
  hour: number;
  count: number;
  minLo: number;
  minHi: number;
  first: number;
  last: number;
}

export function partition(b: TableBuilder): Partition[] {
  const n = b.length;
  if (n === 0) return [];
  const cols = b.cols as unknown as Record<string, unknown>;
  const time = cols[TIME_COLUMN[b.table]] as I64Col;
  const svc = cols.ServiceName as Utf8Col;
  const halves = time.halves, so = svc.offsets, sd = svc.data;
  // Row → group, in a reused array up to 64K rows (larger ones get their own).
  if (groupScratch.length < n && n <= 65536) {
    groupScratch = new Int32Array(Math.max(n, 2 * groupScratch.length));
  }
  const groupOf = n <= groupScratch.length ? groupScratch : new Int32Array(n);
  const groups: Group[] = [];
  let byKey: Map<string, number> | null = null;
  let prevStart = -1, prevEnd = -1, prevHour = NaN, prevGroup = -1;
  let gr: Group | null = null;
  for (let i = 0; i < n; i++) {
    const lo = halves[2 * i], hi = halves[2 * i + 1];
    const h = hourOf(lo, hi);
    const s = so[i], e = so[i + 1];
    if (h !== prevHour || !sameBytes(sd, s, e, prevStart, prevEnd)) {
      const service = serviceText(sd, s, e);
      // Few groups: a linear search; many: a map by (hour, service).
      let found = -1;
      if (byKey === null) {
        for (let g = 0; g < groups.length; g++) {
          if (groups[g].hour === h && groups[g].service === service) {
            found = g;
            break;
          }
        }
      } else found = byKey.get(`${h}\u0000${service}`) ?? -1;
      if (found < 0) {
        found = groups.length;
        groups.push({ service, hour: h, count: 0, minLo: lo, minHi: hi, first: i, last: i });
        if (byKey !== null) byKey.set(`${h}\u0000${service}`, found);
        else if (groups.length > 8) {
          byKey = new Map();
          for (let g = 0; g < groups.length; g++) {
            byKey.set(`${groups[g].hour}\u0000${groups[g].service}`, g);
          }
        }
      }
      prevStart = s, prevEnd = e, prevHour = h, prevGroup = found;
      gr = groups[found];
    }
    groupOf[i] = prevGroup;
    const g = gr!;
    g.count++;
    g.last = i;
    if (hi < g.minHi || (hi === g.minHi && lo < g.minLo)) {
      g.minHi = hi;
      g.minLo = lo;
    }
  }
  const result = (gi: number, rows: TableBuilder): Partition => {
    const g = groups[gi];
    return {
      table: b.table,
      service: g.service,
      hour: g.hour,
      minTimeNs: (BigInt(g.minHi) << 32n) | BigInt(g.minLo),
      rows,
    };
  };
  if (groups.length === 1) return [result(0, b)];
  // The rows of a group usually arrive together (one ResourceLogs per service, records in time
  // order): such a group is a slice of the decoded columns, without copying the values. The
  // others are gathered row by row.
  let scattered = false;
  const members = groups.map((g) => {
    if (g.last - g.first + 1 === g.count) return null;
    scattered = true;
    return new Int32Array(g.count);
  });
  if (scattered) {
    const fill = new Int32Array(groups.length);
    for (let i = 0; i < n; i++) {
      const m = members[groupOf[i]];
      if (m !== null) m[fill[groupOf[i]]++] = i;
    }
  }
  const names = columnNames(b);
  const slices: TableBuilder[] = [];
  const out = groups.map((g, gi) => {
    const m = members[gi];
    if (m !== null) return result(gi, b.take(m));
    const s = sliceRows(b, names, g.first, g.last + 1);
    slices.push(s);
    return result(gi, s);
  });
  shareRows(b, slices);
  return out;
}

/** Column names of each table, in order (the same for every builder of the table). */
const namesOf = new Map<string, string[]>();

function columnNames(b: TableBuilder): string[] {
  let names = namesOf.get(b.table);
  if (names === undefined) namesOf.set(b.table, names = Object.keys(b.cols));
  return names;
}

/** Rows `[start, end)` of `b`, sharing its buffers (see `Column.slice`). */
function sliceRows(b: TableBuilder, names: string[], start: number, end: number): TableBuilder {
  // A copy of the columns object keeps its shape (property access stays fast downstream).
  const src = b.cols as unknown as Record<string, Column>;
  const out = { ...src };
  for (let k = 0; k < names.length; k++) out[names[k]] = src[names[k]].slice(start, end);
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

/**
 * The object key (without the storage prefix) of a file holding partition rows; `extension` is
 * the file format's (`output.format`: "parquet" or "arrow").
 */
export function objectKey(
  table: TableName,
  service: string,
  minTimeNs: bigint,
  id: string,
  extension = "parquet",
): string {
  const hour = Number(minTimeNs / 3_600_000_000_000n);
  const d = new Date(hour * 3_600_000);
  const us = minTimeNs / 1000n;
  return `${tableDir(table)}/${safeSegment(service)}/year=${d.getUTCFullYear()}/month=${
    pad(d.getUTCMonth() + 1)
  }/day=${pad(d.getUTCDate())}/hour=${pad(d.getUTCHours())}/${us}-${id}.${extension}`;
}
