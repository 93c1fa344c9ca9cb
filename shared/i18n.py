"""The interface's languages: gettext catalogs (Babel), CLDR plurals and text direction.

Catalogs live in ``shared/locale/<lang>/LC_MESSAGES/livefeed.po`` (English is the source
language: its catalog is the identity). ``make messages`` extracts the strings the code marks
into ``shared/locale/livefeed.pot``, updates every catalog from it and compiles each to a
``.mo`` next to it. A checkout that never ran it still works: a catalog whose ``.mo`` is missing
or older than its ``.po`` is compiled in memory from the ``.po`` (Babel's ``read_po``), once per
process.

Editions: any language tag may be an article's ``language`` and a ``?lang=`` filter (its
primary subtag, lowercased: ``uk-UA`` is in the ``uk`` edition); the interface speaks the
edition's language when it has a catalog (``SUPPORTED``) and English otherwise.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DOMAIN = "livefeed"
LOCALE_DIR = Path(__file__).with_name("locale")
SOURCE = "en"  # the language the code's strings are written in
SUPPORTED = ("en", "uk", "ar")  # languages with a complete catalog


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, don't translate"
    """Mark ``message`` for extraction where it is translated later (``gettext(lang, ...)``)."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - as N_
    """Mark a plural message for extraction (``ngettext(lang, singular, plural, n)`` later)."""
    return singular, plural


def edition(tag: str) -> str:
    """The edition of a language tag: its primary subtag, lowercased (``uk-UA`` → ``uk``)."""
    return tag.split("-", 1)[0].lower()


def interface(lang: str) -> str:
    """The language the interface speaks for edition ``lang``: itself if it has a catalog, else
    English."""
    code = edition(lang)
    return code if code in SUPPORTED else SOURCE


def negotiate(lang: str | None, default: str) -> str:
    """The interface language of a view asked with ``?lang=`` (already checked, or None for the
    unfiltered view, which speaks ``default``: LIVEFEED_LANGUAGE)."""
    return interface(lang or default)


def _catalog_bytes(po: Path) -> bytes:
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalog of ``lang``'s interface language (``interface``): the compiled ``.mo`` when
    it is current, else the ``.po`` compiled in memory; English: the identity."""
    code = interface(lang)
    if code == SOURCE:
        return _gettext.NullTranslations()
    folder = LOCALE_DIR / code / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        data = mo.read_bytes()
    else:
        data = _catalog_bytes(po)
    return Translations(io.BytesIO(data), domain=DOMAIN)


def gettext(lang: str, message: str) -> str:
    """``message`` in ``lang``'s interface language."""
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` for ``n`` in ``lang``'s interface language (its
    catalog's plural rule: CLDR's integer categories), with ``{count}`` filled in."""
    return translations(lang).ngettext(singular, plural, n).format(count=n)


def intl_locale(lang: str) -> str:
    """The tag the browser's ``Intl`` formats ``lang``'s numbers and plural rules with: the
    interface language with Latin digits (``-u-nu-latn``), as Babel writes them on the server
    (Arabic's ``Intl`` default would be Arabic-Indic digits). The layout of dates is not the
    locale's: it is the catalog's pattern (``formats``), the same one Babel formats with."""
    return f"{interface(lang)}-u-nu-latn"


def direction(lang: str) -> str:
    """``rtl`` or ``ltr``: the direction of ``lang``'s interface language (CLDR)."""
    order = Locale.parse(interface(lang)).character_order
    return "rtl" if order == "right-to-left" else "ltr"


@functools.cache
def plural_samples(lang: str) -> dict[str, int | None]:
    """One whole number per CLDR plural category of ``lang`` (None: no whole number falls in
    it, as Ukrainian's ``other``, which only fractions take)."""
    rule = Locale.parse(interface(lang)).plural_form
    samples: dict[str, int | None] = dict.fromkeys(sorted(rule.tags | {"other"}))
    for n in range(1000):
        category = rule(n)
        if samples.get(category) is None:
            samples[category] = n
    return samples


def plural_forms(lang: str, singular: str, plural: str) -> dict[str, str]:
    """``{category: text}`` for every CLDR category of ``lang`` (``{count}`` left in place for
    the client): each filled from the catalog with a sample number of that category. A category
    no whole number takes (Ukrainian ``other``) gets the ``many`` form."""
    tr = translations(lang)
    samples = plural_samples(lang)
    forms: dict[str, str] = {}
    for category, sample in samples.items():
        if sample is None:
            sample = samples.get("many") or 5
        forms[category] = tr.ngettext(singular, plural, sample)
    return forms


@functools.cache
def _client_messages(lang: str) -> dict[str, Any]:
    from shared.client_strings import FORMATS, MESSAGES, PLURALS
    from shared.models import LABEL_DISPLAY

    code = interface(lang)
    return {
        "lang": code,
        "dir": direction(code),
        "locale": intl_locale(code),
        "messages": {message: gettext(code, message) for message in MESSAGES},
        "plurals": {one: plural_forms(code, one, many) for one, many in PLURALS},
        "formats": {name: gettext(code, pattern) for name, pattern in FORMATS.items()},
        "labels": {label: gettext(code, name) for label, name in LABEL_DISPLAY.items()},
    }


def client_messages(lang: str) -> dict[str, Any]:
    """What the browser client (static/core.js ``Words``) needs to speak ``lang``: ``{"lang",
    "dir", "locale": the Intl tag, "messages": {msgid: text}, "plurals": {singular msgid: {CLDR
    category: text with {count}}}, "formats": {name: CLDR date pattern}, "labels": {label:
    display name}}`` (a fresh copy: the caller may change it). The server renders it into each
    column's shadow root (``<script type="application/json" data-lf-messages>``)."""
    blob = _client_messages(lang)
    return {
        **blob,
        "messages": dict(blob["messages"]),
        "plurals": {k: dict(v) for k, v in blob["plurals"].items()},
        "formats": dict(blob["formats"]),
        "labels": dict(blob["labels"]),
    }
