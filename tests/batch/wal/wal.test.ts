import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32, hash64Hex, useNativeCrc32 } from "../../../src/batch/checksum.ts";
import { createWalFs } from "../../../src/batch/wal/fs.node.ts";
import {
  decodePayload,
  encodePayload,
  frameRecord,
  parseSegment,
  segmentHeader,
  segmentName,
  segmentSeq,
  Wal,
  type WalRecord,
} from "../../../src/batch/wal/index.ts";
import { CountingWalFs, tempDir } from "../helpers.ts";
import { cat } from "../../helpers/proto.ts";

const enc = new TextEncoder();

Deno.test("crc32() matches the standard check value", () => {
  strictEqual(crc32(enc.encode("123456789")), 0xcbf43926);
  strictEqual(crc32(new Uint8Array(0)), 0);
});

const bitwise = (d: Uint8Array, start: number, end: number) => {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c ^= d[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
};

Deno.test("crc32() of any range equals a bit-at-a-time CRC-32 (slicing-by-8 edges)", () => {
  useNativeCrc32(undefined);
  const data = new Uint8Array(300);
  let x = 12345;
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  data.fill(0xff, 100, 140); // runs of 0xff and 0x00 exercise the high table entries
  data.fill(0, 140, 180);
  for (let start = 0; start < 20; start++) {
    for (let end = start; end <= data.length; end += 1 + (end % 5)) {
      strictEqual(crc32(data, start, end), bitwise(data, start, end), `[${start}, ${end})`);
    }
  }
  strictEqual(crc32(data), bitwise(data, 0, data.length));
});

Deno.test("crc32() through node:zlib's native CRC-32 (the log's file API hands it in) gives the same values", () => {
  const calls: number[] = [];
  useNativeCrc32((d) => {
    calls.push(d.length);
    return zlibCrc32(d);
  });
  try {
    const data = new Uint8Array(5000);
    let x = 777;
    for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    for (const [start, end] of [[0, 5000], [1, 4999], [7, 135], [100, 227], [0, 127], [3, 3]]) {
      strictEqual(crc32(data, start, end), bitwise(data, start, end), `[${start}, ${end})`);
    }
    // Long ranges went to the native one; short ones stayed with the table.
    deepStrictEqual(calls, [5000, 4998, 128]);
  } finally {
    useNativeCrc32(undefined);
  }
  // createWalFs() hands node:zlib's in: the check value of a long input still holds.
  createWalFs();
  const long = new TextEncoder().encode("123456789".repeat(20));
  strictEqual(crc32(long), bitwise(long, 0, long.length));
  useNativeCrc32(undefined);
});

Deno.test("hash64Hex() is 16 hex digits, stable, and separates its parts", () => {
  const a = hash64Hex("ab", "c", 1);
  strictEqual(a, hash64Hex("ab", "c", 1));
  ok(/^[0-9a-f]{16}$/.test(a), a);
  ok(a !== hash64Hex("a", "bc", 1));
  ok(a !== hash64Hex("ab", "c", 2));
});

const RECORDS: WalRecord[] = [
  {
    type: "data",
    signal: "metrics",
    format: "jsonl",
    receivedAtNs: 1_714_557_600_123_456_789n,
    body: enc.encode("{}"),
  },
  { type: "data", signal: "logs", format: "protobuf", receivedAtNs: 0n, body: new Uint8Array(0) },
  {
    type: "seal",
    upTo: { seg: 7, idx: 4_000_000 },
    id: "0123456789abcdef",
    table: "exponential_histogram",
    service: "chéckout/api",
    hour: 476_266,
  },
  { type: "done", id: "fedcba9876543210" },
  { type: "void", from: { seg: 3, idx: 12 } },
];

Deno.test("WAL records decode to what was encoded", () => {
  for (const r of RECORDS) deepStrictEqual(decodePayload(encodePayload(r)), r);
});

Deno.test("segment names sort by sequence number and parse back", () => {
  strictEqual(segmentName(42), "0000000042.wal");
  strictEqual(segmentSeq("0000000042.wal"), 42);
  strictEqual(segmentSeq("0000000042.wal.tmp"), null);
  ok(segmentName(9) < segmentName(10));
});

function segment(records: WalRecord[]): Uint8Array {
  return cat(
    segmentHeader(new Uint8Array(8).fill(7)),
    ...records.map((r) => frameRecord(encodePayload(r))),
  );
}

Deno.test("parseSegment() reads every record of a clean segment", () => {
  const bytes = segment(RECORDS);
  const s = parseSegment(bytes);
  deepStrictEqual(s.records.map((r) => r.record), RECORDS);
  deepStrictEqual(s.records.map((r) => r.idx), [0, 1, 2, 3, 4]);
  strictEqual(s.tornBytes, 0);
  strictEqual(s.validBytes, bytes.length);
  deepStrictEqual(s.nonce, new Uint8Array(8).fill(7));
});

Deno.test("parseSegment() ignores a torn last record, wherever the cut falls", () => {
  const full = segment(RECORDS);
  const upToLast = segment(RECORDS.slice(0, 4)).length;
  for (let cut = upToLast; cut < full.length; cut++) {
    const s = parseSegment(full.subarray(0, cut));
    strictEqual(s.records.length, 4, `cut at ${cut}`);
    strictEqual(s.validBytes, upToLast);
    strictEqual(s.tornBytes, cut - upToLast);
  }
});

Deno.test("parseSegment() stops at a record whose CRC does not match", () => {
  const bytes = segment(RECORDS).slice();
  const third = segment(RECORDS.slice(0, 2)).length;
  bytes[third + 8 + 3] ^= 0x40; // a payload byte of the third record
  const s = parseSegment(bytes);
  strictEqual(s.records.length, 2);
  ok(s.tornBytes > 0);
});

Deno.test("parseSegment() treats a file without the header as empty", () => {
  const s = parseSegment(enc.encode("not a wal segment at all"));
  strictEqual(s.nonce, null);
  strictEqual(s.records.length, 0);
});

Deno.test("Wal.append() shares one fsync among concurrent appends (group commit)", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const fs = new CountingWalFs();
    const wal = new Wal(fs, dir, 1, { segmentBytes: 1 << 20 });
    const order: number[] = [];
    const positions = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) =>
          wal.append(
            encodePayload({ type: "done", id: i.toString(16).padStart(16, "0") }),
            () => order.push(i),
          ),
      ),
    );
    // The first append syncs alone; the 199 queued behind it share the next fsync.
    strictEqual(fs.syncs, 2);
    deepStrictEqual(order, Array.from({ length: 200 }, (_, i) => i));
    deepStrictEqual(positions.map((p) => p.idx), order);
    // One at a time, each append gets its own fsync.
    for (let i = 0; i < 3; i++) {
      await wal.append(encodePayload({ type: "done", id: "0000000000000000" }));
    }
    strictEqual(fs.syncs, 5);
    await wal.close();
    const s = parseSegment(await fs.read(`${dir}/${segmentName(1)}`));
    strictEqual(s.records.length, 203);
  } finally {
    await cleanup();
  }
});

Deno.test("Wal rolls to a new segment past segmentBytes and trim() deletes old ones", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const fs = new CountingWalFs();
    const wal = new Wal(fs, dir, 5, { segmentBytes: 100 });
    const body = new Uint8Array(80); // one record per segment
    const a = await wal.append(
      encodePayload({ type: "data", signal: "logs", format: "json", receivedAtNs: 1n, body }),
    );
    const b = await wal.append(
      encodePayload({ type: "data", signal: "logs", format: "json", receivedAtNs: 1n, body }),
    );
    const c = await wal.append(
      encodePayload({ type: "data", signal: "logs", format: "json", receivedAtNs: 1n, body }),
    );
    deepStrictEqual([a, b, c], [{ seg: 5, idx: 0 }, { seg: 6, idx: 0 }, { seg: 7, idx: 0 }]);
    strictEqual(wal.segments, 3);
    strictEqual(await wal.trim(7), 2);
    deepStrictEqual(await fs.list(dir), [segmentName(7)]);
    // The segment being appended to is never deleted.
    strictEqual(await wal.trim(100), 0);
    await wal.close();
  } finally {
    await cleanup();
  }
});

Deno.test("Wal rejects a group whose fsync failed and voids it at the start of the next segment", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const fs = new CountingWalFs();
    const wal = new Wal(fs, dir, 1, { segmentBytes: 1 << 20 });
    await wal.append(encodePayload({ type: "done", id: "0000000000000001" }));
    fs.failWrites = 1;
    await rejects(wal.append(encodePayload({ type: "done", id: "0000000000000002" })), {
      name: "WalError",
      message: /Cannot write the write-ahead log .*0000000001\.wal.*ENOSPC/,
    });
    const p = await wal.append(encodePayload({ type: "done", id: "0000000000000003" }));
    deepStrictEqual(p, { seg: 2, idx: 1 });
    await wal.close();
    const s2 = parseSegment(await fs.read(`${dir}/${segmentName(2)}`));
    deepStrictEqual(s2.records.map((r) => r.record), [
      { type: "void", from: { seg: 1, idx: 1 } },
      { type: "done", id: "0000000000000003" },
    ]);
  } finally {
    await cleanup();
  }
});
