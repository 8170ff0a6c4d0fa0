/**
 * Forwarding on Cloudflare Workers is best effort: the built Worker bundle in workerd
 * (Miniflare, local R2 bucket) answers as always and sends each accepted request through
 * `waitUntil`. The destination is an in-test HTTP receiver (a stand-in: the test must make it
 * fail on cue); it decodes the protobuf it gets with protobufjs (the oracle, over proto/).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Miniflare } from "miniflare";
import { build } from "../../scripts/build.ts";
import { otlpRoot } from "../e2e/proto.ts";
import { logsBody } from "./helpers.ts";

Deno.env.set("WRANGLER_SEND_METRICS", "false");

Deno.test({
  name:
    "Workers: accepted requests are forwarded with waitUntil; a failing destination changes no answer",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await otlpRoot();
    const Req = root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest");
    const kept: string[] = [];
    let fail = false;
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      async (req) => {
        const raw = new Uint8Array(await req.arrayBuffer());
        if (fail) return new Response("down", { status: 503 });
        strictEqual(req.headers.get("content-type"), "application/x-protobuf");
        strictEqual(req.headers.get("content-encoding"), "gzip");
        const body = new Uint8Array(
          await new Response(new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip")))
            .arrayBuffer(),
        );
        // deno-lint-ignore no-explicit-any
        const r = Req.toObject(Req.decode(body)) as any;
        for (const rl of r.resourceLogs) {
          for (const sl of rl.scopeLogs) {
            for (const lr of sl.logRecords) kept.push(lr.body.stringValue);
          }
        }
        return Response.json({});
      },
    );
    const { bundle } = await build("worker");
    const dir = bundle.slice(0, bundle.lastIndexOf("/"));
    const mf = new Miniflare({
      modules: [
        { type: "ESModule", path: bundle },
        { type: "CompiledWasm", path: `${dir}/parquet_wasm_bg.wasm` },
      ],
      modulesRoot: dir,
      compatibilityDate: "2025-09-01",
      r2Buckets: ["BUCKET"],
      bindings: {
        OTLP2PARQUET_FORWARD_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
        OTLP2PARQUET_FORWARD_NAME: "rcv",
      },
      cf: false,
    });
    try {
      const post = async (tag: string) => {
        const res = await mf.dispatchFetch("http://localhost/v1/logs", {
          method: "POST",
          body: logsBody("worker-fwd", tag, 3),
          headers: { "content-type": "application/json" },
        });
        await res.text();
        return res.status;
      };
      strictEqual(await post("w1"), 200);
      strictEqual(await post("w2"), 200);
      for (let i = 0; i < 100 && kept.length < 6; i++) await new Promise((r) => setTimeout(r, 100));
      deepStrictEqual(kept.sort(), ["w1-0", "w1-1", "w1-2", "w2-0", "w2-1", "w2-2"]);
      // The destination fails: the Worker's answers stay 200 and its files are stored.
      fail = true;
      for (let i = 0; i < 3; i++) strictEqual(await post(`down${i}`), 200);
      const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as {
        list(o: { prefix: string }): Promise<{ objects: unknown[] }>;
      };
      const listed = await bucket.list({ prefix: "logs/worker-fwd/" });
      ok(listed.objects.length >= 5, `objects: ${listed.objects.length}`);
    } finally {
      await mf.dispose();
      ac.abort();
      await server.finished;
    }
  },
});
