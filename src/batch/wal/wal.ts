/**
 * The write-ahead log of the batching writer: numbered segment files in one directory, records
 * appended with group commit (every request waiting while an fsync runs shares the next one).
 *
 * Segment file `{seq:10 digits}.wal`:
 *
 *   header   8 bytes magic "O2PWAL01", 8 bytes random nonce (makes file ids unique over time)
 *   record   u32 LE payload length, u32 LE CRC-32 of the payload, payload
 *
 * Payload, first byte the type:
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
 *
 * A record is identified by its position (segment seq, index in the segment). A segment is read
 * up to its first bad record (short, too long, or wrong CRC): that is the torn tail of a crash,
 * and nothing after it was ever acknowledged because nothing is appended to a segment after a
 * failed write (the log moves to a new segment and writes a `void` record there).
 *
 * File access goes through the injected `WalFs` (./fs.node.ts implements it with
 * node:fs), so this module stays free of platform APIs.
 */
import { CorruptDataError, decompressTrusted } from "../../codec/index.ts";
import { DecodeError, type Format } from "../../core/otlp/types.ts";
import { type Signal, TABLE_NAMES, type TableName } from "../../core/tables.ts";
import { crc32 } from "../checksum.ts";
import type { Coding } from "../../codec/index.ts";

/** An open segment file, appended to. */
export interface WalFile {
  /** Appends all of `data`. */
  write(data: Uint8Array): Promise<void>;
  /** Makes everything written so far durable (fsync). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file operations the log needs. Paths are `dir + "/" + name`. */
export interface WalFs {
  /** Creates the directory (and parents); no error when it exists. */
  mkdir(dir: string): Promise<void>;
  /** Names of the files in `dir`. */
  list(dir: string): Promise<string[]>;
  /** The whole file. */
  read(path: string): Promise<Uint8Array>;
  /** Opens `path` for appending, creating it when missing. */
  openAppend(path: string): Promise<WalFile>;
  /** Deletes the file; no error when it does not exist. */
  remove(path: string): Promise<void>;
  /** Makes a new directory entry durable (fsync of the directory); optional. */
  syncDir?(dir: string): Promise<void>;
}

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

const MAGIC = new TextEncoder().encode("O2PWAL01");
export const HEADER_BYTES = 16;
const FRAME_BYTES = 8;
/** A length past this is corruption, not a record (request bodies are far smaller). */
const MAX_RECORD_BYTES = 1 << 30;

const SIGNALS: readonly Signal[] = ["logs", "traces", "metrics"];
const FORMATS: readonly Format[] = ["protobuf", "json", "jsonl"];
const CODINGS: readonly Coding[] = ["gzip", "deflate", "zstd"];
const enc = new TextEncoder();
const dec = new TextDecoder();

export function segmentName(seq: number): string {
  return `${String(seq).padStart(10, "0")}.wal`;
}

/** The sequence number of a segment file name, or null for other files. */
export function segmentSeq(name: string): number | null {
  const m = /^(\d{10})\.wal$/.exec(name);
  return m ? Number(m[1]) : null;
}

function idBytes(id: string): Uint8Array {
  if (!/^[0-9a-f]{16}$/.test(id)) {
    throw new TypeError(`Invalid file id ${JSON.stringify(id)}: expected 16 hex digits`);
  }
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(id.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function idHex(b: Uint8Array, at: number): string {
  let s = "";
  for (let i = 0; i < 8; i++) s += b[at + i].toString(16).padStart(2, "0");
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
  const head = new Uint8Array(e ? 12 + e.encodings.length : 11);
  const v = new DataView(head.buffer);
  head[0] = e ? 5 : 1;
  head[1] = SIGNALS.indexOf(r.signal);
  head[2] = FORMATS.indexOf(r.format);
  v.setBigUint64(3, BigInt.asUintN(64, r.receivedAtNs), true);
  if (!e) return [head, r.body];
  if (e.encodings.length > 255) {
    throw new TypeError(
      `Cannot log a body with ${e.encodings.length} content codings: at most 255`,
    );
  }
  head[11] = e.encodings.length;
  e.encodings.forEach((c, i) => {
    const code = CODINGS.indexOf(c);
    if (code < 0) throw new TypeError(`Cannot log a body in content coding ${JSON.stringify(c)}`);
    head[12 + i] = code;
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
      const out = new Uint8Array(11 + r.body.length);
      const v = new DataView(out.buffer);
      out[0] = 1;
      out[1] = SIGNALS.indexOf(r.signal);
      out[2] = FORMATS.indexOf(r.format);
      v.setBigUint64(3, BigInt.asUintN(64, r.receivedAtNs), true);
      out.set(r.body, 11);
      return out;
    }
    case "seal": {
      const svc = enc.encode(r.service);
      const out = new Uint8Array(22 + svc.length);
      const v = new DataView(out.buffer);
      out[0] = 2;
      v.setUint32(1, r.upTo.seg, true);
      v.setUint32(5, r.upTo.idx, true);
      out.set(idBytes(r.id), 9);
      out[17] = TABLE_NAMES.indexOf(r.table);
      v.setUint32(18, r.hour, true);
      out.set(svc, 22);
      return out;
    }
    case "done": {
      const out = new Uint8Array(9);
      out[0] = 3;
      out.set(idBytes(r.id), 1);
      return out;
    }
    case "void": {
      const out = new Uint8Array(9);
      const v = new DataView(out.buffer);
      out[0] = 4;
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
    case 1: {
      if (p.length < 11 || p[1] >= SIGNALS.length || p[2] >= FORMATS.length) return null;
      return {
        type: "data",
        signal: SIGNALS[p[1]],
        format: FORMATS[p[2]],
        receivedAtNs: v.getBigUint64(3, true),
        body: p.subarray(11),
      };
    }
    case 5: {
      if (p.length < 12 || p[1] >= SIGNALS.length || p[2] >= FORMATS.length) return null;
      const n = p[11];
      if (p.length < 12 + n) return null;
      const encodings: Coding[] = [];
      for (let i = 0; i < n; i++) {
        const c = CODINGS[p[12 + i]];
        if (!c) return null;
        encodings.push(c);
      }
      const encoded: EncodedBody = { encodings, bytes: p.subarray(12 + n) };
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
    case 2: {
      if (p.length < 22 || p[17] >= TABLE_NAMES.length) return null;
      return {
        type: "seal",
        upTo: { seg: v.getUint32(1, true), idx: v.getUint32(5, true) },
        id: idHex(p, 9),
        table: TABLE_NAMES[p[17]],
        hour: v.getUint32(18, true),
        service: dec.decode(p.subarray(22)),
      };
    }
    case 3:
      return p.length === 9 ? { type: "done", id: idHex(p, 1) } : null;
    case 4:
      return p.length === 9
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

/** A record payload, whole or in parts that are framed as one (see `dataPayloadParts`). */
export type Payload = Uint8Array | readonly Uint8Array[];

function payloadLength(p: Payload): number {
  if (p instanceof Uint8Array) return p.length;
  let n = 0;
  for (const part of p) n += part.length;
  return n;
}

/**
 * Appends the framed record (length, CRC, payload) to `out` at `at`; returns the new offset.
 * The payload is copied first and checksummed where it landed (one pass over fresh bytes).
 */
function frameInto(out: Uint8Array, at: number, payload: Payload): number {
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
  h.set(nonce.subarray(0, 8), 8);
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
  const nonce = bytes.slice(8, 16);
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

interface Pending {
  payload: Payload;
  onCommit?: (pos: Pos) => void;
  resolve: (pos: Pos) => void;
  reject: (e: unknown) => void;
}

export interface WalOptions {
  /** A segment is closed and a new one started once it holds this many bytes. */
  segmentBytes: number;
  /** Random bytes (injectable for tests); default `crypto.getRandomValues`. */
  randomBytes?: (n: number) => Uint8Array;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** A write or fsync of the log failed: the records of that group were not acknowledged. */
export class WalError extends Error {
  override name = "WalError";
}

/**
 * The appending side of the log. `append()` resolves with the record's position once it is
 * durable; `onCommit` runs synchronously at that moment, in log order, before any later record's.
 */
export class Wal {
  private queue: Pending[] = [];
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  private file: WalFile | undefined;
  private seq: number;
  private idx = 0;
  private segBytes = 0;
  private nonce: Uint8Array | undefined;
  private readonly sizes = new Map<number, number>();
  private readonly nonces = new Map<number, Uint8Array>();
  private pendingVoids: Pos[] = [];
  private closed = false;
  private readonly randomBytes: (n: number) => Uint8Array;
  /** fsyncs of segment files so far. */
  syncs = 0;

  constructor(
    private readonly fs: WalFs,
    readonly dir: string,
    firstSeq: number,
    private readonly opts: WalOptions,
  ) {
    this.seq = firstSeq;
    this.randomBytes = opts.randomBytes ??
      ((n) => crypto.getRandomValues(new Uint8Array(n)));
  }

  /** Creates the directory and lists the segments already there, oldest first. */
  static async scanDir(fs: WalFs, dir: string): Promise<number[]> {
    await fs.mkdir(dir);
    const seqs: number[] = [];
    for (const name of await fs.list(dir)) {
      const s = segmentSeq(name);
      if (s !== null) seqs.push(s);
    }
    return seqs.sort((a, b) => a - b);
  }

  path(seq: number): string {
    return `${this.dir}/${segmentName(seq)}`;
  }

  /** Registers an existing segment (found at start) for size accounting, ids and trimming. */
  adopt(seq: number, bytes: number, nonce: Uint8Array | null): void {
    this.sizes.set(seq, bytes);
    if (nonce) this.nonces.set(seq, nonce);
  }

  /** The nonce of a segment holding records, for file ids. */
  nonceOf(seq: number): Uint8Array {
    return this.nonces.get(seq) ?? new Uint8Array(8);
  }

  /** Bytes of every segment on disk. */
  get bytes(): number {
    let n = 0;
    for (const b of this.sizes.values()) n += b;
    return n;
  }

  get segments(): number {
    return this.sizes.size;
  }

  /** Sequence number of the segment being appended to (or the next one to be created). */
  get currentSeq(): number {
    return this.seq;
  }

  /**
   * Appends a record payload (whole, or in parts framed as one record); resolves with its
   * position once it is fsync'd.
   */
  append(payload: Payload, onCommit?: (pos: Pos) => void): Promise<Pos> {
    if (this.closed) {
      return Promise.reject(new WalError("Cannot append to the write-ahead log: it is closed"));
    }
    return new Promise<Pos>((resolve, reject) => {
      this.queue.push({ payload, onCommit, resolve, reject });
      if (!this.running) this.idle = this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const group = this.queue;
        this.queue = [];
        await this.commit(group);
      }
    } finally {
      this.running = false;
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    const rolled = this.file !== undefined && this.segBytes >= this.opts.segmentBytes;
    if (rolled) await this.closeFile();
    const fresh = this.file === undefined;
    const firstIdx = fresh ? 0 : this.idx;
    const seq = this.seq;
    // Everything for this group goes out in one write: a new segment's header and its void
    // records first, then the group's records.
    const voids = fresh ? this.pendingVoids : [];
    const payloads: Payload[] = voids.map((from) => encodePayload({ type: "void", from }));
    for (const p of group) payloads.push(p.payload);
    let size = fresh ? HEADER_BYTES : 0;
    for (const p of payloads) size += FRAME_BYTES + payloadLength(p);
    const buf = new Uint8Array(size);
    let at = 0;
    if (fresh) {
      this.nonce = this.randomBytes(8);
      buf.set(segmentHeader(this.nonce), 0);
      at = HEADER_BYTES;
    }
    for (const p of payloads) at = frameInto(buf, at, p);
    const positions = group.map((_, i) => ({ seg: seq, idx: firstIdx + voids.length + i }));
    try {
      if (fresh) {
        this.file = await this.fs.openAppend(this.path(seq));
        this.segBytes = 0;
        this.idx = 0;
        this.nonces.set(seq, this.nonce!);
      }
      this.sizes.set(seq, this.segBytes + size);
      await this.file!.write(buf);
      this.segBytes += size;
      await this.file!.sync();
      this.syncs++;
      if (fresh) {
        await this.fs.syncDir?.(this.dir);
        this.pendingVoids = [];
      }
      this.idx = firstIdx + payloads.length;
    } catch (e) {
      // Nothing more goes into this segment: what was written may be torn or whole but was
      // never acknowledged. A void record at the start of the next segment says so.
      this.pendingVoids.push({ seg: seq, idx: firstIdx });
      await this.closeFile();
      if (this.seq === seq) this.seq++; // the segment could not even be opened
      const err = new WalError(
        `Cannot write the write-ahead log ${JSON.stringify(this.path(seq))}: ${
          e instanceof Error ? e.message : String(e)
        }`,
        { cause: e },
      );
      for (const p of group) p.reject(err);
      return;
    }
    group.forEach((p, i) => {
      try {
        p.onCommit?.(positions[i]);
        p.resolve(positions[i]);
      } catch (e) {
        p.reject(e);
      }
    });
  }

  private async closeFile(): Promise<void> {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    this.seq++;
    try {
      await f.close();
    } catch {
      // a close failure of a segment already synced (or abandoned) changes nothing
    }
  }

  /** Deletes closed segments whose sequence number is below `seq`. */
  async trim(seq: number): Promise<number> {
    let removed = 0;
    for (const s of [...this.sizes.keys()].sort((a, b) => a - b)) {
      if (s >= seq || (s === this.seq && this.file)) break;
      this.sizes.delete(s);
      this.nonces.delete(s);
      await this.fs.remove(this.path(s));
      removed++;
    }
    return removed;
  }

  /** Waits until every record appended so far is committed (or failed). */
  async settle(): Promise<void> {
    while (this.running || this.queue.length > 0) {
      if (!this.running) this.idle = this.run();
      await this.idle;
    }
  }

  /** Waits for queued records, then closes the current segment. */
  async close(): Promise<void> {
    await this.settle();
    this.closed = true;
    await this.closeFile();
  }

  /** Deletes every segment (after `close()`, when everything logged is stored). */
  async removeAll(): Promise<void> {
    for (const s of [...this.sizes.keys()]) {
      this.sizes.delete(s);
      await this.fs.remove(this.path(s));
    }
  }

  /** Stops at once, as a crash would: queued records fail, the segments stay as they are. */
  async abandon(): Promise<void> {
    this.closed = true;
    const q = this.queue;
    this.queue = [];
    for (const p of q) {
      p.reject(new WalError("Cannot append to the write-ahead log: it was abandoned"));
    }
    await this.idle.catch(() => {});
    await this.closeFile();
  }
}
