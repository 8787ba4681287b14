#!/usr/bin/env bash
# Camera event acknowledgement latency at a steady rate (default 200 events/s),
# and a check that every acknowledged event is in the database.
#   Benchmarks/cameras.sh [rounds] [seconds] [rate] [processing: true|false]
# Each round runs the same paced load twice: once with a wrong token (the
# baseline: the body is read and refused at authentication) and once
# accepted (parsed, hashed, committed to SQLite with synchronous=FULL). With
# processing true the service also runs `detect` on the accepted events
# meanwhile; it cannot keep up with 200/s on two cores, and the backlog
# waits in the database.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"; seconds="${2:-20}"; rate="${3:-200}"; processing="${4:-false}"
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
export SNAPSHOT=Tests/DescriberHostTests/Fixtures/camera/vtest_050.jpg RATE=$rate CONNECTIONS=$connections
url="http://127.0.0.1:$port/v1/cameras/bench/events"
paced() { TOKEN="$1" wrk -t1 -c$connections -d"$2" -s Benchmarks/camera-events.lua "$url" | tail -1; }
acknowledged=0
count() {
  read -r requests failed < <(awk '{print $2, $4}' <<<"$1")
  acknowledged=$((acknowledged + requests - failed))
}
line=$(paced $token 3s); echo "warm-up:  $line"; count "$line"
for round in $(seq "$rounds"); do
  echo "round $round refused: $(paced wrong-token-0123456789 "${seconds}s")"
  line=$(paced $token "${seconds}s"); echo "round $round accepted: $line"; count "$line"
done
# wrk stops with requests in flight; their events may be stored without being counted here.
sleep 1
stored=$(curl -fs "http://127.0.0.1:$port/v1/cameras" | python3 -c 'import json,sys; e=json.load(sys.stdin)["cameras"][0]["events"]; print(e["pending"]+e["processed"]+e["failed"])')
echo "acknowledged (2xx): $acknowledged; events in the database: $stored (at most $((connections * (rounds + 1))) more: answers wrk did not wait for)"
