/**
 * For tests/lib/writer.test.ts: a library user that accepts three log requests with the
 * write-ahead log on (the default), says so on stdout, and waits to be killed (SIGKILL) before
 * anything is written out (`batch.max_age_secs` is an hour).
 *
 *   deno run -A tests/lib/crash-app.ts DIR
 */
import { generateRequest } from "../../bench/gen.ts";
import { createWriter } from "../../src/lib/index.ts";

const dir = Deno.args[0];
const w = await createWriter({
  storage: { backend: "fs", path: dir },
  batch: { max_age_secs: 3600 },
  log: false,
});
for (let i = 0; i < 3; i++) {
  const g = generateRequest("logs", { records: 20, seed: 100 + i, services: 1 });
  const r = await w.exportLogs(g.protobuf);
  if (!r.ok) throw new Error(r.message);
}
console.log("accepted 3");
// Killed here; a timer keeps the process alive meanwhile (at most a minute).
await new Promise((r) => setTimeout(r, 60_000));
