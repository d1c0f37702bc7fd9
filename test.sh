#!/usr/bin/env bash
# Runs the tests of the repository: builds the solution, then runs the test projects.
#   ./test.sh            every test (both lanes), and the format check
#   ./test.sh --fast     the fast lane (Category=BVT): units, grains on a TestCluster, the gateway in-process
#   ./test.sh --slow     the slow lane (Category!=BVT): processes, cluster, browser, fuzz, load, large data
# Further arguments go to `dotnet test` (e.g. --logger "console;verbosity=normal").
# Installs what the slow lane needs when it is missing and this user may install (redis-server, chromium, npm,
# promtool from Debian's prometheus package, nginx for `nginx -t` of deploy/nginx.conf).
set -euo pipefail
cd "$(dirname "$0")"

lane=all
case "${1:-}" in
  --fast) lane=fast; shift ;;
  --slow) lane=slow; shift ;;
esac

if [ "$lane" != fast ]; then
  need=()
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    elif command -v sudo >/dev/null 2>&1; then
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "Missing ${need[*]}: the tests that need them will fail. Install them with apt-get." >&2
    fi
  fi

  # React and esbuild for the browser tests of the React hooks, oidc-provider for the operator sign-in tests, the
  # tracker package's checks (package-lock.json pins them); the API client generator, TypeScript and the OpenAPI
  # linters for the contract tests (clients/typescript).
  if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
    npm ci --prefix clients/typescript --no-audit --no-fund --loglevel=error
  else
    echo "npm is missing: the React hook tests will fail. Install nodejs and npm with apt-get." >&2
  fi
fi

if [ "$lane" = all ]; then
  dotnet format Orleans.SessionTracking.sln --verify-no-changes
fi
dotnet build Orleans.SessionTracking.sln -c Debug -warnaserror -v q -nologo

case "$lane" in
  # In-process tests only: the test projects run side by side.
  fast) dotnet test Orleans.SessionTracking.sln -c Debug --no-build --filter "Category=BVT" "$@" ;;
  # One test project at a time (-m:1): the process, cluster and browser tests measure timing-sensitive behaviour
  # (kills, recoveries, tab closes) and should not fight each other for the cores.
  slow) dotnet test Orleans.SessionTracking.sln -c Debug --no-build -m:1 --filter "Category!=BVT" --logger "console;verbosity=normal" "$@" ;;
  all) dotnet test Orleans.SessionTracking.sln -c Debug --no-build -m:1 --logger "console;verbosity=normal" "$@" ;;
esac
