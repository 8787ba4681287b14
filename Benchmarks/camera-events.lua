-- wrk script: camera events at a steady rate, each with its own Idempotency-Key,
-- so every request is a new event. Environment: SNAPSHOT (a JPEG file), TOKEN,
-- RATE (events per second over all connections), CONNECTIONS (wrk's -c).
local file = assert(io.open(os.getenv("SNAPSHOT"), "rb"))
local body = file:read("*a")
file:close()
local rate = tonumber(os.getenv("RATE") or "200")
local connections = tonumber(os.getenv("CONNECTIONS") or "10")
local run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
local counter = 0

function request()
  counter = counter + 1
  return wrk.format("POST", wrk.path, {
    ["Content-Type"] = "image/jpeg",
    ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
    ["Idempotency-Key"] = run .. "-" .. counter,
  }, body)
end

-- Each connection waits connections/rate seconds after an answer, which paces
-- the whole run at just under RATE while answers take far less than that.
function delay()
  return 1000 * connections / rate
end

function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("requests %d failed %d rate %.1f/s p50 %.2fms p90 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms\n",
    summary.requests, failed, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
