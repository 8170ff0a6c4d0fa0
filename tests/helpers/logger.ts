/**
 * The test logger: a Logger (src/log/log.ts) that keeps its lines for assertions.
 *
 *   const logger = new TestLogger();          // debug lines on
 *   const quiet = new TestLogger(false);      // debugEnabled false, as the server's default
 *   logger.find("file stored"); logger.stored();
 */
import type { Fields, Logger } from "../../src/log/log.ts";

export interface LogLine {
  level: string;
  msg: string;
  fields?: Fields;
}

export class TestLogger implements Logger {
  readonly lines: LogLine[] = [];
  constructor(readonly debugEnabled = true) {}
  debug(msg: string, fields?: Fields) {
    this.lines.push({ level: "debug", msg, fields });
  }
  info(msg: string, fields?: Fields) {
    this.lines.push({ level: "info", msg, fields });
  }
  warn(msg: string, fields?: Fields) {
    this.lines.push({ level: "warn", msg, fields });
  }
  error(msg: string, fields?: Fields) {
    this.lines.push({ level: "error", msg, fields });
  }
  /** The lines whose message is `msg`. */
  find(msg: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg);
  }
  /** The fields of every "file stored" line. */
  stored(): Fields[] {
    return this.find("file stored").map((l) => l.fields!);
  }
}

/** A TestLogger with debug lines off (the batching tests' logger). */
export class MemoryLogger extends TestLogger {
  constructor() {
    super(false);
  }
}
