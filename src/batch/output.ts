/**
 * The one seam between the writers (./writethrough.ts, ./batcher.ts, ./durable-object.ts) and
 * the file format `output.format` asks for: rows of one table in, the bytes of one file and its
 * key's extension out.
 *
 *   parquet   parquet-wasm, through the batching writer's `Encoder` (on worker threads with
 *             `parquet.encode_threads`), `.parquet`
 *   arrow     the Arrow IPC file format from ../core/arrow/file.ts on the calling thread (a copy
 *             of the columns, plus `arrow.compression`), `.arrow`
 */
import { ConfigError } from "../config/load.ts";
import { arrowOptions, type Config, type OutputFormat, parquetOptions } from "../config/types.ts";
import { encodeArrowFile } from "../core/arrow/file.ts";
import { loadArrowCompressor } from "../core/arrow/codecs.ts";
import { encodeParquet } from "../core/parquet/encode.ts";
import type { TableBuilder } from "../core/tables.ts";
import type { Encoder } from "./types.ts";

export interface OutputEncoder {
  readonly format: OutputFormat;
  /** The object key's extension, without the dot. */
  readonly extension: string;
  /** Files it encodes at the same time beside the calling thread (see `Encoder.parallelism`). */
  readonly parallelism: number;
  /**
   * The bytes of one file holding `rows` (builders of one table, in row order). Must not change
   * `rows`, and is done reading them when it resolves (see `Encoder.encode`).
   */
  encode(rows: readonly TableBuilder[]): Promise<Uint8Array>;
}

/**
 * The encoder of `config.output.format`. `encoder` runs Parquet's (default: parquet-wasm on this
 * thread). Call `prepareOutput(config)` once before the first file.
 */
export function outputEncoder(config: Config, encoder?: Encoder): OutputEncoder {
  if (config.output.format === "arrow") {
    const opts = arrowOptions(config);
    return {
      format: "arrow",
      extension: "arrow",
      parallelism: 0,
      encode: (rows) => Promise.resolve(encodeArrowFile(rows, opts)),
    };
  }
  const opts = parquetOptions(config);
  return {
    format: "parquet",
    extension: "parquet",
    parallelism: encoder?.parallelism ?? 0,
    encode: encoder
      ? (rows) => encoder.encode(rows, opts)
      : (rows) => Promise.resolve(encodeParquet(rows, opts)),
  };
}

/**
 * Loads what `config`'s output needs (the Arrow compressor). Throws `ConfigError` naming the key
 * when this runtime cannot provide it (zstd on Node 20 or Workers).
 */
export async function prepareOutput(config: Config): Promise<void> {
  if (config.output.format !== "arrow") return;
  const problem = await loadArrowCompressor(config.arrow.compression);
  if (problem) {
    throw new ConfigError(
      `Invalid config: arrow.compression = ${JSON.stringify(config.arrow.compression)}: ${problem}`,
    );
  }
}
