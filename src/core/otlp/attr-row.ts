/**
 * The attribute-row sorter: KeyValue attributes of one row as byte ranges of the request,
 * sorted by key and de-duplicated, then written once into a MapCol.
 */
import { type AnyValueWriter, compareBytes, KV_RANGE, readKeyValue } from "./anyvalue.ts";
import { type MapCol, repeatLast } from "../columns/index.ts";
import type { WireReader } from "../proto/reader.ts";

/**
 * The attributes of one row (a record, event, link, data point or exemplar), collected as byte
 * ranges of the input and written straight into a MapCol's `keys`/`values` when the row ends:
 * sorted by key bytes (stable, so the first of duplicate keys wins), without copying anything
 * twice. Rows of one request usually repeat the same keys in the same order, so the order of
 * the previous row is reused when the keys are the same bytes. Sorting compares the first 8
 * bytes of two keys as two integers (kept per entry) before it looks at their bytes.
 */
export class AttrRow {
  /**
   * Per entry (`STRIDE` ints): key start, key end, value start, value end (into the request),
   * then the key's first 4 and next 4 bytes as big-endian integers with the sign bit flipped (so
   * a signed comparison orders them as bytes; missing bytes count as 0).
   */
  private ranges = new Int32Array(16 * STRIDE);
  private n = 0;
  /** Sorted, de-duplicated entry indices of the last sort, and how many. */
  private order = new Int32Array(16);
  private unique = 0;
  /** Key ranges and prefixes of the row `order` belongs to (`prevN` -1: none yet). */
  private prevKeys = new Int32Array(64);
  private prevN = -1;
  /** The map the last row went to, and its key count after that row. */
  private lastMap: MapCol | null = null;
  private lastEnd = -1;
  /**
   * DataViews of the keys' bytes being written and of the request (for word copies), and the
   * arrays they were made for (remade when either array is another one).
   */
  private kdv: DataView | null = null;
  private kdvOf: Uint8Array | null = null;
  private bdv: DataView | null = null;
  private bdvOf: Uint8Array | null = null;
  /** What `readKeyValue` found (the general path of `add`). */
  private readonly kv = new Int32Array(KV_RANGE);

  constructor(private r: WireReader, private readonly av: AnyValueWriter) {}

  /** Bytes of the scratch arrays (they grow with the largest row seen). */
  heldBytes(): number {
    return 4 * (this.ranges.length + this.order.length + this.prevKeys.length);
  }

  /** Readies this (pooled) collector for a new request read by `r`. */
  reset(r: WireReader): void {
    this.r = r;
    this.bdv =
      this.bdvOf =
      this.kdv =
      this.kdvOf =
        null;
    this.n = 0;
    this.prevN = -1;
    this.lastMap = null;
    this.lastEnd = -1;
  }

  /** Starts a row (drops what a rejected row left). */
  begin(): void {
    this.n = 0;
  }

  /** Adds the KeyValue at `[r.pos, end)`; leaves `r.pos` at `end`. */
  add(end: number): void {
    const r = this.r, b = r.buf, p = r.pos;
    let ks: number, ke: number, vs: number, ve: number;
    // The usual encoding, `0a <len> key 12 <len> value` with one-byte lengths, read in place;
    // anything else (other orders, long fields, unknown fields) by the general reader.
    const kl = b[p + 1];
    let vl: number;
    if (
      b[p] === 0x0a && kl < 0x80 && p + 4 + kl <= end && b[p + 2 + kl] === 0x12 &&
      (vl = b[p + 3 + kl]) < 0x80 && p + 4 + kl + vl === end
    ) {
      ks = p + 2;
      ke = ks + kl;
      // The key's UTF-8 is checked where `flush` copies it (or finds it equal to a copied one).
      vs = ke + 2;
      ve = end;
    } else {
      readKeyValue(r, end, this.kv, 0);
      ks = this.kv[0];
      ke = this.kv[1];
      vs = this.kv[2];
      ve = this.kv[3];
    }
    const i = STRIDE * this.n;
    if (i + STRIDE > this.ranges.length) {
      const next = new Int32Array(this.ranges.length * 2);
      next.set(this.ranges);
      this.ranges = next;
    }
    const g = this.ranges;
    g[i] = ks;
    g[i + 1] = ke;
    g[i + 2] = vs;
    g[i + 3] = ve;
    const len = ke - ks;
    if (len >= 8) {
      g[i + 4] = ((b[ks] << 24) | (b[ks + 1] << 16) | (b[ks + 2] << 8) | b[ks + 3]) ^ SIGN;
      g[i + 5] = ((b[ks + 4] << 24) | (b[ks + 5] << 16) | (b[ks + 6] << 8) | b[ks + 7]) ^ SIGN;
    } else {
      let p1 = 0, p2 = 0;
      for (let j = 0; j < len; j++) {
        if (j < 4) p1 |= b[ks + j] << (24 - 8 * j);
        else p2 |= b[ks + j] << (56 - 8 * j);
      }
      g[i + 4] = p1 ^ SIGN;
      g[i + 5] = p2 ^ SIGN;
    }
    this.n++;
    r.pos = end;
  }

  /** Writes the row's entries into `map` and ends its row. */
  flush(map: MapCol): void {
    const n = this.n;
    if (n > 0) {
      const g = this.ranges, buf = this.r.buf, keys = map.keys;
      const same = this.sameKeys();
      if (same && map === this.lastMap && keys.length === this.lastEnd) {
        // Same keys as the row just written to this map: copy its keys as one block.
        repeatLast(keys, this.unique);
      } else {
        if (!same) this.sort();
        // The keys (validated when added), with room made once for the row.
        const order = this.order, u = this.unique;
        let bytes = 0;
        for (let k = 0; k < u; k++) bytes += g[STRIDE * order[k] + 1] - g[STRIDE * order[k]];
        keys.reserve(bytes, u);
        const kd = keys.data, ko = keys.offsets;
        if (this.kdvOf !== kd) {
          this.kdv = new DataView(kd.buffer, kd.byteOffset, kd.byteLength);
          this.kdvOf = kd;
        }
        if (this.bdvOf !== buf) {
          this.bdv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
          this.bdvOf = buf;
        }
        const kdv = this.kdv!, bdv = this.bdv!;
        let kn = keys.length, at = ko[kn], x = 0;
        for (let k = 0; k < u; k++) {
          const i = STRIDE * order[k];
          // Four bytes at a time (unaligned DataView words), then the tail.
          let j = g[i];
          const e = g[i + 1];
          for (; j + 4 <= e; j += 4, at += 4) {
            const w = bdv.getInt32(j, true);
            x |= w;
            kdv.setInt32(at, w, true);
          }
          for (; j < e; j++) x |= kd[at++] = buf[j];
          ko[++kn] = at;
        }
        x |= x >>> 8 | x >>> 16 | x >>> 24;
        x &= 0xff;
        if (x >= 0x80) {
          // Some key is not ASCII: each is validated (before the row's keys count). Until they
          // pass, nothing may reuse this row's order or keys (the row is dropped if one fails).
          const prevN = this.prevN;
          this.prevN = -1;
          this.lastMap = null;
          for (let k = 0; k < u; k++) {
            const i = STRIDE * order[k];
            this.r.checkUtf8(g[i], g[i + 1], "KeyValue.key");
          }
          this.prevN = prevN;
        }
        keys.length = kn;
      }
      this.lastMap = map;
      this.lastEnd = keys.length;
      const order = this.order, values = map.values;
      for (let u = 0; u < this.unique; u++) {
        const i = STRIDE * order[u];
        const vs = g[i + 2], ve = g[i + 3];
        if (ve - vs >= 2 && buf[vs] === 0x0a && buf[vs + 1] === ve - vs - 2) {
          // The usual value, AnyValue{string_value} under 128 bytes: copied as it is while its
          // bytes are checked for non-ASCII (then validated as UTF-8).
          values.reserve(ve - vs - 2, 1);
          const vd = values.data, vo = values.offsets;
          let at = vo[values.length], x = 0;
          for (let j = vs + 2; j < ve; j++) x |= vd[at++] = buf[j];
          if (x >= 0x80) this.r.checkUtf8(vs + 2, ve, "AnyValue.string_value");
          vo[++values.length] = at;
        } else this.av.append(values, vs, ve);
      }
      this.n = 0;
    }
    map.endSortedRow();
  }

  /** Whether this row's keys are, in order, the same bytes as those `order` was made for. */
  private sameKeys(): boolean {
    const n = this.n;
    if (n !== this.prevN) return false;
    const g = this.ranges, p = this.prevKeys, b = this.r.buf;
    for (let k = 0; k < n; k++) {
      const i = STRIDE * k, j = 4 * k;
      const s = g[i], e = g[i + 1], ps = p[j], pe = p[j + 1];
      if (e - s !== pe - ps) return false;
      if (s === ps) continue;
      // The first 8 bytes (the prefixes) first, then the bytes after them.
      if (g[i + 4] !== p[j + 2] || g[i + 5] !== p[j + 3]) return false;
      for (let x = 8; x < e - s; x++) if (b[s + x] !== b[ps + x]) return false;
    }
    return true;
  }

  /** Compares the keys of entries `x` and `y` as bytes. */
  private cmp(x: number, y: number): number {
    const g = this.ranges, i = STRIDE * x, j = STRIDE * y;
    const d = g[i + 4] - g[j + 4];
    if (d !== 0) return d;
    const d2 = g[i + 5] - g[j + 5];
    if (d2 !== 0) return d2;
    const b = this.r.buf;
    return compareBytes(b, g[i], g[i + 1], b, g[j], g[j + 1]);
  }

  private sort(): void {
    const n = this.n, g = this.ranges;
    if (this.order.length < n) this.order = new Int32Array(2 * n);
    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = i;
    if (n <= 32) {
      // Insertion sort: stable, so the first of duplicate keys stays first. Entries whose
      // prefixes differ are ordered by them alone.
      for (let i = 1; i < n; i++) {
        const x = order[i], x1 = g[STRIDE * x + 4], x2 = g[STRIDE * x + 5];
        let j = i - 1;
        while (j >= 0) {
          const y = order[j], y1 = g[STRIDE * y + 4];
          if (y1 < x1) break;
          if (y1 === x1) {
            const y2 = g[STRIDE * y + 5];
            if (y2 < x2 || (y2 === x2 && this.cmp(y, x) <= 0)) break;
          }
          order[j + 1] = y;
          j--;
        }
        order[j + 1] = x;
      }
    } else {
      const arr = Array.from(order.subarray(0, n));
      arr.sort((x, y) => this.cmp(x, y) || x - y);
      order.set(arr);
    }
    let u = 0;
    for (let i = 0; i < n; i++) {
      const x = order[i];
      if (u > 0) {
        // Sorted: a key equal to the one before it has its prefixes (and length) too.
        const y = order[u - 1], gx = STRIDE * x, gy = STRIDE * y;
        if (
          g[gx + 4] === g[gy + 4] && g[gx + 5] === g[gy + 5] &&
          g[gx + 1] - g[gx] === g[gy + 1] - g[gy] && this.cmp(y, x) === 0
        ) continue;
      }
      order[u++] = x;
    }
    this.unique = u;
    if (this.prevKeys.length < 4 * n) this.prevKeys = new Int32Array(8 * n);
    const p = this.prevKeys;
    for (let k = 0; k < n; k++) {
      p[4 * k] = g[STRIDE * k];
      p[4 * k + 1] = g[STRIDE * k + 1];
      p[4 * k + 2] = g[STRIDE * k + 4];
      p[4 * k + 3] = g[STRIDE * k + 5];
    }
    this.prevN = n;
  }
}

/** Ints per entry of `AttrRow.ranges`. */
const STRIDE = 6;
/** The sign bit of an int32, flipped in the key prefixes so signed order is byte order. */
const SIGN = -0x80000000;
