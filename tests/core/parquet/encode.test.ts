/**
 * The Parquet writer settings of src/core/parquet/encode.ts, read back from the file footer with
 * hyparquet: dictionary encoding on repeated strings (also inside maps), plain encoding on the
 * columns whose values are all different, the codec on every column, statistics on every column
 * that holds one value per row and on none inside maps and lists.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createBatchWriter } from "../../../src/batch/batcher.ts";
import { convertRequest } from "../../../src/core/convert.ts";
import { config, MemoryLogger, TestStorage } from "../../batch/helpers.ts";
import { decompress as zstdDecompress } from "fzstd";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { generateRequest } from "../../../bench/gen.ts";
import { ensureParquet } from "../../../bench/core.ts";
import { decode } from "../../../src/core/otlp/index.ts";
import {
  DEFAULT_PARQUET,
  encodeParquet,
  flatColumns,
  PLAIN_COLUMNS,
} from "../../../src/core/parquet/encode.ts";
import { partition } from "../../../src/core/partition.ts";

const DICT = ["RLE_DICTIONARY", "PLAIN_DICTIONARY"];

async function logsFile(): Promise<{ file: Uint8Array; rows: number }> {
  await ensureParquet();
  const g = generateRequest("logs", { records: 400, seed: 12, services: 1 });
  const [p] = decode("logs", g.protobuf, "protobuf", { receivedAtNs: 1n }).tables.flatMap((t) =>
    partition(t)
  );
  return { file: encodeParquet(p.rows, DEFAULT_PARQUET), rows: p.rows.length };
}

function columnChunks(file: Uint8Array) {
  const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(buf);
  return new Map(
    meta.row_groups[0].columns.map((c) => [c.meta_data!.path_in_schema.join("."), c.meta_data!]),
  );
}

Deno.test("encodeParquet() dictionary-encodes repeated strings and writes unique ids, bodies and times plain", async () => {
  const { file } = await logsFile();
  const cols = columnChunks(file);
  const encodings = (path: string) => {
    const c = cols.get(path);
    ok(c, `no column chunk "${path}" in ${[...cols.keys()].join(", ")}`);
    return c.encodings as string[];
  };
  for (const c of ["ServiceName", "SeverityText", "ScopeName"]) {
    ok(encodings(c).some((e) => DICT.includes(e)), `${c}: ${encodings(c)}`);
  }
  const mapKey = [...cols.keys()].find((k) =>
    k.startsWith("ResourceAttributes.") && k.endsWith(".key")
  )!;
  ok(encodings(mapKey).some((e) => DICT.includes(e)), `${mapKey}: ${encodings(mapKey)}`);
  for (const c of PLAIN_COLUMNS.logs.filter((c) => cols.has(c))) {
    ok(!encodings(c).some((e) => DICT.includes(e)), `${c} should be plain: ${encodings(c)}`);
  }
  // The native encoder stores a chunk uncompressed when zstd would not make it smaller (tiny
  // chunks: one dictionary entry, a run of one index); every other chunk is zstd.
  for (const [path, c] of cols) {
    ok(
      c.codec === "ZSTD" || (c.codec === "UNCOMPRESSED" && c.total_compressed_size < 256n),
      `${path}: ${c.codec}, ${c.total_compressed_size} B`,
    );
  }
  ok([...cols.values()].filter((c) => c.codec === "ZSTD").length >= 5);
});

Deno.test("encodeParquet() writes statistics for the one-value-per-row columns and none inside maps and lists", async () => {
  for (const profile of ["default", "extended"] as const) {
    for (const signal of ["logs", "traces"] as const) {
      await ensureParquet();
      const g = generateRequest(signal, { records: 300, seed: 5, services: 1 });
      const [p] = decode(signal, g.protobuf, "protobuf", { receivedAtNs: 1n }).tables.flatMap((t) =>
        partition(t)
      );
      const cols = columnChunks(encodeParquet(p.rows, { ...DEFAULT_PARQUET, profile }));
      const flat = flatColumns(p.table, profile);
      ok(flat.includes("Timestamp") && flat.includes("ServiceName"), flat.join());
      ok(!flat.includes("ResourceAttributes"), flat.join());
      for (const [path, c] of cols) {
        if (flat.includes(path)) {
          ok(c.statistics?.min_value !== undefined, `${profile} ${path} has no statistics`);
        } else {
          ok(path.includes(".") || path.includes(","), path);
          strictEqual(c.statistics?.min_value, undefined, `${profile} ${path} has statistics`);
        }
      }
      // Timestamp's min/max are the rows' own (hyparquet gives them in milliseconds).
      const ts = p.rows.columns(profile).find(([n]) => n === "Timestamp")![1].toData()
        .values as BigInt64Array;
      let min = ts[0], max = ts[0];
      for (const t of ts) (min = t < min ? t : min), (max = t > max ? t : max);
      const st = cols.get("Timestamp")!.statistics!;
      strictEqual(Number(st.min_value), Number(min / 1_000_000n));
      strictEqual(Number(st.max_value), Number(max / 1_000_000n));
    }
  }
});

Deno.test("encodeParquet() with plain columns reads back every value", async () => {
  const { file, rows } = await logsFile();
  const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const read = await parquetReadObjects({
    file: buf,
    columns: ["TraceId", "Body", "ServiceName"],
    compressors: { ZSTD: (input: Uint8Array) => zstdDecompress(input) },
  });
  strictEqual(read.length, rows);
  ok(read.every((r) => typeof r.Body === "string" && r.Body.length >= 100), "bodies");
  ok(
    read.every((r) => r.TraceId === "" || /^[0-9a-f]{32}$/.test(r.TraceId as string)),
    "trace ids",
  );
  strictEqual(new Set(read.map((r) => r.ServiceName)).size, 1);
});

function mapEncodings(file: Uint8Array): { key: string[]; value: string[] } {
  const cols = columnChunks(file);
  const find = (end: string) =>
    cols.get(
      [...cols.keys()].find((k) => k.startsWith("ResourceAttributes.") && k.endsWith(end))!,
    )!.encodings as string[];
  return { key: find(".key"), value: find(".value") };
}

async function readAll(file: Uint8Array) {
  const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  return await parquetReadObjects({
    file: buf,
    compressors: { ZSTD: (input: Uint8Array) => zstdDecompress(input) },
  });
}

Deno.test("parquet.nested_dictionary = false writes map entries plain, top-level strings still with dictionaries, the same rows", async () => {
  await ensureParquet();
  const g = generateRequest("logs", { records: 400, seed: 12, services: 1 });
  const [p] = decode("logs", g.protobuf, "protobuf", { receivedAtNs: 1n }).tables.flatMap((t) =>
    partition(t)
  );
  const dict = encodeParquet(p.rows, DEFAULT_PARQUET);
  const plain = encodeParquet(p.rows, { ...DEFAULT_PARQUET, nestedDictionary: false });
  ok(mapEncodings(dict).key.some((e) => DICT.includes(e)), "default: map keys with a dictionary");
  const m = mapEncodings(plain);
  ok(!m.key.some((e) => DICT.includes(e)) && !m.value.some((e) => DICT.includes(e)), String(m.key));
  const cols = columnChunks(plain);
  for (const c of ["ServiceName", "SeverityText", "ScopeName"]) {
    ok((cols.get(c)!.encodings as string[]).some((e) => DICT.includes(e)), c);
  }
  ok(!(cols.get("Body")!.encodings as string[]).some((e) => DICT.includes(e)), "Body stays plain");
  deepStrictEqual(await readAll(plain), await readAll(dict));
});

Deno.test("the batching writer passes parquet.nested_dictionary to the encoder", async () => {
  await ensureParquet();
  const storage = new TestStorage();
  const w = await createBatchWriter({
    config: config({ durability: "memory" }, (c) => (c.parquet.nested_dictionary = false)),
    storage,
    logger: new MemoryLogger(),
  });
  const body = generateRequest("logs", { records: 50, seed: 3, services: 1 }).protobuf;
  const { partitions } = convertRequest("logs", body, "protobuf", { receivedAtNs: 1n });
  await w.write({ signal: "logs", format: "protobuf", body, receivedAtNs: 1n, partitions });
  await w.close();
  strictEqual(storage.objects.size, 1);
  const m = mapEncodings([...storage.objects.values()][0]);
  ok(!m.key.some((e) => DICT.includes(e)), String(m.key));
});
