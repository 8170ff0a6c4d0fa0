/**
 * Batching on Cloudflare Workers: a Durable Object per (table, service), with SQLite storage.
 *
 * - The Worker's writer (`createDurableObjectWriter`) sends each request's decompressed body
 *   (with signal, format and receive time) to the object of every (table, service) its rows
 *   belong to (`idFromName`). The object stores it in its SQLite database in the same call and
 *   only then answers, so the Worker answers 200 once the request is durable there (the
 *   object's output gate holds the answer until the write is confirmed).
 * - The object flushes from its alarm: `batch.max_age_secs` after the first stored request, or
 *   at once when the stored requests reach `batch.max_rows` rows or `batch.max_bytes` request
 *   bytes (at most `MAX_BATCH_BYTES`). A flush decodes the stored requests again (decoding is deterministic), keeps the
 *   rows of its own (table, service), and stores one Parquet file per hour. A file's id is a
 *   hash of the object's batch number, table, service and hour, so a retried flush overwrites
 *   the same keys instead of duplicating rows. Stored requests are deleted only after every file
 *   of the batch is stored.
 * - A failed flush is retried from the alarm with backoff (1 s, 2 s, 4 s … up to 5 min); after
 *   `batch.max_flush_attempts` failures the batch's raw requests are stored under
 *   `batch.dead_letter_prefix` (one object per request, re-sendable as is) and dropped.
 *
 * - Iceberg mode (`catalog.mode = "iceberg"`): every file a flush stores goes on the object's
 *   pending list (table `iceberg_pending`, written before the batch's requests are deleted, so a
 *   stored file is never missing from it), and the alarm commits the list every
 *   `commit_interval_secs` (../catalog/committer.ts: exactly once, with retries).
 *
 * SQLite rows in a Durable Object are limited to 2 MB, so bodies are stored in 1 MiB chunks.
 */
import { type Config, parquetOptions } from "../config/types.ts";
import { loadConfig } from "../config/load.ts";
import { convertRequest } from "../core/convert.ts";
import type { Format } from "../core/otlp/types.ts";
import { usesNative } from "../core/parquet/encode.ts";
import { outputEncoder, prepareOutput } from "./output.ts";
import { objectKey, safeSegment } from "../core/partition.ts";
import { type Signal, type TableBuilder, tableDir, type TableName } from "../core/tables.ts";
import type { Logger } from "../log/log.ts";
import { NO_WRITER_STATS, type Writer, type WriteRequest, type WriterStats } from "./types.ts";
import { bindingStorage } from "../storage/r2.ts";
import { type StorageDriver, StorageError } from "../storage/types.ts";
import { loggerFor } from "../log/logger.ts";
import { createIceberg, type IcebergCommitter, type KeyValueStore } from "../catalog/index.ts";

// ---------------------------------------------------------------------------------------------
// Workers types used here (no @cloudflare/workers-types dependency)

export interface DurableObjectStubLike {
  fetch(request: Request): Promise<Response>;
}

export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): DurableObjectStubLike;
}

interface SqlCursor {
  toArray(): Record<string, unknown>[];
}

interface DurableObjectStateLike {
  storage: {
    sql: { exec(query: string, ...bindings: unknown[]): SqlCursor };
    transactionSync<T>(fn: () => T): T;
    getAlarm(): Promise<number | null>;
    setAlarm(at: number): Promise<void>;
  };
}

const CHUNK = 1024 * 1024;
const MAX_BACKOFF_MS = 300_000;
/**
 * Request bytes a batch may reach before it is flushed, whatever `batch.max_bytes` says: a
 * Durable Object has 128 MB of memory, and a flush holds the bodies, their decoded columns and
 * the Parquet file at once.
 */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** The Durable Object name of a (table, service) pair. */
export function batcherName(table: TableName, service: string): string {
  return `${table}\u0000${service}`;
}

/** The configuration from a Worker's env (vars, secrets; bindings are ignored). */
export function workerConfig(env: Record<string, unknown>): Config {
  const vars: Record<string, string> = { CF_WORKER: "1" };
  for (const [k, v] of Object.entries(env)) if (typeof v === "string") vars[k] = v;
  return loadConfig({ platform: "workers", env: vars });
}

/** The Durable Object namespace named by `batch.do_binding`; throws `TypeError` when missing. */
export function batcherNamespace(
  env: Record<string, unknown>,
  config: Config,
): DurableObjectNamespaceLike {
  const ns = env[config.batch.do_binding] as DurableObjectNamespaceLike | undefined;
  if (!ns || typeof ns.idFromName !== "function" || typeof ns.get !== "function") {
    throw new TypeError(
      `Invalid config: batch.do_binding = "${config.batch.do_binding}": no Durable Object binding of that name (add [[durable_objects.bindings]] name = "${config.batch.do_binding}", class_name = "OtlpBatcher" to wrangler.toml, or set batch.enabled = false)`,
    );
  }
  return ns;
}

// ---------------------------------------------------------------------------------------------
// The Worker side

/**
 * A writer that hands each request to the Durable Object of every (table, service) pair of its
 * rows and resolves once all of them have stored it. Rejects with a retryable `StorageError`
 * when one of them did not (the client retries; pairs that had stored it then hold it twice).
 */
export function createDurableObjectWriter(ns: DurableObjectNamespaceLike, logger: Logger): Writer {
  const stats = { forwarded: 0, failures: 0 };
  return {
    async write(req: WriteRequest): Promise<void> {
      const pairs = new Map<string, { table: TableName; service: string; rows: number }>();
      for (const p of req.partitions) {
        if (p.rows.length === 0) continue;
        const k = batcherName(p.table, p.service);
        const e = pairs.get(k);
        if (e) e.rows += p.rows.length;
        else pairs.set(k, { table: p.table, service: p.service, rows: p.rows.length });
      }
      const sends = [...pairs].map(async ([name, pair]) => {
        const stub = ns.get(ns.idFromName(name));
        let res: Response;
        try {
          res = await stub.fetch(
            new Request("https://otlp-batcher/append", {
              method: "POST",
              body: req.body as Uint8Array<ArrayBuffer>,
              headers: {
                "x-signal": req.signal,
                "x-format": req.format,
                "x-received-ns": String(req.receivedAtNs),
                "x-table": pair.table,
                "x-service": encodeURIComponent(pair.service),
                "x-rows": String(pair.rows),
              },
            }),
          );
        } catch (e) {
          throw new StorageError(
            `Cannot hand the request to the batching Durable Object of ${pair.table}/${
              JSON.stringify(pair.service)
            }: ${e instanceof Error ? e.message : String(e)}`,
            true,
            { cause: e },
          );
        }
        if (!res.ok) {
          const text = await res.text();
          throw new StorageError(
            `Cannot hand the request to the batching Durable Object of ${pair.table}/${
              JSON.stringify(pair.service)
            }: ${res.status} ${text}`,
            true,
          );
        }
        await res.body?.cancel();
      });
      const results = await Promise.allSettled(sends);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) {
        stats.failures++;
        logger.warn("batching Durable Object did not store a request", {
          error: failed.reason instanceof Error ? failed.reason.message : String(failed.reason),
        });
        throw failed.reason;
      }
      stats.forwarded++;
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stats(): WriterStats {
      return {
        ...NO_WRITER_STATS,
        flushFailures: stats.failures,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The Durable Object

let loadWasm: (() => Promise<void>) | undefined;

/**
 * The Worker entry gives how to load parquet-wasm (a module beside the bundle), which the object
 * loads before encoding when its Parquet settings need it (`workerNeedsWasm`).
 */
export function setBatcherWasm(load: () => Promise<void>): void {
  loadWasm = load;
}

/**
 * Whether `config` has parquet-wasm write Parquet on Workers: zstd and lz4_raw (no compressor
 * for the native encoder there) or `parquet.encoder = "wasm"`. Throws when `parquet.encoder =
 * "native"` cannot write its codec there.
 */
export function workerNeedsWasm(config: Config): boolean {
  return config.output.format === "parquet" && !usesNative(parquetOptions(config));
}

interface Setup {
  config: Config;
  storage: StorageDriver;
  logger: Logger;
  iceberg?: IcebergCommitter;
}

/** The pending list of an object, in its SQLite storage. */
function sqlKeyValue(ctx: DurableObjectStateLike): KeyValueStore {
  const sql = ctx.storage.sql;
  return {
    put(name, data) {
      sql.exec("INSERT OR REPLACE INTO iceberg_pending (name, data) VALUES (?, ?)", name, data);
      return Promise.resolve();
    },
    get(name) {
      const [r] = sql.exec("SELECT data FROM iceberg_pending WHERE name = ?", name).toArray();
      return Promise.resolve(r ? new Uint8Array(r.data as ArrayBuffer) : null);
    },
    list() {
      const rows = sql.exec("SELECT name FROM iceberg_pending ORDER BY name").toArray();
      return Promise.resolve(rows.map((r) => String(r.name)));
    },
    delete(name) {
      sql.exec("DELETE FROM iceberg_pending WHERE name = ?", name);
      return Promise.resolve();
    },
  };
}

/** The batching Durable Object (class name `OtlpBatcher` in wrangler.toml, SQLite storage). */
export class OtlpBatcher {
  readonly #ctx: DurableObjectStateLike;
  readonly #env: Record<string, unknown>;
  #setup: Setup | undefined;

  constructor(ctx: DurableObjectStateLike, env: Record<string, unknown>) {
    this.#ctx = ctx;
    this.#env = env;
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS requests (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, signal TEXT NOT NULL, format TEXT NOT NULL,
      received_ns TEXT NOT NULL, rows INTEGER NOT NULL, bytes INTEGER NOT NULL,
      stored_ms INTEGER NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS chunks (
      seq INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (seq, idx))`);
    sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    sql.exec(
      `CREATE TABLE IF NOT EXISTS iceberg_pending (name TEXT PRIMARY KEY, data BLOB NOT NULL)`,
    );
  }

  async #init(): Promise<Setup> {
    if (this.#setup) return this.#setup;
    const config = workerConfig(this.#env);
    const logger = loggerFor(config, (line) => console.log(line));
    if (workerNeedsWasm(config)) {
      if (!loadWasm) throw new Error("internal: the Worker entry did not give parquet-wasm");
      await loadWasm();
    }
    const storage = bindingStorage(config, this.#env, logger);
    const iceberg = config.catalog.mode === "iceberg"
      ? createIceberg({ config, storage, logger, pending: sqlKeyValue(this.#ctx) })
      : undefined;
    this.#setup = { config, storage, logger, iceberg };
    return this.#setup;
  }

  #meta(key: string): string | undefined {
    const rows = this.#ctx.storage.sql.exec("SELECT value FROM meta WHERE key = ?", key).toArray();
    return rows.length ? String(rows[0].value) : undefined;
  }

  #setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.#ctx.storage.sql.exec("DELETE FROM meta WHERE key = ?", key);
    else {this.#ctx.storage.sql.exec(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        key,
        value,
      );}
  }

  async fetch(request: Request): Promise<Response> {
    try {
      const { config } = await this.#init();
      const url = new URL(request.url);
      if (request.method === "POST" && url.pathname === "/append") {
        return await this.#append(request, config);
      }
      if (request.method === "GET" && url.pathname === "/status") {
        return Response.json(this.#status());
      }
      return new Response("not found", { status: 404 });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      console.error(message);
      return new Response(message, { status: 503 });
    }
  }

  #status(): { requests: number; rows: number; bytes: number; batch: number; attempts: number } {
    const sql = this.#ctx.storage.sql;
    const [t] = sql.exec(
      "SELECT count(*) AS n, coalesce(sum(rows), 0) AS r, coalesce(sum(bytes), 0) AS b FROM requests",
    )
      .toArray();
    return {
      requests: Number(t.n),
      rows: Number(t.r),
      bytes: Number(t.b),
      batch: Number(this.#meta("batch_no") ?? 0),
      attempts: Number(this.#meta("attempts") ?? 0),
    };
  }

  async #append(request: Request, config: Config): Promise<Response> {
    const h = request.headers;
    const signal = h.get("x-signal") as Signal, format = h.get("x-format") as Format;
    const table = h.get("x-table") as TableName,
      service = decodeURIComponent(h.get("x-service") ?? "");
    const receivedNs = h.get("x-received-ns") ?? "0", rows = Number(h.get("x-rows") ?? 0);
    const body = new Uint8Array(await request.arrayBuffer());
    const sql = this.#ctx.storage.sql;
    this.#ctx.storage.transactionSync(() => {
      if (this.#meta("table") === undefined) {
        this.#setMeta("table", table);
        this.#setMeta("service", service);
      }
      const [r] = sql.exec(
        "INSERT INTO requests (signal, format, received_ns, rows, bytes, stored_ms) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
        signal,
        format,
        receivedNs,
        rows,
        body.length,
        Date.now(),
      ).toArray();
      const seq = Number(r.seq);
      for (let i = 0, idx = 0; i < body.length || idx === 0; i += CHUNK, idx++) {
        sql.exec(
          "INSERT INTO chunks (seq, idx, data) VALUES (?, ?, ?)",
          seq,
          idx,
          body.slice(i, i + CHUNK).buffer,
        );
      }
    });
    await this.#schedule(config);
    return new Response(null, { status: 204 });
  }

  /** Sets the alarm: now when the stored requests are over a threshold, else at their age limit. */
  async #schedule(config: Config, retryAt?: number): Promise<void> {
    const s = this.#status();
    if (s.requests === 0) return;
    let at: number;
    if (retryAt !== undefined) at = retryAt;
    else if (
      s.rows >= config.batch.max_rows ||
      s.bytes >= Math.min(config.batch.max_bytes, MAX_BATCH_BYTES)
    ) {
      at = Date.now();
    } else {
      const [o] = this.#ctx.storage.sql.exec("SELECT min(stored_ms) AS t FROM requests").toArray();
      at = Number(o.t) + config.batch.max_age_secs * 1000;
    }
    const current = await this.#ctx.storage.getAlarm();
    if (current === null || at < current) await this.#ctx.storage.setAlarm(at);
  }

  async alarm(): Promise<void> {
    let setup: Setup;
    try {
      setup = await this.#init();
    } catch (e) {
      console.error(e instanceof Error ? e.message : String(e));
      await this.#ctx.storage.setAlarm(Date.now() + MAX_BACKOFF_MS);
      return;
    }
    const { config, logger } = setup;
    const sql = this.#ctx.storage.sql;
    const table = this.#meta("table") as TableName | undefined;
    const service = this.#meta("service") ?? "";
    if (table === undefined || this.#status().requests === 0) {
      await this.#commitIceberg(setup);
      return;
    }
    // The batch is fixed at its first attempt, so a retry encodes the same rows under the same keys.
    let end = this.#meta("batch_end");
    if (end === undefined) {
      const [m] = sql.exec("SELECT max(seq) AS m FROM requests").toArray();
      end = String(m.m);
      this.#setMeta("batch_end", end);
    }
    const batchNo = Number(this.#meta("batch_no") ?? 0);
    const startedMs = Date.now();
    try {
      await this.#flush(setup, table, service, batchNo, Number(end));
    } catch (e) {
      const attempts = Number(this.#meta("attempts") ?? 0) + 1;
      this.#setMeta("attempts", String(attempts));
      const error = e instanceof Error ? e.message : String(e);
      logger.warn("batch flush failed", {
        table,
        service,
        batch: batchNo,
        attempt: attempts,
        error,
      });
      if (attempts < config.batch.max_flush_attempts) {
        await this.#schedule(
          config,
          Date.now() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (attempts - 1)),
        );
        return;
      }
      try {
        await this.#deadLetter(setup, table, service, batchNo, Number(end));
      } catch (e2) {
        logger.error("dead-letter write failed; the batch stays in the Durable Object", {
          table,
          service,
          batch: batchNo,
          error: e2 instanceof Error ? e2.message : String(e2),
        });
        await this.#schedule(config, Date.now() + MAX_BACKOFF_MS);
        return;
      }
    }
    this.#ctx.storage.transactionSync(() => {
      sql.exec("DELETE FROM chunks WHERE seq <= ?", Number(end));
      sql.exec("DELETE FROM requests WHERE seq <= ?", Number(end));
      this.#setMeta("batch_no", String(batchNo + 1));
      this.#setMeta("batch_end", undefined);
      this.#setMeta("attempts", undefined);
    });
    if (logger.debugEnabled) {
      logger.debug("batch done", { table, service, batch: batchNo, ms: Date.now() - startedMs });
    }
    await this.#schedule(config);
    await this.#commitIceberg(setup);
  }

  /**
   * Iceberg mode: commits the pending files once `commit_interval_secs` have passed since the
   * last round, and sets the alarm for the next round while files are pending.
   */
  async #commitIceberg(setup: Setup): Promise<void> {
    const { iceberg, config } = setup;
    if (!iceberg) return;
    const every = config.catalog.iceberg.commit_interval_secs * 1000;
    const last = Number(this.#meta("iceberg_round_ms") ?? 0);
    if (Date.now() - last >= every) {
      await iceberg.commitAll();
      this.#setMeta("iceberg_round_ms", String(Date.now()));
    }
    const [n] = this.#ctx.storage.sql.exec("SELECT count(*) AS n FROM iceberg_pending").toArray();
    if (Number(n.n) === 0) return;
    const at = Number(this.#meta("iceberg_round_ms") ?? Date.now()) + every;
    const current = await this.#ctx.storage.getAlarm();
    if (current === null || at < current) await this.#ctx.storage.setAlarm(at);
  }

  *#requests(
    end: number,
  ): Generator<
    {
      seq: number;
      signal: Signal;
      format: Format;
      receivedNs: bigint;
      storedMs: number;
      body: Uint8Array;
    }
  > {
    const sql = this.#ctx.storage.sql;
    const reqs = sql.exec(
      "SELECT seq, signal, format, received_ns, stored_ms, bytes FROM requests WHERE seq <= ? ORDER BY seq",
      end,
    ).toArray();
    for (const r of reqs) {
      const body = new Uint8Array(Number(r.bytes));
      let off = 0;
      for (
        const c of sql.exec("SELECT data FROM chunks WHERE seq = ? ORDER BY idx", r.seq).toArray()
      ) {
        const d = new Uint8Array(c.data as ArrayBuffer);
        body.set(d, off);
        off += d.length;
      }
      yield {
        seq: Number(r.seq),
        signal: r.signal as Signal,
        format: r.format as Format,
        receivedNs: BigInt(String(r.received_ns)),
        storedMs: Number(r.stored_ms),
        body,
      };
    }
  }

  async #flush(
    setup: Setup,
    table: TableName,
    service: string,
    batchNo: number,
    end: number,
  ): Promise<void> {
    const { config, storage, logger, iceberg } = setup;
    // Each hour's rows stay the requests' own builders, in order: the output encoder writes
    // them as one file without first copying them into one growing builder.
    const hours = new Map<number, { parts: TableBuilder[]; rows: number; minNs: bigint }>();
    let firstStoredMs = Infinity;
    for (const r of this.#requests(end)) {
      firstStoredMs = Math.min(firstStoredMs, r.storedMs);
      const conv = convertRequest(r.signal, r.body, r.format, { receivedAtNs: r.receivedNs });
      for (const p of conv.partitions) {
        if (p.table !== table || p.service !== service || p.rows.length === 0) continue;
        let h = hours.get(p.hour);
        if (!h) hours.set(p.hour, h = { parts: [], rows: 0, minNs: p.minTimeNs });
        h.parts.push(p.rows);
        h.rows += p.rows.length;
        if (p.minTimeNs < h.minNs) h.minNs = p.minTimeNs;
      }
    }
    await prepareOutput(config);
    const output = outputEncoder(config);
    const files: { key: string; bytes: Uint8Array; rows: number }[] = [];
    for (const [hour, h] of [...hours].sort((a, b) => a[0] - b[0])) {
      const id = await hashId(`${batchNo}\u0000${table}\u0000${service}\u0000${hour}`);
      files.push({
        key: objectKey(table, service, h.minNs, id, output.extension),
        bytes: await output.encode(h.parts),
        rows: h.rows,
      });
    }
    const results = await Promise.allSettled(files.map((f) => storage.put(f.key, f.bytes)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    // On the pending list before the batch's requests are deleted (a failure retries the flush).
    for (const f of files) {
      await iceberg?.fileStored({
        key: f.key,
        table,
        service: safeSegment(service),
        rows: f.rows,
        bytes: f.bytes.length,
        minTimeNs: 0n,
        data: f.bytes,
      });
    }
    const ageMs = Date.now() - firstStoredMs;
    for (const f of files) {
      logger.info("file stored", {
        key: f.key,
        rows: f.rows,
        bytes: f.bytes.length,
        age_ms: ageMs,
      });
    }
  }

  async #deadLetter(
    setup: Setup,
    table: TableName,
    service: string,
    batchNo: number,
    end: number,
  ): Promise<void> {
    const { config, storage, logger } = setup;
    const dir = `${config.batch.dead_letter_prefix}${tableDir(table)}/${
      safeSegment(service)
    }/batch=${batchNo}`;
    const puts: Promise<void>[] = [];
    const keys: string[] = [];
    for (const r of this.#requests(end)) {
      const ext = r.format === "protobuf" ? "binpb" : r.format === "json" ? "json" : "jsonl";
      const key = `${dir}/${r.seq}-${r.signal}-${r.receivedNs}.${ext}`;
      keys.push(key);
      puts.push(storage.put(key, r.body));
    }
    const results = await Promise.allSettled(puts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    logger.error("batch moved to the dead-letter prefix after repeated storage failures", {
      table,
      service,
      batch: batchNo,
      requests: keys.length,
      prefix: dir + "/",
    });
  }
}

/** First 16 hex digits of the SHA-256 of `text`. */
async function hashId(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let hex = "";
  for (let i = 0; i < 8; i++) hex += d[i].toString(16).padStart(2, "0");
  return hex;
}
