#!/usr/bin/env bash
# A real S3 server for the tests: a single-node OpenStack Swift with its S3 layer (s3api), from
# the Debian packages `swift swift-proxy swift-object swift-container swift-account memcached`.
#
#   scripts/s3-server.sh start        start (or reuse) Swift on 127.0.0.1:8080; ready when
#                                     GET /healthcheck answers (~6 s the first time)
#   scripts/s3-server.sh stop         stop everything this script started
#   scripts/s3-server.sh status       exit 0 when the S3 endpoint answers
#   scripts/s3-server.sh proxy-start PORT [REGION]
#                                     an extra proxy on 127.0.0.1:PORT over the same storage
#                                     (for fault tests that stop and restart "the server"
#                                     without disturbing other tests), whose s3api expects
#                                     the signing region REGION (default us-east-1; "auto"
#                                     for the GCS preset); prints its pid
#   scripts/s3-server.sh proxy-stop PORT
#
# S3 settings: endpoint http://127.0.0.1:8080, path-style, region us-east-1, access key
# `test:tester`, secret `testing`. Config, rings, data and logs live in $O2P_TEST_SWIFT_DIR
# (default ${TMPDIR:-/tmp}/otlp2parquet-swift). Idempotent: a running server is reused, and
# concurrent callers are serialised with flock.
#
# O2P_TEST_SWIFT_PORTS="PROXY,MEMCACHED,OBJECT,CONTAINER,ACCOUNT" moves the five ports (default
# 8080,11211,6010,6011,6012): the test task (scripts/test.ts) runs a private server on free ports
# in a private O2P_TEST_SWIFT_DIR and stops it when the run ends.
set -euo pipefail

DIR="${O2P_TEST_SWIFT_DIR:-${OTLP2PARQUET_SWIFT_DIR:-${TMPDIR:-/tmp}/otlp2parquet-swift}}"
HOST=127.0.0.1
IFS=, read -r PROXY_PORT MEMCACHED_PORT OBJECT_PORT CONTAINER_PORT ACCOUNT_PORT \
  <<<"${O2P_TEST_SWIFT_PORTS:-8080,11211,6010,6011,6012}"
for port in "$PROXY_PORT" "$MEMCACHED_PORT" "$OBJECT_PORT" "$CONTAINER_PORT" "$ACCOUNT_PORT"; do
  [[ "$port" =~ ^[0-9]+$ ]] || {
    echo "s3-server: O2P_TEST_SWIFT_PORTS must be five port numbers, got \"${O2P_TEST_SWIFT_PORTS:-}\"" >&2
    exit 1
  }
done
RUN_USER="$(id -un)"

die() { echo "s3-server: $*" >&2; exit 1; }

answers() { curl -fsS -m 2 -o /dev/null "http://$HOST:$1/healthcheck" 2>/dev/null; }

all_up() {
  answers "$PROXY_PORT" && answers "$OBJECT_PORT" && answers "$CONTAINER_PORT" &&
    answers "$ACCOUNT_PORT"
}

require_packages() {
  local missing=()
  for bin in swift-proxy-server swift-object-server swift-container-server \
    swift-account-server swift-ring-builder memcached; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  if ((${#missing[@]})); then
    die "not installed: ${missing[*]}; install with: apt-get install -y swift swift-proxy swift-object swift-container swift-account memcached"
  fi
}

write_config() {
  mkdir -p "$DIR/srv/d1" "$DIR/run" "$DIR/log" "$DIR/cache"
  # Servers read swift.conf from /etc/swift (hash suffix, storage policy 0 from the package);
  # rings and everything else come from $DIR.
  local common="[DEFAULT]
bind_ip = $HOST
user = $RUN_USER
swift_dir = $DIR
devices = $DIR/srv
mount_check = false
workers = 0
log_name = swift
log_level = WARNING
"
  cat >"$DIR/object-server.conf" <<EOF
$common
bind_port = $OBJECT_PORT

[pipeline:main]
pipeline = healthcheck object-server

[app:object-server]
use = egg:swift#object

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  cat >"$DIR/container-server.conf" <<EOF
$common
bind_port = $CONTAINER_PORT

[pipeline:main]
pipeline = healthcheck container-server

[app:container-server]
use = egg:swift#container

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  cat >"$DIR/account-server.conf" <<EOF
$common
bind_port = $ACCOUNT_PORT

[pipeline:main]
pipeline = healthcheck account-server

[app:account-server]
use = egg:swift#account

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  proxy_config "$PROXY_PORT" >"$DIR/proxy-server.conf"
}

proxy_config() {
  cat <<EOF
[DEFAULT]
bind_ip = $HOST
bind_port = $1
user = $RUN_USER
swift_dir = $DIR
workers = 0
log_name = swift-proxy
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = $HOST:$MEMCACHED_PORT

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = ${2:-us-east-1}

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
EOF
}

build_rings() {
  local ring port
  for ring in object container account; do
    case $ring in
    object) port=$OBJECT_PORT ;;
    container) port=$CONTAINER_PORT ;;
    account) port=$ACCOUNT_PORT ;;
    esac
    [[ -f "$DIR/$ring.ring.gz" ]] && continue
    (
      cd "$DIR"
      swift-ring-builder "$ring.builder" create 6 1 1 >/dev/null
      swift-ring-builder "$ring.builder" add "r1z1-$HOST:$port/d1" 100 >/dev/null
      swift-ring-builder "$ring.builder" rebalance >/dev/null || true
    )
    [[ -f "$DIR/$ring.ring.gz" ]] || die "could not build the $ring ring in $DIR"
  done
}

# pid_alive PIDFILE: the process is running and is still the one we started (its command line
# holds the marker saved next to the pid), so a stale pid reused by another process is ignored.
pid_alive() {
  [[ -f "$1" && -f "$1.cmd" ]] || return 1
  local pid
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(cat "$1.cmd")"
}

# spawn NAME COMMAND...: starts a detached process (own session) unless its pid file is alive.
spawn() {
  local name=$1
  shift
  pid_alive "$DIR/run/$name.pid" && return 0
  setsid "$@" >>"$DIR/log/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/run/$name.pid"
  echo "$*" >"$DIR/run/$name.pid.cmd"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_for() { # wait_for SECONDS CHECK...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

start() {
  if all_up; then
    echo "s3-server: already running on http://$HOST:$PROXY_PORT"
    return 0
  fi
  require_packages
  write_config
  build_rings
  if ! port_open "$MEMCACHED_PORT"; then
    spawn memcached memcached -l "$HOST" -p "$MEMCACHED_PORT" -U 0 -m 64 -u "$RUN_USER"
  fi
  answers "$ACCOUNT_PORT" || spawn account swift-account-server "$DIR/account-server.conf"
  answers "$CONTAINER_PORT" || spawn container swift-container-server "$DIR/container-server.conf"
  answers "$OBJECT_PORT" || spawn object swift-object-server "$DIR/object-server.conf"
  answers "$PROXY_PORT" || spawn proxy swift-proxy-server "$DIR/proxy-server.conf"
  if ! wait_for 60 all_up; then
    tail -n 20 "$DIR"/log/*.log >&2 || true
    die "Swift did not become ready on http://$HOST:$PROXY_PORT within 60 s (logs in $DIR/log)"
  fi
  echo "s3-server: ready on http://$HOST:$PROXY_PORT"
}

stop_pidfile() {
  local f=$1 pid
  [[ -f "$f" ]] || return 0
  pid=$(cat "$f")
  if pid_alive "$f"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$f" "$f.cmd"
}

stop() {
  local f
  for f in "$DIR"/run/*.pid; do
    [[ -e "$f" ]] && stop_pidfile "$f"
  done
  echo "s3-server: stopped"
}

proxy_start() {
  local port=${1:?usage: proxy-start PORT [REGION]} region=${2:-us-east-1}
  [[ -f "$DIR/proxy-server.conf" ]] || die "start the server first (scripts/s3-server.sh start)"
  proxy_config "$port" "$region" >"$DIR/proxy-$port.conf"
  spawn "proxy-$port" swift-proxy-server "$DIR/proxy-$port.conf"
  wait_for 30 answers "$port" || die "extra proxy on port $port did not become ready (log: $DIR/log/proxy-$port.log)"
  cat "$DIR/run/proxy-$port.pid"
}

proxy_stop() {
  local port=${1:?usage: proxy-stop PORT}
  stop_pidfile "$DIR/run/proxy-$port.pid"
  wait_for 10 bash -c "! (exec 3<>/dev/tcp/$HOST/$port) 2>/dev/null" || true
}

cmd=${1:-start}
shift || true
mkdir -p "$DIR/run"
exec 9>"$DIR/run/lock"
case $cmd in
start) flock 9 && start ;;
stop) flock 9 && stop ;;
status) all_up ;;
proxy-start) proxy_start "$@" ;;
proxy-stop) proxy_stop "$@" ;;
*) die "unknown command \"$cmd\" (start, stop, status, proxy-start PORT, proxy-stop PORT)" ;;
esac
