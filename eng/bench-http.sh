#!/usr/bin/env bash
# HTTP coalescing over real sockets: `eng/bench-http.sh [options]` (`--help` lists them).
#
# Installs wrk from Debian when it is missing (Debian's `bombardier` package is an unrelated game), builds the
# benchmark app (tests/Coordination.HttpBenchmarks.App) in Release, and runs its driver: it starts the app on a free
# loopback port (and fresh processes of it for scenarios 3 and 4), loads it with wrk and with a raw-socket
# client of its own, and prints one markdown table, also written to artifacts/bench-http/results.md (with the app
# logs beside it). With the defaults the run takes about nine minutes; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "eng/bench-http.sh: wrk is not installed; installing the Debian package wrk" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

project=tests/Coordination.HttpBenchmarks.App
dotnet build "$project" -c Release -nologo -v quiet >&2
exec dotnet "$project/bin/Release/net10.0/Coordination.HttpBenchmarks.App.dll" drive "$@"
