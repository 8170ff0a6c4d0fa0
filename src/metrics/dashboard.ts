/**
 * The dashboard page (`GET /dashboard`): one self-contained HTML document — styles, script and
 * charts (inline SVG) all inside, no fonts, scripts or images from anywhere else — so it works
 * offline, from the single executable and from the Docker image, in every build (a string in
 * the bundle, no file to find at run time).
 *
 * It polls `GET /api/stats` (same origin, same credentials) every 2 seconds and shows: records/s
 * per signal over the last 15 minutes (a chart), export requests/s and errors/s, totals by
 * status, p50/p99 latency over the last minute, buffer and write-ahead log fill against their
 * limits, storage health (and any other source such as a catalog), the `[[forward]]`
 * destinations (breaker, queue, sent / rejected / dropped / failed), the most recent files and
 * the top services by records. Every figure element carries its raw number in `data-value`
 * (the browser test compares them with /api/stats). Text from the server is set with
 * `textContent`, never parsed as HTML.
 */
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>otlp2parquet dashboard</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg:#f6f7f9; --card:#fff; --fg:#1d2329; --muted:#65707b; --line:#e2e6ea;
          --logs:#2f6fdf; --traces:#d9822b; --metrics:#2e9e5b; --err:#d64545; --ok:#2e9e5b; }
  @media (prefers-color-scheme: dark) {
    :root { --bg:#14181c; --card:#1d2227; --fg:#e6e9ec; --muted:#9aa4ae; --line:#2c333a; }
  }
  * { box-sizing: border-box; }
  body { margin:0; background:var(--bg); color:var(--fg);
         font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
  header { display:flex; align-items:baseline; gap:1rem; padding:.8rem 1.2rem; border-bottom:1px solid var(--line); }
  header h1 { font-size:1.1rem; margin:0; }
  header .muted { margin-left:auto; }
  main { display:grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap:1rem; padding:1rem 1.2rem; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; min-width:0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size:.8rem; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:0 0 .6rem; }
  .muted { color:var(--muted); }
  .figures { display:flex; flex-wrap:wrap; gap:1.2rem; }
  .figure b { display:block; font-size:1.4rem; font-variant-numeric: tabular-nums; }
  .figure span { color:var(--muted); font-size:.8rem; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:.25rem .4rem; border-bottom:1px solid var(--line); white-space:nowrap; }
  td.key { white-space:normal; word-break:break-all; font-family: ui-monospace, Menlo, Consolas, monospace; font-size:.8rem; }
  th { color:var(--muted); font-weight:600; font-size:.8rem; }
  td.n, th.n { text-align:right; }
  .bar { height:10px; background:var(--line); border-radius:5px; overflow:hidden; margin:.2rem 0 .6rem; }
  .bar i { display:block; height:100%; width:0; background:var(--logs); }
  .bar i.high { background:var(--err); }
  svg { width:100%; height:auto; display:block; }
  svg .grid { stroke:var(--line); stroke-width:1; }
  svg text { fill:var(--muted); font-size:10px; }
  svg polyline { fill:none; stroke-width:1.8; vector-effect: non-scaling-stroke; }
  .legend { display:flex; gap:1rem; font-size:.8rem; margin-top:.3rem; }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:.3rem; vertical-align:-1px; }
  .ok { color:var(--ok); } .bad { color:var(--err); }
  #banner { display:none; background:var(--err); color:#fff; padding:.4rem 1.2rem; }
</style>
</head>
<body>
<header>
  <h1>otlp2parquet</h1>
  <span class="muted" id="version"></span>
  <span class="muted">updated <span id="updated">never</span></span>
</header>
<div id="banner"></div>
<main>
  <section class="wide">
    <h2>Records per second, last 15 minutes</h2>
    <svg id="chart-records" viewBox="0 0 720 180" preserveAspectRatio="none" role="img" aria-label="records per second by signal"></svg>
    <div class="legend">
      <span class="muted">last minute:</span>
      <span><i style="background:var(--logs)"></i>logs <b id="rate-logs" data-value="0">0</b>/s</span>
      <span><i style="background:var(--traces)"></i>traces <b id="rate-traces" data-value="0">0</b>/s</span>
      <span><i style="background:var(--metrics)"></i>metrics <b id="rate-metrics" data-value="0">0</b>/s</span>
    </div>
  </section>

  <section>
    <h2>Records received</h2>
    <div class="figures">
      <div class="figure"><b id="records-logs" data-value="0">0</b><span>logs</span></div>
      <div class="figure"><b id="records-traces" data-value="0">0</b><span>spans</span></div>
      <div class="figure"><b id="records-metrics" data-value="0">0</b><span>data points</span></div>
      <div class="figure"><b id="rejected" data-value="0">0</b><span>rejected</span></div>
    </div>
  </section>

  <section>
    <h2>Export requests</h2>
    <svg id="chart-requests" viewBox="0 0 360 80" preserveAspectRatio="none" role="img" aria-label="requests and errors per second"></svg>
    <div class="legend">
      <span class="muted">last minute:</span>
      <span><i style="background:var(--logs)"></i>requests <b id="rate-requests" data-value="0">0</b>/s</span>
      <span><i style="background:var(--err)"></i>errors <b id="rate-errors" data-value="0">0</b>/s</span>
    </div>
    <div class="figures" style="margin-top:.6rem">
      <div class="figure"><b id="requests" data-value="0">0</b><span>requests</span></div>
      <div class="figure"><b id="errors-4xx" data-value="0">0</b><span>4xx</span></div>
      <div class="figure"><b id="errors-5xx" data-value="0">0</b><span>5xx</span></div>
    </div>
    <table id="statuses" style="margin-top:.6rem"><thead><tr><th>status</th><th class="n">requests</th></tr></thead><tbody></tbody></table>
  </section>

  <section>
    <h2>Latency, last minute</h2>
    <div class="figures">
      <div class="figure"><b id="p50" data-value="">–</b><span>p50</span></div>
      <div class="figure"><b id="p99" data-value="">–</b><span>p99</span></div>
      <div class="figure"><b id="latency-requests" data-value="0">0</b><span>requests</span></div>
    </div>
  </section>

  <section>
    <h2>Buffers and write-ahead log</h2>
    <div>Buffered: <b id="buffer-bytes" data-value="0">0</b> <span class="muted" id="buffer-limit"></span>
      · <span id="buffer-rows" data-value="0">0</span> rows · <span id="pending-files" data-value="0">0</span> files waiting</div>
    <div class="bar"><i id="buffer-fill"></i></div>
    <div>Write-ahead log: <b id="wal-bytes" data-value="0">0</b> <span class="muted" id="wal-limit"></span>
      · <span id="wal-segments" data-value="0">0</span> segments</div>
    <div class="bar"><i id="wal-fill"></i></div>
  </section>

  <section>
    <h2>Storage</h2>
    <div><b id="storage-health">–</b> <span class="muted" id="storage-backend"></span></div>
    <div class="figures" style="margin-top:.4rem">
      <div class="figure"><b id="storage-operations" data-value="0">0</b><span>operations</span></div>
      <div class="figure"><b id="storage-errors" data-value="0">0</b><span>errors</span></div>
      <div class="figure"><b id="storage-retries" data-value="0">0</b><span>retries</span></div>
    </div>
    <div class="muted" id="storage-last-error" style="margin-top:.4rem; word-break:break-word"></div>
    <h2 style="margin-top:.8rem">Catalog</h2>
    <div id="catalog" class="muted">off</div>
  </section>

  <section>
    <h2>Files written</h2>
    <div class="figures">
      <div class="figure"><b id="files" data-value="0">0</b><span>files</span></div>
      <div class="figure"><b id="rows" data-value="0">0</b><span>rows</span></div>
      <div class="figure"><b id="bytes" data-value="0">0</b><span>bytes</span></div>
    </div>
  </section>

  <section>
    <h2>Top services by records</h2>
    <table id="services"><thead><tr><th>service</th><th class="n">records</th></tr></thead><tbody></tbody></table>
  </section>

  <section class="wide">
    <h2>Forwarding</h2>
    <div id="forward-off" class="muted">no [[forward]] destinations</div>
    <table id="forward"><thead><tr><th>destination</th><th>breaker</th><th class="n">queued</th><th class="n">queued requests</th><th class="n">oldest</th><th class="n">sent records</th><th class="n">rejected records</th><th class="n">dropped records</th><th class="n">failed requests</th><th class="n">retried sends</th></tr></thead><tbody></tbody></table>
  </section>

  <section class="wide">
    <h2>Most recent files</h2>
    <table id="recent"><thead><tr><th>key</th><th class="n">rows</th><th class="n">bytes</th><th class="n">age</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
(function () {
  var POLL_MS = 2000;
  var SVG = "http://www.w3.org/2000/svg";
  var SIGNALS = ["logs", "traces", "metrics"];
  var $ = function (id) { return document.getElementById(id); };

  function num(v) { return Math.round(v).toLocaleString("en-US"); }
  function rate(v) { return v >= 100 ? num(v) : (Math.round(v * 10) / 10).toString(); }
  function bytes(v) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + " " + units[i];
  }
  function ms(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var m = seconds * 1000;
    return (m >= 100 ? Math.round(m) : Math.round(m * 10) / 10) + " ms";
  }
  function age(fromMs, nowMs) {
    var s = Math.max(0, Math.round((nowMs - fromMs) / 1000));
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    return Math.round(s / 3600) + " h";
  }
  function figure(id, value, text) {
    var el = $(id);
    el.setAttribute("data-value", value === null || value === undefined ? "" : String(value));
    el.textContent = text;
  }
  function fill(id, value, limit) {
    var el = $(id);
    var f = limit ? Math.min(1, value / limit) : 0;
    el.style.width = (f * 100).toFixed(1) + "%";
    el.className = f > 0.8 ? "high" : "";
    el.setAttribute("data-fill", f.toFixed(4));
  }
  function rows(tableId, data) {
    var body = $(tableId).tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    data.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (c) {
        var td = document.createElement("td");
        td.textContent = c.text;
        if (c.cls) td.className = c.cls;
        if (c.value !== undefined) td.setAttribute("data-value", String(c.value));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  // Mean of the last minute's points (the rates are per second already).
  function minuteRate(xs, stepSecs) {
    var n = Math.min(xs.length, Math.max(1, Math.round(60 / stepSecs)));
    var sum = 0;
    for (var i = xs.length - n; i < xs.length; i++) sum += xs[i];
    return n ? sum / n : 0;
  }

  // A line chart of equally spaced series in an SVG of viewBox width w, height h.
  function chart(svg, series, colors, names) {
    var box = svg.viewBox.baseVal, w = box.width, h = box.height, pad = 16;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var max = 0;
    series.forEach(function (s) { s.forEach(function (v) { if (v > max) max = v; }); });
    max = max > 0 ? max * 1.1 : 1;
    for (var g = 0; g <= 2; g++) {
      var y = pad + (h - 2 * pad) * g / 2;
      var line = document.createElementNS(SVG, "line");
      line.setAttribute("class", "grid");
      line.setAttribute("x1", "0"); line.setAttribute("x2", String(w));
      line.setAttribute("y1", String(y)); line.setAttribute("y2", String(y));
      svg.appendChild(line);
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", "2"); label.setAttribute("y", String(y - 2));
      label.textContent = rate(max * (2 - g) / 2) + "/s";
      svg.appendChild(label);
    }
    series.forEach(function (s, k) {
      var pl = document.createElementNS(SVG, "polyline");
      var pts = [];
      var n = s.length;
      for (var i = 0; i < n; i++) {
        var x = n > 1 ? (w * i) / (n - 1) : w;
        var yy = h - pad - (h - 2 * pad) * (s[i] / max);
        pts.push(x.toFixed(1) + "," + yy.toFixed(1));
      }
      pl.setAttribute("points", pts.join(" "));
      pl.style.stroke = colors[k];
      pl.setAttribute("data-series", names[k]);
      svg.appendChild(pl);
    });
  }

  function show(s) {
    $("version").textContent = "v" + s.version + " · up " + age(s.startedAt, s.now);
    $("updated").textContent = new Date(s.now).toLocaleTimeString();
    $("updated").setAttribute("data-value", String(s.now));
    var t = s.totals;
    SIGNALS.forEach(function (sig) {
      figure("records-" + sig, t.records[sig], num(t.records[sig]));
      var r = minuteRate(s.rates.records[sig], s.rates.stepSecs);
      figure("rate-" + sig, r, rate(r));
    });
    var rejected = t.rejected.logs + t.rejected.traces + t.rejected.metrics;
    figure("rejected", rejected, num(rejected));
    figure("requests", t.requests, num(t.requests));
    figure("errors-4xx", t.errors4xx, num(t.errors4xx));
    figure("errors-5xx", t.errors5xx, num(t.errors5xx));
    var rr = minuteRate(s.rates.requests, s.rates.stepSecs), re = minuteRate(s.rates.errors, s.rates.stepSecs);
    figure("rate-requests", rr, rate(rr));
    figure("rate-errors", re, rate(re));
    rows("statuses", Object.keys(t.byStatus).sort().map(function (code) {
      var n = t.byStatus[code];
      var bad = Number(code) >= 400;
      return [{ text: code, cls: bad ? "bad" : "" }, { text: num(n), cls: "n", value: n }];
    }));
    figure("p50", s.latency.p50, ms(s.latency.p50));
    figure("p99", s.latency.p99, ms(s.latency.p99));
    figure("latency-requests", s.latency.requests, num(s.latency.requests));

    var b = s.buffer, wal = s.wal;
    figure("buffer-bytes", b.bytes, bytes(b.bytes));
    figure("buffer-rows", b.rows, num(b.rows));
    figure("pending-files", b.pendingFiles, num(b.pendingFiles));
    $("buffer-limit").textContent = b.batching && b.limitBytes ? "of " + bytes(b.limitBytes) : "(batching off)";
    fill("buffer-fill", b.bytes, b.limitBytes);
    figure("wal-bytes", wal.bytes, bytes(wal.bytes));
    figure("wal-segments", wal.segments, num(wal.segments));
    $("wal-limit").textContent = wal.enabled && wal.limitBytes ? "of " + bytes(wal.limitBytes) : "(off)";
    fill("wal-fill", wal.bytes, wal.limitBytes);

    var st = s.storage;
    var health = $("storage-health");
    health.textContent = st.healthy ? "healthy" : "failing";
    health.className = st.healthy ? "ok" : "bad";
    $("storage-backend").textContent = st.backend ? "(" + st.backend + ")" : "";
    figure("storage-operations", st.operations, num(st.operations));
    figure("storage-errors", st.errors, num(st.errors));
    figure("storage-retries", st.retries, num(st.retries));
    $("storage-last-error").textContent = st.lastError
      ? "last error " + age(st.lastError.at, s.now) + " ago (" + st.lastError.op + "): " + st.lastError.message
      : "";
    var cat = s.sources && s.sources.catalog;
    $("catalog").textContent = cat
      ? Object.keys(cat).map(function (k) { return k + ": " + (typeof cat[k] === "number" ? num(cat[k]) : String(cat[k])); }).join(" · ")
      : "off";

    var fwd = s.forward || [];
    $("forward-off").style.display = fwd.length ? "none" : "";
    $("forward").style.display = fwd.length ? "" : "none";
    rows("forward", fwd.map(function (d) {
      return [
        { text: d.name, cls: "key" },
        { text: d.state, cls: d.state === "closed" ? "ok" : "bad", value: d.state },
        { text: bytes(d.queueBytes) + " of " + bytes(d.maxQueueBytes), cls: "n", value: d.queueBytes },
        { text: num(d.queueRequests), cls: "n", value: d.queueRequests },
        { text: d.queueRequests ? Math.round(d.oldestAgeSecs) + " s" : "–", cls: "n", value: d.oldestAgeSecs },
        { text: num(d.sentRecords), cls: "n", value: d.sentRecords },
        { text: num(d.rejectedRecords), cls: "n", value: d.rejectedRecords },
        { text: num(d.droppedRecords), cls: "n", value: d.droppedRecords },
        { text: num(d.failedRequests), cls: "n", value: d.failedRequests },
        { text: num(d.sendFailures), cls: "n", value: d.sendFailures },
      ];
    }));

    figure("files", t.files, num(t.files));
    figure("rows", t.rows, num(t.rows));
    figure("bytes", t.bytes, bytes(t.bytes));
    rows("services", s.topServices.map(function (x) {
      return [{ text: x.service }, { text: num(x.records), cls: "n", value: x.records }];
    }));
    rows("recent", s.recentFiles.map(function (f) {
      return [
        { text: f.key, cls: "key" },
        { text: num(f.rows), cls: "n", value: f.rows },
        { text: bytes(f.bytes), cls: "n", value: f.bytes },
        { text: age(f.storedAt, s.now), cls: "n" },
      ];
    }));

    chart($("chart-records"), SIGNALS.map(function (sig) { return s.rates.records[sig]; }),
      ["var(--logs)", "var(--traces)", "var(--metrics)"], SIGNALS);
    chart($("chart-requests"), [s.rates.requests, s.rates.errors], ["var(--logs)", "var(--err)"],
      ["requests", "errors"]);
    document.body.setAttribute("data-updates", String(Number(document.body.getAttribute("data-updates") || "0") + 1));
  }

  function banner(text) {
    var el = $("banner");
    el.textContent = text;
    el.style.display = text ? "block" : "none";
  }

  function poll() {
    fetch("api/stats", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("GET /api/stats answered " + r.status);
        return r.json();
      })
      .then(function (s) { banner(""); show(s); })
      .catch(function (e) { banner("Cannot update: " + (e && e.message ? e.message : String(e))); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
</script>
</body>
</html>
`;
