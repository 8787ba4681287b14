#!/usr/bin/env bash
# Camera event acknowledgement latency at a fixed rate (default 200 events/s,
# open loop: Benchmarks/camera-load.py), and a check that every acknowledged
# event is in the database.
#   Benchmarks/cameras.sh [rounds] [seconds] [rate] [processing: true|false]
# DESCRIBER=path/to/describer picks another build (default: the release one).
#
# Each round sends the same load twice: once with a wrong token (the baseline:
# the same bytes read, then refused at authentication) and once accepted
# (parsed, hashed, committed to SQLite with synchronous=FULL, answered 202).
# With processing true the service also runs `detect` on the accepted events
# meanwhile; it cannot keep up with 200/s on two cores, so the backlog waits
# in the database.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"; seconds="${2:-20}"; rate="${3:-200}"; processing="${4:-false}"
port=18082
work=$(mktemp -d)
token=benchmark-camera-token-0123456789
cat >"$work/describer.yaml" <<YAML
server: { port: $port }
functions_directory: $PWD/functions
voices_directory: $PWD/voices
data_directory: $work
cameras:
  bench:
    name: Benchmark
    credentials: { token: $token }
    rate_limit: { events_per_second: $((rate * 2)), burst: $((rate * 2)) }
camera_events:
  processing: { enabled: $processing }
YAML
"${DESCRIBER:-.build/release/describer}" serve --config "$work/describer.yaml" --log-level critical &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/v1/cameras/bench/events"
snapshot=Tests/Fixtures/camera/vtest_050.jpg
load() { python3 Benchmarks/camera-load.py "$url" "$1" "$snapshot" "$rate" "$2" --ids "$work/acknowledged"; }
echo "warm-up:  $(load $token 3)"
for round in $(seq "$rounds"); do
  echo "round $round refused:  $(load wrong-token-0123456789 "$seconds")"
  echo "round $round accepted: $(load $token "$seconds")"
done
# Every acknowledged id must be readable back.
python3 - "$port" "$work/acknowledged" <<'PY'
import json, sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
acknowledged = {int(line) for line in open(path)}
stored, after = set(), 0
while True:
    page = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/cameras/bench/events?after={after}&limit=500"))
    stored |= {event["id"] for event in page["events"]}
    if not page["next"]:
        break
    after = page["events"][-1]["id"]
missing = acknowledged - stored
print(f"acknowledged 202: {len(acknowledged)}; stored: {len(stored)}; acknowledged but missing: {len(missing)}")
PY
# Where the time went: the server's own histogram of durable commits (bucket bounds, so approximate).
curl -fs "http://127.0.0.1:$port/metrics" | python3 -c '
import re, sys
buckets = [(float(m.group(1)), int(float(m.group(2)))) for m in re.finditer(r"describer_camera_event_commit_duration_seconds_bucket\{le=\"([0-9.e+-]+)\"\} ([0-9.e+]+)", sys.stdin.read())]
total = buckets[-1][1] if buckets else 0
def bound(q): return next((le for le, n in buckets if n >= q * total), float("inf"))
print(f"commits waited (server side, bucket upper bounds): p50 <= {bound(0.5)*1000:g}ms p90 <= {bound(0.9)*1000:g}ms p99 <= {bound(0.99)*1000:g}ms of {total}")
'
