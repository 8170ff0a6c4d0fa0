/**
 * parquet-wasm writer settings: encode time and file size of the same tables under different
 * writer properties (compression, dictionary, statistics, page and batch sizes), to choose the
 * defaults of src/core/parquet/encode.ts by measurement.
 *
 *   deno run -A bench/writer.ts [--records N] [--runs N] [--signals logs,traces,metrics] [--out FILE]
 *
 * Each variant starts from the project's own writer properties (writerPropertiesBuilder()) and
 * changes one thing. Results: a table on stdout, JSON to bench/results/writer-latest.json (or --out).
 */
import * as pw from "parquet-wasm/esm";
import { decode } from "../src/core/otlp/index.ts";
import {
  DEFAULT_PARQUET,
  flatColumns,
  PLAIN_COLUMNS,
  toIPC,
  writerPropertiesBuilder,
} from "../src/core/parquet/encode.ts";
import { partition } from "../src/core/partition.ts";
import type { TableName } from "../src/core/tables.ts";
import { ensureParquet, gitCommit, machineInfo, machineLine } from "./core.ts";
import { generateRequest, type GenSignal } from "./gen.ts";

type Tweak = (b: pw.WriterPropertiesBuilder, table: TableName) => pw.WriterPropertiesBuilder;

export const VARIANTS: Record<string, Tweak> = {
  "zstd (current)": (b) => b,
  "snappy": (b) => b.setCompression(pw.Compression.SNAPPY),
  "lz4_raw": (b) => b.setCompression(pw.Compression.LZ4_RAW),
  "gzip": (b) => b.setCompression(pw.Compression.GZIP),
  "none": (b) => b.setCompression(pw.Compression.UNCOMPRESSED),
  "no dictionary": (b) => b.setDictionaryEnabled(false),
  "dictionary on unique columns too": (b, t) => {
    for (const c of PLAIN_COLUMNS[t]) b = b.setColumnDictionaryEnabled(c, true);
    return b;
  },
  "statistics: none": (b, t) => {
    for (const c of flatColumns(t, "default")) {
      b = b.setColumnStatisticsEnabled(c, pw.EnabledStatistics.None);
    }
    return b;
  },
  "statistics: page": (b, t) => {
    for (const c of flatColumns(t, "default")) {
      b = b.setColumnStatisticsEnabled(c, pw.EnabledStatistics.Page);
    }
    return b;
  },
  "data page 64 KiB": (b) => b.setDataPageSizeLimit(64 * 1024),
  "data page 8 MiB": (b) => b.setDataPageSizeLimit(8 * 1024 * 1024),
  "write batch 8192": (b) => b.setWriteBatchSize(8192),
  "writer version 2": (b) => b.setWriterVersion(pw.WriterVersion.V2),
  "statistics on nested columns too": (b) => b.setStatisticsEnabled(pw.EnabledStatistics.Chunk),
  "dictionary page 64 KiB": (b) => b.setDictionaryPageSizeLimit(64 * 1024),
  "nested: no dictionary": (b, t) => {
    b = b.setDictionaryEnabled(false);
    for (const c of flatColumns(t, "default")) {
      if (!PLAIN_COLUMNS[t].includes(c)) b = b.setColumnDictionaryEnabled(c, true);
    }
    return b;
  },
};

/** The project's writer properties (writerPropertiesBuilder()), tweaked. */
function props(table: TableName, tweak: Tweak): pw.WriterProperties {
  return tweak(writerPropertiesBuilder(DEFAULT_PARQUET, table), table).build();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

export interface WriterRow {
  signal: GenSignal;
  variant: string;
  medianMs: number;
  rowsPerSec: number;
  bytes: number;
}

export async function runWriter(
  records: number,
  runs: number,
  signals: GenSignal[],
): Promise<WriterRow[]> {
  await ensureParquet();
  const out: WriterRow[] = [];
  for (const signal of signals) {
    const g = generateRequest(signal, { records, seed: 1 });
    const parts = decode(signal, g.protobuf, "protobuf", { receivedAtNs: 1n }).tables.flatMap((t) =>
      partition(t)
    );
    const ipcs = parts.map((p) => toIPC(p.rows, "default"));
    // Variants take turns, round after round, so drift on a shared machine hits them alike;
    // the first round warms up and is dropped.
    const variants = Object.entries(VARIANTS);
    const times = variants.map(() => [] as number[]);
    const bytes = variants.map(() => 0);
    for (let round = 0; round < runs + 1; round++) {
      variants.forEach(([, tweak], v) => {
        const tables = ipcs.map((b) => pw.Table.fromIPCStream(b));
        const t0 = performance.now();
        const files = tables.map((t, j) => pw.writeParquet(t, props(parts[j].table, tweak)));
        const t = performance.now() - t0;
        if (round > 0) times[v].push(t);
        bytes[v] = files.reduce((n, f) => n + f.length, 0);
      });
    }
    variants.forEach(([name], v) => {
      const ms = median(times[v]);
      out.push({
        signal,
        variant: name,
        medianMs: ms,
        rowsPerSec: records / ms * 1000,
        bytes: bytes[v],
      });
      console.error(`  ${signal} ${name}: ${ms.toFixed(1)} ms, ${Math.round(bytes[v] / 1024)} KB`);
    });
  }
  return out;
}

export function writerTable(rows: WriterRow[]): string {
  const lines = [
    "| signal | writer setting | write ms | rows/s | Parquet KB | size vs current |",
    "|---|---|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const base = rows.find((x) => x.signal === r.signal && x.variant === "zstd (current)")!;
    lines.push(
      `| ${r.signal} | ${r.variant} | ${r.medianMs.toFixed(1)} | ${
        Math.round(r.rowsPerSec).toLocaleString("en-US")
      } | ${Math.round(r.bytes / 1024).toLocaleString("en-US")} | ${
        (r.bytes / base.bytes).toFixed(2)
      } |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  let records = 10_000, runs = 5;
  let signals: GenSignal[] = ["logs", "traces", "metrics"];
  let out = new URL("./results/writer-latest.json", import.meta.url).pathname;
  for (let i = 0; i < Deno.args.length; i++) {
    const a = Deno.args[i];
    if (a === "--records") records = Number(Deno.args[++i]);
    else if (a === "--runs") runs = Number(Deno.args[++i]);
    else if (a === "--signals") signals = Deno.args[++i].split(",") as GenSignal[];
    else if (a === "--out") out = Deno.args[++i];
    else throw new TypeError(`bench/writer: unknown argument "${a}"`);
  }
  const rows = await runWriter(records, runs, signals);
  const machine = await machineInfo();
  console.log(`\n${machineLine(machine)}; ${records} records per signal; median of ${runs}`);
  console.log(writerTable(rows));
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        kind: "writer",
        date: new Date().toISOString(),
        commit: await gitCommit(),
        machine,
        records,
        runs,
        rows,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nwrote ${out}`);
}
