/**
 * The core stays portable. Platform code (Deno.*, Bun.*, process.*, node:* modules) lives only in
 * files named `*.node.ts` and in src/entry/ (the entry points); every other source file runs
 * unchanged on Cloudflare Workers. A portable file never imports a `*.node.ts` file statically
 * (a lazy `import()` is fine: it only runs where the platform has it). And nothing in src/
 * generates code at run time (Workers forbid `new Function` and `eval`).
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

/** Whether a file under src/ may use platform APIs. */
function isPlatformFile(rel: string): boolean {
  return rel.startsWith("entry/") || rel.endsWith(".node.ts");
}

/** A static import of a `*.node.ts` file (type-only imports are erased, so they do not count). */
const STATIC_NODE_IMPORT =
  /^\s*(import|export)(?!\s+type\b)\b[^;]*?\bfrom\s+["'][^"']*\.node\.ts["']/m;

Deno.test("only *.node.ts files and src/entry/ use platform APIs", async () => {
  const offenders: string[] = [];
  for await (const f of walk(root)) {
    const rel = f.pathname.slice(root.pathname.length);
    if (isPlatformFile(rel)) continue;
    const lines = code(await Deno.readTextFile(f)).split("\n");
    lines.forEach((l, i) => {
      if (PLATFORM.test(l)) offenders.push(`src/${rel}:${i + 1}: ${l.trim()}`);
    });
  }
  assertEquals(offenders, []);
});

Deno.test("portable files import *.node.ts files only lazily", async () => {
  const offenders: string[] = [];
  for await (const f of walk(root)) {
    const rel = f.pathname.slice(root.pathname.length);
    if (isPlatformFile(rel)) continue;
    const text = code(await Deno.readTextFile(f));
    for (const stmt of text.split(";")) {
      if (STATIC_NODE_IMPORT.test(stmt)) offenders.push(`src/${rel}: ${stmt.trim()}`);
    }
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
  assertEquals(isPlatformFile("storage/fs.node.ts"), true);
  assertEquals(isPlatformFile("entry/main.ts"), true);
  assertEquals(isPlatformFile("storage/s3.ts"), false);
  assertEquals(STATIC_NODE_IMPORT.test('import { x } from "./fs.node.ts"'), true);
  assertEquals(STATIC_NODE_IMPORT.test('import type { X } from "../a/b.node.ts"'), false);
  assertEquals(STATIC_NODE_IMPORT.test('const { x } = await import("./fs.node.ts")'), false);
  assertEquals(CODEGEN.test(code("const f = new Function('return 1')")), true);
  assertEquals(CODEGEN.test(code("x.evaluate(1)")), false);
});
