/**
 * gzip'd protobuf requests queued for an http/protobuf destination are sent joined as they
 * came: one gzip body of several members, `JOIN_PREFIX` first (src/forward/send.ts). Checked
 * against destinations that decode gzip three ways, each with a real decoder: every member
 * (node:zlib's gunzip, as Go's gzip.Reader and Python's gzip do), the first member only with
 * the rest ignored (node:zlib's raw inflate from the member's data, as flate2's `GzDecoder` or
 * tornado before its fix do), and one member allowed (the web `DecompressionStream`, as Deno
 * and Workers have). The destination is an in-test receiver, a stand-in for those decoders'
 * servers, which cannot run here; it reads the protobuf with protobufjs (the test oracle). A
 * is the real server in the default configuration (batching with the write-ahead log).
 *
 * The first export is held by the receiver until A has queued the next requests, so the
 * second export joins them.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import type { Server } from "../helpers/server.ts";
import { encodeLogsRequest, otlpRoot } from "../e2e/proto.ts";
import { isJoined, logsBody, queuedRequests, sample, startA, until } from "./helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

type Decoder = (body: Uint8Array) => Promise<Uint8Array>;

const DECODERS: Record<string, Decoder> = {
  "every member": (b) => Promise.resolve(new Uint8Array(gunzipSync(b))),
  // The deflate data of the first member (after its 10-byte header), the rest ignored.
  "the first member only": (b) => Promise.resolve(new Uint8Array(inflateRawSync(b.subarray(10)))),
  "one member allowed": async (b) =>
    new Uint8Array(
      await new Response(
        new Blob([b as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip")),
      ).arrayBuffer(),
    ),
};

interface Receiver {
  url: string;
  /** Log bodies of the requests answered 200. */
  kept: string[];
  /** Bodies that came joined (`JOIN_PREFIX` first), and how many of them were answered 400. */
  joined: number;
  refused: number;
  attempts: number;
  /** Lets the first export (held until then) be answered. */
  release(): void;
  close(): Promise<void>;
}

async function receiver(decode: Decoder): Promise<Receiver> {
  const type = (await otlpRoot()).lookupType(
    "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
  );
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const r = { kept: [], joined: 0, refused: 0, attempts: 0, release } as unknown as Receiver;
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, async (req) => {
    const first = ++r.attempts === 1;
    const raw = new Uint8Array(await req.arrayBuffer());
    strictEqual(req.headers.get("content-encoding"), "gzip");
    const joined = isJoined(raw);
    if (joined) r.joined++;
    if (first) await gate;
    const bodies: string[] = [];
    try {
      const msg = type.toObject(type.decode(await decode(raw))) as {
        resourceLogs?: { scopeLogs?: { logRecords?: { body?: { stringValue?: string } }[] }[] }[];
      };
      for (const rl of msg.resourceLogs ?? []) {
        for (const sl of rl.scopeLogs ?? []) {
          for (const lr of sl.logRecords ?? []) bodies.push(lr.body?.stringValue ?? "");
        }
      }
    } catch (e) {
      if (joined) r.refused++;
      return Response.json({ code: 3, message: `cannot decode: ${e}`, details: [] }, {
        status: 400,
      });
    }
    r.kept.push(...bodies);
    return Response.json({});
  });
  r.url = `http://127.0.0.1:${server.addr.port}`;
  r.close = async () => {
    ac.abort();
    await server.finished;
  };
  return r;
}

async function postGzipLogs(url: string, tag: string): Promise<number> {
  const pb = await encodeLogsRequest(JSON.parse(logsBody("join", tag, 3)));
  const res = await fetch(`${url}/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/x-protobuf", "content-encoding": "gzip" },
    body: gzipSync(pb),
  });
  await res.body?.cancel();
  return res.status;
}

for (const [how, decode] of Object.entries(DECODERS)) {
  Deno.test(
    `gzip'd requests joined as they came, to a destination that reads ${how}: every record arrives once`,
    opts,
    async () => {
      const rcv = await receiver(decode);
      let a: Server | undefined;
      const root = await Deno.makeTempDir({ prefix: "otlp2parquet-fwd-join-" });
      try {
        a = await startA(
          `[[forward]]
name = "rcv"
endpoint = "${rcv.url}"
protocol = "http/protobuf"
`,
          { output: `${root}/a`, wal: `${root}/a-wal` },
        );
        const srvA = a;
        const expected: string[] = [];
        const send = async (tag: string) => {
          strictEqual(await postGzipLogs(srvA.url, tag), 200);
          for (let i = 0; i < 3; i++) expected.push(`${tag}-${i}`);
        };
        await send("r0");
        await until(
          "the first export reached the receiver",
          () => Promise.resolve(rcv.attempts >= 1),
          [a],
        );
        for (let i = 1; i <= 6; i++) await send(`r${i}`);
        await until(
          "A queued the next requests",
          async () => await queuedRequests(srvA, "rcv") >= 7,
          [a],
        );
        rcv.release();
        await until(
          "everything went",
          async () => await queuedRequests(srvA, "rcv") === 0,
          [a],
        );
        deepStrictEqual([...rcv.kept].sort(), [...expected].sort(), "kept exactly once each");
        strictEqual(
          await sample(
            srvA,
            "otlp2parquet_forward_records_total",
            'destination="rcv",outcome="sent"',
          ),
          expected.length,
        );
        const refusedLines = a.log().split("\n").filter((l) =>
          l.includes("refused gzip'd requests joined")
        );
        if (how === "every member") {
          ok(rcv.joined >= 1, "the queued requests went joined");
          strictEqual(rcv.refused, 0);
          strictEqual(refusedLines.length, 0, a.log());
        } else {
          // The first joined body is refused (400, not a 200 for part of it); from then on
          // that destination's exports are compressed again.
          strictEqual(rcv.joined, 1);
          strictEqual(rcv.refused, 1);
          strictEqual(refusedLines.length, 1, a.log());
          ok(refusedLines[0].includes("status=400"), refusedLines[0]);
          strictEqual(
            await sample(
              srvA,
              "otlp2parquet_forward_requests_total",
              'destination="rcv",outcome="rejected"',
            ),
            0,
          );
        }
        strictEqual(await a.stop(), 0);
      } finally {
        rcv.release();
        await a?.kill();
        await rcv.close();
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    },
  );
}
