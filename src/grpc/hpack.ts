/**
 * HPACK (RFC 7541), the header compression of HTTP/2, as far as a server needs it: a decoder
 * for request header blocks (static and dynamic table, Huffman-coded strings, table size
 * updates) and an encoder for response header blocks that never indexes (literal header fields
 * without indexing, raw strings), so the client's decoder state is never touched.
 *
 * Every malformed block is an `HpackError` saying what was wrong and at which byte; a decoder
 * that threw must not be used again (the connection ends with COMPRESSION_ERROR, RFC 9113 §4.3).
 */

/** A header block that cannot be decoded (a connection error: COMPRESSION_ERROR). */
export class HpackError extends Error {
  override name = "HpackError";
}

/** RFC 7541 Appendix A. */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/**
 * The bit length of each symbol's Huffman code (RFC 7541 Appendix B; symbol 256 is EOS). The
 * code is canonical: codes of one length are consecutive in symbol order, each length's first
 * code follows the last of the shorter ones, so the lengths alone determine the codes.
 */
// deno-fmt-ignore
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
  28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5,
  6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6,
  7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23,
  23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22,
  22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22,
  23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27,
  27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25,
  24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;

/** The Huffman codes from their lengths (canonical): `[code, length]` per symbol. */
export function huffmanCodes(): Array<[number, number]> {
  const order = HUFFMAN_LENGTHS.map((_, s) => s).sort((a, b) =>
    HUFFMAN_LENGTHS[a] - HUFFMAN_LENGTHS[b] || a - b
  );
  const codes: Array<[number, number]> = new Array(HUFFMAN_LENGTHS.length);
  let code = 0;
  let len = HUFFMAN_LENGTHS[order[0]];
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    if (i > 0) code = (code + 1) * 2 ** (HUFFMAN_LENGTHS[s] - len);
    len = HUFFMAN_LENGTHS[s];
    codes[s] = [code, len];
  }
  return codes;
}

/**
 * The decoding tree: node n's children are `tree[2n]` (bit 0) and `tree[2n + 1]` (bit 1); a
 * negative child is a leaf, `-(symbol + 1)`.
 */
const TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  for (const [s, [code, len]] of huffmanCodes().entries()) {
    let n = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) & 1;
      const at = 2 * n + bit;
      if (b === 0) {
        tree[at] = -(s + 1);
      } else {
        if (tree[at] === 0) tree[at] = nodes++;
        n = tree[at];
      }
    }
  }
  return tree;
})();

/** Decodes a Huffman-coded string (RFC 7541 §5.2), as octets in a latin1 string. */
export function huffmanDecode(b: Uint8Array, start: number, end: number): string {
  let out = "";
  let node = 0;
  // Bits read since the last symbol, and whether all of them were 1 (the padding rule).
  let pending = 0;
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = b[i];
    for (let k = 7; k >= 0; k--) {
      const bit = (byte >> k) & 1;
      const next = TREE[2 * node + bit];
      pending++;
      ones &&= bit === 1;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new HpackError(`a Huffman-coded string holds EOS at byte ${i}`);
        out += String.fromCharCode(sym);
        node = 0;
        pending = 0;
        ones = true;
      } else {
        node = next;
      }
    }
  }
  if (pending > 7 || !ones) {
    throw new HpackError(
      `a Huffman-coded string ends with ${pending} bits of padding that are not the EOS prefix (at byte ${
        end - 1
      })`,
    );
  }
  return out;
}

/** One decoded header field. */
export type Header = [name: string, value: string];

/** Most bytes a header list may decode to (names + values + 32 each, RFC 9113 §6.5.2). */
export const MAX_HEADER_LIST_BYTES = 65536;

/** Decodes header blocks of one connection, in order (the dynamic table is shared). */
export class HpackDecoder {
  /** Newest first: [name, value, size]. */
  private table: Array<[string, string, number]> = [];
  private size = 0;
  private max: number;

  /** `limit`: SETTINGS_HEADER_TABLE_SIZE as this side announced it (4,096 by default). */
  constructor(private readonly limit = 4096) {
    this.max = limit;
  }

  /** The header fields of one complete block, in order. Throws `HpackError`. */
  decode(b: Uint8Array): Header[] {
    const out: Header[] = [];
    let listBytes = 0;
    let i = 0;
    let fields = 0;
    while (i < b.length) {
      const first = b[i];
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed header field (§6.1).
        const [index, next] = readInt(b, i, 7);
        i = next;
        [name, value] = this.entry(index, i);
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        const [size, next] = readInt(b, i, 5);
        if (fields > 0) {
          throw new HpackError(`a dynamic table size update after a header field, at byte ${i}`);
        }
        if (size > this.limit) {
          throw new HpackError(
            `a dynamic table size update to ${size} bytes, over the ${this.limit} this server allows, at byte ${i}`,
          );
        }
        i = next;
        this.max = size;
        this.evict(0);
        continue;
      } else {
        // Literal header field: with incremental indexing (01), without (0000), never (0001).
        const indexing = (first & 0xc0) === 0x40;
        const [index, next] = readInt(b, i, indexing ? 6 : 4);
        i = next;
        if (index === 0) {
          [name, i] = readString(b, i);
        } else {
          name = this.entry(index, i)[0];
        }
        [value, i] = readString(b, i);
        if (indexing) this.add(name, value);
      }
      fields++;
      listBytes += name.length + value.length + 32;
      if (listBytes > MAX_HEADER_LIST_BYTES) {
        throw new HpackError(
          `the header list is larger than ${MAX_HEADER_LIST_BYTES} bytes (SETTINGS_MAX_HEADER_LIST_SIZE)`,
        );
      }
      out.push([name, value]);
    }
    return out;
  }

  private entry(index: number, at: number): readonly [string, string] {
    if (index >= 1 && index <= STATIC.length) return STATIC[index - 1];
    const d = this.table[index - STATIC.length - 1];
    if (index === 0 || d === undefined) {
      throw new HpackError(
        `header index ${index} is not in the tables (${STATIC.length} static, ${this.table.length} dynamic entries), at byte ${at}`,
      );
    }
    return [d[0], d[1]];
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    // An entry larger than the table empties it and is not added (§4.4).
    if (size > this.max) return;
    this.table.unshift([name, value, size]);
    this.size += size;
  }

  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.max) {
      this.size -= this.table.pop()![2];
    }
  }
}

/** An integer with an `n`-bit prefix at `b[i]` (§5.1): [value, next index]. */
function readInt(b: Uint8Array, i: number, n: number): [number, number] {
  const mask = (1 << n) - 1;
  let v = b[i] & mask;
  i++;
  if (v < mask) return [v, i];
  let shift = 1;
  for (let k = 0;; k++) {
    if (i >= b.length) throw new HpackError(`a header block ends inside an integer, at byte ${i}`);
    // Four continuation bytes hold 28 bits: more than any length or index here can need.
    if (k >= 4) throw new HpackError(`an integer of more than 32 bits, at byte ${i}`);
    const c = b[i++];
    v += (c & 0x7f) * shift;
    shift *= 128;
    if ((c & 0x80) === 0) return [v, i];
  }
}

/** A string literal at `b[i]` (§5.2): [octets as latin1, next index]. */
function readString(b: Uint8Array, i: number): [string, number] {
  if (i >= b.length) throw new HpackError(`a header block ends before a string, at byte ${i}`);
  const huffman = (b[i] & 0x80) !== 0;
  const [len, start] = readInt(b, i, 7);
  const end = start + len;
  if (end > b.length) {
    throw new HpackError(
      `a string of ${len} bytes at byte ${start} runs past the end of the header block (${b.length} bytes)`,
    );
  }
  if (huffman) return [huffmanDecode(b, start, end), end];
  let s = "";
  for (let k = start; k < end; k++) s += String.fromCharCode(b[k]);
  return [s, end];
}

/**
 * Encodes response header fields: `:status` indexed from the static table when it is there,
 * everything else a literal without indexing with a raw (not Huffman-coded) name and value.
 * Names must be lowercase ASCII; values are written as latin1 octets.
 */
export function encodeHeaders(fields: ReadonlyArray<Header>): Uint8Array {
  let size = 0;
  for (const [n, v] of fields) size += n.length + v.length + 12;
  const out = new Uint8Array(size);
  let i = 0;
  const writeInt = (v: number, n: number, flags: number) => {
    const mask = (1 << n) - 1;
    if (v < mask) {
      out[i++] = flags | v;
      return;
    }
    out[i++] = flags | mask;
    v -= mask;
    while (v >= 128) {
      out[i++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    out[i++] = v;
  };
  const writeString = (s: string) => {
    writeInt(s.length, 7, 0);
    for (let k = 0; k < s.length; k++) out[i++] = s.charCodeAt(k) & 0xff;
  };
  for (const [name, value] of fields) {
    const indexed = name === ":status" ? STATUS_INDEX[value] : undefined;
    if (indexed !== undefined) {
      writeInt(indexed, 7, 0x80);
      continue;
    }
    out[i++] = 0x00;
    writeString(name);
    writeString(value);
  }
  return out.subarray(0, i);
}

const STATUS_INDEX: Record<string, number> = Object.fromEntries(
  STATIC.map(([n, v], k) => [n, v, k + 1] as const).filter(([n]) => n === ":status").map((
    [, v, k],
  ) => [v, k]),
);
