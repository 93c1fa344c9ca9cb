"""``LIVEFEED_EMBED_ORIGINS``: exact origins, added to the push service's Origin allowlist."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.origins import origin_allowed
from shared.settings import Settings


def test_embed_origins_join_the_push_allowlist_next_to_the_page_s_own() -> None:
    settings = Settings(embed_origins="https://www.example.com, https://M.example.com/")
    assert settings.embeds == {"https://www.example.com", "https://m.example.com"}
    assert settings.embeds <= settings.origins
    assert "http://127.0.0.1:8002" in settings.origins  # the live page still connects
    explicit = Settings(allowed_origins="https://live.example", embed_origins="https://a.example")
    assert explicit.origins == {"https://live.example", "https://a.example"}


@pytest.mark.parametrize(
    "bad", ["*", "https://*.example.com", "https://a.example/path", "a.example"]
)
def test_embed_origins_are_exact(bad: str) -> None:
    with pytest.raises(ValidationError):
        Settings(embed_origins=bad)


@pytest.mark.parametrize(
    "bad", ["null", "https://a.example/path", "ftp://a.example", "https://u@a.example", "*"]
)
def test_allowed_origins_are_exact_too(bad: str) -> None:
    with pytest.raises(ValidationError, match="allowed_origins"):
        Settings(allowed_origins=bad)


def test_origins_are_kept_as_browsers_send_them() -> None:
    """Scheme and host lower-cased, the default port and a trailing slash dropped: one form,
    the one ``shared.origins.origin_allowed`` compares a request's ``Origin`` with."""
    settings = Settings(
        allowed_origins="HTTPS://Live.Example:443/,http://live.example:8080",
        embed_origins="https://Site.Example/",
    )
    assert settings.origins == {
        "https://live.example",
        "http://live.example:8080",
        "https://site.example",
    }
    own = Settings(public_feed_url="https://Live.Example/news/", host="10.0.0.1")
    assert own.origins == {"https://live.example"}  # the page's origin, not its path
    for header in ("https://live.example", "HTTPS://LIVE.example/", "https://live.example:443"):
        assert origin_allowed(header, settings.origins), header
    for header in ("null", "https://live.example.evil", "https://live.example:8443", None):
        assert not origin_allowed(header, settings.origins), header
