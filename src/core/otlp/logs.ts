/**
 * ExportLogsServiceRequest (protobuf) → the `logs` table. Resources and scopes: ./envelope.ts.
 *
 * LogRecord (logs.proto)
 *   1  time_unix_nano           fixed64
 *   11 observed_time_unix_nano  fixed64
 *   2  severity_number          enum (varint)
 *   3  severity_text            string
 *   5  body                     AnyValue
 *   6  attributes               KeyValue (repeated)
 *   7  dropped_attributes_count uint32
 *   8  flags                    fixed32
 *   9  trace_id                 bytes (16)
 *   10 span_id                  bytes (8)
 *   12 event_name               string
 */
import type { LogsColumns } from "../tables.ts";
import { ProtoCtx, SPAN_ID_BYTES, TRACE_ID_BYTES } from "./context.ts";
import { decodeRecords } from "./envelope.ts";
import type { Decoded, DecodeOptions } from "./types.ts";

export function decodeLogsProto(body: Uint8Array, opts: DecodeOptions): Decoded {
  return decodeRecords("logs", new ProtoCtx(body, "ExportLogsServiceRequest", opts), logRecord);
}

/** Appends the LogRecord at `[start, end)` as a row (the resource's and scope's columns aside). */
function logRecord(ctx: ProtoCtx, c: LogsColumns, start: number, end: number): void {
  const r = ctx.r, buf = ctx.buf;
  let tLo = 0, tHi = 0, oLo = 0, oHi = 0, sev = 0, dropped = 0, flags = 0;
  let sevS = 0, sevE = 0, bodyS = 0, bodyE = 0, traceS = 0, traceE = 0;
  let spanS = 0, spanE = 0, evS = 0, evE = 0;
  ctx.attrs.begin();
  r.pos = start;
  while (r.pos < end) {
    const tag = r.tag(end);
    switch (tag) {
      case 0x09: // 1 time_unix_nano
        r.fixed64(end);
        tLo = r.lo;
        tHi = r.hi;
        break;
      case 0x59: // 11 observed_time_unix_nano
        r.fixed64(end);
        oLo = r.lo;
        oHi = r.hi;
        break;
      case 0x10: // 2 severity_number
        sev = r.uint32(end);
        break;
      case 0x1a: // 3 severity_text
        sevE = r.string(end, "LogRecord.severity_text");
        sevS = r.start;
        break;
      case 0x2a: // 5 body
        bodyE = r.bytes(end);
        bodyS = r.start;
        break;
      case 0x32: // 6 attributes
        ctx.attrs.add(r.len(end));
        break;
      case 0x38: // 7 dropped_attributes_count
        dropped = r.uint32(end);
        break;
      case 0x45: // 8 flags
        flags = r.fixed32(end);
        break;
      case 0x4a: // 9 trace_id
        traceE = r.bytes(end);
        traceS = r.start;
        break;
      case 0x52: // 10 span_id
        spanE = r.bytes(end);
        spanS = r.start;
        break;
      case 0x62: // 12 event_name
        evE = r.string(end, "LogRecord.event_name");
        evS = r.start;
        break;
      default:
        r.skip(tag, end);
    }
  }
  if ((tLo | tHi) !== 0) c.Timestamp.append(tLo, tHi);
  else if ((oLo | oHi) !== 0) c.Timestamp.append(oLo, oHi);
  else c.Timestamp.append(ctx.recvLo, ctx.recvHi);
  ctx.id(c.TraceId, traceS, traceE, TRACE_ID_BYTES, "LogRecord.trace_id");
  ctx.id(c.SpanId, spanS, spanE, SPAN_ID_BYTES, "LogRecord.span_id");
  c.TraceFlags.append(flags & 0xff);
  c.SeverityText.appendBytes(buf, sevS, sevE);
  c.SeverityNumber.append(sev); // UInt8: 0–24 in OTLP; others wrap, as the ClickHouse exporter's uint8()
  ctx.av.append(c.Body, bodyS, bodyE);
  ctx.attrs.flush(c.LogAttributes);
  c.EventName.appendBytes(buf, evS, evE);
  c.ObservedTimestamp.append(oLo, oHi);
  c.DroppedAttributesCount.append(dropped);
  c.Flags.append(flags);
  // The resource's and scope's columns are filled by Envelope.fillScope() at the end of the
  // scope.
}
