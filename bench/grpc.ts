/**
 * OTLP/gRPC next to OTLP/HTTP on the same server, same run (`deno task bench:grpc`): the real
 * server (default configuration: batching with the write-ahead log) on Deno, Bun and the Node
 * bundle, loaded on loopback by a bounded load generator in a process of its own
 * (./grpc-load.mjs, Node) with 100-record gzip'd logs requests at several concurrencies, the
 * same bodies and the same client code for both protocols. Per point: requests/s and p99 of
 * each, and gRPC ÷ HTTP; also the server's CPU time per answered call (user + system, all
 * threads, from /proc), which a busy shared machine disturbs less than requests/s. HTTP and gRPC points alternate on one server (less drift between
 * them on a shared machine). Writes bench/results/grpc-latest.json.
 *
 *   deno task bench:grpc [--seconds S] [--warmup S] [--runtime deno,bun,node] [--concurrency 1,16,64]
 *                        [--env NAME=VALUE]...   (server settings, e.g. OTLP2PARQUET_BATCH_DURABILITY=memory)
 *
 * Target (issue 15): gRPC within 10% of OTLP/HTTP's requests/s on the same runtime.
 */
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { build } from "../scripts/build.ts";
import { startServer } from "../tests/helpers/server.ts";
import { gitCommit, loadAverage, machineInfo } from "./core.ts";
import { generateRequest } from "./gen.ts";

const LOAD = new URL("./grpc-load.mjs", import.meta.url).pathname;
const BODIES = 32;
const RECORDS = 100;
const MAX_REQUESTS = 2_000_000;

type Runtime = "deno" | "bun" | "node";
type Protocol = "http" | "grpc";

interface LoadResult {
  requests: number;
  ok: number;
  failed: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

/** What a point measured on one protocol. */
export type Side = LoadResult & {
  requestsPerSec: number;
  /** Server CPU (user + system, all threads, child processes too) per answered call, ms: steadier than req/s on a busy machine. */
  cpuMsPerCall: number;
};

/**
 * User + system CPU seconds of a process and its children, all threads (Linux /proc; ticks of
 * 1/100 s).
 */
function cpuSeconds(pid: number): number {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // utime + stime, and cutime + cstime: children that exited (a listener that died)
    let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
    for (const child of childrenOf(pid)) {
      const c = cpuSeconds(child);
      if (!Number.isNaN(c)) total += c;
    }
    return total;
  } catch {
    return NaN;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/children`).trim();
      if (text) out.push(...text.split(" ").map(Number));
    }
  } catch { /* gone */ }
  return out;
}

export interface GrpcPoint {
  runtime: Runtime;
  concurrency: number;
  records: number;
  http: Side;
  grpc: Side;
  /** gRPC requests/s ÷ HTTP requests/s. */
  ratio: number;
  /** gRPC server CPU per call ÷ HTTP's (below 1: gRPC costs the server less). */
  cpuRatio: number;
}

async function load(
  protocol: Protocol,
  port: number,
  bodies: string[],
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const out = await new Deno.Command("node", {
    args: [
      LOAD,
      JSON.stringify({
        protocol,
        host: "127.0.0.1",
        port,
        bodies,
        concurrency,
        seconds,
        maxRequests: MAX_REQUESTS,
      }),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`bench/grpc-load.mjs failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

export async function runGrpc(opts: {
  seconds: number;
  warmup: number;
  runtimes: Runtime[];
  concurrency: number[];
  /** More server environment, e.g. OTLP2PARQUET_BATCH_DURABILITY=memory. */
  serverEnv?: Record<string, string>;
  print?: boolean;
}): Promise<{ points: GrpcPoint[]; meta: Record<string, unknown> }> {
  const say = (s: string) => opts.print !== false && console.error(s);
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-bench-grpc-" });
  const loadBefore = loadAverage();
  const points: GrpcPoint[] = [];
  try {
    const bodies: string[] = [];
    for (let i = 0; i < BODIES; i++) {
      const p = `${dir}/body-${i}.bin`;
      const req = generateRequest("logs", { records: RECORDS, seed: 1000 + i });
      await Deno.writeFile(p, new Uint8Array(gzipSync(req.protobuf)));
      bodies.push(p);
    }
    if (opts.runtimes.includes("node")) await build("node");
    for (const runtime of opts.runtimes) {
      const srv = await startServer({
        runtime,
        env: {
          OTLP2PARQUET_BATCH_ENABLED: "true",
          OTLP2PARQUET_BATCH_MAX_AGE_SECS: "10",
          ...opts.serverEnv,
        },
      });
      try {
        const portOf = (p: Protocol) => p === "grpc" ? srv.grpcPort! : srv.port;
        for (const c of opts.concurrency) {
          const res: Partial<Record<Protocol, Side>> = {};
          for (const p of ["http", "grpc"] as const) {
            if (opts.warmup > 0) await load(p, portOf(p), bodies, c, opts.warmup);
            const cpu0 = cpuSeconds(srv.pid);
            const r = await load(p, portOf(p), bodies, c, opts.seconds);
            const cpu = cpuSeconds(srv.pid) - cpu0;
            res[p] = {
              ...r,
              requestsPerSec: r.ok / r.seconds,
              cpuMsPerCall: r.ok > 0 ? (cpu * 1000) / r.ok : NaN,
            };
          }
          const pt: GrpcPoint = {
            runtime,
            concurrency: c,
            records: RECORDS,
            http: res.http!,
            grpc: res.grpc!,
            ratio: res.grpc!.requestsPerSec / res.http!.requestsPerSec,
            cpuRatio: res.grpc!.cpuMsPerCall / res.http!.cpuMsPerCall,
          };
          points.push(pt);
          say(
            `${runtime} ×${c}: HTTP ${Math.round(pt.http.requestsPerSec)} req/s (p99 ${
              pt.http.p99Ms.toFixed(1)
            } ms, ${pt.http.failed} failed), gRPC ${
              Math.round(pt.grpc.requestsPerSec)
            } req/s (p99 ${pt.grpc.p99Ms.toFixed(1)} ms, ${pt.grpc.failed} failed): gRPC/HTTP ${
              pt.ratio.toFixed(2)
            }; server CPU per call: HTTP ${pt.http.cpuMsPerCall.toFixed(2)} ms, gRPC ${
              pt.grpc.cpuMsPerCall.toFixed(2)
            } ms (${pt.cpuRatio.toFixed(2)})`,
          );
        }
        await srv.stop();
      } finally {
        await srv.kill();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return {
    points,
    meta: {
      kind: "grpc",
      date: new Date().toISOString(),
      commit: await gitCommit(),
      machine: await machineInfo(),
      loadGenerator: "bench/grpc-load.mjs on Node (node:http2 / node:http), same machine",
      loadAverage: { before: loadBefore, after: loadAverage() },
      options: opts,
    },
  };
}

export function grpcTable(points: GrpcPoint[]): string {
  const rows = [
    "| runtime | calls in flight | HTTP req/s | HTTP p99 ms | gRPC req/s | gRPC p99 ms | gRPC ÷ HTTP | server CPU ms/call HTTP | gRPC | gRPC ÷ HTTP |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const p of points) {
    rows.push(
      `| ${p.runtime} | ${p.concurrency} | ${
        Math.round(p.http.requestsPerSec).toLocaleString("en-US")
      } | ${p.http.p99Ms.toFixed(1)} | ${
        Math.round(p.grpc.requestsPerSec).toLocaleString("en-US")
      } | ${p.grpc.p99Ms.toFixed(1)} | ${p.ratio.toFixed(2)} | ${
        p.http.cpuMsPerCall.toFixed(2)
      } | ${p.grpc.cpuMsPerCall.toFixed(2)} | ${p.cpuRatio.toFixed(2)} |`,
    );
  }
  return rows.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "8" },
      warmup: { type: "string", default: "2" },
      runtime: { type: "string", default: "deno,bun,node" },
      concurrency: { type: "string", default: "1,16,64" },
      env: { type: "string", multiple: true, default: [] },
    },
  });
  const serverEnv: Record<string, string> = {};
  for (const kv of values.env as string[]) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new TypeError(`--env takes NAME=VALUE, got "${kv}"`);
    serverEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const runtimes = values.runtime!.split(",").map((s) => s.trim()) as Runtime[];
  for (const r of runtimes) {
    if (!["deno", "bun", "node"].includes(r)) throw new TypeError(`unknown runtime "${r}"`);
  }
  const r = await runGrpc({
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    runtimes,
    concurrency: values.concurrency!.split(",").map(Number),
    serverEnv,
  });
  console.log(grpcTable(r.points));
  const out = new URL("./results/grpc-latest.json", import.meta.url).pathname;
  await Deno.writeTextFile(out, JSON.stringify({ ...r.meta, points: r.points }, null, 2) + "\n");
  console.error(`wrote ${out}`);
}
