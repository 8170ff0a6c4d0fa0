/**
 * The azure driver when things go wrong, against a real Azure Blob server (Azurite, started by
 * this file): a closed port, a server that never answers, a missing container, an unknown
 * account, rejected credentials, a block upload that fails half-way, and the server stopped
 * and started again mid-way. Every failure is a StorageError that says whether it may pass
 * (retryable) and what is wrong.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createAzureStorage } from "../../src/storage/azure.ts";
import { StorageError } from "../../src/storage/types.ts";
import { pseudoRandomBytes } from "./conformance.ts";
import {
  azureTest,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteClient,
  azuriteForFile,
  azuriteOptions,
  containerSas,
  createContainer,
  deleteContainer,
  faultProxy,
  freePort,
} from "../helpers/azurite.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();

// The driver loads the SDK on first use, inside its first attempt: load it once here, so the
// short attempt timeouts below time the network, not module loading on a busy machine.
await import("@azure/storage-blob");
const fast = { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10, timeoutMs: 2000 };
const az = azuriteForFile();

async function failure(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(() => undefined, (e) => e);
  ok(err instanceof StorageError, `expected a StorageError, got ${err}`);
  return err;
}

async function withContainer(fn: (endpoint: string, container: string) => Promise<void>) {
  const endpoint = await az.endpoint();
  const container = await createContainer(endpoint);
  try {
    await fn(endpoint, container);
  } finally {
    await deleteContainer(endpoint, container);
  }
}

azureTest(
  "azure driver at a closed port fails with a retryable StorageError naming the endpoint",
  async () => {
    const endpoint = `http://127.0.0.1:${freePort()}/${AZURITE_ACCOUNT}`;
    const d = createAzureStorage({ ...azuriteOptions(endpoint, "c-1"), retry: fast });
    try {
      const c = await failure(d.check());
      strictEqual(c.retryable, true);
      ok(c.message.includes(`cannot reach the endpoint "${endpoint}"`), c.message);
      ok(c.message.includes("ECONNREFUSED"), c.message);
      ok(c.message.startsWith("Storage check failed (azure): Azure List Blobs"), c.message);
      const p = await failure(d.put("logs/a.parquet", enc.encode("x")));
      strictEqual(p.retryable, true);
      ok(p.message.startsWith('Cannot put "logs/a.parquet" (azure, 2 attempts): '), p.message);
      ok(p.message.includes(endpoint), p.message);
    } finally {
      await d.close?.();
    }
  },
);

azureTest(
  "azure driver gives up on a server that never answers after its per-attempt timeout",
  async () => {
    // Accepts connections and never answers.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const conns: Deno.Conn[] = [];
    const accepting = (async () => {
      try {
        for await (const c of listener) conns.push(c);
      } catch { /* closed */ }
    })();
    const endpoint = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/${AZURITE_ACCOUNT}`;
    const d = createAzureStorage({
      ...azuriteOptions(endpoint, "c-1"),
      retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 5, timeoutMs: 200 },
    });
    try {
      const err = await failure(d.get("k"));
      strictEqual(err.retryable, true);
      ok(/timed out after 200 ms/.test(err.message), err.message);
      ok(err.message.includes("2 attempts"), err.message);
      ok(conns.length >= 1);
    } finally {
      await d.close?.();
      listener.close();
      for (const c of conns) c.close();
      await accepting;
    }
  },
);

azureTest(
  "azure driver names the container when it does not exist, and does not retry",
  async () => {
    const endpoint = await az.endpoint();
    const d = createAzureStorage({
      ...azuriteOptions(endpoint, "o2p-no-such-container"),
      retry: fast,
    });
    try {
      const c = await failure(d.check());
      strictEqual(c.retryable, false);
      ok(c.message.includes('the container "o2p-no-such-container" does not exist'), c.message);
      ok(c.message.includes("ContainerNotFound"), c.message);
      const p = await failure(d.put("k", enc.encode("x")));
      strictEqual(p.retryable, false);
      ok(p.message.includes('the container "o2p-no-such-container" does not exist'), p.message);
      ok(!p.message.includes("attempts"), "not retried: " + p.message);
      const g = await failure(d.get("k"));
      ok(g.message.includes("does not exist"), "a missing container is not a missing blob");
    } finally {
      await d.close?.();
    }
  },
);

azureTest("azure driver names the account when the endpoint does not know it", async () => {
  const base = await az.endpoint();
  const endpoint = base.replace(AZURITE_ACCOUNT, "nosuchaccount");
  const d = createAzureStorage({
    account: "nosuchaccount",
    accountKey: AZURITE_KEY,
    endpoint,
    container: "c-1",
    retry: fast,
  });
  try {
    const c = await failure(d.check());
    strictEqual(c.retryable, false);
    ok(
      c.message.includes('the account "nosuchaccount" or the container "c-1" does not exist'),
      c.message,
    );
  } finally {
    await d.close?.();
  }
});

azureTest("azure driver names the credential when it is rejected", async () => {
  await withContainer(async (endpoint, container) => {
    const wrongKey = createAzureStorage({
      ...azuriteOptions(endpoint, container),
      accountKey: btoa("not the key"),
      retry: fast,
    });
    const readOnly = createAzureStorage({
      account: AZURITE_ACCOUNT,
      endpoint,
      container,
      sasToken: await containerSas(container, "rl"),
      retry: fast,
    });
    try {
      const c = await failure(wrongKey.check());
      strictEqual(c.retryable, false);
      ok(c.message.includes("the account key was rejected"), c.message);
      ok(c.message.includes("HTTP 403"), c.message);
      ok(c.message.includes("check the account name and the account key"), c.message);
      const p = await failure(wrongKey.put("k", enc.encode("x")));
      ok(!p.message.includes("attempts"), "not retried: " + p.message);

      await readOnly.check(); // listing is allowed
      const w = await failure(readOnly.put("k", enc.encode("x")));
      strictEqual(w.retryable, false);
      ok(w.message.includes("the SAS token was rejected or lacks permission"), w.message);
      ok(w.message.includes("AuthorizationPermissionMismatch"), w.message);
    } finally {
      await wrongKey.close?.();
      await readOnly.close?.();
    }
  });
});

Deno.test("azure driver reports bad options on first use, naming the option", async () => {
  const cases: [Parameters<typeof createAzureStorage>[0], string][] = [
    [{ account: "a1b2c", container: "" }, 'needs a container name (option "container" is empty)'],
    [{ account: "a1b2c", container: "Bad_Name" }, 'container name "Bad_Name" is not valid'],
    [{ account: "", container: "c-1" }, 'needs an account name (option "account" is empty)'],
    [{ account: "Has-Dash", container: "c-1" }, 'account name "Has-Dash" is not valid'],
    [
      { account: "a1b2c", container: "c-1", accountKey: "k", sasToken: "sig=x" },
      "takes one credential, got account key and SAS token",
    ],
    [
      { container: "c-1", connectionString: "DefaultEndpointsProtocol=https;AccountKey=k" },
      "connection string names no account",
    ],
    [
      { account: "a1b2c", container: "c-1", accountKey: "k", endpoint: "127.0.0.1:10000" },
      'endpoint "127.0.0.1:10000" is not an http(s) URL',
    ],
  ];
  for (const [opts, expected] of cases) {
    const d = createAzureStorage({ ...opts, retry: fast });
    const err = await failure(d.check());
    strictEqual(err.retryable, false, expected);
    ok(err.message.includes(expected), `${err.message}\nexpected: ${expected}`);
  }
});

azureTest(
  "azure driver retries a block upload whose block fails, and commits nothing half-way",
  async () => {
    await withContainer(async (endpoint, container) => {
      let blocks = 0;
      const proxy = faultProxy(
        endpoint,
        (req, url) =>
          req.method === "PUT" && url.searchParams.get("comp") === "block" && ++blocks === 2,
      );
      const opts = {
        ...azuriteOptions(proxy.endpoint, container),
        blockThresholdBytes: 2 * MiB,
        blockSizeBytes: 1 * MiB,
        blockConcurrency: 1,
      };
      const once = createAzureStorage({ ...opts, retry: { ...fast, maxAttempts: 1 } });
      const retried = createAzureStorage({ ...opts, retry: fast });
      try {
        const data = pseudoRandomBytes(3 * MiB + 5, 9);
        const err = await failure(once.put("m.parquet", data));
        strictEqual(err.retryable, true);
        ok(err.message.includes("block upload"), err.message);
        ok(err.message.includes("HTTP 500 InternalError"), err.message);
        strictEqual(await once.get("m.parquet"), null, "no blob from a failed upload");
        deepStrictEqual(await once.list(""), []);
        ok(
          !proxy.requests.some((u) => u.searchParams.get("comp") === "blocklist"),
          "the block list was never committed",
        );

        blocks = 0;
        await retried.put("m.parquet", data);
        deepStrictEqual(await retried.get("m.parquet"), data);
        const c = (await azuriteClient(endpoint)).getContainerClient(container);
        const list = await c.getBlockBlobClient("m.parquet").getBlockList("committed");
        strictEqual(list.committedBlocks?.length, 4, "3 blocks of 1 MiB and one of 5 bytes");
      } finally {
        await once.close?.();
        await retried.close?.();
        await proxy.close();
      }
    });
  },
);

azureTest("azure driver recovers by itself when the server stops and starts again", async () => {
  await withContainer(async (endpoint, container) => {
    const d = createAzureStorage({ ...azuriteOptions(endpoint, container), retry: fast });
    try {
      await d.put("before", enc.encode("1"));
      await d.check();

      await az.server.stop();
      const down = await failure(d.put("during", enc.encode("2")));
      strictEqual(down.retryable, true);
      ok(down.message.includes(`cannot reach the endpoint "${endpoint}"`), down.message);
      strictEqual((await failure(d.check())).retryable, true);

      // A patient driver used while the server is down succeeds once it is back.
      const patient = createAzureStorage({
        ...azuriteOptions(endpoint, container),
        retry: { maxAttempts: 150, baseDelayMs: 50, maxDelayMs: 200, timeoutMs: 2000 },
      });
      const pending = patient.put("while-down", enc.encode("3")).then(() => null, (e) => e);
      await new Promise((r) => setTimeout(r, 300));
      await az.server.start();
      strictEqual(await pending, null, "the put made while the server was down succeeded");
      await patient.close?.();

      await d.check();
      await d.put("after", enc.encode("4"));
      deepStrictEqual(await d.list(""), ["after", "before", "while-down"]);
      deepStrictEqual(await d.get("before"), enc.encode("1"), "kept across the restart");
      deepStrictEqual(await d.get("while-down"), enc.encode("3"));
    } finally {
      await d.close?.();
    }
  });
});

Deno.test("azure driver says which package is missing when an SDK cannot be loaded", async () => {
  const noSdk = createAzureStorage({
    account: "a1b2c",
    container: "c-1",
    accountKey: AZURITE_KEY,
    retry: fast,
    loadSdk: () => Promise.reject(new TypeError('Cannot find module "@azure/storage-blob"')),
  });
  const e1 = await failure(noSdk.get("k"));
  strictEqual(e1.retryable, false);
  ok(
    e1.message.includes('azure storage cannot load the npm package "@azure/storage-blob"'),
    e1.message,
  );
  // Without a key, SAS or connection string the driver needs @azure/identity.
  const noIdentity = createAzureStorage({
    account: "a1b2c",
    container: "c-1",
    retry: fast,
    loadIdentity: () => Promise.reject(new TypeError('Cannot find module "@azure/identity"')),
  });
  const e2 = await failure(noIdentity.check());
  ok(
    e2.message.includes('azure storage cannot load the npm package "@azure/identity"'),
    e2.message,
  );
});

Deno.test(
  "azure driver without configured credentials says the default credential chain found none",
  async () => {
    // Tokens go only over https (the SDK refuses http); the token is asked for first, so nothing
    // listens there.
    const endpoint = `https://127.0.0.1:${freePort()}/${AZURITE_ACCOUNT}`;
    // A stand-in for @azure/identity's chain on a machine with no Azure identity (the real
    // chain would probe the instance metadata address, which tests must not reach): its error
    // has the name DefaultAzureCredential gives it.
    const loadIdentity = () =>
      Promise.resolve({
        DefaultAzureCredential: class {
          getToken(): Promise<never> {
            const e = new Error(
              "DefaultAzureCredential failed to retrieve a token from the included credentials.",
            );
            e.name = "AggregateAuthenticationError";
            return Promise.reject(e);
          }
        },
      });
    const d = createAzureStorage({
      account: AZURITE_ACCOUNT,
      endpoint,
      container: "c-1",
      loadIdentity,
      retry: fast,
    });
    try {
      const err = await failure(d.check());
      strictEqual(err.retryable, false);
      ok(err.message.includes("no credentials: none were configured"), err.message);
      ok(err.message.includes("default Azure credential chain"), err.message);
      // And over http the driver says tokens need https.
      const plain = createAzureStorage({
        account: AZURITE_ACCOUNT,
        endpoint: endpoint.replace("https:", "http:"),
        container: "c-1",
        loadIdentity,
        retry: fast,
      });
      const e2 = await failure(plain.check());
      strictEqual(e2.retryable, false);
      ok(e2.message.includes("needs an https endpoint"), e2.message);
      await plain.close?.();
    } finally {
      await d.close?.();
    }
  },
);

Deno.test({
  name: "azure driver loads the real @azure/identity chain, and says tokens need https",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The real DefaultAzureCredential is built (no token is asked for: the SDK refuses bearer
    // tokens over http first, so no identity endpoint is ever contacted).
    const d = createAzureStorage({
      account: AZURITE_ACCOUNT,
      endpoint: `http://127.0.0.1:${freePort()}/${AZURITE_ACCOUNT}`,
      container: "c-1",
      retry: fast,
    });
    try {
      const err = await failure(d.check());
      strictEqual(err.retryable, false);
      ok(
        err.message.includes("the default credential (Entra ID tokens) needs an https endpoint"),
        err.message,
      );
      ok(!err.message.includes("cannot load"), err.message);
    } finally {
      await d.close?.();
    }
  },
});
