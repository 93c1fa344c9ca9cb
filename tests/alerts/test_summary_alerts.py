"""The notifier reads the live summary's events and alerts nobody (a summary is no news)."""

from __future__ import annotations

import httpx

from tests.alerts.conftest import AlertStack
from tests.alerts.test_notifier import now_iso, received, subscribe
from tests.helpers import Ingest, article


async def test_a_summary_alerts_nobody_and_the_next_breaking_story_still_does(
    alerts: AlertStack,
) -> None:
    breaking, world = alerts.stub.subscription(), alerts.stub.subscription()
    await subscribe(alerts, breaking)
    await subscribe(alerts, world, section="world")
    async with httpx.AsyncClient(timeout=10) as client:
        posting = Ingest(alerts.stack, client)
        for scope in ({}, {"section": "world"}):
            response = await client.put(
                f"{posting.base}/v1/summary",
                json={"text": "Breaking: what you need to know", **scope},
                headers=posting.auth,
            )
            assert response.status_code == 200, response.text
        response = await client.delete(
            f"{posting.base}/v1/summary", params={"section": "world"}, headers=posting.auth
        )
        assert response.status_code == 200
        await posting.apply(
            article("after", "After it", urgency=1, section="world", published_at=now_iso())
        )
    # The events are read in order: once the story's alert is in, the summaries were handled.
    assert [m["tag"] for m in await received(breaking, 1)] == ["after"]
    assert [m["tag"] for m in await received(world, 1)] == ["after"]
    log = (alerts.stack.workdir / "notifier.log").read_text()
    assert "unreadable" not in log
    assert "Traceback" not in log
