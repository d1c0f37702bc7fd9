#!/usr/bin/env bash
# Runs every test of the repository: builds the solution, then runs each test project.
# Installs what the tests need when it is missing and this user may install (redis-server, chromium, npm, promtool).
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "Missing ${need[*]}: the tests that need them will fail. Install them with apt-get." >&2
  fi
fi

# React and esbuild for the browser tests of the React hooks (package-lock.json pins them).
if command -v npm >/dev/null 2>&1; then
  npm ci --no-audit --no-fund --loglevel=error
else
  echo "npm is missing: the React hook tests will fail. Install nodejs and npm with apt-get." >&2
fi

dotnet format Orleans.SessionTracking.sln --verify-no-changes
dotnet build Orleans.SessionTracking.sln -c Debug -warnaserror
# One test project at a time (-m:1): the process, cluster and browser tests measure timing-sensitive behaviour
# (kills, recoveries, tab closes) and should not fight each other for this machine's cores.
dotnet test Orleans.SessionTracking.sln -c Debug --no-build -m:1 --logger "console;verbosity=normal" "$@"
