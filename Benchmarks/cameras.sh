#!/usr/bin/env bash
# Camera event acknowledgement latency at a steady rate (default 200 events/s),
# and a check that every acknowledged event is in the database.
#   Benchmarks/cameras.sh [seconds] [rate] [processing: true|false]
# With processing true the service also runs `detect` on each event meanwhile
# (it cannot keep up with 200/s on two cores; the backlog stays in the database).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"; rate="${2:-200}"; processing="${3:-false}"
connections=10
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
.build/release/describer serve --config "$work/describer.yaml" --log-level warning &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
export SNAPSHOT=Tests/DescriberHostTests/Fixtures/camera/vtest_050.jpg TOKEN=$token RATE=$rate CONNECTIONS=$connections
# A warm-up at the same rate, then the measured run; both runs' events count in the check.
acknowledged=0
for phase in warm-up measured; do
  duration=$([[ $phase == warm-up ]] && echo 3s || echo "${seconds}s")
  line=$(wrk -t1 -c$connections -d"$duration" -s Benchmarks/camera-events.lua "http://127.0.0.1:$port/v1/cameras/bench/events" | tail -1)
  echo "$phase: $line"
  read -r requests failed < <(awk '{print $2, $4}' <<<"$line")
  acknowledged=$((acknowledged + requests - failed))
done
# wrk stops mid-request at the end of a run; give those answers a moment to land.
sleep 1
stored=$(curl -fs "http://127.0.0.1:$port/v1/cameras" | python3 -c 'import json,sys; e=json.load(sys.stdin)["cameras"][0]["events"]; print(e["pending"]+e["processed"]+e["failed"])')
echo "acknowledged (2xx): $acknowledged; events in the database: $stored"
