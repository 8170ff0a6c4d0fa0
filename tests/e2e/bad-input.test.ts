/**
 * Server mode end to end, bad input: each case gets its status code and a google.rpc.Status
 * message in the request's encoding; the server stays up (health and a good request after it)
 * and the files written before are untouched.
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { type LogsScope, sendLogs } from "../helpers/otel.ts";
import { mapKeys, mapObj } from "../helpers/duckdb.ts";
import { type Server, withServer } from "../helpers/server.ts";
import {
  type Answer,
  assertError,
  assertIntact,
  assertJsonOk,
  assertStillUp,
  filesOf,
  gzip,
  JSON_TYPE,
  kv,
  logsRequest,
  Pb,
  pbLogsRequest,
  post,
  postJson,
  PROTO_TYPE,
  RECORD_NS,
  rowsOf,
  snapshot,
  sv,
  text,
  uniqueService,
  zstdRleBomb,
} from "./support.ts";

/** A valid OTLP/JSON logs request of one record. */
function goodLogs(service: string, body = "ok") {
  return logsRequest(service, [{ timeUnixNano: RECORD_NS, body: sv(body), severityNumber: 9 }]);
}

/** A valid protobuf logs request of one record (LogRecord: 1 time fixed64, 5 body). */
function goodLogsPb(service: string): Uint8Array {
  const rec = new Pb().fixed64(1, 1_700_000_000_123_456_789n).message(5, new Pb().string(1, "ok"));
  return pbLogsRequest(service, rec);
}

/**
 * Runs one bad-input case on a fresh server: a good request first (its file is snapshotted),
 * then `bad`, checked by `check`; afterwards the server must still be up and the file intact.
 */
async function badCase(
  env: Record<string, string>,
  bad: (srv: Server) => Promise<Answer>,
  check: (a: Answer) => void,
): Promise<void> {
  await withServer({ env }, async (srv) => {
    const before = uniqueService("before");
    assertJsonOk(await postJson(srv, "/v1/logs", goodLogs(before)));
    await filesOf(srv, "logs", before);
    const snap = await snapshot(srv.output);
    check(await bad(srv));
    await assertIntact(srv.output, snap);
    await assertStillUp(srv, () => postJson(srv, "/v1/logs", goodLogs(uniqueService("after"))));
  });
}

/** Deterministic pseudo-random bytes (mulberry32). */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

Deno.test("a truncated protobuf request gets 400 with a protobuf google.rpc.Status", async () => {
  await badCase({}, async (srv) => {
    const full = goodLogsPb(uniqueService("trunc"));
    return await post(`${srv.url}/v1/logs`, full.subarray(0, full.length - 4), PROTO_TYPE);
  }, (a) => assertError(a, 400, "protobuf", /ExportLogsServiceRequest/));
});

Deno.test("random bytes sent as protobuf get 400", async () => {
  await badCase({}, async (srv) => {
    return await post(`${srv.url}/v1/metrics`, randomBytes(4096, 42), PROTO_TYPE);
  }, (a) => assertError(a, 400, "protobuf", /ExportMetricsServiceRequest/));
});

Deno.test("invalid JSON gets 400 with a JSON google.rpc.Status", async () => {
  await badCase({}, async (srv) => {
    return await post(`${srv.url}/v1/logs`, '{"resourceLogs": [{"resource": ', JSON_TYPE);
  }, (a) => assertError(a, 400, "json", /JSON/));
});

Deno.test("a JSON array where the request object belongs gets 400", async () => {
  await badCase({}, async (srv) => {
    return await post(`${srv.url}/v1/traces`, JSON.stringify([tracesLike()]), JSON_TYPE);
  }, (a) => assertError(a, 400, "json", /array/i));
});

Deno.test("a JSON array where a nested message object belongs gets 400", async () => {
  await badCase({}, async (srv) => {
    const req = { resourceLogs: [{ resource: [], scopeLogs: [] }] };
    return await post(`${srv.url}/v1/logs`, JSON.stringify(req), JSON_TYPE);
  }, (a) => assertError(a, 400, "json", /resource.*array/i));
});

function tracesLike() {
  return { resourceSpans: [] };
}

Deno.test("an unsupported content type gets 415 naming it", async () => {
  await badCase({}, async (srv) => {
    return await post(`${srv.url}/v1/logs`, JSON.stringify(goodLogs("x")), {
      "content-type": "text/plain",
    });
  }, (a) => assertError(a, 415, undefined, /text\/plain/));
});

Deno.test("an unknown content encoding gets 415 naming it", async () => {
  await badCase({}, async (srv) => {
    return await post(`${srv.url}/v1/logs`, JSON.stringify(goodLogs("x")), {
      ...JSON_TYPE,
      "content-encoding": "br",
    });
  }, (a) => assertError(a, 415, "json", /br/));
});

let bomb: Promise<Uint8Array> | undefined;

Deno.test("a gzip bomb (a few KB inflating past the 20 MiB limit) gets 413 fast", async () => {
  bomb ??= gzip(new Uint8Array(32 * 1024 * 1024));
  const body = await bomb;
  ok(body.length < 64 * 1024, `bomb is ${body.length} bytes`);
  await badCase({}, async (srv) => {
    return await post(`${srv.url}/v1/logs`, body, { ...PROTO_TYPE, "content-encoding": "gzip" });
  }, (a) => {
    assertError(a, 413, "protobuf", /limit|large/i);
    ok(a.ms < 3000, `answered in ${Math.round(a.ms)} ms`);
  });
});

Deno.test("a zstd bomb (RLE blocks: under 1 KB inflating to 25 MiB) gets 413 fast", async () => {
  const body = zstdRleBomb(200);
  ok(body.length < 1024, `bomb is ${body.length} bytes`);
  await badCase({}, async (srv) => {
    return await post(`${srv.url}/v1/logs`, body, { ...JSON_TYPE, "content-encoding": "zstd" });
  }, (a) => {
    assertError(a, 413, "json", /limit|large/i);
    ok(a.ms < 3000, `answered in ${Math.round(a.ms)} ms`);
  });
});

Deno.test("a body over OTLP2PARQUET_MAX_PAYLOAD_BYTES gets 413, plain or once inflated", async () => {
  const env = { OTLP2PARQUET_MAX_PAYLOAD_BYTES: "65536" };
  const big = JSON.stringify(goodLogs(uniqueService("big"), "x".repeat(100_000)));
  await badCase(env, (srv) => post(`${srv.url}/v1/logs`, big, JSON_TYPE), (a) => {
    assertError(a, 413, "json", /limit|large/i);
  });
  const packed = await gzip(big);
  ok(packed.length < 65536);
  await badCase(env, (srv) => {
    return post(`${srv.url}/v1/logs`, packed, { ...JSON_TYPE, "content-encoding": "gzip" });
  }, (a) => assertError(a, 413, "json", /limit|large/i));
});

const DEPTH = 10_000;

Deno.test("an AnyValue nested 10,000 deep gets 400 (JSON)", async () => {
  const open = '{"arrayValue":{"values":['.repeat(DEPTH);
  const close = "]}}".repeat(DEPTH);
  const body = `${open}{"stringValue":"deep"}${close}`;
  const req = JSON.stringify(goodLogs(uniqueService("deep"))).replace(
    '{"stringValue":"ok"}',
    body,
  );
  await badCase({}, (srv) => post(`${srv.url}/v1/logs`, req, JSON_TYPE), (a) => {
    assertError(a, 400, "json", /nest|deep|depth/i);
  });
});

/** AnyValue{5 array_value: ArrayValue{1 values: AnyValue…}} nested `depth` times, built flat. */
function nestedAnyValuePb(depth: number): Uint8Array {
  const leaf = new Pb().string(1, "deep").finish();
  const varintLen = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);
  const varint = (n: number) => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  const prefixes: number[][] = [];
  let inner = leaf.length; // size of the current AnyValue
  for (let i = 0; i < depth; i++) {
    const arr = 1 + varintLen(inner) + inner; // ArrayValue{ 1: inner }
    prefixes.push([0x2a, ...varint(arr), 0x0a, ...varint(inner)]);
    inner = 1 + varintLen(arr) + arr;
  }
  const out = new Uint8Array(inner);
  let pos = 0;
  for (let i = prefixes.length - 1; i >= 0; i--) {
    out.set(prefixes[i], pos);
    pos += prefixes[i].length;
  }
  out.set(leaf, pos);
  return out;
}

Deno.test("an AnyValue nested 10,000 deep gets 400 (protobuf)", async () => {
  const rec = new Pb().fixed64(1, 1_700_000_000_000_000_000n).message(5, nestedAnyValuePb(DEPTH));
  const req = pbLogsRequest(uniqueService("deep"), rec);
  await badCase({}, (srv) => post(`${srv.url}/v1/logs`, req, PROTO_TYPE), (a) => {
    assertError(a, 400, "protobuf", /nest|deep|depth/i);
  });
});

Deno.test("invalid UTF-8 in a protobuf string gets 400", async () => {
  const rec = new Pb().fixed64(1, 1_700_000_000_000_000_000n).message(
    5,
    new Pb().bytes(1, new Uint8Array([0x68, 0xff, 0xfe, 0x69])),
  );
  const req = pbLogsRequest(uniqueService("utf8"), rec);
  await badCase({}, (srv) => post(`${srv.url}/v1/logs`, req, PROTO_TYPE), (a) => {
    assertError(a, 400, "protobuf", /UTF-8/i);
  });
});

Deno.test("invalid UTF-8 in a protobuf attribute key gets 400", async () => {
  const attr = new Pb().bytes(1, new Uint8Array([0xc3, 0x28])).message(2, new Pb().string(1, "v"));
  const rec = new Pb().fixed64(1, 1_700_000_000_000_000_000n).message(6, attr);
  const req = pbLogsRequest(uniqueService("utf8"), rec);
  await badCase({}, (srv) => post(`${srv.url}/v1/logs`, req, PROTO_TYPE), (a) => {
    assertError(a, 400, "protobuf", /UTF-8/i);
  });
});

Deno.test("100,000 attributes on one log record are all stored, keys sorted", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("wide");
    const N = 100_000;
    const key = (i: number) => `k${String(i).padStart(6, "0")}`;
    // sent in descending order: the stored map must come out sorted
    const attributes = Array.from({ length: N }, (_, j) => kv(key(N - 1 - j), sv(`v${N - 1 - j}`)));
    const req = logsRequest(service, [{ timeUnixNano: RECORD_NS, body: sv("wide"), attributes }]);
    assertJsonOk(await postJson(srv, "/v1/logs", req));
    const [row] = await rowsOf(await filesOf(srv, "logs", service), "LogAttributes");
    const keys = mapKeys(row.LogAttributes);
    strictEqual(keys.length, N);
    deepStrictEqual(keys, Array.from({ length: N }, (_, i) => key(i)));
    const m = mapObj(row.LogAttributes);
    strictEqual(m.k000000, "v0");
    strictEqual(m.k099999, "v99999");
  });
});

Deno.test("duplicate attribute keys: the first one wins", async () => {
  await withServer({}, async (srv) => {
    const service = uniqueService("dup");
    const attributes = [kv("b", sv("1")), kv("a", sv("first")), kv("a", sv("second"))];
    const req = logsRequest(service, [{ timeUnixNano: RECORD_NS, body: sv("dup"), attributes }]);
    assertJsonOk(await postJson(srv, "/v1/logs", req));
    const [row] = await rowsOf(await filesOf(srv, "logs", service), "LogAttributes");
    deepStrictEqual(row.LogAttributes, [{ key: "a", value: "first" }, { key: "b", value: "1" }]);
  });
});

Deno.test("with a bearer token set, wrong or missing credentials get 401 and the right ones 200", async () => {
  const env = { OTLP2PARQUET_AUTH_BEARER_TOKEN: "s3cret-token" };
  await withServer({ env }, async (srv) => {
    const service = uniqueService("auth");
    const right = { authorization: "Bearer s3cret-token" };
    assertJsonOk(await postJson(srv, "/v1/logs", goodLogs(service), right));
    const snap = await snapshot(srv.output);
    assertError(await postJson(srv, "/v1/logs", goodLogs(service)), 401, "json", /credential/i);
    const wrong = { authorization: "Bearer s3cret-tokeN" };
    assertError(await postJson(srv, "/v1/logs", goodLogs(service), wrong), 401, "json");
    const short = { authorization: "Bearer s3cret" };
    assertError(await postJson(srv, "/v1/logs", goodLogs(service), short), 401, "json");
    const scheme = { authorization: "Basic czNjcmV0LXRva2Vu" };
    assertError(await postJson(srv, "/v1/logs", goodLogs(service), scheme), 401, "json");
    const pb = await post(`${srv.url}/v1/logs`, goodLogsPb(service), { ...PROTO_TYPE, ...wrong });
    assertError(pb, 401, "protobuf");
    await assertIntact(srv.output, snap);
    strictEqual(
      (await filesOf(srv, "logs", service)).length,
      1,
      "nothing stored without credentials",
    );
    const ok200 = await post(`${srv.url}/v1/logs`, goodLogsPb(service), {
      ...PROTO_TYPE,
      ...right,
    });
    strictEqual(ok200.status, 200, text(ok200.body));
    await assertStillUp(srv, () => postJson(srv, "/v1/logs", goodLogs(service), right));
    // the SDK exporter with the header fails, and succeeds with the right one
    const emit = ({ logger }: LogsScope) =>
      logger.emit({ body: "sdk", timestamp: [1_700_000_000, 0] });
    const o = { url: srv.url, protocol: "proto" as const, service };
    await rejects(sendLogs({ ...o, headers: wrong }, emit), /exports failed/);
    await sendLogs({ ...o, headers: right }, emit);
    const rows = await rowsOf(await filesOf(srv, "logs", service), "Body", "WHERE Body = 'sdk'");
    strictEqual(rows.length, 1);
  });
});

Deno.test("with basic auth set, wrong credentials get 401 and the right ones 200", async () => {
  const env = {
    OTLP2PARQUET_AUTH_BASIC_USERNAME: "otel",
    OTLP2PARQUET_AUTH_BASIC_PASSWORD: "pa:ss",
  };
  await withServer({ env }, async (srv) => {
    const service = uniqueService("basic");
    const b64 = (s: string) => btoa(s);
    assertJsonOk(
      await postJson(srv, "/v1/logs", goodLogs(service), {
        authorization: `Basic ${b64("otel:pa:ss")}`,
      }),
    );
    for (const creds of ["otel:pa:sS", "otel:", "other:pa:ss"]) {
      const a = await postJson(srv, "/v1/logs", goodLogs(service), {
        authorization: `Basic ${b64(creds)}`,
      });
      assertError(a, 401, "json");
    }
    assertError(await postJson(srv, "/v1/logs", goodLogs(service)), 401, "json");
  });
});
