/**
 * Compaction benchmark: 500 small write-through files of one hour (100 generated log records
 * each, 5 services, as Lambda or Workers leave them) compacted by the lifecycle's compaction:
 * rows/s and the peak RSS of a fresh process doing it; then the same DuckDB queries (a count,
 * and a filter on one service) over the 500 small files and over the compacted ones, timed side
 * by side (median of several runs).
 *
 *   deno task bench:compact [--files N] [--records N] [--runs N]   → bench/results/compact-latest.json
 */
import { parseArgs } from "node:util";
import { generateRequest } from "./gen.ts";
import { gitCommit, loadAverage, machineInfo, machineLine } from "./core.ts";

const REPO = new URL("../", import.meta.url).pathname;

/** Writes `files` write-through files of `records` records into `dir` (the child process side). */
async function writeFiles(dir: string, files: number, records: number): Promise<void> {
  const { createWriteThroughWriter } = await import("../src/batch/writethrough.ts");
  const { defaultConfig } = await import("../src/config/types.ts");
  const { convertRequest } = await import("../src/core/convert.ts");
  const { initParquet } = await import("../src/core/parquet/encode.ts");
  const { silentLogger } = await import("../src/log/log.ts");
  const { createFsStorage } = await import("../src/storage/fs.node.ts");
  initParquet(
    Deno.readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm"))),
  );
  const config = defaultConfig("server");
  config.batch.enabled = false;
  const writer = createWriteThroughWriter({
    config,
    storage: createFsStorage({ root: dir }),
    logger: silentLogger,
  });
  for (let i = 0; i < files; i++) {
    const r = generateRequest("logs", {
      records: records,
      seed: 1000 + i,
      services: 1,
      baseTimeNs: 1_714_557_600_000_000_000n + BigInt(i) * 7_000_000_000n,
      spanSeconds: 5,
    });
    // One service per file, five in all: a request of one SDK process.
    const body = new TextEncoder().encode(
      r.json.replaceAll(
        /"service\.name","value":\{"stringValue":"[^"]*"/g,
        `"service.name","value":{"stringValue":"svc-${i % 5}"`,
      ),
    );
    const { partitions } = convertRequest("logs", body, "json", { receivedAtNs: 1n });
    await writer.write({ signal: "logs", format: "json", body, receivedAtNs: 1n, partitions });
  }
}

/** One compaction run in this process (the child side); prints its figures as JSON. */
async function compactHere(dir: string): Promise<void> {
  const { compact } = await import("../src/lifecycle/compact.ts");
  const { compactionOptions } = await import("../src/lifecycle/index.ts");
  const { defaultConfig } = await import("../src/config/types.ts");
  const { initParquet } = await import("../src/core/parquet/encode.ts");
  const { silentLogger } = await import("../src/log/log.ts");
  const { createFsStorage } = await import("../src/storage/fs.node.ts");
  initParquet(
    Deno.readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm"))),
  );
  const t = performance.now();
  const r = await compact(
    createFsStorage({ root: dir }),
    compactionOptions(defaultConfig("server")),
    silentLogger,
  );
  const ms = performance.now() - t;
  const status = Deno.readTextFileSync("/proc/self/status");
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  console.log(JSON.stringify({
    ms,
    rows: r.partitions.reduce((n, p) => n + p.rows, 0),
    filesBefore: r.partitions.reduce((n, p) => n + p.filesBefore, 0),
    filesAfter: r.partitions.reduce((n, p) => n + p.filesAfter, 0),
    bytesBefore: r.partitions.reduce((n, p) => n + p.bytesBefore, 0),
    bytesAfter: r.partitions.reduce((n, p) => n + p.bytesAfter, 0),
    peakRssMB: hwm,
  }));
}

async function child(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

async function timedQueries(
  glob: string,
  runs: number,
): Promise<{ countMs: number; filterMs: number }> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const db = await DuckDBInstance.create(":memory:", { threads: "1" });
  const c = await db.connect();
  const src = `read_parquet('${glob}', hive_partitioning = false)`;
  const time = async (sql: string) => {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await c.runAndReadAll(sql);
      ms.push(performance.now() - t);
    }
    return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
  };
  const r = {
    countMs: await time(`SELECT count(*) FROM ${src}`),
    filterMs: await time(`SELECT count(*), max(Timestamp) FROM ${src} WHERE ServiceName = 'svc-2'`),
  };
  c.closeSync?.();
  return r;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      files: { type: "string", default: "500" },
      records: { type: "string", default: "100" },
      runs: { type: "string", default: "7" },
      "write-files": { type: "string" },
      "compact-here": { type: "string" },
    },
  });
  if (values["write-files"]) {
    await writeFiles(values["write-files"], Number(values.files), Number(values.records));
    Deno.exit(0);
  }
  if (values["compact-here"]) {
    await compactHere(values["compact-here"]);
    Deno.exit(0);
  }
  const files = Number(values.files), records = Number(values.records), runs = Number(values.runs);
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-bench-compact-" });
  try {
    await child(["--write-files", dir, "--files", String(files), "--records", String(records)]);
    const glob = `${dir}/logs/*/*/*/*/*/*.parquet`;
    const before = await timedQueries(glob, runs);
    const c = JSON.parse(await child(["--compact-here", dir]));
    const after = await timedQueries(glob, runs);
    const result = {
      commit: await gitCommit(),
      machine: await machineInfo(),
      loadAverage: loadAverage(),
      files,
      recordsPerFile: records,
      compaction: { ...c, rowsPerSec: Math.round(c.rows / (c.ms / 1000)) },
      duckdb: { small: before, compacted: after },
    };
    await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await Deno.writeTextFile(
      new URL("./results/compact-latest.json", import.meta.url),
      JSON.stringify(result, null, 2) + "\n",
    );
    console.log(machineLine(result.machine), `load ${result.loadAverage}`);
    console.log(
      `compaction: ${c.filesBefore} files (${
        (c.bytesBefore / 1048576).toFixed(1)
      } MiB) → ${c.filesAfter} (${(c.bytesAfter / 1048576).toFixed(1)} MiB), ${c.rows} rows in ${
        c.ms.toFixed(0)
      } ms: ${result.compaction.rowsPerSec} rows/s, peak RSS ${c.peakRssMB.toFixed(0)} MB`,
    );
    console.log(
      "| DuckDB query (1 thread, median of " + runs + ") | small files | compacted | ratio |",
    );
    console.log("|---|---:|---:|---:|");
    for (
      const [name, k] of [["count(*)", "countMs"], ["filter on one service", "filterMs"]] as const
    ) {
      console.log(
        `| ${name} | ${before[k].toFixed(1)} ms | ${after[k].toFixed(1)} ms | ${
          (before[k] / after[k]).toFixed(1)
        }× |`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
