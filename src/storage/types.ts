/**
 * The storage seam. Drivers are small factories (docs/architecture.md: adding a storage driver):
 * an options interface, a factory returning a `StorageDriver`, required options checked on first
 * use.
 *
 * Keys are relative ('/'-separated, no leading '/'); the configured prefix is added by
 * `withPrefix()` so every driver gets it for free.
 */
export interface StorageDriver {
  readonly name: string;
  /** Stores `data` under `key`, replacing any object there. Resolves only once it is durable. */
  put(key: string, data: Uint8Array): Promise<void>;
  /** The object's bytes, or `null` when there is none. */
  get(key: string): Promise<Uint8Array | null>;
  /** Every key under `prefix` (a plain string prefix), in ascending order. */
  list(prefix: string): Promise<string[]>;
  /**
   * `list` with each object's size in bytes (optional: drivers whose listing tells sizes have
   * it; the lifecycle jobs use it to plan without reading the objects).
   */
  listWithSizes?(prefix: string): Promise<ListedObject[]>;
  /** Removes the object; no error when it does not exist. */
  delete(key: string): Promise<void>;
  /** Checks the store is reachable and writable enough to use; throws `StorageError` if not. */
  check(): Promise<void>;
  /** Releases clients/handles. */
  close?(): Promise<void>;
}

/**
 * A storage failure. `retryable` failures (network, timeouts, 5xx, throttling) make the HTTP
 * layer answer 503 with `Retry-After`; the others (bad bucket, bad credentials) too, but they
 * also say what is misconfigured. Never a 500, never a 200 for data not stored.
 */
export class StorageError extends Error {
  override name = "StorageError";
  constructor(message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A key and its object's size, as `listWithSizes` gives them. */
export interface ListedObject {
  key: string;
  size: number;
}

/** Adds `prefix` to every key (and strips it from listed keys). */
export function withPrefix(driver: StorageDriver, prefix: string): StorageDriver {
  if (!prefix) return driver;
  return {
    name: driver.name,
    put: (k, d) => driver.put(prefix + k, d),
    get: (k) => driver.get(prefix + k),
    list: async (p) => (await driver.list(prefix + p)).map((k) => k.slice(prefix.length)),
    listWithSizes: driver.listWithSizes
      ? async (p) =>
        (await driver.listWithSizes!(prefix + p)).map((o) => ({
          key: o.key.slice(prefix.length),
          size: o.size,
        }))
      : undefined,
    delete: (k) => driver.delete(prefix + k),
    check: () => driver.check(),
    close: driver.close ? () => driver.close!() : undefined,
  };
}
