"""A crowd of stream readers in a process of its own, so the test's own loop measures nothing.

``python -m tests.reliability.crowd URL CLIENTS EVENTS [SINCE]``: opens CLIENTS WebSockets at
once (with ``since`` when given), reads hello and then EVENTS events on each, and prints one JSON
line: how many connected, failures, and for every client the ids it got and when (wall clock)
each event arrived, so the test can check order, duplicates and latency. A client told to come
back (1011/1012: "reconnect with since") does so from the last event it got, as live.js does;
the comebacks are counted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import websockets

RESUME_CODES = {1011, 1012}  # the push service's "reconnect with since" (services/push/protocol)
MAX_COMEBACKS = 3


async def _reader(url: str, since: str | None, events: int, out: dict[str, Any]) -> None:
    while True:
        target = f"{url}?since={since}" if since else url
        try:
            async with websockets.connect(target, open_timeout=60, max_size=2**20) as ws:
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello"
                out["connected"] = True
                while len(out["ids"]) < events:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if message["type"] == "reset":
                        raise AssertionError("reset")
                    out["ids"].append(message["headline"]["id"])
                    out["at"].append(time.time())
                    since = message["event_id"]
                return
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            if code not in RESUME_CODES or out["comebacks"] >= MAX_COMEBACKS:
                raise
            out["comebacks"] += 1


async def main(url: str, clients: int, events: int, since: str | None) -> None:
    outs: list[dict[str, Any]] = [
        {"ids": [], "at": [], "connected": False, "comebacks": 0} for _ in range(clients)
    ]
    tasks = [asyncio.create_task(_reader(url, since, events, outs[n])) for n in range(clients)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    print(json.dumps({"failures": failures[:5], "failed": len(failures), "clients": outs}))


if __name__ == "__main__":
    since_arg = sys.argv[4] if len(sys.argv) > 4 else None
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), since_arg))
