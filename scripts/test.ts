/**
 * The test task (`deno task test [DENO TEST ARGS…]`): runs `deno test --allow-all --parallel`
 * (over tests/, or over the paths and flags given) with a private S3 test server, and stops that
 * server when the run ends, whether it passed, failed or was interrupted (Ctrl-C, SIGTERM).
 *
 * The server is OpenStack Swift from scripts/s3-server.sh, on five free ports of 127.0.0.1 and in
 * a temporary folder of its own, so two runs on one machine never share or block a port, and no
 * process is left behind. tests/helpers/s3.ts starts it on first use (a run without S3 tests pays
 * nothing) and reads where it is from the environment this script exports:
 *
 *   O2P_TEST_SWIFT_DIR    the server's folder (config, rings, data, logs, pid files)
 *   O2P_TEST_SWIFT_PORTS  "PROXY,MEMCACHED,OBJECT,CONTAINER,ACCOUNT"
 *   O2P_TEST_S3_ENDPOINT  http://127.0.0.1:PROXY
 *
 * `deno test` run directly (without this script) keeps the old behaviour: one shared server on
 * 127.0.0.1:8080, left running for the next run (stop it with `scripts/s3-server.sh stop`).
 */
const ROOT = new URL("../", import.meta.url).pathname;
const S3_SERVER = `${ROOT}scripts/s3-server.sh`;

/** `n` distinct free TCP ports on 127.0.0.1 (held open together, so they differ). */
function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

async function stopSwift(env: Record<string, string>): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: [S3_SERVER, "stop"],
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    console.error(`scripts/s3-server.sh stop failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function main(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-swift-" });
  const [proxy, ...rest] = freePorts(5);
  const env = {
    O2P_TEST_SWIFT_DIR: dir,
    O2P_TEST_SWIFT_PORTS: [proxy, ...rest].join(","),
    O2P_TEST_S3_ENDPOINT: `http://127.0.0.1:${proxy}`,
  };
  const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--parallel", ...args],
    cwd: ROOT,
    env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();

  // A signal is passed on to `deno test` (a terminal's Ctrl-C already reached it: the second
  // one does no harm); the run then ends as on failure, and Swift is stopped below.
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  let signalled: Deno.Signal | undefined;
  const onSignal = (sig: Deno.Signal) => () => {
    signalled = sig;
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  const handlers = signals.map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);
  try {
    const status = await child.status;
    if (signalled) return 130;
    return status.code;
  } finally {
    // Listeners stay on until Swift is stopped: a second Ctrl-C must not cut the cleanup short.
    await stopSwift(env);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  }
}

Deno.exit(await main());
