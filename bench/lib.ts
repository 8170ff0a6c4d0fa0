/**
 * The library's SDK exporter path next to OTLP/HTTP to a local server (`deno task bench:lib`):
 * the same spans, made once by the OpenTelemetry JS SDK, exported in batches of 512 (the
 * BatchSpanProcessor's default) by
 *
 *   lib    ParquetSpanExporter → library writer (default config: batching, write-ahead log,
 *          one encoder thread) in the application's process; then forceFlush() (files stored)
 *   http   the SDK's OTLPTraceExporter (protobuf) → the real server on 127.0.0.1 (default
 *          config), started as users start it
 *
 * Each path runs in a fresh process. Reported: records/s until every export has answered
 * SUCCESS (and for lib also until the files are stored), the memory the path adds to the
 * application (peak RSS during the exports minus RSS before the exporter existed), the server's
 * peak RSS, and the cost of otlp-transformer's serialization alone. Ratios are lib ÷ http from
 * the same run.
 *
 *   deno task bench:lib [--spans N] [--runs R]      (default 50,000 spans, best of 3 runs)
 */
import { parseArgs } from "node:util";
import { startServer } from "../tests/helpers/server.ts";

const SELF = new URL(import.meta.url).pathname;
const BATCH = 512;

interface ChildResult {
  mode: "lib" | "http";
  spans: number;
  exportMs: number;
  flushMs: number;
  serializeMs: number;
  addedRssMb: number;
}

async function makeSpans(n: number) {
  const { BasicTracerProvider, SimpleSpanProcessor } = await import(
    "@opentelemetry/sdk-trace-base"
  );
  const { resourceFromAttributes } = await import("@opentelemetry/resources");
  const spans: unknown[] = [];
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "bench-lib", "host.name": "h1" }),
    spanProcessors: [
      new SimpleSpanProcessor({
        export: (s: unknown[], cb: (r: { code: number }) => void) => {
          spans.push(...s);
          cb({ code: 0 });
        },
        shutdown: () => Promise.resolve(),
      }),
    ],
  });
  const tracer = provider.getTracer("bench", "1.0.0");
  for (let i = 0; i < n; i++) {
    const s = tracer.startSpan(`GET /api/item/${i % 50}`, {
      kind: 1,
      attributes: {
        "http.method": "GET",
        "http.route": `/api/item/${i % 50}`,
        "http.status_code": 200,
        "net.peer.name": `10.0.0.${i % 20}`,
        "user.id": i % 1000,
        "cache.hit": i % 3 === 0,
        "payload.bytes": 512 + (i % 4096),
        "region": "eu-west-1",
      },
    });
    if (i % 4 === 0) s.addEvent("cache.miss", { key: `k${i % 100}` });
    s.end();
  }
  await provider.shutdown();
  return spans;
}

function rssMb(): number {
  return Deno.memoryUsage().rss / 1024 / 1024;
}

async function child(mode: "lib" | "http", n: number, url: string, dir: string): Promise<void> {
  const spans = await makeSpans(n);
  const batches: unknown[][] = [];
  for (let i = 0; i < spans.length; i += BATCH) batches.push(spans.slice(i, i + BATCH));
  const { ProtobufTraceSerializer } = await import("@opentelemetry/otlp-transformer");
  let t = performance.now();
  for (const b of batches) ProtobufTraceSerializer.serializeRequest(b as never);
  const serializeMs = performance.now() - t;
  (globalThis as { gc?: () => void }).gc?.();
  const before = rssMb();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 5);
  let exporter: {
    export(b: unknown[], cb: (r: { code: number; error?: Error }) => void): void;
    forceFlush(): Promise<void>;
    shutdown(): Promise<void>;
  };
  let close = () => Promise.resolve();
  if (mode === "lib") {
    const { createWriter } = await import("../src/lib/index.ts");
    const { ParquetSpanExporter } = await import("../src/lib/sdk.ts");
    const writer = await createWriter({ storage: { backend: "fs", path: dir }, log: false });
    exporter = new ParquetSpanExporter({ writer }) as unknown as typeof exporter;
    close = () => writer.close();
  } else {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
    exporter = new OTLPTraceExporter({ url: `${url}/v1/traces` }) as unknown as typeof exporter;
  }
  const send = (b: unknown[]) =>
    new Promise<void>((resolve, reject) =>
      exporter.export(b, (r) => r.code === 0 ? resolve() : reject(r.error))
    );
  t = performance.now();
  // As a BatchSpanProcessor does: one export at a time.
  for (const b of batches) await send(b);
  const exportMs = performance.now() - t;
  await exporter.forceFlush();
  const flushMs = performance.now() - t;
  peak = Math.max(peak, rssMb());
  clearInterval(sampler);
  await exporter.shutdown();
  await close();
  const r: ChildResult = {
    mode,
    spans: spans.length,
    exportMs,
    flushMs,
    serializeMs,
    addedRssMb: peak - before,
  };
  console.log(JSON.stringify(r));
}

async function runChild(mode: "lib" | "http", n: number, url = ""): Promise<ChildResult> {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-bench-lib-" });
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        SELF,
        "--child",
        mode,
        "--spans",
        String(n),
        "--url",
        url,
        "--dir",
        dir,
      ],
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(r.stdout);
    if (r.code !== 0) {
      throw new Error(`bench child ${mode} failed:\n${out}\n${new TextDecoder().decode(r.stderr)}`);
    }
    return JSON.parse(out.trim().split("\n").at(-1)!);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The process whose command line names `arg` (the server's --output), from /proc. */
async function pidOf(arg: string): Promise<number> {
  try {
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
      if (cmd.includes(arg) && cmd.includes("serve")) return Number(e.name);
    }
  } catch { /* no /proc */ }
  return 0;
}

/** Peak RSS (VmHWM) of a process, MB; 0 where /proc is missing. */
async function peakRssMb(pid: number): Promise<number> {
  try {
    const s = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /VmHWM:\s+(\d+) kB/.exec(s);
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      child: { type: "string" },
      spans: { type: "string", default: "50000" },
      runs: { type: "string", default: "3" },
      url: { type: "string", default: "" },
      dir: { type: "string", default: "" },
    },
  });
  const n = Number(values.spans);
  if (values.child) {
    await child(values.child as "lib" | "http", n, values.url!, values.dir!);
  } else {
    const runs = Math.max(1, Number(values.runs));
    const best: Partial<Record<"lib" | "http", ChildResult>> = {};
    let serverRss = 0;
    for (let i = 0; i < runs; i++) {
      const lib = await runChild("lib", n);
      if (!best.lib || lib.exportMs < best.lib.exportMs) best.lib = lib;
      const srv = await startServer({ env: { OTLP2PARQUET_BATCH_ENABLED: "true" } });
      try {
        const http = await runChild("http", n, srv.url);
        if (!best.http || http.exportMs < best.http.exportMs) best.http = http;
        const pid = await pidOf(srv.output);
        if (pid) serverRss = Math.max(serverRss, await peakRssMb(pid));
        await srv.stop();
      } finally {
        await srv.kill();
      }
    }
    const lib = best.lib!, http = best.http!;
    const rate = (ms: number) => Math.round((lib.spans / ms) * 1000);
    const rows = [
      ["spans/s until every export answered", rate(lib.exportMs), rate(http.exportMs)],
      ["spans/s until the files are stored (forceFlush)", rate(lib.flushMs), "—"],
      [
        "memory added to the application, MB (peak RSS − before)",
        lib.addedRssMb.toFixed(0),
        http.addedRssMb.toFixed(0),
      ],
      [
        "otlp-transformer serialization alone, spans/s",
        rate(lib.serializeMs),
        rate(http.serializeMs),
      ],
    ];
    console.log(
      `${n} spans in batches of ${BATCH}, best of ${runs} runs (Deno ${Deno.version.deno})`,
    );
    console.log("| | ParquetSpanExporter (library) | OTLP/HTTP to a local server |");
    console.log("|---|---:|---:|");
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);
    console.log(
      `ratio lib ÷ http, spans/s: ${(http.exportMs / lib.exportMs).toFixed(2)}; server peak RSS: ${
        serverRss ? serverRss.toFixed(0) + " MB" : "n/a"
      }`,
    );
  }
}
