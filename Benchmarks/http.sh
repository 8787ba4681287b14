#!/usr/bin/env bash
# HTTP throughput of a no-op invocation vs a bare Hummingbird route, same
# server, same run, alternating rounds so machine noise hits both equally.
# Also reports the server's CPU time per request (from /proc), which varies
# less than throughput on a shared machine.
#   Benchmarks/http.sh [rounds] [seconds] [connections]
# SETTINGS="batching: { max_batch_size: 64, max_batch_delay: 50us }" replaces
# the echo function's manifest settings (see describer-bench serve).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"; seconds="${2:-10}"; connections="${3:-64}"
port=18081
bench="${BENCH:-Benchmarks/.build/release/describer-bench}"
"$bench" serve "${ECHO_LIBRARY:-$PWD/functions/echo/libecho.so}" "$port" ${SETTINGS:+"$SETTINGS"} &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
ticks_per_second=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
# Prints "requests_per_second cpu_microseconds_per_request" for one wrk run.
measure() {
  local before after output
  before=$(cpu_ticks)
  output=$(wrk -t1 -c"$connections" -d"${seconds}s" -s Benchmarks/post.lua "$1")
  after=$(cpu_ticks)
  awk -v b="$before" -v a="$after" -v hz="$ticks_per_second" '
    /requests in/ { total = $1 }
    /Requests\/sec/ { rate = $2 }
    END { printf "%s %.2f\n", rate, (a - b) * 1e6 / hz / total }' <<<"$output"
}
wrk -t1 -c"$connections" -d2s -s Benchmarks/post.lua "http://127.0.0.1:$port/bare" >/dev/null   # warm-up
wrk -t1 -c"$connections" -d2s -s Benchmarks/post.lua "http://127.0.0.1:$port/v1/functions/echo/invoke" >/dev/null
for round in $(seq "$rounds"); do
  read -r bare bare_cpu < <(measure "http://127.0.0.1:$port/bare")
  read -r invoke invoke_cpu < <(measure "http://127.0.0.1:$port/v1/functions/echo/invoke")
  awk -v r="$round" -v b="$bare" -v i="$invoke" -v bc="$bare_cpu" -v ic="$invoke_cpu" 'BEGIN {
    printf "round %d: bare %.0f req/s (%.1f us CPU/req), invoke %.0f req/s (%.1f us CPU/req), throughput ratio %.2f\n", r, b, bc, i, ic, i / b }'
done
