/**
 * The core stays portable: outside src/runtime/ (the entry points), no source file touches
 * Deno.*, Bun.*, process.* or node:* modules, and nothing in src/ generates code at run time
 * (Cloudflare Workers forbid `new Function` and `eval`).
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";

const root = new URL("../src/", import.meta.url);

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* walk(u);
    else if (/\.(ts|js|mjs)$/.test(e.name)) yield u;
  }
}

/** Source text without comments, so documentation may name what the code must not use. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

const PLATFORM =
  /(^|[^A-Za-z0-9_.$])(Deno|Bun|process)\s*\.|from\s+["']node:|import\(\s*["']node:|require\(/;
const CODEGEN = /new\s+Function\s*\(|(^|[^A-Za-z0-9_.$])eval\s*\(/;

Deno.test("core modules outside src/runtime use no platform APIs", async () => {
  const offenders: string[] = [];
  for await (const f of walk(root)) {
    const rel = f.pathname.slice(root.pathname.length);
    if (rel.startsWith("runtime/")) continue;
    const lines = code(await Deno.readTextFile(f)).split("\n");
    lines.forEach((l, i) => {
      if (PLATFORM.test(l)) offenders.push(`src/${rel}:${i + 1}: ${l.trim()}`);
    });
  }
  assertEquals(offenders, []);
});

Deno.test("no source file generates code at run time", async () => {
  const offenders: string[] = [];
  for await (const f of walk(root)) {
    const rel = f.pathname.slice(root.pathname.length);
    const lines = code(await Deno.readTextFile(f)).split("\n");
    lines.forEach((l, i) => {
      if (CODEGEN.test(l)) offenders.push(`src/${rel}:${i + 1}: ${l.trim()}`);
    });
  }
  assertEquals(offenders, []);
});

Deno.test("the purity check itself flags a platform call and a code generator", () => {
  for (
    const bad of [
      'Deno.readFile("x")',
      'import fs from "node:fs";',
      "process.env.X",
      "Bun.serve({})",
    ]
  ) {
    assertEquals(PLATFORM.test(code(bad)), true, bad);
  }
  assertEquals(PLATFORM.test(code("// Deno.readFile is not used here")), false);
  assertEquals(CODEGEN.test(code("const f = new Function('return 1')")), true);
  assertEquals(CODEGEN.test(code("x.evaluate(1)")), false);
});
