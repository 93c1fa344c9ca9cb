"""Publishes benchmark headlines into a Redis Stream on a fixed schedule.

Each headline is ~300 B of JSON whose ``id`` is ``bench-<seq>-<ts_ns>`` and which also carries
``"ts": <ts_ns>``; ``ts_ns`` is ``time.time_ns()`` taken just before the XADD. Clients find the
id in any frame, whatever envelope a server wraps around it, and compute latency from it.

    python -m bench.publisher --redis-url unix:///tmp/x/redis.sock --stream bench:events --count 100
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import redis

ID_PREFIX = "bench-"


@dataclass(frozen=True)
class Headline:
    """One benchmark headline: its sequence number, publish timestamp and JSON body."""

    seq: int
    ts_ns: int
    article_id: str
    body: dict[str, object]

    def json(self) -> str:
        """The headline as compact JSON text."""
        return orjson.dumps(self.body).decode()


def article(
    article_id: str, key: str, published_at: str, url_key: str | None = None
) -> dict[str, object]:
    """The ~300 B native article every benchmark posts or pushes; *key* names it in the title
    and (unless *url_key* does) the URL."""
    return {
        "id": article_id,
        "title": f"Headline {key}: negotiators meet again",
        "url": f"https://example.org/a/{url_key or key}",
        "published_at": published_at,
        "section": "world",
        "labels": ["exclusive"],
        "summary": "Talks resume next week, officials said.",
    }


def make_headline(seq: int, ts_ns: int) -> Headline:
    """Build headline *seq* stamped with *ts_ns* (~300 B of JSON)."""
    article_id = f"{ID_PREFIX}{seq:06d}-{ts_ns}"
    body = article(article_id, f"{seq:06d}", "2024-10-24T16:55:00+03:00")
    return Headline(seq, ts_ns, article_id, {**body, "time": "16:55", "ts": ts_ns})


EventWriter = Callable[["redis.Redis", str, Headline], None]
"""Puts one headline into Redis so that the variant's server pushes it.

Called as ``writer(client, stream, headline)``."""


def write_stream_event(client: redis.Redis, stream: str, headline: Headline) -> None:
    """Default writer: ``XADD stream * type published id <id> data <json>``."""
    client.xadd(
        stream,
        {"type": "published", "id": headline.article_id, "data": headline.json()},
        maxlen=10000,
        approximate=True,
    )


def publish(
    client: redis.Redis,
    stream: str,
    writer: EventWriter,
    count: int,
    interval_s: float,
    first_seq: int = 0,
) -> list[float]:
    """Publish *count* headlines, one every *interval_s* on an absolute schedule.

    Returns each publish's lateness against the schedule in seconds (how far the publisher slipped).
    """
    lateness: list[float] = []
    start = time.perf_counter()
    for i in range(count):
        due = start + i * interval_s
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        lateness.append(max(0.0, time.perf_counter() - due))
        writer(client, stream, make_headline(first_seq + i, time.time_ns()))
    return lateness


def publish_warmup(
    client: redis.Redis, stream: str, writer: EventWriter, count: int, interval_s: float
) -> None:
    """Publish *count* headlines that clients ignore (their id lacks the bench prefix)."""
    for i in range(count):
        headline = make_headline(i, time.time_ns())
        body = dict(headline.body, id=f"warmup-{i}")
        writer(client, stream, Headline(-1, headline.ts_ns, f"warmup-{i}", body))
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> None:
    """Standalone publisher."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--redis-url", required=True)
    p.add_argument("--stream", default="bench:events")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--interval", type=float, default=0.1)
    args = p.parse_args(argv)
    client = redis.Redis.from_url(args.redis_url)
    lateness = publish(client, args.stream, write_stream_event, args.count, args.interval)
    print(
        f"published {args.count} headlines; "
        f"worst schedule slip {max(lateness, default=0) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
