"""The edge as shipped: deploy/nginx.conf on the real nginx, in front of deploy/varnish/default.vcl
on the real Varnish, in front of the real feed, with the real purger purging it.

Every view valid under the documented limits passes (200 headlines with 200-character ids), a
reader never sees what a view is filed under, a change to such a headline still purges every
cached view it is in, and nobody but the purger purges: not through nginx (405), not at Varnish
without the secret (403). Compressed views: Varnish keeps the feed's one gzip copy of a view and
serves it to every client, decoded for those that take no gzip; nginx compresses nothing again."""

from __future__ import annotations

import asyncio
import gzip
import re

import httpx
import pytest

from tests.conftest import short_tmpdir
from tests.edge.conftest import PURGE_SECRET, Edge, Varnish
from tests.helpers import Ingest, article, eventually, long_id_articles, raw_get, varies
from tests.nginx import Nginx

pytestmark = pytest.mark.slow

HEAVY_VIEWS = ["/?limit=200", "/v1/timeline?limit=200", "/feed.rss?limit=200"]
EDGE_ONLY = ("surrogate-key", "cache-tag", "xkey", "surrogate-control")
PURGE_DEADLINE_S = 5.0
LATER = "2024-10-24T20:00:00+03:00"  # newer than the long-id headlines: first in every view


async def cached(http: httpx.AsyncClient, url: str, text: str) -> httpx.Response:
    """Until ``url`` comes from Varnish's cache (X-Cache: HIT) showing ``text``."""

    async def hit() -> httpx.Response | None:
        response = await http.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        ok = response.headers.get("x-cache") == "HIT" and text in response.text
        return response if ok else None

    return await eventually(hit, 10, f"{url} cached at the edge with {text!r}")


async def purges_settled(edge: Edge, http: httpx.AsyncClient) -> None:
    """Until the purger has no purge waiting for any backend."""

    async def idle() -> bool:
        text = (await http.get(edge.purger_metrics)).text
        waiting = re.findall(r"^livefeed_purge_queue_age_seconds\{[^}]*\} (\S+)$", text, re.M)
        return bool(waiting) and all(float(v) == 0 for v in waiting)

    await eventually(idle, 10, "the purger has sent every purge")


async def test_views_of_200_headlines_with_200_character_ids_pass_nginx_and_varnish(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    items = long_id_articles(200, tag="heavy")
    assert {len(item["id"]) for item in items} == {200}
    await Ingest(edge.stack, http).apply({"articles": items})
    for path in HEAVY_VIEWS:
        response = await http.get(proxy.url + path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        for item in items:
            assert item["title"] in response.text, (path, item["title"])
        # What a view is filed under stays at the edge, through nginx and at Varnish itself.
        for url in (proxy.url + path, edge.varnish.url + path):
            shown = {name for name in EDGE_ONLY if name in (await http.get(url)).headers}
            assert not shown, (url, shown)
        await cached(http, proxy.url + path, items[-1]["title"])
    one = await http.get(f"{proxy.url}/v1/articles/{items[0]['id']}")
    assert one.status_code == 200
    assert one.json()["id"] == items[0]["id"]
    assert not {name for name in EDGE_ONLY if name in one.headers}
    assert "upstream sent too big header" not in proxy.log()


async def test_a_change_to_a_long_id_headline_purges_every_view_it_is_in(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    ingest = Ingest(edge.stack, http)
    items = long_id_articles(200, tag="purge", published_at="2024-10-24T18:00:00+03:00")
    await ingest.apply({"articles": items})
    target = items[100]
    # Without a section, the article's own view is named by its article key alone: only the
    # purger computing the same digest as the feed purges it.
    views = [*HEAVY_VIEWS, f"/v1/articles/{target['id']}"]
    for path in views:
        await cached(http, proxy.url + path, target["title"])

    await ingest.post({"articles": [article(target["id"], title="Reworded headline", version=2)]})
    for path in views:

        async def reworded(path: str = path) -> bool:
            text = (await http.get(proxy.url + path)).text
            return "Reworded headline" in text and target["title"] not in text

        await eventually(reworded, PURGE_DEADLINE_S, f"{path} shows the update", interval=0.02)
        await cached(http, proxy.url + path, "Reworded headline")

    deleted = await http.delete(f"{ingest.base}/v1/articles/{target['id']}", headers=ingest.auth)
    assert deleted.status_code == 202, deleted.text
    for path in views:

        async def gone(path: str = path) -> bool:
            response = await http.get(proxy.url + path)
            if path.startswith("/v1/articles/"):
                return response.status_code == 404
            return response.status_code == 200 and "Reworded headline" not in response.text

        await eventually(gone, PURGE_DEADLINE_S, f"{path} lost the retraction", interval=0.02)


async def test_nobody_purges_through_nginx(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    await Ingest(edge.stack, http).apply(
        {"articles": [article("kept-1", title="Stays cached", published_at=LATER)]}
    )
    paths = ["/", "/v1/timeline", "/feed.rss", "/v1/articles/kept-1"]
    ages = {}
    for path in paths:
        ages[path] = int((await cached(http, proxy.url + path, "Stays cached")).headers["age"])

    # Even with the purger's secret: PURGE and BAN never pass nginx, on any path.
    attempts = [
        ("PURGE", {"xkey-purge": "timeline", "X-Purge-Secret": PURGE_SECRET}),
        ("PURGE", {"xkey-softpurge": "timeline"}),
        ("BAN", {"X-Ban-Url": "."}),
    ]
    for path in [*paths, "/v1/events", "/v1/stream", "/v1/push-subscriptions", "/healthz"]:
        for method, headers in attempts:
            refused = await http.request(method, proxy.url + path, headers=headers)
            assert refused.status_code == 405, (method, path, refused.status_code)
            assert "GET" in refused.headers["allow"]
    # The read paths take reads (and CORS preflights) only.
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        refused = await http.request(method, proxy.url + "/v1/timeline", content=b"{}")
        assert refused.status_code == 405, (method, refused.status_code)
        assert refused.headers["allow"] == "GET, HEAD, OPTIONS"
    preflight = await http.options(
        proxy.url + "/v1/timeline", headers={"Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204

    for path in paths:
        response = await http.get(proxy.url + path)
        assert response.headers["x-cache"] == "HIT", f"{path} was purged from outside"
        assert int(response.headers["age"]) >= ages[path]


async def test_varnish_admits_a_purge_only_with_the_purgers_secret(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    """From 127.0.0.1 (inside the address ACL, as nginx is in compose): the secret decides."""
    await Ingest(edge.stack, http).apply(
        {"articles": [article("kept-2", title="Guarded view", published_at=LATER)]}
    )
    url = edge.varnish.url + "/v1/timeline"
    await cached(http, url, "Guarded view")
    # The purger's own purges for that post are done (none arrives late and refetches the view
    # behind this test's back), and the view is cached again after them.
    await purges_settled(edge, http)
    await cached(http, url, "Guarded view")
    for secret in (None, "", "wrong-secret-0123456789", PURGE_SECRET + "x", PURGE_SECRET[:-1]):
        headers = {"xkey-purge": "timeline"}
        if secret is not None:
            headers["X-Purge-Secret"] = secret
        refused = await http.request("PURGE", edge.varnish.url + "/", headers=headers)
        assert refused.status_code == 403, (secret, refused.status_code)
    assert (await http.get(url)).headers["x-cache"] == "HIT"

    purged = await http.request(
        "PURGE",
        edge.varnish.url + "/",
        headers={"xkey-purge": "timeline", "X-Purge-Secret": PURGE_SECRET},
    )
    assert purged.status_code == 200, purged.text
    assert (await http.get(url)).headers["x-cache"] == "MISS"


async def test_varnish_without_a_secret_refuses_every_purge(
    edge: Edge, http: httpx.AsyncClient
) -> None:
    """LIVEFEED_PURGE_SECRET empty (or unset) in Varnish's environment: purging is off, not
    open (an empty X-Purge-Secret would otherwise equal the empty variable)."""
    await Ingest(edge.stack, http).apply(
        {"articles": [article("kept-3", title="Unpurgeable", published_at=LATER)]}
    )
    bare = Varnish(edge.stack.ports["feed"], short_tmpdir(), purge_secret="").start()
    try:
        await cached(http, bare.url + "/v1/timeline", "Unpurgeable")
        for secret in ("", PURGE_SECRET):
            refused = await http.request(
                "PURGE",
                bare.url + "/",
                headers={"xkey-purge": "timeline", "X-Purge-Secret": secret},
            )
            assert refused.status_code == 403, (secret, refused.status_code)
        assert (await http.get(bare.url + "/v1/timeline")).headers["x-cache"] == "HIT"
    finally:
        bare.stop()


# Starts of the views' bodies: decoded once, each is the document itself (not gzip again).
ZIPPED_VIEWS = {
    "/?limit=31": b"<!doctype html>",
    "/v1/timeline?limit=31": b'{"pinned":',
    "/feed.atom?limit=31": b"<?xml",
}


async def test_gzip_and_plain_clients_both_get_the_one_cached_copy(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    """Through nginx and Varnish: a client that accepts gzip gets the feed's gzip bytes, one
    that does not (no header, or ``gzip;q=0``) gets the plain bytes, both from the cache,
    whichever asked first; each copy revalidates (304)."""
    items = [
        article(f"zip-{n}", title=f"Zipped headline {n:02d}", published_at=LATER) for n in range(31)
    ]
    await Ingest(edge.stack, http).apply({"articles": items})
    for n, (path, start) in enumerate(ZIPPED_VIEWS.items()):
        url = proxy.url + path
        # The first client (gzip for one view, plain for the next) fills the cache.
        first_accepts = "gzip" if n % 2 == 0 else None

        async def hit(accept: str | None = first_accepts, url: str = url) -> bool:
            response, body = await raw_get(http, url, accept)
            if response.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            return response.headers.get("x-cache") == "HIT" and b"Zipped headline 30" in body

        await eventually(hit, 10, f"{path} cached at the edge")

        packed, packed_body = await raw_get(http, url, "gzip, deflate, br")
        assert packed.headers["x-cache"] == "HIT", path
        assert packed.headers["content-encoding"] == "gzip", path
        assert varies(packed), (path, packed.headers.get("vary"))
        unpacked = gzip.decompress(packed_body)
        assert unpacked.startswith(start), (path, unpacked[:40])  # compressed once, not twice
        for refusing in (None, "gzip;q=0", "identity"):
            plain, plain_body = await raw_get(http, url, refusing)
            assert plain.headers["x-cache"] == "HIT", (path, refusing)
            assert "content-encoding" not in plain.headers, (path, refusing)
            assert varies(plain), (path, refusing)
            assert plain_body == unpacked, (path, refusing)
        # The same bytes the feed itself sends plain.
        _, direct = await raw_get(http, edge.stack.url("feed") + path, None)
        assert direct == unpacked, path

        for accept, response in (("gzip", packed), (None, plain)):
            again, _ = await raw_get(
                http, url, accept, **{"If-None-Match": response.headers["etag"]}
            )
            assert again.status_code == 304, (path, accept, response.headers["etag"])


async def test_the_desk_is_served_through_nginx_signed_in_and_same_origin(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    """/desk and /desk/* reach ingest through the shipped nginx: the sign-in page, the sign-in
    (its cookie), the desk, and a desk request whose Origin is the proxy's (Host passed on)."""
    page = await http.get(proxy.url + "/desk")
    assert page.status_code == 200, page.text[:300]
    assert 'action="/desk/login"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "desk/login" not in (await http.get(proxy.url + "/desktop")).text
    signed = await http.post(
        proxy.url + "/desk/login",
        data={"token": edge.stack.token},
        headers={"Origin": proxy.url},
    )
    assert signed.status_code == 303, signed.text[:300]
    # TLS ends before nginx (which passes X-Forwarded-Proto: http), but the desk's public origin
    # (LIVEFEED_PUBLIC_FEED_URL here) is https: the cookie is Secure all the same.
    flags = [flag.strip().lower() for flag in signed.headers["set-cookie"].split(";")]
    assert "secure" in flags, signed.headers["set-cookie"]
    assert "httponly" in flags
    http.cookies.clear()
    cookie = {"Cookie": f"livefeed_session={signed.cookies['livefeed_session']}"}
    desk = await http.get(proxy.url + "/desk", headers=cookie)
    assert 'id="desk-config"' in desk.text
    csrf = re.search(r'"csrf":"([^"]+)"', desk.text)
    assert csrf is not None
    here = await http.post(
        proxy.url + "/desk/presence",
        json={"open": None},
        headers={"Origin": proxy.url, "X-CSRF-Token": csrf.group(1), **cookie},
    )
    assert here.status_code == 200, here.text
    assert [p["name"] for p in here.json()["people"]] == ["token-1"]
    static = await http.get(proxy.url + "/desk/static/desk.js")
    assert static.status_code == 200
    assert static.headers["content-type"].startswith("text/javascript")


async def test_the_review_queue_and_a_drafts_publish_and_return_reach_ingest_through_nginx(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    """GET /v1/drafts (the desk's review queue) goes to ingest through the shipped nginx, never
    to the edge cache and the feed (whose 404 showed the desk an empty queue), and so do a
    draft's publish and return."""
    ingest = Ingest(edge.stack, http)
    for article_id in ("q-1", "q-2"):
        await ingest.apply(article(article_id, title=f"Queued {article_id}", status="draft"))
    listed = await http.get(proxy.url + "/v1/drafts", headers=ingest.auth)
    assert listed.status_code == 200, (listed.status_code, listed.text[:300])
    assert "x-cache" not in listed.headers  # not through Varnish
    assert sorted(d["id"] for d in listed.json()["drafts"]) == ["q-1", "q-2"]
    assert (await http.get(proxy.url + "/v1/drafts")).status_code == 401  # a token's only

    returned = await http.post(
        proxy.url + "/v1/articles/q-1/return",
        json={"note": "Source?", "version": 1},
        headers=ingest.auth,
    )
    assert [o["outcome"] for o in await ingest.wait_applied(returned)] == ["returned"]
    published = await http.post(
        proxy.url + "/v1/articles/q-2/publish", json={"version": 1}, headers=ingest.auth
    )
    assert [o["outcome"] for o in await ingest.wait_applied(published)] == ["published"]
    [left] = (await http.get(proxy.url + "/v1/drafts", headers=ingest.auth)).json()["drafts"]
    assert (left["id"], left["returned"]["note"]) == ("q-1", "Source?")

    async def shown() -> bool:
        return (await http.get(proxy.url + "/v1/articles/q-2")).status_code == 200

    await eventually(shown, PURGE_DEADLINE_S, "the published draft is on the edge")


VARNISH_FIRST_BYTE_S = 10  # deploy/varnish/default.vcl's feed backend


async def test_long_polls_through_nginx_and_varnish_are_held_apart_and_answered_together(
    edge: Edge, proxy: Nginx, http: httpx.AsyncClient
) -> None:
    """Two readers long-polling the same URL: Varnish passes both to the feed (coalesced on its
    waiting list, the second would wait out the first's hold), and both hear of the headline."""
    start = await http.get(proxy.url + "/v1/updates?section=longpoll")
    assert start.status_code == 200, start.text
    since = start.json()["event_id"]
    url = f"{proxy.url}/v1/updates?section=longpoll&since={since}"
    async with httpx.AsyncClient(timeout=60) as a, httpx.AsyncClient(timeout=60) as b:
        polls = [asyncio.create_task(client.get(url)) for client in (a, b)]

        async def both_held() -> bool:
            text = (await http.get(f"http://127.0.0.1:{edge.stack.ports['feed']}/metrics")).text
            return re.search(r"^livefeed_long_polls_held 2\.0$", text, re.M) is not None

        await eventually(both_held, 10, "both long-polls held by the feed")
        # Past Varnish's first-byte timeout for the feed (10 s): still held, not a 503.
        done, _ = await asyncio.wait(polls, timeout=VARNISH_FIRST_BYTE_S + 1)
        assert not done, [task.result().status_code for task in done]
        await Ingest(edge.stack, http).apply(article("longpoll-1", section="longpoll"))
        answers = await asyncio.wait_for(asyncio.gather(*polls), 10)
    for answer in answers:
        assert answer.status_code == 200
        assert [e["headline"]["id"] for e in answer.json()["events"]] == ["longpoll-1"]
