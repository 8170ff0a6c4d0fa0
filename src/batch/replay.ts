/**
 * Reading back the write-ahead log an earlier run left (../batch/wal/), before the batching
 * writer takes requests: the log's index (pass 1: which files were sealed and which stored,
 * which records were never acknowledged, which segments hold data), then its data records in
 * log order (pass 2), which the writer decodes into its buffers exactly as they were filled live.
 * The writer (./batcher.ts) routes each record's rows by the index: into the file a seal record
 * names (rebuilt under the same id, so its object key is the same), nowhere when that file is
 * stored, or into a new buffer.
 */
import type { Logger } from "../log/log.ts";
import type { TableName } from "../core/tables.ts";
import {
  comparePos,
  parseSegment,
  type Pos,
  Wal,
  type WalFs,
  type WalRecord,
} from "./wal/index.ts";

/** A file the log says was sealed: the last data record it covers, and its id. */
export interface SealInfo {
  upTo: Pos;
  id: string;
}

/** What pass 1 learnt from the whole log. */
export interface LogIndex {
  /** Segments, oldest first. */
  seqs: number[];
  /** Seals per buffer key, ordered by the record they cover. */
  seals: Map<string, SealInfo[]>;
  /** Ids of files stored. */
  done: Set<string>;
  /** Per segment, the first record never acknowledged (a failed write or fsync). */
  voids: Map<number, number>;
  /** Segments that hold data records. */
  withData: number[];
  /** Segments with a torn tail. */
  torn: number;
}

/**
 * Opens the log in `dir` for appending after what is there, and reads its index; `index` is
 * null when the log is empty. `keyOf` names a seal's buffer the way the writer does.
 */
export async function openLog(
  fs: WalFs,
  dir: string,
  segmentBytes: number,
  keyOf: (table: TableName, service: string, hour: number) => string,
  log: Logger,
): Promise<{ wal: Wal; index: LogIndex | null }> {
  const seqs = await Wal.scanDir(fs, dir);
  const wal = new Wal(fs, dir, (seqs.at(-1) ?? 0) + 1, { segmentBytes });
  if (seqs.length === 0) return { wal, index: null };
  const index: LogIndex = {
    seqs,
    seals: new Map(),
    done: new Set(),
    voids: new Map(),
    withData: [],
    torn: 0,
  };
  for (const seq of seqs) {
    const bytes = await fs.read(wal.path(seq));
    const seg = parseSegment(bytes);
    wal.adopt(seq, bytes.length, seg.nonce);
    if (seg.tornBytes > 0) {
      index.torn++;
      log.warn("write-ahead log segment has a torn tail; ignoring it", {
        segment: wal.path(seq),
        valid_bytes: seg.validBytes,
        ignored_bytes: seg.tornBytes,
      });
    }
    let data = false;
    for (const { record: r } of seg.records) {
      if (r.type === "data") data = true;
      else if (r.type === "done") index.done.add(r.id);
      else if (r.type === "void") {
        index.voids.set(r.from.seg, Math.min(index.voids.get(r.from.seg) ?? Infinity, r.from.idx));
      } else if (r.type === "seal") {
        const k = keyOf(r.table, r.service, r.hour);
        const list = index.seals.get(k) ?? [];
        if (!list.some((s) => s.id === r.id)) list.push({ upTo: r.upTo, id: r.id });
        index.seals.set(k, list);
      }
    }
    if (data) index.withData.push(seq);
  }
  for (const list of index.seals.values()) list.sort((a, b) => comparePos(a.upTo, b.upTo));
  return { wal, index };
}

/** The acknowledged data records of the log, in log order (each segment is read again). */
export async function* dataRecords(
  fs: WalFs,
  wal: Wal,
  index: LogIndex,
): AsyncGenerator<{ pos: Pos; record: WalRecord & { type: "data" } }> {
  for (const seq of index.withData) {
    const seg = parseSegment(await fs.read(wal.path(seq)));
    const voidFrom = index.voids.get(seq) ?? Infinity;
    for (const { idx, record } of seg.records) {
      if (record.type !== "data" || idx >= voidFrom) continue;
      yield { pos: { seg: seq, idx }, record };
    }
  }
}
