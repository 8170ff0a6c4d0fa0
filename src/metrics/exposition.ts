/**
 * Renders a registry's families for a scraper, in one of two formats:
 *
 *   text         Prometheus text exposition format 0.0.4
 *                (`text/plain; version=0.0.4; charset=utf-8`), what every scraper reads.
 *   openmetrics  OpenMetrics 1.0.0 (`application/openmetrics-text; version=1.0.0;
 *                charset=utf-8`), when the scraper's Accept header prefers it (Prometheus
 *                asks for it first by default).
 *
 * The wire format, per family:
 *
 *   # HELP <name> <help, with \ and newline escaped>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{<label>="<value, with \ " and newline escaped>",…} <value>
 *
 * Counters: the sample is `<name>` (it ends in `_total`); OpenMetrics names the family without
 * `_total` in HELP and TYPE. Histograms: `<name>_bucket{…,le="<bound>"}` cumulative counts
 * ending with `le="+Inf"`, then `<name>_sum` and `<name>_count`. OpenMetrics ends with `# EOF`.
 */
import type { AnyFamily, Registry } from "./registry.ts";

export type ExpositionFormat = "text" | "openmetrics";

export const CONTENT_TYPES: Record<ExpositionFormat, string> = {
  text: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/**
 * The format an `Accept` header asks for: OpenMetrics when it names
 * `application/openmetrics-text` with a higher quality than any text/plain (or wildcard) entry.
 */
export function negotiate(accept: string | null | undefined): ExpositionFormat {
  if (!accept) return "text";
  let om = -1, text = -1;
  for (const part of accept.split(",")) {
    const [type, ...params] = part.trim().split(";").map((s) => s.trim().toLowerCase());
    let q = 1;
    for (const p of params) {
      if (p.startsWith("q=")) {
        const v = Number(p.slice(2));
        if (Number.isFinite(v)) q = v;
      }
    }
    if (type === "application/openmetrics-text") om = Math.max(om, q);
    else if (type === "text/plain" || type === "*/*" || type === "text/*") text = Math.max(text, q);
  }
  return om > 0 && om >= text ? "openmetrics" : "text";
}

/** The registry's metrics (collectors run first) in `format`. */
export function render(registry: Registry, format: ExpositionFormat = "text"): string {
  const om = format === "openmetrics";
  const out: string[] = [];
  for (const f of registry.gather()) renderFamily(f, om, out);
  if (om) out.push("# EOF");
  return out.join("\n") + "\n";
}

function renderFamily(f: AnyFamily, om: boolean, out: string[]): void {
  const family = om && f.type === "counter" ? f.name.slice(0, -"_total".length) : f.name;
  out.push(`# HELP ${family} ${escapeHelp(f.help, om)}`);
  out.push(`# TYPE ${family} ${f.type}`);
  const names = f.labelNames;
  if (f.type === "histogram") {
    const bounds = f.buckets.map((b) => formatNumber(b, om));
    for (const { labels, series } of f.samples()) {
      const base = labelText(names, labels);
      const lead = base ? base + "," : "";
      let cum = 0;
      for (let i = 0; i < bounds.length; i++) {
        cum += series.counts[i];
        out.push(`${f.name}_bucket{${lead}le="${bounds[i]}"} ${formatNumber(cum, false)}`);
      }
      cum += series.counts[bounds.length];
      out.push(`${f.name}_bucket{${lead}le="+Inf"} ${formatNumber(cum, false)}`);
      const braces = base ? `{${base}}` : "";
      out.push(`${f.name}_sum${braces} ${formatNumber(series.sum, false)}`);
      out.push(`${f.name}_count${braces} ${formatNumber(series.count, false)}`);
    }
    return;
  }
  for (
    const { labels, series }
      of (f.samples() as { labels: readonly string[]; series: { value: number } }[])
  ) {
    const base = labelText(names, labels);
    out.push(`${f.name}${base ? `{${base}}` : ""} ${formatNumber(series.value, false)}`);
  }
}

function labelText(names: readonly string[], values: readonly string[]): string {
  let s = "";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) s += ",";
    s += `${names[i]}="${escapeLabel(values[i])}"`;
  }
  return s;
}

/** A sample value or bucket bound: integers plainly (`1.0` for OpenMetrics bounds), ±Inf, NaN. */
export function formatNumber(v: number, floatForm: boolean): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  const s = String(v);
  return floatForm && Number.isInteger(v) && !s.includes("e") ? s + ".0" : s;
}

function escapeLabel(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

function escapeHelp(v: string, om: boolean): string {
  return v.replace(om ? /[\\"\n]/g : /[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}
