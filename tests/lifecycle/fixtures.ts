/**
 * A partition of many small files, written the way Lambda and Workers write them (write-through,
 * one file per request), and readers of what compaction left.
 */
import { createWriteThroughWriter } from "../../src/batch/writethrough.ts";
import { defaultConfig } from "../../src/config/types.ts";
import { convertRequest } from "../../src/core/convert.ts";
import { initParquet } from "../../src/core/parquet/encode.ts";
import { silentLogger } from "../../src/log/log.ts";
import type { StorageDriver } from "../../src/storage/types.ts";
import { query, readParquet } from "../helpers/duckdb.ts";

initParquet(
  Deno.readFileSync(new URL(import.meta.resolve("parquet-wasm/esm/parquet_wasm_bg.wasm"))),
);

/** 2024-05-01T10:00:00Z in ns: an hour long past, so compaction takes it. */
export const HOUR0_NS = 1_714_557_600_000_000_000n;
export const HOUR_NS = 3_600_000_000_000n;

const enc = new TextEncoder();

/** An OTLP/JSON logs request of `n` records of `service`, with times spread over the hour. */
export function logsRequest(
  service: string,
  seq: number,
  n: number,
  hourNs = HOUR0_NS,
): Uint8Array {
  return enc.encode(JSON.stringify({
    resourceLogs: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeLogs: [{
        scope: { name: "lifecycle-test" },
        logRecords: Array.from({ length: n }, (_, i) => ({
          // Out of order on purpose: compaction sorts.
          timeUnixNano: String(
            hourNs + BigInt(((seq * 7919 + i * 104729) % 3_599_000) * 1_000_000),
          ),
          severityNumber: 9,
          severityText: "INFO",
          body: { stringValue: `req ${seq} rec ${i}` },
          attributes: [{ key: "seq", value: { intValue: String(seq) } }],
        })),
      }],
    }],
  }));
}

/**
 * Writes requests `first` … `first + requests - 1` of `records` records each, write-through
 * (one file each); returns the rows written.
 */
export async function writeSmallFiles(
  storage: StorageDriver,
  service: string,
  requests: number,
  records = 2,
  hourNs = HOUR0_NS,
  first = 0,
): Promise<number> {
  const config = defaultConfig("server");
  config.batch.enabled = false;
  const writer = createWriteThroughWriter({ config, storage, logger: silentLogger });
  for (let seq = first; seq < first + requests; seq++) {
    const body = logsRequest(service, seq, records, hourNs);
    const { partitions } = convertRequest("logs", body, "json", { receivedAtNs: 1n });
    await writer.write({ signal: "logs", format: "json", body, receivedAtNs: 1n, partitions });
  }
  return requests * records;
}

/** Every row of the Parquet files `files` (paths), as sorted JSON strings of all columns. */
export async function rowsOf(files: string[]): Promise<string[]> {
  if (files.length === 0) return [];
  const rows = await query(`SELECT * FROM ${readParquet(files)}`);
  return rows.map((r) => JSON.stringify(r, (_, v) => typeof v === "bigint" ? String(v) : v)).sort();
}
