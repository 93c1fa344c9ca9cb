"""gzip for the feed's text responses, made once per body and kept beside it.

Every text body the feed sends (the views of the view cache, the embed module, the static files,
the service worker) is a ``Rendered``: the compressed copy is made the first time a client that
accepts gzip asks for it, kept with the plain bytes, and sent as it is to every later one (a
view's copy lives as long as its cache entry and counts against ``LIVEFEED_VIEW_CACHE_BYTES``).
Nothing is compressed per request (starlette's ``GZipMiddleware`` would, for every response).

- Negotiation reads ``Accept-Encoding`` with its q-values (RFC 9110 12.5.3): ``gzip`` (or
  ``x-gzip``, or ``*``) with a weight above 0, and no higher weight for ``identity``. No header
  at all gets the plain bytes: clients that decode gzip say so.
- Every response that could be compressed says ``Vary: Accept-Encoding``, compressed or not, so
  that no shared cache hands one client's encoding to another.
- The compressed copy has its own validator (the plain ETag with ``-gz`` inside the quotes):
  ``If-None-Match`` is compared with the copy the request would get.
- Bodies under ``MIN_BYTES`` are sent plain: the headers would cost more than gzip saves.

Only gzip: Varnish, the shipped edge cache (deploy/varnish/default.vcl), asks the feed for gzip
on every miss, keeps one gzip copy and decodes it for clients that take no gzip, so brotli would
never reach a reader there; and brotli's best level (25% fewer bytes than gzip on the live page)
takes 46 ms a page, too slow for a view rendered again at every change.
"""

from __future__ import annotations

import functools
import gzip
import re

GZIP = "gzip"
MIN_BYTES = 1024
# zlib's level for views, made on the request path once per state of the timeline (on the
# 43 KB live page: 0.3 ms; level 9 takes 0.4 ms for 1% fewer bytes); static files, made once
# per process, take 9.
VIEW_LEVEL = 6
STATIC_LEVEL = 9
VARY = "Accept-Encoding"
ETAG_SUFFIX = "-gz"

# Media types worth compressing: text, and the JSON and XML of the API and feeds.
_COMPRESSIBLE = re.compile(r"^(?:text/|application/(?:[\w.+-]*\+)?(?:json|xml)\b)", re.IGNORECASE)
# One element of Accept-Encoding: a coding, then parameters (only ``q`` means anything).
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")


def compressible(media_type: str) -> bool:
    """Whether a body of ``media_type`` shrinks with gzip (text, JSON, XML)."""
    return bool(_COMPRESSIBLE.match(media_type))


def accepted_weights(header: str) -> dict[str, float]:
    """``Accept-Encoding`` as coding → weight (lower case; a malformed weight counts as 0)."""
    weights: dict[str, float] = {}
    for element in header.split(","):
        coding, *params = (part.strip() for part in element.split(";"))
        if not coding:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _QVALUE.match(value) else 0.0
        coding = coding.lower()
        weights[coding] = max(weight, weights.get(coding, 0.0))
    return weights


def accepts_gzip(header: str | None) -> bool:
    """Whether a request with this ``Accept-Encoding`` gets gzip (RFC 9110 12.5.3)."""
    return header is not None and _accepts_gzip(header)


@functools.lru_cache(maxsize=256)  # browsers send a handful of values; any other costs a parse
def _accepts_gzip(header: str) -> bool:
    weights = accepted_weights(header)
    star = weights.get("*")
    gzip_weight = weights.get("gzip", weights.get("x-gzip", star))
    if not gzip_weight:
        return False
    # identity is acceptable unless refused; only a higher explicit weight prefers it.
    identity = weights.get("identity")
    return identity is None or gzip_weight >= identity


def gzip_bytes(body: bytes, level: int) -> bytes:
    """``body`` gzipped, the same bytes every time (no time stamp in the header)."""
    return gzip.compress(body, level, mtime=0)


def gzip_etag(etag: str) -> str:
    """The compressed copy's validator: ``"abc"`` → ``"abc-gz"``."""
    return etag[:-1] + ETAG_SUFFIX + '"'
