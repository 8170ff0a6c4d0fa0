/**
 * Azure Blob Storage names and connection strings, without the SDK: the configuration checks
 * them at start-up and the azure driver (./azure.ts) uses them, while bundles that never store
 * to Azure (the Worker) import only this file.
 *
 * A connection string is `Name=value` pairs separated by `;`, e.g.
 * `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=…;EndpointSuffix=core.windows.net`,
 * `BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=…`, or
 * `UseDevelopmentStorage=true` (Azurite on 127.0.0.1:10000).
 */

/** Azure's rule for storage account names. */
export const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
export const ACCOUNT_NAME_RULE = "3–24 lower-case letters and digits";

/** Azure's rule for container names (and the root container, `$root`). */
export const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$|^\$root$/;
export const CONTAINER_NAME_RULE =
  "3–63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit";

/** Azurite's account and blob endpoint, as `UseDevelopmentStorage=true` means them. */
export const DEVELOPMENT_ACCOUNT = "devstoreaccount1";
export const DEVELOPMENT_BLOB_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1";

/** `Name=value;Name=value` → lower-case names to values (empty parts are skipped). */
export function parseConnectionString(cs: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of cs.split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    out.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return out;
}

/** Whether every non-empty `;`-separated part of `cs` is `Name=value`. */
export function isConnectionStringShaped(cs: string): boolean {
  const parts = cs.split(";").map((p) => p.trim()).filter(Boolean);
  return parts.length > 0 && parts.every((p) => p.indexOf("=") > 0);
}

/** The account a connection string is for (`UseDevelopmentStorage=true` → Azurite's). */
export function connectionStringAccount(cs: string): string | undefined {
  const fields = parseConnectionString(cs);
  if (/^true$/i.test(fields.get("usedevelopmentstorage") ?? "")) return DEVELOPMENT_ACCOUNT;
  const name = fields.get("accountname");
  if (name) return name;
  // A SAS connection string may name only the endpoint: https://ACCOUNT.blob.… or, for an
  // emulator, http://HOST:PORT/ACCOUNT.
  const endpoint = fields.get("blobendpoint");
  if (endpoint) {
    try {
      const u = new URL(endpoint);
      const first = u.pathname.split("/").filter(Boolean)[0];
      if (first) return first;
      if (!/^\d+\.\d+\.\d+\.\d+$|^localhost$|^\[/.test(u.hostname)) {
        return u.hostname.split(".")[0];
      }
    } catch { /* not a URL: the SDK reports it */ }
  }
  return undefined;
}

/** The blob service URL a connection string points at (no trailing `/`). */
export function connectionStringEndpoint(cs: string): string | undefined {
  const fields = parseConnectionString(cs);
  const explicit = fields.get("blobendpoint");
  if (explicit) return explicit.replace(/\/+$/, "");
  if (/^true$/i.test(fields.get("usedevelopmentstorage") ?? "")) return DEVELOPMENT_BLOB_ENDPOINT;
  const account = connectionStringAccount(cs);
  if (!account) return undefined;
  const protocol = fields.get("defaultendpointsprotocol") || "https";
  const suffix = fields.get("endpointsuffix") || "core.windows.net";
  return `${protocol}://${account}.blob.${suffix}`;
}
