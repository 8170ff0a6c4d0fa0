/**
 * ArenaPool: buffers of a size class, reused for later requests of the same class, within a
 * byte budget; buffers not of a class's size are not kept.
 */
import { ok, strictEqual } from "node:assert/strict";
import { ArenaPool, classSize, isClassSize } from "../../src/core/columns/index.ts";

Deno.test("class sizes hold what was asked, at most 9% (and 8 bytes) more, and are fixed points", () => {
  for (let b = 1; b < 50_000_000; b += 1 + Math.floor(b / 97)) {
    const n = classSize(b);
    ok(n >= b && n <= b * 1.091 + 8 && n % 8 === 0, `${b} -> ${n}`);
    ok(isClassSize(n) && classSize(n) === n, `${n} is not a class size`);
  }
  ok(!isClassSize(1000) && isClassSize(classSize(1000)));
});

Deno.test("a buffer given back serves the next take of its class, once", () => {
  const p = new ArenaPool(1 << 20);
  const a = p.take(1000);
  strictEqual(a.byteLength, classSize(1000));
  p.give(a);
  strictEqual(p.bytes, a.byteLength);
  strictEqual(p.take(990), a); // same class
  strictEqual(p.reused, 1);
  strictEqual(p.bytes, 0);
  ok(p.take(1000) !== a, "a buffer is handed out once");
  p.give(a);
  ok(p.take(5000) !== a, "another class gets a new buffer");
});

Deno.test("the pool keeps no more than its budget, nor buffers of other sizes, and clear() drops all", () => {
  const p = new ArenaPool(3 * classSize(100_000));
  const bufs = Array.from({ length: 5 }, () => p.take(100_000));
  for (const b of bufs) p.give(b);
  strictEqual(p.bytes, 3 * classSize(100_000));
  p.give(new ArrayBuffer(1000)); // not a class size: not kept
  strictEqual(p.bytes, 3 * classSize(100_000));
  p.clear();
  strictEqual(p.bytes, 0);
  ok(!bufs.includes(p.take(100_000)));
});
