/**
 * `protocol = "grpc"`: A (the real server, default configuration) forwards over OTLP/gRPC to
 * a real otlp2parquet B on its OTLP/gRPC port (the SDK's gRPC exporter sends into A's gRPC port,
 * so both ends of both hops are gRPC), and to an in-test gRPC server built with @grpc/grpc-js
 * for the faults: a stand-in, because the test needs a receiver that answers UNAVAILABLE with a
 * RetryInfo and INVALID_ARGUMENT on cue. It decodes what it gets with protobufjs (the oracle,
 * over proto/).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { Server } from "../helpers/server.ts";
import { otlpRoot } from "../e2e/proto.ts";
import { sendLogs } from "../helpers/otel.ts";
import {
  assertSameLogs,
  freePort,
  logsBody,
  postLogs,
  queuedRequests,
  sample,
  startA,
  startB,
  until,
} from "./helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "gRPC in, gRPC out: the SDK's gRPC exporter into A, A forwards over OTLP/gRPC to a real B: same rows",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fwd-grpc-real-" });
    let a: Server | undefined, b: Server | undefined;
    try {
      b = await startB(freePort(), `${dir}/b`, `${dir}/b-wal`);
      ok(b.grpcPort, "B listens for OTLP/gRPC");
      a = await startA(
        `[[forward]]
name = "b"
endpoint = "http://${b.grpcAddr}"
protocol = "grpc"
timeout_ms = 5000
`,
        { output: `${dir}/a`, wal: `${dir}/a-wal` },
      );
      ok(a.grpcPort, "A listens for OTLP/gRPC");
      for (const gzip of [false, true]) {
        const sent = await sendLogs(
          { url: `http://${a.grpcAddr}`, protocol: "grpc", gzip, service: `grpc-fwd-${gzip}` },
          ({ logger }) => {
            for (let i = 0; i < 15; i++) logger.emit({ body: `g${gzip}-${i}`, attributes: { i } });
          },
        );
        strictEqual(sent.sent.length, 15, "the SDK exported 15 records");
      }
      const srvA = a;
      await until(
        "A has forwarded all 30 records",
        async () =>
          await sample(
              srvA,
              "otlp2parquet_forward_records_total",
              'destination="b",outcome="sent"',
            ) ===
            30 &&
          await queuedRequests(srvA, "b") === 0,
        [a, b],
      );
      strictEqual(await a.stop(), 0);
      strictEqual(await b.stop(), 0);
      await assertSameLogs(`${dir}/a`, `${dir}/b`, 30);
    } finally {
      for (const s of [a, b]) {
        if (!s) continue;
        await s.stop().catch(() => {});
        await s.kill();
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

/** google.rpc.Status { code, details: [Any RetryInfo { retry_delay { seconds } }] }. */
function retryStatus(code: number, seconds: number): Buffer {
  const type = new TextEncoder().encode("type.googleapis.com/google.rpc.RetryInfo");
  const duration = [0x08, seconds];
  const info = [0x0a, duration.length, ...duration];
  const any = [0x0a, type.length, ...type, 0x12, info.length, ...info];
  return Buffer.from([0x08, code, 0x1a, any.length, ...any]);
}

Deno.test(
  "gRPC destination: UNAVAILABLE with RetryInfo is retried, INVALID_ARGUMENT dropped and counted",
  opts,
  async () => {
    const root = await otlpRoot();
    const Req = root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest");
    const kept: string[] = [];
    const metadata: string[] = [];
    let calls = 0;
    const server = new grpc.Server();
    const pass = (b: Buffer) => b;
    server.register<Buffer, Buffer>(
      "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
      (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        calls++;
        metadata.push(String(call.metadata.get("x-tenant")[0] ?? ""));
        // deno-lint-ignore no-explicit-any
        const req = Req.toObject(Req.decode(call.request)) as any;
        const bodies: string[] = [];
        for (const rl of req.resourceLogs ?? []) {
          for (const sl of rl.scopeLogs ?? []) {
            for (const lr of sl.logRecords ?? []) bodies.push(lr.body?.stringValue ?? "");
          }
        }
        if (calls === 1) {
          const md = new grpc.Metadata();
          md.set("grpc-status-details-bin", retryStatus(14, 1));
          cb({ code: grpc.status.UNAVAILABLE, details: "warming up", metadata: md });
          return;
        }
        if (bodies.some((b) => b.startsWith("bad"))) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: "bad record" });
          return;
        }
        kept.push(...bodies);
        cb(null, Buffer.alloc(0));
      },
      pass,
      pass,
      "unary",
    );
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createInsecure(),
        (e, p) => e ? rej(e) : res(p),
      )
    );
    let a: Server | undefined;
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fwd-grpc-" });
    try {
      a = await startA(
        `[[forward]]
name = "grpc"
endpoint = "http://127.0.0.1:${port}"
protocol = "grpc"
headers = { "x-tenant" = "t1" }
signals = ["logs"]
`,
        { output: `${dir}/a`, wal: `${dir}/a-wal` },
      );
      const srvA = a;
      const expected: string[] = [];
      for (const tag of ["g1", "g2", "bad1", "g3"]) {
        strictEqual(await postLogs(a.url, logsBody("grpc", tag, 2)), 200);
        if (!tag.startsWith("bad")) {
          expected.push(`${tag}-0`, `${tag}-1`);
        }
      }
      await until(
        "the queue drained",
        async () =>
          await queuedRequests(srvA, "grpc") === 0 &&
          await sample(
              srvA,
              "otlp2parquet_forward_records_total",
              'destination="grpc",outcome="sent"',
            ) === 6,
        [a],
      );
      deepStrictEqual([...kept].sort(), expected.sort());
      strictEqual(
        await sample(
          srvA,
          "otlp2parquet_forward_records_total",
          'destination="grpc",outcome="rejected"',
        ),
        2,
      );
      ok(await sample(srvA, "otlp2parquet_forward_send_failures_total", 'destination="grpc"') >= 1);
      ok(
        metadata.every((m) => m === "t1"),
        JSON.stringify(metadata),
      );
      ok(a.log().includes("status=INVALID_ARGUMENT"), a.log());
      strictEqual(await a.stop(), 0);
    } finally {
      await a?.kill();
      server.forceShutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

/** A CA and a certificate for `localhost` it signed, made by openssl in `dir`. */
async function makeCertificates(dir: string): Promise<{ ca: string; key: string; cert: string }> {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    strictEqual(out.code, 0, `openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  };
  await run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=otlp2parquet test CA",
  );
  await run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "srv.key",
    "-out",
    "srv.csr",
    "-subj",
    "/CN=localhost",
  );
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "srv.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "srv.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  return { ca: `${dir}/ca.pem`, key: `${dir}/srv.key`, cert: `${dir}/srv.pem` };
}

/** ./grpc-tls-server.mjs under Node: its port, the Export calls' bodies so far, and stop. */
async function startTlsReceiver(key: string, cert: string) {
  const child = new Deno.Command("node", {
    args: [new URL("./grpc-tls-server.mjs", import.meta.url).pathname, key, cert],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const bodies: Uint8Array[] = [];
  let resolvePort!: (p: number) => void;
  const portFound = new Promise<number>((r) => resolvePort = r);
  const pump = (async () => {
    let pending = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = /^listening on 127\.0\.0\.1:(\d+)$/.exec(line);
        if (m) resolvePort(Number(m[1]));
        if (line.startsWith("export ")) {
          bodies.push(Uint8Array.from(atob(line.slice(7)), (c) => c.charCodeAt(0)));
        }
      }
    }
  })();
  const port = await Promise.race([
    portFound,
    child.status.then((s) => {
      throw new Error(`grpc-tls-server.mjs exited with ${s.code}`);
    }),
  ]);
  return {
    port,
    bodies,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await pump.catch(() => {});
    },
  };
}

Deno.test(
  "gRPC destination over TLS (https://): a real grpc-js TLS server with a private CA's certificate gets every record once A trusts the CA; untrusted, nothing is sent and the log says why",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fwd-grpc-tls-" });
    const certs = await makeCertificates(dir);
    const receiver = await startTlsReceiver(certs.key, certs.cert);
    const root = await otlpRoot();
    const Req = root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest");
    const toml = (name: string) =>
      `[[forward]]
name = "${name}"
endpoint = "https://localhost:${receiver.port}"
protocol = "grpc"
failure_threshold = 1
open_secs = 60
`;
    let a: Server | undefined, untrusted: Server | undefined;
    try {
      // Trusted: grpc-js reads its root certificates from GRPC_DEFAULT_SSL_ROOTS_FILE_PATH.
      a = await startA(toml("tls"), {
        output: `${dir}/a`,
        wal: `${dir}/a-wal`,
        env: { GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: certs.ca },
      });
      const expected: string[] = [];
      for (const tag of ["t1", "t2", "t3"]) {
        strictEqual(await postLogs(a.url, logsBody("grpc-tls", tag, 4)), 200);
        for (let i = 0; i < 4; i++) expected.push(`${tag}-${i}`);
      }
      const srvA = a;
      await until(
        "A has forwarded the 12 records over TLS",
        async () =>
          await sample(
            srvA,
            "otlp2parquet_forward_records_total",
            'destination="tls",outcome="sent"',
          ) === 12,
        [a],
      );
      const got: string[] = [];
      for (const b of receiver.bodies) {
        // deno-lint-ignore no-explicit-any
        const req = Req.toObject(Req.decode(b)) as any;
        for (const rl of req.resourceLogs ?? []) {
          for (const sl of rl.scopeLogs ?? []) {
            for (const lr of sl.logRecords ?? []) got.push(lr.body?.stringValue ?? "");
          }
        }
      }
      deepStrictEqual(got.sort(), expected.sort());
      strictEqual(await a.stop(), 0);

      // Untrusted (no CA given): the handshake fails, nothing goes, the breaker opens and the
      // log names the certificate problem.
      const before = receiver.bodies.length;
      untrusted = await startA(toml("untrusted"), { output: `${dir}/u`, wal: `${dir}/u-wal` });
      strictEqual(await postLogs(untrusted.url, logsBody("grpc-tls", "u", 2)), 200);
      const srvU = untrusted;
      await until(
        "the breaker opened",
        async () =>
          await sample(srvU, "otlp2parquet_forward_breaker_state", 'destination="untrusted"') === 2,
        [untrusted],
      );
      strictEqual(
        await sample(
          srvU,
          "otlp2parquet_forward_records_total",
          'destination="untrusted",outcome="sent"',
        ),
        0,
      );
      strictEqual(
        await queuedRequests(srvU, "untrusted"),
        1,
        "kept queued",
      );
      ok(/unable to verify|certificate/i.test(untrusted.log()), untrusted.log());
      strictEqual(receiver.bodies.length, before);
    } finally {
      for (const s of [a, untrusted]) {
        await s?.stop().catch(() => {});
        await s?.kill();
      }
      await receiver.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
