/**
 * WireReader.checkUtf8() checks short strings with one OR and long ones a word at a time between
 * multi-byte sequences: it must accept exactly what a fatal TextDecoder accepts and name the
 * same first bad byte as utf8ErrorAt(), at any length and alignment.
 */
import { ok, strictEqual } from "node:assert/strict";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import { utf8ErrorAt, WireReader } from "../../../src/core/proto/reader.ts";

const fatal = new TextDecoder("utf-8", { fatal: true });

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "a",
  "hello world ",
  "é",
  "✓",
  "😀",
  "\u0000",
  "\u007f",
  "\u0080",
  "\u07ff",
  "\uffff",
];
/** Bytes that break UTF-8 in various ways. */
const BAD = [
  [0x80],
  [0xc0, 0xaf],
  [0xc3],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf0, 0x9f, 0x98],
  [0xff],
];

Deno.test("checkUtf8() agrees with a fatal TextDecoder and utf8ErrorAt() on mixed strings", () => {
  const rand = rng(7);
  const enc = new TextEncoder();
  let checked = 0, rejected = 0;
  for (let n = 0; n < 4000; n++) {
    const bytes: number[] = [];
    const parts = Math.floor(rand() * 40);
    for (let p = 0; p < parts; p++) {
      if (rand() < 0.03) bytes.push(...BAD[Math.floor(rand() * BAD.length)]);
      else bytes.push(...enc.encode(PIECES[Math.floor(rand() * PIECES.length)]));
    }
    // Some bytes before and after, so the string starts at every alignment.
    const lead = Math.floor(rand() * 5), tail = Math.floor(rand() * 3);
    const buf = new Uint8Array(lead + bytes.length + tail).fill(0x41);
    buf.set(bytes, lead);
    if (tail > 0 && rand() < 0.5) buf[lead + bytes.length] = 0xc3; // not part of the string
    const s = lead, e = lead + bytes.length;
    let valid = true;
    try {
      fatal.decode(buf.subarray(s, e));
    } catch {
      valid = false;
    }
    const r = new WireReader(buf, "Test");
    let error: unknown = null;
    try {
      r.checkUtf8(s, e, "field");
    } catch (x) {
      error = x;
    }
    strictEqual(error === null, valid, `bytes ${[...buf.subarray(s, e)]}`);
    if (!valid) {
      ok(error instanceof DecodeError);
      strictEqual(
        (error as Error).message,
        `Cannot decode Test: invalid UTF-8 in field at byte ${utf8ErrorAt(buf, s, e)}`,
      );
      rejected++;
    }
    checked++;
  }
  ok(rejected > 500 && checked - rejected > 500, `${rejected} of ${checked} rejected`);
});
