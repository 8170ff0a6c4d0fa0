/**
 * Arrow IPC *file* bytes (`.arrow`, what `output.format = "arrow"` writes) from column builders,
 * on the stream writer of ./ipc.ts: the same schema and record batch messages, the same columns
 * as the Parquet files, framed as the file format and optionally with compressed buffers.
 *
 * File layout (https://arrow.apache.org/docs/format/Columnar.html#ipc-file-format):
 *
 *   "ARROW1" 0x00 0x00                       magic, padded to 8
 *   schema message, record batch messages    as in the stream format (./ipc.ts)
 *   0xFFFFFFFF 0x00000000                    end-of-stream marker
 *   Footer flatbuffer                        version, schema, a Block per record batch:
 *                                            { offset: int64, metaDataLength: int32, bodyLength: int64 }
 *   footer length (int32 LE), "ARROW1"
 *
 * Compressed bodies (`arrow.compression = "zstd" | "lz4"`): the batch's `BodyCompression` names
 * the codec (ZSTD, or LZ4_FRAME: the LZ4 frame format) with method BUFFER, and each non-empty
 * buffer is an int64 LE uncompressed length followed by the compressed bytes; a buffer that
 * does not get smaller is stored as it is, after the length -1. Empty buffers (validity: no
 * column has nulls) stay empty. Buffers start 8-aligned as always.
 *
 * The bytes depend only on the rows (no clock, no hash-map order), so the write-through
 * writer's content ids work for these files too.
 */
import * as arrow from "apache-arrow";
import { BodyCompression, BufferRegion } from "apache-arrow/ipc/metadata/message";
import { FileBlock, Footer } from "apache-arrow/ipc/metadata/file";
import { Message, RecordBatch as BatchHeader } from "apache-arrow/ipc/metadata/message";
import { CompressionType } from "apache-arrow/fb/compression-type";
import { ipcBatches } from "../parquet/encode.ts";
import type { Profile, TableBuilder, TableName } from "../tables.ts";
import { VERSION } from "../../version.ts";
import {
  type BatchColumns,
  batchMessage,
  pad8,
  type Plan,
  planBatch,
  schemaMessage,
  writeBody,
  writeEndOfStream,
  writeMessage,
} from "./ipc.ts";
import { arrowCompressor, type Compress } from "./codecs.ts";

export type ArrowCompression = "none" | "zstd" | "lz4";
export const ARROW_COMPRESSIONS: readonly ArrowCompression[] = ["none", "zstd", "lz4"];

export interface ArrowFileOptions {
  /** Buffer compression (default "none"). */
  compression: ArrowCompression;
  profile: Profile;
}

const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

const CODEC_TYPE: Record<Exclude<ArrowCompression, "none">, CompressionType> = {
  zstd: CompressionType.ZSTD,
  lz4: CompressionType.LZ4_FRAME,
};

/** The schema of a table's files, with the same key-value metadata as the Parquet files. */
function fileSchema(base: arrow.Schema, table: TableName, profile: Profile): arrow.Schema {
  const key = `${table}/${profile}`;
  let s = fileSchemas.get(key);
  if (s === undefined || s.fields !== base.fields) {
    s = new arrow.Schema(
      base.fields,
      new Map([
        ["otlp2parquet.version", VERSION],
        ["otlp2parquet.schema_profile", profile],
        ["otlp2parquet.table", table],
      ]),
    );
    fileSchemas.set(key, s);
  }
  return s;
}

const fileSchemas = new Map<string, arrow.Schema>();

/**
 * The rows of `b` (one builder, or several of one table whose rows follow each other) as one
 * Arrow IPC file. Throws `TypeError` when the compression's codec is not loaded
 * (`loadArrowCompressor`, ./codecs.ts).
 */
export function encodeArrowFile(
  b: TableBuilder | readonly TableBuilder[],
  opts: ArrowFileOptions,
): Uint8Array {
  const { schema: base, batches } = ipcBatches(b, opts.profile, {});
  const table = Array.isArray(b) ? b[0].table : (b as TableBuilder).table;
  const schema = fileSchema(base, table, opts.profile);
  const compression = opts.compression ?? "none";
  if (compression === "none") return ipcFile(schema, batches);
  const compress = arrowCompressor(compression);
  if (!compress) {
    throw new TypeError(
      `internal: no ${compression} compressor loaded for Arrow IPC files (loadArrowCompressor)`,
    );
  }
  return ipcFile(schema, batches, { type: CODEC_TYPE[compression], compress });
}

/** One record batch as it goes into the file: its metadata and how to write its body. */
interface FileBatch {
  meta: Uint8Array;
  bodyLength: number;
  write(out: Uint8Array, at: number): void;
}

/** The Arrow IPC file of `batches` under `schema`, with buffers compressed by `codec`. */
export function ipcFile(
  schema: arrow.Schema,
  batches: readonly BatchColumns[],
  codec?: { type: CompressionType; compress: Compress },
): Uint8Array {
  const schemaFb = schemaMessage(schema);
  const planned: FileBatch[] = batches.map((b) => {
    const plan = planBatch(schema, b);
    return codec ? compressedBatch(b.rows, plan, codec) : plainBatch(b.rows, plan);
  });
  const blocks: FileBlock[] = [];
  let at = 8 + 8 + pad8(schemaFb.length);
  for (const p of planned) {
    const metaLength = 8 + pad8(p.meta.length);
    blocks.push(new FileBlock(metaLength, p.bodyLength, at));
    at += metaLength + p.bodyLength;
  }
  const footer = Footer.encode(new Footer(schema, arrow.MetadataVersion.V5, blocks, []));
  const total = at + 8 + footer.length + 4 + MAGIC.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer, 0, total);
  out.set(MAGIC, 0); // then two zero bytes
  at = writeMessage(out, view, 8, schemaFb);
  for (const p of planned) {
    at = writeMessage(out, view, at, p.meta);
    p.write(out, at);
    at += p.bodyLength;
  }
  writeEndOfStream(view, at);
  at += 8;
  out.set(footer, at);
  at += footer.length;
  view.setInt32(at, footer.length, true);
  out.set(MAGIC, at + 4);
  return out;
}

function plainBatch(rows: number, plan: Plan): FileBatch {
  return {
    meta: batchMessage(rows, plan),
    bodyLength: plan.bodyLength,
    write(out, at) {
      for (const _ of writeBody(out, at, plan));
    },
  };
}

/**
 * A batch whose buffers are compressed now, one at a time (each copied out of the builders into
 * a buffer of its own first): the metadata needs the compressed lengths.
 */
function compressedBatch(
  rows: number,
  plan: Plan,
  codec: { type: CompressionType; compress: Compress },
): FileBatch {
  const regions: BufferRegion[] = [];
  const parts: { offset: number; prefix: number; data: Uint8Array }[] = [];
  let offset = 0;
  for (let j = 0; j < plan.regions.length; j++) {
    const length = plan.regions[j].length;
    const w = plan.writers[j];
    if (length === 0 || !w) {
      regions.push(new BufferRegion(offset, 0));
      continue;
    }
    const raw = new Uint8Array(length);
    w(raw, 0);
    const packed = codec.compress(raw);
    const data = packed.length < length ? packed : raw;
    parts.push({ offset, prefix: data === raw ? -1 : length, data });
    regions.push(new BufferRegion(offset, 8 + data.length));
    offset += pad8(8 + data.length);
  }
  const header = new BatchHeader(rows, plan.nodes, regions, new BodyCompression(codec.type));
  return {
    meta: Message.encode(Message.from(header, offset)),
    bodyLength: offset,
    write(out, at) {
      const view = new DataView(out.buffer, out.byteOffset);
      for (const p of parts) {
        view.setBigInt64(at + p.offset, BigInt(p.prefix), true);
        out.set(p.data, at + p.offset + 8);
        // The rest of the 8-byte padding is already zero (a new buffer).
      }
    },
  };
}
