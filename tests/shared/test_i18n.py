"""The catalogs: current with the code, complete in every language, plurals per CLDR; dates
through CLDR with English exactly as the seed page writes them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from shared.dates import day_label, full_date, local_time
from shared.i18n import SOURCE, SUPPORTED, client_messages, direction, ngettext
from shared.messages import TEMPLATE, catalog_path, extract

PLACEHOLDER = re.compile(r"\{[a-z]+\}")
KYIV = ZoneInfo("Europe/Kyiv")


def _ids(catalog: object) -> set[object]:
    return {m.id for m in catalog if m.id}  # type: ignore[attr-defined]


def test_the_template_is_current_with_the_code() -> None:
    with TEMPLATE.open("rb") as handle:
        template = read_po(handle)
    assert _ids(template) == _ids(extract()), "run `make messages`"


@pytest.mark.parametrize("lang", [lang for lang in SUPPORTED if lang != SOURCE])
def test_every_catalog_translates_every_string_the_code_uses(lang: str) -> None:
    with catalog_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    nplurals = catalog.num_plurals
    for message in extract():
        if not message.id:
            continue
        entry = catalog.get(message.id)
        assert entry is not None, f"{lang}: {message.id!r} missing (run `make messages`)"
        assert not entry.fuzzy, f"{lang}: {message.id!r} is fuzzy"
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if isinstance(message.id, tuple):
            assert len(forms) == nplurals, f"{lang}: {message.id!r} needs {nplurals} forms"
        assert all(forms), f"{lang}: {message.id!r} untranslated"
        source = message.id[0] if isinstance(message.id, tuple) else message.id
        wanted = set(PLACEHOLDER.findall(source)) - {"{count}"}
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) >= wanted, f"{lang}: {form!r} lost {wanted}"


def test_ukrainian_plurals_take_cldr_forms() -> None:
    one, many = "{count} new headline", "{count} new headlines"
    assert [ngettext("uk", one, many, n) for n in (1, 2, 5, 21, 11, 22)] == [
        "1 новий заголовок",
        "2 нові заголовки",
        "5 нових заголовків",
        "21 новий заголовок",
        "11 нових заголовків",
        "22 нові заголовки",
    ]
    blob = client_messages("uk")
    assert blob["plurals"][one] == {
        "one": "{count} новий заголовок",
        "few": "{count} нові заголовки",
        "many": "{count} нових заголовків",
        "other": "{count} нових заголовків",
    }
    assert (blob["lang"], blob["dir"], blob["messages"]["More news"]) == (
        "uk",
        "ltr",
        "Більше новин",
    )
    assert blob["messages"]["OPINION"] == "ДУМКА"


def test_arabic_has_six_forms_and_reads_right_to_left() -> None:
    blob = client_messages("ar")
    assert blob["dir"] == "rtl"
    assert direction("ar") == "rtl"
    assert set(blob["plurals"]["{count} new headline"]) == {
        "zero", "one", "two", "few", "many", "other"
    }  # fmt: skip
    assert blob["plurals"]["{count} new headline"]["two"] == "عنوانان جديدان"


def test_a_language_without_a_catalog_speaks_english() -> None:
    blob = client_messages("de")
    assert (blob["lang"], blob["messages"]["More news"]) == ("en", "More news")


def test_english_dates_stay_exactly_as_the_seed_page_writes_them() -> None:
    assert day_label(datetime(2024, 10, 24, 16, 55, tzinfo=KYIV)) == "2024, Thursday 24 October"
    assert day_label(datetime(2024, 11, 1, 9, 5, tzinfo=KYIV)) == "2024, Friday 1 November"
    assert local_time(datetime(2024, 11, 1, 9, 5, tzinfo=KYIV)) == "09:05"
    assert full_date(datetime(2024, 10, 24, 19, 31, tzinfo=KYIV)) == (
        "Thursday 24 October 2024, 19:31"
    )


def test_ukrainian_and_arabic_dates_are_cldrs() -> None:
    moment = datetime(2024, 10, 24, 16, 55, tzinfo=KYIV)
    assert day_label(moment, "uk") == "2024, четвер 24 жовтня"
    assert full_date(moment, "uk") == "четвер, 24 жовтня 2024, 16:55"
    assert day_label(moment, "ar") == "2024، الخميس 24 أكتوبر"
    assert local_time(moment, "ar") == "16:55"  # CLDR's default for ar: Latin digits


CLIENT_CALL = re.compile(
    r"""words\.(t|n)\(\s*(?:([a-z]+) \? )?"((?:[^"\\]|\\.)*)"(?:\s*:\s*"((?:[^"\\]|\\.)*)")?"""
)


def test_every_string_the_client_asks_for_is_in_the_blob_in_every_language() -> None:
    """column.js looks its words up by their English msgid: each must be in the one list
    (shared/client_strings.py), hence extracted and translated, or the reader sees English."""
    from services.feed.column import MODULE_FILES
    from shared.client_strings import MESSAGES, PLURALS

    static = Path(__file__).resolve().parents[2] / "services" / "feed" / "static"
    lines = "\n".join((static / name).read_text() for name in MODULE_FILES)
    comment = ("//", "/*", "*")
    source = "\n".join(ln for ln in lines.splitlines() if not ln.strip().startswith(comment))
    asked: dict[str, set[str]] = {"t": set(), "n": set()}
    for kind, _, first, second in CLIENT_CALL.findall(source):
        asked[kind].update(s for s in (first, second) if s)
    # the strings chosen by a condition before the call (noteNew's announcements)
    for chosen in re.findall(r'"(\{count\} new headline[^"]*)"', source):
        asked["n"].add(chosen)
    assert asked["t"]
    assert asked["n"]
    assert asked["t"] <= set(MESSAGES), asked["t"] - set(MESSAGES)
    assert asked["n"] <= {one for one, _ in PLURALS}, asked["n"] - {one for one, _ in PLURALS}
    for lang in SUPPORTED:
        blob = client_messages(lang)
        assert set(blob["messages"]) >= asked["t"]
        assert set(blob["plurals"]) >= asked["n"]
        assert set(blob["formats"]) == {"day_heading", "day_date", "time", "full"}
        assert blob["locale"].startswith(lang)
        assert blob["labels"]["opinion"]
