/**
 * The gzip thread (started by `createThreadedGzip` in ./zlib.node.ts): compresses forwarded
 * bodies (../forward/send.ts) with node:zlib at level 1, off the server's event loop.
 *
 * Message in:   { id, data }
 * Message out:  { id, bytes } | { id, error }
 */
import { constants, gzipSync } from "node:zlib";
import { threadPort } from "../threads/thread.node.ts";

export type ToGzip = { id: number; data: Uint8Array };
export type FromGzip = { id: number; bytes?: Uint8Array; error?: string };

const port = await threadPort<ToGzip, FromGzip>();
port.listen((m) => {
  try {
    const out = gzipSync(m.data, { level: constants.Z_BEST_SPEED });
    // A Buffer may be a view into a bigger (pooled) allocation: send only its own bytes.
    const whole = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength;
    const bytes = whole ? new Uint8Array(out.buffer, 0, out.byteLength) : new Uint8Array(out);
    port.post({ id: m.id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (e) {
    port.post({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
