/**
 * The fs storage driver: the shared conformance suite, plus what only a filesystem can get
 * wrong: atomic replacement (temp file + rename), keys that try to leave the root, temp files
 * hidden from listings, and check() on an unusable root.
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { createFsStorage } from "../../src/storage/fs.node.ts";
import { StorageError } from "../../src/storage/types.ts";
import { pseudoRandomBytes, testDriver } from "./conformance.ts";

const enc = new TextEncoder();

testDriver("fs", async () => {
  const root = await Deno.makeTempDir({ prefix: "otlp2parquet-fs-" });
  return {
    driver: createFsStorage({ root: `${root}/store` }),
    cleanup: () => Deno.remove(root, { recursive: true }),
  };
});

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-fs-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("fs driver put leaves only the final file, no temporary file", async () => {
  await withRoot(async (root) => {
    const d = createFsStorage({ root });
    await d.put("logs/svc/a.parquet", enc.encode("abc"));
    await d.put("logs/svc/a.parquet", enc.encode("abcd"));
    deepStrictEqual(await names(`${root}/logs/svc`), ["a.parquet"]);
    strictEqual(await Deno.readTextFile(`${root}/logs/svc/a.parquet`), "abcd");
  });
});

Deno.test("fs driver readers see the old or the new object, never part of one", async () => {
  await withRoot(async (root) => {
    const d = createFsStorage({ root });
    const a = pseudoRandomBytes(2 * 1024 * 1024, 1);
    const b = pseudoRandomBytes(2 * 1024 * 1024 + 17, 2);
    await d.put("k", a);
    let stop = false;
    let reads = 0;
    const reader = (async () => {
      while (!stop) {
        const got = (await d.get("k"))!;
        ok(
          equal(got, a) || equal(got, b),
          `read ${got.byteLength} bytes that are neither the old nor the new object`,
        );
        reads++;
      }
    })();
    for (let i = 0; i < 6; i++) await d.put("k", i % 2 ? a : b);
    stop = true;
    await reader;
    ok(reads > 0, "the reader ran");
  });
});

Deno.test("fs driver failed put removes its temporary file and keeps the old object", async () => {
  await withRoot(async (root) => {
    const d = createFsStorage({ root });
    await d.put("dir/x", enc.encode("x"));
    // "dir" is a directory: renaming a file over it fails.
    const err = await d.put("dir", enc.encode("y")).then(() => null, (e) => e);
    ok(err instanceof StorageError, `expected StorageError, got ${err}`);
    ok(err.message.includes('"dir"'), err.message);
    deepStrictEqual(await names(root), ["dir"]);
    deepStrictEqual(await d.get("dir/x"), enc.encode("x"));
  });
});

Deno.test("fs driver list skips temporary files a crash left behind", async () => {
  await withRoot(async (root) => {
    const d = createFsStorage({ root });
    await d.put("logs/a.parquet", enc.encode("a"));
    await Deno.writeTextFile(`${root}/logs/.b.parquet.0123456789abcdef.tmp`, "partial");
    deepStrictEqual(await d.list(""), ["logs/a.parquet"]);
    deepStrictEqual(await d.list("logs/"), ["logs/a.parquet"]);
  });
});

Deno.test("fs driver refuses keys that could leave the root", async () => {
  await withRoot(async (dir) => {
    const root = `${dir}/root`;
    const d = createFsStorage({ root });
    const bad = [
      "../escape",
      "a/../../escape",
      "/etc/passwd",
      "a\\..\\..\\escape",
      "a\u0000b",
      "a//b",
      "./a",
      "a/.",
      "",
      "C:/x",
    ];
    for (const k of bad) {
      await rejects(d.put(k, enc.encode("x")), TypeError, `put ${JSON.stringify(k)}`);
      await rejects(d.get(k), TypeError, `get ${JSON.stringify(k)}`);
      await rejects(d.delete(k), TypeError, `delete ${JSON.stringify(k)}`);
    }
    await rejects(d.list("../"), TypeError);
    await rejects(d.list("a/../.."), TypeError);
    await rejects(d.list("/"), TypeError);
    // Nothing was written anywhere, inside the root or next to it.
    deepStrictEqual(await names(dir), []);
  });
});

Deno.test("fs driver lists sorted keys under a partial prefix", async () => {
  await withRoot(async (root) => {
    const d = createFsStorage({ root });
    for (const k of ["b/2", "a/10", "a/9", "ab/1", "a/1"]) await d.put(k, enc.encode(k));
    deepStrictEqual(await d.list("a"), ["a/1", "a/10", "a/9", "ab/1"]);
    deepStrictEqual(await d.list("a/1"), ["a/1", "a/10"]);
    deepStrictEqual(await d.list("c"), []);
  });
});

Deno.test("fs driver check() creates the root and leaves nothing behind", async () => {
  await withRoot(async (dir) => {
    const d = createFsStorage({ root: `${dir}/new/root` });
    await d.check();
    deepStrictEqual(await names(`${dir}/new/root`), []);
  });
});

Deno.test("fs driver check() fails with a StorageError naming an unusable root", async () => {
  await withRoot(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "not a directory");
    const d = createFsStorage({ root: `${dir}/file/root` });
    const err = await d.check().then(() => null, (e) => e);
    ok(err instanceof StorageError, `expected StorageError, got ${err}`);
    ok(err.message.startsWith("Storage check failed: cannot write to "), err.message);
    ok(err.message.includes(`${dir}/file/root`), err.message);
    strictEqual(err.retryable, false);
  });
});

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
