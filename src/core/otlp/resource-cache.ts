/**
 * Resources seen before, by the hash of their bytes: exporters send the same resource in
 * request after request, so its attributes are sorted once and reused (least recently used
 * out; a resource is kept the second time it is seen).
 */
import { fillEntries, MapCol, type Utf8Col } from "../columns/index.ts";

/** A resource seen before: its bytes, and its attributes prepared (one row, or none). */
export interface CachedResource {
  bytes: Uint8Array;
  maxDepth: number;
  map: MapCol;
  svc: number;
  ns: number;
  inst: number;
}

/**
 * Prepared resources by the hash of their bytes, least recently used first (a Map keeps
 * insertion order; a hit moves its entry to the end). Exporters send the same few resources in
 * request after request; a collector in front of many services sends many more, so the cache
 * holds a few hundred (at most `RESOURCES_MAX` × `RESOURCE_MAX_BYTES` of input bytes, plus the
 * prepared maps).
 */
const resources = new Map<number, CachedResource>();
const RESOURCES_MAX = 512;
/** Resources bigger than this are not kept. */
const RESOURCE_MAX_BYTES = 4096;
/**
 * Hashes of resources seen once and not kept yet (a resource is kept the second time it is
 * seen, so one-off resources cost nothing more): a set, and the ring that evicts from it.
 */
const seenOnce = new Set<number>();
const seenRing = new Int32Array(2 * RESOURCES_MAX);
let seenNext = 0;

/** The cached resource whose bytes are `buf[s, e)` (hash `h`), decoded with `maxDepth`, or null. */
export function cachedResource(buf: Uint8Array, s: number, e: number, h: number, maxDepth: number) {
  const c = resources.get(h);
  if (c === undefined) return null;
  const b = c.bytes, n = e - s;
  if (b.length !== n || c.maxDepth !== maxDepth) return null;
  let i = 0;
  while (i < n && b[i] === buf[s + i]) i++;
  if (i !== n) return null;
  resources.delete(h);
  resources.set(h, c);
  return c;
}

/** FNV-1a over `buf[s, e)`, as an int32 (a cache key: equal keys are still compared byte by byte). */
export function resourceHash(buf: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5 ^ (e - s);
  for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h | 0;
}

/**
 * Keeps the resource `buf[s, e)` (hash `h`) whose attributes were prepared as row `row` of
 * `prepared` (-1: none), the second time such a resource is seen.
 */
export function rememberResource(
  buf: Uint8Array,
  s: number,
  e: number,
  h: number,
  maxDepth: number,
  prepared: MapCol,
  row: number,
  entries: [service: number, namespace: number, instance: number],
): void {
  if (e - s > RESOURCE_MAX_BYTES || e === s) return;
  if (!seenOnce.has(h)) {
    if (seenOnce.size >= seenRing.length) seenOnce.delete(seenRing[seenNext]);
    seenOnce.add(h);
    seenRing[seenNext] = h;
    seenNext = (seenNext + 1) % seenRing.length;
    return;
  }
  const map = new MapCol();
  let base = 0;
  if (row >= 0) {
    base = prepared.offsets[row];
    const count = prepared.offsets[row + 1] - base;
    // Exact-size buffers: the map is never appended to again.
    map.keys.reserveExact(prepared.keys.offsets[base + count] - prepared.keys.offsets[base], count);
    map.values.reserveExact(
      prepared.values.offsets[base + count] - prepared.values.offsets[base],
      count,
    );
    fillEntries(map.keys, prepared.keys, base, count, 1);
    fillEntries(map.values, prepared.values, base, count, 1);
    map.endSortedRow();
  }
  const at = (i: number) => (i < 0 ? -1 : i - base);
  const c: CachedResource = {
    bytes: buf.slice(s, e),
    maxDepth,
    map,
    svc: at(entries[0]),
    ns: at(entries[1]),
    inst: at(entries[2]),
  };
  resources.delete(h);
  if (resources.size >= RESOURCES_MAX) resources.delete(resources.keys().next().value!);
  resources.set(h, c);
}

/** The entry among `keys[first, end)` whose key is `key`, or -1. */
export function lookup(keys: Utf8Col, first: number, end: number, key: Uint8Array): number {
  const o = keys.offsets, d = keys.data;
  for (let i = first; i < end; i++) {
    const s = o[i];
    if (o[i + 1] - s !== key.length) continue;
    let j = 0;
    while (j < key.length && d[s + j] === key[j]) j++;
    if (j === key.length) return i;
  }
  return -1;
}
