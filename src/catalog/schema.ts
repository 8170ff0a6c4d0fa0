/**
 * Iceberg schemas of the output tables (docs/schema.md), with stable field ids, and the partition
 * spec; and the Arrow schema of a data file written for an Iceberg table (Parquet field ids,
 * Iceberg's types).
 *
 * Field ids (documented in README.md, "Iceberg tables"; they never change for a table): the
 * ids Iceberg's own `assignFreshIds` gives, which catalogs built on Iceberg's Java library
 * (Nessie, Polaris, Gravitino, …) apply to a table they create, so the ids a catalog ends up
 * with are the ones our data files carry even before the table exists:
 * - the N top-level columns of the profile, in order, have ids 1..N (the default profile's
 *   columns lead the extended profile's, so they have the same ids in both);
 * - then the nested fields, column by column, depth first, from N + 1: a map's key then its
 *   value, a list's element (then what the element holds);
 * - partition fields: 1000 `ServiceName` (identity), 1001 `<time column>_hour` (hour).
 *
 * Types: strings → `string`, `UInt8` and `Int32` → `int`, `UInt32` and `UInt64` → `long`
 * (Iceberg has no unsigned types; a UInt64 past 2^63 − 1 would wrap, which no duration in
 * nanoseconds or count reaches), `Float64` → `double`, `Boolean` → `boolean`, the timestamps →
 * `timestamptz` (format version 2: microseconds) or `timestamptz_ns` (format version 3),
 * `AttrMap` → `map<string, string>`, `List<T>` → `list<T>`; every field required.
 */
import * as arrow from "apache-arrow";
import type { Column } from "../core/columns/index.ts";
import { newTable, type Profile, type TableName, TIME_COLUMN } from "../core/tables.ts";

export type FormatVersion = 2 | 3;

/** An Iceberg type as the table metadata JSON writes it. */
export type IcebergType =
  | string
  | { type: "list"; "element-id": number; element: IcebergType; "element-required": boolean }
  | {
    type: "map";
    "key-id": number;
    key: IcebergType;
    "value-id": number;
    value: IcebergType;
    "value-required": boolean;
  }
  | { type: "struct"; fields: IcebergField[] };

export interface IcebergField {
  id: number;
  name: string;
  required: boolean;
  type: IcebergType;
  doc?: string;
}

export interface IcebergSchema {
  type: "struct";
  "schema-id": number;
  fields: IcebergField[];
}

export interface PartitionField {
  "source-id": number;
  "field-id": number;
  name: string;
  transform: "identity" | "hour";
}

export interface PartitionSpec {
  "spec-id": number;
  fields: PartitionField[];
}

/** Iceberg table names of the output tables (metrics are prefixed, as the Collector's are). */
export const ICEBERG_TABLE: Record<TableName, string> = {
  logs: "logs",
  traces: "traces",
  gauge: "metrics_gauge",
  sum: "metrics_sum",
  histogram: "metrics_histogram",
  exponential_histogram: "metrics_exponential_histogram",
  summary: "metrics_summary",
};

/** The Arrow field metadata key arrow-rs (parquet-wasm) writes as a Parquet field id. */
export const PARQUET_FIELD_ID = "PARQUET:field_id";

export const PARTITION_SERVICE_ID = 1000;
export const PARTITION_HOUR_ID = 1001;

/**
 * Field id of every top-level column of `table`, by name (the extended profile's order; the
 * default profile's columns are its first ones, with the same ids).
 */
export function columnIds(table: TableName): Map<string, number> {
  let ids = idCache.get(table);
  if (ids === undefined) {
    ids = new Map(newTable(table).columns("extended").map(([name], i) => [name, i + 1]));
    idCache.set(table, ids);
  }
  return ids;
}

const idCache = new Map<TableName, Map<string, number>>();

/** The Iceberg schema (id 0) of `table` written with `profile`. */
export function icebergSchema(
  table: TableName,
  profile: Profile,
  version: FormatVersion,
): IcebergSchema {
  const cols = newTable(table).columns(profile);
  const next = { id: cols.length };
  const fields = cols.map(([name, c], i) => ({
    id: i + 1,
    name,
    required: true,
    type: icebergType(c.type, next, version),
  }));
  return { type: "struct", "schema-id": 0, fields };
}

/** The highest field id in `schema`. */
export function lastColumnId(schema: IcebergSchema): number {
  let max = 0;
  const visit = (t: IcebergType) => {
    if (typeof t === "string") return;
    if (t.type === "list") {
      max = Math.max(max, t["element-id"]);
      visit(t.element);
    } else if (t.type === "map") {
      max = Math.max(max, t["key-id"], t["value-id"]);
      visit(t.key);
      visit(t.value);
    } else {
      for (const f of t.fields) max = Math.max(max, f.id), visit(f.type);
    }
  };
  for (const f of schema.fields) max = Math.max(max, f.id), visit(f.type);
  return max;
}

/** The partition spec (id 0): identity(ServiceName), hour(time column). */
export function partitionSpec(table: TableName): PartitionSpec {
  const ids = columnIds(table);
  const time = TIME_COLUMN[table];
  return {
    "spec-id": 0,
    fields: [
      {
        "source-id": ids.get("ServiceName")!,
        "field-id": PARTITION_SERVICE_ID,
        name: "ServiceName",
        transform: "identity",
      },
      {
        "source-id": ids.get(time)!,
        "field-id": PARTITION_HOUR_ID,
        name: `${time}_hour`,
        transform: "hour",
      },
    ],
  };
}

/**
 * The Iceberg type of an Arrow column type; nested fields take ids from `next` (the last one
 * given out), depth first.
 */
function icebergType(
  t: arrow.DataType,
  next: { id: number },
  version: FormatVersion,
): IcebergType {
  const walk = (t: arrow.DataType): IcebergType => {
    if (arrow.DataType.isMap(t)) {
      const entries = t.children[0].type as arrow.Struct;
      const keyId = ++next.id, valueId = ++next.id;
      return {
        type: "map",
        "key-id": keyId,
        key: walk(entries.children[0].type),
        "value-id": valueId,
        value: walk(entries.children[1].type),
        "value-required": true,
      };
    }
    if (arrow.DataType.isList(t)) {
      const elementId = ++next.id;
      return {
        type: "list",
        "element-id": elementId,
        element: walk(t.children[0].type),
        "element-required": true,
      };
    }
    if (arrow.DataType.isTimestamp(t)) return version >= 3 ? "timestamptz_ns" : "timestamptz";
    if (arrow.DataType.isUtf8(t)) return "string";
    if (arrow.DataType.isBool(t)) return "boolean";
    if (arrow.DataType.isFloat(t)) return "double";
    if (arrow.DataType.isInt(t)) {
      const i = t as arrow.Int;
      return i.bitWidth < 32 || (i.bitWidth === 32 && i.isSigned) ? "int" : "long";
    }
    throw new TypeError(`internal: no Iceberg type for Arrow type ${t}`);
  };
  return walk(t);
}

// ---------------------------------------------------------------------------------------------
// The Arrow schema of a data file of an Iceberg table

const TS_US = new arrow.TimestampMicrosecond("UTC");
const TS_NS = new arrow.TimestampNanosecond("UTC");
const INT32 = new arrow.Int32();
const INT64 = new arrow.Int64();

/**
 * The Arrow type a column is written as in an Iceberg table's data file: the Iceberg type's
 * Parquet form (timestamps in microseconds for version 2, signed integers), with every nested
 * field carrying its Parquet field id. The Arrow IPC writer (../core/arrow/ipc.ts) converts the
 * builders' values to it.
 */
function icebergArrowType(
  t: arrow.DataType,
  next: { id: number },
  version: FormatVersion,
): arrow.DataType {
  const idMeta = (id: number) => new Map([[PARQUET_FIELD_ID, String(id)]]);
  const walk = (t: arrow.DataType): arrow.DataType => {
    if (arrow.DataType.isMap(t)) {
      const entries = t.children[0].type as arrow.Struct;
      const keyId = ++next.id, valueId = ++next.id;
      const k = entries.children[0], v = entries.children[1];
      const struct = new arrow.Struct([
        new arrow.Field(k.name, walk(k.type), false, idMeta(keyId)),
        new arrow.Field(v.name, walk(v.type), false, idMeta(valueId)),
      ]);
      return new arrow.Map_(new arrow.Field(t.children[0].name, struct, false), true);
    }
    if (arrow.DataType.isList(t)) {
      const elementId = ++next.id;
      const item = t.children[0];
      return new arrow.List(new arrow.Field(item.name, walk(item.type), false, idMeta(elementId)));
    }
    if (arrow.DataType.isTimestamp(t)) return version >= 3 ? TS_NS : TS_US;
    if (arrow.DataType.isInt(t)) {
      const i = t as arrow.Int;
      if (i.isSigned && (i.bitWidth === 32 || i.bitWidth === 64)) return t;
      return i.bitWidth < 32 ? INT32 : INT64;
    }
    return t;
  };
  return walk(t);
}

/** The Arrow schema of `table`'s data files under `profile` for an Iceberg table. */
export function icebergArrowSchema(
  table: TableName,
  columns: readonly [string, Column][],
  version: FormatVersion,
): arrow.Schema {
  const ids = columnIds(table);
  const next = { id: columns.length };
  return new arrow.Schema(columns.map(([name, c]) => {
    const id = ids.get(name)!;
    return new arrow.Field(
      name,
      icebergArrowType(c.type, next, version),
      false,
      new Map([[PARQUET_FIELD_ID, String(id)]]),
    );
  }));
}
