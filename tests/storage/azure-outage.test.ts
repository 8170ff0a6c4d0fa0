/**
 * A storage outage during load with the real azure driver and the batch writer (write-ahead
 * log on): Azurite is stopped while requests keep coming, then started again. Clients get
 * retryable statuses, never a success for data that is not durable, and afterwards every
 * acknowledged row is in the container exactly once.
 */
import { ok } from "node:assert/strict";
import { createAzureStorage } from "../../src/storage/azure.ts";
import {
  azureTest,
  azuriteForFile,
  azuriteOptions,
  createContainer,
  deleteContainer,
} from "../helpers/azurite.ts";
import { outageUnderLoad, tempDir } from "../batch/helpers.ts";

const az = azuriteForFile();

azureTest(
  "Azure outage during load: 503 with Retry-After, every acknowledged row stored once after recovery",
  async () => {
    const endpoint = await az.endpoint();
    const container = await createContainer(endpoint);
    const { dir, cleanup } = await tempDir();
    const storage = createAzureStorage({
      ...azuriteOptions(endpoint, container),
      retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 2000 },
    });
    try {
      await outageUnderLoad({
        storage,
        walDir: dir,
        stop: () => az.server.stop(),
        start: () => az.server.start(),
        duringOutage: (logger) =>
          ok(
            logger.lines.some((l) => JSON.stringify(l).includes("cannot reach the endpoint")),
            "the failed flushes say why",
          ),
      });
    } finally {
      await az.endpoint(); // running again, whatever happened
      await storage.close?.();
      await deleteContainer(endpoint, container);
      await cleanup();
    }
  },
);
