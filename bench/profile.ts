/**
 * Runs one pipeline stage in a loop, for a CPU profile:
 *
 *   deno run -A --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts [SIGNAL] [STAGE] [ITERATIONS] [RECORDS]
 *   deno run -A bench/profile.ts --summary /tmp/prof/*.cpuprofile     (self time per function)
 *
 * SIGNAL: logs (default), traces, metrics. STAGE: e2e (default; protobuf bytes → Parquet bytes),
 * e2eJson, decode, decodeJson, convert, ipc (toIPC), encode (encodeParquet). ITERATIONS default
 * 30, RECORDS default 10,000.
 */
import { convertRequest } from "../src/core/convert.ts";
import { decode } from "../src/core/otlp/index.ts";
import { DEFAULT_PARQUET, encodeParquet, toIPC } from "../src/core/parquet/encode.ts";
import { partition } from "../src/core/partition.ts";
import { ensureParquet } from "./core.ts";
import { generateRequest, type GenSignal } from "./gen.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (name, file:line), largest first, as text lines. */
export function summarize(p: Profile, top = 40): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i])!;
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(src|bench|node_modules)\//, "$1/");
    const key = `${f.functionName || "(anonymous)"}  ${file}:${f.lineNumber + 1}`;
    const dt = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) =>
    `${(100 * us / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`
  );
}

if (import.meta.main) {
  if (Deno.args[0] === "--summary") {
    for (const f of Deno.args.slice(1)) {
      console.log(`== ${f}`);
      console.log(summarize(JSON.parse(await Deno.readTextFile(f))).join("\n"));
    }
    Deno.exit(0);
  }
  const signal = (Deno.args[0] ?? "logs") as GenSignal;
  const stage = Deno.args[1] ?? "e2e";
  const iterations = Number(Deno.args[2] ?? 30);
  const records = Number(Deno.args[3] ?? 10_000);
  await ensureParquet();
  const g = generateRequest(signal, { records, seed: 1 });
  const opts = { receivedAtNs: 1n };
  const decoded = decode(signal, g.protobuf, "protobuf", opts);
  const parts = decoded.tables.flatMap((t) => partition(t));
  const run: Record<string, () => unknown> = {
    e2e: () =>
      convertRequest(signal, g.protobuf, "protobuf", opts).partitions.map((p) =>
        encodeParquet(p.rows, DEFAULT_PARQUET)
      ),
    e2eJson: () =>
      convertRequest(signal, g.jsonBytes, "json", opts).partitions.map((p) =>
        encodeParquet(p.rows, DEFAULT_PARQUET)
      ),
    decode: () => decode(signal, g.protobuf, "protobuf", opts),
    decodeJson: () => decode(signal, g.jsonBytes, "json", opts),
    convert: () => decoded.tables.flatMap((t) => partition(t)),
    ipc: () => parts.map((p) => toIPC(p.rows, "default")),
    encode: () => parts.map((p) => encodeParquet(p.rows, DEFAULT_PARQUET)),
  };
  const fn = run[stage];
  if (!fn) {
    throw new TypeError(`bench/profile: unknown stage "${stage}" (${Object.keys(run).join(", ")})`);
  }
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const ms = (performance.now() - t0) / iterations;
  console.log(
    `${signal} ${stage}: ${ms.toFixed(2)} ms per run, ${Math.round(records / ms * 1000)} records/s`,
  );
}
