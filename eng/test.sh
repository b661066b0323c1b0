#!/usr/bin/env bash
# The README's test command: `eng/test.sh [dotnet test arguments]`.
#
# Needs only the .NET SDK and root or sudo-free apt (as on CI): it installs PostgreSQL from Debian's packages when it
# is missing, starts a throwaway cluster as an unprivileged user on a free loopback port in a temporary directory,
# exports its connection string, runs the whole `dotnet test`, and stops and removes the cluster when the run ends,
# also when tests fail or the run is interrupted. If the server cannot start, the run fails: database tests are
# never skipped.
#
# Prometheus likewise: the dashboard test (tests/Coordination.Dashboard.Tests) starts a real Prometheus on a free
# loopback port with a generated config. This script installs the Debian package prometheus when it is missing, tells
# the test where the binary is (COORDINATION_TEST_PROMETHEUS) and where to work (COORDINATION_TEST_PROMETHEUS_DIR),
# and on exit stops every Prometheus the tests left running there, also when they fail or crash. A missing Prometheus
# fails the run; the test is never skipped.
#
# With your own server: export COORDINATION_TEST_POSTGRES="Host=...;Username=...;Password=..." and nothing is
# started (the role must be allowed to create databases; the restart test then fails, as it cannot restart your
# server).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "eng/test.sh: $*" >&2; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] || [ ! -x "$dir/pg_ctl" ]; then
    log "PostgreSQL is not installed; installing the Debian package postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

free_port() {
  local port
  for _ in $(seq 200); do
    port=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  log "no free loopback port found"
  return 1
}

# Runs a command as the unprivileged user that owns the cluster (PostgreSQL refuses to run as root).
as_pg_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  local bin port options
  bin=$(pg_bin)
  PG_USER=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    PG_USER=postgres
    id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  fi
  PG_DIR=$(mktemp -d /tmp/coordination-pg.XXXXXX)
  chown "$PG_USER" "$PG_DIR"
  as_pg_user "$bin/initdb" -D "$PG_DIR/data" -U coordination --auth=trust --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  for _ in 1 2 3; do
    port=$(free_port)
    options="-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=300"
    if as_pg_user "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 -o "$options" start >/dev/null; then
      export COORDINATION_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=coordination;Database=postgres"
      # The restart tests run this script to restart the server (pg_ctl restart -m fast) mid-run.
      local ctl="$bin/pg_ctl -D $PG_DIR/data -l $PG_DIR/server.log -w -t 60"
      if [ "$(id -u)" -eq 0 ]; then ctl="runuser -u $PG_USER -- $ctl"; fi
      printf '#!/usr/bin/env bash\nexec %s -m fast -o "%s" restart\n' "$ctl" "$options" >"$PG_DIR/restart.sh"
      chmod +x "$PG_DIR/restart.sh"
      export COORDINATION_TEST_POSTGRES_RESTART="$PG_DIR/restart.sh"
      export PATH="$bin:$PATH"
      log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $PG_DIR/data)"
      return 0
    fi
    tail -n 20 "$PG_DIR/server.log" >&2 || true
  done
  log "PostgreSQL did not start"
  return 1
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    as_pg_user "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}

prometheus_bin() {
  if ! command -v prometheus >/dev/null 2>&1; then
    log "Prometheus is not installed; installing the Debian package prometheus"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  command -v prometheus
}

prepare_prometheus() {
  if [ -z "${COORDINATION_TEST_PROMETHEUS:-}" ]; then
    COORDINATION_TEST_PROMETHEUS=$(prometheus_bin)
    export COORDINATION_TEST_PROMETHEUS
  fi
  PROM_DIR=$(mktemp -d /tmp/coordination-prometheus.XXXXXX)
  export COORDINATION_TEST_PROMETHEUS_DIR="$PROM_DIR"
  log "$("$COORDINATION_TEST_PROMETHEUS" --version 2>&1 | head -n 1) for the dashboard test"
}

stop_prometheus() {
  if [ -n "${PROM_DIR:-}" ] && [ -d "$PROM_DIR" ]; then
    local pid_file pid
    for pid_file in "$PROM_DIR"/*/prometheus.pid; do
      [ -f "$pid_file" ] || continue
      pid=$(cat "$pid_file")
      # Only a Prometheus: the id may have been reused if the server had already exited.
      if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = prometheus ]; then
        kill -9 "$pid" 2>/dev/null || true
      fi
    done
    rm -rf "$PROM_DIR"
  fi
}

cleanup() {
  stop_prometheus
  stop_postgres
}

trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${COORDINATION_TEST_POSTGRES:-}" ]; then
  start_postgres
else
  log "using COORDINATION_TEST_POSTGRES from the environment"
fi

prepare_prometheus

dotnet test CoordWeb.sln "$@"
