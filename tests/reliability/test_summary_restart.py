"""The live summary survives restarts: Redis SIGKILLed (its append-only file), then the feed and
push processes restarted; the page, the timeline and the history still have it, and a reader
resuming from before it still gets its frame."""

from __future__ import annotations

import signal

import httpx

from tests.helpers import eventually, subscribe
from tests.reliability.conftest import StackFactory

TEXT = "Ceasefire talks resume on Monday.\n\nBoth delegations are in Geneva."


async def test_a_summary_survives_a_redis_kill_and_feed_and_push_restarts(
    make_stack: StackFactory,
) -> None:
    stack, server = make_stack(services=("ingest", "feed", "push"))
    auth = {"Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(timeout=10) as http:
        before = (await http.get(f"{stack.url('feed')}/v1/timeline")).json()["event_id"]
        put = await http.put(
            f"{stack.url('ingest')}/v1/summary",
            json={"text": TEXT, "section": "world"},
            headers=auth,
        )
        assert put.status_code == 200, put.text
        summary = put.json()["summary"]

        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server.start()  # the same data folder: the append-only file is loaded
        for name in ("feed", "push"):
            stack.services[name].stop()
            stack.start_service(name)
            stack.wait_healthy(name)

        async def timeline_has_it() -> bool:
            response = await http.get(f"{stack.url('feed')}/v1/timeline?section=world")
            return response.status_code == 200 and response.json()["summary"] == summary

        await eventually(timeline_has_it, 20, "the summary in the timeline after the restarts")
        page = (await http.get(f"{stack.url('feed')}/?section=world")).text
        assert "Both delegations are in Geneva." in page
        history = await http.get(
            f"{stack.url('ingest')}/v1/summary/history?section=world", headers=auth
        )
        assert history.status_code == 200
        assert [e["text"] for e in history.json()["history"]] == [TEXT]
        assert history.json()["summary"] == summary

    async with subscribe(stack.ws_url, since=before) as stream:
        assert (await stream.next())["type"] == "hello"
        frame = await stream.next()
    assert frame["type"] == "summary"
    assert frame["event_id"] == put.json()["event_id"]
    assert frame["summary"] == summary
