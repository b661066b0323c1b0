#!/usr/bin/env bash
# CPU profile of the HTTP benchmark app under wrk load, with Linux perf (the kernel's sampler: it sees every CPU
# cycle, where EventPipe's sampler stops threads at safe points and blames spin loops and locks).
#
#   eng/profile-http.sh [PATH] [SECONDS] [ROOT]
#     PATH     the URL path to load (default /sf/fast: unique URLs, nothing to coalesce; /plain/fast to compare)
#     SECONDS  how long perf samples (default 10; wrk runs 10 s longer around it)
#     ROOT     the frame whose call tree is printed (default SingleFlightRequestHandler+<HandleAsync>)
#   DEPTH=N in the environment prints N levels of the tree (default 3).
#
# Installs perf (Debian's linux-perf) and wrk when missing, builds the app in Release, runs it with perf maps on and
# W^X off (so perf can name JIT-compiled frames), loads it, records, prints the share of all the app's samples spent
# under ROOT as a tree (inclusive, three levels, frames of at least 0.05%), and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH_TO_LOAD="${1:-/sf/fast}"
SECONDS_TO_SAMPLE="${2:-10}"
ROOT="${3:-SingleFlightRequestHandler+<HandleAsync>}"

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need perf linux-perf
need wrk wrk

work="$(mktemp -d)"
dotnet build tests/Coordination.HttpBenchmarks.App -c Release -v quiet -nologo >/dev/null
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  dotnet tests/Coordination.HttpBenchmarks.App/bin/Release/net10.0/Coordination.HttpBenchmarks.App.dll serve --urls "http://127.0.0.1:$port" >"$work/app.log" 2>&1 &
app=$!
trap 'kill "$app" 2>/dev/null || true; rm -f "/tmp/perf-$app.map"' EXIT
until curl -fs "http://127.0.0.1:$port/plain/fast" >/dev/null 2>&1; do sleep 0.2; done

script=tests/Coordination.HttpBenchmarks.App/wrk/unique-urls.lua
wrk -t2 -c64 -d5s -s "$script" "http://127.0.0.1:$port" -- "$PATH_TO_LOAD" >/dev/null   # warm-up: tiered JIT settles
wrk -t2 -c64 -d"$((SECONDS_TO_SAMPLE + 10))"s -s "$script" "http://127.0.0.1:$port" -- "$PATH_TO_LOAD" >"$work/wrk.txt" &
load=$!
sleep 3
perf record -F 1999 -g -p "$app" -o "$work/perf.data" -- sleep "$SECONDS_TO_SAMPLE" 2>/dev/null
wait "$load"
grep -E "Requests/sec" "$work/wrk.txt"
perf script -i "$work/perf.data" -F ip,sym 2>/dev/null >"$work/stacks.txt"

python3 - "$work/stacks.txt" "$ROOT" "${DEPTH:-3}" <<'PY'
import collections, re, sys
path, root, depth = sys.argv[1], sys.argv[2], int(sys.argv[3])
samples, current = [], []
for line in open(path):
    line = line.strip()
    if not line:
        if current: samples.append(current); current = []
        continue
    parts = line.split(' ', 1)
    current.append(parts[1] if len(parts) > 1 else parts[0])
if current: samples.append(current)
def short(frame):
    frame = re.sub(r'\[(OptimizedTier1|Optimized|QuickJitted|Tier0|Tier1)\]|\(.*', '', frame)
    frame = re.sub(r'\[[^\]]*\]', '', frame)
    return frame.strip().split(' ')[-1][-110:] or '(native)'
tree = collections.Counter()
for stack in samples:
    stack = stack[::-1]
    starts = [i for i, frame in enumerate(stack) if root in frame]
    if starts:
        branch = tuple(short(frame) for frame in stack[starts[0]:starts[0] + depth])
        for level in range(1, len(branch) + 1): tree[branch[:level]] += 1
print(f"{len(samples)} samples of the app; share under {root}:")
for branch, count in sorted(tree.items()):
    if 100 * count / len(samples) >= 0.05:
        print(f"{100 * count / len(samples):6.2f}%  {'  ' * (len(branch) - 1)}{branch[-1]}")
PY
