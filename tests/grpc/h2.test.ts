/**
 * The HTTP/2 server side Deno serves gRPC with (src/grpc/h2.ts, src/grpc/hpack.ts), byte for
 * byte: HPACK against the examples of RFC 7541 Appendix C and every Huffman code, and an
 * `H2Connection` fed hand-made frames (one byte per read too) whose output frames are parsed
 * back. The real clients (grpc-js, Python grpcio, node:http2, curl) are in the other tests of
 * this folder; these cover what they never send: bad framing, flow control edges, CONTINUATION,
 * padding, limits.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { encodeHeaders, HpackDecoder, HpackError, huffmanCodes } from "../../src/grpc/hpack.ts";
import { H2Connection, H2Error, SETTINGS } from "../../src/grpc/h2.ts";
import type { Answer, ExportCall } from "../../src/grpc/service.ts";
import { InflightBudget, Reservation } from "../../src/http/admission.ts";

const hex = (s: string) =>
  new Uint8Array(s.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

Deno.test("HPACK decodes RFC 7541 C.4 (Huffman, dynamic table across blocks)", () => {
  const d = new HpackDecoder();
  deepStrictEqual(d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ]);
  deepStrictEqual(d.decode(hex("8286 84be 5886 a8eb 1064 9cbf")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ]);
  deepStrictEqual(
    d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")),
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  );
});

Deno.test("HPACK decodes every Huffman code, and refuses EOS, bad padding and bad indexes", () => {
  const codes = huffmanCodes();
  // All 256 octets in one Huffman-coded literal (name "x", no indexing).
  const bits: number[] = [];
  for (let s = 0; s < 256; s++) {
    const [code, len] = codes[s];
    for (let b = len - 1; b >= 0; b--) bits.push(Math.floor(code / 2 ** b) & 1);
  }
  while (bits.length % 8 !== 0) bits.push(1);
  const value = new Uint8Array(bits.length / 8);
  for (let i = 0; i < value.length; i++) {
    for (let k = 0; k < 8; k++) value[i] = (value[i] << 1) | bits[8 * i + k];
  }
  const lenBytes = [0x80 | 0x7f];
  let rest = value.length - 0x7f;
  while (rest >= 128) {
    lenBytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  lenBytes.push(rest);
  const block = new Uint8Array([0x00, 0x01, 0x78, ...lenBytes, ...value]);
  const [[name, v]] = new HpackDecoder().decode(block);
  strictEqual(name, "x");
  deepStrictEqual([...v].map((c) => c.charCodeAt(0)), Array.from({ length: 256 }, (_, i) => i));

  const fails = (b: Uint8Array, re: RegExp) => {
    try {
      new HpackDecoder().decode(b);
    } catch (e) {
      ok(e instanceof HpackError, String(e));
      ok(re.test(e.message), e.message);
      return;
    }
    throw new Error("no error");
  };
  // EOS (30 ones) inside a string; 8 bits of padding; a zero bit in the padding.
  fails(new Uint8Array([0x00, 0x01, 0x78, 0x84, 0xff, 0xff, 0xff, 0xfc]), /EOS/);
  fails(new Uint8Array([0x00, 0x01, 0x78, 0x82, 0x1f, 0xff]), /padding/);
  fails(new Uint8Array([0x00, 0x01, 0x78, 0x81, 0x1e]), /padding/);
  fails(new Uint8Array([0xbe]), /index 62 is not in the tables/);
  fails(new Uint8Array([0x80]), /index 0/);
  fails(new Uint8Array([0x00, 0x05, 0x61]), /runs past the end/);
  fails(new Uint8Array([0x3f, 0xe2, 0x1f]), /4097 bytes, over the 4096/);
  fails(new Uint8Array([0x82, 0x20]), /after a header field/);
  fails(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /more than 32 bits/);
});

Deno.test("HPACK: encoded response headers decode back; table size updates evict", () => {
  const fields: Array<[string, string]> = [
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-message", "x".repeat(300)],
  ];
  deepStrictEqual(new HpackDecoder().decode(encodeHeaders(fields)), fields);
  const d = new HpackDecoder();
  // Literal with incremental indexing "a: b", then a size update to 0 empties the table.
  d.decode(new Uint8Array([0x40, 0x01, 0x61, 0x01, 0x62]));
  deepStrictEqual(d.decode(new Uint8Array([0xbe])), [["a", "b"]]);
  ok(throwsHpack(() => d.decode(new Uint8Array([0x20, 0xbe]))));
});

function throwsHpack(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch (e) {
    return e instanceof HpackError;
  }
}

// --- HTTP/2 frames, by hand -------------------------------------------------------------------

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, flags: number, id: number, payload: Uint8Array = new Uint8Array()) {
  const f = new Uint8Array(9 + payload.length);
  f[0] = payload.length >>> 16;
  f[1] = (payload.length >>> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  f[4] = flags;
  new DataView(f.buffer).setUint32(5, id);
  f.set(payload, 9);
  return f;
}

const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
};

/** A gRPC message frame (5-byte prefix). */
function grpcMessage(bytes: Uint8Array, compressed = 0): Uint8Array {
  const m = new Uint8Array(5 + bytes.length);
  m[0] = compressed;
  new DataView(m.buffer).setUint32(1, bytes.length);
  m.set(bytes, 5);
  return m;
}

function requestHeaders(path: string, extra: Array<[string, string]> = []): Uint8Array {
  return encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ]);
}

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Uint8Array;
}

/** An H2Connection with a fake transport: frames written, parsed back; calls answered by `answer`. */
function harness(answer: (c: ExportCall) => Promise<Answer> = okAnswer, limit = 1024) {
  const written: Uint8Array[] = [];
  const calls: ExportCall[] = [];
  let ended = false;
  const h2 = new H2Connection({
    answer: (c) => {
      calls.push(c);
      return answer(c);
    },
    limit,
    write: (b) => written.push(b.slice()),
    end: () => void (ended = true),
  });
  const decoder = new HpackDecoder();
  let seen = 0;
  /** Frames written since the last call (microtask flushes included). */
  const frames = async (): Promise<Frame[]> => {
    await new Promise((r) => setTimeout(r, 0));
    const all = new Uint8Array(written.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of written) {
      all.set(b, o);
      o += b.length;
    }
    const out: Frame[] = [];
    let i = 0;
    let k = 0;
    while (i < all.length) {
      const len = (all[i] << 16) | (all[i + 1] << 8) | all[i + 2];
      const f = {
        type: all[i + 3],
        flags: all[i + 4],
        id: new DataView(all.buffer).getUint32(i + 5) & 0x7fffffff,
        payload: all.slice(i + 9, i + 9 + len),
      };
      i += 9 + len;
      if (k++ >= seen) out.push(f);
    }
    seen = k;
    return out;
  };
  const headersOf = (f: Frame) => Object.fromEntries(decoder.decode(f.payload));
  const feed = (...bs: Uint8Array[]) => {
    for (const b of bs) h2.receive(b);
  };
  const bytes = () => new Uint8Array(written.flatMap((b) => [...b]));
  return { h2, feed, frames, headersOf, calls, ended: () => ended, written: bytes };
}

const okAnswer = () => Promise.resolve<Answer>({ code: 0, response: new Uint8Array([0x0a, 0x00]) });

const HEADERS = 0x1, DATA = 0x0, RST = 0x3, SETTINGS_T = 0x4, PING = 0x6, GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8, CONTINUATION = 0x9;

async function opened(answer?: (c: ExportCall) => Promise<Answer>, limit?: number) {
  const t = harness(answer, limit);
  t.feed(PREFACE, frame(SETTINGS_T, 0, 0));
  const first = await t.frames();
  // Our SETTINGS, the connection WINDOW_UPDATE, the ACK of theirs.
  deepStrictEqual(first.map((f) => [f.type, f.flags]), [[4, 0], [8, 0], [4, 1]]);
  const inc = new DataView(first[1].payload.buffer).getUint32(0);
  strictEqual(inc, SETTINGS.connectionWindow - 65535);
  return t;
}

Deno.test("h2: a unary call, fed one byte per read: HEADERS, DATA, trailers with grpc-status 0", async () => {
  const t = harness();
  const bytes = new Uint8Array([
    ...PREFACE,
    ...frame(SETTINGS_T, 0, 0),
    ...frame(HEADERS, 0x4, 1, requestHeaders("/a.B/Export", [["authorization", "Bearer t"]])),
    ...frame(DATA, 0, 1, grpcMessage(new Uint8Array([1, 2, 3])).subarray(0, 4)),
    ...frame(DATA, 0x1, 1, grpcMessage(new Uint8Array([1, 2, 3])).subarray(4)),
  ]);
  for (let i = 0; i < bytes.length; i++) t.feed(bytes.subarray(i, i + 1));
  const out = (await t.frames()).filter((f) => f.id === 1);
  strictEqual(t.calls.length, 1);
  deepStrictEqual(t.calls[0], {
    path: "/a.B/Export",
    authorization: "Bearer t",
    encoding: "identity",
    bytes: new Uint8Array([1, 2, 3]),
  });
  deepStrictEqual(out.map((f) => [f.type, f.flags]), [[HEADERS, 0x4], [DATA, 0], [HEADERS, 0x5]]);
  deepStrictEqual(t.headersOf(out[0])[":status"], "200");
  deepStrictEqual(t.headersOf(out[0])["content-type"], "application/grpc");
  deepStrictEqual([...out[1].payload], [0, 0, 0, 0, 2, 0x0a, 0x00]);
  deepStrictEqual(t.headersOf(out[2]), { "grpc-status": "0" });
});

Deno.test("h2: errors are trailers-only with grpc-message percent-encoded and RetryInfo", async () => {
  const t = await opened(() =>
    Promise.resolve<Answer>({
      code: 8,
      message: "buffers are full: 100% é",
      retryAfterSecs: 2,
    })
  );
  t.feed(
    frame(HEADERS, 0x4, 1, requestHeaders("/x/Export", [["grpc-encoding", "gzip"]])),
    frame(DATA, 0x1, 1, grpcMessage(new Uint8Array([9]), 1)),
  );
  const [f] = await t.frames();
  strictEqual(t.calls[0].encoding, "gzip");
  strictEqual(f.flags, 0x5);
  const h = t.headersOf(f);
  strictEqual(h["grpc-status"], "8");
  strictEqual(h["grpc-message"], "buffers are full: 100%25 %C3%A9");
  ok(h["grpc-status-details-bin"].length > 10, JSON.stringify(h));
});

Deno.test("h2: a message over the limit is refused from its prefix, before the rest is sent", async () => {
  const t = await opened(undefined, 100);
  t.feed(
    frame(HEADERS, 0x4, 1, requestHeaders("/x/Export")),
    frame(DATA, 0, 1, grpcMessage(new Uint8Array(1000)).subarray(0, 20)),
  );
  const out = await t.frames();
  strictEqual(t.calls.length, 0);
  deepStrictEqual(out.map((f) => [f.type, f.flags]), [[HEADERS, 0x5], [RST, 0]]);
  strictEqual(t.headersOf(out[0])["grpc-status"], "8");
  ok(/Message of 1000 bytes is larger than the limit of 100/.test(
    decodeURIComponent(t.headersOf(out[0])["grpc-message"]),
  ));
  deepStrictEqual([...out[1].payload], [0, 0, 0, 0]);
  // The rest, in flight, is dropped; the connection goes on.
  t.feed(frame(DATA, 0x1, 1, new Uint8Array(985)));
  t.feed(
    frame(HEADERS, 0x4, 3, requestHeaders("/x/Export")),
    frame(DATA, 1, 3, grpcMessage(new Uint8Array(4))),
  );
  const next = await t.frames();
  deepStrictEqual(next.map((f) => [f.type, f.id]), [[HEADERS, 3], [DATA, 3], [HEADERS, 3]]);
});

Deno.test("h2: bad calls are answered on their stream; the connection serves the next", async () => {
  const t = await opened();
  const cases: Array<[Uint8Array[], string, RegExp]> = [
    [[frame(HEADERS, 0x5, 1, requestHeaders("/x/Export"))], "3", /without a message/],
    [
      [
        frame(HEADERS, 0x4, 3, requestHeaders("/x/Export")),
        frame(DATA, 1, 3, new Uint8Array([0, 0, 0])),
      ],
      "3",
      /5-byte prefix/,
    ],
    [
      [
        frame(HEADERS, 0x4, 5, requestHeaders("/x/Export")),
        frame(DATA, 1, 5, grpcMessage(new Uint8Array(9)).subarray(0, 8)),
      ],
      "3",
      /after 3 of the message's 9 bytes/,
    ],
    [
      [
        frame(HEADERS, 0x4, 7, requestHeaders("/x/Export")),
        frame(DATA, 1, 7, grpcMessage(new Uint8Array(2), 1)),
      ],
      "3",
      /compressed flag is set but grpc-encoding is identity/,
    ],
    [
      [
        frame(HEADERS, 0x4, 9, requestHeaders("/x/Export")),
        frame(
          DATA,
          1,
          9,
          new Uint8Array([...grpcMessage(new Uint8Array(2)), ...grpcMessage(new Uint8Array(2))]),
        ),
      ],
      "3",
      /more than one message/,
    ],
    [
      [frame(
        HEADERS,
        0x5,
        11,
        encodeHeaders([[":method", "GET"], [":path", "/"], ["content-type", "application/grpc"]]),
      )],
      "12",
      /POST, not GET/,
    ],
    [
      [frame(
        HEADERS,
        0x5,
        13,
        encodeHeaders([[":method", "POST"], [":path", "/"], ["content-type", "application/json"]]),
      )],
      "2",
      /not application\/grpc/,
    ],
  ];
  for (const [frames, code, re] of cases) {
    t.feed(...frames);
    const out = (await t.frames()).filter((f) => f.type === HEADERS);
    strictEqual(out.length, 1, String(re));
    const h = t.headersOf(out[0]);
    strictEqual(h["grpc-status"], code, JSON.stringify(h));
    ok(re.test(decodeURIComponent(h["grpc-message"])), h["grpc-message"]);
  }
  strictEqual(t.calls.length, 0);
  t.feed(
    frame(HEADERS, 0x4, 15, requestHeaders("/x/Export")),
    frame(DATA, 1, 15, grpcMessage(new Uint8Array(1))),
  );
  strictEqual((await t.frames()).filter((f) => f.type === HEADERS).length, 2);
  strictEqual(t.calls.length, 1);
});

Deno.test("h2: CONTINUATION, padding, PRIORITY, PING and unknown frames", async () => {
  const t = await opened();
  const block = requestHeaders("/x/Export", [["authorization", "Basic abc"]]);
  const padded = new Uint8Array([3, ...block.subarray(0, 10), 0, 0, 0]);
  t.feed(
    frame(0x2, 0, 1, new Uint8Array(5)), // PRIORITY on an idle stream
    frame(0xfa, 0, 0, new Uint8Array(3)), // unknown type: ignored
    frame(HEADERS, 0x8, 1, padded),
    frame(CONTINUATION, 0, 1, block.subarray(10, 20)),
    frame(CONTINUATION, 0x4, 1, block.subarray(20)),
    frame(DATA, 0x9, 1, new Uint8Array([2, ...grpcMessage(new Uint8Array([7])), 0, 0])),
    frame(PING, 0, 0, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])),
  );
  const out = await t.frames();
  strictEqual(t.calls[0].authorization, "Basic abc");
  deepStrictEqual([...t.calls[0].bytes], [7]);
  const ping = out.find((f) => f.type === PING)!;
  strictEqual(ping.flags, 1);
  deepStrictEqual([...ping.payload], [1, 2, 3, 4, 5, 6, 7, 8]);
  deepStrictEqual(out.filter((f) => f.id === 1).map((f) => f.type), [HEADERS, DATA, HEADERS]);
});

Deno.test("h2: DATA waits for the client's window (SETTINGS_INITIAL_WINDOW_SIZE, WINDOW_UPDATE)", async () => {
  const t = harness(() => Promise.resolve<Answer>({ code: 0, response: new Uint8Array(10) }));
  // The client lets 4 bytes be sent per stream.
  t.feed(PREFACE, frame(SETTINGS_T, 0, 0, new Uint8Array([0, 4, 0, 0, 0, 4])));
  await t.frames();
  t.feed(
    frame(HEADERS, 0x4, 1, requestHeaders("/x/Export")),
    frame(DATA, 1, 1, grpcMessage(new Uint8Array(1))),
  );
  let out = await t.frames();
  deepStrictEqual(out.map((f) => [f.type, f.payload.length]), [[HEADERS, out[0].payload.length], [
    DATA,
    4,
  ]]);
  t.feed(frame(WINDOW_UPDATE, 0, 1, u32(5)));
  out = await t.frames();
  deepStrictEqual(out.map((f) => [f.type, f.payload.length]), [[DATA, 5]]);
  // A SETTINGS change of the initial window applies to open streams too.
  t.feed(frame(SETTINGS_T, 0, 0, new Uint8Array([0, 4, 0, 0, 0, 10])));
  out = await t.frames();
  deepStrictEqual(out.map((f) => [f.type, f.flags]), [[SETTINGS_T, 1], [DATA, 0], [HEADERS, 0x5]]);
  strictEqual(out[1].payload.length, 6);
});

Deno.test("h2: the receive windows are given back as DATA is read", async () => {
  const t = await opened(undefined, 16 * 1024 * 1024);
  const big = grpcMessage(new Uint8Array(SETTINGS.initialWindow - 5));
  t.feed(frame(HEADERS, 0x4, 1, requestHeaders("/x/Export")));
  for (let o = 0; o < big.length; o += SETTINGS.maxFrameSize) {
    const end = Math.min(big.length, o + SETTINGS.maxFrameSize);
    t.feed(frame(DATA, end === big.length ? 0 : 0, 1, big.subarray(o, end)));
  }
  const out = await t.frames();
  const updates = out.filter((f) => f.type === WINDOW_UPDATE);
  ok(updates.some((f) => f.id === 1), "no stream WINDOW_UPDATE");
  const given = updates.filter((f) => f.id === 1).reduce(
    (n, f) => n + new DataView(f.payload.buffer).getUint32(0),
    0,
  );
  ok(given >= SETTINGS.initialWindow / 2, String(given));
  t.feed(frame(DATA, 1, 1));
  strictEqual(t.calls[0].bytes.length, SETTINGS.initialWindow - 5);
});

Deno.test("h2: protocol errors end the connection with GOAWAY and their code", async () => {
  const cases: Array<[Uint8Array, number, RegExp]> = [
    [frame(HEADERS, 0x4, 2, requestHeaders("/x")), H2Error.PROTOCOL_ERROR, /HEADERS on stream 2/],
    [frame(DATA, 0, 5, new Uint8Array(1)), H2Error.PROTOCOL_ERROR, /idle stream 5/],
    [frame(PING, 0, 0, new Uint8Array(3)), H2Error.FRAME_SIZE_ERROR, /PING of 3 bytes/],
    [frame(SETTINGS_T, 0, 0, new Uint8Array(5)), H2Error.FRAME_SIZE_ERROR, /SETTINGS of 5/],
    [frame(HEADERS, 0x4, 1, new Uint8Array([0xbe])), H2Error.COMPRESSION_ERROR, /index 62/],
    [frame(0x5, 0, 1, new Uint8Array(4)), H2Error.PROTOCOL_ERROR, /PUSH_PROMISE/],
    [frame(WINDOW_UPDATE, 0, 0, u32(0)), H2Error.PROTOCOL_ERROR, /WINDOW_UPDATE of 0/],
    [frame(HEADERS, 0, 1, requestHeaders("/x")).subarray(0, 9 + 5), 0, /./],
  ];
  for (const [bytes, code, re] of cases.slice(0, -1)) {
    const t = await opened();
    t.feed(bytes);
    const out = await t.frames();
    const g = out.find((f) => f.type === GOAWAY);
    ok(g, `no GOAWAY for ${re}`);
    const v = new DataView(g.payload.buffer);
    strictEqual(v.getUint32(4), code, String(re));
    ok(re.test(new TextDecoder().decode(g.payload.subarray(8))), String(re));
    ok(t.ended());
  }
  // A frame over SETTINGS_MAX_FRAME_SIZE is refused from its header alone.
  const t = await opened();
  t.feed(new Uint8Array([0x10, 0, 0, 0, 0, 0, 0, 0, 1]));
  const g = (await t.frames()).find((f) => f.type === GOAWAY)!;
  strictEqual(new DataView(g.payload.buffer).getUint32(4), H2Error.FRAME_SIZE_ERROR);
  // A header block interrupted by another frame.
  const u = await opened();
  u.feed(frame(HEADERS, 0, 1, requestHeaders("/x")), frame(PING, 0, 0, new Uint8Array(8)));
  const g2 = (await u.frames()).find((f) => f.type === GOAWAY)!;
  strictEqual(new DataView(g2.payload.buffer).getUint32(4), H2Error.PROTOCOL_ERROR);
});

Deno.test("h2: HTTP/1.1 on the gRPC port gets a 505 that says where OTLP/HTTP goes", async () => {
  const t = harness();
  t.feed(new TextEncoder().encode("POST /v1/logs HTTP/1.1\r\nhost: x\r\n\r\n"));
  await new Promise((r) => setTimeout(r, 0));
  ok(t.ended());
  const text = new TextDecoder().decode(t.written());
  ok(text.startsWith("HTTP/1.1 505 HTTP Version Not Supported\r\n"), text);
  ok(text.includes("Send OTLP/HTTP to the HTTP port"), text);
});

Deno.test("h2: shutdown sends GOAWAY, answers the calls in flight, refuses newer streams, then ends", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const t = await opened(async () => {
    await gate;
    return { code: 0, response: new Uint8Array() };
  });
  t.feed(
    frame(HEADERS, 0x4, 1, requestHeaders("/x/Export")),
    frame(DATA, 1, 1, grpcMessage(new Uint8Array(1))),
  );
  let done = false;
  const stopped = t.h2.shutdown().then(() => void (done = true));
  let out = await t.frames();
  const g = out.find((f) => f.type === GOAWAY)!;
  deepStrictEqual([...g.payload.subarray(0, 8)], [0, 0, 0, 1, 0, 0, 0, 0]);
  t.feed(frame(HEADERS, 0x4, 3, requestHeaders("/x/Export")));
  out = await t.frames();
  deepStrictEqual(out.map((f) => [f.type, f.id, [...f.payload]]), [[RST, 3, [0, 0, 0, 7]]]);
  strictEqual(done, false);
  ok(!t.ended());
  release();
  await stopped;
  out = await t.frames();
  deepStrictEqual(out.map((f) => [f.type, f.id]), [[HEADERS, 1], [DATA, 1], [HEADERS, 1]]);
  ok(t.ended());
});

Deno.test("h2: a message `admit` refuses is answered from its prefix, its body unread, and counted", async () => {
  const answered: Array<[string, number]> = [];
  const asked: Array<[string, number]> = [];
  const written: Uint8Array[] = [];
  const calls: ExportCall[] = [];
  const h2 = new H2Connection({
    answer: (c) => {
      calls.push(c);
      return okAnswer();
    },
    admit: (path, declared) => {
      asked.push([path, declared]);
      return declared > 50
        ? { refused: { code: 14, message: "buffers are full", retryAfterSecs: 1 } }
        : null;
    },
    limit: 1024,
    write: (b) => written.push(b.slice()),
    end: () => {},
    answered: (c, a) => void answered.push([c.path, a.code]),
  });
  h2.receive(new Uint8Array([...PREFACE, ...frame(SETTINGS_T, 0, 0)]));
  h2.receive(frame(HEADERS, 0x4, 1, requestHeaders("/x/Export")));
  h2.receive(frame(DATA, 0, 1, grpcMessage(new Uint8Array(100)).subarray(0, 5)));
  h2.receive(frame(DATA, 0x1, 1, new Uint8Array(100)));
  h2.receive(frame(HEADERS, 0x4, 3, requestHeaders("/x/Export")));
  h2.receive(frame(DATA, 0x1, 3, grpcMessage(new Uint8Array(10))));
  await new Promise((r) => setTimeout(r, 0));
  deepStrictEqual(asked, [["/x/Export", 100], ["/x/Export", 10]]);
  deepStrictEqual(calls.map((c) => c.bytes.length), [10]);
  deepStrictEqual(answered, [["/x/Export", 14], ["/x/Export", 0]]);
  // Stream 1: trailers-only UNAVAILABLE with RetryInfo, then RST_STREAM NO_ERROR.
  const all = new Uint8Array(written.flatMap((b) => [...b]));
  const frames: Array<[number, number, number]> = [];
  for (let i = 0; i < all.length;) {
    const len = (all[i] << 16) | (all[i + 1] << 8) | all[i + 2];
    frames.push([all[i + 3], all[i + 4], new DataView(all.buffer).getUint32(i + 5)]);
    i += 9 + len;
  }
  deepStrictEqual(frames.filter((f) => f[2] === 1), [[HEADERS, 0x5, 1], [RST, 0, 1]]);
});

Deno.test("h2: the room `admit` reserves from a prefix goes to the call, and comes back from a stream that ends without one", async () => {
  const budget = new InflightBudget(1000);
  const calls: ExportCall[] = [];
  let connEnded = false;
  const h2 = new H2Connection({
    answer: (c) => {
      calls.push(c);
      return okAnswer();
    },
    admit: (_path, declared) => {
      const hold = new Reservation(budget);
      if (!hold.tryAdd(2 * declared)) {
        return { refused: { code: 14, message: "in flight is full", retryAfterSecs: 1 } };
      }
      return { hold };
    },
    limit: 1024,
    write: () => {},
    end: () => void (connEnded = true),
  });
  h2.receive(new Uint8Array([...PREFACE, ...frame(SETTINGS_T, 0, 0)]));
  // Three streams send their prefixes: 2 × 100 bytes each is reserved before any body is read.
  for (const id of [1, 3, 5]) {
    h2.receive(frame(HEADERS, 0x4, id, requestHeaders("/x/Export")));
    h2.receive(frame(DATA, 0, id, grpcMessage(new Uint8Array(100)).subarray(0, 5)));
  }
  strictEqual(budget.bytes, 600);
  // A fourth does not fit (600 + 500 > 1000): refused from its prefix, nothing reserved.
  h2.receive(frame(HEADERS, 0x4, 7, requestHeaders("/x/Export")));
  h2.receive(frame(DATA, 0, 7, grpcMessage(new Uint8Array(250)).subarray(0, 5)));
  strictEqual(budget.bytes, 600);
  // Stream 1 completes: its call carries the reservation (released by whoever answers it).
  h2.receive(frame(DATA, 0x1, 1, new Uint8Array(100)));
  await new Promise((r) => setTimeout(r, 0));
  strictEqual(calls.length, 1);
  strictEqual(calls[0].hold?.size, 200);
  calls[0].hold!.release();
  strictEqual(budget.bytes, 400);
  // Stream 3 is reset by the client: its room comes back.
  h2.receive(frame(RST, 0, 3, new Uint8Array([0, 0, 0, 8])));
  strictEqual(budget.bytes, 200);
  // Stream 5 sends a second message (refused, INVALID_ARGUMENT): its room comes back.
  h2.receive(frame(DATA, 0, 5, new Uint8Array(100)));
  h2.receive(frame(DATA, 0x1, 5, grpcMessage(new Uint8Array(1))));
  strictEqual(budget.bytes, 0);
  // A prefix in, then the connection goes: nothing stays reserved.
  h2.receive(frame(HEADERS, 0x4, 9, requestHeaders("/x/Export")));
  h2.receive(frame(DATA, 0, 9, grpcMessage(new Uint8Array(100)).subarray(0, 5)));
  strictEqual(budget.bytes, 200);
  h2.closed();
  strictEqual(budget.bytes, 0);
  strictEqual(calls.length, 1);
  ok(!connEnded);
});
