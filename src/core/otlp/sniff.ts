/**
 * The format of an OTLP body that comes without a name for it (HTTP without `Content-Type`, a
 * string given to the library): OTLP/JSON, JSON Lines or protobuf, told from its first bytes.
 */
import type { Format } from "./types.ts";

/**
 * The format of a body sent without `Content-Type`: `{` first (after whitespace) is OTLP/JSON,
 * or JSON Lines when another value follows the first one; anything else is protobuf.
 */
export function sniffFormat(body: Uint8Array): Format {
  let i = skipSpace(body, 0);
  if (i >= body.length || body[i] !== 0x7b /* { */) return "protobuf";
  i = endOfObject(body, i);
  if (i < 0) return "json";
  return skipSpace(body, i) < body.length ? "jsonl" : "json";
}

function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  return i;
}

/** Index after the JSON object starting at `i` (`b[i]` is `{`), or -1 if it does not end. */
function endOfObject(b: Uint8Array, i: number): number {
  let depth = 0;
  for (; i < b.length; i++) {
    const c = b[i];
    if (c === 0x22 /* " */) {
      for (i++; i < b.length && b[i] !== 0x22; i++) if (b[i] === 0x5c /* \ */) i++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}
