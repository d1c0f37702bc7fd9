#!/usr/bin/env bash
# A/B of two builds of the gateway (e.g. before and after a change), alternating: each round starts A then B on fresh
# temp SQLite files, creates 64 sessions, warms up, and drives wrk (acked single event, then batches of 50) against it,
# printing req/s and the server's CPU µs per request. Only ratios within one run of this script mean much on a shared
# machine.   [ROUNDS=3] [DURATION=10s] bench/compare.sh A_GATEWAY_DIR B_GATEWAY_DIR [C_GATEWAY_DIR ...]
# (a *_GATEWAY_DIR is a Release output folder holding SessionTracking.Gateway, e.g. Gateway/bin/Release/net10.0; builds are
# labelled A, B, C, ... in the order given and run in that order in every round)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/compare.sh A_GATEWAY_DIR B_GATEWAY_DIR [...]" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10s}
dotnet build bench/Tools/Tools.csproj -c Release -v q -nologo >/dev/null
work=$(mktemp -d /tmp/bench-compare.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
tool() { dotnet bench/Tools/bin/Release/net10.0/SessionTracking.Bench.Tools.dll "$@"; }
run() { # label dir
  local port data; port=$(free_port); data="$work/$1-$RANDOM"; mkdir -p "$data"
  (cd "$2" && exec env Storage__Sqlite__DatabasePath="$data/sessions.db" Cluster__SiloPort="$(free_port)" Cluster__GatewayPort="$(free_port)" \
     Logging__LogLevel__Default=Warning ./SessionTracking.Gateway --urls "http://127.0.0.1:$port" >"$data/log" 2>&1) &
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 240); do curl -fs -o /dev/null "$url/readyz" && break; sleep 0.5; done
  pid=$(pgrep -f -- "--urls http://127.0.0.1:$port" | head -1)
  tool start-sessions "$url" 64 "$data/ids" >/dev/null
  RUN_TOKEN="w$(date +%s%N)" IDS_FILE="$data/ids" BATCH=1 wrk -t1 -c32 -d5s -s bench/lua/events.lua "$url" >/dev/null
  for batch in 1 50; do
    local before after line
    before=$(cpu_ticks "$pid")
    line=$(RUN_TOKEN="r$(date +%s%N)" IDS_FILE="$data/ids" BATCH=$batch wrk -t1 -c32 -d"$DURATION" --latency -s bench/lua/events.lua "$url" | grep '^JSON')
    after=$(cpu_ticks "$pid")
    echo "$line" | python3 -c "import json,sys,os; d=json.loads(sys.stdin.read()[5:]); print(f\"$1 batch=$batch: {d['rps']:.0f} req/s, {($after-$before)*1e6/os.sysconf('SC_CLK_TCK')/max(d['requests'],1):.1f} µs server CPU/request\")"
  done
  kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; pid=""
}
labels=(A B C D E F G H)
for r in $(seq 1 "$ROUNDS"); do i=0; for dir in "$@"; do run "${labels[$i]}" "$dir"; i=$((i + 1)); done; done
