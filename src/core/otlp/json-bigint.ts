/**
 * JSON integers beyond 2^53 lose precision in `JSON.parse`. OTLP/JSON says 64-bit integers are
 * strings, but some producers write them as numbers (`"timeUnixNano": 1700000000123456789`). Before
 * parsing, integer literals of 16 digits or more are wrapped in quotes (outside strings only), so
 * the decoder reads them exactly like the string form. Text without such a literal is returned
 * as it is, without a scan.
 */

/** A 16+ digit integer literal right after `:`, `[` or `,`: the only case that needs the scan. */
const MAYBE_BIG = /[:[,]\s*-?\d{16}/;

const isDigit = (c: number) => c >= 48 && c <= 57;
/** Characters of a JSON number token: digits, `-`, `+`, `.`, `e`, `E`. */
const isNumberChar = (c: number) =>
  isDigit(c) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;

export function quoteBigIntegers(text: string): string {
  if (!MAYBE_BIG.test(text)) return text;
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) { // a string: skip to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
      continue;
    }
    if (c !== 45 && !isDigit(c)) continue;
    let j = i;
    while (j < text.length && isNumberChar(text.charCodeAt(j))) j++;
    const digits = j - i - (c === 45 ? 1 : 0);
    let integer = digits >= 16;
    for (let k = c === 45 ? i + 1 : i; integer && k < j; k++) integer = isDigit(text.charCodeAt(k));
    if (integer) {
      out += text.slice(last, i) + '"' + text.slice(i, j) + '"';
      last = j;
    }
    i = j - 1;
  }
  return last === 0 ? text : out + text.slice(last);
}
