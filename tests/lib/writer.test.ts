/**
 * The library's writer (`createWriter`, src/lib/index.ts) as an application uses it, with the
 * default configuration (batching with the write-ahead log) unless a test says otherwise:
 * every input form (protobuf bytes, OTLP/JSON object, JSON and JSON Lines strings) gives the
 * same rows, read back with DuckDB; bad input gets clear error values and loses nothing already
 * accepted; options are validated with the server's messages; a crash with the write-ahead log
 * on (a process killed with SIGKILL) is replayed by the next `createWriter`.
 */
import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { generateRequest } from "../../bench/gen.ts";
import { ConfigError, createWriter, type ExportResult } from "../../src/lib/index.ts";
import type { Signal } from "../../src/core/tables.ts";
import { listFiles, listParquet, query, readParquet } from "../helpers/duckdb.ts";

const REPO = new URL("../../", import.meta.url).pathname;

async function tempDir(): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-lib-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** Every row of the files under `dir/table`, as text, sorted (DuckDB). */
async function rowsOf(dir: string, table: string): Promise<string[]> {
  const found = await listParquet(`${dir}/${table}`).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  });
  const files = found.map((f) => `${dir}/${table}/${f}`);
  if (files.length === 0) return [];
  const rows = await query(`SELECT * FROM ${readParquet(files)}`);
  return rows.map((r) => JSON.stringify(r, (_k, v) => typeof v === "bigint" ? String(v) : v))
    .sort();
}

const okResult = (records: number): ExportResult => ({
  ok: true,
  records,
  rejected: 0,
  message: "",
});

/**
 * Parquet encoded on the calling thread: an encoder thread takes seconds to start under
 * `deno test` (it type-checks its module), and the crash test below covers the defaults.
 */
const MAIN_THREAD = { encode_threads: 0 };

const TABLES: Record<Signal, string[]> = {
  logs: ["logs"],
  traces: ["traces"],
  metrics: [
    "metrics/gauge",
    "metrics/sum",
    "metrics/histogram",
    "metrics/exponential_histogram",
    "metrics/summary",
  ],
};

Deno.test("every input form (protobuf, OTLP/JSON object, JSON string, JSON Lines string) stores the same rows", async () => {
  await using base = await tempDir();
  const signals: Signal[] = ["logs", "traces", "metrics"];
  const forms = ["protobuf", "arraybuffer", "object", "json", "jsonl"] as const;
  const counts: Record<string, number> = {};
  for (const form of forms) {
    const dir = `${base.dir}/${form}`;
    const w = await createWriter({ storage: { backend: "fs", path: dir }, parquet: MAIN_THREAD });
    for (const signal of signals) {
      const g = generateRequest(signal, { records: 60, seed: 3, services: 2 });
      const input = form === "protobuf"
        ? g.protobuf
        : form === "arraybuffer"
        ? g.protobuf.slice().buffer
        : form === "object"
        ? JSON.parse(g.json)
        : form === "json"
        ? g.json
        // Two requests, one per line (the JSONL form of the Collector's file exporter): the
        // same request twice holds each row twice.
        : `${JSON.stringify(JSON.parse(g.json))}\n${JSON.stringify(JSON.parse(g.json))}\n`;
      const r = await w.export(signal, input);
      deepStrictEqual(r, okResult(g.records * (form === "jsonl" ? 2 : 1)), `${form} ${signal}`);
      counts[signal] = g.records;
    }
    deepStrictEqual(await w.flush(), { ok: true });
    await w.close();
    strictEqual(w.stats().acceptedRecords, (form === "jsonl" ? 2 : 1) * 180, form);
  }
  for (const signal of signals) {
    for (const table of TABLES[signal]) {
      const want = await rowsOf(`${base.dir}/protobuf`, table);
      for (const form of forms.slice(1)) {
        const got = await rowsOf(`${base.dir}/${form}`, table);
        deepStrictEqual(
          form === "jsonl" ? got.filter((_, i) => i % 2 === 0) : got,
          want,
          `${form} ${table}`,
        );
      }
    }
    let n = 0;
    for (const t of TABLES[signal]) n += (await rowsOf(`${base.dir}/protobuf`, t)).length;
    strictEqual(n, counts[signal], `${signal} rows`);
  }
});

Deno.test("an OTLP/JSON object may hold bigints and bytes (Uint8Array ids, bytes values)", async () => {
  await using t = await tempDir();
  const w = await createWriter({
    storage: { backend: "fs", path: t.dir },
    batch: { enabled: false },
  });
  const traceId = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const r = await w.exportLogs({
    resourceLogs: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "objects" } }] },
      scopeLogs: [{
        logRecords: [{
          timeUnixNano: 1714557600123456789n,
          traceId,
          body: { bytesValue: Uint8Array.of(0xde, 0xad) },
          attributes: [{ key: "n", value: { intValue: 9007199254740993n } }],
        }],
      }],
    }],
  });
  deepStrictEqual(r, okResult(1));
  await w.close();
  const files = (await listParquet(t.dir)).map((f) => `${t.dir}/${f}`);
  const [row] = await query(
    `SELECT TraceId, Body, LogAttributes['n'] AS n, epoch_ns(Timestamp) AS ns FROM ${
      readParquet(files)
    }`,
  );
  strictEqual(row.TraceId, "0102030405060708090a0b0c0d0e0f10");
  strictEqual(row.n, "9007199254740993");
  strictEqual(String(row.ns), "1714557600123456000", "DuckDB reads µs");
  ok(String(row.Body).length > 0);
});

Deno.test("bad input gets a clear error value, and nothing accepted before it is lost", async () => {
  await using t = await tempDir();
  const w = await createWriter({ storage: { backend: "fs", path: t.dir }, parquet: MAIN_THREAD });
  const good = generateRequest("logs", { records: 25, seed: 11, services: 1 });
  deepStrictEqual(await w.exportLogs(good.protobuf), okResult(25));
  const bad: [string, Promise<ExportResult>, RegExp][] = [
    [
      "truncated protobuf",
      w.exportLogs(good.protobuf.subarray(0, good.protobuf.length - 7)),
      /^Cannot decode ExportLogsServiceRequest: .*byte \d+/,
    ],
    ["not JSON", w.exportLogs("{ nope"), /^Cannot decode ExportLogsServiceRequest: invalid JSON/],
    [
      "a bad trace id",
      w.exportTraces({
        resourceSpans: [{
          scopeSpans: [{ spans: [{ traceId: "zz", spanId: "0102030405060708" }] }],
        }],
      }),
      /traceId: expected 32 hex digits/,
    ],
    [
      "another signal's request",
      w.exportMetrics(good.json),
      /ExportMetricsServiceRequest: the input is an ExportLogsServiceRequest \(logs\); pass it to exportLogs\(\)/,
    ],
    [
      "a circular object",
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return w.exportLogs(o);
      })(),
      /^Cannot encode the OTLP\/JSON object: /,
    ],
  ];
  for (const [what, p, re] of bad) {
    const r = await p;
    ok(!r.ok, what);
    strictEqual(r.kind, "invalid", what);
    strictEqual(r.retryable, false, what);
    ok(re.test(r.message), `${what}: ${r.message}`);
  }
  // Misuse is an exception, not a value.
  throws(() => w.exportLogs(42 as never), TypeError);
  throws(
    () => w.exportLogs([] as never),
    /expected protobuf bytes \(Uint8Array\), an OTLP\/JSON object or a JSON Lines string, got an array/,
  );
  throws(() => w.export("profiles" as never, "{}"), /unknown signal "profiles"/);
  const more = generateRequest("logs", { records: 5, seed: 12, services: 1 });
  deepStrictEqual(await w.exportLogs(more.protobuf), okResult(5));
  await w.close();
  strictEqual((await rowsOf(t.dir, "logs")).length, 30, "both good requests are stored");
  const s = w.stats();
  strictEqual(s.failedExports, bad.length);
  strictEqual(s.acceptedRecords, 30);
  throws(() => w.exportLogs(more.protobuf), /exportLogs\(\): the writer is closed/);
  await w.close(); // again: nothing happens
});

Deno.test("an input over server.max_payload_bytes is refused as a value", async () => {
  const w = await createWriter({
    storage: { backend: "memory" },
    server: { max_payload_bytes: 100 },
    parquet: MAIN_THREAD,
  });
  const g = generateRequest("logs", { records: 20, seed: 1, services: 1 });
  const r = await w.exportLogs(g.protobuf);
  ok(!r.ok);
  strictEqual(r.kind, "invalid");
  ok(/more than server\.max_payload_bytes \(100\)/.test(r.message), r.message);
  await w.close();
});

Deno.test("failing storage is a retryable value, not an exception", async () => {
  // S3 on a loopback port nobody listens on: connection refused at once.
  const w = await createWriter({
    storage: {
      backend: "s3",
      s3: {
        bucket: "b",
        endpoint: "http://127.0.0.1:9",
        force_path_style: true,
        access_key_id: "k",
        secret_access_key: "s",
      },
      retry: { max_attempts: 1, timeout_ms: 2000 },
    },
    batch: { enabled: false },
  });
  try {
    const g = generateRequest("traces", { records: 3, seed: 1, services: 1 });
    const r = await w.exportTraces(g.protobuf);
    ok(!r.ok);
    strictEqual(r.kind, "unavailable");
    strictEqual(r.retryable, true);
    ok((r.retryAfterMs ?? 0) >= 1000, String(r.retryAfterMs));
    ok(/^storage unavailable: /.test(r.message), r.message);
  } finally {
    await w.close();
  }
});

Deno.test("createWriter() options are validated with the server's messages", async () => {
  const msg = async (o: unknown) => {
    const e = await createWriter(o as never).then(() => null, (e) => e);
    ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    return e.message;
  };
  strictEqual(
    await msg({ batch: { max_rows: 0 } }),
    "Invalid config: batch.max_rows = 0 (from createWriter() options): expected a positive integer",
  );
  ok((await msg({ storage: { backend: "ftp" } })).startsWith(
    'Invalid config: storage.backend = "ftp" (from createWriter() options): expected one of "fs", "memory", "s3", "r2", "gcs", "azure"',
  ));
  ok((await msg({ batch: { max_row: 1 } })).includes('(did you mean "batch.max_rows"?)'));
  strictEqual(
    await msg({ auth: { bearer_token: "x" } }),
    "Invalid config: auth (in createWriter() options): the library serves no HTTP; leave it out",
  );
  ok((await msg({ storage: { path: "/a", fs: { path: "/b" } } })).includes("set only one"));
  strictEqual(
    await msg({ storage: { backend: "memory" }, env: { OTLP2PARQUET_BATCH_MAX_AGE_SECS: "x" } }),
    'Invalid config: batch.max_age_secs = "x" (from OTLP2PARQUET_BATCH_MAX_AGE_SECS): expected a positive integer',
  );
  await rejects(
    createWriter(null as never),
    /createWriter\(\): expected an options object, got null/,
  );
  // (parquet-wasm is loaded in this process already, so no `wasm` is asked for.)
  await rejects(
    createWriter({ platform: "workers", storage: { backend: "r2" } }),
    /storage\.r2\.binding = "BUCKET": no R2 bucket binding of that name/,
  );
});

Deno.test("storage.path is storage.fs.path; the write-ahead log goes under it", async () => {
  await using t = await tempDir();
  const w = await createWriter({ storage: { backend: "fs", path: t.dir }, parquet: MAIN_THREAD });
  strictEqual(w.config.storage.fs.path, t.dir);
  strictEqual(w.config.batch.wal_dir, `${t.dir}/.wal`);
  strictEqual(w.config.batch.enabled, true, "the server defaults: batching");
  strictEqual(w.config.batch.durability, "wal");
  strictEqual(w.config.server.log_level, "warn", "the library's default log level");
  await w.close();
});

Deno.test('output.format = "arrow" through the library writes .arrow files', async () => {
  await using t = await tempDir();
  const w = await createWriter({
    storage: { backend: "fs", path: t.dir },
    output: { format: "arrow" },
    arrow: { compression: "zstd" },
  });
  const g = generateRequest("traces", { records: 40, seed: 2, services: 1 });
  deepStrictEqual(await w.exportTraces(g.protobuf), okResult(40));
  await w.close();
  const files = (await listFiles(t.dir)).filter((f) => !f.startsWith(".wal"));
  strictEqual(files.length, 1);
  ok(
    /^traces\/.+\/year=\d{4}\/month=\d\d\/day=\d\d\/hour=\d\d\/\d+-[0-9a-f]{16}\.arrow$/.test(
      files[0],
    ),
    files[0],
  );
});

Deno.test({
  name:
    "after a crash with the write-ahead log on, the next createWriter() replays it and stores every accepted record",
  sanitizeResources: false,
  async fn() {
    await using t = await tempDir();
    // A separate process accepts three requests (answered once logged), then is killed: nothing
    // was written out (max_age_secs is long), only the log holds them.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO}tests/lib/crash-app.ts`, t.dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    const deadline = Date.now() + 60_000;
    while (!out.includes("accepted 3")) {
      if (Date.now() > deadline) throw new Error(`crash-app never accepted its requests: ${out}`);
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    ok(out.includes("accepted 3"), out);
    strictEqual((await listParquet(t.dir)).length, 0, "nothing was stored before the crash");

    const w = await createWriter({ storage: { backend: "fs", path: t.dir }, log: false });
    strictEqual(w.stats().replayedRecords, 3, "three logged requests replayed");
    deepStrictEqual(await w.flush(), { ok: true });
    await w.close();
    strictEqual((await rowsOf(t.dir, "logs")).length, 3 * 20);
    strictEqual((await rowsOf(t.dir, "traces")).length, 0);
  },
});
