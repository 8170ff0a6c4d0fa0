/**
 * partition() splits decoded rows by (service, hour): contiguous groups become slices of the
 * decoded columns (no copy), scattered groups are gathered with take(); both must hold exactly the
 * rows of their group, in order, and slices must not change when either side is appended to.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { generateRequest } from "../../bench/gen.ts";
import { MapCol, Utf8Col } from "../../src/core/columns/index.ts";
import { decode } from "../../src/core/otlp/index.ts";
import { toIPC } from "../../src/core/parquet/encode.ts";
import { partition } from "../../src/core/partition.ts";
import type { TableBuilder } from "../../src/core/tables.ts";
import { recordBatchRows } from "./fixtures.ts";

const opts = { receivedAtNs: 1n };

const rows = recordBatchRows;

/** Rows of `t` grouped by ServiceName in first-seen order: what partition() must produce. */
function expectedGroups(t: TableBuilder): Map<string, string[]> {
  const all = rows(t);
  const svc = (t.cols as unknown as { ServiceName: Utf8Col }).ServiceName;
  const dec = new TextDecoder();
  const out = new Map<string, string[]>();
  for (let i = 0; i < all.length; i++) {
    const s = dec.decode(svc.bytesAt(i));
    if (!out.has(s)) out.set(s, []);
    out.get(s)!.push(all[i]);
  }
  return out;
}

Deno.test("partition() slices contiguous service groups and keeps every row in order", () => {
  for (const signal of ["logs", "traces", "metrics"] as const) {
    const g = generateRequest(signal, { records: 300, seed: 21, services: 3 });
    for (const t of decode(signal, g.protobuf, "protobuf", opts).tables) {
      const parts = partition(t);
      const want = expectedGroups(t);
      deepStrictEqual(parts.map((p) => p.service), [...want.keys()], `${signal}/${t.table}`);
      for (const p of parts) {
        deepStrictEqual(rows(p.rows), want.get(p.service), `${t.table}/${p.service}`);
      }
    }
  }
});

Deno.test("partition() gathers scattered service groups the same way", () => {
  const g = generateRequest("logs", { records: 90, seed: 4, services: 3 });
  const t = decode("logs", g.protobuf, "protobuf", opts).tables[0];
  // Interleave the services: row order 0, 30, 60, 1, 31, 61, …
  const order = new Int32Array(90);
  for (let i = 0; i < 90; i++) order[i] = (i % 3) * 30 + Math.floor(i / 3);
  const mixed = t.take(order);
  const parts = partition(mixed);
  const want = expectedGroups(mixed);
  strictEqual(parts.length, 3);
  for (const p of parts) deepStrictEqual(rows(p.rows), want.get(p.service));
});

Deno.test("a slice encodes like a copy of the same rows and survives appends on both sides", () => {
  const g = generateRequest("traces", { records: 120, seed: 8 });
  const t = decode("traces", g.protobuf, "protobuf", opts).tables[0];
  const parts = partition(t);
  const p = parts[1];
  const before = rows(p.rows);
  const start = parts[0].rows.length;
  const copy = t.take(Int32Array.from({ length: p.rows.length }, (_, i) => start + i));
  deepStrictEqual(toIPC(p.rows, "extended"), toIPC(copy, "extended"));

  // Appending to the original builder after slicing leaves the slice as it was…
  const attrs = (t.cols as unknown as { SpanAttributes: MapCol }).SpanAttributes;
  const name = (t.cols as unknown as { SpanName: Utf8Col }).SpanName;
  name.appendString("appended after the slice");
  attrs.keys.appendString("k");
  attrs.values.appendString("v");
  attrs.endSortedRow();
  deepStrictEqual(rows(p.rows), before);

  // …and appending to the slice (what a batch buffer does) copies instead of writing into the
  // shared buffers, so the next group is untouched.
  const next = rows(parts[2].rows);
  const sliceName = (p.rows.cols as unknown as { SpanName: Utf8Col }).SpanName;
  sliceName.appendString("x".repeat(50));
  const sliceAttrs = (p.rows.cols as unknown as { SpanAttributes: MapCol }).SpanAttributes;
  sliceAttrs.appendFrom(sliceAttrs.slice(0, 2));
  deepStrictEqual(rows(parts[2].rows), next);
  strictEqual(new TextDecoder().decode(sliceName.bytesAt(sliceName.length - 1)), "x".repeat(50));
});
