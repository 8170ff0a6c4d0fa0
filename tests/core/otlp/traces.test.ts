import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import { cat, dec, encodePb, fld, table, toOtlpJson } from "../fixtures.ts";
import { SID, TID, TRACES_REQ } from "../requests.ts";

const RES = [["host.name", "h1"], ["service.name", "api"]];

const EXPECTED_TRACES: Record<string, unknown[]> = {
  Timestamp: [
    1700000000000000000n,
    1700000000000000000n,
    0n,
    1700000000000000000n,
    4294967295n,
    1700000000000000000n,
  ],
  TraceId: Array(6).fill("4bf92f3577b34da6a3ce929d0e0e4736"),
  SpanId: [1, 2, 3, 4, 5, 6].map((i) => `00000000000000${i.toString(16).padStart(2, "0")}`),
  ParentSpanId: ["00f067aa0ba902b7", "", "", "", "", ""],
  TraceState: ["rojo=00f067aa0ba902b7", "", "", "", "", ""],
  SpanName: [0, 1, 2, 3, 4, 5].map((i) => `span-${i}`),
  SpanKind: ["Unspecified", "Internal", "Server", "Client", "Producer", "Unspecified"],
  ServiceName: Array(6).fill("api"),
  ResourceAttributes: Array(6).fill(RES),
  ScopeName: Array(6).fill("tracer"),
  ScopeVersion: Array(6).fill("0.1"),
  SpanAttributes: [[["http.method", "GET"], ["http.status_code", "200"]], [], [], [], [], []],
  Duration: [1500n, 1500n, 18446744073709551615n, 0n, 1n, 1500n],
  StatusCode: ["Error", "Ok", "Unset", "Unset", "Unset", "Unset"],
  StatusMessage: ["boom", "", "", "", "", ""],
  "Events.Timestamp": [[1700000000000000100n, 1700000000000000200n], [], [], [], [], []],
  "Events.Name": [["start", ""], [], [], [], [], []],
  "Events.Attributes": [[[["a", "2.5"], ["b", "false"]], []], [], [], [], [], []],
  "Links.TraceId": [["0af7651916cd43dd8448eb211c80319c", ""], [], [], [], [], []],
  "Links.SpanId": [["b7ad6b7169203331", ""], [], [], [], [], []],
  "Links.TraceState": [["a=b", ""], [], [], [], [], []],
  "Links.Attributes": [[[["l", "-1"]], []], [], [], [], [], []],
  SpanFlags: [0x301, 0, 0, 0, 0, 0],
  DroppedAttributesCount: [2, 0, 0, 0, 0, 0],
  DroppedEventsCount: [3, 0, 0, 0, 0, 0],
  DroppedLinksCount: [4, 0, 0, 0, 0, 0],
  ServiceNamespace: Array(6).fill(""),
  ServiceInstanceId: Array(6).fill(""),
};

Deno.test("decode() fills every traces column from a protobuf request", () => {
  const d = dec("traces", encodePb("traces", TRACES_REQ));
  strictEqual(d.records, 6);
  strictEqual(d.rejected, 0);
  deepStrictEqual(table(d, "traces"), EXPECTED_TRACES);
});

Deno.test("decode() gives the same traces columns for OTLP/JSON (hex or base64 ids) as for protobuf", () => {
  deepStrictEqual(
    table(dec("traces", toOtlpJson("traces", TRACES_REQ), "json"), "traces"),
    EXPECTED_TRACES,
  );
  deepStrictEqual(
    table(dec("traces", toOtlpJson("traces", TRACES_REQ, { hexIds: false }), "json"), "traces"),
    EXPECTED_TRACES,
  );
});

Deno.test("decode() reads span kinds and status codes given as enum names in JSON", () => {
  const json = JSON.stringify({
    resourceSpans: [{
      scopeSpans: [{
        spans: ["SPAN_KIND_SERVER", "SPAN_KIND_CONSUMER", 3].map((kind) => ({
          kind,
          status: { code: "STATUS_CODE_ERROR" },
          startTimeUnixNano: "10",
          endTimeUnixNano: 25,
        })),
      }],
    }],
  });
  const t = table(dec("traces", json, "json"), "traces");
  deepStrictEqual(t.SpanKind, ["Server", "Consumer", "Client"]);
  deepStrictEqual(t.StatusCode, ["Error", "Error", "Error"]);
  deepStrictEqual(t.Duration, [15n, 15n, 15n]);
});

Deno.test("decode() reads Span.flags after the other fields (two-byte tag) and skips Link.flags", () => {
  const link = cat(fld(6, 5, 0xffffffff), fld(1, 2, TID), fld(2, 2, SID));
  const s = cat(
    fld(16, 5, 0x100),
    fld(13, 2, link),
    fld(5, 2, "n"),
    fld(1, 2, TID),
    fld(2, 2, SID),
  );
  const t = table(dec("traces", fld(1, 2, fld(2, 2, fld(2, 2, s)))), "traces");
  deepStrictEqual(t.SpanFlags, [0x100]);
  deepStrictEqual(t["Links.SpanId"], [["00f067aa0ba902b7"]]);
  deepStrictEqual(t.SpanName, ["n"]);
});

Deno.test("decode() rejects a span id of the wrong length and invalid UTF-8 in a span name", () => {
  throws(() => dec("traces", fld(1, 2, fld(2, 2, fld(2, 2, fld(2, 2, new Uint8Array(7)))))), {
    name: "DecodeError",
    message:
      "Cannot decode ExportTraceServiceRequest: Span.span_id has 7 bytes, expected 8 at byte 8",
  });
  throws(() => dec("traces", fld(1, 2, fld(2, 2, fld(2, 2, fld(5, 2, new Uint8Array([0xff])))))), {
    name: "DecodeError",
    message: "Cannot decode ExportTraceServiceRequest: invalid UTF-8 in Span.name at byte 8",
  });
  const json = JSON.stringify({
    resourceSpans: [{ scopeSpans: [{ spans: [{ links: [{ spanId: "00f067aa0ba902" }] }] }] }],
  });
  throws(() => dec("traces", json, "json"), {
    name: "DecodeError",
    message:
      "Cannot decode ExportTraceServiceRequest: resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId: " +
      'expected 16 hex digits (or base64 of 8 bytes), got "00f067aa0ba902"',
  });
});

Deno.test("decode() of a traces request cut at every byte either decodes or throws DecodeError", () => {
  const full = encodePb("traces", TRACES_REQ);
  for (let n = 0; n < full.length; n++) {
    try {
      dec("traces", full.subarray(0, n));
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
  }
});

Deno.test("decode() keeps event and link attributes apart when they share keys", () => {
  const attr = (v: string) => [{ key: "k", value: { stringValue: v } }];
  const s = (i: number) => ({
    traceId: TID,
    spanId: SID,
    attributes: attr(`s${i}`),
    events: [{ attributes: attr(`e${i}a`) }, { attributes: attr(`e${i}b`) }],
    links: [{ traceId: TID, spanId: SID, attributes: attr(`l${i}`) }],
  });
  const req = { resourceSpans: [{ scopeSpans: [{ spans: [s(1), s(2)] }] }] };
  for (
    const t of [
      table(dec("traces", encodePb("traces", req)), "traces"),
      table(dec("traces", toOtlpJson("traces", req), "json"), "traces"),
    ]
  ) {
    deepStrictEqual(t.SpanAttributes, [[["k", "s1"]], [["k", "s2"]]]);
    deepStrictEqual(t["Events.Attributes"], [[[["k", "e1a"]], [["k", "e1b"]]], [[["k", "e2a"]], [[
      "k",
      "e2b",
    ]]]]);
    deepStrictEqual(t["Links.Attributes"], [[[["k", "l1"]]], [[["k", "l2"]]]]);
  }
  // events and links interleaved on the wire
  const ev = (v: string) => fld(11, 2, fld(3, 2, cat(fld(1, 2, "k"), fld(2, 2, fld(1, 2, v)))));
  const ln = (v: string) => fld(13, 2, fld(4, 2, cat(fld(1, 2, "k"), fld(2, 2, fld(1, 2, v)))));
  const wire = fld(1, 2, fld(2, 2, fld(2, 2, cat(ev("a"), ln("b"), ev("c"), ln("d"), ev("e")))));
  const t = table(dec("traces", wire), "traces");
  deepStrictEqual(t["Events.Attributes"], [[[["k", "a"]], [["k", "c"]], [["k", "e"]]]]);
  deepStrictEqual(t["Links.Attributes"], [[[["k", "b"]], [["k", "d"]]]]);
});
