/**
 * The HTTP benchmark keeps working on Bun and Node: a tiny run of bench/http.ts (1 s per point)
 * starts the bare endpoint and the batching server on Bun and the Node bundle (Deno differs only
 * in the command line; left out to keep the test short), gets only 2xx answers from each, sees
 * flushes during the point and reads where Parquet encoding runs from the server's start-up
 * line. Needs `wrk` (Debian package); skipped without it unless CI=true.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { httpTable, parseArgs, parseEncoder, runHttp } from "../../bench/http.ts";

let hasWrk = true;
try {
  await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" }).output();
} catch {
  hasWrk = false;
}

Deno.test("parseEncoder() reads the encoder field of text and JSON start-up lines", () => {
  strictEqual(
    parseEncoder(
      'ts=2026-01-01T00:00:00.000Z level=info msg="otlp2parquet listening" port=4318 batching=true encoder="1 worker thread" platform=server',
    ),
    "1 worker thread",
  );
  strictEqual(parseEncoder("level=info msg=x encoder=main runtime=bun"), "main");
  strictEqual(
    parseEncoder('{"level":"info","msg":"otlp2parquet listening","encoder":"2 worker threads"}'),
    "2 worker threads",
  );
  strictEqual(parseEncoder('level=info msg="otlp2parquet listening" port=4318'), null);
});

Deno.test("bench/http.ts --runtime takes a list of runtimes and rejects unknown ones", () => {
  deepStrictEqual(parseArgs(["--runtime", "bun,node"]).opts.runtimes, ["bun", "node"]);
  deepStrictEqual(parseArgs(["--long"]).opts.durationS, 30);
  deepStrictEqual(parseArgs(["--long"]).opts.warmupS, 30);
  deepStrictEqual(parseArgs(["--long", "--warmup", "5"]).opts.warmupS, 5);
  deepStrictEqual(parseArgs(["--duration", "30"]).opts.warmupS, undefined);
  deepStrictEqual(parseArgs(["--env", "A=1", "--env", "B=x=y"]).opts.serverEnv, {
    A: "1",
    B: "x=y",
  });
  throws(() => parseArgs(["--runtime", "deno,bnu"]), /unknown runtime "bnu"/);
  throws(() => parseArgs(["--targets", "batch"]), /unknown target "batch"/);
});

Deno.test({
  name: "a tiny HTTP benchmark run measures the bare endpoint and the server on Bun and Node",
  ignore: !hasWrk && Deno.env.get("CI") !== "true",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await runHttp({
      runtimes: ["bun", "node"],
      targets: ["bare", "batching"],
      points: [{ records: 10, connections: 2 }],
      durationS: 1,
      warmupS: 0,
      // Flushes by rows (every ~2 requests per service) happen during the 1 s point, even on
      // a loaded machine where the Node bundle answers few requests in its first second.
      serverEnv: { OTLP2PARQUET_BATCH_MAX_ROWS: "20" },
      print: false,
    });
    deepStrictEqual(
      r.points.map((p) => `${p.target}/${p.runtime}`),
      ["bare/bun", "bare/node", "batching/bun", "batching/node"],
    );
    for (const p of r.points) {
      const at = `${p.target} on ${p.runtime}`;
      ok(p.requests > 0 && p.requestsPerSec > 0, `${at}: no requests`);
      strictEqual(p.non2xx, 0, `${at}: non-2xx answers`);
      strictEqual(p.socketErrors, 0, `${at}: socket errors`);
      strictEqual(p.recordsPerSec, p.requestsPerSec * 10);
      ok(p.p50Ms > 0 && p.p99Ms >= p.p50Ms, `${at}: latency ${p.p50Ms} / ${p.p99Ms}`);
      ok(p.serverRssMB > 0 && p.serverCpuCores > 0, `${at}: RSS ${p.serverRssMB}`);
      // The split by thread adds up to the process's CPU (clock ticks of 10 ms apart).
      const t = p.serverCpuThreads!;
      ok(t.main > 0, `${at}: main thread CPU ${t.main}`);
      ok(
        Math.abs(t.main + t.busiest + t.rest - p.serverCpuCores) < 0.15,
        `${at}: ${JSON.stringify(t)} vs ${p.serverCpuCores}`,
      );
      if (p.target === "bare") {
        strictEqual(p.vsBare, null);
        strictEqual(p.encoder, "none");
      } else {
        ok(p.vsBare !== null && p.vsBare > 0, `${at}: vs bare ${p.vsBare}`);
        // Buffers are flushed during the point, not only at shutdown.
        ok(
          p.filesWritten >= 1,
          `${at}: ${p.filesWritten} files written during the point (${p.requests} requests)`,
        );
        ok(/thread/.test(p.encoder), `${at}: encoder "${p.encoder}"`);
        // Parquet is encoded on the encoder thread, the busiest after the main one.
        ok(t.busiest > 0, `${at}: encoder thread CPU ${t.busiest}`);
      }
    }
    for (const t of r.targets) {
      strictEqual(t.exitCode, 0, `${t.target} on ${t.runtime}: exit code`);
      if (t.target === "batching") ok(t.files >= 1 && t.fileBytes > 0);
    }
    deepStrictEqual(Object.keys(r.runtimeVersions), ["bun", "node"]);
    const table = httpTable(r);
    ok(table.includes("| node | batching | 10 | 2 |"), table);
    ok(/\| bun \| batching \| [^|]*thread/.test(table), table);
  },
});
