/**
 * Server mode end to end, traces: the OpenTelemetry JS SDK's OTLP trace exporters send spans of
 * every kind and status, with events and links; DuckDB (and hyparquet for nanoseconds) reads
 * them back.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { type Context, context, type Span, trace } from "@opentelemetry/api";
import { mapKeys, mapObj } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import {
  CLIENT_VARIANTS,
  sendSpans,
  SpanKind,
  SpanStatusCode,
  TraceState,
} from "../helpers/otel.ts";
import {
  assertColumns,
  assertJsonOk,
  assertKeys,
  attrs,
  DEFAULT_COLUMNS,
  filesOf,
  postJson,
  readNs,
  rowsOf,
  tracesRequest,
  uniqueService,
} from "./support.ts";

const BASE_S = 1_700_000_000; // 2023-11-14T22:13:20Z
const BASE_NS = 1_700_000_000_000_000_000n;
const REMOTE_TRACE = "0af7651916cd43dd8448eb211c80319c";
const REMOTE_SPAN = "b7ad6b7169203331";
const LINK_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const LINK_SPAN = "00f067aa0ba902b7";

for (const { protocol, gzip } of CLIENT_VARIANTS) {
  const variant = `${protocol}${gzip ? "+gzip" : ""}`;
  Deno.test(`SDK spans over ${variant} keep kinds, statuses, Duration, events and links`, async () => {
    await withServer({}, async (srv) => {
      const service = uniqueService(`traces-${protocol}${gzip ? "-gz" : ""}`);
      const ids: Record<string, { traceId: string; spanId: string }> = {};
      const keep = (name: string, s: Span) => (ids[name] = s.spanContext());
      await sendSpans({ url: srv.url, protocol, gzip, service }, (tracer) => {
        const root = tracer.startSpan("root", {
          kind: SpanKind.SERVER,
          startTime: [BASE_S, 100],
          attributes: { "http.method": "GET", "http.status_code": 200, ok: true, ratio: 0.25 },
        });
        keep("root", root);
        root.addEvent("first", { "e.k": "v", n: 3 }, [BASE_S, 500_000_001]);
        root.addEvent("second", {}, [BASE_S + 1, 7]);
        const inRoot: Context = trace.setSpan(context.active(), root);
        const kinds: [string, SpanKind, SpanStatusCode, string?][] = [
          ["internal", SpanKind.INTERNAL, SpanStatusCode.UNSET],
          ["client", SpanKind.CLIENT, SpanStatusCode.OK],
          ["producer", SpanKind.PRODUCER, SpanStatusCode.ERROR, "boom: it failed"],
          ["consumer", SpanKind.CONSUMER, SpanStatusCode.UNSET],
        ];
        kinds.forEach(([name, kind, code, message], i) => {
          const s = tracer.startSpan(name, { kind, startTime: [BASE_S + 2 + i, 0] }, inRoot);
          keep(name, s);
          if (code !== SpanStatusCode.UNSET) s.setStatus({ code, message });
          s.end([BASE_S + 2 + i, 1_000 * (i + 1)]);
        });
        // a span under a remote parent with a trace state, linking to two other spans
        const remote = trace.setSpanContext(context.active(), {
          traceId: REMOTE_TRACE,
          spanId: REMOTE_SPAN,
          traceFlags: 1,
          isRemote: true,
          traceState: new TraceState("vendor=x,other=y"),
        });
        const linked = tracer.startSpan("linked", {
          startTime: [BASE_S + 10, 0],
          links: [
            { context: root.spanContext(), attributes: { "link.kind": "follows" } },
            {
              context: {
                traceId: LINK_TRACE,
                spanId: LINK_SPAN,
                traceFlags: 0,
                traceState: new TraceState("ls=1"),
              },
            },
          ],
        }, remote);
        keep("linked", linked);
        linked.end([BASE_S + 10, 42]);
        root.end([BASE_S + 1, 250]);
      });

      const files = await filesOf(srv, "traces", service);
      await assertColumns(files, DEFAULT_COLUMNS.traces);
      await assertKeys(srv, "traces", service);
      const rows = await rowsOf(files);
      strictEqual(rows.length, 6);
      const by = Object.fromEntries(rows.map((r) => [r.SpanName as string, r]));

      const root = by.root;
      strictEqual(root.TraceId, ids.root.traceId);
      strictEqual(root.SpanId, ids.root.spanId);
      strictEqual(root.ParentSpanId, "");
      strictEqual(root.TraceState, "");
      strictEqual(root.SpanKind, "Server");
      strictEqual(root.ServiceName, service);
      deepStrictEqual(mapObj(root.ResourceAttributes), { "service.name": service });
      strictEqual(root.ScopeName, "e2e-traces");
      strictEqual(root.ScopeVersion, "4.5.6");
      deepStrictEqual(mapKeys(root.SpanAttributes), [
        "http.method",
        "http.status_code",
        "ok",
        "ratio",
      ]);
      deepStrictEqual(mapObj(root.SpanAttributes), {
        "http.method": "GET",
        "http.status_code": "200",
        ok: "true",
        ratio: "0.25",
      });
      strictEqual(root.Duration, 1_000_000_150n);
      strictEqual(root.StatusCode, "Unset");
      strictEqual(root.StatusMessage, "");
      deepStrictEqual(root["Events.Name"], ["first", "second"]);
      deepStrictEqual(
        (root["Events.Timestamp"] as Date[]).map((d) => d.getTime()),
        [BASE_S * 1000 + 500, (BASE_S + 1) * 1000],
      );
      deepStrictEqual((root["Events.Attributes"] as unknown[]).map(mapObj), [
        { "e.k": "v", n: "3" },
        {},
      ]);
      deepStrictEqual(root["Links.TraceId"], []);
      deepStrictEqual(root["Links.SpanId"], []);
      deepStrictEqual(root["Links.TraceState"], []);
      deepStrictEqual(root["Links.Attributes"], []);

      const expectKinds: [string, string, string, string, bigint][] = [
        ["internal", "Internal", "Unset", "", 1_000n],
        ["client", "Client", "Ok", "", 2_000n],
        ["producer", "Producer", "Error", "boom: it failed", 3_000n],
        ["consumer", "Consumer", "Unset", "", 4_000n],
      ];
      for (const [name, kind, code, message, duration] of expectKinds) {
        const r = by[name];
        strictEqual(r.SpanKind, kind, name);
        strictEqual(r.StatusCode, code, name);
        strictEqual(r.StatusMessage, message, name);
        strictEqual(r.Duration, duration, name);
        strictEqual(r.TraceId, ids.root.traceId, name);
        strictEqual(r.SpanId, ids[name].spanId, name);
        strictEqual(r.ParentSpanId, ids.root.spanId, name);
        deepStrictEqual(r["Events.Name"], [], name);
      }

      const linked = by.linked;
      strictEqual(linked.TraceId, REMOTE_TRACE);
      strictEqual(linked.ParentSpanId, REMOTE_SPAN);
      strictEqual(linked.TraceState, "vendor=x,other=y");
      strictEqual(linked.SpanKind, "Internal");
      strictEqual(linked.Duration, 42n);
      deepStrictEqual(linked["Links.TraceId"], [ids.root.traceId, LINK_TRACE]);
      deepStrictEqual(linked["Links.SpanId"], [ids.root.spanId, LINK_SPAN]);
      deepStrictEqual(linked["Links.TraceState"], ["", "ls=1"]);
      deepStrictEqual((linked["Links.Attributes"] as unknown[]).map(mapObj), [
        { "link.kind": "follows" },
        {},
      ]);

      // nanoseconds exactly: span start times and event times
      const exact = new Map<string, { ts: bigint; ev: bigint[] }>();
      for (const f of files) {
        for (const r of await readNs(f, ["SpanName", "Timestamp", "Events.Timestamp"])) {
          exact.set(r.SpanName as string, {
            ts: r.Timestamp as bigint,
            ev: r["Events.Timestamp"] as bigint[],
          });
        }
      }
      deepStrictEqual(exact.get("root"), {
        ts: BASE_NS + 100n,
        ev: [BASE_NS + 500_000_001n, BASE_NS + 1_000_000_007n],
      });
      deepStrictEqual(exact.get("linked"), { ts: BASE_NS + 10_000_000_000n, ev: [] });
    });
  });
}

Deno.test("a span that ends before it starts has Duration 0; kind 0 is Unspecified", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("traces-json");
    const a = await postJson(
      srv,
      "/v1/traces",
      tracesRequest(service, [{
        traceId: "5b8efff798038103d269b633813fc60c",
        spanId: "eee19b7ec3c1b174",
        parentSpanId: "eee19b7ec3c1b173",
        name: "backwards",
        kind: 0,
        startTimeUnixNano: "1700000000000000500",
        endTimeUnixNano: "1700000000000000100",
        attributes: attrs({ k: "v" }),
        status: { code: 2, message: "bad" },
      }, {
        traceId: "5b8efff798038103d269b633813fc60c",
        spanId: "eee19b7ec3c1b175",
        name: "no-end",
        kind: 5,
        startTimeUnixNano: "1700000000000000500",
      }]),
    );
    assertJsonOk(a);
    const files = await filesOf(srv, "traces", service);
    const rows = await rowsOf(files, "*", "ORDER BY SpanName");
    deepStrictEqual(
      rows.map((r) => [r.SpanName, r.SpanKind, r.Duration, r.StatusCode, r.StatusMessage]),
      [["backwards", "Unspecified", 0n, "Error", "bad"], ["no-end", "Consumer", 0n, "Unset", ""]],
    );
    strictEqual(rows[0].ParentSpanId, "eee19b7ec3c1b173");
    strictEqual(rows[1].ParentSpanId, "");
  });
});
