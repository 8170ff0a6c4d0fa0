/**
 * Bundles the runtime entries with esbuild:
 *
 *   deno run -A scripts/build.ts worker   → dist/worker/index.js + parquet-wasm.js + parquet_wasm_bg.wasm
 *   deno run -A scripts/build.ts lambda   → dist/lambda/index.mjs + parquet_wasm_bg.wasm
 *   deno run -A scripts/build.ts node     → dist/node/main.mjs + encode-worker.mjs + parquet_wasm_bg.wasm
 *   deno run -A scripts/build.ts lib      → dist/lib/: the npm package's library (see `buildLib`)
 *
 * The parquet-wasm binary is never inlined: it is copied next to the bundle, and the Worker
 * imports it as a module (`CompiledWasm`), as wrangler does, from a module of its own
 * (parquet-wasm.js, src/entry/worker-wasm.ts) that index.js imports only when parquet-wasm is
 * needed (zstd Parquet, compaction): ingestion with the native encoder never loads it.
 *
 * `worker --no-wasm` leaves parquet-wasm out (index.js alone, about 190 KiB gzip'd): a Worker that
 * writes snappy, gzip or uncompressed Parquet and does not compact needs nothing else; zstd,
 * lz4_raw, `parquet.encoder = "wasm"` and compaction are then refused with a message saying so.
 *
 * Bundles are minified; `BUILD_MINIFY=0` leaves them readable (a CPU profile of the Node bundle
 * then names our functions, e.g. under `deno task bench:http` with `BENCH_SERVER_FLAGS`).
 */
import * as esbuild from "esbuild";

const root = new URL("../", import.meta.url);
const wasmSrc = new URL("node_modules/parquet-wasm/esm/parquet_wasm_bg.wasm", root);

/** Rewrites the parquet-wasm `.wasm` import to a sibling file left external. */
export const wasmSibling: esbuild.Plugin = {
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
    extra: [{ entry: "src/entry/worker-wasm.ts", out: "dist/worker/parquet-wasm.js" }],
    options: {
      platform: "browser",
      conditions: ["workerd", "worker", "browser", "import"],
      mainFields: ["browser", "module", "main"],
      // The S3 and Azure clients are never used on Workers (R2 goes through the binding), nor
      // the AWS credential chain (SigV4 to an Iceberg catalog takes explicit keys there).
      external: [
        "@aws-sdk/client-s3",
        "@aws-sdk/credential-provider-node",
        "@azure/storage-blob",
        "@azure/identity",
      ],
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
  opts: { wasm?: boolean } = {},
): Promise<{ bundle: string; bytes: number }> {
  const t = targets[target];
  // A Worker without parquet-wasm (`--no-wasm`): index.js alone.
  const wasm = target !== "worker" || opts.wasm !== false;
  const base = outRoot ? new URL(`file://${outRoot.replace(/\/?$/, "/")}`) : root;
  const outfile = new URL(t.out, base).pathname;
  let bytes = 0;
  for (const e of [{ entry: t.entry, out: t.out }, ...(wasm ? t.extra ?? [] : [])]) {
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
      write: false,
    });
    for (const f of result.outputFiles!) await replaceFile(f.path, f.contents);
    bytes += Object.values(result.metafile!.outputs).reduce((n, o) => n + o.bytes, 0);
  }
  const dir = outfile.slice(0, outfile.lastIndexOf("/") + 1);
  if (wasm) await replaceFile(dir + "parquet_wasm_bg.wasm", await Deno.readFile(wasmSrc));
  else {
    for (const f of ["parquet-wasm.js", "parquet_wasm_bg.wasm"]) {
      await Deno.remove(dir + f).catch(() => {});
    }
  }
  return { bundle: outfile, bytes };
}

/**
 * Writes `path` by a rename, so a reader (a test's Miniflare loading the bundle while another
 * test file builds it again) sees the old file or the new one, never a half-written one.
 */
async function replaceFile(path: string, data: Uint8Array): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}

/**
 * The library of the npm package (package.json `exports`), for Node ESM and usable as it is from
 * Deno and Bun:
 *
 *   dist/lib/index.mjs, sdk.mjs         the entries (`otlp2parquet`, `otlp2parquet/sdk`)
 *   dist/lib/platform.node.mjs          the server runtimes' parts, loaded by index at run time
 *   dist/lib/encode-worker.mjs          the Parquet encoder thread
 *   dist/lib/*-HASH.mjs                 code they share (esbuild's splitting)
 *   dist/lib/types/**.d.ts              declarations (TypeScript's tsc, emitDeclarationOnly)
 *
 * npm packages stay imports (dependencies of the package; parquet-wasm's .wasm is read from
 * the installed parquet-wasm). Not minified: a library's stack traces should be readable.
 * `types: false` skips the declarations (tsc takes most of a minute). `out` (a folder under the
 * repository, ending in "/") builds elsewhere than dist/lib/, so that a test's build cannot
 * remove files another test is packing.
 */
export async function buildLib(
  opts: { types?: boolean; out?: string } = {},
): Promise<{ dir: string; bytes: number }> {
  const dir = new URL(opts.out ?? "dist/lib/", root).pathname;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const common: esbuild.BuildOptions = {
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    packages: "external",
    external: ["node:*"],
    sourcemap: false,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  };
  const main = await esbuild.build({
    ...common,
    entryPoints: {
      index: new URL("src/lib/index.ts", root).pathname,
      sdk: new URL("src/lib/sdk.ts", root).pathname,
      "platform.node": new URL("src/lib/platform.node.ts", root).pathname,
    },
    outdir: dir,
    splitting: true,
    // Shared chunks next to the entries: modules find siblings by URLs relative to themselves.
    chunkNames: "[name]-[hash]",
    outExtension: { ".js": ".mjs" },
  });
  const worker = await esbuild.build({
    ...common,
    entryPoints: [new URL("src/batch/encode-worker.node.ts", root).pathname],
    outfile: dir + "encode-worker.mjs",
  });
  let bytes = 0;
  for (const r of [main, worker]) {
    bytes += Object.values(r.metafile!.outputs).reduce((n, o) => n + o.bytes, 0);
  }
  if (opts.types !== false) await declarations(dir + "types/");
  return { dir, bytes };
}

/** The library's .d.ts files under `out`, their relative imports ending in .js. */
async function declarations(out: string): Promise<void> {
  // Ambient names tsc does not know here: Deno's global (in platform files only, and never in a
  // public signature) and lz4js, which ships no types (imported lazily, untyped).
  const ambient = await Deno.makeTempFile({ suffix: ".d.ts" });
  await Deno.writeTextFile(ambient, 'declare const Deno: any;\ndeclare module "lz4js";\n');
  try {
    const tsc = new URL("node_modules/typescript/bin/tsc", root).pathname;
    const r = await new Deno.Command("node", {
      args: [
        tsc,
        "--declaration",
        "--emitDeclarationOnly",
        "--allowImportingTsExtensions",
        "--outDir",
        out,
        "--rootDir",
        new URL("src/", root).pathname,
        "--module",
        "esnext",
        "--moduleResolution",
        "bundler",
        "--target",
        "es2022",
        "--lib",
        "es2023,dom",
        "--types",
        "node",
        "--strict",
        "--skipLibCheck",
        ...["src/lib/index.ts", "src/lib/sdk.ts"].map((f) => new URL(f, root).pathname),
        ambient,
      ],
      cwd: root.pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
      throw new Error(`tsc could not write the library's declarations:\n${text}`);
    }
  } finally {
    await Deno.remove(ambient);
  }
  for await (const f of walkFiles(out)) {
    if (!f.endsWith(".d.ts")) continue;
    const text = await Deno.readTextFile(f);
    const fixed = text.replace(
      /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g,
      "$1$2.js$3",
    );
    if (fixed !== text) await Deno.writeTextFile(f, fixed);
  }
}

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}${e.name}`;
    if (e.isDirectory) yield* walkFiles(p + "/");
    else yield p;
  }
}

if (import.meta.main) {
  const noWasm = Deno.args.includes("--no-wasm");
  const names = Deno.args.filter((a) => a !== "--no-wasm");
  const which = (names.length ? names : ["worker", "lambda", "node"]) as (Target | "lib")[];
  for (const w of which) {
    if (w === "lib") {
      const { dir, bytes } = await buildLib();
      console.log(`lib: ${dir} (${(bytes / 1024).toFixed(0)} KiB JS + .d.ts)`);
      continue;
    }
    if (!(w in targets)) {
      console.error(`Unknown build target "${w}": expected worker, lambda, node or lib`);
      Deno.exit(2);
    }
    const { bundle, bytes } = await build(w, undefined, { wasm: !noWasm });
    console.log(
      `${w}: ${bundle} (${(bytes / 1024).toFixed(0)} KiB JS${
        noWasm && w === "worker" ? ", no parquet-wasm" : " + parquet_wasm_bg.wasm"
      })`,
    );
  }
  await esbuild.stop();
}
