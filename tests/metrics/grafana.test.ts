/**
 * docs/observability/: the Grafana dashboard is what scripts/grafana-dashboard.ts writes, is
 * importable (a data-source input, unique panel ids, a 24-column grid), queries only metrics
 * the server exposes, and has a panel for every metric the server exposes; the Prometheus
 * scrape example parses and scrapes /metrics.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../src/config/load.ts";
import { assemble } from "../../src/entry/assemble.ts";
import { silentLogger } from "../../src/log/log.ts";
import { render } from "../../src/metrics/exposition.ts";
import { registerProcessMetrics } from "../../src/metrics/process.node.ts";
import { createMemoryStorage } from "../../src/storage/memory.ts";
import { initParquetFromDisk } from "../../src/core/parquet/wasm.node.ts";
import { dashboardText } from "../../scripts/grafana-dashboard.ts";
import { parseExposition } from "../helpers/prometheus.ts";

const DOCS = new URL("../../docs/observability/", import.meta.url);
// deno-lint-ignore no-explicit-any
type Any = any;

/** Families /metrics has after a little traffic (process metrics included, as on a server). */
async function exposedFamilies(): Promise<Set<string>> {
  initParquetFromDisk();
  const config = loadConfig({
    platform: "server",
    env: { OTLP2PARQUET_BATCH_ENABLED: "false", OTLP2PARQUET_STORAGE_BACKEND: "memory" },
  });
  const { app, metrics } = await assemble(config, silentLogger, {
    storage: createMemoryStorage(),
  });
  const proc = registerProcessMetrics(metrics!.registry);
  try {
    const body = JSON.stringify({
      resourceLogs: [{
        scopeLogs: [{ logRecords: [{ timeUnixNano: "1700000000000000000" }] }],
      }],
    });
    const r = await app.request("/v1/logs", {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    strictEqual(r.status, 200);
    return new Set(parseExposition(render(metrics!.registry)).families.keys());
  } finally {
    proc.close();
  }
}

Deno.test("the Grafana dashboard is up to date and importable", async () => {
  const text = await Deno.readTextFile(new URL("grafana-dashboard.json", DOCS));
  strictEqual(text, dashboardText(), "run: deno run -A scripts/grafana-dashboard.ts");
  const d: Any = JSON.parse(text);
  deepStrictEqual(d.__inputs.map((i: Any) => [i.name, i.pluginId]), [[
    "DS_PROMETHEUS",
    "prometheus",
  ]]);
  const ids = d.panels.map((p: Any) => p.id);
  strictEqual(new Set(ids).size, ids.length, "unique panel ids");
  for (const p of d.panels) {
    ok(p.gridPos.x + p.gridPos.w <= 24, p.title);
    if (p.type === "row") continue;
    strictEqual(p.datasource.uid, "${DS_PROMETHEUS}", p.title);
    ok(p.targets.length > 0, p.title);
  }
});

Deno.test("the Grafana dashboard queries what /metrics exposes, and shows all of it", async () => {
  const d: Any = JSON.parse(await Deno.readTextFile(new URL("grafana-dashboard.json", DOCS)));
  const exprs: string[] = d.panels.flatMap((p: Any) => (p.targets ?? []).map((t: Any) => t.expr));
  exprs.push(d.templating.list[0].query.query);
  const queried = new Set<string>();
  for (const e of exprs) {
    for (const m of e.matchAll(/\b((?:otlp2parquet|process)_[a-z_]+)\b/g)) {
      queried.add(m[1].replace(/_bucket$/, ""));
    }
  }
  const exposed = await exposedFamilies();
  // Catalog figures come from the catalog's stats() when one is configured (not here).
  const missing = [...queried].filter((n) =>
    !exposed.has(n) && !n.startsWith("otlp2parquet_catalog_")
  );
  deepStrictEqual(missing, [], "queried but not exposed");
  const unshown = [...exposed].filter((n) => !queried.has(n));
  deepStrictEqual(unshown, [], "exposed but on no panel");
});

Deno.test("the Prometheus scrape example parses and scrapes /metrics", async () => {
  const doc: Any = parseYaml(await Deno.readTextFile(new URL("prometheus.yml", DOCS)));
  const job = doc.scrape_configs[0];
  strictEqual(job.job_name, "otlp2parquet");
  strictEqual(job.metrics_path, "/metrics");
  deepStrictEqual(job.static_configs[0].targets, ["localhost:4318"]);
});
