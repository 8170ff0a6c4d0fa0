/**
 * bench/lib.ts (`deno task bench:lib`) runs end to end on a small input: both paths export
 * every span and the report has its table. A smoke test only: no figure is asserted.
 */
import { ok, strictEqual } from "node:assert/strict";

Deno.test({
  name: "bench/lib.ts compares the SDK exporter path with OTLP/HTTP on a small input",
  sanitizeResources: false,
  async fn() {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "bench/lib.ts", "--spans", "1100", "--runs", "1"],
      cwd: new URL("../../", import.meta.url).pathname,
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(r.stdout);
    strictEqual(r.code, 0, out + new TextDecoder().decode(r.stderr));
    ok(out.includes("1100 spans in batches of 512"), out);
    ok(/\| spans\/s until every export answered \| \d+ \| \d+ \|/.test(out), out);
    ok(/ratio lib ÷ http, spans\/s: \d+\.\d\d/.test(out), out);
  },
});
