/**
 * The write-ahead log's records: what each one means and its bytes (the payload inside a
 * segment's frame, ./segment.ts). The first byte is the type (`RecordType`):
 *
 *   1 data   u8 signal (0 logs, 1 traces, 2 metrics), u8 format (0 protobuf, 1 json, 2 jsonl),
 *            u64 LE receivedAtNs, the decompressed request body
 *   5 data, as it came compressed: u8 signal, u8 format, u64 LE receivedAtNs, u8 count of
 *            content codings, one u8 each in the order applied (0 gzip, 1 deflate, 2 zstd), the
 *            request body as received (decompressed when read back: 3-5x fewer bytes to
 *            checksum, write and fsync than type 1, which is still read and written for
 *            uncompressed requests)
 *   2 seal   u32 seg, u32 idx (last data record the file covers), 8 bytes file id,
 *            u8 table (index in TABLE_NAMES), u32 hour, service name (UTF-8, the rest)
 *   3 done   8 bytes file id (the file is stored)
 *   4 void   u32 seg, u32 idx: records of segment `seg` from `idx` on were never acknowledged
 *            (a write or fsync failed); replay ignores them
 */
import { type Coding, CorruptDataError, decompressTrusted } from "../../codec/index.ts";
import { DecodeError, type Format } from "../../core/otlp/types.ts";
import { type Signal, TABLE_NAMES, type TableName } from "../../core/tables.ts";

/** The first byte of a record's payload. */
export const RecordType = {
  DATA: 1,
  SEAL: 2,
  DONE: 3,
  VOID: 4,
  /** A data record whose body is kept as it came, compressed. */
  DATA_ENCODED: 5,
} as const;

/** type, signal, format, receivedAtNs. */
const DATA_HEAD_BYTES = 11;
/** ... then the count of codings (type 5). */
const ENCODED_HEAD_BYTES = 12;
/** type, seg, idx, file id, table, hour; then the service name. */
const SEAL_HEAD_BYTES = 22;
/** type and a file id (done), or type, seg, idx (void). */
const SHORT_RECORD_BYTES = 9;
const FILE_ID_BYTES = 8;
/** Content codings a data record may list (one byte holds the count). */
const MAX_CODINGS = 255;

/** Position of a record: segment sequence number and index within the segment. */
export interface Pos {
  seg: number;
  idx: number;
}

export function comparePos(a: Pos, b: Pos): number {
  return a.seg - b.seg || a.idx - b.idx;
}

/** A request body as it came on the wire: `bytes` with `encodings` applied in this order. */
export interface EncodedBody {
  encodings: readonly Coding[];
  bytes: Uint8Array;
}

export type WalRecord =
  | {
    type: "data";
    signal: Signal;
    format: Format;
    receivedAtNs: bigint;
    /** The decompressed body (read back from a compressed record, decoded on first access). */
    body: Uint8Array;
    /** When set, the record stores these bytes (type 5) instead of `body`. */
    encoded?: EncodedBody;
  }
  | { type: "seal"; upTo: Pos; id: string; table: TableName; service: string; hour: number }
  | { type: "done"; id: string }
  | { type: "void"; from: Pos };

const SIGNALS: readonly Signal[] = ["logs", "traces", "metrics"];
const FORMATS: readonly Format[] = ["protobuf", "json", "jsonl"];
const CODINGS: readonly Coding[] = ["gzip", "deflate", "zstd"];
const enc = new TextEncoder();
const dec = new TextDecoder();

function idBytes(id: string): Uint8Array {
  if (!/^[0-9a-f]{16}$/.test(id)) {
    throw new TypeError(`Invalid file id ${JSON.stringify(id)}: expected 16 hex digits`);
  }
  const out = new Uint8Array(FILE_ID_BYTES);
  for (let i = 0; i < FILE_ID_BYTES; i++) out[i] = parseInt(id.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function idHex(b: Uint8Array, at: number): string {
  let s = "";
  for (let i = 0; i < FILE_ID_BYTES; i++) s += b[at + i].toString(16).padStart(2, "0");
  return s;
}

/**
 * The compressed form of a request worth logging instead of its body, or undefined: one content
 * coding, fewer bytes than the body, and for gzip a single member ending exactly at the end of
 * the bytes (its size trailer equals the body's length), so replay's decoder (fflate, stricter
 * about what follows a member than zlib) reads back exactly the body. Anything else (several
 * codings, several gzip members, trailing padding) is logged decompressed.
 */
export function loggableEncoding(
  body: Uint8Array,
  encoded: EncodedBody | undefined,
): EncodedBody | undefined {
  if (!encoded || encoded.encodings.length !== 1) return undefined;
  const b = encoded.bytes;
  if (b.length >= body.length) return undefined;
  if (encoded.encodings[0] === "gzip") {
    const n = b.length;
    if (n < 18) return undefined;
    const isize = (b[n - 4] | (b[n - 3] << 8) | (b[n - 2] << 16) | (b[n - 1] << 24)) >>> 0;
    if (isize !== body.length >>> 0) return undefined;
  }
  return encoded;
}

/**
 * The payload of a data record in two parts, head and body, so the body is copied only once,
 * into the log's write buffer (`Wal.append` takes the parts). A compressed body is stored as it
 * came (type 5).
 */
export function dataPayloadParts(r: WalRecord & { type: "data" }): [Uint8Array, Uint8Array] {
  const e = r.encoded;
  const head = new Uint8Array(e ? ENCODED_HEAD_BYTES + e.encodings.length : DATA_HEAD_BYTES);
  const v = new DataView(head.buffer);
  head[0] = e ? RecordType.DATA_ENCODED : RecordType.DATA;
  head[1] = SIGNALS.indexOf(r.signal);
  head[2] = FORMATS.indexOf(r.format);
  v.setBigUint64(3, BigInt.asUintN(64, r.receivedAtNs), true);
  if (!e) return [head, r.body];
  if (e.encodings.length > MAX_CODINGS) {
    throw new TypeError(
      `Cannot log a body with ${e.encodings.length} content codings: at most ${MAX_CODINGS}`,
    );
  }
  head[DATA_HEAD_BYTES] = e.encodings.length;
  e.encodings.forEach((c, i) => {
    const code = CODINGS.indexOf(c);
    if (code < 0) throw new TypeError(`Cannot log a body in content coding ${JSON.stringify(c)}`);
    head[ENCODED_HEAD_BYTES + i] = code;
  });
  return [head, e.bytes];
}

/** The payload of a record (without its frame). */
export function encodePayload(r: WalRecord): Uint8Array {
  switch (r.type) {
    case "data": {
      if (r.encoded) {
        const [head, body] = dataPayloadParts(r);
        const out = new Uint8Array(head.length + body.length);
        out.set(head, 0);
        out.set(body, head.length);
        return out;
      }
      const out = new Uint8Array(DATA_HEAD_BYTES + r.body.length);
      const v = new DataView(out.buffer);
      out[0] = RecordType.DATA;
      out[1] = SIGNALS.indexOf(r.signal);
      out[2] = FORMATS.indexOf(r.format);
      v.setBigUint64(3, BigInt.asUintN(64, r.receivedAtNs), true);
      out.set(r.body, DATA_HEAD_BYTES);
      return out;
    }
    case "seal": {
      const svc = enc.encode(r.service);
      const out = new Uint8Array(SEAL_HEAD_BYTES + svc.length);
      const v = new DataView(out.buffer);
      out[0] = RecordType.SEAL;
      v.setUint32(1, r.upTo.seg, true);
      v.setUint32(5, r.upTo.idx, true);
      out.set(idBytes(r.id), 9);
      out[17] = TABLE_NAMES.indexOf(r.table);
      v.setUint32(18, r.hour, true);
      out.set(svc, SEAL_HEAD_BYTES);
      return out;
    }
    case "done": {
      const out = new Uint8Array(SHORT_RECORD_BYTES);
      out[0] = RecordType.DONE;
      out.set(idBytes(r.id), 1);
      return out;
    }
    case "void": {
      const out = new Uint8Array(SHORT_RECORD_BYTES);
      const v = new DataView(out.buffer);
      out[0] = RecordType.VOID;
      v.setUint32(1, r.from.seg, true);
      v.setUint32(5, r.from.idx, true);
      return out;
    }
  }
}

/** Decodes a payload; null when it is not a record this version knows (treated as corruption). */
export function decodePayload(p: Uint8Array): WalRecord | null {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  switch (p[0]) {
    case RecordType.DATA: {
      if (p.length < DATA_HEAD_BYTES || p[1] >= SIGNALS.length || p[2] >= FORMATS.length) {
        return null;
      }
      return {
        type: "data",
        signal: SIGNALS[p[1]],
        format: FORMATS[p[2]],
        receivedAtNs: v.getBigUint64(3, true),
        body: p.subarray(DATA_HEAD_BYTES),
      };
    }
    case RecordType.DATA_ENCODED: {
      if (p.length < ENCODED_HEAD_BYTES || p[1] >= SIGNALS.length || p[2] >= FORMATS.length) {
        return null;
      }
      const n = p[DATA_HEAD_BYTES];
      if (p.length < ENCODED_HEAD_BYTES + n) return null;
      const encodings: Coding[] = [];
      for (let i = 0; i < n; i++) {
        const c = CODINGS[p[ENCODED_HEAD_BYTES + i]];
        if (!c) return null;
        encodings.push(c);
      }
      const encoded: EncodedBody = { encodings, bytes: p.subarray(ENCODED_HEAD_BYTES + n) };
      let body: Uint8Array | undefined;
      return {
        type: "data",
        signal: SIGNALS[p[1]],
        format: FORMATS[p[2]],
        receivedAtNs: v.getBigUint64(3, true),
        // Decompressed on first use: replay's first pass reads every record but needs no body.
        get body(): Uint8Array {
          return body ??= decodeBody(encoded);
        },
        encoded,
      };
    }
    case RecordType.SEAL: {
      if (p.length < SEAL_HEAD_BYTES || p[17] >= TABLE_NAMES.length) return null;
      return {
        type: "seal",
        upTo: { seg: v.getUint32(1, true), idx: v.getUint32(5, true) },
        id: idHex(p, 9),
        table: TABLE_NAMES[p[17]],
        hour: v.getUint32(18, true),
        service: dec.decode(p.subarray(SEAL_HEAD_BYTES)),
      };
    }
    case RecordType.DONE:
      return p.length === SHORT_RECORD_BYTES ? { type: "done", id: idHex(p, 1) } : null;
    case RecordType.VOID:
      return p.length === SHORT_RECORD_BYTES
        ? { type: "void", from: { seg: v.getUint32(1, true), idx: v.getUint32(5, true) } }
        : null;
    default:
      return null;
  }
}

/**
 * Undoes the content codings of a logged body. The request was decompressed when it came (with
 * the size limits), so this is the same work again on bytes known to be good; a failure means
 * the log was damaged in a way its CRC did not catch.
 */
export function decodeBody(e: EncodedBody): Uint8Array {
  try {
    return decompressTrusted(e.bytes, e.encodings);
  } catch (err) {
    if (!(err instanceof CorruptDataError)) throw err;
    throw new DecodeError(`Cannot decompress a logged ${err.coding} body: ${err.detail}`);
  }
}
