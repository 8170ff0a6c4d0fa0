// The load generator of bench/grpc.ts, in a process of its own (Node): unary OTLP logs Export
// calls over OTLP/gRPC (node:http2, one connection per 16 calls in flight, messages framed by
// hand with the gzip flag) or POST /v1/logs over OTLP/HTTP (node:http, keep-alive, one
// connection per call in flight), the same gzip'd protobuf bodies, the same client code around
// them. Bounded: at most `maxRequests` calls and `seconds` seconds, then it waits for the calls
// in flight and prints one JSON line:
//
//   {"requests":N,"ok":N,"failed":N,"seconds":S,"p50Ms":…,"p99Ms":…,"statuses":{…}}
//
//   node bench/grpc-load.mjs '{"protocol":"grpc","host":"127.0.0.1","port":4317,
//     "bodies":["/tmp/b/body-0.bin",…],"concurrency":16,"seconds":10,"maxRequests":1000000}'
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";

const o = JSON.parse(process.argv[2]);
const bodies = o.bodies.map((p) => readFileSync(p));
const frames = bodies.map((b) => {
  const f = Buffer.alloc(5 + b.length);
  f[0] = 1;
  f.writeUInt32BE(b.length, 1);
  b.copy(f, 5);
  return f;
});
const PATH = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

const sessions = [];
function session(i) {
  const n = Math.ceil(o.concurrency / 16);
  const k = i % n;
  if (!sessions[k] || sessions[k].destroyed) {
    sessions[k] = http2.connect(`http://${o.host}:${o.port}`);
    sessions[k].on("error", () => {});
  }
  return sessions[k];
}

function grpcCall(worker, i) {
  return new Promise((resolve) => {
    const req = session(worker).request({
      ":method": "POST",
      ":path": PATH,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-encoding": "gzip",
    });
    let status = "none";
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    req.on("trailers", (h) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
    });
    req.on("data", () => {});
    req.on("error", () => resolve("error"));
    req.on("close", () => resolve(status));
    req.end(frames[i % frames.length]);
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
function httpCall(_worker, i) {
  return new Promise((resolve) => {
    const body = bodies[i % bodies.length];
    const req = http.request({
      host: o.host,
      port: o.port,
      method: "POST",
      path: "/v1/logs",
      agent,
      headers: {
        "content-type": "application/x-protobuf",
        "content-encoding": "gzip",
        "content-length": body.length,
      },
    }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(String(res.statusCode)));
      res.on("error", () => resolve("error"));
    });
    req.on("error", () => resolve("error"));
    req.end(body);
  });
}

const call = o.protocol === "grpc" ? grpcCall : httpCall;
const okStatus = o.protocol === "grpc" ? "0" : "200";
const latencies = [];
const statuses = {};
let next = 0;
const started = performance.now();
const deadline = started + o.seconds * 1000;

async function worker(w) {
  while (next < o.maxRequests && performance.now() < deadline) {
    const i = next++;
    const t = performance.now();
    const s = await call(w, i);
    latencies.push(performance.now() - t);
    statuses[s] = (statuses[s] ?? 0) + 1;
  }
}

await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
const seconds = (performance.now() - started) / 1000;
for (const s of sessions) s?.close();
agent.destroy();
latencies.sort((a, b) => a - b);
const q = (p) =>
  latencies.length
    ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
    : 0;
const ok = statuses[okStatus] ?? 0;
console.log(JSON.stringify({
  requests: latencies.length,
  ok,
  failed: latencies.length - ok,
  seconds,
  p50Ms: q(0.5),
  p99Ms: q(0.99),
  statuses,
}));
