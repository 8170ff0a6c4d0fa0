/**
 * What the second core buys: a stream of requests, request bytes → Parquet bytes, with the
 * server's own encoder (src/batch/encoder.node.ts): parquet-wasm on the main thread (0 encoder
 * threads) or on 1 or 2 worker threads, while the main thread decodes the next requests and
 * builds the Arrow IPC hand-off. This is how the server runs (`parquet.encode_threads`).
 *
 *   deno run -A bench/parallel.ts [--signals logs,traces,metrics] [--requests N] [--records N]
 *                                 [--threads 0,1,2]
 *
 * `deno task bench` runs it after the core benchmark (bench/core.ts) and adds it to the JSON.
 */
import { convertRequest } from "../src/core/convert.ts";
import { DEFAULT_PARQUET } from "../src/core/parquet/encode.ts";
import { createEncoder } from "../src/batch/encoder.node.ts";
import { readParquetWasm } from "../src/core/parquet/wasm.node.ts";
import type { Logger } from "../src/log/log.ts";
import { ensureParquet } from "./core.ts";
import { generateRequest, type GenSignal } from "./gen.ts";
import process from "node:process";

export interface ThreadsOptions {
  signals: GenSignal[];
  /** Requests in the stream (4 different bodies in turn). */
  requests: number;
  records: number;
  threads: number[];
}

export const DEFAULT_THREADS: ThreadsOptions = {
  signals: ["logs", "traces", "metrics"],
  requests: 16,
  records: 10_000,
  threads: [0, 1, 2],
};

export interface ThreadsResult {
  signal: GenSignal;
  /** Encoder threads (0: parquet-wasm on the main thread). */
  threads: number;
  where: string;
  records: number;
  wallMs: number;
  recordsPerSec: number;
  /** Process CPU time over wall time: how many cores the stream kept busy. */
  cores: number;
  parquetBytes: number;
}

const say = (msg: string, f?: object) =>
  console.error(`bench/parallel: ${msg} ${JSON.stringify(f ?? {})}`);
const quiet = {
  debugEnabled: false,
  debug() {},
  info() {},
  warn: say,
  error: say,
} as unknown as Logger;

/** Runs the stream once per thread count; the best of `rounds` rounds each. */
export async function benchThreads(
  opts: Partial<ThreadsOptions> = {},
  rounds = 3,
): Promise<ThreadsResult[]> {
  const o = { ...DEFAULT_THREADS, ...opts };
  await ensureParquet();
  const wasm = readParquetWasm();
  const out: ThreadsResult[] = [];
  const decodeOpts = { receivedAtNs: 1_700_000_000_000_000_000n };
  for (const signal of o.signals) {
    const bodies = Array.from(
      { length: 4 },
      (_, i) => generateRequest(signal, { records: o.records, seed: 1 + i }).protobuf,
    );
    for (const threads of o.threads) {
      const enc = await createEncoder(threads, wasm, quiet);
      // How many files may wait for the encoder: a bounded queue, as the batcher's.
      const window = Math.max(2, 2 * threads);
      const stream = async () => {
        let bytes = 0;
        const inFlight: Promise<void>[] = [];
        for (let i = 0; i < o.requests; i++) {
          const c = convertRequest(signal, bodies[i % 4], "protobuf", decodeOpts);
          for (const p of c.partitions) {
            const job = enc.encode([p.rows], DEFAULT_PARQUET).then((b) => {
              bytes += b.byteLength;
            });
            inFlight.push(job);
            job.then(() => inFlight.splice(inFlight.indexOf(job), 1));
            while (inFlight.length >= window) await Promise.race(inFlight);
          }
        }
        await Promise.all(inFlight);
        return bytes;
      };
      await stream(); // warm-up: JIT, the workers' wasm
      let best: ThreadsResult | null = null;
      for (let r = 0; r < rounds; r++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const bytes = await stream();
        const wallMs = performance.now() - t0;
        const c = process.cpuUsage(c0);
        const records = o.requests * o.records;
        const res: ThreadsResult = {
          signal,
          threads,
          where: enc.where,
          records,
          wallMs,
          recordsPerSec: (records / wallMs) * 1000,
          cores: (c.user + c.system) / 1000 / wallMs,
          parquetBytes: bytes,
        };
        if (!best || res.wallMs < best.wallMs) best = res;
      }
      await enc.close();
      out.push(best!);
    }
  }
  return out;
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

export function threadsTable(rows: ThreadsResult[]): string {
  const lines = [
    "| signal | Parquet encoding | records/s | × main thread only | cores busy |",
    "|---|---|---:|---:|---:|",
  ];
  for (const r of rows) {
    const base = rows.find((x) => x.signal === r.signal && x.threads === 0);
    lines.push(
      `| ${r.signal} | ${r.where} | ${fmtInt(r.recordsPerSec)} | ${
        base ? (r.recordsPerSec / base.recordsPerSec).toFixed(2) : ""
      } | ${r.cores.toFixed(2)} |`,
    );
  }
  return lines.join("\n");
}

function parseArgs(args: string[]): Partial<ThreadsOptions> {
  const o: Partial<ThreadsOptions> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i], v = args[++i] ?? "";
    const nums = () => v.split(",").map(Number);
    if (a === "--signals") o.signals = v.split(",") as GenSignal[];
    else if (a === "--requests") o.requests = Number(v);
    else if (a === "--records") o.records = Number(v);
    else if (a === "--threads") o.threads = nums();
    else throw new TypeError(`bench/parallel: unknown argument "${a}"`);
  }
  return o;
}

if (import.meta.main) {
  const rows = await benchThreads(parseArgs(Deno.args));
  console.log(threadsTable(rows));
}
