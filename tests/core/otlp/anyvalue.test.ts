/**
 * AnyValues read in place when they are one field spanning the message (string, int, double,
 * bool) and by the general reader otherwise: every encoding protobuf allows must give the same
 * text, and broken ones the same errors, either way.
 */
import { strictEqual, throws } from "node:assert/strict";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import { ByteSink } from "../../../src/core/otlp/anyvalue.ts";
import { cat, dec, fld, readTable } from "../fixtures.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const ascii = (s: string) => [...new TextEncoder().encode(s)];

/** A logs request with one record whose body (field 5) is the raw AnyValue `value`. */
function withBody(value: Uint8Array): Uint8Array {
  const record = fld(5, 2, value);
  return fld(1, 2, fld(2, 2, fld(2, 2, record)));
}

/** A logs request with one record with one attribute `k` whose value is the raw `value`. */
function withAttr(value: Uint8Array): Uint8Array {
  const kv = cat(fld(1, 2, "k"), fld(2, 2, value));
  return fld(1, 2, fld(2, 2, fld(2, 2, fld(6, 2, kv))));
}

function body(value: Uint8Array): string {
  return readTable(dec("logs", withBody(value)).tables[0]).Body[0] as string;
}

function attr(value: Uint8Array): string {
  const m = readTable(dec("logs", withAttr(value)).tables[0]).LogAttributes[0] as string[][];
  return m[0][1];
}

const CASES: [string, Uint8Array, string][] = [
  ["a string", bytes(0x0a, 3, ...ascii("abc")), "abc"],
  [
    "a string of 200 bytes (two-byte length)",
    bytes(0x0a, 0xc8, 0x01, ...ascii("x".repeat(200))),
    "x".repeat(200),
  ],
  ["a string with a padded length", bytes(0x0a, 0x83, 0x00, ...ascii("abc")), "abc"],
  ["an int", bytes(0x18, 0x2a), "42"],
  ["a negative int", bytes(0x18, ...Array(9).fill(0xff), 0x01), "-1"],
  ["two ints (the last wins)", bytes(0x18, 0x05, 0x18, 0x07), "7"],
  ["an int, then a string (the last wins)", bytes(0x18, 0x05, 0x0a, 1, 0x78), "x"],
  ["a double", cat(bytes(0x21), new Uint8Array(new Float64Array([1.5]).buffer)), "1.5"],
  ["a bool", bytes(0x10, 0x01), "true"],
  ["a false bool", bytes(0x10, 0x00), "false"],
  ["a bool of value 2", bytes(0x10, 0x02), "true"],
  ["a bool as a two-byte varint", bytes(0x10, 0x80, 0x01), "true"],
  ["an empty value", bytes(), ""],
  ["an unknown field only", bytes(0x40, 0x01), ""],
];

for (const [what, value, want] of CASES) {
  Deno.test(`an AnyValue body that is ${what} reads as "${want.slice(0, 20)}"`, () => {
    strictEqual(body(value), want);
    strictEqual(attr(value), want);
  });
}

const BROKEN: [string, Uint8Array, RegExp][] = [
  ["a string length cut short", bytes(0x0a, 0x80), /truncated varint/],
  ["a string longer than its message", bytes(0x0a, 0x05, 0x61), /length 5 exceeds/],
  [
    "a string of invalid UTF-8",
    bytes(0x0a, 0x02, 0xc3, 0x28),
    /invalid UTF-8 in AnyValue\.string_value/,
  ],
  [
    "a long string of invalid UTF-8",
    bytes(0x0a, 0x81, 0x01, ...ascii("y".repeat(128)), 0xff),
    /invalid UTF-8 in AnyValue\.string_value/,
  ],
  ["an int cut short", bytes(0x18), /truncated varint/],
  ["an int of 11 bytes", bytes(0x18, ...Array(10).fill(0xff), 0x01), /malformed varint/],
  ["a double cut short", bytes(0x21, 1, 2, 3), /truncated double/],
];

for (const [what, value, error] of BROKEN) {
  Deno.test(`an AnyValue that is ${what} is rejected the same way as a body and an attribute`, () => {
    let bodyError = "";
    throws(() => body(value), (e) => {
      bodyError = (e as Error).message;
      return e instanceof DecodeError && error.test(bodyError);
    });
    throws(() => attr(value), (e) => e instanceof DecodeError && error.test((e as Error).message));
  });
}

Deno.test("ByteSink.double() prints every double as String() does", () => {
  const sink = new ByteSink();
  const td = new TextDecoder();
  let seed = 5;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const xs = [0.1, 0.3, 1e-6, 1e-7, 123456789.123456, 999999999.999999, 2 ** 51 / 1e6, -0, 5e-324];
  for (let i = 0; i < 50_000; i++) {
    // Decimals with 0–6 places over the whole range of magnitudes, and plain random doubles.
    const v = Math.floor(rnd() * 2 ** (rnd() * 52)) / 10 ** Math.floor(rnd() * 7);
    xs.push(v, -v, rnd() * 1e9, Math.round(rnd() * 1e6) / 1000);
  }
  for (const x of xs) {
    sink.n = 0;
    sink.double(x);
    strictEqual(td.decode(sink.buf.subarray(0, sink.n)), Object.is(x, -0) ? "0" : String(x));
  }
});
