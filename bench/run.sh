#!/usr/bin/env bash
# One command: builds in Release, runs the service (co-hosted silo, SQLite in a temp dir, default settings) and a bare
# Kestrel baseline side by side, drives both with wrk over loopback, and prints a table plus bench/results/<time>.json.
#   bench/run.sh                 (DURATION=10s by default; WARMUP=10s; SESSIONS=100000; SEED_EVENTS=1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
SESSIONS=${SESSIONS:-100000}
SEED_EVENTS=${SEED_EVENTS:-1000000}
if ! command -v wrk >/dev/null; then # a fresh machine: install it when this user may (as test.sh does)
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; fi
fi

work=$(mktemp -d /tmp/bench.XXXXXX)
results="bench/results"; mkdir -p "$results"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 120); do curl -fs -o /dev/null "$1" && return 0; sleep 0.5; done; echo "not ready: $1" >&2; exit 1; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; } # user+system time of a process, in clock ticks
wrk_json() { # url ids-file batch label server-pid: wrk's figures plus the server's CPU time per request
  local before after line
  before=$(cpu_ticks "$5")
  line=$(RUN_TOKEN="r$(date +%s%N)" IDS_FILE="$2" BATCH="$3" wrk -t1 -c32 -d"$DURATION" --latency -s bench/lua/events.lua "$1" | grep '^JSON')
  after=$(cpu_ticks "$5")
  echo "$line" | python3 -c "import json,sys,os; d=json.loads(sys.stdin.read()[5:]); d['server_cpu_us_per_request']=round(($after-$before)*1e6/os.sysconf('SC_CLK_TCK')/max(d['requests'],1),1); print(json.dumps({'run':'$4','data':d}))" >> "$work/runs.jsonl"
}
warmup() { # url ids-file: 10 s of the same load, unmeasured (JIT tiering and PGO, first activations, connection pools)
  RUN_TOKEN="w$(date +%s%N)" IDS_FILE="$2" BATCH=1 wrk -t1 -c32 -d"${WARMUP:-10s}" -s bench/lua/events.lua "$1" >/dev/null
}
tool() { dotnet bench/Tools/bin/Release/net10.0/SessionTracking.Bench.Tools.dll "$@"; }
tool_json() { # label, tool arguments...: keeps the tool's result line
  local label=$1; shift
  tool "$@" | grep '^JSON' | sed "s/^JSON /{\"run\":\"$label\",\"data\":/; s/\$/}/" >> "$work/runs.jsonl"
}

echo "== building (Release)"
dotnet build Gateway/Gateway.csproj -c Release -v q -nologo >/dev/null
dotnet build bench/Baseline/Baseline.csproj -c Release -v q -nologo >/dev/null
dotnet build bench/Tools/Tools.csproj -c Release -v q -nologo >/dev/null

start_gateway() { # durability; sets $url (not called in $(...), so the pid stays in this shell's list)
  local port; port=$(free_port)
  mkdir -p "$work/data-$1"
  # The per-session rate limit (Sessions:RequestsPerSecond, 10,000/s by default) is raised so that the hot-session run
  # measures what one grain sustains, not the limiter's 429s; the limit costs the same check at any value.
  (cd Gateway/bin/Release/net10.0 && exec env Storage__Sqlite__DatabasePath="$work/data-$1/sessions.db" Sessions__Durability="$1" Sessions__RequestsPerSecond=10000000 \
     Cluster__SiloPort="$(free_port)" Cluster__GatewayPort="$(free_port)" Logging__LogLevel__Default=Warning \
     ./SessionTracking.Gateway --urls "http://127.0.0.1:$port" >"$work/gateway-$1.log" 2>&1) &
  pids+=($!); url="http://127.0.0.1:$port"; wait_ready "$url/readyz"
  server=$(pgrep -f -- "--urls http://127.0.0.1:$port" | head -1)
}

echo "== baseline"
bport=$(free_port)
(cd bench/Baseline/bin/Release/net10.0 && exec ./SessionTracking.Bench.Baseline --urls "http://127.0.0.1:$bport" >"$work/baseline.log" 2>&1) &
pids+=($!)
bpid=$!
for _ in $(seq 1 60); do curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$bport/session/event" && break; sleep 0.5; done
echo "baseline" > "$work/baseline-ids"
warmup "http://127.0.0.1:$bport" "$work/baseline-ids"
wrk_json "http://127.0.0.1:$bport" "$work/baseline-ids" 1 baseline_single "$bpid"

echo "== service, acked (default)"
start_gateway Acked
tool start-sessions "$url" 64 "$work/ids64" >/dev/null
head -1 "$work/ids64" > "$work/hot"
warmup "$url" "$work/ids64"
wrk_json "$url" "$work/ids64" 1 acked_single "$server"
# Half the rate just measured, on the same 64 sessions: the latency an operator sees at half load.
max=$(python3 -c "import json,sys; r=[json.loads(l) for l in open('$work/runs.jsonl')]; print(int(next(x['data']['rps'] for x in r if x['run']=='acked_single')))")
echo "== paced at 50% of $max req/s"
tool_json acked_paced_half paced "$url" "$work/ids64" $((max / 2)) 10
# The same paced client against the bare baseline at the same rate: the floor this client and machine put under the p99.
tool_json baseline_paced_half paced "http://127.0.0.1:$bport" "$work/baseline-ids" $((max / 2)) 10
wrk_json "$url" "$work/ids64" 50 acked_batch50 "$server"
wrk_json "$url" "$work/hot" 1 acked_hot_session "$server"
echo "== $SESSIONS sessions"
tool_json start_sessions start-sessions "$url" "$SESSIONS" "$work/ids-many"
wrk_json "$url" "$work/ids-many" 1 acked_many_sessions "$server"
echo "== paced at 50% of $max req/s again, with the $SESSIONS sessions still activated"
tool_json acked_paced_half_many_resident paced "$url" "$work/ids64" $((max / 2)) 10

echo "== service, buffered"
start_gateway Buffered
tool start-sessions "$url" 64 "$work/bids64" >/dev/null
warmup "$url" "$work/bids64"
wrk_json "$url" "$work/bids64" 1 buffered_single "$server"
wrk_json "$url" "$work/bids64" 50 buffered_batch50 "$server"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=()

echo "== append cost: $SEED_EVENTS-event session vs a new one (in-process silo, 3,000 appends each: 500 left the mean to a few outliers)"
tool_json append_cost append-cost "$SEED_EVENTS" 3000
echo "== memory per idle session (in-process silo, $SESSIONS sessions)"
tool_json memory memory "$SESSIONS"

out="$results/$(date -u +%Y%m%dT%H%M%SZ).json"
python3 bench/report.py "$work/runs.jsonl" "$out"
