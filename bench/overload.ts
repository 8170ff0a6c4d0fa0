/**
 * Overload benchmark (issue 23): the real server (a subprocess on 127.0.0.1, port 0, output to a
 * temporary directory, the default configuration: batching with the write-ahead log) flooded by
 * more clients than it can serve, with big OTLP/protobuf log requests. Every point is a fresh
 * server; the points of one run are side by side.
 *
 *   deno task bench:overload [--runtime deno|bun|node] [--clients 4,16,64] [--seconds S]
 *                            [--records N] [--budget BYTES] [--max-age S] [--retry-ms MS]
 *                            [--client raw|fetch] [--env NAME=VALUE]... [--out FILE | --no-write]
 *
 * Defaults: the scenario (25 s, ~4 MiB requests of 8,000 records, 4, 16 and 64 clients,
 * batch.max_age_secs = 5) scaled to a shared 2-core machine: 10 s per point, and the server's
 * memory set by `server.max_memory_bytes` = 512 MiB with `server.max_payload_bytes` = 5 MiB (see
 * docs/configuration.md, Memory budget). Each client sends its requests one after the other
 * (four different requests in turn); a 429 or 503 is retried after `--retry-ms` (default 100 ms,
 * more eagerly than the Retry-After asks: an overload). Bounded: at most `seconds × 40` requests
 * per client, and a request that takes more than 30 s fails the run. The clients share this
 * process and the machine's cores with the server, so they write over raw TCP (./raw-http.ts),
 * whose CPU per request does not grow with their number; `--client fetch` uses Deno's `fetch`
 * instead (three times the CPU per request, and more at 64 clients).
 *
 * Reported per point: answers by status, records acknowledged (answered 200) and per second,
 * records stored (DuckDB count of the Parquet files, after SIGTERM flushed the buffers: must
 * equal the acknowledged ones), the server's peak RSS (VmHWM from /proc, sampled until it exits,
 * shutdown flush included) next to the bound the settings allow (`otlp2parquet_memory_bound_bytes`
 * from /metrics), acknowledged records/s over the whole run and sustained (answers between the
 * first second and the deadline: the goodput), and the goodput at each client count as a
 * fraction of the first point's.
 * Results: bench/results/overload-latest.json.
 */
import { build } from "../scripts/build.ts";
import { gitCommit, type MachineInfo, machineInfo, machineLine } from "./core.ts";
import { generateRequest } from "./gen.ts";
import { RawHttpClient } from "./raw-http.ts";

const REPO = new URL("..", import.meta.url).pathname;
const BUN = `${REPO}node_modules/.bin/bun`;
const MiB = 1024 * 1024;
/** Answers in the first second (compilation, the first buffers) are not part of the goodput. */
const WARMUP_SECS = 1;

export type Runtime = "deno" | "bun" | "node";

export interface FloodOptions {
  runtime: Runtime;
  clients: number;
  /** How long clients send (the bound in time). */
  seconds: number;
  /** Requests per client at most (the bound in count). */
  maxRequestsPerClient: number;
  /** Log records per request (8,000: about 4.2 MB of protobuf). */
  records: number;
  /** Delay before a refused request is sent again, ms. */
  retryMs: number;
  /** Server configuration (OTLP2PARQUET_*), on top of loopback and a temporary directory. */
  env: Record<string, string>;
  /** Request bodies, sent in turn (default: four generated with `records`). */
  bodies?: Uint8Array[];
  /** Print the server's memory figures from /metrics every 500 ms (`--trace`). */
  trace?: boolean;
  /** Runtime options for the server before the script (e.g. Deno's `--cpu-prof`). */
  serverArgs?: string[];
  /**
   * The load generator's HTTP client: "raw" (default, ./raw-http.ts: about 2 ms of CPU per
   * 4 MiB request at any client count) or "fetch" (Deno's, 5 ms per request with 4 clients and
   * 9 ms with 64: at 64 clients it takes a sixth of a core from the server it measures).
   */
  client?: "raw" | "fetch";
}

export interface FloodResult {
  runtime: Runtime;
  clients: number;
  seconds: number;
  requests: number;
  /** Answers by status code ("error": no answer). */
  answers: Record<string, number>;
  acknowledgedRecords: number;
  /** Acknowledged records over the whole run (until the last answer), per second. */
  recordsPerSec: number;
  /**
   * Goodput while the clients send: records acknowledged by answers that arrived between the
   * end of the warm-up (`WARMUP_SECS`) and the deadline, per second of that window. The whole-run
   * figure also holds the drain after the deadline, when no new request arrives but the last
   * ones still wait for room (up to `admission_wait_ms`), which charges more clients for a tail
   * that a sustained load never has.
   */
  sustainedRecordsPerSec: number;
  storedRecords: number;
  files: number;
  peakRssBytes: number;
  /** `otlp2parquet_memory_bound_bytes` as the server reported it. */
  boundBytes: number;
  /** The server's CPU time (user + system) while the clients ran, seconds. */
  serverCpuSecs: number;
  /** The load generator's CPU time while the clients ran (this process), seconds. */
  clientCpuSecs: number;
  /** Median and 99th percentile time to an answer, by status, ms. */
  latencyMs: Record<string, { p50: number; p99: number }>;
  /** Requests let in after waiting for room (`otlp2parquet_admission_waited_total`). */
  waited: number;
  /** The 1-minute load average when the point started. */
  load: number;
  exitCode: number;
  /** The end of the server's output, when it did not exit with 0. */
  log?: string;
}

/** Four different requests of `records` log records (OTLP/protobuf). */
export function floodBodies(records: number): Uint8Array[] {
  return [1, 2, 3, 4].map((seed) => generateRequest("logs", { records, seed }).protobuf);
}

function command(runtime: Runtime, extra: string[] = []): [string, string[]] {
  if (runtime === "bun") return [BUN, ["run", ...extra, "src/entry/main.ts"]];
  if (runtime === "node") return ["node", [...extra, `${REPO}dist/node/main.mjs`]];
  return [Deno.execPath(), ["run", "-A", ...extra, "src/entry/main.ts"]];
}

/** CPU time (user + system) of a process, seconds; null once it is gone. */
async function cpuSecs(pid: number | "self"): Promise<number | null> {
  try {
    const s = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces): utime is the 14th field overall.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

async function loadAverage(): Promise<number> {
  const s = await Deno.readTextFile("/proc/loadavg").catch(() => "0");
  return Number(s.split(" ")[0]);
}

function percentiles(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { p50: Math.round(at(0.5)), p99: Math.round(at(0.99)) };
}

/** VmHWM (peak resident set) of a process, bytes; null once it is gone. */
async function peakRss(pid: number): Promise<number | null> {
  try {
    const s = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = Number(s.match(/^VmHWM:\s+(\d+) kB/m)?.[1] ?? NaN);
    return Number.isFinite(kb) ? kb * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * One flood: starts the server, runs `clients` clients for `seconds`, stops it with SIGTERM
 * (its buffers are written out), counts the stored records with DuckDB. The server is killed
 * and its directory removed in any case.
 */
export async function runFlood(o: FloodOptions): Promise<FloodResult> {
  const bodies = o.bodies ?? floodBodies(o.records);
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-overload-" });
  const [exec, lead] = command(o.runtime, o.serverArgs);
  const load = await loadAverage();
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OTLP2PARQUET_")),
  );
  const child = new Deno.Command(exec, {
    args: [...lead, "serve", "--port", "0", "--output", `${dir}/out`, "--log-level", "info"],
    cwd: REPO,
    env: {
      ...inherited,
      NO_COLOR: "1",
      OTLP2PARQUET_LISTEN_ADDR: "127.0.0.1:0",
      OTLP2PARQUET_BATCH_WAL_DIR: `${dir}/wal`,
      ...o.env,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  let exited = false;
  let peak = 0;
  let resolvePort!: (p: number) => void;
  const portFound = new Promise<number>((r) => (resolvePort = r));
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) {
      log += dec.decode(chunk, { stream: true });
      const m = log.match(/listening.*?127\.0\.0\.1:(\d+)/);
      if (m) resolvePort(Number(m[1]));
      if (log.length > 1 << 20) log = log.slice(-(1 << 19));
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    exited = true;
    await pumps.catch(() => {});
    return s;
  });
  // Peak RSS until the process is gone (the shutdown flush included).
  const sampler = (async () => {
    while (!exited) {
      const v = await peakRss(child.pid);
      if (v !== null) peak = Math.max(peak, v);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const port = await Promise.race([
      portFound,
      status.then((s) => {
        throw new Error(`server exited (${s.code}) before listening:\n${log}`);
      }),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`no listening line in 30 s:\n${log}`)), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0;; i++) {
      try {
        const r = await fetch(`${url}/health`);
        await r.body?.cancel();
        if (r.ok) break;
      } catch { /* not yet */ }
      if (i > 300) throw new Error(`/health never answered:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const metricsText = await (await fetch(`${url}/metrics`)).text();
    const boundBytes = Number(
      metricsText.match(/^otlp2parquet_memory_bound_bytes (\d+)/m)?.[1] ?? 0,
    );

    const answers: Record<string, number> = {};
    const latencies: Record<string, number[]> = {};
    let acknowledged = 0;
    let sustained = 0;
    let requests = 0;
    const started = performance.now();
    const deadline = started + o.seconds * 1000;
    const client = async (id: number) => {
      const http = new RawHttpClient("127.0.0.1", port);
      for (let n = 0; n < o.maxRequestsPerClient && performance.now() < deadline; n++) {
        const body = bodies[(id + n) % bodies.length];
        let code = "error";
        const sent = performance.now();
        // One deadline for either client: the fetch is aborted, the raw connection closed.
        const ac = new AbortController();
        const t = setTimeout(() => {
          ac.abort();
          http.close();
        }, 30_000);
        try {
          if (o.client === "fetch") {
            const r = await fetch(`${url}/v1/logs`, {
              method: "POST",
              headers: { "content-type": "application/x-protobuf" },
              body: body as Uint8Array<ArrayBuffer>,
              signal: ac.signal,
            });
            await r.arrayBuffer();
            code = String(r.status);
          } else {
            code = String(
              await http.post("/v1/logs", { "content-type": "application/x-protobuf" }, body),
            );
          }
        } catch (e) {
          if (ac.signal.aborted) throw new Error("a request took more than 30 s");
          code = `error: ${e instanceof Error ? e.message : e}`.slice(0, 80);
        } finally {
          clearTimeout(t);
        }
        requests++;
        answers[code] = (answers[code] ?? 0) + 1;
        (latencies[code] ??= []).push(performance.now() - sent);
        if (code === "200") {
          acknowledged += o.records;
          const at = performance.now();
          if (at >= started + WARMUP_SECS * 1000 && at <= deadline) sustained += o.records;
        } else await new Promise((r) => setTimeout(r, o.retryMs));
      }
      http.close();
    };
    let tracing = o.trace === true;
    const tracer = (async () => {
      const names = [
        "process_resident_memory_bytes",
        "otlp2parquet_heap_used_bytes",
        "otlp2parquet_buffered_bytes",
        "otlp2parquet_inflight_bytes",
        "otlp2parquet_pending_files",
        "otlp2parquet_admission_waiting",
      ];
      while (tracing) {
        const text = await (await fetch(`${url}/metrics`)).text().catch(() => "");
        const vals = names.map((n) => {
          const v = Number(text.match(new RegExp(`^${n}(?:\\{[^}]*\\})? (\\S+)`, "m"))?.[1]);
          return n.endsWith("files") || n.endsWith("waiting") ? String(v) : (v / MiB).toFixed(0);
        });
        console.log(
          `t=${
            ((performance.now() - started) / 1000).toFixed(1)
          } rss/heap/buffered/inflight MiB, files, waiting: ${vals.join(" ")}`,
        );
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const serverCpu0 = await cpuSecs(child.pid) ?? 0;
    const clientCpu0 = await cpuSecs("self") ?? 0;
    await Promise.all(Array.from({ length: o.clients }, (_, i) => client(i)));
    tracing = false;
    await tracer;
    const elapsed = (performance.now() - started) / 1000;
    const serverCpuSecs = (await cpuSecs(child.pid) ?? 0) - serverCpu0;
    const clientCpuSecs = (await cpuSecs("self") ?? 0) - clientCpu0;
    const after = await (await fetch(`${url}/metrics`)).text().catch(() => "");
    const waited = Number(after.match(/^otlp2parquet_admission_waited_total (\d+)/m)?.[1] ?? 0);

    child.kill("SIGTERM");
    let stopTimer: ReturnType<typeof setTimeout> | undefined;
    const s = await Promise.race([
      status,
      new Promise<never>((_, rej) => {
        stopTimer = setTimeout(
          () => rej(new Error(`no exit 120 s after SIGTERM:\n${log}`)),
          120_000,
        );
      }),
    ]).finally(() => clearTimeout(stopTimer));
    await sampler;
    const { listParquet, query, readParquet } = await import("../tests/helpers/duckdb.ts");
    const files = (await listParquet(`${dir}/out`)).map((f) => `${dir}/out/${f}`);
    const stored = files.length === 0 ? 0 : Number(
      (await query(`SELECT count(*)::BIGINT AS n FROM ${readParquet(files)}`))[0].n,
    );
    return {
      runtime: o.runtime,
      clients: o.clients,
      seconds: Math.round(elapsed * 100) / 100,
      requests,
      answers,
      acknowledgedRecords: acknowledged,
      recordsPerSec: Math.round(acknowledged / elapsed),
      sustainedRecordsPerSec: Math.round(sustained / (o.seconds - WARMUP_SECS)),
      storedRecords: stored,
      files: files.length,
      peakRssBytes: peak,
      boundBytes,
      serverCpuSecs: Math.round(serverCpuSecs * 100) / 100,
      clientCpuSecs: Math.round(clientCpuSecs * 100) / 100,
      latencyMs: Object.fromEntries(
        Object.entries(latencies).map(([k, v]) => [k, percentiles(v)]),
      ),
      waited,
      load,
      exitCode: s.code,
      log: s.code === 0 ? undefined : log.slice(-4000),
    };
  } finally {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await status;
    await sampler;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The budget configuration of the benchmark and its test, with the allocator settings the
 * Docker image ships (docs/configuration.md, Memory budget: without them glibc keeps more of
 * the freed request buffers than the headroom allows at ~100,000 records/s).
 */
export function budgetEnv(budget: number, payload = 5 * MiB): Record<string, string> {
  return {
    OTLP2PARQUET_SERVER_MAX_MEMORY_BYTES: String(budget),
    OTLP2PARQUET_MAX_PAYLOAD_BYTES: String(payload),
    MALLOC_ARENA_MAX: "2",
    MALLOC_MMAP_THRESHOLD_: "131072",
  };
}

function table(points: FloodResult[]): string {
  const base = points[0]?.sustainedRecordsPerSec || 1;
  const rows = points.map((p) => {
    const answers = Object.entries(p.answers).map(([k, v]) => `${k}:${v}`).join(" ");
    return `| ${p.runtime} | ${p.clients} | ${p.seconds} | ${answers} | ${p.acknowledgedRecords} | ${p.recordsPerSec} | ${p.sustainedRecordsPerSec} | ${
      (p.sustainedRecordsPerSec / base).toFixed(2)
    } | ${p.storedRecords} | ${(p.peakRssBytes / MiB).toFixed(0)} | ${
      (p.boundBytes / MiB).toFixed(0)
    } | ${p.serverCpuSecs} | ${p.clientCpuSecs} | ${p.latencyMs["429"]?.p50 ?? "-"}/${
      p.latencyMs["429"]?.p99 ?? "-"
    } | ${p.load} |`;
  });
  return [
    "| runtime | clients | s | answers | acked records | records/s (run) | goodput/s (sustained) | vs first | stored | peak RSS MiB | bound MiB | server CPU s | client CPU s | 429 p50/p99 ms | load |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

if (import.meta.main) {
  const args = [...Deno.args];
  const take = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const runtime = (take("--runtime") ?? "deno") as Runtime;
  const clients = (take("--clients") ?? "4,16,64").split(",").map(Number);
  const seconds = Number(take("--seconds") ?? 10);
  const records = Number(take("--records") ?? 8000);
  const budget = Number(take("--budget") ?? 512 * MiB);
  const maxAge = take("--max-age") ?? "5";
  const retryMs = Number(take("--retry-ms") ?? 100);
  const httpClient = (take("--client") ?? "raw") as "raw" | "fetch";
  const out = take("--out") ?? `${REPO}bench/results/overload-latest.json`;
  const noWrite = args.includes("--no-write");
  const trace = args.includes("--trace");
  const serverArgs = (take("--server-args") ?? "").split(" ").filter((a) => a !== "");
  const env: Record<string, string> = {
    ...(budget > 0 ? budgetEnv(budget) : {}),
    OTLP2PARQUET_BATCH_MAX_AGE_SECS: maxAge,
  };
  for (let i = args.indexOf("--env"); i >= 0; i = args.indexOf("--env")) {
    const [k, ...v] = args[i + 1].split("=");
    env[k] = v.join("=");
    args.splice(i, 2);
  }
  if (runtime === "node") await build("node");
  const bodies = floodBodies(records);
  const machine: MachineInfo = await machineInfo();
  console.log(machineLine(machine));
  console.log(
    `requests of ${records} records (${
      (bodies[0].length / MiB).toFixed(2)
    } MiB), ${seconds} s per point, env ${JSON.stringify(env)}`,
  );
  const points: FloodResult[] = [];
  for (const c of clients) {
    const r = await runFlood({
      runtime,
      clients: c,
      seconds,
      maxRequestsPerClient: seconds * 40,
      records,
      retryMs,
      env,
      bodies,
      trace,
      serverArgs,
      client: httpClient,
    });
    points.push(r);
    console.log(JSON.stringify(r));
  }
  console.log(table(points));
  if (!noWrite) {
    await Deno.mkdir(new URL(".", `file://${out}`), { recursive: true }).catch(() => {});
    await Deno.writeTextFile(
      out,
      JSON.stringify({ commit: await gitCommit(), machine, env, points }, null, 2) + "\n",
    );
    console.log(`wrote ${out}`);
  }
}
