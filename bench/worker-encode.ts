/**
 * The Parquet write inside workerd (Miniflare): our encoder with the codecs a Worker can run
 * (snappy and gzip in plain TypeScript/JavaScript; Workers have no zstd compressor) next to
 * parquet-wasm writing the same logs request (zstd, the server default, and snappy).
 *
 *   deno task bench:worker-encode [--records 10000] [--rounds 7] [--n 5]
 *
 * bench/worker-encode-entry.ts is bundled like the Worker (scripts/build.ts's worker options)
 * and run by Miniflare. Each request decodes the generated request once and encodes it `n`
 * times; a request with n = 0 measures the decode alone, which is subtracted. Variants take
 * turns, round after round (the first round warms up and is dropped). workerd stops its clocks
 * while a request computes, so time is taken outside: wall time of the request, and CPU time
 * (user + sys from /proc) of the workerd process. Prints ms per encoding (median) and bytes.
 */
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import { targets, wasmSibling } from "../scripts/build.ts";
import { generateRequest } from "./gen.ts";
import { loadAverage } from "./core.ts";

const VARIANTS = [
  { name: "parquet-wasm zstd", encoder: "wasm", codec: "zstd" },
  { name: "parquet-wasm snappy", encoder: "wasm", codec: "snappy" },
  { name: "native snappy", encoder: "native", codec: "snappy" },
  { name: "native gzip", encoder: "native", codec: "gzip" },
  { name: "native none", encoder: "native", codec: "none" },
] as const;

let records = 10_000, rounds = 7, n = 5;
for (let i = 0; i < Deno.args.length; i++) {
  const a = Deno.args[i];
  if (a === "--records") records = Number(Deno.args[++i]);
  else if (a === "--rounds") rounds = Number(Deno.args[++i]);
  else if (a === "--n") n = Number(Deno.args[++i]);
  else throw new TypeError(`bench/worker-encode: unknown argument "${a}"`);
}

Deno.env.set("WRANGLER_SEND_METRICS", "false");
const dir = await Deno.makeTempDir({ prefix: "worker-encode-" });
await esbuild.build({
  entryPoints: [new URL("./worker-encode-entry.ts", import.meta.url).pathname],
  outfile: `${dir}/index.js`,
  bundle: true,
  format: "esm",
  minify: true,
  logLevel: "warning",
  plugins: [wasmSibling],
  ...targets.worker.options,
});
await esbuild.stop();
await Deno.copyFile(
  new URL("../node_modules/parquet-wasm/esm/parquet_wasm_bg.wasm", import.meta.url),
  `${dir}/parquet_wasm_bg.wasm`,
);

/** user + sys CPU ms of the workerd processes started by this one (Miniflare's children). */
function workerdCpuMs(): number {
  let ticks = 0;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (comm === "workerd" && isDescendant(Number(e.name))) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * 10; // USER_HZ = 100
}

function isDescendant(pid: number): boolean {
  for (let p = pid, i = 0; p > 1 && i < 10; i++) {
    try {
      const s = Deno.readTextFileSync(`/proc/${p}/stat`);
      p = Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return false;
    }
    if (p === Deno.pid) return true;
  }
  return false;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const body = generateRequest("logs", { records, seed: 1 }).protobuf;
const mf = new Miniflare({
  modules: [
    { type: "ESModule", path: `${dir}/index.js` },
    { type: "CompiledWasm", path: `${dir}/parquet_wasm_bg.wasm` },
  ],
  modulesRoot: dir,
  compatibilityDate: "2025-09-01",
});
try {
  const call = async (q: string) => {
    const w0 = performance.now(), c0 = workerdCpuMs();
    const res = await mf.dispatchFetch(`http://bench/?${q}`, { method: "POST", body });
    const j = await res.json() as { bytes: number };
    return { wall: performance.now() - w0, cpu: workerdCpuMs() - c0, bytes: j.bytes };
  };
  const wall = VARIANTS.map(() => [] as number[]), cpu = VARIANTS.map(() => [] as number[]);
  const bytes = VARIANTS.map(() => 0);
  const base: { wall: number[]; cpu: number[] } = { wall: [], cpu: [] };
  for (let round = 0; round <= rounds; round++) {
    const b = await call("n=0");
    if (round > 0) base.wall.push(b.wall), base.cpu.push(b.cpu);
    for (const [v, x] of VARIANTS.entries()) {
      const r = await call(`encoder=${x.encoder}&codec=${x.codec}&n=${n}`);
      bytes[v] = r.bytes;
      if (round > 0) wall[v].push(r.wall), cpu[v].push(r.cpu);
    }
  }
  const bw = median(base.wall), bc = median(base.cpu);
  console.log(
    `${records} logs per request, ${n} encodings per request, median of ${rounds} rounds, load average ${loadAverage()}`,
  );
  console.log(`decode alone (subtracted): ${bw.toFixed(1)} ms wall, ${bc.toFixed(0)} ms CPU`);
  console.log(
    "| encoder, codec | ms per write (wall) | ms per write (CPU) | bytes | vs parquet-wasm zstd |",
  );
  console.log("|---|---:|---:|---:|---:|");
  const ref = (median(wall[0]) - bw) / n;
  for (const [v, x] of VARIANTS.entries()) {
    const ms = (median(wall[v]) - bw) / n, c = (median(cpu[v]) - bc) / n;
    console.log(
      `| ${x.name} | ${ms.toFixed(1)} | ${c.toFixed(1)} | ${bytes[v]} | ${
        (ref / ms).toFixed(2)
      }× faster, ${(bytes[v] / bytes[0]).toFixed(3)}× bytes |`,
    );
  }
} finally {
  await mf.dispose();
  await Deno.remove(dir, { recursive: true });
}
