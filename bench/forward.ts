/**
 * What forwarding costs ingestion: spans/s into server A with no `[[forward]]` destination vs
 * one (another otlp2parquet server B on loopback, http/protobuf, gzip), in the same run, under
 * the same `wrk` load as bench/http.ts (gzip'd protobuf traces requests, ./wrk.lua). Both A's
 * run the default configuration (batching with the write-ahead log). The two are measured in
 * turn, `--rounds` times (default 2: none, forward, none, forward), and the best of each is
 * compared, so a noisy neighbour on a shared machine hurts both alike.
 *
 *   deno run -A bench/forward.ts [--duration S] [--warmup S] [--records N] [--connections C]
 *                                [--rounds R] [--destination server|bare] [--no-write]
 *                                [--cpu-prof DIR] [--identity]
 *
 * `--identity` sends the requests uncompressed (the forwarding server then compresses each
 * merged export for the destination; gzip'd ones go on as they came, joined).
 *
 * `--destination bare` forwards to the bare endpoint of bench/http.ts (./bare.ts: reads the
 * body, answers 200) instead of a second otlp2parquet: on a small shared machine B's own
 * ingestion competes with A for the same cores, and the bare sink shows what forwarding costs
 * A alone.
 *
 * Reported per run: spans/s, requests/s, p50/p99 latency, non-2xx, A's CPU ms per request (Linux
 * /proc), by thread too (`threadMsPerRequest`), the destination's CPU ms per request into A (it
 * shares A's cores here, a remote one would not) and the load average; for the forwarding runs
 * also what A had sent to B and what was still queued when the load stopped, and how long the
 * queue took to drain. Results: bench/results/forward-{server,bare}[-identity]-latest.json.
 */
import { generateRequest } from "./gen.ts";
import { type Server, startServer } from "../tests/helpers/server.ts";
import { loadAverage } from "./core.ts";
import { processCpuSeconds, threadCpuSeconds } from "./proc.ts";

const args = Deno.args;
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const DURATION = arg("duration", 10);
const WARMUP = arg("warmup", 2);
const RECORDS = arg("records", 100);
const CONNECTIONS = arg("connections", 16);
const ROUNDS = arg("rounds", 2);
const BODIES = 32;
/** `--cpu-prof DIR`: A's V8 CPU profiles, DIR/none and DIR/forward (summary: bench/profile.ts). */
const PROFILE_DIR = args.includes("--cpu-prof") ? args[args.indexOf("--cpu-prof") + 1] : undefined;
/** `--identity`: uncompressed requests instead of gzip'd ones. */
const IDENTITY = args.includes("--identity");
const DESTINATION = args.includes("--destination")
  ? args[args.indexOf("--destination") + 1]
  : "server";

interface Run {
  target: "none" | "forward";
  spansPerSec: number;
  requestsPerSec: number;
  p50ms: number;
  p99ms: number;
  non2xx: number;
  forwardedAtEnd?: number;
  queuedAtEnd?: number;
  drainSecs?: number;
  /** A's CPU time (user + system) per request during the measured run, ms. */
  cpuMsPerRequest?: number;
  /**
   * The destination's CPU time per request into A during the run, ms: on a small machine it
   * shares A's cores, which a remote destination would not.
   */
  destCpuMsPerRequest?: number;
  /**
   * A's CPU time per request by thread (Linux /proc/PID/task), ms: `main` (the event loop),
   * `worker-N` (web Workers in start order: the encoder threads, then the gzip thread when
   * forwarding), `tokio` (Deno's I/O and blocking pools), `V8` (its GC and compiler helpers).
   */
  threadMsPerRequest?: Record<string, number>;
  /** The load average (1 min) when the run ended. */
  load1?: number;
}

/** CPU time of each thread of `pid` so far, ms, summed by name (see `Run.threadMsPerRequest`). */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, t] of threadCpuSeconds(pid) ?? []) {
    const name = id === pid
      ? "main"
      : t.name.startsWith("tokio")
      ? "tokio"
      : t.name.startsWith("V8")
      ? "V8"
      : t.name;
    out.set(name, (out.get(name) ?? 0) + t.seconds * 1000);
  }
  return out;
}

async function gzip(b: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([b as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function wrk(url: string, dir: string, seconds: number) {
  const child = new Deno.Command("wrk", {
    args: [
      "-t2",
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      "--timeout",
      "10s",
      "-s",
      new URL("./wrk.lua", import.meta.url).pathname,
      `${url}/v1/traces`,
    ],
    env: {
      BODY_DIR: dir,
      BODY_COUNT: String(BODIES),
      BODY_PATH: "/v1/traces",
      CONTENT_TYPE: "application/x-protobuf",
      CONTENT_ENCODING: IDENTITY ? "" : "gzip",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1000);
  const out = await child.output();
  clearTimeout(killer);
  const text = new TextDecoder().decode(out.stdout);
  const m = text.match(/^RESULT (\{.*\})$/m);
  if (!m) throw new Error(`wrk gave no result:\n${text}\n${new TextDecoder().decode(out.stderr)}`);
  const j = JSON.parse(m[1]);
  return {
    requests: j.requests as number,
    duration_us: j.durationUs as number,
    non2xx: j.errStatus as number,
    p50: j.p50Us as number,
    p99: j.p99Us as number,
  };
}

async function metric(srv: Server, name: string): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name));
  return line ? Number(line.split(" ").pop()) : 0;
}

/** ./bare.ts as the destination: the same `Server` shape (url, stop, kill). */
async function startBare(): Promise<Pick<Server, "url" | "pid" | "stop" | "kill">> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", new URL("./bare.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!/:(\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`bench/bare.ts exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const port = Number(/:(\d+)/.exec(text)![1]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      return (await status).code;
    },
    async kill() {
      if (!exited) child.kill("SIGKILL");
      await status;
    },
  };
}

async function main() {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-bench-fwd-" });
  for (let i = 0; i < BODIES; i++) {
    const g = generateRequest("traces", { records: RECORDS, seed: i + 1 });
    await Deno.writeFile(`${dir}/body-${i}.bin`, IDENTITY ? g.protobuf : await gzip(g.protobuf));
  }
  const env = {
    OTLP2PARQUET_BATCH_ENABLED: "true",
    OTLP2PARQUET_BATCH_MAX_AGE_SECS: "10",
    // glibc as `deno task start` and the Docker image set it
    MALLOC_ARENA_MAX: "2",
    MALLOC_MMAP_THRESHOLD_: "131072",
  };
  const b = DESTINATION === "bare"
    ? await startBare()
    : await startServer({ env, logLevel: "info" });
  const runs: Run[] = [];
  try {
    const config = `${dir}/forward.toml`;
    await Deno.writeTextFile(
      config,
      `[[forward]]\nname = "b"\nendpoint = "${b.url}"\nprotocol = "http/protobuf"\n`,
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of ["none", "forward"] as const) {
        const a = await startServer({
          env,
          logLevel: "info",
          config: target === "forward" ? config : undefined,
          permissions: PROFILE_DIR
            ? ["-A", "--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}/${target}`]
            : undefined,
        });
        try {
          if (WARMUP > 0) await wrk(a.url, dir, WARMUP);
          const sent0 = target === "forward"
            ? await metric(a, 'otlp2parquet_forward_records_total{destination="b",outcome="sent"}')
            : 0;
          const cpu0 = processCpuSeconds(a.pid), destCpu0 = processCpuSeconds(b.pid);
          const threads0 = threadCpuMs(a.pid);
          const r = await wrk(a.url, dir, DURATION);
          const cpu = (processCpuSeconds(a.pid) - cpu0) * 1000;
          const destCpu = (processCpuSeconds(b.pid) - destCpu0) * 1000;
          const threads = threadCpuMs(a.pid);
          const threadMsPerRequest: Record<string, number> = {};
          for (const [name, ms] of [...threads].sort()) {
            const per = (ms - (threads0.get(name) ?? 0)) / Math.max(1, r.requests);
            threadMsPerRequest[name] = Math.round(per * 1000) / 1000;
          }
          const secs = r.duration_us / 1e6;
          const run: Run = {
            target,
            spansPerSec: Math.round((r.requests - r.non2xx) * RECORDS / secs),
            requestsPerSec: Math.round(r.requests / secs),
            p50ms: r.p50 / 1000,
            p99ms: r.p99 / 1000,
            non2xx: r.non2xx,
            cpuMsPerRequest: Math.round((cpu / Math.max(1, r.requests)) * 100) / 100,
            destCpuMsPerRequest: Math.round((destCpu / Math.max(1, r.requests)) * 1000) / 1000,
            threadMsPerRequest,
            load1: loadAverage() ?? NaN,
          };
          if (target === "forward") {
            run.forwardedAtEnd = await metric(
              a,
              'otlp2parquet_forward_records_total{destination="b",outcome="sent"}',
            ) -
              sent0;
            run.queuedAtEnd = await metric(
              a,
              'otlp2parquet_forward_queue_requests{destination="b"}',
            );
            const t0 = performance.now();
            for (let i = 0; i < 600; i++) {
              if (await metric(a, 'otlp2parquet_forward_queue_requests{destination="b"}') === 0) {
                break;
              }
              await new Promise((res) => setTimeout(res, 100));
            }
            run.drainSecs = Math.round((performance.now() - t0) / 100) / 10;
          }
          runs.push(run);
          console.log(JSON.stringify(run));
        } finally {
          await a.stop().catch(() => {});
          await a.kill();
        }
      }
    }
  } finally {
    await b.stop().catch(() => {});
    await b.kill();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const best = (t: Run["target"]) =>
    Math.max(...runs.filter((r) => r.target === t).map((r) => r.spansPerSec));
  const none = best("none"), fwd = best("forward");
  const mean = (t: Run["target"], f: (r: Run) => number) => {
    const xs = runs.filter((r) => r.target === t).map(f);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  // Per round (none, forward measured back to back): requests/s ratios, then their median.
  const perRound: number[] = [];
  for (let i = 0; i + 1 < runs.length; i += 2) {
    perRound.push(Math.round((runs[i + 1].requestsPerSec / runs[i].requestsPerSec) * 1000) / 1000);
  }
  const sorted = [...perRound].sort((a, b) => a - b);
  const medianRound = sorted[Math.floor(sorted.length / 2)];
  const cpuNone = mean("none", (r) => r.cpuMsPerRequest ?? NaN);
  const cpuFwd = mean("forward", (r) => r.cpuMsPerRequest ?? NaN);
  const destCpu = mean("forward", (r) => r.destCpuMsPerRequest ?? NaN);
  const summary = {
    date: new Date().toISOString(),
    destination: DESTINATION,
    requestCoding: IDENTITY ? "identity" : "gzip",
    records: RECORDS,
    connections: CONNECTIONS,
    durationSecs: DURATION,
    spansPerSecNone: none,
    spansPerSecForward: fwd,
    ratio: Math.round((fwd / none) * 1000) / 1000,
    roundRatios: perRound,
    medianRoundRatio: medianRound,
    cpuMsPerRequestNone: Math.round(cpuNone * 100) / 100,
    cpuMsPerRequestForward: Math.round(cpuFwd * 100) / 100,
    cpuRatio: Math.round((cpuNone / cpuFwd) * 1000) / 1000,
    destCpuMsPerRequest: Math.round(destCpu * 1000) / 1000,
    runs,
  };
  console.log(
    `spans/s: none ${none}, one destination ${fwd} (${(summary.ratio * 100).toFixed(1)} %); ` +
      `per-round ratios ${
        perRound.join(", ")
      }; A's CPU ms/request none ${summary.cpuMsPerRequestNone}, forward ${summary.cpuMsPerRequestForward} (none/forward ${summary.cpuRatio}); the destination's ${summary.destCpuMsPerRequest}`,
  );
  if (!args.includes("--no-write")) {
    await Deno.writeTextFile(
      new URL(
        `./results/forward-${DESTINATION}${IDENTITY ? "-identity" : ""}-latest.json`,
        import.meta.url,
      ),
      JSON.stringify(summary, null, 2) + "\n",
    );
  }
}

if (import.meta.main) await main();
