#!/usr/bin/env bash
# Experiment-report benchmark: builds in Release, starts the service on a temp SQLite file, loads one experiment with two
# groups through the HTTP API (sessions of 20 events, each ended in its batch), and times GET /analytics?experiment_id=…
# (first call, then the median of WARM_RUNS) at SMALL and at LARGE events, and the ratio of the warm times.
#   bench/analytics.sh            (SMALL=100000 LARGE=1000000 WARM_RUNS=20; a smoke run: SMALL=2000 LARGE=20000)
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-100000}
LARGE=${LARGE:-1000000}
WARM_RUNS=${WARM_RUNS:-20}
EXPERIMENT=bench
work=$(mktemp -d /tmp/bench-analytics.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 240); do curl -fs -o /dev/null "$1" && return 0; sleep 0.5; done; echo "not ready: $1" >&2; exit 1; }
tool() { dotnet bench/Tools/bin/Release/net10.0/SessionTracking.Bench.Tools.dll "$@"; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read()[5:])['$1'])"; }

dotnet build Gateway/Gateway.csproj -c Release -v q -nologo >/dev/null
dotnet build bench/Tools/Tools.csproj -c Release -v q -nologo >/dev/null
port=$(free_port)
(cd Gateway/bin/Release/net10.0 && exec env Storage__Sqlite__DatabasePath="$work/sessions.db" Cluster__SiloPort="$(free_port)" \
   Cluster__GatewayPort="$(free_port)" Logging__LogLevel__Default=Warning ./SessionTracking.Gateway --urls "http://127.0.0.1:$port" \
   >"$work/gateway.log" 2>&1) &
pids+=($!)
url="http://127.0.0.1:$port"
wait_ready "$url/readyz"
report="/analytics?experiment_id=$EXPERIMENT"

small_sessions=$((SMALL / 20)); large_sessions=$((LARGE / 20))
echo "== loading $SMALL events ($small_sessions sessions)"
tool analytics-load "$url" "$EXPERIMENT" 0 "$small_sessions" | tee "$work/load-small"
small=$(tool analytics-time "$url" "$report" "$WARM_RUNS" | grep '^JSON'); echo "$small"
echo "== loading up to $LARGE events ($large_sessions sessions)"
tool analytics-load "$url" "$EXPERIMENT" "$small_sessions" $((large_sessions - small_sessions)) | tee "$work/load-large"
large=$(tool analytics-time "$url" "$report" "$WARM_RUNS" | grep '^JSON'); echo "$large"
curl -fs "$url$report" | python3 -c "import json,sys; e=json.load(sys.stdin)['experiments'][0]; print('check:', [(g['model_group'], g['sessions'], g['latency_ms']['count']) for g in e['groups']])"

python3 - "$SMALL" "$LARGE" "$small" "$large" <<'PY'
import json, sys
small_events, large_events = int(sys.argv[1]), int(sys.argv[2])
s, l = (json.loads(a[5:]) for a in sys.argv[3:5])
print(f"\n| events | first report (ms) | warm median (ms) | warm min–max (ms) |\n|---|---|---|---|")
for n, r in ((small_events, s), (large_events, l)):
    print(f"| {n:,} | {r['first_ms']} | {r['warm_median_ms']} | {r['warm_min_ms']}–{r['warm_max_ms']} |")
print(f"\nwarm ratio {large_events:,} / {small_events:,} events: {l['warm_median_ms'] / s['warm_median_ms']:.2f}x")
PY
