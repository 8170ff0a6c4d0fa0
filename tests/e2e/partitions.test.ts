/**
 * Server mode end to end, object keys: one request whose rows span two services and two hours
 * becomes one file per (table, service, hour), each under the hour of its own rows.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { listParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import {
  assertJsonOk,
  assertKeys,
  attrs,
  parseKey,
  postJson,
  readNs,
  sv,
  uniqueService,
} from "./support.ts";

// 2023-11-14T23:59:59.999999999Z and the nanosecond after it, 2023-11-15T00:00:00Z: the
// rows cross an hour and a day
const LAST_OF_DAY = "1700006399999999999";
const FIRST_OF_NEXT = "1700006400000000000";

Deno.test("rows are split into one file per service and hour, keyed by their own time", async () => {
  await withServer({}, async (srv) => {
    const a = uniqueService("part-a"), b = uniqueService("part-b");
    const records = (tag: string) =>
      [FIRST_OF_NEXT, LAST_OF_DAY, LAST_OF_DAY].map((t, i) => ({
        timeUnixNano: t,
        body: sv(`${tag}-${i}`),
      }));
    const req = {
      resourceLogs: [a, b].map((service) => ({
        resource: { attributes: attrs({ "service.name": service }) },
        scopeLogs: [{ scope: { name: "e2e" }, logRecords: records(service) }],
      })),
    };
    assertJsonOk(await postJson(srv, "/v1/logs", req));

    const keys = await listParquet(srv.output);
    strictEqual(keys.length, 4, JSON.stringify(keys));
    const seen = keys.map((k) => {
      const p = parseKey(k);
      return `${p.dir}/${p.service}/${p.year}-${p.month}-${p.day}T${p.hour}/${p.micros}`;
    }).sort();
    deepStrictEqual(seen, [
      `logs/${a}/2023-11-14T23/1700006399999999`,
      `logs/${a}/2023-11-15T0/1700006400000000`,
      `logs/${b}/2023-11-14T23/1700006399999999`,
      `logs/${b}/2023-11-15T0/1700006400000000`,
    ]);
    for (const s of [a, b]) await assertKeys(srv, "logs", s);
    // the 23h file of service a holds exactly its two rows of that hour
    const lastHourKey = keys.find((k) =>
      k.startsWith(`logs/${a}/`) && k.includes("/day=14/hour=23/")
    )!;
    const rows = await readNs(`${srv.output}/${lastHourKey}`, ["Timestamp", "Body", "ServiceName"]);
    deepStrictEqual(
      rows.map((r) => [r.Timestamp, r.Body, r.ServiceName]).sort(),
      [[BigInt(LAST_OF_DAY), `${a}-1`, a], [BigInt(LAST_OF_DAY), `${a}-2`, a]],
    );
  });
});
