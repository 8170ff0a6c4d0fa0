/**
 * What the library takes from a server runtime (Node, Deno, Bun; Lambda): the same parts the
 * `serve` command gives its writer (../entry/serve.ts): storage from `createStorage`, the
 * write-ahead log's files (node:fs), Parquet encoder threads, parquet-wasm read from disk, and
 * node:zlib's zstd for Arrow files. Loaded by ./index.ts only on those runtimes, by a URL that
 * bundlers do not follow, so a Workers bundle of the library never carries node:* imports.
 */
import type { Config } from "../config/types.ts";
import type { WriterParts } from "../ingest/assemble.ts";
import type { Logger } from "../log/log.ts";
import { createEncoder } from "../batch/encoder.node.ts";
import { createWalFs } from "../batch/wal/fs.node.ts";
import { useNodeZstd } from "../core/arrow/zstd.node.ts";
import { initParquet, parquetReady } from "../core/parquet/encode.ts";
import { readParquetWasm } from "../core/parquet/wasm.node.ts";
import { createStorage } from "../storage/index.ts";
import { createGzip, createInflate } from "../codec/zlib.node.ts";
import type { ForwarderOptions } from "../forward/index.ts";

/** Parts for `config`, plus what to close after the writer. */
export async function serverParts(
  config: Config,
  logger: Logger,
  wasm?: BufferSource | WebAssembly.Module,
): Promise<{
  parts: WriterParts;
  /** For `[[forward]]`: gRPC through @grpc/grpc-js, node:zlib's gzip and inflate. */
  forward: Pick<ForwarderOptions, "grpcSender" | "gzip" | "inflate">;
  close(): Promise<void>;
}> {
  useNodeZstd();
  const parquet = config.output.format === "parquet";
  if (parquet && !parquetReady()) initParquet(wasm ?? readParquetWasm());
  const storage = await createStorage(config, logger);
  const batching = config.batch.enabled;
  const encoder = batching && parquet && config.parquet.encode_threads > 0
    ? await createEncoder(
      config.parquet.encode_threads,
      wasm instanceof Uint8Array ? wasm : readParquetWasm(),
      logger,
    )
    : undefined;
  return {
    parts: {
      storage,
      walFs: batching && config.batch.durability === "wal" ? createWalFs() : undefined,
      encoder,
    },
    forward: {
      grpcSender: async (d) => (await import("../forward/grpc.node.ts")).grpcSender(d),
      gzip: createGzip(),
      inflate: createInflate(),
    },
    async close() {
      await encoder?.close();
      await storage.close?.();
    },
  };
}
