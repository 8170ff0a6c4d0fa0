/**
 * The real server as a subprocess, the way a user starts it:
 *
 *   deno run -A src/entry/main.ts serve --port 0 --output DIR [--log-level L] [--config F]
 *
 * with configuration in `OTLP2PARQUET_*` environment variables. The listening port is parsed
 * from the start-up log line; the server is ready once `GET /health` answers 200.
 *
 *   await withServer({ env: { OTLP2PARQUET_BATCH_ENABLED: "false" } }, async (srv) => {
 *     await fetch(`${srv.url}/v1/logs`, …);
 *   });
 *
 * `withServer` always kills the process (SIGKILL) in `finally`, even when the test fails; on
 * success it stops it with SIGTERM and asserts a clean exit (code 0).
 */

const REPO = new URL("../../", import.meta.url).pathname;
const MAIN = "src/entry/main.ts";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface ServerOptions {
  /**
   * Filesystem root (`--output`). Default: a new temporary directory (removed afterwards).
   * `false` passes no `--output` (it would select the fs backend), e.g. for `backend = "s3"`.
   */
  output?: string | false;
  /** Extra `OTLP2PARQUET_*` (or other) environment variables. */
  env?: Record<string, string>;
  /** `--log-level`. Default `info`. */
  logLevel?: "error" | "warn" | "info" | "debug";
  /** `--config FILE`. */
  config?: string;
  /** `--port`. Default 0 (any free port). */
  port?: number;
  /** More command-line arguments after the ones above. */
  args?: string[];
  /**
   * What runs the server: `deno` (src/entry/main.ts, the default), `bun` (the same source under
   * Bun) or `node` (the Node bundle dist/node/main.mjs; build it first with `deno task build:node`).
   */
  runtime?: "deno" | "bun" | "node";
  /** Deno permission flags instead of `-A` (runtime `deno` only), e.g. without `--allow-write`. */
  permissions?: string[];
  /** A single executable to start instead (e.g. the `bun build --compile` binary). */
  exec?: string;
  /** Working directory of the process. Default: the repository root. */
  cwd?: string;
}

/**
 * The runtime used when a test names none: `E2E_RUNTIME=bun` (or `node`) runs a whole suite,
 * e.g. tests/e2e/, against that runtime instead of Deno.
 */
function defaultRuntime(): ServerOptions["runtime"] {
  const r = Deno.env.get("E2E_RUNTIME");
  if (r === undefined || r === "") return "deno";
  if (r === "deno" || r === "bun" || r === "node") return r;
  throw new TypeError(`E2E_RUNTIME must be "deno", "bun" or "node", got "${r}"`);
}

/** The executable and leading arguments that start the server's entry under `runtime`. */
function command(
  runtime: ServerOptions["runtime"] = "deno",
  permissions = ["-A"],
): [string, string[]] {
  if (runtime === "bun") return [`${REPO}node_modules/.bin/bun`, ["run", MAIN]];
  if (runtime === "node") return ["node", [`${REPO}dist/node/main.mjs`]];
  return [Deno.execPath(), ["run", ...permissions, MAIN]];
}

export interface Server {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** The OTLP/gRPC port (the start-up line's `grpc=HOST:PORT`), or null when gRPC is off. */
  readonly grpcPort: number | null;
  /** `127.0.0.1:GRPC_PORT`, what a gRPC client dials. */
  readonly grpcAddr: string;
  /** The server's process id. */
  readonly pid: number;
  /** The `--output` directory. */
  readonly output: string;
  /** The directory that holds `output` (a temporary directory owned by this server). */
  readonly parent: string;
  /** Everything the process wrote so far (stdout and stderr interleaved). */
  log(): string;
  /** SIGTERM, then waits; resolves with the exit code. */
  stop(): Promise<number>;
  /** Sends `sig` without waiting (nothing when the process has exited). */
  signal(sig: Deno.Signal): void;
  /** SIGKILL if still running (no error when it has exited). */
  kill(): Promise<void>;
}

/** Environment every e2e server gets: write-through, listening on loopback only. */
export const BASE_ENV: Record<string, string> = {
  OTLP2PARQUET_BATCH_ENABLED: "false",
  OTLP2PARQUET_LISTEN_ADDR: "127.0.0.1:0",
  // OTLP/gRPC on a free port too (the default 0.0.0.0:4317 would collide between tests).
  OTLP2PARQUET_GRPC_LISTEN_ADDR: "127.0.0.1:0",
  NO_COLOR: "1",
};

/** The gRPC port of a start-up line (`grpc=127.0.0.1:4317`), or null (none, or `grpc=off`). */
export function parseGrpcPort(line: string): number | null {
  const m = line.match(/\bgrpc=\S*:(\d{1,5})\b/);
  return m ? Number(m[1]) : null;
}

/** Parses the port from a start-up line such as `listening on http://127.0.0.1:4318`. */
export function parsePort(line: string): number | null {
  if (!/listen|start|serv/i.test(line)) return null;
  const m = line.match(/(?:127\.0\.0\.1|0\.0\.0\.0|localhost|\[::1?\]|::1?):(\d{1,5})\b/) ??
    line.match(/\bport["'=: ]+(\d{1,5})\b/i);
  if (!m) return null;
  const port = Number(m[1]);
  return port > 0 && port < 65536 ? port : null;
}

export async function startServer(opts: ServerOptions = {}): Promise<Server> {
  const parent = await Deno.makeTempDir({ prefix: "otlp2parquet-e2e-" });
  const output = opts.output || `${parent}/out`;
  await Deno.mkdir(output, { recursive: true });
  const [exec, lead] = opts.exec
    ? [opts.exec, []]
    : command(opts.runtime ?? defaultRuntime(), opts.permissions);
  const args = [...lead, "serve", "--port", String(opts.port ?? 0)];
  if (opts.output !== false) args.push("--output", output);
  args.push("--log-level", opts.logLevel ?? "info");
  if (opts.config) args.push("--config", opts.config);
  if (opts.args) args.push(...opts.args);
  // The test's own OTLP2PARQUET_* variables never leak in from the shell running the tests.
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OTLP2PARQUET_")),
  );
  const env: Record<string, string> = {
    ...inherited,
    ...BASE_ENV,
    OTLP2PARQUET_BATCH_WAL_DIR: `${parent}/wal`,
    // The suite runs with either Parquet encoder: TEST_PARQUET_ENCODER=wasm|native (default auto).
    ...(Deno.env.get("TEST_PARQUET_ENCODER")
      ? { OTLP2PARQUET_PARQUET_ENCODER: Deno.env.get("TEST_PARQUET_ENCODER")! }
      : {}),
    ...opts.env,
  };
  const child = new Deno.Command(exec, {
    args,
    cwd: opts.cwd ?? REPO,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let text = "";
  let grpcPort: number | null = null;
  let resolvePort!: (p: number) => void;
  const portFound = new Promise<number>((r) => (resolvePort = r));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      const s = dec.decode(chunk, { stream: true });
      text += s;
      pending += s;
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        // Only the start-up line: an earlier line may name another server's address (a storage
        // check failing against S3 or Azurite before the listeners are up).
        const p = /otlp2parquet listening/.test(line) ? parsePort(line) : null;
        if (p !== null) {
          grpcPort ??= parseGrpcPort(line);
          resolvePort(p);
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then(async (s) => {
    exited = true;
    await pumps.catch(() => {});
    return s;
  });

  const kill = async () => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await status;
  };
  const cleanup = async () => {
    await kill();
    await Deno.remove(parent, { recursive: true }).catch(() => {});
  };

  try {
    const port = await raceTimeout(
      Promise.race([
        portFound,
        status.then((s) => {
          throw new Error(`server exited with code ${s.code} before listening:\n${text}`);
        }),
      ]),
      START_TIMEOUT_MS,
      () => `server printed no listening port within ${START_TIMEOUT_MS} ms:\n${text}`,
    );
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new Error(`server exited before /health answered:\n${text}`);
      try {
        const r = await fetch(`${url}/health`);
        await r.body?.cancel();
        if (r.status === 200) break;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error(`/health never answered 200:\n${text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    let removed = false;
    return {
      url,
      port,
      grpcPort,
      grpcAddr: `127.0.0.1:${grpcPort}`,
      pid: child.pid,
      output,
      parent,
      log: () => text,
      signal(sig: Deno.Signal) {
        if (!exited) child.kill(sig);
      },
      async stop() {
        if (!exited) child.kill("SIGTERM");
        const s = await raceTimeout(
          status,
          STOP_TIMEOUT_MS,
          () => `server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${text}`,
        );
        return s.code;
      },
      async kill() {
        await kill();
        if (!removed) {
          removed = true;
          await Deno.remove(parent, { recursive: true }).catch(() => {});
        }
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * Runs `fn` against a fresh server, then stops it with SIGTERM and checks it exits with code 0.
 * The process is killed and its temporary directory removed in any case.
 */
export async function withServer<T>(
  opts: ServerOptions,
  fn: (srv: Server) => Promise<T>,
): Promise<T> {
  const srv = await startServer(opts);
  try {
    const out = await fn(srv);
    const code = await srv.stop();
    if (code !== 0) {
      throw new Error(`server exited with code ${code} after SIGTERM (expected 0):\n${srv.log()}`);
    }
    return out;
  } finally {
    await srv.kill();
  }
}

function raceTimeout<T>(p: Promise<T>, ms: number, msg: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(msg())), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GET /ready: its status and body. */
export async function getReady(srv: Server): Promise<{ status: number; body: string }> {
  const r = await fetch(`${srv.url}/ready`);
  return { status: r.status, body: await r.text() };
}

/** Polls /ready (its result is cached about a second) until it answers `status`, for `ms`. */
export async function untilReady(srv: Server, status: number, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await getReady(srv);
    if (r.status === status) return r.body;
    if (Date.now() > deadline) {
      throw new Error(`/ready answered ${r.status}, not ${status}: ${r.body}`);
    }
    await sleep(200);
  }
}

/** Waits up to `ms` for a server log line matching `re` and returns it. */
export async function untilLogged(srv: Server, re: RegExp, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = srv.log().split("\n").find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line matching ${re}:\n${srv.log()}`);
    await sleep(100);
  }
}
