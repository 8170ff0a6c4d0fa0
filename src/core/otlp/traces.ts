/**
 * ExportTraceServiceRequest (protobuf) → the `traces` table. Resources and scopes: ./envelope.ts.
 *
 * Span (trace.proto)
 *   1  trace_id                 bytes (16)
 *   2  span_id                  bytes (8)
 *   3  trace_state              string
 *   4  parent_span_id           bytes (8)
 *   5  name                     string
 *   6  kind                     enum (varint)
 *   7  start_time_unix_nano     fixed64
 *   8  end_time_unix_nano       fixed64
 *   9  attributes               KeyValue (repeated)
 *   10 dropped_attributes_count uint32
 *   11 events                   Event (repeated)
 *   12 dropped_events_count     uint32
 *   13 links                    Link (repeated)
 *   14 dropped_links_count      uint32
 *   15 status                   Status
 *   16 flags                    fixed32
 * Span.Event
 *   1 time_unix_nano fixed64, 2 name string, 3 attributes KeyValue, 4 dropped_attributes_count uint32
 * Span.Link
 *   1 trace_id bytes, 2 span_id bytes, 3 trace_state string, 4 attributes KeyValue,
 *   5 dropped_attributes_count uint32, 6 flags fixed32
 * Status
 *   2 message string, 3 code enum (varint)
 */
import type { TracesColumns } from "../tables.ts";
import { ProtoCtx, SPAN_ID_BYTES, TRACE_ID_BYTES } from "./context.ts";
import { decodeRecords } from "./envelope.ts";
import type { Decoded, DecodeOptions } from "./types.ts";

const enc = new TextEncoder();
/** SpanKind names by enum value; other values read as `Unspecified`. */
export const SPAN_KINDS = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"];
const KIND_BYTES = SPAN_KINDS.map((k) => enc.encode(k));
/** StatusCode names by enum value; other values read as `Unset`. */
export const STATUS_CODES = ["Unset", "Ok", "Error"];
const STATUS_BYTES = STATUS_CODES.map((k) => enc.encode(k));

export function decodeTracesProto(body: Uint8Array, opts: DecodeOptions): Decoded {
  return decodeRecords("traces", new ProtoCtx(body, "ExportTraceServiceRequest", opts), span);
}

/** Appends the Span at `[start, end)` as a row (the resource's and scope's columns aside). */
function span(ctx: ProtoCtx, c: TracesColumns, start: number, end: number): void {
  const r = ctx.r, buf = ctx.buf;
  let traceS = 0, traceE = 0, spanS = 0, spanE = 0, parentS = 0, parentE = 0;
  let stateS = 0, stateE = 0, nameS = 0, nameE = 0, statusS = 0, statusE = 0;
  let kind = 0, sLo = 0, sHi = 0, eLo = 0, eHi = 0, flags = 0;
  let dAttrs = 0, dEvents = 0, dLinks = 0;
  ctx.attrs.begin();
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x0a: // 1 trace_id
        traceE = r.bytes(end);
        traceS = r.start;
        break;
      case 0x12: // 2 span_id
        spanE = r.bytes(end);
        spanS = r.start;
        break;
      case 0x1a: // 3 trace_state
        stateE = r.string(end, "Span.trace_state");
        stateS = r.start;
        break;
      case 0x22: // 4 parent_span_id
        parentE = r.bytes(end);
        parentS = r.start;
        break;
      case 0x2a: // 5 name
        nameE = r.string(end, "Span.name");
        nameS = r.start;
        break;
      case 0x30: // 6 kind
        kind = r.uint32(end);
        break;
      case 0x39: // 7 start_time_unix_nano
        r.fixed64(end);
        sLo = r.lo;
        sHi = r.hi;
        break;
      case 0x41: // 8 end_time_unix_nano
        r.fixed64(end);
        eLo = r.lo;
        eHi = r.hi;
        break;
      case 0x4a: // 9 attributes
        ctx.attrs.add(r.len(end));
        break;
      case 0x50: // 10 dropped_attributes_count
        dAttrs = r.uint32(end);
        break;
      case 0x5a: { // 11 events
        const e = r.len(end);
        event(ctx, c, r.pos, e);
        r.pos = e;
        break;
      }
      case 0x60: // 12 dropped_events_count
        dEvents = r.uint32(end);
        break;
      case 0x6a: { // 13 links
        const e = r.len(end);
        link(ctx, c, r.pos, e);
        r.pos = e;
        break;
      }
      case 0x70: // 14 dropped_links_count
        dLinks = r.uint32(end);
        break;
      case 0x7a: // 15 status
        statusE = r.bytes(end);
        statusS = r.start;
        break;
      case 0x85: // 16 flags (two-byte tag 0x85 0x01)
        flags = r.fixed32(end);
        break;
      default:
        r.skip(tag, end);
    }
  }
  // Status (its own message; read after the span so the reader position is free).
  let code = 0, msgS = 0, msgE = 0;
  r.pos = statusS;
  while (r.pos < statusE) {
    const tag = r.tag(statusE);
    if (tag === 0x12) { // 2 message
      msgE = r.string(statusE, "Status.message");
      msgS = r.start;
    } else if (tag === 0x18) code = r.uint32(statusE); // 3 code
    else r.skip(tag, statusE);
  }

  c.Timestamp.append(sLo, sHi);
  ctx.id(c.TraceId, traceS, traceE, TRACE_ID_BYTES, "Span.trace_id");
  ctx.id(c.SpanId, spanS, spanE, SPAN_ID_BYTES, "Span.span_id");
  ctx.id(c.ParentSpanId, parentS, parentE, SPAN_ID_BYTES, "Span.parent_span_id");
  c.TraceState.appendBytes(buf, stateS, stateE);
  c.SpanName.appendBytes(buf, nameS, nameE);
  const k = KIND_BYTES[kind] ?? KIND_BYTES[0];
  c.SpanKind.appendBytes(k, 0, k.length);
  ctx.attrs.flush(c.SpanAttributes);
  // Duration = end - start over 64 bits, 0 when end < start.
  if (eHi > sHi || (eHi === sHi && eLo >= sLo)) {
    const borrow = eLo < sLo ? 1 : 0;
    c.Duration.append((eLo - sLo) >>> 0, (eHi - sHi - borrow) >>> 0);
  } else c.Duration.append(0, 0);
  const st = STATUS_BYTES[code] ?? STATUS_BYTES[0];
  c.StatusCode.appendBytes(st, 0, st.length);
  c.StatusMessage.appendBytes(buf, msgS, msgE);
  c["Events.Timestamp"].endRow();
  c["Events.Name"].endRow();
  c["Events.Attributes"].endRow();
  c["Links.TraceId"].endRow();
  c["Links.SpanId"].endRow();
  c["Links.TraceState"].endRow();
  c["Links.Attributes"].endRow();
  c.SpanFlags.append(flags);
  c.DroppedAttributesCount.append(dAttrs);
  c.DroppedEventsCount.append(dEvents);
  c.DroppedLinksCount.append(dLinks);
  // The resource's and scope's columns are filled by Envelope.fillScope() at the end of the
  // scope.
}

/** Appends the Span.Event at `[start, end)` to the `Events.*` list children. */
function event(ctx: ProtoCtx, c: TracesColumns, start: number, end: number): void {
  const r = ctx.r;
  ctx.subAttrs.begin();
  let lo = 0, hi = 0, nameS = 0, nameE = 0;
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x09: // 1 time_unix_nano
        r.fixed64(end);
        lo = r.lo;
        hi = r.hi;
        break;
      case 0x12: // 2 name
        nameE = r.string(end, "Span.Event.name");
        nameS = r.start;
        break;
      case 0x1a: // 3 attributes
        ctx.subAttrs.add(r.len(end));
        break;
      default: // 4 dropped_attributes_count: not stored
        r.skip(tag, end);
    }
  }
  c["Events.Timestamp"].child.append(lo, hi);
  c["Events.Name"].child.appendBytes(ctx.buf, nameS, nameE);
  ctx.subAttrs.flush(c["Events.Attributes"].child);
}

/** Appends the Span.Link at `[start, end)` to the `Links.*` list children. */
function link(ctx: ProtoCtx, c: TracesColumns, start: number, end: number): void {
  const r = ctx.r;
  ctx.subAttrs.begin();
  let traceS = 0, traceE = 0, spanS = 0, spanE = 0, stateS = 0, stateE = 0;
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x0a: // 1 trace_id
        traceE = r.bytes(end);
        traceS = r.start;
        break;
      case 0x12: // 2 span_id
        spanE = r.bytes(end);
        spanS = r.start;
        break;
      case 0x1a: // 3 trace_state
        stateE = r.string(end, "Span.Link.trace_state");
        stateS = r.start;
        break;
      case 0x22: // 4 attributes
        ctx.subAttrs.add(r.len(end));
        break;
      default: // 5 dropped_attributes_count, 6 flags: not stored
        r.skip(tag, end);
    }
  }
  ctx.id(c["Links.TraceId"].child, traceS, traceE, TRACE_ID_BYTES, "Span.Link.trace_id");
  ctx.id(c["Links.SpanId"].child, spanS, spanE, SPAN_ID_BYTES, "Span.Link.span_id");
  c["Links.TraceState"].child.appendBytes(ctx.buf, stateS, stateE);
  ctx.subAttrs.flush(c["Links.Attributes"].child);
}
