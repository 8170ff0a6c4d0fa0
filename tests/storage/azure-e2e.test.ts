/**
 * The server with `backend = "azure"` end to end, against a real Azure Blob server (Azurite,
 * started by this file): OTLP from the OpenTelemetry JS SDK lands under docs/schema.md's keys (with
 * the prefix) in the container and DuckDB reads back what was sent, on Deno (account key),
 * Bun (Azure's own AZURE_STORAGE_CONNECTION_STRING) and the Node bundle (a SAS token); Azurite
 * stopped and started again while requests flow loses nothing acknowledged; a closed port, a
 * missing container or a rejected key gives 503 with Retry-After and says which in /ready and
 * the log.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { build } from "../../scripts/build.ts";
import { mapObj, query, readParquet } from "../helpers/duckdb.ts";
import { sendLogs, sendSpans, SeverityNumber } from "../helpers/otel.ts";
import {
  getReady,
  type Server,
  sleep,
  untilLogged,
  untilReady,
  withServer,
  withTempDir,
} from "../helpers/server.ts";
import {
  azureTest,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteConnectionString,
  azuriteForFile,
  containerBlobs,
  containerSas,
  createContainer,
  deleteContainer,
  freePort,
} from "../helpers/azurite.ts";
import { logsRequest, parseKey, postJson, sv, text, uniqueService } from "../e2e/support.ts";

/** 2023-11-14T22:13:20Z: every record of these tests is in hour 22 of that day. */
const BASE_S = 1_700_000_000;
const BASE_NS = 1_700_000_000_000_000_000n;
const az = azuriteForFile();

function azureEnv(endpoint: string, container: string, more: Record<string, string> = {}) {
  return {
    OTLP2PARQUET_STORAGE_BACKEND: "azure",
    OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: AZURITE_ACCOUNT,
    OTLP2PARQUET_STORAGE_AZURE_CONTAINER: container,
    OTLP2PARQUET_STORAGE_AZURE_ENDPOINT: endpoint,
    OTLP2PARQUET_STORAGE_AZURE_ACCOUNT_KEY: AZURITE_KEY,
    ...more,
  };
}

/** Writes every blob of the container into `dir` (same relative paths); returns the names. */
async function download(endpoint: string, container: string, dir: string): Promise<string[]> {
  const blobs = await containerBlobs(endpoint, container);
  for (const [name, bytes] of blobs) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, bytes);
  }
  return [...blobs.keys()].sort();
}

async function withContainer(fn: (endpoint: string, container: string) => Promise<void>) {
  const endpoint = await az.endpoint();
  const container = await createContainer(endpoint);
  try {
    await fn(endpoint, container);
  } finally {
    await deleteContainer(endpoint, container);
  }
}

/** Sends 5 logs (protobuf, gzip) and a span (JSON) of `service` through the OTel JS SDK. */
async function sendSdkData(srv: Server, service: string): Promise<void> {
  await sendLogs({ url: srv.url, protocol: "proto", gzip: true, service }, ({ logger }) => {
    for (let i = 0; i < 5; i++) {
      logger.emit({
        timestamp: [BASE_S + i, 500],
        body: `log ${i}`,
        severityNumber: SeverityNumber.WARN,
        severityText: "WARN",
        attributes: { "e2e.index": i },
      });
    }
  });
  await sendSpans({ url: srv.url, protocol: "json", gzip: false, service }, (tracer) => {
    tracer.startSpan("checkout", { startTime: [BASE_S, 0] }).end([BASE_S + 2, 250]);
  });
}

/** DuckDB reads back from the downloaded blobs exactly what sendSdkData sent. */
async function assertSdkData(
  endpoint: string,
  container: string,
  service: string,
  prefix: string,
): Promise<void> {
  await withTempDir("otlp2parquet-azure-e2e-", async (dir) => {
    const keys = await download(endpoint, container, dir);
    ok(keys.length >= 2, `blobs in the container: ${JSON.stringify(keys)}`);
    for (const key of keys) {
      ok(key.startsWith(prefix), `prefixed key: ${key}`);
      const k = parseKey(key.slice(prefix.length));
      strictEqual(k.service, service);
      deepStrictEqual([k.year, k.month, k.day, k.hour], [2023, 11, 14, 22], key);
    }
    const logs = keys.filter((k) => k.startsWith(`${prefix}logs/`)).map((k) => `${dir}/${k}`);
    const traces = keys.filter((k) => k.startsWith(`${prefix}traces/`)).map((k) => `${dir}/${k}`);
    ok(logs.length >= 1 && traces.length >= 1, JSON.stringify(keys));
    strictEqual(logs.length + traces.length, keys.length, "nothing but logs and traces");

    const rows = await query(
      `SELECT Body, SeverityText, SeverityNumber, ServiceName, LogAttributes, epoch_us(Timestamp) AS us
       FROM ${readParquet(logs)} ORDER BY Body`,
    );
    deepStrictEqual(rows.map((r) => r.Body), ["log 0", "log 1", "log 2", "log 3", "log 4"]);
    rows.forEach((r, i) => {
      strictEqual(r.ServiceName, service);
      strictEqual(r.SeverityText, "WARN");
      strictEqual(r.SeverityNumber, SeverityNumber.WARN);
      deepStrictEqual(mapObj(r.LogAttributes), { "e2e.index": String(i) });
      strictEqual(r.us, BigInt(BASE_S + i) * 1_000_000n);
    });
    const spans = await query(`SELECT SpanName, ServiceName, Duration FROM ${readParquet(traces)}`);
    deepStrictEqual(spans, [{
      SpanName: "checkout",
      ServiceName: service,
      Duration: 2_000_000_250n,
    }]);
  });
}

azureTest(
  "server (Deno) with backend azure stores SDK logs and spans under the prefixed keys, and DuckDB reads them back",
  async () => {
    await withContainer(async (endpoint, container) => {
      const service = uniqueService("az-e2e");
      await withServer({
        output: false,
        env: azureEnv(endpoint, container, { OTLP2PARQUET_STORAGE_PREFIX: "otel/" }),
      }, async (srv) => {
        deepStrictEqual(JSON.parse(await untilReady(srv, 200, 15_000)), {
          status: "ready",
          storage: "azure",
        });
        ok(
          srv.log().includes(`azure://${AZURITE_ACCOUNT}/${container}/otel/ (${endpoint})`),
          srv.log(),
        );
        await sendSdkData(srv, service);
      });
      await assertSdkData(endpoint, container, service, "otel/");
    });
  },
);

azureTest(
  "server on Bun with Azure's AZURE_STORAGE_CONNECTION_STRING stores what DuckDB reads back",
  async () => {
    await withContainer(async (endpoint, container) => {
      const service = uniqueService("az-bun");
      await withServer({
        runtime: "bun",
        output: false,
        env: {
          OTLP2PARQUET_STORAGE_BACKEND: "azure",
          OTLP2PARQUET_STORAGE_AZURE_CONTAINER: container,
          AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(endpoint),
        },
      }, async (srv) => {
        await untilReady(srv, 200, 15_000);
        await sendSdkData(srv, service);
      });
      await assertSdkData(endpoint, container, service, "");
    });
  },
);

azureTest(
  "server from the Node bundle with a container SAS token stores what DuckDB reads back",
  async () => {
    await withContainer(async (endpoint, container) => {
      const service = uniqueService("az-node");
      await withTempDir("otlp2parquet-azure-e2e-", async (dir) => {
        // The bundle goes to a folder of its own (other tests build dist/ at the same time).
        const { bundle } = await build("node", dir);
        const exec = `${dir}/run-node.sh`;
        await Deno.writeTextFile(exec, `#!/bin/sh\nexec node "${bundle}" "$@"\n`);
        await Deno.chmod(exec, 0o755);
        await withServer({
          exec,
          output: false,
          env: {
            OTLP2PARQUET_STORAGE_BACKEND: "azure",
            OTLP2PARQUET_STORAGE_AZURE_ACCOUNT: AZURITE_ACCOUNT,
            OTLP2PARQUET_STORAGE_AZURE_CONTAINER: container,
            OTLP2PARQUET_STORAGE_AZURE_ENDPOINT: endpoint,
            OTLP2PARQUET_STORAGE_AZURE_SAS_TOKEN: await containerSas(container),
          },
        }, async (srv) => {
          await untilReady(srv, 200, 15_000);
          ok(/runtime=node/.test(srv.log()), srv.log());
          await sendSdkData(srv, service);
        });
      });
      await assertSdkData(endpoint, container, service, "");
    });
  },
);

interface Outcome {
  i: number;
  phase: "before" | "down" | "restarting" | "after";
  status: number;
  retryAfter: string | null;
  body: string;
}

azureTest(
  "server loses nothing acknowledged when Azurite stops and starts again under load",
  async () => {
    await withContainer(async (endpoint, container) => {
      const service = uniqueService("az-outage");
      const outcomes: Outcome[] = [];
      let phase: Outcome["phase"] = "before";
      let i = 0;
      let srv: Server | undefined;
      const send = async () => {
        const n = i++;
        const req = logsRequest(service, [{
          timeUnixNano: String(BASE_NS + BigInt(n)),
          body: sv(`req-${n}`),
        }]);
        const a = await postJson(srv!, "/v1/logs", req).catch((e) => {
          throw new Error(
            `request ${n} (${phase}) got no answer: ${e}; server log:\n${srv!.log()}`,
          );
        });
        outcomes.push({
          i: n,
          phase,
          status: a.status,
          retryAfter: a.headers.get("retry-after"),
          body: text(a.body),
        });
      };
      const env = azureEnv(endpoint, container, {
        OTLP2PARQUET_STORAGE_RETRY_MAX_ATTEMPTS: "2",
        OTLP2PARQUET_STORAGE_RETRY_BASE_DELAY_MS: "20",
        OTLP2PARQUET_STORAGE_RETRY_MAX_DELAY_MS: "100",
        OTLP2PARQUET_STORAGE_RETRY_TIMEOUT_MS: "2000",
      });
      try {
        await withServer({ output: false, env }, async (s) => {
          srv = s;
          const deadline = Date.now() + 60_000; // the loop is bounded in time and count
          for (let k = 0; k < 10; k++) await send();

          await az.server.stop();
          phase = "down";
          const failures = () =>
            outcomes.filter((o) => o.phase === "down" && o.status !== 200).length;
          for (let k = 0; k < 50 && failures() < 5; k++) await send();
          const notReady = await untilReady(s, 503, 15_000);
          ok(notReady.includes(endpoint), `/ready names the endpoint: ${notReady}`);

          // Start it again while requests keep coming.
          phase = "restarting";
          let restarted = false;
          const restarting = az.server.start().then(() => (restarted = true));
          for (let k = 0; k < 200 && !restarted && Date.now() < deadline; k++) {
            await send();
            await sleep(50);
          }
          await restarting;
          phase = "after";
          for (let k = 0; k < 10; k++) await send();
          await untilReady(s, 200, 15_000);
        });
      } finally {
        await az.endpoint(); // running again for the tests after this one, whatever happened
      }

      for (const o of outcomes) {
        ok(
          [200, 429, 503].includes(o.status),
          `request ${o.i} (${o.phase}): status ${o.status}: ${o.body}`,
        );
        if (o.status !== 200) {
          ok(
            o.retryAfter !== null && /^[1-9]\d*$/.test(o.retryAfter),
            `Retry-After of request ${o.i}: ${o.retryAfter}`,
          );
        }
      }
      const byPhase = (p: Outcome["phase"], status: number) =>
        outcomes.filter((o) => o.phase === p && o.status === status).length;
      strictEqual(byPhase("before", 200), 10, "all 200 before the outage");
      ok(
        byPhase("down", 503) >= 5,
        `503s during the outage: ${JSON.stringify(outcomes.filter((o) => o.phase === "down"))}`,
      );
      strictEqual(byPhase("after", 200), 10, "all 200 after the restart");
      const failed = outcomes.find((o) => o.status === 503 && o.phase === "down");
      ok(failed!.body.includes(endpoint), `the 503 says what is wrong: ${failed!.body}`);

      await withTempDir("otlp2parquet-azure-e2e-", async (dir) => {
        const keys = await download(endpoint, container, dir);
        ok(
          keys.every((k) => k.startsWith(`logs/${service}/year=2023/month=11/day=14/hour=22/`)),
          JSON.stringify(keys),
        );
        const rows = await query(
          `SELECT Body, count(*) AS n FROM ${
            readParquet(keys.map((k) => `${dir}/${k}`))
          } GROUP BY Body`,
        );
        const stored = new Map(rows.map((r) => [r.Body as string, Number(r.n)]));
        const acked = outcomes.filter((o) => o.status === 200).map((o) => `req-${o.i}`);
        ok(acked.length >= 20);
        deepStrictEqual(
          acked.filter((b) => !stored.has(b)),
          [],
          "every acknowledged request is stored",
        );
        deepStrictEqual(acked.filter((b) => stored.get(b) !== 1), [], "each exactly once");
      });
    });
  },
);

azureTest(
  "server with Azure at a closed port answers 503 with Retry-After and logs which endpoint",
  async () => {
    const endpoint = `http://127.0.0.1:${freePort()}/${AZURITE_ACCOUNT}`;
    await withServer({ output: false, env: azureEnv(endpoint, "o2p-c") }, async (srv) => {
      const line = await untilLogged(srv, /storage check failed/);
      ok(line.includes(endpoint), `the log line names the endpoint: ${line}`);
      ok(/ECONNREFUSED|cannot reach/.test(line), line);
      const a = await postJson(
        srv,
        "/v1/logs",
        logsRequest("svc", [{ timeUnixNano: String(BASE_NS), body: sv("x") }]),
      );
      strictEqual(a.status, 503, text(a.body));
      ok(/^[1-9]\d*$/.test(a.headers.get("retry-after") ?? ""), "Retry-After");
      const status = JSON.parse(text(a.body));
      strictEqual(status.code, 14, "google.rpc.Code UNAVAILABLE");
      ok(status.message.includes(`cannot reach the endpoint "${endpoint}"`), status.message);
      const r = await getReady(srv);
      strictEqual(r.status, 503);
      ok(r.body.includes(endpoint), r.body);
    });
  },
);

azureTest(
  "server with a missing container or a rejected key says which in /ready and its log",
  async () => {
    const endpoint = await az.endpoint();
    await withServer(
      { output: false, env: azureEnv(endpoint, "o2p-no-such-container") },
      async (srv) => {
        const line = await untilLogged(srv, /storage check failed/);
        ok(line.includes("o2p-no-such-container") && line.includes("does not exist"), line);
        const r = await getReady(srv);
        strictEqual(r.status, 503);
        ok(r.body.includes("does not exist"), r.body);
        ok(r.body.includes("container"), r.body);
        const a = await postJson(
          srv,
          "/v1/logs",
          logsRequest("svc", [{ timeUnixNano: String(BASE_NS), body: sv("x") }]),
        );
        strictEqual(a.status, 503);
        ok(a.headers.get("retry-after"), "Retry-After on a misconfiguration too");
      },
    );
    await withContainer(async (endpoint, container) => {
      const env = azureEnv(endpoint, container, {
        OTLP2PARQUET_STORAGE_AZURE_ACCOUNT_KEY: btoa("wrong key"),
      });
      await withServer({ output: false, env }, async (srv) => {
        const line = await untilLogged(srv, /storage check failed/);
        ok(line.includes("the account key was rejected"), line);
        const r = await getReady(srv);
        strictEqual(r.status, 503);
        ok(r.body.includes("account key"), r.body);
      });
    });
  },
);
