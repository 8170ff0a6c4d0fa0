/**
 * OTLP/gRPC on Deno, in a supervised child process (denoland/deno#36788).
 *
 * Deno 2.9's node:http2 (nghttp2 under a Rust binding) can abort the whole process inside
 * nghttp2 when an HTTP/2 session ends (the client's GOAWAY, a dropped connection, the server's
 * own GOAWAY) after a garbage collection ran while a stream was open:
 * `Assertion 'stream->closed_next == NULL' failed` in `find_stream_on_goaway_func`, or a
 * segmentation fault, before any JavaScript runs. No setting of node:http2 or grpc-js avoids
 * it (docs/architecture.md, "OTLP/gRPC on Deno"). So on Deno the HTTP/2 listener runs in a
 * child process of the same executable (`Deno.execPath()`, hidden command `__grpc-relay`):
 *
 *   client ──gRPC/HTTP2──▶ child (grpc-js, ./server.node.ts) ──HTTP/1.1 loopback──▶ parent
 *                                                                  ./service.ts answers
 *
 * The child frames the calls and passes each (path, `authorization`, `grpc-encoding`, the
 * message bytes as they came) to a private endpoint of the parent on 127.0.0.1 (a random port,
 * a random token); the parent answers it with ./service.ts exactly as in process (auth,
 * decompression and size limit, ingest, the write-ahead log, metrics) and the child sends that
 * answer. The child answers OK only after the parent did, so nothing acknowledged is lost when
 * it dies: its calls in flight fail on the client (UNAVAILABLE), which retries. A standby
 * child (booted, waiting for its port on standard input) takes the port of one that died at
 * once, and a new standby boots. The child exits when the parent's pipe to its
 * standard input closes (the parent was killed), and drains its calls on SIGTERM (`close()`).
 */
import type { Logger } from "../log/log.ts";
import { type Answer, type ExportCall, type GrpcServiceDeps, Status } from "./service.ts";
import { answerWith, type GrpcListener, recordCall, serveGrpc } from "./server.node.ts";
import { createGrpcService } from "./service.ts";

/** The hidden command the child runs (src/entry/main.ts). */
export const RELAY_COMMAND = "__grpc-relay";
const TOKEN_ENV = "OTLP2PARQUET_GRPC_RELAY_TOKEN";
/** Booted children waiting to take the port of one that died. */
const STANDBYS = 2;

interface ChildArgs {
  host: string;
  port: number;
  limit: number;
  /** The parent's private endpoint, `http://127.0.0.1:PORT/call`. */
  parent: string;
}

/** Whether this process may start the child (Deno with --allow-run). */
export function canRelay(): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state ===
      "granted";
  } catch {
    return false;
  }
}

/** The executable and arguments that run the hidden command (`deno run …` or the compiled binary). */
function childCommand(): [string, string[]] {
  if (Deno.build.standalone) return [Deno.execPath(), [RELAY_COMMAND]];
  return [Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--no-prompt",
    Deno.mainModule,
    RELAY_COMMAND,
  ]];
}

/** Parent side: the private endpoint, the child, and its supervision. */
export async function listenGrpcRelayed(
  deps: GrpcServiceDeps,
  host: string,
  port: number,
): Promise<GrpcListener> {
  const logger: Logger = deps.logger;
  const answer = answerWith(createGrpcService(deps));
  const token = crypto.randomUUID();
  const internal = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      if (req.headers.get("x-relay-token") !== token) return new Response(null, { status: 403 });
      const started = performance.now();
      const call: ExportCall = {
        path: req.headers.get("x-grpc-path") ?? "",
        authorization: req.headers.get("x-grpc-authorization"),
        encoding: req.headers.get("x-grpc-encoding") ?? "identity",
        bytes: new Uint8Array(await req.arrayBuffer()),
      };
      const a = await answer(call);
      recordCall(deps.metrics, call, a, (performance.now() - started) / 1000);
      if (a.code === 0) {
        const ok = a as { response: Uint8Array };
        return new Response(ok.response as Uint8Array<ArrayBuffer>, {
          headers: { "x-grpc-code": "0" },
        });
      }
      const { code, message, retryAfterSecs, metadata } = a as Exclude<Answer, { code: 0 }>;
      return new Response(JSON.stringify({ code, message, retryAfterSecs, metadata }), {
        headers: { "x-grpc-code": String(code), "content-type": "application/json" },
      });
    },
  );
  const args: ChildArgs = {
    host,
    port,
    limit: deps.config.grpc.max_recv_msg_bytes,
    parent: `http://127.0.0.1:${internal.addr.port}/call`,
  };

  // A child boots (runtime, grpc-js) and waits; told a port on its standard input, it listens
  // and says {"port":N} (or {"error":…}) on its standard output. Two wait as standbys, so a
  // child that died is replaced without waiting for a boot, even when the next one dies too
  // before a new standby has booted (clients closing one after another, a loaded machine).
  interface Proc {
    c: Deno.ChildProcess;
    line: () => Promise<string | null>;
    exited: boolean;
  }
  const spawn = (): Proc => {
    const [cmd, base] = childCommand();
    const c = new Deno.Command(cmd, {
      args: [...base, JSON.stringify(args)],
      env: { [TOKEN_ENV]: token },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const p: Proc = { c, line: lineReader(c.stdout), exited: false };
    c.status.then(() => p.exited = true);
    return p;
  };
  const activate = async (p: Proc, port: number): Promise<number> => {
    const w = p.c.stdin.getWriter();
    await w.write(new TextEncoder().encode(`${port}\n`));
    w.releaseLock();
    const line = await p.line();
    let r: { port?: number; error?: string };
    try {
      r = JSON.parse(line ?? "");
    } catch {
      r = { error: `the OTLP/gRPC listener process said ${JSON.stringify(line)}` };
    }
    if (r.port === undefined) {
      try {
        p.c.kill("SIGKILL");
      } catch { /* gone */ }
      await p.c.status;
      throw new Error(r.error ?? "the OTLP/gRPC listener process exited before listening");
    }
    return r.port;
  };
  const kill = async (p: Proc | undefined, sig: Deno.Signal) => {
    if (!p) return;
    try {
      p.c.kill(sig);
    } catch { /* already gone */ }
    await p.c.status;
  };

  let child: Proc | undefined = spawn();
  let standbys: Proc[] = [];
  const topUp = () => {
    standbys = standbys.filter((p) => !p.exited);
    while (standbys.length < STANDBYS) standbys.push(spawn());
  };
  let closing = false;
  const bound = await activate(child, port).catch(async (e) => {
    await internal.shutdown();
    throw e;
  });
  topUp();

  // Supervision: a child that dies is replaced on the same port (by the standby when it is up).
  let delay = 0;
  const supervise = async () => {
    while (!closing && child) {
      const startedAt = performance.now();
      const status = await child.c.status;
      if (closing) return;
      logger.error("the OTLP/gRPC listener process died; starting it again", {
        code: status.code,
        signal: status.signal ?? undefined,
        port: bound,
      });
      // Quick deaths in a row back off (up to 5 s); a child that served a while resets it.
      delay = performance.now() - startedAt > 10_000 ? 0 : Math.min(Math.max(delay * 2, 50), 5000);
      for (;;) {
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        if (closing) return;
        standbys = standbys.filter((p) => !p.exited);
        const next = standbys.shift() ?? spawn();
        child = next;
        try {
          await activate(next, bound);
          logger.info("the OTLP/gRPC listener process is back", { port: bound });
          if (!closing) topUp();
          break;
        } catch (e) {
          logger.error("cannot start the OTLP/gRPC listener process", {
            error: e instanceof Error ? e.message : String(e),
          });
          delay = Math.min(Math.max(delay * 2, 100), 5000);
        }
      }
    }
  };
  const supervising = supervise();

  let closed: Promise<void> | undefined;
  return {
    host,
    port: bound,
    close() {
      closed ??= (async () => {
        closing = true;
        // The child stops accepting, answers its calls in flight, exits; the standby just exits.
        const all = () => [child, ...standbys].map((p) => kill(p, "SIGTERM"));
        await Promise.all(all());
        await supervising;
        await Promise.all(all());
        await internal.shutdown();
      })();
      return closed;
    },
  };
}

/** Lines of a stream, one per call (null at its end). */
function lineReader(stream: ReadableStream<Uint8Array>): () => Promise<string | null> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let text = "";
  return async () => {
    for (;;) {
      const nl = text.indexOf("\n");
      if (nl >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        return line;
      }
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return null;
      text += dec.decode(value, { stream: true });
    }
  };
}

/** Child side (`__grpc-relay ARGS`): grpc-js listening, each call passed to the parent. */
export async function runRelayChild(argv: string[]): Promise<number> {
  const a: Omit<ChildArgs, "port"> = JSON.parse(argv[0] ?? "{}");
  const token = Deno.env.get(TOKEN_ENV) ?? "";
  const answer = async (c: ExportCall): Promise<Answer> => {
    const headers: Record<string, string> = {
      "x-relay-token": token,
      "x-grpc-path": c.path,
      "x-grpc-encoding": c.encoding,
    };
    if (c.authorization !== null) headers["x-grpc-authorization"] = c.authorization;
    let res: Response;
    try {
      res = await fetch(a.parent, {
        method: "POST",
        headers,
        body: c.bytes as Uint8Array<ArrayBuffer>,
      });
    } catch (e) {
      return {
        code: Status.UNAVAILABLE,
        message: `The server is not answering (${e instanceof Error ? e.message : String(e)})`,
        retryAfterSecs: 1,
      };
    }
    const code = Number(res.headers.get("x-grpc-code"));
    if (res.status !== 200 || !Number.isInteger(code)) {
      await res.body?.cancel();
      return {
        code: Status.UNAVAILABLE,
        message: `The server answered the relayed call with HTTP ${res.status}`,
        retryAfterSecs: 1,
      };
    }
    if (code === 0) return { code: 0, response: new Uint8Array(await res.arrayBuffer()) };
    return await res.json() as Answer;
  };
  // Ctrl-C reaches the whole process group: the parent decides when this child stops.
  Deno.addSignalListener("SIGINT", () => {});
  // Booted: wait for the port to listen on (a standby waits here), then for the end.
  const line = lineReader(Deno.stdin.readable);
  const first = await line();
  if (first === null) return 0; // the parent is gone
  let listener: GrpcListener;
  try {
    listener = await serveGrpc({
      answer,
      limit: a.limit,
      host: a.host,
      port: Number(first.trim()),
    });
  } catch (e) {
    console.log(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
    return 1;
  }
  console.log(JSON.stringify({ port: listener.port }));
  // The parent is gone (killed, or it gave up waiting at shutdown): its end of the pipe closes,
  // and nothing is left to answer the calls: exit at once, whatever is draining.
  (async () => {
    while (await line() !== null) { /* nothing more is sent */ }
    Deno.exit(0);
  })();
  const stop = new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGTERM", () => resolve());
  });
  await stop;
  await listener.close();
  return 0;
}
