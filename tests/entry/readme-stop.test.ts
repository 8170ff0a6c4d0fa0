/**
 * The README's first command, stopped the way a user stops it: `npx --yes deno task start` in a
 * process group of its own, with the default configuration (batching with the write-ahead log,
 * so the data is only written when the server stops), then a signal to the whole group, as a
 * terminal's Ctrl-C (SIGINT) or a supervisor's `kill -TERM -PGID` delivers it. npx, the task
 * runner and the server each get it, and the runner forwards it once more: the server must still
 * write its buffers out, and leave the files in the data folder.
 */
import { ok, strictEqual } from "node:assert/strict";
import { parsePort } from "../helpers/server.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/** Signals process group `pgid` (every process in it); false when none is left. */
function signalGroup(pgid: number, sig: "INT" | "TERM" | "KILL" | "0"): boolean {
  return new Deno.Command("kill", { args: ["-s", sig === "0" ? "0" : sig, "--", `-${pgid}`] })
    .outputSync().success;
}

async function stopsCleanly(sig: "INT" | "TERM") {
  const data = await Deno.makeTempDir({ prefix: "otlp2parquet-readme-" });
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OTLP2PARQUET_")),
  );
  // setsid: the command leads a new process group (its pid is the group's id), like a job
  // started from a shell.
  const child = new Deno.Command("setsid", {
    args: ["npx", "--yes", "deno", "task", "start"],
    cwd: REPO,
    env: {
      ...env,
      NO_COLOR: "1",
      OTLP2PARQUET_LISTEN_ADDR: "127.0.0.1:0",
      OTLP2PARQUET_GRPC_LISTEN_ADDR: "127.0.0.1:0",
      OTLP2PARQUET_STORAGE_PATH: data,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pgid = child.pid;
  let log = "";
  let resolvePort!: (p: number) => void;
  const port = new Promise<number>((r) => (resolvePort = r));
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) {
      const text = dec.decode(chunk, { stream: true });
      log += text;
      for (const l of log.split("\n")) {
        const p = /otlp2parquet listening/.test(l) ? parsePort(l) : null;
        if (p !== null) resolvePort(p);
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const p = await Promise.race([
      port,
      child.status.then(() => Promise.reject(new Error(`exited before listening:\n${log}`))),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`not listening:\n${log}`)), START_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    const body = {
      resourceLogs: [{
        resource: {
          attributes: [{ key: "service.name", value: { stringValue: `readme-${sig}` } }],
        },
        scopeLogs: [{
          logRecords: [{
            timeUnixNano: "1714557600000000000",
            body: { stringValue: `stopped with SIG${sig}` },
          }],
        }],
      }],
    };
    const r = await fetch(`http://127.0.0.1:${p}/v1/logs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    strictEqual(r.status, 200, await r.text());

    ok(signalGroup(pgid, sig), "the process group exists");
    // Every process of the group is gone once the server has finished its shutdown.
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (signalGroup(pgid, "0")) {
      if (Date.now() > deadline) {
        throw new Error(`still running ${STOP_TIMEOUT_MS} ms after SIG${sig}:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await pumps;
    ok(/shutting down: flushing buffered data/.test(log), log);
    ok(!/second signal: exiting now/.test(log), log);
    ok(/msg="stopped"/.test(log), log);

    const files = (await listParquet(data)).map((f) => `${data}/${f}`);
    strictEqual(files.length, 1, `files under ${data}: ${files.join(", ")}\n${log}`);
    const rows = await query(`SELECT ServiceName, Body FROM ${readParquet(files)}`);
    strictEqual(rows.length, 1);
    strictEqual(rows[0].ServiceName, `readme-${sig}`);
    strictEqual(rows[0].Body, `stopped with SIG${sig}`);
  } finally {
    clearTimeout(timer);
    signalGroup(pgid, "KILL");
    await child.status;
    await pumps.catch(() => {});
    await Deno.remove(data, { recursive: true }).catch(() => {});
  }
}

Deno.test("the README's server, stopped by Ctrl-C (SIGINT to its process group), writes its buffered rows", () =>
  stopsCleanly("INT"));

Deno.test("the README's server, stopped by SIGTERM to its process group, writes its buffered rows", () =>
  stopsCleanly("TERM"));
