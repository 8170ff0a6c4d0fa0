/** The release version, reported by `--version`, `/health` and the Parquet key-value metadata. */
export const VERSION = "0.1.0";
