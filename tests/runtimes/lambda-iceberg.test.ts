/**
 * Iceberg mode on AWS Lambda: the built bundle (deno task build:lambda) under Node, storing to
 * the real S3 test server (Swift) and committing to the suite's REST catalog with SigV4
 * (signing name `s3tables`, credentials from the AWS default chain, as on Lambda). Two
 * invocations in separate processes (two instances) store files and leave one pending object
 * each under _iceberg/pending/; a scheduled event commits them; a second one finds nothing to
 * do. The current snapshot lists every stored file once (python3-avro over the manifests in
 * the bucket) and DuckDB reads back every acknowledged row. A scheduled event with compaction on
 * then commits `replace` snapshots: the table lists exactly the compacted files.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { jsonBytes, logsJson } from "../http/fixtures.ts";
import {
  adminClient,
  createBucket,
  S3_ACCESS_KEY_ID,
  S3_AVAILABLE,
  S3_ENDPOINT,
  S3_SECRET_ACCESS_KEY,
} from "../helpers/s3.ts";
import { type CatalogServer, startCatalogServer } from "../helpers/catalog.ts";
import { hasPythonAvro, readAvroFiles } from "../helpers/avro.ts";
import { readMetadata } from "../helpers/iceberg.ts";
import { query, readParquet } from "../helpers/duckdb.ts";

const SKIP = !S3_AVAILABLE || (!(await hasPythonAvro()) && !Deno.env.get("CI"));

function httpV2(path: string, body: Uint8Array) {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    headers: { "content-type": "application/json" },
    requestContext: {
      accountId: "123456789012",
      apiId: "api123",
      domainName: "api123.execute-api.us-east-1.amazonaws.com",
      http: { method: "POST", path, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "t" },
      requestId: crypto.randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: btoa(String.fromCharCode(...body)),
    isBase64Encoded: true,
  };
}

const SCHEDULED = {
  version: "0",
  id: "e5e8b1d3-0000-0000-0000-000000000000",
  "detail-type": "Scheduled Event",
  source: "aws.events",
  account: "123456789012",
  time: new Date().toISOString(),
  region: "us-east-1",
  resources: ["arn:aws:events:us-east-1:123456789012:rule/otlp2parquet-commit"],
  detail: {},
};

async function invoke(bundle: string, env: Record<string, string>, events: unknown[]) {
  const child = new Deno.Command("node", {
    args: [new URL("./lambda-invoke.mjs", import.meta.url).pathname, bundle],
    cwd: Deno.makeTempDirSync(),
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(events)));
  await w.close();
  const out = await child.output();
  strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name:
    "lambda iceberg: pending objects from two instances are committed once by a scheduled event",
  ignore: SKIP,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { bundle } = await build("lambda");
    const bucket = await createBucket();
    const s3 = await adminClient();
    const tmp = await Deno.makeTempDir({ prefix: "lambda-iceberg-" });
    const keyOf = (uri: string) => uri.slice(`s3://${bucket}/`.length);
    const get = async (key: string) => {
      const o = await s3.send(new s3.sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
      return await o.Body!.transformToByteArray();
    };
    const list = async (prefix: string) =>
      ((await s3.send(new s3.sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix })))
        .Contents ?? []).map((o) => o.Key!).sort();
    let cat: CatalogServer | undefined;
    try {
      cat = await startCatalogServer({
        root: tmp,
        sigv4Service: "s3tables",
        exists: async (uri) => (await list(keyOf(uri))).length > 0,
      });
      const env = {
        AWS_LAMBDA_FUNCTION_NAME: "otlp2parquet-test",
        AWS_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: S3_SECRET_ACCESS_KEY,
        AWS_REGION: "us-east-1",
        OTLP2PARQUET_S3_BUCKET: bucket,
        OTLP2PARQUET_S3_ENDPOINT: S3_ENDPOINT,
        OTLP2PARQUET_STORAGE_S3_FORCE_PATH_STYLE: "true",
        OTLP2PARQUET_CATALOG_MODE: "iceberg",
        OTLP2PARQUET_CATALOG_ICEBERG_URI: cat.url,
        OTLP2PARQUET_CATALOG_ICEBERG_SIGV4_SERVICE: "s3tables",
        OTLP2PARQUET_CATALOG_ICEBERG_SIGV4_REGION: "us-east-1",
        OTLP2PARQUET_CATALOG_ICEBERG_COMMIT_INTERVAL_SECS: "3600",
      };
      // Two instances; the first invocation of each commits (its round timer starts at 0), so
      // the table exists after the first; the later invocations leave pending objects.
      const a = await invoke(bundle, env, [
        httpV2("/v1/logs", jsonBytes(logsJson(3, "lam-a"))),
        httpV2("/v1/logs", jsonBytes(logsJson(4, "lam-a", 1_714_557_600_500_000_000n))),
      ]);
      const b = await invoke(bundle, env, [
        httpV2("/v1/logs", jsonBytes(logsJson(5, "lam-b"))),
        httpV2("/v1/logs", jsonBytes(logsJson(6, "lam-b", 1_714_557_600_700_000_000n))),
      ]);
      deepStrictEqual([...a, ...b].map((r: { statusCode: number }) => r.statusCode), [
        200,
        200,
        200,
        200,
      ]);
      ok((await list("_iceberg/pending/")).length >= 1, "pending objects left");
      const [sched] = await invoke(bundle, env, [SCHEDULED]);
      ok(sched.iceberg.every((r: { error?: string }) => !r.error), JSON.stringify(sched));
      deepStrictEqual(await list("_iceberg/pending/"), []);
      const [again] = await invoke(bundle, env, [SCHEDULED]);
      deepStrictEqual(again.iceberg, []);

      const local = async (uri: string) => {
        const p = `${tmp}/${crypto.randomUUID()}.avro`;
        await Deno.writeFile(p, await get(keyOf(uri)));
        return p;
      };
      /** The current snapshot's live data files (python3-avro) and its summary. */
      const current = async () => {
        const md = await readMetadata(cat!.metadataPath("otel", "logs")!);
        const id = (md.refs as Record<string, { "snapshot-id": string }>).main["snapshot-id"];
        const snap = (md.snapshots as Record<string, unknown>[]).find((s) =>
          s["snapshot-id"] === id
        )!;
        const [ml] = await readAvroFiles([await local(snap["manifest-list"] as string)]);
        const manifests = await readAvroFiles(
          await Promise.all(ml.records.map((r) => local(r.manifest_path as string))),
        );
        const keys = manifests.flatMap((m) =>
          m.records.filter((e) => e.status !== 2).map((e) =>
            keyOf((e.data_file as { file_path: string }).file_path)
          )
        ).sort();
        return { keys, summary: snap.summary as Record<string, string> };
      };
      const rowsOf = async (keys: string[]) => {
        const files = [];
        for (const k of keys) {
          const p = `${tmp}/${crypto.randomUUID()}.parquet`;
          await Deno.writeFile(p, await get(k));
          files.push(p);
        }
        const [{ n }] = await query(`SELECT count(*)::BIGINT AS n FROM ${readParquet(files)}`);
        return Number(n);
      };
      const stored = (await list("logs/")).filter((k) => k.endsWith(".parquet"));
      deepStrictEqual((await current()).keys, stored, "every stored file once");
      strictEqual(await rowsOf(stored), 3 + 4 + 5 + 6);
      ok(cat.requests.includes("GET /v1/config"));

      // Compaction on the schedule: one replace snapshot per partition, then the sources go;
      // the table lists exactly the compacted files, with every row.
      const [run] = await invoke(bundle, {
        ...env,
        OTLP2PARQUET_COMPACTION_ENABLED: "true",
        OTLP2PARQUET_COMPACTION_MIN_FILES: "2",
        OTLP2PARQUET_COMPACTION_MIN_AGE_SECS: "0",
      }, [SCHEDULED]);
      deepStrictEqual(
        run.compacted.map((p: { files: number[] }) => p.files),
        [[2, 1], [2, 1]],
        JSON.stringify(run),
      );
      const after = (await list("logs/")).filter((k) => k.endsWith(".parquet"));
      strictEqual(after.length, 2);
      const cur = await current();
      deepStrictEqual(cur.keys, after, "the table lists exactly the compacted files");
      strictEqual(cur.summary.operation, "replace");
      strictEqual(cur.summary["total-records"], String(3 + 4 + 5 + 6));
      strictEqual(await rowsOf(after), 3 + 4 + 5 + 6);
    } finally {
      s3.destroy();
      await cat?.close();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
