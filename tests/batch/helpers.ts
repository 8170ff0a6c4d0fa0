/**
 * Helpers for the batching writer tests: a Map-backed storage driver that can fail or crash on
 * demand, a WAL file API that counts fsyncs, request fixtures, and a Parquet reader.
 *
 * Request fixtures use a tiny JSON body, `{"service":…, "timeNs":…, "ids":[…]}`, turned into
 * log rows (Body = id) by `convertFixture`: deterministic like `convertRequest`, and independent
 * of the OTLP decoders. The same body always gives the same rows, which is what replay relies on.
 */
import { ok, strictEqual } from "node:assert/strict";
import * as arrow from "apache-arrow";
import * as pw from "parquet-wasm/esm";
import { parquetMetadata } from "hyparquet";
import {
  BoolCol,
  type Column,
  I64Col,
  ListCol,
  MapCol,
  NumCol,
  Utf8Col,
} from "../../src/core/columns/index.ts";
import { convertRequest } from "../../src/core/convert.ts";
import { initParquet } from "../../src/core/parquet/encode.ts";
import { partition } from "../../src/core/partition.ts";
import { newTable } from "../../src/core/tables.ts";
import { type Config, defaultConfig } from "../../src/config/types.ts";
import { BackpressureError, type WriteRequest } from "../../src/batch/types.ts";
import type { WalFile, WalFs } from "../../src/batch/wal/index.ts";
import { createWalFs } from "../../src/batch/wal/fs.node.ts";
import { type StorageDriver, StorageError } from "../../src/storage/types.ts";
import { useNodeParquetZstd } from "../../src/core/arrow/zstd.node.ts";
import type { ParquetEncoder } from "../../src/core/parquet/encode.ts";
import { MemoryLogger } from "../helpers/logger.ts";
import { HOUR_NS, T0 } from "../helpers/time.ts";
import { type ConvertFn, createBatchWriter } from "../../src/batch/batcher.ts";

// The native Parquet encoder's zstd, as the server entries register it.
useNodeParquetZstd();

initParquet(
  Deno.readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm"))),
);

const enc = new TextEncoder();
const dec = new TextDecoder();

/** 2024-05-01T10:00:00Z in ns, and an hour (tests/helpers/time.ts). */
export { HOUR_NS, T0 };

interface FixtureBody {
  service: string;
  timeNs: string;
  ids: string[];
}

/** Log rows from a fixture body, split by (service, hour) like the real pipeline. */
export const convertFixture: ConvertFn = (_signal, body) => {
  const f = JSON.parse(dec.decode(body)) as FixtureBody;
  const b = newTable("logs");
  const t = BigInt(f.timeNs);
  for (const id of f.ids) {
    for (const [name, c] of Object.entries(b.cols as unknown as Record<string, Column>)) {
      if (name === "Timestamp" || name === "ObservedTimestamp") (c as I64Col).appendBigInt(t);
      else if (name === "ServiceName") (c as Utf8Col).appendString(f.service);
      else if (name === "Body") (c as Utf8Col).appendString(id);
      else appendDefault(c);
    }
  }
  return { partitions: partition(b) };
};

function appendDefault(c: Column): void {
  if (c instanceof Utf8Col) c.appendEmpty();
  else if (c instanceof NumCol) c.append(0);
  else if (c instanceof I64Col) c.append(0, 0);
  else if (c instanceof MapCol) c.endSortedRow();
  else if (c instanceof BoolCol) c.append(false);
  else if (c instanceof ListCol) c.endRow();
  else throw new TypeError(`unknown column kind ${c.constructor.name}`);
}

/** A logs WriteRequest carrying `ids` for `service` at `timeNs`, decoded like the HTTP layer would. */
export function request(service: string, ids: string[], timeNs = T0): WriteRequest {
  const body = enc.encode(JSON.stringify({ service, timeNs: String(timeNs), ids }));
  const receivedAtNs = 1n;
  return {
    signal: "logs",
    format: "json",
    body,
    receivedAtNs,
    partitions: convertFixture("logs", body, "json", { receivedAtNs }).partitions,
  };
}

/**
 * A real OTLP/JSON ExportLogsServiceRequest (one record per id, Body = id), decoded by the real
 * pipeline (`convertRequest`) as the HTTP layer does.
 */
export function otlpRequest(service: string, ids: string[], timeNs = T0): WriteRequest {
  const body = enc.encode(JSON.stringify({
    resourceLogs: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeLogs: [{
        scope: { name: "batch-test" },
        logRecords: ids.map((id) => ({
          timeUnixNano: String(timeNs),
          severityNumber: 9,
          body: { stringValue: id },
          attributes: [{ key: "id", value: { stringValue: id } }],
        })),
      }],
    }],
  }));
  const receivedAtNs = 1n;
  const { partitions } = convertRequest("logs", body, "json", { receivedAtNs });
  return { signal: "logs", format: "json", body, receivedAtNs, partitions };
}

/** Ids `${prefix}-0` … `${prefix}-(n-1)`. */
export function ids(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}

/** Server-mode config with batching on and overrides for `batch`. */
export function config(
  batch: Partial<Config["batch"]> = {},
  more: (c: Config) => void = () => {},
): Config {
  const c = defaultConfig("server");
  c.batch = { ...c.batch, enabled: true, ...batch };
  c.server.shutdown_timeout_secs = 5;
  // The suite runs with either Parquet encoder: TEST_PARQUET_ENCODER=wasm|native (default auto).
  c.parquet.encoder = (Deno.env.get("TEST_PARQUET_ENCODER") ?? "auto") as ParquetEncoder;
  more(c);
  return c;
}

/** In-memory object store with switches: fail every put, or run a hook around puts. */
export class TestStorage implements StorageDriver {
  readonly name = "test";
  readonly objects = new Map<string, Uint8Array>();
  puts = 0;
  failing = false;
  /** Runs after a successful put (e.g. to simulate a crash right after it). */
  afterPut?: (key: string) => void | Promise<void>;
  /** Runs before a put; may hang or throw. */
  beforePut?: (key: string) => void | Promise<void>;

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.beforePut?.(key);
    if (this.failing) {
      throw new StorageError(`Cannot put ${JSON.stringify(key)} (test): connection refused`, true);
    }
    this.objects.set(key, data.slice());
    this.puts++;
    await this.afterPut?.(key);
  }
  get(key: string): Promise<Uint8Array | null> {
    return Promise.resolve(this.objects.get(key) ?? null);
  }
  list(prefix: string): Promise<string[]> {
    return Promise.resolve([...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort());
  }
  delete(key: string): Promise<void> {
    this.objects.delete(key);
    return Promise.resolve();
  }
  check(): Promise<void> {
    return Promise.resolve();
  }

  /** Every stored row's Body (the fixture id), over all files. */
  bodies(): string[] {
    const out: string[] = [];
    for (const data of this.objects.values()) out.push(...readBodies(data));
    return out;
  }
}

/** Rows of a Parquet file: its `Body` column values, read back with parquet-wasm + Arrow. */
export function readBodies(parquet: Uint8Array): string[] {
  const t = arrow.tableFromIPC(pw.readParquet(parquet).intoIPCStream());
  const col = t.getChild("Body")!;
  const out: string[] = [];
  for (let i = 0; i < t.numRows; i++) out.push(String(col.get(i)));
  return out;
}

/** Row counts of a Parquet file's row groups (hyparquet reads the footer). */
export function rowGroups(parquet: Uint8Array): number[] {
  const ab = parquet.buffer.slice(parquet.byteOffset, parquet.byteOffset + parquet.byteLength);
  return parquetMetadata(ab as ArrayBuffer).row_groups.map((g) => Number(g.num_rows));
}

/** The real node:fs WAL API, counting fsyncs and optionally failing writes. */
export class CountingWalFs implements WalFs {
  syncs = 0;
  writes = 0;
  /** The next this-many `write`s write half their bytes, then throw (a torn write). */
  failWrites = 0;
  /** The next this-many `sync`s throw (after the bytes were written in full). */
  failSyncs = 0;
  private readonly inner = createWalFs();
  mkdir(dir: string) {
    return this.inner.mkdir(dir);
  }
  list(dir: string) {
    return this.inner.list(dir);
  }
  read(path: string) {
    return this.inner.read(path);
  }
  remove(path: string) {
    return this.inner.remove(path);
  }
  syncDir(dir: string) {
    return this.inner.syncDir!(dir);
  }
  async openAppend(path: string): Promise<WalFile> {
    const f = await this.inner.openAppend(path);
    return {
      write: async (data) => {
        this.writes++;
        if (this.failWrites > 0) {
          this.failWrites--;
          // A torn write: half of the bytes reach the file, then the error.
          await f.write(data.subarray(0, data.length >> 1));
          throw new Error("ENOSPC: no space left on device (test)");
        }
        await f.write(data);
      },
      sync: async () => {
        this.syncs++;
        if (this.failSyncs > 0) {
          this.failSyncs--;
          throw new Error("EIO: i/o error, fsync (test)");
        }
        await f.sync();
      },
      close: () => f.close(),
    };
  }
}

/** A logger that keeps its lines (tests/helpers/logger.ts). */
export { MemoryLogger };

/** A temporary WAL directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-wal-" });
  return { dir, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

export async function walFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".wal")) out.push(e.name);
  return out.sort();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until `cond()` holds, polling; throws after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * A storage outage under load, for a real driver: the batching writer (write-ahead log in
 * `walDir`) takes requests, the storage server is stopped (`stop`) while requests keep coming,
 * then started again (`start`). Clients get 503 with Retry-After (BackpressureError), never a
 * success for data that is not durable, and afterwards every acknowledged row is stored exactly
 * once. `duringOutage` adds checks once the 503s came (e.g. on the log lines).
 */
export async function outageUnderLoad(opts: {
  storage: StorageDriver;
  walDir: string;
  stop: () => Promise<void>;
  start: () => Promise<void>;
  duringOutage?: (logger: MemoryLogger) => void;
}): Promise<void> {
  const { storage } = opts;
  const logger = new MemoryLogger();
  const writer = await createBatchWriter({
    config: config({ wal_dir: opts.walDir, max_rows: 100, max_buffered_bytes: 120_000 }),
    storage,
    logger,
    walFs: new CountingWalFs(),
    convert: convertFixture,
    retryBaseMs: 50,
    retryMaxMs: 200,
  });
  const acked: string[] = [];
  const statuses = new Map<number, number>();
  let n = 0;
  const send = async () => {
    const batch = ids(`r${n++}`, 10);
    try {
      await writer.write(request("svc", batch));
      acked.push(...batch);
    } catch (e) {
      ok(e instanceof BackpressureError, String(e));
      ok(e.retryAfterSecs >= 1 && e.retryAfterSecs <= 30);
      statuses.set(e.status, (statuses.get(e.status) ?? 0) + 1);
    }
  };
  try {
    for (let i = 0; i < 30; i++) await send();
    await until(() => writer.stats().filesWritten >= 2, 10_000, "files before the outage");

    await opts.stop(); // the storage server goes away
    for (let i = 0; i < 400 && !statuses.has(503); i++) {
      await send();
      if (i % 10 === 0) await sleep(20);
    }
    ok(statuses.has(503), `no 503 during the outage: ${JSON.stringify([...statuses])}`);
    ok(writer.stats().flushFailures > 0);
    opts.duringOutage?.(logger);

    await opts.start(); // back
    // The files sealed during the outage are stored (an open buffer may still hold rows).
    await until(() => writer.stats().pendingFiles === 0, 20_000, "the backlog to be stored");
    for (let i = 0; i < 10; i++) await send();
    await writer.close();

    const keys = await storage.list("logs/");
    const stored: string[] = [];
    for (const k of keys) stored.push(...readBodies((await storage.get(k))!));
    const counts = new Map<string, number>();
    for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1);
    ok([...counts.values()].every((c) => c === 1), "a row stored twice");
    strictEqual(acked.filter((id) => !counts.has(id)).length, 0, "acknowledged rows missing");
    strictEqual(stored.length, acked.length);
  } finally {
    await writer.abort();
  }
}
