# otlp2parquet server on Deno: OTLP/HTTP on port 4318, Parquet files under /data (or S3/R2 per
# the OTLP2PARQUET_* environment).
#
#   docker build -t otlp2parquet .
#   docker run -p 4318:4318 -p 4317:4317 -v otlp-data:/data otlp2parquet
#   docker run -p 4318:4318 -e OTLP2PARQUET_STORAGE_BACKEND=s3 -e OTLP2PARQUET_S3_BUCKET=b otlp2parquet
#
# It runs exactly what the test suite runs: `deno run … src/entry/main.ts serve`, with the npm
# dependencies installed by npm (deno.json: nodeModulesDir "manual").

ARG DENO_VERSION=2.9.6
ARG NODE_VERSION=20

# ---- deps: production npm dependencies (the S3 client is an optional dependency, kept) ----------
# `npm ci` from the committed lock file, as `deno task install` runs it.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# ---- runtime ------------------------------------------------------------------------------------
FROM denoland/deno:debian-${DENO_VERSION}
WORKDIR /app
# glibc malloc: few arenas, and big buffers (request bodies, columns) mapped on their own, so
# freed memory goes back to the system (docs/configuration.md, Memory budget).
ENV DENO_DIR=/app/.deno \
    DENO_NO_UPDATE_CHECK=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    OTLP2PARQUET_LISTEN_ADDR=0.0.0.0:4318 \
    OTLP2PARQUET_STORAGE_PATH=/data \
    OTLP2PARQUET_BATCH_WAL_DIR=/data/.wal
COPY --from=deps /app/node_modules ./node_modules
COPY package.json deno.json ./
COPY src ./src
# Type-check and cache the module graph at build time, so start-up compiles nothing.
RUN deno cache src/entry/main.ts src/batch/encode-worker.node.ts src/lifecycle/lifecycle-thread.node.ts src/codec/gzip-thread.node.ts \
 && mkdir -p /data \
 && chown -R deno:deno /data /app/.deno
USER deno
VOLUME /data
EXPOSE 4318 4317

# GET /health on the port of OTLP2PARQUET_LISTEN_ADDR.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "const a = Deno.env.get('OTLP2PARQUET_LISTEN_ADDR') ?? ':4318'; const r = await fetch('http://127.0.0.1:' + a.slice(a.lastIndexOf(':') + 1) + '/health'); Deno.exit(r.ok ? 0 : 1);"]

# The same permissions as `deno task start`. Configure with OTLP2PARQUET_* variables, or mount a
# config file and set OTLP2PARQUET_CONFIG=/path/to/config.toml.
ENTRYPOINT ["deno", "run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys", "src/entry/main.ts"]
CMD ["serve"]
