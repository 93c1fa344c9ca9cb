"""An embargo survives a restart of every service (and of Redis, whose AOF is on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.helpers import eventually, subscribe
from tests.reliability.conftest import StackFactory

SERVICES = ("ingest", "worker", "feed", "push")


@pytest.mark.slow
async def test_embargo_releases_after_everything_restarted(make_stack: StackFactory) -> None:
    stack, server = make_stack()
    release = datetime.now(UTC) + timedelta(seconds=5)
    async with httpx.AsyncClient(timeout=10) as http:
        auth = {"Authorization": f"Bearer {stack.token}"}
        posted = await http.post(
            f"{stack.url('ingest')}/v1/articles",
            json={
                "id": "survivor",
                "title": "Embargoed across a restart",
                "published_at": "2024-10-24T16:55:00+03:00",
                "embargoed_until": release.isoformat(),
            },
            headers=auth,
        )
        assert posted.status_code == 202
        job_url = f"{stack.url('ingest')}/v1/jobs/{posted.json()['job_id']}"

        async def finished() -> dict[str, object] | None:
            report = (await http.get(job_url, headers=auth)).json()
            return report if report["status"] == "finished" else None

        report = await eventually(finished, 10, "the embargoed job applied")
        assert report["results"][0]["outcome"] == "embargoed"
        before = (await http.get(f"{stack.url('feed')}/v1/timeline")).json()
        assert before["days"] == []
        since = before["event_id"]

    # Everything goes down before the embargo time, and stays down past it.
    stack.stop()
    server.stop()
    assert datetime.now(UTC) < release, "stopping took longer than the embargo; cannot judge"
    server.start()
    # Start again only once the embargo time has passed while everything was down.

    async def past_release() -> bool:
        return datetime.now(UTC) > release

    await eventually(past_release, 30, "the embargo time passed", interval=0.1)
    for name in SERVICES:
        stack.start_service(name)
    for name in ("ingest", "feed", "push"):
        stack.wait_healthy(name)

    async with subscribe(stack.ws_url, since=since) as stream:
        assert (await stream.next())["type"] == "hello"
        frame = await stream.next(timeout=15)
        assert (frame["type"], frame["headline"]["id"]) == ("published", "survivor")
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{stack.url('feed')}/v1/timeline")
        assert response.status_code == 200, (response.text, stack.logs())
        after = response.json()
    assert [i["id"] for d in after["days"] for i in d["items"]] == ["survivor"]
