/**
 * zstd (RFC 8878) through fzstd, with the frame structure checked first.
 *
 * fzstd allocates each frame's window from its header and, when streaming, copies the whole
 * window once per block: a few bytes of crafted headers could cost gigabytes of memory or
 * minutes of copying. So the data is walked frame by frame (block headers only, no decoding):
 * - frames with a declared content size are decoded in one call into a buffer of exactly that
 *   size (their sizes together must fit the limit);
 * - the others stream block by block with the output counted (`SizeLimitError` once it passes
 *   the limit); their window may be at most 8 MiB (RFC 9659, zstd for HTTP) and the copying
 *   work they cause (blocks × window) is bounded by what a legitimate input of the limit's size
 *   needs.
 */
import { Decompress, decompress as zstdDecompressFrame } from "fzstd";
import { concat, CorruptDataError, SizeLimitError } from "./index.ts";

const ZSTD_MAGIC = 0xfd2fb528;
/** RFC 9659: decoders of zstd Content-Encoding need not support windows over 8 MiB. */
export const ZSTD_MAX_WINDOW = 8 * 1024 * 1024;
const ZSTD_BLOCK_MAX = 128 * 1024;

interface ZstdFrame {
  start: number;
  end: number;
  /** Declared content size, or -1 when the frame does not say. */
  contentSize: number;
  window: number;
  blocks: number;
  /** Output of raw and RLE blocks (known from their headers). */
  knownBytes: number;
  skippable: boolean;
  /** Decoded in one call into a buffer of the content size (fzstd then allocates no window). */
  oneShot: boolean;
}

function corruptZstd(detail: string): CorruptDataError {
  return new CorruptDataError("zstd", detail);
}

const u32le = (d: Uint8Array, p: number) =>
  (d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24)) >>> 0;

/** The frames of a zstd stream, from their headers and block headers. Throws 400 when malformed. */
export function zstdFrames(d: Uint8Array): ZstdFrame[] {
  const frames: ZstdFrame[] = [];
  let pos = 0;
  while (pos < d.length) {
    if (d.length - pos < 4) throw corruptZstd(`truncated frame at byte ${pos}`);
    const magic = u32le(d, pos);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      if (d.length - pos < 8) throw corruptZstd(`truncated skippable frame at byte ${pos}`);
      const end = pos + 8 + u32le(d, pos + 4);
      if (end > d.length) throw corruptZstd(`truncated skippable frame at byte ${pos}`);
      frames.push({
        start: pos,
        end,
        contentSize: 0,
        window: 0,
        blocks: 0,
        knownBytes: 0,
        skippable: true,
        oneShot: false,
      });
      pos = end;
      continue;
    }
    if (magic !== ZSTD_MAGIC) {
      throw corruptZstd(
        `no zstd frame at byte ${pos} (magic 0x${magic.toString(16).padStart(8, "0")})`,
      );
    }
    const start = pos;
    let p = pos + 4;
    if (p >= d.length) throw corruptZstd(`truncated frame header at byte ${start}`);
    const fhd = d[p++];
    if (fhd & 0x08) throw corruptZstd(`reserved bit set in the frame header at byte ${start}`);
    const singleSegment = (fhd >> 5) & 1, checksum = (fhd >> 2) & 1;
    const didSize = [0, 1, 2, 4][fhd & 3];
    const fcsFlag = fhd >> 6;
    const fcsSize = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag];
    const headerEnd = p + (singleSegment ? 0 : 1) + didSize + fcsSize;
    if (headerEnd > d.length) throw corruptZstd(`truncated frame header at byte ${start}`);
    let window = 0;
    if (!singleSegment) {
      const wd = d[p++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += didSize;
    let contentSize = -1;
    if (fcsSize === 1) contentSize = d[p];
    else if (fcsSize === 2) contentSize = (d[p] | (d[p + 1] << 8)) + 256;
    else if (fcsSize === 4) contentSize = u32le(d, p);
    else if (fcsSize === 8) contentSize = u32le(d, p) + u32le(d, p + 4) * 2 ** 32;
    p = headerEnd;
    if (singleSegment) window = contentSize;
    let blocks = 0, knownBytes = 0;
    for (;;) {
      if (p + 3 > d.length) throw corruptZstd(`truncated block header at byte ${p}`);
      const h = d[p] | (d[p + 1] << 8) | (d[p + 2] << 16);
      const last = h & 1, type = (h >> 1) & 3, size = h >>> 3;
      p += 3;
      if (type === 0) p += size, knownBytes += size;
      else if (type === 1) p += 1, knownBytes += size;
      else if (type === 2) p += size;
      else throw corruptZstd(`reserved block type at byte ${p - 3}`);
      if (p > d.length) {
        throw corruptZstd(`truncated block at byte ${p - 3 - (type === 1 ? 1 : size)}`);
      }
      blocks++;
      if (last) break;
    }
    if (checksum) p += 4;
    if (p > d.length) throw corruptZstd(`truncated checksum at byte ${p - 4}`);
    // fzstd sizes a frame's buffer by its content size when it has one, by its window otherwise.
    const oneShot = contentSize > 0 || (contentSize === 0 && singleSegment === 1);
    frames.push({
      start,
      end: p,
      contentSize,
      window,
      blocks,
      knownBytes,
      skippable: false,
      oneShot,
    });
    pos = p;
  }
  return frames;
}

/** Decompresses a zstd body (one or more frames) with the output limited to `limit` bytes. */
export function decompressZstd(data: Uint8Array, limit: number): Uint8Array {
  const frames = zstdFrames(data);
  const tooBig = () => new SizeLimitError("zstd", limit);
  // Everything decidable from headers, before any work.
  let declared = 0, known = 0, work = 0;
  for (const f of frames) {
    if (f.skippable) continue;
    declared += Math.max(f.contentSize, 0);
    known += f.knownBytes;
    if (!f.oneShot) {
      if (f.window > ZSTD_MAX_WINDOW) {
        throw new SizeLimitError(
          "zstd",
          limit,
          `its window of ${f.window} bytes is larger than ${ZSTD_MAX_WINDOW} bytes (RFC 9659 limit)`,
        );
      }
      work += f.blocks * Math.max(f.window, ZSTD_BLOCK_MAX);
    }
  }
  if (declared > limit || known > limit) throw tooBig();
  // Streaming copies the window once per block; a legitimate body of `limit` bytes has about
  // limit / 128 KiB blocks. Allow twice that (and some slack for small bodies).
  const maxWork = (2 * Math.ceil(limit / ZSTD_BLOCK_MAX) + 64) * ZSTD_MAX_WINDOW;
  if (work > maxWork) {
    throw new SizeLimitError(
      "zstd",
      limit,
      `${
        frames.reduce((n, f) => n + f.blocks, 0)
      } blocks is too many for its size (each costs a window copy)`,
    );
  }

  const chunks: Uint8Array[] = [];
  let total = 0;
  const add = (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > limit) throw tooBig();
    chunks.push(chunk);
  };
  try {
    for (const f of frames) {
      if (f.skippable) continue;
      const frame = data.subarray(f.start, f.end);
      if (f.oneShot) {
        // Decoded straight into a buffer of the declared size (a frame that produces more is
        // corrupt; fzstd stays inside the buffer).
        add(zstdDecompressFrame(frame));
      } else {
        const d = new Decompress((chunk) => {
          if (chunk.length) add(chunk);
        });
        d.push(frame, true);
      }
    }
  } catch (e) {
    if (e instanceof SizeLimitError) throw e;
    throw corruptZstd(zstdErrorText(e));
  }
  return concat(chunks, total);
}

function zstdErrorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // fzstd's errors carry a code and terse messages.
  return e.message || e.name;
}
