#!/usr/bin/env python3
"""Open-loop load for the camera webhook: POSTs a JPEG at a fixed rate, each with its own
Idempotency-Key, over keep-alive connections, and measures every answer's latency from the
moment it was *scheduled* (so a slow answer that delays the next request counts against
the server, not hidden by it).

    camera-load.py URL TOKEN SNAPSHOT RATE SECONDS [--ids FILE]

Prints one line: sent, answers by status, achieved rate, latency percentiles.
With --ids, writes the event ids of the accepted (202) answers, one a line.
Standard library only.
"""
import argparse
import asyncio
import json
import time
import urllib.parse
import uuid


async def open_connection(host, port):
    return await asyncio.open_connection(host, port)


async def send(connection, host, path, token, body, key):
    reader, writer = connection
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\n"
        f"Authorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    payload = await reader.readexactly(length) if length else b""
    return status, payload


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("snapshot")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ids")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    body = open(args.snapshot, "rb").read()
    run = uuid.uuid4().hex[:12]

    free = asyncio.Queue()
    for _ in range(args.connections):
        free.put_nowait(await open_connection(url.hostname, url.port))

    latencies, statuses, accepted_ids = [], {}, []
    total = int(args.rate * args.seconds)

    async def one(index, scheduled):
        connection = await free.get()
        try:
            status, payload = await send(connection, url.hostname, url.path, args.token, body, f"{run}-{index}")
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            statuses["error"] = statuses.get("error", 0) + 1
            connection = await open_connection(url.hostname, url.port)
        else:
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                accepted_ids.append(json.loads(payload)["event_id"])
        free.put_nowait(connection)

    start = time.perf_counter()
    tasks = []
    for index in range(total):
        scheduled = start + index / args.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start

    latencies.sort()
    milliseconds = [value * 1000 for value in latencies]
    answers = " ".join(f"{status}:{count}" for status, count in sorted(statuses.items(), key=lambda item: str(item[0])))
    print(
        f"sent {total} answers {answers} rate {total / elapsed:.1f}/s "
        f"p50 {percentile(milliseconds, 0.5):.2f}ms p90 {percentile(milliseconds, 0.9):.2f}ms "
        f"p99 {percentile(milliseconds, 0.99):.2f}ms p99.9 {percentile(milliseconds, 0.999):.2f}ms max {milliseconds[-1]:.2f}ms"
    )
    if args.ids:
        with open(args.ids, "a") as file:
            file.writelines(f"{event_id}\n" for event_id in accepted_ids)


asyncio.run(main())
