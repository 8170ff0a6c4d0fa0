/**
 * `convert` against DuckDB, each as a whole process on one core: the project's CLI
 * (`deno task cli convert FILE… --out DIR`, src/entry/main.ts) converting 400,000 generated logs
 * (bench/gen.ts, OTLP protobuf files) to Parquet, next to DuckDB (@duckdb/node-api in a Node
 * process, `SET threads = 1`) writing the same columns from NDJSON to Parquet with zstd:
 *
 *   deno task bench:convert [--records 400000] [--files 4] [--rounds 3] [--encoder auto|native|wasm]
 *
 * The NDJSON holds the rows of our own output (exported once by DuckDB), so both write the same
 * columns and values; DuckDB is told the column types (no sniffing). The two take turns, round
 * after round. Each process's CPU time (user + sys, from GNU time's getrusage of the child,
 * start-up included) and wall time are measured; the figure compared is records per CPU-second
 * (median of the rounds). Target (issue 22): ours ≥ DuckDB. Output files are checked: same row
 * count. Writes bench/results/convert-duckdb-latest.json.
 */
import { generateRequest } from "./gen.ts";
import { gitCommit, loadAverage, machineInfo, machineLine } from "./core.ts";

let records = 400_000, files = 4, rounds = 3, encoder = "auto";
for (let i = 0; i < Deno.args.length; i++) {
  const a = Deno.args[i];
  if (a === "--records") records = Number(Deno.args[++i]);
  else if (a === "--files") files = Number(Deno.args[++i]);
  else if (a === "--rounds") rounds = Number(Deno.args[++i]);
  else if (a === "--encoder") encoder = Deno.args[++i];
  else throw new TypeError(`bench/convert-duckdb: unknown argument "${a}"`);
}

const root = new URL("../", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "convert-duckdb-" });
const inputs: string[] = [];
const per = Math.ceil(records / files);
for (let f = 0; f < files; f++) {
  const n = Math.min(per, records - f * per);
  const path = `${dir}/logs-${f}.pb`;
  await Deno.writeFile(path, generateRequest("logs", { records: n, seed: f + 1 }).protobuf);
  inputs.push(path);
}

interface Run {
  wallS: number;
  cpuS: number;
  userS: number;
  sysS: number;
}

/** Runs `cmd` under GNU time; its user/sys/wall seconds. */
async function timed(cmd: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %U %S %e", ...cmd],
    cwd: root,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed:\n${err}`);
  const m = err.match(/TIME ([\d.]+) ([\d.]+) ([\d.]+)/);
  if (!m) throw new Error(`no time in:\n${err}`);
  const [u, s, e] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { userS: u, sysS: s, cpuS: u + s, wallS: e };
}

const oursOut = `${dir}/ours`;
const ours = () =>
  Deno.remove(oursOut, { recursive: true }).catch(() => {}).then(() =>
    timed([
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "src/entry/main.ts",
      "convert",
      ...inputs,
      "--out",
      oursOut,
    ], { OTLP2PARQUET_PARQUET_ENCODER: encoder })
  );

// One run of ours gives the rows DuckDB gets as NDJSON, and their column types.
await ours();
const { DuckDBInstance } = await import("@duckdb/node-api");
const db = await (await DuckDBInstance.create(":memory:")).connect();
const parquetList = async (d: string) => {
  const out: string[] = [];
  for await (const e of Deno.readDir(d)) {
    if (e.isDirectory) out.push(...await parquetList(`${d}/${e.name}`));
    else if (e.name.endsWith(".parquet")) out.push(`${d}/${e.name}`);
  }
  return out;
};
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
const src = async () =>
  `read_parquet([${(await parquetList(oursOut)).map(lit).join(", ")}], hive_partitioning = false)`;
const ndjson = `${dir}/logs.ndjson`;
await db.run(`COPY (SELECT * FROM ${await src()}) TO ${lit(ndjson)} (FORMAT json)`);
const types = (await (await db.runAndReadAll(`DESCRIBE SELECT * FROM ${await src()}`))
  .getRowObjectsJS()).map((r) => [String(r.column_name), String(r.column_type)]);
const columns = `{${types.map(([n, t]) => `${lit(n)}: ${lit(t)}`).join(", ")}}`;
const duckOut = `${dir}/duckdb.parquet`;
const script = `${dir}/duckdb.mjs`;
await Deno.writeTextFile(
  script,
  `import { DuckDBInstance } from ${JSON.stringify(import.meta.resolve("@duckdb/node-api"))};
const c = await (await DuckDBInstance.create(":memory:")).connect();
await c.run("SET threads = 1");
await c.run(${
    JSON.stringify(
      `COPY (SELECT * FROM read_json(${
        lit(ndjson)
      }, format = 'newline_delimited', columns = ${columns})) TO ${
        lit(duckOut)
      } (FORMAT parquet, COMPRESSION zstd)`,
    )
  });
`,
);
const duck = () => timed(["node", script]);

const runs: { ours: Run[]; duckdb: Run[] } = { ours: [], duckdb: [] };
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  loads.push(loadAverage() ?? NaN);
  runs.ours.push(await ours());
  runs.duckdb.push(await duck());
  console.error(
    `round ${r + 1}: ours ${runs.ours[r].cpuS.toFixed(2)} s CPU, DuckDB ${
      runs.duckdb[r].cpuS.toFixed(2)
    } s CPU`,
  );
}
const count = async (from: string) =>
  Number(
    (await (await db.runAndReadAll(`SELECT count(*) AS n FROM ${from}`))
      .getRowObjectsJS())[0].n,
  );
const oursRows = await count(await src());
const duckRows = await count(`read_parquet(${lit(duckOut)})`);
if (oursRows !== records || duckRows !== records) {
  throw new Error(`rows: ours ${oursRows}, DuckDB ${duckRows}, expected ${records}`);
}
const bytes = async (fs: string[]) => {
  let n = 0;
  for (const f of fs) n += (await Deno.stat(f)).size;
  return n;
};
const oursBytes = await bytes(await parquetList(oursOut));
const duckBytes = await bytes([duckOut]);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const row = (name: string, rs: Run[], b: number) => {
  const cpu = med(rs.map((x) => x.cpuS)), wall = med(rs.map((x) => x.wallS));
  return { name, cpuS: cpu, wallS: wall, recordsPerCpuS: records / cpu, bytes: b };
};
const result = [
  row("otlp2parquet convert", runs.ours, oursBytes),
  row("DuckDB", runs.duckdb, duckBytes),
];
const machine = await machineInfo();
console.log(
  `\n${
    machineLine(machine)
  }; ${records} logs in ${files} protobuf files; encoder ${encoder}; median of ${rounds} rounds; load average ${
    loads.map((l) => l.toFixed(2)).join(", ")
  }`,
);
console.log("| process | CPU s | wall s | records per CPU-second | Parquet bytes |");
console.log("|---|---:|---:|---:|---:|");
for (const r of result) {
  console.log(
    `| ${r.name} | ${r.cpuS.toFixed(2)} | ${r.wallS.toFixed(2)} | ${
      Math.round(r.recordsPerCpuS).toLocaleString("en-US")
    } | ${r.bytes.toLocaleString("en-US")} |`,
  );
}
const ratio = result[0].recordsPerCpuS / result[1].recordsPerCpuS;
console.log(`\nours / DuckDB per CPU-second: ${ratio.toFixed(2)}× (target ≥ 1)`);
await Deno.writeTextFile(
  new URL("./results/convert-duckdb-latest.json", import.meta.url),
  JSON.stringify(
    {
      kind: "convert-duckdb",
      date: new Date().toISOString(),
      commit: await gitCommit(),
      machine,
      records,
      files,
      encoder,
      rounds,
      loadAverage: loads,
      runs,
      result,
      ratio,
    },
    null,
    2,
  ) + "\n",
);
db.closeSync?.();
await Deno.remove(dir, { recursive: true });
