/**
 * An in-memory object store: for tests, `convert` dry runs and embedding. Nothing survives the
 * process. Bytes are copied on the way in and out, so callers can reuse their buffers and cannot
 * change what is stored.
 */
import type { StorageDriver } from "./types.ts";

export const MEMORY_DRIVER_NAME = "memory";

export interface MemoryStorage extends StorageDriver {
  /** The stored objects by key (live view, for tests and inspection). */
  readonly objects: Map<string, Uint8Array>;
}

export function createMemoryStorage(): MemoryStorage {
  const objects = new Map<string, Uint8Array>();
  return {
    name: MEMORY_DRIVER_NAME,
    objects,
    put(key, data) {
      objects.set(key, data.slice());
      return Promise.resolve();
    },
    get(key) {
      const v = objects.get(key);
      return Promise.resolve(v ? v.slice() : null);
    },
    list(prefix) {
      const keys: string[] = [];
      for (const k of objects.keys()) if (k.startsWith(prefix)) keys.push(k);
      // Code-unit order, like S3's binary (UTF-8) order for the ASCII keys of our layout.
      return Promise.resolve(keys.sort());
    },
    listWithSizes(prefix) {
      const out: { key: string; size: number }[] = [];
      for (const [key, v] of objects) if (key.startsWith(prefix)) out.push({ key, size: v.length });
      return Promise.resolve(out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
    },
    delete(key) {
      objects.delete(key);
      return Promise.resolve();
    },
    check() {
      return Promise.resolve();
    },
  };
}
