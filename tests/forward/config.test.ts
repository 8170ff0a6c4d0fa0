/**
 * `[[forward]]` in config.toml and `OTLP2PARQUET_FORWARD_*` for a single destination: the
 * defaults, header values from environment variables (never in messages), and validation
 * messages that name the key.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ConfigError, loadConfig, type LoadConfigInput } from "../../src/config/load.ts";
import { forwardQueueDir } from "../../src/config/forward.ts";

function load(toml: string | null, env: Record<string, string> = {}) {
  const input: LoadConfigInput = {
    platform: "server",
    env: toml === null ? env : { ...env, OTLP2PARQUET_CONFIG: "c.toml" },
    readTextFile: (p) => (p === "c.toml" ? toml : null),
  };
  return loadConfig(input);
}

function failure(toml: string | null, env: Record<string, string> = {}): string {
  try {
    load(toml, env);
  } catch (e) {
    ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("no [[forward]]: no destinations", () => {
  deepStrictEqual(load(null).forward, []);
});

Deno.test("[[forward]] entries with defaults, and header values from the environment", () => {
  const c = load(
    `
[[forward]]
name = "vendor"
endpoint = "https://otlp.vendor.example/"
headers = { "api-key" = "\${VENDOR_KEY}", "X-Team" = "obs" }
signals = ["traces", "logs"]

[[forward]]
endpoint = "http://collector.internal:4317"
protocol = "grpc"
compression = "none"
timeout_ms = 2000
max_queue_bytes = 1048576
failure_threshold = 3
open_secs = 10
`,
    { VENDOR_KEY: "s3cr3t" },
  );
  strictEqual(c.forward.length, 2);
  deepStrictEqual(c.forward[0], {
    name: "vendor",
    endpoint: "https://otlp.vendor.example",
    protocol: "http/protobuf",
    headers: { "api-key": "s3cr3t", "x-team": "obs" },
    compression: "gzip",
    signals: ["traces", "logs"],
    timeout_ms: 10_000,
    max_queue_bytes: 256 * 1024 * 1024,
    failure_threshold: 5,
    open_secs: 30,
  });
  deepStrictEqual(c.forward[1], {
    name: "collector-internal",
    endpoint: "http://collector.internal:4317",
    protocol: "grpc",
    headers: {},
    compression: "none",
    signals: ["logs", "traces", "metrics"],
    timeout_ms: 2000,
    max_queue_bytes: 1048576,
    failure_threshold: 3,
    open_secs: 10,
  });
});

Deno.test("OTLP2PARQUET_FORWARD_* make one destination, or override the only [[forward]]", () => {
  const c = load(null, {
    OTLP2PARQUET_FORWARD_ENDPOINT: "https://api.honeycomb.io",
    OTLP2PARQUET_FORWARD_NAME: "honeycomb",
    OTLP2PARQUET_FORWARD_HEADERS: "x-honeycomb-team=${HC_KEY},x-other=a%20b",
    OTLP2PARQUET_FORWARD_SIGNALS: "traces",
    OTLP2PARQUET_FORWARD_OPEN_SECS: "5",
    HC_KEY: "hc-secret",
  });
  strictEqual(c.forward.length, 1);
  strictEqual(c.forward[0].name, "honeycomb");
  deepStrictEqual(c.forward[0].headers, { "x-honeycomb-team": "hc-secret", "x-other": "a b" });
  deepStrictEqual(c.forward[0].signals, ["traces"]);
  strictEqual(c.forward[0].open_secs, 5);
  const o = load(`[[forward]]\nname = "b"\nendpoint = "http://b:4318"\n`, {
    OTLP2PARQUET_FORWARD_PROTOCOL: "http/json",
  });
  strictEqual(o.forward[0].protocol, "http/json");
  strictEqual(o.forward[0].endpoint, "http://b:4318");
});

Deno.test("bad [[forward]] entries: the message names the key and what is allowed", () => {
  const m = failure(`
[[forward]]
endpoint = "ftp://x"
protocol = "http/xml"
signals = ["logs", "spans"]
timeout_ms = 0
compression = "brotli"
colour = "blue"
`);
  for (
    const part of [
      "forward[0].endpoint",
      "expected an http:// or https:// URL",
      "forward[0].protocol",
      "http/protobuf, http/json, grpc",
      "forward[0].signals",
      "forward[0].timeout_ms",
      "forward[0].compression",
      'unknown key "forward[0].colour"',
    ]
  ) ok(m.includes(part), `${part} in:\n${m}`);
  ok(failure(`[[forward]]\nname = "x"\n`).includes("forward[0].endpoint is missing"));
  ok(
    failure(
      `[[forward]]\nendpoint = "http://a"\nname = "n"\n[[forward]]\nendpoint = "http://b"\nname = "n"\n`,
    )
      .includes('forward[1].name = "n" is also forward[0].name'),
  );
  ok(
    failure(null, { OTLP2PARQUET_FORWARD_TIMEOUT: "1" }).includes(
      "OTLP2PARQUET_FORWARD_TIMEOUT_MS",
    ),
  );
  ok(
    failure(
      `[[forward]]\nendpoint = "http://a"\nname = "a"\n[[forward]]\nendpoint = "http://b"\nname = "b"\n`,
      { OTLP2PARQUET_FORWARD_OPEN_SECS: "3" },
    ).includes("configure a single forward destination"),
  );
});

Deno.test("a header naming an unset variable fails; header values never appear in messages", () => {
  const m = failure(
    `[[forward]]\nendpoint = "http://a"\nheaders = { k = "\${NOT_SET_ANYWHERE}" }\n`,
  );
  ok(m.includes("forward[0].headers.k") && m.includes("NOT_SET_ANYWHERE"), m);
  const bad = failure(`[[forward]]\nendpoint = "http://a"\nheaders = "hunter2"\n`);
  ok(bad.includes("forward[0].headers") && !bad.includes("hunter2"), bad);
  const other = failure(
    `[[forward]]\nendpoint = "http://a"\nheaders = { k = "hunter2" }\ntimeout_ms = -1\n`,
  );
  ok(!other.includes("hunter2"), other);
});

Deno.test("the queues live beside the write-ahead log", () => {
  strictEqual(forwardQueueDir("/srv/o2p/.wal"), "/srv/o2p/.forward");
  strictEqual(forwardQueueDir("/var/lib/o2p/wal/"), "/var/lib/o2p/.forward");
  strictEqual(forwardQueueDir("wal"), ".forward");
});
