/**
 * Server mode under concurrent load: the batching writer reuses the memory of decoded requests
 * and of merged chunks once their rows are in a merged chunk or a file. Many small files (4 MiB
 * buffers), small requests of three services and big ones of one, 24 at a time: every record
 * of every acknowledged request must be in exactly one file, with its own body.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { generateRequest } from "../../bench/gen.ts";
import { listParquet, query, readParquet } from "../helpers/duckdb.ts";
import { startServer } from "../helpers/server.ts";

const REQUESTS = 2400;
const CONCURRENCY = 24;

Deno.test("under concurrent load, with memory reused between requests, every record is stored once", async () => {
  // 100 different requests: mostly 5–100 records of three services, every tenth 1,200 records
  // of one service (kept as it came until its file is written).
  const variants = Array.from({ length: 100 }, (_, i) => {
    const big = i % 10 === 9;
    const g = generateRequest("logs", {
      records: big ? 1200 : 5 + (i % 20) * 5,
      seed: 9000 + i,
      services: big ? 1 : 3,
    });
    const bodies: string[] = [];
    // deno-lint-ignore no-explicit-any
    for (const rl of (g.request as any).resourceLogs) {
      for (const sl of rl.scopeLogs) {
        for (const lr of sl.logRecords) bodies.push(JSON.stringify(lr.body));
      }
    }
    return { gz: gzipSync(g.protobuf), bodies };
  });
  const srv = await startServer({
    env: {
      OTLP2PARQUET_BATCH_ENABLED: "true",
      OTLP2PARQUET_BATCH_MAX_BYTES: String(4 << 20),
      OTLP2PARQUET_BATCH_MAX_AGE_SECS: "2",
    },
  });
  try {
    const want = new Map<string, number>();
    let next = 0, total = 0;
    const statuses = new Map<number, number>();
    const worker = async () => {
      for (let i = next++; i < REQUESTS; i = next++) {
        const v = variants[i % variants.length];
        const r = await fetch(`${srv.url}/v1/logs`, {
          method: "POST",
          body: v.gz,
          headers: { "content-type": "application/x-protobuf", "content-encoding": "gzip" },
        });
        await r.body?.cancel();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status !== 200) continue;
        total += v.bodies.length;
        for (const b of v.bodies) want.set(b, (want.get(b) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    deepStrictEqual([...statuses], [[200, REQUESTS]]);
    strictEqual(await srv.stop(), 0);
    const files = (await listParquet(srv.output)).map((f) => `${srv.output}/${f}`);
    strictEqual(files.length > 40, true, `${files.length} files`);
    const [{ n }] = await query(`SELECT count(*)::INTEGER AS n FROM ${readParquet(files)}`);
    strictEqual(n, total);
    // Every string body as many times as it was sent (AnyValue bodies of other kinds are
    // counted above but compared by total only).
    const got = new Map<string, number>();
    for (
      const r of await query(
        `SELECT Body, count(*)::INTEGER AS c FROM ${readParquet(files)} GROUP BY Body`,
      )
    ) {
      got.set(r.Body as string, r.c as number);
    }
    let checked = 0;
    for (const [k, count] of want) {
      const v = JSON.parse(k);
      if (typeof v?.stringValue !== "string") continue;
      checked++;
      strictEqual(got.get(v.stringValue), count, `body ${v.stringValue.slice(0, 40)}…`);
    }
    strictEqual(checked > 10_000, true, `${checked} bodies checked`);
  } finally {
    await srv.kill();
  }
});
