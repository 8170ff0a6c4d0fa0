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
