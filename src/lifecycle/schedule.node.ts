/**
 * The server's lifecycle schedule: every `compaction.interval_secs` (the first one a minute after
 * start, or sooner with a shorter interval, so a restart loop does not compact over and over), one run of retention and compaction on a
 * thread of its own (./lifecycle-thread.node.ts), never two at once. `stop()` ends the schedule
 * and a run in progress (a run cut short is finished or undone by the next, see ./compact.ts).
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import { startThread, type Thread, threadModule } from "../threads/thread.node.ts";
import { lifecycleOn } from "./index.ts";
import type { FromLifecycle, ToLifecycle } from "./lifecycle-thread.node.ts";

/** Delay of the first run after start. */
export const FIRST_RUN_DELAY_MS = 60_000;

export interface LifecycleSchedule {
  /** Runs once now (tests, and the first run); resolves when it is done. */
  runNow(): Promise<FromLifecycle>;
  stop(): Promise<void>;
}

export function scheduleLifecycle(
  config: Config,
  wasm: Uint8Array,
  logger: Logger,
  firstDelayMs = FIRST_RUN_DELAY_MS,
): LifecycleSchedule | null {
  if (!lifecycleOn(config)) return null;
  let stopped = false;
  let current: { thread: Thread<ToLifecycle> | null; done: Promise<FromLifecycle> } | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const runNow = (): Promise<FromLifecycle> => {
    if (current) return current.done;
    const run: { thread: Thread<ToLifecycle> | null; done: Promise<FromLifecycle> } = {
      thread: null,
      done: Promise.resolve({ type: "failed", error: "not started" }),
    };
    run.done = new Promise<FromLifecycle>((resolve) => {
      let settled = false;
      const finish = (m: FromLifecycle) => {
        if (settled) return;
        settled = true;
        run.thread?.terminate();
        if (current === run) current = null;
        if (m.type === "failed") logger.error("lifecycle run failed", { error: m.error });
        resolve(m);
      };
      startThread<ToLifecycle, FromLifecycle>(
        threadModule(import.meta.url, "lifecycle", "lifecycle-thread"),
        "otlp2parquet-lifecycle",
        finish,
        (why) => finish({ type: "failed", error: `the lifecycle thread stopped: ${why}` }),
      ).then((t) => {
        run.thread = t;
        if (settled) return t.terminate();
        t.hold(true);
        t.post({ type: "run", config, wasm });
      }, (e) => finish({ type: "failed", error: e instanceof Error ? e.message : String(e) }));
    });
    current = run;
    return run.done;
  };

  const next = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(async () => {
      await runNow();
      next(config.compaction.interval_secs * 1000);
    }, ms);
    (timer as unknown as { unref?: () => void }).unref?.();
  };
  next(Math.min(firstDelayMs, config.compaction.interval_secs * 1000));
  logger.info("lifecycle schedule on", {
    compaction: config.compaction.enabled,
    interval_secs: config.compaction.interval_secs,
    retention_days:
      `logs=${config.retention.logs_days} traces=${config.retention.traces_days} metrics=${config.retention.metrics_days}`,
  });

  return {
    runNow,
    stop() {
      stopped = true;
      clearTimeout(timer);
      const run = current;
      if (run) {
        run.thread?.terminate();
        current = null;
      }
      return Promise.resolve();
    },
  };
}
