#!/usr/bin/env bash
# HTTP throughput of a no-op invocation vs a bare Hummingbird route, same
# server, same run, alternating rounds so machine noise hits both equally.
#   Benchmarks/http.sh [rounds] [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"; seconds="${2:-10}"; connections="${3:-64}"
port=18081
bench=.build/release/describer-bench
"$bench" serve "$PWD/functions/echo/libecho.so" "$port" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
rate() { wrk -t1 -c"$connections" -d"${seconds}s" -s Benchmarks/post.lua "$1" | awk '/Requests\/sec/ {print $2}'; }
wrk -t1 -c"$connections" -d2s -s Benchmarks/post.lua "http://127.0.0.1:$port/bare" >/dev/null   # warm-up
wrk -t1 -c"$connections" -d2s -s Benchmarks/post.lua "http://127.0.0.1:$port/v1/functions/echo/invoke" >/dev/null
for round in $(seq "$rounds"); do
  bare=$(rate "http://127.0.0.1:$port/bare")
  invoke=$(rate "http://127.0.0.1:$port/v1/functions/echo/invoke")
  awk -v r="$round" -v b="$bare" -v i="$invoke" 'BEGIN { printf "round %d: bare %.0f req/s, invoke %.0f req/s, ratio %.2f\n", r, b, i, i / b }'
done
