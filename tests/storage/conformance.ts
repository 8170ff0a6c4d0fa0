/**
 * One conformance suite for every storage driver (memory, fs, s3, the R2 binding): the same
 * put/get/list/delete behaviour the writers rely on, with keys shaped like the real layout.
 *
 *   testDriver("fs", async () => ({ driver, cleanup }));
 *
 * `makeDriver` is called once per test and must give a store whose namespace is empty (a
 * fresh bucket or directory, or a shared store wrapped in `withPrefix` with a unique prefix).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { objectKey } from "../../src/core/partition.ts";
import type { StorageDriver } from "../../src/storage/types.ts";

export interface DriverFixture {
  driver: StorageDriver;
  cleanup?: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Keys written by the pagination test; configure the driver's page size below it. */
  paginationKeys?: number;
  /** Size of the large-object test (past the S3 multipart threshold). Default 12 MiB. */
  largeBytes?: number;
  /** Skip every test (with `ignore`), e.g. when a real service is not installed. */
  ignore?: boolean;
  /** Deno sanitizers (off for drivers whose clients keep sockets or timers). */
  sanitize?: boolean;
  /** Runs before each test (e.g. start a server). */
  before?: () => Promise<void>;
}

/** Bytes 0..n-1 of a fixed pseudo-random sequence (so a shifted or truncated copy differs). */
export function pseudoRandomBytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const enc = new TextEncoder();

/** Every character a key of our layout can hold (docs/schema.md: object keys). */
export const KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/=";

/** The longest key the layout makes: the longest signal dir and a 128-character service. */
export function longestLayoutKey(): string {
  const service = "s".repeat(127) + "x";
  return objectKey(
    "exponential_histogram",
    service,
    9_999_999_999_999_999_999n,
    "0123456789abcdef0123456789abcdef-ffffffff",
  );
}

export function testDriver(
  name: string,
  makeDriver: () => Promise<DriverFixture>,
  opts: ConformanceOptions = {},
): void {
  const sanitize = opts.sanitize ?? true;
  const test = (title: string, fn: (d: StorageDriver) => Promise<void>) =>
    Deno.test({
      name: `${name} driver ${title}`,
      ignore: opts.ignore,
      sanitizeOps: sanitize,
      sanitizeResources: sanitize,
      async fn() {
        await opts.before?.();
        const fx = await makeDriver();
        try {
          await fn(fx.driver);
        } finally {
          await fx.driver.close?.();
          await fx.cleanup?.();
        }
      },
    });

  test("round-trips bytes through put and get", async (d) => {
    const data = pseudoRandomBytes(100_003, 7);
    await d.put("logs/svc/a.parquet", data);
    const got = await d.get("logs/svc/a.parquet");
    ok(got instanceof Uint8Array, "get returns a Uint8Array");
    strictEqual(got.byteLength, data.byteLength);
    deepStrictEqual(got, data);
  });

  test("stores an empty object as zero bytes, not as missing", async (d) => {
    await d.put("empty", new Uint8Array(0));
    const got = await d.get("empty");
    ok(got !== null, "an empty object exists");
    strictEqual(got.byteLength, 0);
    deepStrictEqual(await d.list("empty"), ["empty"]);
  });

  test("returns null for a missing key", async (d) => {
    strictEqual(await d.get("no/such/key.parquet"), null);
    await d.put("present", enc.encode("x"));
    strictEqual(await d.get("present/child"), null);
    strictEqual(await d.get("presen"), null);
  });

  test("replaces an object on put to the same key", async (d) => {
    await d.put("k", enc.encode("first, longer value"));
    await d.put("k", enc.encode("second"));
    deepStrictEqual(await d.get("k"), enc.encode("second"));
    deepStrictEqual(await d.list(""), ["k"]);
  });

  test("lists keys with their objects' sizes, the same keys as list() (when it has listWithSizes)", async (d) => {
    const objects: [string, number][] = [
      ["logs/a/year=2024/month=01/day=02/hour=03/0-x.parquet", 12_345],
      ["logs/a/year=2024/month=01/day=02/hour=03/1-x.parquet", 0],
      ["logs/b/year=2024/month=01/day=02/hour=03/2-x.parquet", 7],
      ["traces/a/1.parquet", 3],
    ];
    for (const [k, n] of objects) await d.put(k, pseudoRandomBytes(n, 3));
    if (!d.listWithSizes) return; // optional: the lifecycle jobs then read objects to size them
    const listed = await d.listWithSizes("logs/");
    deepStrictEqual(listed.map((o) => o.key), await d.list("logs/"));
    deepStrictEqual(listed.map((o) => [o.key, o.size]), objects.slice(0, 3));
  });

  test("lists the keys under a prefix in ascending order", async (d) => {
    const keys = [
      "logs/b/year=2024/month=01/day=02/hour=03/2-x.parquet",
      "logs/a/year=2024/month=01/day=02/hour=03/1-x.parquet",
      "logs/a/year=2024/month=01/day=02/hour=03/0-x.parquet",
      "logs-other/a.parquet",
      "logsa",
      "traces/a/1.parquet",
      "metrics/gauge/a/1.parquet",
      "metrics/sum/a/1.parquet",
    ];
    for (const k of keys) await d.put(k, enc.encode(k));
    deepStrictEqual(await d.list("logs/"), [
      "logs/a/year=2024/month=01/day=02/hour=03/0-x.parquet",
      "logs/a/year=2024/month=01/day=02/hour=03/1-x.parquet",
      "logs/b/year=2024/month=01/day=02/hour=03/2-x.parquet",
    ]);
    // A plain string prefix, not a directory: "logs" also matches "logs-other/…" and "logsa".
    deepStrictEqual(await d.list("logs"), [
      "logs-other/a.parquet",
      "logs/a/year=2024/month=01/day=02/hour=03/0-x.parquet",
      "logs/a/year=2024/month=01/day=02/hour=03/1-x.parquet",
      "logs/b/year=2024/month=01/day=02/hour=03/2-x.parquet",
      "logsa",
    ]);
    deepStrictEqual(await d.list("metrics/"), [
      "metrics/gauge/a/1.parquet",
      "metrics/sum/a/1.parquet",
    ]);
    deepStrictEqual(await d.list("nothing/"), []);
    deepStrictEqual(await d.list(""), [...keys].sort());
  });

  test("lists more keys than fit in one page", async (d) => {
    const n = opts.paginationKeys ?? 25;
    const keys = Array.from({ length: n }, (_, i) => `p/${String(i).padStart(4, "0")}.parquet`);
    // Written in a scrambled order, so the listing order comes from the store.
    const order = keys.map((_, i) => (i * 7) % n);
    ok(new Set(order).size === n, "the scramble is a permutation");
    await Promise.all(order.map((i) => d.put(keys[i], enc.encode(keys[i]))));
    await d.put("q/outside", enc.encode("x"));
    deepStrictEqual(await d.list("p/"), keys);
  });

  test("deletes an object and ignores a missing one", async (d) => {
    await d.put("d/1", enc.encode("1"));
    await d.put("d/2", enc.encode("2"));
    await d.delete("d/1");
    strictEqual(await d.get("d/1"), null);
    deepStrictEqual(await d.get("d/2"), enc.encode("2"));
    deepStrictEqual(await d.list("d/"), ["d/2"]);
    await d.delete("d/1");
    await d.delete("never/existed");
    deepStrictEqual(await d.list("d/"), ["d/2"]);
  });

  test("stores a large object intact", async (d) => {
    const n = opts.largeBytes ?? 12 * 1024 * 1024;
    const data = pseudoRandomBytes(n, 99);
    await d.put("big/object.parquet", data);
    const got = await d.get("big/object.parquet");
    ok(got !== null);
    strictEqual(got.byteLength, n);
    ok(bytesEqual(got, data), "large object bytes equal");
    deepStrictEqual(await d.list("big/"), ["big/object.parquet"]);
  });

  test("stores keys with every character of the key layout", async (d) => {
    const keys = [
      `chars/${KEY_CHARS}`,
      "chars/year=2024/month=12/day=31/hour=23/1735689599999999-a_b-c.d.parquet",
      "chars/..a/b../.-_=/x",
      "chars/" + "=".repeat(40),
      longestLayoutKey(),
    ];
    ok(longestLayoutKey().length > 250, "the longest layout key is long");
    for (const k of keys) await d.put(k, enc.encode(k));
    for (const k of keys) deepStrictEqual(await d.get(k), enc.encode(k), k);
    deepStrictEqual(await d.list(""), [...keys].sort());
    for (const k of keys) await d.delete(k);
    deepStrictEqual(await d.list(""), []);
  });

  test("passes check() when the store is usable", async (d) => {
    await d.check();
    await d.put("after-check", enc.encode("ok"));
    deepStrictEqual(await d.get("after-check"), enc.encode("ok"));
  });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
