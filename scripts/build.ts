/**
 * Bundles the runtime entries with esbuild:
 *
 *   deno run -A scripts/build.ts worker   → dist/worker/index.js + parquet_wasm_bg.wasm
 *   deno run -A scripts/build.ts lambda   → dist/lambda/index.mjs + parquet_wasm_bg.wasm
 *   deno run -A scripts/build.ts node     → dist/node/main.mjs + encode-worker.mjs + parquet_wasm_bg.wasm
 *
 * The parquet-wasm binary is never inlined: it is copied next to the bundle, and the Worker
 * imports it as a module (`CompiledWasm`), as wrangler does.
 *
 * Bundles are minified; `BUILD_MINIFY=0` leaves them readable (a CPU profile of the Node bundle
 * then names our functions, e.g. under `deno task bench:http` with `BENCH_SERVER_FLAGS`).
 */
import * as esbuild from "esbuild";

const root = new URL("../", import.meta.url);
const wasmSrc = new URL("node_modules/parquet-wasm/esm/parquet_wasm_bg.wasm", root);

/** Rewrites the parquet-wasm `.wasm` import to a sibling file left external. */
const wasmSibling: esbuild.Plugin = {
  name: "wasm-sibling",
  setup(b) {
    b.onResolve({ filter: /\.wasm$/ }, () => ({ path: "./parquet_wasm_bg.wasm", external: true }));
  },
};

export type Target = "worker" | "lambda" | "node";

interface Spec {
  entry: string;
  out: string;
  options: esbuild.BuildOptions;
  /** More entries bundled next to `out` the same way (e.g. the encoder thread's module). */
  extra?: { entry: string; out: string }[];
}

export const targets: Record<Target, Spec> = {
  worker: {
    entry: "src/entry/worker.ts",
    out: "dist/worker/index.js",
    options: {
      platform: "browser",
      conditions: ["workerd", "worker", "browser", "import"],
      mainFields: ["browser", "module", "main"],
      // The S3 and Azure clients are never used on Workers (R2 goes through the binding).
      external: ["@aws-sdk/client-s3", "@azure/storage-blob", "@azure/identity"],
    },
  },
  lambda: {
    entry: "src/entry/lambda.ts",
    out: "dist/lambda/index.mjs",
    options: {
      platform: "node",
      target: "node20",
      banner: {
        // Some CommonJS dependencies call require(); give ESM output one.
        js:
          "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
    },
  },
  node: {
    entry: "src/entry/main.ts",
    out: "dist/node/main.mjs",
    extra: [
      { entry: "src/batch/encode-worker.node.ts", out: "dist/node/encode-worker.mjs" },
      { entry: "src/lifecycle/lifecycle-thread.node.ts", out: "dist/node/lifecycle-thread.mjs" },
    ],
    options: {
      platform: "node",
      target: "node20",
      banner: {
        js:
          "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
    },
  },
};

/** Bundles `target`; `outRoot` (a directory) replaces the repository root as output base. */
export async function build(
  target: Target,
  outRoot?: string,
): Promise<{ bundle: string; bytes: number }> {
  const t = targets[target];
  const base = outRoot ? new URL(`file://${outRoot.replace(/\/?$/, "/")}`) : root;
  const outfile = new URL(t.out, base).pathname;
  let bytes = 0;
  for (const e of [{ entry: t.entry, out: t.out }, ...(t.extra ?? [])]) {
    const result = await esbuild.build({
      entryPoints: [new URL(e.entry, root).pathname],
      outfile: new URL(e.out, base).pathname,
      bundle: true,
      format: "esm",
      minify: Deno.env.get("BUILD_MINIFY") !== "0",
      sourcemap: false,
      legalComments: "none",
      metafile: true,
      logLevel: "warning",
      plugins: [wasmSibling],
      ...t.options,
    });
    bytes += Object.values(result.metafile!.outputs).reduce((n, o) => n + o.bytes, 0);
  }
  const dir = outfile.slice(0, outfile.lastIndexOf("/") + 1);
  await Deno.copyFile(wasmSrc, dir + "parquet_wasm_bg.wasm");
  return { bundle: outfile, bytes };
}

if (import.meta.main) {
  const which = (Deno.args.length ? Deno.args : ["worker", "lambda", "node"]) as Target[];
  for (const w of which) {
    if (!(w in targets)) {
      console.error(`Unknown build target "${w}": expected worker, lambda or node`);
      Deno.exit(2);
    }
    const { bundle, bytes } = await build(w);
    console.log(`${w}: ${bundle} (${(bytes / 1024).toFixed(0)} KiB JS + parquet_wasm_bg.wasm)`);
  }
  await esbuild.stop();
}
