/**
 * Protobuf fixtures encoded by protobufjs (the reference implementation, used only as a test
 * oracle) from the project's own proto/ definitions.
 *
 *   const bytes = await encodeMetricsRequest(otlpJsonObject);
 *
 * The input is an OTLP/JSON-shaped object (lowerCamelCase keys, hex ids, 64-bit integers as
 * strings); hex `traceId`/`spanId`/`parentSpanId` are turned into bytes first (protobufjs's
 * `fromObject` would read them as base64).
 */
import type protobuf from "protobufjs";
import { otlpProtos } from "../helpers/proto.ts";

/** Every .proto file under proto/, parsed into one resolved root (tests/helpers/proto.ts). */
export function otlpRoot(): Promise<protobuf.Root> {
  return Promise.resolve(otlpProtos());
}

const ID_KEYS = new Set(["traceId", "spanId", "parentSpanId"]);

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function withBinaryIds(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withBinaryIds);
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] = ID_KEYS.has(k) && typeof x === "string" ? hexToBytes(x) : withBinaryIds(x);
  }
  return out;
}

async function encode(typeName: string, obj: unknown): Promise<Uint8Array> {
  const type = (await otlpRoot()).lookupType(typeName);
  const msg = type.fromObject(withBinaryIds(obj) as Record<string, unknown>);
  return type.encode(msg).finish();
}

export function encodeMetricsRequest(obj: unknown): Promise<Uint8Array> {
  return encode("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest", obj);
}

export function encodeLogsRequest(obj: unknown): Promise<Uint8Array> {
  return encode("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest", obj);
}

export function encodeTracesRequest(obj: unknown): Promise<Uint8Array> {
  return encode("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest", obj);
}

/** Decodes an Export*ServiceResponse (e.g. partial_success) to a plain object. */
export async function decodeResponse(
  signal: "logs" | "metrics" | "trace",
  bytes: Uint8Array,
): Promise<Record<string, unknown>> {
  const name = signal === "logs" ? "Logs" : signal === "metrics" ? "Metrics" : "Trace";
  const type = (await otlpRoot()).lookupType(
    `opentelemetry.proto.collector.${signal}.v1.Export${name}ServiceResponse`,
  );
  return type.toObject(type.decode(bytes), { longs: String }) as Record<string, unknown>;
}
