"""``LIVEFEED_SECTION_NAMES``: ``slug=Name`` pairs, names plain text of at most 60 characters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.headings import column_heading
from shared.settings import Settings


def test_pairs_name_sections_and_the_title_falls_back_to_news() -> None:
    settings = Settings(section_names=" news = News , world=World & Europe,")
    assert settings.section_names == {"news": "News", "world": "World & Europe"}
    names = settings.section_names
    assert column_heading(None, "world", names) == "World & Europe"
    assert column_heading(None, "sport", names) == "News"
    assert column_heading(None, None, names) == "News"
    assert column_heading("Kyiv live", "world", names) == "Kyiv live"
    assert Settings().section_names == {}


@pytest.mark.parametrize(
    "bad",
    ["news", "news=", "=News", "News=News", "news=" + "x" * 61, "news=a\tb", "news=A,news=B"],
)
def test_anything_else_is_refused_naming_the_setting_and_the_pair(bad: str) -> None:
    with pytest.raises(ValidationError, match="section_names") as error:
        Settings(section_names=bad)
    assert "slug=Name" in str(error.value) or "named twice" in str(error.value)
