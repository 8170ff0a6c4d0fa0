/**
 * Debian's Apache Avro library (python3-avro) as an independent reader of Avro files: runs
 * tests/helpers/avro-read.py under Debian's own Python (/usr/bin/python3: another python3 may
 * come first on PATH). CI installs the package (.ci/run).
 */
export interface AvroRead {
  path: string;
  schema: Record<string, unknown>;
  metadata: Record<string, string>;
  records: Record<string, unknown>[];
}

export const DEBIAN_PYTHON = "/usr/bin/python3";

/** Whether python3-avro can be imported (tests skip with a message when not, outside CI). */
export async function hasPythonAvro(): Promise<boolean> {
  try {
    const r = await new Deno.Command(DEBIAN_PYTHON, { args: ["-c", "import avro.datafile"] })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

/** Reads `paths` (local files) with python3-avro. */
export async function readAvroFiles(paths: string[]): Promise<AvroRead[]> {
  const script = new URL("./avro-read.py", import.meta.url).pathname;
  const r = await new Deno.Command(DEBIAN_PYTHON, { args: [script, ...paths] }).output();
  if (!r.success) {
    throw new Error(
      `python3-avro could not read ${paths.join(", ")}: ${new TextDecoder().decode(r.stderr)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

/** `{"$bytes": b64}` → bytes, `{"$long": s}` → bigint, numbers → bigint where asked. */
export function bytesOf(v: unknown): Uint8Array {
  const s = atob((v as { $bytes: string }).$bytes);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export function longOf(v: unknown): bigint {
  if (typeof v === "number") return BigInt(v);
  return BigInt((v as { $long: string }).$long);
}
