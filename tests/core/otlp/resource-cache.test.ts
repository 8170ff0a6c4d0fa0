/**
 * Resources seen again are not prepared again (their sorted attributes are kept): the rows must
 * be the same as the first time, resources of the same size must not be mixed up, and the
 * nesting limit must still apply.
 */
import { deepStrictEqual, match, throws } from "node:assert/strict";
import { decode } from "../../../src/core/otlp/index.ts";
import { resourceHash } from "../../../src/core/otlp/resource-cache.ts";
import { DecodeError } from "../../../src/core/otlp/types.ts";
import { encodePb, readTable, type Req } from "../fixtures.ts";

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

/** The bytes of the Resource message of a one-resource request made by `logs()`. */
function resourceBytes(body: Uint8Array): Uint8Array {
  // 0a <len> (ResourceLogs) 0a <len> (Resource) …: one-byte lengths for these small fixtures.
  if (body[0] !== 0x0a || body[2] !== 0x0a || body[1] >= 0x80 || body[3] >= 0x80) {
    throw new Error("fixture layout changed");
  }
  return body.subarray(4, 4 + body[3]);
}

Deno.test("hundreds of resources in turn are each kept, and decode to their own rows", () => {
  const names = Array.from({ length: 300 }, (_, i) => `pod-${String(i).padStart(3, "0")}`);
  for (let round = 0; round < 3; round++) {
    for (const n of names) {
      const got = rows(logs(n));
      deepStrictEqual(got.service, [n, n]);
      deepStrictEqual(got.namespace, [`ns-${n}`, `ns-${n}`]);
    }
  }
});

Deno.test("two resources whose bytes hash alike are not taken for one another", () => {
  // Resources that differ only in a 6-letter service name: find two with the same hash.
  const seen = new Map<number, string>();
  let pair: [string, string] | null = null;
  const template = resourceBytes(logs("aaaaaa"));
  const at = new TextDecoder().decode(template).indexOf("aaaaaa");
  const at2 = new TextDecoder().decode(template).indexOf("ns-aaaaaa") + 3;
  const letters = "abcdefghijklmnopqrstuvwxyz";
  for (let i = 0; pair === null && i < 26 ** 5; i++) {
    let name = "", x = i;
    for (let k = 0; k < 6; k++, x = Math.floor(x / 26)) name += letters[x % 26];
    const b = template.slice();
    for (let k = 0; k < 6; k++) b[at + k] = b[at2 + k] = name.charCodeAt(k);
    const h = resourceHash(b, 0, b.length);
    const other = seen.get(h);
    if (other !== undefined) pair = [other, name];
    else seen.set(h, name);
  }
  if (pair === null) throw new Error("no two names with the same hash");
  const [a, b] = pair;
  const ha = resourceBytes(logs(a)), hb = resourceBytes(logs(b));
  deepStrictEqual(resourceHash(ha, 0, ha.length), resourceHash(hb, 0, hb.length));
  for (let i = 0; i < 3; i++) {
    deepStrictEqual(rows(logs(a)).service, [a, a]);
    deepStrictEqual(rows(logs(b)).service, [b, b]);
    deepStrictEqual(rows(logs(b)).namespace, [`ns-${b}`, `ns-${b}`]);
    deepStrictEqual(rows(logs(a)).namespace, [`ns-${a}`, `ns-${a}`]);
  }
});
