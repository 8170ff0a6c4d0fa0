/**
 * `otlp2parquet iceberg status` and `otlp2parquet iceberg register PREFIX`, run as a user runs
 * them (deno run src/entry/main.ts, OTLP2PARQUET_CATALOG_* variables), against the suite's
 * REST catalog: files stored while the pending list was lost are registered exactly once (a
 * second run adds nothing), status shows the pending files and the last snapshot per table.
 */
import { ok, strictEqual } from "node:assert/strict";
import { startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro } from "../helpers/avro.ts";
import { currentFiles, duckdbCount, icebirdRows, storedParquet } from "../helpers/iceberg.ts";
import { sendLogs } from "../helpers/otel.ts";
import { query, readParquet } from "../helpers/duckdb.ts";
import { startServer } from "../helpers/server.ts";

const SKIP = !(await hasPythonAvro()) && !Deno.env.get("CI");
const REPO = new URL("../../", import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string>) {
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("OTLP2PARQUET_")),
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/entry/main.ts", ...args],
    cwd: REPO,
    env: { ...inherited, ...env, NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test({
  name: "iceberg register adds stored files exactly once; iceberg status shows the tables",
  ignore: SKIP,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "iceberg-cli-" });
    const out = `${parent}/out`;
    const cat = await startCatalogServer({ root: out, token: "cli-token" });
    const env = {
      OTLP2PARQUET_CATALOG_MODE: "iceberg",
      OTLP2PARQUET_CATALOG_ICEBERG_URI: cat.url,
      OTLP2PARQUET_CATALOG_ICEBERG_TOKEN: "cli-token",
      OTLP2PARQUET_BATCH_WAL_DIR: `${parent}/wal`,
    };
    try {
      // Files stored while the catalog is unreachable; then the pending list is lost.
      cat.down = true;
      const srv = await startServer({ output: out, env });
      let rows = 0;
      try {
        for (let round = 0; round < 2; round++) {
          await sendLogs(
            { url: srv.url, protocol: "proto", service: `cli-${round}` },
            ({ logger }) => {
              for (let i = 0; i < 30; i++) logger.emit({ body: `c${round}-${i}` });
            },
            { batch: true },
          );
          rows += 30;
        }
        strictEqual(await srv.stop(), 0, srv.log());
      } finally {
        await srv.kill();
      }
      const stored = await storedParquet(`${out}/logs`);
      ok(stored.length >= 2);
      const status0 = await cli(["iceberg", "status", "--output", out], env);
      strictEqual(status0.code, 1, "the catalog is down");
      ok(/otel\.logs\s+pending\s+\d+/.test(status0.out), status0.out);
      await Deno.remove(`${parent}/.iceberg-pending`, { recursive: true });
      cat.down = false;

      const first = await cli(["iceberg", "register", "logs/", "--output", out], env);
      strictEqual(first.code, 0, first.err);
      ok(first.out.includes(`registered ${stored.length} files, 0 already`), first.out);
      const again = await cli(["iceberg", "register", "logs/", "--output", out], env);
      strictEqual(again.code, 0, again.err);
      ok(again.out.includes(`registered 0 files, ${stored.length} already`), again.out);
      const cur = await currentFiles(cat.metadataPath("otel", "logs")!);
      strictEqual(cur.paths.sort().join("\n"), stored.join("\n"));
      strictEqual(await duckdbCount(cur.paths), rows);

      const status = await cli(["iceberg", "status", "--output", out], env);
      strictEqual(status.code, 0, status.err);
      ok(
        new RegExp(`otel\\.logs\\s+pending\\s+0\\s+snapshot \\d+ at .*total ${rows} records`).test(
          status.out,
        ),
        status.out,
      );
      ok(/otel\.traces\s+pending\s+0\s+no such table yet/.test(status.out), status.out);

      const bad = await cli(["iceberg", "register"], env);
      strictEqual(bad.code, 2);
      ok(bad.err.includes("iceberg register needs one PREFIX"), bad.err);
      const off = await cli(["iceberg", "status", "--output", out], {});
      strictEqual(off.code, 2);
      ok(off.err.includes('catalog.mode is not "iceberg"'), off.err);
    } finally {
      await cat.close();
      await Deno.remove(parent, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "iceberg register --rewrite adds files written without a catalog, once, in the tables' layout",
  ignore: SKIP,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "iceberg-cli-" });
    const out = `${parent}/out`;
    const cat = await startCatalogServer({ root: out, token: "cli-token" });
    const env = {
      OTLP2PARQUET_CATALOG_MODE: "iceberg",
      OTLP2PARQUET_CATALOG_ICEBERG_URI: cat.url,
      OTLP2PARQUET_CATALOG_ICEBERG_TOKEN: "cli-token",
      OTLP2PARQUET_BATCH_WAL_DIR: `${parent}/wal`,
    };
    try {
      // Written by a server without a catalog (ClickHouse-compatible types, no field ids).
      const srv = await startServer({
        output: out,
        env: { OTLP2PARQUET_BATCH_WAL_DIR: `${parent}/wal` },
      });
      const times: bigint[] = [];
      try {
        await sendLogs({ url: srv.url, protocol: "proto", service: "legacy" }, ({ logger }) => {
          for (let i = 0; i < 25; i++) {
            const ns = 1_714_557_600_123_456_789n + BigInt(i) * 1_000_001n;
            times.push(ns);
            logger.emit({
              body: `old-${i}`,
              timestamp: [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)],
            });
          }
        }, { batch: true });
        strictEqual(await srv.stop(), 0, srv.log());
      } finally {
        await srv.kill();
      }
      const stored = await storedParquet(`${out}/logs`);
      ok(stored.length >= 1);
      const plain = await cli(["iceberg", "register", "logs/", "--output", out], env);
      strictEqual(plain.code, 1);
      ok(
        plain.out.includes(
          `registered 0 files, 0 already in their tables, ${stored.length} left out`,
        ),
        plain.out,
      );
      ok(plain.err.includes("--rewrite"), plain.err);

      const rw = await cli(["iceberg", "register", "logs/", "--rewrite", "--output", out], env);
      strictEqual(rw.code, 0, rw.err);
      ok(
        rw.out.includes(`registered ${stored.length} files`) &&
          rw.out.includes(`${stored.length} rewritten`),
        rw.out,
      );
      const again = await cli(["iceberg", "register", "logs/", "--rewrite", "--output", out], env);
      strictEqual(again.code, 0, again.err);
      ok(
        again.out.includes(`registered 0 files, ${stored.length} already`) &&
          again.out.includes("0 rewritten"),
        again.out,
      );
      const meta = cat.metadataPath("otel", "logs")!;
      const cur = await currentFiles(meta);
      strictEqual(cur.paths.sort().join("\n"), (await storedParquet(`${out}/logs`)).join("\n"));
      const rows = await icebirdRows(meta);
      strictEqual(rows.length, 25);
      // Timestamps are the originals rounded down to microseconds (format version 2).
      const got = rows.map((r) => r.Timestamp).map((v) =>
        typeof v === "bigint" ? v : BigInt((v as Date).getTime()) * 1000n
      ).sort();
      const want = times.map((t) => t / 1000n).sort();
      if (typeof rows[0].Timestamp === "bigint") strictEqual(got.join(), want.join());
      else strictEqual(got.join(), want.map((t) => (t / 1000n) * 1000n).join());
      // Exactly, to the microsecond, by DuckDB (it reads TIMESTAMP(MICROS) as it is).
      const local = cur.paths.map((u) => decodeURI(new URL(u).pathname));
      const us = await query(
        `SELECT epoch_us("Timestamp")::BIGINT AS t FROM ${readParquet(local)} ORDER BY t`,
      );
      strictEqual(us.map((r) => BigInt(r.t as bigint)).join(), want.join());
    } finally {
      await cat.close();
      await Deno.remove(parent, { recursive: true });
    }
  },
});
