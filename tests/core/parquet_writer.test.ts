/**
 * The Parquet writer settings of src/core/parquet.ts, read back from the file footer with
 * hyparquet: dictionary encoding on repeated strings (also inside maps), plain encoding on the
 * columns whose values are all different, statistics and the codec on every column.
 */
import { ok, strictEqual } from "node:assert/strict";
import { decompress as zstdDecompress } from "fzstd";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { generateRequest } from "../../bench/gen.ts";
import { ensureParquet } from "../../bench/core.ts";
import { decode } from "../../src/core/decode/index.ts";
import { DEFAULT_PARQUET, encodeParquet, PLAIN_COLUMNS } from "../../src/core/parquet.ts";
import { partition } from "../../src/core/partition.ts";

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
  for (const [path, c] of cols) {
    strictEqual(c.codec, "ZSTD", path);
    ok(c.statistics !== undefined, `${path} has no statistics`);
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
