/** createLogger(): logfmt and JSON lines, level filtering, quoting, bigints. */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { createLogger } from "../../src/log/logger.ts";

const now = () => new Date("2025-01-02T03:04:05.678Z");

function capture(level: "error" | "warn" | "info" | "debug", format: "text" | "json") {
  const lines: string[] = [];
  const log = createLogger({ level, format, now, write: (l) => lines.push(l) });
  return { log, lines };
}

Deno.test("createLogger() writes logfmt lines with quoted values where needed", () => {
  const { log, lines } = capture("info", "text");
  log.info("listening", {
    url: "http://127.0.0.1:4318",
    port: 4318,
    ok: true,
    big: 12345678901234567890n,
    text: 'a "b" c',
    empty: "",
    none: null,
    skipped: undefined,
  });
  deepStrictEqual(lines, [
    'ts=2025-01-02T03:04:05.678Z level=info msg="listening" url=http://127.0.0.1:4318 port=4318 ' +
    'ok=true big=12345678901234567890 text="a \\"b\\" c" empty="" none=null',
  ]);
});

Deno.test("createLogger() writes one JSON object per line", () => {
  const { log, lines } = capture("debug", "json");
  log.warn("storage check failed", { error: "line1\nline2", n: 3, big: 2n ** 64n, level: "x" });
  strictEqual(lines.length, 1);
  deepStrictEqual(JSON.parse(lines[0]), {
    ts: "2025-01-02T03:04:05.678Z",
    level: "warn",
    msg: "storage check failed",
    error: "line1\nline2",
    n: 3,
    big: "18446744073709551616",
    "field.level": "x",
  });
  strictEqual(lines[0].includes("\n"), false, "a multi-line value stays on one line");
});

Deno.test("createLogger() drops lines below its level", () => {
  const { log, lines } = capture("warn", "text");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  deepStrictEqual(lines.map((l) => l.split(" ")[1]), ["level=warn", "level=error"]);
  strictEqual(log.debugEnabled, false);
  strictEqual(capture("debug", "text").log.debugEnabled, true);
});

Deno.test("createLogger() keeps a message with newlines on one text line", () => {
  const { log, lines } = capture("info", "text");
  log.error("bad\nthing", { "odd key": "v" });
  deepStrictEqual(lines, ['ts=2025-01-02T03:04:05.678Z level=error msg="bad\\nthing" odd_key=v']);
});
