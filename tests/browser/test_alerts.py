"""Breaking-news alerts in real Chromium: the service worker, the button, notifications.

What Chromium cannot do here: subscribe at a real push service (headless Chromium has no
push service to register with), so the click test gives ``pushManager.subscribe`` a
subscription whose endpoint and keys belong to the test's local push service; everything after
it (the POST, the notifier, encryption, VAPID, the push service checking and decrypting) is
real. The service worker's push handler is driven with ``ServiceWorker.deliverPushMessage``
(the DevTools protocol), which hands it a message as a push service would. A click on the
notification (``notificationclick``) cannot be driven from the protocol and is not tested.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, CDPSession, Page

from shared.i18n import gettext
from tests.alerts.conftest import AlertStack, alert_stack, alerts  # noqa: F401 - fixtures
from tests.helpers import Ingest, article, eventually

pytestmark = pytest.mark.browser

REDELIVER_AFTER_S = 1.5  # a message shown takes ~10-100 ms; one not shown by then was dropped
NOTIFICATIONS = """navigator.serviceWorker.ready
  .then((r) => r.getNotifications())
  .then((ns) => ns.map((n) => ({title: n.title, tag: n.tag, body: n.body, url: n.data.url})))"""


@pytest.fixture
async def context(browser: Browser, alerts: AlertStack) -> AsyncIterator[BrowserContext]:  # noqa: F811
    ctx = await browser.new_context()
    ctx.set_default_timeout(10_000)
    await ctx.grant_permissions(["notifications"], origin=alerts.feed)
    yield ctx
    await ctx.close()


async def open_page(context: BrowserContext, url: str) -> tuple[Page, list[str]]:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    return page, errors


async def registration_id(cdp: CDPSession, scope: str) -> str:
    found: dict[str, str] = {}

    def updated(params: dict[str, Any]) -> None:
        for reg in params["registrations"]:
            if reg["scopeURL"] == scope and not reg.get("isDeleted"):
                found["id"] = reg["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    await cdp.send("ServiceWorker.enable")

    async def known() -> str | None:
        return found.get("id")

    return await eventually(known, 10, "the service worker's registration")


async def test_the_page_registers_the_worker_which_shows_replaces_and_closes_alerts(
    context: BrowserContext,
    alerts: AlertStack,  # noqa: F811
) -> None:
    page, errors = await open_page(context, alerts.feed + "/")
    scope = await page.evaluate(
        "navigator.serviceWorker.ready.then((r) => [r.scope, r.active.scriptURL])"
    )
    assert scope == [alerts.feed + "/", alerts.feed + "/sw.js"]
    button = page.locator("#alerts")
    await button.wait_for(state="visible")
    assert await button.text_content() == "Alert me to breaking news"

    cdp = await context.new_cdp_session(page)
    reg = await registration_id(cdp, alerts.feed + "/")

    async def push(message: dict[str, Any]) -> None:
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": alerts.feed, "registrationId": reg, "data": json.dumps(message)},
        )

    async def showing(message: dict[str, Any], want: list[str], what: str) -> list[Any]:
        """Deliver ``message`` until the notifications shown are ``want`` (their titles).

        DevTools' deliverPushMessage can drop a message while the worker is being woken up
        (a harness quirk: a real push service retries), so an unanswered delivery is sent
        again; that is harmless because every message here is idempotent (the same tag
        replaces rather than adds, closing a closed tag does nothing).
        """
        await push(message)
        sent = time.monotonic()

        async def check() -> list[Any] | None:
            nonlocal sent
            found: list[Any] = await page.evaluate(NOTIFICATIONS)
            if sorted(n["title"] for n in found) == sorted(want):
                return found or [None]
            if time.monotonic() - sent >= REDELIVER_AFTER_S:  # not shown in time: lost
                await push(message)
                sent = time.monotonic()
            return None

        return await eventually(check, 15, what)

    alert = {"type": "alert", "tag": "a-1", "title": "Quake hits", "body": "Breaking news",
             "url": "https://news.example/a-1", "timestamp": 1729781700000}  # fmt: skip
    first = await showing(alert, ["Quake hits"], "the first notification")
    assert first == [
        {
            "title": "Quake hits",
            "tag": "a-1",
            "body": "Breaking news",
            "url": "https://news.example/a-1",
        }
    ]
    update = {**alert, "title": "Quake hits: 7.1"}  # an update: replaced, not added
    await showing(update, ["Quake hits: 7.1"], "the notification replaced")
    other = {**alert, "tag": "b-2", "title": "Other story", "url": "javascript:alert(1)"}
    both = await showing(other, ["Quake hits: 7.1", "Other story"], "2 notifications")
    assert {n["tag"]: n["url"] for n in both}["b-2"] == "/"  # the live page, never javascript:
    await showing({"type": "close", "tag": "a-1"}, ["Other story"], "the retracted one closed")
    await showing({"type": "close", "tag": "b-2"}, [], "no notification left")
    assert errors == []


async def test_clicking_the_button_subscribes_and_breaking_news_reaches_the_push_service(
    context: BrowserContext,
    alerts: AlertStack,  # noqa: F811
) -> None:
    sub = alerts.stub.subscription()
    # Headless Chromium has no push service: its subscribe() answers with the stub's
    # subscription (see the module's docstring); it records the key it was called with.
    await context.add_init_script(
        """(() => {
          const sub = SUBSCRIPTION;
          window.__subscribeCalls = [];
          const fake = {endpoint: sub.endpoint, options: null, toJSON: () => sub,
                        unsubscribe: async () => true};
          PushManager.prototype.getSubscription = async function () {
            return window.__subscribeCalls.length ? fake : null;
          };
          PushManager.prototype.subscribe = async function (options) {
            window.__subscribeCalls.push(btoa(String.fromCharCode(
              ...new Uint8Array(options.applicationServerKey))));
            return fake;
          };
        })();""".replace("SUBSCRIPTION", json.dumps(sub.json))
    )
    page, errors = await open_page(context, alerts.feed + "/")
    button = page.locator("#alerts")
    await button.wait_for(state="visible")
    assert alerts.redis.keys("lf:alerts:sub:*") == []  # nothing before the click
    assert await page.evaluate("window.__subscribeCalls.length") == 0
    await button.click()
    await page.wait_for_function(
        "() => document.getElementById('alerts').getAttribute('aria-pressed') === 'true'"
    )
    assert await button.text_content() == "Stop breaking-news alerts"
    key = await page.evaluate("window.__subscribeCalls[0]")
    assert key.replace("+", "-").replace("/", "_").rstrip("=") == alerts.public_key
    assert len(alerts.redis.keys("lf:alerts:sub:*")) == 1

    async with httpx.AsyncClient(timeout=10) as client:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        await Ingest(alerts.stack, client).apply(
            article("click-1", "From the button", urgency=1, published_at=now)
        )

    async def arrived() -> bool:
        return len(sub.received) == 1

    await eventually(arrived, 10, "the alert at the push service")
    assert sub.messages()[0]["title"] == "From the button"

    await button.click()  # and off again: the subscription is deleted
    await page.wait_for_function(
        "() => document.getElementById('alerts').getAttribute('aria-pressed') === 'false'"
    )

    async def deleted() -> bool:
        await asyncio.sleep(0)
        return alerts.redis.keys("lf:alerts:sub:*") == []

    await eventually(deleted, 10, "the subscription deleted")
    assert errors == []


async def test_the_button_speaks_the_pages_edition(
    context: BrowserContext,
    alerts: AlertStack,  # noqa: F811
) -> None:
    page, errors = await open_page(context, alerts.feed + "/?lang=uk")
    button = page.locator("#alerts")
    await button.wait_for(state="visible")  # alerts.js has set its words by then
    assert await button.text_content() == gettext("uk", "Alert me to breaking news")
    assert await button.text_content() != "Alert me to breaking news"
    assert errors == []
