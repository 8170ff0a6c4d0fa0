/**
 * The `compact` and `retention` commands: one lifecycle run over the configured storage, what
 * was done printed per partition on stdout. Exit codes: 0 done, 1 a failure (storage).
 */
import type { Config } from "../config/types.ts";
import { initParquetFromDisk } from "../core/parquet/wasm.node.ts";
import { compact, compactionOptions, enforceRetention, retentionDays } from "../lifecycle/index.ts";
import type { Logger } from "../log/log.ts";
import { createStorage } from "../storage/index.ts";
import type { ParsedArgs } from "./args.ts";
import type { StorageDriver } from "../storage/types.ts";
import type { TableCatalog } from "../lifecycle/index.ts";

/** Iceberg mode: the tables, as the server's committer names their files (./serve.ts). */
async function tablesOf(
  config: Config,
  logger: Logger,
  storage: StorageDriver,
): Promise<TableCatalog | undefined> {
  if (config.catalog.mode !== "iceberg") return undefined;
  const { icebergFor } = await import("./serve.ts");
  const { IcebergLifecycle } = await import("../catalog/index.ts");
  return new IcebergLifecycle(await icebergFor(config, logger, storage));
}

const HOUR_MS = 3_600_000;

export async function compactCommand(
  config: Config,
  logger: Logger,
  args: ParsedArgs,
): Promise<number> {
  initParquetFromDisk();
  const storage = await createStorage(config, logger);
  try {
    const r = await compact(
      storage,
      compactionOptions(config, {
        table: args.table,
        service: args.service,
        sinceHour: args.sinceMs === undefined ? undefined : Math.floor(args.sinceMs / HOUR_MS),
        untilHour: args.untilMs === undefined ? undefined : Math.ceil(args.untilMs / HOUR_MS),
        dryRun: args.dryRun,
        catalog: await tablesOf(config, logger, storage),
      }),
      logger,
    );
    if (r.recovered > 0) console.log(`finished or undid ${r.recovered} interrupted compactions`);
    for (const p of r.partitions) {
      console.log(
        `${p.partition}: ${p.filesBefore} files → ${p.filesAfter}, ${size(p.bytesBefore)} → ${
          r.dryRun ? "about the same" : size(p.bytesAfter)
        }${p.rows >= 0 ? `, ${p.rows} rows` : ""}${r.dryRun ? " (dry run)" : ""}`,
      );
    }
    const verb = r.dryRun ? "would compact" : "compacted";
    console.log(
      `${verb} ${r.partitions.length} partitions${
        r.remaining
          ? `; ${r.remaining} left for the next run (compaction.max_partitions, max_run_secs)`
          : ""
      }`,
    );
    return 0;
  } catch (e) {
    console.error(`otlp2parquet compact: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await storage.close?.();
  }
}

export async function retentionCommand(
  config: Config,
  logger: Logger,
  args: ParsedArgs,
): Promise<number> {
  const days = retentionDays(config);
  if (!(days.logs > 0 || days.traces > 0 || days.metrics > 0)) {
    console.log("retention keeps everything: set retention.logs_days, traces_days or metrics_days");
    return 0;
  }
  const storage = await createStorage(config, logger);
  try {
    const catalog = await tablesOf(config, logger, storage);
    const r = await enforceRetention(storage, { days, dryRun: args.dryRun, catalog }, logger);
    for (const p of r.partitions) {
      console.log(
        `${p.partition}: ${p.files.length} files${r.dryRun ? " (dry run)" : " deleted"}${
          p.left?.length ? `; ${p.left.length} not in the Iceberg table left` : ""
        }`,
      );
    }
    const files = r.partitions.reduce((n, p) => n + p.files.length, 0);
    console.log(
      `${
        r.dryRun ? "would delete" : "deleted"
      } ${r.partitions.length} partitions (${files} files) past retention (logs ${
        days.logs || "∞"
      }, traces ${days.traces || "∞"}, metrics ${days.metrics || "∞"} days)`,
    );
    return 0;
  } catch (e) {
    console.error(`otlp2parquet retention: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await storage.close?.();
  }
}

function size(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}
