/**
 * The durable pending list: data files stored but not yet committed to their Iceberg table.
 * A writer's `fileStored` hook adds each file (before the file counts as done, so a stored file
 * is never missing from the list); the committer (./committer.ts) removes them once a snapshot
 * holds them. One small record per file, named by a hash of its key, so adding a file twice
 * (a writer retrying it) keeps one.
 *
 * Where it lives is injected (`KeyValueStore`): server, a directory beside the write-ahead log
 * (./pending-fs.node.ts); Lambda and Workers writing through, small objects under a prefix in
 * the storage (`storageKeyValue`); the batching Durable Object, its own storage.
 *
 * Record: JSON `{ "v": 1, "addedAtMs": N, "file": DataFile }` (./metrics.ts).
 */
import type { TableName } from "../core/tables.ts";
import type { StorageDriver } from "../storage/types.ts";
import type { DataFile } from "./metrics.ts";

/** Durable small records by name (names: `[A-Za-z0-9._-]`). */
export interface KeyValueStore {
  /** Stores `data` under `name`; resolves once durable. */
  put(name: string, data: Uint8Array): Promise<void>;
  /** The record, or null. */
  get(name: string): Promise<Uint8Array | null>;
  /** Every name. */
  list(): Promise<string[]>;
  /** Removes the record (none there is fine). */
  delete(name: string): Promise<void>;
}

export interface PendingFile {
  addedAtMs: number;
  file: DataFile;
}

export class PendingList {
  constructor(readonly store: KeyValueStore, private readonly now = () => Date.now()) {}

  /** Adds `file` (idempotent: the same key twice is one record). */
  async add(file: DataFile): Promise<void> {
    const rec = { v: 1, addedAtMs: this.now(), file };
    await this.store.put(await recordName(file.table, file.key), encode(rec));
  }

  /** Every pending file (records that cannot be read are reported by `onBad` and skipped). */
  async all(onBad?: (name: string, why: string) => void): Promise<PendingFile[]> {
    const out: PendingFile[] = [];
    for (const name of await this.store.list()) {
      if (!name.endsWith(".json")) continue;
      const b = await this.store.get(name);
      if (!b) continue;
      try {
        const rec = JSON.parse(new TextDecoder().decode(b)) as PendingFile & { v: number };
        if (rec.v !== 1 || !rec.file?.key) throw new Error("not a pending record");
        out.push({ addedAtMs: rec.addedAtMs, file: rec.file });
      } catch (e) {
        onBad?.(name, e instanceof Error ? e.message : String(e));
      }
    }
    return out;
  }

  /** Pending files of `table` count, by table (cheap: names only). */
  async counts(): Promise<Map<TableName, number>> {
    const out = new Map<TableName, number>();
    for (const name of await this.store.list()) {
      if (!name.endsWith(".json")) continue;
      const t = name.slice(0, name.indexOf(".")) as TableName;
      out.set(t, (out.get(t) ?? 0) + 1);
    }
    return out;
  }

  /** Removes the records of `keys` of `table`. */
  async remove(table: TableName, keys: readonly string[]): Promise<void> {
    for (const k of keys) await this.store.delete(await recordName(table, k));
  }
}

/** `{table}.{first 32 hex digits of SHA-256(key)}.json`. */
export async function recordName(table: TableName, key: string): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)),
  );
  let hex = "";
  for (let i = 0; i < 16; i++) hex += d[i].toString(16).padStart(2, "0");
  return `${table}.${hex}.json`;
}

function encode(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

/** A `KeyValueStore` of objects under `prefix` in `storage` (Lambda, Workers writing through). */
export function storageKeyValue(storage: StorageDriver, prefix: string): KeyValueStore {
  return {
    put: (name, data) => storage.put(prefix + name, data),
    get: (name) => storage.get(prefix + name),
    list: async () => (await storage.list(prefix)).map((k) => k.slice(prefix.length)),
    delete: (name) => storage.delete(prefix + name),
  };
}

/** A `KeyValueStore` in memory (tests; `durability = "memory"` has nothing better). */
export function memoryKeyValue(): KeyValueStore & { map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>();
  return {
    map,
    put: (n, d) => (map.set(n, d.slice()), Promise.resolve()),
    get: (n) => Promise.resolve(map.get(n) ?? null),
    list: () => Promise.resolve([...map.keys()].sort()),
    delete: (n) => (map.delete(n), Promise.resolve()),
  };
}

/** Where pending objects go in the storage (Lambda, Workers writing through). */
export const PENDING_PREFIX = "_iceberg/pending/";
