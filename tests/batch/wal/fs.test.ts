/**
 * The node:fs file API of the write-ahead log also works under Node (the same code Bun runs):
 * the log module and wal-fs are bundled with esbuild and exercised by `node`.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import * as esbuild from "esbuild";
import { tempDir } from "../helpers.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

const ENTRY = `
import { Wal, encodePayload, parseSegment, segmentName } from "./src/batch/wal/index.ts";
import { createWalFs } from "./src/batch/wal/fs.node.ts";
const dir = process.argv[2] + "/wal";
const fs = createWalFs();
await fs.mkdir(dir);
const wal = new Wal(fs, dir, 1, { segmentBytes: 1 << 20 });
const body = new TextEncoder().encode("hello");
const pos = await Promise.all([1, 2, 3].map((i) =>
  wal.append(encodePayload({ type: "data", signal: "logs", format: "json", receivedAtNs: BigInt(i), body }))));
await wal.close();
const names = await fs.list(dir);
const seg = parseSegment(await fs.read(dir + "/" + segmentName(1)));
await fs.remove(dir + "/" + segmentName(1));
await fs.remove(dir + "/" + segmentName(1));
console.log(JSON.stringify({
  pos, names, syncs: wal.syncs,
  received: seg.records.map((r) => String(r.record.receivedAtNs)),
  left: await fs.list(dir),
}));
`;

Deno.test("the WAL and its node:fs file API run under Node", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const out = `${dir}/walfs.mjs`;
    await esbuild.build({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: "ts" },
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      outfile: out,
      logLevel: "error",
    });
    await esbuild.stop();
    const r = await new Deno.Command("node", { args: [out, dir], stdout: "piped", stderr: "piped" })
      .output();
    const err = new TextDecoder().decode(r.stderr);
    strictEqual(r.code, 0, err);
    const got = JSON.parse(new TextDecoder().decode(r.stdout));
    deepStrictEqual(got, {
      pos: [{ seg: 1, idx: 0 }, { seg: 1, idx: 1 }, { seg: 1, idx: 2 }],
      names: ["0000000001.wal"],
      syncs: 2,
      received: ["1", "2", "3"],
      left: [],
    });
  } finally {
    await cleanup();
  }
});
