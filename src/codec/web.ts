/**
 * gzip and deflate through the web `DecompressionStream`, the portable fallback when the
 * platform gives no synchronous decoder (Cloudflare Workers): the output is counted while it
 * streams and the stream is cancelled as soon as it passes the limit.
 */
import { concat, CorruptDataError, gunzipMembers, isZlib, SizeLimitError } from "./index.ts";

/** Input bytes handed to DecompressionStream at a time: deflate expands at most ~1032×, so the
 * output of one write is bounded (~8 MiB) and the limit check comes soon enough. */
const INFLATE_INPUT_CHUNK = 8192;

export async function decompressStream(
  data: Uint8Array,
  coding: "gzip" | "deflate",
  limit: number,
): Promise<Uint8Array> {
  const fmt: CompressionFormat = coding === "gzip"
    ? "gzip"
    : isZlib(data)
    ? "deflate"
    : "deflate-raw";
  const ds = new DecompressionStream(fmt);
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  let stopped = false;
  const feeding = (async () => {
    for (let i = 0; i < data.length && !stopped; i += INFLATE_INPUT_CHUNK) {
      await writer.write(data.subarray(i, i + INFLATE_INPUT_CHUNK) as Uint8Array<ArrayBuffer>);
    }
    if (!stopped) await writer.close();
  })().catch(() => {}); // errors surface on the readable side
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        stopped = true;
        throw new SizeLimitError(coding, limit);
      }
      chunks.push(value);
    }
  } catch (e) {
    stopped = true;
    await reader.cancel().catch(() => {});
    await writer.abort().catch(() => {});
    if (e instanceof SizeLimitError) throw e;
    // The web decoder takes one gzip member; RFC 1952 allows several, one after another (what
    // `cat a.gz b.gz` makes, and otlp2parquet's forwarding: ../forward/send.ts). Such a body
    // is read again by fflate, which takes them all; anything else stays the error it was.
    if (coding === "gzip") {
      const all = membersOf(data, limit);
      if (all) return all;
    }
    throw new CorruptDataError(coding, e instanceof Error ? e.message : String(e), { cause: e });
  }
  await feeding;
  return concat(chunks, total);
}

/** `data` decoded when it is gzip of several members, else undefined (`SizeLimitError` past `limit`). */
function membersOf(data: Uint8Array, limit: number): Uint8Array | undefined {
  try {
    const r = gunzipMembers(data, limit);
    return r.members > 1 ? r.data : undefined;
  } catch (e) {
    if (e instanceof SizeLimitError) throw e;
    return undefined;
  }
}
