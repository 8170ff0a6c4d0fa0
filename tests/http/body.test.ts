import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { HTTPException } from "hono/http-exception";
import {
  decodeContent,
  formatOfContentType,
  type Inflate,
  parseContentEncoding,
  readBody,
  sniffFormat,
} from "../../src/http/body.ts";
import { isZlib } from "../../src/codec/index.ts";
import { ZSTD_MAX_WINDOW, zstdFrames } from "../../src/codec/zstd.ts";
import { createInflate } from "../../src/codec/zlib.node.ts";
import { pseudoRandomBytes } from "../storage/conformance.ts";
import {
  gzip,
  jsonBytes,
  jsonlBytes,
  logsJson,
  logsPb,
  rawDeflate,
  zlibDeflate,
  zstd,
  ZSTD_PARAMS,
} from "./fixtures.ts";

const enc = new TextEncoder();
const MiB = 1024 * 1024;

function httpStatus(e: unknown, status: number, pattern?: RegExp): boolean {
  ok(e instanceof HTTPException, `expected an HTTPException, got ${e}`);
  strictEqual(e.status, status, e.message);
  if (pattern) {
    ok(pattern.test(e.message), `message ${JSON.stringify(e.message)} does not match ${pattern}`);
  }
  return true;
}

/** Pseudo-random bytes that compress poorly. */
function noise(n: number, seed = 7): Uint8Array<ArrayBuffer> {
  return pseudoRandomBytes(n, seed);
}

/** A stream of `total` bytes in `chunk`-sized pieces that counts what was pulled. */
function countingStream(
  total: number,
  chunk: number,
): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(chunk, total - sent);
      sent += n;
      c.enqueue(new Uint8Array(n).fill(0x41));
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => sent };
}

Deno.test("formatOfContentType() maps the OTLP content types and ignores parameters and case", () => {
  strictEqual(formatOfContentType("application/x-protobuf"), "protobuf");
  strictEqual(formatOfContentType("application/protobuf"), "protobuf");
  strictEqual(formatOfContentType("application/json"), "json");
  strictEqual(formatOfContentType("Application/JSON; charset=utf-8"), "json");
  strictEqual(formatOfContentType("application/x-ndjson"), "jsonl");
  strictEqual(formatOfContentType("application/jsonl"), "jsonl");
  strictEqual(formatOfContentType("application/json-lines"), "jsonl");
  strictEqual(formatOfContentType(null), null);
  strictEqual(formatOfContentType(""), null);
});

Deno.test("formatOfContentType() rejects any other type with 415 naming it", () => {
  throws(
    () => formatOfContentType("text/plain"),
    (e) => httpStatus(e, 415, /"text\/plain".*application\/x-protobuf/),
  );
  throws(() => formatOfContentType("application/octet-stream"), (e) => httpStatus(e, 415));
});

Deno.test("parseContentEncoding() accepts gzip, x-gzip, deflate, zlib, zstd, identity and lists", () => {
  deepStrictEqual(parseContentEncoding(null), []);
  deepStrictEqual(parseContentEncoding("identity"), []);
  deepStrictEqual(parseContentEncoding("GZIP"), ["gzip"]);
  deepStrictEqual(parseContentEncoding("x-gzip"), ["gzip"]);
  deepStrictEqual(parseContentEncoding("deflate"), ["deflate"]);
  deepStrictEqual(parseContentEncoding("zlib"), ["deflate"]);
  deepStrictEqual(parseContentEncoding("zstd"), ["zstd"]);
  deepStrictEqual(parseContentEncoding("deflate, gzip"), ["deflate", "gzip"]);
});

Deno.test("parseContentEncoding() rejects br and other encodings with 415 naming them", () => {
  throws(() => parseContentEncoding("br"), (e) => httpStatus(e, 415, /"br"/));
  throws(() => parseContentEncoding("gzip, compress"), (e) => httpStatus(e, 415, /"compress"/));
});

Deno.test("readBody() rejects a declared Content-Length over the limit without reading the body", async () => {
  const { stream, pulled } = countingStream(10 * MiB, 64 * 1024);
  const req = new Request("http://x/v1/logs", {
    method: "POST",
    body: stream,
    headers: { "content-length": String(10 * MiB) },
  });
  await rejects(readBody(req, MiB), (e) => httpStatus(e, 413, /10485760 bytes.*limit of 1048576/));
  ok(pulled() <= 64 * 1024, `read ${pulled()} bytes of a body it should not read`);
});

Deno.test("readBody() stops reading a streamed body as soon as it passes the limit", async () => {
  const { stream, pulled } = countingStream(50 * MiB, 16 * 1024);
  const req = new Request("http://x/v1/logs", { method: "POST", body: stream });
  await rejects(
    readBody(req, MiB),
    (e) => httpStatus(e, 413, /larger than the limit of 1048576 bytes/),
  );
  ok(pulled() <= MiB + 3 * 16 * 1024, `pulled ${pulled()} bytes for a 1 MiB limit`);
});

Deno.test("readBody() returns a body of exactly the limit", async () => {
  const data = noise(1000);
  const req = new Request("http://x/", { method: "POST", body: data });
  deepStrictEqual(await readBody(req, 1000), data);
  deepStrictEqual(
    await readBody(new Request("http://x/", { method: "POST" }), 10),
    new Uint8Array(0),
  );
});

Deno.test("readBody() returns the whole body with a Content-Length, chunked, or neither", async () => {
  const data = noise(300_000);
  const chunked = () => {
    let at = 0;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= data.length) return c.close();
        c.enqueue(data.slice(at, at += 65_536));
      },
    });
  };
  const post = (body: BodyInit, headers: Record<string, string>) =>
    new Request("http://x/v1/logs", { method: "POST", body, headers });
  deepStrictEqual(
    await readBody(post(chunked(), { "content-length": String(data.length) }), data.length),
    data,
  );
  deepStrictEqual(await readBody(post(chunked(), { "transfer-encoding": "chunked" }), MiB), data);
  deepStrictEqual(await readBody(post(chunked(), {}), MiB), data);
  await rejects(
    readBody(post(chunked(), { "transfer-encoding": "chunked" }), data.length - 1),
    (e) => httpStatus(e, 413, /larger than the limit of 299999 bytes/),
  );
});

Deno.test("isZlib() tells zlib-wrapped from raw deflate", () => {
  const data = noise(100);
  ok(isZlib(zlibDeflate(data)));
  ok(!isZlib(rawDeflate(data)));
});

const DECODERS: [string, Inflate | undefined][] = [
  ["DecompressionStream", undefined],
  ["node:zlib", createInflate()],
];

for (const [name, inflate] of DECODERS) {
  Deno.test(`decodeContent() with ${name} undoes gzip, zlib deflate, raw deflate and zstd`, async () => {
    const data = enc.encode(JSON.stringify(logsJson(200)));
    deepStrictEqual(await decodeContent(gzip(data), ["gzip"], MiB, inflate), data);
    deepStrictEqual(await decodeContent(zlibDeflate(data), ["deflate"], MiB, inflate), data);
    deepStrictEqual(await decodeContent(rawDeflate(data), ["deflate"], MiB, inflate), data);
    deepStrictEqual(await decodeContent(zstd(data), ["zstd"], MiB, inflate), data);
    deepStrictEqual(await decodeContent(gzip(zstd(data)), ["zstd", "gzip"], MiB, inflate), data);
    deepStrictEqual(await decodeContent(data, [], MiB, inflate), data);
  });

  Deno.test(`decodeContent() with ${name} stops a gzip bomb at the limit quickly (413)`, async () => {
    // 64 MiB of zeros: ~64 KB of gzip, inflating far past a 1 MiB limit.
    const bomb = gzip(new Uint8Array(64 * MiB));
    ok(bomb.length < 100_000, `bomb is ${bomb.length} bytes`);
    const t = performance.now();
    await rejects(
      decodeContent(bomb, ["gzip"], MiB, inflate),
      (e) => httpStatus(e, 413, /Decompressed gzip body.*1048576/),
    );
    const ms = performance.now() - t;
    ok(ms < 1000, `took ${ms} ms`);
  });

  Deno.test(`decodeContent() with ${name} accepts exactly the limit and rejects one byte more (413)`, async () => {
    const data = noise(100_000);
    for (const [packed, coding] of [[gzip(data), "gzip"], [rawDeflate(data), "deflate"]] as const) {
      deepStrictEqual(await decodeContent(packed, [coding], 100_000, inflate), data);
      await rejects(
        decodeContent(packed, [coding], 99_999, inflate),
        (e) => httpStatus(e, 413, new RegExp(`Decompressed ${coding} body .*99999 bytes`)),
      );
    }
  });

  Deno.test(`decodeContent() with ${name} stops a deflate bomb at the limit (413)`, async () => {
    const bomb = zlibDeflate(new Uint8Array(32 * MiB));
    await rejects(
      decodeContent(bomb, ["deflate"], MiB, inflate),
      (e) => httpStatus(e, 413, /deflate/),
    );
  });

  Deno.test(`decodeContent() with ${name} answers 400 naming the encoding for corrupt or truncated data`, async () => {
    const data = gzip(noise(10_000));
    await rejects(
      decodeContent(noise(500), ["gzip"], MiB, inflate),
      (e) => httpStatus(e, 400, /^Cannot decompress gzip body: /),
    );
    await rejects(
      decodeContent(data.subarray(0, 5000), ["gzip"], MiB, inflate),
      (e) => httpStatus(e, 400, /gzip/),
    );
    await rejects(
      decodeContent(noise(500), ["zstd"], MiB, inflate),
      (e) => httpStatus(e, 400, /^Cannot decompress zstd body: /),
    );
    const z = zstd(noise(10_000));
    await rejects(
      decodeContent(z.subarray(0, z.length - 100), ["zstd"], MiB, inflate),
      (e) => httpStatus(e, 400, /zstd/),
    );
  });
}

Deno.test("createInflate() decodes gzip whose size trailer is only a hint: several members, very compressible data", async () => {
  const inflate = createInflate();
  const a = noise(40_000), b = enc.encode("x".repeat(70_000));
  // The last member's trailer names 70,000 bytes of 110,000.
  const two = new Uint8Array([...gzip(a), ...gzip(b)]);
  deepStrictEqual(await decodeContent(two, ["gzip"], MiB, inflate), new Uint8Array([...a, ...b]));
  // 3 MiB of zeros from ~3 KB: more than 64x the input, so decoded in several chunks.
  const zeros = new Uint8Array(3 * MiB);
  deepStrictEqual(await decodeContent(gzip(zeros), ["gzip"], 4 * MiB, inflate), zeros);
  // A wrong size trailer is corrupt data, not a wrong result.
  const bad = gzip(a);
  bad[bad.length - 2] ^= 1;
  await rejects(decodeContent(bad, ["gzip"], MiB, inflate), (e) => httpStatus(e, 400, /gzip/));
});

/** A zstd body through the HTTP layer's decoder: 413 past the limit, 400 when corrupt. */
function unzstd(data: Uint8Array, limit: number = MiB): Promise<Uint8Array> {
  return decodeContent(data, ["zstd"], limit);
}

Deno.test("decodeContent() with zstd decodes frames with and without a content size, and several frames", async () => {
  const a = enc.encode("a".repeat(300_000) + "tail"), b = noise(200_000);
  const noSize = zstd(a, { [ZSTD_PARAMS.ZSTD_c_contentSizeFlag]: 0 });
  strictEqual(zstdFrames(noSize)[0].contentSize, -1);
  deepStrictEqual(await unzstd(noSize, MiB), a);
  const both = new Uint8Array([...zstd(a), ...zstd(b)]);
  const out = await unzstd(both, MiB);
  deepStrictEqual(out, new Uint8Array([...a, ...b]));
  // A skippable frame in between is ignored.
  const skip = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  deepStrictEqual(
    await unzstd(new Uint8Array([...zstd(b), ...skip, ...zstd(a)]), MiB),
    new Uint8Array([...b, ...a]),
  );
});

/** A zstd frame without content size: window descriptor `wd`, then `blocks` (3-byte headers + data). */
function zstdFrame(wd: number, blocks: Uint8Array[]): Uint8Array {
  const parts = [0x28, 0xb5, 0x2f, 0xfd, 0x00, wd];
  for (const b of blocks) parts.push(...b);
  return Uint8Array.from(parts);
}
function rleBlock(size: number, byte: number, last: boolean): Uint8Array {
  const h = (size << 3) | (1 << 1) | (last ? 1 : 0);
  return Uint8Array.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, byte]);
}
function rawBlock(data: number[], last: boolean): Uint8Array {
  const h = (data.length << 3) | (last ? 1 : 0);
  return Uint8Array.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, ...data]);
}

Deno.test("decodeContent() with zstd rejects a zstd bomb from its block headers without decoding (413)", async () => {
  // 400 RLE blocks of 128 KiB: 1.6 KB that would expand to 50 MiB.
  const blocks = Array.from({ length: 400 }, (_, i) => rleBlock(128 * 1024, 0x41, i === 399));
  const bomb = zstdFrame(0x58, /* 2 MiB window */ blocks);
  const t = performance.now();
  await rejects(unzstd(bomb, MiB), (e) => httpStatus(e, 413, /Decompressed zstd body.*1048576/));
  ok(performance.now() - t < 200);
});

Deno.test("decodeContent() with zstd stops a real zstd bomb while decoding (413)", async () => {
  const bomb = zstd(new Uint8Array(64 * MiB), { [ZSTD_PARAMS.ZSTD_c_contentSizeFlag]: 0 });
  ok(bomb.length < 10_000, `bomb is ${bomb.length} bytes`);
  const t = performance.now();
  await rejects(unzstd(bomb, MiB), (e) => httpStatus(e, 413));
  ok(performance.now() - t < 1000);
  // With a declared content size, the header alone decides.
  await rejects(unzstd(zstd(new Uint8Array(8 * MiB)), MiB), (e) => httpStatus(e, 413));
});

Deno.test("decodeContent() with zstd rejects a window over 8 MiB (RFC 9659) before allocating it", async () => {
  // Window descriptor 0xa8: exponent 21 → 2^(10+21) = 2 GiB.
  const huge = zstdFrame(0xa8, [rawBlock([1, 2, 3], true)]);
  await rejects(
    unzstd(huge, 20 * MiB),
    (e) => httpStatus(e, 413, /window of 2147483648 bytes.*8388608/),
  );
  // Exactly 8 MiB is fine.
  const eight = zstdFrame(0x68, [rawBlock([1, 2, 3], true)]);
  strictEqual(zstdFrames(eight)[0].window, ZSTD_MAX_WINDOW);
  deepStrictEqual(await unzstd(eight, MiB), Uint8Array.from([1, 2, 3]));
});

Deno.test("decodeContent() with zstd refuses many tiny blocks in a large window (window-copy work bound)", async () => {
  const blocks = Array.from({ length: 5000 }, (_, i) => rawBlock([65], i === 4999));
  const t = performance.now();
  await rejects(unzstd(zstdFrame(0x68, blocks), MiB), (e) => httpStatus(e, 413, /5000 blocks/));
  ok(performance.now() - t < 200);
  // The same blocks in a small window are cheap and fine.
  strictEqual((await unzstd(zstdFrame(0x00, /* 1 KiB */ blocks), MiB)).length, 5000);
});

Deno.test("decodeContent() reports truncated and malformed zstd frames as 400", async () => {
  await rejects(
    unzstd(Uint8Array.from([0x28, 0xb5, 0x2f])),
    (e) => httpStatus(e, 400, /truncated frame at byte 0/),
  );
  await rejects(
    unzstd(zstdFrame(0x58, [Uint8Array.from([0x21, 0, 0])])),
    (e) => httpStatus(e, 400, /truncated block/),
  );
  await rejects(
    unzstd(zstdFrame(0x58, [Uint8Array.from([0x07, 0, 0])])),
    (e) => httpStatus(e, 400, /reserved block type/),
  );
  await rejects(
    unzstd(Uint8Array.from([1, 2, 3, 4, 5])),
    (e) => httpStatus(e, 400, /no zstd frame at byte 0 \(magic 0x04030201\)/),
  );
});

Deno.test("sniffFormat() tells protobuf, OTLP/JSON and JSON Lines apart", () => {
  strictEqual(sniffFormat(logsPb()), "protobuf");
  strictEqual(sniffFormat(new Uint8Array(0)), "protobuf");
  strictEqual(sniffFormat(jsonBytes(logsJson())), "json");
  strictEqual(
    sniffFormat(enc.encode(" \n" + JSON.stringify(logsJson(), null, 2) + "\n\n")),
    "json",
  );
  strictEqual(sniffFormat(jsonlBytes(logsJson(), logsJson())), "jsonl");
  // Braces inside strings do not end the object.
  strictEqual(sniffFormat(enc.encode('{"a":"}\\"{"}\n')), "json");
  strictEqual(sniffFormat(enc.encode('{"a":"}"}\n{"b":1}')), "jsonl");
  // Unbalanced: JSON (the decoder says what is wrong).
  strictEqual(sniffFormat(enc.encode('{"a":')), "json");
});
