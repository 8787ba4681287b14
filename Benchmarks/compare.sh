#!/usr/bin/env bash
# Compares two builds of describer-bench on the host's own targets, runs
# alternating so that the machine's noise (it is shared) hits both alike:
# the in-process overhead (one caller, and 64 callers batching) and the HTTP
# throughput ratio against the bare route, with the extra server CPU per request.
#
#   cp Benchmarks/.build/release/describer-bench /tmp/bench-before   # at the old commit
#   cp Benchmarks/.build/release/describer-bench /tmp/bench-after    # at the new one
#   Benchmarks/compare.sh /tmp/bench-before /tmp/bench-after [pairs]
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"; after="$2"; pairs="${3:-4}"
# ECHO_LIBRARY: an echo built against the older header when the older build cannot load the current one.
echo=${ECHO_LIBRARY:-$PWD/functions/echo/libecho.so}
{
  for _ in $(seq "$pairs"); do
    for side in before after; do
      binary=$([ "$side" = before ] && echo "$before" || echo "$after")
      "$binary" overhead "$echo" | awk -v s="$side" '/host.invoke, one caller/ {o=$(NF-1)} /host.invoke, 64 callers/ {c=$(NF-1)} END {print s, "overhead", o, c}'
      BENCH="$binary" Benchmarks/http.sh 3 3 64 | sed "s/^/$side http /"
    done
  done
} | python3 -c '
import re, statistics, sys
median = statistics.median
rows = {side: dict(one=[], many=[], ratio=[], extra=[]) for side in ("before", "after")}
for line in sys.stdin:
    side, kind, rest = line.split(" ", 2)
    r = rows[side]
    if kind == "overhead":
        one, many = rest.split()
        r["one"].append(float(one))
        r["many"].append(float(many))
    else:
        m = re.search(r"bare \d+ req/s \(([\d.]+) us.*invoke \d+ req/s \(([\d.]+) us.*ratio ([\d.]+)", rest)
        if m:
            r["ratio"].append(float(m[3]))
            r["extra"].append(float(m[2]) - float(m[1]))
for side, r in rows.items():
    one, many, ratio, extra = r["one"], r["many"], r["ratio"], r["extra"]
    print("%-6s: overhead one caller %.2f us (min %.2f), 64 callers %.2f us (min %.2f); HTTP ratio %.2f [%.2f-%.2f], extra CPU %.1f us/request (%d overhead runs, %d HTTP rounds)"
          % (side, median(one), min(one), median(many), min(many), median(ratio), min(ratio), max(ratio), median(extra), len(one), len(ratio)))
'
