// An OTLP/gRPC logs receiver over TLS for tests/forward/grpc.test.ts, run under Node (Deno's
// node:http2 has no TLS server): @grpc/grpc-js with the key and certificate given, on
// 127.0.0.1 and a free port. Prints `listening on 127.0.0.1:PORT`, then one line per Export
// call: `export BYTES` (the request's protobuf bytes as base64). Answers OK.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";

const [key, cert] = process.argv.slice(2);
const server = new grpc.Server();
const pass = (b) => b;
server.register(
  "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
  (call, cb) => {
    process.stdout.write(`export ${call.request.toString("base64")}\n`);
    cb(null, Buffer.alloc(0));
  },
  pass,
  pass,
  "unary",
);
server.bindAsync(
  "127.0.0.1:0",
  grpc.ServerCredentials.createSsl(null, [{
    private_key: readFileSync(key),
    cert_chain: readFileSync(cert),
  }]),
  (e, port) => {
    if (e) {
      console.error(e);
      process.exit(1);
    }
    process.stdout.write(`listening on 127.0.0.1:${port}\n`);
  },
);
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
