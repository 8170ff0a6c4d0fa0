/**
 * The write-ahead log's segment files, `{seq:10 digits}.wal`:
 *
 *   header   8 bytes magic "O2PWAL01", 8 bytes random nonce (makes file ids unique over time)
 *   record   u32 LE payload length, u32 LE CRC-32 of the payload, payload (./records.ts)
 *
 * A segment is read up to its first bad record (short, too long, or wrong CRC): that is the torn
 * tail of a crash, and nothing after it was ever acknowledged because nothing is appended to a
 * segment after a failed write (the log moves to a new segment and writes a `void` record there).
 */
import { crc32 } from "../checksum.ts";
import { decodePayload, type WalRecord } from "./records.ts";

const MAGIC = new TextEncoder().encode("O2PWAL01");
export const HEADER_BYTES = 16;
const NONCE_AT = 8;
const NONCE_BYTES = 8;
/** u32 length, u32 CRC-32. */
export const FRAME_BYTES = 8;
/** A length past this is corruption, not a record (request bodies are far smaller). */
const MAX_RECORD_BYTES = 1 << 30;

export function segmentName(seq: number): string {
  return `${String(seq).padStart(10, "0")}.wal`;
}

/** The sequence number of a segment file name, or null for other files. */
export function segmentSeq(name: string): number | null {
  const m = /^(\d{10})\.wal$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** A record payload, whole or in parts that are framed as one (see `dataPayloadParts`). */
export type Payload = Uint8Array | readonly Uint8Array[];

export function payloadLength(p: Payload): number {
  if (p instanceof Uint8Array) return p.length;
  let n = 0;
  for (const part of p) n += part.length;
  return n;
}

/**
 * Appends the framed record (length, CRC, payload) to `out` at `at`; returns the new offset.
 * The payload is copied first and checksummed where it landed (one pass over fresh bytes).
 */
export function frameInto(out: Uint8Array, at: number, payload: Payload): number {
  const start = at + FRAME_BYTES;
  let end = start;
  if (payload instanceof Uint8Array) {
    out.set(payload, end);
    end += payload.length;
  } else {
    for (const part of payload) {
      out.set(part, end);
      end += part.length;
    }
  }
  const len = end - start, sum = crc32(out, start, end);
  out[at] = len;
  out[at + 1] = len >>> 8;
  out[at + 2] = len >>> 16;
  out[at + 3] = len >>> 24;
  out[at + 4] = sum;
  out[at + 5] = sum >>> 8;
  out[at + 6] = sum >>> 16;
  out[at + 7] = sum >>> 24;
  return end;
}

/** One framed record. */
export function frameRecord(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_BYTES + payload.length);
  frameInto(out, 0, payload);
  return out;
}

export function segmentHeader(nonce: Uint8Array): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  h.set(MAGIC, 0);
  h.set(nonce.subarray(0, NONCE_BYTES), NONCE_AT);
  return h;
}

export interface ParsedSegment {
  /** Null when the header itself is missing or wrong (the segment holds nothing). */
  nonce: Uint8Array | null;
  /** Records in order; `data` bodies are views into the file bytes. */
  records: { idx: number; record: WalRecord }[];
  /** Bytes of valid header and records. */
  validBytes: number;
  /** Bytes after the last valid record (a torn tail), 0 for a clean segment. */
  tornBytes: number;
}

/** Reads a segment's records up to its first bad one. */
export function parseSegment(bytes: Uint8Array): ParsedSegment {
  if (bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
    return { nonce: null, records: [], validBytes: 0, tornBytes: bytes.length };
  }
  const nonce = bytes.slice(NONCE_AT, NONCE_AT + NONCE_BYTES);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: ParsedSegment["records"] = [];
  let at = HEADER_BYTES;
  while (at + FRAME_BYTES <= bytes.length) {
    const len = v.getUint32(at, true);
    const sum = v.getUint32(at + 4, true);
    const start = at + FRAME_BYTES, end = start + len;
    if (len === 0 || len > MAX_RECORD_BYTES || end > bytes.length) break;
    if (crc32(bytes, start, end) !== sum) break;
    const record = decodePayload(bytes.subarray(start, end));
    if (!record) break;
    records.push({ idx: records.length, record });
    at = end;
  }
  return { nonce, records, validBytes: at, tornBytes: bytes.length - at };
}
