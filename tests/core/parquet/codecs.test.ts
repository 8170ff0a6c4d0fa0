import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { decompress as fzstd } from "fzstd";
import * as zlib from "node:zlib";
import { useNodeParquetZstd } from "../../../src/core/arrow/zstd.node.ts";
import { pageCompressor, RAW_FRAME_MAX, zstdRawFrame } from "../../../src/core/parquet/codecs.ts";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);

Deno.test("a raw zstd frame decodes to its bytes with fzstd and node:zlib, 9 bytes of framing", () => {
  for (const n of [0, 1, 7, 100, RAW_FRAME_MAX, 255]) {
    const data = bytes(n);
    const frame = zstdRawFrame(data);
    strictEqual(frame.length, n + 9, `size ${n}`);
    deepStrictEqual(fzstd(frame), data, `fzstd, size ${n}`);
    deepStrictEqual(new Uint8Array(zlib.zstdDecompressSync(frame)), data, `node:zlib, size ${n}`);
  }
  throws(() => zstdRawFrame(bytes(256)), /at most 255/);
});

Deno.test("the zstd page compressor frames pages up to RAW_FRAME_MAX raw, larger ones by zstd", () => {
  strictEqual(useNodeParquetZstd(), true);
  const z = pageCompressor("zstd")!;
  const small = bytes(RAW_FRAME_MAX);
  deepStrictEqual(z(small), zstdRawFrame(small));
  // A repetitive page one byte longer: compressed (smaller than itself), and decodes back.
  const big = new Uint8Array(RAW_FRAME_MAX + 1).fill(7);
  const packed = z(big);
  strictEqual(packed.length < big.length, true, `${packed.length} bytes`);
  deepStrictEqual(fzstd(packed), big);
});

Deno.test("the zstd page compressor's kept context: every page decodes alone, sizes as one call each with the size pledged", () => {
  strictEqual(useNodeParquetZstd(), true);
  // Text-like, repetitive, random and large pages (the output buffer grows past 64 KiB).
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  const words = ["service", "checkout", "GET /api/v1/orders", "200", "span", "k8s.pod.name"];
  const text = (n: number) => {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const w = new TextEncoder().encode(words[rand() % words.length] + " " + rand());
      out.set(w.subarray(0, n - at), at);
      at += w.length;
    }
    return out;
  };
  const pages = [
    ...[129, 500, 2_000, 9_000, 60_000].map(text),
    bytes(4_000),
    Uint8Array.from({ length: 3_000 }, rand),
    text(1_200_000),
    new Uint8Array(200_000).fill(3),
    text(700),
  ];
  for (const level of [1, 3]) {
    const z = pageCompressor("zstd", level)!;
    let ours = 0, pledged = 0;
    for (const page of pages) {
      const packed = z(page);
      deepStrictEqual(fzstd(packed), page, `fzstd, ${page.length} B at level ${level}`);
      deepStrictEqual(
        new Uint8Array(zlib.zstdDecompressSync(packed)),
        page,
        `node:zlib, ${page.length} B`,
      );
      ours += packed.length;
      pledged += zlib.zstdCompressSync(page, {
        params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
        pledgedSrcSize: page.length,
      }).length;
    }
    strictEqual(ours <= pledged * 1.01, true, `level ${level}: ${ours} B against ${pledged} B`);
  }
});
