/**
 * The parts of forwarding on their own: the circuit breaker's transitions, the queue on disk
 * (read back after a restart, a torn tail, the bound with the oldest dropped), protobuf →
 * OTLP/JSON against protobufjs (the oracle, over proto/), Retry-After and RetryInfo parsing.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { backoffMs, Breaker } from "../../src/forward/breaker.ts";
import { ForwardQueue, parseSegment } from "../../src/forward/queue.ts";
import { protobufToJson } from "../../src/forward/json.ts";
import { jsonToProtobuf } from "../../src/core/otlp/json.ts";
import {
  httpSender,
  JOIN_PREFIX,
  outgoing,
  parseRetryAfter,
  partialSuccess,
  refusedJoin,
} from "../../src/forward/send.ts";
import { decode } from "../../src/core/otlp/index.ts";
import { type ForwardConfig, forwardDefaults } from "../../src/config/forward.ts";
import { createForwarder } from "../../src/forward/index.ts";
import { createLogger } from "../../src/log/logger.ts";
import { encodeLogsRequest } from "../e2e/proto.ts";
import { isJoined, logsBody } from "./helpers.ts";
import { gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import { retryInfoMs } from "../../src/forward/grpc.node.ts";
import { createWalFs } from "../../src/batch/wal/fs.node.ts";
import { generateRequest } from "../../bench/gen.ts";
import { otlpRoot } from "../e2e/proto.ts";
import type { Signal } from "../../src/core/tables.ts";

Deno.test("breaker: closed → open after the threshold → half-open after open_secs → closed", () => {
  let now = 1000;
  const b = new Breaker(3, 5000, () => now);
  strictEqual(b.waitMs(), 0);
  strictEqual(b.failure(), false);
  strictEqual(b.failure(), false);
  strictEqual(b.state, "closed");
  b.success(); // a success in between resets the count
  strictEqual(b.failure(), false);
  strictEqual(b.failure(), false);
  strictEqual(b.failure(), true);
  strictEqual(b.state, "open");
  strictEqual(b.waitMs(), 5000);
  now += 4999;
  strictEqual(b.waitMs(), 1);
  now += 1;
  strictEqual(b.waitMs(), 0);
  strictEqual(b.state, "half-open");
  // The probe fails: open again, for longer when the remote asked for it.
  strictEqual(b.failure(60_000), true);
  strictEqual(b.state, "open");
  strictEqual(b.waitMs(), 60_000);
  now += 60_000;
  strictEqual(b.waitMs(), 0);
  strictEqual(b.success(), "half-open");
  strictEqual(b.state, "closed");
  strictEqual(b.opened, 2);
});

Deno.test("backoff doubles from 200 ms to 30 s", () => {
  strictEqual(backoffMs(1, () => 0.5), 200);
  strictEqual(backoffMs(2, () => 0.5), 400);
  strictEqual(backoffMs(20, () => 0.5), 30_000);
  ok(backoffMs(3, () => 0) >= 640 && backoffMs(3, () => 1) <= 960);
});

Deno.test("Retry-After (seconds, HTTP date), RetryInfo and partial success are read", () => {
  strictEqual(parseRetryAfter("7"), 7000);
  strictEqual(parseRetryAfter(new Date(10_000 + 3000).toUTCString(), 10_000), 3000);
  strictEqual(parseRetryAfter("soon"), undefined);
  strictEqual(parseRetryAfter(null), undefined);
  strictEqual(parseRetryAfter("999999"), 15 * 60_000);
  // google.rpc.Status { code 14, details [Any { RetryInfo { retry_delay { seconds 2, nanos 5e8 } } }] }
  const enc = new TextEncoder();
  const type = enc.encode("type.googleapis.com/google.rpc.RetryInfo");
  const duration = [0x08, 2, 0x10, ...varint(500_000_000)];
  const retryInfo = [0x0a, duration.length, ...duration];
  const any = [0x0a, type.length, ...type, 0x12, retryInfo.length, ...retryInfo];
  const status = new Uint8Array([0x08, 14, 0x1a, any.length, ...any]);
  strictEqual(retryInfoMs(status), 2500);
  strictEqual(retryInfoMs(new Uint8Array([0x08, 14])), undefined);
  deepStrictEqual(
    partialSuccess(
      "traces",
      enc.encode('{"partialSuccess":{"rejectedSpans":"4","errorMessage":"x"}}'),
      "application/json",
    ),
    { rejected: 4, message: "x" },
  );
  // ExportLogsServiceResponse { partial_success { rejected_log_records 3, error_message "old" } }
  const ps = [0x08, 3, 0x12, 3, ...enc.encode("old")];
  deepStrictEqual(
    partialSuccess("logs", new Uint8Array([0x0a, ps.length, ...ps]), "application/x-protobuf"),
    { rejected: 3, message: "old" },
  );
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

const TYPES: Record<Signal, string> = {
  logs: "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
  traces: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
  metrics: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
};

Deno.test("protobuf → OTLP/JSON → protobuf keeps every field (protobufjs decodes both the same)", async () => {
  const root = await otlpRoot();
  for (const signal of ["logs", "traces", "metrics"] as const) {
    for (const seed of [1, 2, 3]) {
      const g = generateRequest(signal, { records: 40, seed });
      const json = protobufToJson(signal, g.protobuf);
      const back = jsonToProtobuf(signal, new TextEncoder().encode(json), "json", 64);
      const T = root.lookupType(TYPES[signal]);
      const opts = { longs: String, bytes: String, enums: Number, defaults: false };
      deepStrictEqual(
        T.toObject(T.decode(back), opts),
        T.toObject(T.decode(g.protobuf), opts),
        `${signal} seed ${seed}`,
      );
      // OTLP/JSON conventions: hex ids, 64-bit integers as strings.
      if (signal === "traces") {
        const span = JSON.parse(json).resourceSpans[0].scopeSpans[0].spans[0];
        ok(/^[0-9a-f]{32}$/.test(span.traceId), span.traceId);
        ok(/^\d+$/.test(span.startTimeUnixNano), span.startTimeUnixNano);
      }
    }
  }
});

Deno.test("queue on disk: read back after a restart, done entries skipped, torn tail ignored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fq-" });
  const fs = createWalFs();
  try {
    const q = await ForwardQueue.open({ maxBytes: 1 << 20, dir, fs });
    const body = (i: number) => new TextEncoder().encode(`request-${i}`.padEnd(100, "."));
    for (let i = 0; i < 10; i++) {
      q.push({ signal: i % 2 ? "traces" : "logs", format: "protobuf", body: body(i), records: i });
    }
    const first = await q.take(1 << 20, 100);
    strictEqual(first!.length, 1, "one signal per take: logs, then traces");
    q.done(first![0].id);
    const two = await q.take(1 << 20, 100);
    q.done(two![0].id);
    await q.close();
    // A torn write at the end of the segment (a crash mid-append).
    const seg = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".fq"))!.name;
    const f = await Deno.open(`${dir}/${seg}`, { append: true });
    await f.write(new Uint8Array([50, 0, 0, 0, 1, 2, 3]));
    f.close();
    strictEqual(parseSegment(await Deno.readFile(`${dir}/${seg}`)).length, 10);

    const q2 = await ForwardQueue.open({ maxBytes: 1 << 20, dir, fs });
    strictEqual(q2.recovered, 8);
    strictEqual(q2.length, 8);
    const rest: string[] = [];
    while ((q2.length as number) > 0) {
      const t = (await q2.take(1 << 20, 1))!;
      rest.push(new TextDecoder().decode(t[0].body!).replace(/\.+$/, ""));
      strictEqual(t[0].records, Number(rest.at(-1)!.split("-")[1]));
      q2.done(t[0].id);
    }
    deepStrictEqual(rest, [2, 3, 4, 5, 6, 7, 8, 9].map((i) => `request-${i}`));
    // New pushes go to a new segment; the old one goes once all of it is done.
    q2.push({ signal: "logs", format: "json", body: body(10), coding: "zstd", records: 1 });
    await q2.settle();
    await q2.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".fq"));
    deepStrictEqual(names, ["0000000002.fq"]);
    const q3 = await ForwardQueue.open({ maxBytes: 1 << 20, dir, fs });
    strictEqual(q3.length, 1);
    const back = (await q3.take(1 << 20, 1))![0];
    strictEqual(back.format, "json");
    strictEqual(back.coding, "zstd", "the coding of a body queued as it came is kept");
    await q3.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue bound: the oldest are dropped and counted, on disk too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fq-" });
  const fs = createWalFs();
  try {
    const drops: number[] = [];
    const q = await ForwardQueue.open({
      maxBytes: 5000,
      dir,
      fs,
      onDrop: (d) => drops.push(d.records),
    });
    for (let i = 0; i < 100; i++) {
      q.push({
        signal: "logs",
        format: "protobuf",
        body: new Uint8Array(1000).fill(i),
        records: 1,
      });
    }
    strictEqual(q.length, 5);
    strictEqual(q.bytes, 5000);
    strictEqual(drops.reduce((a, b) => a + b, 0), 95);
    const t = await q.take(1 << 20, 100);
    deepStrictEqual(t!.map((e) => e.body![0]), [95, 96, 97, 98, 99]);
    await q.close();
    const q2 = await ForwardQueue.open({ maxBytes: 5000, dir, fs });
    strictEqual(q2.length, 5, "what was dropped stays dropped after a restart");
    await q2.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a gzip'd request is queued as it came, its decoded body kept beside it in memory: a merge inflates nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fq-plain-" });
  try {
    const q = await ForwardQueue.open({ maxBytes: 1 << 20, dir, fs: createWalFs() });
    const a = generateRequest("logs", { records: 3, seed: 1 }).protobuf;
    const b = generateRequest("logs", { records: 4, seed: 2 }).protobuf;
    for (const pb of [a, b]) {
      q.push({
        signal: "logs",
        format: "protobuf",
        body: gzipSync(pb),
        coding: "gzip",
        plain: pb,
        records: 1,
      });
    }
    const batch = (await q.take(1 << 20, 10))!;
    strictEqual(batch.length, 2);
    deepStrictEqual(batch.map((e) => e.plain), [a, b]);
    let inflated = 0;
    const out = outgoing(
      "logs",
      batch.map((e) => ({
        format: e.format,
        body: e.body!,
        coding: e.coding,
        plain: e.plain ?? undefined,
      })),
      () => {
        inflated++;
        throw new Error("not used");
      },
    );
    const merged = out.protobuf();
    deepStrictEqual(merged, new Uint8Array([...a, ...b]));
    strictEqual(inflated, 0);
    // A merge is a buffer of its own (a sender may move it to the gzip thread)…
    strictEqual(out.ownsProtobuf(), true);
    // …one request alone is the queued body itself, which must stay.
    const alone = outgoing("logs", [{ format: "protobuf", body: batch[0].plain! }]);
    strictEqual(alone.protobuf(), batch[0].plain);
    strictEqual(alone.ownsProtobuf(), false);
    // On disk the compressed bytes, as they came.
    await q.close();
    const files = [...Deno.readDirSync(dir)].filter((f) => f.name.endsWith(".fq"));
    const recs = parseSegment(await Deno.readFile(`${dir}/${files[0].name}`));
    deepStrictEqual(recs.map((r) => r.coding), ["gzip", "gzip"]);
    deepStrictEqual(recs.map((r) => r.body), batch.map((e) => new Uint8Array(e.body!)));
    // Read back after a restart: no decoded copy, the merge inflates.
    const q2 = await ForwardQueue.open({ maxBytes: 1 << 20, dir, fs: createWalFs() });
    const again = (await q2.take(1 << 20, 10))!;
    deepStrictEqual(again.map((e) => e.plain), [null, null]);
    const out2 = outgoing(
      "logs",
      again.map((e) => ({ format: e.format, body: e.body!, coding: e.coding })),
    );
    deepStrictEqual(out2.protobuf(), new Uint8Array([...a, ...b]));
    await q2.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a body the compression gave away and lost is retried, never dropped; a body kept is not handed over", async () => {
  const a = generateRequest("logs", { records: 3, seed: 1 }).protobuf;
  const b = generateRequest("logs", { records: 4, seed: 2 }).protobuf;
  const dest = {
    name: "d",
    endpoint: "http://127.0.0.1:9",
    protocol: "http/protobuf",
    compression: "gzip",
    headers: {},
    timeout_ms: 1000,
  } as unknown as ForwardConfig;
  const owned: boolean[] = [];
  let fetched = 0;
  const sender = httpSender(
    dest,
    (() => {
      fetched++;
      return Promise.resolve(new Response(new Uint8Array(0), { status: 200 }));
    }) as typeof fetch,
    (data, own) => {
      owned.push(own === true);
      // What a failed gzip thread does with a body given to it: gone.
      return Promise.reject(new Error(`the gzip thread failed (${data.length} bytes)`));
    },
  );
  const r = await sender.send(
    outgoing("logs", [{ format: "protobuf", body: a }, { format: "protobuf", body: b }]),
  );
  strictEqual(r.kind, "retry");
  ok(r.kind === "retry" && /cannot compress the request: the gzip thread failed/.test(r.message));
  strictEqual(fetched, 0);
  await sender.send(outgoing("logs", [{ format: "protobuf", body: a }]));
  // Merged: given away; alone (the queued body itself): not.
  deepStrictEqual(owned, [true, false]);
});

Deno.test("gzip'd protobuf requests are joined as they came, behind a prefix that a one-member decoder cannot read", () => {
  const a = generateRequest("logs", { records: 3, seed: 1 }).protobuf;
  const b = generateRequest("logs", { records: 4, seed: 2 }).protobuf;
  const queued = [a, b].map((pb) => ({
    format: "protobuf" as const,
    body: new Uint8Array(gzipSync(pb)),
    coding: "gzip" as const,
    plain: pb,
  }));
  const out = outgoing("logs", queued, undefined, undefined, true);
  strictEqual(out.joined, true);
  const body = out.gzippedProtobuf!;
  deepStrictEqual(
    body,
    new Uint8Array([...JOIN_PREFIX, ...queued[0].body, ...queued[1].body]),
    "the members as they came, nothing compressed again",
  );
  // Every member: the unknown field (2^29 - 1, one byte), then the requests one after another,
  // which decode as one request of all their records (the unknown field skipped).
  const all = new Uint8Array(gunzipSync(body));
  deepStrictEqual(all, new Uint8Array([0xfa, 0xff, 0xff, 0xff, 0x0f, 1, 0, ...a, ...b]));
  strictEqual(decode("logs", all, "protobuf", { receivedAtNs: 1n }).records, 7);
  // The first member only: a field cut short, which any protobuf decoder refuses.
  const first = new Uint8Array(inflateRawSync(body.subarray(10)));
  deepStrictEqual(first, new Uint8Array([0xfa, 0xff, 0xff, 0xff, 0x0f, 1]));
  throws(
    () => decode("logs", first, "protobuf", { receivedAtNs: 1n }),
    /Cannot decode ExportLogsServiceRequest: length 1 exceeds the 0 bytes left/,
  );
  // Not joined: when asked not to, when one request is alone (sent as it came), or when one of
  // them is not gzip'd protobuf.
  strictEqual(outgoing("logs", queued).joined, false);
  strictEqual(outgoing("logs", queued).gzippedProtobuf, undefined);
  const alone = outgoing("logs", queued.slice(0, 1), undefined, undefined, true);
  strictEqual(alone.joined, false);
  strictEqual(alone.gzippedProtobuf, queued[0].body);
  const mixed = [...queued, { format: "protobuf" as const, body: a }];
  strictEqual(outgoing("logs", mixed, undefined, undefined, true).joined, false);
  // Which answers to a joined body mean the destination cannot take one.
  ok(refusedJoin({ kind: "reject", status: "400", message: "" }));
  ok(!refusedJoin({ kind: "reject", status: "413", message: "" }), "too large either way");
  ok(refusedJoin({ kind: "retry", status: "500", message: "" }));
  ok(!refusedJoin({ kind: "retry", status: "503", message: "" }));
  ok(!refusedJoin({ kind: "retry", status: "network", message: "" }));
  ok(!refusedJoin({ kind: "ok", rejected: 0, message: "" }));
});

Deno.test("only http/protobuf destinations with gzip get requests joined; the others' answers never turn joining off", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", format: "text", write: (l) => lines.push(l) });
  /** Per destination: each body as it arrived, and whether it came joined. */
  const seen = new Map<string, boolean[]>();
  const fetchFn = ((url: string | URL | Request, init?: RequestInit) => {
    const name = new URL(String(url)).hostname.split(".")[0];
    const joined = isJoined(new Uint8Array(init!.body as Uint8Array));
    seen.set(name, [...(seen.get(name) ?? []), joined]);
    // Every first answer is a 400, as a destination that cannot read the body would give.
    return Promise.resolve(
      new Response("no", { status: seen.get(name)!.length === 1 ? 400 : 200 }),
    );
  }) as typeof fetch;
  const dest = (name: string, over: Partial<ForwardConfig>): ForwardConfig => ({
    ...forwardDefaults(),
    name,
    endpoint: `http://${name}.invalid`,
    ...over,
  });
  const f = (await createForwarder({
    destinations: [
      dest("joins", {}),
      dest("plain", { compression: "none" }),
      dest("json", { protocol: "http/json" }),
    ],
    logger,
    mode: "queue",
    fetch: fetchFn,
  }))!;
  try {
    for (let i = 0; i < 4; i++) {
      const pb = generateRequest("logs", { records: 2, seed: i + 1 }).protobuf;
      f.accepted({
        signal: "logs",
        format: "protobuf",
        body: pb,
        encoded: { encodings: ["gzip"], bytes: new Uint8Array(gzipSync(pb)) },
        records: 2,
      });
    }
    ok(await f.drain(10_000), "everything went");
    // The four requests went as one export to each: joined only to "joins", which refused it
    // and got it again compressed as one member.
    deepStrictEqual(seen.get("joins"), [true, false]);
    deepStrictEqual(seen.get("plain")!.every((j) => !j), true);
    deepStrictEqual(seen.get("json")!.every((j) => !j), true);
    const refused = lines.filter((l) => l.includes("refused gzip'd requests joined"));
    strictEqual(refused.length, 1, lines.join("\n"));
    ok(refused[0].includes("destination=joins"), refused[0]);
  } finally {
    await f.close();
  }
});

Deno.test("a joined export refused for a bad request in it keeps joining on: the bad one alone is dropped", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", format: "text", write: (l) => lines.push(l) });
  const joinedSeen: boolean[] = [];
  const BAD = new TextEncoder().encode("bad-record");
  const fetchFn = ((_url: string | URL | Request, init?: RequestInit) => {
    const body = new Uint8Array(init!.body as Uint8Array);
    joinedSeen.push(isJoined(body));
    // Reads every member; refuses any export that holds the bad record.
    const data = new Uint8Array(gunzipSync(body));
    const bad = data.some((_, i) => BAD.every((x, j) => data[i + j] === x));
    return Promise.resolve(new Response(bad ? "bad" : "{}", { status: bad ? 400 : 200 }));
  }) as typeof fetch;
  const f = (await createForwarder({
    destinations: [{ ...forwardDefaults(), name: "d", endpoint: "http://d.invalid" }],
    logger,
    mode: "queue",
    fetch: fetchFn,
  }))!;
  try {
    const bodies = new Map<string, Uint8Array>();
    for (const t of ["good1", "bad-record", "good2", "good3", "good4"]) {
      bodies.set(t, await encodeLogsRequest(JSON.parse(logsBody("join", t, 1))));
    }
    // Accepted at once, so that each group is one export.
    const accept = (tag: string) => {
      const pb = bodies.get(tag)!;
      f.accepted({
        signal: "logs",
        format: "protobuf",
        body: pb,
        encoded: { encodings: ["gzip"], bytes: new Uint8Array(gzipSync(pb)) },
        records: 1,
      });
    };
    for (const t of ["good1", "bad-record", "good2"]) accept(t);
    ok(await f.drain(10_000));
    for (const t of ["good3", "good4"]) accept(t);
    ok(await f.drain(10_000));
    const [d] = f.stats();
    strictEqual(d.rejectedRequests, 1);
    strictEqual(d.sentRequests, 4);
    // Joined (refused), compressed (refused), then one by one; the next export joined again.
    strictEqual(joinedSeen[0], true);
    strictEqual(joinedSeen[1], false);
    strictEqual(joinedSeen[joinedSeen.length - 1], true, String(joinedSeen));
    strictEqual(lines.filter((l) => l.includes("refused gzip'd requests joined")).length, 0);
  } finally {
    await f.close();
  }
});
