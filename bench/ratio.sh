#!/usr/bin/env bash
# Ratios to the bare-Kestrel baseline for one or more Release builds of the gateway, alternating: the baseline, then for
# each build 64 fresh sessions, 5 s of warm-up, acked single events and acked batches of 50 (ids on every event unless
# EVENT_IDS=0), then the baseline again; req/s, events/s, p99 and the server's CPU µs per request for each run.
#   [ROUNDS=1] [DURATION=8s] [EVENT_IDS=1] bench/ratio.sh GATEWAY_DIR [GATEWAY_DIR ...]
# (a GATEWAY_DIR is a Release output folder holding SessionTracking.Gateway, e.g. Gateway/bin/Release/net10.0)
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/ratio.sh GATEWAY_DIR [...]" >&2; exit 2; }
dotnet build bench/Baseline/Baseline.csproj -c Release -v q -nologo >/dev/null
dotnet build bench/Tools/Tools.csproj -c Release -v q -nologo >/dev/null
work=$(mktemp -d /tmp/bench-ratio.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
measure() { # url ids-file batch label server-pid
  local before after line; before=$(cpu_ticks "$5")
  line=$(RUN_TOKEN="r$(date +%s%N)" IDS_FILE="$2" BATCH="$3" wrk -t1 -c32 -d"${DURATION:-8s}" --latency -s bench/lua/events.lua "$1" | grep '^JSON')
  after=$(cpu_ticks "$5")
  echo "$line" | python3 -c "import json,sys,os; d=json.loads(sys.stdin.read()[5:]); print(f\"$4 batch=$3: {d['rps']:.0f} req/s ({d['rps']*$3:.0f} events/s), p99 {d['p99_ms']:.1f} ms, {($after-$before)*1e6/os.sysconf('SC_CLK_TCK')/max(d['requests'],1):.1f} µs server CPU/request, non-2xx {d['non2xx']}\")"
}
bport=$(free_port)
(cd bench/Baseline/bin/Release/net10.0 && exec ./SessionTracking.Bench.Baseline --urls "http://127.0.0.1:$bport" >"$work/baseline.log" 2>&1) &
bpid=$!; pids+=("$bpid")
for _ in $(seq 1 60); do curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$bport/session/event" && break; sleep 0.5; done
echo baseline > "$work/baseline-ids"
RUN_TOKEN=warm IDS_FILE="$work/baseline-ids" BATCH=1 wrk -t1 -c32 -d4s -s bench/lua/events.lua "http://127.0.0.1:$bport" >/dev/null
for _ in $(seq 1 "${ROUNDS:-1}"); do
  measure "http://127.0.0.1:$bport" "$work/baseline-ids" 1 baseline "$bpid"
  for dir in "$@"; do
    port=$(free_port); data="$work/$port"; mkdir -p "$data"
    (cd "$dir" && exec env Storage__Sqlite__DatabasePath="$data/sessions.db" Sessions__RequestsPerSecond=10000000 Cluster__SiloPort="$(free_port)" \
       Cluster__GatewayPort="$(free_port)" Logging__LogLevel__Default=Warning ./SessionTracking.Gateway --urls "http://127.0.0.1:$port" >"$data/log" 2>&1) &
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 240); do curl -fs -o /dev/null "$url/readyz" && break; sleep 0.5; done
    pid=$(pgrep -f -- "--urls http://127.0.0.1:$port" | head -1); pids+=("$pid")
    dotnet bench/Tools/bin/Release/net10.0/SessionTracking.Bench.Tools.dll start-sessions "$url" 64 "$data/ids" >/dev/null
    RUN_TOKEN="w$(date +%s%N)" IDS_FILE="$data/ids" BATCH=1 wrk -t1 -c32 -d5s -s bench/lua/events.lua "$url" >/dev/null
    measure "$url" "$data/ids" 1 "$dir" "$pid"
    measure "$url" "$data/ids" 50 "$dir" "$pid"
    measure "http://127.0.0.1:$bport" "$work/baseline-ids" 1 baseline "$bpid"
    kill "$pid"; wait "$pid" 2>/dev/null
  done
done
