#!/usr/bin/env bash
# What live sessions cost while nobody sends anything: builds in Release, and for each durability mode starts the service
# (co-hosted silo, SQLite in a temp dir), starts SESSIONS sessions, lets it settle, and prints the server's CPU time
# over 10 s with no load.
#   [SESSIONS=100000] [SETTLE=5] bench/idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-100000}
dotnet build Gateway/Gateway.csproj -c Release -v q -nologo >/dev/null
dotnet build bench/Tools/Tools.csproj -c Release -v q -nologo >/dev/null
work=$(mktemp -d /tmp/bench-idle.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14+$15)*1000/hz)}' "/proc/$1/stat"; }
for mode in Acked Buffered; do
  port=$(free_port); mkdir -p "$work/$mode"
  (cd Gateway/bin/Release/net10.0 && exec env Storage__Sqlite__DatabasePath="$work/$mode/sessions.db" Sessions__Durability="$mode" \
     Cluster__SiloPort="$(free_port)" Cluster__GatewayPort="$(free_port)" Logging__LogLevel__Default=Warning \
     ./SessionTracking.Gateway --urls "http://127.0.0.1:$port" >"$work/$mode/log" 2>&1) &
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 240); do curl -fs -o /dev/null "$url/readyz" && break; sleep 0.5; done
  pid=$(pgrep -f -- "--urls http://127.0.0.1:$port" | head -1)
  dotnet bench/Tools/bin/Release/net10.0/SessionTracking.Bench.Tools.dll start-sessions "$url" "$SESSIONS" "$work/$mode/ids" >/dev/null
  sleep "${SETTLE:-5}"
  before=$(cpu_ms "$pid"); sleep 10; after=$(cpu_ms "$pid")
  echo "$mode: $SESSIONS live sessions, no load: $((after - before)) ms of server CPU in 10 s"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
