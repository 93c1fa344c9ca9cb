"""From the event log to alerts: what each event sends, to whom, in what order.

The process owns one ``shared.stream.StreamConsumer``; its ``deliver`` only queues events
(it must not block) and a dispatcher works them off:

- ``published`` of an article labelled ``breaking`` (or in a section someone follows): an
  alert to every matching subscription that is under ``LIVEFEED_PUSH_ALERTS_PER_HOUR``.
  Embargoed articles are never ``published`` before their release, so they send nothing
  until then.
- ``updated``: if its title changed since the alert, the alert again under the same tag to
  the subscriptions that got it (the notification is replaced, not added); an update that
  makes an article breaking alerts as a publication would.
- ``retracted`` (a retraction, an embargo put back, the article leaving the window): a close
  message to the subscriptions that got the alert; the service worker closes it.

Every send goes only to an endpoint ``LIVEFEED_PUSH_SERVICES`` admits now. A 404/410 deletes
the subscription; other permanent failures (``Result.permanent``) are counted per
subscription, reset by a success, and ``LIVEFEED_PUSH_DROP_AFTER_FAILURES`` in a row delete
it, counted only while its push service takes the same message for others.

Events of one article are handled in order (a close never overtakes its alert); different
articles fan out concurrently. Each message carries ``Topic`` = the article, so a push
service holding an undelivered alert replaces it with the newer message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aredis
from redis.exceptions import RedisError

from services.notifier import metrics
from services.notifier.sender import Result, Sender, topic_for
from shared import alerts, keys
from shared.events import PUBLISHED, RETRACTED, UPDATED, Entry, Event
from shared.settings import Settings
from shared.stream import StreamConsumer

log = logging.getLogger(__name__)

ALERT_MEMORY_S = 48 * 3600  # how long an alert's title and recipients are kept (updates, close)
BODY_CHARS = 200


@dataclass
class Queued:
    """An event read from the log, waiting to be sent."""

    event: Event
    headline: dict[str, Any]
    accepted_ms: int | None  # when ingest accepted it ("at"): alert freshness
    read_at: float  # monotonic, when the consumer delivered it: queue age


def alert_message(headline: dict[str, Any], feed_url: str) -> dict[str, Any]:
    """The alert payload the service worker shows (before encryption)."""
    summary = str(headline.get("summary") or "")
    if len(summary) > BODY_CHARS:
        summary = summary[: BODY_CHARS - 1].rsplit(" ", 1)[0] + "…"
    section = str(headline.get("section") or "")
    body = summary or ("Breaking news" if headline.get("breaking") else section.capitalize())
    return {
        "type": "alert",
        "tag": headline["id"],
        "title": headline.get("title", ""),
        "body": body,
        "url": headline.get("url") or feed_url.rstrip("/") + "/",
        "timestamp": _published_ms(headline),
    }


def close_message(article_id: str) -> dict[str, Any]:
    """The message that makes the service worker close an article's notification."""
    return {"type": "close", "tag": article_id}


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _published_ms(headline: dict[str, Any]) -> int | None:
    try:
        return int(datetime.fromisoformat(str(headline.get("published_at"))).timestamp() * 1000)
    except ValueError:
        return None


class Notifier:
    """The stream consumer, the queue and the dispatcher of one notifier process."""

    def __init__(
        self,
        client: aredis.Redis,
        settings: Settings,
        sender: Sender,
        *,
        reader: aredis.Redis | None = None,
    ) -> None:
        """``reader``: the consumer's own connection (its XREAD BLOCK holds it)."""
        self.client = client
        self.settings = settings
        self.sender = sender
        self.queue: asyncio.Queue[Queued] = asyncio.Queue()
        self.pending: dict[int, float] = {}  # id(queued) → read_at, oldest first
        self.chains: dict[bytes, asyncio.Task[None]] = {}  # the last task of each article
        self.consumer = StreamConsumer(reader or client, "notifier stream reader", self.deliver)
        self.push_services = alerts.push_services(tuple(settings.push_services))
        self.due_s = 0.0  # the newest article with subscribers to alert (acceptance time)
        self.done_s = 0.0  # the newest article whose alerts went out
        metrics.QUEUE_AGE.set_function(self.queue_age)

    def queue_age(self) -> float:
        """Seconds the oldest unfinished event has waited (0 when none)."""
        for read_at in self.pending.values():
            return time.monotonic() - read_at
        return 0.0

    def deliver(self, entries: list[Entry]) -> None:
        """The consumer's callback: queue and return (never blocks the stream)."""
        now = time.monotonic()
        for raw_id, fields in entries:
            try:
                event = Event.from_entry(raw_id, fields)
                headline = orjson.loads(fields.get(b"headline", b"{}"))
            except (ValueError, orjson.JSONDecodeError) as exc:
                log.error("skipping unreadable event %r: %s", raw_id, exc)
                continue
            at = fields.get(b"at")
            queued = Queued(event, headline, int(at) if at and at.isdigit() else None, now)
            self.pending[id(queued)] = now
            self.queue.put_nowait(queued)

    async def run(self) -> None:
        """Read the stream and send, until cancelled."""
        reader = asyncio.create_task(self.consumer.run())
        try:
            while True:
                queued = await self.queue.get()
                article = queued.event.article
                previous = self.chains.get(article)
                task = asyncio.create_task(self._in_order(previous, queued))
                self.chains[article] = task
                task.add_done_callback(functools.partial(self._chain_done, article))
        finally:
            reader.cancel()
            for task in list(self.chains.values()):
                task.cancel()

    def _chain_done(self, article: bytes, task: asyncio.Task[None]) -> None:
        if self.chains.get(article) is task:
            del self.chains[article]

    async def _in_order(self, previous: asyncio.Task[None] | None, queued: Queued) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await self.handle(queued)
        except RedisError as exc:
            log.error("alerts for %s not sent: Redis: %s", queued.event.article, exc)
        finally:
            self.pending.pop(id(queued), None)

    async def handle(self, queued: Queued) -> None:
        """Send what one event calls for."""
        event = queued.event
        if event.kind == PUBLISHED:
            await self._alert(queued)
        elif event.kind == UPDATED:
            await self._update(queued)
        elif event.kind == RETRACTED:
            await self._close(queued)

    async def _alert(self, queued: Queued) -> None:
        event = queued.event
        names = alerts.filters_for(event.sections, event.labels)
        if not names:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.smembers(keys.alert_filter(name))
            members = await pipe.execute()
        sids = sorted({m.decode() for group in members for m in group})
        if not sids:
            return
        allowed = await self._under_cap(sids)
        if not allowed:
            return
        article_id = event.article.decode()
        await self.client.hset(
            keys.alert_article(article_id), mapping={"title": queued.headline.get("title", "")}
        )
        await self.client.expire(keys.alert_article(article_id), ALERT_MEMORY_S)
        if queued.accepted_ms is not None:
            self.due_s = max(self.due_s, queued.accepted_ms / 1000)
            metrics.DUE.set(self.due_s)
        message = alert_message(queued.headline, self.settings.feed_url)
        await self._fan_out(queued, allowed, message, "alert", remember=True)

    async def _update(self, queued: Queued) -> None:
        article_id = queued.event.article.decode()
        stored = await self.client.hget(keys.alert_article(article_id), "title")
        if stored is None:
            # Never alerted: an update that makes it breaking (or moves it into a followed
            # section) is its first alert.
            await self._alert(queued)
            return
        title = str(queued.headline.get("title", ""))
        if _text(stored) == title:
            return  # same title: the reader's notification is still right
        sids = await self._recipients(article_id)
        await self.client.hset(keys.alert_article(article_id), "title", title)
        if sids:
            message = alert_message(queued.headline, self.settings.feed_url)
            await self._fan_out(queued, sids, message, "update", remember=False)

    async def _close(self, queued: Queued) -> None:
        article_id = queued.event.article.decode()
        sids = await self._recipients(article_id)
        await self.client.delete(keys.alert_article(article_id), keys.alert_sent(article_id))
        if sids:
            await self._fan_out(queued, sids, close_message(article_id), "close", remember=False)

    async def _recipients(self, article_id: str) -> list[str]:
        """The subscriptions an article's alert went to."""
        return sorted(_text(m) for m in await self.client.smembers(keys.alert_sent(article_id)))

    async def _under_cap(self, sids: list[str]) -> list[str]:
        """The subscriptions that may get one more alert this hour (and count it)."""
        limit = self.settings.push_alerts_per_hour
        if limit <= 0:
            metrics.CAPPED.inc(len(sids))
            return []
        hour = int(time.time() // 3600)
        async with self.client.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.incr(keys.alert_cap(sid, hour))
                pipe.expire(keys.alert_cap(sid, hour), 3700)
            counts = (await pipe.execute())[0::2]
        allowed = [sid for sid, count in zip(sids, counts, strict=True) if int(count) <= limit]
        if len(allowed) < len(sids):
            metrics.CAPPED.inc(len(sids) - len(allowed))
        return allowed

    async def _fan_out(
        self,
        queued: Queued,
        sids: list[str],
        message: dict[str, Any],
        kind: str,
        *,
        remember: bool,
    ) -> None:
        subs, services = await self._sendable(await alerts.load(self.client, sids))
        if not subs:
            return
        data = orjson.dumps(message)
        breaking = "breaking" in queued.event.labels or kind == "close"
        urgency = "high" if breaking else "normal"
        topic = topic_for(queued.event.article.decode())

        async def one(sid: str, sub: alerts.Subscription) -> tuple[str, Result]:
            return sid, await self.sender.send(sub, data, urgency=urgency, topic=topic)

        results = await gather_all([one(sid, sub) for sid, sub in subs.items()])
        sent = [sid for sid, r in results if r.verdict == "sent"]
        gone = [sid for sid, r in results if r.verdict == "gone"]
        failed = [r for _, r in results if r.verdict == "failed"]
        if sent:
            metrics.SENT.labels(kind).inc(len(sent))
        for result in failed:
            metrics.FAILED.labels(str(result.status) if result.status else "network").inc()
        for sid in gone:
            await alerts.delete(self.client, sid)
        if gone:
            metrics.DELETED.labels("gone").inc(len(gone))
        await self._count_failures(subs, services, results)
        article_id = queued.event.article.decode()
        if remember and sent:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.sadd(keys.alert_sent(article_id), *sent)
                pipe.expire(keys.alert_sent(article_id), ALERT_MEMORY_S)
                await pipe.execute()
        if kind == "alert" and queued.accepted_ms is not None:
            if not failed and (sent or gone):
                self.done_s = max(self.done_s, queued.accepted_ms / 1000)
                metrics.DONE.set(self.done_s)
            if sent:
                age = max(0.0, time.time() - queued.accepted_ms / 1000)
                for _ in sent:
                    metrics.FRESHNESS.observe(age)
        if failed:
            log.warning(
                "%d %s message(s) for %s failed (statuses %s)",
                len(failed),
                kind,
                article_id,
                sorted({r.status or 0 for r in failed}),
            )
        log.info(
            "%s %s: %d sent, %d gone, %d failed",
            kind,
            article_id,
            len(sent),
            len(gone),
            len(failed),
        )

    async def _sendable(
        self, subs: dict[str, alerts.Subscription]
    ) -> tuple[dict[str, alerts.Subscription], dict[str, str]]:
        """Those ``subs`` whose endpoint ``LIVEFEED_PUSH_SERVICES`` admits today, and the
        entry that admits each.

        One that is no push URL at all (stored before the host checks were strict) is
        deleted; one on a push service no longer listed is kept, unsent.
        """
        sendable: dict[str, alerts.Subscription] = {}
        services: dict[str, str] = {}
        invalid: list[str] = []
        for sid, sub in subs.items():
            service, _ = self.push_services.check(sub.endpoint)
            if service is not None:
                sendable[sid] = sub
                services[sid] = service
            elif self.push_services.malformed(sub.endpoint):
                invalid.append(sid)
            else:
                metrics.NOT_ALLOWED.inc()
        for sid in invalid:
            await alerts.delete(self.client, sid)
        if invalid:
            metrics.DELETED.labels("invalid").inc(len(invalid))
            log.warning("deleted %d subscription(s) whose endpoint is no push URL", len(invalid))
        return sendable, services

    async def _count_failures(
        self,
        subs: dict[str, alerts.Subscription],
        service: dict[str, str],
        results: list[tuple[str, Result]],
    ) -> None:
        """Failures in a row per subscription: reset by a success, and the subscription
        dropped at ``LIVEFEED_PUSH_DROP_AFTER_FAILURES``.

        A permanent failure (``Result.permanent``) counts only when the subscription's push
        service (its ``LIVEFEED_PUSH_SERVICES`` entry) took this message for another
        subscription: when every send to a push service fails, the fault is ours (VAPID keys
        that changed, egress blocked) or the push service's, and nobody is dropped for it.
        """
        working = {service[sid] for sid, r in results if r.verdict == "sent"}
        counted = [sid for sid, r in results if r.permanent and service[sid] in working]
        recovered = [sid for sid, r in results if r.verdict == "sent" and subs[sid].failures]
        await alerts.clear_failures(self.client, recovered)
        if not counted:
            return
        counts = await alerts.record_failures(self.client, counted)
        limit = self.settings.push_drop_after_failures
        doomed = [sid for sid, n in counts.items() if n >= limit]
        for sid in doomed:
            await alerts.delete(self.client, sid)
        if doomed:
            metrics.DELETED.labels("failing").inc(len(doomed))
            log.info("deleted %d subscription(s) after %d failures in a row", len(doomed), limit)


async def gather_all(
    coros: list[Coroutine[Any, Any, tuple[str, Result]]],
) -> list[tuple[str, Result]]:
    """Run every send concurrently (the sender caps what is in flight)."""
    return list(await asyncio.gather(*coros))
