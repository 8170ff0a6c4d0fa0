/**
 * Structured logging for the runtime entries: one line per event, to stderr by default.
 *
 *   text: ts=2025-01-02T03:04:05.678Z level=info msg="listening" addr=127.0.0.1:4318 port=4318
 *   json: {"ts":"2025-01-02T03:04:05.678Z","level":"info","msg":"listening","addr":"127.0.0.1:4318","port":4318}
 *
 * Fields whose value is `undefined` are left out; bigints are written exactly (JSON: as strings).
 */
import type { Fields, Logger } from "./log.ts";
import type { Config, LogLevel } from "../config/types.ts";

export type LogFormat = "text" | "json";

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go (without a trailing newline). Default: stderr. */
  write?: (line: string) => void;
  /** Clock, for tests. Default `() => new Date()`. */
  now?: () => Date;
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** The logger `[server]` asks for (`log_level`, `log_format`), writing lines to `write`. */
export function loggerFor(config: Config, write?: (line: string) => void): Logger {
  return createLogger({ level: config.server.log_level, format: config.server.log_format, write });
}

export function createLogger(opts: LoggerOptions): Logger {
  const max = RANK[opts.level];
  if (max === undefined) {
    throw new TypeError(`createLogger(): unknown level ${JSON.stringify(opts.level)}`);
  }
  const write = opts.write ?? ((line: string) => console.error(line));
  const now = opts.now ?? (() => new Date());
  const format = opts.format === "json" ? formatJson : formatText;
  const emit = (level: LogLevel) => (msg: string, fields?: Fields) => {
    if (RANK[level] > max) return;
    write(format(now().toISOString(), level, msg, fields));
  };
  return {
    error: emit("error"),
    warn: emit("warn"),
    info: emit("info"),
    debug: emit("debug"),
    debugEnabled: max >= RANK.debug,
  };
}

/** `ts=… level=… msg="…" key=value …` (logfmt). */
export function formatText(ts: string, level: LogLevel, msg: string, fields?: Fields): string {
  let line = `ts=${ts} level=${level} msg=${quoteText(msg, true)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      line += ` ${safeKey(k)}=${v === null ? "null" : quoteText(String(v), false)}`;
    }
  }
  return line;
}

/** One JSON object; `ts`, `level`, `msg` first, then the fields (never overriding those three). */
export function formatJson(ts: string, level: LogLevel, msg: string, fields?: Fields): string {
  const obj: Record<string, unknown> = { ts, level, msg };
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      const key = k in obj ? `field.${k}` : k;
      obj[key] = typeof v === "bigint" ? v.toString() : v;
    }
  }
  return JSON.stringify(obj);
}

/** Quotes a logfmt value when it needs it (space, `=`, `"`, control characters, empty). */
function quoteText(s: string, always: boolean): string {
  if (!always && s !== "" && !/[\s="\\]/.test(s) && !hasControl(s)) return s;
  return JSON.stringify(s);
}

function safeKey(k: string): string {
  const cleaned = k.replace(/[^A-Za-z0-9_.\-/]/g, "_");
  return cleaned === "" ? "_" : cleaned;
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
