/**
 * Parquet encoding on worker threads (src/batch/encoder.node.ts, `parquet.encode_threads`): the
 * files are the ones the main thread would write, jobs spread over the threads, and an encoder
 * that cannot start falls back to the main thread with a warning instead of failing the server.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { DEFAULT_PARQUET, encodeParquet } from "../../src/core/parquet/encode.ts";
import { createEncoder } from "../../src/batch/encoder.node.ts";
import { initParquetFromDisk, readParquetWasm } from "../../src/core/parquet/wasm.node.ts";
import { ids, MemoryLogger, otlpRequest, readBodies, rowGroups } from "./helpers.ts";

initParquetFromDisk();

Deno.test({
  name: "createEncoder(2) writes on worker threads the Parquet the main thread would write",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const logger = new MemoryLogger();
    const enc = await createEncoder(2, readParquetWasm(), logger);
    try {
      strictEqual(enc.where, "2 worker threads");
      // Eight files at once, each from two builders (two requests' rows, in order).
      const jobs = Array.from({ length: 8 }, (_, f) => [
        otlpRequest("svc", ids(`f${f}-a`, 300)).partitions[0].rows,
        otlpRequest("svc", ids(`f${f}-b`, 200)).partitions[0].rows,
      ]);
      const files = await Promise.all(jobs.map((rows) => enc.encode(rows, DEFAULT_PARQUET)));
      for (let f = 0; f < 8; f++) {
        const bodies = readBodies(files[f]);
        deepStrictEqual(bodies, [...ids(`f${f}-a`, 300), ...ids(`f${f}-b`, 200)]);
        deepStrictEqual(bodies, readBodies(encodeParquet(jobs[f], DEFAULT_PARQUET)));
        deepStrictEqual(rowGroups(files[f]), [500]);
      }
      // The builders are left as they were (a failed store retries with them).
      strictEqual(jobs[0][0].length, 300);
      deepStrictEqual(logger.lines.filter((l) => l.level !== "info"), []);
    } finally {
      await enc.close();
    }
  },
});

Deno.test({
  name: "createEncoder() falls back to the main thread when its workers cannot load parquet-wasm",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const logger = new MemoryLogger();
    const enc = await createEncoder(1, new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]), logger);
    strictEqual(enc.where, "main thread");
    const warn = logger.lines.find((l) => l.level === "warn");
    ok(warn, "a warning is logged");
    match(warn.msg, /cannot start Parquet encoder threads; encoding on the main thread/);
    const rows = otlpRequest("svc", ids("x", 5)).partitions[0].rows;
    deepStrictEqual(readBodies(await enc.encode([rows], DEFAULT_PARQUET)), ids("x", 5));
    await enc.close();
  },
});

Deno.test("createEncoder(0) encodes on the main thread", async () => {
  const enc = await createEncoder(0, readParquetWasm(), new MemoryLogger());
  strictEqual(enc.where, "main thread");
  const rows = otlpRequest("svc", ids("y", 3)).partitions[0].rows;
  deepStrictEqual(readBodies(await enc.encode([rows], DEFAULT_PARQUET)), ids("y", 3));
});
