#!/usr/bin/env bash
# Throughput of one client-mode gateway in front of one silo, then two silos (Redis membership, one shared SQLite
# file): wrk posts batches of 10 events to 200 sessions for DURATION seconds per run. Not part of ./test.sh (it is
# a measurement, not a check); run it after a Debug build: tests/Cluster.Tests/throughput.sh [DURATION] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-15}
connections=${2:-32}
silo_dll=Silo/bin/Debug/net10.0/SessionTracking.Silo.dll
gateway_dll=Gateway/bin/Debug/net10.0/SessionTracking.Gateway.dll
[ -f "$silo_dll" ] && [ -f "$gateway_dll" ] || { echo "build first: dotnet build Orleans.SessionTracking.sln" >&2; exit 1; }
command -v wrk >/dev/null && command -v redis-server >/dev/null || { echo "needs wrk and redis-server (apt-get install -y wrk redis-server)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/events.lua" <<'LUA'
local sessions = {}
for line in io.lines(os.getenv("SESSIONS_FILE")) do sessions[#sessions + 1] = line end
local events = {}
for i = 1, 10 do events[i] = '{"type":"click","data":{"i":' .. i .. '}}' end
local batch = table.concat(events, ",")
request = function()
  local session = sessions[math.random(#sessions)]
  return wrk.format("POST", "/session/event", { ["Content-Type"] = "application/json" },
    '{"session_id":"' .. session .. '","events":[' .. batch .. ']}')
end
LUA

run() {
  local silos=$1 run_dir="$work/run$1"
  mkdir -p "$run_dir"
  local redis_port; redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
  local common=(Cluster__Provider=Redis Cluster__RedisConnectionString=127.0.0.1:$redis_port Cluster__ClusterId=bench$silos
                DOTNET_ENVIRONMENT=Production ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning)
  for i in $(seq "$silos"); do
    env "${common[@]}" Cluster__SiloPort=$(free_port) Cluster__GatewayPort=$(free_port) \
      Storage__Sqlite__DatabasePath="$run_dir/sessions.db" dotnet "$silo_dll" >"$run_dir/silo$i.log" 2>&1 & pids+=($!)
  done
  local http_port; http_port=$(free_port)
  env "${common[@]}" Orleans__Mode=Client Storage__Sqlite__DatabasePath="$run_dir/sessions.db" \
    dotnet "$gateway_dll" --urls "http://127.0.0.1:$http_port" >"$run_dir/gateway.log" 2>&1 & pids+=($!)
  local base="http://127.0.0.1:$http_port"
  for _ in $(seq 240); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.5; done
  sleep 3 # let the second silo join before sessions are placed
  : > "$run_dir/sessions"
  for _ in $(seq 200); do
    curl -sf -H 'Content-Type: application/json' -d '{"user_id":"bench","model_group":"g"}' "$base/session/start" \
      | jq -r .session_id >> "$run_dir/sessions"
  done
  SESSIONS_FILE="$run_dir/sessions" wrk -t2 -c"$connections" -d3s -s "$work/events.lua" "$base" >/dev/null # warm-up
  echo "== $silos silo(s), one client-mode gateway, $connections connections, ${duration}s, 10 events per request"
  SESSIONS_FILE="$run_dir/sessions" wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$work/events.lua" "$base" \
    | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|requests in"
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  pids=()
  sleep 1
}

run 1
run 2
