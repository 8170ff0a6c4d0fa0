/**
 * One raw HTTP/1.1 connection to a test server (127.0.0.1): writes exactly the bytes given, so a
 * test controls framing and timing (headers now, the body later or never), and reads responses
 * one at a time, with their headers.
 */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

export class RawConn {
  private buf = new Uint8Array(0);
  private constructor(private readonly c: Deno.TcpConn) {}

  static async open(port: number): Promise<RawConn> {
    return new RawConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async write(...parts: (string | Uint8Array)[]): Promise<void> {
    for (const p of parts) {
      const b = typeof p === "string" ? new TextEncoder().encode(p) : p;
      for (let at = 0; at < b.length;) at += await this.c.write(b.subarray(at));
    }
  }

  /** The next response (its body by Content-Length); null if the server closed first. */
  async response(): Promise<RawResponse | null> {
    for (;;) {
      const text = new TextDecoder("latin1").decode(this.buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const lines = text.slice(0, end).split("\r\n");
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(":");
          if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        const length = Number(headers["content-length"] ?? 0);
        if (this.buf.length >= end + 4 + length) {
          const body = new TextDecoder().decode(this.buf.subarray(end + 4, end + 4 + length));
          this.buf = this.buf.slice(end + 4 + length);
          return { status: Number(lines[0].slice(9, 12)), headers, body };
        }
      }
      const chunk = new Uint8Array(65536);
      const n = await this.c.read(chunk);
      if (n === null) return null;
      const next = new Uint8Array(this.buf.length + n);
      next.set(this.buf);
      next.set(chunk.subarray(0, n), this.buf.length);
      this.buf = next;
    }
  }

  close(): void {
    try {
      this.c.close();
    } catch { /* already closed */ }
  }
}

/** Request head of a POST with the given framing (`Content-Length: n`, or chunked). */
export function postHead(
  path: string,
  length: number | "chunked",
  contentType = "application/x-protobuf",
): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\n` +
    (length === "chunked" ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${length}\r\n`) +
    "\r\n";
}
