/**
 * The appending side of the write-ahead log: numbered segment files in one directory
 * (./segment.ts), records (./records.ts) appended with group commit (every request waiting while
 * an fsync runs shares the next one). A record is identified by its position (segment seq,
 * index in the segment).
 *
 * File access goes through the injected `WalFs` (./fs.node.ts implements it with node:fs, and
 * Deno's own files on Deno), so this module stays free of platform APIs.
 */
import {
  FRAME_BYTES,
  frameInto,
  HEADER_BYTES,
  type Payload,
  payloadLength,
  segmentHeader,
  segmentName,
  segmentSeq,
} from "./segment.ts";
import { encodePayload, type Pos } from "./records.ts";

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
