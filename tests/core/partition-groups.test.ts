/**
 * partition() with many groups (past the linear search, into the map by hour and service), rows
 * of one service in two hours, and service names that recur across calls (a cache of their text).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { Utf8Col } from "../../src/core/columns/index.ts";
import { decode } from "../../src/core/otlp/index.ts";
import { partition } from "../../src/core/partition.ts";
import { encodePb, type Req } from "./fixtures.ts";

const HOUR = 3_600_000_000_000n;
const BASE = 1_741_944_413_000_000_000n; // 2025-03-14T09:26:53Z

/** A logs request: one resource per (service, times) entry, a record per time, body = label. */
function request(resources: [service: string, times: bigint[]][]): Uint8Array {
  const req: Req = {
    resourceLogs: resources.map(([service, times]) => ({
      resource: { attributes: [{ key: "service.name", value: { stringValue: service } }] },
      scopeLogs: [{
        logRecords: times.map((t) => ({
          timeUnixNano: String(t),
          body: { stringValue: `${service}@${t}` },
        })),
      }],
    })),
  };
  return encodePb("logs", req);
}

/** Every partition as "service hour minTime: bodies". */
function summary(body: Uint8Array): string[] {
  const d = decode("logs", body, "protobuf", { receivedAtNs: 1n });
  return partition(d.tables[0]).map((p) => {
    const b = (p.rows.cols as unknown as { Body: Utf8Col }).Body;
    const bodies: string[] = [];
    for (let i = 0; i < b.length; i++) bodies.push(new TextDecoder().decode(b.bytesAt(i)));
    strictEqual(p.rows.length, bodies.length);
    return `${p.service} ${p.hour} ${p.minTimeNs}: ${bodies.join(",")}`;
  });
}

const hourOf = (t: bigint) => Number(t / HOUR);

Deno.test("partition() keeps 20 services apart, in first-seen order, with their earliest time", () => {
  const resources: [string, bigint[]][] = [];
  for (let i = 0; i < 20; i++) {
    resources.push([`svc-${i}`, [BASE + BigInt(i + 5), BASE + BigInt(i)]]);
  }
  const got = summary(request(resources));
  strictEqual(got.length, 20);
  for (let i = 0; i < 20; i++) {
    const a = BASE + BigInt(i + 5), b = BASE + BigInt(i);
    strictEqual(got[i], `svc-${i} ${hourOf(BASE)} ${b}: svc-${i}@${a},svc-${i}@${b}`);
  }
});

Deno.test("partition() gathers a service that comes back after 12 others, and splits its hours", () => {
  const resources: [string, bigint[]][] = [["back", [BASE, BASE + HOUR]]];
  for (let i = 0; i < 12; i++) resources.push([`other-${i}`, [BASE]]);
  resources.push(["back", [BASE + 1n, BASE + HOUR + 1n]]);
  const got = summary(request(resources));
  strictEqual(got.length, 14);
  deepStrictEqual(got[0], `back ${hourOf(BASE)} ${BASE}: back@${BASE},back@${BASE + 1n}`);
  deepStrictEqual(
    got[1],
    `back ${hourOf(BASE + HOUR)} ${BASE + HOUR}: back@${BASE + HOUR},back@${BASE + HOUR + 1n}`,
  );
  for (let i = 0; i < 12; i++) {
    strictEqual(got[i + 2], `other-${i} ${hourOf(BASE)} ${BASE}: other-${i}@${BASE}`);
  }
});

Deno.test("partition() names services right across calls, past its cache of recent names", () => {
  // 40 names in turn, each twice: the cache of 16 recent names is both hit and evicted.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 40; i++) {
      const name = i % 2 ? `service-${i}` : `sérvice-${i}`;
      const other = `service-${(i + 1) % 40}`;
      deepStrictEqual(summary(request([[name, [BASE]], [other, [BASE]], [name, [BASE + 1n]]])), [
        `${name} ${hourOf(BASE)} ${BASE}: ${name}@${BASE},${name}@${BASE + 1n}`,
        `${other} ${hourOf(BASE)} ${BASE}: ${other}@${BASE}`,
      ]);
    }
  }
});

Deno.test("partition() groups a long service name and 70,000 rows like any other", () => {
  const long = "s".repeat(300);
  const times = Array.from({ length: 70_000 }, (_, i) => BASE + BigInt(i));
  const got = summary(request([[long, times.slice(0, 3)], ["short", times]]));
  strictEqual(got.length, 2);
  strictEqual(
    got[0],
    `${long} ${hourOf(BASE)} ${BASE}: ${times.slice(0, 3).map((t) => `${long}@${t}`).join(",")}`,
  );
  ok(got[1].startsWith(`short ${hourOf(BASE)} ${BASE}: short@${BASE},short@${BASE + 1n}`));
  strictEqual(got[1].split(",").length, 70_000);
});
