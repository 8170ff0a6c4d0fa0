// The npm dependencies of package.json, installed once: from the committed lock file when
// node_modules does not match it yet, nothing at all when it does (every `deno task` that needs
// packages runs this first, so it must cost next to nothing when there is nothing to do). A
// fresh checkout gets `npm ci`; an existing node_modules is brought up to date in place with
// `npm install` (never wiped: other processes, tests among them, may be using it). The stamp is
// the SHA-256 of package.json and package-lock.json, kept in node_modules. Two tasks started
// at once (a server and the tests in two terminals) install one after the other, not on top of
// each other: `.install.lock` holds the installing process's id while it runs.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

const root = new URL("../", import.meta.url);
const stampFile = new URL("node_modules/.otlp2parquet-install", root);
const hash = createHash("sha256");
for (const f of ["package.json", "package-lock.json"]) hash.update(readFileSync(new URL(f, root)));
const stamp = hash.digest("hex");

const installed = () => existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp;
if (installed()) process.exit(0);

const lockFile = new URL(".install.lock", root);
/** Whether process `pid` is running (signal 0 only asks). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}
/** A lock older than this is taken over whatever its process id says (npm ci takes ~1 min). */
const STALE_LOCK_MS = 15 * 60_000;
const pause = new Int32Array(new SharedArrayBuffer(4));
for (let told = false;;) {
  try {
    writeFileSync(lockFile, String(process.pid), { flag: "wx" });
    break;
  } catch (e) {
    if (e.code !== "EEXIST") throw e;
  }
  let holder = 0, since = 0;
  try {
    holder = Number(readFileSync(lockFile, "utf8").trim());
    since = statSync(lockFile).mtimeMs;
  } catch {
    continue; // released meanwhile
  }
  // Left by an install that was killed (or so old that its process id is someone else's now).
  if (!(holder > 0) || !alive(holder) || Date.now() - since > STALE_LOCK_MS) {
    rmSync(lockFile, { force: true });
    continue;
  }
  if (!told) {
    console.error(`waiting for another install of the npm dependencies (process ${holder})`);
    told = true;
  }
  Atomics.wait(pause, 0, 0, 250);
}
process.on("exit", () => rmSync(lockFile, { force: true }));
// The other install may have done it all.
if (installed()) process.exit(0);

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const fresh = !existsSync(new URL("node_modules/", root));
const r = spawnSync(
  npm,
  [fresh ? "ci" : "install", "--no-audit", "--no-fund", "--loglevel=error"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
if (r.status !== 0) {
  console.error(
    `npm ${fresh ? "ci" : "install"} failed (exit ${
      r.status ?? r.signal
    }), see npm's message above${
      fresh
        ? `; if it says package-lock.json does not match package.json, run "npm install" and commit package-lock.json`
        : ""
    }`,
  );
  process.exit(r.status ?? 1);
}
writeFileSync(stampFile, stamp);
