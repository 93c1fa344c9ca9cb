"""The words the column's client shows (a stand-in: English only, until the catalogs land).

``client_messages(lang)`` is the blob the server renders into each column's shadow root
(``<script type="application/json" data-lf-messages>``); static/core.js (``Words``) reads it.
``CLIENT_STRINGS`` lists every msgid the client uses: a ``str`` is a message, a
``(singular, plural)`` pair a plural keyed by its singular, with ``{count}`` in each form.
"""

from __future__ import annotations

from typing import Any

from shared.models import LABEL_DISPLAY

CLIENT_STRINGS: list[str | tuple[str, str]] = [
    # connection states (.conn-text data-*) and their announcements
    "Connecting…",
    "Live",
    "Reconnecting…",
    "Offline",
    "Paused",
    "Live updates reconnected.",
    "Offline. Live updates will resume when back online.",
    "Connection lost. Reconnecting.",
    # controls
    "Pause live updates",
    "Resume live updates",
    ("Resume live updates ({count} new)", "Resume live updates ({count} new)"),
    "Live updates paused.",
    "Live updates resumed.",
    ("Live updates resumed: {count} change.", "Live updates resumed: {count} changes."),
    "Showing key events only.",
    "Showing all headlines.",
    ("↑ {count} new headline", "↑ {count} new headlines"),
    ("{count} new headline.", "{count} new headlines."),
    ("{count} new headline above.", "{count} new headlines above."),
    ("{count} new headline (paused).", "{count} new headlines (paused)."),
    "Loading…",
    ("{count} older headline loaded.", "{count} older headlines loaded."),
    "Could not load more news. Try again.",
    # corrections and dates (Intl formats each part: {weekday}, {date}, {year}, {time})
    "Corrected: {title}.",
    "Corrected: {title}. {note}",
    "Corrected {time}",
    "{year}, {weekday}",
    "{weekday} {date} {year}, {time} (UTC{offset}, {zone})",
    # label display names ("labels" in the blob, by label)
    *LABEL_DISPLAY.values(),
]


def client_messages(lang: str = "en") -> dict[str, Any]:
    """``{"lang", "dir", "locale", "messages", "plurals", "labels"}`` for the client.

    ``locale`` is the tag for ``Intl`` (``en-GB`` keeps the seed's "24 October" in English);
    ``labels`` maps each label to its display name."""
    messages = {s: s for s in CLIENT_STRINGS if isinstance(s, str)}
    plurals = {s[0]: {"one": s[0], "other": s[1]} for s in CLIENT_STRINGS if isinstance(s, tuple)}
    return {
        "lang": "en",
        "dir": "ltr",
        "locale": "en-GB",
        "messages": messages,
        "plurals": plurals,
        "labels": dict(LABEL_DISPLAY),
    }
