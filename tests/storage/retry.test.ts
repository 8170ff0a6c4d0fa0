/**
 * The retry wrapper: bounded exponential backoff with full jitter, per-attempt timeouts, only
 * retryable failures retried, and only StorageError out.
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import {
  isRetryable,
  observeStorage,
  type OpOptions,
  type StorageObserver,
  withRetry,
} from "../../src/storage/retry.ts";
import { type StorageDriver, StorageError } from "../../src/storage/types.ts";
import { TestLogger } from "../helpers/logger.ts";

/** A Map-backed driver whose operations fail according to `failures` (a test double). */
function flakyDriver(failures: () => unknown | undefined, calls: string[] = []) {
  const m = new Map<string, Uint8Array>();
  const gate = (op: string) => {
    calls.push(op);
    const f = failures();
    if (f !== undefined) throw f;
  };
  const d: StorageDriver = {
    name: "flaky",
    put(k, v) {
      gate("put");
      m.set(k, v);
      return Promise.resolve();
    },
    get(k) {
      gate("get");
      return Promise.resolve(m.get(k) ?? null);
    },
    list(p) {
      gate("list");
      return Promise.resolve([...m.keys()].filter((k) => k.startsWith(p)).sort());
    },
    delete(k) {
      gate("delete");
      m.delete(k);
      return Promise.resolve();
    },
    check() {
      gate("check");
      return Promise.resolve();
    },
  };
  return { driver: d, calls, map: m };
}

function networkError(): Error {
  return Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
}

function httpError(status: number, name: string): Error {
  const e = new Error(`${name} from the store`);
  e.name = name;
  return Object.assign(e, { $metadata: { httpStatusCode: status } });
}

function recordingSleep() {
  const delays: number[] = [];
  return { delays, sleep: (ms: number) => (delays.push(ms), Promise.resolve()) };
}

Deno.test("withRetry() succeeds when the driver fails twice and then works", async () => {
  let n = 0;
  const { driver, calls, map } = flakyDriver(() => (n++ < 2 ? networkError() : undefined));
  const { delays, sleep } = recordingSleep();
  const d = withRetry(driver, {
    maxAttempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    timeoutMs: 1000,
  }, {
    sleep,
    random: () => 0.5,
  });
  await d.put("logs/a.parquet", new Uint8Array([1, 2, 3]));
  deepStrictEqual(calls, ["put", "put", "put"]);
  deepStrictEqual(delays, [50, 100]);
  deepStrictEqual(map.get("logs/a.parquet"), new Uint8Array([1, 2, 3]));
  deepStrictEqual(await d.get("logs/a.parquet"), new Uint8Array([1, 2, 3]));
});

Deno.test("withRetry() gives up after maxAttempts with a retryable StorageError and bounded delays", async () => {
  const { driver, calls } = flakyDriver(() => httpError(503, "ServiceUnavailable"));
  const { delays, sleep } = recordingSleep();
  const d = withRetry(driver, {
    maxAttempts: 6,
    baseDelayMs: 100,
    maxDelayMs: 400,
    timeoutMs: 1000,
  }, {
    sleep,
    random: () => 0.999,
  });
  const err = await d.put("traces/svc/x.parquet", new Uint8Array(1)).catch((e) => e);
  ok(err instanceof StorageError, `a StorageError, got ${err}`);
  strictEqual(err.retryable, true);
  strictEqual(calls.length, 6);
  // Full jitter under min(maxDelay, base·2^(n−1)): 100, 200, 400, then capped at 400.
  deepStrictEqual(delays, [99, 199, 399, 399, 399]);
  ok(err.message.includes('Cannot put "traces/svc/x.parquet"'), err.message);
  ok(err.message.includes("6 attempts"), err.message);
  ok(err.message.includes("ServiceUnavailable from the store"), err.message);
});

Deno.test("withRetry() draws every delay from [0, ceiling) with full jitter", async () => {
  const randoms = [0, 0.25, 0.5, 0.75];
  let i = 0;
  const { driver } = flakyDriver(() => networkError());
  const { delays, sleep } = recordingSleep();
  const d = withRetry(driver, {
    maxAttempts: 5,
    baseDelayMs: 1000,
    maxDelayMs: 1_000_000,
    timeoutMs: 1000,
  }, {
    sleep,
    random: () => randoms[i++],
  });
  await rejects(d.get("k"), StorageError);
  deepStrictEqual(delays, [0, 500, 2000, 6000]);
});

Deno.test("withRetry() really waits between attempts, within the bound", async () => {
  const { driver, calls } = flakyDriver(() => networkError());
  const d = withRetry(driver, { maxAttempts: 4, baseDelayMs: 20, maxDelayMs: 40, timeoutMs: 1000 });
  const t0 = performance.now();
  await rejects(d.list("p/"), (e: unknown) => e instanceof StorageError && e.retryable);
  const elapsed = performance.now() - t0;
  strictEqual(calls.length, 4);
  ok(
    elapsed < 20 + 40 + 40 + 400,
    `at most the sum of the ceilings plus slack, took ${elapsed} ms`,
  );
});

Deno.test("withRetry() does not retry a wrong bucket, rejected credentials or misuse", async () => {
  for (
    const failure of [
      httpError(404, "NoSuchBucket"),
      httpError(403, "InvalidAccessKeyId"),
      httpError(400, "InvalidArgument"),
      new TypeError("data must be a Uint8Array"),
      new StorageError('bucket "x" does not exist', false),
    ]
  ) {
    const { driver, calls } = flakyDriver(() => failure);
    const { delays, sleep } = recordingSleep();
    const d = withRetry(driver, { maxAttempts: 4 }, { sleep });
    const err = await d.delete("a/b").catch((e) => e);
    ok(err instanceof StorageError, String(err));
    strictEqual(err.retryable, false, failure.message);
    strictEqual(calls.length, 1, failure.message);
    deepStrictEqual(delays, []);
    ok(err.message.startsWith('Cannot delete "a/b" (flaky): '), err.message);
    strictEqual(err.cause, failure);
  }
});

Deno.test("withRetry() turns a thrown non-Error into a StorageError", async () => {
  const { driver } = flakyDriver(() => "boom");
  const d = withRetry(driver, { maxAttempts: 3 }, { sleep: () => Promise.resolve() });
  const err = await d.get("k").catch((e) => e);
  ok(err instanceof StorageError);
  strictEqual(err.retryable, false);
  strictEqual(err.message, 'Cannot get "k" (flaky): boom');
});

Deno.test("withRetry() times out a hung attempt through its AbortSignal and retries", async () => {
  const signals: AbortSignal[] = [];
  let n = 0;
  const driver: StorageDriver = {
    name: "hangs-once",
    put: () => Promise.resolve(),
    get(_k: string, o?: OpOptions) {
      signals.push(o!.signal!);
      if (n++ > 0) return Promise.resolve(new Uint8Array([7]));
      return new Promise((_, reject) => {
        o!.signal!.addEventListener("abort", () => reject(o!.signal!.reason));
      });
    },
    list: () => Promise.resolve([]),
    delete: () => Promise.resolve(),
    check: () => Promise.resolve(),
  } as StorageDriver;
  const d = withRetry(driver, { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 30 });
  deepStrictEqual(await d.get("k"), new Uint8Array([7]));
  strictEqual(signals.length, 2);
  strictEqual(signals[0].aborted, true);
  strictEqual(signals[1].aborted, false);
});

Deno.test("withRetry() times out a driver that ignores the signal, with a retryable error", async () => {
  let calls = 0;
  const driver = {
    name: "deaf",
    put: () => (calls++, new Promise<void>(() => {})),
    get: () => Promise.resolve(null),
    list: () => Promise.resolve([]),
    delete: () => Promise.resolve(),
    check: () => new Promise<void>(() => {}),
  };
  const d = withRetry(driver, { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1, timeoutMs: 25 });
  const t0 = performance.now();
  const err = await d.put("k", new Uint8Array(10)).catch((e) => e);
  ok(err instanceof StorageError);
  strictEqual(err.retryable, true);
  strictEqual(calls, 2);
  ok(/deaf put timed out after \d+ ms/.test(err.message), err.message);
  ok(performance.now() - t0 < 1000 + 2 * 1000, "bounded by the timeouts");
  const c = await d.check().catch((e) => e);
  ok(c instanceof StorageError && c.retryable);
  ok(c.message.startsWith("Storage check failed (deaf): deaf check timed out"), c.message);
});

Deno.test("withRetry() gives a large put one more second of timeout per MiB", async () => {
  const driver = {
    name: "slow",
    put: () => new Promise<void>((r) => setTimeout(r, 150)),
    get: () => Promise.resolve(null),
    list: () => Promise.resolve([]),
    delete: () => Promise.resolve(),
    check: () => Promise.resolve(),
  };
  const d = withRetry(driver, { maxAttempts: 1, timeoutMs: 50 });
  await rejects(d.put("small", new Uint8Array(1000)), /slow put timed out after 50 ms/);
  await d.put("big", new Uint8Array(2 * 1024 * 1024)); // 50 ms + 2 × 1000 ms
});

Deno.test("withRetry() makes one attempt for check()", async () => {
  const { driver, calls } = flakyDriver(() => networkError());
  const d = withRetry(driver, { maxAttempts: 5 }, { sleep: () => Promise.resolve() });
  const err = await d.check().catch((e) => e);
  ok(err instanceof StorageError);
  strictEqual(err.retryable, true);
  deepStrictEqual(calls, ["check"]);
});

Deno.test("withRetry() wrapping twice replaces the policy instead of multiplying attempts", async () => {
  const { driver, calls } = flakyDriver(() => networkError());
  const once = withRetry(driver, { maxAttempts: 3 }, { sleep: () => Promise.resolve() });
  const twice = withRetry(once, { maxAttempts: 2 }, { sleep: () => Promise.resolve() });
  await rejects(twice.get("k"), StorageError);
  strictEqual(calls.length, 2);
  strictEqual(twice.name, "flaky");
});

Deno.test("withRetry() logs each retry with the operation, key and delay", async () => {
  let n = 0;
  const { driver } = flakyDriver(() => (n++ < 1 ? networkError() : undefined));
  const logger = new TestLogger(false);
  const d = withRetry(driver, { maxAttempts: 3, baseDelayMs: 10 }, {
    logger,
    sleep: () => Promise.resolve(),
    random: () => 0.5,
  });
  await d.put("x/y", new Uint8Array(1));
  const lines = logger.lines.filter((l) => l.level === "warn").map((l) =>
    [l.msg, l.fields ?? {}] as const
  );
  strictEqual(lines.length, 1);
  strictEqual(lines[0][0], "storage operation failed, retrying");
  deepStrictEqual(
    { ...lines[0][1] },
    {
      driver: "flaky",
      op: "put",
      key: "x/y",
      attempt: 1,
      max_attempts: 3,
      delay_ms: 5,
      error: "read ECONNRESET",
    },
  );
});

Deno.test("withRetry() rejects nonsensical options with a RangeError naming the option", () => {
  const { driver } = flakyDriver(() => undefined);
  for (
    const [o, name] of [
      [{ maxAttempts: 0 }, "maxAttempts"],
      [{ maxAttempts: 1.5 }, "maxAttempts"],
      [{ baseDelayMs: -1 }, "baseDelayMs"],
      [{ timeoutMs: 0 }, "timeoutMs"],
    ] as const
  ) {
    let err: unknown;
    try {
      withRetry(driver, o);
    } catch (e) {
      err = e;
    }
    ok(err instanceof RangeError, JSON.stringify(o));
    ok(err.message.includes(`"${name}"`), err.message);
  }
});

Deno.test("isRetryable() sorts failures into transient and permanent", () => {
  const cases: [unknown, boolean][] = [
    [httpError(500, "InternalError"), true],
    [httpError(503, "SlowDown"), true],
    [httpError(429, "TooManyRequests"), true],
    [httpError(400, "Throttling"), true],
    [httpError(404, "NoSuchBucket"), false],
    [httpError(403, "SignatureDoesNotMatch"), false],
    [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }), true],
    [Object.assign(new Error("getaddrinfo ENOTFOUND x"), { code: "ENOTFOUND" }), true],
    [new TypeError("fetch failed"), true],
    [Object.assign(new Error("aborted"), { name: "AbortError" }), true],
    [new Error("wrapped", { cause: Object.assign(new Error("x"), { code: "ETIMEDOUT" }) }), true],
    [
      new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })], "all failed"),
      true,
    ],
    [new TypeError("Cannot read properties of undefined"), false],
    [new RangeError("too big"), false],
    [new StorageError("x", true), true],
    [new StorageError("x", false), false],
    ["a string", false],
    [null, false],
  ];
  for (const [err, want] of cases) strictEqual(isRetryable(err), want, String(err));
});

/** Records what a StorageObserver hears (the metrics' view of storage). */
function recordingObserver() {
  const heard: [string, string, boolean, number, string][] = [];
  const observer: StorageObserver = {
    operation(backend, op, okay, attempts, seconds, error) {
      ok(seconds >= 0);
      heard.push([backend, op, okay, attempts, error instanceof Error ? error.name : ""]);
    },
  };
  return { heard, observer };
}

Deno.test("withRetry() tells its observer of each operation once: outcome and attempts", async () => {
  let failures = [networkError(), networkError()];
  const { driver } = flakyDriver(() => failures.shift());
  const { heard, observer } = recordingObserver();
  const s = withRetry(driver, { maxAttempts: 3 }, {
    sleep: () => Promise.resolve(),
    observer,
  });
  await s.put("a", new Uint8Array([1]));
  strictEqual((await s.get("a"))?.length, 1);
  failures = [networkError(), networkError(), networkError()];
  await rejects(s.list(""), StorageError);
  failures = [new Error("AccessDenied")];
  await rejects(s.delete("a"), StorageError);
  deepStrictEqual(heard, [
    ["flaky", "put", true, 3, ""],
    ["flaky", "get", true, 1, ""],
    ["flaky", "list", false, 3, "StorageError"],
    ["flaky", "delete", false, 1, "StorageError"],
  ]);
});

Deno.test("observeStorage() reports drivers that are not retried, and passes results through", async () => {
  let failures: unknown[] = [];
  const { driver } = flakyDriver(() => failures.shift());
  const { heard, observer } = recordingObserver();
  const s = observeStorage(driver, observer);
  await s.put("k", new Uint8Array([7]));
  deepStrictEqual(await s.list(""), ["k"]);
  failures = [new TypeError("disk gone")];
  await rejects(s.get("k"), /disk gone/);
  deepStrictEqual(heard, [
    ["flaky", "put", true, 1, ""],
    ["flaky", "list", true, 1, ""],
    ["flaky", "get", false, 1, "TypeError"],
  ]);
  strictEqual(observeStorage(driver, undefined), driver);
});
