/**
 * A buffer keeps the requests' own builders as chunks (no copy per request) and merges runs of
 * small ones into one chunk; big requests stay as they are. Whatever the mix, a file must hold
 * every row of its (service, hour) once, in log order, also when requests were split into slices
 * by service, and also after a crash and replay.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { type BatchWriter, createBatchWriter } from "../../src/batch/batcher.ts";
import type { WriteRequest } from "../../src/batch/types.ts";
import type { Config } from "../../src/config/types.ts";
import { ArenaPool, type Utf8Col } from "../../src/core/columns/index.ts";
import { convertRequest } from "../../src/core/convert.ts";
import { decodeBufferStats } from "../../src/core/otlp/sizing.ts";
import { generateRequest } from "../../bench/gen.ts";
import {
  config,
  CountingWalFs,
  ids,
  MemoryLogger,
  readBodies,
  T0,
  tempDir,
  TestStorage,
} from "./helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A real OTLP/JSON logs request with a record per id for service "a", then one per id for "b"
 * (so the rows of "b" are a slice of the decoded columns), each with attributes.
 */
function twoServices(a: string[], b: string[]): WriteRequest {
  const resource = (service: string, list: string[]) => ({
    resource: {
      attributes: [
        { key: "service.name", value: { stringValue: service } },
        { key: "host", value: { stringValue: `h-${service}` } },
      ],
    },
    scopeLogs: [{
      scope: { name: "chunks-test" },
      logRecords: list.map((id, i) => ({
        timeUnixNano: String(T0 + BigInt(i)),
        body: { stringValue: id },
        attributes: [
          { key: "id", value: { stringValue: id } },
          { key: "empty", value: { stringValue: "" } },
        ],
      })),
    }],
  });
  const body = enc.encode(JSON.stringify({
    resourceLogs: [a, b].filter((l) => l.length > 0).map((l, i) => resource(["a", "b"][i], l)),
  }));
  const receivedAtNs = 1n;
  const { partitions } = convertRequest("logs", body, "json", { receivedAtNs });
  return { signal: "logs", format: "json", body, receivedAtNs, partitions };
}

/** Request sizes that make merged runs, big requests between them, and a short tail. */
const SIZES = [
  ...Array(45).fill(100), // small requests: merged every 1,024 rows or more, 100 rows left over
  5000, // big: kept as it is, after the one small chunk before it
  ...Array(7).fill(30),
  4200, // big after a short run: the run is merged as it is
  1,
  ...Array(500).fill(10), // merged every 1,024 rows or more, the rest stays a tail of chunks
];

function open(
  dir: string,
  storage: TestStorage,
  batch: Partial<Config["batch"]> = {},
): Promise<BatchWriter> {
  return createBatchWriter({
    config: config({ wal_dir: dir, ...batch }),
    storage,
    logger: new MemoryLogger(),
    walFs: new CountingWalFs(),
  });
}

/** Writes SIZES requests (group commit), returns the ids of "a" and "b" in log order. */
async function writeAll(w: BatchWriter): Promise<{ a: string[]; b: string[] }> {
  const a: string[] = [], b: string[] = [];
  const reqs = SIZES.map((n, i) => {
    const ia = ids(`a${i}`, n), ib = ids(`b${i}`, Math.ceil(n / 2));
    a.push(...ia);
    b.push(...ib);
    return twoServices(ia, ib);
  });
  await Promise.all(reqs.map((r) => w.write(r)));
  return { a, b };
}

/** Bodies of each stored file, by service directory. */
function filesByService(storage: TestStorage): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [key, data] of storage.objects) {
    const service = key.split("/")[1];
    strictEqual(out.has(service), false, `one file per service: ${key}`);
    out.set(service, readBodies(data));
  }
  return out;
}

Deno.test("a file holds every row in log order whatever mix of small, big and sliced requests made it", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w = await open(`${dir}/wal`, storage, { durability: "memory" });
    const want = await writeAll(w);
    const st = w.stats();
    strictEqual(st.bufferedRows, want.a.length + want.b.length);
    await w.close();
    const got = filesByService(storage);
    deepStrictEqual([...got.keys()].sort(), ["a", "b"]);
    strictEqual(got.get("a")!.length, want.a.length);
    deepStrictEqual(got.get("a"), want.a);
    deepStrictEqual(got.get("b"), want.b);
  } finally {
    await cleanup();
  }
});

Deno.test("buffered bytes count each request's rows once, merged or not", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const w = await open(`${dir}/wal`, new TestStorage(), { durability: "memory" });
    let bytes = 0, rows = 0;
    for (const n of [3000, 1500, 5000, 10]) {
      const r = twoServices(ids(`x${n}`, n), ids(`y${n}`, n));
      for (const p of r.partitions) bytes += p.rows.byteSize(), rows += p.rows.length;
      await w.write(r);
      deepStrictEqual([w.stats().bufferedBytes, w.stats().bufferedRows], [bytes, rows]);
    }
    await w.abort();
  } finally {
    await cleanup();
  }
});

Deno.test("after a crash, replay rebuilds merged buffers with the same rows in the same order", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w1 = await open(`${dir}/wal`, storage);
    const want = await writeAll(w1);
    await w1.abort();
    strictEqual(storage.objects.size, 0);
    const w2 = await open(`${dir}/wal`, storage);
    strictEqual(w2.stats().replayedRecords, SIZES.length);
    await w2.close();
    const got = filesByService(storage);
    deepStrictEqual(got.get("a"), want.a);
    deepStrictEqual(got.get("b"), want.b);
  } finally {
    await cleanup();
  }
});

Deno.test("merged chunks' memory is reused once their file is encoded, and every file keeps its own rows", async () => {
  const { dir, cleanup } = await tempDir();
  const given = new WeakSet<ArrayBuffer>();
  let gives = 0, reuses = 0;
  const { give, take } = ArenaPool.prototype;
  ArenaPool.prototype.give = function (buf: ArrayBuffer) {
    given.add(buf);
    gives++;
    return give.call(this, buf);
  };
  ArenaPool.prototype.take = function (bytes: number) {
    const b = take.call(this, bytes);
    if (given.has(b)) reuses++;
    return b;
  };
  try {
    const storage = new TestStorage();
    // Files of 3,000 rows or less: a dozen files per service, each of merged 10-row chunks.
    const w = await open(`${dir}/wal`, storage, { durability: "memory", max_rows: 3000 });
    const a: string[] = [], b: string[] = [];
    for (let i = 0; i < 4000; i++) {
      const ia = ids(`a${i}-`, 10), ib = ids(`b${i}-`, 5);
      a.push(...ia);
      b.push(...ib);
      await w.write(twoServices(ia, ib));
    }
    await w.close();
    const got = new Map<string, string[]>();
    let files = 0;
    for (const [key, data] of storage.objects) {
      const service = key.split("/")[1];
      got.set(service, [...(got.get(service) ?? []), ...readBodies(data)]);
      files++;
    }
    // Files are stored in any order: compare the rows as sorted lists.
    deepStrictEqual(got.get("a")!.sort(), a.sort());
    deepStrictEqual(got.get("b")!.sort(), b.sort());
    strictEqual(files >= 20, true, `${files} files`);
    strictEqual(gives > 0 && reuses > 0, true, `arenas given back ${gives}, reused ${reuses}`);
  } finally {
    ArenaPool.prototype.give = give;
    ArenaPool.prototype.take = take;
    await cleanup();
  }
});

Deno.test("requests' decode buffers are reused once their rows are merged or encoded, and every row stays its own", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w = await open(`${dir}/wal`, storage, { durability: "memory", max_rows: 4000 });
    const want = new Map<string, string[]>();
    const before = decodeBufferStats().reused;
    // Protobuf requests of 3 services (sliced by service) of a few records (merged), then of one
    // service and 1,100 records (kept as they are until their file is encoded: a decode buffer
    // reused too early would be overwritten by the next one's rows).
    for (let i = 0; i < 320; i++) {
      const big = i >= 300;
      const body = generateRequest("logs", {
        records: big ? 1100 : 4 + (i % 7) * 6,
        seed: 700 + i,
        services: big ? 1 : 3,
      }).protobuf;
      // What each service's rows say, read into strings before anything can be reused.
      for (const p of convertRequest("logs", body, "protobuf", { receivedAtNs: 1n }).partitions) {
        const c = (p.rows.cols as unknown as { Body: Utf8Col }).Body;
        const bodies = Array.from({ length: c.length }, (_, r) => dec.decode(c.bytesAt(r)));
        want.set(p.service, [...(want.get(p.service) ?? []), ...bodies]);
      }
      const { partitions } = convertRequest("logs", body, "protobuf", { receivedAtNs: 1n });
      await w.write({ signal: "logs", format: "protobuf", body, receivedAtNs: 1n, partitions });
    }
    await w.close();
    const got = new Map<string, string[]>();
    for (const [key, data] of storage.objects) {
      const service = decodeURIComponent(key.split("/")[1]);
      got.set(service, [...(got.get(service) ?? []), ...readBodies(data)]);
    }
    deepStrictEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [service, bodies] of want) {
      deepStrictEqual(got.get(service)!.sort(), bodies.sort(), service);
    }
    const reused = decodeBufferStats().reused - before;
    strictEqual(reused > 50, true, `decode buffers reused ${reused} times`);
  } finally {
    await cleanup();
  }
});

Deno.test("a merge whose buffer cannot be allocated leaves the small chunks as they are: every write is taken, every row stored once", async () => {
  const { dir, cleanup } = await tempDir();
  const take = ArenaPool.prototype.take;
  let failed = 0;
  try {
    const storage = new TestStorage();
    const w = await open(`${dir}/wal`, storage);
    // Every other merge of the batch's arenas fails as an allocation failure would.
    let calls = 0;
    ArenaPool.prototype.take = function (this: ArenaPool, bytes: number) {
      if (new Error().stack!.includes("mergeChunks") && calls++ % 2 === 0) {
        failed++;
        throw new RangeError("Array buffer allocation failed");
      }
      return take.call(this, bytes);
    };
    const want = await writeAll(w);
    ArenaPool.prototype.take = take;
    strictEqual(failed > 2, true, `merges failed: ${failed}`);
    const st = w.stats();
    strictEqual(st.bufferedRows, want.a.length + want.b.length);
    await w.close();
    strictEqual(w.stats().bufferedRows, 0);
    strictEqual(w.stats().bufferedBytes, 0);
    const got = filesByService(storage);
    deepStrictEqual(got.get("a"), want.a);
    deepStrictEqual(got.get("b"), want.b);
  } finally {
    ArenaPool.prototype.take = take;
    await cleanup();
  }
});
