"""The feed's view cache is bounded in bytes: hostile cursors cannot grow the process.

Issue 21, finding 4: 1,500 anonymous ``GET /v1/timeline?limit=200&before=…~k<i>`` (identical
bytes, distinct keys) grew a feed process by 1.3 GB, because the cache was bounded by count.
Here the cursors sit inside the timeline, where no key normalisation can fold them into one
(each still names its own entry), so only the byte bound (``LIVEFEED_VIEW_CACHE_BYTES``, small
here to keep the test fast) holds the process's resident memory.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import Ingest, article
from tests.ops.metrics_client import scrape, value
from tests.reliability.conftest import StackFactory, rss_kib

BOUND = 8 * 1024 * 1024
# What else a feed process may gain while it serves this: transient render memory of the
# requests in flight, and allocator slack. Far below 1,500 hostile views of 300 KB.
SLACK = 16 * 1024 * 1024
CURSORS = 1_500
IN_FLIGHT = 4
ITEMS = 240


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_hostile_cursors_grow_the_feed_by_at_most_its_view_cache_bound(
    make_stack: StackFactory,
) -> None:
    stack, _server = make_stack(
        services=("ingest", "worker", "feed"), LIVEFEED_VIEW_CACHE_BYTES=str(BOUND)
    )
    feed = stack.url("feed")
    service = stack.services["feed"]
    assert service.process is not None
    pid = service.process.pid
    async with httpx.AsyncClient(timeout=30) as http:
        # 240 headlines a minute apart, each with a long summary: a 200-item page is ~300 KB.
        await Ingest(stack, http).apply(
            {
                "articles": [
                    article(
                        f"big-{n:03d}",
                        title=f"Headline number {n} " + "t" * 150,
                        summary="s" * 1_200,
                        published_at=f"2024-10-24T{10 + n // 60:02d}:{n % 60:02d}:00+03:00",
                    )
                    for n in range(ITEMS)
                ]
            }
        )
        first = (await http.get(f"{feed}/v1/timeline", params={"limit": 20})).json()
        score = first["next"].split("~")[0]  # the 20th item's time: 200 older ones below it

        async def hostile(n: int) -> int:
            url = f"{feed}/v1/timeline?limit=200&before={score}~k{n}"
            response = await http.get(url)
            assert response.status_code == 200, response.text
            return len(response.content)

        size = await hostile(-1)  # one render: the code it runs is loaded, one view kept
        assert size > 250_000, size  # each hostile view is big
        baseline = rss_kib(pid) * 1024
        peak = baseline
        limiter = asyncio.Semaphore(IN_FLIGHT)

        async def limited(n: int) -> None:
            async with limiter:
                await hostile(n)

        for start in range(0, CURSORS, 100):
            await asyncio.gather(*(limited(n) for n in range(start, start + 100)))
            peak = max(peak, rss_kib(pid) * 1024)
            # Checked as it goes: without the bound the process is already far past it here.
            assert peak - baseline <= BOUND + SLACK, (
                f"after {start + 100} hostile cursors the feed grew "
                f"{(peak - baseline) / 2**20:.1f} MiB (bound {BOUND / 2**20:.0f} MiB)"
            )
        samples = await scrape(http, feed)
    kept = value(samples, "livefeed_feed_view_cache_bytes")
    assert 0 < kept <= BOUND
    assert value(samples, "livefeed_feed_views_total", result="miss") >= CURSORS
    print(
        f"hostile view {size / 1024:.0f} KiB; RSS {baseline / 2**20:.1f} → peak "
        f"{peak / 2**20:.1f} MiB (+{(peak - baseline) / 2**20:.1f}); cache counts "
        f"{kept / 2**20:.1f} MiB in {value(samples, 'livefeed_feed_view_cache_entries'):.0f} views"
    )
