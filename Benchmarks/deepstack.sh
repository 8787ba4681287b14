#!/usr/bin/env bash
# Latency of the DeepStack route as an NVR sees it: POST /v1/vision/detection
# with a 640x480 JPEG (dog.jpg scaled by 5/6 with djpeg, re-encoded by cjpeg
# at quality 90: Debian's libjpeg-turbo-progs), one caller, keep-alive,
# sequential, after a warm-up. In the same run, GET /v1/status/ping gives the
# HTTP floor of this machine at this moment.
#   Benchmarks/deepstack.sh [requests]
# DESCRIBER=path/to/describer picks another build (default: the release one).
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-60}"
port=18083
work=$(mktemp -d)
djpeg -scale 5/6 Tests/Fixtures/images/dog.jpg | cjpeg -quality 90 >"$work/dog640.jpg"
"${DESCRIBER:-.build/release/describer}" serve --port "$port" --functions "$PWD/functions" --log-level critical &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
python3 - "$port" "$work/dog640.jpg" "$requests" <<'PY'
import http.client, statistics, sys, time
port, image, count = int(sys.argv[1]), open(sys.argv[2], "rb").read(), int(sys.argv[3])
boundary = "describer-bench"
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"dog.jpg\"\r\n"
        f"Content-Type: image/jpeg\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
connection = http.client.HTTPConnection("127.0.0.1", port)
def timed(method, path, payload=None, headers={}):
    started = time.perf_counter()
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    data = response.read()
    if response.status != 200: raise SystemExit(f"{path}: {response.status} {data[:200]}")
    return (time.perf_counter() - started) * 1000, data
headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
for _ in range(5): timed("POST", "/v1/vision/detection", body, headers)   # warm-up: instance start, caches
detection = sorted(timed("POST", "/v1/vision/detection", body, headers)[0] for _ in range(count))
ping = sorted(timed("GET", "/v1/status/ping")[0] for _ in range(count))
def p(values, q): return values[min(len(values) - 1, int(q * len(values)))]
print(f"POST /v1/vision/detection, 640x480 JPEG ({len(image)} bytes), {count} requests: "
      f"p50 {p(detection, 0.5):.1f} ms, p90 {p(detection, 0.9):.1f} ms, max {detection[-1]:.1f} ms")
print(f"GET /v1/status/ping, same connection: p50 {p(ping, 0.5):.2f} ms")
PY
