/**
 * HTTP benchmark on loopback: the real server (a subprocess, port 0, output to a temporary
 * directory) under load from `wrk` (Debian package `wrk`), next to a bare Hono endpoint on the
 * same runtime that only reads the body (./bare-app.ts), so the server's cost is a ratio.
 *
 *   deno task bench:http [--runtime deno,bun,node] [--targets bare,writethrough,batching,batching-memory,…]
 *                        [--points 100x1,100x16,100x64,10x64] [--duration S | --long] [--warmup S]
 *                        [--max-age S] [--env NAME=VALUE]... [--signal logs|traces|metrics]
 *                        [--threads N] [--encoders wasm,native [--repeat N]] [--out FILE | --no-write]
 *
 * (`deno task bench:http` is `deno run -A bench/http.ts`.)
 *
 * Every point is `records x connections`: requests of that many records, gzip'd protobuf, sent by
 * that many connections for `--duration` seconds (default 10; `--long` = the issue's 30 s sustained
 * runs) after `--warmup` seconds (default 2; 30 with `--long`, so a sustained point measures the
 * server in its steady state) whose numbers are dropped. Thirty-two different
 * requests of each size are sent in turn (different ids, bodies and attribute values), so the
 * server really writes new data. Each target × runtime is one server process, started before its
 * points and stopped (SIGTERM: buffered data is flushed) after them; the shutdown time is reported.
 *
 * Runtimes (default all three): `deno` runs src/entry/main.ts, `bun` runs the same source with
 * node_modules/.bin/bun, `node` runs the Node bundle (built fresh by scripts/build.ts, then copied
 * to the temporary directory so a concurrent rebuild of dist/node cannot change it mid-run). The
 * bare endpoint has a twin per runtime: ./bare.ts (Deno.serve), ./bare-bun.ts (Bun.serve),
 * ./bare-node.ts (the server entry's own Node listener, bundled with esbuild), so `vs bare` compares
 * like with like.
 * `BENCH_SERVER_FLAGS` adds flags to the runtime's command line before the entry (e.g. V8 flags);
 * `BENCH_SERVER_LOG=PATH` saves each server's output to `PATH.<runtime>-<target>.log`.
 * `--env NAME=VALUE` (repeatable) sets server configuration, e.g. an A/B of the encoder thread:
 * `--env OTLP2PARQUET_PARQUET_ENCODE_THREADS=0` (the shell's own OTLP2PARQUET_* are not passed).
 * `--encoders wasm,native` runs every target (but `bare`) once per Parquet encoder
 * (`OTLP2PARQUET_PARQUET_ENCODER`), a fresh server each, the encoders taking turns, `--repeat N`
 * times (default 1: A, B; 2: A, B, A, B): the before/after of the native encoder in one run. Those
 * points are reported as target `writethrough[wasm]`, `writethrough[native]`, ….
 *
 * Targets: `bare`, `writethrough` (batch.enabled = false: every request is written as Parquet
 * before the answer), `batching` (batch.enabled = true, write-ahead log), `batching-memory` (the
 * same without the write-ahead log, batch.durability = "memory": what the log costs), and on request
 * `writethrough-nometrics` and `batching-nometrics` (those with server.metrics = false: what the
 * metrics cost, e.g. `--targets batching,batching-nometrics`). Batching
 * targets run with batch.max_age_secs = `--max-age` (default 10) and the default max_rows /
 * max_bytes, so every (table, service) buffer is flushed at least every 10 s even at low rates:
 * the measured windows include flushes, and each point reports the Parquet files written during
 * it (after its warm-up).
 *
 * Reported per point: requests/s, records/s, p50/p90/p99/max latency (wrk's, µs → ms), non-2xx
 * and socket errors, server RSS (sampled every 250 ms: max during the point), the server's CPU
 * time over the point in cores (from /proc/PID/stat: above 1 means it used the second core) and
 * split by thread (main thread, the busiest other thread, which is the encoder thread when there
 * is one, and the rest: GC and compiler helpers, I/O),
 * Parquet files written, and requests/s as a fraction of the bare endpoint's on the same runtime.
 * Per server: where Parquet encoding runs (the `encoder` field of the server's start-up line,
 * e.g. "1 worker thread" or "main thread"; "?" when the line has none), peak RSS, shutdown time,
 * files. Results: bench/results/http-latest.json.
 */
import * as esbuild from "esbuild";
import { build } from "../scripts/build.ts";
import { gitCommit, loadAverage, type MachineInfo, machineInfo, machineLine } from "./core.ts";
import { generateRequest, type GenSignal } from "./gen.ts";
import { processCpuSeconds, threadCpuSeconds } from "./proc.ts";
import { httpTargets, type TargetCheck, targetsTable } from "./targets.ts";

const REPO = new URL("..", import.meta.url).pathname;
const BUN = `${REPO}node_modules/.bin/bun`;
const BODIES_PER_SIZE = 32;

export type Target =
  | "bare"
  | "writethrough"
  | "batching"
  | "batching-memory"
  | "writethrough-nometrics"
  | "batching-nometrics";
export type Runtime = "deno" | "bun" | "node";
/** The default targets. */
export const TARGETS: Target[] = ["bare", "writethrough", "batching", "batching-memory"];
/**
 * Every target: the defaults and the `-nometrics` twins (server.metrics = false: no counting at
 * all), which measure what the metrics cost.
 */
export const ALL_TARGETS: Target[] = [...TARGETS, "writethrough-nometrics", "batching-nometrics"];
export const RUNTIMES: Runtime[] = ["deno", "bun", "node"];

export interface HttpOptions {
  durationS: number;
  warmupS: number;
  signal: GenSignal;
  targets: Target[];
  runtimes: Runtime[];
  points: { records: number; connections: number }[];
  /** batch.max_age_secs of the batching targets. */
  maxAgeS: number;
  /** More environment for the servers (after the benchmark's own), e.g. `OTLP2PARQUET_*` settings. */
  serverEnv: Record<string, string>;
  /** Parquet encoders each target runs with in turn (`--encoders`); empty: the default. */
  encoders: string[];
  /** How many times the encoders take turns (`--repeat`). */
  repeat: number;
  threads: number;
  print: boolean;
}

export const DEFAULT_HTTP: HttpOptions = {
  durationS: 10,
  warmupS: 2,
  signal: "logs",
  targets: TARGETS,
  runtimes: RUNTIMES,
  points: [
    { records: 100, connections: 1 },
    { records: 100, connections: 16 },
    { records: 100, connections: 64 },
    { records: 10, connections: 64 },
  ],
  maxAgeS: 10,
  serverEnv: {},
  encoders: [],
  repeat: 1,
  threads: 1,
  print: true,
};

export interface PointResult {
  /** The target, with `[encoder]` after it under `--encoders`. */
  target: Target | string;
  runtime: Runtime;
  /** Where the server encodes Parquet (its start-up line's `encoder`), "?" if it does not say. */
  encoder: string;
  records: number;
  connections: number;
  durationS: number;
  requests: number;
  requestsPerSec: number;
  recordsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Non-2xx answers. */
  non2xx: number;
  /** connect + read + write + timeout errors. */
  socketErrors: number;
  /** Max server RSS sampled during the point, MB. */
  serverRssMB: number;
  /** Server CPU time (user + system, all threads) during the point ÷ its wall time, in cores. */
  serverCpuCores: number;
  /**
   * The same split by thread (Linux /proc/PID/task): the main thread (HTTP, decoding, the IPC
   * hand-off), the busiest other thread (the encoder thread, when there is one) and all the rest
   * (the runtime's GC and compiler helpers, I/O threads); null where /proc is unavailable.
   */
  serverCpuThreads: { main: number; busiest: number; rest: number } | null;
  /** Parquet files that appeared in the output directory during the point (warm-up excluded). */
  filesWritten: number;
  /** requests/s of this point ÷ requests/s of the bare endpoint, same runtime and point. */
  vsBare: number | null;
  /** Bytes per request body (gzip'd). */
  bodyBytes: number;
}

export interface TargetSummary {
  /** The target, with `[encoder]` after it under `--encoders`. */
  target: Target | string;
  runtime: Runtime;
  /** Where the server encodes Parquet (its start-up line's `encoder`), "?" if it does not say. */
  encoder: string;
  /** Peak RSS of the server process over its life (VmHWM), MB. */
  peakRssMB: number;
  /** SIGTERM to exit (buffered data flushed), ms. */
  shutdownMs: number;
  exitCode: number;
  /** Parquet files and bytes in the output directory after shutdown. */
  files: number;
  fileBytes: number;
  /** Server log lines about the encoder, workers, threads or cores (the first five). */
  notes: string[];
}

export interface HttpResults {
  kind: "http";
  date: string;
  commit: string;
  machine: MachineInfo;
  /** Version of each runtime measured. */
  runtimeVersions: Partial<Record<Runtime, string>>;
  loadGenerator: string;
  /** 1-minute load average before and after the run (other work on the machine skews numbers). */
  loadAverage: { before: number | null; after: number | null };
  options: Omit<HttpOptions, "print">;
  points: PointResult[];
  targets: TargetSummary[];
  /** The issue's HTTP targets checked against this run (./targets.ts). */
  issueTargets?: TargetCheck[];
}

interface Proc {
  child: Deno.ChildProcess;
  port: number;
  encoder: string;
  log: () => string;
}

/** Files prepared once per run: the Node bundle and the bare Node twin, in the temp directory. */
interface Prepared {
  nodeMain?: string;
  bareNode?: string;
}

/** Subprocesses alive right now, killed if the benchmark itself is interrupted. */
const live = new Set<Deno.ChildProcess>();

/** The command that starts a target on `runtime`. */
function serverCommand(
  target: Target,
  runtime: Runtime,
  output: string,
  prep: Prepared,
): { cmd: string; args: string[] } {
  const flags = Deno.env.get("BENCH_SERVER_FLAGS")?.split(" ").filter(Boolean) ?? [];
  const serve = ["serve", "--port", "0", "--output", output, "--log-level", "info"];
  switch (runtime) {
    case "deno":
      return target === "bare"
        ? { cmd: Deno.execPath(), args: ["run", "--allow-net", ...flags, "bench/bare.ts", "0"] }
        : { cmd: Deno.execPath(), args: ["run", "-A", ...flags, "src/entry/main.ts", ...serve] };
    case "bun":
      return target === "bare"
        ? { cmd: BUN, args: ["run", ...flags, "bench/bare-bun.ts", "0"] }
        : { cmd: BUN, args: ["run", ...flags, "src/entry/main.ts", ...serve] };
    case "node":
      return target === "bare"
        ? { cmd: "node", args: [...flags, prep.bareNode!, "0"] }
        : { cmd: "node", args: [...flags, prep.nodeMain!, ...serve] };
    default:
      throw new TypeError(`bench/http: unknown runtime "${runtime}"`);
  }
}

/** The `encoder` field of a start-up line, text (`encoder="1 worker thread"`) or JSON format. */
export function parseEncoder(line: string): string | null {
  const m = line.match(/(?:^|\s)encoder=("(?:[^"\\]|\\.)*"|\S+)/) ??
    line.match(/"encoder":("(?:[^"\\]|\\.)*")/);
  if (!m) return null;
  return m[1].startsWith('"') ? JSON.parse(m[1]) : m[1];
}

async function start(
  target: Target,
  runtime: Runtime,
  o: HttpOptions,
  dir: string,
  prep: Prepared,
  label: string = target,
  parquetEncoder?: string,
): Promise<Proc> {
  const output = `${dir}/out-${runtime}-${label}`;
  await Deno.mkdir(output, { recursive: true });
  const { cmd, args } = serverCommand(target, runtime, output, prep);
  const env: Record<string, string> = {
    NO_COLOR: "1",
    OTLP2PARQUET_LISTEN_ADDR: "127.0.0.1:0",
    OTLP2PARQUET_GRPC_LISTEN_ADDR: "127.0.0.1:0",
    OTLP2PARQUET_BATCH_ENABLED: target.startsWith("batching") ? "true" : "false",
    OTLP2PARQUET_BATCH_DURABILITY: target === "batching-memory" ? "memory" : "wal",
    OTLP2PARQUET_BATCH_WAL_DIR: `${dir}/wal-${runtime}-${label}`,
    OTLP2PARQUET_BATCH_MAX_AGE_SECS: String(o.maxAgeS),
    OTLP2PARQUET_SERVER_METRICS: target.endsWith("-nometrics") ? "false" : "true",
    ...(parquetEncoder ? { OTLP2PARQUET_PARQUET_ENCODER: parquetEncoder } : {}),
  };
  // The shell's own OTLP2PARQUET_* settings never leak into the measured servers.
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OTLP2PARQUET_")),
  );
  const child = new Deno.Command(cmd, {
    args,
    cwd: REPO,
    env: { ...inherited, ...env, ...o.serverEnv },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  let text = "";
  let found: (p: { port: number; line: string } | null) => void;
  const listening = new Promise<{ port: number; line: string } | null>((r) => (found = r));
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) {
      text += dec.decode(chunk, { stream: true });
      const m = text.match(/^[^\n]*listening[^\n]*?127\.0\.0\.1:(\d+)[^\n]*$/m);
      if (m) found({ port: Number(m[1]), line: m[0] });
    }
  };
  pump(child.stdout);
  pump(child.stderr);
  const timeout = setTimeout(() => found(null), 60_000);
  const exited = child.status.then(() => null);
  const got = await Promise.race([listening, exited]);
  clearTimeout(timeout);
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    live.delete(child);
  };
  if (!got) {
    await kill();
    throw new Error(`bench/http: ${target} on ${runtime} did not start listening:\n${text}`);
  }
  // Ready when /health answers.
  let ready = false;
  for (let i = 0; i < 300 && !ready; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${got.port}/health`);
      await r.body?.cancel();
      ready = r.ok;
    } catch { /* not yet */ }
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  if (!ready) {
    await kill();
    throw new Error(`bench/http: ${target} on ${runtime}: /health never answered 200:\n${text}`);
  }
  const encoder = target === "bare" ? "none" : parseEncoder(got.line) ?? "?";
  return { child, port: got.port, encoder, log: () => text };
}

function procStatus(pid: number, key: "VmRSS" | "VmHWM"): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(
      new RegExp(`^${key}:\\s+(\\d+) kB`, "m"),
    );
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of each thread of a process, by thread id (Linux /proc). */
function threadSeconds(pid: number): Map<number, number> | null {
  const threads = threadCpuSeconds(pid);
  return threads && new Map([...threads].map(([id, t]) => [id, t.seconds]));
}

/** CPU of the main thread, the busiest other thread and the rest between two samples, in cores. */
function threadSplit(
  pid: number,
  a: Map<number, number> | null,
  b: Map<number, number> | null,
  secs: number,
): { main: number; busiest: number; rest: number } | null {
  if (!a || !b || secs <= 0) return null;
  let main = 0, busiest = 0, rest = 0;
  for (const [tid, t] of b) {
    const d = Math.max(0, t - (a.get(tid) ?? 0)) / secs;
    if (tid === pid) main = d;
    else if (d > busiest) rest += busiest, busiest = d;
    else rest += d;
  }
  return { main, busiest, rest };
}

async function stop(p: Proc): Promise<{ ms: number; code: number; peakRssMB: number }> {
  const peakRssMB = procStatus(p.child.pid, "VmHWM");
  const t0 = performance.now();
  try {
    p.child.kill("SIGTERM");
  } catch { /* gone */ }
  const killer = setTimeout(() => {
    try {
      p.child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 60_000);
  const s = await p.child.status;
  clearTimeout(killer);
  live.delete(p.child);
  return { ms: performance.now() - t0, code: s.code, peakRssMB };
}

async function gzip(b: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([b as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Writes the request bodies of one size; returns their directory and mean size. */
async function writeBodies(
  dir: string,
  signal: GenSignal,
  records: number,
): Promise<{ dir: string; bytes: number }> {
  const d = `${dir}/bodies-${signal}-${records}`;
  await Deno.mkdir(d, { recursive: true });
  let total = 0;
  for (let i = 0; i < BODIES_PER_SIZE; i++) {
    const body = await gzip(generateRequest(signal, { records, seed: 1000 + i }).protobuf);
    total += body.length;
    await Deno.writeFile(`${d}/body-${i}.bin`, body);
  }
  return { dir: d, bytes: Math.round(total / BODIES_PER_SIZE) };
}

/** Builds what the runtimes need before any server starts: the Node bundle, the bare Node twin. */
async function prepare(runtimes: Runtime[], dir: string): Promise<Prepared> {
  const prep: Prepared = {};
  if (runtimes.includes("bun")) {
    try {
      await Deno.stat(BUN);
    } catch {
      throw new Error(`bench/http: runtime "bun" needs ${BUN} (npm install)`);
    }
  }
  if (!runtimes.includes("node")) return prep;
  try {
    // A fresh bundle of the current source, copied away from dist/node (others may rebuild it).
    const { bundle } = await build("node");
    const src = bundle.slice(0, bundle.lastIndexOf("/"));
    const dst = `${dir}/node`;
    await Deno.mkdir(dst, { recursive: true });
    for await (const e of Deno.readDir(src)) {
      if (e.isFile) await Deno.copyFile(`${src}/${e.name}`, `${dst}/${e.name}`);
    }
    prep.nodeMain = `${dst}/${bundle.slice(bundle.lastIndexOf("/") + 1)}`;
    prep.bareNode = `${dir}/bare-node.mjs`;
    await esbuild.build({
      entryPoints: [new URL("./bare-node.ts", import.meta.url).pathname],
      outfile: prep.bareNode,
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      logLevel: "warning",
      banner: {
        js:
          "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
    });
  } finally {
    await esbuild.stop();
  }
  return prep;
}

async function runtimeVersion(runtime: Runtime): Promise<string> {
  if (runtime === "deno") return Deno.version.deno;
  try {
    const out = await new Deno.Command(runtime === "bun" ? BUN : "node", {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim().replace(/^v/, "");
  } catch {
    return "?";
  }
}

interface WrkResult {
  requests: number;
  durationUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  errStatus: number;
  errConnect: number;
  errRead: number;
  errWrite: number;
  errTimeout: number;
}

async function wrk(
  port: number,
  signal: GenSignal,
  bodies: string,
  connections: number,
  seconds: number,
  threads: number,
  pid: number,
): Promise<{
  r: WrkResult;
  rssMB: number;
  cpuCores: number;
  threads: PointResult["serverCpuThreads"];
}> {
  const path = signal === "traces" ? "/v1/traces" : `/v1/${signal}`;
  const cpu0 = processCpuSeconds(pid);
  const threads0 = threadSeconds(pid);
  const t0 = performance.now();
  const child = new Deno.Command("wrk", {
    args: [
      `-t${Math.min(threads, connections)}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--timeout",
      "10s",
      "-s",
      new URL("./wrk.lua", import.meta.url).pathname,
      `http://127.0.0.1:${port}${path}`,
    ],
    env: {
      BODY_DIR: bodies,
      BODY_COUNT: String(BODIES_PER_SIZE),
      BODY_PATH: path,
      CONTENT_TYPE: "application/x-protobuf",
      CONTENT_ENCODING: "gzip",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  let rss = 0;
  const sampler = setInterval(() => (rss = Math.max(rss, procStatus(pid, "VmRSS"))), 250);
  const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1000);
  const out = await child.output();
  live.delete(child);
  clearTimeout(killer);
  clearInterval(sampler);
  rss = Math.max(rss, procStatus(pid, "VmRSS"));
  const secs = (performance.now() - t0) / 1000;
  const cpuCores = (processCpuSeconds(pid) - cpu0) / secs;
  const split = threadSplit(pid, threads0, threadSeconds(pid), secs);
  const text = new TextDecoder().decode(out.stdout);
  const m = text.match(/^RESULT (\{.*\})$/m);
  if (!m) {
    throw new Error(
      `bench/http: wrk gave no result:\n${text}\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return { r: JSON.parse(m[1]), rssMB: rss, cpuCores, threads: split };
}

async function dirStats(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0, bytes = 0;
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".parquet")) {
        files++;
        bytes += (await Deno.stat(p).catch(() => ({ size: 0 }))).size;
      }
    }
  };
  try {
    await walk(dir);
  } catch { /* none */ }
  return { files, bytes };
}

export async function runHttp(opts: Partial<HttpOptions> = {}): Promise<HttpResults> {
  const o: HttpOptions = { ...DEFAULT_HTTP, ...opts };
  for (const t of o.targets) {
    if (!ALL_TARGETS.includes(t)) throw new TypeError(`bench/http: unknown target "${t}"`);
  }
  for (const r of o.runtimes) {
    if (!RUNTIMES.includes(r)) throw new TypeError(`bench/http: unknown runtime "${r}"`);
  }
  const say = (s: string) => o.print && console.error(s);
  let wrkVersion: string;
  try {
    const v = await new Deno.Command("wrk", {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    wrkVersion = new TextDecoder().decode(v.stdout).split("\n")[0].replace(/ Copyright.*$/, "")
      .trim();
  } catch {
    throw new Error("bench/http: wrk is not installed (Debian: apt-get install wrk)");
  }
  const loadBefore = loadAverage();
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-bench-" });
  const points: PointResult[] = [];
  const targets: TargetSummary[] = [];
  const runtimeVersions: Partial<Record<Runtime, string>> = {};
  try {
    const prep = await prepare(o.runtimes, dir);
    for (const rt of o.runtimes) runtimeVersions[rt] = await runtimeVersion(rt);
    const bodies = new Map<number, { dir: string; bytes: number }>();
    for (const r of new Set(o.points.map((p) => p.records))) {
      bodies.set(r, await writeBodies(dir, o.signal, r));
    }
    // Runtimes inside targets: the runtimes of one target run back to back (less drift between
    // them on a shared machine).
    const runs: { target: Target; label: string; encoder?: string }[] = [];
    for (const target of o.targets) {
      if (target === "bare" || o.encoders.length === 0) runs.push({ target, label: target });
      else {
        for (let rep = 0; rep < o.repeat; rep++) {
          for (const encoder of o.encoders) {
            runs.push({ target, label: `${target}[${encoder}]`, encoder });
          }
        }
      }
    }
    for (const [n, run] of runs.entries()) {
      const { target, encoder } = run;
      for (const runtime of o.runtimes) {
        const label = run.label;
        const proc = await start(target, runtime, o, dir, prep, `${label}-${n}`, encoder);
        const output = `${dir}/out-${runtime}-${label}-${n}`;
        say(`${label} on ${runtime}: port ${proc.port}, Parquet encoding: ${proc.encoder}`);
        try {
          for (const pt of o.points) {
            const b = bodies.get(pt.records)!;
            const load = (s: number) =>
              wrk(proc.port, o.signal, b.dir, pt.connections, s, o.threads, proc.child.pid);
            if (o.warmupS > 0) await load(o.warmupS);
            const before = (await dirStats(output)).files;
            const { r, rssMB, cpuCores, threads } = await load(o.durationS);
            let after = (await dirStats(output)).files;
            // A flush the point triggered may still be encoding or storing when the load stops
            // (a loaded machine): wait for it a little (bounded), never for a timer's flush.
            for (let i = 0; target !== "bare" && after === before && i < 50; i++) {
              await new Promise((res) => setTimeout(res, 100));
              after = (await dirStats(output)).files;
            }
            const secs = r.durationUs / 1e6;
            const rps = r.requests / secs;
            const res: PointResult = {
              target: label,
              runtime,
              encoder: proc.encoder,
              records: pt.records,
              connections: pt.connections,
              durationS: secs,
              requests: r.requests,
              requestsPerSec: rps,
              recordsPerSec: rps * pt.records,
              p50Ms: r.p50Us / 1000,
              p90Ms: r.p90Us / 1000,
              p99Ms: r.p99Us / 1000,
              maxMs: r.maxUs / 1000,
              non2xx: r.errStatus,
              socketErrors: r.errConnect + r.errRead + r.errWrite + r.errTimeout,
              serverRssMB: rssMB,
              serverCpuCores: cpuCores,
              serverCpuThreads: threads,
              filesWritten: after - before,
              vsBare: null,
              bodyBytes: b.bytes,
            };
            points.push(res);
            say(
              `  ${pt.records} records × ${pt.connections} conn: ${Math.round(rps)} req/s, p99 ${
                res.p99Ms.toFixed(1)
              } ms, CPU ${cpuCores.toFixed(2)} cores${
                threads ? ` (${threadText(threads)})` : ""
              }, RSS ${Math.round(rssMB)} MB, ${res.filesWritten} files${
                res.non2xx ? `, ${res.non2xx} non-2xx` : ""
              }${res.socketErrors ? `, ${res.socketErrors} socket errors` : ""}`,
            );
          }
        } finally {
          const s = await stop(proc);
          const logTo = Deno.env.get("BENCH_SERVER_LOG");
          if (logTo) await Deno.writeTextFile(`${logTo}.${runtime}-${label}.log`, proc.log());
          const st = await dirStats(output);
          const notes = proc.log().split("\n")
            .filter((l) => /encoder|worker|thread|\bcores?\b/i.test(l) && !/listening/.test(l))
            .slice(0, 5);
          targets.push({
            target: label,
            runtime,
            encoder: proc.encoder,
            peakRssMB: s.peakRssMB,
            shutdownMs: s.ms,
            exitCode: s.code,
            files: st.files,
            fileBytes: st.bytes,
            notes,
          });
          say(
            `  stopped in ${Math.round(s.ms)} ms (exit ${s.code}), ${st.files} Parquet files`,
          );
          if (s.code !== 0 && target !== "bare") say(proc.log().slice(-4000));
        }
      }
    }
  } finally {
    for (const c of live) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  for (const p of points) {
    const bare = points.find((x) =>
      x.target === "bare" && x.runtime === p.runtime && x.records === p.records &&
      x.connections === p.connections
    );
    p.vsBare = bare && p.target !== "bare" ? p.requestsPerSec / bare.requestsPerSec : null;
  }
  const { print: _p, ...options } = o;
  return {
    kind: "http",
    date: new Date().toISOString(),
    commit: await gitCommit(),
    machine: await machineInfo(),
    runtimeVersions,
    loadGenerator: `${wrkVersion} (same machine, ${o.threads} thread${o.threads === 1 ? "" : "s"})`,
    loadAverage: { before: loadBefore, after: loadAverage() },
    options,
    points,
    targets,
  };
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

/** "main 0.88 + busiest other 0.70 + rest 0.21" style, in cores. */
function threadText(t: NonNullable<PointResult["serverCpuThreads"]>): string {
  return `main ${t.main.toFixed(2)} + next ${t.busiest.toFixed(2)} + rest ${t.rest.toFixed(2)}`;
}

/** The results as Markdown tables (the README shows them). */
export function httpTable(r: HttpResults): string {
  const lines = [
    "| runtime | target | records/request | connections | requests/s | records/s | p50 ms | p99 ms | server CPU (cores) | CPU by thread: main + next + rest | server RSS MB | files written | vs bare | errors |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
  ];
  for (const p of r.points) {
    lines.push(
      `| ${p.runtime} | ${p.target} | ${p.records} | ${p.connections} | ${
        fmtInt(p.requestsPerSec)
      } | ${fmtInt(p.recordsPerSec)} | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} | ${
        Number.isFinite(p.serverCpuCores) ? p.serverCpuCores.toFixed(2) : "?"
      } | ${p.serverCpuThreads ? threadText(p.serverCpuThreads) : "?"} | ${
        fmtInt(p.serverRssMB)
      } | ${p.target === "bare" ? "" : p.filesWritten} | ${
        p.vsBare === null ? "" : `${(100 * p.vsBare).toFixed(1)}%`
      } | ${p.non2xx + p.socketErrors} |`,
    );
  }
  lines.push(
    "",
    "| runtime | target | Parquet encoding | peak RSS MB | shutdown ms | exit | Parquet files | Parquet MB |",
    "|---|---|---|---:|---:|---:|---:|---:|",
  );
  for (const t of r.targets) {
    lines.push(
      `| ${t.runtime} | ${t.target} | ${t.target === "bare" ? "" : t.encoder} | ${
        fmtInt(t.peakRssMB)
      } | ${fmtInt(t.shutdownMs)} | ${t.exitCode} | ${t.target === "bare" ? "" : t.files} | ${
        t.target === "bare" ? "" : (t.fileBytes / (1 << 20)).toFixed(1)
      } |`,
    );
  }
  return lines.join("\n");
}

/** The first lines of the printed report: machine, runtimes, load, settings. */
export function httpHeader(r: HttpResults): string {
  const o = r.options;
  const versions = Object.entries(r.runtimeVersions).map(([k, v]) => `${k} ${v}`).join(", ");
  const env = Object.entries(o.serverEnv).map(([k, v]) => `${k}=${v}`).join(" ");
  return [
    `${machineLine(r.machine)}; commit ${r.commit}`,
    `runtimes: ${versions}; load: ${r.loadGenerator}; ${o.signal}, gzip'd protobuf`,
    `${o.durationS} s per point after ${o.warmupS} s warm-up; batch.max_age_secs ${o.maxAgeS}${
      env ? `; server env: ${env}` : ""
    }; load average ${r.loadAverage.before ?? "?"} → ${r.loadAverage.after ?? "?"}`,
  ].join("\n");
}

function list<T extends string>(what: string, v: string | undefined, allowed: T[]): T[] {
  const items = (v ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new RangeError(`bench/http: ${what} needs a list, got "${v}"`);
  for (const i of items) {
    if (!allowed.includes(i as T)) {
      throw new RangeError(
        `bench/http: unknown ${what.replace(/^--/, "").replace(/s$/, "")} "${i}" (one of ${
          allowed.join(", ")
        })`,
      );
    }
  }
  return items as T[];
}

export function parseArgs(args: string[]): { opts: Partial<HttpOptions>; out: string | null } {
  const opts: Partial<HttpOptions> = {};
  let out: string | null = new URL("./results/http-latest.json", import.meta.url).pathname;
  let long = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (!(v >= 0)) throw new RangeError(`bench/http: ${a} needs a number, got "${args[i]}"`);
      return v;
    };
    if (a === "--duration") opts.durationS = Math.max(1, Math.round(num()));
    else if (a === "--long") opts.durationS = 30, long = true;
    else if (a === "--warmup") opts.warmupS = Math.round(num());
    else if (a === "--max-age") opts.maxAgeS = Math.max(1, Math.round(num()));
    else if (a === "--env") {
      const m = (args[++i] ?? "").match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s);
      if (!m) throw new RangeError(`bench/http: --env needs NAME=VALUE, got "${args[i]}"`);
      opts.serverEnv = { ...opts.serverEnv, [m[1]]: m[2] };
    } else if (a === "--threads") opts.threads = Math.max(1, Math.round(num()));
    else if (a === "--signal") {
      opts.signal = list<GenSignal>(a, args[++i], ["logs", "traces", "metrics"])[0];
    } else if (a === "--targets") opts.targets = list(a, args[++i], ALL_TARGETS);
    else if (a === "--encoders") opts.encoders = list(a, args[++i], ["auto", "native", "wasm"]);
    else if (a === "--repeat") {
      opts.repeat = Number(args[++i]);
      if (!(opts.repeat >= 1)) throw new RangeError(`bench/http: --repeat needs a number ≥ 1`);
    } else if (a === "--runtime" || a === "--runtimes") {
      opts.runtimes = list(a, args[++i], RUNTIMES);
    } else if (a === "--points") {
      opts.points = (args[++i] ?? "").split(",").map((p) => {
        const m = p.match(/^(\d+)x(\d+)$/);
        if (!m) throw new RangeError(`bench/http: a point is RECORDSxCONNECTIONS, got "${p}"`);
        return { records: Number(m[1]), connections: Number(m[2]) };
      });
    } else if (a === "--out") out = args[++i];
    else if (a === "--no-write") out = null;
    else if (a === "--help") {
      console.log(
        "deno task bench:http [--runtime deno,bun,node] [--targets bare,writethrough,batching,batching-memory,writethrough-nometrics,batching-nometrics] [--points 100x1,100x16,100x64,10x64] [--duration S | --long] [--warmup S] [--max-age S] [--env NAME=VALUE]... [--threads N] [--encoders wasm,native [--repeat N]] [--signal logs|traces|metrics] [--out FILE | --no-write]",
      );
      Deno.exit(0);
    } else throw new TypeError(`bench/http: unknown argument "${a}"`);
  }
  // A sustained point measures the server as it runs for hours: after a warm-up that has filled
  // its buffers, written files and grown its memory to the working size (the first seconds pay
  // for page faults of a heap growing to ~1.3 GB, 0.2–0.3 cores of system time).
  if (long && opts.warmupS === undefined) opts.warmupS = LONG_WARMUP_S;
  return { opts, out };
}

/** `--long`'s warm-up per point unless `--warmup` says otherwise. */
export const LONG_WARMUP_S = 30;

if (import.meta.main) {
  const { opts, out } = parseArgs(Deno.args);
  // Ctrl-C or a kill: stop the servers and wrk this run started before exiting.
  const interrupted = () => {
    for (const c of live) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
    }
    Deno.exit(130);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, interrupted);
  const r = await runHttp(opts);
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(sig, interrupted);
  console.log(`\n${httpHeader(r)}\n`);
  console.log(httpTable(r));
  for (const t of r.targets) {
    if (t.notes.length) console.log(`${t.runtime} ${t.target}: ${t.notes.join(" | ")}`);
  }
  r.issueTargets = httpTargets(r);
  if (r.issueTargets.length) {
    console.log("\nAgainst the issue's targets (batching servers):\n");
    console.log(targetsTable(r.issueTargets));
  }
  if (out) {
    const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir || "/", { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(r, null, 2) + "\n");
    console.log(`\nwrote ${out}`);
  }
}
