/**
 * AdmissionQueue (src/http/admission.ts): a request refused with a 429 waits for room, first
 * come first served, and gets its 429 past the wait; 503s and a full queue answer at once.
 * Time is a fake clock and the queue is pumped by hand (no timing here).
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { AdmissionQueue, InflightFullError } from "../../src/http/admission.ts";
import { BackpressureError } from "../../src/batch/types.ts";

const busy = () => new BackpressureError("buffers are full", 1, 429);

Deno.test("AdmissionQueue lets waiters in first come first served as room frees", async () => {
  const t = 0;
  let room = 0;
  const q = new AdmissionQueue(1000, 10, Infinity, 1_000_000, () => t);
  const attempt = () => (room > 0 ? (room--, null) : busy());
  const order: string[] = [];
  const a = Promise.resolve(q.admit(attempt)).then((e) => order.push(`a:${e === null}`));
  const b = Promise.resolve(q.admit(attempt)).then((e) => order.push(`b:${e === null}`));
  strictEqual(q.waiting, 2);
  // A newcomer does not overtake the waiters, even when there is room for one.
  room = 1;
  const c = Promise.resolve(q.admit(attempt)).then((e) => order.push(`c:${e === null}`));
  strictEqual(q.waiting, 2); // a got in
  room = 2;
  q.pump();
  await Promise.all([a, b, c]);
  deepStrictEqual(order, ["a:true", "b:true", "c:true"]);
  deepStrictEqual(q.stats(), {
    waiting: 0,
    admittedAfterWait: 3,
    refused: { buffers: 0, inflight: 0, waiting: 0, unavailable: 0 },
  });
  q.close();
});

Deno.test("AdmissionQueue answers the 429 past the wait, a 503 at once, and refuses past the cap", async () => {
  let t = 0;
  const q = new AdmissionQueue(1000, 2, Infinity, 1_000_000, () => t);
  const inflightFull = () => new InflightFullError("in flight full");
  const w1 = q.admit(busy);
  const w2 = q.admit(inflightFull);
  strictEqual(q.waiting, 2);
  // The cap: refused at once with the head's reason, counted as "waiting".
  const over = q.admit(busy);
  strictEqual((over as Error).message, "buffers are full");
  // 503: never waits.
  const down = new Queue503();
  const q2 = new AdmissionQueue(1000, 2, Infinity, 1_000_000, () => t);
  strictEqual(q2.admit(() => down.error), down.error);
  t = 999;
  q.pump();
  strictEqual(q.waiting, 2);
  t = 1000;
  q.pump();
  strictEqual(q.waiting, 0);
  strictEqual(((await w1) as BackpressureError).status, 429);
  strictEqual(((await w2) as BackpressureError).status, 429);
  // A waiter behind the head is refused for the head's reason (it was never tried on its own).
  deepStrictEqual(q.stats().refused, { buffers: 2, inflight: 0, waiting: 1, unavailable: 0 });
  const q4 = new AdmissionQueue(1000, 2, Infinity, 1_000_000, () => t);
  const w4 = q4.admit(inflightFull);
  t += 1000;
  q4.pump();
  strictEqual((await w4) instanceof InflightFullError, true);
  deepStrictEqual(q4.stats().refused, { buffers: 0, inflight: 1, waiting: 0, unavailable: 0 });
  deepStrictEqual(q2.stats().refused, { buffers: 0, inflight: 0, waiting: 0, unavailable: 1 });
  // No wait configured: the 429 at once.
  const q3 = new AdmissionQueue(0, 2);
  strictEqual((q3.admit(busy) as BackpressureError).status, 429);
  strictEqual(q3.waiting, 0);
});

class Queue503 {
  error = new BackpressureError("shutting down", 5, 503);
}
