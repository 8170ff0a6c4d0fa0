import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { gzipSync } from "node:zlib";
import {
  CorruptDataError,
  decompress,
  decompressTrusted,
  isGzip,
  isZlib,
  isZstd,
  SizeLimitError,
} from "../../src/codec/index.ts";
import { createInflate, createThreadedGzip } from "../../src/codec/zlib.node.ts";
import { gunzipSync } from "node:zlib";
import { rawDeflate, zlibDeflate, zstd } from "../http/fixtures.ts";

const enc = new TextEncoder();
const data = enc.encode("otlp2parquet ".repeat(5000));

Deno.test("isGzip(), isZlib() and isZstd() recognise their magic bytes and nothing else", () => {
  ok(isGzip(gzipSync(data)));
  ok(isZlib(zlibDeflate(data)));
  ok(!isZlib(rawDeflate(data)));
  ok(isZstd(zstd(data)));
  for (const other of [data, new Uint8Array(0), Uint8Array.of(0x1f)]) {
    ok(!isGzip(other) && !isZstd(other));
  }
});

Deno.test("decompressTrusted() undoes gzip (several members), zlib, raw deflate and zstd, in order", () => {
  const two = new Uint8Array([...gzipSync(data), ...gzipSync(data)]);
  deepStrictEqual(decompressTrusted(two, ["gzip"]), new Uint8Array([...data, ...data]));
  deepStrictEqual(decompressTrusted(zlibDeflate(data), ["deflate"]), data);
  deepStrictEqual(decompressTrusted(rawDeflate(data), ["deflate"]), data);
  deepStrictEqual(decompressTrusted(zstd(data), ["zstd"]), data);
  // zstd applied first, then gzip: gzip is undone first.
  deepStrictEqual(decompressTrusted(gzipSync(zstd(data)), ["zstd", "gzip"]), data);
  strictEqual(decompressTrusted(new Uint8Array(0), ["gzip"]).length, 0);
});

Deno.test("decompressTrusted() reports corrupt data as CorruptDataError naming the coding", () => {
  throws(() => decompressTrusted(data.subarray(0, 100), ["gzip"]), (e) => {
    ok(e instanceof CorruptDataError && e instanceof SyntaxError);
    strictEqual(e.coding, "gzip");
    ok(e.message.startsWith("Cannot decompress gzip data: "), e.message);
    return true;
  });
  throws(() => decompressTrusted(data.subarray(0, 100), ["zstd"]), CorruptDataError);
});

for (
  const [name, inflate] of [["web streams", undefined], ["node:zlib", createInflate()]] as const
) {
  Deno.test(`decompress() with ${name} stops at the limit with SizeLimitError`, async () => {
    deepStrictEqual(await decompress(gzipSync(data), ["gzip"], data.length, inflate), data);
    await rejects(decompress(gzipSync(data), ["gzip"], data.length - 1, inflate), (e) => {
      ok(e instanceof SizeLimitError && e instanceof RangeError);
      strictEqual(e.coding, "gzip");
      strictEqual(e.limit, data.length - 1);
      return true;
    });
    await rejects(decompress(zstd(data), ["zstd"], 1000, inflate), SizeLimitError);
    await rejects(decompress(data.subarray(0, 50), ["deflate"], 1000, inflate), CorruptDataError);
  });

  Deno.test(`decompress() with ${name} reads gzip of several members (RFC 1952), within the limit`, async () => {
    const three = new Uint8Array([...gzipSync(data), ...gzipSync("and"), ...gzipSync(data)]);
    const all = new Uint8Array([...data, ...enc.encode("and"), ...data]);
    deepStrictEqual(await decompress(three, ["gzip"], all.length, inflate), all);
    // The limit counts every member: one byte short fails, past the first member.
    await rejects(decompress(three, ["gzip"], all.length - 1, inflate), (e) => {
      ok(e instanceof SizeLimitError, String(e));
      strictEqual(e.limit, all.length - 1);
      return true;
    });
    // A second member cut short, and bytes after a member that are no member, are corrupt.
    const cut = three.subarray(0, three.length - 10);
    await rejects(decompress(cut, ["gzip"], 1 << 20, inflate), CorruptDataError);
    const junk = new Uint8Array([...gzipSync(data), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await rejects(decompress(junk, ["gzip"], 1 << 20, inflate), CorruptDataError);
  });
}

Deno.test("the gzip thread compresses bodies kept and bodies given away, many at once; closed, it compresses in place", async () => {
  const failures: string[] = [];
  const gzip = createThreadedGzip((why) => failures.push(why));
  try {
    const bodies = Array.from({ length: 20 }, (_, i) => enc.encode(`body ${i} `.repeat(1000 + i)));
    const kept = bodies.map((b) => b.slice());
    const given = bodies.map((b) => b.slice());
    const outs = await Promise.all([
      ...kept.map((b) => gzip(b)),
      ...given.map((b) => gzip(b, true)),
    ]);
    for (let i = 0; i < 20; i++) {
      deepStrictEqual(new Uint8Array(gunzipSync(outs[i])), bodies[i]);
      deepStrictEqual(new Uint8Array(gunzipSync(outs[20 + i])), bodies[i]);
      // A body kept is still there; one given away moved to the thread (Deno runs one).
      deepStrictEqual(kept[i], bodies[i]);
      strictEqual(given[i].byteLength, 0);
    }
    deepStrictEqual(failures, []);
  } finally {
    gzip.close();
  }
  const after = await gzip(data);
  deepStrictEqual(new Uint8Array(gunzipSync(after)), data);
});

Deno.test("the gzip's buffers come back once compressed and serve the next body (on its thread and in place)", async () => {
  const gzip = createThreadedGzip();
  const body = enc.encode("a merged export ".repeat(40_000)); // 640 KB
  const fill = (b: Uint8Array) => {
    b.set(body.subarray(0, b.length));
    return b;
  };
  try {
    // On the thread: the memory moves there and back.
    const first = fill(gzip.buffer(body.length));
    strictEqual(first.length, body.length);
    const out1 = await gzip(first, true);
    strictEqual(first.byteLength, 0, "moved to the thread");
    deepStrictEqual(new Uint8Array(gunzipSync(out1)), body);
    // The same memory serves the next one: its old bytes are still in it (no fresh zeroed buffer).
    const second = gzip.buffer(1000);
    deepStrictEqual(second, body.subarray(0, 1000), "the pooled memory, as the thread left it");
    const out2 = await gzip(fill(second), true);
    deepStrictEqual(new Uint8Array(gunzipSync(out2)), body.subarray(0, 1000));
    // Two taken at once: the second is new memory (zeroed), not the first one's.
    const a = gzip.buffer(2000), b = gzip.buffer(2000);
    ok(a.buffer !== b.buffer);
    // Memory not given as owned is copied and never pooled.
    const kept = fill(gzip.buffer(3000));
    const out3 = await gzip(kept);
    strictEqual(kept.length, 3000);
    deepStrictEqual(new Uint8Array(gunzipSync(out3)), body.subarray(0, 3000));
  } finally {
    gzip.close();
  }
  // Closed: compressed in place, and the memory still comes back to the pool.
  const here = fill(gzip.buffer(5000));
  const buf = here.buffer;
  deepStrictEqual(new Uint8Array(gunzipSync(await gzip(here, true))), body.subarray(0, 5000));
  strictEqual(gzip.buffer(4000).buffer, buf);
});
