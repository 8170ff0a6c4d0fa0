/**
 * For tests/lib/bundle.test.ts: a Cloudflare Worker that uses the library without parquet-wasm
 * (docs/library.md: the native encoder writes snappy, gzip and none on Workers). POST
 * /logs?compression=C stores the OTLP/JSON body with `parquet.compression = C` (default: the
 * Workers default, snappy) and answers the result, or 500 with createWriter's error.
 */
import { createWriter } from "../../src/lib/index.ts";

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    const compression = new URL(request.url).searchParams.get("compression");
    try {
      const writer = await createWriter({
        bindings: env,
        ...(compression ? { parquet: { compression: compression as "snappy" } } : {}),
        log: false,
      });
      const result = await writer.exportLogs(await request.json());
      await writer.close();
      return Response.json({ result, compression: writer.config.parquet.compression });
    } catch (e) {
      return Response.json({ error: `${(e as Error).name}: ${(e as Error).message}` }, {
        status: 500,
      });
    }
  },
};
