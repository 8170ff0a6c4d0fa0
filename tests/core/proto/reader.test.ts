import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { ByteSink } from "../../../src/core/otlp/anyvalue.ts";
import { detectSignal } from "../../../src/core/otlp/index.ts";
import { utf8ErrorAt, WireReader } from "../../../src/core/proto/reader.ts";
import { cat, encodePb, fld, toOtlpJson } from "../fixtures.ts";
import { LOGS_REQ, METRICS_REQ, TRACES_REQ } from "../requests.ts";

const td = new TextDecoder();
const sinkText = (f: (s: ByteSink) => void) => {
  const s = new ByteSink();
  f(s);
  return td.decode(s.buf.subarray(0, s.n));
};

let seed = 99;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const rnd32 = () => Math.floor(rnd() * 4294967296);

Deno.test("WireReader reads 64-bit varints and fixed64 as exact halves", () => {
  for (
    const v of [
      0n,
      1n,
      127n,
      128n,
      2n ** 32n - 1n,
      2n ** 32n,
      2n ** 53n + 1n,
      2n ** 63n,
      2n ** 64n - 1n,
    ]
  ) {
    const r = new WireReader(cat(fld(1, 0, v), fld(2, 1, v)), "T");
    r.tag(r.buf.length);
    r.varint64(r.buf.length);
    strictEqual((BigInt(r.hi) << 32n) | BigInt(r.lo), v);
    r.tag(r.buf.length);
    r.fixed64(r.buf.length);
    strictEqual((BigInt(r.hi) << 32n) | BigInt(r.lo), v);
  }
  // an int32 enum of -1 is a 10-byte varint; uint32() keeps the low 32 bits
  const r = new WireReader(fld(1, 0, -1n), "T");
  r.tag(r.buf.length);
  strictEqual(r.uint32(r.buf.length) | 0, -1);
  strictEqual(r.pos, r.buf.length);
});

Deno.test("WireReader rejects malformed varints, field 0, bad wire types and unbalanced groups", () => {
  const cases: [number[], string][] = [
    [
      [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      "malformed varint (more than 10 bytes) at byte 1",
    ],
    [[0x08, 0x80], "truncated varint at byte 1"],
    [[0x00, 0x01], "invalid field number 0 at byte 0"],
    [[0x0e], "invalid wire type 6 (field 1) at byte 1"],
    [[0x0c], "unexpected end-group tag (field 1) at byte 1"],
    [[0x0b, 0x08, 0x01], "truncated group (field 1) at byte 3"],
    [[0x0b, 0x14], "end-group tag for field 2 inside group 1 at byte 2"],
    [[0x09, 1, 2, 3], "truncated fixed64 at byte 1"],
    [[0x0d, 1, 2], "truncated fixed32 at byte 1"],
  ];
  for (const [bytes, msg] of cases) {
    const r = new WireReader(new Uint8Array(bytes), "T");
    throws(() => {
      while (r.pos < r.buf.length) r.skip(r.tag(r.buf.length), r.buf.length);
    }, { name: "DecodeError", message: `Cannot decode T: ${msg}` });
  }
});

Deno.test("utf8ErrorAt() agrees with a fatal TextDecoder on random bytes", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < 20000; i++) {
    const b = new Uint8Array(1 + Math.floor(rnd() * 6));
    for (let j = 0; j < b.length; j++) {
      b[j] = rnd() < 0.3 ? Math.floor(rnd() * 128) : 0x80 + Math.floor(rnd() * 128);
    }
    let ok = true;
    try {
      fatal.decode(b);
    } catch {
      ok = false;
    }
    strictEqual(utf8ErrorAt(b, 0, b.length) < 0, ok, `bytes ${b}`);
  }
});

Deno.test("WireReader.str() checks UTF-8 exactly at every alignment of the buffer", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < 3000; i++) {
    const text = new Uint8Array(Math.floor(rnd() * 24)).map(() =>
      rnd() < 0.9 ? 0x20 + Math.floor(rnd() * 90) : 0x80 + Math.floor(rnd() * 128)
    );
    // A field of non-ASCII bytes right before the string, so a check that looks outside the
    // string's bytes (in its first word) fails.
    const before = new Uint8Array(1 + Math.floor(rnd() * 4)).fill(0xc3);
    const field = cat(fld(2, 2, before), fld(1, 2, text));
    const offset = Math.floor(rnd() * 8);
    const backing = new Uint8Array(field.length + 16).fill(0xff); // invalid UTF-8 all around
    backing.set(field, offset);
    const r = new WireReader(backing.subarray(offset, offset + field.length), "T");
    let ok = true;
    try {
      fatal.decode(text);
    } catch {
      ok = false;
    }
    r.skip(r.tag(r.buf.length), r.buf.length);
    r.tag(r.buf.length);
    let valid = true;
    try {
      strictEqual(r.str(r.buf.length, "f"), r.buf.length);
    } catch (e) {
      strictEqual((e as Error).name, "DecodeError");
      valid = false;
    }
    strictEqual(valid, ok, `offset ${offset}, bytes ${text}`);
  }
});

Deno.test("ByteSink writes int64 exactly, doubles as String(x), base64 as btoa, JSON strings as JSON.stringify", () => {
  const ints = [
    0n,
    -1n,
    2n ** 53n - 1n,
    -(2n ** 53n) + 1n,
    2n ** 53n,
    -(2n ** 53n),
    2n ** 63n - 1n,
    -(2n ** 63n),
  ];
  for (let i = 0; i < 2000; i++) {
    ints.push(BigInt.asIntN(64, (BigInt(rnd32()) << 32n) | BigInt(rnd32())));
  }
  for (let i = 0; i < 2000; i++) {
    ints.push(
      BigInt.asIntN(64, (BigInt(rnd32() >>> 10) << 32n) | BigInt(rnd32())) * (i % 2 ? 1n : -1n),
    );
  }
  for (const v of ints) {
    const u = BigInt.asUintN(64, v);
    strictEqual(sinkText((s) => s.int64(Number(u & 0xffffffffn), Number(u >> 32n))), v.toString());
  }
  const f64 = new Float64Array(1), u32 = new Uint32Array(f64.buffer);
  const doubles = [
    0,
    -0,
    0.5,
    1e21,
    1e-7,
    123456789012,
    -42,
    2 ** 53,
    2 ** 53 + 2,
    NaN,
    Infinity,
    -Infinity,
    5e-324,
  ];
  for (let i = 0; i < 2000; i++) {
    u32[0] = rnd32();
    u32[1] = rnd32();
    doubles.push(f64[0], Math.round(rnd() * 1e6) * (i % 2 ? -1 : 1));
    // short decimals of every size, as metrics and durations are
    const k = Math.floor(rnd() * 8);
    doubles.push(Math.round(rnd() * 10 ** Math.floor(rnd() * 12)) / 10 ** k * (i % 2 ? -1 : 1));
    doubles.push(Math.round(rnd() * 1e4) / 10 ** k + Math.floor(rnd() * 1e9));
  }
  doubles.push(
    0.1,
    0.2,
    0.1 + 0.2,
    1.005,
    0.000001,
    0.0000015,
    999999999.999999,
    123456.7,
    1e-6,
    1.5e-6,
  );
  for (const x of doubles) strictEqual(sinkText((s) => s.double(x)), String(x));
  for (let n = 0; n < 40; n++) {
    const b = new Uint8Array(n).map(() => Math.floor(rnd() * 256));
    strictEqual(sinkText((s) => s.base64(b, 0, n)), btoa(String.fromCharCode(...b)));
  }
  const strings = ['a"b\\c', "\u0000\u0001\u001f\u007f", "\b\f\n\r\t", "é✓😀", "\u2028"];
  for (const str of strings) {
    const b = new TextEncoder().encode(str);
    strictEqual(sinkText((s) => s.jsonString(b, 0, b.length)), JSON.stringify(str));
  }
});

Deno.test("detectSignal() tells logs, traces and metrics apart in protobuf, JSON and JSONL", () => {
  const reqs = { logs: LOGS_REQ, traces: TRACES_REQ, metrics: METRICS_REQ } as const;
  for (const signal of ["logs", "traces", "metrics"] as const) {
    strictEqual(detectSignal(encodePb(signal, reqs[signal]), "protobuf"), signal);
    const json = toOtlpJson(signal, reqs[signal]);
    strictEqual(detectSignal(new TextEncoder().encode(json), "json"), signal);
    strictEqual(detectSignal(new TextEncoder().encode(`\n${json}\n${json}\n`), "jsonl"), signal);
  }
  // One minimal record each: a log with only a time, a span with only ids, a metric with a name and data.
  const wrap = (record: Uint8Array) => fld(1, 2, fld(2, 2, fld(2, 2, record)));
  strictEqual(detectSignal(wrap(fld(1, 1, 5n)), "protobuf"), "logs");
  strictEqual(
    detectSignal(
      wrap(cat(fld(1, 2, new Uint8Array(16).fill(1)), fld(2, 2, new Uint8Array(8).fill(1)))),
      "protobuf",
    ),
    "traces",
  );
  strictEqual(
    detectSignal(wrap(cat(fld(1, 2, "requests"), fld(7, 2, new Uint8Array(0)))), "protobuf"),
    "metrics",
  );
});

Deno.test("detectSignal() returns null when the content cannot tell", () => {
  const cases: [Uint8Array, "protobuf" | "json" | "jsonl"][] = [
    [new Uint8Array(0), "protobuf"],
    [fld(1, 2, fld(2, 2, new Uint8Array(0))), "protobuf"], // a scope without records
    [new Uint8Array([0xff, 0xff, 0xff]), "protobuf"],
    [fld(1, 2, fld(2, 2, fld(2, 2, fld(3, 2, "only-a-string")))), "protobuf"], // severity_text / trace_state / unit
    [new TextEncoder().encode("{}"), "json"],
    [new TextEncoder().encode("[1]"), "json"],
    [new TextEncoder().encode("{not json"), "json"],
    [new TextEncoder().encode('{"resourceLogs":[]}'.slice(0, 10)), "jsonl"],
  ];
  for (const [body, format] of cases) {
    strictEqual(detectSignal(body, format), null, `${body} ${format}`);
  }
  deepStrictEqual(
    detectSignal(new TextEncoder().encode('{"resource_spans": []}'), "json"),
    "traces",
  );
});
