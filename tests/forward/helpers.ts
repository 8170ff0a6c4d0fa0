/**
 * Helpers for the forwarding tests: servers A (forwarding) and B (the destination, a real
 * otlp2parquet server) in the default configuration (batching with the write-ahead log), a
 * port reserved so B can be stopped and started again at the same address, /metrics read
 * back, and the rows both stored compared with DuckDB (`EXCEPT ALL` both ways).
 */
import { ok, strictEqual } from "node:assert/strict";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { type Server, type ServerOptions, startServer } from "../helpers/server.ts";
import { JOIN_PREFIX } from "../../src/forward/send.ts";

/** Default configuration: batching with the write-ahead log (BASE_ENV turns batching off). */
export const DEFAULT_ENV = { OTLP2PARQUET_BATCH_ENABLED: "true" };

/** A free port on 127.0.0.1 (listened on once, then closed). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Server B: default configuration, on `port`, storing under `output` (kept across restarts). */
export function startB(port: number, output: string, wal: string): Promise<Server> {
  return startServer({
    output,
    env: { ...DEFAULT_ENV, OTLP2PARQUET_BATCH_WAL_DIR: wal },
    port,
  });
}

/** Server A forwarding per `forward` (TOML of the [[forward]] entries). */
export async function startA(
  forward: string,
  opts: { output?: string; wal?: string; env?: Record<string, string> } & ServerOptions = {},
): Promise<Server> {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fwd-cfg-" });
  const config = `${dir}/config.toml`;
  await Deno.writeTextFile(config, forward);
  return startServer({
    ...opts,
    config,
    output: opts.output,
    env: {
      ...DEFAULT_ENV,
      ...(opts.wal ? { OTLP2PARQUET_BATCH_WAL_DIR: opts.wal } : {}),
      ...opts.env,
    },
  });
}

/** The samples of /metrics named `name` (with labels), as a map label text → value. */
export async function metric(srv: Server, name: string): Promise<Map<string, number>> {
  const r = await fetch(`${srv.url}/metrics`);
  const text = await r.text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z0-9_:]+)(\{[^}]*\})? ([-0-9.e+]+|NaN)$/.exec(line);
    if (!m || m[1] !== name) continue;
    out.set(m[2] ?? "", Number(m[3]));
  }
  return out;
}

/** One sample: `metric(srv, name)` with labels such as `destination="b",outcome="sent"`. */
export async function sample(srv: Server, name: string, labels: string): Promise<number> {
  return (await metric(srv, name)).get(`{${labels}}`) ?? 0;
}

/** Whether a body A sent is gzip'd requests joined (`JOIN_PREFIX` first: src/forward/send.ts). */
export function isJoined(body: Uint8Array): boolean {
  return body.length >= JOIN_PREFIX.length && JOIN_PREFIX.every((x, i) => body[i] === x);
}

/** Requests queued for destination `name` (otlp2parquet_forward_queue_requests). */
export function queuedRequests(srv: Server, name: string): Promise<number> {
  return sample(srv, "otlp2parquet_forward_queue_requests", `destination="${name}"`);
}

/**
 * Polls `check` (bounded: `tries` × 100 ms) until it returns true; fails with `what` and the
 * server logs otherwise. Waiting for an outcome, not timing one.
 */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  servers: Server[] = [],
  tries = 600,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting: ${what}\n${servers.map((s) => s.log()).join("\n----\n")}`);
}

/** The logs table's files under `dir` (absolute paths). */
export async function logFiles(dir: string): Promise<string[]> {
  return (await listParquet(dir)).filter((f) => f.startsWith("logs/")).map((f) => `${dir}/${f}`);
}

/** The log rows of `dir` (body, time, service): empty when there are no files. */
export async function logRows(dir: string): Promise<number> {
  const files = await logFiles(dir);
  if (files.length === 0) return 0;
  const [r] = await query(`SELECT count(*)::INTEGER AS n FROM ${readParquet(files)}`);
  return r.n as number;
}

/**
 * Asserts that the logs tables under `a` and `b` hold exactly the same rows (as a multiset):
 * `EXCEPT ALL` empty both ways, over the columns that are the data (not file-level ones).
 */
export async function assertSameLogs(a: string, b: string, expected: number): Promise<void> {
  const fa = await logFiles(a);
  const fb = await logFiles(b);
  ok(fa.length > 0, `no logs files under ${a}`);
  ok(fb.length > 0, `no logs files under ${b}`);
  const cols = "Timestamp, TraceId, SpanId, SeverityText, Body, ServiceName, LogAttributes";
  const [ca] = await query(`SELECT count(*)::INTEGER AS n FROM ${readParquet(fa)}`);
  const [cb] = await query(`SELECT count(*)::INTEGER AS n FROM ${readParquet(fb)}`);
  strictEqual(ca.n, expected, "rows stored by A");
  strictEqual(cb.n, expected, "rows stored by B");
  const [d1] = await query(
    `SELECT count(*)::INTEGER AS n FROM (SELECT ${cols} FROM ${
      readParquet(fa)
    } EXCEPT ALL SELECT ${cols} FROM ${readParquet(fb)})`,
  );
  const [d2] = await query(
    `SELECT count(*)::INTEGER AS n FROM (SELECT ${cols} FROM ${
      readParquet(fb)
    } EXCEPT ALL SELECT ${cols} FROM ${readParquet(fa)})`,
  );
  strictEqual(d1.n, 0, "rows at A missing at B");
  strictEqual(d2.n, 0, "rows at B that A does not have");
}

/** An OTLP/JSON logs request of `n` records whose bodies are `${tag}-${i}`. */
export function logsBody(service: string, tag: string, n: number, t0 = Date.now()): string {
  const records = Array.from({ length: n }, (_, i) => ({
    timeUnixNano: String(BigInt(t0) * 1_000_000n + BigInt(i)),
    severityText: "INFO",
    body: { stringValue: `${tag}-${i}` },
    attributes: [{ key: "i", value: { intValue: String(i) } }],
  }));
  return JSON.stringify({
    resourceLogs: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeLogs: [{ scope: { name: "fwd" }, logRecords: records }],
    }],
  });
}

/** POSTs an OTLP/JSON logs body; resolves with the status. */
export async function postLogs(url: string, body: string): Promise<number> {
  const r = await fetch(`${url}/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  await r.body?.cancel();
  return r.status;
}
