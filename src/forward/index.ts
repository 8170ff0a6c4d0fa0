/**
 * Forwarding: every request this server accepted is also sent to the `[[forward]]`
 * destinations (a vendor, another Collector, a second region), without delaying or failing
 * the client's answer and without losing what was accepted:
 *
 *   accepted request ──► answered as always (the writer has it: stored or in the WAL)
 *        │
 *        └─► forwarder.accepted() ──► one queue per destination (./queue.ts; on disk beside
 *             the write-ahead log on servers, bounded by max_queue_bytes, oldest dropped)
 *                                       │
 *                                       ▼
 *             a sender loop per destination: circuit breaker (./breaker.ts) → format for
 *             the target protocol → OTLP/HTTP (fetch) or OTLP/gRPC (./grpc.node.ts)
 *             (./send.ts: what each answer means; retries honour Retry-After / RetryInfo)
 *
 * Server mode (`mode: "queue"`): a loop per destination sends the queued requests in order,
 * several of one signal merged into one export (up to `BATCH_BYTES`); a 4xx for a merged
 * export sends its requests again one by one, so one bad request never takes others with it.
 * Workers and Lambda (`mode: "best-effort"`): no loop outlives a request there, so each
 * accepted request is sent at once (one retry) and the entry hands the promise to `waitUntil`;
 * while the breaker is open, or after the retry, the request is dropped and counted.
 *
 * Metrics (on /metrics): otlp2parquet_forward_requests_total and _records_total by destination
 * and outcome (sent, rejected, dropped, failed), queue bytes, requests and oldest age, breaker
 * state (0 closed, 1 half-open, 2 open) and openings, send failures.
 */
import type { ForwardConfig } from "../config/forward.ts";
import { describeForward } from "../config/forward.ts";
import type { WalFs } from "../batch/wal/wal.ts";
import type { Format } from "../core/otlp/types.ts";
import type { Coding, Inflate } from "../codec/index.ts";
import type { Signal } from "../core/tables.ts";
import type { Logger } from "../log/log.ts";
import type { Registry } from "../metrics/registry.ts";
import { backoffMs, Breaker, BREAKER_STATE_VALUE } from "./breaker.ts";
import { type Entry, ForwardQueue } from "./queue.ts";
import {
  httpSender,
  outgoing,
  refusedJoin,
  type Sender,
  type SendResult,
  serverError,
} from "./send.ts";

export type { ForwardConfig };
export { Breaker } from "./breaker.ts";
export { ForwardQueue } from "./queue.ts";

/** Queued requests merged into one export, at most. */
export const BATCH_BYTES = 4 * 1024 * 1024;
export const BATCH_REQUESTS = 256;
/** Sends of one export answered with a non-retryable 5xx (500, 501…) before it is dropped. */
export const MAX_SERVER_ERRORS = 5;
/** Drop warnings are logged at most this often per destination (the counter has them all). */
const DROP_LOG_EVERY_MS = 10_000;

export interface AcceptedRequest {
  signal: Signal;
  format: Format;
  /** The decompressed body (kept, never changed: the caller must not reuse its memory). */
  body: Uint8Array;
  /**
   * The body as it came when it was compressed: queued instead of `body` when it has one
   * coding (fewer bytes to write and keep), and sent as it is when it fits the destination.
   */
  encoded?: { encodings: readonly Coding[]; bytes: Uint8Array };
  records: number;
}

export interface ForwarderOptions {
  destinations: readonly ForwardConfig[];
  logger: Logger;
  /** The /metrics registry (`ServiceMetrics.registry`). */
  registry?: Registry;
  /** "queue": a loop per destination over a queue (servers); "best-effort": Workers, Lambda. */
  mode: "queue" | "best-effort";
  /** With `mode: "queue"`: the queues' directory (one sub-directory per destination) and files. */
  dir?: string;
  fs?: WalFs;
  /** gRPC destinations (servers): ./grpc.node.ts's `grpcSender`, imported by the entry. */
  grpcSender?: (dest: ForwardConfig) => Promise<Sender>;
  /** gzip for outgoing bodies; servers pass node:zlib's, off the event loop (../codec/zlib.node.ts). */
  gzip?: (data: Uint8Array, owned?: boolean) => Promise<Uint8Array>;
  /** The platform's gzip/deflate decoder, for merging queued compressed bodies. */
  inflate?: Inflate;
  /**
   * Memory for a merged export (the queued requests concatenated): servers pass their gzip's
   * pool (`Gzip.buffer`, ../codec/zlib.node.ts), which takes the memory back once it has
   * compressed the export, so merging needs no fresh zero-filled megabyte each time. Fresh
   * memory when unset.
   */
  mergeBuffer?: (bytes: number) => Uint8Array;
  /** For tests: a fetch of their own. */
  fetch?: typeof fetch;
}

export interface DestinationStats {
  name: string;
  /** Circuit breaker: "closed", "half-open" or "open". */
  state: string;
  queueBytes: number;
  /** The destination's max_queue_bytes. */
  maxQueueBytes: number;
  queueRequests: number;
  oldestAgeSecs: number;
  sentRequests: number;
  sentRecords: number;
  rejectedRequests: number;
  rejectedRecords: number;
  droppedRequests: number;
  droppedRecords: number;
  failedRequests: number;
  partialRejectedRecords: number;
  sendFailures: number;
  breakerOpened: number;
}

export interface Forwarder {
  /**
   * Called once a request was accepted (after the writer has it). Never throws. In best-effort
   * mode returns the sends' promise, for `waitUntil`.
   */
  accepted(req: AcceptedRequest): Promise<void> | undefined;
  stats(): DestinationStats[];
  /** Resolves once every queued request so far is written to the queue files. */
  settle(): Promise<void>;
  /**
   * Waits, at most `timeoutMs`, until nothing accepted so far is left to send: every queue
   * empty (sent, rejected or dropped) and no best-effort send in flight. Resolves true when
   * that was reached, false at the timeout (what is left stays queued, or is dropped by the
   * best-effort sends' own bounds).
   */
  drain(timeoutMs: number): Promise<boolean>;
  /** Stops the loops (queued requests stay on disk for the next start). */
  close(): Promise<void>;
}

/**
 * How long a best-effort send can take at most: two attempts of `timeout_ms` and the backoff
 * between them (at most 1 s), for the slowest destination. Lambda waits this long at most
 * after answering, so an invocation never returns with a send still in flight.
 */
export function bestEffortBoundMs(destinations: readonly ForwardConfig[]): number {
  let ms = 0;
  for (const d of destinations) ms = Math.max(ms, 2 * d.timeout_ms + 1000);
  return ms;
}

/** The forwarder of `destinations`, or undefined when there are none. */
export async function createForwarder(opts: ForwarderOptions): Promise<Forwarder | undefined> {
  if (opts.destinations.length === 0) return undefined;
  const dests: Destination[] = [];
  for (const d of opts.destinations) {
    const sender = d.protocol === "grpc"
      ? await grpcOrFail(opts, d)
      : httpSender(d, opts.fetch ?? ((...a) => fetch(...a)), opts.gzip);
    const durable = opts.mode === "queue" && opts.fs !== undefined && opts.dir !== undefined;
    const dest = new Destination(d, sender, opts.logger, opts.inflate, opts.mergeBuffer);
    dest.queue = await ForwardQueue.open({
      maxBytes: d.max_queue_bytes,
      dir: durable ? `${opts.dir}/${d.name}` : undefined,
      fs: durable ? opts.fs : undefined,
      onDrop: (x) => dest.dropped(x),
      onError: (what, e) =>
        opts.logger.error(
          "cannot write the forward queue: queued requests are kept in memory only",
          {
            destination: d.name,
            what,
            error: e instanceof Error ? e.message : String(e),
          },
        ),
    });
    if (dest.queue.recovered > 0) {
      opts.logger.info("forward queue read back", {
        destination: d.name,
        requests: dest.queue.recovered,
        bytes: dest.queue.bytes,
      });
    }
    dests.push(dest);
    opts.logger.info("forwarding", {
      ...describeForward(d),
      queue: durable
        ? `${opts.dir}/${d.name}`
        : opts.mode === "queue"
        ? "memory"
        : "none (best effort)",
    });
  }
  if (opts.registry) register(opts.registry, dests);
  if (opts.mode === "queue") { for (const d of dests) d.start(); }
  /** Best-effort sends in flight (awaited by `drain`). */
  const inFlight = new Set<Promise<void>>();
  const idle = () => inFlight.size === 0 && dests.every((d) => d.queue.length === 0);
  return {
    accepted(req) {
      const sends: Promise<void>[] = [];
      const one = req.encoded?.encodings.length === 1 ? req.encoded : undefined;
      const base = { signal: req.signal, format: req.format, records: req.records };
      for (const d of dests) {
        if (!d.config.signals.includes(req.signal)) continue;
        // Queued as it came (compressed), with the decoded body beside it in memory.
        const item = one
          ? { ...base, body: one.bytes, coding: one.encodings[0], plain: req.body }
          : { ...base, body: req.body };
        if (opts.mode === "queue") d.queue.push(item);
        else sends.push(d.sendNow(item));
      }
      if (sends.length === 0) return undefined;
      const all = Promise.all(sends).then(() => {});
      inFlight.add(all);
      all.finally(() => inFlight.delete(all)).catch(() => {});
      return all;
    },
    async drain(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!idle()) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          // A queue's length changes when the remote answers: look again every 20 ms.
          inFlight.size > 0 ? Promise.allSettled([...inFlight]) : new Promise<void>(() => {}),
          new Promise<void>((r) => timer = setTimeout(r, Math.min(left, 20))),
        ]);
        clearTimeout(timer);
      }
      return true;
    },
    stats: () => dests.map((d) => d.stats()),
    async settle() {
      for (const d of dests) await d.queue.settle();
    },
    async close() {
      await Promise.all(dests.map((d) => d.stop()));
    },
  };
}

async function grpcOrFail(opts: ForwarderOptions, d: ForwardConfig): Promise<Sender> {
  if (!opts.grpcSender) {
    throw new Error(
      `forward destination ${
        JSON.stringify(d.name)
      }: protocol = "grpc" needs the server (Deno, Bun, Node); use "http/protobuf" on Workers and Lambda`,
    );
  }
  return await opts.grpcSender(d);
}

class Destination {
  queue!: ForwardQueue;
  readonly breaker: Breaker;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private lastDropLog = 0;
  private unloggedDrops = { requests: 0, records: 0, bytes: 0 };
  /**
   * Queued gzip'd protobuf requests go joined as they came (./send.ts) to an http/protobuf
   * destination with gzip, until it refuses such a body.
   */
  private joinGzip: boolean;
  readonly counts = {
    sentRequests: 0,
    sentRecords: 0,
    rejectedRequests: 0,
    rejectedRecords: 0,
    droppedRequests: 0,
    droppedRecords: 0,
    failedRequests: 0,
    partialRejectedRecords: 0,
    sendFailures: 0,
  };

  constructor(
    readonly config: ForwardConfig,
    readonly sender: Sender,
    readonly logger: Logger,
    readonly inflate?: Inflate,
    readonly mergeBuffer?: (bytes: number) => Uint8Array,
  ) {
    this.breaker = new Breaker(config.failure_threshold, config.open_secs * 1000);
    this.joinGzip = config.protocol === "http/protobuf" && config.compression === "gzip";
  }

  start(): void {
    this.loop = this.run().catch((e) => {
      this.logger.error("forward loop stopped by an unexpected error", {
        destination: this.config.name,
        error: e instanceof Error ? e.message : String(e),
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.queue.close();
    await this.loop;
    this.sender.close();
  }

  stats(): DestinationStats {
    // Reading the state moves an expired open breaker to half-open only when sending.
    return {
      name: this.config.name,
      state: this.breaker.state,
      queueBytes: this.queue.bytes,
      maxQueueBytes: this.config.max_queue_bytes,
      queueRequests: this.queue.length,
      oldestAgeSecs: this.queue.oldestAgeSecs(),
      ...this.counts,
      breakerOpened: this.breaker.opened,
    };
  }

  /** Entries dropped from the queue to stay within max_queue_bytes. */
  dropped(x: { requests: number; records: number; bytes: number }): void {
    this.counts.droppedRequests += x.requests;
    this.counts.droppedRecords += x.records;
    this.unloggedDrops.requests += x.requests;
    this.unloggedDrops.records += x.records;
    this.unloggedDrops.bytes += x.bytes;
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_EVERY_MS) {
      this.lastDropLog = now;
      this.logger.warn("forward queue full: oldest requests dropped", {
        destination: this.config.name,
        max_queue_bytes: this.config.max_queue_bytes,
        ...this.unloggedDrops,
        total_dropped_records: this.counts.droppedRecords,
      });
      this.unloggedDrops = { requests: 0, records: 0, bytes: 0 };
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let serverErrors = 0;
    /** Entries up to this id go one by one (a merged export was rejected). */
    let singleUntil = 0;
    while (!this.stopping) {
      const head = this.queue.head();
      const max = head && head.id <= singleUntil ? 1 : BATCH_REQUESTS;
      const batch = await this.queue.take(BATCH_BYTES, max);
      if (!batch || this.stopping) return;
      const wait = this.breaker.waitMs();
      if (wait > 0) {
        await this.sleep(wait);
        continue;
      }
      const probe = this.breaker.state === "half-open";
      const r = await this.send(batch);
      if (this.stopping && r.kind === "retry") return;
      const last = batch[batch.length - 1].id;
      const records = batch.reduce((n, e) => n + e.records, 0);
      if (r.kind === "ok") {
        this.queue.done(last);
        attempt = serverErrors = 0;
        this.counts.sentRequests += batch.length;
        this.counts.sentRecords += records;
        if (r.rejected > 0) {
          this.counts.partialRejectedRecords += r.rejected;
          this.logger.warn("forward destination accepted part of a request", {
            destination: this.config.name,
            rejected: r.rejected,
            message: r.message,
          });
        }
        if (this.breaker.success() !== "closed") {
          this.logger.info("forward destination is back: circuit breaker closed", {
            destination: this.config.name,
            queued_requests: this.queue.length,
          });
        }
        continue;
      }
      if (r.kind === "reject") {
        // The remote answered, so it is up; only this request is bad.
        this.breaker.success();
        attempt = serverErrors = 0;
        if (batch.length > 1) {
          singleUntil = last;
          continue;
        }
        this.queue.done(last);
        this.counts.rejectedRequests++;
        this.counts.rejectedRecords += records;
        this.logger.warn("forward destination rejected a request: dropped", {
          destination: this.config.name,
          status: r.status,
          records,
          message: r.message,
        });
        continue;
      }
      // retry
      this.counts.sendFailures++;
      attempt++;
      if (serverError(r)) {
        if (++serverErrors >= MAX_SERVER_ERRORS) {
          if (batch.length > 1) {
            singleUntil = last;
            serverErrors = 0;
            continue;
          }
          this.queue.done(last);
          serverErrors = 0;
          this.counts.failedRequests++;
          this.logger.warn("forward destination failed a request repeatedly: dropped", {
            destination: this.config.name,
            status: r.status,
            attempts: MAX_SERVER_ERRORS,
            records,
            message: r.message,
          });
          continue;
        }
      }
      const opened = this.breaker.failure(r.retryAfterMs ?? 0);
      if (opened) {
        this.logger.warn(
          probe
            ? "forward destination still failing: circuit breaker open again"
            : "forward destination failing: circuit breaker open",
          {
            destination: this.config.name,
            status: r.status,
            message: r.message,
            open_secs: Math.round((this.breaker.openUntil - Date.now()) / 1000),
            queued_requests: this.queue.length,
            queued_bytes: this.queue.bytes,
          },
        );
        continue; // the next turn waits while it is open
      }
      if (this.logger.debugEnabled) {
        this.logger.debug("forward send failed: retrying", {
          destination: this.config.name,
          status: r.status,
          message: r.message,
          attempt,
        });
      }
      await this.sleep(Math.max(r.retryAfterMs ?? 0, backoffMs(attempt)));
    }
  }

  private async send(batch: Entry[]): Promise<SendResult> {
    try {
      const items = batch.map((e) => ({
        format: e.format,
        body: e.body!,
        coding: e.coding,
        plain: e.plain ?? undefined,
      }));
      const build = (join: boolean) =>
        outgoing(batch[0].signal, items, this.inflate, this.mergeBuffer, join);
      const out = build(this.joinGzip);
      const r = await this.sender.send(out);
      if (!out.joined || !refusedJoin(r)) return r;
      // Refused joined: sent again compressed as one member. Taken that way, the destination
      // cannot read gzip bodies of several members (refused again, a request in it is bad).
      const again = await this.sender.send(build(false));
      if (again.kind === "ok") {
        this.joinGzip = false;
        this.logger.warn(
          "forward destination refused gzip'd requests joined as they came: its exports are compressed again",
          { destination: this.config.name, status: r.status, message: r.message },
        );
      }
      return again;
    } catch (e) {
      // Building the body failed (it was decoded when accepted, so this is a bug): drop it.
      return {
        kind: "reject",
        status: "internal",
        message: e instanceof Error ? e.message : String(e),
      };
    }
  }

  /** Best-effort mode: one request sent now (one retry), dropped when it cannot go. */
  async sendNow(
    item: { signal: Signal; format: Format; body: Uint8Array; coding?: Coding; records: number },
  ) {
    if (this.breaker.waitMs() > 0) {
      this.counts.droppedRequests++;
      this.counts.droppedRecords += item.records;
      return;
    }
    for (let attempt = 1; attempt <= 2; attempt++) {
      let r: SendResult;
      try {
        r = await this.sender.send(outgoing(item.signal, [item], this.inflate));
      } catch (e) {
        r = { kind: "reject", status: "internal", message: String(e) };
      }
      if (r.kind === "ok") {
        this.breaker.success();
        this.counts.sentRequests++;
        this.counts.sentRecords += item.records;
        this.counts.partialRejectedRecords += r.rejected;
        return;
      }
      if (r.kind === "reject") {
        this.counts.rejectedRequests++;
        this.counts.rejectedRecords += item.records;
        this.logger.warn("forward destination rejected a request: dropped", {
          destination: this.config.name,
          status: r.status,
          message: r.message,
        });
        return;
      }
      this.counts.sendFailures++;
      if (this.breaker.failure(r.retryAfterMs ?? 0)) {
        this.logger.warn("forward destination failing: circuit breaker open", {
          destination: this.config.name,
          status: r.status,
          message: r.message,
        });
        break;
      }
      if (attempt === 1) await new Promise((res) => setTimeout(res, Math.min(1000, backoffMs(1))));
    }
    this.counts.failedRequests++;
    this.counts.droppedRecords += item.records;
  }
}

function register(r: Registry, dests: Destination[]): void {
  const requests = r.counter({
    name: "otlp2parquet_forward_requests_total",
    help:
      "Accepted requests by forward destination and outcome: sent, rejected (4xx, dropped), dropped (queue full, or best effort), failed (given up).",
    labels: ["destination", "outcome"],
  });
  const records = r.counter({
    name: "otlp2parquet_forward_records_total",
    help:
      "Records (log records, spans, data points) by forward destination and outcome: sent, rejected, dropped, partial_rejected (the remote's partial success).",
    labels: ["destination", "outcome"],
  });
  const qBytes = r.gauge({
    name: "otlp2parquet_forward_queue_bytes",
    help: "Bytes of requests queued for a forward destination.",
    labels: ["destination"],
  });
  const qRequests = r.gauge({
    name: "otlp2parquet_forward_queue_requests",
    help: "Requests queued for a forward destination.",
    labels: ["destination"],
  });
  const qAge = r.gauge({
    name: "otlp2parquet_forward_queue_oldest_age_seconds",
    help: "Age of the oldest request queued for a forward destination.",
    labels: ["destination"],
  });
  const state = r.gauge({
    name: "otlp2parquet_forward_breaker_state",
    help: "Circuit breaker of a forward destination: 0 closed, 1 half-open, 2 open.",
    labels: ["destination"],
  });
  const opened = r.counter({
    name: "otlp2parquet_forward_breaker_opened_total",
    help: "Times the circuit breaker of a forward destination opened.",
    labels: ["destination"],
  });
  const failures = r.counter({
    name: "otlp2parquet_forward_send_failures_total",
    help:
      "Exports to a forward destination that failed and were retried (network, timeout, 429, 5xx).",
    labels: ["destination"],
  });
  r.collect(() => {
    for (const d of dests) {
      const s = d.stats();
      const destination = s.name;
      requests.with({ destination, outcome: "sent" }).set(s.sentRequests);
      requests.with({ destination, outcome: "rejected" }).set(s.rejectedRequests);
      requests.with({ destination, outcome: "dropped" }).set(s.droppedRequests);
      requests.with({ destination, outcome: "failed" }).set(s.failedRequests);
      records.with({ destination, outcome: "sent" }).set(s.sentRecords);
      records.with({ destination, outcome: "rejected" }).set(s.rejectedRecords);
      records.with({ destination, outcome: "dropped" }).set(s.droppedRecords);
      records.with({ destination, outcome: "partial_rejected" }).set(s.partialRejectedRecords);
      qBytes.with({ destination }).set(s.queueBytes);
      qRequests.with({ destination }).set(s.queueRequests);
      qAge.with({ destination }).set(s.oldestAgeSecs);
      state.with({ destination }).set(BREAKER_STATE_VALUE[d.breaker.state]);
      opened.with({ destination }).set(s.breakerOpened);
      failures.with({ destination }).set(s.sendFailures);
    }
  });
}
