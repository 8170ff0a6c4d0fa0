/**
 * The azure driver against a real Azure Blob server (Azurite, started by this file on a free
 * port): the conformance suite every driver passes, with a small list page and block threshold
 * so pagination and block uploads are exercised with few, small objects; then each kind of
 * credential (account key, connection string, SAS token) and the key prefix.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { createAzureStorage } from "../../src/storage/azure.ts";
import { withPrefix } from "../../src/storage/types.ts";
import { pseudoRandomBytes, testDriver } from "./conformance.ts";
import {
  azureTest,
  AZURITE_ACCOUNT,
  azuriteClient,
  azuriteConnectionString,
  azuriteForFile,
  azuriteOptions,
  containerSas,
  createContainer,
  deleteContainer,
} from "../helpers/azurite.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();
const az = azuriteForFile();

testDriver("azure", async () => {
  const endpoint = await az.endpoint();
  const container = await createContainer(endpoint);
  const driver = createAzureStorage({
    ...azuriteOptions(endpoint, container),
    listPageSize: 7,
    blockThresholdBytes: 4 * MiB,
    blockSizeBytes: 1 * MiB,
  });
  return { driver, cleanup: () => deleteContainer(endpoint, container) };
}, { sanitize: false, paginationKeys: 25 });

azureTest("azure driver uploads objects past the threshold as committed blocks", async () => {
  const endpoint = await az.endpoint();
  const container = await createContainer(endpoint);
  const d = createAzureStorage({
    ...azuriteOptions(endpoint, container),
    blockThresholdBytes: 4 * MiB,
    blockSizeBytes: 1 * MiB,
  });
  try {
    const data = pseudoRandomBytes(5 * MiB + 17, 3);
    await d.put("big.parquet", data);
    await d.put("small.parquet", data.subarray(0, 4 * MiB));
    const c = (await azuriteClient(endpoint)).getContainerClient(container);
    const big = await c.getBlockBlobClient("big.parquet").getBlockList("all");
    strictEqual(big.committedBlocks?.length, 6, "5 blocks of 1 MiB and one of 17 bytes");
    deepStrictEqual(big.uncommittedBlocks ?? [], []);
    strictEqual(
      (await c.getBlockBlobClient("small.parquet").getBlockList("all")).committedBlocks?.length ??
        0,
      0,
      "a single Put Blob has no blocks",
    );
    const props = await c.getBlobClient("big.parquet").getProperties();
    strictEqual(props.contentLength, 5 * MiB + 17);
    strictEqual(props.contentType, "application/vnd.apache.parquet");
    deepStrictEqual(await d.get("big.parquet"), data);
  } finally {
    await d.close?.();
    await deleteContainer(endpoint, container);
  }
});

azureTest(
  "azure driver with a key prefix stores blobs under it and lists them without it",
  async () => {
    const endpoint = await az.endpoint();
    const container = await createContainer(endpoint);
    const d = withPrefix(createAzureStorage(azuriteOptions(endpoint, container)), "otel/prod/");
    try {
      await d.put("logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet", enc.encode("a"));
      await d.put("traces/svc/1-b.parquet", enc.encode("b"));
      const c = (await azuriteClient(endpoint)).getContainerClient(container);
      const raw: string[] = [];
      for await (const b of c.listBlobsFlat()) raw.push(b.name);
      deepStrictEqual(raw, [
        "otel/prod/logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet",
        "otel/prod/traces/svc/1-b.parquet",
      ]);
      deepStrictEqual(await d.list("logs/"), [
        "logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet",
      ]);
      await d.delete("traces/svc/1-b.parquet");
      deepStrictEqual(await d.list(""), ["logs/svc/year=2024/month=01/day=02/hour=03/1-a.parquet"]);
      const props = await c.getBlobClient("otel/prod/traces/svc/1-b.parquet").exists();
      strictEqual(props, false);
    } finally {
      await d.close?.();
      await deleteContainer(endpoint, container);
    }
  },
);

azureTest(
  "azure driver works with a connection string and with a container SAS token",
  async () => {
    const endpoint = await az.endpoint();
    const container = await createContainer(endpoint);
    const viaString = createAzureStorage({
      connectionString: azuriteConnectionString(endpoint),
      container,
    });
    const viaSas = createAzureStorage({
      account: AZURITE_ACCOUNT,
      endpoint,
      container,
      sasToken: "?" + await containerSas(container),
    });
    try {
      await viaString.check();
      await viaString.put("a/1.parquet", enc.encode("one"));
      await viaSas.check();
      await viaSas.put("a/2.parquet", enc.encode("two"));
      deepStrictEqual(await viaSas.get("a/1.parquet"), enc.encode("one"));
      deepStrictEqual(await viaString.get("a/2.parquet"), enc.encode("two"));
      deepStrictEqual(await viaSas.list("a/"), ["a/1.parquet", "a/2.parquet"]);
      await viaSas.delete("a/1.parquet");
      deepStrictEqual(await viaString.list(""), ["a/2.parquet"]);
      ok((await viaSas.get("a/1.parquet")) === null);
    } finally {
      await viaString.close?.();
      await viaSas.close?.();
      await deleteContainer(endpoint, container);
    }
  },
);
