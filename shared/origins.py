"""Browser origins: the one rule by which every service compares an ``Origin`` header with its
allowlist (the feed's CORS and ``frame-ancestors``, its push-subscription API, the push
service's WebSocket and SSE) and by which the settings check ``LIVEFEED_ALLOWED_ORIGINS`` and
``LIVEFEED_EMBED_ORIGINS``.

An origin is ``scheme://host[:port]`` (RFC 6454): compared in its normalised form, the scheme
and host lower-cased, the scheme's default port dropped, one trailing ``/`` ignored (browsers
never send it; people write it in settings). Nothing else is an origin: no path, query,
user or wildcard. ``null`` (sandboxed frames, ``file:``, some redirects) is refused: it names
no site, so it never matches.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?/?$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
RULE = "an origin like https://www.example.com (scheme, host and port only: no path, no '*')"


def normalize_origin(value: str) -> str | None:
    """``value`` as the origin it names (``HTTPS://Site.Example:443/`` →
    ``https://site.example``), or None when it is not an http(s) origin (``null`` included)."""
    match = _ORIGIN.match(value.strip())
    if match is None:
        return None
    scheme, host = match["scheme"].lower(), match["host"].lower()
    if host.startswith(".") or host.endswith(".") or ".." in host:
        return None
    port = match["port"]
    if port is not None:
        number = int(port)
        if not 0 < number < 65536:
            return None
        if number != _DEFAULT_PORTS[scheme]:
            return f"{scheme}://{host}:{number}"
    return f"{scheme}://{host}"


def origin_of(url: str) -> str | None:
    """The origin of an http(s) URL (``https://live.example/news/`` → ``https://live.example``)."""
    parts = urlsplit(url.strip())
    return normalize_origin(f"{parts.scheme}://{parts.netloc}") if parts.netloc else None


def origin_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """Whether an ``Origin`` header names one of ``allowed`` (normalised origins, as
    ``normalize_origin`` makes them). A missing header is not allowed here: callers that let
    non-browser clients in without one say so themselves."""
    if header is None:
        return False
    origin = normalize_origin(header)
    return origin is not None and origin in allowed


def normalize_all(values: list[str]) -> frozenset[str]:
    """Configured origins, normalised; ValueError naming the first that is not an origin."""
    out = set()
    for value in values:
        origin = normalize_origin(value)
        if origin is None:
            raise ValueError(f"{value!r} is not {RULE}")
        out.add(origin)
    return frozenset(out)


# Why a stream was refused to a browser on a site not allowed (push and, behind GRIP, feed).
STREAM_ORIGIN_REFUSED = "this origin may not open the stream"
