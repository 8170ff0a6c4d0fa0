/**
 * Retention: whole hour partitions older than a signal's retention are deleted. Only data files
 * of the key layout (./keys.ts) under the table dirs are touched: the write-ahead log, other
 * prefixes, compaction markers and foreign objects (even inside an expired partition) are never
 * deleted. A partition expires when its hour ended more than `days` days ago.
 *
 * With an Iceberg catalog (`catalog`, ../catalog/lifecycle.ts), per table one `delete` snapshot
 * removes the expired files from the table first, and only then are they deleted from the
 * storage (a run that dies in between: the next one finds them out of the table and deletes
 * them). Only files the current snapshot lists are expired: one not in the table (still pending
 * its append, or never to be in it) is left and reported (`left`); once committed, the next run
 * expires it.
 */
import type { Logger } from "../log/log.ts";
import { type Signal, TABLE_NAMES, tableDir, type TableName } from "../core/tables.ts";
import type { StorageDriver } from "../storage/types.ts";
import { parseDataKey } from "./keys.ts";
import type { TableCatalog } from "./compact.ts";

/** Days to keep per signal; 0 keeps forever. */
export type RetentionDays = Record<Signal, number>;

export interface RetentionOptions {
  days: RetentionDays;
  /** List, delete nothing. */
  dryRun?: boolean;
  /** Milliseconds clock. */
  now?: () => number;
  /** The Iceberg tables the files are in (`catalog.mode = "iceberg"`; see the top). */
  catalog?: TableCatalog;
}

export interface RetentionReport {
  /** Partitions past retention (deleted, or that would be), oldest first. */
  partitions: {
    partition: string;
    table: TableName;
    service: string;
    hour: number;
    files: string[];
    /** With a catalog: files of the partition not in the table, left in the storage. */
    left?: string[];
  }[];
  deleted: number;
  dryRun: boolean;
}

const DAY_MS = 86_400_000;

export function signalOf(table: TableName): Signal {
  return table === "logs" ? "logs" : table === "traces" ? "traces" : "metrics";
}

/** Deletes (or lists, on a dry run) the data files of every partition past retention. */
export async function enforceRetention(
  storage: StorageDriver,
  opts: RetentionOptions,
  log: Logger,
): Promise<RetentionReport> {
  const now = (opts.now ?? Date.now)();
  const report: RetentionReport = { partitions: [], deleted: 0, dryRun: !!opts.dryRun };
  for (const table of TABLE_NAMES) {
    const days = opts.days[signalOf(table)];
    if (!(days > 0)) continue;
    const byPartition = new Map<string, { service: string; hour: number; files: string[] }>();
    for (const key of await storage.list(`${tableDir(table)}/`)) {
      const k = parseDataKey(key);
      if (!k || k.table !== table) continue;
      if ((k.hour + 1) * 3_600_000 + days * DAY_MS > now) continue;
      const p = byPartition.get(k.partition) ?? { service: k.service, hour: k.hour, files: [] };
      p.files.push(key);
      byPartition.set(k.partition, p);
    }
    const found: RetentionReport["partitions"] = [...byPartition].map(([partition, p]) => ({
      partition,
      table,
      ...p,
    }));
    if (opts.catalog && found.length) {
      // Only what the table lists goes, and out of the table first (see the top).
      const live = await opts.catalog.liveKeys(table, found);
      for (const p of found) {
        p.left = p.files.filter((f) => !live.has(f));
        p.files = p.files.filter((f) => live.has(f));
      }
      const keys = found.flatMap((p) => p.files).sort();
      if (keys.length && !opts.dryRun) {
        await opts.catalog.delete(table, await idOf(keys), found, keys, now);
      }
      for (const p of found) {
        if (p.left?.length) {
          log.info("files past retention not in the Iceberg table are left", {
            partition: p.partition,
            files: p.left.length,
          });
        }
      }
    }
    report.partitions.push(...found.filter((p) => p.files.length || p.left?.length));
  }
  report.partitions.sort((a, b) => a.hour - b.hour || (a.partition < b.partition ? -1 : 1));
  if (opts.dryRun) return report;
  for (const p of report.partitions) {
    if (!p.files.length) continue;
    for (const f of p.files) {
      await storage.delete(f);
      report.deleted++;
    }
    log.info("partition past retention deleted", { partition: p.partition, files: p.files.length });
  }
  return report;
}

/** 16 hex digits of the SHA-256 of the sorted keys (the `delete` snapshot's commit id). */
async function idOf(keys: readonly string[]): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(keys.join("\n"))),
  );
  let hex = "";
  for (let i = 0; i < 8; i++) hex += d[i].toString(16).padStart(2, "0");
  return hex;
}
