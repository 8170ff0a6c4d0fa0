/**
 * Structured logging: one line per event, text (`level=info msg="…" key=value`) or JSON. The
 * runtime entry builds the logger (`createLogger`, ./logger.ts) and hands it to the app; the core
 * only sees this interface. Never log payloads.
 */
export type Fields = Record<string, string | number | boolean | bigint | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** True when debug lines are written (skip building their fields otherwise). */
  readonly debugEnabled: boolean;
}

/** A logger that writes nothing (tests, embedding). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  debugEnabled: false,
};
