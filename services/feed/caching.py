"""HTTP caching of the timeline, the feeds, the page and the fragment: validators and edge keys.

Browsers get short lifetimes (``LIVEFEED_CACHE_MAX_AGE``) so that a retracted headline leaves
them within seconds; the validators (ETag, Last-Modified, 304) make the revalidation cheap.
An edge cache (a CDN, Varnish) may keep a response far longer (``Surrogate-Control:
max-age=LIVEFEED_EDGE_MAX_AGE``), because each response names what it shows in
``Surrogate-Key`` (space-separated, Fastly and Varnish xkey) and ``Cache-Tag`` (comma-separated,
Cloudflare and others): ``timeline`` for the unfiltered views, ``section:<s>`` / ``label:<l>``
for a filtered one (and not ``timeline``: a change elsewhere leaves it cached), an article key
(``article:<digest of the id>``) for each headline in it, so a change can be purged by key
(services/purger). The keys are defined in shared/edgekeys.py, which bounds their size.

Each body is gzipped at most once, for the first request that accepts gzip, and that copy is
sent to every later one (compression.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from services.feed.compression import (
    GZIP,
    MIN_BYTES,
    STATIC_LEVEL,
    VARY,
    VIEW_LEVEL,
    accepts_gzip,
    compressible,
    gzip_bytes,
    gzip_etag,
)
from services.feed.metrics import COMPRESSIONS
from shared.dates import now_ms
from shared.edgekeys import article_key, section_key, view_keys

_MAX_AGE = re.compile(r"max-age=([0-9]+)")
RawHeaders = list[tuple[bytes, bytes]]
# How long an edge may serve a stale copy while it fetches a fresh one (seconds).
STALE_WHILE_REVALIDATE_S = 30


def edge_keys(
    headlines: Iterable[Mapping[str, Any]],
    section: str | None = None,
    label: str | None = None,
    lang: str | None = None,
    summary: bool = False,
) -> list[str]:
    """The surrogate keys of a timeline view: what a purge must name to refresh it
    (``summary``: the view shows the live summary)."""
    ids = (str(headline["id"]) for headline in headlines)
    return view_keys(ids, section, label, lang, summary)


def article_keys(headline: Mapping[str, Any]) -> list[str]:
    """The surrogate keys of one article's own view: itself and its section."""
    keys = [article_key(str(headline["id"]))]
    if headline.get("section"):
        keys.append(section_key(str(headline["section"])))
    return keys


def edge_headers(keys: list[str], edge_max_age: int) -> dict[str, str]:
    """``Surrogate-Key``, ``Cache-Tag`` and ``Surrogate-Control`` of a response showing ``keys``."""
    return {
        "Surrogate-Key": " ".join(keys),
        "Cache-Tag": ",".join(keys),
        "Surrogate-Control": (
            f"max-age={edge_max_age}, stale-while-revalidate={STALE_WHILE_REVALIDATE_S}"
        ),
    }


def etag_of(body: bytes) -> str:
    """A strong validator: the hash of the exact bytes sent."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def http_date(ms: int) -> str:
    """An IMF-fixdate (``Thu, 24 Oct 2024 16:55:00 GMT``) of an epoch-millisecond time."""
    return format_datetime(datetime.fromtimestamp(ms // 1000, tz=UTC), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    # Weak comparison (RFC 9110 13.1.2): a W/ prefix added by a proxy still matches.
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags


def _not_modified_since(header: str, last_modified_ms: int) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as RFC 9110 asks
    if since.tzinfo is None:
        return False
    return last_modified_ms // 1000 <= int(since.timestamp())


@dataclass(frozen=True)
class Encoded:
    """A body in one content coding, with its own validator."""

    body: bytes
    etag: str


@dataclass(frozen=True)
class Rendered:
    """A view's bytes and everything its responses need, prepared once (``render``); its
    compressed copy is made once too, when first asked for (``encoded``), and kept here."""

    body: bytes
    media_type: str
    etag: str
    headers: dict[str, str]  # Cache-Control, edge keys and the view's own headers
    last_modified_ms: int | None = None
    expires_ms: int | None = None  # when an item in it leaves the window (None: never)
    level: int = VIEW_LEVEL  # zlib's level for the compressed copy
    # coding → the body in it: filled by ``encoded``, at most once per coding.
    encodings: dict[str, Encoded] = field(default_factory=dict, compare=False, repr=False)
    # (coding, Last-Modified sent, 304) → the response's header block, encoded once.
    blocks: dict[tuple[str | None, bool, bool], RawHeaders] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def varies(self) -> bool:
        """Whether responses of this body depend on Accept-Encoding (``Vary``): text of any
        size (the next state of the same view may be big enough to compress)."""
        return compressible(self.media_type)

    @property
    def compresses(self) -> bool:
        """Whether a client that accepts gzip gets it: text of ``MIN_BYTES`` or more."""
        return len(self.body) >= MIN_BYTES and self.varies

    @property
    def encoded_bytes(self) -> int:
        """What the compressed copies and header blocks made so far hold."""
        copies = sum(len(copy.body) + len(copy.etag) for copy in self.encodings.values())
        blocks = sum(len(k) + len(v) for raw in self.blocks.values() for k, v in raw)
        return copies + blocks

    def header_block(
        self, coding: str | None, last_modified: bool, not_modified: bool
    ) -> RawHeaders:
        """The headers of a response of this view (in ``coding``, with Last-Modified or not, a
        304 or the body), made by Starlette once and kept: a copy for each response."""
        key = (coding, last_modified, not_modified)
        raw = self.blocks.get(key)
        if raw is None:
            etag = self.encoded(coding).etag if coding is not None else self.etag
            out = {"ETag": etag, **self.headers}
            if self.varies:
                out["Vary"] = f"{out['Vary']}, {VARY}" if "Vary" in out else VARY
            if last_modified and self.last_modified_ms:
                out["Last-Modified"] = http_date(self.last_modified_ms)
            if not_modified:
                raw = Response(status_code=304, headers=out).raw_headers
            else:
                if coding is not None:
                    out["Content-Encoding"] = coding
                body = self.encoded(coding).body if coding is not None else self.body
                raw = Response(body, media_type=self.media_type, headers=out).raw_headers
            self.blocks[key] = raw
        return list(raw)  # middleware may add to a response's list: never to the kept one

    def encoded(self, coding: str) -> Encoded:
        """The body in ``coding`` (only ``GZIP``), compressed on the first call only."""
        copy = self.encodings.get(coding)
        if copy is None:
            assert coding == GZIP, coding
            COMPRESSIONS.labels(coding).inc()
            copy = Encoded(gzip_bytes(self.body, self.level), gzip_etag(self.etag))
            self.encodings[coding] = copy
        return copy


def negotiate(accept_encoding: str | None, view: Rendered) -> str | None:
    """The coding a request with this ``Accept-Encoding`` gets ``view`` in: ``GZIP``, or None
    for the plain bytes."""
    if view.compresses and accepts_gzip(accept_encoding):
        return GZIP
    return None


def render(
    body: bytes,
    media_type: str,
    *,
    max_age: int,
    last_modified_ms: int | None = None,
    headers: dict[str, str] | None = None,
    cache_control: str | None = None,
    expires_ms: int | None = None,
) -> Rendered:
    """``body`` with its validator and headers (``Cache-Control`` from ``max_age`` unless
    ``cache_control`` is given). ``expires_ms``: when an item of the view leaves the window (no
    event purges that): the edge may keep the view until then at most."""
    out = {"Cache-Control": cache_control or f"public, max-age={max_age}, must-revalidate"}
    out.update(headers or {})
    if expires_ms is not None and "Surrogate-Control" in out:
        left_s = max(0, (expires_ms - now_ms()) // 1000)
        out["Surrogate-Control"] = _MAX_AGE.sub(
            lambda m: f"max-age={min(int(m.group(1)), left_s)}", out["Surrogate-Control"]
        )
    return Rendered(body, media_type, etag_of(body), out, last_modified_ms or None, expires_ms)


def static_view(
    body: bytes, media_type: str, headers: dict[str, str], last_modified_ms: int | None = None
) -> Rendered:
    """A body that never changes while the process runs (the embed module, a static file),
    with its validator, and compressed now, once, at zlib's highest level."""
    view = Rendered(body, media_type, etag_of(body), headers, last_modified_ms, level=STATIC_LEVEL)
    if view.compresses:
        view.encoded(GZIP)
    return view


_CONDITIONALS = (b"accept-encoding", b"if-none-match", b"if-modified-since")


class Prepared(Response):
    """A response whose header block was made before (``Rendered.header_block``)."""

    def __init__(self, status_code: int, body: bytes, raw_headers: RawHeaders) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def _conditionals(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """``Accept-Encoding``, ``If-None-Match`` and ``If-Modified-Since`` in one pass over the
    request's headers (the first of each, as ``Request.headers.get`` gives)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _CONDITIONALS and name not in found:
            found[name] = value.decode("latin-1")
    accept, none_match, modified_since = _CONDITIONALS
    return found.get(accept), found.get(none_match), found.get(modified_since)


def respond(request: Request, view: Rendered) -> Response:
    """``view`` with ETag (and Last-Modified), or 304 when the client's copy is current;
    gzipped (``Content-Encoding``, its own ETag) when the request accepts it (``negotiate``).
    A last change less than a second old makes no Last-Modified: HTTP dates count whole
    seconds, so another change within the same second would look unmodified to a client
    asking If-Modified-Since (RFC 9110 8.8.2.2 calls such a date a weak validator). The
    header block of each kind of response is made once per view (``Rendered.header_block``).
    """
    last_modified_ms = view.last_modified_ms
    if last_modified_ms and now_ms() - last_modified_ms < 1000:
        last_modified_ms = None
    accept, if_none_match, if_modified_since = _conditionals(request.scope)
    coding = negotiate(accept, view)
    body, etag = view.body, view.etag
    if coding is not None:
        copy = view.encoded(coding)
        body, etag = copy.body, copy.etag
    if if_none_match is not None:
        # Against the copy this request would get: each coding has its own validator.
        fresh = _etag_matches(if_none_match, etag)  # If-None-Match wins when both are sent
    elif if_modified_since is not None and last_modified_ms:
        fresh = _not_modified_since(if_modified_since, last_modified_ms)
    else:
        fresh = False
    block = view.header_block(coding, last_modified_ms is not None, fresh)
    return Prepared(304 if fresh else 200, b"" if fresh else body, block)
