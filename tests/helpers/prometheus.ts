/**
 * A strict parser of the Prometheus text exposition format (0.0.4) and of OpenMetrics 1.0, for
 * tests that read /metrics the way a scraper does. Strict means it throws (with the line
 * number) on anything a scraper would reject or that hides a mistake: a sample before its
 * family's `# TYPE`, a family described twice, a sample name that does not belong to its family,
 * a malformed label or value, the same series twice, histogram buckets that are not cumulative
 * or do not end in `+Inf` = `_count`, a missing `# EOF` (OpenMetrics).
 *
 *   const m = parseExposition(await (await fetch(`${url}/metrics`)).text());
 *   m.value("otlp2parquet_records_received_total", { signal: "logs", transport: "http" });
 *   m.sum("otlp2parquet_http_requests_total", { code: "400" });   // over the other labels
 */

export type Labels = Record<string, string>;

export interface ParsedSample {
  name: string;
  labels: Labels;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped" | "unknown";
  help?: string;
  samples: ParsedSample[];
}

export interface Exposition {
  families: Map<string, ParsedFamily>;
  /** The sample with exactly these labels (all of them), or undefined. */
  value(name: string, labels?: Labels): number | undefined;
  /** Sum over samples of `name` whose labels include `match`. */
  sum(name: string, match?: Labels): number;
  /** Every sample of `name` whose labels include `match`. */
  samples(name: string, match?: Labels): ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

export function parseExposition(text: string, format: "text" | "openmetrics" = "text"): Exposition {
  const om = format === "openmetrics";
  const families = new Map<string, ParsedFamily>();
  const seen = new Set<string>();
  let current: ParsedFamily | undefined;
  const lines = text.split("\n");
  if (lines[lines.length - 1] !== "") throw new SyntaxError("exposition does not end in a newline");
  lines.pop();
  let eof = false;
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (eof) throw new SyntaxError(`content after # EOF at ${where}`);
    if (line === "") {
      if (om) throw new SyntaxError(`empty line in OpenMetrics at ${where}`);
      return;
    }
    if (line.startsWith("#")) {
      if (om && line === "# EOF") {
        eof = true;
        return;
      }
      const m = /^# (HELP|TYPE|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*)(?: (.*))?$/.exec(line);
      if (!m) {
        if (om) throw new SyntaxError(`bad comment at ${where}`);
        return; // a plain comment
      }
      const [, kind, name, rest = ""] = m;
      let f = families.get(name);
      if (!f) {
        f = { name, type: om ? "unknown" : "untyped", samples: [] };
        families.set(name, f);
      } else if (f !== current) {
        throw new SyntaxError(`family "${name}" described again after other families at ${where}`);
      }
      current = f;
      if (kind === "HELP") {
        if (f.help !== undefined) throw new SyntaxError(`second HELP for "${name}" at ${where}`);
        f.help = unescape(rest, where);
      } else if (kind === "TYPE") {
        if (f.samples.length) throw new SyntaxError(`TYPE after samples of "${name}" at ${where}`);
        const types = om
          ? [
            "counter",
            "gauge",
            "histogram",
            "summary",
            "unknown",
            "gaugehistogram",
            "stateset",
            "info",
          ]
          : ["counter", "gauge", "histogram", "summary", "untyped"];
        if (!types.includes(rest)) {
          throw new SyntaxError(`unknown type ${JSON.stringify(rest)} at ${where}`);
        }
        f.type = rest as ParsedFamily["type"];
      }
      return;
    }
    const sample = parseSample(line, where);
    const fam = current;
    if (!fam || !belongs(fam, sample.name, om)) {
      throw new SyntaxError(
        `sample "${sample.name}" outside its family (no # TYPE before it) at ${where}`,
      );
    }
    const key = sample.name + JSON.stringify(Object.entries(sample.labels).sort());
    if (seen.has(key)) throw new SyntaxError(`series given twice at ${where}`);
    seen.add(key);
    if (fam.type === "counter" && sample.value < 0) {
      throw new SyntaxError(`negative counter at ${where}`);
    }
    fam.samples.push(sample);
  });
  if (om && !eof) throw new SyntaxError("OpenMetrics exposition has no # EOF line");
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);

  const all = () => [...families.values()].flatMap((f) => f.samples);
  const includes = (labels: Labels, match: Labels) =>
    Object.entries(match).every(([k, v]) => labels[k] === v);
  return {
    families,
    value(name, labels = {}) {
      const n = Object.keys(labels).length;
      return all().find((s) =>
        s.name === name && Object.keys(s.labels).length === n && includes(s.labels, labels)
      )?.value;
    },
    sum(name, match = {}) {
      return all().filter((s) => s.name === name && includes(s.labels, match))
        .reduce((a, s) => a + s.value, 0);
    },
    samples(name, match = {}) {
      return all().filter((s) => s.name === name && includes(s.labels, match));
    },
  };
}

function belongs(f: ParsedFamily, name: string, om: boolean): boolean {
  switch (f.type) {
    case "counter":
      return om ? name === f.name + "_total" || name === f.name + "_created" : name === f.name;
    case "histogram":
      return [f.name + "_bucket", f.name + "_sum", f.name + "_count", f.name + "_created"]
        .includes(name);
    case "summary":
      return [f.name, f.name + "_sum", f.name + "_count"].includes(name);
    default:
      return name === f.name;
  }
}

function parseSample(line: string, where: string): ParsedSample {
  const n = NAME.exec(line);
  if (!n) throw new SyntaxError(`bad metric name at ${where}`);
  const name = n[0];
  let rest = line.slice(name.length);
  const labels: Labels = {};
  if (rest.startsWith("{")) {
    rest = rest.slice(1);
    while (!rest.startsWith("}")) {
      const l = LABEL.exec(rest);
      if (!l) throw new SyntaxError(`bad label name at ${where}`);
      rest = rest.slice(l[0].length);
      if (!rest.startsWith('="')) throw new SyntaxError(`expected =" after label at ${where}`);
      rest = rest.slice(2);
      let value = "";
      for (;;) {
        if (rest === "") throw new SyntaxError(`unterminated label value at ${where}`);
        const c = rest[0];
        if (c === '"') break;
        if (c === "\\") {
          const e = rest[1];
          if (e === "n") value += "\n";
          else if (e === "\\" || e === '"') value += e;
          else throw new SyntaxError(`bad escape \\${e} in label value at ${where}`);
          rest = rest.slice(2);
        } else {
          value += c;
          rest = rest.slice(1);
        }
      }
      rest = rest.slice(1);
      if (l[0] in labels) throw new SyntaxError(`label "${l[0]}" twice at ${where}`);
      labels[l[0]] = value;
      if (rest.startsWith(",")) rest = rest.slice(1);
      else if (!rest.startsWith("}")) throw new SyntaxError(`expected , or } at ${where}`);
    }
    rest = rest.slice(1);
  }
  const m = /^ (\S+)(?: (-?\d+(?:\.\d+)?))?$/.exec(rest);
  if (!m) throw new SyntaxError(`bad value part ${JSON.stringify(rest)} at ${where}`);
  return { name, labels, value: parseValue(m[1], where) };
}

function parseValue(s: string, where: string): number {
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) {
    throw new SyntaxError(`bad number ${JSON.stringify(s)} at ${where}`);
  }
  return Number(s);
}

function unescape(s: string, where: string): string {
  return s.replace(/\\(.)/g, (_, c) => {
    if (c === "n") return "\n";
    if (c === "\\" || c === '"') return c;
    throw new SyntaxError(`bad escape \\${c} at ${where}`);
  });
}

function checkHistogram(f: ParsedFamily): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith("_bucket")) {
      if (le === undefined) throw new SyntaxError(`bucket of "${f.name}" without le`);
      g.buckets.push([parseValue(le, `le of ${f.name}`), s.value]);
    } else if (s.name.endsWith("_count")) g.count = s.value;
    else if (s.name.endsWith("_sum")) g.sum = s.value;
  }
  for (const [key, g] of groups) {
    const b = g.buckets;
    if (b.length === 0 || b[b.length - 1][0] !== Infinity) {
      throw new SyntaxError(`histogram "${f.name}" ${key} does not end with le="+Inf"`);
    }
    for (let i = 1; i < b.length; i++) {
      if (b[i][0] <= b[i - 1][0] || b[i][1] < b[i - 1][1]) {
        throw new SyntaxError(`histogram "${f.name}" ${key}: buckets not ascending and cumulative`);
      }
    }
    if (g.count !== b[b.length - 1][1] || g.sum === undefined) {
      throw new SyntaxError(`histogram "${f.name}" ${key}: _count ≠ +Inf bucket, or no _sum`);
    }
  }
}
