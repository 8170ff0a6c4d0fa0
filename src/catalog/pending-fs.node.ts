/**
 * The pending list's records as files in a directory (server mode, beside the write-ahead
 * log), over node:fs/promises (Deno, Bun, Node). A record is written to a temporary file,
 * fsync'd, renamed into place and the directory fsync'd: once `put` resolves it survives a
 * crash, and a crash mid-write leaves the old record or none, never half of one.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import type { KeyValueStore } from "./pending.ts";
import { syncDir as syncFsDir } from "../storage/fs.node.ts";

export function dirKeyValue(dir: string): KeyValueStore {
  let made: Promise<unknown> | undefined;
  const ready = () => (made ??= mkdir(dir, { recursive: true }).catch((e) => {
    made = undefined;
    throw e;
  }));
  const syncDir = () => syncFsDir(dir);
  return {
    async put(name, data) {
      await ready();
      const tmp = `${dir}/.${name}.${crypto.randomUUID()}.tmp`;
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, `${dir}/${name}`);
      await syncDir();
    },
    async get(name) {
      try {
        const b = await readFile(`${dir}/${name}`);
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return null;
        throw e;
      }
    },
    async list() {
      try {
        return (await readdir(dir)).filter((n) => !n.startsWith(".")).sort();
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return [];
        throw e;
      }
    },
    async delete(name) {
      try {
        await unlink(`${dir}/${name}`);
      } catch (e) {
        if ((e as { code?: string }).code !== "ENOENT") throw e;
      }
    },
  };
}
