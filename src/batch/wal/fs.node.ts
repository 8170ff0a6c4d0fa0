/**
 * The file API of the write-ahead log (./wal.ts) over node:fs/promises, which Deno, Bun
 * and Node all provide. Appends go through one file handle per segment; `sync()` is fsync.
 */
import { mkdir, open, readdir, readFile, unlink } from "node:fs/promises";
import * as zlib from "node:zlib";
import type { WalFile, WalFs } from "./wal.ts";
import { syncDir } from "../../storage/fs.node.ts";
import { useNativeCrc32 } from "../checksum.ts";

/**
 * The file API for the log's segments (and the forward queue's). Where there are such files
 * there is node:zlib, whose native CRC-32 then checksums their records (../checksum.ts).
 */
export function createWalFs(): WalFs {
  // Node before 20.15 has no zlib.crc32 (a namespace import: a named one would not link there).
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (typeof native === "function") useNativeCrc32(native);
  return {
    async mkdir(dir) {
      await mkdir(dir, { recursive: true });
    },
    async list(dir) {
      return await readdir(dir);
    },
    async read(path) {
      const b = await readFile(path);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    async openAppend(path): Promise<WalFile> {
      if (typeof Deno !== "undefined") return await denoAppend(path);
      const fh = await open(path, "a");
      return {
        async write(data) {
          let at = 0;
          while (at < data.length) {
            const { bytesWritten } = await fh.write(data, at, data.length - at);
            if (bytesWritten <= 0) {
              throw new Error(`Cannot write ${JSON.stringify(path)}: no progress`);
            }
            at += bytesWritten;
          }
        },
        async sync() {
          await fh.sync();
        },
        async close() {
          await fh.close();
        },
      };
    },
    async remove(path) {
      try {
        await unlink(path);
      } catch (e) {
        if ((e as { code?: string }).code !== "ENOENT") throw e;
      }
    },
    syncDir,
  };
}

/**
 * Appends up to this many bytes are written at once on the calling thread: an async write costs
 * the event loop more than the write(2) itself does for them (measured on Deno 2.9, 10 KiB into
 * the page cache: 22 µs of the main thread's CPU async, 8 µs with `writeSync`).
 */
const SYNC_WRITE_BYTES = 64 * 1024;

/**
 * Deno: a segment through `Deno.FsFile`, whose async writes run on Deno's blocking thread pool
 * (small ones are written at once, `SYNC_WRITE_BYTES`). (node:fs/promises' `FileHandle.write`
 * makes the write(2) call on the main thread, 5% of it under load.)
 */
async function denoAppend(path: string): Promise<WalFile> {
  const f = await Deno.open(path, { append: true, create: true });
  return {
    async write(data) {
      const now = data.length <= SYNC_WRITE_BYTES;
      let at = 0;
      while (at < data.length) {
        const rest = at === 0 ? data : data.subarray(at);
        const n = now ? f.writeSync(rest) : await f.write(rest);
        if (n <= 0) throw new Error(`Cannot write ${JSON.stringify(path)}: no progress`);
        at += n;
      }
    },
    async sync() {
      await f.sync();
    },
    close() {
      f.close();
      return Promise.resolve();
    },
  };
}
