/**
 * Retention: whole hour partitions older than a signal's retention are deleted. Only data files
 * of the key layout (./keys.ts) under the table dirs are touched: the write-ahead log, other
 * prefixes, compaction markers and foreign objects (even inside an expired partition) are never
 * deleted. A partition expires when its hour ended more than `days` days ago.
 */
import type { Logger } from "../log/log.ts";
import { type Signal, TABLE_NAMES, tableDir, type TableName } from "../core/tables.ts";
import type { StorageDriver } from "../storage/types.ts";
import { parseDataKey } from "./keys.ts";

/** Days to keep per signal; 0 keeps forever. */
export type RetentionDays = Record<Signal, number>;

export interface RetentionOptions {
  days: RetentionDays;
  /** List, delete nothing. */
  dryRun?: boolean;
  /** Milliseconds clock. */
  now?: () => number;
}

export interface RetentionReport {
  /** Partitions past retention (deleted, or that would be), oldest first. */
  partitions: { partition: string; table: TableName; hour: number; files: string[] }[];
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
    const byPartition = new Map<string, { hour: number; files: string[] }>();
    for (const key of await storage.list(`${tableDir(table)}/`)) {
      const k = parseDataKey(key);
      if (!k || k.table !== table) continue;
      if ((k.hour + 1) * 3_600_000 + days * DAY_MS > now) continue;
      const p = byPartition.get(k.partition) ?? { hour: k.hour, files: [] };
      p.files.push(key);
      byPartition.set(k.partition, p);
    }
    for (const [partition, p] of byPartition) {
      report.partitions.push({ partition, table, hour: p.hour, files: p.files });
    }
  }
  report.partitions.sort((a, b) => a.hour - b.hour || (a.partition < b.partition ? -1 : 1));
  if (opts.dryRun) return report;
  for (const p of report.partitions) {
    for (const f of p.files) {
      await storage.delete(f);
      report.deleted++;
    }
    log.info("partition past retention deleted", { partition: p.partition, files: p.files.length });
  }
  return report;
}
