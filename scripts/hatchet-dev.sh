#!/usr/bin/env bash
# Run a real Hatchet engine (hatchet-lite) plus a private PostgreSQL on this machine,
# without Docker. For local development and integration tests.
#
#   scripts/hatchet-dev.sh up       start everything (idempotent), print client env
#   scripts/hatchet-dev.sh env      print the saved `export HATCHET_CLIENT_...` lines
#   scripts/hatchet-dev.sh status   say what runs
#   scripts/hatchet-dev.sh down     stop hatchet-lite and postgres (data is kept)
#   scripts/hatchet-dev.sh restart  stop and start hatchet-lite only (PostgreSQL keeps running), print client env
#
# Typical use:  eval "$(scripts/hatchet-dev.sh up)"
# Everything listens on 127.0.0.1, except that hatchet-lite's HTTP listeners (API,
# proxy, static files, health) bind all interfaces: the engine has no setting for them.
set -euo pipefail

HATCHET_VERSION=v0.104.7 # engine tag matching our pinned hatchet-sdk
# State lives in the project root (not $PWD) so every subcommand finds it from any directory.
PROJECT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=$(realpath -m "${REPOCHAT_HATCHET_HOME:-$PROJECT_ROOT/.hatchet-dev}")
PG_PORT=${REPOCHAT_HATCHET_PG_PORT:-55432}
GRPC_PORT=${REPOCHAT_HATCHET_GRPC_PORT:-7077}
API_PORT=${REPOCHAT_HATCHET_API_PORT:-8888} # hatchet-lite's proxy: /api -> REST API
# Internal listeners of hatchet-lite (REST API behind the proxy, static files, health).
INTERNAL_API_PORT=${REPOCHAT_HATCHET_INTERNAL_API_PORT:-$((API_PORT + 1))}
FRONTEND_PORT=${REPOCHAT_HATCHET_FRONTEND_PORT:-$((API_PORT + 2))}
HEALTH_PORT=${REPOCHAT_HATCHET_HEALTH_PORT:-$((API_PORT + 3))}
BIN_DIR=$HOME/.cache/repochat/hatchet-$HATCHET_VERSION/bin
DEFAULT_TENANT_ID=707d0855-80ab-4e1f-a156-f1c4546cbf52 # seeded by `hatchet-admin quickstart`

PG_DIR=$HOME_DIR/pg # owned by the postgres user: data/, sock/, postgres.log
PID_FILE=$HOME_DIR/hatchet-lite.pid
LOG_FILE=$HOME_DIR/hatchet-lite.log
ENV_FILE=$HOME_DIR/env
export DATABASE_URL="postgresql://hatchet:hatchet@127.0.0.1:$PG_PORT/hatchet?sslmode=disable"

log() { echo "hatchet-dev: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
fail() { tail -n 40 "$1" >&2; die "$2 (log: $1)"; }

# PostgreSQL refuses to run as root: run its tools as `postgres` when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bindir() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1) # newest installed major
  if [ -n "$d" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
  command -v pg_ctl >/dev/null && command -v initdb >/dev/null && dirname "$(readlink -f "$(command -v pg_ctl)")"
}

# SQL as superuser "hatchet" over the private unix socket; $2 = database (default hatchet).
psql_hatchet() { as_pg "$PGBIN/psql" -h "$PG_DIR/sock" -p "$PG_PORT" -U hatchet -d "${2:-hatchet}" -tAc "$1"; }

pg_running() { [ -f "$PG_DIR/data/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

lite_pid() { # prints the pid of a live hatchet-lite we started, else fails
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && grep -q hatchet-lite "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

healthy() {
  curl -fsS -o /dev/null "http://127.0.0.1:$HEALTH_PORT/ready" 2>/dev/null &&
    curl -fsS -o /dev/null "http://127.0.0.1:$API_PORT/api/ready" 2>/dev/null &&
    (exec 3<>"/dev/tcp/127.0.0.1/$GRPC_PORT") 2>/dev/null
}

start_postgres() {
  PGBIN=$(pg_bindir || true)
  if [ -z "$PGBIN" ]; then
    log "installing PostgreSQL (apt-get)"
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
    PGBIN=$(pg_bindir) || die "PostgreSQL binaries not found after install"
  fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "creating PostgreSQL cluster in $PG_DIR/data"
    mkdir -p "$PG_DIR/data" "$PG_DIR/sock"
    echo hatchet >"$PG_DIR/pwfile"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$PG_DIR"
    chmod 700 "$PG_DIR/data"
    # Bootstrap superuser "hatchet" (password "hatchet"); trust only on the private socket.
    as_pg "$PGBIN/initdb" -D "$PG_DIR/data" -U hatchet --pwfile="$PG_DIR/pwfile" \
      -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$PG_DIR/pwfile"
  fi
  if ! pg_running; then
    as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null -o \
      "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR/sock -c max_connections=200"
  fi
  if ! psql_hatchet "SELECT 1 FROM pg_database WHERE datname='hatchet'" postgres | grep -q 1; then
    as_pg "$PGBIN/createdb" -h "$PG_DIR/sock" -p "$PG_PORT" -U hatchet hatchet
  fi
}

build_binaries() {
  local b ok=1
  # The version is linked in: the SDK treats an unversioned engine as a legacy one.
  for b in hatchet-lite hatchet-migrate hatchet-admin; do [ -x "$BIN_DIR/$b" ] || ok=0; done
  [ "$ok" = 1 ] && [ "$("$BIN_DIR/hatchet-lite" --version 2>/dev/null)" = "$HATCHET_VERSION" ] && return
  command -v go >/dev/null || die "Go >= 1.26 is needed to build Hatchet $HATCHET_VERSION"
  log "building Hatchet $HATCHET_VERSION into $BIN_DIR (first run only, takes minutes)"
  local tmp dir cmd=github.com/hatchet-dev/hatchet/cmd
  tmp=$(mktemp -d) && BUILD_TMP=$tmp && trap 'rm -rf "${BUILD_TMP:-}"' EXIT
  # `go install module/cmd/x@tag` fails here (the proxy refuses the @v/list lookup and the
  # checksum DB lacks some deps), so build from a throwaway module that reuses Hatchet's go.sum.
  printf 'module repochat.local/hatchetbuild\n\ngo 1.26\n\nrequire github.com/hatchet-dev/hatchet %s\n' \
    "$HATCHET_VERSION" >"$tmp/go.mod"
  dir=$(cd "$tmp" && go mod download -json "github.com/hatchet-dev/hatchet@$HATCHET_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || die "go mod download of hatchet $HATCHET_VERSION failed"
  cp "$dir/go.sum" "$tmp/go.sum" && chmod u+w "$tmp/go.sum"
  mkdir -p "$BIN_DIR"
  (cd "$tmp" && GOFLAGS=-mod=mod GOBIN="$BIN_DIR" go install -ldflags "-s -w -X main.Version=$HATCHET_VERSION" \
    "$cmd/hatchet-lite" "$cmd/hatchet-migrate" "$cmd/hatchet-admin")
}

engine_env() { # configuration read by hatchet-migrate / hatchet-admin / hatchet-lite
  export SERVER_URL="http://127.0.0.1:$API_PORT" SERVER_PORT="$INTERNAL_API_PORT" \
    SERVER_GRPC_PORT="$GRPC_PORT" SERVER_GRPC_BIND_ADDRESS=127.0.0.1 SERVER_GRPC_INSECURE=t \
    SERVER_GRPC_BROADCAST_ADDRESS="127.0.0.1:$GRPC_PORT" \
    SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS="127.0.0.1:$GRPC_PORT" \
    SERVER_HEALTHCHECK_PORT="$HEALTH_PORT" SERVER_MSGQUEUE_KIND=postgres \
    SERVER_AUTH_COOKIE_DOMAIN=127.0.0.1 SERVER_AUTH_COOKIE_INSECURE=t SERVER_AUTH_SET_EMAIL_VERIFIED=t \
    SERVER_ANALYTICS_POSTHOG_ENABLED=f SERVER_SECURITY_CHECK_ENABLED=f \
    LITE_STATIC_ASSET_DIR="$HOME_DIR/static" LITE_FRONTEND_PORT="$FRONTEND_PORT" LITE_RUNTIME_PORT="$API_PORT"
}

tenant_assigned() { # has the engine bound the default tenant to its partitions yet?
  [ "$(psql_hatchet "SELECT count(*) FROM \"Tenant\" WHERE id = '$DEFAULT_TENANT_ID'
    AND \"controllerPartitionId\" IS NOT NULL AND \"schedulerPartitionId\" IS NOT NULL")" = 1 ]
}

start_lite() {
  engine_env
  mkdir -p "$HOME_DIR/static" # no dashboard; the static server only needs an index.html
  echo '<p>Hatchet dev engine (no dashboard)</p>' >"$HOME_DIR/static/index.html"
  # Same steps as the official hatchet-lite image's entrypoint (both are idempotent).
  "$BIN_DIR/hatchet-migrate" >"$HOME_DIR/migrate.log" 2>&1 || fail "$HOME_DIR/migrate.log" "hatchet-migrate failed"
  "$BIN_DIR/hatchet-admin" quickstart --skip certs --generated-config-dir "$HOME_DIR/config" \
    --overwrite=false >"$HOME_DIR/quickstart.log" 2>&1 || fail "$HOME_DIR/quickstart.log" "quickstart failed"
  # hatchet-lite exits without releasing its partitions, scheduler leases and outbox consumer
  # sessions; after a quick restart those stale rows stall scheduling for 20 s to ~2 min. No
  # engine runs now, so clear them. The new engine binds the tenant to fresh partitions ~10 s
  # after start; we wait for that so that `up` returns ready to schedule.
  psql_hatchet 'DELETE FROM "Lease"; DELETE FROM "ControllerPartition"; DELETE FROM "SchedulerPartition";
    DELETE FROM "TenantWorkerPartition"; UPDATE outbox.consumer_sessions SET expires_at = now();
    UPDATE outbox.topics SET exclusive_consumer_expires_at = now() WHERE exclusive_consumer_id IS NOT NULL;' \
    >/dev/null || log "warning: could not clear stale engine state; first runs may be slow"
  log "starting hatchet-lite (log: $LOG_FILE)"
  nohup setsid "$BIN_DIR/hatchet-lite" --config "$HOME_DIR/config" >"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local i token
  for i in $(seq 1 120); do
    healthy && tenant_assigned && break
    lite_pid >/dev/null || fail "$LOG_FILE" "hatchet-lite exited"
    [ "$i" = 120 ] && fail "$LOG_FILE" "hatchet-lite not healthy after 120 s"
    sleep 1
  done
  token=$("$BIN_DIR/hatchet-admin" token create --config "$HOME_DIR/config" \
    --tenant-id "$DEFAULT_TENANT_ID" --name repochat-dev 2>>"$HOME_DIR/quickstart.log" | tail -n1)
  case $token in ey*) ;; *) die "token creation failed (see $HOME_DIR/quickstart.log)" ;; esac
  cat >"$ENV_FILE" <<EOF
export HATCHET_CLIENT_TOKEN=$token
export HATCHET_CLIENT_TLS_STRATEGY=none
export HATCHET_CLIENT_HOST_PORT=127.0.0.1:$GRPC_PORT
export HATCHET_CLIENT_SERVER_URL=http://127.0.0.1:$API_PORT
EOF
  chmod 600 "$ENV_FILE"
}

print_env() {
  if [ ! -s "$ENV_FILE" ] || ! lite_pid >/dev/null; then die "Hatchet is not up; run: $0 up"; fi
  cat "$ENV_FILE"
}

cmd_up() {
  mkdir -p "$HOME_DIR"
  [ -f "$HOME_DIR/.gitignore" ] || echo '*' >"$HOME_DIR/.gitignore"
  if lite_pid >/dev/null && healthy && [ -s "$ENV_FILE" ]; then print_env; return; fi # already up
  start_postgres
  build_binaries
  stop_lite # a running but unhealthy engine is restarted
  start_lite
  print_env
}

stop_lite() {
  local pid i
  if pid=$(lite_pid); then
    log "stopping hatchet-lite (pid $pid)"
    kill -TERM "$pid"
    for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  rm -f "$PID_FILE"
}

cmd_down() {
  stop_lite
  PGBIN=$(pg_bindir || true)
  if [ -n "$PGBIN" ] && pg_running; then
    log "stopping postgres"
    as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null
  fi
}

cmd_restart() { # what an engine crash or upgrade looks like to workers: runs, tokens and workflows are kept
  PGBIN=$(pg_bindir || true)
  if ! lite_pid >/dev/null || [ -z "$PGBIN" ] || ! pg_running; then die "Hatchet is not up; run: $0 up"; fi
  stop_lite
  start_lite
  print_env
}

cmd_status() {
  local pid
  PGBIN=$(pg_bindir || true)
  if [ -n "$PGBIN" ] && pg_running; then echo "postgres: running on 127.0.0.1:$PG_PORT ($PG_DIR/data)"
  else echo "postgres: stopped"; fi
  if ! pid=$(lite_pid); then echo "hatchet-lite: stopped"
  elif healthy; then echo "hatchet-lite: healthy (pid $pid, grpc 127.0.0.1:$GRPC_PORT, http://127.0.0.1:$API_PORT)"
  else echo "hatchet-lite: running but NOT healthy (pid $pid, log $LOG_FILE)"; fi
}

case ${1:-} in
  up) cmd_up ;;
  env) print_env ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart) cmd_restart ;;
  *) echo "usage: $0 up|env|down|status|restart" >&2; exit 2 ;;
esac
