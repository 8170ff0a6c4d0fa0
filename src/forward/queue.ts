/**
 * The queue of one forward destination: requests accepted by this server and not yet taken by
 * the remote, oldest first, bounded by `max_queue_bytes` (past it the oldest are dropped and
 * counted: ingestion never waits for a remote).
 *
 * With a directory (servers) the queue is on disk beside the write-ahead log, in segment files
 * of its own written through the log's file API (`WalFs`, ../batch/wal/fs.node.ts), so a
 * restart or a crash loses nothing already written:
 *
 *   {seq:10}.fq    8 bytes magic "O2PFWD01", then records: u32 LE length, u32 LE CRC-32,
 *                  payload = u8 signal, u8 format | coding << 4, u32 LE records, the
 *                  request body as it came (in its format; compressed when it was, with
 *                  one gzip, deflate or zstd coding: fewer bytes to write and to keep)
 *   {seq:10}.ack   u32 LE values appended: how many records of that segment are done (sent,
 *                  rejected or dropped); the last whole value counts
 *
 * A segment is deleted once all its records are done and a newer one is being written. On
 * start, every segment is read up to its first bad record (a torn tail) and appending goes to
 * a new segment. Bodies stay in memory up to `MEMORY_BYTES`; past that they are read back from
 * their segment when their turn comes. Without a directory (Workers, Lambda, no write access)
 * the same queue lives in memory only. Appends are fsync'd at most once a second
 * (`SYNC_EVERY_MS`), so a process crash loses nothing and a power loss at most that second.
 */
import { crc32 } from "../batch/checksum.ts";
import type { WalFile, WalFs } from "../batch/wal/wal.ts";
import type { Format } from "../core/otlp/types.ts";
import type { Signal } from "../core/tables.ts";
import type { Coding } from "../codec/index.ts";

const MAGIC = new TextEncoder().encode("O2PFWD01");
const HEADER = MAGIC.length;
const FRAME = 8;
const META = 6;
/** A segment past this is closed and a new one started. */
export const SEGMENT_BYTES = 8 * 1024 * 1024;
/** The queue files are fsync'd at most this often (and when closed). */
export const SYNC_EVERY_MS = 1000;
/**
 * Frames written together are gathered in a buffer reused up to this size (a fresh one per
 * write past 128 KiB is mapped anew by glibc under `deno task start`'s MALLOC_MMAP_THRESHOLD_).
 */
const SCRATCH_MAX_BYTES = 1024 * 1024;
/** Bodies kept in memory (the rest are read back from disk). */
export const MEMORY_BYTES = 32 * 1024 * 1024;

const SIGNAL_CODE: Record<Signal, number> = { logs: 1, traces: 2, metrics: 3 };
const SIGNAL_OF: Signal[] = ["logs", "logs", "traces", "metrics"];
const FORMAT_CODE: Record<Format, number> = { protobuf: 1, json: 2, jsonl: 3 };
const FORMAT_OF: Format[] = ["protobuf", "protobuf", "json", "jsonl"];
const CODING_CODE: Record<Coding, number> = { gzip: 1, deflate: 2, zstd: 3 };
const CODING_OF: (Coding | undefined)[] = [undefined, "gzip", "deflate", "zstd"];

export interface QueueItem {
  signal: Signal;
  format: Format;
  /** The body, compressed with `coding` when that is set. */
  body: Uint8Array;
  coding?: Coding;
  /**
   * With `coding`: the body decoded, kept in memory only (never written) while it fits
   * `MEMORY_BYTES`, so merging queued requests needs no inflate.
   */
  plain?: Uint8Array;
  /** Records (log records, spans, data points) the request holds. */
  records: number;
}

export interface Entry {
  readonly id: number;
  readonly seq: number;
  /** Index in its segment. */
  readonly idx: number;
  readonly signal: Signal;
  readonly format: Format;
  /** How `body` is compressed (none when unset). */
  readonly coding?: Coding;
  readonly records: number;
  readonly bytes: number;
  /** When it was queued (epoch ms; for entries read back at start, when they were read). */
  readonly queuedAt: number;
  body: Uint8Array | null;
  /** The body decoded (entries with a coding, in memory only; null once released). */
  plain: Uint8Array | null;
}

interface Segment {
  seq: number;
  entries: Entry[];
  /** Records of this segment done (in the file's order), as last written to its .ack file. */
  done: number;
  ackWritten: number;
  /** Records in the segment in total (done + entries.length). */
  total: number;
  fileBytes: number;
  file?: WalFile;
  ack?: WalFile;
}

export interface QueueOptions {
  maxBytes: number;
  /** Directory of this destination's segments; none for a memory queue. */
  dir?: string;
  fs?: WalFs;
  /** Told of every entry dropped to stay within `maxBytes`. */
  onDrop?: (dropped: { requests: number; records: number; bytes: number }) => void;
  /** Told when writing the queue fails (the entries stay queued in memory). */
  onError?: (what: string, e: unknown) => void;
  now?: () => number;
}

export class ForwardQueue {
  private readonly segs: Segment[] = [];
  private nextId = 1;
  private nextSeq = 1;
  private memBytes = 0;
  /** Entries not written yet, in order, with SEGMENT_START and a seq marker before a new segment's. */
  private pendingFrames: (Entry | Uint8Array)[] = [];
  private writing: Promise<void> | null = null;
  private ackScheduled = false;
  private waiters: (() => void)[] = [];
  private closed = false;
  /** Bytes of request bodies queued. */
  bytes = 0;
  /** Requests queued. */
  length = 0;
  private readonly now: () => number;
  private lastSync = 0;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(private readonly opts: QueueOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Opens the queue; with a directory, reads back what an earlier run left. */
  static async open(opts: QueueOptions): Promise<ForwardQueue> {
    const q = new ForwardQueue(opts);
    if (opts.fs && opts.dir) await q.load(opts.fs, opts.dir);
    return q;
  }

  /** Entries left by an earlier run when this opened. */
  recovered = 0;

  private async load(fs: WalFs, dir: string): Promise<void> {
    await fs.mkdir(dir);
    const names = await fs.list(dir);
    const seqs = names.map((n) => /^(\d{10})\.fq$/.exec(n)).filter((m) => m !== null)
      .map((m) => Number(m![1])).sort((a, b) => a - b);
    const acks = new Set(names.filter((n) => n.endsWith(".ack")));
    for (const seq of seqs) {
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const bytes = await fs.read(`${dir}/${fileName(seq, "fq")}`);
      const recs = parseSegment(bytes);
      let done = 0;
      if (acks.has(fileName(seq, "ack"))) {
        const a = await fs.read(`${dir}/${fileName(seq, "ack")}`);
        if (a.length >= 4) {
          const at = (a.length >> 2) * 4 - 4;
          done = new DataView(a.buffer, a.byteOffset, a.byteLength).getUint32(at, true);
        }
      }
      const seg: Segment = {
        seq,
        entries: [],
        done: Math.min(done, recs.length),
        ackWritten: Math.min(done, recs.length),
        total: recs.length,
        fileBytes: bytes.length,
      };
      for (let i = seg.done; i < recs.length; i++) {
        const r = recs[i];
        const keep = this.memBytes + r.body.length <= MEMORY_BYTES;
        const e: Entry = {
          id: this.nextId++,
          seq,
          idx: i,
          signal: r.signal,
          format: r.format,
          coding: r.coding,
          records: r.records,
          bytes: r.body.length,
          queuedAt: this.now(),
          body: keep ? r.body.slice() : null,
          plain: null,
        };
        if (keep) this.memBytes += e.bytes;
        seg.entries.push(e);
        this.bytes += e.bytes;
        this.length++;
      }
      if (seg.entries.length === 0) {
        await fs.remove(`${dir}/${fileName(seq, "fq")}`);
        await fs.remove(`${dir}/${fileName(seq, "ack")}`);
        continue;
      }
      this.segs.push(seg);
    }
    for (const n of acks) {
      const m = /^(\d{10})\.ack$/.exec(n);
      if (m && !seqs.includes(Number(m[1]))) await fs.remove(`${dir}/${n}`);
    }
    this.recovered = this.length;
    this.trim();
  }

  /** Adds a request (synchronously; the disk write follows). Drops the oldest past the bound. */
  push(item: QueueItem): void {
    if (this.closed) return;
    let seg = this.segs[this.segs.length - 1];
    const frameBytes = FRAME + META + item.body.length;
    if (
      !seg || (this.opts.fs && seg !== this.active) ||
      (seg.fileBytes + frameBytes > SEGMENT_BYTES && seg.total > 0)
    ) {
      seg = this.newSegment();
    }
    // The body is kept as it came (the caller never changes it); with files, its frame is
    // written from it (./writeFrames: the one copy, into the write's buffer).
    const e: Entry = {
      id: this.nextId++,
      seq: seg.seq,
      idx: seg.total,
      signal: item.signal,
      format: item.format,
      coding: item.coding,
      records: item.records,
      bytes: item.body.length,
      queuedAt: this.now(),
      body: item.body,
      plain: null,
    };
    if (item.coding && item.plain && this.memBytes + item.plain.length <= MEMORY_BYTES) {
      e.plain = item.plain;
      this.memBytes += item.plain.length;
    }
    seg.entries.push(e);
    seg.total++;
    seg.fileBytes += frameBytes;
    this.bytes += e.bytes;
    this.memBytes += e.bytes;
    this.length++;
    if (this.opts.fs) {
      this.pendingFrames.push(e);
      this.scheduleWrite();
    }
    this.trim();
    for (const w of this.waiters.splice(0)) w();
  }

  /** The segment being appended to (with a directory). */
  private active: Segment | null = null;

  private newSegment(): Segment {
    // Segments all done (the last one, until now) go.
    while (this.segs.length > 0 && this.segs[0].entries.length === 0) {
      this.retire(this.segs.shift()!);
    }
    const seg: Segment = {
      seq: this.nextSeq++,
      entries: [],
      done: 0,
      ackWritten: 0,
      total: 0,
      fileBytes: this.opts.fs ? HEADER : 0,
    };
    this.segs.push(seg);
    if (this.opts.fs) {
      this.active = seg;
      this.pendingFrames.push(SEGMENT_START, segmentMarker(seg.seq));
    }
    return seg;
  }

  /** Drops the oldest entries while over the bound (never the newest one). */
  private trim(): void {
    let requests = 0, records = 0, bytes = 0;
    while (this.bytes > this.opts.maxBytes && this.length > 1) {
      const e = this.shift()!;
      requests++;
      records += e.records;
      bytes += e.bytes;
    }
    if (requests > 0) this.opts.onDrop?.({ requests, records, bytes });
  }

  private shift(): Entry | undefined {
    while (this.segs.length > 0) {
      const seg = this.segs[0];
      const e = seg.entries.shift();
      if (e) {
        seg.done++;
        this.bytes -= e.bytes;
        if (e.body) this.memBytes -= e.bytes;
        if (e.plain) this.memBytes -= e.plain.length;
        this.length--;
        this.scheduleAck();
        if (seg.entries.length === 0 && seg !== this.segs[this.segs.length - 1]) {
          this.segs.shift();
          this.retire(seg);
        }
        return e;
      }
      if (seg === this.segs[this.segs.length - 1]) return undefined;
      this.segs.shift();
      this.retire(seg);
    }
    return undefined;
  }

  /** The oldest entry, if any. */
  head(): Entry | undefined {
    for (const s of this.segs) if (s.entries.length > 0) return s.entries[0];
    return undefined;
  }

  /**
   * The oldest entries, up to `maxBytes` together (at least one) and `maxCount`, of the same
   * signal as the first, bodies loaded. Waits while the queue is empty; null once closed.
   */
  async take(maxBytes: number, maxCount: number): Promise<Entry[] | null> {
    while (this.length === 0) {
      if (this.closed) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.closed) return null;
    const out: Entry[] = [];
    let bytes = 0;
    outer: for (const s of this.segs) {
      for (const e of s.entries) {
        if (out.length >= maxCount) break outer;
        if (out.length > 0 && (e.signal !== out[0].signal || bytes + e.bytes > maxBytes)) {
          break outer;
        }
        out.push(e);
        bytes += e.bytes;
      }
    }
    for (const e of out) if (!e.body) await this.loadBodies(e.seq);
    return out;
  }

  /** Marks every entry up to `id` done (sent or rejected); those already dropped are skipped. */
  done(id: number): void {
    for (let e = this.head(); e && e.id <= id; e = this.head()) this.shift();
  }

  /** Resolves when something is queued or the queue closes. */
  wait(): Promise<void> {
    if (this.length > 0 || this.closed) return Promise.resolve();
    return new Promise<void>((r) => this.waiters.push(r));
  }

  /** Age of the oldest entry in seconds (0 when empty). */
  oldestAgeSecs(): number {
    const e = this.head();
    return e ? Math.max(0, (this.now() - e.queuedAt) / 1000) : 0;
  }

  /** Writes what is pending, and stops. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    await this.settle();
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    for (const s of this.segs) {
      await s.file?.sync().catch(() => {});
      await s.file?.close().catch(() => {});
      await s.ack?.close().catch(() => {});
      s.file = s.ack = undefined;
    }
  }

  /** Resolves once every push and done so far is written (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.writing || this.pendingFrames.length > 0 || this.ackScheduled) {
      if (!this.writing) this.scheduleWrite();
      await this.writing;
    }
  }

  // ---- disk ------------------------------------------------------------------------------

  private scheduleWrite(): void {
    if (this.writing || !this.opts.fs) return;
    this.writing = (async () => {
      // Let the pushes of this turn of the event loop join the write: the requests one
      // write-ahead log commit answers come in one turn, and each write(2) costs ~50 µs of
      // CPU here however small (measured: 8 KiB appends, 59 µs each, 47 of them in the kernel).
      await new Promise((r) => setTimeout(r, 0));
      try {
        while (this.pendingFrames.length > 0 || this.ackScheduled) {
          if (this.pendingFrames.length > 0) await this.writeFrames();
          if (this.ackScheduled) {
            this.ackScheduled = false;
            await this.writeAcks();
          }
        }
      } catch (e) {
        this.opts.onError?.("write", e);
        this.pendingFrames = [];
      } finally {
        this.writing = null;
      }
    })();
  }

  private async writeFrames(): Promise<void> {
    const fs = this.opts.fs!, dir = this.opts.dir!;
    const frames = this.pendingFrames;
    this.pendingFrames = [];
    // Frames are grouped by segment: a SEGMENT_START marker, then the segment's seq.
    let i = 0;
    while (i < frames.length) {
      let seq: number;
      if (frames[i] === SEGMENT_START) {
        seq = readSeqMarker(frames[i + 1] as Uint8Array);
        i += 2;
        const seg = this.segs.find((s) => s.seq === seq);
        const file = await fs.openAppend(`${dir}/${fileName(seq, "fq")}`);
        await file.write(MAGIC);
        await fs.syncDir?.(dir);
        // The segment may be gone already (all of it dropped): keep the handle to close it.
        if (seg) seg.file = file;
        else await file.close();
      } else {
        seq = this.active?.seq ?? this.segs[this.segs.length - 1]?.seq ?? 0;
      }
      const parts: Entry[] = [];
      while (i < frames.length && frames[i] !== SEGMENT_START) parts.push(frames[i++] as Entry);
      if (parts.length === 0) continue;
      const seg = this.segs.find((s) => s.seq === seq);
      if (!seg?.file) continue; // dropped before it was written
      let n = 0;
      for (const e of parts) n += FRAME + META + e.bytes;
      const out = this.scratchFor(n);
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      n = 0;
      // Entries dropped meanwhile are written too (their place in the segment counts).
      for (const e of parts) n = frameInto(out, view, n, e);
      await seg.file.write(out);
      // fsync at most once a second: a process crash loses nothing written (the page cache
      // keeps it), a power loss at most the last second; the write-ahead log's own fsyncs,
      // which the clients' answers wait for, do not queue behind these.
      const now = this.now();
      if (now - this.lastSync >= SYNC_EVERY_MS) {
        this.lastSync = now;
        await seg.file.sync();
      } else if (this.syncTimer === undefined) {
        // …and once more after the last append of a burst.
        const file = seg.file;
        this.syncTimer = setTimeout(() => {
          this.syncTimer = undefined;
          this.lastSync = this.now();
          file.sync().catch(() => {});
        }, SYNC_EVERY_MS);
      }
    }
    // Past the memory budget, bodies are read back from disk when needed (only once every
    // body is written: those pending are written from memory).
    if (this.memBytes > MEMORY_BYTES && this.pendingFrames.length === 0) this.releaseBodies();
  }

  /** Memory the frames of one write are gathered in, reused (each write is awaited). */
  private scratch = new Uint8Array(0);

  private scratchFor(bytes: number): Uint8Array {
    if (bytes > SCRATCH_MAX_BYTES) return new Uint8Array(bytes);
    if (this.scratch.length < bytes) {
      this.scratch = new Uint8Array(
        Math.min(SCRATCH_MAX_BYTES, Math.max(bytes, 2 * this.scratch.length)),
      );
    }
    return this.scratch.subarray(0, bytes);
  }

  private releaseBodies(): void {
    // Decoded copies first (the body can be decoded again), from the newest.
    for (let s = this.segs.length - 1; s >= 0 && this.memBytes > MEMORY_BYTES; s--) {
      const entries = this.segs[s].entries;
      for (let i = entries.length - 1; i >= 0 && this.memBytes > MEMORY_BYTES; i--) {
        const e = entries[i];
        if (e.plain) {
          this.memBytes -= e.plain.length;
          e.plain = null;
        }
      }
    }
    // Keep the oldest in memory (sent next); release from the newest that are on disk.
    for (let s = this.segs.length - 1; s >= 0 && this.memBytes > MEMORY_BYTES; s--) {
      const seg = this.segs[s];
      if (!seg.file && seg !== this.active) continue;
      for (let i = seg.entries.length - 1; i >= 0 && this.memBytes > MEMORY_BYTES; i--) {
        const e = seg.entries[i];
        if (e.body) {
          this.memBytes -= e.bytes;
          e.body = null;
        }
      }
    }
  }

  private async loadBodies(seq: number): Promise<void> {
    const seg = this.segs.find((s) => s.seq === seq);
    if (!seg || !this.opts.fs) return;
    await this.settle();
    const recs = parseSegment(await this.opts.fs.read(`${this.opts.dir}/${fileName(seq, "fq")}`));
    for (const e of seg.entries) {
      if (!e.body && recs[e.idx]) {
        e.body = recs[e.idx].body.slice();
        this.memBytes += e.bytes;
      }
    }
  }

  private scheduleAck(): void {
    if (!this.opts.fs) return;
    this.ackScheduled = true;
    this.scheduleWrite();
  }

  private retired: Segment[] = [];
  private retire(seg: Segment): void {
    if (!this.opts.fs) return;
    this.retired.push(seg);
    this.scheduleAck();
  }

  private async writeAcks(): Promise<void> {
    const fs = this.opts.fs!, dir = this.opts.dir!;
    for (const seg of this.segs) {
      if (seg.done === seg.ackWritten || !seg.file) continue;
      seg.ack ??= await fs.openAppend(`${dir}/${fileName(seg.seq, "ack")}`);
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, seg.done, true);
      await seg.ack.write(b);
      seg.ackWritten = seg.done;
    }
    for (const seg of this.retired.splice(0)) {
      await seg.file?.close().catch(() => {});
      await seg.ack?.close().catch(() => {});
      seg.file = seg.ack = undefined;
      await fs.remove(`${dir}/${fileName(seg.seq, "fq")}`);
      await fs.remove(`${dir}/${fileName(seg.seq, "ack")}`);
    }
  }
}

/** Marks the start of a new segment in the pending frames (compared by identity). */
const SEGMENT_START = new Uint8Array(0);

function segmentMarker(seq: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, seq, true);
  return b;
}

function readSeqMarker(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(0, true);
}

function fileName(seq: number, ext: "fq" | "ack"): string {
  return `${String(seq).padStart(10, "0")}.${ext}`;
}

/**
 * Writes the frame of `e` (length, CRC-32, signal, format and coding, records, body) at `at` of
 * `out` (`v`: a view of the same memory).
 */
function frameInto(out: Uint8Array, v: DataView, at: number, e: Entry): number {
  const len = META + e.bytes;
  out[at + FRAME] = SIGNAL_CODE[e.signal];
  out[at + FRAME + 1] = FORMAT_CODE[e.format] | ((e.coding ? CODING_CODE[e.coding] : 0) << 4);
  v.setUint32(at + FRAME + 2, e.records >>> 0, true);
  out.set(e.body!, at + FRAME + META);
  v.setUint32(at, len, true);
  v.setUint32(at + 4, crc32(out, at + FRAME, at + FRAME + len), true);
  return at + FRAME + len;
}

/** The records of a segment file, up to the first bad one (a torn tail). */
export function parseSegment(bytes: Uint8Array): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  if (bytes.length < HEADER || MAGIC.some((b, i) => bytes[i] !== b)) return out;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = HEADER;
  while (at + FRAME + META <= bytes.length) {
    const len = v.getUint32(at, true), sum = v.getUint32(at + 4, true);
    const start = at + FRAME, end = start + len;
    if (len < META || end > bytes.length || crc32(bytes, start, end) !== sum) break;
    const sig = bytes[start], fmt = bytes[start + 1] & 0x0f, cod = bytes[start + 1] >> 4;
    if (sig < 1 || sig > 3 || fmt < 1 || fmt > 3 || cod > 3) break;
    out.push({
      signal: SIGNAL_OF[sig],
      format: FORMAT_OF[fmt],
      coding: CODING_OF[cod],
      records: v.getUint32(start + 2, true),
      body: bytes.subarray(start + META, end),
    });
    at = end;
  }
  return out;
}

export interface ParsedRecord {
  signal: Signal;
  format: Format;
  coding?: Coding;
  records: number;
  body: Uint8Array;
}
