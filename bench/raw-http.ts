/**
 * A lean HTTP/1.1 client for load generators on the machine under test: one keep-alive TCP
 * connection, the request's head and body written as they are (no chunking, no copy), the answer
 * read just far enough to know its status and skip its body (Content-Length or chunked). Its CPU
 * per request is a fraction of `fetch`'s, and stays the same at any number of clients, so what it
 * takes from the cores it shares with the server does not depend on the point being measured
 * (bench/overload.ts).
 */

const CRLF2 = new Uint8Array([13, 10, 13, 10]);
const dec = new TextDecoder();
const enc = new TextEncoder();

export class RawHttpClient {
  private conn: Deno.TcpConn | undefined;
  private pending = new Uint8Array(0);

  constructor(readonly host: string, readonly port: number) {}

  /**
   * POSTs `body` to `path` with `headers`; resolves the status code. The connection is reused
   * unless the server closes it (`Connection: close`, or EOF); a failure closes it and throws.
   */
  async post(path: string, headers: Record<string, string>, body: Uint8Array): Promise<number> {
    const head = enc.encode(
      `POST ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\ncontent-length: ${body.length}\r\n` +
        Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n",
    );
    this.conn ??= await Deno.connect({ hostname: this.host, port: this.port });
    const conn = this.conn;
    // The answer may come before the body is all written (a refusal from the headers): read it
    // while writing, and let a write that fails afterwards (the server closed) not hide it.
    const answer = this.readAnswer(conn);
    let writeError: unknown;
    try {
      await writeAll(conn, head);
      await writeAll(conn, body);
    } catch (e) {
      writeError = e;
    }
    try {
      const { status, close } = await answer;
      if (close || writeError !== undefined) this.close();
      return status;
    } catch (e) {
      this.close();
      throw writeError ?? e;
    }
  }

  close(): void {
    try {
      this.conn?.close();
    } catch { /* closed */ }
    this.conn = undefined;
    this.pending = new Uint8Array(0);
  }

  private async readAnswer(conn: Deno.TcpConn): Promise<{ status: number; close: boolean }> {
    let end: number;
    while ((end = indexOf(this.pending, CRLF2)) < 0) await this.fill(conn);
    const head = dec.decode(this.pending.subarray(0, end)).split("\r\n");
    this.pending = this.pending.subarray(end + 4);
    const status = Number(head[0].split(" ")[1]);
    const fields = new Map<string, string>();
    for (const line of head.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    if (fields.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
      for (;;) {
        let eol: number;
        while ((eol = indexOf(this.pending, CRLF2.subarray(2))) < 0) await this.fill(conn);
        const size = parseInt(dec.decode(this.pending.subarray(0, eol)), 16);
        this.pending = this.pending.subarray(eol + 2);
        await this.skip(conn, size + 2);
        if (size === 0) break;
      }
    } else {
      await this.skip(conn, Number(fields.get("content-length") ?? 0));
    }
    return { status, close: fields.get("connection")?.toLowerCase() === "close" };
  }

  private async skip(conn: Deno.TcpConn, n: number): Promise<void> {
    while (this.pending.length < n) {
      n -= this.pending.length;
      this.pending = new Uint8Array(0);
      await this.fill(conn);
    }
    this.pending = this.pending.subarray(n);
  }

  private async fill(conn: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    const n = await conn.read(buf);
    if (n === null) throw new Error("the server closed the connection before its answer");
    const next = new Uint8Array(this.pending.length + n);
    next.set(this.pending);
    next.set(buf.subarray(0, n), this.pending.length);
    this.pending = next;
  }
}

async function writeAll(conn: Deno.TcpConn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
