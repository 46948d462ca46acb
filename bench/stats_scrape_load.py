#!/usr/bin/env python3
"""Scrape load for the stats endpoint: N concurrent keep-alive connections, each
GETting a path once per interval, for a fixed duration (bounded in count and time).

    python3 bench/stats_scrape_load.py HOST:PORT [--conns 1000] [--path /metrics]
        [--interval 1.0] [--seconds 20]

Prints how many scrapes were answered and how many failed. SIGTERM ends the run early
(each connection stops after its current scrape)."""
import argparse
import asyncio
import random
import signal
import time


async def scraper(host, port, path, interval, deadline, counts):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        counts["failed"] += 1
        return
    await asyncio.sleep(random.random() * interval)
    try:
        while time.monotonic() < deadline and not counts["stop"]:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            counts["ok"] += 1
            await asyncio.sleep(interval)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        counts["failed"] += 1
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--path", default="/metrics")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    a = ap.parse_args()
    host, port = a.addr.rsplit(":", 1)
    counts = {"ok": 0, "failed": 0, "stop": False}
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: counts.__setitem__("stop", True))
    deadline = time.monotonic() + a.seconds
    await asyncio.gather(*(scraper(host, int(port), a.path, a.interval, deadline, counts)
                           for _ in range(a.conns)))
    print(f"scrapes answered: {counts['ok']}, failed: {counts['failed']}")


asyncio.run(main())
