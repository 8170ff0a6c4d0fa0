/**
 * Azurite, Microsoft's Azure Storage emulator (npm `azurite`, a devDependency), as the real Azure
 * Blob server for tests: the blob service only, on 127.0.0.1 and a free port, data in a
 * temporary folder (so a stop and a start again keep it), telemetry off.
 *
 *   const az = azuriteForFile();            // one emulator for this test file
 *   Deno.test(…, async () => { const url = await az.url(); … });
 *
 * `azuriteForFile()` registers a last test that stops the emulator and removes its folder, and
 * an `unload` handler that kills it if the file ends otherwise (a filter, a crash): no process
 * is left behind. Account `devstoreaccount1` with its well-known key (public, in Microsoft's
 * documentation).
 */
import type * as Azure from "@azure/storage-blob";
import type { AzureStorageOptions } from "../../src/storage/azure.ts";

export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const MAIN = new URL("../../node_modules/azurite/dist/src/blob/main.js", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 (closed again, so it refuses connections until used). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const START_TIMEOUT_MS = 120_000;

/** One Azurite blob service: `start()`, `stop()` and `start()` again on the same port and folder. */
export class Azurite {
  readonly port: number;
  readonly location: string;
  #child: Deno.ChildProcess | undefined;
  #log = "";

  constructor(opts: { port?: number; location?: string } = {}) {
    this.port = opts.port ?? freePort();
    this.location = opts.location ?? Deno.makeTempDirSync({ prefix: "otlp2parquet-azurite-" });
  }

  /** The account's blob endpoint, `http://127.0.0.1:PORT/devstoreaccount1`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}/${AZURITE_ACCOUNT}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** What the emulator printed so far. */
  log(): string {
    return this.#log;
  }

  /** Starts the emulator; resolves once it answers HTTP. */
  async start(): Promise<void> {
    if (this.#child) return;
    try {
      Deno.statSync(MAIN);
    } catch {
      throw new Error(`Azurite is not installed (${MAIN} is missing): run npm install`);
    }
    const child = new Deno.Command("node", {
      args: [
        MAIN,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        String(this.port),
        "--location",
        this.location,
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--disableProductStyleUrl",
        "--silent",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const dec = new TextDecoder();
    for (const s of [child.stdout, child.stderr]) {
      s.pipeTo(
        new WritableStream({ write: (c) => void (this.#log += dec.decode(c, { stream: true })) }),
      ).catch(() => {});
    }
    const exited = child.status.then((s) => s);
    // A bound, not a speed check: on a loaded machine Node takes a while to start Azurite.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const up = await fetch(`${this.endpoint}?comp=list`).then(
        async (r) => (await r.body?.cancel(), true),
        () => false,
      );
      if (up) return;
      const done = await Promise.race([exited, sleep(100).then(() => null)]);
      if (done) {
        this.#child = undefined;
        throw new Error(`Azurite exited with code ${done.code} before answering:\n${this.#log}`);
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `Azurite did not answer on ${this.endpoint} within ${
            START_TIMEOUT_MS / 1000
          } s:\n${this.#log}`,
        );
      }
    }
  }

  /** Stops the emulator (SIGTERM: it saves its metadata) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const killed = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 10_000);
    await child.status;
    clearTimeout(killed);
  }

  /** Kills the emulator without waiting (for `unload`, which cannot await). */
  killNow(): void {
    try {
      this.#child?.kill("SIGKILL");
    } catch { /* gone */ }
    this.#child = undefined;
  }

  /** Stops it and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop();
    await Deno.remove(this.location, { recursive: true }).catch(() => {});
  }
}

/** The emulator of a test file, started on first use, stopped when the file unloads. */
export interface FileAzurite {
  server: Azurite;
  /** Starts it when needed; the account endpoint. */
  endpoint(): Promise<string>;
}

export function azuriteForFile(): FileAzurite {
  const server = new Azurite();
  let started: Promise<void> | undefined;
  globalThis.addEventListener("unload", () => {
    server.killNow();
    try {
      Deno.removeSync(server.location, { recursive: true });
    } catch { /* already removed */ }
  });
  return {
    server,
    async endpoint() {
      if (!server.running) started = undefined;
      started ??= server.start();
      await started;
      return server.endpoint;
    },
  };
}

/**
 * Formerly registered a test that stopped `az`; the emulator of `azuriteForFile()` is now
 * stopped and its folder removed when the test file unloads (after its last test, also when a
 * test failed or `--filter` ran only some), so this registers nothing. Kept for callers.
 */
export function stopAzuriteTest(_az: FileAzurite): void {}

/** Driver options for the emulator: account key credentials (add `container`). */
export function azuriteOptions(endpoint: string, container: string): AzureStorageOptions {
  return { account: AZURITE_ACCOUNT, accountKey: AZURITE_KEY, endpoint, container };
}

/** The emulator's connection string. */
export function azuriteConnectionString(endpoint: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`;
}

/** A raw SDK client of the emulator (to create containers and inspect blobs). */
export async function azuriteClient(
  endpoint: string,
): Promise<Azure.BlobServiceClient & { sdk: typeof Azure }> {
  const sdk = await import("@azure/storage-blob");
  const client = new sdk.BlobServiceClient(
    endpoint,
    new sdk.StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    { retryOptions: { maxTries: 1 } },
  );
  return Object.assign(client, { sdk });
}

/** Creates a container with a unique name. */
export async function createContainer(endpoint: string): Promise<string> {
  const name = `o2p-${crypto.randomUUID().slice(0, 13)}`;
  const c = await azuriteClient(endpoint);
  await c.getContainerClient(name).create();
  return name;
}

/** Deletes a container and everything in it. */
export async function deleteContainer(endpoint: string, name: string): Promise<void> {
  const c = await azuriteClient(endpoint);
  await c.getContainerClient(name).deleteIfExists();
}

/** Every blob of a container: name → bytes. */
export async function containerBlobs(
  endpoint: string,
  container: string,
): Promise<Map<string, Uint8Array>> {
  const c = await azuriteClient(endpoint);
  const cc = c.getContainerClient(container);
  const out = new Map<string, Uint8Array>();
  for await (const b of cc.listBlobsFlat()) {
    const buf = await cc.getBlobClient(b.name).downloadToBuffer();
    out.set(b.name, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  }
  return out;
}

/** A SAS token for the container (read, add, create, write, delete, list), valid an hour. */
export async function containerSas(container: string, permissions = "racwdl"): Promise<string> {
  const sdk = await import("@azure/storage-blob");
  return sdk.generateBlobSASQueryParameters({
    containerName: container,
    permissions: sdk.ContainerSASPermissions.parse(permissions),
    startsOn: new Date(Date.now() - 60_000),
    expiresOn: new Date(Date.now() + 3600_000),
    protocol: sdk.SASProtocol.HttpsAndHttp,
  }, new sdk.StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).toString();
}

/**
 * Registers a test that uses the emulator (sanitizers off: the SDK's HTTP agent keeps sockets
 * for reuse).
 */
export function azureTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });
}

/**
 * An HTTP proxy in front of the emulator that answers chosen requests itself with Azure's
 * transient `500 InternalError` (as the real service does under faults) and forwards the
 * rest: Shared Key signatures do not cover the host, so requests signed for the proxy are
 * valid at the emulator.
 */
export function faultProxy(
  target: string,
  fails: (req: Request, url: URL) => boolean,
): { endpoint: string; requests: URL[]; close(): Promise<void> } {
  const t = new URL(target);
  const requests: URL[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    requests.push(url);
    if (fails(req, url)) {
      await req.body?.cancel();
      return new Response(
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>InternalError</Code><Message>Injected fault</Message></Error>',
        {
          status: 500,
          headers: { "x-ms-error-code": "InternalError", "content-type": "application/xml" },
        },
      );
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
    const upstream = await fetch(`${t.origin}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body,
    });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  });
  const port = server.addr.port;
  return {
    endpoint: `http://127.0.0.1:${port}${t.pathname}`,
    requests,
    close: () => server.shutdown(),
  };
}
