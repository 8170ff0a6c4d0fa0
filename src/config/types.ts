/**
 * The validated configuration every part of the app receives. Loading (config.toml, then
 * OTLP2PARQUET_* environment, then CLI flags) and validation live in ./load.ts; this file is
 * the shape and the defaults. `config.toml` at the repository root documents every key.
 */
import type { Codec, ParquetEncoder, ParquetOptions } from "../core/parquet/encode.ts";
import type { ArrowCompression, ArrowFileOptions } from "../core/arrow/file.ts";
import type { Profile } from "../core/tables.ts";
import type { ForwardConfig } from "./forward.ts";

export type { ForwardConfig };

export type Platform = "server" | "workers" | "lambda";
export type LogLevel = "error" | "warn" | "info" | "debug";
export type Backend = "fs" | "memory" | "s3" | "r2" | "gcs" | "azure";

export interface Config {
  server: {
    /** `host:port` the server listens on. Default `0.0.0.0:4318`. */
    listen_addr: string;
    /** Largest request body accepted, after decompression. Server 20 MiB, Workers 10 MiB, Lambda 6 MiB. */
    max_payload_bytes: number;
    /**
     * Bound of request bytes in flight (as read, decompressed, and their copy for the write-ahead
     * log); past it requests get 429 + Retry-After from their headers, before their body is read.
     * Server 128 MiB (or derived from `max_memory_bytes`), Workers and Lambda 32 MiB.
     */
    max_inflight_bytes: number;
    /**
     * Memory budget of the whole process (server); 0 = none. When set, `max_inflight_bytes`,
     * `batch.max_buffered_bytes` and `batch.max_bytes` are derived from it unless set
     * (../config/memory.ts), and start-up fails when the settings cannot fit.
     */
    max_memory_bytes: number;
    /**
     * How long a request refused from its headers with a 429 (buffers or in-flight bytes full)
     * waits, its body unread, for room before it gets the 429; 0 = answer at once. Server
     * 3000 ms, Workers and Lambda 0. ../http/admission.ts (`AdmissionQueue`).
     */
    admission_wait_ms: number;
    /** Most requests waiting for room at once (past it, 429 at once). Default 256. */
    max_waiting_requests: number;
    log_level: LogLevel;
    log_format: "text" | "json";
    /** Seconds a graceful shutdown may spend flushing before it gives up (the WAL keeps the data). */
    shutdown_timeout_secs: number;
    /** Count requests, records, files and storage operations; serve /metrics, /dashboard, /api/stats. */
    metrics: boolean;
    /** Put /metrics, /dashboard and /api/stats behind the configured auth (default: open like /health). */
    metrics_auth: boolean;
  };
  /** OTLP/gRPC (server mode only: Workers and Lambda cannot listen on a port). src/grpc/. */
  grpc: {
    /** Listen for OTLP/gRPC next to OTLP/HTTP. Default true on a server, false elsewhere. */
    enabled: boolean;
    /** `host:port` of the gRPC listener. Default `0.0.0.0:4317`. */
    listen_addr: string;
    /** Largest message accepted, after decompression. Default: `server.max_payload_bytes`. */
    max_recv_msg_bytes: number;
  };
  auth: {
    /** Bearer token clients must send (`Authorization: Bearer …`); empty disables. */
    bearer_token: string;
    /** HTTP basic credentials; both empty disables. */
    basic_username: string;
    basic_password: string;
  };
  storage: {
    backend: Backend;
    /** Prepended to every object key, e.g. `otel/`. */
    prefix: string;
    fs: { path: string };
    s3: {
      bucket: string;
      region: string;
      /** Custom endpoint for S3-compatible stores (MinIO, Ceph, R2, GCS…); empty for AWS. */
      endpoint: string;
      force_path_style: boolean;
      /** Explicit keys; empty means the standard AWS credential chain. */
      access_key_id: string;
      secret_access_key: string;
      session_token: string;
      /** Objects larger than this go up as multipart uploads. */
      multipart_threshold_bytes: number;
    };
    r2: {
      /** Cloudflare account id (server mode, through R2's S3 API). */
      account_id: string;
      bucket: string;
      access_key_id: string;
      secret_access_key: string;
      /** Name of the R2 bucket binding on Workers. */
      binding: string;
    };
    /** Google Cloud Storage through its S3-compatible XML API, with an HMAC key. */
    gcs: {
      bucket: string;
      /** HMAC key of a service account (Cloud Storage → Settings → Interoperability). */
      access_key_id: string;
      secret_access_key: string;
      /** Default `https://storage.googleapis.com`. */
      endpoint: string;
      /** Signing region; GCS takes `auto`. */
      region: string;
    };
    /** Azure Blob Storage (block blobs). */
    azure: {
      /** Storage account name; may come from the connection string instead. */
      account: string;
      container: string;
      /**
       * The account's blob service URL, for emulators and sovereign clouds; empty means
       * `https://<account>.blob.core.windows.net`.
       */
      endpoint: string;
      /** At most one of the three; all empty means the default Azure credential chain. */
      connection_string: string;
      account_key: string;
      sas_token: string;
      /** Objects larger than this go up as blocks (Put Block + Put Block List). */
      block_threshold_bytes: number;
    };
    retry: {
      /** Attempts per storage operation, first included. */
      max_attempts: number;
      base_delay_ms: number;
      max_delay_ms: number;
      /** Per-attempt timeout. */
      timeout_ms: number;
    };
  };
  batch: {
    enabled: boolean;
    max_rows: number;
    max_bytes: number;
    max_age_secs: number;
    durability: "wal" | "memory";
    /** Directory of the write-ahead log (server mode). */
    wal_dir: string;
    /** Memory bound of all buffers together; past it requests get 503 + Retry-After. */
    max_buffered_bytes: number;
    /** Disk bound of the write-ahead log; past it requests get 503 + Retry-After. */
    max_wal_bytes: number;
    /** Workers: name of the Durable Object namespace binding that batches (one object per table and service). */
    do_binding: string;
    /** Workers: key prefix (after storage.prefix) of batches the Durable Object could not store. */
    dead_letter_prefix: string;
    /** Workers: failed flushes of one batch before it goes under dead_letter_prefix. */
    max_flush_attempts: number;
  };
  parquet: {
    compression: Codec;
    /**
     * Which encoder writes Parquet: "auto" (ours wherever its codec runs, parquet-wasm
     * elsewhere), "native" (ours; start-up fails where its codec cannot run) or "wasm".
     */
    encoder: ParquetEncoder;
    /** zstd level of the native encoder (1–22). */
    zstd_level: number;
    row_group_size: number;
    /**
     * Dictionary-encode the entries of maps and lists (attribute keys and values, event names,
     * …) as well as the top-level string columns. false writes them plain: the encoder does
     * 20–24% less work, files change size by -4% to +12%.
     */
    nested_dictionary: boolean;
    /**
     * Server mode, batching: worker threads that run the Parquet encoder, so flushes use another
     * core and never stall requests. 0 encodes on the main thread. Default 1 (server).
     */
    encode_threads: number;
  };
  schema: {
    profile: Profile;
  };
  compaction: {
    /** Compact on a schedule (server: every `interval_secs`; Workers: the Cron Trigger runs it). */
    enabled: boolean;
    interval_secs: number;
    /** A partition (table, service, hour) with fewer uncompacted files is left alone. */
    min_files: number;
    /** A partition is compacted once its hour ended this many seconds ago. */
    min_age_secs: number;
    /** About how large a compacted file gets. */
    target_bytes: number;
    /** Input bytes merged in memory at once (a bigger partition is merged in several parts). */
    max_input_bytes: number;
    /** Work per run: partitions, and seconds after which no new partition is started. */
    max_partitions: number;
    max_run_secs: number;
  };
  retention: {
    /** Days to keep each signal's hour partitions; 0 keeps them forever. */
    logs_days: number;
    traces_days: number;
    metrics_days: number;
  };
  output: {
    /** File format written: Parquet (`.parquet`) or the Arrow IPC file format (`.arrow`). */
    format: OutputFormat;
  };
  arrow: {
    /** Compression of the buffers of Arrow IPC files (`output.format = "arrow"`). */
    compression: ArrowCompression;
  };
  catalog: {
    /** "iceberg": every stored file is committed to an Iceberg REST catalog (src/catalog/). */
    mode: "none" | "iceberg";
    iceberg: {
      /** The catalog's REST endpoint (required with mode = "iceberg"). */
      uri: string;
      /** Warehouse name or location the catalog knows (`GET /v1/config?warehouse=`). */
      warehouse: string;
      /** Namespace of the tables (levels separated by "."). */
      namespace: string;
      /** Bearer token (R2 Data Catalog, Nessie). */
      token: string;
      /** OAuth2 client credentials (Polaris, Lakekeeper). */
      oauth2_client_id: string;
      oauth2_client_secret: string;
      oauth2_scope: string;
      /** Token endpoint; empty: `{uri}/v1/oauth/tokens`. */
      oauth2_server_uri: string;
      /** AWS SigV4 signing name: "s3tables" (S3 Tables), "glue" (Glue); empty: no SigV4. */
      sigv4_service: string;
      sigv4_region: string;
      /** Explicit AWS keys; empty: the AWS default credential chain. */
      sigv4_access_key_id: string;
      sigv4_secret_access_key: string;
      sigv4_session_token: string;
      /** Seconds between commits (one snapshot per table per commit). */
      commit_interval_secs: number;
      format_version: number;
      /** Create the namespace and tables on first use. */
      create_tables: boolean;
      /** Timeout of one catalog request, in seconds. */
      timeout_secs: number;
      /** Server: directory of the pending list (files stored, not yet committed). */
      pending_dir: string;
    };
  };
  /** `[[forward]]`: OTLP destinations every accepted request is also sent to (./forward.ts). */
  forward: ForwardConfig[];
}

export type OutputFormat = "parquet" | "arrow";

const MiB = 1024 * 1024;

/** Defaults per platform: server, Cloudflare Workers and AWS Lambda each have their own. */
export function defaultConfig(platform: Platform): Config {
  return {
    server: {
      listen_addr: "0.0.0.0:4318",
      max_payload_bytes: platform === "workers"
        ? 10 * MiB
        : platform === "lambda"
        ? 6 * MiB
        : 20 * MiB,
      max_inflight_bytes: platform === "server" ? 128 * MiB : 32 * MiB,
      max_memory_bytes: 0,
      admission_wait_ms: platform === "server" ? 3000 : 0,
      max_waiting_requests: 256,
      log_level: "info",
      log_format: "text",
      shutdown_timeout_secs: 30,
      metrics: true,
      metrics_auth: false,
    },
    grpc: {
      enabled: platform === "server",
      listen_addr: "0.0.0.0:4317",
      // Follows server.max_payload_bytes unless set (./load.ts).
      max_recv_msg_bytes: platform === "workers"
        ? 10 * MiB
        : platform === "lambda"
        ? 6 * MiB
        : 20 * MiB,
    },
    auth: { bearer_token: "", basic_username: "", basic_password: "" },
    storage: {
      backend: platform === "workers" ? "r2" : platform === "lambda" ? "s3" : "fs",
      prefix: "",
      fs: { path: "./data" },
      s3: {
        bucket: "",
        region: "us-east-1",
        endpoint: "",
        force_path_style: false,
        access_key_id: "",
        secret_access_key: "",
        session_token: "",
        multipart_threshold_bytes: 16 * MiB,
      },
      r2: {
        account_id: "",
        bucket: "",
        access_key_id: "",
        secret_access_key: "",
        binding: "BUCKET",
      },
      gcs: {
        bucket: "",
        access_key_id: "",
        secret_access_key: "",
        endpoint: "https://storage.googleapis.com",
        region: "auto",
      },
      azure: {
        account: "",
        container: "",
        endpoint: "",
        connection_string: "",
        account_key: "",
        sas_token: "",
        block_threshold_bytes: 16 * MiB,
      },
      retry: { max_attempts: 4, base_delay_ms: 100, max_delay_ms: 2000, timeout_ms: 10_000 },
    },
    batch: {
      // Lambda and Workers write through: instances freeze or vanish between requests.
      enabled: platform === "server",
      max_rows: 200_000,
      max_bytes: 128 * MiB,
      max_age_secs: 60,
      durability: platform === "server" ? "wal" : "memory",
      wal_dir: "./data/.wal",
      max_buffered_bytes: 512 * MiB,
      max_wal_bytes: 2048 * MiB,
      do_binding: "BATCHER",
      dead_letter_prefix: "dead-letter/",
      max_flush_attempts: 5,
    },
    parquet: {
      // Workers have no zstd compressor: snappy (plain TypeScript) lets the native encoder write
      // there, so the Worker bundle carries no parquet-wasm for ingestion (bench/worker-encode.ts).
      compression: platform === "workers" ? "snappy" : "zstd",
      encoder: "auto",
      zstd_level: 1,
      row_group_size: 122_880,
      nested_dictionary: true,
      encode_threads: platform === "server" ? 1 : 0,
    },
    schema: { profile: "default" },
    compaction: {
      enabled: false,
      interval_secs: 3600,
      min_files: 10,
      min_age_secs: 3600,
      // A Worker has 128 MB of memory; a merge holds its input and output at once.
      target_bytes: platform === "workers" ? 32 * MiB : 256 * MiB,
      max_input_bytes: platform === "workers"
        ? 16 * MiB
        : platform === "lambda"
        ? 256 * MiB
        : 1024 * MiB,
      max_partitions: 100,
      // Workers: a Cron Trigger's CPU time is limited (30 s on the paid plan by default).
      max_run_secs: platform === "workers" ? 20 : platform === "lambda" ? 600 : 300,
    },
    retention: { logs_days: 0, traces_days: 0, metrics_days: 0 },
    output: { format: "parquet" },
    arrow: { compression: "none" },
    forward: [],
    catalog: {
      mode: "none",
      iceberg: {
        uri: "",
        warehouse: "",
        namespace: "otel",
        token: "",
        oauth2_client_id: "",
        oauth2_client_secret: "",
        oauth2_scope: "",
        oauth2_server_uri: "",
        sigv4_service: "",
        sigv4_region: "us-east-1",
        sigv4_access_key_id: "",
        sigv4_secret_access_key: "",
        sigv4_session_token: "",
        commit_interval_secs: 60,
        format_version: 2,
        create_tables: true,
        timeout_secs: 30,
        pending_dir: "./data/.iceberg-pending",
      },
    },
  };
}

/** The Parquet writer options of `c` (its `parquet` and `schema` sections). */
export function parquetOptions(c: Config): ParquetOptions {
  return {
    codec: c.parquet.compression,
    rowGroupSize: c.parquet.row_group_size,
    profile: c.schema.profile,
    nestedDictionary: c.parquet.nested_dictionary,
    encoder: c.parquet.encoder,
    zstdLevel: c.parquet.zstd_level,
    iceberg: c.catalog.mode === "iceberg" ? (c.catalog.iceberg.format_version as 2 | 3) : undefined,
  };
}

/** The Arrow IPC file options of `c` (its `arrow` and `schema` sections). */
export function arrowOptions(c: Config): ArrowFileOptions {
  return { compression: c.arrow.compression, profile: c.schema.profile };
}
