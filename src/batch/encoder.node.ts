/**
 * Parquet encoding on worker threads (`parquet.encode_threads`, server mode): the main thread
 * turns a sealed buffer into an Arrow IPC stream (cheap), a worker runs parquet-wasm on it (the
 * expensive part). So the server uses a second core, and a flush never stalls requests.
 *
 * Web Workers on Deno and Bun, `node:worker_threads` on Node. The worker module is
 * ./encode-worker.node.ts from source, or encode-worker.mjs next to the Node bundle. If no worker can
 * start (or one dies), encoding falls back to the main thread with a warning: slower, never lost.
 */
import type { Encoder } from "./types.ts";
import { inThreadEncoder } from "./batcher.ts";
import { type ParquetOptions, toIPCInSlices } from "../core/parquet/encode.ts";
import type { TableBuilder } from "../core/tables.ts";
import type { Logger } from "../log/log.ts";
import type { FromWorker, ToWorker } from "./encode-worker.node.ts";
import { startThread, type Thread as WorkerThread, threadModule } from "../threads/thread.node.ts";

type Thread = WorkerThread<ToWorker>;

interface Job {
  resolve: (b: Uint8Array) => void;
  reject: (e: Error) => void;
}

interface Slot {
  thread: Thread;
  jobs: Map<number, Job>;
  dead: boolean;
}

function spawn(
  onMessage: (m: FromWorker) => void,
  onFail: (why: string) => void,
): Promise<Thread> {
  return startThread<ToWorker, FromWorker>(
    threadModule(import.meta.url, "batch", "encode-worker"),
    "otlp2parquet-encoder",
    onMessage,
    onFail,
  );
}

/** How long the memory of the last IPC stream is kept for the next one. */
const SPARE_KEEP_MS = 10_000;

/** Lets the event loop run what is waiting (I/O, timers) before going on. */
const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * An encoder with `threads` worker threads (0: the main thread). Resolves once every worker has
 * loaded parquet-wasm from `wasm`, or with the main-thread encoder (and a warning) if they can't.
 */
export async function createEncoder(
  threads: number,
  wasm: Uint8Array,
  logger: Logger,
  startTimeoutMs = 30_000,
): Promise<Encoder> {
  if (threads <= 0) return inThreadEncoder;
  const slots: Slot[] = [];
  let nextId = 1;
  let warned = false;

  const fail = (slot: Slot, why: string) => {
    if (slot.dead) return;
    slot.dead = true;
    slot.thread.terminate();
    const err = new Error(`the Parquet encoder thread failed: ${why}`);
    for (const j of slot.jobs.values()) j.reject(err);
    slot.jobs.clear();
    if (!warned) {
      warned = true;
      logger.error("a Parquet encoder thread failed; encoding goes on without it", {
        error: why,
        threads_left: slots.filter((s) => !s.dead).length,
      });
    }
  };

  // The memory of the last IPC stream, back from its worker: the next stream is written into it
  // (writing into fresh memory costs page faults, about half of a big stream's copy). Let go
  // after a quiet spell, so an idle server does not hold it.
  let spare: ArrayBuffer | null = null;
  let spareTimer: ReturnType<typeof setTimeout> | undefined;
  const keepSpare = (b: ArrayBuffer) => {
    if (spare && spare.byteLength >= b.byteLength) return;
    spare = b;
    clearTimeout(spareTimer);
    spareTimer = setTimeout(() => (spare = null), SPARE_KEEP_MS);
    (spareTimer as unknown as { unref?: () => void }).unref?.();
  };
  const output = (bytes: number): Uint8Array => {
    if (spare && spare.byteLength >= bytes) {
      const b = spare;
      spare = null;
      return new Uint8Array(b);
    }
    return new Uint8Array(bytes);
  };

  const ready: Promise<void>[] = [];
  try {
    for (let i = 0; i < threads; i++) {
      let started!: () => void, broke!: (e: Error) => void;
      ready.push(new Promise<void>((res, rej) => (started = res, broke = rej)));
      const slot: Slot = { thread: null as unknown as Thread, jobs: new Map(), dead: false };
      slot.thread = await spawn((m) => {
        if (m.type === "ready") started();
        else if (m.type === "init-error") broke(new Error(m.error));
        else {
          const j = slot.jobs.get(m.id);
          if (!j) return;
          slot.jobs.delete(m.id);
          if (slot.jobs.size === 0) slot.thread.hold(false);
          if (m.type === "done") {
            keepSpare(m.ipc.buffer as ArrayBuffer);
            j.resolve(m.bytes);
          } else j.reject(new Error(`cannot encode Parquet: ${m.error}`));
        }
      }, (why) => {
        broke(new Error(why));
        fail(slot, why);
      });
      slot.thread.post({ type: "init", wasm });
      slots.push(slot);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(ready),
      new Promise<never>((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`not ready after ${startTimeoutMs / 1000} s`)),
          startTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  } catch (e) {
    for (const s of slots) s.thread.terminate();
    logger.warn("cannot start Parquet encoder threads; encoding on the main thread", {
      threads,
      error: e instanceof Error ? e.message : String(e),
    });
    return inThreadEncoder;
  }

  const encode = (rows: readonly TableBuilder[], opts: ParquetOptions): Promise<Uint8Array> => {
    let slot: Slot | undefined;
    for (const s of slots) if (!s.dead && (!slot || s.jobs.size < slot.jobs.size)) slot = s;
    if (!slot) return inThreadEncoder.encode(rows, opts);
    const s = slot;
    return (async () => {
      // The hand-off of a big file is copied in slices of a few ms: requests go on meanwhile.
      const ipc = await toIPCInSlices(rows, opts.profile, yieldToEventLoop, 5, {
        output,
        iceberg: opts.iceberg,
      });
      if (s.dead) return inThreadEncoder.encode(rows, opts);
      const id = nextId++;
      return await new Promise<Uint8Array>((resolve, reject) => {
        s.jobs.set(id, { resolve, reject });
        s.thread.hold(true);
        s.thread.post({ type: "job", id, ipc, table: rows[0].table, opts }, [
          ipc.buffer as ArrayBuffer,
        ]);
      });
    })();
  };

  return {
    encode,
    where: `${threads} worker thread${threads === 1 ? "" : "s"}`,
    parallelism: threads,
    close() {
      clearTimeout(spareTimer);
      spare = null;
      for (const s of slots) {
        s.dead = true;
        s.thread.terminate();
        const err = new Error("the Parquet encoder was closed");
        for (const j of s.jobs.values()) j.reject(err);
        s.jobs.clear();
      }
      return Promise.resolve();
    },
  };
}
