"""``LIVEFEED_EMBED_ORIGINS``: exact origins, added to the push service's Origin allowlist."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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
