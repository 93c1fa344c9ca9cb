"""Titles, summaries, tags and bylines are sanitised by ``plain_text``; its shortcut for text that
needs no HTML parse must give exactly what the full nh3 path gives, for any text at all.
"""

from __future__ import annotations

import html
import re
import unicodedata

import nh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models import has_space_or_control, plain_text

_SPACE = re.compile(r"\s+")


def full_path(value: str) -> str:
    """The sanitiser without any shortcut: nh3, entity decoding, control characters, spaces."""
    decoded = html.unescape(nh3.clean(value, tags=set(), attributes={}))
    kept = []
    for ch in decoded:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category[0] == "C" else ch)
    return _SPACE.sub(" ", "".join(kept)).strip()


# Characters the HTML parser or the control-character step treat specially, mixed into any
# Unicode text (surrogates included: nh3 refuses them, and so must plain_text).
_TRICKY = (
    "<>&;\"'\x00\r\n\t\x0b\x0c\x1f\x7f\x85\xa0\u00ad\u200b\u200e\u202e\u2028\u2029\u3000"
    "\ufeff\ufffe\ufffd\ud800\udfff"
)
_FRAGMENTS = ["&amp;", "&lt;", "&gt", "&#60;", "&#x3c;", "&nbsp;", "<b>", "</b>", "<script>"]
TEXT = st.lists(
    st.text(
        alphabet=st.sampled_from(_TRICKY) | st.characters(codec=None, exclude_categories=()),
        max_size=20,
    )
    | st.sampled_from(_FRAGMENTS),
    max_size=6,
).map("".join)


def _outcome(value: str) -> tuple[str, str]:
    try:
        return ("ok", full_path(value))
    except UnicodeEncodeError:
        return ("error", "UnicodeEncodeError")


def _shortcut_outcome(value: str) -> tuple[str, str]:
    try:
        return ("ok", plain_text(value))
    except UnicodeEncodeError:
        return ("error", "UnicodeEncodeError")


@settings(max_examples=3000, deadline=None)
@given(value=TEXT)
def test_plain_text_equals_the_full_nh3_path_for_any_text(value: str) -> None:
    assert _shortcut_outcome(value) == _outcome(value)


@pytest.mark.parametrize(
    "value",
    [
        "Kyiv hosts summit",
        "Prices > wages, again",  # nh3 escapes '>', unescape restores it
        "Kyiv\xa0hosts",  # nbsp: escaped and restored
        "line\r\nbreak\rhere",  # CR becomes LF in the parser; both fold to one space
        "\ufeffBOM first",  # the parser drops a leading BOM; the Cf step drops any
        "null\x00inside",  # the parser drops NUL: must take the full path
        "bidi \u202eoverride\u202c and zero\u200bwidth",
        "  spaced   out  ",
        "<b>bold</b> &amp; <script>alert(1)</script>",
        "&lt;b&gt; is text",
    ],
)
def test_plain_text_examples_match_the_full_path(value: str) -> None:
    assert plain_text(value) == full_path(value)


def _space_or_control_per_character(value: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in value)


def test_url_space_and_control_check_equals_the_per_character_one() -> None:
    # Both sides ask "does any character have the property": agreeing on every code point
    # means agreeing on every string.
    for code in range(0x110000):
        ch = chr(code)
        assert has_space_or_control(ch) == _space_or_control_per_character(ch), hex(code)
    assert has_space_or_control("https://example.org/a b")
    assert not has_space_or_control("https://example.org/\u00e9t\u00e9")
