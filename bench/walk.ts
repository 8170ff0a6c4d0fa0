/**
 * A floor for protobuf decoding in JavaScript: how long a walk over an ExportLogsServiceRequest
 * takes that does nothing a decoder could skip, next to the project's decoder on the same
 * requests.
 *
 *   deno run -A bench/walk.ts [--records N] [--runs N]
 *
 * - "walk": every tag and length of every message, down to AnyValue, read; nothing copied.
 * - "walk + copy": the same, and the bytes of every string and bytes field copied once into one
 *   buffer (short ones byte by byte, long ones with `set`, whichever is faster), which any
 *   decoder that owns its output must do.
 * - "decode": src/core/otlp/ (which also checks UTF-8, sorts attribute keys as the schema asks,
 *   writes offsets, repeats resource and scope columns on every row and renders non-string
 *   attribute values as text).
 *
 * The bound on (decode + split + IPC hand-off) is a quarter of parquet-wasm's write:
 * about 13.6 ms per 10,000 logs here (`deno task bench`), of which the hand-off's read inside
 * parquet-wasm alone takes ~4.3 ms. This script shows how much of the rest the wire format
 * itself takes.
 */
import { decode } from "../src/core/otlp/index.ts";
import { releaseRows } from "../src/core/otlp/sizing.ts";
import { generateRequest } from "./gen.ts";

/** Field numbers that are sub-messages, per message of the logs request. */
const SUB: Record<string, Record<number, string>> = {
  request: { 1: "resourceLogs" },
  resourceLogs: { 1: "resource", 2: "scopeLogs" },
  resource: { 1: "keyValue" },
  scopeLogs: { 1: "scope", 2: "logRecord" },
  scope: { 3: "keyValue" },
  logRecord: { 5: "anyValue", 6: "keyValue" },
  keyValue: { 2: "anyValue" },
  anyValue: { 5: "arrayValue", 6: "keyValueList" },
  arrayValue: { 1: "anyValue" },
  keyValueList: { 1: "keyValue" },
};
const KINDS = Object.keys(SUB);
const SUBS = KINDS.map((k) => {
  const a = new Int8Array(32).fill(-1);
  for (const [f, s] of Object.entries(SUB[k])) a[+f] = KINDS.indexOf(s);
  return a;
});

let out = new Uint8Array(0);
let at = 0;

/** Walks `[p, end)` as a message of kind `kind`; copies leaves into `out` when `copy`. */
function walk(b: Uint8Array, p: number, end: number, kind: number, copy: boolean): void {
  const subs = SUBS[kind];
  while (p < end) {
    let t = b[p++];
    if (t & 0x80) t = (t & 0x7f) | (b[p++] << 7);
    const wt = t & 7, f = t >>> 3;
    if (wt === 0) { while (b[p++] & 0x80); }
    else if (wt === 1) p += 8;
    else if (wt === 5) p += 4;
    else if (wt === 2) {
      let len = 0, shift = 0, x;
      do {
        x = b[p++];
        len |= (x & 0x7f) << shift;
        shift += 7;
      } while (x & 0x80);
      const s = f < 32 ? subs[f] : -1;
      if (s >= 0) walk(b, p, p + len, s, copy);
      else if (copy) {
        if (len < 24) { for (let j = 0; j < len; j++) out[at++] = b[p + j]; }
        else {
          out.set(b.subarray(p, p + len), at);
          at += len;
        }
      }
      p += len;
    } else throw new Error(`walk: wire type ${wt} at byte ${p}`);
  }
}

function timeIt(runs: number, reqs: Uint8Array[], f: (b: Uint8Array) => void): number[] {
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const b = reqs[i % reqs.length];
    const t0 = performance.now();
    f(b);
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b);
}

export interface WalkResult {
  records: number;
  requestBytes: number;
  /** Bytes "walk + copy" copied per request (every string and bytes field once). */
  copiedBytes: number;
  /** [stage, best ms, median ms] for walk, walk + copy, decode. */
  stages: [string, number, number][];
}

/** Times the three stages over 8 seeded logs requests of `records` records, `runs` runs each. */
export function walkBench(records: number, runs: number): WalkResult {
  const reqs = Array.from(
    { length: 8 },
    (_, i) => generateRequest("logs", { records, seed: i + 1 }).protobuf,
  );
  out = new Uint8Array(Math.max(...reqs.map((r) => r.length)));
  const opts = { receivedAtNs: 1n } as never;
  const stages: [string, number, number][] = [];
  const add = (name: string, ts: number[]) => stages.push([name, ts[0], ts[ts.length >> 1]]);
  add("walk", timeIt(runs, reqs, (b) => walk(b, 0, b.length, 0, false)));
  add("walk + copy", timeIt(runs, reqs, (b) => ((at = 0), walk(b, 0, b.length, 0, true))));
  at = 0;
  walk(reqs[0], 0, reqs[0].length, 0, true);
  const copiedBytes = at;
  add(
    "decode",
    timeIt(runs, reqs, (b) => {
      const d = decode("logs", b, "protobuf", opts);
      if (d.records !== records) throw new Error(`bench/walk: decoded ${d.records} records`);
      for (const t of d.tables) releaseRows(t);
    }),
  );
  return { records, requestBytes: reqs[0].length, copiedBytes, stages };
}

if (import.meta.main) {
  let records = 10_000, runs = 60;
  for (let i = 0; i < Deno.args.length; i++) {
    const a = Deno.args[i], v = Number(Deno.args[++i]);
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`bench/walk: ${a} needs a number`);
    if (a === "--records") records = v;
    else if (a === "--runs") runs = v;
    else throw new TypeError(`bench/walk: unknown argument "${a}"`);
  }
  const r = walkBench(records, runs);
  console.log(
    `logs, ${records} records per request (${(r.requestBytes / 1024).toFixed(0)} KB, ${
      (r.copiedBytes / 1024).toFixed(0)
    } KB of strings and bytes), ${runs} runs`,
  );
  console.log("| stage | best ms | median ms |\n|---|---:|---:|");
  for (const [name, best, med] of r.stages) {
    console.log(`| ${name} | ${best.toFixed(2)} | ${med.toFixed(2)} |`);
  }
}
