/**
 * The Parquet encoder thread (started by ./encoder.node.ts): receives Arrow IPC streams, answers
 * with Parquet bytes. parquet-wasm (or the native encoder, `parquet.encoder`) runs here, so a flush neither stalls the server's event loop nor
 * waits for it. Web Worker API on Deno and Bun, `node:worker_threads` on Node.
 *
 * Messages in:  { type: "init", wasm: Uint8Array }  then  { type: "job", id, ipc, table, opts }
 * Messages out: { type: "ready" } | { type: "init-error", error }
 *               { type: "done", id, bytes, ipc } | { type: "failed", id, error }
 * (`ipc` goes back so the main thread can write the next stream into the same memory.)
 */
import { initParquet, ipcToParquet, type ParquetOptions } from "../core/parquet/encode.ts";
import type { TableName } from "../core/tables.ts";
import { threadPort } from "../threads/thread.node.ts";
import { useNodeZstd } from "../core/arrow/zstd.node.ts";

export type ToWorker =
  | { type: "init"; wasm: Uint8Array }
  | { type: "job"; id: number; ipc: Uint8Array; table: TableName; opts: ParquetOptions };

export type FromWorker =
  | { type: "ready" }
  | { type: "init-error"; error: string }
  | { type: "done"; id: number; bytes: Uint8Array; ipc: Uint8Array }
  | { type: "failed"; id: number; error: string };

function text(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const p = await threadPort<ToWorker, FromWorker>();
p.listen((msg) => {
  if (msg.type === "init") {
    try {
      initParquet(msg.wasm);
      useNodeZstd(); // the native encoder's zstd (parquet.encoder), where node:zlib has it
      p.post({ type: "ready" });
    } catch (e) {
      p.post({ type: "init-error", error: text(e) });
    }
    return;
  }
  try {
    const bytes = ipcToParquet(msg.ipc, msg.table, msg.opts);
    p.post({ type: "done", id: msg.id, bytes, ipc: msg.ipc }, [
      bytes.buffer as ArrayBuffer,
      msg.ipc.buffer as ArrayBuffer,
    ]);
  } catch (e) {
    p.post({ type: "failed", id: msg.id, error: text(e) });
  }
});
