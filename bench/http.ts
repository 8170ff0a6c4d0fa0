/**
 * HTTP benchmark on loopback: the real server (a subprocess, port 0, output to a temporary
 * directory) under load from `wrk` (Debian package `wrk`), next to a bare Hono endpoint that only
 * reads the body (./bare.ts), so the server's cost is a ratio.
 *
 *   deno run -A bench/http.ts [--duration S] [--long] [--warmup S] [--signal logs|traces|metrics]
 *                             [--targets bare,writethrough,batching,batching-memory] [--runtime deno]
 *                             [--points 100x1,100x16,100x64,10x64] [--out FILE | --no-write]
 *
 * Every point is `records x connections`: requests of that many records, gzip'd protobuf, sent by
 * that many connections for `--duration` seconds (default 10; `--long` = the issue's 30 s sustained
 * runs) after `--warmup` seconds (default 2) whose numbers are dropped. Thirty-two different
 * requests of each size are sent in turn (different ids, bodies and attribute values), so the
 * server really writes new data. Each target is one server process, started before its points and
 * stopped (SIGTERM: buffered data is flushed) after them; the shutdown time is reported too.
 *
 * Targets: `bare` (./bare.ts), `writethrough` (batch.enabled = false: every request is written
 * as Parquet before the answer), `batching` (batch.enabled = true, write-ahead log: flushes by
 * rows, bytes and age happen during the run), `batching-memory` (the same without the write-ahead
 * log, batch.durability = "memory": what the log costs).
 *
 * Reported per point: requests/s, records/s, p50/p90/p99/max latency (wrk's, µs → ms), non-2xx
 * and socket errors, server RSS (sampled every 250 ms: max during the point), and requests/s as a
 * fraction of the bare endpoint's. Results: bench/results/http-latest.json.
 *
 * Runtimes: `deno` runs src/runtime/main.ts. TODO(runtimes issue): `bun` and `node` — fill in
 * `serverCommand()` below once the runtimes issue builds the Node bundle (and the Bun entry);
 * everything else is runtime-independent.
 */
import { gitCommit, type MachineInfo, machineInfo, machineLine } from "./core.ts";
import { generateRequest, type GenSignal } from "./gen.ts";

const REPO = new URL("..", import.meta.url).pathname;
const BODIES_PER_SIZE = 32;

export type Target = "bare" | "writethrough" | "batching" | "batching-memory";
export type Runtime = "deno" | "bun" | "node";

export interface HttpOptions {
  durationS: number;
  warmupS: number;
  signal: GenSignal;
  targets: Target[];
  runtime: Runtime;
  points: { records: number; connections: number }[];
  threads: number;
  print: boolean;
}

export const DEFAULT_HTTP: HttpOptions = {
  durationS: 10,
  warmupS: 2,
  signal: "logs",
  targets: ["bare", "writethrough", "batching", "batching-memory"],
  runtime: "deno",
  points: [
    { records: 100, connections: 1 },
    { records: 100, connections: 16 },
    { records: 100, connections: 64 },
    { records: 10, connections: 64 },
  ],
  threads: 1,
  print: true,
};

export interface PointResult {
  target: Target;
  runtime: Runtime;
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
  /** requests/s of this point ÷ requests/s of the bare endpoint at the same point. */
  vsBare: number | null;
  /** Bytes per request body (gzip'd). */
  bodyBytes: number;
}

export interface TargetSummary {
  target: Target;
  runtime: Runtime;
  /** Peak RSS of the server process over its life (VmHWM), MB. */
  peakRssMB: number;
  /** SIGTERM to exit (buffered data flushed), ms. */
  shutdownMs: number;
  exitCode: number;
  /** Parquet files and bytes in the output directory after shutdown. */
  files: number;
  fileBytes: number;
  /** Server log lines mentioning workers/threads/cores, so the output says how cores are used. */
  notes: string[];
}

export interface HttpResults {
  kind: "http";
  date: string;
  commit: string;
  machine: MachineInfo;
  loadGenerator: string;
  options: Omit<HttpOptions, "print">;
  points: PointResult[];
  targets: TargetSummary[];
}

interface Proc {
  child: Deno.ChildProcess;
  port: number;
  log: () => string;
}

/** The command that starts a target on `runtime`. */
function serverCommand(
  target: Target,
  runtime: Runtime,
  output: string,
): { cmd: string; args: string[] } {
  if (runtime !== "deno") {
    // TODO(runtimes issue): Bun: ["bun", ["run", "src/runtime/main.ts", "serve", ...]] (and a Bun
    // twin of bare.ts on Bun.serve); Node: ["node", ["dist/node/main.mjs", "serve", ...]] once the
    // bundle exists (and a @hono/node-server twin of bare.ts).
    throw new TypeError(
      `bench/http: runtime "${runtime}" is not wired up yet (TODO in serverCommand)`,
    );
  }
  if (target === "bare") {
    return { cmd: Deno.execPath(), args: ["run", "--allow-net", "bench/bare.ts", "0"] };
  }
  return {
    cmd: Deno.execPath(),
    args: [
      "run",
      "-A",
      ...(Deno.env.get("BENCH_SERVER_FLAGS")?.split(" ").filter(Boolean) ?? []),
      "src/runtime/main.ts",
      "serve",
      "--port",
      "0",
      "--output",
      output,
      "--log-level",
      "info",
    ],
  };
}

async function start(target: Target, o: HttpOptions, dir: string): Promise<Proc> {
  const output = `${dir}/out-${target}`;
  await Deno.mkdir(output, { recursive: true });
  const { cmd, args } = serverCommand(target, o.runtime, output);
  const env: Record<string, string> = {
    NO_COLOR: "1",
    OTLP2PARQUET_LISTEN_ADDR: "127.0.0.1:0",
    OTLP2PARQUET_BATCH_ENABLED: target.startsWith("batching") ? "true" : "false",
    OTLP2PARQUET_BATCH_DURABILITY: target === "batching-memory" ? "memory" : "wal",
    OTLP2PARQUET_BATCH_WAL_DIR: `${dir}/wal-${target}`,
  };
  const child = new Deno.Command(cmd, {
    args,
    cwd: REPO,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let text = "";
  let found: (p: number) => void;
  const port = new Promise<number>((r) => (found = r));
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) {
      text += dec.decode(chunk, { stream: true });
      const m = text.match(/listening[^\n]*?127\.0\.0\.1:(\d+)/);
      if (m) found(Number(m[1]));
    }
  };
  pump(child.stdout);
  pump(child.stderr);
  const timeout = setTimeout(() => found(0), 60_000);
  const exited = child.status.then(() => 0);
  const p = await Promise.race([port, exited]);
  clearTimeout(timeout);
  if (!p) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw new Error(`bench/http: ${target} did not start listening:\n${text}`);
  }
  // Ready when /health answers.
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${p}/health`);
      await r.body?.cancel();
      if (r.ok) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port: p, log: () => text };
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
): Promise<{ r: WrkResult; rssMB: number }> {
  const path = signal === "traces" ? "/v1/traces" : `/v1/${signal}`;
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
  let rss = 0;
  const sampler = setInterval(() => (rss = Math.max(rss, procStatus(pid, "VmRSS"))), 250);
  const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1000);
  const out = await child.output();
  clearTimeout(killer);
  clearInterval(sampler);
  rss = Math.max(rss, procStatus(pid, "VmRSS"));
  const text = new TextDecoder().decode(out.stdout);
  const m = text.match(/^RESULT (\{.*\})$/m);
  if (!m) {
    throw new Error(
      `bench/http: wrk gave no result:\n${text}\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return { r: JSON.parse(m[1]), rssMB: rss };
}

async function dirStats(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0, bytes = 0;
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".parquet")) {
        files++;
        bytes += (await Deno.stat(p)).size;
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
  const say = (s: string) => o.print && console.error(s);
  try {
    await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" }).output();
  } catch {
    throw new Error("bench/http: wrk is not installed (Debian: apt-get install wrk)");
  }
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-bench-" });
  const points: PointResult[] = [];
  const targets: TargetSummary[] = [];
  try {
    const bodies = new Map<number, { dir: string; bytes: number }>();
    for (const r of new Set(o.points.map((p) => p.records))) {
      bodies.set(r, await writeBodies(dir, o.signal, r));
    }
    for (const target of o.targets) {
      say(`starting ${target} (${o.runtime})`);
      const proc = await start(target, o, dir);
      try {
        for (const pt of o.points) {
          const b = bodies.get(pt.records)!;
          if (o.warmupS > 0) {
            await wrk(
              proc.port,
              o.signal,
              b.dir,
              pt.connections,
              o.warmupS,
              o.threads,
              proc.child.pid,
            );
          }
          const { r, rssMB } = await wrk(
            proc.port,
            o.signal,
            b.dir,
            pt.connections,
            o.durationS,
            o.threads,
            proc.child.pid,
          );
          const secs = r.durationUs / 1e6;
          const rps = r.requests / secs;
          const bare = points.find((x) =>
            x.target === "bare" && x.records === pt.records && x.connections === pt.connections
          );
          const res: PointResult = {
            target,
            runtime: o.runtime,
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
            vsBare: bare ? rps / bare.requestsPerSec : null,
            bodyBytes: b.bytes,
          };
          points.push(res);
          say(
            `  ${target} ${pt.records} records × ${pt.connections} conn: ${
              Math.round(rps)
            } req/s, p99 ${res.p99Ms.toFixed(1)} ms, RSS ${Math.round(rssMB)} MB${
              res.non2xx ? `, ${res.non2xx} non-2xx` : ""
            }`,
          );
        }
      } finally {
        const s = await stop(proc);
        const st = await dirStats(`${dir}/out-${target}`);
        const notes = proc.log().split("\n").filter((l) => /worker|thread|core/i.test(l)).slice(
          0,
          5,
        );
        targets.push({
          target,
          runtime: o.runtime,
          peakRssMB: s.peakRssMB,
          shutdownMs: s.ms,
          exitCode: s.code,
          files: st.files,
          fileBytes: st.bytes,
          notes,
        });
        say(
          `  ${target} stopped in ${
            Math.round(s.ms)
          } ms (exit ${s.code}), ${st.files} Parquet files`,
        );
        if (s.code !== 0 && target !== "bare") say(proc.log().slice(-4000));
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const wrkVersion = new TextDecoder().decode(
    (await new Deno.Command("wrk", { args: ["--version"], stdout: "piped", stderr: "piped" })
      .output()).stdout,
  ).split("\n")[0].replace(/ Copyright.*$/, "").trim();
  const { print: _p, ...options } = o;
  return {
    kind: "http",
    date: new Date().toISOString(),
    commit: await gitCommit(),
    machine: await machineInfo(),
    loadGenerator: `${wrkVersion} (same machine, ${o.threads} thread)`,
    options,
    points,
    targets,
  };
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

/** The results as Markdown tables (the README shows them). */
export function httpTable(r: HttpResults): string {
  const lines = [
    "| target | records/request | connections | requests/s | records/s | p50 ms | p99 ms | server RSS MB | vs bare | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const p of r.points) {
    lines.push(
      `| ${p.target} | ${p.records} | ${p.connections} | ${fmtInt(p.requestsPerSec)} | ${
        fmtInt(p.recordsPerSec)
      } | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} | ${fmtInt(p.serverRssMB)} | ${
        p.vsBare === null ? "" : `${(100 * p.vsBare).toFixed(1)}%`
      } | ${p.non2xx + p.socketErrors} |`,
    );
  }
  lines.push(
    "",
    "| target | peak RSS MB | shutdown ms | Parquet files | Parquet MB |",
    "|---|---:|---:|---:|---:|",
  );
  for (const t of r.targets) {
    lines.push(
      `| ${t.target} | ${fmtInt(t.peakRssMB)} | ${fmtInt(t.shutdownMs)} | ${t.files} | ${
        (t.fileBytes / (1 << 20)).toFixed(1)
      } |`,
    );
  }
  return lines.join("\n");
}

function parseArgs(args: string[]): { opts: Partial<HttpOptions>; out: string | null } {
  const opts: Partial<HttpOptions> = {};
  let out: string | null = new URL("./results/http-latest.json", import.meta.url).pathname;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (!(v >= 0)) throw new RangeError(`bench/http: ${a} needs a number, got "${args[i]}"`);
      return v;
    };
    if (a === "--duration") opts.durationS = Math.max(1, Math.round(num()));
    else if (a === "--long") opts.durationS = 30;
    else if (a === "--warmup") opts.warmupS = Math.round(num());
    else if (a === "--threads") opts.threads = Math.max(1, Math.round(num()));
    else if (a === "--signal") opts.signal = args[++i] as GenSignal;
    else if (a === "--targets") opts.targets = args[++i].split(",") as Target[];
    else if (a === "--runtime") opts.runtime = args[++i] as Runtime;
    else if (a === "--points") {
      opts.points = args[++i].split(",").map((p) => {
        const m = p.match(/^(\d+)x(\d+)$/);
        if (!m) throw new RangeError(`bench/http: a point is RECORDSxCONNECTIONS, got "${p}"`);
        return { records: Number(m[1]), connections: Number(m[2]) };
      });
    } else if (a === "--out") out = args[++i];
    else if (a === "--no-write") out = null;
    else if (a === "--help") {
      console.log(
        "deno run -A bench/http.ts [--duration S | --long] [--warmup S] [--threads N] [--signal S] [--targets bare,writethrough,batching,batching-memory] [--runtime deno] [--points 100x1,100x16,100x64,10x64] [--out FILE | --no-write]",
      );
      Deno.exit(0);
    } else throw new TypeError(`bench/http: unknown argument "${a}"`);
  }
  return { opts, out };
}

if (import.meta.main) {
  const { opts, out } = parseArgs(Deno.args);
  const r = await runHttp(opts);
  console.log(
    `\n${
      machineLine(r.machine)
    }; commit ${r.commit}; load: ${r.loadGenerator}; ${r.options.durationS} s per point`,
  );
  console.log(httpTable(r));
  for (const t of r.targets) if (t.notes.length) console.log(`${t.target}: ${t.notes.join(" | ")}`);
  if (out) {
    const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir || "/", { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(r, null, 2) + "\n");
    console.log(`\nwrote ${out}`);
  }
}
