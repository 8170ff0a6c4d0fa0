/**
 * The core benchmark keeps working: the generator's protobuf and OTLP/JSON encodings decode to
 * the same rows, and a tiny run of bench/core.ts produces every stage and ratio for every signal.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { generateRequest, type GenSignal } from "../../bench/gen.ts";
import { coreTable, runCore } from "../../bench/core.ts";
import { decode } from "../../src/core/decode/index.ts";
import { toRecordBatch } from "../../src/core/parquet.ts";
import type { TableBuilder } from "../../src/core/tables.ts";

const SIGNALS: GenSignal[] = ["logs", "traces", "metrics"];

Deno.test("the generator's protobuf and OTLP/JSON encodings of a request decode to the same rows", () => {
  const opts = { receivedAtNs: 1n };
  for (const s of SIGNALS) {
    const g = generateRequest(s, { records: 120, seed: 9 });
    const a = decode(s, g.protobuf, "protobuf", opts);
    const b = decode(s, g.jsonBytes, "json", opts);
    strictEqual(a.records, 120, `${s}: protobuf records`);
    strictEqual(b.records, 120, `${s}: JSON records`);
    strictEqual(a.rejected, 0, `${s}: rejected ${a.message}`);
    deepStrictEqual(a.tables.map((t) => t.table), b.tables.map((t) => t.table));
    for (let i = 0; i < a.tables.length; i++) {
      deepStrictEqual(
        rows(a.tables[i]),
        rows(b.tables[i]),
        `${s}/${a.tables[i].table}: rows differ`,
      );
    }
  }
});

function rows(t: TableBuilder): string[] {
  const batch = toRecordBatch(t, "extended");
  const out: string[] = [];
  for (let i = 0; i < batch.numRows; i++) {
    out.push(
      JSON.stringify(batch.get(i)?.toJSON(), (_k, v) => (typeof v === "bigint" ? `${v}n` : v)),
    );
  }
  return out;
}

Deno.test("a tiny core benchmark run reports every stage, ratio and memory figure", async () => {
  const r = await runCore({ records: 30, runs: 1, warmup: 0, print: false });
  deepStrictEqual(r.signals.map((s) => s.signal), SIGNALS);
  for (const s of r.signals) {
    strictEqual(s.records, 30);
    deepStrictEqual(s.stages.map((x) => x.stage), [
      "decode",
      "decodeJson",
      "convert",
      "toIPC",
      "fromIPC",
      "write",
      "encode",
      "e2e",
      "e2eJson",
      "jsonParse",
    ]);
    for (const x of s.stages) {
      ok(Number.isFinite(x.recordsPerSec) && x.recordsPerSec > 0, `${s.signal}/${x.stage}`);
    }
    ok(s.parquetBytes > 0 && s.partitions >= 1);
    ok(Number.isFinite(s.floorRatio) && s.floorRatio > 0);
    ok(Number.isFinite(s.overheadRatio) && s.overheadRatio > 0);
    ok(s.memory.wasmAfterMB > 0 && s.memory.rssBeforeMB > 0 && s.memory.columnsMB > 0);
  }
  ok(r.machine.nproc >= 1 && r.machine.deno.length > 0);
  // The stream with the server's encoder: main thread, then 1 and 2 worker threads, and the
  // same Parquet bytes whichever thread wrote them.
  deepStrictEqual(
    r.threads!.map((t) => [t.signal, t.where]),
    SIGNALS.flatMap((s) => [
      [s, "main thread"],
      [s, "1 worker thread"],
      [s, "2 worker threads"],
    ]),
  );
  for (const t of r.threads!) {
    ok(t.recordsPerSec > 0 && t.cores > 0, `${t.signal}/${t.where}`);
    const base = r.threads!.find((x) => x.signal === t.signal && x.threads === 0)!;
    strictEqual(t.parquetBytes, base.parquetBytes);
  }
  const table = coreTable(r);
  ok(table.includes("| logs | e2e |") && table.includes("| metrics |"), table);
});
