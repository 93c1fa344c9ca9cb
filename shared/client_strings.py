"""Every string the browser client (the live page, the embedded column, the alerts button)
shows, announces or puts in a tooltip: the one list ``shared.i18n.client_messages`` translates
for it. The client looks them up by their English text; ``{…}`` placeholders are filled there.

Headline labels are shown by their display names (``shared.models.LABEL_DISPLAY``), which are
listed here too, so a label reads the same in the server's markup and the client's.
"""

from __future__ import annotations

from shared.dates import PATTERNS
from shared.i18n import N_, N_plural
from shared.models import LABEL_DISPLAY

# What static/alerts.js says (the live page's and /alerts' button carries them, translated).
ALERT_MESSAGES: tuple[str, ...] = (
    N_("Alert me to breaking news"),
    N_("Stop breaking-news alerts"),
    N_("Notifications are blocked for this site: allow them in your browser's site settings."),
    N_("Alerts on: breaking news will reach you even with this page closed."),
    N_("Alerts off."),
    N_("Alerts are unavailable: {error}"),
    N_("Alerts could not be changed: {error}"),
)

# Translators: under the column's title; {city} is the newsroom's city ("Kyiv"), {offset} its
# offset from UTC today ("UTC+2").
ALL_TIMES_CITY = N_("All times {city}, {offset}")
# Translators: as above, for a zone without a city: {offset} is "UTC" or "UTC+2".
ALL_TIMES = N_("All times {offset}")

MESSAGES: tuple[str, ...] = (
    # The connection's state, by the column's title.
    N_("Connecting…"),
    N_("Live"),
    N_("Reconnecting…"),
    N_("Offline"),
    N_("Paused"),
    # Controls.
    N_("Pause live updates"),
    N_("Resume live updates"),
    N_("Resume live updates ({count} new)"),
    N_("Key events"),
    N_("More news"),
    N_("Loading…"),
    N_("Back to the latest news"),
    # The column's parts and empty states.
    N_("News"),
    N_("Pinned"),
    N_("No headlines yet. New ones appear here as they are published."),
    N_("No key events yet. They appear here as they are published."),
    N_("Corrected {time}"),
    N_("Skip to headlines"),
    N_("Summary"),  # the live summary's heading (services/feed/summary_view.py)
    N_("Updated {time}"),
    # Announcements (the status region, read by screen readers).
    N_("Showing key events only."),
    N_("Showing all headlines."),
    N_("Live updates reconnected."),
    N_("Offline. Live updates will resume when back online."),
    N_("Connection lost. Reconnecting."),
    N_("Live updates paused."),
    N_("Live updates resumed."),
    N_("Corrected: {title}."),
    N_("Corrected: {title}. {note}"),
    N_("Could not load more news. Try again."),
    # The time-zone note and its toggle (static/zone.js; services/feed/zones.py renders the note).
    ALL_TIMES_CITY,
    ALL_TIMES,
    N_("All times in your time zone, {offset}"),
    N_("My time zone ({offset})"),
    # The last visit's time, when it was another day (static/since.js): "24 October, 16:55".
    N_("{date}, {time}"),
    # Permalinks (static/permalink.js): "Newer headlines" above a headline opened by its link,
    # and each headline's menu.
    N_("Newer headlines"),
    N_("Could not load newer headlines. Try again."),
    N_("Link to this headline"),
    N_("Copy link"),
    N_("Share"),
    N_("Link copied."),
    N_("Could not copy the link."),
    # The live summary (static/summary.js).
    N_("Summary updated."),
    # Label display names (shared.models.LABEL_DISPLAY).
    *LABEL_DISPLAY.values(),
)

# Plural messages as (singular, plural) msgids: the client picks the CLDR category of the count
# (Intl.PluralRules) and fills ``{count}``.
PLURALS: tuple[tuple[str, str], ...] = (
    N_plural("{count} new headline", "{count} new headlines"),
    N_plural("{count} new headline (paused)", "{count} new headlines (paused)"),
    N_plural("{count} new headline above", "{count} new headlines above"),
    N_plural("{count} older headline loaded.", "{count} older headlines loaded."),
    N_plural("{count} newer headline loaded.", "{count} newer headlines loaded."),
    N_plural("Live updates resumed: {count} change.", "Live updates resumed: {count} changes."),
    # The divider above the first headline a returning reader has not seen (static/since.js):
    # {time} is the last visit's ("16:55"); "{count}+": more may be on older pages.
    N_plural("{count} new since {time}", "{count} new since {time}"),
    N_plural("{count}+ new since {time}", "{count}+ new since {time}"),
    # Under the column's title with show-readers (static/readers.js): readers connected now,
    # every page and site together ("12,431 reading now").
    N_plural("{count} reading now", "{count} reading now"),
)

# CLDR date patterns (shared.dates) as the catalog gives them, for the client's own formatting
# of days and times that arrive live (it formats each field with Intl in the same locale).
FORMATS: dict[str, str] = dict(PATTERNS)


# What the desk's module (services/ingest/desk_static/desk.js) says: its statuses, dialogs,
# the review queue and presence. services/ingest/desk.py puts them, translated, in the page.
# Translators: "{by}" is a token's name (who changed it), "{title}" a headline.
DESK_MESSAGES: tuple[str, ...] = (
    N_("Still queued: check again in a moment."),
    N_("Sending…"),
    N_("Accepted: applying…"),
    N_("Applied: {outcome}"),
    N_("Not applied: someone changed it meanwhile."),
    N_("Not applied: {reason}"),
    N_("see the fields marked above."),
    N_("{count} / {max} characters"),
    N_("Changed meanwhile by {by} at {time}: “{title}” (version {version})."),
    N_("Editing the draft “{title}”"),
    N_("Editing “{title}” (live)"),
    N_("Save draft"),
    N_("Save changes"),
    N_("Publish"),
    N_("Submit for review"),
    N_("Cancel"),
    N_("This is required."),
    N_("History of “{title}”"),
    N_("Loading…"),
    N_("Close"),
    N_("No recorded change."),
    N_("{time} · {by}: {action}"),
    N_("Fields: {fields}"),
    N_("Version {version}"),
    N_("Live"),
    N_("Reconnecting…"),
    N_("Correct “{title}”"),
    N_("The note is shown with the headline, and readers are told of the correction."),
    N_("Correction note (required)"),
    N_("Correct"),
    N_("Retract “{title}”?"),
    N_("It disappears from every page, feed and reader at once."),
    N_("Reason (required)"),
    N_("Retract"),
    N_("by {author}"),
    N_("embargoed until {time}"),
    N_("Returned by {by}: {note}"),
    N_("Edit"),
    N_("Approve"),
    N_("Return"),
    N_("Return “{title}” to its author"),
    N_("Note to the author (required)"),
    N_("Open by {names}"),
    N_("Only you are on the desk."),
    N_("Also on the desk: {names}"),
    N_("{name} (editing “{title}”)"),
    N_("Published."),
    N_("Updated."),
    N_("Corrected."),
    N_("Retracted."),
    N_("Saved as a draft."),
    N_("Returned to its author."),
    N_("Embargoed: it appears by itself at its time."),
    N_("Nothing changed: the desk already has this."),
)
