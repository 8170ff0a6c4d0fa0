/**
 * A server side of HTTP/2 (RFC 9113) over cleartext with prior knowledge (h2c), as far as
 * unary gRPC calls need it (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md),
 * with no network of its own: `H2Connection.receive` takes the bytes a connection read,
 * `write` gets the bytes to send, in order. ./listen.node.ts runs it over the runtime's TCP
 * (docs/architecture.md, "OTLP/gRPC: HTTP/2 in TypeScript").
 *
 * What it does: the connection preface and SETTINGS (acknowledged both ways), PING, GOAWAY both
 * ways, RST_STREAM, flow control both ways (generous receive windows given back as data is
 * read; DATA sent within the client's windows, held until WINDOW_UPDATE), HEADERS with
 * CONTINUATION and padding, HPACK (./hpack.ts), stream limits. A call is the request's
 * headers and its DATA up to END_STREAM: one length-prefixed gRPC message, at most `limit`
 * bytes as framed (a larger one is refused as soon as its prefix says so, before the rest is
 * read: RESOURCE_EXHAUSTED, then RST_STREAM NO_ERROR). Its answer goes out as HEADERS, DATA and
 * trailers (OK), or as one trailers-only HEADERS (any other status), `grpc-message`
 * percent-encoded and RetryInfo as `grpc-status-details-bin`.
 *
 * A protocol violation ends the connection with GOAWAY and the error code (RFC 9113 §5.4.1);
 * a request this server cannot serve (not POST, not application/grpc) is answered on its stream
 * (405/415 with a gRPC status), and every other stream of the connection goes on.
 */
import { concat } from "../codec/index.ts";
import { encodeHeaders, type Header, HpackDecoder, HpackError } from "./hpack.ts";
import type { Reservation } from "../http/admission.ts";
import {
  ACCEPT_ENCODING,
  type Admitted,
  type Answer,
  type AnswerCall,
  encodeStatusWithRetryInfo,
  type ExportCall,
  Status,
} from "./service.ts";

/** The client connection preface (RFC 9113 §3.4). */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const enum Type {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;

/** Error codes (RFC 9113 §7). */
export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
} as const;

/** What this server announces in its SETTINGS. */
export const SETTINGS = {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: calls in flight per connection. */
  maxConcurrentStreams: 256,
  /** SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream before we give more. */
  initialWindow: 4 * 1024 * 1024,
  /** SETTINGS_MAX_FRAME_SIZE. */
  maxFrameSize: 256 * 1024,
  /** SETTINGS_MAX_HEADER_LIST_SIZE (./hpack.ts enforces it). */
  maxHeaderListSize: 65536,
  /** The connection's receive window, raised from 65,535 by a WINDOW_UPDATE at the start. */
  connectionWindow: 16 * 1024 * 1024,
};

export interface H2Options {
  answer: AnswerCall;
  /** Largest gRPC message accepted, as framed (`grpc.max_recv_msg_bytes`). */
  limit: number;
  /** Bytes to send, in order. */
  write: (bytes: Uint8Array) => void;
  /** Ends the connection once what was written is sent. */
  end: () => void;
  /**
   * Whether a message of `declared` bytes on `path` may come in, asked when its length prefix
   * arrives, before the rest is read: null (nothing to reserve), the answer to refuse it with
   * (backpressure), or the room reserved for it, which goes to the call with its message
   * (`ExportCall.hold`) or is released when the stream ends without one.
   */
  admit?: (path: string, declared: number) => Admitted | null;
  /** Told of each answered call, with its duration in seconds. */
  answered?: (call: ExportCall, a: Answer, seconds: number) => void;
  /** Told of a connection ended for a protocol error (a debug log line). */
  onError?: (message: string) => void;
}

interface Stream {
  id: number;
  headers: Header[] | undefined;
  chunks: Uint8Array[];
  /** DATA payload bytes received (padding excluded). */
  bytes: number;
  /** The client sent END_STREAM. */
  remoteDone: boolean;
  /** `admit` was asked (once the message's length prefix was in). */
  admitted: boolean;
  /** The room `admit` reserved, until the call takes it. */
  hold: Reservation | undefined;
  /** An answer was written (or the stream was reset): nothing more is sent on it. */
  answered: boolean;
  /** The answer is being computed. */
  busy: boolean;
  /** Receive window bytes read since the last WINDOW_UPDATE for this stream. */
  unacked: number;
  /** What the client lets us send on this stream. */
  sendWindow: number;
  /** DATA and trailers waiting for window. */
  held: { data: Uint8Array; trailers: Uint8Array } | undefined;
}

/** Gives back what `admit` reserved for a stream that ends without its call. */
function unhold(s: Stream): void {
  s.hold?.release();
  s.hold = undefined;
}

class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** One HTTP/2 connection, server side. */
export class H2Connection {
  private readonly decoder = new HpackDecoder(4096);
  private readonly streams = new Map<number, Stream>();
  /** Unparsed bytes (a frame not complete yet), in pieces. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private prefaceSeen = false;
  private lastStreamId = 0;
  /** A header block in pieces (HEADERS without END_HEADERS, then CONTINUATION). */
  private block: { id: number; endStream: boolean; parts: Uint8Array[] } | undefined;
  private out: Uint8Array[] = [];
  private flushQueued = false;
  private ended = false;
  private goawaySent = false;
  private connUnacked = 0;
  private connSendWindow = 65535;
  private peerInitialWindow = 65535;
  private peerMaxFrame = 16384;
  private drained: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly o: H2Options) {}

  /**
   * Whether no stream is open (none being received, answered, or with its answer held back: a
   * stream leaves `streams` only when none of that is left, see `release`).
   */
  get idle(): boolean {
    return this.streams.size === 0;
  }

  /** Bytes the connection read. */
  receive(chunk: Uint8Array): void {
    if (this.ended) return;
    try {
      this.parse(chunk);
    } catch (e) {
      if (e instanceof ConnectionError) this.fail(e.code, e.message);
      else if (e instanceof HpackError) this.fail(H2Error.COMPRESSION_ERROR, e.message);
      else this.fail(H2Error.INTERNAL_ERROR, `internal error: ${String(e)}`);
    }
    this.flush();
  }

  /** The connection is gone (the client closed it, or it failed): nothing more is sent. */
  closed(): void {
    this.ended = true;
    this.out = [];
    for (const s of this.streams.values()) {
      s.answered = true;
      unhold(s);
    }
    this.streams.clear();
    this.checkDrained();
  }

  /**
   * Graceful close (RFC 9113 §6.8): GOAWAY with the last stream this server will answer, no new
   * streams; resolves once every call in flight is answered, then ends the connection.
   */
  shutdown(): Promise<void> {
    if (this.ended) return Promise.resolve();
    if (this.stopping) return this.stopping;
    this.goawaySent = true;
    this.frame(Type.GOAWAY, 0, 0, goawayPayload(this.lastStreamId, H2Error.NO_ERROR, ""));
    this.flush();
    return this.stopping = new Promise<void>((resolve) => {
      this.drained = () => {
        if (!this.ended) {
          this.flush();
          this.ended = true;
          this.o.end();
        }
        resolve();
      };
      this.checkDrained();
    });
  }

  private checkDrained(): void {
    if (this.drained && (this.ended || this.idle)) {
      const d = this.drained;
      this.drained = undefined;
      d();
    }
  }

  private parse(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.pendingBytes > 0) {
      // Pieces are joined only once the frame they start is complete (no quadratic copying).
      this.pending.push(chunk.slice());
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.needed()) return;
      buf = concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let i = 0;
    if (!this.prefaceSeen) {
      if (!startsLike(buf, PREFACE)) return this.notHttp2();
      if (buf.length < PREFACE.length) return this.keep(buf, 0);
      this.prefaceSeen = true;
      i = PREFACE.length;
      // Our preface once theirs is in (an HTTP/1.1 client gets its 505 and nothing else).
      this.frame(Type.SETTINGS, 0, 0, settingsPayload());
      this.frame(Type.WINDOW_UPDATE, 0, 0, u32(SETTINGS.connectionWindow - 65535));
    }
    while (!this.ended) {
      if (buf.length - i < 9) break;
      const len = (buf[i] << 16) | (buf[i + 1] << 8) | buf[i + 2];
      if (len > SETTINGS.maxFrameSize) {
        throw new ConnectionError(
          H2Error.FRAME_SIZE_ERROR,
          `a frame of ${len} bytes, over SETTINGS_MAX_FRAME_SIZE ${SETTINGS.maxFrameSize}`,
        );
      }
      if (buf.length - i < 9 + len) break;
      const type = buf[i + 3];
      const flags = buf[i + 4];
      const id = ((buf[i + 5] & 0x7f) << 24 | (buf[i + 6] << 16) | (buf[i + 7] << 8) |
        buf[i + 8]) >>> 0;
      const payload = buf.subarray(i + 9, i + 9 + len);
      i += 9 + len;
      this.onFrame(type, flags, id, payload);
    }
    if (i < buf.length && !this.ended) this.keep(buf, i);
  }

  /** Keeps `buf[i..]` (copied: the caller may reuse the buffer) for the next read. */
  private keep(buf: Uint8Array, i: number): void {
    const rest = buf.slice(i);
    this.pending = [rest];
    this.pendingBytes = rest.length;
  }

  /** The bytes `pending` must hold before parsing goes on: the preface, or the next frame. */
  private needed(): number {
    if (!this.prefaceSeen) return PREFACE.length;
    if (this.pendingBytes < 9) return 9;
    const at = (k: number) => {
      for (const p of this.pending) {
        if (k < p.length) return p[k];
        k -= p.length;
      }
      return 0;
    };
    const len = (at(0) << 16) | (at(1) << 8) | at(2);
    // An oversized frame is reported as soon as its header is in.
    return len > SETTINGS.maxFrameSize ? 9 : 9 + len;
  }

  private notHttp2(): void {
    const body = "This port serves OTLP/gRPC (HTTP/2 only). " +
      "Send OTLP/HTTP to the HTTP port (4318 by default).\n";
    this.o.write(
      new TextEncoder().encode(
        "HTTP/1.1 505 HTTP Version Not Supported\r\nconnection: close\r\n" +
          `content-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      ),
    );
    this.ended = true;
    this.o.end();
  }

  private onFrame(type: number, flags: number, id: number, p: Uint8Array): void {
    if (this.block && type !== Type.CONTINUATION) {
      throw new ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `a frame of type ${type} inside a header block of stream ${this.block.id} (CONTINUATION expected)`,
      );
    }
    switch (type) {
      case Type.DATA:
        return this.onData(flags, id, p);
      case Type.HEADERS:
        return this.onHeaders(flags, id, p);
      case Type.CONTINUATION: {
        if (!this.block || this.block.id !== id) {
          throw new ConnectionError(
            H2Error.PROTOCOL_ERROR,
            `CONTINUATION on stream ${id} without a header block to continue`,
          );
        }
        this.block.parts.push(p.slice());
        if (flags & END_HEADERS) {
          const b = this.block;
          this.block = undefined;
          const all = concat(b.parts, b.parts.reduce((n, x) => n + x.length, 0));
          this.onHeaderBlock(b.id, b.endStream, all);
        }
        return;
      }
      case Type.PRIORITY:
        if (p.length !== 5) this.resetStream(id, H2Error.FRAME_SIZE_ERROR);
        return;
      case Type.RST_STREAM: {
        if (id === 0 || p.length !== 4) {
          throw new ConnectionError(
            p.length !== 4 ? H2Error.FRAME_SIZE_ERROR : H2Error.PROTOCOL_ERROR,
            `a malformed RST_STREAM on stream ${id}`,
          );
        }
        if (id > this.lastStreamId) {
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
        }
        this.drop(id);
        return;
      }
      case Type.SETTINGS:
        return this.onSettings(flags, id, p);
      case Type.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "a client sent PUSH_PROMISE");
      case Type.PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `PING on stream ${id}`);
        if (p.length !== 8) {
          throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `a PING of ${p.length} bytes`);
        }
        if (!(flags & ACK)) this.frame(Type.PING, ACK, 0, p.slice());
        return;
      case Type.GOAWAY:
        // The client will open no new streams; those in flight are still answered.
        return;
      case Type.WINDOW_UPDATE:
        return this.onWindowUpdate(id, p);
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  private onSettings(flags: number, id: number, p: Uint8Array): void {
    if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS on stream ${id}`);
    if (flags & ACK) {
      if (p.length !== 0) {
        throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload");
      }
      return;
    }
    if (p.length % 6 !== 0) {
      throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `SETTINGS of ${p.length} bytes`);
    }
    for (let k = 0; k < p.length; k += 6) {
      const key = (p[k] << 8) | p[k + 1];
      const v = ((p[k + 2] << 24) | (p[k + 3] << 16) | (p[k + 4] << 8) | p[k + 5]) >>> 0;
      if (key === 0x4) {
        if (v > 0x7fffffff) {
          throw new ConnectionError(
            H2Error.FLOW_CONTROL_ERROR,
            `SETTINGS_INITIAL_WINDOW_SIZE ${v} is over 2^31-1`,
          );
        }
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (key === 0x5) {
        if (v < 16384 || v > 16777215) {
          throw new ConnectionError(
            H2Error.PROTOCOL_ERROR,
            `SETTINGS_MAX_FRAME_SIZE ${v} is outside 16384..16777215`,
          );
        }
        this.peerMaxFrame = v;
      } else if (key === 0x2 && v > 1) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${v}`);
      }
      // HEADER_TABLE_SIZE: this encoder never indexes. MAX_CONCURRENT_STREAMS: we push none.
    }
    this.frame(Type.SETTINGS, ACK, 0, new Uint8Array(0));
    this.sendHeld();
  }

  private onWindowUpdate(id: number, p: Uint8Array): void {
    if (p.length !== 4) {
      throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `a WINDOW_UPDATE of ${p.length} bytes`);
    }
    const inc = ((p[0] & 0x7f) << 24 | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
    if (id === 0) {
      if (inc === 0) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0 on the connection");
      }
      this.connSendWindow += inc;
      if (this.connSendWindow > 0x7fffffff) {
        throw new ConnectionError(
          H2Error.FLOW_CONTROL_ERROR,
          "the connection window passed 2^31-1",
        );
      }
    } else {
      const s = this.streams.get(id);
      if (!s) return;
      if (inc === 0) return this.resetStream(id, H2Error.PROTOCOL_ERROR);
      s.sendWindow += inc;
    }
    this.sendHeld();
  }

  private onHeaders(flags: number, id: number, p: Uint8Array): void {
    if (id === 0 || id % 2 === 0) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    }
    let start = 0;
    let end = p.length;
    if (flags & PADDED) {
      if (p.length < 1) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "HEADERS too short");
      start = 1;
      end -= p[0];
    }
    if (flags & PRIORITY_FLAG) start += 5;
    if (start > end) {
      throw new ConnectionError(
        H2Error.PROTOCOL_ERROR,
        `HEADERS on stream ${id}: padding longer than the frame`,
      );
    }
    const fragment = p.subarray(start, end);
    if (flags & END_HEADERS) {
      this.onHeaderBlock(id, (flags & END_STREAM) !== 0, fragment);
    } else {
      this.block = { id, endStream: (flags & END_STREAM) !== 0, parts: [fragment.slice()] };
    }
  }

  private onHeaderBlock(id: number, endStream: boolean, block: Uint8Array): void {
    // Decoded even for a stream that is refused: the dynamic table must stay in step.
    const headers = this.decoder.decode(block);
    const known = this.streams.get(id);
    if (known) {
      // Trailers of the request: they must end it.
      if (!endStream || known.remoteDone) {
        throw new ConnectionError(
          H2Error.PROTOCOL_ERROR,
          `a second HEADERS without END_STREAM on stream ${id}`,
        );
      }
      known.remoteDone = true;
      this.dispatch(known);
      return;
    }
    if (id <= this.lastStreamId) {
      // A stream this side already closed (answered early, reset): ignored.
      return;
    }
    this.lastStreamId = id;
    if (this.goawaySent) return this.resetStream(id, H2Error.REFUSED_STREAM);
    if (this.streams.size >= SETTINGS.maxConcurrentStreams) {
      return this.resetStream(id, H2Error.REFUSED_STREAM);
    }
    const s: Stream = {
      id,
      headers,
      chunks: [],
      bytes: 0,
      remoteDone: endStream,
      admitted: false,
      hold: undefined,
      answered: false,
      busy: false,
      unacked: 0,
      sendWindow: this.peerInitialWindow,
      held: undefined,
    };
    this.streams.set(id, s);
    const method = header(headers, ":method");
    const type = header(headers, "content-type") ?? "";
    if (method !== "POST") {
      return this.refuse(s, Status.UNIMPLEMENTED, `gRPC calls are POST, not ${method}`, "405");
    }
    if (!/^application\/grpc($|[+;])/.test(type)) {
      return this.refuse(
        s,
        Status.UNKNOWN,
        `content-type ${JSON.stringify(type)} is not application/grpc`,
        "415",
      );
    }
    if (endStream) this.dispatch(s);
  }

  private onData(flags: number, id: number, p: Uint8Array): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    // Every DATA byte counts against the connection window, whatever becomes of the stream.
    this.connUnacked += p.length;
    if (this.connUnacked >= SETTINGS.connectionWindow / 2) {
      this.frame(Type.WINDOW_UPDATE, 0, 0, u32(this.connUnacked));
      this.connUnacked = 0;
    }
    if (id > this.lastStreamId) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
    }
    const s = this.streams.get(id);
    if (!s || s.remoteDone) {
      // Answered early or reset: what was in flight is dropped.
      if (s?.remoteDone && !s.answered) {
        throw new ConnectionError(H2Error.STREAM_CLOSED, `DATA after END_STREAM on stream ${id}`);
      }
      return;
    }
    let start = 0;
    let end = p.length;
    if (flags & PADDED) {
      if (p.length < 1 || p[0] >= p.length) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on stream ${id}: bad padding`);
      }
      start = 1;
      end -= p[0];
    }
    s.unacked += p.length;
    if (s.unacked > SETTINGS.initialWindow) {
      throw new ConnectionError(
        H2Error.FLOW_CONTROL_ERROR,
        `stream ${id} sent past its window of ${SETTINGS.initialWindow} bytes`,
      );
    }
    if (flags & END_STREAM) s.remoteDone = true;
    if (!s.answered && end > start) {
      s.chunks.push(p.slice(start, end));
      s.bytes += end - start;
      // The message's length prefix: a message over the limit is refused before it is read.
      if (s.bytes >= 5) {
        const declared = prefixLength(s.chunks, s.bytes);
        if (declared > this.o.limit) {
          s.chunks = [];
          return this.refuse(s, Status.RESOURCE_EXHAUSTED, tooLarge(declared, this.o.limit));
        }
        // Cheap rejection: no room for this message, it is answered before the rest is read.
        if (!s.admitted) {
          s.admitted = true;
          const a = this.o.admit?.(header(s.headers!, ":path") ?? "", declared);
          if (a && "refused" in a) return this.refuseWith(s, a.refused);
          s.hold = a?.hold;
        }
        if (s.bytes > 5 + declared) {
          return this.refuse(
            s,
            Status.INVALID_ARGUMENT,
            `the call sent more than one message (${s.bytes} bytes after a message of ${declared}); Export is unary`,
          );
        }
      }
    }
    if (s.remoteDone) {
      this.dispatch(s);
    } else if (!s.answered && s.unacked >= SETTINGS.initialWindow / 2) {
      this.frame(Type.WINDOW_UPDATE, 0, id, u32(s.unacked));
      s.unacked = 0;
    }
  }

  /** The request is complete: its message goes to `answer`. */
  private dispatch(s: Stream): void {
    if (s.answered || s.busy) return;
    const headers = s.headers!;
    const body = concat(s.chunks, s.bytes);
    s.chunks = [];
    if (body.length < 5) {
      return this.refuse(
        s,
        Status.INVALID_ARGUMENT,
        body.length === 0
          ? "the call ended without a message"
          : `the call ended inside a message's 5-byte prefix (${body.length} bytes)`,
      );
    }
    const flag = body[0];
    const len = ((body[1] << 24) | (body[2] << 16) | (body[3] << 8) | body[4]) >>> 0;
    if (body.length !== 5 + len) {
      return this.refuse(
        s,
        Status.INVALID_ARGUMENT,
        `the call ended after ${body.length - 5} of the message's ${len} bytes`,
      );
    }
    const encoding = header(headers, "grpc-encoding") ?? "identity";
    if (flag > 1) {
      return this.refuse(
        s,
        Status.INVALID_ARGUMENT,
        `the message's compressed flag is ${flag} (0 or 1)`,
      );
    }
    if (flag === 1 && encoding === "identity") {
      return this.refuse(
        s,
        Status.INVALID_ARGUMENT,
        "the message's compressed flag is set but grpc-encoding is identity",
      );
    }
    const call: ExportCall = {
      path: header(headers, ":path") ?? "",
      authorization: header(headers, "authorization") ?? null,
      encoding: flag === 1 ? encoding : "identity",
      bytes: body.subarray(5),
    };
    if (s.hold) call.hold = s.hold;
    s.hold = undefined;
    s.busy = true;
    const started = performance.now();
    this.o.answer(call).catch((e): Answer => ({
      code: Status.INTERNAL,
      message: `Internal error: ${String(e)}`,
    })).then((a) => {
      s.busy = false;
      this.o.answered?.(call, a, (performance.now() - started) / 1000);
      if (!s.answered && !this.ended) {
        this.respond(s, a);
        this.flush();
      }
      this.release(s);
      this.checkDrained();
    });
  }

  /** Answers a stream at once with a status (trailers-only), before or instead of `answer`. */
  private refuse(s: Stream, code: number, message: string, httpStatus = "200"): void {
    this.refuseWith(s, { code, message }, httpStatus);
  }

  private refuseWith(s: Stream, a: Answer, httpStatus = "200"): void {
    s.chunks = [];
    unhold(s);
    this.respond(s, a, httpStatus);
    // Counted as answered (the metrics), its message unread.
    const h = s.headers ?? [];
    this.o.answered?.(
      {
        path: header(h, ":path") ?? "",
        authorization: null,
        encoding: header(h, "grpc-encoding") ?? "identity",
        bytes: new Uint8Array(0),
      },
      a,
      0,
    );
    this.release(s);
  }

  private respond(s: Stream, a: Answer, httpStatus = "200"): void {
    s.answered = true;
    if (a.code === 0) {
      const response = (a as { response: Uint8Array }).response;
      this.frame(Type.HEADERS, END_HEADERS, s.id, OK_HEADERS);
      const data = new Uint8Array(5 + response.length);
      data[1] = response.length >>> 24;
      data[2] = (response.length >>> 16) & 0xff;
      data[3] = (response.length >>> 8) & 0xff;
      data[4] = response.length & 0xff;
      data.set(response, 5);
      s.held = { data, trailers: OK_TRAILERS };
      this.sendHeld();
    } else {
      const err = a as Exclude<Answer, { code: 0 }>;
      const fields: Header[] = [
        [":status", httpStatus],
        ["content-type", "application/grpc"],
        ["grpc-status", String(err.code)],
        ["grpc-message", percentEncode(err.message)],
      ];
      for (const [k, v] of Object.entries(err.metadata ?? {})) fields.push([k.toLowerCase(), v]);
      if (err.retryAfterSecs !== undefined) {
        fields.push([
          "grpc-status-details-bin",
          base64(encodeStatusWithRetryInfo(err.code, err.message, err.retryAfterSecs)),
        ]);
      }
      this.frame(Type.HEADERS, END_HEADERS | END_STREAM, s.id, encodeHeaders(fields));
      this.afterEnd(s);
    }
  }

  /** Our side ended the stream: a client still sending is told to stop (RFC 9113 §8.1). */
  private afterEnd(s: Stream): void {
    if (!s.remoteDone) {
      this.frame(Type.RST_STREAM, 0, s.id, u32(H2Error.NO_ERROR));
      s.remoteDone = true;
    }
  }

  /** Sends held DATA (and then the trailers) as far as the windows allow. */
  private sendHeld(): void {
    for (const s of this.streams.values()) {
      const h = s.held;
      if (!h) continue;
      while (h.data.length > 0) {
        const n = Math.min(h.data.length, s.sendWindow, this.connSendWindow, this.peerMaxFrame);
        if (n <= 0) break;
        this.frame(Type.DATA, 0, s.id, h.data.subarray(0, n));
        h.data = h.data.subarray(n);
        s.sendWindow -= n;
        this.connSendWindow -= n;
      }
      if (h.data.length > 0) continue;
      this.frame(Type.HEADERS, END_HEADERS | END_STREAM, s.id, h.trailers);
      s.held = undefined;
      this.afterEnd(s);
      this.release(s);
    }
    this.checkDrained();
  }

  private resetStream(id: number, code: number): void {
    this.frame(Type.RST_STREAM, 0, id, u32(code));
    this.drop(id);
  }

  /** Nothing more is sent on stream `id` (reset by either side). */
  private drop(id: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.answered = true;
    s.held = undefined;
    unhold(s);
    this.release(s);
  }

  /** Forgets a stream once its answer is neither being computed nor held back for window. */
  private release(s: Stream): void {
    if (!s.busy && s.held === undefined) this.streams.delete(s.id);
  }

  /** A connection error: GOAWAY with its code and message, then the end (RFC 9113 §5.4.1). */
  private fail(code: number, message: string): void {
    if (this.ended) return;
    this.o.onError?.(message);
    this.frame(Type.GOAWAY, 0, 0, goawayPayload(this.lastStreamId, code, message));
    this.flush();
    this.ended = true;
    for (const s of this.streams.values()) {
      s.answered = true;
      unhold(s);
    }
    this.o.end();
    this.checkDrained();
  }

  private frame(type: number, flags: number, id: number, payload: Uint8Array): void {
    const f = new Uint8Array(9 + payload.length);
    f[0] = payload.length >>> 16;
    f[1] = (payload.length >>> 8) & 0xff;
    f[2] = payload.length & 0xff;
    f[3] = type;
    f[4] = flags;
    f[5] = (id >>> 24) & 0x7f;
    f[6] = (id >>> 16) & 0xff;
    f[7] = (id >>> 8) & 0xff;
    f[8] = id & 0xff;
    f.set(payload, 9);
    this.out.push(f);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes the frames queued so far, as one piece. */
  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0) return;
    const out = this.out;
    this.out = [];
    if (this.ended) return;
    this.o.write(out.length === 1 ? out[0] : concat(out, out.reduce((n, x) => n + x.length, 0)));
  }
}

/** The header blocks of every OK answer (the encoder never indexes: the same bytes each time). */
const OK_HEADERS = encodeHeaders([
  [":status", "200"],
  ["content-type", "application/grpc"],
  ["grpc-accept-encoding", ACCEPT_ENCODING],
]);
const OK_TRAILERS = encodeHeaders([["grpc-status", "0"]]);

function settingsPayload(): Uint8Array {
  const entries: Array<[number, number]> = [
    [0x2, 0], // ENABLE_PUSH
    [0x3, SETTINGS.maxConcurrentStreams],
    [0x4, SETTINGS.initialWindow],
    [0x5, SETTINGS.maxFrameSize],
    [0x6, SETTINGS.maxHeaderListSize],
  ];
  const p = new Uint8Array(6 * entries.length);
  entries.forEach(([k, v], n) => {
    p[6 * n] = k >> 8;
    p[6 * n + 1] = k & 0xff;
    p.set(u32(v), 6 * n + 2);
  });
  return p;
}

function goawayPayload(lastId: number, code: number, message: string): Uint8Array {
  const debug = new TextEncoder().encode(message);
  const p = new Uint8Array(8 + debug.length);
  p.set(u32(lastId & 0x7fffffff), 0);
  p.set(u32(code), 4);
  p.set(debug, 8);
  return p;
}

function u32(v: number): Uint8Array {
  return new Uint8Array([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

function startsLike(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let k = 0; k < n; k++) if (buf[k] !== prefix[k]) return false;
  return true;
}

/** The length in a gRPC message's 5-byte prefix, from the first chunks of a body. */
function prefixLength(chunks: Uint8Array[], total: number): number {
  const head = chunks[0].length >= 5 ? chunks[0] : concat(chunks, total);
  return ((head[1] << 24) | (head[2] << 16) | (head[3] << 8) | head[4]) >>> 0;
}

function header(headers: Header[], name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

function tooLarge(n: number, limit: number): string {
  return `Message of ${n} bytes is larger than the limit of ${limit} bytes (grpc.max_recv_msg_bytes); send smaller batches`;
}

/** `grpc-message` encoding: UTF-8, then bytes outside printable ASCII and '%' as %XX. */
export function percentEncode(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let out = "";
  for (const b of bytes) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25
      ? String.fromCharCode(b)
      : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function base64(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}
