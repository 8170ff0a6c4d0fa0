// STUB: replaced by the decoders (owned by the decode work). Signatures are the contract.
import type { Signal } from "../tables.ts";
import { type DecodeOptions, type Decoded, DecodeError, type Format } from "./types.ts";

/** Decodes an Export{Logs,Trace,Metrics}ServiceRequest body. Throws `DecodeError`. */
export function decode(_signal: Signal, _body: Uint8Array, _format: Format, _opts: DecodeOptions): Decoded {
  throw new DecodeError("decoders not implemented yet");
}

/** The signal of a request body (for `convert`), or null when it cannot be told. */
export function detectSignal(_body: Uint8Array, _format: Format): Signal | null {
  return null;
}
