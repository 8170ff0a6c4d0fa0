/**
 * The few things the server entry needs from its runtime (Deno, Bun or Node), behind one small
 * interface: arguments, environment, exit, signals, and an HTTP listener for a fetch handler.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { preReadBodies, preRefused, preReserved } from "../http/body.ts";
import { type Admission, WIRE_COPIES } from "../http/admission.ts";

export type RuntimeName = "deno" | "bun" | "node";

type FetchHandler = (req: Request, info?: unknown) => Response | Promise<Response>;

export interface Listener {
  /** The address actually bound (the real port when 0 was asked for). */
  hostname: string;
  port: number;
  /** Stops accepting connections and waits for in-flight requests. */
  close(): Promise<void>;
}

interface NodeProcess {
  argv: string[];
  env: Record<string, string | undefined>;
  exit(code?: number): never;
  on(event: string, fn: (...args: unknown[]) => void): void;
  exitCode?: number;
}

interface BunGlobal {
  serve(opts: {
    hostname: string;
    port: number;
    fetch: FetchHandler;
    maxRequestBodySize?: number;
  }): { hostname: string; port: number; stop(force?: boolean): Promise<void> | void };
}

const g = globalThis as unknown as {
  Deno?: typeof Deno;
  Bun?: BunGlobal & { gc?(force: boolean): void };
  process?: NodeProcess & { memoryUsage?: { rss(): number } };
};

/**
 * Bun only: JavaScriptCore collects the big ArrayBuffers of request bodies and column buffers
 * late, so under sustained load its resident memory passes the documented bound (one 6 s flood
 * test: 1.31 × the bound). Every 100 ms, once resident memory is past 60% of `bound`, a full
 * collection runs (at most every 250 ms). A no-op elsewhere; returns a stop function.
 */
export function watchMemory(bound: number): () => void {
  const bun = g.Bun;
  const rss = g.process?.memoryUsage?.rss;
  if (!bun?.gc || !rss || !(bound > 0)) return () => {};
  let last = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last < 250 || rss() < bound * 0.6) return;
    last = now;
    bun.gc!(true);
  }, 100);
  (timer as unknown as { unref?(): void }).unref?.();
  return () => clearInterval(timer);
}

export function runtimeName(): RuntimeName {
  if (g.Bun) return "bun";
  if (g.Deno) return "deno";
  return "node";
}

/** Command-line arguments after the script. */
export function args(): string[] {
  if (runtimeName() === "deno") return [...g.Deno!.args];
  return g.process!.argv.slice(2);
}

/** The environment (empty when Deno was not granted --allow-env). */
export function env(): Record<string, string | undefined> {
  if (runtimeName() === "deno") {
    try {
      return g.Deno!.env.toObject();
    } catch {
      return {};
    }
  }
  return { ...g.process!.env };
}

export function exit(code: number): never {
  if (runtimeName() === "deno") g.Deno!.exit(code);
  return g.process!.exit(code);
}

/** Calls `fn` on SIGINT and SIGTERM (where the platform has them). */
export function onShutdownSignal(fn: (signal: string) => void): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      if (runtimeName() === "deno") g.Deno!.addSignalListener(sig, () => fn(sig));
      else g.process!.on(sig, () => fn(sig));
    } catch {
      // e.g. SIGTERM on Windows
    }
  }
}

/**
 * Whether this process may write files: false on Deno without `--allow-write` (Deno Deploy, or a
 * locked-down `deno run`). Bun and Node have no such permission model.
 */
export function canWriteFiles(): boolean {
  if (runtimeName() !== "deno") return true;
  try {
    return g.Deno!.permissions.querySync({ name: "write" }).state === "granted";
  } catch {
    return false;
  }
}

/** Reads a text file; `null` when it does not exist. */
export function readTextFile(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
}

/**
 * Serves `handler` on `hostname:port`; resolves once listening. `bodyLimit` is the app's body
 * limit (server.max_payload_bytes): on Node, bodies that declare at most that many bytes are read
 * here, straight from the socket (see `nodeListener`).
 */
export async function listen(
  handler: FetchHandler,
  hostname: string,
  port: number,
  onError: (e: unknown) => void,
  bodyLimit = 0,
  admission?: Admission,
): Promise<Listener> {
  switch (runtimeName()) {
    case "deno": {
      let bound: { hostname: string; port: number } | undefined;
      const server = g.Deno!.serve({
        hostname,
        port,
        onListen: (addr) => {
          bound = addr as { hostname: string; port: number };
        },
        onError: (e) => {
          onError(e);
          return new Response("internal error", { status: 500 });
        },
      }, async (req, info) => {
        const res = await handler(req, info);
        return declaredBytes(req.headers) > DENO_KEEP_ALIVE_BYTES ? closing(res) : res;
      });
      const addr = bound ?? (server.addr as Deno.NetAddr);
      return {
        hostname: addr.hostname,
        port: addr.port,
        close: () => server.shutdown(),
      };
    }
    case "bun": {
      const server = g.Bun!.serve({
        hostname,
        port,
        fetch: handler,
        // The app enforces its own (decompressed) limit; let the bytes reach it.
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      });
      return {
        hostname: server.hostname,
        port: server.port,
        close: async () => {
          await server.stop(false);
        },
      };
    }
    case "node": {
      const { createServer } = await import("node:http");
      const server = createServer(await nodeListener(handler, bodyLimit, admission));
      const connections = nodeConnections(server);
      return await new Promise<Listener>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, hostname, () => {
          const info = server.address() as { address: string; port: number };
          resolve({
            hostname: info.address,
            port: info.port,
            close: () =>
              new Promise<void>((res) => {
                server.close(() => res());
                connections.closeIdle();
              }),
          });
        });
      });
    }
  }
}

/**
 * On Deno, a connection that carried a request body of more than this many bytes is closed
 * after its answer. Deno keeps a connection's read buffer at the size of the largest body it
 * read for as long as the connection stays open, and reads the next request's body into it
 * ahead of the handler: 64 keep-alive connections that carried 4 MiB bodies held 400 MiB
 * between requests, and 64 such requests waiting for room (../http/admission.ts) 100 MiB more;
 * closed, they hold nothing. A new connection costs far less than the body it carries.
 */
export const DENO_KEEP_ALIVE_BYTES = 256 * 1024;

function declaredBytes(headers: Headers): number {
  const v = headers.get("content-length");
  return v !== null && /^\s*\d+\s*$/.test(v)
    ? Number(v)
    : headers.has("transfer-encoding")
    ? Infinity
    : 0;
}

interface NodeSocket {
  once(event: "close", fn: () => void): void;
  end(cb?: () => void): void;
  destroy(): void;
}

/**
 * The connections of a node:http server, so that closing it ends every keep-alive connection as
 * soon as it has no request in flight. (`closeIdleConnections()` misses a connection that has
 * not sent its first request yet, or is between two: node:http then ends it only at its
 * `headersTimeout` check, up to 30 s + 60 s later, and `server.close()` waits for that: seen
 * as a shutdown that gave up after `server.shutdown_timeout_secs`.)
 */
function nodeConnections(server: {
  on(event: "connection", fn: (s: NodeSocket) => void): void;
  on(event: "request", fn: (req: IncomingMessage, res: ServerResponse) => void): void;
}): { closeIdle(): void } {
  const busy = new Map<NodeSocket, number>();
  let closing = false;
  const end = (s: NodeSocket) => s.end(() => s.destroy());
  server.on("connection", (s) => {
    busy.set(s, 0);
    s.once("close", () => busy.delete(s));
  });
  server.on("request", (req, res) => {
    const s = req.socket as unknown as NodeSocket;
    busy.set(s, (busy.get(s) ?? 0) + 1);
    // Once closing, an answer says the connection ends with it.
    if (closing && !res.headersSent) res.shouldKeepAlive = false;
    res.once("close", () => {
      const n = busy.get(s);
      if (n === undefined) return; // the connection is gone already
      busy.set(s, n - 1);
      if (closing && n === 1) end(s);
    });
  });
  return {
    closeIdle() {
      closing = true;
      for (const [s, n] of busy) if (n === 0) end(s);
    },
  };
}

/** `res` with `Connection: close` (a copy when its headers are immutable). */
function closing(res: Response): Response {
  try {
    res.headers.set("connection", "close");
    return res;
  } catch {
    const headers = new Headers(res.headers);
    headers.set("connection", "close");
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  }
}

type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The Node request listener: @hono/node-server's, behind a reader that takes the body of a
 * request with a `Content-Length` of at most `bodyLimit` bytes (and no `Transfer-Encoding`) off
 * the socket first and leaves it in `preReadBodies`, where the app's `readBody` finds it. The
 * adapter's own path (a web `Request` whose body is a web stream over the Node stream) costs
 * about 100 µs per request: a bare Hono endpoint did 7,700 requests/s that way and 32,000 this
 * way (bench, 100-record gzip'd requests). Other requests take the adapter's path unchanged.
 */
async function nodeListener(
  handler: FetchHandler,
  bodyLimit: number,
  admission?: Admission,
): Promise<NodeListener> {
  const { getRequestListener } = await import("@hono/node-server");
  const fetch = async (req: Request, env: { incoming: object }) => {
    const incoming = env.incoming as { [PRE_READ]?: Uint8Array; [RESERVED]?: number };
    const body = incoming[PRE_READ];
    if (body !== undefined) preReadBodies.set(req, body);
    const reserved = incoming[RESERVED];
    if (reserved === undefined) return await handler(req, env);
    incoming[RESERVED] = undefined;
    preReserved.set(req, reserved);
    try {
      return await handler(req, env);
    } finally {
      // Not taken over by an export handler (another route): released here.
      if (preReserved.get(req) !== undefined) admission!.inflight.release(reserved);
      preReserved.delete(req);
    }
  };
  // One listener for both: a pre-read request's stream has ended (and destroyed itself), so the
  // adapter's clean-up of unread bodies leaves it alone.
  const toApp = getRequestListener(fetch);
  return (req, res) => {
    const declared = req.headers["content-length"];
    const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : -1;
    if (
      length < 0 || length > bodyLimit || req.headers["transfer-encoding"] !== undefined ||
      req.method === "GET" || req.method === "HEAD"
    ) {
      toApp(req, res);
      return;
    }
    // Cheap rejection: a request the app would refuse from its headers goes to it unread, and
    // the bytes of one it takes are reserved before they are read.
    if (!admission || req.method !== "POST") {
      readBody(req, res, length, 0);
      return;
    }
    // The body stays unread (the socket paused) while the request waits for room.
    const admitted = admission.admit(length);
    const go = (refused: Error | null) => {
      if (refused !== null) {
        answerRefused(handler, req, res, refused);
        return;
      }
      const need = WIRE_COPIES * length;
      (req as { [RESERVED]?: number })[RESERVED] = need;
      readBody(req, res, length, need);
    };
    if (admitted instanceof Promise) admitted.then(go, (e) => go(e as Error));
    else go(admitted);
  };

  function readBody(req: IncomingMessage, res: ServerResponse, length: number, need: number) {
    let reserved = need;
    const release = () => {
      if (reserved > 0) admission!.inflight.release(reserved);
      reserved = 0;
    };
    // Copied into a buffer of its own (never a view into Node's shared pool or socket buffers).
    // Up to PREALLOCATE bytes it is made at once; a bigger declared length only gets memory as
    // its bytes arrive.
    let body = new Uint8Array(Math.min(length, PREALLOCATE));
    let at = 0;
    req.on("data", (chunk: Uint8Array) => {
      // The HTTP parser holds a body to its Content-Length; this is only a guard.
      if (at + chunk.length > length) {
        req.destroy(new Error("request body longer than its Content-Length"));
        return;
      }
      if (at + chunk.length > body.length) {
        const next = new Uint8Array(Math.min(length, Math.max(2 * body.length, at + chunk.length)));
        next.set(body.subarray(0, at));
        body = next;
      }
      body.set(chunk, at);
      at += chunk.length;
    });
    req.once("end", () => {
      (req as { [PRE_READ]?: Uint8Array })[PRE_READ] = at === body.length
        ? body
        : body.slice(0, at);
      reserved = 0; // the app's now (see `fetch` above)
      toApp(req, res);
    });
    // A client that goes away mid-body: nothing was accepted, nothing to answer.
    req.once("error", () => {
      release();
      res.destroy();
    });
    req.once("close", () => {
      if (!req.readableEnded) release();
    });
  }
}

/**
 * Answers a request refused from its headers: the app's answer to a body-less copy of it (marked
 * refused, so the app says why, counts it and logs it like any other), while the body is read
 * and dropped, so the client gets the answer and keeps its connection. (@hono/node-server would
 * close a connection whose unread body takes more than 500 ms to drain, and the client would
 * see a reset instead of the 429.)
 */
function answerRefused(
  handler: FetchHandler,
  req: IncomingMessage,
  res: ServerResponse,
  refused: Error,
): void {
  req.resume();
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    // A Request without a body may not declare one.
    if (name === "content-length" || name === "transfer-encoding") continue;
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const request = new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method: req.method,
    headers,
  });
  preRefused.set(request, refused);
  Promise.resolve(handler(request)).then(async (answer) => {
    const body = new Uint8Array(await answer.arrayBuffer());
    const out: Record<string, string> = {};
    answer.headers.forEach((v, k) => (out[k] = v));
    out["content-length"] = String(body.length);
    res.writeHead(answer.status, out);
    res.end(body);
  }, () => res.destroy());
}

const PRE_READ = Symbol("otlp2parquet.preReadBody");
const RESERVED = Symbol("otlp2parquet.reservedBytes");
/**
 * Bodies up to this many bytes get their whole buffer before the first byte arrives (bigger ones
 * grow by doubling): a thousand clients that declare big bodies and trickle them in hold 64 MB,
 * not a thousand times the limit.
 */
const PREALLOCATE = 64 * 1024;
