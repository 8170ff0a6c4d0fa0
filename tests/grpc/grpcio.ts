/**
 * The independent client of the gRPC tests: Debian's python3-grpcio running ./client.py, which
 * makes the given unary calls on one channel (closed at the end) and prints each call's status
 * code, details, response and trailing metadata.
 */
import { Buffer } from "node:buffer";
import { strictEqual } from "node:assert/strict";

const DEBIAN_PYTHON = "/usr/bin/python3";
const CLIENT = new URL("./client.py", import.meta.url).pathname;

export interface PyCall {
  path: string;
  message: Uint8Array;
  compression?: "gzip" | "deflate";
  metadata?: [string, string][];
}

export interface PyResult {
  code: string;
  details: string;
  response?: Uint8Array;
  trailing: Record<string, string>;
}

export async function grpcio(addr: string, calls: PyCall[]): Promise<PyResult[]> {
  const child = new Deno.Command(DEBIAN_PYTHON, {
    args: [CLIENT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify({
    addr,
    calls: calls.map((c) => ({
      path: c.path,
      message: Buffer.from(c.message).toString("base64"),
      compression: c.compression ?? null,
      metadata: c.metadata ?? [],
    })),
  })));
  await w.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  strictEqual(out.code, 0, `client.py failed: ${stderr}`);
  const parsed = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    results: (Omit<PyResult, "response"> & { response?: string })[];
  };
  return parsed.results.map((r) => ({
    ...r,
    response: r.response === undefined
      ? undefined
      : new Uint8Array(Buffer.from(r.response, "base64")),
  }));
}
