#!/usr/bin/env bash
# Custom metrics benchmark: the experiment report with 20 custom metrics of every kind and a price table, at SMALL and at
# LARGE events (warm median of WARM_RUNS, and the ratio), then the backfill of a metric defined after LARGE events are
# stored, timed while ingest goes on (another INGEST_SESSIONS sessions sent during the backfill).
#   bench/custom-metrics.sh       (SMALL=100000 LARGE=1000000 WARM_RUNS=20 INGEST_SESSIONS=5000; smoke: SMALL=2000 LARGE=20000)
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-100000}
LARGE=${LARGE:-1000000}
WARM_RUNS=${WARM_RUNS:-20}
INGEST_SESSIONS=${INGEST_SESSIONS:-5000}
EXPERIMENT=bench
work=$(mktemp -d /tmp/bench-custom.XXXXXX)
pids=()
cleanup() { status=$?; for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ "$status" = 0 ] || tail -20 "$work/gateway.log" >&2; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 240); do curl -fs -o /dev/null "$1" && return 0; sleep 0.5; done; echo "not ready: $1" >&2; exit 1; }
tool() { dotnet bench/Tools/bin/Release/net10.0/SessionTracking.Bench.Tools.dll "$@"; }

# Twenty metrics: every kind, conditions, a window, caps at a value and at a percentile, and a price table.
metrics=(
  task_rate__Kind=proportion task_rate__EventType=task_completed
  task_72h__Kind=proportion task_72h__EventType=task_completed task_72h__WindowHours=72
  good_ratings__Kind=count "good_ratings__EventType=rating" "good_ratings__Where=data.score >= 4"
  ratings_n__Kind=count ratings_n__EventType=rating
  mean_score__Kind=mean mean_score__EventType=rating mean_score__Field=data.score mean_score__PerEvent=true
  mean_score_unit__Kind=mean mean_score_unit__EventType=rating mean_score_unit__Field=data.score
  revenue__Kind=sum revenue__EventType=purchase revenue__Field=data.amount
  revenue_p99__Kind=sum revenue_p99__EventType=purchase revenue_p99__Field=data.amount revenue_p99__CapPercentile=0.99
  revenue_500__Kind=sum revenue_500__EventType=purchase revenue_500__Field=data.amount revenue_500__CapValue=500
  regenerates__Kind=count regenerates__EventType=regenerate
  responses_n__Kind=count responses_n__EventType=model_response
  regenerate_rate__Kind=ratio regenerate_rate__Numerator=regenerates regenerate_rate__Denominator=responses_n
  p90_score__Kind=quantile p90_score__EventType=rating p90_score__Field=data.score p90_score__Quantile=0.9
  p50_amount__Kind=quantile p50_amount__EventType=purchase p50_amount__Field=data.amount p50_amount__Quantile=0.5
  day1_retention__Kind=retention day1_retention__FromDay=1 day1_retention__ToDay=1
  answer_funnel__Kind=funnel answer_funnel__Steps__0=prompt answer_funnel__Steps__1=model_response answer_funnel__Steps__2=copy
  up_funnel__Kind=funnel up_funnel__Steps__0=prompt "up_funnel__Steps__1=feedback where data.feedback = \"up\""
  copied__Kind=proportion copied__EventType=copy
  scroll_depth__Kind=mean scroll_depth__EventType=scroll scroll_depth__Field=data.x scroll_depth__PerEvent=true
  task_steps__Kind=sum task_steps__EventType=task_completed task_steps__Field=data.steps task_steps__PerEvent=true
)
settings=(Analytics__Prices__m1__InputPerMillion=2.5 Analytics__Prices__m1__OutputPerMillion=10)
for m in "${metrics[@]}"; do settings+=("Analytics__Metrics__$m"); done

dotnet build Gateway/Gateway.csproj -c Release -v q -nologo >/dev/null
dotnet build bench/Tools/Tools.csproj -c Release -v q -nologo >/dev/null
port=$(free_port)
start_gateway() {
  (cd Gateway/bin/Release/net10.0 && exec env Storage__Sqlite__DatabasePath="$work/sessions.db" Cluster__SiloPort="$(free_port)" \
     Cluster__GatewayPort="$(free_port)" Logging__LogLevel__Default=Warning Logging__LogLevel__SessionTracking=Information "$@" \
     ./SessionTracking.Gateway --urls "http://127.0.0.1:$port" >>"$work/gateway.log" 2>&1) &
  pids+=($!)
  wait_ready "http://127.0.0.1:$port/readyz"
}
url="http://127.0.0.1:$port"
report="/analytics?experiment_id=$EXPERIMENT"
start_gateway "${settings[@]}"

small_sessions=$((SMALL / 20)); large_sessions=$((LARGE / 20))
echo "== loading $SMALL events ($small_sessions sessions), 20 custom metrics"
tool analytics-load "$url" "$EXPERIMENT" 0 "$small_sessions" | tee "$work/load-small"
small=$(tool analytics-time "$url" "$report" "$WARM_RUNS" | grep '^JSON'); echo "$small"
echo "== loading up to $LARGE events ($large_sessions sessions)"
tool analytics-load "$url" "$EXPERIMENT" "$small_sessions" $((large_sessions - small_sessions)) | tee "$work/load-large"
large=$(tool analytics-time "$url" "$report" "$WARM_RUNS" | grep '^JSON'); echo "$large"
curl -fs "$url$report" | python3 -c "
import json,sys
e=json.load(sys.stdin)['experiments'][0]
for g in e['groups']:
    print('check:', g['model_group'], g['sessions'], len(g['custom_metrics']), 'figures:', ', '.join(f\"{m['name']}={m['value']:.4g}\" if m['value'] is not None else f\"{m['name']}={m['state']}\" for m in g['custom_metrics']))"

python3 - "$SMALL" "$LARGE" "$small" "$large" <<'PY'
import json, sys
small_events, large_events = int(sys.argv[1]), int(sys.argv[2])
s, l = (json.loads(a[5:]) for a in sys.argv[3:5])
print(f"\n| events | first report (ms) | warm median (ms) | warm min–max (ms) |\n|---|---|---|---|")
for n, r in ((small_events, s), (large_events, l)):
    print(f"| {n:,} | {r['first_ms']} | {r['warm_median_ms']} | {r['warm_min_ms']}–{r['warm_max_ms']} |")
print(f"\nwarm ratio {large_events:,} / {small_events:,} events: {l['warm_median_ms'] / s['warm_median_ms']:.2f}x")
PY

echo "== restart with a 21st metric (task completions per session, defined now) and ingest going on"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
began=$(date +%s.%N)  # the backfill starts with the store, before the gateway is ready
start_gateway "${settings[@]}" Analytics__Metrics__tasks_n__Kind=count Analytics__Metrics__tasks_n__EventType=task_completed
tool analytics-load "$url" "$EXPERIMENT" "$large_sessions" "$INGEST_SESSIONS" > "$work/load-during" &
ingest=$!
while :; do
  state=$(curl -fs "$url/analytics/metrics" | python3 -c "
import json,sys
m=[m for m in json.load(sys.stdin)['metrics'] if m['name']=='tasks_n'][0]
p=m['progress'] or {}
print(m['state'], p.get('sessions_done'), p.get('sessions_total'))")
  set -- $state
  [ "$1" = complete ] && break
  sleep 0.5
done
ended=$(date +%s.%N)
wait "$ingest"; cat "$work/load-during"
grep -E "Custom metrics: backfill" "$work/gateway.log" | tail -3
python3 -c "print(f'backfill of 1 metric over {$large_sessions:,} sessions ({$LARGE:,} events) with ingest going on: {$ended - $began:.1f} s')"
