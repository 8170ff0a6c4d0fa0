/**
 * The Worker bundle never carries the Azure SDK (the Worker stores through its R2 binding
 * only): built with the Worker target's own esbuild settings, none of its inputs is an
 * `@azure/*` package or the azure driver, and the packages are external in case an import ever
 * reaches them. The bundle's size budget is checked by the Worker's own test.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import * as esbuild from "esbuild";
import { targets } from "../../scripts/build.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("the Worker bundle has no Azure SDK and no azure driver in it", async () => {
  const t = targets.worker;
  try {
    const result = await esbuild.build({
      ...t.options,
      entryPoints: [`${root}${t.entry}`],
      bundle: true,
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "error",
      plugins: [{
        name: "wasm-external",
        setup(b) {
          b.onResolve({ filter: /\.wasm$/ }, () => ({ path: "x.wasm", external: true }));
        },
      }],
    });
    const inputs = Object.keys(result.metafile!.inputs);
    ok(inputs.some((p) => p.includes("src/entry/worker.ts")), "the Worker entry was bundled");
    deepStrictEqual(inputs.filter((p) => /node_modules\/@azure\//.test(p)), []);
    deepStrictEqual(inputs.filter((p) => /src\/storage\/(azure|gcs)\.ts$/.test(p)), []);
    for (const pkg of ["@azure/storage-blob", "@azure/identity", "@aws-sdk/client-s3"]) {
      ok(t.options.external?.includes(pkg), `${pkg} is external to the Worker`);
    }
  } finally {
    await esbuild.stop();
  }
});
