/**
 * The write-through writer on its own: rows built straight into table columns (no decoders),
 * stored in the memory driver, read back with parquet-wasm.
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { readParquet } from "../helpers/parquet.ts";
import { createWriteThroughWriter } from "../../src/batch/writethrough.ts";
import type { WriteRequest } from "../../src/batch/types.ts";
import {
  BoolCol,
  type Column,
  I64Col,
  ListCol,
  MapCol,
  NumCol,
  Utf8Col,
} from "../../src/core/columns/index.ts";
import { partition } from "../../src/core/partition.ts";
import { newTable } from "../../src/core/tables.ts";
import { StorageError } from "../../src/storage/types.ts";
import { SwitchStorage, T0, testConfig, TestLogger } from "./fixtures.ts";

const HOUR = 3_600_000_000_000n;

/** Log rows (service, time, body) split into partitions like the real pipeline. */
function request(rows: [service: string, timeNs: bigint, body: string][]): WriteRequest {
  const b = newTable("logs");
  for (const [service, t, body] of rows) {
    for (const [name, c] of Object.entries(b.cols as unknown as Record<string, Column>)) {
      if (name === "Timestamp" || name === "ObservedTimestamp") (c as I64Col).appendBigInt(t);
      else if (name === "ServiceName") (c as Utf8Col).appendString(service);
      else if (name === "Body") (c as Utf8Col).appendString(body);
      else if (c instanceof Utf8Col) c.appendEmpty();
      else if (c instanceof NumCol) c.append(0);
      else if (c instanceof I64Col) c.append(0, 0);
      else if (c instanceof MapCol) c.endSortedRow();
      else if (c instanceof BoolCol) c.append(false);
      else if (c instanceof ListCol) c.endRow();
    }
  }
  return {
    signal: "logs",
    format: "json",
    body: new Uint8Array(0),
    receivedAtNs: T0,
    partitions: partition(b),
  };
}

function setup(mutate = (_: ReturnType<typeof testConfig>) => {}) {
  const storage = new SwitchStorage();
  const logger = new TestLogger();
  const config = testConfig(mutate);
  return { storage, logger, writer: createWriteThroughWriter({ config, storage, logger }) };
}

Deno.test("write-through stores one Parquet file per (service, hour) under the keys of docs/schema.md", async () => {
  const { storage, writer } = setup();
  await writer.write(
    request([["a", T0, "1"], ["b", T0 + 5n, "2"], ["a", T0 + HOUR, "3"], ["a", T0 + 7n, "4"]]),
  );
  const keys = [...storage.objects.keys()].sort();
  strictEqual(keys.length, 3);
  ok(
    /^logs\/a\/year=2024\/month=05\/day=01\/hour=10\/1714557600000000-[0-9a-f]{16}\.parquet$/.test(
      keys[0],
    ),
    keys[0],
  );
  ok(
    /^logs\/a\/year=2024\/month=05\/day=01\/hour=11\/1714561200000000-[0-9a-f]{16}\.parquet$/.test(
      keys[1],
    ),
    keys[1],
  );
  ok(
    /^logs\/b\/year=2024\/month=05\/day=01\/hour=10\/1714557600000000-[0-9a-f]{16}\.parquet$/.test(
      keys[2],
    ),
    keys[2],
  );
  const bodiesOf = (k: string) => {
    const t = readParquet(storage.objects.get(k)!);
    return Array.from({ length: t.numRows }, (_, i) => String(t.getChild("Body")!.get(i)));
  };
  deepStrictEqual(bodiesOf(keys[0]), ["1", "4"]);
  deepStrictEqual(bodiesOf(keys[1]), ["3"]);
  deepStrictEqual(bodiesOf(keys[2]), ["2"]);
  const s = writer.stats!();
  strictEqual(s.filesWritten, 3);
  strictEqual(s.rowsWritten, 4);
  strictEqual(s.bytesWritten, [...storage.objects.values()].reduce((n, b) => n + b.length, 0));
});

Deno.test("write-through file ids come from the content: the same rows overwrite the same key", async () => {
  const { storage, writer } = setup();
  for (let i = 0; i < 5; i++) await writer.write(request([["a", T0, "x"], ["a", T0 + 1n, "y"]]));
  strictEqual(storage.objects.size, 1);
  strictEqual(storage.puts, 5);
  // The id is the SHA-256 of the bytes before the footer (its key-value order varies).
  const key = [...storage.objects.keys()][0];
  const file = storage.objects.get(key)!;
  const footer = new DataView(file.buffer, file.byteOffset).getUint32(file.length - 8, true);
  const data = file.slice(0, file.length - 8 - footer);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const hex = [...digest.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
  ok(key.endsWith(`-${hex}.parquet`), key);
  // Different rows at the same time: a different file.
  await writer.write(request([["a", T0, "z"]]));
  strictEqual(storage.objects.size, 2);
});

Deno.test("write-through writes with the configured codec and row group size", async () => {
  const { storage, writer } = setup((c) => {
    c.parquet.compression = "snappy";
    c.parquet.row_group_size = 2;
  });
  const long = (c: string) => c.repeat(400); // a body snappy makes smaller
  await writer.write(
    request([["a", T0, long("1")], ["a", T0 + 1n, long("2")], ["a", T0 + 2n, long("3")]]),
  );
  const bytes = [...storage.objects.values()][0];
  strictEqual(readParquet(bytes).numRows, 3);
  const { parquetMetadata } = await import("hyparquet");
  const meta = parquetMetadata(bytes.slice().buffer);
  deepStrictEqual(meta.row_groups.map((g) => Number(g.num_rows)), [2, 1]);
  // Every chunk is snappy, or stored as it is where snappy would make it bigger (tiny chunks,
  // docs/schema.md "Parquet encoding"); the long bodies are snappy.
  const codecs = meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec));
  deepStrictEqual([...new Set(codecs)].filter((c) => c !== "SNAPPY" && c !== "UNCOMPRESSED"), []);
  ok(codecs.includes("SNAPPY"), codecs.join());
});

Deno.test("write-through passes StorageErrors on and wraps other put failures as retryable", async () => {
  const { storage, writer } = setup();
  const down = new StorageError("Cannot put (s3): timeout", true);
  storage.failPut = down;
  await rejects(writer.write(request([["a", T0, "1"]])), (e) => e === down);
  storage.failPut = new Error("EPIPE");
  await rejects(writer.write(request([["a", T0, "1"]])), (e) => {
    ok(e instanceof StorageError);
    strictEqual(e.retryable, true);
    ok(e.message.includes("EPIPE") && e.message.includes("logs/a/"), e.message);
    return true;
  });
  strictEqual(writer.stats!().flushFailures, 2);
});

Deno.test("write-through waits for every file before failing a request", async () => {
  const { storage, writer } = setup();
  let inFlight = 0, maxInFlight = 0;
  const put = storage.put.bind(storage);
  storage.put = async (k, d) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    if (k.startsWith("logs/b/")) throw new StorageError("b is down", true);
    return put(k, d);
  };
  await rejects(
    writer.write(request([["a", T0, "1"], ["b", T0, "2"], ["c", T0, "3"]])),
    /b is down/,
  );
  strictEqual(inFlight, 0);
  strictEqual(maxInFlight, 3);
  // The others are stored; a retry overwrites them.
  deepStrictEqual([...storage.objects.keys()].map((k) => k.split("/")[1]).sort(), ["a", "c"]);
});

Deno.test("write-through logs each stored file at debug with key, rows and bytes", async () => {
  const { logger, writer, storage } = setup();
  await writer.write(request([["a", T0, "1"], ["a", T0 + 1n, "2"]]));
  const lines = logger.find("file stored");
  strictEqual(lines.length, 1);
  strictEqual(lines[0].level, "debug");
  const key = [...storage.objects.keys()][0];
  deepStrictEqual(lines[0].fields, { key, rows: 2, bytes: storage.objects.get(key)!.length });
});
