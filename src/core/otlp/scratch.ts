/**
 * The scratch pool: the objects a protobuf decode needs (attribute sorters, the AnyValue writer,
 * the prepared resource and scope maps, the envelope's scope and record lists), kept from one
 * request for the next so a request allocates none of them.
 */
import { AnyValueWriter } from "./anyvalue.ts";
import { AttrRow } from "./attr-row.ts";
import { MapCol } from "../columns/index.ts";
import type { WireReader } from "../proto/reader.ts";

/** The scratch objects a decode needs, kept for the next request (see `giveScratch`). */
export interface Scratch {
  av: AnyValueWriter;
  attrs: AttrRow;
  subAttrs: AttrRow;
  /** Resource and scope attributes of the request, one row per resource / scope. */
  prepared: MapCol;
  /** Start and end of each scope of the current resource, each record of the current scope. */
  scopes: Int32Array;
  records: Int32Array;
}

/** Scopes and records (two ints each) the lists of new scratch hold at first (they grow). */
const SCOPES_START = 8;
const RECORDS_START = 128;
/** Scratch holding more bytes than this is not kept for the next request. */
const POOL_MAX_BYTES = 1 << 20;

let pooled: Scratch | null = null;

/** The kept scratch readied for a request read by `r`, or new scratch. */
export function takeScratch(r: WireReader, maxDepth: number): Scratch {
  const s = pooled;
  pooled = null;
  if (s === null) {
    const av = new AnyValueWriter(r, maxDepth);
    return {
      av,
      attrs: new AttrRow(r, av),
      subAttrs: new AttrRow(r, av),
      prepared: new MapCol(),
      scopes: new Int32Array(2 * SCOPES_START),
      records: new Int32Array(2 * RECORDS_START),
    };
  }
  s.av.reset(r, maxDepth);
  s.attrs.reset(r);
  s.subAttrs.reset(r);
  const p = s.prepared;
  p.length = p.keys.length = p.values.length = 0;
  return s;
}

/**
 * Keeps `s` for the next request, unless it grew large for an unusual request (a record with
 * 100,000 attributes, a huge kvlist): that is left to the garbage collector.
 */
export function giveScratch(s: Scratch): void {
  pooled = s;
  if (pooledScratchBytes() > POOL_MAX_BYTES) pooled = null;
}

/** Bytes held by the scratch kept for the next request (0: none kept; for tests). */
export function pooledScratchBytes(): number {
  const s = pooled;
  if (s === null) return 0;
  const p = s.prepared;
  return p.keys.data.length + p.values.data.length + 4 * s.records.length +
    s.attrs.heldBytes() + s.subAttrs.heldBytes() + s.av.heldBytes();
}
