"""Readers now, across every push process: what each reports, how the reports add up, and what
is kept of them (the per-minute maxima, the readers at each publication).

Each push process counts its readers as they connect and leave (services/push/audience.py:
nothing per frame) and, every ``LIVEFEED_AUDIENCE_INTERVAL`` seconds, writes one report
(``keys.audience_process``) that expires after ``EXPIRY_INTERVALS`` intervals: a process that
dies drops out of the sum by itself, a process that stops cleanly deletes its report. Reports
hold counts only: per filter group (section, label, edition), per transport and tabs; nothing
about any reader.

After its report, each process reads every live report, adds them up and raises the current
minute's maximum (``keys.audience_minute``) to that sum if it is higher: every sample is a sum
over all processes, so the minute keeps the most readers seen at once, not the sum of each
process's own maximum. The same sum is kept with an article when it is first published
(``keys.audience_at_publication``). Both live ``HISTORY_S`` (48 h).

Ingest and feed answer ``GET /v1/audience`` from here (shared/audience_api.py), the feed's public
count (``GET /v1/audience/count``) and the feed worker's gauge too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import redis
import redis.asyncio as aredis

from shared import keys

log = logging.getLogger(__name__)

EXPIRY_INTERVALS = 3  # a report outlives its process by at most this many intervals
INDEX_TRIM_MS = 3_600_000  # index entries not refreshed for this long are dropped
HISTORY_S = 48 * 3600  # per-minute maxima and readers at publication are kept this long
MAX_GROUPS = 200  # filter groups a report (and an answer) lists; the rest are summed in "rest"
MAX_TABS = 1000  # the most tabs one connection may say it serves
MAX_MINUTES = 2 * 24 * 60  # ?minutes= goes back at most 48 h
RECENT_HEADLINES = 20  # the newest live headlines /v1/audience lists with their readers

# The minute's maximum, raised only: several processes write it, each with the sum it read.
MINUTE_MAX_LUA = """
local seen = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > seen then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""

Group = tuple[str | None, str | None, str | None]  # (section, label, edition) as subscribed


def tabs_value(raw: object) -> int | None:
    """A client's tab count: a whole number from 1 to ``MAX_TABS`` (an int, or a string of
    ASCII digits), else None (ignored: the connection counts as one tab)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
            return None
        raw = int(raw)
    if isinstance(raw, int) and 1 <= raw <= MAX_TABS:
        return raw
    return None


def minute_of(seconds: float) -> int:
    """The epoch minute ``seconds`` falls in."""
    return int(seconds // 60)


def rfc3339(seconds: float) -> str:
    """``2024-10-24T13:55:00Z``: a UTC time as the API writes it."""
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Counts:
    """Readers (connections) and the tabs they serve."""

    readers: int = 0
    tabs: int = 0

    def add(self, readers: int, tabs: int) -> None:
        self.readers += readers
        self.tabs += tabs


def encode_report(groups: dict[tuple[Group, bool], Counts]) -> bytes:
    """One process's report from its counts by (filter group, sse): totals, per transport, and
    its ``MAX_GROUPS`` largest filter groups (the others summed in ``rest``)."""
    total, by_group = Counts(), dict[Group, Counts]()
    ws = sse = 0
    for (group, is_sse), counts in groups.items():
        if not counts.readers:
            continue
        total.add(counts.readers, counts.tabs)
        by_group.setdefault(group, Counts()).add(counts.readers, counts.tabs)
        if is_sse:
            sse += counts.readers
        else:
            ws += counts.readers
    largest = sorted(by_group.items(), key=lambda kv: -kv[1].readers)
    listed = [[*group, c.readers, c.tabs] for group, c in largest[:MAX_GROUPS]]
    rest = Counts()
    for _, counts in largest[MAX_GROUPS:]:
        rest.add(counts.readers, counts.tabs)
    body = {
        "readers": total.readers,
        "tabs": total.tabs,
        "ws": ws,
        "sse": sse,
        "groups": listed,
        "rest": [rest.readers, rest.tabs],
    }
    return orjson.dumps(body)


@dataclass
class Audience:
    """Every live push process's report, added up."""

    at: float  # when it was read (epoch seconds)
    processes: int = 0
    total: Counts = field(default_factory=Counts)
    ws: int = 0
    sse: int = 0
    groups: dict[Group, Counts] = field(default_factory=dict)
    rest: Counts = field(default_factory=Counts)

    @property
    def readers(self) -> int:
        return self.total.readers

    def add(self, report: dict[str, Any]) -> None:
        """Add one process's report (as ``encode_report`` wrote it); raises ValueError, KeyError
        or TypeError, having added nothing, when it is not one."""
        total = Counts(int(report["readers"]), int(report["tabs"]))
        ws, sse = int(report["ws"]), int(report["sse"])
        groups = [
            ((section, label, lang), int(readers), int(tabs))
            for section, label, lang, readers, tabs in report["groups"]
        ]
        rest_readers, rest_tabs = (int(n) for n in report["rest"])
        self.processes += 1
        self.total.add(total.readers, total.tabs)
        self.ws += ws
        self.sse += sse
        for group, readers, tabs in groups:
            self.groups.setdefault(group, Counts()).add(readers, tabs)
        self.rest.add(rest_readers, rest_tabs)

    def as_json(self) -> dict[str, Any]:
        """``/v1/audience``'s body (without ``minutes`` and ``headlines``)."""
        largest = sorted(
            self.groups.items(), key=lambda kv: (-kv[1].readers, tuple(p or "" for p in kv[0]))
        )
        rest = Counts(self.rest.readers, self.rest.tabs)
        for _, counts in largest[MAX_GROUPS:]:
            rest.add(counts.readers, counts.tabs)
        return {
            "readers": self.total.readers,
            "connections": self.total.readers,
            "tabs": self.total.tabs,
            "by_filter": [
                {"section": s, "label": lb, "lang": lg, "readers": c.readers, "tabs": c.tabs}
                for (s, lb, lg), c in largest[:MAX_GROUPS]
            ],
            "by_filter_rest": rest.readers,
            "by_transport": {"ws": self.ws, "sse": self.sse},
            "processes": self.processes,
            "at": rfc3339(self.at),
        }


def summed(raws: list[bytes | None], at: float) -> Audience:
    """The reports still there (an expired one reads as None) added up."""
    audience = Audience(at)
    for raw in raws:
        if raw is None:
            continue
        try:
            audience.add(orjson.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:  # not a report this version reads
            log.warning("skipping an unreadable readers report: %s", exc)
    return audience


async def read(client: aredis.Redis) -> Audience:
    """Readers now: every live push process's report, added up (two round trips)."""
    ids = cast(list[bytes], await client.zrange(keys.AUDIENCE_PROCESSES, 0, -1))
    raws = await client.mget([keys.audience_process(i.decode()) for i in ids]) if ids else []
    return summed(cast(list[bytes | None], raws), time.time())


def read_sync(client: redis.Redis) -> Audience:
    """``read`` for a blocking client (the feed worker's metrics)."""
    ids = cast(list[bytes], client.zrange(keys.AUDIENCE_PROCESSES, 0, -1))
    raws = client.mget([keys.audience_process(i.decode()) for i in ids]) if ids else []
    return summed(cast(list[bytes | None], raws), time.time())


async def write_report(
    client: aredis.Redis, process_id: str, report: bytes, interval: float
) -> None:
    """Write one process's report (expiring after ``EXPIRY_INTERVALS`` intervals) and keep it
    in the index; index entries an hour old are dropped."""
    now_ms = int(time.time() * 1000)
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(
            keys.audience_process(process_id), report, px=int(interval * EXPIRY_INTERVALS * 1000)
        )
        pipe.zadd(keys.AUDIENCE_PROCESSES, {process_id: now_ms})
        pipe.zremrangebyscore(keys.AUDIENCE_PROCESSES, "-inf", now_ms - INDEX_TRIM_MS)
        await pipe.execute()


async def drop_report(client: aredis.Redis, process_id: str) -> None:
    """A process stopping: out of the sum now rather than at its report's expiry."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.delete(keys.audience_process(process_id))
        pipe.zrem(keys.AUDIENCE_PROCESSES, process_id)
        await pipe.execute()


async def record_minute(client: aredis.Redis, readers: int, now: float) -> None:
    """Raise the current minute's maximum to ``readers`` (a sum over every process) if higher."""
    key = keys.audience_minute(minute_of(now))
    await client.register_script(MINUTE_MAX_LUA)(keys=[key], args=[readers, HISTORY_S])


async def keep_at_publication(client: aredis.Redis, article_ids: list[str], readers: int) -> None:
    """Keep ``readers`` with each newly published article; the first process to write wins (a
    re-publication keeps the first publication's)."""
    async with client.pipeline(transaction=False) as pipe:
        for article_id in article_ids:
            key = keys.audience_at_publication(article_id)
            pipe.set(key, readers, nx=True, ex=HISTORY_S)
        await pipe.execute()


async def readers_at_publication(client: aredis.Redis, article_id: str) -> int | None:
    """The readers connected (all push processes) when ``article_id`` was first published;
    None when not known (more than 48 h ago, or no push process was running)."""
    raw = await client.get(keys.audience_at_publication(article_id))
    return int(raw) if raw is not None else None


async def minute_maxima(client: aredis.Redis, count: int, now: float) -> list[dict[str, Any]]:
    """The last ``count`` minutes, oldest first, the current one last: ``{"at", "readers"}``,
    ``readers`` the most seen at once in that minute (None: no push process reported)."""
    last = minute_of(now)
    minutes = range(last - count + 1, last + 1)
    raws = await client.mget([keys.audience_minute(m) for m in minutes])
    return [
        {"at": rfc3339(m * 60), "readers": int(raw) if raw is not None else None}
        for m, raw in zip(minutes, raws, strict=True)
    ]


async def recent_headlines(client: aredis.Redis) -> list[dict[str, Any]]:
    """The ``RECENT_HEADLINES`` newest live headlines: id, published time and the readers
    connected when each was published (None: not known)."""
    newest = cast(
        list[tuple[bytes, float]],
        await client.zrevrange(keys.TIMELINE, 0, RECENT_HEADLINES - 1, withscores=True),
    )
    if not newest:
        return []
    ids = [raw.decode() for raw, _ in newest]
    kept = await client.mget([keys.audience_at_publication(i) for i in ids])
    return [
        {
            "id": article_id,
            "published_at": rfc3339(score / 1000),
            "readers_at_publication": int(raw) if raw is not None else None,
        }
        for article_id, (_, score), raw in zip(ids, newest, kept, strict=True)
    ]
