export const DASHBOARD_HTML = "<!doctype html><title>otlp2parquet</title>";
