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
 */
import { AnyValueWriter, kvKeyE, kvKeyS, kvValE, kvValS, readKeyValue } from "../anyvalue.ts";
import { MapCol, type PreparedMap, Utf8Col } from "../columns.ts";
import { WireReader } from "../proto/reader.ts";
import type { DecodeOptions } from "./types.ts";

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_MAP: PreparedMap = { count: 0, keys: new Utf8Col(), values: new Utf8Col() };
const SERVICE_NAME = new TextEncoder().encode("service.name");
const SERVICE_NAMESPACE = new TextEncoder().encode("service.namespace");
const SERVICE_INSTANCE_ID = new TextEncoder().encode("service.instance.id");
const hexOut = new Uint8Array(32);
const HEX = new TextEncoder().encode("0123456789abcdef");

/** Decoding state of one request: the reader, and the current resource and scope. */
export class ProtoCtx {
  readonly r: WireReader;
  readonly buf: Uint8Array;
  readonly av: AnyValueWriter;
  /** Halves of `receivedAtNs`. */
  readonly recvLo: number;
  readonly recvHi: number;

  // Current resource.
  resAttrs: PreparedMap = EMPTY_MAP;
  resSchemaS = 0;
  resSchemaE = 0;
  service: Uint8Array = EMPTY_BYTES;
  serviceNamespace: Uint8Array = EMPTY_BYTES;
  serviceInstanceId: Uint8Array = EMPTY_BYTES;

  // Current scope.
  scopeAttrs: PreparedMap = EMPTY_MAP;
  scopeNameS = 0;
  scopeNameE = 0;
  scopeVersionS = 0;
  scopeVersionE = 0;
  scopeSchemaS = 0;
  scopeSchemaE = 0;
  scopeDropped = 0;

  constructor(body: Uint8Array, what: string, opts: DecodeOptions) {
    this.buf = body;
    this.r = new WireReader(body, what);
    this.av = new AnyValueWriter(this.r, opts.maxDepth ?? 64);
    const ns = BigInt.asUintN(64, opts.receivedAtNs);
    this.recvLo = Number(ns & 0xffffffffn);
    this.recvHi = Number(ns >> 32n);
  }

  /**
   * Walks the request: for every resource and scope, prepares their attributes with the
   * pending area of `scratch` (any MapCol not being filled at the moment), then calls
   * `record(s, e)` for each record message `[s, e)`.
   */
  walk(scratch: MapCol, record: (s: number, e: number) => void): void {
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
      const resStart = r.pos;
      // Pass 1 over Resource*: resource (1) and schema_url (3); scopes (2) skipped.
      let rs = -1, re = -1;
      this.resSchemaS = this.resSchemaE = 0;
      while (r.pos < resEnd) {
        const t = r.tag(resEnd);
        if (t === 0x0a) {
          re = r.len(resEnd);
          rs = r.pos;
          r.pos = re;
        } else if (t === 0x1a) {
          this.resSchemaE = r.str(resEnd, "schema_url");
          this.resSchemaS = r.pos;
          r.pos = this.resSchemaE;
        } else r.skip(t, resEnd);
      }
      this.readResource(scratch, rs, re);
      // Pass 2: the scopes.
      r.pos = resStart;
      while (r.pos < resEnd) {
        const t = r.tag(resEnd);
        if (t !== 0x12) {
          r.skip(t, resEnd);
          continue;
        }
        const scopeEnd = r.len(resEnd);
        const next = scopeEnd;
        this.walkScope(scratch, r.pos, scopeEnd, record);
        r.pos = next;
      }
      r.pos = resEnd;
    }
  }

  private walkScope(
    scratch: MapCol,
    start: number,
    end: number,
    record: (s: number, e: number) => void,
  ): void {
    const r = this.r;
    r.pos = start;
    let ss = -1, se = -1;
    this.scopeSchemaS = this.scopeSchemaE = 0;
    while (r.pos < end) {
      const t = r.tag(end);
      if (t === 0x0a) {
        se = r.len(end);
        ss = r.pos;
        r.pos = se;
      } else if (t === 0x1a) {
        this.scopeSchemaE = r.str(end, "schema_url");
        this.scopeSchemaS = r.pos;
        r.pos = this.scopeSchemaE;
      } else r.skip(t, end);
    }
    this.readScope(scratch, ss, se);
    r.pos = start;
    while (r.pos < end) {
      const t = r.tag(end);
      if (t !== 0x12) {
        r.skip(t, end);
        continue;
      }
      const e = r.len(end);
      record(r.pos, e);
      r.pos = e;
    }
  }

  private readResource(map: MapCol, s: number, e: number): void {
    this.resAttrs = EMPTY_MAP;
    this.service = this.serviceNamespace = this.serviceInstanceId = EMPTY_BYTES;
    if (s < 0) return;
    const r = this.r;
    map.beginRow();
    r.pos = s;
    while (r.pos < e) {
      const t = r.tag(e);
      if (t === 0x0a) this.attribute(map, r.len(e)); // 1 attributes
      else r.skip(t, e);
    }
    const m = map.preparePending();
    this.resAttrs = m;
    this.service = lookup(m, SERVICE_NAME);
    this.serviceNamespace = lookup(m, SERVICE_NAMESPACE);
    this.serviceInstanceId = lookup(m, SERVICE_INSTANCE_ID);
  }

  private readScope(map: MapCol, s: number, e: number): void {
    this.scopeAttrs = EMPTY_MAP;
    this.scopeNameS =
      this.scopeNameE =
      this.scopeVersionS =
      this.scopeVersionE =
        0;
    this.scopeDropped = 0;
    if (s < 0) return;
    const r = this.r;
    map.beginRow();
    let any = false;
    r.pos = s;
    while (r.pos < e) {
      const t = r.tag(e);
      switch (t) {
        case 0x0a: // 1 name
          this.scopeNameE = r.str(e, "InstrumentationScope.name");
          this.scopeNameS = r.pos;
          r.pos = this.scopeNameE;
          break;
        case 0x12: // 2 version
          this.scopeVersionE = r.str(e, "InstrumentationScope.version");
          this.scopeVersionS = r.pos;
          r.pos = this.scopeVersionE;
          break;
        case 0x1a: // 3 attributes
          this.attribute(map, r.len(e));
          any = true;
          break;
        case 0x20: // 4 dropped_attributes_count
          this.scopeDropped = r.uint32(e);
          break;
        default:
          r.skip(t, e);
      }
    }
    if (any) this.scopeAttrs = map.preparePending();
  }

  /** Adds the KeyValue at `[r.pos, end)` to `map`'s pending row; leaves `r.pos` at `end`. */
  attribute(map: MapCol, end: number): void {
    const r = this.r;
    readKeyValue(r, end);
    map.keyBytes(this.buf, kvKeyS, kvKeyE);
    this.av.append(map.pendingValues, kvValS, kvValE);
    r.pos = end;
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
    for (let i = 0; i < n; i++) {
      hexOut[2 * i] = HEX[b[s + i] >> 4];
      hexOut[2 * i + 1] = HEX[b[s + i] & 15];
    }
    col.appendBytes(hexOut, 0, 2 * n);
  }

  /** A resource name as text (for messages). */
  text(s: number, e: number): string {
    return new TextDecoder().decode(this.buf.subarray(s, e));
  }
}

/** The value bytes of `key` in a prepared (sorted, de-duplicated) map, or empty. */
function lookup(m: PreparedMap, key: Uint8Array): Uint8Array {
  const k = m.keys;
  for (let i = 0; i < m.count; i++) {
    const s = k.offsets[i], e = k.offsets[i + 1];
    if (e - s !== key.length) continue;
    let j = 0;
    while (j < key.length && k.data[s + j] === key[j]) j++;
    if (j === key.length) return m.values.bytesAt(i).slice();
  }
  return EMPTY_BYTES;
}
