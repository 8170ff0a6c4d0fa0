import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { createMemoryStorage } from "../../src/storage/memory.ts";
import { testDriver } from "./conformance.ts";

testDriver("memory", () => Promise.resolve({ driver: createMemoryStorage() }));

Deno.test("memory driver keeps its own copy of the bytes put and got", async () => {
  const d = createMemoryStorage();
  const data = new Uint8Array([1, 2, 3]);
  await d.put("a", data);
  data[0] = 9;
  const got = (await d.get("a"))!;
  deepStrictEqual([...got], [1, 2, 3]);
  got[1] = 9;
  deepStrictEqual([...(await d.get("a"))!], [1, 2, 3]);
  strictEqual(d.objects.size, 1);
});
