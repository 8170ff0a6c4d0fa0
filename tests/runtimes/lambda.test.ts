/**
 * AWS Lambda: the built bundle (deno task build:lambda) is invoked under Node with recorded
 * event shapes of API Gateway REST (v1), HTTP API (v2) and a Function URL, with base64 and gzip
 * bodies, storing to the real S3 test server; the objects read back hold the rows sent.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { gzip, jsonBytes, logsJson, logsPb, metricsPb, T0, tracesPb } from "../http/fixtures.ts";
import { readParquet } from "../helpers/parquet.ts";
import { query, readParquet as duckParquet } from "../helpers/duckdb.ts";
import { freePort, logFiles, startB } from "../forward/helpers.ts";
import {
  adminClient,
  createBucket,
  S3_ACCESS_KEY_ID,
  S3_AVAILABLE,
  S3_ENDPOINT,
  S3_SECRET_ACCESS_KEY,
} from "../helpers/s3.ts";

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const PB = "application/x-protobuf";

/** API Gateway REST API (payload format 1.0), proxy resource, base64 body. */
function restV1(path: string, body: Uint8Array, headers: Record<string, string>) {
  return {
    resource: "/{proxy+}",
    path,
    httpMethod: "POST",
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: path.slice(1) },
    stageVariables: null,
    requestContext: {
      accountId: "123456789012",
      apiId: "1234567890",
      resourceId: "abc123",
      resourcePath: "/{proxy+}",
      httpMethod: "POST",
      path: `/prod${path}`,
      protocol: "HTTP/1.1",
      stage: "prod",
      requestId: crypto.randomUUID(),
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: "203.0.113.7", userAgent: "otel-collector" },
    },
    body: b64(body),
    isBase64Encoded: true,
  };
}

/** HTTP API (payload format 2.0); a Function URL sends the same shape with its own domain. */
function httpV2(path: string, body: Uint8Array, headers: Record<string, string>, domain: string) {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    headers,
    requestContext: {
      accountId: "123456789012",
      apiId: domain.split(".")[0],
      domainName: domain,
      domainPrefix: domain.split(".")[0],
      http: {
        method: "POST",
        path,
        protocol: "HTTP/1.1",
        sourceIp: "203.0.113.7",
        userAgent: "otel",
      },
      requestId: crypto.randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: b64(body),
    isBase64Encoded: true,
  };
}

interface LambdaResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

async function invoke(
  bundle: string,
  bucket: string,
  events: unknown[],
  env: Record<string, string> = {},
): Promise<LambdaResult[]> {
  const child = new Deno.Command("node", {
    args: [
      new URL("./lambda-invoke.mjs", import.meta.url).pathname,
      bundle,
    ],
    cwd: Deno.makeTempDirSync(), // no config.toml, no node_modules: the bundle stands alone
    env: {
      AWS_LAMBDA_FUNCTION_NAME: "otlp2parquet-test",
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: S3_SECRET_ACCESS_KEY,
      AWS_REGION: "us-east-1",
      OTLP2PARQUET_S3_BUCKET: bucket,
      OTLP2PARQUET_S3_ENDPOINT: S3_ENDPOINT,
      OTLP2PARQUET_STORAGE_S3_FORCE_PATH_STYLE: "true",
      ...env,
    },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(events)));
  await w.close();
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  strictEqual(out.code, 0, err);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name: "lambda bundle stores API Gateway v1, v2 and Function URL requests in S3",
  ignore: !S3_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { bundle } = await build("lambda");
    const bucket = await createBucket();
    const url = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
    const results = await invoke(bundle, bucket, [
      restV1("/v1/logs", logsPb(3, "lambda-v1"), { "content-type": PB }),
      httpV2("/v1/traces", gzip(tracesPb(4, "lambda-v2")), {
        "content-type": PB,
        "content-encoding": "gzip",
      }, "api123.execute-api.us-east-1.amazonaws.com"),
      httpV2("/v1/metrics", metricsPb(5, 0, "lambda-url"), { "content-type": PB }, url),
      httpV2("/v1/logs", jsonBytes(logsJson(2, "lambda-url")), {
        "content-type": "application/json",
      }, url),
      httpV2(
        "/v1/logs",
        new TextEncoder().encode("{oops"),
        { "content-type": "application/json" },
        url,
      ),
    ]);
    deepStrictEqual(results.map((r) => r.statusCode), [200, 200, 200, 200, 400]);
    // Protobuf answers go back base64-encoded (API Gateway needs that for binary bodies).
    strictEqual(results[0].isBase64Encoded, true);
    strictEqual(results[3].body, "{}");
    ok(JSON.parse(results[4].body).message.length > 0);

    const s3 = await adminClient();
    const listed = await s3.send(new s3.sdk.ListObjectsV2Command({ Bucket: bucket }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).sort();
    const rows: Record<string, number> = {};
    for (const key of keys) {
      ok(
        /^(logs|traces|metrics\/gauge)\/lambda-[a-z0-9]+\/year=\d{4}\/month=\d\d\/day=\d\d\/hour=\d\d\/\d+-[0-9a-f]+\.parquet$/
          .test(key),
        key,
      );
      const obj = await s3.send(new s3.sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
      const table = readParquet(await obj.Body!.transformToByteArray());
      const dir = key.split("/year=")[0];
      rows[dir] = (rows[dir] ?? 0) + table.numRows;
    }
    deepStrictEqual(rows, {
      "logs/lambda-v1": 3,
      "traces/lambda-v2": 4,
      "metrics/gauge/lambda-url": 5,
      "logs/lambda-url": 2,
    });
    s3.destroy();
  },
});

Deno.test({
  name: "lambda bundle compacts a past hour's small files on an EventBridge schedule",
  ignore: !S3_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { bundle } = await build("lambda");
    const bucket = await createBucket();
    const url = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
    const requests = Array.from(
      { length: 12 },
      (_, i) =>
        httpV2("/v1/logs", jsonBytes(logsJson(3, "lambda-cron", T0 + BigInt(i) * 1_000_000_000n)), {
          "content-type": "application/json",
        }, url),
    );
    const scheduled = {
      version: "0",
      id: crypto.randomUUID(),
      "detail-type": "Scheduled Event",
      source: "aws.events",
      account: "123456789012",
      time: new Date().toISOString(),
      region: "us-east-1",
      resources: ["arn:aws:events:us-east-1:123456789012:rule/otlp2parquet-lifecycle"],
      detail: {},
    };
    const results = await invoke(bundle, bucket, [...requests, scheduled], {
      OTLP2PARQUET_COMPACTION_ENABLED: "true",
      OTLP2PARQUET_COMPACTION_MIN_FILES: "4",
    });
    deepStrictEqual(results.slice(0, 12).map((r) => r.statusCode), Array(12).fill(200));
    const run = results[12] as unknown as { compacted: { files: number[] }[]; remaining: number };
    deepStrictEqual(run.compacted.map((p) => p.files), [[12, 1]]);

    const s3 = await adminClient();
    const listed = await s3.send(new s3.sdk.ListObjectsV2Command({ Bucket: bucket }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    strictEqual(keys.length, 1, String(keys));
    ok(/-c0\.parquet$/.test(keys[0]), keys[0]);
    const obj = await s3.send(new s3.sdk.GetObjectCommand({ Bucket: bucket, Key: keys[0] }));
    strictEqual(readParquet(await obj.Body!.transformToByteArray()).numRows, 36);
    s3.destroy();
  },
});

Deno.test({
  name:
    "lambda bundle forwards each request to a real otlp2parquet server before the invocation returns ([[forward]], best effort)",
  ignore: !S3_AVAILABLE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { bundle } = await build("lambda");
    const bucket = await createBucket();
    const root = await Deno.makeTempDir({ prefix: "otlp2parquet-lambda-fwd-" });
    const port = freePort();
    const b = await startB(port, `${root}/b`, `${root}/b-wal`);
    try {
      const url = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
      const results = await invoke(bundle, bucket, [
        restV1("/v1/logs", logsPb(3, "fwd-v1"), { "content-type": PB }),
        httpV2("/v1/logs", gzip(logsPb(4, "fwd-v2")), {
          "content-type": PB,
          "content-encoding": "gzip",
        }, url),
        httpV2("/v1/logs", jsonBytes(logsJson(2, "fwd-json")), {
          "content-type": "application/json",
        }, url),
      ], {
        OTLP2PARQUET_FORWARD_ENDPOINT: `http://127.0.0.1:${port}`,
        OTLP2PARQUET_FORWARD_NAME: "b",
        // The harness exits as soon as the last invocation returned (a frozen instance).
        LAMBDA_FREEZE: "1",
      });
      deepStrictEqual(results.map((r) => r.statusCode), [200, 200, 200]);
      strictEqual(await b.stop(), 0); // B stores what its write-ahead log holds
      const files = await logFiles(`${root}/b`);
      ok(files.length > 0, `B stored nothing:\n${b.log()}`);
      const rows = await query(
        `SELECT ServiceName AS s, count(*)::INTEGER AS n FROM ${
          duckParquet(files)
        } GROUP BY 1 ORDER BY 1`,
      );
      deepStrictEqual(rows.map((r) => [r.s, r.n]), [["fwd-json", 2], ["fwd-v1", 3], ["fwd-v2", 4]]);
    } finally {
      await b.kill();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
