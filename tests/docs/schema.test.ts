/**
 * docs/schema.md against the code: the column tables of the page (names, order, types, profile)
 * must be the Arrow schema the writer uses for every table and both profiles
 * (src/core/tables.ts through `arrowSchema`), and its table dirs and plain (non-dictionary)
 * columns those of the code. The Parquet and DuckDB types behind each type name are checked on
 * real files by the e2e tests (tests/e2e/).
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import * as arrow from "apache-arrow";
import { arrowSchema, PLAIN_COLUMNS } from "../../src/core/parquet/encode.ts";
import {
  newTable,
  type Profile,
  TABLE_NAMES,
  tableDir,
  type TableName,
} from "../../src/core/tables.ts";

const PAGE = new URL("../../docs/schema.md", import.meta.url);

/** The type names of the page's Types section, from an Arrow type. */
function typeName(t: arrow.DataType): string {
  if (arrow.DataType.isTimestamp(t)) {
    return t.unit === arrow.TimeUnit.NANOSECOND && t.timezone === "UTC" ? "TS" : String(t);
  }
  if (arrow.DataType.isUtf8(t)) return "String";
  if (arrow.DataType.isBool(t)) return "Boolean";
  if (arrow.DataType.isFloat(t) && t.precision === arrow.Precision.DOUBLE) return "Float64";
  if (arrow.DataType.isInt(t)) return `${t.isSigned ? "Int" : "UInt"}${t.bitWidth}`;
  if (arrow.DataType.isMap(t)) return "Map";
  if (arrow.DataType.isList(t)) return `List<${typeName(t.children[0].type)}>`;
  return String(t);
}

interface DocColumn {
  name: string;
  type: string;
  profile: Profile;
}

/** Table rows (cells without the outer pipes) of the markdown section under `heading`. */
function rowsUnder(page: string, heading: RegExp): string[][] {
  const lines = page.split("\n");
  const start = lines.findIndex((l) => heading.test(l));
  ok(start >= 0, `docs/schema.md has no heading matching ${heading}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,3} /.test(line)) break;
    const l = line.trim(); // tables inside list items are indented
    if (!l.startsWith("|") || /^\|[-| ]+\|$/.test(l)) continue;
    rows.push(l.slice(1, -1).split("|").map((c) => c.trim()));
  }
  return rows;
}

const unquote = (c: string) => c.trim().replace(/`/g, "").replace(/\s*\(\*extended\*\)$/, "");

/** The columns of a `| # | column | type | from OTLP | profile |` table. */
function columnTable(rows: string[][]): DocColumn[] {
  return rows.slice(1).map((r) => ({
    name: unquote(r[1]),
    type: unquote(r[2]),
    profile: r[4] === "extended" ? "extended" : "default",
  }));
}

function docColumns(page: string): Record<TableName, DocColumn[]> {
  const logs = columnTable(rowsUnder(page, /^## `otel_logs`/));
  const traces = columnTable(rowsUnder(page, /^## `otel_traces`/));
  const metricRows = rowsUnder(page, /^## Metrics/);
  // The section's tables, told apart by their header rows.
  const tables: string[][][] = [];
  for (const r of metricRows) {
    if (r[0] === "#" || r[0] === "column" || r[0] === "table") tables.push([r]);
    else tables[tables.length - 1].push(r);
  }
  const [common, exemplars, perTable] = tables;
  const commonCols = columnTable(common);
  const ex: DocColumn[] = exemplars.slice(1).map((r) => ({
    name: unquote(r[0]),
    type: unquote(r[1]),
    profile: "default",
  }));
  const out: Partial<Record<TableName, DocColumn[]>> = { logs, traces };
  let current: DocColumn[] = [];
  for (const r of perTable.slice(1)) {
    if (r[0] !== "") {
      current = [...commonCols];
      out[r[0] as TableName] = current;
    }
    if (unquote(r[2]) === "EX") current.push(...ex);
    else {
      current.push({
        name: unquote(r[2]),
        type: unquote(r[3]),
        profile: r[2].includes("*extended*") ? "extended" : "default",
      });
    }
  }
  // "every metric table then ends with the extended ServiceNamespace and ServiceInstanceId"
  for (const t of ["gauge", "sum", "histogram", "exponential_histogram", "summary"] as const) {
    out[t]!.push(
      { name: "ServiceNamespace", type: "String", profile: "extended" },
      { name: "ServiceInstanceId", type: "String", profile: "extended" },
    );
  }
  return out as Record<TableName, DocColumn[]>;
}

const page = Deno.readTextFileSync(PAGE);

Deno.test("docs/schema.md lists every column of every table and profile as the writer's schema has it", () => {
  const docs = docColumns(page);
  for (const table of TABLE_NAMES) {
    for (const profile of ["default", "extended"] as const) {
      const code = arrowSchema(newTable(table), profile).fields.map((f) =>
        `${f.name} ${typeName(f.type)}`
      );
      const doc = docs[table]
        .filter((c) => profile === "extended" || c.profile === "default")
        .map((c) => `${c.name} ${c.type}`);
      deepStrictEqual(doc, code, `docs/schema.md, table ${table}, profile ${profile}`);
    }
  }
});

Deno.test("docs/schema.md names the table dirs and the plain columns of the code", () => {
  const dirs = rowsUnder(page, /^## Object keys/)
    .filter((r) => /^`(logs|traces|metrics\/\w+)`$/.test(r[0]))
    .map((r) => unquote(r[0]));
  deepStrictEqual(dirs, TABLE_NAMES.map(tableDir));
  const plain = Object.fromEntries(
    rowsUnder(page, /^## Parquet encoding/).slice(1).map((r) => [
      r[0],
      r[1].split(",").map(unquote),
    ]),
  );
  deepStrictEqual(plain.logs, [...PLAIN_COLUMNS.logs]);
  deepStrictEqual(plain.traces, [...PLAIN_COLUMNS.traces]);
  for (const t of ["gauge", "sum", "histogram", "exponential_histogram", "summary"] as const) {
    deepStrictEqual(plain["every metric table"], [...PLAIN_COLUMNS[t]], t);
  }
});

Deno.test("the schema check notices a column missing from the page", () => {
  const broken = page.replace(/^\| 13 \| `Duration` .*\n/m, "");
  ok(broken !== page);
  const traces = docColumns(broken).traces.map((c) => c.name);
  ok(!traces.includes("Duration"));
  const code = arrowSchema(newTable("traces"), "default").fields.map((f) => f.name);
  ok(code.includes("Duration"));
});
