/**
 * The envelope every OTLP protobuf request shares, walked once for all three signals: the
 * resources, their scopes, and the records of each scope. The record decoders (./logs.ts,
 * ./traces.ts, ./metrics.ts) only read their own record messages.
 *
 * Export{Logs,Trace,Metrics}ServiceRequest
 *   1 resource_{logs,spans,metrics}  Resource{Logs,Spans,Metrics} (repeated)
 * Resource{Logs,Spans,Metrics}
 *   1 resource    Resource
 *   2 scope_*     Scope{Logs,Spans,Metrics} (repeated)
 *   3 schema_url  string
 * Scope{Logs,Spans,Metrics}
 *   1 scope       InstrumentationScope
 *   2 records     LogRecord / Span / Metric (repeated)
 *   3 schema_url  string
 * Resource
 *   1 attributes                KeyValue (repeated)
 *   2 dropped_attributes_count  uint32
 *   3 entity_refs               EntityRef (repeated; not stored)
 * InstrumentationScope
 *   1 name                      string
 *   2 version                   string
 *   3 attributes                KeyValue (repeated)
 *   4 dropped_attributes_count  uint32
 *
 * Fields may come in any order on the wire (schema_url after the records, say), so a resource
 * or scope message is scanned for its own fields first, skipping the records, and its
 * attributes are sorted once (a row of the scratch's `prepared` map, or a cached resource's
 * map: ./resource-cache.ts) and then copied into every row of the scope in bulk (`fillScope`).
 *
 * KeyValue attributes of the rows themselves go through `AttrRow` (./attr-row.ts).
 */
import { fillBytes, fillMap, type MapCol, type NumCol, type Utf8Col } from "../columns/index.ts";
import type { Signal, TableBuilder } from "../tables.ts";
import type { ProtoCtx } from "./context.ts";
import type { WireReader } from "../proto/reader.ts";
import { cachedResource, lookup, rememberResource, resourceHash } from "./resource-cache.ts";
import { learnSizes, sizedTable, wasSized } from "./sizing.ts";
import type { Decoded } from "./types.ts";

const SERVICE_NAME = new TextEncoder().encode("service.name");
const SERVICE_NAMESPACE = new TextEncoder().encode("service.namespace");
const SERVICE_INSTANCE_ID = new TextEncoder().encode("service.instance.id");
/** Requests larger than this without a size history have their records counted first. */
const COUNT_FIRST_BYTES = 65536;

/** `header()` lists: the scopes of a resource, or the records of a scope. */
const SCOPES = 0, RECORDS = 1;

/** The columns every row repeats from its resource and scope (see `Envelope.fillScope`). */
export interface ScopeCols {
  ServiceName: Utf8Col;
  ResourceAttributes: MapCol;
  ScopeName: Utf8Col;
  ScopeVersion: Utf8Col;
  ServiceNamespace: Utf8Col;
  ServiceInstanceId: Utf8Col;
  ResourceSchemaUrl?: Utf8Col;
  ScopeSchemaUrl?: Utf8Col;
  ScopeAttributes?: MapCol;
  ScopeDroppedAttrCount?: NumCol<Uint32Array>;
}

/** What `header()` found in a Resource* or Scope* message. */
interface Header {
  /** Field 2 messages (scopes or records) listed. */
  count: number;
  /** Range of field 1 (the Resource or InstrumentationScope; -1 when absent). */
  s: number;
  e: number;
  /** Range of schema_url (empty when absent). */
  urlS: number;
  urlE: number;
}

/** Walks the resources and scopes of one request (`ctx`), keeping the current ones. */
export class Envelope {
  /** Resource and scope attributes, a row each (the scratch's, reused across requests). */
  private readonly prepared: MapCol;

  // Current resource: its attributes as row `resRow` of `resMap` (-1: none; `prepared` or a
  // cached resource's map), and the entries of service.name / service.namespace /
  // service.instance.id in it (-1: absent).
  private resMap: MapCol;
  private resRow = -1;
  private svcEntry = -1;
  private nsEntry = -1;
  private instEntry = -1;
  private resSchemaS = 0;
  private resSchemaE = 0;

  // Current scope.
  private scopeRow = -1;
  private scopeNameS = 0;
  private scopeNameE = 0;
  private scopeVersionS = 0;
  private scopeVersionE = 0;
  private scopeSchemaS = 0;
  private scopeSchemaE = 0;
  private scopeDropped = 0;

  constructor(private readonly ctx: ProtoCtx) {
    this.prepared = this.resMap = ctx.scratch.prepared;
  }

  /**
   * Walks the request: reads every resource and scope (their attributes sorted once), then
   * calls `record(s, e)` for each record message `[s, e)` of the scope, then `endScope()`
   * (where the decoder fills the columns its rows repeat from the resource and scope).
   */
  walk(record: (s: number, e: number) => void, endScope: () => void): void {
    const r = this.ctx.r;
    const total = this.ctx.buf.length;
    r.pos = 0;
    while (r.pos < total) {
      const tag = r.tag(total);
      if (tag !== 0x0a) {
        r.skip(tag, total);
        continue;
      }
      const resEnd = r.len(total);
      const res = this.header(r.pos, resEnd, SCOPES);
      this.resSchemaS = res.urlS;
      this.resSchemaE = res.urlE;
      this.readResource(res.s, res.e);
      const list = this.ctx.scratch.scopes; // (walkScope lists records elsewhere)
      for (let i = 0; i < res.count; i++) {
        this.walkScope(list[2 * i], list[2 * i + 1], record);
        endScope();
      }
      r.pos = resEnd;
    }
  }

  private walkScope(start: number, end: number, record: (s: number, e: number) => void): void {
    const scope = this.header(start, end, RECORDS);
    this.scopeSchemaS = scope.urlS;
    this.scopeSchemaE = scope.urlE;
    this.readScope(scope.s, scope.e);
    const list = this.ctx.scratch.records;
    for (let i = 0; i < scope.count; i++) record(list[2 * i], list[2 * i + 1]);
  }

  /**
   * Appends `rows` rows to the columns that repeat the current resource and scope (service,
   * schema URLs, scope name and version, their attribute maps), in bulk: called at the end of
   * each scope with the rows its records added to the table.
   */
  fillScope(c: ScopeCols, rows: number): void {
    if (rows <= 0) return;
    const buf = this.ctx.buf, p = this.prepared;
    this.fillEntry(c.ServiceName, this.svcEntry, rows);
    fillMap(c.ResourceAttributes, this.resMap, this.resRow, rows);
    fillBytes(c.ScopeName, buf, this.scopeNameS, this.scopeNameE, rows);
    fillBytes(c.ScopeVersion, buf, this.scopeVersionS, this.scopeVersionE, rows);
    this.fillEntry(c.ServiceNamespace, this.nsEntry, rows);
    this.fillEntry(c.ServiceInstanceId, this.instEntry, rows);
    if (c.ResourceSchemaUrl) {
      fillBytes(c.ResourceSchemaUrl, buf, this.resSchemaS, this.resSchemaE, rows);
    }
    if (c.ScopeSchemaUrl) {
      fillBytes(c.ScopeSchemaUrl, buf, this.scopeSchemaS, this.scopeSchemaE, rows);
    }
    if (c.ScopeAttributes) fillMap(c.ScopeAttributes, p, this.scopeRow, rows);
    if (c.ScopeDroppedAttrCount) {
      for (let i = 0; i < rows; i++) c.ScopeDroppedAttrCount.append(this.scopeDropped);
    }
  }

  /** Fills `rows` copies of value `entry` of the resource's map (empty when -1). */
  private fillEntry(col: Utf8Col, entry: number, rows: number): void {
    const v = this.resMap.values;
    if (entry < 0) fillBytes(col, v.data, 0, 0, rows);
    else fillBytes(col, v.data, v.offsets[entry], v.offsets[entry + 1], rows);
  }

  /**
   * Reads a Resource* or Scope* message for its field 1 (resource / scope) and its schema_url
   * (3), which may come after the records (2), and lists the ranges of its field 2 messages
   * (scopes or records) in the scratch's `scopes` / `records` (`which`). One pass over the
   * message, so its framing is checked before any record is decoded.
   */
  private header(start: number, end: number, which: number): Header {
    const r = this.ctx.r, scratch = this.ctx.scratch;
    let list = which === SCOPES ? scratch.scopes : scratch.records, n = 0;
    let s = -1, e = -1, urlS = 0, urlE = 0;
    r.pos = start;
    while (r.pos < end) {
      const t = r.tag(end);
      if (t === 0x12) {
        const le = r.len(end);
        if (2 * n + 2 > list.length) {
          const next = new Int32Array(2 * list.length);
          next.set(list);
          list = next;
        }
        list[2 * n] = r.pos;
        list[2 * n + 1] = le;
        n++;
        r.pos = le;
      } else if (t === 0x0a) {
        e = r.bytes(end);
        s = r.start;
      } else if (t === 0x1a) {
        urlE = r.string(end, "schema_url");
        urlS = r.start;
      } else r.skip(t, end);
    }
    if (which === SCOPES) scratch.scopes = list;
    else scratch.records = list;
    return { count: n, s, e, urlS, urlE };
  }

  private readResource(s: number, e: number): void {
    this.resMap = this.prepared;
    this.resRow =
      this.svcEntry =
      this.nsEntry =
      this.instEntry =
        -1;
    if (s < 0) return;
    // Exporters send the same resource in request after request: its attributes as they were
    // prepared the last time (the same bytes decode the same way, so no check is skipped that
    // could fail).
    const buf = this.ctx.buf, maxDepth = this.ctx.maxDepth;
    const h = resourceHash(buf, s, e);
    const hit = cachedResource(buf, s, e, h, maxDepth);
    if (hit !== null) {
      this.resMap = hit.map;
      this.resRow = hit.map.length > 0 ? 0 : -1;
      this.svcEntry = hit.svc;
      this.nsEntry = hit.ns;
      this.instEntry = hit.inst;
      return;
    }
    const r = this.ctx.r, attrs = this.ctx.attrs;
    attrs.begin();
    r.pos = s;
    while (r.pos < e) {
      const t = r.tag(e);
      if (t === 0x0a) attrs.add(r.len(e)); // 1 attributes
      else r.skip(t, e);
    }
    const row = this.prepareAttrs();
    this.resRow = row;
    if (row >= 0) {
      const p = this.prepared;
      const first = p.offsets[row], end = p.offsets[row + 1];
      this.svcEntry = lookup(p.keys, first, end, SERVICE_NAME);
      this.nsEntry = lookup(p.keys, first, end, SERVICE_NAMESPACE);
      this.instEntry = lookup(p.keys, first, end, SERVICE_INSTANCE_ID);
    }
    rememberResource(buf, s, e, h, maxDepth, this.prepared, row, [
      this.svcEntry,
      this.nsEntry,
      this.instEntry,
    ]);
  }

  private readScope(s: number, e: number): void {
    this.scopeRow = -1;
    this.scopeNameS =
      this.scopeNameE =
      this.scopeVersionS =
      this.scopeVersionE =
        0;
    this.scopeDropped = 0;
    if (s < 0) return;
    const r = this.ctx.r, attrs = this.ctx.attrs;
    attrs.begin();
    r.pos = s;
    while (r.pos < e) {
      const t = r.tag(e);
      switch (t) {
        case 0x0a: // 1 name
          this.scopeNameE = r.string(e, "InstrumentationScope.name");
          this.scopeNameS = r.start;
          break;
        case 0x12: // 2 version
          this.scopeVersionE = r.string(e, "InstrumentationScope.version");
          this.scopeVersionS = r.start;
          break;
        case 0x1a: // 3 attributes
          attrs.add(r.len(e));
          break;
        case 0x20: // 4 dropped_attributes_count
          this.scopeDropped = r.uint32(e);
          break;
        default:
          r.skip(t, e);
      }
    }
    this.scopeRow = this.prepareAttrs();
  }

  /** The collected `attrs` as a row of `prepared` (sorted, de-duplicated); -1 when empty. */
  private prepareAttrs(): number {
    const p = this.prepared;
    const before = p.keys.length;
    this.ctx.attrs.flush(p);
    return p.keys.length > before ? p.length - 1 : -1;
  }
}

/**
 * Calls `visit(s, e)` for each record message `[s, e)` of the request `r` reads (field 2 of
 * every Scope*), skipping everything else, until `visit` returns false. `strict`: a top-level
 * field other than 1 (resource_*) stops the walk too. Returns whether it went to the end.
 * Throws `DecodeError` on malformed framing, as decoding would.
 */
export function eachRecord(
  r: WireReader,
  visit: (s: number, e: number) => boolean,
  strict: boolean,
): boolean {
  const total = r.buf.length;
  r.pos = 0;
  while (r.pos < total) {
    const tag = r.tag(total);
    if (tag !== 0x0a) {
      if (strict) return false;
      r.skip(tag, total);
      continue;
    }
    const re = r.len(total);
    while (r.pos < re) {
      const t = r.tag(re);
      if (t !== 0x12) {
        r.skip(t, re);
        continue;
      }
      const se = r.len(re);
      while (r.pos < se) {
        const t2 = r.tag(se);
        if (t2 !== 0x12) {
          r.skip(t2, se);
          continue;
        }
        const e = r.len(se);
        if (!visit(r.pos, e)) return false;
        r.pos = e;
      }
      r.pos = se;
    }
    r.pos = re;
  }
  return true;
}

/** Number of records in the request `ctx` reads (see `eachRecord`). */
export function countRecords(ctx: ProtoCtx): number {
  let n = 0;
  eachRecord(ctx.r, () => {
    n++;
    return true;
  }, false);
  return n;
}

/** The signals with one record message per row of one table. */
type RecordSignal = Extract<Signal, "logs" | "traces">;

/**
 * Decodes a request of a one-table signal (logs, traces): walks the envelope, calls
 * `record(ctx, cols, s, e)` for each record message `[s, e)`, which appends one row to the
 * record's own columns, and fills the resource's and scope's columns at the end of each scope.
 */
export function decodeRecords<S extends RecordSignal>(
  signal: S,
  ctx: ProtoCtx,
  record: (ctx: ProtoCtx, c: TableBuilder<S>["cols"], start: number, end: number) => void,
): Decoded {
  const body = ctx.buf;
  const t = sizedTable(signal, body.length);
  const c = t.cols;
  const env = new Envelope(ctx);
  // Large requests without a size history: count the records first so the string columns can
  // be sized from a sample (see ProtoCtx.presize).
  const total = !wasSized(t) && body.length > COUNT_FIRST_BYTES ? countRecords(ctx) : 0;
  let records = 0;
  env.walk((start, end) => {
    record(ctx, c, start, end);
    ctx.presize(c, ++records, total);
  }, () => env.fillScope(c, c.Timestamp.length - c.ServiceName.length));
  learnSizes(t, body.length);
  ctx.release();
  return { tables: records > 0 ? [t] : [], records, rejected: 0, message: "" };
}
