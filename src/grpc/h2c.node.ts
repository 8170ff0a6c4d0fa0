/**
 * The OTLP/gRPC listener on Deno: ./h2.ts (HTTP/2 in TypeScript) over `Deno.listen`, in this
 * process. Deno's node:http2 can abort the process when a session ends (denoland/deno#36788) and
 * Deno.serve, which speaks h2c, cannot send trailers (denoland/deno#23632), so grpc-js
 * (./server.node.ts, used on Bun and Node) cannot serve here: docs/architecture.md, "OTLP/gRPC
 * on Deno".
 *
 * Each connection: reads of up to 64 KiB go to `H2Connection.receive`; what it writes is sent
 * in order (one write chain per connection, partial writes continued). `close()` stops
 * accepting, sends GOAWAY on every connection, waits for the calls in flight to be answered
 * (their answers written), then ends the connections.
 */
import { H2Connection } from "./h2.ts";
import { answerWith, type GrpcListener, recordCall } from "./server.node.ts";
import {
  type Answer,
  type AnswerCall,
  createGrpcService,
  type ExportCall,
  type GrpcServiceDeps,
} from "./service.ts";

const READ_BYTES = 64 * 1024;
/** How long an ended connection waits for the client to close its side. */
const LINGER_MS = 2000;

export function serveH2c(opts: {
  answer: AnswerCall;
  limit: number;
  host: string;
  port: number;
  answered?: (call: ExportCall, a: Answer, seconds: number) => void;
  /** Told of a connection ended for a protocol error. */
  onError?: (message: string) => void;
}): GrpcListener {
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
    const h2 = new H2Connection({
      answer: opts.answer,
      limit: opts.limit,
      write,
      end,
      answered: opts.answered,
      onError: opts.onError,
    });
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

/** The gRPC listener of a Deno server: ./service.ts answering over ./h2.ts. */
export function listenGrpcH2c(
  deps: GrpcServiceDeps,
  host: string,
  port: number,
): Promise<GrpcListener> {
  const service = createGrpcService(deps);
  return Promise.resolve(serveH2c({
    answer: answerWith(service),
    limit: deps.config.grpc.max_recv_msg_bytes,
    host,
    port,
    answered: (c, a, s) => recordCall(deps.metrics, c, a, s),
    onError: (message) => deps.logger.debug("gRPC connection ended: protocol error", { message }),
  }));
}
