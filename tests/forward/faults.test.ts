/**
 * Forwarding against a destination that misbehaves on purpose: 503 with Retry-After, 400 for
 * some requests, a partial success, an answer slower than `timeout_ms`. The destination is an
 * in-test HTTP receiver, a stand-in: a real otlp2parquet (or Collector) cannot be told to
 * answer 503 or 400 on cue for chosen requests, and that is what these checks need. A is the
 * real server in the default configuration (batching with the write-ahead log); the receiver
 * reads the OTLP/JSON A sends it, and the test checks what it kept, A's metrics and A's log.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { Server } from "../helpers/server.ts";
import { logsBody, postLogs, queuedRequests, sample, startA, until } from "./helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

interface Receiver {
  url: string;
  /** Bodies (`logRecords[].body.stringValue`) of requests answered 200. */
  kept: string[];
  attempts: number;
  close(): Promise<void>;
}

/** The scripted destination (see the top). */
function receiver(): Receiver {
  const kept: string[] = [];
  const seenSlow = new Set<string>();
  const r = { kept, attempts: 0 } as Receiver;
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, async (req) => {
    r.attempts++;
    const text = await req.text();
    // The first three exports fail: 503, come back in one second.
    if (r.attempts <= 3) {
      return new Response("busy", { status: 503, headers: { "retry-after": "1" } });
    }
    const bodies: string[] = [];
    for (const rl of JSON.parse(text).resourceLogs ?? []) {
      for (const sl of rl.scopeLogs ?? []) {
        for (const lr of sl.logRecords ?? []) bodies.push(lr.body?.stringValue ?? "");
      }
    }
    if (bodies.some((b) => b.startsWith("bad"))) {
      return Response.json({ code: 3, message: "bad record", details: [] }, { status: 400 });
    }
    const slow = bodies.find((b) => b.startsWith("slow"));
    if (slow && !seenSlow.has(slow)) {
      seenSlow.add(slow);
      await new Promise((res) => setTimeout(res, 1500)); // past A's timeout_ms
      return new Response("late", { status: 503 });
    }
    kept.push(...bodies);
    const partial = bodies.filter((b) => b.startsWith("partial")).length;
    return Response.json(
      partial > 0
        ? { partialSuccess: { rejectedLogRecords: String(partial), errorMessage: "too old" } }
        : {},
    );
  });
  r.url = `http://127.0.0.1:${server.addr.port}`;
  r.close = async () => {
    ac.abort();
    await server.finished;
  };
  return r;
}

Deno.test(
  "503 + Retry-After, 400s, partial success and a timeout: the rest flows, rejections are counted",
  opts,
  async () => {
    const rcv = receiver();
    let a: Server | undefined;
    const root = await Deno.makeTempDir({ prefix: "otlp2parquet-fwd-faults-" });
    try {
      a = await startA(
        `[[forward]]
name = "rcv"
endpoint = "${rcv.url}"
protocol = "http/json"
compression = "none"
failure_threshold = 2
open_secs = 1
timeout_ms = 500
`,
        { output: `${root}/a`, wal: `${root}/a-wal` },
      );
      const srvA = a;
      const expected: string[] = [];
      const send = async (tag: string) => {
        strictEqual(await postLogs(srvA.url, logsBody("faults", tag, 1)), 200);
      };
      // While the receiver answers 503: A answers its clients 200 all the same.
      for (let i = 0; i < 5; i++) {
        await send(`good${i}`);
        expected.push(`good${i}-0`);
      }
      await until(
        "the breaker opened and closed again",
        async () =>
          await sample(srvA, "otlp2parquet_forward_breaker_opened_total", 'destination="rcv"') >=
            1 &&
          await queuedRequests(srvA, "rcv") === 0,
        [a],
      );
      ok(a.log().includes("circuit breaker open"), a.log());
      ok(a.log().includes("circuit breaker closed"), a.log());
      // A mix: good, bad (400), partial success, one slower than timeout_ms.
      const tags = [
        "g5",
        "bad1",
        "g6",
        "partial1",
        "g7",
        "bad2",
        "slow1",
        "g8",
        "partial2",
        "bad3",
      ];
      for (const t of tags) {
        await send(t);
        if (!t.startsWith("bad")) expected.push(`${t}-0`);
      }
      await until(
        "everything went or was rejected",
        async () => await queuedRequests(srvA, "rcv") === 0,
        [a],
      );
      deepStrictEqual([...rcv.kept].sort(), [...expected].sort(), "kept exactly once each");
      strictEqual(
        await sample(
          srvA,
          "otlp2parquet_forward_requests_total",
          'destination="rcv",outcome="rejected"',
        ),
        3,
      );
      strictEqual(
        await sample(
          srvA,
          "otlp2parquet_forward_records_total",
          'destination="rcv",outcome="rejected"',
        ),
        3,
      );
      strictEqual(
        await sample(
          srvA,
          "otlp2parquet_forward_records_total",
          'destination="rcv",outcome="partial_rejected"',
        ),
        2,
      );
      strictEqual(
        await sample(
          srvA,
          "otlp2parquet_forward_records_total",
          'destination="rcv",outcome="sent"',
        ),
        expected.length,
      );
      // 3 × 503 and one timeout, each retried.
      ok(await sample(srvA, "otlp2parquet_forward_send_failures_total", 'destination="rcv"') >= 4);
      strictEqual(await sample(srvA, "otlp2parquet_forward_breaker_state", 'destination="rcv"'), 0);
      const rejectLines = a.log().split("\n").filter((l) => l.includes("rejected a request"));
      strictEqual(rejectLines.length, 3, rejectLines.join("\n"));
      ok(
        rejectLines.every((l) => l.includes("status=400") && l.includes("bad record")),
        rejectLines.join("\n"),
      );
      ok(a.log().includes("accepted part of a request"), a.log());
      strictEqual(await a.stop(), 0);
    } finally {
      await a?.kill();
      await rcv.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "header values from the environment reach the destination and never the log",
  opts,
  async () => {
    const seen: (string | null)[] = [];
    const ac = new AbortController();
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      signal: ac.signal,
      onListen: () => {},
    }, async (req) => {
      seen.push(req.headers.get("x-api-key"));
      await req.body?.cancel();
      return Response.json({});
    });
    let a: Server | undefined;
    try {
      a = await startA("", {
        env: {
          OTLP2PARQUET_FORWARD_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
          OTLP2PARQUET_FORWARD_NAME: "vendor",
          OTLP2PARQUET_FORWARD_HEADERS: "x-api-key=${FWD_TEST_KEY}",
          FWD_TEST_KEY: "sekret-value-123",
        },
        logLevel: "debug",
      });
      const srvA = a;
      strictEqual(await postLogs(a.url, logsBody("hdr", "h", 2)), 200);
      await until("sent", async () =>
        await sample(
          srvA,
          "otlp2parquet_forward_records_total",
          'destination="vendor",outcome="sent"',
        ) === 2, [a]);
      deepStrictEqual(seen, ["sekret-value-123"]);
      ok(a.log().includes("headers=x-api-key"), a.log());
      ok(!a.log().includes("sekret-value-123"), "the header value is not in the log");
      strictEqual(await a.stop(), 0);
    } finally {
      await a?.kill();
      ac.abort();
      await server.finished;
    }
  },
);
