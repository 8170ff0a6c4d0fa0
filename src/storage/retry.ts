/**
 * Retries for any storage driver: bounded exponential backoff with full jitter, a timeout per
 * attempt, and one error type out. Only retryable failures are retried (network errors,
 * timeouts, 5xx, 429 / SlowDown / throttling); a wrong bucket or rejected credentials fail at
 * once. Whatever a driver throws comes out as a `StorageError` whose message names the
 * operation and the key, and whose `retryable` tells the HTTP layer the client may try again.
 *
 * `check()` makes one attempt (with the timeout): `/ready` must answer promptly, and a probe
 * is retried by whoever polls it.
 *
 * A `StorageObserver` (the metrics: ../metrics/service.ts) hears of every operation once it is
 * over: its outcome, attempts and duration. `observeStorage` tells it the same for drivers that
 * are not retried (fs, memory, the R2 binding).
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/log.ts";
import { type StorageDriver, StorageError } from "./types.ts";

export interface RetryOptions {
  /** Attempts per operation, the first included (≥ 1). */
  maxAttempts: number;
  /** Backoff before retry n (n ≥ 1) is random in [0, min(maxDelayMs, baseDelayMs·2^(n−1))). */
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * Per-attempt timeout. A `put` of a large object gets one more second per MiB on top, so a
   * multipart upload over a slow link is not cut off.
   */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 2000,
  timeoutMs: 10_000,
};

/** The retry policy of the configuration (`[storage.retry]`). */
export function retryOptions(config: Config): RetryOptions {
  const r = config.storage.retry;
  return {
    maxAttempts: r.max_attempts,
    baseDelayMs: r.base_delay_ms,
    maxDelayMs: r.max_delay_ms,
    timeoutMs: r.timeout_ms,
  };
}

export interface RetryDeps {
  sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1), for the jitter. */
  random?: () => number;
  logger?: Logger;
  /** Told of every finished operation (metrics). */
  observer?: StorageObserver;
}

export type StorageOp = "put" | "get" | "list" | "delete" | "check";

/** Hears of every storage operation once it is over (after its retries). Must be cheap. */
export interface StorageObserver {
  /**
   * `backend` is the driver's name; `attempts` counts the first one (retries = attempts − 1);
   * `error` is the final failure when `ok` is false.
   */
  operation(
    backend: string,
    op: StorageOp,
    ok: boolean,
    attempts: number,
    seconds: number,
    error?: unknown,
  ): void;
}

/**
 * Drivers may take an options bag as the last argument of each operation; the retry wrapper
 * passes an `AbortSignal` there that fires when the attempt times out. Drivers that ignore it
 * are raced against the timeout instead.
 */
export interface OpOptions {
  signal?: AbortSignal;
}

type Op = StorageOp;

const INNER = Symbol("withRetry.inner");

/** Wraps `driver` so every operation is retried per `opts` and throws only `StorageError`. */
export function withRetry(
  driver: StorageDriver,
  opts: Partial<RetryOptions> = {},
  deps: RetryDeps = {},
): StorageDriver {
  // Wrapping twice would multiply the attempts: re-wrap the original driver instead.
  const inner = (driver as { [INNER]?: StorageDriver })[INNER] ?? driver;
  const o = validate({ ...DEFAULT_RETRY, ...definedOnly(opts) });
  const sleep = deps.sleep ?? defaultSleep;
  const random = deps.random ?? Math.random;
  const logger = deps.logger;
  const observer = deps.observer;
  // deno-lint-ignore no-explicit-any
  const d = inner as any;

  async function run<T>(
    op: Op,
    key: string,
    extraMs: number,
    call: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const attempts = op === "check" ? 1 : o.maxAttempts;
    const started = observer ? performance.now() : 0;
    for (let attempt = 1;; attempt++) {
      let err: unknown;
      try {
        const result = await attemptWithTimeout(call, o.timeoutMs + extraMs, inner.name, op);
        observer?.operation(inner.name, op, true, attempt, (performance.now() - started) / 1000);
        return result;
      } catch (e) {
        err = e;
      }
      const retryable = isRetryable(err);
      if (!retryable || attempt >= attempts) {
        const final = finalError(inner.name, op, key, err, retryable, attempt);
        observer?.operation(
          inner.name,
          op,
          false,
          attempt,
          (performance.now() - started) / 1000,
          final,
        );
        throw final;
      }
      const ceiling = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.floor(random() * ceiling);
      logger?.warn("storage operation failed, retrying", {
        driver: inner.name,
        op,
        key,
        attempt,
        max_attempts: attempts,
        delay_ms: delay,
        error: errorText(err),
      });
      await sleep(delay);
    }
  }

  const wrapped: StorageDriver & { [INNER]: StorageDriver } = {
    [INNER]: inner,
    name: inner.name,
    put: (key, data) =>
      run(
        "put",
        key,
        Math.floor(data.byteLength / (1024 * 1024)) * 1000,
        (signal) => d.put(key, data, { signal }),
      ),
    get: (key) => run("get", key, 0, (signal) => d.get(key, { signal })),
    list: (prefix) => run("list", prefix, 0, (signal) => d.list(prefix, { signal })),
    listWithSizes: inner.listWithSizes
      ? (prefix) => run("list", prefix, 0, (signal) => d.listWithSizes(prefix, { signal }))
      : undefined,
    delete: (key) => run("delete", key, 0, (signal) => d.delete(key, { signal })),
    check: () => run("check", "", 0, (signal) => d.check({ signal })),
    close: inner.close ? () => inner.close!() : undefined,
  };
  return wrapped;
}

/**
 * `driver` with every operation reported to `observer` (one attempt each: for drivers that
 * `withRetry` does not wrap). Without an observer, `driver` itself.
 */
export function observeStorage(
  driver: StorageDriver,
  observer: StorageObserver | undefined,
): StorageDriver {
  if (!observer) return driver;
  const timed = async <T>(op: Op, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await call();
      observer.operation(driver.name, op, true, 1, (performance.now() - started) / 1000);
      return result;
    } catch (e) {
      observer.operation(driver.name, op, false, 1, (performance.now() - started) / 1000, e);
      throw e;
    }
  };
  return {
    name: driver.name,
    put: (k, data) => timed("put", () => driver.put(k, data)),
    get: (k) => timed("get", () => driver.get(k)),
    list: (p) => timed("list", () => driver.list(p)),
    delete: (k) => timed("delete", () => driver.delete(k)),
    check: () => timed("check", () => driver.check()),
    close: driver.close ? () => driver.close!() : undefined,
  };
}

/** Whether a failure is worth another attempt. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof StorageError) return err.retryable;
  if (typeof err !== "object" || err === null) return false;
  const e = err as {
    name?: string;
    code?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
    errors?: unknown[];
  };
  if (e.name === "TimeoutError" || e.name === "AbortError") return true;
  if (e.$retryable) return true;
  if (e.name && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  // fetch() reports network failures as TypeError("fetch failed" / "error sending request…").
  if (err instanceof TypeError && /fetch|network|connect|request/i.test(err.message)) {
    return true;
  }
  if (Array.isArray(e.errors) && e.errors.some(isRetryable)) return true;
  if (e.cause && e.cause !== err) return isRetryable(e.cause);
  return false;
}

const RETRYABLE_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "TimeoutError",
  "NetworkingError",
]);

const RETRYABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "EAGAIN",
  "EBUSY",
  "EMFILE",
  "ENFILE",
  "TimeoutError",
  "RequestTimeout",
]);

function finalError(
  driver: string,
  op: Op,
  key: string,
  err: unknown,
  retryable: boolean,
  attempts: number,
): StorageError {
  const what = op === "check"
    ? `Storage check failed (${driver})`
    : `Cannot ${op} ${JSON.stringify(key)} (${driver}${
      attempts > 1 ? `, ${attempts} attempts` : ""
    })`;
  return new StorageError(`${what}: ${errorText(err)}`, retryable, { cause: err });
}

/** The most useful one-line description of a failure. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const msg = err.message || err.name;
    return typeof code === "string" && !msg.includes(code) ? `${msg} (${code})` : msg;
  }
  return String(err);
}

async function attemptWithTimeout<T>(
  call: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  driver: string,
  op: Op,
): Promise<T> {
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new Error(`${driver} ${op} timed out after ${timeoutMs} ms`);
      e.name = "TimeoutError";
      reject(e);
      ac.abort(e);
    }, timeoutMs);
  });
  try {
    const p = Promise.resolve().then(() => call(ac.signal));
    p.catch(() => {}); // a late failure of an abandoned attempt is not unhandled
    return await Promise.race([p, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(o: RetryOptions): RetryOptions {
  const bad = (k: keyof RetryOptions, need: string) =>
    new RangeError(`Invalid retry option "${k}": ${JSON.stringify(o[k])} (${need})`);
  if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) {
    throw bad("maxAttempts", "an integer ≥ 1");
  }
  for (const k of ["baseDelayMs", "maxDelayMs"] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw bad(k, "a number ≥ 0");
  }
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) throw bad("timeoutMs", "a number > 0");
  return o;
}
