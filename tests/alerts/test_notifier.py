"""`livefeed notifier` against a real local push service that checks VAPID and decrypts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.notifier.sender import topic_for
from shared.alerts import subscription_id
from tests.alerts.conftest import ALERTS_PER_HOUR, DROP_AFTER_FAILURES, AlertStack
from tests.helpers import Ingest, article, eventually
from tests.procs import REPO
from tests.pushstub import StubSubscription


async def subscribe(alerts: AlertStack, sub: StubSubscription, **extra: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            alerts.feed + "/v1/push-subscriptions",
            json={"subscription": sub.json, **extra},
            headers=alerts.origin,
        )
    assert response.status_code == 201, response.text


def ingest(alerts: AlertStack, client: httpx.AsyncClient) -> Ingest:
    return Ingest(alerts.stack, client)


async def received(sub: StubSubscription, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    async def enough() -> bool:
        return len(sub.received) >= count

    await eventually(enough, timeout, f"{count} message(s) at {sub.name}")
    return sub.messages()


async def metrics(alerts: AlertStack) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(alerts.notifier + "/metrics")).text


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def test_breaking_news_reaches_subscribers_in_time_encrypted_and_signed(
    alerts: AlertStack,
) -> None:
    subs = [alerts.stub.subscription() for _ in range(20)]
    for sub in subs:
        await subscribe(alerts, sub)
    section_sub = alerts.stub.subscription()
    await subscribe(alerts, section_sub, section="world")
    latencies = []
    async with httpx.AsyncClient(timeout=10) as client:
        posting = ingest(alerts, client)
        for n in range(10):
            item = article(
                f"brk-{n}", f"Breaking {n}", urgency=1, published_at=now_iso(),
                url=f"https://news.example/brk-{n}", summary="What happened, in a line.",
            )  # fmt: skip
            posted = time.time()
            response = await posting.post(item)
            assert response.status_code == 202
            await received(subs[0], n + 1)
            await received(subs[-1], n + 1)
            latencies.append(max(s.received[n].at for s in subs[:1] + subs[-1:]) - posted)
            # A story that is not breaking alerts nobody who asked for breaking news.
            await posting.apply(article(f"calm-{n}", "Calm", published_at=now_iso()))
    latencies.sort()
    assert latencies[-1] <= 2.0, latencies  # p99 of 10 = the worst
    for sub in subs:
        await received(sub, 10)
        messages = sub.messages()
        assert [m["title"] for m in messages] == [f"Breaking {n}" for n in range(10)]
        assert messages[3]["url"] == "https://news.example/brk-3"
        assert messages[3]["tag"] == "brk-3"
        assert messages[3]["type"] == "alert"
        assert messages[3]["body"] == "What happened, in a line."
        headers = sub.received[3].headers
        assert headers["Urgency"] == "high"
        assert headers["Topic"] == "brk-3"
        assert int(headers["TTL"]) == 3600
    assert section_sub.received == []  # breaking, but not in the section it follows
    assert alerts.stub.rejected == []
    text = await metrics(alerts)
    assert 'livefeed_webpush_sent_total{kind="alert"} 200.0' in text
    assert "livefeed_webpush_alert_freshness_seconds_count 200.0" in text


async def test_a_section_subscriber_gets_that_sections_news_at_normal_urgency(
    alerts: AlertStack,
) -> None:
    sub = alerts.stub.subscription()
    await subscribe(alerts, sub, section="world")
    async with httpx.AsyncClient(timeout=10) as client:
        await ingest(alerts, client).apply(
            [article("w-1", "World news", section="sport", published_at=now_iso())][0]
        )
        await ingest(alerts, client).apply(
            article("w-2", "World news", section="world", published_at=now_iso())
        )
    messages = await received(sub, 1)
    assert [m["tag"] for m in messages] == ["w-2"]
    assert sub.received[0].headers["Urgency"] == "normal"


async def test_update_replaces_under_the_same_tag_only_when_the_title_changes_and_retraction_closes(
    alerts: AlertStack,
) -> None:
    sub = alerts.stub.subscription()
    await subscribe(alerts, sub)
    long_id = "urn:newsml:example.com:20241024:" + "x" * 80
    async with httpx.AsyncClient(timeout=10) as client:
        posting = ingest(alerts, client)
        base = {"urgency": 2, "published_at": now_iso()}
        await posting.apply(article(long_id, "Quake hits", version=1, **base))
        await received(sub, 1)
        # A new summary, same title: the notification stays as it is.
        await posting.apply(article(long_id, "Quake hits", version=2, summary="More", **base))
        await posting.apply(article(long_id, "Quake hits: 7.1", version=3, **base))
        await received(sub, 2)
        response = await client.delete(
            f"{posting.base}/v1/articles/{long_id}", headers=posting.auth
        )
        assert response.status_code == 202
        messages = await received(sub, 3)
    assert [m["type"] for m in messages] == ["alert", "alert", "close"]
    assert [m["tag"] for m in messages] == [long_id] * 3
    assert [m.get("title") for m in messages[:2]] == ["Quake hits", "Quake hits: 7.1"]
    topic = topic_for(long_id)
    assert len(topic) == 32
    assert {r.headers["Topic"] for r in sub.received} == {topic}
    assert alerts.redis.exists(f"lf:alerts:sent:{long_id}") == 0


async def test_an_embargoed_story_alerts_only_at_its_release(alerts: AlertStack) -> None:
    sub = alerts.stub.subscription()
    await subscribe(alerts, sub)
    release = datetime.now(UTC) + timedelta(seconds=3)
    async with httpx.AsyncClient(timeout=10) as client:
        outcomes = await ingest(alerts, client).apply(
            article(
                "emb-1",
                "Embargoed",
                urgency=1,
                published_at=now_iso(),
                embargoed_until=release.isoformat(),
            )
        )
    assert outcomes[0]["outcome"] == "embargoed"
    messages = await received(sub, 1, timeout=15)
    assert sub.received[0].at >= release.timestamp()
    assert messages[0]["title"] == "Embargoed"


async def test_gone_subscriptions_are_deleted_and_busy_push_services_retried(
    alerts: AlertStack,
) -> None:
    gone, busy, fine = (alerts.stub.subscription() for _ in range(3))
    gone.answer = 410
    busy.fail_first = 2  # 429 twice, then accepted
    for sub in (gone, busy, fine):
        await subscribe(alerts, sub)
    async with httpx.AsyncClient(timeout=10) as client:
        await ingest(alerts, client).apply(
            article("g-1", "Gone?", urgency=1, published_at=now_iso())
        )
    await received(fine, 1)
    await received(busy, 1)

    async def deleted() -> bool:
        return (
            alerts.redis.smembers("lf:alerts:filter:breaking")
            == {k.split(b":")[-1] for k in alerts.redis.keys("lf:alerts:sub:*")}
            and len(alerts.redis.keys("lf:alerts:sub:*")) == 2
        )

    await eventually(deleted, 10, "the 410 subscription deleted")
    text = await metrics(alerts)
    assert 'livefeed_webpush_subscriptions_deleted_total{reason="gone"} 1.0' in text
    assert "livefeed_webpush_retries_total 2.0" in text


async def test_the_hourly_cap_holds(alerts: AlertStack) -> None:
    sub = alerts.stub.subscription()
    await subscribe(alerts, sub)
    async with httpx.AsyncClient(timeout=10) as client:
        posting = ingest(alerts, client)
        for n in range(ALERTS_PER_HOUR + 2):
            await posting.apply(article(f"cap-{n}", f"Cap {n}", urgency=1, published_at=now_iso()))
        # One more subscriber, fresh: still alerted (the cap is per subscription).
        late = alerts.stub.subscription()
        await subscribe(alerts, late)
        await posting.apply(article("cap-late", "Late", urgency=1, published_at=now_iso()))
    await received(late, 1)
    titles = [m["title"] for m in sub.messages()]
    # Stories are sent concurrently: which of the close-together ones take the hour's last
    # places may vary, but never more than the cap.
    assert len(titles) == ALERTS_PER_HOUR
    assert set(titles) <= {f"Cap {n}" for n in range(ALERTS_PER_HOUR + 2)}
    assert "livefeed_webpush_capped_total" in await metrics(alerts)


async def test_alerts_test_command_sends_one_test_alert(alerts: AlertStack) -> None:
    sub = alerts.stub.subscription()
    await subscribe(alerts, sub)
    env = alerts.stack.env()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "alerts", "test", "--endpoint", sub.endpoint],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("sent: push service answered 201")
    assert sub.messages()[0]["title"] == "Test alert from livefeed"
    missing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "alerts", "test", "--id", "0" * 32],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    # The image's HEALTHCHECK knows the notifier's port.
    health = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.commands.healthcheck", "notifier"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert health.returncode == 0, health.stdout


async def reached(sub: StubSubscription, requests: int) -> None:
    """Wait until ``requests`` requests for ``sub`` reached the push service (any answer)."""

    async def enough() -> bool:
        return sub.requests >= requests

    await eventually(enough, 10, f"{requests} request(s) for {sub.name}")


async def alert_done(alerts: AlertStack, article_id: str) -> None:
    """Wait for the notifier's last word on an article's alert (after its bookkeeping)."""
    log = alerts.stack.workdir / "notifier.log"

    async def logged() -> bool:
        return f"alert {article_id}: " in log.read_text(errors="replace")

    await eventually(logged, 10, f"the notifier done with {article_id}")


def kept(alerts: AlertStack, sub: StubSubscription) -> bool:
    return bool(alerts.redis.exists(f"lf:alerts:sub:{subscription_id(sub.endpoint)}"))


async def test_a_subscription_refused_again_and_again_is_dropped(alerts: AlertStack) -> None:
    fine, refused, flaky = (alerts.stub.subscription() for _ in range(3))
    refused.answer = 403  # e.g. subscribed with another site's key: never deliverable
    flaky.fail_first, flaky.fail_status = DROP_AFTER_FAILURES - 1, 403  # then accepted
    for sub in (fine, refused, flaky):
        await subscribe(alerts, sub)
    async with httpx.AsyncClient(timeout=10) as client:
        posting = ingest(alerts, client)
        for n in range(DROP_AFTER_FAILURES):
            await posting.apply(article(f"d-{n}", f"Drop {n}", urgency=1, published_at=now_iso()))
            await received(fine, n + 1)
            await reached(refused, n + 1)
            await reached(flaky, n + 1)
            await alert_done(alerts, f"d-{n}")
        assert not kept(alerts, refused)
        # Failures in a row: the flaky one's success started its count again.
        assert kept(alerts, flaky)
        assert kept(alerts, fine)
        assert (
            alerts.redis.hget(f"lf:alerts:sub:{subscription_id(flaky.endpoint)}", "failures")
            is None
        )
        assert alerts.redis.smembers("lf:alerts:filter:breaking") == {
            subscription_id(sub.endpoint).encode() for sub in (fine, flaky)
        }
        assert alerts.redis.get("lf:alerts:count") == b"2"

        # The next alert is not tried on it any more.
        await posting.apply(article("d-next", "Next", urgency=1, published_at=now_iso()))
        await received(fine, DROP_AFTER_FAILURES + 1)
        await received(flaky, 2)
    assert refused.requests == DROP_AFTER_FAILURES
    assert 'livefeed_webpush_subscriptions_deleted_total{reason="failing"} 1.0' in (
        await metrics(alerts)
    )


async def test_nobody_is_dropped_when_a_push_service_refuses_everyone(alerts: AlertStack) -> None:
    """Every send to a push service refused is our fault (keys, network) or its own: after
    many more alerts than the drop count, every subscription is still there."""
    subs = [alerts.stub.subscription() for _ in range(2)]
    for sub in subs:
        sub.answer = 403
        await subscribe(alerts, sub)
    async with httpx.AsyncClient(timeout=10) as client:
        posting = ingest(alerts, client)
        for n in range(DROP_AFTER_FAILURES + 1):
            await posting.apply(article(f"k-{n}", f"Keys {n}", urgency=1, published_at=now_iso()))
            for sub in subs:
                await reached(sub, n + 1)
            await alert_done(alerts, f"k-{n}")
    assert all(kept(alerts, sub) for sub in subs)
    for sub in subs:
        assert (
            alerts.redis.hget(f"lf:alerts:sub:{subscription_id(sub.endpoint)}", "failures") is None
        )


async def test_a_stored_endpoint_that_is_no_push_url_is_deleted_unsent(alerts: AlertStack) -> None:
    """Subscriptions stored before the host checks were strict are not tried again."""
    fine = alerts.stub.subscription()
    await subscribe(alerts, fine)
    evil = alerts.stub.subscription()
    endpoint = f"https://evil.com%2f.push.services.mozilla.com/{evil.name}"
    sid = subscription_id(endpoint)
    alerts.redis.hset(
        f"lf:alerts:sub:{sid}",
        mapping={"endpoint": endpoint, "p256dh": evil.p256dh, "auth": evil.auth,
                 "filter": "breaking", "created": "1"},
    )  # fmt: skip
    alerts.redis.sadd("lf:alerts:filter:breaking", sid)
    async with httpx.AsyncClient(timeout=10) as client:
        await ingest(alerts, client).apply(
            article("v-1", "Valid only", urgency=1, published_at=now_iso())
        )
    await received(fine, 1)

    async def deleted() -> bool:
        return not alerts.redis.exists(f"lf:alerts:sub:{sid}")

    await eventually(deleted, 10, "the stored evil endpoint deleted")
    assert alerts.redis.smembers("lf:alerts:filter:breaking") == {
        subscription_id(fine.endpoint).encode()
    }
    assert 'livefeed_webpush_subscriptions_deleted_total{reason="invalid"} 1.0' in (
        await metrics(alerts)
    )
