"""The desk (/desk on ingest) in Chromium against real services: contributors draft, editors
publish, correct, pin and retract, the live page follows; two editors at once; the session's
security (cookie flags, Origin and CSRF, sign-out ends it server-side, throttled sign-ins); a
phone's width; axe-core on every screen, light, dark and right to left.

One stack for the module, with a tokens file: two editors and a contributor.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
from playwright.async_api import Browser, BrowserContext, Page

from shared import keys
from shared.redis_server import EmbeddedRedis
from tests.browser.embedhost import Host
from tests.browser.test_embed import axe_violations
from tests.conftest import short_tmpdir
from tests.helpers import Ingest, article, empty_store, eventually, minute_with_time_left
from tests.procs import Stack

pytestmark = pytest.mark.browser

EDITOR = "rita-editor-token-123"
EDITOR2 = "oleh-editor-token-456"
REPORTER = "ivan-reporter-token-789"
TOKENS = f"rita {EDITOR}\noleh {EDITOR2}\nivan {REPORTER} role=contributor\n"


@dataclass
class Desk:
    stack: Stack
    store: redis.Redis
    host: Host

    @property
    def url(self) -> str:
        return self.stack.url("ingest") + "/desk"

    @property
    def feed(self) -> str:
        return self.stack.url("feed")


@pytest.fixture(scope="module")
def desk_site() -> Iterator[Desk]:
    workdir = short_tmpdir()
    (workdir / "tokens").write_text(TOKENS)
    host = Host().start()
    with EmbeddedRedis(short_tmpdir()) as server:
        stack = Stack(
            server.url,
            workdir,
            extra_env={"LIVEFEED_TOKENS_FILE": str(workdir / "tokens")},
        ).start()
        store = redis.Redis.from_url(server.url)
        try:
            yield Desk(stack, store, host)
        finally:
            store.close()
            stack.stop()
            host.stop()


@pytest.fixture
def desk(desk_site: Desk) -> Desk:
    empty_store(desk_site.store)
    for key in [*desk_site.store.scan_iter("lf:draft*"), *desk_site.store.scan_iter("lf:desk:*")]:
        desk_site.store.delete(key)
    desk_site.host.pages.clear()
    return desk_site


@pytest.fixture
async def api(desk: Desk, http: httpx.AsyncClient) -> Ingest:
    """The API with the stack's bearer token (an editor named token-1)."""
    return Ingest(desk.stack, http)


class Contexts:
    """Browser contexts opened by a test (each its own cookies), closed after it; a page error
    in any fails the test."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.opened: list[BrowserContext] = []
        self.errors: list[str] = []

    async def page(self, width: int = 1100, height: int = 900, scheme: str = "light") -> Page:
        context = await self.browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme=scheme,  # type: ignore[arg-type]
        )
        context.set_default_timeout(10_000)
        self.opened.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


@pytest.fixture
async def tabs(browser: Browser) -> AsyncIterator[Contexts]:
    made = Contexts(browser)
    yield made
    for context in made.opened:
        await context.close()
    assert not made.errors, made.errors


async def sign_in(page: Page, desk: Desk, token: str, query: str = "") -> None:
    await page.goto(desk.url + query)
    await page.fill("#token", token)
    await page.press("#token", "Enter")
    await page.wait_for_selector("#conn[data-state=live]")


async def reader(tabs: Contexts, desk: Desk) -> Page:
    page = await tabs.page()
    await page.goto(desk.feed + "/")
    await page.wait_for_selector("#conn[data-state=live]")
    return page


def row(item_id: str) -> str:
    return f"#column li.row[data-id='{item_id}']"


async def test_a_contributor_drafts_and_an_editor_approves_it_onto_the_live_page_within_1s(
    desk: Desk, tabs: Contexts, http: httpx.AsyncClient
) -> None:
    readers = await reader(tabs, desk)
    ivan = await tabs.page()
    await sign_in(ivan, desk, REPORTER)
    assert await ivan.locator("#publish").text_content() == "Submit for review"
    assert await ivan.locator("#f-pinned").is_hidden()  # contributors do not pin
    assert await ivan.locator(".role").text_content() == "Contributor"
    # Keyboard first: "c" goes to the headline, Ctrl+Enter sends it.
    await ivan.locator("body").press("c")
    assert await ivan.evaluate("document.activeElement.id") == "f-title"
    await ivan.keyboard.type("Dam breached near Kherson, evacuation under way")
    await ivan.wait_for_function(
        "() => document.getElementById('title-count').textContent.startsWith('47 / 300')"
    )
    await ivan.fill("#f-labels", "Exclusive")
    await ivan.wait_for_selector("#preview >> .badge-exclusive")  # the column's own markup
    assert await ivan.locator("#preview >> .item-title").text_content() == (
        "Dam breached near Kherson, evacuation under way"
    )
    await ivan.keyboard.press("Control+Enter")
    await ivan.wait_for_selector("#compose-status[data-state=applied]")
    assert await ivan.locator("#compose-status").text_content() == "Saved as a draft."
    draft = ivan.locator("#queue-list li.draft")
    await draft.wait_for()
    assert await draft.locator("h3").text_content() == (
        "Dam breached near Kherson, evacuation under way"
    )
    assert "by ivan" in (await draft.locator(".meta").text_content() or "")
    assert await draft.get_by_role("button", name="Approve").count() == 0
    # Not on the live page, nor in the timeline.
    timeline = (await http.get(desk.feed + "/v1/timeline")).json()
    assert timeline["days"] == []
    assert await readers.locator("#live .item").count() == 0
    assert await ivan.locator("#column li.row").count() == 0

    rita = await tabs.page()
    await sign_in(rita, desk, EDITOR)
    pending = rita.locator("#queue-list li.draft")
    await pending.wait_for()
    assert await pending.locator(".marks").text_content() == "Exclusive"  # what she approves
    draft_id = await pending.get_attribute("data-id")
    sent = time.monotonic()
    await pending.get_by_role("button", name="Approve").click()
    await readers.locator("#live .item-title", has_text="Dam breached near Kherson").wait_for(
        timeout=1_000
    )
    took = time.monotonic() - sent
    print(f"\napproved on the desk → on the live page in {took * 1000:.0f} ms")
    assert took < 1.0
    await rita.wait_for_selector(row(draft_id or "?"))  # in the desk's live column too
    # The contributor's queue empties by itself (lf:desk:events, the presence beat).
    await ivan.wait_for_selector("#queue-list li.draft", state="detached", timeout=8_000)


async def test_an_editor_corrects_pins_and_retracts_from_the_desk_and_the_page_follows(
    desk: Desk, tabs: Contexts, api: Ingest
) -> None:
    await api.apply(article("s-1", title="Summit on Thursday", published_at=_now(-60)))
    await api.apply(article("s-2", title="Markets open higher", published_at=_now(-30)))
    readers = await reader(tabs, desk)
    rita = await tabs.page()
    await sign_in(rita, desk, EDITOR)
    await rita.wait_for_selector(row("s-1"))

    await rita.click(f"{row('s-1')} button[data-action=correct]")
    await rita.wait_for_selector("#dialog[open]")
    await rita.click("#dialog-ok")  # the note is required
    assert await rita.locator("#dialog-note-error").text_content() == "This is required."
    await rita.fill("#dialog-title", "Summit on Friday")
    await rita.fill("#dialog-note", "An earlier version said Thursday.")
    await rita.click("#dialog-ok")
    await readers.locator("#live [data-id=s-1] .correction-text").wait_for(timeout=2_000)
    assert await readers.locator("#live [data-id=s-1] .item-title").text_content() == (
        "Summit on Friday"
    )
    await rita.wait_for_selector("#column .action-status[data-state=applied]")
    assert await rita.locator("#column .action-status").text_content() == "Corrected."

    await rita.click(f"{row('s-1')} button[data-action=pin]")
    await readers.locator("#live .pinned-items [data-id=s-1]").wait_for(timeout=2_000)
    await rita.wait_for_selector("#column .pinned li.row[data-id='s-1']")

    await rita.click(f"{row('s-2')} button[data-action=retract]")
    await rita.wait_for_selector("#dialog[open]")
    assert "Retract" in (await rita.locator("#dialog-head").text_content() or "")
    await rita.click("#dialog-cancel")  # a second thought: nothing happens
    await rita.wait_for_selector("#dialog[open]", state="detached")
    assert await readers.locator("#live [data-id=s-2]").count() == 1
    await rita.click(f"{row('s-2')} button[data-action=retract]")
    await rita.fill("#dialog-note", "Published by mistake.")
    await rita.click("#dialog-ok")
    await readers.locator("#live [data-id=s-2]").wait_for(state="detached", timeout=2_000)
    await rita.wait_for_selector(row("s-2"), state="detached")

    # Every change is in the history under the editor's name (the desk calls /v1).
    history = (
        await api.client.get(f"{api.base}/v1/articles/s-2/history", headers=api.auth)
    ).json()["history"]
    assert history[-1]["by"] == "rita"
    assert history[-1]["reason"] == "Published by mistake."
    await rita.click(f"{row('s-1')} button[data-action=history]")
    await rita.wait_for_selector("#dialog-history li")
    entries = await rita.locator("#dialog-history .history-head").all_text_contents()
    assert any("rita" in entry for entry in entries), entries


async def test_two_editors_edit_one_item_and_the_second_is_told_who_changed_it(
    desk: Desk, tabs: Contexts, api: Ingest
) -> None:
    await api.apply(article("c-1", title="Storm warning", published_at=_now(-10)))
    rita, oleh = await tabs.page(), await tabs.page()
    await sign_in(rita, desk, EDITOR)
    await sign_in(oleh, desk, EDITOR2)
    for page in (rita, oleh):
        await page.click(f"{row('c-1')} button[data-action=edit]")
        await page.wait_for_function(
            "() => document.getElementById('f-title').value === 'Storm warning'"
        )
    # Presence: each sees the other, and what they have open.
    await oleh.wait_for_function(
        "() => document.getElementById('presence').textContent"
        ".includes('rita (editing “Storm warning”)')",
        timeout=8_000,
    )
    await oleh.wait_for_selector(f"{row('c-1')} .open-by:has-text('rita')", timeout=8_000)
    await rita.fill("#f-title", "Storm warning: schools shut")
    await rita.click("#publish")
    await rita.wait_for_selector("#compose-status[data-state=applied]")
    await oleh.fill("#f-title", "Storm warning for Odesa")
    await oleh.click("#publish")
    await oleh.wait_for_selector("#conflict:not([hidden])")
    text = await oleh.locator("#conflict-text").text_content() or ""
    assert "rita" in text, text
    assert "Storm warning: schools shut" in text, text
    assert re.search(r"\b\d\d:\d\d\b", text), text  # when
    timeline = (await api.client.get(desk.feed + "/v1/timeline")).json()
    assert timeline["days"][0]["items"][0]["title"] == "Storm warning: schools shut"
    # Overwrite: the same write without If-Match.
    await oleh.click("#conflict-overwrite")
    await oleh.wait_for_selector("#compose-status[data-state=applied]")

    async def overwritten() -> bool:
        body = (await api.client.get(desk.feed + "/v1/timeline")).json()
        return bool(body["days"][0]["items"][0]["title"] == "Storm warning for Odesa")

    await eventually(overwritten, 5, "the overwrite is live")

    # A draft open on the desk is changed meanwhile by a tool, whose job is applied first: the
    # desk follows its own save's job and shows what the worker answered (the conflict, naming
    # who), not "Saved as a draft." the moment ingest queued it.
    await api.apply(article("c-2", title="Flood warning", status="draft", published_at=_now(-5)))
    queued = oleh.locator("#queue-list li.draft[data-id='c-2']")
    await queued.wait_for(timeout=8_000)
    await queued.get_by_role("button", name="Edit").click()
    await oleh.wait_for_function(
        "() => document.getElementById('f-title').value === 'Flood warning'"
    )
    worker = desk.stack.services["worker"].process
    assert worker is not None
    worker.send_signal(signal.SIGSTOP)
    try:
        changed = await api.client.patch(
            f"{api.base}/v1/articles/c-2", json={"title": "Flood warning for Odesa"},
            headers=api.auth,
        )  # fmt: skip
        assert changed.status_code == 202, changed.text
        await oleh.fill("#f-title", "Flood warning: roads shut")
        await oleh.click("#publish")
        await oleh.wait_for_selector("#compose-status[data-state=accepted]")
    finally:
        worker.send_signal(signal.SIGCONT)
    await oleh.wait_for_selector("#conflict:not([hidden])")
    text = await oleh.locator("#conflict-text").text_content() or ""
    assert "token-1" in text, text
    assert "Flood warning for Odesa" in text, text
    assert desk.store.hget(keys.draft("c-2"), "title") == b"Flood warning for Odesa"


async def test_sessions_cookie_flags_origin_csrf_sign_out_and_a_cross_origin_form(
    desk: Desk, tabs: Contexts, http: httpx.AsyncClient
) -> None:
    rita = await tabs.page()
    await sign_in(rita, desk, EDITOR)
    [cookie] = [c for c in await rita.context.cookies() if c["name"] == "livefeed_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # plain http here; over HTTPS it is Secure (below)
    assert await rita.evaluate("document.cookie") == ""  # never readable by script
    csrf = re.search(r'"csrf":"([^"]+)"', await rita.content())
    assert csrf is not None
    jar = {"Cookie": f"livefeed_session={cookie['value']}"}
    ingest = desk.stack.url("ingest")

    # Another origin (same site: 127.0.0.1, another port, so the cookie goes along) posts a
    # form to a desk action and to the API, even with the CSRF token: refused, nothing stored.
    desk.host.pages["/attack"] = (
        f'<form id="out" method="post" action="{ingest}/desk/logout">'
        f'<input name="csrf" value="{csrf.group(1)}"></form>'
        f'<form id="post" method="post" enctype="text/plain" action="{ingest}/v1/articles">'
        '<input name=\'{"id":"x-1","title":"Forged","published_at":"2024-10-24T16:55:00+03:00",'
        '"pad":"\' value=\'"}\'></form>'
    )
    for form in ("out", "post"):
        attack = await rita.context.new_page()
        await attack.goto(desk.host.origin + "/attack")
        async with attack.expect_navigation() as landed:
            await attack.evaluate(f"document.getElementById('{form}').submit()")
        response = await landed.value
        assert response is not None
        assert response.status == 403, form
        assert "Origin" in await attack.content()
        await attack.close()
    assert (await http.get(f"{ingest}/v1/drafts", headers=jar)).status_code == 200  # still in
    assert desk.store.exists("lf:draft:x-1") == 0
    assert desk.store.exists("lf:article:x-1") == 0

    # The API with the cookie: Origin and X-CSRF-Token on every unsafe request.
    body = article("x-2")
    same = {**jar, "Origin": ingest}
    refused = await http.post(f"{ingest}/v1/articles", json=body, headers=same)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "X-CSRF-Token"
    foreign = {**jar, "Origin": desk.host.origin, "X-CSRF-Token": csrf.group(1)}
    refused = await http.post(f"{ingest}/v1/articles", json=body, headers=foreign)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "Origin"
    allowed = await http.post(
        f"{ingest}/v1/articles", json=body, headers={**same, "X-CSRF-Token": csrf.group(1)}
    )
    assert allowed.status_code == 202, allowed.text

    # Sign-out ends the session server-side: the old cookie gets 401 and the sign-in page.
    await rita.click(".signout button")
    await rita.wait_for_selector("#token")
    assert not [c for c in await rita.context.cookies() if c["name"] == "livefeed_session"]
    dead = await http.get(f"{ingest}/v1/drafts", headers=jar)
    assert dead.status_code == 401
    assert dead.json()["errors"][0]["field"] == "livefeed_session"
    again = await http.get(f"{ingest}/desk", headers=jar)
    assert 'action="/desk/login"' in again.text
    log = (desk.stack.workdir / "ingest.log").read_text()
    assert "desk sign-in: rita (editor) from 127.0.0.1" in log
    assert "desk sign-out: rita from 127.0.0.1" in log
    for secret in (EDITOR, cookie["value"], csrf.group(1)):
        assert secret not in log


async def test_secure_cookie_over_https_and_failed_sign_ins_are_throttled_per_address(
    desk: Desk, http: httpx.AsyncClient
) -> None:
    """Behind a TLS proxy (X-Forwarded-Proto from a trusted address) the cookie is Secure;
    wrong tokens from one address get 429 past LIVEFEED_AUTH_FAILURES_PER_MINUTE (10), the
    right one included, while another address still signs in."""
    ingest = desk.stack.url("ingest")
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7",
               "Origin": "https://" + ingest.removeprefix("http://")}  # fmt: skip
    signed = await http.post(f"{ingest}/desk/login", data={"token": EDITOR}, headers=proxied)
    assert signed.status_code == 303
    header = signed.headers["set-cookie"].lower()
    for flag in ("secure", "httponly", "samesite=strict"):
        assert flag in header
    await minute_with_time_left(5)  # the limit counts per clock minute
    guesser = {"X-Forwarded-For": "198.51.100.9", "Origin": ingest}
    codes = [
        (
            await http.post(f"{ingest}/desk/login", data={"token": f"guess-{n}"}, headers=guesser)
        ).status_code
        for n in range(11)
    ]
    assert codes == [403] * 10 + [429], codes
    right = await http.post(f"{ingest}/desk/login", data={"token": EDITOR}, headers=guesser)
    assert right.status_code == 429
    assert "retry-after" in right.headers
    other = {"X-Forwarded-For": "198.51.100.10", "Origin": ingest}
    assert (
        await http.post(f"{ingest}/desk/login", data={"token": EDITOR}, headers=other)
    ).status_code == 303


async def test_the_desk_at_390px_is_usable_and_axe_finds_nothing_light_dark_rtl(
    desk: Desk, tabs: Contexts, api: Ingest
) -> None:
    await api.apply(article("a-1", title="Air defence active over Kyiv", published_at=_now(-5),
                            labels=["breaking", "key"], pinned=True))  # fmt: skip
    await api.apply(article("a-2", title="Trains run on time", published_at=_now(-20)))
    phone = await tabs.page(width=390, height=844)
    await sign_in(phone, desk, REPORTER)
    await phone.fill("#f-title", "Bridge closed after strike")
    await phone.click("#publish")  # a tap, no keyboard
    await phone.wait_for_selector("#queue-list li.draft")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    for target in ("#publish", "#f-title", ".signout button", f"{row('a-1')} .act"):
        box = await phone.locator(target).first.bounding_box()
        assert box is not None, target
        assert 0 <= box["x"] <= box["x"] + box["width"] <= 390, target

    for scheme in ("light", "dark"):
        for query in ("", "?lang=ar"):
            page = await tabs.page(scheme=scheme)
            await page.goto(desk.url + query)
            assert await axe_violations(page) == [], (scheme, query, "sign-in")
            await page.fill("#token", EDITOR)
            await page.press("#token", "Enter")
            await page.wait_for_selector("#conn[data-state=live]")
            await page.wait_for_selector("#queue-list li.draft")
            await page.wait_for_selector(row("a-1"))
            if query:
                assert await page.get_attribute("html", "dir") == "rtl"
            await page.fill("#f-title", "Preview of a headline")
            await page.wait_for_selector("#preview >> .item-title")
            assert await axe_violations(page) == [], (scheme, query, "desk")
            await page.click(f"{row('a-2')} button[data-action=edit]")
            await page.wait_for_selector("#editing:not([hidden])")
            assert await axe_violations(page) == [], (scheme, query, "editing")
            await page.click(f"{row('a-2')} button[data-action=retract]")
            await page.wait_for_selector("#dialog[open]")
            assert await axe_violations(page) == [], (scheme, query, "dialog")
            await page.click("#dialog-cancel")
            await page.click(f"{row('a-1')} button[data-action=history]")
            await page.wait_for_selector("#dialog-history li")
            assert await axe_violations(page) == [], (scheme, query, "history")


def _now(minutes: int) -> str:
    """RFC 3339 ``minutes`` from now (negative: ago)."""
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
