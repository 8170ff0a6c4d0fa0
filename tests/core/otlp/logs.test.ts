import { deepStrictEqual, match, strictEqual, throws } from "node:assert/strict";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import { cat, dec, encodePb, fld, RECEIVED, row, table, toOtlpJson } from "../fixtures.ts";
import { LOGS_REQ } from "../requests.ts";

const RES_ATTRS = [
  ["alpha", "a"],
  ["service.instance.id", "i-1"],
  ["service.name", "checkout"],
  ["service.namespace", "shop"],
  ["zeta", "1"],
];

const EXPECTED_LOGS: Record<string, unknown[]> = {
  Timestamp: [1700000000000000001n, 1700000000000000005n, RECEIVED, 3600000000000n],
  TraceId: ["0102030405060708090a0b0c0d0e0f10", "", "", ""],
  SpanId: ["a1a2a3a4a5a6a7a8", "", "", ""],
  TraceFlags: [1, 0, 0, 0],
  SeverityText: ["INFO", "ERROR", "", ""],
  SeverityNumber: [9, 17, 0, 0],
  ServiceName: ["checkout", "checkout", "checkout", ""],
  Body: [
    "hello body",
    '{"code":42,"msg":"boom","nested":{"x":"AQ==","y":true}}',
    "",
    "7",
  ],
  ResourceSchemaUrl: Array(3).fill("https://opentelemetry.io/schemas/1.26.0").concat([""]),
  ResourceAttributes: [RES_ATTRS, RES_ATTRS, RES_ATTRS, []],
  ScopeSchemaUrl: ["https://scope", "https://scope", "https://scope", ""],
  ScopeName: ["my.lib", "my.lib", "my.lib", ""],
  ScopeVersion: ["1.2.3", "1.2.3", "1.2.3", ""],
  ScopeAttributes: Array(3).fill([["scope.a", "1"], ["scope.b", "2"]]).concat([[]]),
  LogAttributes: [
    [
      [
        "arr",
        '["x\\"y\\n\\u0001",-5,1.5,"NaN",false,"/w==",null,[9007199254740993],{"a":"z","b":1}]',
      ],
      ["b", "true"],
      ["by", "AAEC/f7/"],
      ["d_big", "1e+21"],
      ["d_half", "0.5"],
      ["d_inf", "Infinity"],
      ["d_int", "3"],
      ["d_nan", "NaN"],
      ["d_negzero", "0"],
      ["d_ninf", "-Infinity"],
      ["d_small", "1e-7"],
      ["empty", ""],
      ["i_big", "9007199254740993"],
      ["i_max", "9223372036854775807"],
      ["i_min", "-9223372036854775808"],
      ["i_neg", "-1"],
      ["kv", '{"a":1,"m":[],"z":"last"}'],
      ["s", "héllo ✓"],
    ],
    [],
    [],
    [],
  ],
  EventName: ["user.login", "", "", ""],
  ObservedTimestamp: [1700000000000000002n, 1700000000000000005n, 0n, 0n],
  DroppedAttributesCount: [3, 0, 0, 0],
  Flags: [0x101, 0, 0, 0],
  ServiceNamespace: ["shop", "shop", "shop", ""],
  ServiceInstanceId: ["i-1", "i-1", "i-1", ""],
};

Deno.test("decode() fills every logs column from a protobuf request", () => {
  const d = dec("logs", encodePb("logs", LOGS_REQ));
  strictEqual(d.records, 4);
  strictEqual(d.rejected, 0);
  strictEqual(d.message, "");
  deepStrictEqual(table(d, "logs"), EXPECTED_LOGS);
});

Deno.test("decode() gives the same logs columns for OTLP/JSON as for protobuf", () => {
  deepStrictEqual(table(dec("logs", toOtlpJson("logs", LOGS_REQ), "json"), "logs"), EXPECTED_LOGS);
  // base64 ids, as some tools write them
  const b64 = toOtlpJson("logs", LOGS_REQ, { hexIds: false });
  match(b64, /"traceId":"AQIDBAUGBwgJCgsMDQ4PEA=="/);
  deepStrictEqual(table(dec("logs", b64, "json"), "logs"), EXPECTED_LOGS);
});

Deno.test("decode() reads OTLP/JSON with snake_case keys, enum names and numbers for 64-bit ints", () => {
  const json = JSON.stringify({
    resource_logs: [{
      resource: { attributes: [{ key: "service.name", value: { string_value: "s" } }] },
      scope_logs: [{
        log_records: [{
          time_unix_nano: 1700000000000000000,
          severity_number: "SEVERITY_NUMBER_WARN2",
          body: { int_value: -12 },
          trace_id: "0102030405060708090A0B0C0D0E0F10",
          attributes: [{ key: "d", value: { double_value: "-Infinity" } }, {
            key: "i",
            value: { intValue: "007" },
          }],
          unknownField: { whatever: [1, 2] },
        }],
      }],
    }],
  });
  const t = table(dec("logs", json, "json"), "logs");
  deepStrictEqual(t.Timestamp, [1700000000000000000n]);
  deepStrictEqual(t.SeverityNumber, [14]);
  deepStrictEqual(t.Body, ["-12"]);
  deepStrictEqual(t.TraceId, ["0102030405060708090a0b0c0d0e0f10"]);
  deepStrictEqual(t.LogAttributes, [[["d", "-Infinity"], ["i", "7"]]]);
  deepStrictEqual(t.ServiceName, ["s"]);
});

Deno.test("decode() reads JSONL: one request per non-empty line", () => {
  const line = toOtlpJson("logs", LOGS_REQ);
  const d = dec("logs", `${line}\n\n  \r\n${line}\r\n`, "jsonl");
  const t = table(d, "logs");
  strictEqual(d.records, 8);
  deepStrictEqual(t.Body, [...EXPECTED_LOGS.Body, ...EXPECTED_LOGS.Body]);
  deepStrictEqual(row(t, 4), row(EXPECTED_LOGS, 0));
});

Deno.test("decode() names the JSONL line and JSON path of a bad value", () => {
  const good = toOtlpJson("logs", LOGS_REQ);
  const bad = JSON.stringify({
    resourceLogs: [{ scopeLogs: [{}, { logRecords: [{}, {}, {}, { timeUnixNano: "12x" }] }] }],
  });
  throws(() => dec("logs", `${good}\n\n${bad}\n`, "jsonl"), {
    name: "DecodeError",
    message:
      "Cannot decode ExportLogsServiceRequest: line 3: resourceLogs[0].scopeLogs[1].logRecords[3].timeUnixNano: " +
      'expected an unsigned 64-bit integer (string or number), got "12x"',
  });
  throws(() => dec("logs", `${good}\n{"resourceLogs": [}\n`, "jsonl"), (e: Error) => {
    strictEqual(e.name, "DecodeError");
    match(e.message, /^Cannot decode ExportLogsServiceRequest: line 2: invalid JSON: /);
    return true;
  });
});

Deno.test("decode() keeps a resource's schema_url sent after its scope_logs, and scope fields after the records", () => {
  const record = cat(fld(1, 1, 5n), fld(3, 2, "WARN"));
  const scope = cat(fld(1, 2, "lib"), fld(2, 2, "9"));
  const scopeLogs = cat(
    fld(2, 2, record),
    fld(3, 2, "scope-url"),
    fld(1, 2, scope),
    fld(2, 2, record),
  );
  const keyValue = cat(fld(2, 2, fld(1, 2, "svc")), fld(1, 2, "service.name")); // value before key
  const resource = fld(1, 2, keyValue); // Resource.attributes
  const resourceLogs = cat(fld(2, 2, scopeLogs), fld(3, 2, "res-url"), fld(1, 2, resource));
  const t = table(dec("logs", fld(1, 2, resourceLogs)), "logs");
  deepStrictEqual(t.ResourceSchemaUrl, ["res-url", "res-url"]);
  deepStrictEqual(t.ScopeSchemaUrl, ["scope-url", "scope-url"]);
  deepStrictEqual(t.ScopeName, ["lib", "lib"]);
  deepStrictEqual(t.ScopeVersion, ["9", "9"]);
  deepStrictEqual(t.ServiceName, ["svc", "svc"]);
  deepStrictEqual(t.ResourceAttributes, [[["service.name", "svc"]], [["service.name", "svc"]]]);
  deepStrictEqual(t.SeverityText, ["WARN", "WARN"]);
});

Deno.test("decode() skips unknown fields of every wire type, groups included", () => {
  const group = cat(
    new Uint8Array([(14 << 3) | 3]), // start group 14
    fld(1, 0, 5),
    new Uint8Array([(15 << 3) | 3, (15 << 3) | 4]), // nested empty group 15
    fld(2, 2, "x"),
    new Uint8Array([(14 << 3) | 4]), // end group 14
  );
  const unknown = cat(fld(100, 0, -1n), fld(101, 1, 7n), fld(102, 2, "zz"), fld(103, 5, 9), group);
  const record = cat(
    unknown,
    fld(1, 1, 42n),
    unknown,
    fld(3, 2, "ok"),
    fld(2, 1, 3n), /* wrong wire type */
  );
  const scopeLogs = cat(unknown, fld(2, 2, record));
  const req = cat(unknown, fld(1, 2, cat(unknown, fld(2, 2, scopeLogs))));
  const t = table(dec("logs", req), "logs");
  deepStrictEqual(t.Timestamp, [42n]);
  deepStrictEqual(t.SeverityText, ["ok"]);
  deepStrictEqual(t.SeverityNumber, [0]);
});

Deno.test("decode() of an empty request gives no tables", () => {
  const d = dec("logs", new Uint8Array(0));
  deepStrictEqual(d, { tables: [], records: 0, rejected: 0, message: "" });
  deepStrictEqual(dec("logs", "{}", "json").tables, []);
  deepStrictEqual(dec("logs", "\n\n", "jsonl").tables, []);
});

Deno.test("decode() accepts 100,000 attributes on one record, sorted and de-duplicated", () => {
  const n = 100_000;
  // KeyValue { key: "k000123", value: { int_value: 123 } }, written by hand (fast) in reverse key order
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const v: number[] = [];
    for (let x = i;; x >>>= 7) {
      if (x <= 0x7f) {
        v.push(x);
        break;
      }
      v.push((x & 0x7f) | 0x80);
    }
    const key = `k${String(i).padStart(6, "0")}`;
    bytes.push(
      0x32,
      12 + v.length,
      0x0a,
      7,
      ...[...key].map((c) => c.charCodeAt(0)),
      0x12,
      1 + v.length,
      0x18,
      ...v,
    );
  }
  const dup = fld(6, 2, cat(fld(1, 2, "k000007"), fld(2, 2, fld(1, 2, "dup"))));
  const req = fld(1, 2, fld(2, 2, fld(2, 2, cat(fld(1, 1, 1n), new Uint8Array(bytes), dup))));
  const t = table(dec("logs", req), "logs");
  const m = t.LogAttributes[0] as [string, string][];
  strictEqual(m.length, n);
  deepStrictEqual(m[0], ["k000000", "0"]);
  deepStrictEqual(m[7], ["k000007", "7"]);
  deepStrictEqual(m[n - 1], ["k099999", "99999"]);
});

/** `levels` times AnyValue{array_value: {values: [inner]}} around the AnyValue `leaf`, built in linear time. */
function nestArrays(leaf: Uint8Array, levels: number): Uint8Array {
  const varint = (n: number) => {
    const out = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  const prefixes: number[][] = [];
  let len = leaf.length;
  for (let i = 0; i < levels; i++) {
    const inner = [0x0a, ...varint(len)]; // ArrayValue.values
    len += inner.length;
    const outer = [0x2a, ...varint(len)]; // AnyValue.array_value
    len += outer.length;
    prefixes.push(inner, outer);
  }
  return cat(...prefixes.reverse().map((p) => new Uint8Array(p)), leaf);
}

Deno.test("decode() rejects AnyValue nested 10,000 deep with a DecodeError", () => {
  const v = nestArrays(fld(1, 2, "leaf"), 10_000);
  const req = fld(1, 2, fld(2, 2, fld(2, 2, fld(5, 2, v))));
  throws(() => dec("logs", req), (e: Error) => {
    strictEqual(e.name, "DecodeError");
    match(
      e.message,
      /^Cannot decode ExportLogsServiceRequest: AnyValue nested deeper than the limit of 64 levels at byte \d+$/,
    );
    return true;
  });
  // JSON: same limit, with the path
  let j = '"leaf"';
  for (let i = 0; i < 10_000; i++) j = `{"arrayValue":{"values":[${j}]}}`;
  const json = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${j}}]}]}]}`;
  throws(() => dec("logs", json, "json"), (e: Error) => {
    strictEqual(e.name, "DecodeError");
    match(e.message, /nested/);
    return true;
  });
  // 64 levels are fine
  const ok = nestArrays(fld(1, 2, "leaf"), 63);
  const t = table(dec("logs", fld(1, 2, fld(2, 2, fld(2, 2, fld(5, 2, ok))))), "logs");
  strictEqual(t.Body[0], "[".repeat(63) + '"leaf"' + "]".repeat(63));
});

Deno.test("decode() rejects invalid UTF-8 naming the field", () => {
  const bad = new Uint8Array([0x61, 0xc3, 0x28]);
  const cases: [Uint8Array, string][] = [
    [fld(3, 2, bad), "LogRecord.severity_text"],
    [fld(12, 2, new Uint8Array([0xed, 0xa0, 0x80])), "LogRecord.event_name"], // surrogate
    [fld(5, 2, fld(1, 2, new Uint8Array([0xc0, 0x80]))), "AnyValue.string_value"], // overlong
    [fld(6, 2, fld(1, 2, new Uint8Array([0xf4, 0x90, 0x80, 0x80]))), "KeyValue.key"], // > U+10FFFF
  ];
  for (const [field, name] of cases) {
    const req = fld(1, 2, fld(2, 2, fld(2, 2, field)));
    throws(() => dec("logs", req), (e: Error) => {
      strictEqual(e.name, "DecodeError");
      match(
        e.message,
        new RegExp(
          `^Cannot decode ExportLogsServiceRequest: invalid UTF-8 in ${name} at byte \\d+$`,
        ),
      );
      return true;
    });
  }
  throws(() => dec("logs", new Uint8Array([0x7b, 0xff, 0x7d]), "json"), {
    name: "DecodeError",
    message: "Cannot decode ExportLogsServiceRequest: invalid UTF-8 in JSON at byte 1",
  });
});

Deno.test("decode() rejects a truncated varint with its byte offset", () => {
  // resource_logs { scope_logs { log_records { severity_number = <cut varint> } } }
  const req = fld(1, 2, fld(2, 2, fld(2, 2, new Uint8Array([0x10, 0x80, 0x80]))));
  throws(() => dec("logs", req), {
    name: "DecodeError",
    message: "Cannot decode ExportLogsServiceRequest: truncated varint at byte 7",
  });
  throws(() => dec("logs", new Uint8Array([0x0a, 0x05, 0x12])), {
    name: "DecodeError",
    message:
      "Cannot decode ExportLogsServiceRequest: length 5 exceeds the 1 bytes left in the message at byte 1",
  });
});

Deno.test("decode() rejects ids of the wrong length, and bad ids in JSON", () => {
  const req = fld(1, 2, fld(2, 2, fld(2, 2, fld(9, 2, new Uint8Array(5).fill(1)))));
  throws(() => dec("logs", req), {
    name: "DecodeError",
    message:
      "Cannot decode ExportLogsServiceRequest: LogRecord.trace_id has 5 bytes, expected 16 at byte 8",
  });
  for (const id of ["xyz", "0102", "0102030405060708090a0b0c0d0e0fzz", "AQIDBAUGBwgJCgsMDQ4P"]) {
    const json = JSON.stringify({
      resourceLogs: [{ scopeLogs: [{ logRecords: [{ traceId: id }] }] }],
    });
    throws(() => dec("logs", json, "json"), {
      name: "DecodeError",
      message:
        `Cannot decode ExportLogsServiceRequest: resourceLogs[0].scopeLogs[0].logRecords[0].traceId: ` +
        `expected 32 hex digits (or base64 of 16 bytes), got "${id}"`,
    });
  }
});

Deno.test("decode() says where a JSON array or string stands in place of an object", () => {
  const cases: [string, string][] = [
    ["[]", "expected a JSON object, got an array"],
    ['"x"', 'expected a JSON object, got "x"'],
    ['{"resourceLogs": {}}', "resourceLogs: expected an array, got an object"],
    ['{"resourceLogs": [[]]}', "resourceLogs[0]: expected an object, got an array"],
    [
      '{"resourceLogs": [{"scopeLogs": [{"logRecords": ["x"]}]}]}',
      'resourceLogs[0].scopeLogs[0].logRecords[0]: expected an object, got "x"',
    ],
    [
      '{"resourceLogs": [{"resource": {"attributes": [{"key": "k", "value": {"kvlistValue": {"values": [{"key": 1}]}}}]}}]}',
      "resourceLogs[0].resource.attributes[0].value.kvlistValue.values[0].key: expected a string, got 1",
    ],
    [
      '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": "LOUD"}]}]}]}',
      /resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]\.severityNumber: expected an enum number or one of SEVERITY_NUMBER_UNSPECIFIED, .*, got "LOUD"/
        .source,
    ],
    [
      '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"bytesValue": "!!"}}]}]}]}',
      'resourceLogs[0].scopeLogs[0].logRecords[0].body.bytesValue: expected base64, got "!!"',
    ],
    [
      '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": "9223372036854775808"}}]}]}]}',
      'resourceLogs[0].scopeLogs[0].logRecords[0].body.intValue: expected a 64-bit integer (string or number), got "9223372036854775808"',
    ],
    ["{", "invalid JSON: "],
  ];
  for (const [json, msg] of cases) {
    throws(() => dec("logs", json, "json"), (e: Error) => {
      strictEqual(e.name, "DecodeError");
      strictEqual(e instanceof DecodeError && e instanceof SyntaxError, true);
      if (msg.includes(".*")) {
        match(e.message, new RegExp("^Cannot decode ExportLogsServiceRequest: " + msg + "$"));
      } else {strictEqual(
          e.message.startsWith(`Cannot decode ExportLogsServiceRequest: ${msg}`),
          true,
          e.message,
        );}
      return true;
    });
  }
});

/** Any other error than DecodeError from a decoder is a bug. */
function decodesOrDecodeError(
  body: Uint8Array,
  signal: "logs" | "traces" | "metrics" = "logs",
): boolean {
  try {
    const d = dec(signal, body);
    for (const t of d.tables) t.assertAligned();
    return true;
  } catch (e) {
    if (e instanceof DecodeError) return false;
    throw e;
  }
}

Deno.test("decode() of a request cut at every byte either decodes or throws DecodeError", () => {
  const full = encodePb("logs", LOGS_REQ);
  let failed = 0;
  for (let n = 0; n < full.length; n++) if (!decodesOrDecodeError(full.subarray(0, n))) failed++;
  strictEqual(failed > full.length / 2, true);
});

Deno.test("decode() of random and mutated bytes either decodes or throws DecodeError", () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  const full = encodePb("logs", LOGS_REQ);
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(Math.floor(rnd() * 200));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
    decodesOrDecodeError(b);
    const m = full.slice();
    for (let k = 0; k < 3; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
    decodesOrDecodeError(m);
  }
});

Deno.test("decode() parses JSON 64-bit integers exactly over their whole range, and rejects the rest", () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  const rnd64 = () =>
    (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
  const ints = [
    0n,
    1n,
    -1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
    2n ** 53n + 1n,
    -(2n ** 53n) - 1n,
    4294967295n,
    4294967296n,
  ];
  const times = [0n, 2n ** 64n - 1n, 2n ** 32n, 1700000000000000001n];
  for (let i = 0; i < 300; i++) {
    ints.push(BigInt.asIntN(64, rnd64()) >> BigInt(Math.floor(rnd() * 64)));
    times.push(rnd64() >> BigInt(Math.floor(rnd() * 64)));
  }
  const records = ints.map((v, i) => ({
    timeUnixNano: String(times[i % times.length]),
    body: { intValue: String(v) },
  }));
  const json = JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] });
  const t = table(dec("logs", json, "json"), "logs");
  deepStrictEqual(t.Body, ints.map(String));
  deepStrictEqual(t.Timestamp, ints.map((_, i) => times[i % times.length] || RECEIVED));
  const bad: [string, string][] = [
    ["intValue", "9223372036854775808"],
    ["intValue", "-9223372036854775809"],
    ["intValue", "1.5"],
    ["intValue", "-"],
    ["intValue", ""],
    ["intValue", "1e3"],
    ["timeUnixNano", "18446744073709551616"],
    ["timeUnixNano", "-1"],
    ["timeUnixNano", "+1"],
  ];
  for (const [field, v] of bad) {
    const rec = field === "intValue" ? { body: { intValue: v } } : { timeUnixNano: v };
    const j = JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [rec] }] }] });
    throws(() => dec("logs", j, "json"), { name: "DecodeError" }, `${field} ${v}`);
  }
});

Deno.test("decode() gives every row its own attribute values when rows repeat the same keys", () => {
  const rec = (...kvs: [string, string][]) => ({
    timeUnixNano: "1",
    attributes: kvs.map(([key, v]) => ({ key, value: { stringValue: v } })),
  });
  const req = {
    resourceLogs: [{
      scopeLogs: [{
        logRecords: [
          rec(["b", "1"], ["a", "2"], ["b", "dup"]),
          rec(["b", "3"], ["a", "4"], ["b", "dup"]),
          rec(["x", "5"]),
          rec(["b", "6"], ["a", "7"], ["b", "dup"]),
          rec(["b", "8"], ["a", "9"], ["b", "dup"]),
          rec(["b", "8"], ["a", "9"]),
          rec(),
          rec(["b", "10"], ["a", "11"]),
        ],
      }],
    }],
  };
  const expected = [
    [["a", "2"], ["b", "1"]],
    [["a", "4"], ["b", "3"]],
    [["x", "5"]],
    [["a", "7"], ["b", "6"]],
    [["a", "9"], ["b", "8"]],
    [["a", "9"], ["b", "8"]],
    [],
    [["a", "11"], ["b", "10"]],
  ];
  deepStrictEqual(table(dec("logs", encodePb("logs", req)), "logs").LogAttributes, expected);
  deepStrictEqual(
    table(dec("logs", toOtlpJson("logs", req), "json"), "logs").LogAttributes,
    expected,
  );
});
