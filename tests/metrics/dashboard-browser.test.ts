/**
 * GET /dashboard in a real browser: Debian's headless Chromium (`chromium`) driven by
 * puppeteer-core (which downloads no browser). After a known load against the real server
 * (default config: batching with the write-ahead log), the page loads with no console errors
 * or failed requests, its figures equal GET /api/stats, and the records chart has drawn its
 * points, the load among them. A screenshot goes to test-artifacts/dashboard.png (gitignored;
 * DASHBOARD_SCREENSHOT sets another path).
 *
 * Chromium is found on PATH or through CHROMIUM_PATH; without it the test is skipped with a
 * message, except under CI=true, where it fails (.ci/run installs it).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import puppeteer from "puppeteer-core";
import { type Server, startServer } from "../helpers/server.ts";
import { logsRequest, metricsRequest, post, postJson, tracesRequest } from "../e2e/support.ts";
import { freePort, logsBody, postLogs, startA, startB } from "../forward/helpers.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const NS = 1_700_000_000_000_000_000n;

function chromiumPath(): string | null {
  const named = Deno.env.get("CHROMIUM_PATH");
  if (named) return named;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser"]) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return null;
}

const chromium = chromiumPath();
const inCi = Deno.env.get("CI") === "true";
if (!chromium && !inCi) {
  console.warn(
    "dashboard-browser.test.ts: skipped, no chromium on PATH (apt-get install chromium)",
  );
}

// deno-lint-ignore no-explicit-any
type Stats = any;

async function stats(srv: Server): Promise<Stats> {
  const r = await fetch(`${srv.url}/api/stats`);
  strictEqual(r.status, 200);
  return await r.json();
}

async function until(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Headless Chromium from Debian, a profile of its own per test. */
const BROWSER_ARGS = (profile: string) => [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  `--user-data-dir=${profile}`,
];

Deno.test({
  name: "the dashboard shows /api/stats after a known load, in headless Chromium, without errors",
  ignore: !chromium && !inCi,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    ok(chromium, "CI=true: chromium must be installed (.ci/run installs it)");
    const srv = await startServer({
      env: { OTLP2PARQUET_BATCH_ENABLED: "true", OTLP2PARQUET_BATCH_MAX_AGE_SECS: "1" },
    });
    const profile = await Deno.makeTempDir({ prefix: "otlp2parquet-chromium-" });
    let browser: Awaited<ReturnType<typeof puppeteer.launch>> | undefined;
    try {
      // The load: 9 log records from two services, 2 spans, 2 points and 1 rejected, one 400.
      const logs = (tag: string, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          timeUnixNano: String(NS + BigInt(i)),
          body: { stringValue: `${tag} ${i}` },
        }));
      strictEqual((await postJson(srv, "/v1/logs", logsRequest("web", logs("w", 6)))).status, 200);
      strictEqual((await postJson(srv, "/v1/logs", logsRequest("api", logs("a", 3)))).status, 200);
      const spans = [1, 2].map((i) => ({
        traceId: "0102030405060708090a0b0c0d0e0f10",
        spanId: `000000000000000${i}`,
        name: `s${i}`,
        startTimeUnixNano: String(NS),
        endTimeUnixNano: String(NS + 5n),
      }));
      strictEqual((await postJson(srv, "/v1/traces", tracesRequest("web", spans))).status, 200);
      const points = [{ timeUnixNano: String(NS), asDouble: 1 }, {
        timeUnixNano: String(NS + 1n),
        asDouble: 2,
      }, { timeUnixNano: String(NS + 2n) }];
      strictEqual(
        (await postJson(
          srv,
          "/v1/metrics",
          metricsRequest("web", [{ name: "g", gauge: { dataPoints: points } }]),
        ))
          .status,
        200,
      );
      strictEqual(
        (await post(`${srv.url}/v1/logs`, "{broken", { "content-type": "application/json" }))
          .status,
        400,
      );
      // Files written out, and the load's 5 s slot complete (the chart shows complete slots).
      await until("the files and the load's rates", async () => {
        const s = await stats(srv);
        return s.buffer.rows === 0 && s.buffer.pendingFiles === 0 && s.totals.rows === 13 &&
          sum(s.rates.records.logs) * s.rates.stepSecs === 9;
      });

      browser = await puppeteer.launch({
        executablePath: chromium!,
        headless: true,
        args: BROWSER_ARGS(profile),
      });
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 1100 });
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warn") {
          problems.push(`console ${m.type()}: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e}`));
      page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
      const requested: string[] = [];
      page.on("request", (r) => requested.push(r.url()));

      const res = await page.goto(`${srv.url}/dashboard`, { waitUntil: "load" });
      strictEqual(res?.status(), 200);
      // Two updates: the second one came after the test's own look at /api/stats below.
      await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1, {
        timeout: 15_000,
      });
      const s = await stats(srv);
      const seen = Number(await page.evaluate(() => document.body.dataset.updates));
      await page.waitForFunction(
        (n: number) => Number(document.body.dataset.updates ?? 0) > n,
        { timeout: 15_000 },
        seen,
      );

      const value = (id: string) =>
        page.$eval(`#${id}`, (el) => el.getAttribute("data-value")).then((v) =>
          v === "" || v === null ? null : Number(v)
        );
      deepStrictEqual(
        {
          logs: await value("records-logs"),
          traces: await value("records-traces"),
          metrics: await value("records-metrics"),
          rejected: await value("rejected"),
          requests: await value("requests"),
          e4: await value("errors-4xx"),
          e5: await value("errors-5xx"),
          files: await value("files"),
          rows: await value("rows"),
          bytes: await value("bytes"),
          storageOps: await value("storage-operations"),
          storageErrors: await value("storage-errors"),
          p50: await value("p50"),
          p99: await value("p99"),
          walSegments: await value("wal-segments"),
        },
        {
          logs: s.totals.records.logs,
          traces: s.totals.records.traces,
          metrics: s.totals.records.metrics,
          rejected: 1,
          requests: s.totals.requests,
          e4: s.totals.errors4xx,
          e5: s.totals.errors5xx,
          files: s.totals.files,
          rows: s.totals.rows,
          bytes: s.totals.bytes,
          storageOps: s.storage.operations,
          storageErrors: s.storage.errors,
          p50: s.latency.p50,
          p99: s.latency.p99,
          walSegments: s.wal.segments,
        },
      );
      // And /api/stats has the load itself.
      deepStrictEqual(s.totals.records, { logs: 9, traces: 2, metrics: 2 });
      deepStrictEqual([s.totals.requests, s.totals.errors4xx, s.totals.errors5xx], [5, 1, 0]);
      deepStrictEqual(s.totals.byStatus, { "200": 4, "400": 1 });
      deepStrictEqual(s.forward, [], "no [[forward]] destinations");
      deepStrictEqual(s.topServices.slice(0, 2), [
        { service: "web", records: 10 },
        { service: "api", records: 3 },
      ]);

      const services = await page.$$eval(
        "#services tbody tr",
        (trs) =>
          trs.map((
            tr,
          ) => [tr.children[0].textContent, Number(tr.children[1].getAttribute("data-value"))]),
      );
      deepStrictEqual(services, s.topServices.map((x: Stats) => [x.service, x.records]));
      const recent = await page.$$eval(
        "#recent tbody tr",
        (trs) =>
          trs.map((
            tr,
          ) => [tr.children[0].textContent, Number(tr.children[1].getAttribute("data-value"))]),
      );
      deepStrictEqual(recent, s.recentFiles.map((f: Stats) => [f.key, f.rows]));
      ok(recent.length >= 3, "a file per table at least");
      const statuses = await page.$$eval(
        "#statuses tbody tr",
        (trs) =>
          trs.map((
            tr,
          ) => [tr.children[0].textContent, Number(tr.children[1].getAttribute("data-value"))]),
      );
      deepStrictEqual(statuses, [["200", 4], ["400", 1]]);

      // The chart: one polyline per signal with a point per slot, the load's slot above the
      // baseline for logs.
      const lines = await page.$$eval("#chart-records polyline", (pls) =>
        pls.map((pl) => ({
          series: pl.getAttribute("data-series"),
          ys: (pl.getAttribute("points") ?? "").trim().split(/\s+/).map((p) =>
            Number(p.split(",")[1])
          ),
        })));
      deepStrictEqual(lines.map((l) => l.series), ["logs", "traces", "metrics"]);
      for (const l of lines) strictEqual(l.ys.length, s.rates.records.logs.length, l.series!);
      const logsLine = lines[0].ys;
      const baseline = Math.max(...logsLine);
      ok(logsLine.some((y) => y < baseline), "the logs line rises above its baseline somewhere");

      // Nothing but the page itself and its JSON was requested.
      deepStrictEqual(
        [...new Set(requested.map((u) => new URL(u).pathname))].sort(),
        ["/api/stats", "/dashboard"],
      );
      deepStrictEqual(problems, []);

      const shot = Deno.env.get("DASHBOARD_SCREENSHOT") ?? `${REPO}test-artifacts/dashboard.png`;
      await Deno.mkdir(shot.slice(0, shot.lastIndexOf("/")), { recursive: true });
      await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
      ok((await Deno.stat(shot)).size > 10_000, "a screenshot with something on it");
      console.log(`dashboard screenshot: ${shot}`);
      await browser.close();
      browser = undefined;
      strictEqual(await srv.stop(), 0);
    } finally {
      await browser?.close().catch(() => {});
      await srv.kill();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "the dashboard shows each [[forward]] destination (breaker, queue, sent, dropped) as /api/stats has it, in headless Chromium",
  ignore: !chromium && !inCi,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    ok(chromium, "CI=true: chromium must be installed (.ci/run installs it)");
    const root = await Deno.makeTempDir({ prefix: "otlp2parquet-dash-fwd-" });
    const port = freePort();
    let a: Server | undefined, b: Server | undefined;
    let browser: Awaited<ReturnType<typeof puppeteer.launch>> | undefined;
    try {
      b = await startB(port, `${root}/b`, `${root}/b-wal`);
      // "b" is up; "down" is nobody (its breaker opens after one failure and stays open), with
      // a queue bound smaller than two requests (so the oldest are dropped).
      a = await startA(
        `[[forward]]
name = "b"
endpoint = "http://127.0.0.1:${port}"

[[forward]]
name = "down"
endpoint = "http://127.0.0.1:${freePort()}"
failure_threshold = 1
open_secs = 600
max_queue_bytes = 3000
`,
        { output: `${root}/a` },
      );
      for (let i = 0; i < 4; i++) {
        strictEqual(await postLogs(a.url, logsBody("dash-fwd", `r${i}`, 10)), 200);
      }
      const dest = (s: Stats, name: string) => s.forward.find((d: Stats) => d.name === name);
      await until("b sent everything, down open and dropping", async () => {
        const s = await stats(a!);
        const bb = dest(s, "b"), dd = dest(s, "down");
        return bb?.sentRecords === 40 && bb.queueRequests === 0 && dd?.state === "open" &&
          dd.droppedRecords > 0;
      });
      const profile = `${root}/chromium`;
      browser = await puppeteer.launch({
        executablePath: chromium!,
        headless: true,
        args: BROWSER_ARGS(profile),
      });
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warn") {
          problems.push(`console ${m.type()}: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e}`));
      const res = await page.goto(`${a.url}/dashboard`, { waitUntil: "load" });
      strictEqual(res?.status(), 200);
      await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1, {
        timeout: 15_000,
      });
      const s = await stats(a);
      const shown = await page.$$eval("#forward tbody tr", (trs) =>
        trs.map((tr) => {
          const v = (i: number) => tr.children[i].getAttribute("data-value");
          return {
            name: tr.children[0].textContent,
            state: v(1),
            queueBytes: Number(v(2)),
            queueRequests: Number(v(3)),
            sentRecords: Number(v(5)),
            rejectedRecords: Number(v(6)),
            droppedRecords: Number(v(7)),
            failedRequests: Number(v(8)),
          };
        }));
      deepStrictEqual(
        shown,
        s.forward.map((d: Stats) => ({
          name: d.name,
          state: d.state,
          queueBytes: d.queueBytes,
          queueRequests: d.queueRequests,
          sentRecords: d.sentRecords,
          rejectedRecords: d.rejectedRecords,
          droppedRecords: d.droppedRecords,
          failedRequests: d.failedRequests,
        })),
      );
      deepStrictEqual(shown.map((d) => [d.name, d.state]), [["b", "closed"], ["down", "open"]]);
      const down = dest(s, "down");
      strictEqual(down.maxQueueBytes, 3000);
      ok(down.queueBytes <= 3000 || down.queueRequests === 1, "the queue bound holds");
      // Every accepted record is either still queued for "down" or counted as dropped.
      strictEqual(down.sentRecords, 0);
      strictEqual(down.droppedRecords + down.queueRequests * 10, 40);
      strictEqual(
        await page.$eval("#forward-off", (el) => (el as HTMLElement).style.display),
        "none",
      );
      deepStrictEqual(problems, []);
    } finally {
      await browser?.close().catch(() => {});
      for (const srv of [a, b]) {
        await srv?.stop().catch(() => {});
        await srv?.kill();
      }
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
