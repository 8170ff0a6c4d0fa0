/**
 * The `fs` driver: objects are files under a root directory, over `node:fs/promises` (which
 * Deno, Bun and Node all provide).
 *
 * - `put` writes a hidden temporary file in the target directory, fsyncs it, renames it over the
 *   key and fsyncs the directory: a reader sees the old file or the whole new one, never half,
 *   and a put that resolved survives a crash.
 * - Keys can never leave the root: `..`, `.`, empty segments, absolute paths, backslashes and
 *   control characters are refused with a `TypeError`.
 * - I/O failures come out as `StorageError` (retryable when the condition may pass: disk full,
 *   I/O error, busy), so the HTTP layer answers 503, never 500.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { type ListedObject, type StorageDriver, StorageError } from "./types.ts";

export const FS_DRIVER_NAME = "fs";

export interface FsStorageOptions {
  /** The directory objects live under; created on first write or `check()`. */
  root: string;
}

/** Temporary files: `.<basename>.<random>.tmp`, skipped by `list`. */
const TEMP_RE = /^\..+\.[0-9a-f]{16}\.tmp$/;

export function createFsStorage(opts: FsStorageOptions): StorageDriver {
  if (typeof opts?.root !== "string" || opts.root === "") {
    throw new TypeError(`createFsStorage(): root must be a non-empty directory path`);
  }
  const root = opts.root.replace(/\/+$/, "") || "/";
  const listing = async (prefix: string, sizes: boolean) => {
    if (typeof prefix !== "string") throw new TypeError("list(): prefix must be a string");
    checkPrefix(prefix);
    const base = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    const out: ListedObject[] = [];
    try {
      await walk(root, base, prefix, out, sizes);
    } catch (e) {
      throw storageError(`Cannot list ${JSON.stringify(prefix)} under ${JSON.stringify(root)}`, e);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  };
  const pathOf = (key: string) => `${root}/${key}`;

  return {
    name: FS_DRIVER_NAME,

    async put(key, data) {
      const segs = checkKey(key);
      const dir = segs.length > 1 ? `${root}/${segs.slice(0, -1).join("/")}` : root;
      const tmp = `${dir}/.${segs[segs.length - 1]}.${randomHex()}.tmp`;
      try {
        await mkdir(dir, { recursive: true });
        const fh = await open(tmp, "wx", 0o644);
        try {
          let at = 0;
          while (at < data.byteLength) {
            const { bytesWritten } = await fh.write(data, at, data.byteLength - at);
            if (bytesWritten <= 0) throw new Error("no progress writing");
            at += bytesWritten;
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, pathOf(key));
        await syncDir(dir);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        throw storageError(`Cannot store ${JSON.stringify(key)} under ${JSON.stringify(root)}`, e);
      }
    },

    async get(key) {
      checkKey(key);
      try {
        const b = await readFile(pathOf(key));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        const code = codeOf(e);
        if (code === "ENOENT" || code === "EISDIR" || code === "ENOTDIR") return null;
        throw storageError(`Cannot read ${JSON.stringify(key)} under ${JSON.stringify(root)}`, e);
      }
    },

    async list(prefix) {
      return (await listing(prefix, false)).map((o) => o.key);
    },

    listWithSizes(prefix) {
      return listing(prefix, true);
    },

    async delete(key) {
      checkKey(key);
      try {
        await unlink(pathOf(key));
      } catch (e) {
        const code = codeOf(e);
        if (code === "ENOENT" || code === "ENOTDIR") return;
        throw storageError(`Cannot delete ${JSON.stringify(key)} under ${JSON.stringify(root)}`, e);
      }
    },

    async check() {
      const probe = `${root}/.otlp2parquet-check.${randomHex()}.tmp`;
      try {
        await mkdir(root, { recursive: true });
        const fh = await open(probe, "wx", 0o644);
        try {
          await fh.write(new Uint8Array([1]));
          await fh.sync();
        } finally {
          await fh.close();
        }
      } catch (e) {
        throw storageError(`Storage check failed: cannot write to ${JSON.stringify(root)}`, e);
      } finally {
        await rm(probe, { force: true }).catch(() => {});
      }
    },
  };
}

/** The key's segments; `TypeError` for a key that could name anything outside the root. */
function checkKey(key: string): string[] {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`Invalid storage key ${JSON.stringify(key)}: expected a non-empty string`);
  }
  if (key.startsWith("/") || /^[A-Za-z]:/.test(key)) {
    throw new TypeError(`Invalid storage key ${JSON.stringify(key)}: absolute paths are not keys`);
  }
  if (hasBackslashOrControl(key)) {
    throw new TypeError(
      `Invalid storage key ${
        JSON.stringify(key)
      }: backslashes and control characters are not allowed`,
    );
  }
  const segs = key.split("/");
  for (const s of segs) {
    if (s === "" || s === "." || s === "..") {
      throw new TypeError(
        `Invalid storage key ${JSON.stringify(key)}: empty, "." and ".." segments are not allowed`,
      );
    }
  }
  if (TEMP_RE.test(segs[segs.length - 1])) {
    throw new TypeError(
      `Invalid storage key ${JSON.stringify(key)}: the name is reserved for temporary files`,
    );
  }
  return segs;
}

/** A list prefix may end in a partial segment or "/", but must not climb out either. */
function checkPrefix(prefix: string): void {
  if (prefix === "") return;
  if (prefix.startsWith("/") || hasBackslashOrControl(prefix)) {
    throw new TypeError(
      `Invalid storage prefix ${
        JSON.stringify(prefix)
      }: absolute paths, backslashes and control characters are not allowed`,
    );
  }
  const segs = prefix.split("/");
  const whole = segs.slice(0, -1); // the last one may be partial (or "" after a "/")
  if (whole.some((s) => s === "" || s === "." || s === "..") || segs[segs.length - 1] === "..") {
    throw new TypeError(
      `Invalid storage prefix ${
        JSON.stringify(prefix)
      }: empty, "." and ".." segments are not allowed`,
    );
  }
}

async function walk(
  root: string,
  rel: string,
  prefix: string,
  out: ListedObject[],
  sizes: boolean,
): Promise<void> {
  let entries;
  try {
    entries = await readdir(rel ? `${root}/${rel}` : root, { withFileTypes: true });
  } catch (e) {
    const code = codeOf(e);
    if (code === "ENOENT" || code === "ENOTDIR") return;
    throw e;
  }
  for (const e of entries) {
    const key = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      // Descend only where keys under the prefix can be.
      const dirKey = key + "/";
      if (dirKey.startsWith(prefix) || prefix.startsWith(dirKey)) {
        await walk(root, key, prefix, out, sizes);
      }
    } else if (e.isFile()) {
      if (TEMP_RE.test(e.name)) continue;
      if (!key.startsWith(prefix)) continue;
      let size = 0;
      if (sizes) {
        try {
          size = (await stat(`${root}/${key}`)).size;
        } catch (err) {
          if (codeOf(err) === "ENOENT") continue; // deleted while listing
          throw err;
        }
      }
      out.push({ key, size });
    }
  }
}

/**
 * Makes a directory's entries (a rename, a new file) durable: fsync of the directory. Not every
 * platform can open a directory (Windows cannot): best effort there, the file's own fsync is all
 * there is. Also the write-ahead log's and the Iceberg pending list's.
 */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch {
    // best effort
  } finally {
    await fh?.close().catch(() => {});
  }
}

function randomHex(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function codeOf(e: unknown): string | undefined {
  const err = e as { code?: string; name?: string } | null;
  if (err?.code) return err.code;
  // Deno's permission errors carry no code.
  if (err?.name === "NotCapable" || err?.name === "PermissionDenied") return "EACCES";
  return undefined;
}

/** Conditions that may pass on their own; the rest need an operator (permissions, read-only). */
const TRANSIENT = new Set([
  "ENOSPC",
  "EIO",
  "EBUSY",
  "EAGAIN",
  "EMFILE",
  "ENFILE",
  "EDQUOT",
  "ETIMEDOUT",
]);

function storageError(what: string, e: unknown): StorageError {
  const code = codeOf(e);
  const detail = e instanceof Error ? e.message : String(e);
  let hint = "";
  if ((code === "EACCES" || code === "EPERM") && !/--allow-write/.test(detail)) {
    hint = " (no write permission: check the directory's owner and mode)";
  } else if (code === "EROFS") hint = " (read-only file system)";
  else if (code === "ENOSPC") hint = " (disk full)";
  return new StorageError(`${what}: ${detail}${hint}`, code !== undefined && TRANSIENT.has(code), {
    cause: e,
  });
}

/** True when `s` holds a backslash or a control character (U+0000–U+001F, U+007F). */
function hasBackslashOrControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x5c) return true;
  }
  return false;
}
