/**
 * The column builders, by their old path: src/core/parquet/ imports them from here. New code
 * imports ./columns/index.ts (this file goes once the Parquet encoder does too).
 */
export * from "./columns/index.ts";
