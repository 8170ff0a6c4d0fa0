/**
 * Optional client authentication for the export endpoints: a bearer token
 * (`Authorization: Bearer <token>`) and/or HTTP basic credentials (`auth.basic_username`,
 * `auth.basic_password`). When both are configured either one is accepted.
 *
 * Secrets are compared in constant time: SHA-256 digests of the presented and the expected
 * bytes are compared with an XOR loop over all 32 bytes, so neither the position of the first
 * difference nor the length of the secret shows in the timing.
 */
import type { Config } from "../config/types.ts";

export const REALM = "otlp2parquet";

export type AuthResult = { ok: true } | { ok: false; message: string };

export interface Authenticator {
  /** False when no credentials are configured (every request passes). */
  readonly enabled: boolean;
  /** `WWW-Authenticate` challenges to send with a 401. */
  readonly challenges: string[];
  check(authorization: string | null): Promise<AuthResult>;
}

const encoder = new TextEncoder();

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

/** Constant-time equality of two 32-byte digests. */
function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Bytes of a base64 string, or null when it is not valid base64. */
function base64Bytes(s: string): Uint8Array | null {
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

export function createAuthenticator(auth: Config["auth"]): Authenticator {
  const bearer = auth.bearer_token;
  const basic = auth.basic_username !== "" || auth.basic_password !== "";
  const challenges: string[] = [];
  if (bearer) challenges.push(`Bearer realm="${REALM}"`);
  if (basic) challenges.push(`Basic realm="${REALM}", charset="UTF-8"`);
  const enabled = challenges.length > 0;
  // Digests of the expected secrets, computed once on first use.
  let expected: Promise<{ bearer?: Uint8Array; basic?: Uint8Array }> | undefined;
  const digests = () =>
    expected ??= (async () => ({
      bearer: bearer ? await sha256(encoder.encode(bearer)) : undefined,
      basic: basic
        ? await sha256(encoder.encode(`${auth.basic_username}:${auth.basic_password}`))
        : undefined,
    }))();

  const schemes = [bearer ? "Bearer" : "", basic ? "Basic" : ""].filter(Boolean).join(" or ");

  return {
    enabled,
    challenges,
    async check(header: string | null): Promise<AuthResult> {
      if (!enabled) return { ok: true };
      if (!header || !header.trim()) {
        return {
          ok: false,
          message: `Missing credentials: send an Authorization header (${schemes})`,
        };
      }
      const m = /^\s*(\S+)\s+(.*?)\s*$/.exec(header);
      const scheme = m?.[1].toLowerCase() ?? "";
      const value = m?.[2] ?? "";
      const want = await digests();
      if (scheme === "bearer" && want.bearer) {
        if (sameDigest(await sha256(encoder.encode(value)), want.bearer)) return { ok: true };
        return { ok: false, message: "Invalid credentials: the bearer token is not accepted" };
      }
      if (scheme === "basic" && want.basic) {
        const creds = base64Bytes(value);
        if (creds && sameDigest(await sha256(creds), want.basic)) return { ok: true };
        return {
          ok: false,
          message: "Invalid credentials: the basic username or password is not accepted",
        };
      }
      if (!m) {
        return {
          ok: false,
          message:
            `Invalid credentials: the Authorization header is not "<scheme> <credentials>" (use ${schemes})`,
        };
      }
      return {
        ok: false,
        message: `Invalid credentials: Authorization scheme ${
          JSON.stringify(m[1])
        } is not accepted (use ${schemes})`,
      };
    },
  };
}
