/**
 * What the three protobuf decoders share: the walk over resources and scopes, attributes, ids.
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
 * attributes are sorted once (a `PreparedMap`) and then copied into every row.
 *
 * KeyValue attributes of the rows themselves go through `AttrRow`: input ranges, sorted, then
 * written once into the MapCol.
 */
import {
  AnyValueWriter,
  compareBytes,
  HEX,
  kvKeyE,
  kvKeyS,
  kvValE,
  kvValS,
  readKeyValue,
} from "./anyvalue.ts";
import {
  type Column,
  fillBytes,
  fillEntries,
  fillMap,
  ListCol,
  MapCol,
  type NumCol,
  repeatLast,
  Utf8Col,
} from "../columns/index.ts";
import { WireReader } from "../proto/reader.ts";
import type { DecodeOptions } from "./types.ts";

const SERVICE_NAME = new TextEncoder().encode("service.name");
const SERVICE_NAMESPACE = new TextEncoder().encode("service.namespace");
const SERVICE_INSTANCE_ID = new TextEncoder().encode("service.instance.id");
/** Rows decoded before the string columns are sized for the whole request. */
const SAMPLE_ROWS = 64;

/**
 * The attributes of one row (a record, event, link, data point or exemplar), collected as byte
 * ranges of the input and written straight into a MapCol's `keys`/`values` when the row ends:
 * sorted by key bytes (stable, so the first of duplicate keys wins), without copying anything
 * twice. Rows of one request usually repeat the same keys in the same order, so the order of
 * the previous row is reused when the keys are the same bytes. Sorting compares the first 8
 * bytes of two keys as two integers (kept per entry) before it looks at their bytes.
 */
export class AttrRow {
  /**
   * Per entry (`STRIDE` ints): key start, key end, value start, value end (into the request),
   * then the key's first 4 and next 4 bytes as big-endian integers with the sign bit flipped (so
   * a signed comparison orders them as bytes; missing bytes count as 0).
   */
  private ranges = new Int32Array(16 * STRIDE);
  private n = 0;
  /** Sorted, de-duplicated entry indices of the last sort, and how many. */
  private order = new Int32Array(16);
  private unique = 0;
  /** Key ranges and prefixes of the row `order` belongs to (`prevN` -1: none yet). */
  private prevKeys = new Int32Array(64);
  private prevN = -1;
  /** The map the last row went to, and its key count after that row. */
  private lastMap: MapCol | null = null;
  private lastEnd = -1;

  constructor(private r: WireReader, private readonly av: AnyValueWriter) {}

  /** Bytes of the scratch arrays (they grow with the largest row seen). */
  heldBytes(): number {
    return 4 * (this.ranges.length + this.order.length + this.prevKeys.length);
  }

  /** Readies this (pooled) collector for a new request read by `r`. */
  reset(r: WireReader): void {
    this.r = r;
    this.n = 0;
    this.prevN = -1;
    this.lastMap = null;
    this.lastEnd = -1;
  }

  /** Starts a row (drops what a rejected row left). */
  begin(): void {
    this.n = 0;
  }

  /** Adds the KeyValue at `[r.pos, end)`; leaves `r.pos` at `end`. */
  add(end: number): void {
    const r = this.r, b = r.buf, p = r.pos;
    let ks: number, ke: number, vs: number, ve: number;
    // The usual encoding, `0a <len> key 12 <len> value` with one-byte lengths, read in place;
    // anything else (other orders, long fields, unknown fields) by the general reader.
    const kl = b[p + 1];
    let vl: number;
    if (
      b[p] === 0x0a && kl < 0x80 && p + 4 + kl <= end && b[p + 2 + kl] === 0x12 &&
      (vl = b[p + 3 + kl]) < 0x80 && p + 4 + kl + vl === end
    ) {
      ks = p + 2;
      ke = ks + kl;
      r.checkUtf8(ks, ke, "KeyValue.key");
      vs = ke + 2;
      ve = end;
    } else {
      readKeyValue(r, end);
      ks = kvKeyS;
      ke = kvKeyE;
      vs = kvValS;
      ve = kvValE;
    }
    const i = STRIDE * this.n;
    if (i + STRIDE > this.ranges.length) {
      const next = new Int32Array(this.ranges.length * 2);
      next.set(this.ranges);
      this.ranges = next;
    }
    const g = this.ranges;
    g[i] = ks;
    g[i + 1] = ke;
    g[i + 2] = vs;
    g[i + 3] = ve;
    const len = ke - ks;
    if (len >= 8) {
      g[i + 4] = ((b[ks] << 24) | (b[ks + 1] << 16) | (b[ks + 2] << 8) | b[ks + 3]) ^ SIGN;
      g[i + 5] = ((b[ks + 4] << 24) | (b[ks + 5] << 16) | (b[ks + 6] << 8) | b[ks + 7]) ^ SIGN;
    } else {
      let p1 = 0, p2 = 0;
      for (let j = 0; j < len; j++) {
        if (j < 4) p1 |= b[ks + j] << (24 - 8 * j);
        else p2 |= b[ks + j] << (56 - 8 * j);
      }
      g[i + 4] = p1 ^ SIGN;
      g[i + 5] = p2 ^ SIGN;
    }
    this.n++;
    r.pos = end;
  }

  /** Writes the row's entries into `map` and ends its row. */
  flush(map: MapCol): void {
    const n = this.n;
    if (n > 0) {
      const g = this.ranges, buf = this.r.buf, keys = map.keys;
      const same = this.sameKeys();
      if (same && map === this.lastMap && keys.length === this.lastEnd) {
        // Same keys as the row just written to this map: copy its keys as one block.
        repeatLast(keys, this.unique);
      } else {
        if (!same) this.sort();
        // The keys (validated when added), with room made once for the row.
        const order = this.order, u = this.unique;
        let bytes = 0;
        for (let k = 0; k < u; k++) bytes += g[STRIDE * order[k] + 1] - g[STRIDE * order[k]];
        keys.reserve(bytes, u);
        const kd = keys.data, ko = keys.offsets;
        let kn = keys.length, at = ko[kn];
        for (let k = 0; k < u; k++) {
          const i = STRIDE * order[k];
          for (let j = g[i], e = g[i + 1]; j < e; j++) kd[at++] = buf[j];
          ko[++kn] = at;
        }
        keys.length = kn;
      }
      this.lastMap = map;
      this.lastEnd = keys.length;
      const order = this.order, values = map.values;
      for (let u = 0; u < this.unique; u++) {
        const i = STRIDE * order[u];
        const vs = g[i + 2], ve = g[i + 3];
        if (ve - vs >= 2 && buf[vs] === 0x0a && buf[vs + 1] === ve - vs - 2) {
          // The usual value, AnyValue{string_value} under 128 bytes: copied as it is while its
          // bytes are checked for non-ASCII (then validated as UTF-8).
          values.reserve(ve - vs - 2, 1);
          const vd = values.data, vo = values.offsets;
          let at = vo[values.length], x = 0;
          for (let j = vs + 2; j < ve; j++) x |= vd[at++] = buf[j];
          if (x >= 0x80) this.r.checkUtf8(vs + 2, ve, "AnyValue.string_value");
          vo[++values.length] = at;
        } else this.av.append(values, vs, ve);
      }
      this.n = 0;
    }
    map.endSortedRow();
  }

  /** Whether this row's keys are, in order, the same bytes as those `order` was made for. */
  private sameKeys(): boolean {
    const n = this.n;
    if (n !== this.prevN) return false;
    const g = this.ranges, p = this.prevKeys, b = this.r.buf;
    for (let k = 0; k < n; k++) {
      const i = STRIDE * k, j = 4 * k;
      const s = g[i], e = g[i + 1], ps = p[j], pe = p[j + 1];
      if (e - s !== pe - ps) return false;
      if (s === ps) continue;
      // The first 8 bytes (the prefixes) first, then the bytes after them.
      if (g[i + 4] !== p[j + 2] || g[i + 5] !== p[j + 3]) return false;
      for (let x = 8; x < e - s; x++) if (b[s + x] !== b[ps + x]) return false;
    }
    return true;
  }

  /** Compares the keys of entries `x` and `y` as bytes. */
  private cmp(x: number, y: number): number {
    const g = this.ranges, i = STRIDE * x, j = STRIDE * y;
    const d = g[i + 4] - g[j + 4];
    if (d !== 0) return d;
    const d2 = g[i + 5] - g[j + 5];
    if (d2 !== 0) return d2;
    const b = this.r.buf;
    return compareBytes(b, g[i], g[i + 1], b, g[j], g[j + 1]);
  }

  private sort(): void {
    const n = this.n, g = this.ranges;
    if (this.order.length < n) this.order = new Int32Array(2 * n);
    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = i;
    if (n <= 32) {
      // Insertion sort: stable, so the first of duplicate keys stays first. Entries whose
      // prefixes differ are ordered by them alone.
      for (let i = 1; i < n; i++) {
        const x = order[i], x1 = g[STRIDE * x + 4], x2 = g[STRIDE * x + 5];
        let j = i - 1;
        while (j >= 0) {
          const y = order[j], y1 = g[STRIDE * y + 4];
          if (y1 < x1) break;
          if (y1 === x1) {
            const y2 = g[STRIDE * y + 5];
            if (y2 < x2 || (y2 === x2 && this.cmp(y, x) <= 0)) break;
          }
          order[j + 1] = y;
          j--;
        }
        order[j + 1] = x;
      }
    } else {
      const arr = Array.from(order.subarray(0, n));
      arr.sort((x, y) => this.cmp(x, y) || x - y);
      order.set(arr);
    }
    let u = 0;
    for (let i = 0; i < n; i++) {
      if (u > 0 && this.cmp(order[u - 1], order[i]) === 0) continue;
      order[u++] = order[i];
    }
    this.unique = u;
    if (this.prevKeys.length < 4 * n) this.prevKeys = new Int32Array(8 * n);
    const p = this.prevKeys;
    for (let k = 0; k < n; k++) {
      p[4 * k] = g[STRIDE * k];
      p[4 * k + 1] = g[STRIDE * k + 1];
      p[4 * k + 2] = g[STRIDE * k + 4];
      p[4 * k + 3] = g[STRIDE * k + 5];
    }
    this.prevN = n;
  }
}

/** Ints per entry of `AttrRow.ranges`. */
const STRIDE = 6;
/** The sign bit of an int32, flipped in the key prefixes so signed order is byte order. */
const SIGN = -0x80000000;

/** The scratch objects a decode needs, kept for the next request (see `ProtoCtx.release`). */
interface Scratch {
  av: AnyValueWriter;
  attrs: AttrRow;
  subAttrs: AttrRow;
  /** Resource and scope attributes of the request, one row per resource / scope. */
  prepared: MapCol;
  /** Start and end of each scope of the current resource, each record of the current scope. */
  scopes: Int32Array;
  records: Int32Array;
}

/** `header()` lists: the scopes of a resource, or the records of a scope. */
const SCOPES = 0, RECORDS = 1;

let pooled: Scratch | null = null;

/** Bytes held by the scratch kept for the next request (0: none kept; for tests). */
export function pooledScratchBytes(): number {
  const s = pooled;
  if (s === null) return 0;
  const p = s.prepared;
  return p.keys.data.length + p.values.data.length + 4 * s.records.length +
    s.attrs.heldBytes() + s.subAttrs.heldBytes() + s.av.heldBytes();
}
/** A scratch map holding more bytes than this is not kept for the next request. */
const POOL_MAX_BYTES = 1 << 20;

/** The columns every row repeats from its resource and scope (see `ProtoCtx.fillScope`). */
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

/** Decoding state of one request: the reader, and the current resource and scope. */
export class ProtoCtx {
  readonly r: WireReader;
  readonly buf: Uint8Array;
  readonly av: AnyValueWriter;
  /** Attributes of the current record / data point. */
  readonly attrs: AttrRow;
  /** Attributes of the current event, link or exemplar (inside a record). */
  readonly subAttrs: AttrRow;
  /** Halves of `receivedAtNs`. */
  readonly recvLo: number;
  readonly recvHi: number;
  /**
   * Resource and scope attributes, sorted once each (a row each), copied into the rows of the
   * scope by `fillScope`. Reused across requests.
   */
  private readonly prepared: MapCol;
  private readonly maxDepth: number;
  private scratch: Scratch | null;
  /** See `header()`. */
  private scopeList: Int32Array;
  private recordList: Int32Array;

  // Current resource: its attributes as row `resRow` of `resMap` (-1: none; `prepared` or a
  // cached resource's map), and the entries of service.name / service.namespace /
  // service.instance.id in it (-1: absent).
  private resMap: MapCol;
  private resRow = -1;
  private svcEntry = -1;
  private nsEntry = -1;
  private instEntry = -1;
  resSchemaS = 0;
  resSchemaE = 0;

  // Current scope.
  private scopeRow = -1;
  scopeNameS = 0;
  scopeNameE = 0;
  scopeVersionS = 0;
  scopeVersionE = 0;
  scopeSchemaS = 0;
  scopeSchemaE = 0;
  scopeDropped = 0;

  constructor(body: Uint8Array, what: string, opts: DecodeOptions) {
    this.buf = body;
    const r = this.r = new WireReader(body, what);
    const maxDepth = opts.maxDepth ?? 64;
    let s = pooled;
    pooled = null;
    if (s === null) {
      const av = new AnyValueWriter(r, maxDepth);
      s = {
        av,
        attrs: new AttrRow(r, av),
        subAttrs: new AttrRow(r, av),
        prepared: new MapCol(),
        scopes: new Int32Array(16),
        records: new Int32Array(256),
      };
    } else {
      s.av.reset(r, maxDepth);
      s.attrs.reset(r);
      s.subAttrs.reset(r);
      const p = s.prepared;
      p.length = p.keys.length = p.values.length = 0;
    }
    this.scratch = s;
    this.av = s.av;
    this.attrs = s.attrs;
    this.subAttrs = s.subAttrs;
    this.prepared = this.resMap = s.prepared;
    this.maxDepth = maxDepth;
    this.scopeList = s.scopes;
    this.recordList = s.records;
    const ns = BigInt.asUintN(64, opts.receivedAtNs);
    this.recvLo = Number(ns & 0xffffffffn);
    this.recvHi = Number(ns >> 32n);
  }

  /**
   * Hands the scratch objects to the next request (call once decoding succeeded; after an
   * error they are simply not reused).
   */
  release(): void {
    const s = this.scratch;
    this.scratch = null;
    if (s === null) return;
    // Scratch that grew large for an unusual request (a record with 100,000 attributes, a
    // huge kvlist) is left to the garbage collector rather than kept.
    pooled = s;
    if (pooledScratchBytes() > POOL_MAX_BYTES) pooled = null;
  }

  /**
   * Walks the request: reads every resource and scope (their attributes sorted once), then
   * calls `record(s, e)` for each record message `[s, e)` of the scope, then `endScope()`
   * (where the decoder fills the columns its rows repeat from the resource and scope).
   */
  walk(record: (s: number, e: number) => void, endScope: () => void): void {
    const r = this.r;
    const total = this.buf.length;
    r.pos = 0;
    while (r.pos < total) {
      const tag = r.tag(total);
      if (tag !== 0x0a) {
        r.skip(tag, total);
        continue;
      }
      const resEnd = r.len(total);
      const scopes = this.header(r.pos, resEnd, SCOPES);
      this.resSchemaS = this.urlS;
      this.resSchemaE = this.urlE;
      this.readResource(this.hdrS, this.hdrE);
      const list = this.scopeList; // (walkScope lists records elsewhere)
      for (let i = 0; i < scopes; i++) {
        this.walkScope(list[2 * i], list[2 * i + 1], record);
        endScope();
      }
      r.pos = resEnd;
    }
  }

  private walkScope(start: number, end: number, record: (s: number, e: number) => void): void {
    const n = this.header(start, end, RECORDS);
    this.scopeSchemaS = this.urlS;
    this.scopeSchemaE = this.urlE;
    this.readScope(this.hdrS, this.hdrE);
    const list = this.recordList;
    for (let i = 0; i < n; i++) record(list[2 * i], list[2 * i + 1]);
  }

  /**
   * Appends `rows` rows to the columns that repeat the current resource and scope (service,
   * schema URLs, scope name and version, their attribute maps), in bulk: called at the end of
   * each scope with the rows its records added to the table.
   */
  fillScope(c: ScopeCols, rows: number): void {
    if (rows <= 0) return;
    const buf = this.buf, p = this.prepared;
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

  /** Fills `rows` copies of value `entry` of `prepared` (empty when -1). */
  private fillEntry(col: Utf8Col, entry: number, rows: number): void {
    const v = this.resMap.values;
    if (entry < 0) fillBytes(col, v.data, 0, 0, rows);
    else fillBytes(col, v.data, v.offsets[entry], v.offsets[entry + 1], rows);
  }

  /** Result of `header()`: the range of field 1 (-1 when absent) and of schema_url. */
  private hdrS = -1;
  private hdrE = -1;
  private urlS = 0;
  private urlE = 0;

  /**
   * Reads a Resource* or Scope* message for its field 1 (resource / scope) and its schema_url
   * (3), which may come after the records (2), and lists the ranges of its field 2 messages
   * (scopes or records) in `scopeList` / `recordList` (`which`): returns how many. One pass
   * over the message, so its framing is checked before any record is decoded.
   */
  private header(start: number, end: number, which: number): number {
    const r = this.r;
    let list = which === SCOPES ? this.scopeList : this.recordList, n = 0;
    this.hdrS = this.hdrE = -1;
    this.urlS = this.urlE = 0;
    r.pos = start;
    while (r.pos < end) {
      const t = r.tag(end);
      if (t === 0x12) {
        const e = r.len(end);
        if (2 * n + 2 > list.length) {
          const next = new Int32Array(2 * list.length);
          next.set(list);
          list = next;
        }
        list[2 * n] = r.pos;
        list[2 * n + 1] = e;
        n++;
        r.pos = e;
      } else if (t === 0x0a) {
        this.hdrE = r.bytes(end);
        this.hdrS = r.start;
      } else if (t === 0x1a) {
        this.urlE = r.string(end, "schema_url");
        this.urlS = r.start;
      } else r.skip(t, end);
    }
    if (which === SCOPES) this.scopeList = this.scratch!.scopes = list;
    else this.recordList = this.scratch!.records = list;
    return n;
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
    const h = resourceHash(this.buf, s, e);
    const hit = cachedResource(this.buf, s, e, h, this.maxDepth);
    if (hit !== null) {
      this.resMap = hit.map;
      this.resRow = hit.map.length > 0 ? 0 : -1;
      this.svcEntry = hit.svc;
      this.nsEntry = hit.ns;
      this.instEntry = hit.inst;
      return;
    }
    const r = this.r;
    this.attrs.begin();
    r.pos = s;
    while (r.pos < e) {
      const t = r.tag(e);
      if (t === 0x0a) this.attrs.add(r.len(e)); // 1 attributes
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
    rememberResource(this.buf, s, e, h, this.maxDepth, this.prepared, row, [
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
    const r = this.r;
    this.attrs.begin();
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
          this.attrs.add(r.len(e));
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
    this.attrs.flush(p);
    return p.keys.length > before ? p.length - 1 : -1;
  }

  /**
   * Number of records (field 2 of every Scope*) in the request, found by skipping over them.
   * Throws `DecodeError` on malformed framing, as decoding would.
   */
  countRecords(): number {
    const r = this.r, total = this.buf.length;
    let n = 0;
    r.pos = 0;
    while (r.pos < total) {
      const tag = r.tag(total);
      if (tag !== 0x0a) {
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
          if (t2 === 0x12) n++;
          r.skip(t2, se);
        }
      }
    }
    return n;
  }

  /**
   * Called after each row with the rows done so far: once `SAMPLE_ROWS` rows are in, makes room
   * in every string column for the rest of the `total` rows at the same bytes per row, so large
   * requests do not copy their columns over and over while they grow.
   */
  presize(cols: object, done: number, total: number): void {
    if (done !== SAMPLE_ROWS || total < 2 * SAMPLE_ROWS) return;
    const all: Utf8Col[] = [];
    for (const c of Object.values(cols)) stringCols(c as Column, all);
    let held = 0;
    for (const c of all) held += c.byteLength;
    // Rows to come at the sample's bytes per row, but never more than a few times the input
    // left (a skewed sample must not reserve gigabytes).
    const scale = Math.min(
      (total - done) / done,
      (4 * (this.buf.length - this.r.pos)) / (held || 1),
    );
    for (const c of all) c.reserve(Math.ceil(c.byteLength * scale), Math.ceil(c.length * scale));
  }

  /**
   * Appends the id `buf[s, e)` as lowercase hex: `""` when empty or all zero bytes; any other
   * length than `size` is an error naming `field`.
   */
  id(col: Utf8Col, s: number, e: number, size: number, field: string): void {
    const n = e - s;
    if (n === 0) return col.appendEmpty();
    const b = this.buf;
    if (n !== size) this.r.fail(`${field} has ${n} bytes, expected ${size}`, s);
    let nz = 0;
    for (let i = s; i < e; i++) nz |= b[i];
    if (nz === 0) return col.appendEmpty();
    col.reserve(2 * n, 1);
    const out = col.data;
    let at = col.offsets[col.length];
    for (let i = s; i < e; i++) {
      out[at++] = HEX[b[i] >> 4];
      out[at++] = HEX[b[i] & 15];
    }
    col.offsets[++col.length] = at;
  }

  /** A resource name as text (for messages). */
  text(s: number, e: number): string {
    return new TextDecoder().decode(this.buf.subarray(s, e));
  }
}

/** A resource seen before: its bytes, and its attributes prepared (one row, or none). */
interface CachedResource {
  bytes: Uint8Array;
  maxDepth: number;
  map: MapCol;
  svc: number;
  ns: number;
  inst: number;
}

/**
 * Prepared resources by the hash of their bytes, least recently used first (a Map keeps
 * insertion order; a hit moves its entry to the end). Exporters send the same few resources in
 * request after request; a collector in front of many services sends many more, so the cache
 * holds a few hundred (at most `RESOURCES_MAX` × `RESOURCE_MAX_BYTES` of input bytes, plus the
 * prepared maps).
 */
const resources = new Map<number, CachedResource>();
const RESOURCES_MAX = 512;
/** Resources bigger than this are not kept. */
const RESOURCE_MAX_BYTES = 4096;
/**
 * Hashes of resources seen once and not kept yet (a resource is kept the second time it is
 * seen, so one-off resources cost nothing more): a set, and the ring that evicts from it.
 */
const seenOnce = new Set<number>();
const seenRing = new Int32Array(2 * RESOURCES_MAX);
let seenNext = 0;

/** The cached resource whose bytes are `buf[s, e)` (hash `h`), decoded with `maxDepth`, or null. */
function cachedResource(buf: Uint8Array, s: number, e: number, h: number, maxDepth: number) {
  const c = resources.get(h);
  if (c === undefined) return null;
  const b = c.bytes, n = e - s;
  if (b.length !== n || c.maxDepth !== maxDepth) return null;
  let i = 0;
  while (i < n && b[i] === buf[s + i]) i++;
  if (i !== n) return null;
  resources.delete(h);
  resources.set(h, c);
  return c;
}

/** FNV-1a over `buf[s, e)`, as an int32 (a cache key: equal keys are still compared byte by byte). */
export function resourceHash(buf: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5 ^ (e - s);
  for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h | 0;
}

/**
 * Keeps the resource `buf[s, e)` (hash `h`) whose attributes were prepared as row `row` of
 * `prepared` (-1: none), the second time such a resource is seen.
 */
function rememberResource(
  buf: Uint8Array,
  s: number,
  e: number,
  h: number,
  maxDepth: number,
  prepared: MapCol,
  row: number,
  entries: [service: number, namespace: number, instance: number],
): void {
  if (e - s > RESOURCE_MAX_BYTES || e === s) return;
  if (!seenOnce.has(h)) {
    if (seenOnce.size >= seenRing.length) seenOnce.delete(seenRing[seenNext]);
    seenOnce.add(h);
    seenRing[seenNext] = h;
    seenNext = (seenNext + 1) % seenRing.length;
    return;
  }
  const map = new MapCol();
  let base = 0;
  if (row >= 0) {
    base = prepared.offsets[row];
    const count = prepared.offsets[row + 1] - base;
    // Exact-size buffers: the map is never appended to again.
    map.keys.reserveExact(prepared.keys.offsets[base + count] - prepared.keys.offsets[base], count);
    map.values.reserveExact(
      prepared.values.offsets[base + count] - prepared.values.offsets[base],
      count,
    );
    fillEntries(map.keys, prepared.keys, base, count, 1);
    fillEntries(map.values, prepared.values, base, count, 1);
    map.endSortedRow();
  }
  const at = (i: number) => (i < 0 ? -1 : i - base);
  const c: CachedResource = {
    bytes: buf.slice(s, e),
    maxDepth,
    map,
    svc: at(entries[0]),
    ns: at(entries[1]),
    inst: at(entries[2]),
  };
  resources.delete(h);
  if (resources.size >= RESOURCES_MAX) resources.delete(resources.keys().next().value!);
  resources.set(h, c);
}

/** The entry among `keys[first, end)` whose key is `key`, or -1. */
function lookup(keys: Utf8Col, first: number, end: number, key: Uint8Array): number {
  const o = keys.offsets, d = keys.data;
  for (let i = first; i < end; i++) {
    const s = o[i];
    if (o[i + 1] - s !== key.length) continue;
    let j = 0;
    while (j < key.length && d[s + j] === key[j]) j++;
    if (j === key.length) return i;
  }
  return -1;
}

/** Collects the string columns of `c` (itself, or inside a map or a list) into `out`. */
function stringCols(c: Column, out: Utf8Col[]): void {
  if (c instanceof Utf8Col) out.push(c);
  else if (c instanceof MapCol) out.push(c.keys, c.values);
  else if (c instanceof ListCol) stringCols(c.child, out);
}
