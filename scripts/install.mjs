// The npm dependencies of package.json, installed once: from the committed lock file when
// node_modules does not match it yet, nothing at all when it does (every `deno task` that needs
// packages runs this first, so it must cost next to nothing when there is nothing to do). A
// fresh checkout gets `npm ci`; an existing node_modules is brought up to date in place with
// `npm install` (never wiped: other processes, tests among them, may be using it). The stamp is
// the SHA-256 of package.json and package-lock.json, kept in node_modules.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

const root = new URL("../", import.meta.url);
const stampFile = new URL("node_modules/.otlp2parquet-install", root);
const hash = createHash("sha256");
for (const f of ["package.json", "package-lock.json"]) hash.update(readFileSync(new URL(f, root)));
const stamp = hash.digest("hex");

if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) process.exit(0);

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
    `npm ci failed (exit ${
      r.status ?? r.signal
    }): package-lock.json must match package.json; after changing dependencies run "npm install" and commit package-lock.json`,
  );
  process.exit(r.status ?? 1);
}
writeFileSync(stampFile, stamp);
