/**
 * The OTLP/gRPC listener of the server: ./h2.ts (HTTP/2 in TypeScript, pure) over the runtime's
 * TCP, ./service.ts answering the calls. On Deno over `Deno.listen`; on Bun and Node over
 * node:net. Not node:http2 with grpc-js: Deno's node:http2 can abort the process when a session
 * ends (denoland/deno#36788), and Deno.serve, which speaks h2c, cannot send trailers
 * (denoland/deno#23632); one HTTP/2 for all three runtimes is also one to test
 * (docs/architecture.md, "OTLP/gRPC: HTTP/2 in TypeScript").
 *
 * Each connection: what it reads goes to `H2Connection.receive`; what that writes is sent in
 * order. `close()` stops accepting, sends GOAWAY on every connection, waits for the calls in
 * flight to be answered (their answers written), then ends the connections: half-closed, the
 * client's bytes still read until it closes (at most LINGER_MS).
 */
import { H2Connection, type H2Options } from "./h2.ts";
import { answerWith, createGrpcService, type GrpcServiceDeps, recordCall } from "./service.ts";

export interface GrpcListener {
  /** The host and port bound (the real port when 0 was asked for). */
  host: string;
  port: number;
  /** Stops accepting calls, answers those in flight, ends the connections. */
  close(): Promise<void>;
}

const READ_BYTES = 64 * 1024;
/** How long an ended connection waits for the client to close its side. */
const LINGER_MS = 2000;

/** What a listener needs: the connection's options (./h2.ts) less its transport, and where. */
export type ServeOptions = Omit<H2Options, "write" | "end"> & { host: string; port: number };

/** Over `Deno.listen`: 64 KiB reads, one write chain per connection (partial writes continued). */
export function serveDeno(opts: ServeOptions): GrpcListener {
  const listener = Deno.listen({ hostname: opts.host, port: opts.port, transport: "tcp" });
  const connections = new Set<{ h2: H2Connection; conn: Deno.Conn; done: Promise<void> }>();
  let closing: Promise<void> | undefined;

  const serve = (conn: Deno.TcpConn) => {
    try {
      conn.setNoDelay(true);
    } catch { /* not TCP */ }
    let chain = Promise.resolve();
    let dead = false;
    const write = (b: Uint8Array) => {
      if (dead) return;
      chain = chain.then(async () => {
        let off = 0;
        while (off < b.length && !dead) off += await conn.write(b.subarray(off));
      }).catch(() => {
        dead = true;
      });
    };
    // Ending: what was written goes out, then our side is half-closed and the client's bytes
    // are still read until it closes too (at most LINGER_MS). Closing at once with bytes of the
    // client unread would reset the connection, and a reset drops the answers the client has
    // not read yet.
    let lingerTimer: ReturnType<typeof setTimeout> | undefined;
    const end = () => {
      chain = chain.then(async () => {
        try {
          await conn.closeWrite();
        } catch { /* closed */ }
        lingerTimer = setTimeout(() => {
          dead = true;
          try {
            conn.close();
          } catch { /* closed */ }
        }, LINGER_MS);
      });
    };
    const h2 = new H2Connection({ ...opts, write, end });
    const done = (async () => {
      const buf = new Uint8Array(READ_BYTES);
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          h2.receive(buf.subarray(0, n));
        }
      } catch { /* reset, or closed by `end` */ }
      h2.closed();
      await chain;
      clearTimeout(lingerTimer);
      dead = true;
      try {
        conn.close();
      } catch { /* closed */ }
    })();
    const entry = { h2, conn, done };
    connections.add(entry);
    done.finally(() => connections.delete(entry));
  };

  (async () => {
    try {
      for await (const conn of listener) {
        if (closing) {
          conn.close();
          continue;
        }
        serve(conn);
      }
    } catch { /* the listener was closed */ }
  })();

  const addr = listener.addr as Deno.NetAddr;
  return {
    host: opts.host,
    port: addr.port,
    close() {
      closing ??= (async () => {
        try {
          listener.close();
        } catch { /* closed */ }
        await Promise.all([...connections].map(async (c) => {
          await c.h2.shutdown();
          await c.done;
        }));
      })();
      return closing;
    },
  };
}

/** The gRPC listener: ./service.ts answering over ./h2.ts, on Deno's TCP or on node:net. */
export function listenGrpc(
  deps: GrpcServiceDeps,
  host: string,
  port: number,
  transport: "deno" | "node",
): Promise<GrpcListener> {
  const service = createGrpcService(deps);
  const o: ServeOptions = {
    answer: answerWith(service),
    admit: service.admit,
    limit: deps.config.grpc.max_recv_msg_bytes,
    host,
    port,
    answered: (c, a, s) => recordCall(deps.metrics, c, a, s),
    onError: (message) => deps.logger.debug("gRPC connection ended: protocol error", { message }),
  };
  return transport === "deno" ? Promise.resolve(serveDeno(o)) : serveNet(o);
}

/**
 * Over node:net (Bun, Node): `data` events go to `H2Connection.receive`, writes to
 * `socket.write`; ending is `socket.end()` (half-close, the client's bytes still read), then
 * `destroy()` after LINGER_MS if the client has not closed.
 */
export async function serveNet(opts: ServeOptions): Promise<GrpcListener> {
  const net = await import("node:net");
  const sockets = new Map<import("node:net").Socket, H2Connection>();
  let closing: Promise<void> | undefined;
  const server = net.createServer({ noDelay: true }, (socket) => {
    if (closing) return void socket.destroy();
    let linger: ReturnType<typeof setTimeout> | undefined;
    const h2 = new H2Connection({
      ...opts,
      write: (b) => void socket.write(b),
      end: () => {
        socket.end();
        linger = setTimeout(() => socket.destroy(), LINGER_MS);
      },
    });
    sockets.set(socket, h2);
    socket.on("data", (b: Uint8Array) => h2.receive(b));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(linger);
      sockets.delete(socket);
      h2.closed();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as import("node:net").AddressInfo;
  return {
    host: opts.host,
    port: addr.port,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        await Promise.all([...sockets].map(async ([socket, h2]) => {
          await h2.shutdown();
          if (!socket.destroyed) await new Promise((r) => socket.once("close", r));
        }));
        await closed;
      })();
      return closing;
    },
  };
}
