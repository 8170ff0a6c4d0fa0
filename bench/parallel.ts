/**
 * What a second core buys: request bytes → Parquet bytes for a stream of requests, with the
 * parquet-wasm write on the main thread (as now) or in a Web Worker that receives the Arrow IPC
 * bytes (transferred, not copied) while the main thread decodes the next request.
 *
 *   deno run -A bench/parallel.ts [SIGNAL] [REQUESTS] [RECORDS]     (default logs 30 10000)
 */
import { convertRequest } from "../src/core/convert.ts";
import { DEFAULT_PARQUET, encodeParquet, toIPC, writerProperties } from "../src/core/parquet.ts";
import type { TableName } from "../src/core/tables.ts";
import * as pw from "parquet-wasm/esm";
import { ensureParquet } from "./core.ts";
import { generateRequest, type GenSignal } from "./gen.ts";

interface Job {
  id: number;
  ipc: Uint8Array;
  table: TableName;
}

// In the worker: write each IPC stream as Parquet, answer with its size.
if ((self as unknown as { name?: string }).name === "encoder") {
  await ensureParquet();
  self.onmessage = (e: MessageEvent<Job>) => {
    const { id, ipc, table } = e.data;
    const out = pw.writeParquet(
      pw.Table.fromIPCStream(ipc),
      writerProperties(DEFAULT_PARQUET, table),
    );
    (self as unknown as Worker).postMessage({ id, bytes: out.byteLength });
  };
} else if (import.meta.main) {
  const signal = (Deno.args[0] ?? "logs") as GenSignal;
  const requests = Number(Deno.args[1] ?? 30);
  const records = Number(Deno.args[2] ?? 10_000);
  await ensureParquet();
  const bodies = Array.from(
    { length: 4 },
    (_, i) => generateRequest(signal, { records, seed: 1 + i }).protobuf,
  );
  const opts = { receivedAtNs: 1n };

  const oneThread = () => {
    let bytes = 0;
    for (let i = 0; i < requests; i++) {
      for (const p of convertRequest(signal, bodies[i % 4], "protobuf", opts).partitions) {
        bytes += encodeParquet(p.rows, DEFAULT_PARQUET).byteLength;
      }
    }
    return bytes;
  };

  const worker = new Worker(import.meta.url, { type: "module", name: "encoder" });
  const pending = new Map<number, () => void>();
  let bytesW = 0;
  worker.onmessage = (e: MessageEvent<{ id: number; bytes: number }>) => {
    bytesW += e.data.bytes;
    pending.get(e.data.id)!();
    pending.delete(e.data.id);
  };
  let nextId = 0;
  const twoThreads = async () => {
    bytesW = 0;
    const done: Promise<void>[] = [];
    let settled = 0;
    for (let i = 0; i < requests; i++) {
      for (const p of convertRequest(signal, bodies[i % 4], "protobuf", opts).partitions) {
        const ipc = toIPC(p.rows, DEFAULT_PARQUET.profile);
        const id = nextId++;
        done.push(new Promise((r) => pending.set(id, r)));
        worker.postMessage({ id, ipc, table: p.table } satisfies Job, [ipc.buffer]);
      }
      // Keep a bounded number of files in flight (the worker's queue holds their IPC bytes).
      while (done.length - settled > 32) await done[settled++];
    }
    await Promise.all(done);
    return bytesW;
  };

  await twoThreads(); // warm the worker
  oneThread();
  for (let r = 0; r < 3; r++) {
    let t0 = performance.now();
    const b1 = oneThread();
    const one = performance.now() - t0;
    t0 = performance.now();
    const b2 = await twoThreads();
    const two = performance.now() - t0;
    const rate = (ms: number) => Math.round(requests * records / ms * 1000).toLocaleString("en-US");
    console.log(
      `${signal}: main thread only ${rate(one)} records/s; write in a worker ${
        rate(two)
      } records/s ` +
        `(${(one / two).toFixed(2)}×; ${b1 === b2 ? "same" : "DIFFERENT"} Parquet size)`,
    );
  }
  worker.terminate();
}
