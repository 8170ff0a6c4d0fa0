/**
 * Compressed requests in the write-ahead log: logged as they came (record type 5) and
 * decompressed when read back; logs of uncompressed records (type 1, the only data record of
 * earlier versions) still replay.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import * as zlib from "node:zlib";
import { createBatchWriter } from "../../../src/batch/batcher.ts";
import type { WriteRequest } from "../../../src/batch/types.ts";
import {
  decodeBody,
  decodePayload,
  encodePayload,
  frameRecord,
  loggableEncoding,
  parseSegment,
  segmentHeader,
  segmentName,
  Wal,
  type WalRecord,
} from "../../../src/batch/wal/index.ts";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import {
  config,
  convertFixture,
  CountingWalFs,
  ids,
  MemoryLogger,
  request,
  tempDir,
  TestStorage,
  walFiles,
} from "../helpers.ts";

const enc = new TextEncoder();
const gzip = (b: Uint8Array) => new Uint8Array(zlib.gzipSync(b));
const zlibDeflate = (b: Uint8Array) => new Uint8Array(zlib.deflateSync(b));
const rawDeflate = (b: Uint8Array) => new Uint8Array(zlib.deflateRawSync(b));
const zstd = (b: Uint8Array) => new Uint8Array(zlib.zstdCompressSync(b));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
};

const BODY = enc.encode(
  JSON.stringify({ service: "svc", timeNs: "1", ids: ids("x", 200) }),
);

type DataRecord = Extract<WalRecord, { type: "data" }>;

function dataRecord(encoded?: DataRecord["encoded"]): DataRecord {
  const r: DataRecord = {
    type: "data",
    signal: "traces",
    format: "jsonl",
    receivedAtNs: 1_714_557_600_123_456_789n,
    body: BODY,
  };
  return encoded ? { ...r, encoded } : r;
}

Deno.test("a compressed data record stores the bytes as received and reads back the decompressed body", () => {
  const cases: [string, DataRecord][] = [
    ["gzip", dataRecord({ encodings: ["gzip"], bytes: gzip(BODY) })],
    ["zlib", dataRecord({ encodings: ["deflate"], bytes: zlibDeflate(BODY) })],
    ["raw deflate", dataRecord({ encodings: ["deflate"], bytes: rawDeflate(BODY) })],
    ["zstd", dataRecord({ encodings: ["zstd"], bytes: zstd(BODY) })],
    ["gzip, zstd", dataRecord({ encodings: ["gzip", "zstd"], bytes: zstd(gzip(BODY)) })],
    [
      "zstd with a skippable frame",
      dataRecord({
        encodings: ["zstd"],
        bytes: concat(
          zstd(BODY.subarray(0, 50)),
          Uint8Array.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]),
          zstd(BODY.subarray(50)),
        ),
      }),
    ],
    [
      "two gzip members",
      dataRecord({
        encodings: ["gzip"],
        bytes: concat(gzip(BODY.subarray(0, 100)), gzip(BODY.subarray(100))),
      }),
    ],
  ];
  for (const [name, r] of cases) {
    const payload = encodePayload(r);
    strictEqual(payload[0], 5, name);
    // The stored bytes are the compressed ones, at the end of the payload.
    deepStrictEqual(payload.subarray(payload.length - r.encoded!.bytes.length), r.encoded!.bytes);
    ok(payload.length < BODY.length, `${name}: ${payload.length} bytes`);
    const back = decodePayload(payload);
    ok(back?.type === "data", name);
    deepStrictEqual(back.body, BODY, name);
    deepStrictEqual(back.encoded, r.encoded, name);
    strictEqual(back.signal, "traces");
    strictEqual(back.format, "jsonl");
    strictEqual(back.receivedAtNs, 1_714_557_600_123_456_789n);
  }
});

Deno.test("loggableEncoding() keeps one coding that is smaller and, for gzip, one member ending the bytes", () => {
  const keep = (encodings: DataRecord["encoded"] & object) => loggableEncoding(BODY, encodings);
  for (
    const e of [
      { encodings: ["gzip"], bytes: gzip(BODY) },
      { encodings: ["deflate"], bytes: zlibDeflate(BODY) },
      { encodings: ["deflate"], bytes: rawDeflate(BODY) },
      { encodings: ["zstd"], bytes: zstd(BODY) },
    ] as const
  ) {
    strictEqual(keep(e), e, e.encodings[0]);
    // What replay reads back is the body.
    deepStrictEqual(decodeBody(e), BODY);
  }
  const half = BODY.length >> 1;
  for (
    const [why, e] of [
      ["two codings", { encodings: ["gzip", "zstd"], bytes: zstd(gzip(BODY)) }],
      ["two gzip members", {
        encodings: ["gzip"],
        bytes: concat(gzip(BODY.subarray(0, half)), gzip(BODY.subarray(half))),
      }],
      ["zero padding after gzip", {
        encodings: ["gzip"],
        bytes: concat(gzip(BODY), new Uint8Array(8)),
      }],
      ["not smaller", { encodings: ["zstd"], bytes: new Uint8Array(BODY.length) }],
    ] as const
  ) {
    strictEqual(keep(e), undefined, why);
  }
  strictEqual(loggableEncoding(BODY, undefined), undefined);
});

Deno.test("a data record without encoded bytes is still the decompressed body (type 1)", () => {
  const payload = encodePayload(dataRecord());
  strictEqual(payload[0], 1);
  deepStrictEqual(payload.subarray(11), BODY);
  const back = decodePayload(payload);
  deepStrictEqual(back, dataRecord());
});

Deno.test("a damaged compressed body fails with DecodeError when its body is read, not when parsed", () => {
  const bytes = gzip(BODY);
  bytes.fill(0xff, 10, 40);
  const payload = encodePayload(dataRecord({ encodings: ["gzip"], bytes }));
  const seg = parseSegment(concat(segmentHeader(new Uint8Array(8)), frameRecord(payload)));
  strictEqual(seg.records.length, 1);
  const r = seg.records[0].record;
  ok(r.type === "data");
  throws(() => r.body, (e: unknown) => {
    ok(e instanceof DecodeError, String(e));
    ok(e.message.startsWith("Cannot decompress a logged gzip body: "), e.message);
    return true;
  });
  throws(() => decodeBody({ encodings: ["zstd"], bytes: new Uint8Array([1, 2, 3, 4, 5]) }), {
    name: "DecodeError",
  });
});

Deno.test("decodePayload() rejects a compressed record with an unknown coding or a short header", () => {
  const payload = encodePayload(dataRecord({ encodings: ["gzip"], bytes: gzip(BODY) }));
  const bad = payload.slice();
  bad[12] = 7;
  strictEqual(decodePayload(bad), null);
  strictEqual(decodePayload(payload.subarray(0, 11)), null);
  const many = payload.slice(0, 12);
  many[11] = 3; // three codings named, none present
  strictEqual(decodePayload(many), null);
});

Deno.test("Wal.append() frames a payload given in parts as one record", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const fs = new CountingWalFs();
    const wal = new Wal(fs, dir, 1, { segmentBytes: 1 << 20 });
    const r = dataRecord({ encodings: ["gzip"], bytes: gzip(BODY) });
    const whole = encodePayload(r);
    await wal.append([whole.subarray(0, 13), whole.subarray(13, 20), whole.subarray(20)]);
    await wal.append(whole);
    await wal.close();
    const bytes = await Deno.readFile(`${dir}/${segmentName(1)}`);
    const seg = parseSegment(bytes);
    strictEqual(seg.tornBytes, 0);
    strictEqual(seg.records.length, 2);
    for (const { record } of seg.records) {
      ok(record.type === "data");
      deepStrictEqual(record.body, BODY);
    }
    // Both framings are byte-identical.
    const frame = frameRecord(whole);
    deepStrictEqual(bytes.subarray(16, 16 + frame.length), frame);
    deepStrictEqual(bytes.subarray(16 + frame.length), frame);
  } finally {
    await cleanup();
  }
});

/** `request()` with its body as it came over the wire, compressed with `compress`. */
function compressedRequest(
  service: string,
  rowIds: string[],
  coding: "gzip" | "deflate" | "zstd",
): WriteRequest {
  const r = request(service, rowIds);
  const f = coding === "gzip" ? gzip : coding === "zstd" ? zstd : zlibDeflate;
  return { ...r, encoded: { encodings: [coding], bytes: f(r.body) } };
}

Deno.test("the batching writer logs a compressed request as received, and replay after a crash stores its rows once", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const open = () =>
      createBatchWriter({
        config: config({ wal_dir: dir }),
        storage,
        logger: new MemoryLogger(),
        walFs: new CountingWalFs(),
        convert: convertFixture,
      });
    const w1 = await open();
    const acked: string[] = [];
    const codings = ["gzip", "deflate", "zstd"] as const;
    // Old-format records (uncompressed bodies, type 1) in the same log as compressed ones.
    await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const rowIds = ids(`r${i}`, 20);
      const req = i % 4 === 3
        ? request(`svc${i % 2}`, rowIds)
        : compressedRequest(`svc${i % 2}`, rowIds, codings[i % 3]);
      await w1.write(req);
      acked.push(...rowIds);
    }));
    await w1.abort();
    strictEqual(storage.objects.size, 0);

    // What the log holds: 23 compressed records (the bytes as sent), 7 plain ones.
    const expected = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const k = i % 4 === 3 ? "plain" : codings[i % 3];
      expected.set(k, (expected.get(k) ?? 0) + 1);
    }
    const kinds = new Map<string, number>();
    for (const name of await walFiles(dir)) {
      const bytes = await Deno.readFile(`${dir}/${name}`);
      for (const { record } of parseSegment(bytes).records) {
        if (record.type !== "data") continue;
        const k = record.encoded?.encodings.join(",") ?? "plain";
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
    }
    deepStrictEqual(Object.fromEntries(kinds), Object.fromEntries(expected));
    strictEqual(kinds.get("plain"), 7);

    const w2 = await open();
    strictEqual(w2.stats().replayedRecords, 30);
    await w2.close();
    deepStrictEqual(storage.bodies().sort(), acked.sort());
  } finally {
    await cleanup();
  }
});

Deno.test("the batching writer logs the decompressed body when compression did not make it smaller or is not safe to replay", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const storage = new TestStorage();
    const w = await createBatchWriter({
      config: config({ wal_dir: dir }),
      storage,
      logger: new MemoryLogger(),
      walFs: new CountingWalFs(),
      convert: convertFixture,
    });
    // A "compressed" form as large as the body, and gzip followed by zero padding (zlib takes
    // it, replay's decoder would not): the log keeps the bodies themselves.
    const small = request("svc", ["a"]);
    await w.write({ ...small, encoded: { encodings: ["gzip"], bytes: gzip(small.body) } });
    const padded = request("svc", ids("p", 50));
    const bytes = concat(gzip(padded.body), new Uint8Array(16));
    ok(bytes.length < padded.body.length);
    await w.write({ ...padded, encoded: { encodings: ["gzip"], bytes } });
    const [name] = await walFiles(dir);
    const records = parseSegment(await Deno.readFile(`${dir}/${name}`)).records;
    deepStrictEqual(
      records.map(({ record: r }) => r.type === "data" && [r.encoded, r.body.length]),
      [[undefined, small.body.length], [undefined, padded.body.length]],
    );
    await w.close();
    deepStrictEqual(storage.bodies().sort(), ["a", ...ids("p", 50)].sort());
  } finally {
    await cleanup();
  }
});
