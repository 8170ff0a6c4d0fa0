import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { Registry } from "../../src/metrics/registry.ts";
import { CONTENT_TYPES, negotiate, render } from "../../src/metrics/exposition.ts";
import { parseExposition } from "../helpers/prometheus.ts";

Deno.test("registry renders counters, gauges and histograms in the text format", () => {
  const r = new Registry();
  const c = r.counter({ name: "t_requests_total", help: "Requests.", labels: ["code"] });
  c.with({ code: "200" }).inc();
  c.with({ code: "200" }).inc(2);
  c.with({ code: '4"0\\0\n' }).inc();
  r.gauge({ name: "t_depth", help: "Depth\nwith a newline." }).set(-1.5);
  const h = r.histogram({ name: "t_seconds", help: "Durations.", buckets: [0.1, 1] });
  h.observe(0.05);
  h.observe(0.1);
  h.observe(5);
  const text = render(r, "text");
  strictEqual(
    text,
    [
      "# HELP t_requests_total Requests.",
      "# TYPE t_requests_total counter",
      't_requests_total{code="200"} 3',
      't_requests_total{code="4\\"0\\\\0\\n"} 1',
      "# HELP t_depth Depth\\nwith a newline.",
      "# TYPE t_depth gauge",
      "t_depth -1.5",
      "# HELP t_seconds Durations.",
      "# TYPE t_seconds histogram",
      't_seconds_bucket{le="0.1"} 2',
      't_seconds_bucket{le="1"} 2',
      't_seconds_bucket{le="+Inf"} 3',
      "t_seconds_sum 5.15",
      "t_seconds_count 3",
      "",
    ].join("\n"),
  );
  const m = parseExposition(text);
  strictEqual(m.value("t_requests_total", { code: '4"0\\0\n' }), 1);
  strictEqual(m.families.get("t_depth")?.help, "Depth\nwith a newline.");
});

Deno.test("registry renders OpenMetrics: family names without _total, float bounds, # EOF", () => {
  const r = new Registry();
  r.counter({ name: "t_files_total", help: "Files.", labels: ["table"] }).with({ table: "a" })
    .inc(4);
  r.histogram({ name: "t_bytes", help: "Sizes.", buckets: [10, 100] }).observe(50);
  const text = render(r, "openmetrics");
  strictEqual(
    text,
    [
      "# HELP t_files Files.",
      "# TYPE t_files counter",
      't_files_total{table="a"} 4',
      "# HELP t_bytes Sizes.",
      "# TYPE t_bytes histogram",
      't_bytes_bucket{le="10.0"} 0',
      't_bytes_bucket{le="100.0"} 1',
      't_bytes_bucket{le="+Inf"} 1',
      "t_bytes_sum 50",
      "t_bytes_count 1",
      "# EOF",
      "",
    ].join("\n"),
  );
  strictEqual(parseExposition(text, "openmetrics").value("t_files_total", { table: "a" }), 4);
});

Deno.test("registry folds label combinations past maxSeries into one 'other' series", () => {
  const r = new Registry();
  const c = r.counter({ name: "t_x_total", help: "x", labels: ["a", "b"], maxSeries: 2 });
  for (let i = 0; i < 10; i++) c.with({ a: `v${i}`, b: "y" }).inc();
  const m = parseExposition(render(r));
  deepStrictEqual(
    m.samples("t_x_total").map((s) => [s.labels.a, s.labels.b, s.value]),
    [["v0", "y", 1], ["v1", "y", 1], ["other", "other", 8]],
  );
});

Deno.test("registry: same name and shape returns the same metric, a clash throws", () => {
  const r = new Registry();
  const a = r.counter({ name: "t_a_total", help: "a", labels: ["x"] });
  strictEqual(r.counter({ name: "t_a_total", help: "a", labels: ["x"] }), a);
  throws(() => r.gauge({ name: "t_a_total", help: "a" }), /already registered as a counter/);
  throws(() => r.counter({ name: "t_a_total", help: "a", labels: ["y"] }), /already registered/);
  throws(() => r.counter({ name: "t_b", help: "b" }), /must end in "_total"/);
  throws(() => r.gauge({ name: "1bad", help: "b" }), /Invalid metric name/);
  throws(() => r.gauge({ name: "t_c", help: "c", labels: ["le"] }), /Invalid label name/);
  throws(() => r.histogram({ name: "t_h", help: "h", buckets: [2, 1] }), /ascending/);
  throws(() => a.with({} as { x: string }), /needs label "x"/);
});

Deno.test("registry reads stats() snapshots and collectors at scrape time; a broken one is skipped", () => {
  const r = new Registry();
  let stats: { pendingFiles: number; commits: number; lagMs: number } | undefined = {
    pendingFiles: 3,
    commits: 7,
    lagMs: 1500,
  };
  r.snapshot(() => stats, {
    pendingFiles: { name: "t_pending_files", help: "p", type: "gauge" },
    commits: { name: "t_commits_total", help: "c", type: "counter" },
    lagMs: { name: "t_lag_seconds", help: "l", type: "gauge", scale: 0.001 },
  });
  const depth = r.gauge({ name: "t_depth", help: "d" });
  let n = 0;
  r.collect(() => depth.set(++n));
  r.collect(() => {
    throw new Error("broken");
  });
  let m = parseExposition(render(r));
  deepStrictEqual(
    [
      m.value("t_pending_files"),
      m.value("t_commits_total"),
      m.value("t_lag_seconds"),
      m.value("t_depth"),
    ],
    [3, 7, 1.5, 1],
  );
  stats = { pendingFiles: 0, commits: 9, lagMs: 0 };
  m = parseExposition(render(r));
  deepStrictEqual([m.value("t_pending_files"), m.value("t_commits_total"), m.value("t_depth")], [
    0,
    9,
    2,
  ]);
  stats = undefined;
  m = parseExposition(render(r));
  strictEqual(m.value("t_commits_total"), 9);
});

Deno.test("negotiate() picks OpenMetrics when the scraper prefers it", () => {
  strictEqual(negotiate(undefined), "text");
  strictEqual(negotiate("text/plain"), "text");
  // Prometheus 2.x/3.x default scrape Accept header.
  strictEqual(
    negotiate(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ),
    "openmetrics",
  );
  strictEqual(negotiate("text/plain;version=0.0.4,application/openmetrics-text;q=0.5"), "text");
  strictEqual(negotiate("application/openmetrics-text;q=0"), "text");
  strictEqual(CONTENT_TYPES.openmetrics.startsWith("application/openmetrics-text"), true);
});

Deno.test("the test parser rejects what a scraper would", () => {
  throws(() => parseExposition("x 1\n"), /outside its family/);
  throws(() => parseExposition("# TYPE x gauge\nx 1\nx 2\n"), /twice/);
  throws(() => parseExposition('# TYPE x gauge\nx{a="b} 1\n'), /unterminated/);
  throws(() => parseExposition("# TYPE x gauge\nx one\n"), /bad number/);
  throws(
    () =>
      parseExposition(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      ),
    /cumulative/,
  );
  throws(() => parseExposition("# TYPE x counter\nx_total 1\n", "openmetrics"), /# EOF/);
});
