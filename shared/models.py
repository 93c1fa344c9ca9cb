"""The article as newsrooms post it, the headline as readers receive it, and the rules (ids,
labels, section slugs, limits, how labels are shown) every service checks and shows them by."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import nh3
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
)

from shared.dates import day_key, local_time, to_ms
from shared.i18n import N_, edition, gettext

# -- The rules for ids, labels, section slugs and language tags -------------------------------
# Defined here only: the model checks posted articles with them, and the services check path ids
# and query parameters (feed ``section``/``label``, push ``section``/``label``) with the same ones.
# Whole-string matches: a trailing newline never passes.

ID_CHARS = "A-Za-z0-9._:/-"  # a regex character class body
MAX_ID_CHARS = 200
ID_PATTERN = rf"^[{ID_CHARS}]{{1,{MAX_ID_CHARS}}}$"  # also the JSON Schema (OpenAPI) pattern
ID_RULE = f"1-{MAX_ID_CHARS} chars of A-Z a-z 0-9 . _ : / -"
MAX_LABELS = 8
MAX_LABEL_CHARS = 32
LABEL_RULE = f"1-{MAX_LABEL_CHARS} letters, digits or '-'"
MAX_SLUG_CHARS = 64
SLUG_RULE = f"a slug: 1-{MAX_SLUG_CHARS} lowercase letters, digits and single '-'"
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_SUMMARY_CHARS = 2000
MAX_CORRECTION_CHARS = 500  # one correction note, plain text
MAX_RAW_TEXT_CHARS = 20_000  # a text field as sent, before markup and controls are stripped
MAX_CORRECTIONS = 10  # notes kept on an item, newest last
KEY_LABEL = "key"  # the label that marks key events

_ID = re.compile(ID_PATTERN)
_LABEL = re.compile(rf"[A-Za-z0-9-]{{1,{MAX_LABEL_CHARS}}}")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_SPACE = re.compile(r"\s+")
MAX_SAFE_INT = 2**53 - 1  # versions travel through Lua numbers (doubles)


def is_article_id(value: str) -> bool:
    """``A-Z a-z 0-9 . _ : / -``, 1-200 characters: the newsroom's stable id."""
    return _ID.fullmatch(value) is not None


def is_label(value: str) -> bool:
    """1-32 letters, digits or '-' (any case: labels are stored lowercase)."""
    return _LABEL.fullmatch(value) is not None


def is_slug(value: str) -> bool:
    """A section slug: 1-64 lowercase letters and digits in runs joined by single '-'."""
    return len(value) <= MAX_SLUG_CHARS and _SLUG.fullmatch(value) is not None


LANGUAGE_RULE = "a language tag such as 'en' or 'uk-UA'"


def is_language(value: str) -> bool:
    """A language tag such as ``en`` or ``uk-UA``."""
    return _LANGUAGE.fullmatch(value) is not None


# How labels (stored lowercase) are shown: the seed page writes these this way, and any other
# label is shown capitalised. The names are translated by the catalogs (shared/i18n.py); the
# client gets them with its other strings (shared/client_strings.py).
LABEL_DISPLAY = {
    "exclusive": N_("Exclusive"),
    "opinion": N_("OPINION"),
    "updated": N_("Updated"),
    "review": N_("Review"),
    "breaking": N_("Breaking"),
    "key": N_("Key event"),
    "pinned": N_("Pinned"),
}


def display_label(label: str, lang: str = "en") -> str:
    """``opinion`` → ``OPINION`` (``ДУМКА`` in ``uk``), ``live-blog`` → ``Live-blog``."""
    if label in LABEL_DISPLAY:
        return gettext(lang, LABEL_DISPLAY[label])
    return label[:1].upper() + label[1:]


def section_filter(value: str | None) -> str | None:
    """A ``section`` query parameter: None when absent or empty; ValueError unless a slug."""
    if not value:
        return None
    if not is_slug(value):
        raise ValueError(f"must be {SLUG_RULE}")
    return value


def label_filter(value: str | None) -> str | None:
    """A ``label`` query parameter, lowercased as labels are stored: None when absent or empty."""
    if not value:
        return None
    if not is_label(value):
        raise ValueError(f"must be {LABEL_RULE}")
    return value.lower()


def lang_filter(value: str | None) -> str | None:
    """A ``lang`` query parameter as its edition (``shared.i18n.edition``: ``uk-UA`` → ``uk``):
    None when absent or empty; ValueError unless a language tag."""
    if not value:
        return None
    if not is_language(value):
        raise ValueError(f"must be {LANGUAGE_RULE}")
    return edition(value)


def article_edition(language: str | None, default: str) -> str:
    """The edition an article is in: its ``language``'s, else ``default`` (LIVEFEED_LANGUAGE)."""
    return edition(language or default)


# Text without these needs no HTML parse: nh3 returns it unchanged but for escaping '>' and
# U+00A0 (which html.unescape undoes), turning CR into LF and dropping a leading BOM (both
# undone or done anyway by the control-character step below). NUL is dropped by the parser and
# a lone surrogate makes nh3 raise, so both take the full path. tests/shared/test_plain_text.py
# checks the shortcut against the full path with hypothesis.
_NEEDS_PARSE = re.compile(r"[<&\x00\ud800-\udfff]")


def short_plain_text(raw: object, max_chars: int) -> str | None:
    """A sent note (a retraction's reason, a returned draft's note) as plain text of 1 to
    ``max_chars`` characters, or None: not a string, over ``MAX_RAW_TEXT_CHARS`` as sent, or
    empty or too long once markup is stripped."""
    if not isinstance(raw, str) or len(raw) > MAX_RAW_TEXT_CHARS:
        return None
    text = plain_text(raw)
    return text if 0 < len(text) <= max_chars else None


def plain_text(value: str) -> str:
    """Markup stripped, entities decoded, invisible and control characters dropped, spaces folded.

    Titles are only ever plain text: what is left can be shown with ``textContent`` and never
    runs, and bidi overrides cannot reorder the rest of the page.
    """
    if _NEEDS_PARSE.search(value) is None:
        decoded = value  # the same as the full path's answer (see _NEEDS_PARSE): 5x cheaper
    else:
        decoded = html.unescape(nh3.clean(value, tags=set(), attributes={}))
    # isprintable() is False for every "C*" (and non-space "Z*") character: without one, the
    # loop below would keep each character as it is, and the only white space is " ".
    if decoded.isprintable():
        return (decoded if "  " not in decoded else _SPACE.sub(" ", decoded)).strip()
    kept = []
    for ch in decoded:
        category = unicodedata.category(ch)
        if category == "Cf":  # bidi overrides, zero-width characters: dropped
            continue
        kept.append(" " if category[0] == "C" else ch)  # control characters: a space
    return _SPACE.sub(" ", "".join(kept)).strip()


def _require_string(value: object) -> object:
    """Dates must be RFC 3339 strings: numbers are not silently taken as Unix time."""
    if not isinstance(value, str) and not isinstance(value, datetime):
        raise ValueError("must be an RFC 3339 date-time string with an offset")
    return value


def has_space_or_control(value: str) -> bool:
    """Whether any character is white space or of a "C*" (control, format...) category."""
    # isprintable() is False exactly when some character is "C*" or "Z*" other than the ASCII
    # space, and every "Z*" character is white space: a C-speed test for the per-character one.
    return not value.isprintable() or " " in value


def _http_url(value: str) -> str:
    value = value.strip()
    if len(value) > 2048:
        raise ValueError("must be at most 2048 characters")
    if has_space_or_control(value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an absolute http or https URL")
    return value


def _labels(values: list[str]) -> list[str]:
    seen: list[str] = []
    for raw in values:
        if not is_label(raw):
            raise ValueError(f"label {raw[:40]!r} must be {LABEL_RULE}")
        name = raw.lower()
        if name not in seen:
            seen.append(name)
    return seen


def section_slug(value: str) -> str:
    """An article's (or a summary's) ``section`` as stored: trimmed, lowercased, a slug."""
    value = value.strip().lower()
    if not is_slug(value):
        raise ValueError(f"must be {SLUG_RULE}")
    return value


def _language(value: str) -> str:
    if not is_language(value):
        raise ValueError(f"must be {LANGUAGE_RULE}")
    return value


# Validation context flag: the item was normalized by ingest already. Stripping markup is not
# idempotent ("&lt;b&gt;" decodes to the text "<b>", which a second pass would strip), so the
# worker checks such items without normalizing them again. True: every field; a frozenset of
# field names: those fields only (a PATCH: the stored fields it keeps, not the patched ones).
NORMALIZED = "normalized"


def _plain(limit: int) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        flag = info.context.get(NORMALIZED) if info.context else None
        trusted = flag is True or (isinstance(flag, frozenset) and info.field_name in flag)
        text = value if trusted else plain_text(value)
        if not text:
            raise ValueError("must not be empty once markup and spaces are removed")
        if len(text) > limit:
            raise ValueError(f"must be at most {limit} characters of plain text")
        return text

    return AfterValidator(check)


# Every time must be shown in any newsroom zone (offsets reach +-26 h) and fit the cursor: a
# day's margin inside datetime's years 1-9999 keeps astimezone() from overflowing in the worker.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC)


def _representable(value: datetime) -> datetime:
    try:
        ok = EARLIEST <= value <= LATEST
    except OverflowError:  # an offset that pushes the instant past year 1 or 9999
        ok = False
    if not ok:
        raise ValueError("must be between 0001-01-02 and 9999-12-30 (UTC)")
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_require_string), AfterValidator(_representable)
]
MAX_TITLE_CHARS = 300  # a title's characters once plain text (the desk counts them live)
Title = Annotated[str, Field(max_length=MAX_RAW_TEXT_CHARS), _plain(MAX_TITLE_CHARS)]


class Article(BaseModel):
    """One article as a newsroom posts it (native JSON). Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", str_max_length=100_000)

    id: Annotated[str, Field(pattern=ID_PATTERN, description="The newsroom's stable id.")]
    title: Title
    published_at: Timestamp
    version: Annotated[StrictInt, Field(ge=1, le=MAX_SAFE_INT)] | None = None
    updated_at: Timestamp | None = None
    url: Annotated[str, AfterValidator(_http_url)] | None = None
    labels: Annotated[list[str], Field(max_length=MAX_LABELS), AfterValidator(_labels)] = Field(
        default_factory=list
    )
    section: Annotated[str, AfterValidator(section_slug)] | None = None
    tags: Annotated[list[Annotated[str, _plain(MAX_TAG_CHARS)]], Field(max_length=MAX_TAGS)] = (
        Field(default_factory=list)
    )
    summary: Annotated[str, Field(max_length=50_000), _plain(MAX_SUMMARY_CHARS)] | None = None
    byline: Annotated[str, _plain(200)] | None = None
    language: Annotated[str, AfterValidator(_language)] | None = None
    urgency: Annotated[StrictInt, Field(ge=1, le=9)] | None = None
    embargoed_until: Timestamp | None = None
    correction: (
        Annotated[
            str,
            Field(max_length=MAX_RAW_TEXT_CHARS, description="A correction note, kept and shown."),
            _plain(MAX_CORRECTION_CHARS),
        ]
        | None
    ) = None
    pinned: Annotated[
        bool | None,
        Field(
            strict=True,
            description="true pins the article in its section, false unpins it; absent: as is.",
        ),
    ] = None
    status: Annotated[
        Literal["draft", "published"] | None,
        Field(
            description="draft: kept as a draft, shown nowhere until an editor publishes it "
            "(POST /v1/articles/{id}/publish); published (or absent): as usual. A "
            "contributor's write is always a draft.",
        ),
    ] = None

    @property
    def breaking(self) -> bool:
        """ninjs urgency 1-2 means breaking news."""
        return self.urgency is not None and self.urgency <= 2

    def rank(self) -> tuple[int, int]:
        """What decides which of two writes of one article is newer: version, then time."""
        moment = self.updated_at or self.published_at
        return (self.version or 0, to_ms(moment))

    def headline(self, zone: ZoneInfo) -> dict[str, Any]:
        """The public form readers receive, with local time and day in the newsroom's zone."""
        published = self.published_at.astimezone(zone)
        labels = list(self.labels)
        if self.breaking and "breaking" not in labels:
            labels.insert(0, "breaking")
        doc: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "published_at": published.isoformat(),
            "updated_at": self.updated_at.astimezone(zone).isoformat() if self.updated_at else None,
            "date": day_key(published),
            "time": local_time(published),
            "labels": labels,
            "section": self.section,
            "tags": self.tags,
            "summary": self.summary,
            "byline": self.byline,
            "language": self.language,
            "urgency": self.urgency,
            "breaking": self.breaking,
            "version": self.version,
        }
        return doc
