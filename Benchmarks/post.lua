-- wrk script: POST a small text body, as the echo benchmarks expect.
wrk.method = "POST"
wrk.body = "hello"
wrk.headers["Content-Type"] = "text/plain"
