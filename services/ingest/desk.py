"""The desk: ``/desk`` on ingest, the newsroom's web app to write, review, correct, pin and
retract headlines live.

Server-rendered in the newsroom's language (LIVEFEED_LANGUAGE, or ``?lang=``; the catalogs the
reader client uses, ``dir=rtl`` for a right-to-left one), hydrated by small ES modules served
from ``desk_static/`` (no build step, no CDN). Every change the desk makes goes through the
ordinary ``/v1`` API, authenticated by the session cookie (``services/ingest/sessions.py``),
so the article history records the token's name as for any tool.

Routes (all but the sign-in page and form need a session; POSTs check Origin and the CSRF
token):

- ``GET /desk``: the sign-in form, or the desk (compose, the review queue, the live column);
- ``POST /desk/login`` (form ``token``): starts a session (failed sign-ins throttled per
  address: ``shared.auth.FailedAuthThrottle``); ``POST /desk/logout`` (form ``csrf``) ends it;
- ``GET /desk/column``: the live column as editors see it: the reader column's own items
  (``services.feed.column.render_item``) with each item's actions, as HTML for the page's
  shadow root, and the headlines as JSON (the page refetches it on every stream event);
- ``POST /desk/preview``: one headline rendered exactly as the column will show it, or the
  fields the article model refuses;
- ``POST /desk/presence`` (``{"open": id | null}``): this page is here (and has that item
  open) for ``PRESENCE_TTL_S``; answers who is on the desk now;
- ``GET /desk/static/{name}``: the modules and stylesheets.
"""

from __future__ import annotations

import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
import redis
import redis.asyncio as aredis
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from services.feed.column import CSS_FILES, STATIC, render_item
from services.feed.page import connect_sources
from services.feed.store import TimelineReader
from services.feed.timeline import timeline_body
from services.ingest import desk_api
from services.ingest.sessions import (
    COOKIE,
    CSRF_FIELD,
    SAFE_METHODS,
    Session,
    Sessions,
    client_address,
    role_of,
)
from services.ingest.validation import errors_of
from shared import keys
from shared.auth import FailedAuthThrottle, TokenCheck
from shared.bodies import parse_json, read_body
from shared.client_strings import DESK_MESSAGES
from shared.html import element as _el
from shared.i18n import N_, SUPPORTED, direction, gettext, interface
from shared.models import LABEL_DISPLAY, MAX_TITLE_CHARS, Article, is_article_id
from shared.settings import Settings
from shared.starlette_glue import NOT_CACHED, ProblemError, path_article_id

log = logging.getLogger(__name__)

DESK_STATIC = Path(__file__).resolve().parent / "desk_static"
STATIC_FILES = {
    "desk.js": "text/javascript; charset=utf-8",
    "desk.css": "text/css; charset=utf-8",
    "desk-column.css": "text/css; charset=utf-8",
}
PRESENCE_TTL_S = 10  # a page that stops refreshing drops off the desk after this
PRESENCE_EVERY_MS = 3000  # how often the page refreshes its presence (and the review queue)
COLUMN_LIMIT = 60  # headlines the desk's live column shows
MAX_FORM_BYTES = 4096
MAX_PREVIEW_BYTES = 64 * 1024
MAX_PRESENCE_BYTES = 1024  # {"open": "<an id of at most 200 characters>"}
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")

DESK_TITLE = N_("Desk")
ROLE_NAMES = {"editor": N_("Editor"), "contributor": N_("Contributor")}
# Keyboard shortcuts, as the desk documents them (desk.js binds the same keys).
SHORTCUTS = (
    ("c", N_("Compose a headline")),
    ("/", N_("Search the live column and the queue")),
    ("Ctrl+Enter / ⌘+Enter", N_("Publish (or submit for review) what you are writing")),
    ("Esc", N_("Close a dialog, or stop editing")),
)
URGENCY_CHOICES = (
    ("", N_("Not urgent")),
    ("1", N_("1 (flash)")),
    ("2", N_("2 (breaking)")),
    *((str(n), str(n)) for n in range(3, 10)),
)


def _html(root: ET.Element) -> bytes:
    return b"<!doctype html>\n" + ET.tostring(root, encoding="unicode", method="html").encode()


def desk_csp(settings: Settings) -> str:
    """Scripts, styles and connections from this origin only, and the push service's stream;
    no inline script or style, no frames, forms to this origin only."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {connect_sources(settings)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def page_headers(settings: Settings) -> dict[str, str]:
    """Every desk response's headers: the CSP, no framing, never cached."""
    return {
        "Content-Security-Policy": desk_csp(settings),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        **NOT_CACHED,
    }


def desk_lang(request: Request, settings: Settings) -> str:
    """The desk's language: ``?lang=`` when a language tag, else LIVEFEED_LANGUAGE (English
    for a language without a catalog)."""
    asked = request.query_params.get("lang", "")
    return interface(asked if _LANG.match(asked) else settings.language)


def _lang_href(path: str, lang: str, settings: Settings) -> str:
    return path if lang == interface(settings.language) else f"{path}?{urlencode({'lang': lang})}"


class Desk:
    """The desk's routes (``create_app`` adds them to ingest)."""

    def __init__(
        self,
        settings: Settings,
        client: Callable[[], aredis.Redis],
        tokens: TokenCheck,
        throttle: FailedAuthThrottle,
        sessions: Sessions,
    ) -> None:
        self.settings = settings
        self.client = client
        self.tokens = tokens
        self.throttle = throttle
        self.sessions = sessions
        self._reader: TimelineReader | None = None
        self._static = {name: (DESK_STATIC / name).read_bytes() for name in STATIC_FILES}
        self._static["column.css"] = "".join(
            (STATIC / name).read_text() for name in CSS_FILES
        ).encode()

    def routes(self) -> list[BaseRoute]:
        """The desk's routes."""
        return [
            Route("/desk", self.page, methods=["GET"]),
            Route("/desk/", self.slash, methods=["GET"]),
            Route("/desk/login", self.login, methods=["POST"]),
            Route("/desk/logout", self.logout, methods=["POST"]),
            Route("/desk/column", self.column, methods=["GET"]),
            Route("/desk/article/{article_id:path}", self.article, methods=["GET"]),
            Route("/desk/preview", self.preview, methods=["POST"]),
            Route("/desk/presence", self.presence, methods=["POST"]),
            Route("/desk/static/{name}", self.static, methods=["GET"]),
        ]

    @property
    def reader(self) -> TimelineReader:
        if self._reader is None:
            self._reader = TimelineReader(self.client(), self.settings)
        return self._reader

    # -- sessions ---------------------------------------------------------------------------

    async def _session(self, request: Request) -> Session | None:
        try:
            return await self.sessions.current(request)
        except redis.RedisError as exc:
            raise ProblemError(503, "Redis is unreachable: try again in a moment") from exc

    async def _required(self, request: Request) -> Session:
        """The request's session (401 without one); Origin and CSRF checked when unsafe."""
        session = await self._session(request)
        if session is None:
            raise ProblemError(
                401,
                "sign in at /desk first",
                errors=[{"field": "livefeed_session", "reason": "no session"}],
            )
        if request.method not in SAFE_METHODS:
            self.sessions.guard(request, session)
        return session

    async def _form(self, request: Request) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body (the desk's two plain forms)."""
        body = await read_body(request, MAX_FORM_BYTES)  # 413 as soon as it passes the cap
        try:
            pairs = parse_qs(body.decode(), max_num_fields=8)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProblemError(
                400, "not a form", errors=[{"field": "body", "reason": "not a form"}]
            ) from exc
        return {name: values[0] for name, values in pairs.items()}

    # -- pages ------------------------------------------------------------------------------

    async def slash(self, request: Request) -> Response:
        """``/desk/`` → ``/desk``."""
        return RedirectResponse(_lang_href("/desk", desk_lang(request, self.settings),
                                           self.settings), status_code=308)  # fmt: skip

    async def page(self, request: Request) -> Response:
        """The desk, or the sign-in form."""
        lang = desk_lang(request, self.settings)
        session = await self._session(request)
        if session is None:
            response = self._signin(lang)
            if COOKIE in request.cookies:  # ended (elsewhere, or a sign-out the page cut short)
                self.sessions.clear_cookie(response, request)
            return response
        return Response(
            _html(render_desk(self.settings, lang, session)),
            media_type="text/html; charset=utf-8",
            headers=page_headers(self.settings),
        )

    def _signin(self, lang: str, error: str | None = None, status: int = 200) -> Response:
        return Response(
            _html(render_signin(self.settings, lang, error)),
            status_code=status,
            media_type="text/html; charset=utf-8",
            headers=page_headers(self.settings),
        )

    async def login(self, request: Request) -> Response:
        """``POST /desk/login`` (form ``token``, ``lang``): a session cookie and the desk."""
        form = await self._form(request)
        lang = interface(form.get("lang") or self.settings.language)
        if not self.sessions.same_origin(request):
            return self._signin(lang, gettext(lang, FOREIGN_FORM), 403)
        token = form.get("token", "").strip()
        address = client_address(request)
        who = self.tokens.find(token) if token else None
        try:
            if who is None:
                await self.throttle.failed(request)
            else:
                await self.throttle.admit(request)
        except ProblemError as exc:
            if exc.status != 429:
                raise
            log.warning("desk sign-in refused (throttled) from %s", address)
            headers = {**page_headers(self.settings), **(exc.headers or {})}
            return Response(
                _html(render_signin(self.settings, lang, gettext(lang, THROTTLED))),
                status_code=429,
                media_type="text/html; charset=utf-8",
                headers=headers,
            )
        if who is None:
            log.warning("desk sign-in failed from %s", address)
            return self._signin(lang, gettext(lang, WRONG_TOKEN), 403)
        try:
            cookie, _session = await self.sessions.start(who)
        except redis.RedisError as exc:
            raise ProblemError(503, "Redis is unreachable: try again in a moment") from exc
        log.info("desk sign-in: %s (%s) from %s", who.name, role_of(who), address)
        response = RedirectResponse(_lang_href("/desk", lang, self.settings), status_code=303)
        self.sessions.set_cookie(response, request, cookie)
        return response

    async def logout(self, request: Request) -> Response:
        """``POST /desk/logout`` (form ``csrf``): the session ends here and everywhere."""
        form = await self._form(request)
        lang = interface(form.get("lang") or self.settings.language)
        session = await self._session(request)
        if session is not None:
            self.sessions.guard(request, session, form.get(CSRF_FIELD))
            try:
                await self.sessions.end(session)
                await self._leave(session)
            except redis.RedisError as exc:
                raise ProblemError(503, "Redis is unreachable: try again in a moment") from exc
            log.info("desk sign-out: %s from %s", session.who.name, client_address(request))
        response = RedirectResponse(_lang_href("/desk", lang, self.settings), status_code=303)
        self.sessions.clear_cookie(response, request)
        return response

    async def static(self, request: Request) -> Response:
        """The desk's modules and stylesheets (and the column's stylesheet, for its items)."""
        name = request.path_params["name"]
        body = self._static.get(name)
        if body is None:
            raise ProblemError(404, "no such file", errors=[{"field": "name", "reason": "unknown"}])
        kind = STATIC_FILES.get(name, "text/css; charset=utf-8")
        return Response(
            body,
            media_type=kind,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    # -- the live column, the preview -------------------------------------------------------

    async def column(self, request: Request) -> Response:
        """``GET /desk/column``: the live column with each item's actions (HTML for the page's
        shadow root) and its headlines (JSON, for the edit forms), and the event it reflects."""
        session = await self._required(request)
        lang = desk_lang(request, self.settings)
        try:
            page = await self.reader.page(limit=COLUMN_LIMIT)
        except redis.RedisError as exc:
            raise ProblemError(503, "Redis is unreachable: try again in a moment") from exc
        body = timeline_body(page, self.settings.zone, lang)
        html = render_desk_column(body, self.settings, lang, role_of(session.who) == "editor")
        items = {h["id"]: h for h in body["pinned"]}
        for day in body["days"]:
            items.update({h["id"]: h for h in day["items"]})
        pinned = [h["id"] for h in body["pinned"]]
        return JSONResponse(
            {"html": html, "items": items, "pinned": pinned, "event_id": body["event_id"]},
            headers=NOT_CACHED,
        )

    async def article(self, request: Request) -> Response:
        """``GET /desk/article/{id}``: what an editor edits and its version (``ETag``, for
        ``If-Match``): ingest's ``GET /v1/articles/{id}`` (services/ingest/desk_api.py) under
        /desk, which a proxy routes to ingest (GET /v1/articles/{id} is the feed's there)."""
        session = await self._required(request)
        try:
            return await desk_api.get_article(
                request, path_article_id(request), self.client(), self.settings.zone, session.who
            )
        except redis.RedisError as exc:
            raise ProblemError(503, "Redis is unreachable: try again in a moment") from exc

    async def preview(self, request: Request) -> Response:
        """``POST /desk/preview``: the headline as the column will show it (the reader column's
        own markup), or the fields the article model refuses (422, each named)."""
        await self._required(request)
        lang = desk_lang(request, self.settings)
        fields = parse_json(await read_body(request, MAX_PREVIEW_BYTES))
        if not isinstance(fields, dict):
            raise ProblemError(
                400, "send one article", errors=[{"field": "body", "reason": "not an object"}]
            )
        fields = {
            "id": "preview",
            "published_at": datetime.now(UTC).isoformat(),
            **fields,
        }
        try:
            article = Article.model_validate(fields)
        except ValidationError as exc:
            raise ProblemError(422, "not a valid headline", errors=errors_of(exc)) from exc
        published = article.embargoed_until or article.published_at
        item: dict[str, Any] = {
            "id": article.id if is_article_id(article.id) else "preview",
            "title": article.title,
            "url": article.url,
            "labels": list(article.labels),
            "published_at": published.astimezone(self.settings.zone).isoformat(),
        }
        holder = _el(None, "div", class_="column")
        items = _el(holder, "div", class_="items")
        render_item(items, item, 1, self.settings.timezone, lang=lang)
        return JSONResponse(
            {"html": ET.tostring(holder, encoding="unicode", method="html")},
            headers=NOT_CACHED,
        )

    # -- presence ---------------------------------------------------------------------------

    async def presence(self, request: Request) -> Response:
        """``POST /desk/presence`` ``{"open": id | null}``: this page is on the desk (with that
        item open) for ``PRESENCE_TTL_S``; answers ``{"people": [{"name", "role", "open"}]}``,
        everyone on the desk now (one entry per name, each item any of its pages has open), and
        ``drafts_event``: the newest change of a draft (``keys.DESK_EVENTS``), or null."""
        session = await self._required(request)
        body = await read_body(request, MAX_PRESENCE_BYTES)
        payload = parse_json(body) if body.strip() else {}
        opened = payload.get("open") if isinstance(payload, dict) else None
        if opened is not None and not (isinstance(opened, str) and is_article_id(opened)):
            raise ProblemError(
                422, "not an article id", errors=[{"field": "open", "reason": "not an id"}]
            )
        now_ms = int(time.time() * 1000)
        record = {"name": session.who.name, "role": role_of(session.who), "open": opened}
        client = self.client()
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.set(
                    keys.desk_presence(session.digest), orjson.dumps(record), ex=PRESENCE_TTL_S
                )
                pipe.zadd(keys.DESK_PRESENT, {session.digest: now_ms + PRESENCE_TTL_S * 1000})
                pipe.zremrangebyscore(keys.DESK_PRESENT, "-inf", now_ms)
                pipe.zrange(keys.DESK_PRESENT, 0, 199)
                pipe.xrevrange(keys.DESK_EVENTS, count=1)
                replies = await pipe.execute()
            digests = [d.decode() if isinstance(d, bytes) else d for d in replies[-2]]
            newest = replies[-1][0][0] if replies[-1] else None
            raw = await client.mget([keys.desk_presence(d) for d in digests]) if digests else []
        except redis.RedisError as exc:
            raise ProblemError(503, "Redis is unreachable: try again in a moment") from exc
        people: dict[str, dict[str, Any]] = {}
        for entry in raw:
            if entry is None:
                continue
            here = orjson.loads(entry)
            person = people.setdefault(
                here["name"], {"name": here["name"], "role": here["role"], "open": []}
            )
            if here.get("open") and here["open"] not in person["open"]:
                person["open"].append(here["open"])
        listed = sorted(people.values(), key=lambda p: str(p["name"]).lower())
        # The newest change of a draft (keys.DESK_EVENTS): the page refetches the queue when it
        # differs from the one it has seen.
        drafts_at = newest.decode() if isinstance(newest, bytes) else newest
        return JSONResponse(
            {"people": listed, "you": session.who.name, "drafts_event": drafts_at},
            headers=NOT_CACHED,
        )

    async def _leave(self, session: Session) -> None:
        async with self.client().pipeline(transaction=False) as pipe:
            pipe.delete(keys.desk_presence(session.digest))
            pipe.zrem(keys.DESK_PRESENT, session.digest)
            await pipe.execute()


# -- rendering ----------------------------------------------------------------------------------

WRONG_TOKEN = N_("That token is not valid. Check it and try again.")
THROTTLED = N_("Too many failed sign-ins from this address. Wait a minute and try again.")
FOREIGN_FORM = N_("This form must be sent from the desk's own page.")


def _head(settings: Settings, lang: str, title: str) -> tuple[ET.Element, ET.Element]:
    root = _el(None, "html", lang=lang, dir=direction(lang))
    head = _el(root, "head")
    _el(head, "meta", charset="utf-8")
    _el(head, "meta", name="viewport", content="width=device-width, initial-scale=1")
    _el(head, "meta", name="color-scheme", content="light dark")
    _el(head, "meta", name="robots", content="noindex")
    _el(head, "title", title)
    _el(head, "link", rel="stylesheet", href="/desk/static/desk.css")
    return root, head


def _languages(parent: ET.Element, settings: Settings, lang: str) -> None:
    nav = _el(parent, "nav", class_="langs", aria_label=gettext(lang, "Languages"))
    for code in dict.fromkeys((interface(settings.language), *SUPPORTED)):
        link = _el(nav, "a", code.upper(), href=_lang_href("/desk", code, settings),
                   lang=code, hreflang=code)  # fmt: skip
        if code == lang:
            link.set("aria-current", "true")
        link.tail = " "


def render_signin(settings: Settings, lang: str, error: str | None = None) -> ET.Element:
    """The sign-in page: one field, the token."""
    title = f"{gettext(lang, DESK_TITLE)} · livefeed"
    root, _head_el = _head(settings, lang, title)
    body = _el(root, "body", class_="signin-page")
    main = _el(body, "main", class_="signin")
    _el(main, "h1", gettext(lang, "Sign in to the desk"))
    _el(main, "p", gettext(lang, "Sign in with the token your newsroom gave you. "
                                 "It is sent once and never kept in the browser."),
        class_="hint")  # fmt: skip
    if error:
        _el(main, "p", error, class_="form-error", role="alert", id="signin-error")
    form = _el(main, "form", method="post", action="/desk/login", class_="signin-form")
    _el(form, "input", type="hidden", name="lang", value=lang)
    _el(form, "label", gettext(lang, "Token"), for_="token")
    field = _el(form, "input", type="password", name="token", id="token", required="",
                autocomplete="current-password", autofocus="", spellcheck="false")  # fmt: skip
    if error:
        field.set("aria-invalid", "true")
        field.set("aria-describedby", "signin-error")
    _el(form, "button", gettext(lang, "Sign in"), type="submit", class_="primary")
    _languages(main, settings, lang)
    return root


def _field(
    form: ET.Element, lang: str, name: str, label: str, tag: str = "input", **attrs: str
) -> tuple[ET.Element, ET.Element]:
    """A labelled control with the place its problem is shown (``err-<name>``): the wrapper
    and the control."""
    wrap = _el(form, "div", class_=f"field field-{name}", id=f"wrap-{name}")
    _el(wrap, "label", gettext(lang, label), for_=f"f-{name}")
    control = _el(wrap, tag, "" if tag == "textarea" else None, id=f"f-{name}", name=name,
                  aria_describedby=f"err-{name}", **attrs)  # fmt: skip
    _el(wrap, "p", "", class_="field-error", id=f"err-{name}")
    return wrap, control


def render_desk(settings: Settings, lang: str, session: Session) -> ET.Element:
    """The signed-in desk: compose, the review queue, the live column (desk.js hydrates it)."""
    who = session.who
    role = role_of(who)
    editor = role == "editor"
    root, head = _head(settings, lang, f"{gettext(lang, DESK_TITLE)} · livefeed")
    _el(head, "script", "", type="module", src="/desk/static/desk.js")
    config = {
        "name": who.name,
        "role": role,
        "csrf": session.csrf,
        "lang": lang,
        "locale": f"{lang}-u-nu-latn",
        "zone": settings.timezone,
        "stream": settings.push_url.rstrip("/") + "/v1/stream",
        "maxTitle": MAX_TITLE_CHARS,
        "presenceEvery": PRESENCE_EVERY_MS,
        "langQuery": "" if lang == interface(settings.language) else f"lang={lang}",
        "messages": {message: gettext(lang, message) for message in DESK_MESSAGES},
        "labels": {label: gettext(lang, name) for label, name in LABEL_DISPLAY.items()},
    }
    data = orjson.dumps(config).decode().replace("<", "\\u003c")
    body = _el(root, "body", class_=f"desk role-{role}")
    _el(body, "script", data, type="application/json", id="desk-config")
    _el(body, "a", gettext(lang, "Skip to compose"), href="#compose", class_="skip")

    top = _el(body, "header", class_="desk-head")
    _el(top, "h1", gettext(lang, DESK_TITLE))
    me = _el(top, "p", class_="me")
    _el(me, "span", gettext(lang, "Signed in as {name}").format(name=who.name)).tail = " "
    _el(me, "span", gettext(lang, ROLE_NAMES[role]), class_=f"role role-{role}")
    _el(top, "p", "", id="presence", class_="presence", aria_live="polite")
    out = _el(top, "form", method="post", action="/desk/logout", class_="signout")
    _el(out, "input", type="hidden", name=CSRF_FIELD, value=session.csrf)
    _el(out, "input", type="hidden", name="lang", value=lang)
    _el(out, "button", gettext(lang, "Sign out"), type="submit")
    keys_help = _el(top, "details", class_="shortcuts")
    _el(keys_help, "summary", gettext(lang, "Keyboard shortcuts"))
    table = _el(keys_help, "dl")
    for key, what in SHORTCUTS:
        _el(table, "dt", key)
        _el(table, "dd", gettext(lang, what))
    nav = _el(top, "nav", class_="sections", aria_label=gettext(lang, "Desk sections"))
    for href, text in (("#compose", N_("Compose")), ("#queue", N_("Review queue")),
                       ("#live", N_("Live column"))):  # fmt: skip
        _el(nav, "a", gettext(lang, text), href=href).tail = " "
    _languages(top, settings, lang)

    main = _el(body, "main", class_="desk-main")
    # Compose.
    compose = _el(main, "section", id="compose", class_="panel compose",
                  aria_labelledby="compose-head")  # fmt: skip
    _el(compose, "h2", gettext(lang, "Compose"), id="compose-head")
    _el(compose, "p", "", id="editing", class_="editing", hidden="")
    form = _el(compose, "form", id="compose-form", novalidate="")
    title_wrap, title = _field(form, lang, "title", N_("Headline"), "textarea", rows="3",
                               required="", spellcheck="true", dir="auto")  # fmt: skip
    title.set("aria-describedby", "title-count err-title")
    _el(title_wrap, "p", f"0 / {MAX_TITLE_CHARS}", id="title-count", class_="count")
    _field(form, lang, "url", N_("Link (https://…)"), type="url", inputmode="url",
           autocomplete="off", dir="ltr")  # fmt: skip
    _wrap, section = _field(form, lang, "section", N_("Section"), autocomplete="off",
                            list="sections", dir="ltr")  # fmt: skip
    section.set("placeholder", "news")
    sections = _el(form, "datalist", id="sections")
    for slug in settings.section_names:
        _el(sections, "option", value=slug)
    _wrap, labels = _field(form, lang, "labels", N_("Labels (comma-separated)"), autocomplete="off",
                    dir="ltr")  # fmt: skip
    labels.set("placeholder", "exclusive, opinion")
    _wrap, urgency = _field(form, lang, "urgency", N_("Urgency"), "select")
    for value, text in URGENCY_CHOICES:
        _el(urgency, "option", gettext(lang, text) if not text.isdigit() else text, value=value)
    checks = _el(form, "fieldset", class_="checks")
    _el(checks, "legend", gettext(lang, "Marks"))
    for name, text in (("key", N_("Key event")), ("pinned", N_("Pin to the top"))):
        wrap = _el(checks, "div", class_=f"check check-{name}", id=f"wrap-{name}")
        _el(wrap, "input", type="checkbox", id=f"f-{name}", name=name)
        _el(wrap, "label", gettext(lang, text), for_=f"f-{name}")
        if name == "pinned" and not editor:
            wrap.set("hidden", "")
    _el(checks, "p", "", class_="field-error", id="err-pinned")
    _field(form, lang, "embargoed_until",
           gettext(lang, "Embargo until (times in {zone})").format(zone=settings.timezone),
           type="datetime-local", step="60")  # fmt: skip
    correction_wrap, _note = _field(form, lang, "correction",
                                    N_("Correction note (shown with the headline)"), "textarea",
                                    rows="2", dir="auto")  # fmt: skip
    correction_wrap.set("hidden", "")
    buttons = _el(form, "div", class_="buttons")
    if editor:
        _el(buttons, "button", gettext(lang, "Publish"), type="submit", id="publish",
            class_="primary", data_mode="publish")  # fmt: skip
        _el(buttons, "button", gettext(lang, "Save as draft"), type="button", id="save-draft")
    else:
        _el(buttons, "button", gettext(lang, "Submit for review"), type="submit", id="publish",
            class_="primary", data_mode="draft")  # fmt: skip
    _el(buttons, "button", gettext(lang, "Stop editing"), type="button", id="cancel-edit",
        hidden="")  # fmt: skip
    _el(form, "p", "", id="compose-status", class_="outcome", role="status")
    conflict = _el(form, "div", id="conflict", class_="conflict", role="alert", hidden="")
    _el(conflict, "p", "", id="conflict-text")
    _el(conflict, "button", gettext(lang, "Reload"), type="button", id="conflict-reload")
    _el(conflict, "button", gettext(lang, "Overwrite"), type="button", id="conflict-overwrite")
    preview = _el(compose, "div", class_="preview")
    _el(preview, "h3", gettext(lang, "Preview"), id="preview-head")
    _el(preview, "div", "", id="preview", role="region", aria_labelledby="preview-head")

    # The review queue.
    queue = _el(main, "section", id="queue", class_="panel queue", aria_labelledby="queue-head")
    _el(queue, "h2", gettext(lang, "Review queue"), id="queue-head")
    filters = _el(queue, "div", class_="queue-filters")
    _el(filters, "label", gettext(lang, "Show"), for_="queue-author")
    mine = _el(filters, "select", id="queue-author")
    _el(mine, "option", gettext(lang, "All drafts"), value="")
    _el(mine, "option", gettext(lang, "My drafts"), value=who.name)
    _el(queue, "p", gettext(lang, "No drafts waiting."), id="queue-empty", class_="empty")
    _el(queue, "ul", "", id="queue-list", class_="queue-list")

    # The live column.
    live = _el(main, "section", id="live", class_="panel live", aria_labelledby="live-head")
    head_row = _el(live, "div", class_="live-head")
    _el(head_row, "h2", gettext(lang, "Live column"), id="live-head")
    _el(head_row, "p", gettext(lang, "Connecting…"), id="conn", class_="conn",
        data_state="connecting")  # fmt: skip
    search = _el(live, "div", class_="search")
    _el(search, "label", gettext(lang, "Search"), for_="search")
    _el(search, "input", type="search", id="search", autocomplete="off",
        aria_keyshortcuts="/", aria_controls="column")  # fmt: skip
    _el(live, "div", "", id="column", class_="desk-column-host")

    dialog = _el(body, "dialog", id="dialog", aria_labelledby="dialog-head")
    dform = _el(dialog, "form", method="dialog", id="dialog-form")
    _el(dform, "h2", "", id="dialog-head")
    _el(dform, "p", "", id="dialog-text", class_="dialog-text")
    dtitle = _el(dform, "div", class_="field", id="dialog-title-wrap", hidden="")
    _el(dtitle, "label", gettext(lang, "Headline"), for_="dialog-title")
    _el(dtitle, "textarea", "", id="dialog-title", rows="2", dir="auto",
        aria_describedby="dialog-title-error")  # fmt: skip
    _el(dtitle, "p", "", class_="field-error", id="dialog-title-error")
    dnote = _el(dform, "div", class_="field", id="dialog-note-wrap")
    _el(dnote, "label", "", for_="dialog-note", id="dialog-note-label")
    _el(dnote, "textarea", "", id="dialog-note", rows="3", dir="auto",
        aria_describedby="dialog-note-error")  # fmt: skip
    _el(dnote, "p", "", class_="field-error", id="dialog-note-error")
    _el(dform, "div", "", id="dialog-history", class_="history", hidden="")
    dbuttons = _el(dform, "div", class_="buttons")
    _el(dbuttons, "button", "", type="submit", id="dialog-ok", class_="primary", value="ok")
    _el(dbuttons, "button", gettext(lang, "Cancel"), type="button", id="dialog-cancel")
    _el(body, "p", "", id="announce", class_="visually-hidden", role="status")
    return root


def render_desk_column(body: dict[str, Any], settings: Settings, lang: str, editor: bool) -> str:
    """The live column as editors see it: the reader column's items (``render_item``), pinned
    first, then by day, each with its actions (a contributor gets its history only)."""
    holder = _el(None, "div", class_="column desk-column")
    pinned = _el(holder, "section", class_="pinned", aria_labelledby="dc-pinned")
    _el(pinned, "h3", gettext(lang, "Pinned"), class_="pinned-head", id="dc-pinned")
    plist = _el(pinned, "ul", class_="items rows")
    for position, item in enumerate(body["pinned"], start=1):
        _row(plist, item, position, settings, lang, editor, pinned=True)
    if not body["pinned"]:
        pinned.set("hidden", "")
    position = 0
    pinned_ids = {item["id"] for item in body["pinned"]}  # shown once, as the column does
    days = [
        (day, [item for item in day["items"] if item["id"] not in pinned_ids])
        for day in body["days"]
    ]
    for day, items in days:
        if not items:
            continue
        block = _el(holder, "section", class_="day", aria_labelledby=f"dc-day-{day['date']}")
        _el(block, "h3", day["label"], class_="day-head", id=f"dc-day-{day['date']}")
        rows = _el(block, "ul", class_="items rows")
        for item in items:
            position += 1
            _row(rows, item, position, settings, lang, editor, pinned=False)
    if not body["pinned"] and not any(items for _day, items in days):
        _el(holder, "p", gettext(lang, "No headlines yet. New ones appear here as they are "
                                       "published."), class_="empty")  # fmt: skip
    _el(holder, "p", gettext(lang, "Nothing matches the search."), class_="no-match", hidden="")
    return ET.tostring(holder, encoding="unicode", method="html")


def _row(
    parent: ET.Element,
    item: dict[str, Any],
    position: int,
    settings: Settings,
    lang: str,
    editor: bool,
    pinned: bool,
) -> None:
    row = _el(parent, "li", class_="row", data_id=item["id"],
              data_search=str(item.get("title", "")).casefold())  # fmt: skip
    render_item(row, item, position, settings.timezone, pinned_copy=pinned, lang=lang)
    label = gettext(lang, "Actions: {title}").format(title=item["title"])
    actions = _el(row, "div", class_="actions", role="group", aria_label=label)
    key = "key" in (item.get("labels") or [])
    buttons: list[tuple[str, str, dict[str, str]]] = []
    if editor:
        buttons += [
            ("edit", gettext(lang, "Edit"), {}),
            ("correct", gettext(lang, "Correct"), {}),
            ("pin", gettext(lang, "Unpin") if pinned else gettext(lang, "Pin"),
             {"aria_pressed": "true" if pinned else "false"}),
            ("key", gettext(lang, "Key event"), {"aria_pressed": "true" if key else "false"}),
            ("retract", gettext(lang, "Retract"), {"class_": "act danger"}),
        ]  # fmt: skip
    buttons.append(("history", gettext(lang, "History"), {}))
    for action, text, extra in buttons:
        attrs = {"class_": "act", **extra}
        _el(actions, "button", text, type="button", data_action=action, data_id=item["id"],
            **attrs)  # fmt: skip
    _el(row, "p", "", class_="open-by", hidden="")
