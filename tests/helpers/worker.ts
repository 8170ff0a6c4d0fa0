/**
 * The Worker bundle under Miniflare (workerd), for the tests of the Worker entry:
 *
 *   const { bundle } = await build("worker");
 *   const mf = new Miniflare({ ...workerModules(bundle), r2Buckets: ["BUCKET"], cf: false });
 *   const bucket = (await mf.getR2Bucket("BUCKET")) as unknown as R2Objects;
 *   await r2Keys(bucket, "otel/logs/");
 */

/** What the tests use of a Miniflare R2 bucket. */
export interface R2Objects {
  put?(key: string, value: Uint8Array): Promise<unknown>;
  list(o?: { prefix?: string; cursor?: string }): Promise<
    { objects: { key: string }[]; truncated: boolean; cursor?: string }
  >;
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
}

/**
 * Miniflare options for the bundle built by scripts/build.ts (dist/worker/): the script, the
 * module it imports when it needs parquet-wasm, and parquet-wasm's binary as a CompiledWasm
 * module (as wrangler uploads them).
 */
export function workerModules(bundle: string) {
  const dir = bundle.slice(0, bundle.lastIndexOf("/"));
  return {
    modules: [
      { type: "ESModule" as const, path: bundle },
      { type: "ESModule" as const, path: `${dir}/parquet-wasm.js` },
      { type: "CompiledWasm" as const, path: `${dir}/parquet_wasm_bg.wasm` },
    ],
    modulesRoot: dir,
    compatibilityDate: "2025-09-01",
  };
}

/** Every key under `prefix` of an R2 bucket (all pages), sorted. */
export async function r2Keys(bucket: R2Objects, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.sort();
}
