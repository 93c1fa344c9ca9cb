"""The surrogate keys' one definition: small whatever the ids, bounded whatever the view, and
every view stays purgeable by what a change to one of its articles stales."""

from __future__ import annotations

import pytest

from shared.edgekeys import MAX_KEYS_CHARS, article_key, stale, view_keys
from shared.models import MAX_ID_CHARS
from tests.helpers import key_of


def test_an_article_key_is_short_and_stable_whatever_the_id() -> None:
    long_id = "urn:newsml:news.example:2024-10-24:".ljust(MAX_ID_CHARS, "x")
    for article_id in ("a", "espreso:2024-10-24:1854", long_id):
        assert article_key(article_id) == key_of(article_id)
        assert len(article_key(article_id)) == len("article:") + 12
    assert article_key("a") != article_key("b")


@pytest.mark.parametrize(
    ("section", "label", "coarse"),
    [
        (None, None, ["timeline"]),
        ("world", None, ["section:world"]),
        (None, "exclusive", ["label:exclusive"]),
        ("world", "exclusive", ["section:world", "label:exclusive"]),
    ],
)
def test_a_view_too_big_to_name_keeps_the_keys_every_change_purges(
    section: str | None, label: str | None, coarse: list[str]
) -> None:
    ids = [f"item-{n}" for n in range(1000)]
    keys = view_keys(ids, section, label)
    assert keys == coarse
    # Any change to an article in that view (it is in the view's section and label) stales one
    # of the keys the view still carries.
    for article_id in ids[:3]:
        assert stale(article_id, {section or "sport"}, {label or "breaking"}) & set(keys)
    # Up to the bound, each headline is named too.
    named = view_keys(ids[:200], section, label)
    assert named == coarse + [article_key(i) for i in ids[:200]]
    assert len(" ".join(named)) <= MAX_KEYS_CHARS
