/**
 * Storage lifecycle: compaction (./compact.ts: small files of an hour partition merged into a
 * few large ones sorted by time, crash-safe through a marker) and retention (./retention.ts:
 * whole hour partitions past a signal's retention deleted). Both read and write through a
 * `StorageDriver` only, so they run alike on a server (a timer), on Workers (a Cron Trigger),
 * on Lambda (an EventBridge schedule) and from the command line (`otlp2parquet compact`,
 * `otlp2parquet retention`). `runLifecycle` is one scheduled run: retention first (nothing is
 * compacted that is about to be deleted), then compaction within the run's budget.
 */
import { type Config, parquetOptions } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import type { StorageDriver } from "../storage/types.ts";
import {
  compact,
  type CompactionOptions,
  type CompactionReport,
  type TableCatalog,
} from "./compact.ts";
import { enforceRetention, type RetentionReport } from "./retention.ts";

export {
  compact,
  type CompactionOptions,
  type CompactionReport,
  recover,
  type TableCatalog,
} from "./compact.ts";
export { enforceRetention, type RetentionOptions, type RetentionReport } from "./retention.ts";
export { parseDataKey } from "./keys.ts";

/** Compaction options of `config` (`[compaction]`, `[parquet]`, `[schema]`), with overrides. */
export function compactionOptions(
  config: Config,
  more: Partial<CompactionOptions> = {},
): CompactionOptions {
  const c = config.compaction;
  return {
    minFiles: c.min_files,
    minAgeSecs: c.min_age_secs,
    targetBytes: c.target_bytes,
    maxInputBytes: c.max_input_bytes,
    maxPartitions: c.max_partitions,
    maxRunMs: c.max_run_secs * 1000,
    parquet: parquetOptions(config),
    ...more,
  };
}

/** Retention days of `config` per signal. */
export function retentionDays(config: Config): Record<"logs" | "traces" | "metrics", number> {
  const r = config.retention;
  return { logs: r.logs_days, traces: r.traces_days, metrics: r.metrics_days };
}

/** Whether `[retention]` keeps anything for a limited time. */
export function retentionOn(config: Config): boolean {
  const r = config.retention;
  return r.logs_days > 0 || r.traces_days > 0 || r.metrics_days > 0;
}

export interface LifecycleRun {
  retention: RetentionReport | null;
  compaction: CompactionReport | null;
}

/** Whether a schedule has anything to do: compaction enabled, or a retention limit. */
export function lifecycleOn(config: Config): boolean {
  return config.compaction.enabled || retentionOn(config);
}

/**
 * One scheduled run: retention (when a signal has a limit), then compaction (when enabled).
 * With `catalog.mode = "iceberg"` the entry passes the tables (`catalog`): retention commits
 * `delete` snapshots and compaction `replace` snapshots (../catalog/lifecycle.ts).
 */
export async function runLifecycle(
  storage: StorageDriver,
  config: Config,
  logger: Logger,
  now: () => number = Date.now,
  catalog?: TableCatalog,
): Promise<LifecycleRun> {
  if (config.catalog.mode === "iceberg" && !catalog) {
    throw new Error('internal: catalog.mode = "iceberg" and no catalog for the lifecycle run');
  }
  const retention = retentionOn(config)
    ? await enforceRetention(storage, { days: retentionDays(config), now, catalog }, logger)
    : null;
  const compaction = config.compaction.enabled
    ? await compact(storage, compactionOptions(config, { now, catalog }), logger)
    : null;
  logger.info("lifecycle run done", {
    deleted_files: retention?.deleted ?? 0,
    compacted_partitions: compaction?.partitions.length ?? 0,
    recovered: compaction?.recovered ?? 0,
    remaining_partitions: compaction?.remaining ?? 0,
  });
  return { retention, compaction };
}
