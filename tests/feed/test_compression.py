"""The feed's text responses are gzipped when the client accepts gzip, plain when it does not,
always with ``Vary: Accept-Encoding``, and each body is compressed once, not per request.

Bytes are read raw (``aiter_raw``): httpx would otherwise decode them."""

from __future__ import annotations

import gzip

import httpx

from tests.helpers import Ingest, article, eventually, raw_get, varies
from tests.ops.metrics_client import scrape, value
from tests.procs import Stack

GZIP = "gzip"
# What clients send: a browser, a client that refuses gzip, one that asks for nothing.
BROWSER = "gzip, deflate, br, zstd"
REFUSING = ["gzip;q=0", "identity", "br", "gzip;q=0.5, identity", "*;q=0"]
MODULE_PATH = "/embed.js"


async def _published(ingest: Ingest, tag: str) -> str:
    """50 headlines (each view over 1 KB); one with a long summary: its own view is big too."""
    items = [
        article(f"{tag}-{n}", title=f"Headline number {n} about the {tag} story, with details")
        for n in range(49)
    ]
    long = article(f"{tag}-long", summary="A summary long enough to be worth compressing. " * 40)
    await ingest.apply({"articles": [*items, long]})
    return str(long["id"])


async def _text_paths(http: httpx.AsyncClient, base: str, long_id: str) -> list[str]:
    module = await http.get(base + MODULE_PATH, follow_redirects=True)  # to the hashed module
    assert module.status_code == 200
    return [
        "/",
        "/v1/timeline?limit=50",
        f"/v1/articles/{long_id}",
        "/feed.rss",
        "/feed.atom",
        "/feed.json",
        "/v1/fragment",
        "/embed",
        module.url.path,
        "/static/core.js",
        "/static/column.js",
        "/static/live.css",
        "/static/column.css",
        "/sw.js",
    ]


async def test_text_responses_are_gzipped_when_accepted_and_plain_otherwise(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    long_id = await _published(ingest, "gz")
    base = fresh.url("feed")
    for path in await _text_paths(http, base, long_id):
        plain, plain_body = await raw_get(http, base + path, None)
        assert plain.status_code == 200, (path, plain.status_code)
        assert "content-encoding" not in plain.headers, path
        assert varies(plain), (path, plain.headers.get("vary"))
        assert len(plain_body) > 1024, path

        packed, packed_body = await raw_get(http, base + path, BROWSER)
        assert packed.headers.get("content-encoding") == GZIP, path
        assert varies(packed), (path, packed.headers.get("vary"))
        assert int(packed.headers["content-length"]) == len(packed_body), path
        assert gzip.decompress(packed_body) == plain_body, path  # the same bytes, once decoded
        assert len(packed_body) < len(plain_body) / 2, (path, len(packed_body), len(plain_body))
        assert packed.headers["etag"] == plain.headers["etag"][:-1] + '-gz"', path

        for refusing in REFUSING:
            refused, refused_body = await raw_get(http, base + path, refusing)
            assert "content-encoding" not in refused.headers, (path, refusing)
            assert varies(refused), (path, refusing)
            assert refused_body == plain_body, (path, refusing)


async def test_each_encoding_has_its_own_etag_and_304(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    long_id = await _published(ingest, "tag")
    base = fresh.url("feed")
    for path in await _text_paths(http, base, long_id):
        plain, _ = await raw_get(http, base + path, "identity")
        packed, packed_body = await raw_get(http, base + path, GZIP)
        plain_tag, packed_tag = plain.headers["etag"], packed.headers["etag"]
        assert plain_tag != packed_tag, path

        for accept, tag, same in [
            (GZIP, packed_tag, True),
            ("identity", plain_tag, True),
            (GZIP, plain_tag, False),  # a plain copy is not the gzip copy
            ("identity", packed_tag, False),
            (GZIP, "W/" + packed_tag, True),  # a proxy weakened it: still the same copy
        ]:
            again, body = await raw_get(http, base + path, accept, **{"If-None-Match": tag})
            if same:
                assert again.status_code == 304, (path, accept, tag)
                assert body == b""
                assert again.headers["etag"] == tag.removeprefix("W/"), (path, accept)
                assert varies(again), (path, accept)
            else:
                assert again.status_code == 200, (path, accept, tag)
                assert (again.headers.get("content-encoding") == GZIP) == (accept == GZIP)

        head, head_body = await raw_get(http, base + path, GZIP, method="HEAD")
        assert head.status_code == 200, path
        assert head_body == b""
        assert head.headers["content-encoding"] == GZIP, path
        assert head.headers["content-length"] == str(len(packed_body)), path
        assert head.headers["etag"] == packed_tag, path
        assert varies(head), path


async def _settled(http: httpx.AsyncClient, base: str, path: str) -> None:
    """Until ``path`` is served from memory (plain, so nothing is compressed yet): the stream
    consumer has dropped what the last write made old, and nothing drops it before the next."""

    async def from_memory() -> bool:
        await raw_get(http, base + path, "identity")
        before = await scrape(http, base)
        await raw_get(http, base + path, "identity")
        after = await scrape(http, base)
        hits = "livefeed_feed_views_total"
        return value(after, hits, result="hit") == value(before, hits, result="hit") + 1 and (
            value(after, hits, result="miss") == value(before, hits, result="miss")
        )

    await eventually(from_memory, what=f"{path} served from memory")


async def test_a_cached_view_is_compressed_once_and_counted_in_the_cache(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    await _published(ingest, "once")
    base = fresh.url("feed")
    path = "/v1/timeline?limit=43"  # a view no other test asks for
    await _settled(http, base, path)
    before = await scrape(http, base)

    first, first_body = await raw_get(http, base + path, BROWSER)
    assert first.headers["content-encoding"] == GZIP
    grown = await scrape(http, base)
    # The copy is kept in the view's entry and counted against LIVEFEED_VIEW_CACHE_BYTES, with
    # the header block made for it (at most the headers sent, less those added per response).
    per_response = {"date", "server", "x-request-id"}
    block = sum(len(k) + len(v) for k, v in first.headers.raw if k.decode() not in per_response)
    kept = len(first_body) + len(first.headers["etag"])
    cache_bytes = "livefeed_feed_view_cache_bytes"
    added = value(grown, cache_bytes) - value(before, cache_bytes)
    assert kept + block / 2 < added <= kept + block, (added, kept, block)

    for _ in range(30):
        _, again_body = await raw_get(http, base + path, BROWSER)
        assert again_body == first_body
    after = await scrape(http, base)
    compressions = "livefeed_feed_compressions_total"
    assert (
        value(after, compressions, encoding=GZIP) == value(before, compressions, encoding=GZIP) + 1
    )
    views = "livefeed_feed_views_total"
    assert value(after, views, result="hit") == value(before, views, result="hit") + 31
    assert value(after, views, result="miss") == value(before, views, result="miss")
    assert value(after, cache_bytes) == value(grown, cache_bytes)


async def test_static_files_are_compressed_at_start_not_per_request(
    fresh: Stack, http: httpx.AsyncClient
) -> None:
    base = fresh.url("feed")
    paths = await _text_paths(http, base, "none")
    static = [path for path in paths if path.startswith(("/static/", "/embed.", "/sw.js"))]
    await raw_get(http, base + static[0], GZIP)
    before = await scrape(http, base)
    for _ in range(5):
        for path in static:
            response, _ = await raw_get(http, base + path, GZIP)
            assert response.headers["content-encoding"] == GZIP, path
    after = await scrape(http, base)
    compressions = "livefeed_feed_compressions_total"
    assert value(after, compressions, encoding=GZIP) == value(before, compressions, encoding=GZIP)
    assert value(before, compressions, encoding=GZIP) >= len(static)
