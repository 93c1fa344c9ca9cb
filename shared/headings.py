"""A column's title: the one rule by which the live page, the fragment, the iframe page and the
element (which shows the fragment's markup) name a column, and by which the settings check
``LIVEFEED_SECTION_NAMES``.

The title is the ``heading`` given (``<livefeed-column heading>``, ``?heading=``), else the
display name of the column's ``section`` from ``LIVEFEED_SECTION_NAMES``, else "News". It is
plain text (the renderers escape it), 1 to ``MAX_HEADING_CHARS`` characters, with no control
or format characters and no white space other than the ASCII space.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.i18n import N_, gettext
from shared.models import is_slug

DEFAULT_HEADING = N_("News")
MAX_HEADING_CHARS = 60
HEADING_RULE = (
    f"plain text of 1 to {MAX_HEADING_CHARS} characters "
    "(no control characters, tabs or line breaks)"
)


def is_heading(value: str) -> bool:
    """Whether ``value`` may be a column's title (``HEADING_RULE``)."""
    return 0 < len(value) <= MAX_HEADING_CHARS and value.isprintable() and value == value.strip()


def parse_section_names(value: str) -> dict[str, str]:
    """``news=News,world=World`` as ``{"news": "News", "world": "World"}``; ValueError naming
    the first pair that is not ``slug=Name`` (a section slug, a name per ``HEADING_RULE``)."""
    names: dict[str, str] = {}
    for raw in value.split(","):
        pair = raw.strip()
        if not pair:
            continue
        slug, sep, name = (part.strip() for part in pair.partition("="))
        if not sep or not is_slug(slug) or not is_heading(name):
            raise ValueError(
                f"{pair[:80]!r} is not slug=Name (a section slug, then its name as "
                f"{HEADING_RULE}), as in news=News,world=World"
            )
        if slug in names:
            raise ValueError(f"section {slug!r} is named twice")
        names[slug] = name
    return names


def column_heading(
    heading: str | None, section: str | None, names: Mapping[str, str], lang: str = "en"
) -> str:
    """The column's title: ``heading``, else the section's display name, else "News" (in
    ``lang``: "Новини")."""
    if heading:
        return heading
    if section and section in names:
        return names[section]
    return gettext(lang, DEFAULT_HEADING)
