"""Subscribing to breaking-news alerts: the service worker, the button, the endpoint's checks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from shared.addresses import address_group
from shared.settings import Settings
from shared.vapid import b64url_encode, generate_keys
from tests.alerts.conftest import AlertStack
from tests.helpers import minute_with_time_left
from tests.procs import free_port

URL = "/v1/push-subscriptions"


async def post(alerts: AlertStack, body: Any, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(alerts.feed + URL, json=body, headers={**alerts.origin, **headers})


def stored(alerts: AlertStack) -> list[bytes]:
    return sorted(alerts.redis.scan_iter(match="lf:alerts:sub:*"))


async def test_a_subscription_is_stored_with_its_filter_and_nothing_else(
    alerts: AlertStack,
) -> None:
    sub = alerts.stub.subscription()
    response = await post(alerts, {"subscription": sub.json})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filter"] == "breaking"
    fields = alerts.redis.hgetall(f"lf:alerts:sub:{body['id']}")
    # Nothing about the reader: no address, user agent, cookie or origin.
    assert set(fields) == {b"endpoint", b"p256dh", b"auth", b"filter", b"created"}
    assert fields[b"endpoint"].decode() == sub.endpoint
    assert alerts.redis.smembers("lf:alerts:filter:breaking") == {body["id"].encode()}

    # The same browser again, now for a section: one subscription, moved to that filter.
    again = await post(alerts, {"subscription": sub.json, "section": "world"})
    assert again.status_code == 201
    assert again.json() == {"id": body["id"], "filter": "section:world"}
    assert alerts.redis.smembers("lf:alerts:filter:breaking") == set()
    assert alerts.redis.smembers("lf:alerts:filter:section:world") == {body["id"].encode()}
    assert len(stored(alerts)) == 1

    async with httpx.AsyncClient(timeout=10) as client:
        gone = await client.request(
            "DELETE", alerts.feed + URL, json={"endpoint": sub.endpoint}, headers=alerts.origin
        )
    assert gone.status_code == 204
    assert stored(alerts) == []
    assert alerts.redis.smembers("lf:alerts:filter:section:world") == set()


async def test_an_embedding_site_may_subscribe_but_no_other(alerts: AlertStack) -> None:
    sub = alerts.stub.subscription()
    ok = await post(alerts, {"subscription": sub.json}, Origin="https://www.example.com")
    assert ok.status_code == 201
    for origin in ("https://evil.example", "null", alerts.feed + ".evil.example"):
        refused = await post(alerts, {"subscription": sub.json}, Origin=origin)
        assert refused.status_code == 403, origin
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "Origin"
    async with httpx.AsyncClient(timeout=10) as client:  # no Origin at all: not a page
        bare = await client.post(alerts.feed + URL, json={"subscription": sub.json})
    assert bare.status_code == 403
    assert len(stored(alerts)) == 1


def _with(sub: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = {**sub, "keys": {**sub["keys"]}}
    for path, value in changes.items():
        if path in {"p256dh", "auth"}:
            doc["keys"][path] = value
        else:
            doc[path] = value
    return doc


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://push.example.com/x"}, "subscription.endpoint"),
        ({"endpoint": "https://10.0.0.5/push/x"}, "subscription.endpoint"),
        ({"endpoint": "https://127.0.0.1:6379/"}, "subscription.endpoint"),
        ({"endpoint": "https://[::1]/push"}, "subscription.endpoint"),
        ({"endpoint": "https://169.254.169.254/latest/meta-data"}, "subscription.endpoint"),
        ({"endpoint": "https://internal.example.com/push/x"}, "subscription.endpoint"),
        ({"endpoint": "https://user:pw@fcm.googleapis.com/fcm/send/x"}, "subscription.endpoint"),
        ({"endpoint": "gopher://push.example.com/"}, "subscription.endpoint"),
        ({"endpoint": 5}, "subscription.endpoint"),
        ({"p256dh": "AAAA"}, "subscription.keys.p256dh"),
        ({"p256dh": b64url_encode(b"\x04" + b"\x01" * 64)}, "subscription.keys.p256dh"),
        ({"p256dh": "not base64!"}, "subscription.keys.p256dh"),
        ({"auth": b64url_encode(b"short")}, "subscription.keys.auth"),
        ({"auth": None}, "subscription.keys.auth"),
    ],
)
async def test_malformed_subscriptions_are_refused_by_field(
    alerts: AlertStack, change: dict[str, Any], field: str
) -> None:
    sub = alerts.stub.subscription().json
    response = await post(alerts, {"subscription": _with(sub, **change)})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert stored(alerts) == []


async def test_bad_bodies_get_problems_never_500(alerts: AlertStack) -> None:
    sub = alerts.stub.subscription().json
    async with httpx.AsyncClient(timeout=10) as client:
        cases = [
            (await post(alerts, {"subscription": sub, "section": "Not A Slug"}), 422, "section"),
            (await post(alerts, {"subscription": "x"}), 422, "subscription"),
            (await post(alerts, ["x"]), 422, "body"),
            (
                await client.post(
                    alerts.feed + URL,
                    content=b"{broken",
                    headers={**alerts.origin, "Content-Type": "application/json"},
                ),
                400,
                "body",
            ),
            (
                await client.post(
                    alerts.feed + URL,
                    content=b"x" * 10_000,
                    headers={**alerts.origin, "Content-Type": "application/json"},
                ),
                413,
                "body",
            ),
            (
                await client.post(
                    alerts.feed + URL,
                    content=b"{}",
                    headers={**alerts.origin, "Content-Type": "text/plain"},
                ),
                415,
                "Content-Type",
            ),
            (
                await client.request(
                    "DELETE", alerts.feed + URL, json={"nothing": 1}, headers=alerts.origin
                ),
                422,
                "endpoint",
            ),
        ]
    for response, status, field in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]]
    assert stored(alerts) == []


async def test_subscribing_is_rate_limited_per_address(alert_stack: AlertStack) -> None:
    port = free_port()
    alert_stack.stack.start_service(
        "feed",
        key="feed-limited",
        LIVEFEED_FEED_PORT=str(port),
        LIVEFEED_PUSH_SUBSCRIBE_RATE_LIMIT="3",
        LIVEFEED_ALLOWED_ORIGINS="http://page.example",
    )
    alert_stack.stack.wait_healthy("feed", port)
    try:
        statuses = []
        # Counted per clock minute: the six requests fall in one.
        await minute_with_time_left(5)
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(6):
                sub = alert_stack.stub.subscription()
                response = await client.post(
                    f"http://127.0.0.1:{port}{URL}",
                    json={"subscription": sub.json},
                    headers={"Origin": "http://page.example"},
                )
                statuses.append(response.status_code)
                if response.status_code == 429:
                    assert int(response.headers["Retry-After"]) >= 1
                    assert response.headers["content-type"] == "application/problem+json"
                    refused = sub.endpoint
        # Counted in Redis for the address, per minute: at most 3 of the 6 got through.
        assert statuses.count(201) <= 3
        assert statuses[-1] == 429
        keys = alert_stack.redis.keys("lf:alerts:sub:*")
        endpoints = {alert_stack.redis.hget(k, "endpoint") for k in keys}
        assert refused.encode() not in endpoints
    finally:
        alert_stack.stack.services.pop("feed-limited").stop()


async def test_the_service_worker_is_served_for_the_whole_origin(alerts: AlertStack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        worker = await client.get(alerts.feed + "/sw.js")
        page = await client.get(alerts.feed + "/")
        alerts_page = await client.get(alerts.feed + "/alerts")
        fragment = await client.get(alerts.feed + "/v1/fragment")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/"
    assert worker.headers["cache-control"] == "no-cache"
    assert 'addEventListener("push"' in worker.text
    # The page offers the button (alerts.js shows it where the browser can push) with the key.
    assert 'id="alerts"' in page.text
    assert f'data-vapid-key="{alerts.public_key}"' in page.text
    assert "/static/alerts.js" in page.text
    assert "Alert me to breaking news" in alerts_page.text
    # The embed links to that page on the feed's origin (where the subscription belongs).
    assert f'href="{alerts.feed}/alerts"' in fragment.text


async def test_without_vapid_keys_there_is_no_button_and_no_endpoint(
    feed: Any, http: httpx.AsyncClient
) -> None:
    page = await http.get(feed.base + "/")
    assert 'id="alerts"' not in page.text
    assert "Alert me" not in (await http.get(feed.base + "/v1/fragment")).text
    response = await http.post(
        feed.base + URL, json={"subscription": {}}, headers={"Origin": feed.base}
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_half_configured_alerts_stop_the_process() -> None:
    private, public = generate_keys()
    other_private, _ = generate_keys()
    with pytest.raises(ValidationError, match="LIVEFEED_VAPID_SUBJECT missing"):
        Settings(vapid_private_key=private, vapid_public_key=public)
    with pytest.raises(ValidationError, match="LIVEFEED_VAPID_PRIVATE_KEY"):
        Settings(vapid_public_key=public, vapid_subject="mailto:a@example.com")
    with pytest.raises(ValidationError, match="not the public key"):
        Settings(
            vapid_private_key=other_private,
            vapid_public_key=public,
            vapid_subject="mailto:a@example.com",
        )
    with pytest.raises(ValidationError, match="VAPID_SUBJECT must be"):
        Settings(vapid_private_key=private, vapid_public_key=public, vapid_subject="me")
    whole = Settings(
        vapid_private_key=private, vapid_public_key=public, vapid_subject="mailto:a@example.com"
    )
    assert whole.alerts_enabled
    assert private not in repr(whole)
    assert not Settings().alerts_enabled


@contextlib.contextmanager
def extra_feed(alert_stack: AlertStack, key: str, **env: str) -> Iterator[str]:
    """Another feed process on the stack's Redis, with ``env``: its base URL."""
    port = free_port()
    alert_stack.stack.start_service(
        "feed", key=key, LIVEFEED_FEED_PORT=str(port), LIVEFEED_ALLOWED_ORIGINS=PAGE, **env
    )
    try:
        alert_stack.stack.wait_healthy("feed", port)
        yield f"http://127.0.0.1:{port}"
    finally:
        alert_stack.stack.services.pop(key).stop()


PAGE = "http://page.example"


async def post_to(base: str, subscription: dict[str, Any], **extra: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            base + URL, json={"subscription": subscription, **extra}, headers={"Origin": PAGE}
        )


def stored_endpoints(alerts: AlertStack) -> set[str]:
    return {
        alerts.redis.hget(key, "endpoint").decode()  # type: ignore[union-attr]
        for key in alerts.redis.scan_iter(match="lf:alerts:sub:*")
    }


MOZILLA = ".push.services.mozilla.com"


HOSTS_IN_NAME_ONLY = [
    f"https://evil.com%2f{MOZILLA}/wpush/v2/x",  # the review's: a host only in name
    f"https://evil.com%2F{MOZILLA}/wpush/v2/x",
    f"https://evil.com\\{MOZILLA}/wpush/v2/x",  # a backslash: '/' to WHATWG parsers
    f"https://evil.com\t{MOZILLA}/wpush/v2/x",  # a tab: dropped by urlsplit
    f"https://evil.com%00{MOZILLA}/wpush/v2/x",
    f"https://evil.com;{MOZILLA}/wpush/v2/x",
    f"https://xn--zz{MOZILLA}/wpush/v2/x",  # not a valid A-label
    f"https://bücher{MOZILLA}/wpush/v2/x",  # not in its xn-- form, as browsers send it
    f"https://updates{MOZILLA}./wpush/v2/x",  # a trailing dot
    f"https://a..b{MOZILLA}/wpush/v2/x",
    f"https://under_score{MOZILLA}/wpush/v2/x",
    f"https://{'a' * 64}{MOZILLA}/wpush/v2/x",  # a label over 63 characters
    "https://push.services.mozilla.com.evil.com/wpush/v2/x",
    "https://evilfcm.googleapis.com/fcm/send/x",  # fcm.googleapis.com is listed exactly
    "https://2130706433/fcm/send/x",  # 127.0.0.1 as a number
]


async def test_endpoints_on_hosts_that_are_not_host_names_are_refused(alerts: AlertStack) -> None:
    """The push services' patterns match only real host names under them."""
    with extra_feed(
        alerts,
        "feed-default-services",
        LIVEFEED_PUSH_SERVICES="fcm.googleapis.com,*.push.services.mozilla.com",
    ) as base:
        sub = alerts.stub.subscription().json
        for endpoint in HOSTS_IN_NAME_ONLY:
            response = await post_to(base, {**sub, "endpoint": endpoint})
            assert response.status_code == 422, (endpoint, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in response.json()["errors"]] == ["subscription.endpoint"]
        assert stored(alerts) == []
        assert alerts.redis.get("lf:alerts:count") in (None, b"0")

        # What browsers send is still taken, under the pattern's label boundary.
        for good in (
            f"https://updates{MOZILLA}/wpush/v2/gAAAAABk-x_y",
            f"https://xn--bcher-kva{MOZILLA}/wpush/v2/x",
            "https://fcm.googleapis.com/fcm/send/dK9j2fAbC:APA91bHPRgkF3JUik-C4E_N",
        ):
            assert (await post_to(base, {**sub, "endpoint": good})).status_code == 201, good
    assert len(stored(alerts)) == 3


def test_a_push_service_entry_that_is_no_host_name_stops_the_process() -> None:
    with pytest.raises(ValidationError, match=r"evil\.com%2f"):
        Settings(push_services=["evil.com%2f.example"])


async def test_new_subscriptions_per_address_are_capped_across_feed_processes(
    alerts: AlertStack,
) -> None:
    cap = {"LIVEFEED_PUSH_SUBSCRIBE_PER_HOUR": "3", "LIVEFEED_PUSH_SUBSCRIBE_RATE_LIMIT": "1000"}
    with (
        extra_feed(alerts, "feed-cap-a", **cap) as first,
        extra_feed(alerts, "feed-cap-b", **cap) as second,
    ):
        kept = [alerts.stub.subscription() for _ in range(3)]
        for n, sub in enumerate(kept):  # two through one process, one through the other
            response = await post_to(first if n % 2 == 0 else second, sub.json)
            assert response.status_code == 201, response.text
        for base in (second, first):
            late = alerts.stub.subscription()
            refused = await post_to(base, late.json)
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert 1 <= int(refused.headers["Retry-After"]) <= 3600
            assert late.endpoint not in stored_endpoints(alerts)
        # A browser already subscribed may store itself again (a new filter, new keys).
        again = await post_to(second, kept[0].json, section="world")
        assert again.status_code == 201, again.text
    assert stored_endpoints(alerts) == {sub.endpoint for sub in kept}
    assert alerts.redis.get("lf:alerts:count") == b"3"


async def test_subscriptions_are_capped_in_all(alerts: AlertStack) -> None:
    with extra_feed(alerts, "feed-full", LIVEFEED_PUSH_MAX_SUBSCRIPTIONS="3") as base:
        kept = [alerts.stub.subscription() for _ in range(3)]
        for sub in kept:
            assert (await post_to(base, sub.json)).status_code == 201
        late = alerts.stub.subscription()
        full = await post_to(base, late.json)
        # The site is full, not the reader too quick: 503, with when to try again.
        assert full.status_code == 503, full.text
        assert full.headers["content-type"] == "application/problem+json"
        assert int(full.headers["Retry-After"]) > 0
        assert late.endpoint not in stored_endpoints(alerts)
        # Re-storing a kept one is no new subscription; an unsubscribe makes room.
        assert (await post_to(base, kept[1].json, section="world")).status_code == 201
        async with httpx.AsyncClient(timeout=10) as client:
            gone = await client.request(
                "DELETE", base + URL, json={"endpoint": kept[0].endpoint}, headers={"Origin": PAGE}
            )
        assert gone.status_code == 204
        assert (await post_to(base, late.json)).status_code == 201
        assert (await post_to(base, alerts.stub.subscription().json)).status_code == 503
    assert stored_endpoints(alerts) == {kept[1].endpoint, kept[2].endpoint, late.endpoint}
    assert alerts.redis.get("lf:alerts:count") == b"3"


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_ipv6_clients_are_counted_by_their_64(address: str, group: str) -> None:
    """A client holds a whole /64: per-address limits must not be 2^64 limits."""
    assert address_group(address) == group
