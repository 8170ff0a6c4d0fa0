/**
 * Process figures on servers (Deno, Bun, Node): memory, CPU time, start time and event-loop
 * delay, read at scrape time. Loaded by the server entry only (Workers and Lambda have no
 * process of their own to speak of).
 *
 *   process_resident_memory_bytes            gauge
 *   process_cpu_seconds_total                counter (user + system, every thread)
 *   process_start_time_seconds               gauge (epoch seconds)
 *   otlp2parquet_heap_used_bytes             gauge (the JavaScript heap in use)
 *   otlp2parquet_event_loop_delay_seconds    histogram
 *
 * Event-loop delay is measured by a timer: every 100 ms it notes how late it fired (Deno's
 * `monitorEventLoopDelay` reports nothing useful, so the same measure runs everywhere). The
 * timer does not keep the process alive; `close()` stops it.
 */
import process from "node:process";
import type { Registry } from "./registry.ts";

const SAMPLE_MS = 100;
export const DELAY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function registerProcessMetrics(registry: Registry): { close(): void } {
  const rss = registry.gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
  });
  const heap = registry.gauge({
    name: "otlp2parquet_heap_used_bytes",
    help: "JavaScript heap in use, bytes.",
  });
  const cpu = registry.counter({
    name: "process_cpu_seconds_total",
    help: "User and system CPU time spent, seconds (all threads).",
  });
  registry.gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch, seconds.",
  }).set(Math.round(Date.now() / 1000 - process.uptime()));
  const delay = registry.histogram({
    name: "otlp2parquet_event_loop_delay_seconds",
    help: "How late a 100 ms timer fires: time the event loop was busy with other work.",
    buckets: DELAY_BUCKETS,
  });
  registry.collect(() => {
    const m = process.memoryUsage();
    rss.set(m.rss);
    heap.set(m.heapUsed);
    const u = process.cpuUsage();
    cpu.set((u.user + u.system) / 1e6);
  });

  let expected = performance.now() + SAMPLE_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    delay.observe(Math.max(0, now - expected) / 1000);
    expected = now + SAMPLE_MS;
  }, SAMPLE_MS);
  unref(timer);
  return { close: () => clearInterval(timer) };
}

function unref(timer: unknown): void {
  if (typeof timer === "number") {
    (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer);
  } else (timer as { unref?: () => void }).unref?.();
}
