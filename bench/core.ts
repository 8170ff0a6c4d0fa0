/**
 * Core benchmark (`deno task bench`): the pure pipeline on one core, per signal, for one request
 * of N records (default 10,000) from the seeded generator (./gen.ts).
 *
 * Stages, each timed on its own (warm-up runs, then the median and best of `--runs`):
 *
 *   decode     protobuf request bytes → column builders        (src/core/otlp/)
 *   decodeJson the same request as OTLP/JSON bytes → builders
 *   convert    builders → (table, service, hour) partitions     (src/core/partition.ts)
 *   toIPC      partitions → Arrow IPC stream bytes                (src/core/arrow/ipc.ts)
 *   fromIPC    IPC bytes → parquet-wasm Table (copy into wasm memory, IPC read)
 *   write      parquet-wasm writeParquet of the already built wasm Table  ← encode floor
 *   encode     encodeParquet with the default parquet.encoder ("auto": the native encoder,
 *              src/core/parquet/writer.ts, where the runtime has zstd; else toIPC + fromIPC + write)
 *   e2e        request bytes → Parquet bytes (convertRequest + encodeParquet per partition)
 *   e2eJson    the same from OTLP/JSON bytes
 *   jsonParse  V8 JSON.parse of the OTLP/JSON text                  ← decode floor
 *
 * Writers, per table (the same partitions, the same run): the native encoder's write from the
 * builders against parquet-wasm's `write` (of a prebuilt wasm Table) and its whole encode
 * (toIPC + fromIPC + write), with the ratios and the files' sizes.
 *
 * Small requests (`--small 10,100`, default): many requests of 10 and 100 records (16 seeded
 * variants in turn) decoded, and decoded + split into partitions, one after another: µs per
 * request and per record, so the fixed cost of a request shows next to the per-record one.
 *
 * Reported: wall time (best and median of the runs; throughput and ratios use the best, the least
 * disturbed run on a shared machine), process CPU time, records/s, input MB/s (protobuf bytes, JSON bytes for the JSON rows), Parquet bytes,
 * memory of one e2e conversion measured in a fresh process (`--probe`: peak RSS above the RSS
 * before it, from /proc/self/status after resetting the mark through /proc/self/clear_refs, and
 * parquet-wasm's memory growth) against the decoded columns' size, and two ratios:
 *
 *   e2e / (jsonParse + write)                   how far from the two floors we are
 *   (decode + convert + toIPC + fromIPC) / write the issue's target: ≤ 0.25
 *
 * Then a stream of requests the way the server runs it (./parallel.ts, `--threads 0,1,2`): the
 * main thread decodes and makes the IPC hand-off, parquet-wasm runs on the main thread or on 1
 * and 2 encoder threads (src/batch/encoder.node.ts): records/s and the cores kept busy.
 *
 * Usage: deno task bench [--records N] [--small N,N | none] [--threads N,N | none] [--runs N]
 *        [--warmup N] [--signals logs,traces,metrics] [--only writers] [--out FILE | --no-write]
 * Results go to bench/results/latest.json unless --no-write. `--only writers` runs just the writers
 * section (native against parquet-wasm, per table, interleaved) and prints its table (no file).
 */
import process from "node:process";
import { useNodeParquetZstd } from "../src/core/arrow/zstd.node.ts";
import { convertRequest } from "../src/core/convert.ts";
import { decode } from "../src/core/otlp/index.ts";
import type { Decoded } from "../src/core/otlp/types.ts";
import {
  DEFAULT_PARQUET,
  encodeParquet,
  initParquet,
  type ParquetOptions,
  toIPC,
  writerProperties,
} from "../src/core/parquet/encode.ts";
import { type Partition, partition } from "../src/core/partition.ts";
import * as pw from "parquet-wasm/esm";
import { type GeneratedRequest, generateRequest, type GenSignal } from "./gen.ts";
import { benchThreads, type ThreadsResult, threadsTable } from "./parallel.ts";
import { coreTargets, type TargetCheck, targetsTable } from "./targets.ts";

export interface CoreOptions {
  records: number;
  /** Record counts of the small-request measurement (empty: skip it). */
  small: number[];
  runs: number;
  warmup: number;
  signals: GenSignal[];
  seed: number;
  parquet: ParquetOptions;
  /** Print progress and the table to the console. */
  print: boolean;
  /** Encoder thread counts of the stream measurement (bench/parallel.ts; empty: skip it). */
  threads: number[];
  /** "writers": only the native-vs-parquet-wasm writers section (`--only writers`). */
  only?: "writers";
}

export const DEFAULT_CORE: CoreOptions = {
  records: 10_000,
  small: [10, 100],
  runs: 7,
  warmup: 3,
  signals: ["logs", "traces", "metrics"],
  seed: 1,
  parquet: DEFAULT_PARQUET,
  print: true,
  threads: [0, 1, 2],
};

export interface StageResult {
  stage: string;
  /** Median and best wall time of one run, ms. */
  medianMs: number;
  bestMs: number;
  /** Median CPU time of the process (all threads: V8's GC helpers too) during one run, ms. */
  cpuMs: number;
  /** Records per second at the best time. */
  recordsPerSec: number;
  /** Input MB/s (10^6 bytes) at the best time; 0 where the stage has no request input. */
  inputMBps: number;
}

/** Memory of one e2e conversion (request bytes → Parquet bytes) in a fresh process. */
export interface MemoryResult {
  /** RSS before the conversion (runtime, wasm, the request in memory), MB (2^20 bytes). */
  rssBeforeMB: number;
  /** Peak RSS during the conversion above rssBeforeMB, MB; null where /proc is unavailable. */
  peakRssDeltaMB: number | null;
  /** parquet-wasm linear memory before and after, MB (it grows, never shrinks). */
  wasmBeforeMB: number;
  wasmAfterMB: number;
  /** In-memory size of the decoded columns (TableBuilder.byteSize()), MB: "Parquet-ready" data. */
  columnsMB: number;
  /** peakRssDeltaMB / columnsMB. */
  peakOverColumns: number | null;
  /**
   * Peak RSS while encoding the decoded columns (IPC, wasm copy, Parquet write: what a flush
   * does) above the RSS once they were decoded and the decoder's garbage collected, MB; and that
   * over columnsMB (the issue bounds
   * peak memory during a flush at 3× the Parquet-ready size).
   */
  encodePeakDeltaMB: number | null;
  encodePeakOverColumns: number | null;
}

/** Many small requests of one size, one after another (see the module comment). */
export interface SmallResult {
  records: number;
  /** Protobuf bytes of one request (mean of the variants). */
  bytes: number;
  /** Median over the runs of the wall time per request, µs: decode, and decode + partition. */
  decodeUs: number;
  convertUs: number;
  /** Median CPU time per request (all threads), µs, of decode + partition. */
  convertCpuUs: number;
}

export interface SignalResult {
  signal: GenSignal;
  records: number;
  protobufBytes: number;
  jsonBytes: number;
  partitions: number;
  parquetBytes: number;
  /** Native encoder vs parquet-wasm per table (see the top). */
  writers: WriterResult[];
  stages: StageResult[];
  /** e2e / (jsonParse + write), best runs. */
  floorRatio: number;
  /** (decode + convert + toIPC + fromIPC) / write; the issue's target is ≤ 0.25. */
  overheadRatio: number;
  memory: MemoryResult;
  small: SmallResult[];
}

export interface MachineInfo {
  nproc: number;
  cpu: string;
  memoryMB: number | null;
  deno: string;
  v8: string;
  os: string;
}

export interface CoreResults {
  kind: "core";
  date: string;
  commit: string;
  machine: MachineInfo;
  options: {
    records: number;
    small: number[];
    runs: number;
    warmup: number;
    seed: number;
    codec: string;
  };
  /** 1-minute load average before and after the run (other work on the machine skews times). */
  loadAverage: { before: number | null; after: number | null };
  signals: SignalResult[];
  /**
   * A stream of requests with parquet-wasm on the main thread or on encoder threads, as the
   * server runs it (bench/parallel.ts); absent with `--threads none`.
   */
  threads?: ThreadsResult[];
  /** The issue's core targets checked against this run (./targets.ts). */
  issueTargets?: TargetCheck[];
}

/** One table's files written by the native encoder and by parquet-wasm, in one run. */
export interface WriterResult {
  table: string;
  rows: number;
  /** Best of the runs, ms: native encodeParquet; parquet-wasm write (prebuilt Table); its encode. */
  nativeMs: number;
  wasmWriteMs: number;
  wasmEncodeMs: number;
  nativeBytes: number;
  wasmBytes: number;
  /** Median process CPU ms of the same runs (steadier than wall time on a busy machine). */
  nativeCpuMs: number;
  wasmWriteCpuMs: number;
  /** wasmWriteMs / nativeMs and wasmEncodeMs / nativeMs (target ≥ 2). */
  writeRatio: number;
  encodeRatio: number;
  /** wasmWriteCpuMs / nativeCpuMs. */
  writeCpuRatio: number;
  /** nativeBytes / wasmBytes (target ≤ 1.01). */
  bytesRatio: number;
}

/** The 1-minute load average, or null where /proc/loadavg does not exist. */
export function loadAverage(): number | null {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return null;
  }
}

const MB = 1 << 20;
const RECEIVED_AT = 1741944413_000_000_000n;

let wasmReady = false;
export async function ensureParquet(): Promise<void> {
  if (wasmReady) return;
  useNodeParquetZstd(); // the native encoder's zstd, as the server entries register it
  const bytes = await Deno.readFile(
    new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm")),
  );
  initParquet(bytes);
  wasmReady = true;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times `run` `warmup + runs` times; `setup` (untimed) prepares each run's input, `teardown`
 * (untimed) releases what it made.
 */
function time<S, R>(
  o: CoreOptions,
  setup: () => S,
  run: (s: S) => R,
  teardown?: (r: R, s: S) => void,
): Timing {
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < o.warmup + o.runs; i++) {
    const s = setup();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = run(s);
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    teardown?.(r, s);
    if (i >= o.warmup) {
      wall.push(t);
      cpu.push((c.user + c.system) / 1000);
    }
  }
  return { wall, cpu };
}

interface Timing {
  wall: number[];
  cpu: number[];
}

/**
 * Throughput and ratios use the best (shortest) run: on a machine shared with other work the best
 * run is the least disturbed one; the median is reported next to it.
 */
function stage(name: string, times: Timing, records: number, inputBytes: number): StageResult {
  const best = Math.min(...times.wall);
  return {
    stage: name,
    medianMs: median(times.wall),
    bestMs: best,
    cpuMs: median(times.cpu),
    recordsPerSec: records / (best / 1000),
    inputMBps: inputBytes ? inputBytes / 1e6 / (best / 1000) : 0,
  };
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Resets the kernel's peak-RSS mark (Linux ≥ 4.0); false where that is not possible. */
function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function peakRssMB(): number | null {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+) kB/m);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function decodeOpts() {
  return { receivedAtNs: RECEIVED_AT };
}

function partitionsOf(d: Decoded): Partition[] {
  const out: Partition[] = [];
  for (const t of d.tables) out.push(...partition(t));
  return out;
}

export async function benchSignal(g: GeneratedRequest, o: CoreOptions): Promise<SignalResult> {
  const { signal, records, protobuf, jsonBytes, json } = g;
  const po = o.parquet;
  const log = (s: string) => o.print && console.error(`  ${signal}: ${s}`);
  const stages: StageResult[] = [];
  const add = (name: string, times: Timing, input: number) => {
    const r = stage(name, times, records, input);
    stages.push(r);
    log(`${name} ${r.medianMs.toFixed(2)} ms`);
    return r;
  };

  const decoded = decode(signal, protobuf, "protobuf", decodeOpts());
  if (decoded.records !== records) {
    throw new Error(
      `bench: decode of ${signal} returned ${decoded.records} records, expected ${records}`,
    );
  }
  const decode_ = add(
    "decode",
    time(o, () => 0, () => decode(signal, protobuf, "protobuf", decodeOpts())),
    protobuf.length,
  );
  add(
    "decodeJson",
    time(o, () => 0, () => decode(signal, jsonBytes, "json", decodeOpts())),
    jsonBytes.length,
  );
  const convert = add("convert", time(o, () => 0, () => partitionsOf(decoded)), 0);
  const parts = partitionsOf(decoded);
  const toIpc = add(
    "toIPC",
    time(o, () => 0, () => parts.map((p) => toIPC(p.rows, po.profile))),
    0,
  );
  const ipcs = parts.map((p) => toIPC(p.rows, po.profile));
  const fromIpc = add(
    "fromIPC",
    time(
      o,
      () => 0,
      () => ipcs.map((b) => pw.Table.fromIPCStream(b)),
      (ts) => ts.forEach((t) => t.free()),
    ),
    0,
  );
  let parquetBytes = 0;
  const write = add(
    "write",
    time(
      o,
      () => ipcs.map((b) => pw.Table.fromIPCStream(b)),
      (ts) => ts.map((t, i) => pw.writeParquet(t, writerProperties(po, parts[i].table))),
      (outs) => (parquetBytes = outs.reduce((n, b) => n + b.length, 0)),
    ),
    0,
  );
  add("encode", time(o, () => 0, () => parts.map((p) => encodeParquet(p.rows, po))), 0);
  const writers = benchWriters(parts, o);
  for (const w of writers) {
    log(
      `${w.table}: native ${w.nativeMs.toFixed(2)} ms vs parquet-wasm write ${
        w.wasmWriteMs.toFixed(2)
      } ms (×${w.writeRatio.toFixed(2)}), bytes ×${w.bytesRatio.toFixed(4)}`,
    );
  }

  const e2eRun = (body: Uint8Array, format: "protobuf" | "json") => () => {
    const c = convertRequest(signal, body, format, decodeOpts());
    return c.partitions.map((p) => encodeParquet(p.rows, po));
  };
  const e2e = add("e2e", time(o, () => 0, e2eRun(protobuf, "protobuf")), protobuf.length);
  add("e2eJson", time(o, () => 0, e2eRun(jsonBytes, "json")), jsonBytes.length);
  const parse = add("jsonParse", time(o, () => 0, () => JSON.parse(json)), jsonBytes.length);

  return {
    signal,
    records,
    protobufBytes: protobuf.length,
    jsonBytes: jsonBytes.length,
    partitions: parts.length,
    parquetBytes,
    writers,
    stages,
    floorRatio: e2e.bestMs / (parse.bestMs + write.bestMs),
    overheadRatio: (decode_.bestMs + convert.bestMs + toIpc.bestMs + fromIpc.bestMs) / write.bestMs,
    memory: await memoryOf(signal, protobuf),
    small: o.small.map((n) => benchSmall(signal, n, o)),
  };
}

/** The native encoder against parquet-wasm on the same partitions, per table. */
function benchWriters(parts: Partition[], o: CoreOptions): WriterResult[] {
  const po = o.parquet;
  const byTable = new Map<string, Partition[]>();
  for (const p of parts) {
    const l = byTable.get(p.rows.table) ?? [];
    l.push(p);
    byTable.set(p.rows.table, l);
  }
  const out: WriterResult[] = [];
  for (const [table, ps] of byTable) {
    const best = (t: Timing) => Math.min(...t.wall);
    let nativeBytes = 0, wasmBytes = 0;
    const ipcs = ps.map((p) => toIPC(p.rows, po.profile));
    // The three interleaved (native, write, encode, native, …): on a shared machine a burst of
    // other work then hits all three alike.
    const nt: Timing = { wall: [], cpu: [] }, wt: Timing = { wall: [], cpu: [] };
    const et: Timing = { wall: [], cpu: [] };
    const one = { ...o, warmup: 0, runs: 1 };
    const add = (into: Timing, t: Timing, i: number) => {
      if (i < o.warmup) return;
      into.wall.push(...t.wall);
      into.cpu.push(...t.cpu);
    };
    for (let i = 0; i < o.warmup + o.runs; i++) {
      add(
        nt,
        time(
          one,
          () => 0,
          () => ps.map((p) => encodeParquet(p.rows, { ...po, encoder: "native" })),
          (outs) => (nativeBytes = outs.reduce((n, b) => n + b.length, 0)),
        ),
        i,
      );
      add(
        wt,
        time(
          one,
          () => ipcs.map((b) => pw.Table.fromIPCStream(b)),
          (ts) => ts.map((t, i) => pw.writeParquet(t, writerProperties(po, ps[i].rows.table))),
          (outs) => (wasmBytes = outs.reduce((n, b) => n + b.length, 0)),
        ),
        i,
      );
      add(
        et,
        time(one, () => 0, () => ps.map((p) => encodeParquet(p.rows, { ...po, encoder: "wasm" }))),
        i,
      );
    }
    const native = best(nt), wasmWrite = best(wt), wasmEncode = best(et);
    out.push({
      table,
      rows: ps.reduce((n, p) => n + p.rows.length, 0),
      nativeMs: native,
      wasmWriteMs: wasmWrite,
      wasmEncodeMs: wasmEncode,
      nativeCpuMs: median(nt.cpu),
      wasmWriteCpuMs: median(wt.cpu),
      writeCpuRatio: median(wt.cpu) / median(nt.cpu),
      nativeBytes,
      wasmBytes,
      writeRatio: wasmWrite / native,
      encodeRatio: wasmEncode / native,
      bytesRatio: nativeBytes / wasmBytes,
    });
  }
  return out;
}

/** The per-table writer comparison as a Markdown table. */
export function writersTable(r: { signals: { writers?: WriterResult[] }[] }): string {
  const lines = [
    "| table | rows | native ms | parquet-wasm write ms | its encode ms | × write | × encode | × write (CPU) | native KiB | parquet-wasm KiB | bytes × |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const s of r.signals) {
    for (const w of s.writers ?? []) {
      lines.push(
        `| ${w.table} | ${fmtInt(w.rows)} | ${fmt1(w.nativeMs)} | ${fmt1(w.wasmWriteMs)} | ${
          fmt1(w.wasmEncodeMs)
        } | ${w.writeRatio.toFixed(2)} | ${w.encodeRatio.toFixed(2)} | ${
          w.writeCpuRatio.toFixed(2)
        } | ${fmtInt(w.nativeBytes / 1024)} | ${fmtInt(w.wasmBytes / 1024)} | ${
          w.bytesRatio.toFixed(4)
        } |`,
      );
    }
  }
  return lines.join("\n");
}

/**
 * Requests of `records` records (16 seeded variants in turn), decoded and decoded + partitioned
 * one after another: each run takes about 50 ms of requests; the median of the runs per request.
 */
export function benchSmall(signal: GenSignal, records: number, o: CoreOptions): SmallResult {
  const bodies = Array.from(
    { length: 16 },
    (_, i) => generateRequest(signal, { records, seed: o.seed + i }).protobuf,
  );
  const per = Math.max(8, Math.round(20_000 / records));
  const decodeAll = () => {
    for (let i = 0; i < per; i++) decode(signal, bodies[i & 15], "protobuf", decodeOpts());
  };
  const convertAll = () => {
    for (let i = 0; i < per; i++) convertRequest(signal, bodies[i & 15], "protobuf", decodeOpts());
  };
  const d = time(o, () => 0, decodeAll);
  const c = time(o, () => 0, convertAll);
  const r: SmallResult = {
    records,
    bytes: bodies.reduce((n, b) => n + b.length, 0) / bodies.length,
    decodeUs: median(d.wall) * 1000 / per,
    convertUs: median(c.wall) * 1000 / per,
    convertCpuUs: median(c.cpu) * 1000 / per,
  };
  if (o.print) {
    console.error(
      `  ${signal}: ${records}-record requests: decode ${r.decodeUs.toFixed(1)} µs, ` +
        `decode + partition ${r.convertUs.toFixed(1)} µs per request`,
    );
  }
  return r;
}

/**
 * Runs `--probe` in a fresh Deno process on the request bytes (so neither earlier stages nor the
 * generator leave freed memory behind that the conversion could reuse unseen).
 */
async function memoryOf(signal: GenSignal, protobuf: Uint8Array): Promise<MemoryResult> {
  const file = await Deno.makeTempFile({ prefix: "otlp2parquet-bench-", suffix: ".pb" });
  try {
    await Deno.writeFile(file, protobuf);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        new URL(import.meta.url).pathname,
        "--probe",
        signal,
        file,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) throw new Error(`bench: memory probe of ${signal} failed:\n${text}`);
    return JSON.parse(text.trim().split("\n").pop()!);
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

/** The `--probe` process: one e2e conversion of a generated request, memory measured around it. */
async function probe(signal: GenSignal, file: string): Promise<MemoryResult> {
  await ensureParquet();
  let protobuf: Uint8Array | null = await Deno.readFile(file);
  // Warm the code paths on a small request first, encoded often enough that V8 has compiled the
  // parquet-wasm functions a write uses (lazily on first call, then again with its optimising
  // tier): that code's memory, 10–12 MB once per process, otherwise lands in the first flush
  // measured (it goes away with --no-wasm-lazy-compilation --no-wasm-tier-up). The request is
  // small, so the wasm memory it leaves (about 4 MB) is what a single tiny request leaves.
  const warm = generateRequest(signal, { records: 200, seed: 2 }).protobuf;
  for (let i = 0; i < 30; i++) {
    convertRequest(signal, warm, "protobuf", decodeOpts())
      .partitions.forEach((p) => encodeParquet(p.rows, DEFAULT_PARQUET));
  }
  gc();
  gc();
  const rssBefore = Deno.memoryUsage().rss / MB;
  const wasmBefore = pw.wasmMemory().buffer.byteLength / MB;
  const canReset = resetPeakRss();
  const c = convertRequest(signal, protobuf, "protobuf", decodeOpts());
  protobuf = null;
  const columnsMB = c.partitions.reduce((n, p) => n + p.rows.byteSize(), 0) / MB;
  const peakDecode = canReset ? peakRssMB() : null;
  // A flush runs long after its rows were decoded: collect the decoder's garbage first, so the
  // encode peak is the flush's own memory (without this, V8 compacting that garbage during the
  // encode added about 10 MB, 1× the columns, to the logs figure).
  gc();
  gc();
  const rssDecoded = Deno.memoryUsage().rss / MB;
  resetPeakRss();
  const files = c.partitions.map((p) => encodeParquet(p.rows, DEFAULT_PARQUET));
  const peakEncode = canReset ? peakRssMB() : null;
  if (files.length === 0) throw new Error("bench: probe wrote no files");
  const peak = peakDecode === null || peakEncode === null ? null : Math.max(peakDecode, peakEncode);
  const delta = peak === null ? null : peak - rssBefore;
  const encodeDelta = peakEncode === null ? null : peakEncode - rssDecoded;
  return {
    rssBeforeMB: rssBefore,
    peakRssDeltaMB: delta,
    wasmBeforeMB: wasmBefore,
    wasmAfterMB: pw.wasmMemory().buffer.byteLength / MB,
    columnsMB,
    peakOverColumns: delta === null ? null : delta / columnsMB,
    encodePeakDeltaMB: encodeDelta,
    encodePeakOverColumns: encodeDelta === null ? null : encodeDelta / columnsMB,
  };
}

export async function machineInfo(): Promise<MachineInfo> {
  let cpu = "unknown";
  let memoryMB: number | null = null;
  try {
    cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpu;
    const m = (await Deno.readTextFile("/proc/meminfo")).match(/^MemTotal:\s+(\d+) kB/m);
    if (m) memoryMB = Math.round(Number(m[1]) / 1024);
  } catch { /* not Linux */ }
  return {
    nproc: navigator.hardwareConcurrency,
    cpu,
    memoryMB,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.build.arch}`,
  };
}

export async function gitCommit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() || "unknown";
  } catch {
    return "unknown";
  }
}

export async function runCore(opts: Partial<CoreOptions> = {}): Promise<CoreResults> {
  const o: CoreOptions = { ...DEFAULT_CORE, ...opts };
  await ensureParquet();
  const loadBefore = loadAverage();
  const signals: SignalResult[] = [];
  for (const s of o.signals) {
    if (o.print) console.error(`generating ${s} (${o.records} records, seed ${o.seed})`);
    const g = generateRequest(s, { records: o.records, seed: o.seed });
    signals.push(await benchSignal(g, o));
    gc();
  }
  let threads: ThreadsResult[] | undefined;
  if (o.threads.length > 0) {
    if (o.print) console.error(`stream of requests with encoder threads ${o.threads.join(", ")}`);
    threads = await benchThreads({ signals: o.signals, records: o.records, threads: o.threads });
  }
  return {
    kind: "core",
    date: new Date().toISOString(),
    commit: await gitCommit(),
    machine: await machineInfo(),
    options: {
      records: o.records,
      small: o.small,
      runs: o.runs,
      warmup: o.warmup,
      seed: o.seed,
      codec: o.parquet.codec,
    },
    loadAverage: { before: loadBefore, after: loadAverage() },
    signals,
    threads,
  };
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmt1 = (n: number) => n.toFixed(1);

/** The results as a Markdown table (the README shows it). */
export function coreTable(r: CoreResults): string {
  const lines = [
    "| signal | stage | median ms | best ms | CPU ms | records/s | input MB/s |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const s of r.signals) {
    for (const st of s.stages) {
      lines.push(
        `| ${s.signal} | ${st.stage} | ${st.medianMs.toFixed(1)} | ${st.bestMs.toFixed(1)} | ${
          st.cpuMs.toFixed(1)
        } | ${fmtInt(st.recordsPerSec)} | ${st.inputMBps ? fmt1(st.inputMBps) : ""} |`,
      );
    }
  }
  lines.push("");
  lines.push(
    "| signal | records | protobuf KB | JSON KB | Parquet KB | files | e2e / floors | (decode+convert+IPC) / write | columns MB | e2e peak RSS +MB | encode peak RSS +MB (× columns) | wasm MB |",
  );
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const s of r.signals) {
    lines.push(
      `| ${s.signal} | ${fmtInt(s.records)} | ${fmtInt(s.protobufBytes / 1024)} | ${
        fmtInt(s.jsonBytes / 1024)
      } | ${fmtInt(s.parquetBytes / 1024)} | ${s.partitions} | ${s.floorRatio.toFixed(2)} | ${
        s.overheadRatio.toFixed(2)
      } | ${fmt1(s.memory.columnsMB)} | ${
        s.memory.peakRssDeltaMB === null ? "n/a" : fmt1(s.memory.peakRssDeltaMB)
      } | ${
        s.memory.encodePeakDeltaMB === null
          ? "n/a"
          : `${fmt1(s.memory.encodePeakDeltaMB)} (${s.memory.encodePeakOverColumns!.toFixed(1)}×)`
      } | ${fmtInt(s.memory.wasmAfterMB)} |`,
    );
  }
  if (r.signals.some((s) => s.small?.length)) {
    lines.push("");
    lines.push(
      "| signal | records per request | request KB | decode µs/request | decode + partition µs/request | CPU µs/request | µs/record |",
    );
    lines.push("|---|---:|---:|---:|---:|---:|---:|");
    for (const s of r.signals) {
      for (const m of s.small ?? []) {
        lines.push(
          `| ${s.signal} | ${m.records} | ${fmt1(m.bytes / 1024)} | ${fmt1(m.decodeUs)} | ${
            fmt1(m.convertUs)
          } | ${fmt1(m.convertCpuUs)} | ${(m.convertUs / m.records).toFixed(2)} |`,
        );
      }
    }
    // The line through the smallest and largest size: a fixed cost per request plus one per record.
    for (const s of r.signals) {
      const sm = [...(s.small ?? [])].sort((a, b) => a.records - b.records);
      if (sm.length < 2) continue;
      const a = sm[0], b = sm[sm.length - 1];
      const perRecord = (b.convertUs - a.convertUs) / (b.records - a.records);
      lines.push(
        `\n${s.signal}: decode + partition ≈ ${fmt1(a.convertUs - perRecord * a.records)} µs per ` +
          `request + ${perRecord.toFixed(2)} µs per record (${a.records} and ${b.records} records)`,
      );
    }
  }
  return lines.join("\n");
}

export function machineLine(m: MachineInfo): string {
  return `${m.nproc} × ${m.cpu}, ${m.memoryMB ?? "?"} MB RAM, ${m.os}, Deno ${m.deno} (V8 ${m.v8})`;
}

function parseArgs(args: string[]): { opts: Partial<CoreOptions>; out: string | null } {
  const opts: Partial<CoreOptions> = {};
  let out: string | null = new URL("./results/latest.json", import.meta.url).pathname;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 0) {
        throw new RangeError(`bench: ${a} needs a whole number, got "${args[i]}"`);
      }
      return v;
    };
    if (a === "--records") opts.records = num();
    else if (a === "--small") {
      const v = args[++i] ?? "";
      opts.small = v === "" || v === "none" ? [] : v.split(",").map(Number);
      if (opts.small.some((n) => !Number.isInteger(n) || n < 1)) {
        throw new RangeError(`bench: --small needs record counts like "10,100", got "${v}"`);
      }
    } else if (a === "--runs") opts.runs = Math.max(1, num());
    else if (a === "--warmup") opts.warmup = num();
    else if (a === "--seed") opts.seed = num();
    else if (a === "--signals") opts.signals = args[++i].split(",") as GenSignal[];
    else if (a === "--threads") {
      const v = args[++i] ?? "";
      opts.threads = v === "" || v === "none" ? [] : v.split(",").map(Number);
      if (opts.threads.some((n) => !Number.isInteger(n) || n < 0)) {
        throw new RangeError(`bench: --threads needs thread counts like "0,1,2", got "${v}"`);
      }
    } else if (a === "--only") {
      const v = args[++i];
      if (v !== "writers") throw new TypeError(`bench: --only takes "writers", got "${v}"`);
      opts.only = v;
    } else if (a === "--out") out = args[++i];
    else if (a === "--no-write") out = null;
    else if (a === "--help") {
      console.log(
        "deno task bench [--records N] [--small N,N | none] [--threads N,N | none] [--runs N] [--warmup N] [--seed N] [--signals logs,traces,metrics] [--only writers] [--out FILE | --no-write]",
      );
      Deno.exit(0);
    } else throw new TypeError(`bench: unknown argument "${a}"`);
  }
  return { opts, out };
}

if (import.meta.main && Deno.args[0] === "--probe") {
  console.log(JSON.stringify(await probe(Deno.args[1] as GenSignal, Deno.args[2])));
  Deno.exit(0);
}

/** Only the writers section, per signal (`--only writers`; nothing is written to a file). */
async function runWriters(opts: Partial<CoreOptions>): Promise<void> {
  const o: CoreOptions = { ...DEFAULT_CORE, ...opts };
  await ensureParquet();
  const before = loadAverage();
  const signals: { writers: WriterResult[] }[] = [];
  for (const s of o.signals) {
    const g = generateRequest(s, { records: o.records, seed: o.seed });
    signals.push({
      writers: benchWriters(partitionsOf(decode(s, g.protobuf, "protobuf", decodeOpts())), o),
    });
    gc();
  }
  console.log(
    `\n${
      machineLine(await machineInfo())
    }; commit ${await gitCommit()}; ${o.runs} runs after ${o.warmup} warm-up; ` +
      `load average ${before} → ${loadAverage()}`,
  );
  console.log(
    `\nThe native Parquet encoder against parquet-wasm, same partitions, same run (${o.parquet.codec}):\n`,
  );
  console.log(writersTable({ signals }));
}

if (import.meta.main && parseArgs(Deno.args).opts.only === "writers") {
  await runWriters(parseArgs(Deno.args).opts);
  Deno.exit(0);
}

if (import.meta.main) {
  const { opts, out } = parseArgs(Deno.args);
  const r = await runCore(opts);
  console.log(
    `\n${
      machineLine(r.machine)
    }; commit ${r.commit}; ${r.options.runs} runs after ${r.options.warmup} warm-up; ` +
      `load average ${r.loadAverage.before} → ${r.loadAverage.after}`,
  );
  console.log(coreTable(r));
  console.log(
    `\nThe native Parquet encoder against parquet-wasm, same partitions, same run (${r.options.codec}):\n`,
  );
  console.log(writersTable(r));
  if (r.threads) {
    console.log(
      `\nA stream of ${r.options.records}-record requests, request bytes to Parquet bytes, with the server's encoder (parquet.encode_threads):\n`,
    );
    console.log(threadsTable(r.threads));
  }
  r.issueTargets = coreTargets(r);
  console.log("\nAgainst the issue's targets:\n");
  console.log(targetsTable(r.issueTargets));
  if (!(globalThis as { gc?: unknown }).gc) {
    console.log("\n(note: run with --v8-flags=--expose-gc for steadier memory numbers)");
  }
  if (out) {
    const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir || "/", { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(r, null, 2) + "\n");
    console.log(`\nwrote ${out}`);
  }
}
