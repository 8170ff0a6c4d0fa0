/**
 * OTLP/JSON bodies are decoded by a replacing TextDecoder and checked exactly only when the text
 * holds U+FFFD: invalid UTF-8 must still be rejected at its first bad byte, and a real U+FFFD
 * (or a byte order mark) must still be accepted.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import { dec, readTable } from "../fixtures.ts";

const enc = new TextEncoder();
const json = (body: string) =>
  `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":${
    JSON.stringify(body)
  }}}]}]}]}`;

function bodies(bytes: Uint8Array, format: "json" | "jsonl" = "json"): unknown[] {
  return readTable(dec("logs", bytes, format).tables[0]).Body;
}

Deno.test("an OTLP/JSON body holding a real U+FFFD is accepted as it is", () => {
  deepStrictEqual(bodies(enc.encode(json("a\uFFFDb"))), ["a\uFFFDb"]);
  deepStrictEqual(bodies(enc.encode(json("\uFFFD") + "\n" + json("x")), "jsonl"), ["\uFFFD", "x"]);
});

Deno.test("an OTLP/JSON body with a byte order mark is accepted", () => {
  const text = enc.encode(json("bom"));
  const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...text]);
  deepStrictEqual(bodies(withBom), ["bom"]);
});

for (
  const [what, bad] of [
    ["a lone continuation byte", [0x80]],
    ["a truncated sequence", [0xe2, 0x82]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["an overlong slash", [0xc0, 0xaf]],
  ] as [string, number[]][]
) {
  Deno.test(`an OTLP/JSON body with ${what} is rejected at its first bad byte`, () => {
    const [head, tail] = json("a\u0000b").split("\\u0000").map((s) => enc.encode(s));
    // A real U+FFFD before the bad bytes must not hide them.
    const fffd = enc.encode("\uFFFD");
    const body = new Uint8Array([...head, ...fffd, ...bad, ...tail]);
    const at = head.length + fffd.length;
    throws(() => dec("logs", body, "json"), (e) => {
      strictEqual(
        (e as Error).message,
        `Cannot decode ExportLogsServiceRequest: invalid UTF-8 in JSON at byte ${at}`,
      );
      return e instanceof DecodeError;
    });
  });
}
