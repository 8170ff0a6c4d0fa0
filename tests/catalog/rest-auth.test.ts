/**
 * The REST client's authentication against the suite's catalog: OAuth2 client credentials (a
 * token fetched from the token endpoint, then sent as a bearer token; refused credentials fail
 * with the endpoint's answer), a bearer token, and SigV4 headers with the signing name.
 */
import { ok, strictEqual } from "node:assert/strict";
import { CatalogError, RestCatalog } from "../../src/catalog/rest.ts";
import { startCatalogServer } from "../helpers/catalog.ts";

Deno.test("REST catalog client: OAuth2 client credentials, bearer token and SigV4", async () => {
  const dir = await Deno.makeTempDir();
  const oauth = await startCatalogServer({
    root: dir,
    oauth2: { clientId: "c", clientSecret: "s" },
  });
  const bearer = await startCatalogServer({ root: dir, token: "tok" });
  const sig = await startCatalogServer({ root: dir, sigv4Service: "s3tables" });
  try {
    const good = new RestCatalog({
      uri: oauth.url,
      warehouse: "",
      timeoutMs: 2000,
      auth: {
        kind: "oauth2",
        serverUri: `${oauth.url}/v1/oauth/tokens`,
        clientId: "c",
        clientSecret: "s",
        scope: "",
      },
    });
    await good.ensureNamespace(["otel"]);
    strictEqual(await good.loadTable(["otel"], "logs"), null);
    strictEqual(
      oauth.requests.filter((r) => r === "POST /v1/oauth/tokens").length,
      1,
      "token reused",
    );
    const bad = new RestCatalog({
      uri: oauth.url,
      warehouse: "",
      timeoutMs: 2000,
      auth: {
        kind: "oauth2",
        serverUri: `${oauth.url}/v1/oauth/tokens`,
        clientId: "c",
        clientSecret: "x",
        scope: "",
      },
    });
    const e = await bad.config().catch((x) => x);
    ok(
      e instanceof CatalogError && e.status === 401 && /OAuth2 token request/.test(e.message),
      String(e),
    );

    const b = new RestCatalog({
      uri: bearer.url,
      warehouse: "",
      timeoutMs: 2000,
      auth: { kind: "bearer", token: "tok" },
    });
    await b.ensureNamespace(["otel"]);
    const nb = new RestCatalog({
      uri: bearer.url,
      warehouse: "",
      timeoutMs: 2000,
      auth: { kind: "none" },
    });
    const e2 = await nb.config().catch((x) => x);
    ok(e2 instanceof CatalogError && e2.status === 401, String(e2));

    const s = new RestCatalog({
      uri: sig.url,
      warehouse: "",
      timeoutMs: 2000,
      auth: {
        kind: "sigv4",
        service: "s3tables",
        region: "us-east-1",
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      },
    });
    await s.ensureNamespace(["otel"]);
    strictEqual(await s.loadTable(["otel"], "logs"), null);
  } finally {
    await oauth.close();
    await bearer.close();
    await sig.close();
    await Deno.remove(dir, { recursive: true });
  }
});
