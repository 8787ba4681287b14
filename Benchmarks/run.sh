#!/usr/bin/env bash
# Runs every benchmark behind BENCHMARKS.md: scripts/setup must have run once.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
make -s -C functions
swift build -c release --package-path Benchmarks --product describer-bench >/dev/null
echo "== warm in-process invocation vs direct C call"
Benchmarks/.build/release/describer-bench overhead "$PWD/functions/echo/libecho.so"
echo "== cold start"
Benchmarks/.build/release/describer-bench coldstart "$PWD/functions/echo/libecho.so"
echo "== HTTP throughput: invoke vs bare Hummingbird route (wrk, 64 connections)"
Benchmarks/http.sh "${ROUNDS:-5}" "${SECONDS_PER_ROUND:-10}" 64
echo "== for comparison: the same with every request through the router (no fast path)"
INVOKE_THROUGH_ROUTER=1 Benchmarks/http.sh 2 "${SECONDS_PER_ROUND:-10}" 64
