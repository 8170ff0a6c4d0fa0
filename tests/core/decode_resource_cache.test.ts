/**
 * Resources seen again are not prepared again (their sorted attributes are kept): the rows must
 * be the same as the first time, resources of the same size must not be mixed up, and the
 * nesting limit must still apply.
 */
import { deepStrictEqual, match, throws } from "node:assert/strict";
import { decode } from "../../src/core/decode/index.ts";
import { DecodeError } from "../../src/core/decode/types.ts";
import { encodePb, readTable, type Req } from "./fixtures.ts";

const str = (s: string) => ({ stringValue: s });
const nested = (depth: number): Req =>
  depth === 0 ? str("leaf") : { arrayValue: { values: [nested(depth - 1)] } };

function logs(service: string, extra: Req[] = []): Uint8Array {
  const req: Req = {
    resourceLogs: [{
      resource: {
        attributes: [
          { key: "zone", value: str("eu-1") },
          { key: "service.name", value: str(service) },
          { key: "service.namespace", value: str(`ns-${service}`) },
          { key: "count", value: { intValue: "3" } },
          ...extra,
        ],
      },
      scopeLogs: [{ logRecords: [{ body: str("a") }, { body: str("b") }] }],
    }],
  };
  return encodePb("logs", req);
}

function rows(body: Uint8Array, maxDepth?: number) {
  const d = decode("logs", body, "protobuf", { receivedAtNs: 1n, maxDepth });
  const t = readTable(d.tables[0]);
  return {
    service: t.ServiceName,
    namespace: t.ServiceNamespace,
    instance: t.ServiceInstanceId,
    attrs: t.ResourceAttributes,
  };
}

Deno.test("a resource seen in request after request decodes to the same rows every time", () => {
  const first = rows(logs("checkout"));
  deepStrictEqual(first.service, ["checkout", "checkout"]);
  deepStrictEqual(first.namespace, ["ns-checkout", "ns-checkout"]);
  deepStrictEqual(first.instance, ["", ""]);
  deepStrictEqual(first.attrs[0], [
    ["count", "3"],
    ["service.name", "checkout"],
    ["service.namespace", "ns-checkout"],
    ["zone", "eu-1"],
  ]);
  for (let i = 0; i < 5; i++) deepStrictEqual(rows(logs("checkout")), first);
});

Deno.test("resources of the same size but other bytes are not taken for one another", () => {
  // "cart-a" and "cart-b": same length, so the same size of Resource message.
  for (let i = 0; i < 3; i++) {
    deepStrictEqual(rows(logs("cart-a")).service, ["cart-a", "cart-a"]);
    deepStrictEqual(rows(logs("cart-b")).service, ["cart-b", "cart-b"]);
    deepStrictEqual(rows(logs("cart-b")).namespace, ["ns-cart-b", "ns-cart-b"]);
  }
});

Deno.test("a kept resource is still held to a lower nesting limit", () => {
  const body = logs("deep", [{ key: "deep", value: nested(5) }]);
  for (let i = 0; i < 3; i++) {
    deepStrictEqual((rows(body).attrs[0] as string[][])[1], ["deep", '[[[[["leaf"]]]]]']);
  }
  throws(
    () => rows(body, 3),
    (e) => e instanceof DecodeError && /nested deeper than the limit of 3 levels/.test(e.message),
  );
  match(rows(body, 10).service[0] as string, /^deep$/);
});
