/**
 * The library honours `forward` (the `[[forward]]` destinations, src/lib/index.ts): every export
 * it accepts is also sent to a real otlp2parquet server B from a queue in memory; `close()`
 * drains it within `server.shutdown_timeout_secs`. What B stored is compared with what the
 * library stored (DuckDB, `EXCEPT ALL` both ways).
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { generateRequest } from "../../bench/gen.ts";
import { ConfigError, createWriter } from "../../src/lib/index.ts";
import type { Server } from "../helpers/server.ts";
import { assertSameLogs, freePort, logsBody, startB } from "../forward/helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "library: exports are forwarded to B, close() drains the queue, B ends with the library's rows",
  opts,
  async () => {
    const root = await Deno.makeTempDir({ prefix: "otlp2parquet-lib-fwd-" });
    const port = freePort();
    let b: Server | undefined;
    try {
      b = await startB(port, `${root}/b`, `${root}/b-wal`);
      const writer = await createWriter({
        storage: { path: `${root}/a` },
        batch: { wal_dir: `${root}/a-wal` },
        forward: [{
          name: "b",
          endpoint: `http://127.0.0.1:${port}`,
          protocol: "http/protobuf",
          failure_threshold: 2,
          open_secs: 1,
        }],
        log: false,
      });
      let total = 0;
      for (let i = 0; i < 5; i++) {
        const r = await writer.exportLogs(JSON.parse(logsBody("lib-fwd", `json${i}`, 20)));
        strictEqual(r.ok, true);
        total += 20;
      }
      // Protobuf bytes the application reuses once the export resolved: the queue kept a copy.
      const pb = generateRequest("logs", { records: 30, seed: 7 }).protobuf;
      const r = await writer.exportLogs(pb);
      strictEqual(r.ok && r.records, 30);
      total += 30;
      pb.fill(0);
      const before = writer.stats().forward;
      strictEqual(before.length, 1);
      strictEqual(before[0].name, "b");
      await writer.close();
      const after = writer.stats().forward[0];
      strictEqual(after.queueRequests, 0, "queue drained by close()");
      strictEqual(after.sentRecords, total, "records sent to B");
      strictEqual(after.droppedRecords + after.rejectedRecords + after.failedRequests, 0);
      strictEqual(await b.stop(), 0); // B stores what its write-ahead log holds
      await assertSameLogs(`${root}/a`, `${root}/b`, total);
    } finally {
      await b?.kill();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "library: a destination that is down never fails an export; close() gives up after shutdown_timeout_secs and says what it dropped",
  opts,
  async () => {
    const root = await Deno.makeTempDir({ prefix: "otlp2parquet-lib-fwd-" });
    const lines: string[] = [];
    try {
      const writer = await createWriter({
        storage: { path: `${root}/a` },
        batch: { wal_dir: `${root}/a-wal` },
        server: { shutdown_timeout_secs: 1, log_format: "json" },
        forward: [{
          name: "down",
          endpoint: `http://127.0.0.1:${freePort()}`,
          failure_threshold: 1,
          open_secs: 60,
        }],
        log: (l) => lines.push(l),
      });
      for (let i = 0; i < 3; i++) {
        const r = await writer.exportLogs(JSON.parse(logsBody("lib-down", `d${i}`, 10)));
        strictEqual(r.ok && r.records, 10);
      }
      await writer.close();
      const s = writer.stats().forward[0];
      strictEqual(s.sentRecords, 0);
      strictEqual(s.queueRequests, 3, "still queued when close() gave up");
      ok(s.sendFailures >= 1, "the send was tried");
      const warn = lines.map((l) => JSON.parse(l)).find((l) =>
        String(l.msg ?? l.message).includes("not sent within server.shutdown_timeout_secs")
      );
      ok(warn, `no drop warning in:\n${lines.join("\n")}`);
      strictEqual(warn.destination, "down");
      strictEqual(warn.requests, 3);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test("library: a bad forward entry is a ConfigError naming the key", async () => {
  await rejects(
    createWriter({
      storage: { backend: "memory" },
      forward: [{ name: "x", endpoint: "ftp://example.com" }],
      log: false,
    }),
    (e: unknown) => {
      ok(e instanceof ConfigError, String(e));
      ok(/forward\[0\]\.endpoint/.test(e.message), e.message);
      return true;
    },
  );
});

Deno.test(
  'library, platform "lambda": each export is sent at once, flush() returns once those sends are answered',
  opts,
  async () => {
    const root = await Deno.makeTempDir({ prefix: "otlp2parquet-lib-fwd-" });
    const port = freePort();
    let b: Server | undefined;
    try {
      b = await startB(port, `${root}/b`, `${root}/b-wal`);
      const writer = await createWriter({
        platform: "lambda",
        storage: { backend: "fs", path: `${root}/a` },
        forward: [{ name: "b", endpoint: `http://127.0.0.1:${port}` }],
        log: false,
      });
      for (let i = 0; i < 3; i++) {
        const r = await writer.exportLogs(JSON.parse(logsBody("lib-lambda", `l${i}`, 5)));
        strictEqual(r.ok && r.records, 5);
      }
      deepStrictEqual(await writer.flush(), { ok: true });
      const s = writer.stats().forward[0];
      strictEqual(s.sentRecords, 15, "sent by the time flush() resolved");
      strictEqual(s.queueRequests, 0);
      await writer.close();
      strictEqual(await b.stop(), 0);
      await assertSameLogs(`${root}/a`, `${root}/b`, 15);
    } finally {
      await b?.kill();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);
