/**
 * The few things the server entry needs from its runtime (Deno, Bun or Node), behind one small
 * interface: arguments, environment, exit, signals, and an HTTP listener for a fetch handler.
 */
import { readFileSync } from "node:fs";

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

const g = globalThis as unknown as { Deno?: typeof Deno; Bun?: BunGlobal; process?: NodeProcess };

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

/** Serves `handler` on `hostname:port`; resolves once listening. */
export async function listen(
  handler: FetchHandler,
  hostname: string,
  port: number,
  onError: (e: unknown) => void,
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
      }, (req, info) => handler(req, info));
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
      const { serve } = await import("@hono/node-server");
      return await new Promise<Listener>((resolve, reject) => {
        const server = serve(
          { fetch: handler as (req: Request) => Promise<Response>, hostname, port },
          (info) => {
            resolve({
              hostname: info.address,
              port: info.port,
              close: () =>
                new Promise<void>((res) => {
                  server.close(() => res());
                  (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
                }),
            });
          },
        );
        server.once("error", reject);
      });
    }
  }
}
