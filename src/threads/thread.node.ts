/**
 * Worker threads on every server runtime, behind one small interface: web Workers on Deno and
 * Bun, `node:worker_threads` on Node. Both sides are here: `startThread` on the main thread,
 * `threadPort` inside the thread. Used by the Parquet encoder threads
 * (../batch/encoder.node.ts) and the lifecycle thread (../lifecycle/lifecycle-thread.node.ts).
 *
 * A thread module is found next to its caller: the `.ts` source when run from source, the Node
 * bundle's sibling `.mjs`, or, in Bun's single executable, the second entry point of
 * `bun build --compile` (kept under its path from src/, the entries' common folder, next to the
 * executable's own name at the root of Bun's file system).
 */

/** The parts of a worker both kinds (web, node:worker_threads) give us. */
export interface Thread<In> {
  post(msg: In, transfer?: ArrayBuffer[]): void;
  terminate(): void;
  /** Whether the thread keeps the process alive (Node: only while it has work). */
  hold(busy: boolean): void;
}

const g = globalThis as unknown as {
  Worker?: typeof Worker;
  Deno?: unknown;
  Bun?: unknown;
  postMessage?: (msg: unknown, transfer?: ArrayBuffer[]) => void;
  addEventListener?: (type: string, fn: (e: MessageEvent) => void) => void;
};

/** Node has `node:worker_threads` only; Deno and Bun have web Workers. */
function onNode(): boolean {
  return g.Deno === undefined && g.Bun === undefined;
}

/**
 * The URL of thread module `name` (e.g. "encode-worker") for a caller at `here`
 * (`import.meta.url`) in folder `folder` of src/ (e.g. "batch").
 */
export function threadModule(here: string, folder: string, name: string): URL {
  if (here.includes("$bunfs")) return new URL(`./${folder}/${name}.node.js`, here);
  return new URL(here.endsWith(".ts") ? `./${name}.node.ts` : `./${name}.mjs`, here);
}

/** Starts the thread module at `url`; it does not keep the process alive until `hold(true)`. */
export async function startThread<In, Out>(
  url: URL,
  name: string,
  onMessage: (m: Out) => void,
  onFail: (why: string) => void,
): Promise<Thread<In>> {
  if (onNode()) {
    const { Worker: NodeWorker } = await import("node:worker_threads");
    const w = new NodeWorker(url);
    w.unref(); // an idle thread must not keep a finished process alive (held while it works)
    w.on("message", onMessage);
    w.on("error", (e: Error) => onFail(e.message));
    w.on("exit", (code: number) => onFail(`exited with code ${code}`));
    return {
      post: (msg, transfer) => w.postMessage(msg, transfer),
      terminate: () => void w.terminate(),
      hold: (busy) => busy ? w.ref() : w.unref(),
    };
  }
  const w = new g.Worker!(url, { type: "module", name });
  w.onmessage = (e: MessageEvent<Out>) => onMessage(e.data);
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    onFail(e.message);
  };
  return {
    post: (msg, transfer) => w.postMessage(msg, transfer ?? []),
    terminate: () => w.terminate(),
    hold: () => {},
  };
}

/** Inside a thread: the channel to the thread that started it. */
export interface Port<In, Out> {
  post(msg: Out, transfer?: ArrayBuffer[]): void;
  listen(fn: (msg: In) => void): void;
}

export async function threadPort<In, Out>(): Promise<Port<In, Out>> {
  if (onNode()) {
    const { parentPort } = await import("node:worker_threads");
    if (parentPort) {
      return {
        post: (msg, transfer) => parentPort.postMessage(msg, transfer ?? []),
        listen: (fn) => parentPort.on("message", fn),
      };
    }
  }
  return {
    post: (msg, transfer) => g.postMessage!(msg, transfer ?? []),
    listen: (fn) => g.addEventListener!("message", (e) => fn(e.data as In)),
  };
}
