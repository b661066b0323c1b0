#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages if it is missing, starts the local cluster, and makes
# postgres/postgres@127.0.0.1:5432 and a database "coordination" available. Idempotent; runs as root.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
if ! pg_lsclusters -h | grep -q "^${version} main"; then
  pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^${version} main .* online"; then
  pg_ctlcluster "$version" main start
fi

for _ in $(seq 30); do
  su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432" && break
  sleep 1
done

su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'coordination'\"" | grep -q 1; then
  su postgres -c "createdb coordination"
fi
echo "PostgreSQL $version is up: Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=coordination"
