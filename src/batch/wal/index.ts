/**
 * The write-ahead log of the batching writer (server mode): every request is appended here and
 * fsync'd before its 200, and replayed after a crash (../replay.ts), so nothing acknowledged is
 * lost. Three parts:
 *
 * - ./records.ts: what a record means and its bytes (data, seal, done, void);
 * - ./segment.ts: segment files, their header and the frame (length + CRC-32) around each
 *   record; reading a segment up to its torn tail;
 * - ./wal.ts: `Wal`, the appending side (group commit, segment rotation, deletion once stored),
 *   over the injected `WalFs` (./fs.node.ts on servers).
 */
export * from "./records.ts";
export * from "./segment.ts";
export * from "./wal.ts";
