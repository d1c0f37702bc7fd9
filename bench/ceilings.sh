#!/usr/bin/env bash
# What the durable path could reach at best, measured against the same bare-Kestrel baseline as bench/run.sh: builds this
# commit with bench/ceilings.patch (in a temporary worktree; the patch is an experiment, never shipped) and runs
# bench/ratio.sh, alternating, over six gateways:
#   as-is       the service as built (acked, SQLite)
#   flush-log   acked, but a group commit is one append of the flushes' encoded chunks to a plain file + fdatasync, no
#               SQLite at all: the floor of an "append-only log of flushes, indexed off the acknowledgement path" design
#               (before paying for that indexing)
#   no-store    acked, but the store acknowledges every flush at once and writes nothing: HTTP and the grain call
#   grain-ping  POST /session/event calls the session grain's cheapest method (GetStatus) instead: Orleans' call alone
#   no-grain    POST /session/event answers without calling the grain: the HTTP path alone (middleware, parsing, answer)
#   buffered    Sessions:Durability=Buffered (the grain answers before its flush)
#   [ROUNDS=2] [DURATION=8s] bench/ceilings.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d /tmp/bench-ceilings.XXXXXX)
cleanup() { git -C "$repo" worktree remove --force "$work/src" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

git worktree add -q --detach "$work/src" HEAD
git -C "$work/src" apply "$repo/bench/ceilings.patch"
dotnet build "$work/src/Gateway/Gateway.csproj" -c Release -v q -nologo >/dev/null

gateway() { # name, environment assignments: a copy of the build whose executable sets them first
  local dir="$work/$1"; shift
  cp -r "$work/src/Gateway/bin/Release/net10.0" "$dir"
  mv "$dir/SessionTracking.Gateway" "$dir/SessionTracking.Gateway.bin"
  printf '#!/bin/sh\nexport %s\nexec "$(dirname "$0")/SessionTracking.Gateway.bin" "$@"\n' "$*" >"$dir/SessionTracking.Gateway"
  chmod +x "$dir/SessionTracking.Gateway"
}
gateway as-is BENCH_STORE_CEILING=
gateway flush-log BENCH_STORE_CEILING=log
gateway no-store BENCH_STORE_CEILING=none
gateway grain-ping BENCH_GRAIN_CEILING=ping
gateway no-grain BENCH_GRAIN_CEILING=none
gateway buffered Sessions__Durability=Buffered

ROUNDS=${ROUNDS:-2} bench/ratio.sh "$work/as-is" "$work/flush-log" "$work/no-store" "$work/grain-ping" "$work/no-grain" "$work/buffered"
