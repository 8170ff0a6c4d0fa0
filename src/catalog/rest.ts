/**
 * An Iceberg REST catalog client for the calls the commits use, from the Iceberg REST OpenAPI
 * spec (open-api/rest-catalog-open-api.yaml):
 *
 *   GET  /v1/config?warehouse=W                         → { defaults, overrides } (prefix)
 *   POST /v1/oauth/tokens (or oauth2_server_uri)        → { access_token, expires_in }
 *   GET  /v1/{prefix}/namespaces/{ns}                   → 200, 404 NoSuchNamespace
 *   POST /v1/{prefix}/namespaces                        → 200, 409 AlreadyExists
 *   GET  /v1/{prefix}/namespaces/{ns}/tables/{t}        → LoadTableResult, 404 NoSuchTable
 *   POST /v1/{prefix}/namespaces/{ns}/tables            → LoadTableResult, 409 AlreadyExists
 *   POST /v1/{prefix}/namespaces/{ns}/tables/{t}        CommitTableRequest → CommitTableResponse;
 *        409 CommitFailed (a requirement failed), 500/502/504 and 5XX CommitStateUnknown
 *
 * Errors are `{ error: { message, type, code } }`. Authentication: a bearer token (R2 Data
 * Catalog, Nessie), OAuth2 client credentials (Polaris, Lakekeeper: the token is fetched and
 * renewed before it expires), or AWS SigV4 (S3 Tables: signing name `s3tables`; Glue: `glue`),
 * signed with @smithy/signature-v4, loaded on first use like the S3 client.
 */

export interface TableMetadata {
  "format-version": number;
  "table-uuid": string;
  location: string;
  "last-sequence-number"?: number;
  "last-updated-ms": number;
  "last-column-id": number;
  "current-schema-id"?: number;
  schemas?: unknown[];
  "default-spec-id"?: number;
  "partition-specs"?: unknown[];
  properties?: Record<string, string>;
  "current-snapshot-id"?: number | null;
  snapshots?: Snapshot[];
  refs?: Record<string, { "snapshot-id": number; type: string }>;
  "next-row-id"?: number;
  [k: string]: unknown;
}

/**
 * A snapshot as the metadata JSON holds it. Snapshot ids are 64-bit: the JSON is parsed so that
 * integers past 2^53 stay exact (`parseJson`), ids are `bigint`s where they matter.
 */
export interface Snapshot {
  "snapshot-id": bigint | number;
  "parent-snapshot-id"?: bigint | number | null;
  "sequence-number"?: number;
  "timestamp-ms": number;
  "manifest-list"?: string;
  summary: Record<string, string>;
  "schema-id"?: number;
  "first-row-id"?: number;
  "added-rows"?: number;
}

export interface LoadTableResult {
  "metadata-location"?: string;
  metadata: TableMetadata;
  config?: Record<string, string>;
}

export type Auth =
  | { kind: "none" }
  | { kind: "bearer"; token: string }
  | { kind: "oauth2"; serverUri: string; clientId: string; clientSecret: string; scope: string }
  | {
    kind: "sigv4";
    region: string;
    service: string;
    /** Explicit keys; absent: the AWS default credential chain (servers and Lambda). */
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };

export interface RestCatalogOptions {
  uri: string;
  warehouse: string;
  auth: Auth;
  /** Per request. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** A failed catalog call. `status` 0: no answer (network failure or timeout). */
export class CatalogError extends Error {
  override name = "CatalogError";
  constructor(
    message: string,
    readonly status: number,
    readonly type = "",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Whether the catalog may answer otherwise later (5xx, 429, no answer). */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** What a commit came to: the spec's outcomes as values. */
export type CommitOutcome =
  | { kind: "committed"; result: LoadTableResult }
  | { kind: "conflict"; message: string }
  | { kind: "unknown"; message: string }
  | { kind: "failed"; message: string; status: number };

export interface TableRequirement {
  type: string;
  [k: string]: unknown;
}
export interface TableUpdate {
  action: string;
  [k: string]: unknown;
}

export class RestCatalog {
  private prefix = "";
  private configured: Promise<void> | undefined;
  private token: { value: string; expiresAt: number } | undefined;
  private signer: Promise<(req: SignInput) => Promise<Record<string, string>>> | undefined;
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(readonly opts: RestCatalogOptions) {
    this.base = opts.uri.replace(/\/+$/, "");
    this.fetch = opts.fetch ?? ((i, init) => fetch(i, init));
  }

  /** `GET /v1/config`: the prefix and defaults the catalog asks for (once, retried on failure). */
  config(): Promise<void> {
    this.configured ??= (async () => {
      const q = this.opts.warehouse ? `?warehouse=${encodeURIComponent(this.opts.warehouse)}` : "";
      const r = await this.call("GET", `/v1/config${q}`) as {
        defaults?: Record<string, string>;
        overrides?: Record<string, string>;
      };
      const prefix = r.overrides?.prefix ?? r.defaults?.prefix ?? "";
      this.prefix = prefix ? `/${prefix.replace(/^\/+|\/+$/g, "")}` : "";
    })().catch((e) => {
      this.configured = undefined;
      throw e;
    });
    return this.configured;
  }

  /** Creates the namespace unless it exists. */
  async ensureNamespace(ns: string[]): Promise<void> {
    await this.config();
    try {
      await this.call("GET", this.path(`namespaces/${nsPath(ns)}`));
      return;
    } catch (e) {
      if (!(e instanceof CatalogError && e.status === 404)) throw e;
    }
    try {
      await this.call("POST", this.path("namespaces"), { namespace: ns, properties: {} });
    } catch (e) {
      if (!(e instanceof CatalogError && e.status === 409)) throw e; // created meanwhile
    }
  }

  /** The table, or `null` when the catalog has none of that name. */
  async loadTable(ns: string[], table: string): Promise<LoadTableResult | null> {
    await this.config();
    try {
      return await this.call(
        "GET",
        this.path(`namespaces/${nsPath(ns)}/tables/${enc(table)}`),
      ) as LoadTableResult;
    } catch (e) {
      if (e instanceof CatalogError && e.status === 404) return null;
      throw e;
    }
  }

  /** Creates a table (`body` is a CreateTableRequest); on 409 (made meanwhile) loads it. */
  async createTable(ns: string[], body: Record<string, unknown>): Promise<LoadTableResult> {
    await this.config();
    try {
      return await this.call(
        "POST",
        this.path(`namespaces/${nsPath(ns)}/tables`),
        body,
      ) as LoadTableResult;
    } catch (e) {
      if (e instanceof CatalogError && e.status === 409) {
        const t = await this.loadTable(ns, body.name as string);
        if (t) return t;
      }
      throw e;
    }
  }

  /** Commits `updates` under `requirements` to a table. Never throws: the outcome says. */
  async commitTable(
    ns: string[],
    table: string,
    requirements: TableRequirement[],
    updates: TableUpdate[],
  ): Promise<CommitOutcome> {
    try {
      await this.config();
    } catch (e) {
      return { kind: "failed", status: (e as CatalogError).status ?? 0, message: msg(e) };
    }
    const body = { identifier: { namespace: ns, name: table }, requirements, updates };
    try {
      const result = await this.call(
        "POST",
        this.path(`namespaces/${nsPath(ns)}/tables/${enc(table)}`),
        body,
      ) as LoadTableResult;
      return { kind: "committed", result };
    } catch (e) {
      if (!(e instanceof CatalogError)) return { kind: "unknown", message: msg(e) };
      if (e.status === 409) return { kind: "conflict", message: e.message };
      // No answer, or a server error: the catalog may have applied the commit.
      if (e.status === 0 || e.status >= 500) return { kind: "unknown", message: e.message };
      return { kind: "failed", status: e.status, message: e.message };
    }
  }

  private path(rest: string): string {
    return `/v1${this.prefix}/${rest}`;
  }

  /** One request with auth and timeout; the parsed JSON answer, or `CatalogError`. */
  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = this.base + path;
    const text = body === undefined ? undefined : stringifyJson(body);
    const headers: Record<string, string> = { accept: "application/json" };
    if (text !== undefined) headers["content-type"] = "application/json";
    await this.authorize(method, url, headers, text);
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.opts.timeoutMs);
    let res: Response;
    try {
      res = await this.fetch(url, { method, headers, body: text, signal: ctl.signal });
    } catch (e) {
      clearTimeout(timer);
      const why = ctl.signal.aborted ? `no answer within ${this.opts.timeoutMs} ms` : msg(e);
      throw new CatalogError(`Iceberg catalog ${method} ${path}: ${why}`, 0, "", { cause: e });
    }
    let raw: string;
    try {
      raw = await res.text();
    } catch (e) {
      throw new CatalogError(`Iceberg catalog ${method} ${path}: answer cut off: ${msg(e)}`, 0);
    } finally {
      clearTimeout(timer);
    }
    if (res.status === 401 && this.opts.auth.kind === "oauth2") this.token = undefined;
    if (!res.ok) {
      let type = "", message = raw.slice(0, 300);
      try {
        const err = (JSON.parse(raw) as { error?: { message?: string; type?: string } }).error;
        if (err) type = err.type ?? "", message = err.message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new CatalogError(
        `Iceberg catalog ${method} ${path} answered ${res.status}${
          type ? ` ${type}` : ""
        }: ${message}`,
        res.status,
        type,
      );
    }
    if (raw.trim() === "") return {};
    try {
      return parseJson(raw);
    } catch (e) {
      throw new CatalogError(
        `Iceberg catalog ${method} ${path}: the answer is not JSON: ${msg(e)}`,
        res.status,
      );
    }
  }

  private async authorize(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<void> {
    const a = this.opts.auth;
    switch (a.kind) {
      case "none":
        return;
      case "bearer":
        headers.authorization = `Bearer ${a.token}`;
        return;
      case "oauth2":
        headers.authorization = `Bearer ${await this.oauthToken(a)}`;
        return;
      case "sigv4": {
        this.signer ??= sigv4Signer(a).catch((e) => {
          this.signer = undefined;
          throw e;
        });
        Object.assign(headers, await (await this.signer)({ method, url, headers, body }));
        return;
      }
    }
  }

  /** OAuth2 client credentials (RFC 6749 §4.4), renewed a minute before it expires. */
  private async oauthToken(a: Extract<Auth, { kind: "oauth2" }>): Promise<string> {
    if (this.token && Date.now() < this.token.expiresAt) return this.token.value;
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: a.clientId,
      client_secret: a.clientSecret,
    });
    if (a.scope) form.set("scope", a.scope);
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.opts.timeoutMs);
    let res: Response, raw: string;
    try {
      res = await this.fetch(a.serverUri, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: form.toString(),
        signal: ctl.signal,
      });
      raw = await res.text();
    } catch (e) {
      throw new CatalogError(
        `Iceberg catalog OAuth2 token request to ${a.serverUri}: ${msg(e)}`,
        0,
      );
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok) {
      throw new CatalogError(
        `Iceberg catalog OAuth2 token request to ${a.serverUri} answered ${res.status}: ${
          raw.slice(0, 300)
        }`,
        res.status,
      );
    }
    const t = JSON.parse(raw) as { access_token?: string; expires_in?: number };
    if (!t.access_token) {
      throw new CatalogError(`Iceberg catalog OAuth2 token answer has no access_token`, res.status);
    }
    const life = (t.expires_in ?? 3600) * 1000;
    this.token = { value: t.access_token, expiresAt: Date.now() + Math.max(0, life - 60_000) };
    return t.access_token;
  }
}

interface SignInput {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A SigV4 signer of requests, from @smithy/signature-v4 (loaded here, on first use). */
async function sigv4Signer(
  a: Extract<Auth, { kind: "sigv4" }>,
): Promise<(req: SignInput) => Promise<Record<string, string>>> {
  const { SignatureV4 } = await import("@smithy/signature-v4");
  let credentials: SignerCredentials = a.credentials;
  if (!credentials) {
    const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
    credentials = defaultProvider();
  }
  const signer = new SignatureV4({
    service: a.service,
    region: a.region,
    credentials: credentials!,
    sha256: WebSha256,
  });
  return async ({ method, url, headers, body }) => {
    const u = new URL(url);
    const query: Record<string, string> = {};
    u.searchParams.forEach((v, k) => (query[k] = v));
    const signed = await signer.sign({
      method,
      protocol: u.protocol,
      hostname: u.hostname,
      port: u.port ? Number(u.port) : undefined,
      path: u.pathname,
      query,
      headers: { ...headers, host: u.host },
      body,
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers)) if (k !== "host") out[k] = String(v);
    return out;
  };
}

type SignerCredentials =
  | { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>)
  | undefined;

/** SHA-256 and HMAC-SHA-256 over Web Crypto (the signer's `sha256`; runs on Workers too). */
class WebSha256 {
  private parts: Uint8Array[] = [];
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {}
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.parts.push(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    let n = 0;
    for (const p of this.parts) n += p.length;
    const all = new Uint8Array(n);
    n = 0;
    for (const p of this.parts) all.set(p, n), n += p.length;
    if (this.secret === undefined) {
      return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
    }
    const key = await crypto.subtle.importKey(
      "raw",
      toBytes(this.secret) as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(await crypto.subtle.sign("HMAC", key, all));
  }
  reset(): void {
    this.parts = [];
  }
}

function toBytes(d: string | ArrayBuffer | ArrayBufferView): Uint8Array<ArrayBuffer> {
  if (typeof d === "string") return new TextEncoder().encode(d);
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  return new Uint8Array(d.buffer as ArrayBuffer, d.byteOffset, d.byteLength).slice();
}

/** A namespace in a path: levels joined by the unit separator (0x1F), URL-encoded. */
function nsPath(ns: string[]): string {
  return encodeURIComponent(ns.join("\u001f"));
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * JSON with exact 64-bit integers: integers past 2^53 (snapshot ids) come back as `bigint`.
 * (`JSON.parse` would round them.) Their digits are wrapped in a marker first, outside strings.
 */
export function parseJson(text: string): unknown {
  let out = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "-" || (c >= "0" && c <= "9")) {
      let j = i + 1;
      while (j < n && /[0-9eE.+-]/.test(text[j])) j++;
      const num = text.slice(i, j);
      out += /^-?\d{16,}$/.test(num) && !Number.isSafeInteger(Number(num))
        ? `"\\u0000big:${num}"`
        : num;
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return JSON.parse(
    out,
    (_k, v) => typeof v === "string" && v.startsWith("\u0000big:") ? BigInt(v.slice(5)) : v,
  );
}

/** JSON of `v`, `bigint`s written as exact integers. */
export function stringifyJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `\u0000big:${x}` : x))
    .replace(/"\\u0000big:(-?\d+)"/g, "$1");
}
