/**
 * scripts/install.mjs, the step every `deno task` runs first: two started at once install one
 * after the other (one npm run, both succeed), a lock left by a killed install is taken over,
 * and a failed npm says which command failed. The script runs under Node as the tasks run it,
 * from a copy next to copies of package.json and package-lock.json; `npm` is a stand-in script
 * on PATH that notes each run, because these checks are about the script's own steps, and a
 * real `npm ci` (half a minute, the registry) would only add time.
 */
import { ok, strictEqual } from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

async function fixture(npmBody: string): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "otlp2parquet-install-" });
  await Deno.mkdir(`${dir}/scripts`);
  await Deno.mkdir(`${dir}/bin`);
  await Deno.copyFile(new URL("scripts/install.mjs", ROOT), `${dir}/scripts/install.mjs`);
  for (const f of ["package.json", "package-lock.json"]) {
    await Deno.copyFile(new URL(f, ROOT), `${dir}/${f}`);
  }
  await Deno.writeTextFile(`${dir}/bin/npm`, `#!/bin/sh\n${npmBody}\n`, { mode: 0o755 });
  return {
    dir,
    env: { PATH: `${dir}/bin:${Deno.env.get("PATH")}`, NPM_LOG: `${dir}/npm.log` },
  };
}

function install(dir: string, env: Record<string, string>) {
  return new Deno.Command("node", {
    args: [`${dir}/scripts/install.mjs`],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/** The stand-in npm: notes its run and arguments, takes a while, makes node_modules. */
const SLOW_NPM = `echo "$*" >> "$NPM_LOG"\nsleep 1\nmkdir -p node_modules`;

Deno.test("two installs started at once: one npm run, both succeed, no lock left", async () => {
  const { dir, env } = await fixture(SLOW_NPM);
  try {
    const [a, b] = await Promise.all([install(dir, env), install(dir, env)]);
    strictEqual(a.code, 0, new TextDecoder().decode(a.stderr));
    strictEqual(b.code, 0, new TextDecoder().decode(b.stderr));
    const runs = (await Deno.readTextFile(`${dir}/npm.log`)).trim().split("\n");
    strictEqual(runs.length, 1, runs.join("\n"));
    ok(runs[0].startsWith("ci "), runs[0]);
    const waited = [a, b].map((o) => new TextDecoder().decode(o.stderr))
      .filter((e) => e.includes("waiting for another install of the npm dependencies"));
    strictEqual(waited.length, 1);
    ok(!(await exists(`${dir}/.install.lock`)), "the lock is removed");
    // Up to date now: nothing runs.
    strictEqual((await install(dir, env)).code, 0);
    strictEqual((await Deno.readTextFile(`${dir}/npm.log`)).trim().split("\n").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock left by a killed install, or a very old one, is taken over", async () => {
  const { dir, env } = await fixture(SLOW_NPM);
  try {
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    await Deno.writeTextFile(`${dir}/.install.lock`, String(gone.pid));
    const o = await install(dir, env);
    strictEqual(o.code, 0, new TextDecoder().decode(o.stderr));
    strictEqual((await Deno.readTextFile(`${dir}/npm.log`)).trim().split("\n").length, 1);
    ok(!(await exists(`${dir}/.install.lock`)));
    // A lock of a live process, but 20 minutes old (its id someone else's by now): taken over.
    await Deno.remove(`${dir}/node_modules`, { recursive: true });
    await Deno.writeTextFile(`${dir}/.install.lock`, String(Deno.pid));
    const old = new Date(Date.now() - 20 * 60_000);
    await Deno.utime(`${dir}/.install.lock`, old, old);
    const o2 = await install(dir, env);
    strictEqual(o2.code, 0, new TextDecoder().decode(o2.stderr));
    strictEqual((await Deno.readTextFile(`${dir}/npm.log`)).trim().split("\n").length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed npm is named, with its exit code; the lock is removed", async () => {
  const { dir, env } = await fixture(`echo "$*" >> "$NPM_LOG"\nexit 3`);
  try {
    const o = await install(dir, env);
    strictEqual(o.code, 3);
    const err = new TextDecoder().decode(o.stderr);
    ok(err.includes("npm ci failed (exit 3), see npm's message above"), err);
    ok(err.includes("package-lock.json does not match package.json"), err);
    ok(!(await exists(`${dir}/.install.lock`)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
