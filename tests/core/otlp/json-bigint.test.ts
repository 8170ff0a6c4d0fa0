import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { quoteBigIntegers } from "../../../src/core/otlp/json-bigint.ts";

Deno.test("quoteBigIntegers() quotes integer literals of 16+ digits outside strings only", () => {
  const text = JSON.stringify({
    a: "T1",
    b: "x: 12345678901234567890, y",
    c: [1, 2.5, 1e21],
    d: "T2",
    e: 0.12345678901234567,
    f: "T3",
  })
    .replace('"T1"', "1700000000123456789")
    .replace('"T2"', "[ -9223372036854775808 , 18446744073709551615]")
    .replace('"T3"', "123456789012345678e2");
  const v = JSON.parse(quoteBigIntegers(text));
  deepStrictEqual(v, {
    a: "1700000000123456789",
    b: "x: 12345678901234567890, y",
    c: [1, 2.5, 1e21],
    d: ["-9223372036854775808", "18446744073709551615"],
    e: 0.12345678901234567,
    f: 123456789012345678e2,
  });
});

Deno.test("quoteBigIntegers() returns text without big integer literals unchanged", () => {
  const text = '{"timeUnixNano":"1700000000123456789","n":42,"s":"a\\"b"}';
  strictEqual(quoteBigIntegers(text), text);
});

Deno.test("quoteBigIntegers() keeps escaped quotes inside strings", () => {
  const text = '{"s":"a\\", 12345678901234567890","n":12345678901234567890}';
  deepStrictEqual(JSON.parse(quoteBigIntegers(text)), {
    s: 'a", 12345678901234567890',
    n: "12345678901234567890",
  });
});
