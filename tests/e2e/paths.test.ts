/**
 * Server mode end to end, path safety: hostile `service.name` values end up as one safe path
 * segment under the output root, and nothing is written anywhere else.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { listFiles, listParquet } from "../helpers/duckdb.ts";
import { withServer } from "../helpers/server.ts";
import {
  assertJsonOk,
  logsRequest,
  metricsRequest,
  parseKey,
  postJson,
  rowsOf,
  sv,
} from "./support.ts";

const LONG = "x".repeat(10 * 1024);
const NAMES: (string | undefined)[] = [
  "../../etc",
  "a/b",
  "a\\b",
  "a\u0000b",
  "..\\..\\win",
  "",
  undefined, // no service.name at all
  ".",
  "..",
  LONG,
  "сервис-😀",
];

/** Segment → the service names (as stored in the rows) expected in it. */
const EXPECTED: Record<string, string[]> = {
  ".._.._etc": ["../../etc"],
  "a_b": ["a\u0000b", "a/b", "a\\b"],
  ".._.._win": ["..\\..\\win"],
  "unknown_service": [""],
  "_": ["."],
  "__": [".."],
  ["x".repeat(128)]: [LONG],
};

const SAFE = /^[A-Za-z0-9._-]{1,128}$/;

Deno.test("hostile service.name values land in one safe segment under the output root", async () => {
  await withServer({}, async (srv) => {
    for (const [i, name] of NAMES.entries()) {
      const log = { timeUnixNano: "1700000000000000000", body: sv(`name ${i}`) };
      assertJsonOk(await postJson(srv, "/v1/logs", logsRequest(name, [log])));
      const point = { timeUnixNano: "1700000000000000000", asDouble: i };
      const metric = { name: "e2e.path", gauge: { dataPoints: [point] } };
      assertJsonOk(await postJson(srv, "/v1/metrics", metricsRequest(name, [metric])));
    }

    for (const table of ["logs", "metrics/gauge"]) {
      const keys = (await listParquet(srv.output)).filter((k) => k.startsWith(`${table}/`));
      const bySegment = new Map<string, string[]>();
      for (const key of keys) bySegment.set(parseKey(key).service, []);
      for (const segment of bySegment.keys()) {
        ok(SAFE.test(segment), `unsafe segment "${segment}"`);
        ok(segment !== "." && segment !== "..", `segment "${segment}"`);
        const files = keys.filter((k) => parseKey(k).service === segment).map((k) =>
          `${srv.output}/${k}`
        );
        const rows = await rowsOf(files, "DISTINCT ServiceName");
        bySegment.set(segment, rows.map((r) => r.ServiceName as string).sort());
      }
      for (const [segment, names] of Object.entries(EXPECTED)) {
        deepStrictEqual(
          bySegment.get(segment),
          names,
          `${table}: segment "${segment.slice(0, 20)}"`,
        );
        bySegment.delete(segment);
      }
      // the non-ASCII name: every character outside [A-Za-z0-9._-] replaced by "_"
      deepStrictEqual([...bySegment.values()], [["сервис-😀"]], `${table}: segments left`);
      const [segment] = bySegment.keys();
      ok(/^_{6}-_{1,2}$/.test(segment), `non-ASCII segment "${segment}"`);
    }

    // nothing outside the root: every file in the server's temporary parent is under out/
    // (or the WAL directory it was given)
    const everything = await listFiles(srv.parent);
    const outside = everything.filter((f) => !f.startsWith("out/") && !f.startsWith("wal/"));
    deepStrictEqual(outside, []);
    const rel = srv.output.slice(srv.parent.length + 1);
    strictEqual(rel, "out");
    for (const f of everything) ok(!f.split("/").includes(".."), f);
  });
});
