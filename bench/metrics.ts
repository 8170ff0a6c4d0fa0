/**
 * What the metrics cost per request, in process: the HTTP app (`createApp`) with and without
 * `ServiceMetrics`, over a writer that accepts at once, so the instrumentation is the only
 * difference (decode and partition included, as in the server; no network, no storage).
 * Rounds alternate between the two apps (A B, then B A, …) so drift on a busy machine hits
 * both alike. Reported: CPU time per request of each (process user + system time, which a
 * loaded machine disturbs less than wall time), the median of the rounds' on/off ratios, and
 * requests/s of each. Then the instrumentation alone: the calls one export request makes
 * (`request`, `decompressed`, `ingested`, the watched writer, the middleware's clock read),
 * timed in a loop, in µs per request: the difference the A/B above tries to see through noise.
 *
 *   deno run -A bench/metrics.ts [--records N] [--requests N] [--rounds N]
 */
import process from "node:process";
import { loadConfig } from "../src/config/load.ts";
import { createApp } from "../src/http/app.ts";
import { ServiceMetrics } from "../src/metrics/service.ts";
import { silentLogger } from "../src/log/log.ts";
import { createMemoryStorage } from "../src/storage/memory.ts";
import type { Writer } from "../src/batch/types.ts";
import { generateRequest } from "./gen.ts";

const arg = (name: string, def: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : def;
};
const records = arg("--records", 10);
const perRound = arg("--requests", 500);
const rounds = arg("--rounds", 40);

const config = loadConfig({
  platform: "server",
  env: { OTLP2PARQUET_STORAGE_BACKEND: "memory", OTLP2PARQUET_BATCH_ENABLED: "false" },
});
const writer: Writer = {
  write: () => Promise.resolve(),
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
};
const storage = createMemoryStorage();
const off = createApp({ config, writer, storage, logger: silentLogger });
const metrics = new ServiceMetrics({ version: "bench" });
const on = createApp({
  config,
  writer: metrics.watchWriter(writer),
  storage,
  logger: silentLogger,
  metrics,
});
const bodies = Array.from(
  { length: 32 },
  (_, i) => generateRequest("logs", { records, seed: i + 1 }).protobuf,
);

/** CPU and wall milliseconds for `perRound` requests. */
async function round(app: typeof on): Promise<{ cpu: number; wall: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < perRound; i++) {
    const r = await app.fetch(
      new Request("http://x/v1/logs", {
        method: "POST",
        body: bodies[i % bodies.length] as BodyInit,
        headers: { "content-type": "application/x-protobuf" },
      }),
    );
    if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
  }
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1000, wall: performance.now() - t0 };
}

for (let i = 0; i < 3; i++) await round(i % 2 ? on : off); // warm-up
const ratios: number[] = [];
const sum = { on: { cpu: 0, wall: 0 }, off: { cpu: 0, wall: 0 } };
for (let i = 0; i < rounds; i++) {
  const first = i % 2 === 0 ? "on" : "off";
  const a = await round(first === "on" ? on : off);
  const b = await round(first === "on" ? off : on);
  const [rOn, rOff] = first === "on" ? [a, b] : [b, a];
  sum.on.cpu += rOn.cpu,
    sum.on.wall += rOn.wall,
    sum.off.cpu += rOff.cpu,
    sum.off.wall += rOff.wall;
  ratios.push(rOn.cpu / rOff.cpu);
}
ratios.sort((x, y) => x - y);
const n = perRound * rounds;
const us = (ms: number) => (ms * 1000 / n).toFixed(1);
const rps = (ms: number) => Math.round(n / (ms / 1000)).toLocaleString("en-US");
console.log(
  `${records}-record requests, ${n} per app, ${rounds} alternating rounds:\n` +
    `  metrics on:  ${us(sum.on.cpu)} µs CPU per request, ${rps(sum.on.wall)} requests/s\n` +
    `  metrics off: ${us(sum.off.cpu)} µs CPU per request, ${rps(sum.off.wall)} requests/s\n` +
    `  CPU on/off: ${(sum.on.cpu / sum.off.cpu).toFixed(3)} overall, median of rounds ${
      ratios[Math.floor(ratios.length / 2)].toFixed(3)
    }; requests/s on/off ${(sum.off.wall / sum.on.wall).toFixed(3)}`,
);

// The instrumentation alone, per request: the loop with the calls, less the same loop with a
// plain writer and none of them (what the middleware and handler do anyway).
{
  const m = new ServiceMetrics({ version: "bench" });
  const w = m.watchWriter(writer);
  const req = {
    partitions: [{ service: "svc", rows: { length: records } }],
  } as unknown as Parameters<Writer["write"]>[0];
  const N = 200_000;
  const loop = async (instrumented: boolean) => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const started = performance.now();
      if (!instrumented) {
        await writer.write(req);
        continue;
      }
      m.decompressed("http", "logs", 1000);
      await w.write(req);
      m.ingested("http", "logs", records, 0);
      m.request({
        transport: "http",
        route: "/v1/logs",
        code: "200",
        seconds: (performance.now() - started) / 1000,
        bytes: 900,
        encoding: "gzip",
        signal: "logs",
      });
    }
    return (performance.now() - t0) * 1000 / N;
  };
  await loop(true), await loop(false);
  let net = 0;
  for (let i = 0; i < 4; i++) net += (await loop(true)) - (await loop(false));
  const per = net / 4;
  console.log(
    `  instrumentation alone: ${per.toFixed(2)} µs per request (${
      (100 * per / (sum.off.cpu * 1000 / n)).toFixed(1)
    }% of the uninstrumented request's CPU above)`,
  );
}
