/**
 * Writes docs/observability/grafana-dashboard.json, the Grafana dashboard for otlp2parquet's
 * /metrics (import it: Dashboards → New → Import, pick the Prometheus data source). One row per
 * metric group of src/metrics/service.ts; tests/metrics/grafana.test.ts checks every panel's
 * query names metrics the server exposes and every group has a panel.
 *
 *   deno run -A scripts/grafana-dashboard.ts [--check]
 *
 * `--check` exits 1 when the committed file differs from what this script writes.
 */

const OUT = new URL("../docs/observability/grafana-dashboard.json", import.meta.url);

interface Target {
  expr: string;
  legend: string;
}

interface PanelSpec {
  title: string;
  unit: string;
  targets: Target[];
  /** Columns of 24 (default 8). */
  width?: number;
  description?: string;
  stack?: boolean;
}

const I = `instance=~"$instance"`;
const rate = (metric: string, by: string, extra = "") =>
  `sum by (${by}) (rate(${metric}{${I}${extra}}[$__rate_interval]))`;
const quantile = (q: number, metric: string, by: string, extra = "") =>
  `histogram_quantile(${q}, sum by (le${
    by ? ", " + by : ""
  }) (rate(${metric}_bucket{${I}${extra}}[$__rate_interval])))`;
const EXPORTS = `, route=~"/v1/.*|.*Export"`;

/** The dashboard's rows: [row title, panels]. */
export const ROWS: [string, PanelSpec[]][] = [
  ["Ingest", [
    {
      title: "Records received / s",
      unit: "short",
      width: 12,
      description:
        "Accepted log records, spans and data points (otlp2parquet_records_received_total).",
      targets: [{
        expr: rate("otlp2parquet_records_received_total", "signal"),
        legend: "{{signal}}",
      }],
    },
    {
      title: "Records rejected / s (partial success)",
      unit: "short",
      width: 12,
      targets: [{
        expr: rate("otlp2parquet_records_rejected_total", "signal"),
        legend: "{{signal}}",
      }],
    },
  ]],
  ["Requests", [
    {
      title: "Requests / s by route and status",
      unit: "reqps",
      targets: [{
        expr: rate("otlp2parquet_requests_total", "transport, route, code"),
        legend: "{{transport}} {{route}} {{code}}",
      }],
    },
    {
      title: "Export errors / s (4xx, 5xx)",
      unit: "reqps",
      targets: [{
        expr: rate("otlp2parquet_requests_total", "code", `, code=~"4..|5.."${EXPORTS}`),
        legend: "{{code}}",
      }],
    },
    {
      title: "Export latency p50 / p99",
      unit: "s",
      targets: [
        {
          expr: quantile(0.5, "otlp2parquet_request_duration_seconds", "", EXPORTS),
          legend: "p50",
        },
        {
          expr: quantile(0.99, "otlp2parquet_request_duration_seconds", "", EXPORTS),
          legend: "p99",
        },
      ],
    },
    {
      title: "Request body size p50 / p99 (as received)",
      unit: "bytes",
      targets: [
        {
          expr: quantile(0.5, "otlp2parquet_request_body_bytes", "encoding"),
          legend: "p50 {{encoding}}",
        },
        {
          expr: quantile(0.99, "otlp2parquet_request_body_bytes", "encoding"),
          legend: "p99 {{encoding}}",
        },
      ],
    },
    {
      title: "Decompressed bytes / s",
      unit: "Bps",
      targets: [{
        expr: rate("otlp2parquet_decompressed_bytes_total", "signal"),
        legend: "{{signal}}",
      }],
    },
  ]],
  ["Buffers and write-ahead log", [
    {
      title: "Buffered bytes vs limit",
      unit: "bytes",
      targets: [
        { expr: `sum(otlp2parquet_buffered_bytes{${I}})`, legend: "buffered" },
        { expr: `sum(otlp2parquet_buffer_limit_bytes{${I}})`, legend: "limit (429 past it)" },
      ],
    },
    {
      title: "Request bytes in flight vs limit, memory bound",
      unit: "bytes",
      targets: [
        { expr: `sum(otlp2parquet_inflight_bytes{${I}})`, legend: "in flight" },
        { expr: `sum(otlp2parquet_inflight_limit_bytes{${I}})`, legend: "limit (429 past it)" },
        { expr: `sum(otlp2parquet_memory_bound_bytes{${I}})`, legend: "memory bound" },
        {
          expr: `sum(rate(otlp2parquet_inflight_rejected_total{${I}}[$__rate_interval]))`,
          legend: "rejected / s (in-flight bound)",
        },
        { expr: `sum(otlp2parquet_inflight_peak_bytes{${I}})`, legend: "in flight, peak" },
      ],
    },
    {
      title: "Admission: waiting for room, refusals by reason",
      unit: "short",
      targets: [
        { expr: `sum(otlp2parquet_admission_waiting{${I}})`, legend: "waiting" },
        { expr: `sum(otlp2parquet_admission_waiting_limit{${I}})`, legend: "waiting limit" },
        {
          expr: `sum(rate(otlp2parquet_admission_waited_total{${I}}[$__rate_interval]))`,
          legend: "let in after waiting / s",
        },
        {
          expr: `sum(rate(otlp2parquet_admission_refused_buffers_total{${I}}[$__rate_interval]))`,
          legend: "429 / s (buffers full)",
        },
        {
          expr: `sum(rate(otlp2parquet_admission_refused_inflight_total{${I}}[$__rate_interval]))`,
          legend: "429 / s (in-flight bound)",
        },
        {
          expr: `sum(rate(otlp2parquet_admission_refused_waiting_total{${I}}[$__rate_interval]))`,
          legend: "429 / s (too many waiting)",
        },
        {
          expr:
            `sum(rate(otlp2parquet_admission_refused_unavailable_total{${I}}[$__rate_interval]))`,
          legend: "503 / s (from the headers)",
        },
      ],
    },
    {
      title: "Buffered rows, open buffers, files waiting",
      unit: "short",
      targets: [
        { expr: `sum(otlp2parquet_buffered_rows{${I}})`, legend: "rows" },
        { expr: `sum(otlp2parquet_buffers{${I}})`, legend: "open buffers" },
        { expr: `sum(otlp2parquet_pending_files{${I}})`, legend: "files waiting" },
      ],
    },
    {
      title: "Write-ahead log bytes vs limit",
      unit: "bytes",
      targets: [
        { expr: `sum(otlp2parquet_wal_bytes{${I}})`, legend: "log" },
        { expr: `sum(otlp2parquet_wal_limit_bytes{${I}})`, legend: "limit (503 past it)" },
      ],
    },
    {
      title: "Write-ahead log segments, fsyncs / s, replayed",
      unit: "short",
      targets: [
        { expr: `sum(otlp2parquet_wal_segments{${I}})`, legend: "segments" },
        {
          expr: `sum(rate(otlp2parquet_wal_syncs_total{${I}}[$__rate_interval]))`,
          legend: "fsyncs/s",
        },
        { expr: `sum(otlp2parquet_replayed_records_total{${I}})`, legend: "replayed at start" },
      ],
    },
  ]],
  ["Files written", [
    {
      title: "Files / s by table",
      unit: "short",
      targets: [{ expr: rate("otlp2parquet_files_written_total", "table"), legend: "{{table}}" }],
    },
    {
      title: "Rows / s by table",
      unit: "short",
      targets: [{ expr: rate("otlp2parquet_rows_written_total", "table"), legend: "{{table}}" }],
    },
    {
      title: "Parquet bytes / s by table",
      unit: "Bps",
      targets: [{ expr: rate("otlp2parquet_bytes_written_total", "table"), legend: "{{table}}" }],
    },
    {
      title: "Flush duration p50 / p99",
      unit: "s",
      targets: [
        {
          expr: quantile(0.5, "otlp2parquet_flush_duration_seconds", "table"),
          legend: "p50 {{table}}",
        },
        {
          expr: quantile(0.99, "otlp2parquet_flush_duration_seconds", "table"),
          legend: "p99 {{table}}",
        },
      ],
    },
    {
      title: "File size p50",
      unit: "bytes",
      targets: [
        { expr: quantile(0.5, "otlp2parquet_file_size_bytes", "table"), legend: "{{table}}" },
      ],
    },
    {
      title: "Flush failures / s",
      unit: "short",
      targets: [{
        expr: `sum(rate(otlp2parquet_flush_failures_total{${I}}[$__rate_interval]))`,
        legend: "failures",
      }],
    },
  ]],
  ["Storage", [
    {
      title: "Storage operations / s",
      unit: "ops",
      targets: [{
        expr: rate("otlp2parquet_storage_operations_total", "backend, op"),
        legend: "{{backend}} {{op}}",
      }],
    },
    {
      title: "Storage errors and retries / s",
      unit: "ops",
      targets: [
        {
          expr: rate("otlp2parquet_storage_errors_total", "backend, op"),
          legend: "errors {{backend}} {{op}}",
        },
        {
          expr: rate("otlp2parquet_storage_retries_total", "backend, op"),
          legend: "retries {{backend}} {{op}}",
        },
      ],
    },
    {
      title: "Storage operation p99",
      unit: "s",
      targets: [{
        expr: quantile(0.99, "otlp2parquet_storage_operation_duration_seconds", "backend, op"),
        legend: "{{backend}} {{op}}",
      }],
    },
  ]],
  ["Catalog (when one is configured)", [
    {
      title: "Catalog files waiting for a commit",
      unit: "short",
      width: 12,
      targets: [{ expr: `sum(otlp2parquet_catalog_pending_files{${I}})`, legend: "pending files" }],
    },
    {
      title: "Catalog commits / s",
      unit: "short",
      width: 12,
      targets: [{
        expr: `sum(rate(otlp2parquet_catalog_commits_total{${I}}[$__rate_interval]))`,
        legend: "commits",
      }],
    },
  ]],
  ["Process", [
    {
      title: "Memory",
      unit: "bytes",
      width: 6,
      targets: [
        {
          expr: `sum by (instance) (process_resident_memory_bytes{${I}})`,
          legend: "RSS {{instance}}",
        },
        {
          expr: `sum by (instance) (otlp2parquet_heap_used_bytes{${I}})`,
          legend: "JS heap {{instance}}",
        },
      ],
    },
    {
      title: "CPU (cores)",
      unit: "short",
      width: 6,
      targets: [{
        expr: `sum by (instance) (rate(process_cpu_seconds_total{${I}}[$__rate_interval]))`,
        legend: "{{instance}}",
      }],
    },
    {
      title: "Uptime",
      unit: "s",
      width: 6,
      targets: [{
        expr: `time() - max by (instance) (process_start_time_seconds{${I}})`,
        legend: "{{instance}}",
      }],
    },
    {
      title: "Event-loop delay p99",
      width: 6,
      unit: "s",
      targets: [{
        expr: quantile(0.99, "otlp2parquet_event_loop_delay_seconds", "instance"),
        legend: "{{instance}}",
      }],
    },
  ]],
];

export function dashboard(): Record<string, unknown> {
  const ds = { type: "prometheus", uid: "${DS_PROMETHEUS}" };
  const panels: Record<string, unknown>[] = [];
  let id = 1, y = 0;
  for (const [title, specs] of ROWS) {
    panels.push({
      type: "row",
      id: id++,
      title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y: y++ },
      panels: [],
    });
    let x = 0;
    for (const p of specs) {
      const w = p.width ?? 8;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push({
        type: "timeseries",
        id: id++,
        title: p.title,
        description: p.description,
        datasource: ds,
        gridPos: { h: 8, w, x, y },
        fieldConfig: {
          defaults: {
            unit: p.unit,
            custom: { lineWidth: 1, fillOpacity: 10, showPoints: "never" },
          },
          overrides: [],
        },
        options: {
          legend: { displayMode: "list", placement: "bottom" },
          tooltip: { mode: "multi" },
        },
        targets: p.targets.map((t, i) => ({
          datasource: ds,
          refId: String.fromCharCode(65 + i),
          expr: t.expr,
          legendFormat: t.legend,
        })),
      });
      x += w;
    }
    y += 8;
  }
  return {
    __inputs: [{
      name: "DS_PROMETHEUS",
      label: "Prometheus",
      description: "The Prometheus that scrapes otlp2parquet's /metrics",
      type: "datasource",
      pluginId: "prometheus",
      pluginName: "Prometheus",
    }],
    __requires: [
      { type: "grafana", id: "grafana", name: "Grafana", version: "10.0.0" },
      { type: "datasource", id: "prometheus", name: "Prometheus", version: "1.0.0" },
      { type: "panel", id: "timeseries", name: "Time series", version: "" },
    ],
    title: "otlp2parquet",
    uid: "otlp2parquet",
    description: "OTLP in, Parquet out: ingest, requests, buffers, files, storage, process",
    tags: ["otlp2parquet", "opentelemetry"],
    timezone: "browser",
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: "30s",
    time: { from: "now-1h", to: "now" },
    templating: {
      list: [{
        name: "instance",
        label: "instance",
        type: "query",
        datasource: ds,
        query: { query: "label_values(otlp2parquet_build_info, instance)", refId: "instance" },
        definition: "label_values(otlp2parquet_build_info, instance)",
        includeAll: true,
        multi: true,
        allValue: ".*",
        current: { selected: true, text: "All", value: "$__all" },
        refresh: 2,
      }],
    },
    annotations: { list: [] },
    panels,
  };
}

export function dashboardText(): string {
  return JSON.stringify(dashboard(), null, 2) + "\n";
}

if (import.meta.main) {
  const text = dashboardText();
  if (Deno.args.includes("--check")) {
    const now = await Deno.readTextFile(OUT).catch(() => "");
    if (now !== text) {
      console.error(`${OUT.pathname} is out of date: run deno run -A scripts/grafana-dashboard.ts`);
      Deno.exit(1);
    }
  } else {
    await Deno.mkdir(new URL(".", OUT), { recursive: true });
    await Deno.writeTextFile(OUT, text);
    console.log(`wrote ${OUT.pathname}`);
  }
}
