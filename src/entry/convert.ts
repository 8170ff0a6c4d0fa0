/**
 * `otlp2parquet convert FILE… --out DIR`: OTLP files through the same pipeline as the server
 * (decode → partitions → write-through writer → fs storage). Prints one line per input file and
 * a total; a file that cannot be read or decoded is reported and the others still converted.
 */
import { open } from "node:fs/promises";
import { createWriter } from "../batch/index.ts";
import { CorruptDataError, decompressTrusted, isGzip, isZstd } from "../codec/index.ts";
import { type Config, parquetOptions } from "../config/types.ts";
import { usesNative } from "../core/parquet/encode.ts";
import { convertRequest } from "../core/convert.ts";
import { detectSignal } from "../core/otlp/index.ts";
import { keepDecodeBuffers, releaseRows } from "../core/otlp/sizing.ts";
import type { Format } from "../core/otlp/types.ts";
import type { Signal } from "../core/tables.ts";
import type { Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import { createStorage } from "../storage/index.ts";
import { initParquetFromDisk } from "../core/parquet/wasm.node.ts";
import { useNodeZstd } from "../core/arrow/zstd.node.ts";

/** Decode buffers kept between input files (see `keepDecodeBuffers`). */
const CONVERT_POOL_BYTES = 1024 * 1024 * 1024;

export interface ConvertOptions {
  /** Storage settings are taken as they are: the CLI sets the fs backend and its root. */
  config: Config;
  logger: Logger;
  files: string[];
  /** Signal of every file, instead of detecting it from the content. */
  signal?: Signal;
  /** Where the summary goes. Default stdout. */
  print?: (line: string) => void;
  /** Where problems go. Default stderr. */
  printError?: (line: string) => void;
}

/** Converts the files; resolves with the exit code (0 all converted, 1 otherwise). */
export async function convertFiles(opts: ConvertOptions): Promise<number> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const printError = opts.printError ?? ((l: string) => console.error(l));
  useNodeZstd();
  keepDecodeBuffers(CONVERT_POOL_BYTES);
  const config: Config = { ...opts.config, batch: { ...opts.config.batch, enabled: false } };
  // parquet-wasm only where it writes the files (compiling its 5 MB of wasm costs the process
  // CPU time the native encoder does not need).
  if (config.output.format === "parquet" && !usesNative(parquetOptions(config))) {
    initParquetFromDisk();
  }
  const written: string[] = [];
  const storage = counting(await createStorage(config, opts.logger), written);
  const writer = await createWriter({ config, storage, logger: opts.logger });
  let failed = 0, records = 0, rejected = 0;
  try {
    for (const file of opts.files) {
      const before = written.length;
      try {
        const r = await convertOne(file, opts.signal, async (req) => await writer.write(req));
        const files = written.length - before;
        records += r.records;
        rejected += r.rejected;
        print(
          `${file}: ${r.signal} (${r.format}), ${r.records} record${r.records === 1 ? "" : "s"}` +
            (r.rejected ? `, ${r.rejected} rejected (${r.message})` : "") +
            ` → ${files} Parquet file${files === 1 ? "" : "s"}`,
        );
      } catch (e) {
        failed++;
        printError(`otlp2parquet convert: ${file}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } finally {
    await writer.close();
    await storage.close?.();
  }
  const root = config.storage.fs.path;
  const ok = opts.files.length - failed;
  print(
    `converted ${ok} of ${opts.files.length} file${opts.files.length === 1 ? "" : "s"}: ` +
      `${records} records${rejected ? ` (${rejected} rejected)` : ""}, ` +
      `${written.length} Parquet file${written.length === 1 ? "" : "s"} under ${root}`,
  );
  return failed ? 1 : 0;
}

interface OneResult {
  signal: Signal;
  format: Format;
  records: number;
  rejected: number;
  message: string;
}

async function convertOne(
  file: string,
  forced: Signal | undefined,
  write: (req: Parameters<Awaited<ReturnType<typeof createWriter>>["write"]>[0]) => Promise<void>,
): Promise<OneResult> {
  let raw: Uint8Array;
  try {
    raw = await readInto(file);
  } catch (e) {
    throw new Error(`cannot read the file: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { bytes, name } = decompressFile(file, raw);
  const candidates = formatsOf(name, bytes);
  const receivedAtNs = BigInt(Date.now()) * 1_000_000n;
  let firstError: unknown;
  for (const format of candidates) {
    const signal = forced ?? detectSignal(bytes, format);
    if (signal === null) {
      firstError ??= new Error(undetectedReason(bytes, format));
      continue;
    }
    let converted;
    try {
      converted = convertRequest(signal, bytes, format, { receivedAtNs });
    } catch (e) {
      firstError ??= e;
      continue;
    }
    await write({ signal, format, body: bytes, receivedAtNs, partitions: converted.partitions });
    // Written through (batching is off): the next file's rows can reuse these rows' buffers.
    for (const p of converted.partitions) releaseRows(p.rows);
    return {
      signal,
      format,
      records: converted.records,
      rejected: converted.rejected,
      message: converted.message,
    };
  }
  throw firstError instanceof Error ? firstError : new Error(String(firstError));
}

/**
 * The buffer the input files are read into, reused from file to file: the files are converted
 * one after another and nothing keeps a view of a request's bytes past its conversion (the
 * decoder copies what it keeps), and a fresh buffer per file costs the kernel a page fault per
 * 4 KiB of it (a tenth of the process's CPU time on 50 MB files).
 */
let readBuffer = new Uint8Array(0);

/** The bytes of `file`, in `readBuffer` (grown when the file is larger). */
async function readInto(file: string): Promise<Uint8Array> {
  const h = await open(file, "r");
  try {
    const size = (await h.stat()).size;
    if (readBuffer.length < size + 1) readBuffer = new Uint8Array(size + 1 + (size >> 3));
    let n = 0;
    // Read until the end (the file may have grown since stat; one byte of room tells).
    for (;;) {
      if (n === readBuffer.length) {
        const next = new Uint8Array(2 * readBuffer.length);
        next.set(readBuffer);
        readBuffer = next;
      }
      const { bytesRead } = await h.read(readBuffer, n, readBuffer.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return readBuffer.subarray(0, n);
  } finally {
    await h.close();
  }
}

/** Why the signal of `bytes` could not be told, as precisely as cheaply possible. */
function undetectedReason(bytes: Uint8Array, format: Format): string {
  if (format !== "protobuf") {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return "not OTLP/JSON: the file is not valid UTF-8 text";
    }
    const first = format === "jsonl" ? (text.split("\n").find((l) => l.trim() !== "") ?? "") : text;
    let v: unknown;
    try {
      v = JSON.parse(first);
    } catch (e) {
      return `not OTLP/JSON${format === "jsonl" ? " lines" : ""}: ${
        e instanceof Error ? e.message : String(e)
      }`;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      return "not OTLP/JSON: expected an object with resourceLogs, resourceSpans or resourceMetrics";
    }
    const keys = Object.keys(v).slice(0, 5).map((k) => JSON.stringify(k)).join(", ");
    return `not OTLP/JSON: no resourceLogs, resourceSpans or resourceMetrics key (found ${
      keys || "no keys"
    }); pass --signal if it is one`;
  }
  return "not a recognisable OTLP protobuf request (logs, traces or metrics); pass --signal to decode it as one";
}

/** The file's bytes without gzip/zstd (by extension or magic bytes), and its name without `.gz`. */
function decompressFile(file: string, raw: Uint8Array): { bytes: Uint8Array; name: string } {
  let name = file.toLowerCase();
  const coding = isGzip(raw) ? "gzip" : isZstd(raw) ? "zstd" : undefined;
  if (name.endsWith(".gz") || name.endsWith(".zst")) name = name.slice(0, name.lastIndexOf("."));
  if (coding) {
    try {
      return { bytes: decompressTrusted(raw, [coding]), name };
    } catch (e) {
      throw new Error(
        `cannot decompress the file (${coding}): ${
          e instanceof CorruptDataError ? e.detail : e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  }
  if (file.toLowerCase() !== name) {
    throw new Error(
      `the name ends in ${file.slice(name.length)} but the content is not compressed`,
    );
  }
  return { bytes: raw, name };
}

/** Formats to try, most likely first: by extension, else by sniffing. */
export function formatsOf(name: string, bytes: Uint8Array): Format[] {
  if (/\.(pb|bin|protobuf|binpb)$/.test(name)) return ["protobuf"];
  if (/\.(jsonl|ndjson)$/.test(name)) return ["jsonl"];
  // A `.json` file may hold JSON lines (the Collector's file exporter writes them so).
  if (name.endsWith(".json")) return isSingleJson(bytes) ? ["json", "jsonl"] : ["jsonl", "json"];
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 BOM
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)
  ) i++;
  if (bytes[i] === 0x7b) return isSingleJson(bytes) ? ["json", "jsonl"] : ["jsonl", "json"];
  return ["protobuf"];
}

function isSingleJson(bytes: Uint8Array): boolean {
  try {
    JSON.parse(new TextDecoder().decode(bytes));
    return true;
  } catch {
    return false;
  }
}

/** Records the keys stored through `driver`. */
function counting(driver: StorageDriver, written: string[]): StorageDriver {
  return {
    ...driver,
    name: driver.name,
    put: async (key, data) => {
      await driver.put(key, data);
      written.push(key);
    },
    get: (k) => driver.get(k),
    list: (p) => driver.list(p),
    delete: (k) => driver.delete(k),
    check: () => driver.check(),
    close: driver.close ? () => driver.close!() : undefined,
  };
}
