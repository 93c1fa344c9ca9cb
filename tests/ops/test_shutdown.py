"""Graceful shutdown: SIGTERM drains ingest and closes push clients with 1001, so a rolling
restart of the push processes loses no event and repeats none."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
import redis
import websockets
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared import keys
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings
from tests.conftest import short_tmpdir
from tests.helpers import article
from tests.procs import Stack, free_port, wait_for


@pytest.fixture(scope="module")
def two_push() -> Iterator[Stack]:
    """A stack with a second push process (``push2``) on its own Redis."""
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(server.url, short_tmpdir()).start()
        try:
            stack.ports["push2"] = free_port()
            stack.start_service("push", key="push2", LIVEFEED_PUSH_PORT=str(stack.ports["push2"]))
            stack.wait_healthy("push2")
            yield stack
        finally:
            stack.stop()


class Reader:
    """A browser-like reader: on 1001 it reconnects to the other node with since=last seen."""

    def __init__(self, urls: list[str], first: int) -> None:
        self.urls = urls
        self.node = first
        self.ids: list[str] = []  # article ids in the order received
        self.event_ids: list[str] = []
        self.last: str | None = None
        self.close_codes: list[int] = []
        self.connected = asyncio.Event()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        """Read until told to stop, hopping nodes whenever one goes away."""
        while not self.stop.is_set():
            query = urlencode({"since": self.last}) if self.last else ""
            url = self.urls[self.node] + (f"?{query}" if query else "")
            try:
                async with websockets.connect(url, open_timeout=5) as ws:
                    hello = json.loads(await ws.recv())
                    assert hello["type"] == "hello"
                    if self.last is None:
                        self.last = hello["event_id"]
                    self.connected.set()
                    await self._read(ws)
            except ConnectionClosed as exc:
                if exc.rcvd is not None:
                    self.close_codes.append(exc.rcvd.code)
            except (OSError, InvalidStatus, TimeoutError):
                pass  # that node is restarting: try the other one
            self.node = 1 - self.node

    async def _read(self, ws: ClientConnection) -> None:
        while not self.stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            frame = json.loads(raw)
            assert frame["type"] != "reset", "a reconnect within the log must never reset"
            self.ids.append(frame["headline"]["id"])
            self.event_ids.append(frame["event_id"])
            self.last = frame["event_id"]


async def test_rolling_restart_of_push_loses_and_repeats_nothing(two_push: Stack) -> None:
    urls = [
        f"ws://127.0.0.1:{two_push.ports['push']}/v1/stream",
        f"ws://127.0.0.1:{two_push.ports['push2']}/v1/stream",
    ]
    readers = [Reader(urls, n % 2) for n in range(6)]
    tasks = [asyncio.create_task(r.run()) for r in readers]
    for reader in readers:
        await asyncio.wait_for(reader.connected.wait(), 10)

    restarted = asyncio.Event()
    posted: list[str] = []
    after_restart = 20  # items posted once both nodes are back

    async def keep_posting() -> None:
        auth = {"Authorization": f"Bearer {two_push.token}"}
        async with httpx.AsyncClient(timeout=10) as http:
            mark: int | None = None
            while mark is None or len(posted) < mark + after_restart:
                if mark is None and restarted.is_set():
                    mark = len(posted)
                article_id = f"roll-{len(posted):04d}"
                response = await http.post(
                    f"{two_push.url('ingest')}/v1/articles", json=article(article_id), headers=auth
                )
                assert response.status_code == 202, response.text
                posted.append(article_id)

    poster = asyncio.create_task(keep_posting())
    loop = asyncio.get_running_loop()
    for key in ("push", "push2"):
        port = two_push.ports[key]
        code = await loop.run_in_executor(None, two_push.services[key].stop)
        assert code == 0, f"{key} did not exit cleanly on SIGTERM: {code}"
        two_push.start_service("push", key=key, LIVEFEED_PUSH_PORT=str(port))
        await loop.run_in_executor(None, two_push.wait_healthy, key)
    during = len(posted)
    restarted.set()
    await poster
    assert during > 0, "nothing was posted while the nodes restarted"

    client = redis.Redis.from_url(two_push.redis_url)
    try:
        # The workers may still be applying the last requests.
        await loop.run_in_executor(
            None, lambda: wait_for(lambda: client.xlen(keys.EVENTS) >= len(posted), 30)
        )
        log = [(raw.decode(), fields[b"id"].decode()) for raw, fields in client.xrange(keys.EVENTS)]
    finally:
        client.close()
    assert sorted(article_id for _eid, article_id in log) == sorted(posted)

    def everyone_has_everything() -> bool:
        return all(len(r.ids) >= len(log) for r in readers)

    await loop.run_in_executor(None, lambda: wait_for(everyone_has_everything, 30))
    for reader in readers:
        reader.stop.set()
    await asyncio.gather(*tasks)

    for reader in readers:
        assert reader.event_ids == [eid for eid, _id in log], "lost, repeated or reordered"
        # Every reader was moved at least once, told "going away" (1001) each time.
        assert reader.close_codes, "a reader was never moved by the restart"
        assert set(reader.close_codes) == {1001}


def test_sigterm_lets_ingest_finish_a_request_in_flight(two_push: Stack) -> None:
    port = two_push.ports["ingest"]
    body = json.dumps(article("drained")).encode()
    head = (
        f"POST /v1/articles HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {two_push.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(head + body[:10])
        # Once a later connection is answered, the server has accepted ours (one accept loop).
        assert httpx.get(f"{two_push.url('ingest')}/healthz", timeout=5).status_code == 200
        ingest = two_push.services["ingest"]
        assert ingest.process is not None
        ingest.process.terminate()

        def refuses_new_connections() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            return False

        wait_for(refuses_new_connections, 10)
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 202"), answer
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["accepted"] == 1
    # Drained, then gone: uvicorn re-raises SIGTERM after its graceful shutdown, so the exit
    # status is "terminated by SIGTERM" (143 in a container), not a crash.
    assert ingest.stop() in {0, -signal.SIGTERM}
    # Restart it for whatever runs next in this module.
    two_push.start_service("ingest")
    two_push.wait_healthy("ingest")


def test_sigterm_lets_the_worker_finish_its_job_and_take_no_other(two_push: Stack) -> None:
    client = redis.Redis.from_url(two_push.redis_url)
    queue = Queue(Settings().queue_name, connection=client, serializer=JSONSerializer)
    try:
        # A job that takes a while (any importable callable is a job to RQ), then a real one.
        long_job = queue.enqueue_call("time.sleep", args=(1.5,), result_ttl=600)
        wait_for(lambda: long_job.get_status(refresh=True) == JobStatus.STARTED, 10)
        worker = two_push.services["worker"]
        assert worker.process is not None
        worker.process.terminate()
        auth = {"Authorization": f"Bearer {two_push.token}"}
        queued = httpx.post(
            f"{two_push.url('ingest')}/v1/articles",
            json=article("after-sigterm"),
            headers=auth,
            timeout=10,
        )
        assert queued.status_code == 202
        assert worker.process.wait(30) == 0
        assert long_job.get_status(refresh=True) == JobStatus.FINISHED  # not abandoned
        report = httpx.get(
            f"{two_push.url('ingest')}{queued.json()['status_url']}", headers=auth, timeout=10
        ).json()
        assert report["status"] == "queued"  # left for the next worker, not half-taken
        two_push.start_service("worker")

        def applied() -> bool:
            job = httpx.get(
                f"{two_push.url('ingest')}{queued.json()['status_url']}", headers=auth, timeout=5
            ).json()
            return bool(job["status"] == "finished")

        wait_for(applied, 30)
    finally:
        client.close()
