/**
 * An Iceberg REST catalog for the tests, written from the Iceberg REST OpenAPI spec
 * (apache/iceberg open-api/rest-catalog-open-api.yaml) for the calls otlp2parquet makes. No
 * REST catalog server can be installed here (none on npm or in Debian), so this is the one
 * stand-in of the suite; everything it stores is real: `metadata.json` files written into the
 * test's storage directory at the table's location, updated by applying each commit's updates
 * after checking its requirements as the spec says.
 *
 *   GET  /v1/config                                   { defaults, overrides: { prefix } }
 *   POST /v1/oauth/tokens                             client credentials → access token
 *   GET  /v1/{prefix}/namespaces/{ns}                 200 | 404 NoSuchNamespaceException
 *   POST /v1/{prefix}/namespaces                      CreateNamespaceRequest | 409
 *   GET  /v1/{prefix}/namespaces/{ns}/tables/{t}      LoadTableResult | 404 NoSuchTableException
 *   POST /v1/{prefix}/namespaces/{ns}/tables          CreateTableRequest → LoadTableResult | 409
 *   POST /v1/{prefix}/namespaces/{ns}/tables/{t}      CommitTableRequest → CommitTableResponse
 *        | 400 (bad body) | 404 | 409 CommitFailedException (a requirement failed)
 *
 * Bodies are validated (400 BadRequestException naming what is wrong). Faults on demand:
 * `failNext("503")` answers 503 without applying, `failNext("timeout")` never answers (the
 * client times out), `failNext("apply-504")` applies the commit then answers 504, `down = true`
 * answers 503 to everything; `contend(n)` makes another writer commit a snapshot just before
 * each of the next n commits, so they fail their `assert-ref-snapshot-id` with 409.
 */

export type Fault = "503" | "timeout" | "apply-504";

export interface CatalogServerOptions {
  /** Directory the file:// warehouse lives in (the otlp2parquet fs storage root). */
  root: string;
  /** Prefix the config endpoint hands out ("" for none). */
  prefix?: string;
  /** Required bearer token (when set). */
  token?: string;
  /** OAuth2 client credentials the token endpoint accepts (tokens then required). */
  oauth2?: { clientId: string; clientSecret: string };
  /** Required SigV4 signing name (checks the Authorization header's scope). */
  sigv4Service?: string;
  /** Warehouse name clients must ask for ("" accepts any). */
  warehouse?: string;
  /** Whether an object exists at a non-file:// URI (manifest lists in a bucket). */
  exists?: (uri: string) => Promise<boolean>;
}

interface Table {
  metadata: Record<string, unknown>;
  metadataLocation: string;
  version: number;
}

export interface CatalogServer {
  url: string;
  /** Requests by "METHOD path" (for assertions), and commits applied. */
  requests: string[];
  commitsApplied: number;
  down: boolean;
  failNext(fault: Fault, times?: number): void;
  contend(times: number): void;
  /** The table's current metadata (parsed losslessly: long ids as strings). */
  table(ns: string, name: string): Record<string, unknown> | undefined;
  /** The metadata file of the table's current version. */
  metadataPath(ns: string, name: string): string | undefined;
  close(): Promise<void>;
}

const BIG = /([:[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g;

/** JSON with 64-bit integers kept exact, as strings. */
function parseLossless(text: string): unknown {
  return JSON.parse(text.replace(BIG, '$1"$2"'));
}

/** JSON with the long fields written as numbers again. */
function stringifyLongs(v: unknown): string {
  const LONGS = new Set([
    "snapshot-id",
    "parent-snapshot-id",
    "current-snapshot-id",
    "sequence-number",
    "last-sequence-number",
  ]);
  return JSON.stringify(v, (k, x) => (LONGS.has(k) && typeof x === "string" ? `\u0000${x}` : x))
    .replace(/"\\u0000(-?\d+)"/g, "$1");
}

class HttpError extends Error {
  constructor(readonly status: number, readonly type: string, message: string) {
    super(message);
  }
}

const PRIMITIVES = new Set([
  "boolean",
  "int",
  "long",
  "float",
  "double",
  "date",
  "time",
  "timestamp",
  "timestamptz",
  "timestamp_ns",
  "timestamptz_ns",
  "string",
  "uuid",
  "binary",
]);

/** Checks a schema as the spec's `Schema` component describes it; returns its highest id. */
function checkSchema(s: unknown): number {
  const bad = (why: string) => {
    throw new HttpError(400, "BadRequestException", `Invalid schema: ${why}`);
  };
  const o = s as { type?: string; fields?: unknown[] };
  if (!o || o.type !== "struct" || !Array.isArray(o.fields)) bad("expected a struct with fields");
  let max = 0;
  const seen = new Set<number>();
  const id = (n: unknown, where: string) => {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) bad(`${where}: bad id ${n}`);
    if (seen.has(n as number)) bad(`${where}: duplicate id ${n}`);
    seen.add(n as number);
    max = Math.max(max, n as number);
  };
  const type = (t: unknown, where: string): void => {
    if (typeof t === "string") {
      if (!PRIMITIVES.has(t)) bad(`${where}: unknown type ${t}`);
      return;
    }
    const x = t as Record<string, unknown>;
    if (x?.type === "list") {
      id(x["element-id"], where);
      if (typeof x["element-required"] !== "boolean") bad(`${where}: element-required`);
      return type(x.element, `${where}.element`);
    }
    if (x?.type === "map") {
      id(x["key-id"], where);
      id(x["value-id"], where);
      if (typeof x["value-required"] !== "boolean") bad(`${where}: value-required`);
      type(x.key, `${where}.key`);
      return type(x.value, `${where}.value`);
    }
    if (x?.type === "struct") return fields(x.fields as unknown[], where);
    bad(`${where}: bad type ${JSON.stringify(t)}`);
  };
  const fields = (fs: unknown[], where: string) => {
    for (const f of fs) {
      const x = f as Record<string, unknown>;
      if (typeof x.name !== "string" || typeof x.required !== "boolean") bad(`${where}: field`);
      id(x.id, `${where}.${x.name}`);
      type(x.type, `${where}.${x.name}`);
    }
  };
  fields(o.fields!, "schema");
  return max;
}

export function startCatalogServer(opts: CatalogServerOptions): Promise<CatalogServer> {
  const prefix = opts.prefix ?? "test-prefix";
  const warehouse = `file://${opts.root.replace(/\/+$/, "")}/warehouse`;
  const tables = new Map<string, Table>();
  const namespaces = new Set<string>();
  const faults: Fault[] = [];
  let contention = 0;
  const tokens = new Set<string>();
  const hanging = new Set<() => void>();

  const state: CatalogServer = {
    url: "",
    requests: [],
    commitsApplied: 0,
    down: false,
    failNext(f, times = 1) {
      for (let i = 0; i < times; i++) faults.push(f);
    },
    contend(n) {
      contention += n;
    },
    table: (ns, name) => tables.get(`${ns}\u001f${name}`)?.metadata,
    metadataPath: (ns, name) => {
      const t = tables.get(`${ns}\u001f${name}`);
      return t ? new URL(t.metadataLocation).pathname : undefined;
    },
    close: async () => {},
  };

  async function writeMetadata(key: string, t: Table): Promise<void> {
    t.version++;
    const loc = t.metadata.location as string;
    const file = `${loc}/metadata/${
      String(t.version).padStart(5, "0")
    }-${crypto.randomUUID()}.metadata.json`;
    const path = new URL(file).pathname;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, stringifyLongs(t.metadata));
    t.metadataLocation = file;
    tables.set(key, t);
  }

  function auth(req: Request): void {
    const h = req.headers.get("authorization") ?? "";
    if (opts.token !== undefined && h !== `Bearer ${opts.token}`) {
      throw new HttpError(401, "NotAuthorizedException", "bad or missing bearer token");
    }
    if (opts.oauth2 && !tokens.has(h.replace(/^Bearer /, ""))) {
      throw new HttpError(401, "NotAuthorizedException", "unknown OAuth2 token");
    }
    if (opts.sigv4Service) {
      const m =
        /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/
          .exec(h);
      if (!m || m[1] !== opts.sigv4Service || !req.headers.get("x-amz-date")) {
        throw new HttpError(
          403,
          "ForbiddenException",
          `not a SigV4 signature for ${opts.sigv4Service}: ${h}`,
        );
      }
    }
  }

  function loadResult(t: Table) {
    return { "metadata-location": t.metadataLocation, metadata: t.metadata, config: {} };
  }

  async function createTable(ns: string, body: Record<string, unknown>): Promise<unknown> {
    if (!namespaces.has(ns)) {
      throw new HttpError(404, "NoSuchNamespaceException", `no namespace ${ns}`);
    }
    const name = body.name;
    if (typeof name !== "string" || name === "") {
      throw new HttpError(400, "BadRequestException", "name");
    }
    const key = `${ns}\u001f${name}`;
    if (tables.has(key)) throw new HttpError(409, "AlreadyExistsException", `table ${name} exists`);
    const lastColumnId = checkSchema(body.schema);
    const spec = body["partition-spec"] as {
      "spec-id"?: number;
      fields?: Record<string, unknown>[];
    };
    if (!spec || !Array.isArray(spec.fields)) {
      throw new HttpError(400, "BadRequestException", "partition-spec");
    }
    const ids = new Set((body.schema as { fields: { id: number }[] }).fields.map((f) => f.id));
    for (const f of spec.fields) {
      if (!ids.has(f["source-id"] as number) || typeof f.transform !== "string") {
        throw new HttpError(400, "BadRequestException", `partition field ${JSON.stringify(f)}`);
      }
    }
    const props = (body.properties ?? {}) as Record<string, string>;
    const version = Number(props["format-version"] ?? 2);
    if (version !== 2 && version !== 3) {
      throw new HttpError(400, "BadRequestException", "format-version");
    }
    const location = (body.location as string | undefined) ??
      `${warehouse}/${ns.split("\u001f").join("/")}/${name}`;
    const metadata: Record<string, unknown> = {
      "format-version": version,
      "table-uuid": crypto.randomUUID(),
      location,
      "last-sequence-number": "0",
      "last-updated-ms": Date.now(),
      "last-column-id": lastColumnId,
      schemas: [{ ...(body.schema as object), "schema-id": 0 }],
      "current-schema-id": 0,
      "partition-specs": [{ "spec-id": 0, fields: spec.fields }],
      "default-spec-id": 0,
      "last-partition-id": Math.max(999, ...spec.fields.map((f) => f["field-id"] as number)),
      properties: props,
      "current-snapshot-id": "-1",
      snapshots: [],
      "snapshot-log": [],
      "metadata-log": [],
      "sort-orders": [{ "order-id": 0, fields: [] }],
      "default-sort-order-id": 0,
      refs: {},
    };
    if (version >= 3) metadata["next-row-id"] = 0;
    const t: Table = { metadata, metadataLocation: "", version: 0 };
    await writeMetadata(key, t);
    return loadResult(t);
  }

  /** Another writer's snapshot: the same files (the parent's manifest list), a new id. */
  async function foreignCommit(key: string): Promise<void> {
    const t = tables.get(key)!;
    const md = structuredClone(t.metadata);
    const parent = (md.refs as Record<string, { "snapshot-id": string }>).main?.["snapshot-id"];
    const snaps = md.snapshots as Record<string, unknown>[];
    const p = snaps.find((s) => s["snapshot-id"] === parent);
    const seq = String(BigInt(md["last-sequence-number"] as string) + 1n);
    const id = String(BigInt(Date.now()) * 1000n + BigInt(Math.floor(Math.random() * 1000)));
    const snap: Record<string, unknown> = {
      "snapshot-id": id,
      "sequence-number": seq,
      "timestamp-ms": Date.now(),
      summary: { operation: "append", "added-data-files": "0", "added-records": "0" },
      "schema-id": 0,
    };
    if (p) snap["manifest-list"] = p["manifest-list"], snap["parent-snapshot-id"] = parent;
    else return; // nothing to copy: the empty table has no manifest list yet
    if (md["format-version"] === 3) {
      snap["first-row-id"] = md["next-row-id"], snap["added-rows"] = 0;
    }
    snaps.push(snap);
    md["last-sequence-number"] = seq;
    md["current-snapshot-id"] = id;
    (md.refs as Record<string, unknown>).main = { "snapshot-id": id, type: "branch" };
    t.metadata = md;
    await writeMetadata(key, t);
  }

  async function commit(key: string, body: Record<string, unknown>): Promise<unknown> {
    const t = tables.get(key);
    if (!t) throw new HttpError(404, "NoSuchTableException", "no such table");
    const reqs = body.requirements, updates = body.updates;
    if (!Array.isArray(reqs) || !Array.isArray(updates)) {
      throw new HttpError(400, "BadRequestException", "requirements and updates must be arrays");
    }
    if (contention > 0) {
      contention--;
      await foreignCommit(key);
    }
    const md = structuredClone(tables.get(key)!.metadata);
    const refs = md.refs as Record<string, { "snapshot-id": string; type: string }>;
    for (const r of reqs as Record<string, unknown>[]) {
      switch (r.type) {
        case "assert-table-uuid":
          if (r.uuid !== md["table-uuid"]) {
            throw new HttpError(
              409,
              "CommitFailedException",
              "Requirement failed: UUID does not match",
            );
          }
          break;
        case "assert-ref-snapshot-id": {
          if (typeof r.ref !== "string" || !("snapshot-id" in r)) {
            throw new HttpError(
              400,
              "BadRequestException",
              "assert-ref-snapshot-id needs ref and snapshot-id",
            );
          }
          const have = refs[r.ref]?.["snapshot-id"] ?? null;
          const want = r["snapshot-id"] === null ? null : String(r["snapshot-id"]);
          if (have !== want) {
            throw new HttpError(
              409,
              "CommitFailedException",
              `Requirement failed: branch ${r.ref} has changed: expected id ${want} != ${have}`,
            );
          }
          break;
        }
        default:
          throw new HttpError(
            400,
            "BadRequestException",
            `unknown requirement ${JSON.stringify(r.type)}`,
          );
      }
    }
    const snaps = md.snapshots as Record<string, unknown>[];
    for (const u of updates as Record<string, unknown>[]) {
      switch (u.action) {
        case "add-snapshot": {
          const s = u.snapshot as Record<string, unknown>;
          for (const k of ["snapshot-id", "timestamp-ms", "manifest-list", "summary"]) {
            if (s?.[k] === undefined) {
              throw new HttpError(400, "BadRequestException", `snapshot without ${k}`);
            }
          }
          if (typeof (s.summary as Record<string, string>).operation !== "string") {
            throw new HttpError(400, "BadRequestException", "snapshot summary without operation");
          }
          const seq = BigInt(s["sequence-number"] as string);
          const last = BigInt(md["last-sequence-number"] as string);
          if (seq <= last) {
            throw new HttpError(
              400,
              "BadRequestException",
              `sequence number ${seq} is not after ${last}`,
            );
          }
          if (snaps.some((x) => x["snapshot-id"] === String(s["snapshot-id"]))) {
            throw new HttpError(400, "BadRequestException", `snapshot ${s["snapshot-id"]} exists`);
          }
          if (md["format-version"] === 3) {
            if (
              String(s["first-row-id"]) !== String(md["next-row-id"]) ||
              typeof s["added-rows"] !== "number"
            ) {
              throw new HttpError(
                400,
                "BadRequestException",
                "v3 snapshot needs first-row-id = next-row-id and added-rows",
              );
            }
            md["next-row-id"] = (md["next-row-id"] as number) + (s["added-rows"] as number);
          }
          const listUri = s["manifest-list"] as string;
          const found = listUri.startsWith("file://")
            ? await Deno.stat(new URL(listUri).pathname).then(() => true, () => false)
            : opts.exists
            ? await opts.exists(listUri)
            : true;
          if (!found) {
            throw new HttpError(
              400,
              "BadRequestException",
              `manifest list ${listUri} does not exist`,
            );
          }
          snaps.push({
            ...s,
            "snapshot-id": String(s["snapshot-id"]),
            "parent-snapshot-id": s["parent-snapshot-id"] === undefined
              ? undefined
              : String(s["parent-snapshot-id"]),
            "sequence-number": String(seq),
          });
          md["last-sequence-number"] = String(seq);
          break;
        }
        case "set-snapshot-ref": {
          const id = String(u["snapshot-id"]);
          if (
            !snaps.some((x) => x["snapshot-id"] === id) || u.type !== "branch" ||
            typeof u["ref-name"] !== "string"
          ) {
            throw new HttpError(
              400,
              "BadRequestException",
              `bad set-snapshot-ref ${JSON.stringify(u)}`,
            );
          }
          refs[u["ref-name"] as string] = { "snapshot-id": id, type: "branch" };
          if (u["ref-name"] === "main") {
            md["current-snapshot-id"] = id;
            (md["snapshot-log"] as unknown[]).push({
              "snapshot-id": id,
              "timestamp-ms": Date.now(),
            });
          }
          break;
        }
        default:
          throw new HttpError(
            400,
            "BadRequestException",
            `unsupported update ${JSON.stringify(u.action)}`,
          );
      }
    }
    md["last-updated-ms"] = Date.now();
    t.metadata = md;
    await writeMetadata(key, t);
    state.commitsApplied++;
    return loadResult(t);
  }

  async function route(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    state.requests.push(`${req.method} ${path}`);
    const json = (v: unknown, status = 200) =>
      new Response(stringifyLongs(v), { status, headers: { "content-type": "application/json" } });
    try {
      if (state.down) throw new HttpError(503, "ServiceUnavailableException", "catalog is down");
      if (req.method === "POST" && path === "/v1/oauth/tokens") {
        const form = new URLSearchParams(await req.text());
        if (
          !opts.oauth2 || form.get("grant_type") !== "client_credentials" ||
          form.get("client_id") !== opts.oauth2.clientId ||
          form.get("client_secret") !== opts.oauth2.clientSecret
        ) {
          return json(
            { error: "invalid_client", error_description: "bad client credentials" },
            401,
          );
        }
        const tok = crypto.randomUUID();
        tokens.add(tok);
        return json({
          access_token: tok,
          token_type: "bearer",
          expires_in: 3600,
          issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
        });
      }
      auth(req);
      if (req.method === "GET" && path === "/v1/config") {
        const wh = url.searchParams.get("warehouse") ?? "";
        if (opts.warehouse && wh !== opts.warehouse) {
          throw new HttpError(
            400,
            "BadRequestException",
            `unknown warehouse ${JSON.stringify(wh)}`,
          );
        }
        return json({ defaults: {}, overrides: prefix ? { prefix } : {} });
      }
      const base = prefix ? `/v1/${prefix}/` : "/v1/";
      if (!path.startsWith(base)) throw new HttpError(404, "NotFoundException", `no route ${path}`);
      const parts = path.slice(base.length).split("/").map(decodeURIComponent);
      const body = req.method === "POST"
        ? parseLossless(await req.text()) as Record<string, unknown>
        : {};
      if (parts[0] !== "namespaces") {
        throw new HttpError(404, "NotFoundException", `no route ${path}`);
      }
      if (parts.length === 1 && req.method === "POST") {
        const ns = body.namespace;
        if (!Array.isArray(ns) || ns.some((l) => typeof l !== "string")) {
          throw new HttpError(400, "BadRequestException", "namespace must be an array of strings");
        }
        const k = ns.join("\u001f");
        if (namespaces.has(k)) {
          throw new HttpError(409, "AlreadyExistsException", "namespace exists");
        }
        namespaces.add(k);
        return json({ namespace: ns, properties: body.properties ?? {} });
      }
      const ns = parts[1];
      if (parts.length === 2 && req.method === "GET") {
        if (!namespaces.has(ns)) {
          throw new HttpError(404, "NoSuchNamespaceException", `no namespace ${ns}`);
        }
        return json({ namespace: ns.split("\u001f"), properties: {} });
      }
      if (parts[2] === "tables" && parts.length === 3 && req.method === "POST") {
        return json(await createTable(ns, body));
      }
      if (parts[2] === "tables" && parts.length === 4) {
        const key = `${ns}\u001f${parts[3]}`;
        if (req.method === "GET") {
          const t = tables.get(key);
          if (!t) throw new HttpError(404, "NoSuchTableException", `no table ${parts[3]}`);
          return json(loadResult(t));
        }
        if (req.method === "POST") {
          const fault = faults.shift();
          if (fault === "503") throw new HttpError(503, "ServiceUnavailableException", "try later");
          if (fault === "timeout") {
            // Never answers: the client gives up (commit state unknown), nothing applied.
            return await new Promise<Response>((resolve) => {
              const done = () => resolve(new Response("gone", { status: 599 }));
              hanging.add(done);
            });
          }
          const result = await commit(key, body);
          if (fault === "apply-504") {
            throw new HttpError(
              504,
              "CommitStateUnknownException",
              "gateway timeout after applying",
            );
          }
          return json(result);
        }
      }
      throw new HttpError(404, "NotFoundException", `no route ${req.method} ${path}`);
    } catch (e) {
      if (e instanceof HttpError) {
        return json({ error: { message: e.message, type: e.type, code: e.status } }, e.status);
      }
      return json({ error: { message: String(e), type: "ServerError", code: 500 } }, 500);
    }
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, route);
  const addr = server.addr as Deno.NetAddr;
  state.url = `http://127.0.0.1:${addr.port}`;
  state.close = async () => {
    for (const h of hanging) h();
    await server.shutdown();
  };
  return Promise.resolve(state);
}
