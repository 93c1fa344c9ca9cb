"""Every Redis key livefeed uses, defined here and nowhere else.

Layout (one Redis holds it all; RQ keeps its own ``rq:*`` keys):

- ``lf:article:{id}``        HASH   the article: ``doc`` (public JSON), ``v``/``u`` (version rank),
                                    ``pub`` (published ms), ``section``, ``labels`` (JSON),
                                    ``state`` (live | embargoed | retracted | expired),
                                    ``rev`` (+1 per applied change: the version ``If-Match``
                                    names),
                                    ``embargo`` (ms), ``rat`` (ms a non-versioned retraction
                                    was accepted), ``corr`` (JSON: the correction notes,
                                    newest last; also spliced into ``doc`` as
                                    ``corrections``). Retracted and expired records keep
                                    the rank (``v``/``u``) and ``section`` and expire after
                                    7 days; a tombstone of an id that held no article has no
                                    ``section``, and ``tscope`` (comma-separated) when a
                                    section-scoped token wrote it: it holds in those only.
- ``lf:timeline``            ZSET   live article ids scored by published ms
- ``lf:section:{slug}``      ZSET   the same, one per section
- ``lf:label:{label}``       ZSET   the same, one per label
- ``lf:lang:{edition}``      ZSET   the same, one per edition (a language's primary subtag;
                                    an article without ``language`` is in LIVEFEED_LANGUAGE's);
                                    the article's hash keeps it as ``lang``
- ``lf:editions:indexed``    STRING set once the articles stored before editions existed
                                    are filed under LIVEFEED_LANGUAGE's edition
- ``lf:embargo``             ZSET   embargoed ids scored by their release ms
- ``lf:events``              STREAM one entry per change: ``type``, ``id``, ``sections``,
                                    ``labels``, ``headline``, ``rid`` (request id), ``at``
                                    (ms when ingest accepted it: the freshness metric), ``lang``
                                    (its edition); an update also ``psections``/``plabels``/
                                    ``plang`` (where it was shown);
                                    a ``corrected`` one also ``correction`` (its note, JSON)
- ``lf:history:{id}``        LIST   the article's change history, oldest first: JSON entries
                                    ``{at (ms), by (token name), action, version?, fields,
                                    correction?, reason?, request_id?}``, written by the apply
                                    script with the change; kept LIVEFEED_HISTORY_DAYS after
                                    the last change (the newest 1000 entries)
- ``lf:summary:{section}:{lang}`` HASH  the live summary of one scope (``_`` for the whole feed
                                    or every edition; ``shared.summary``): ``doc`` (the public
                                    JSON ``{text, updated_at, by, section, lang}``, absent once
                                    deleted), ``text``, ``eid`` (the event of its last change)
- ``lf:summary-history:{section}:{lang}`` LIST the scope's summaries, oldest first: JSON
                                    ``{at (ms), by, action (set | deleted), text?, request_id?}``,
                                    written with the change; kept LIVEFEED_HISTORY_DAYS after the
                                    last change (the newest 1000 entries)
- ``lf:draft:{id}``          HASH   a draft (issue 25), kept apart from the article and never
                                    shown: ``fields`` (JSON: the article as posted), ``doc`` (its
                                    headline JSON), ``section``, ``title``, ``rev`` (its version:
                                    +1 per save), ``author`` (the token that first saved it),
                                    ``by``/``at`` (ms) of its last change, ``returned`` (JSON
                                    ``{note, by, at}`` once an editor sent it back). Written by the
                                    apply script only; gone once published or discarded
- ``lf:drafts``              ZSET   every draft id, scored by its last change (ms)
- ``lf:desk:events``         STREAM the desk's changes of drafts (capped, ``shared.drafts``): one
                                    field ``data``, JSON ``{type (draft | published | returned |
                                    discarded), id, by, at (ms)}``; never read by readers' services
- ``lf:pinned``              ZSET   every pinned live article id, scored by when it was pinned
- ``lf:pinned:{slug}``       ZSET   the pins of one section (``lf:pinned:_``: no section), at
                                    most LIVEFEED_MAX_PINNED; dropped with the article
- ``lf:changed``             STRING ms of the last change no event announces (a window trim)
- ``lf:purger:position``     STRING the newest event id every purge backend acknowledged
- ``lf:events:horizon``      STRING id of the newest event trimmed off the stream
- ``lf:idem:{hash}``         STRING a stored ingest response for an Idempotency-Key (24 h)
- ``lf:idembytes:{token}``    STRING bytes of stored answers one token (hashed) made in 24 h
- ``lf:rate:{token}:{min}`` STRING requests of one token (hashed) in one minute (ingest rate limit)
- ``lf:authfail:{a}:{min}`` STRING failed bearer-token checks from one client address (hashed)
                                    in one minute (``shared.auth``: the failed-auth throttle)
- ``lf:alerts:sub:{sid}``     HASH   one Web Push subscription: ``endpoint``, ``p256dh``, ``auth``,
                                    ``filter`` (``breaking`` or ``section:<slug>``), ``created``
                                    (ms), ``failures`` (the notifier's failed sends to it in a
                                    row, when any); ``sid`` is a digest of the endpoint
- ``lf:alerts:count``         STRING how many ``lf:alerts:sub:*`` are kept (the total cap)
- ``lf:alerts:filter:{f}``    SET    the sids of one filter
- ``lf:alerts:cap:{sid}:{h}`` STRING alerts one subscription got in one hour (expires)
- ``lf:alerts:article:{id}``  HASH   the alert sent for an article: ``title``, ``tag`` (expires)
- ``lf:alerts:sent:{id}``     SET    the sids that got it, for updates and the close (expires)
- ``lf:alerts:rate:{a}:{min}`` STRING subscription requests of one client address (hashed)
- ``lf:alerts:new:{a}:{h}``   STRING new subscriptions one client address (hashed) made in an hour
- ``lf:clicks:article:{id}``  HASH   headline opens of one article: field = epoch minute, value =
                                    opens that minute; fields older than 48 h are dropped when
                                    a new minute is written, the key expires 48 h after the last
- ``lf:clicks:minute:{m}``    ZSET   the articles opened in epoch minute ``m``, scored by opens
                                    (expires 48 h after the minute). Neither holds anything about
                                    the reader: no address, user agent, cookie or referrer
- ``lf:audience:proc:{p}``   STRING one push process's readers now (JSON: ``readers``, ``tabs``,
                                    ``ws``, ``sse``, ``groups`` [[section, label, lang, readers,
                                    tabs]…], ``rest``), rewritten every LIVEFEED_AUDIENCE_INTERVAL,
                                    expiring after 3 intervals (a dead process drops out)
- ``lf:audience:procs``       ZSET   the push processes' ids (``p``), scored by their last report
                                    (ms): an index of the keys above, trimmed after an hour
- ``lf:audience:min:{m}``     STRING the most readers (the sum over every push process) seen in
                                    epoch minute ``m``; kept 48 h
- ``lf:audience:pub:{id}``    STRING readers connected (every push process) when the article was
                                    first published; kept 48 h
- ``lf:desk:session:{d}``    STRING one desk sign-in (``services/ingest/sessions.py``; ``d``: a
                                    digest of the cookie's session id): JSON ``{name, token
                                    (a digest of the token signed in with), csrf, created,
                                    expires (ms)}``; expires with the session
- ``lf:desk:here:{d}``       STRING one desk page open now: JSON ``{name, role, open (the item
                                    open in it, or null), at (ms)}``; refreshed by the page
                                    every few seconds, expires shortly after it stops
- ``lf:desk:here``           ZSET   the ``d`` of every ``lf:desk:here:{d}``, scored by when it
                                    expires (ms): an index read without SCAN, trimmed on read
"""

from __future__ import annotations

PREFIX = "lf:"

ARTICLE_PREFIX = f"{PREFIX}article:"
TIMELINE = f"{PREFIX}timeline"
SECTION_PREFIX = f"{PREFIX}section:"
LABEL_PREFIX = f"{PREFIX}label:"
LANG_PREFIX = f"{PREFIX}lang:"
EDITIONS_INDEXED = f"{PREFIX}editions:indexed"
EMBARGO = f"{PREFIX}embargo"
EVENTS = f"{PREFIX}events"
EVENTS_HORIZON = f"{PREFIX}events:horizon"
CHANGED = f"{PREFIX}changed"
HISTORY_PREFIX = f"{PREFIX}history:"
PINNED = f"{PREFIX}pinned"
DRAFT_PREFIX = f"{PREFIX}draft:"
DRAFTS = f"{PREFIX}drafts"
DESK_EVENTS = f"{PREFIX}desk:events"
PINNED_PREFIX = f"{PREFIX}pinned:"
PURGER_POSITION = f"{PREFIX}purger:position"
# GRIP (shared/grip.py): the channels readers use (zset: channel -> last answer's time, ms), the
# last event id published on each (hash: channel -> id, the next publish's prev-id), and the
# publisher's position (the newest event given its items; the hash is exact up to it, and a
# restarted publisher goes on from it: items it had queued and not sent are recovered by held
# streams through prev-id, by WebSocket readers on their next reconnect).
GRIP_CHANNELS = f"{PREFIX}grip:channels"
GRIP_LAST_IDS = f"{PREFIX}grip:last"
GRIP_POSITION = f"{PREFIX}grip:position"
IDEMPOTENCY_PREFIX = f"{PREFIX}idem:"
IDEMPOTENCY_BYTES_PREFIX = f"{PREFIX}idembytes:"
RATE_PREFIX = f"{PREFIX}rate:"
AUTH_FAILURES_PREFIX = f"{PREFIX}authfail:"
SUMMARY_PREFIX = f"{PREFIX}summary:"
SUMMARY_HISTORY_PREFIX = f"{PREFIX}summary-history:"
ANY_SCOPE = "_"  # a summary scope's section or edition when it is for all of them

ALERTS_PREFIX = f"{PREFIX}alerts:"
CLICKS_PREFIX = f"{PREFIX}clicks:"
ALERT_COUNT = f"{ALERTS_PREFIX}count"

AUDIENCE_PREFIX = f"{PREFIX}audience:"
AUDIENCE_PROCESSES = f"{AUDIENCE_PREFIX}procs"
DESK_PREFIX = f"{PREFIX}desk:"
DESK_PRESENT = f"{DESK_PREFIX}here"

# The job function the feed worker runs; ingest names it by path and never imports it.
APPLY_JOB = "services.feed.jobs.apply"


def article(article_id: str) -> str:
    """The hash holding one article."""
    return f"{ARTICLE_PREFIX}{article_id}"


def history(article_id: str) -> str:
    """The change history of one article (kept after a retraction)."""
    return f"{HISTORY_PREFIX}{article_id}"


def draft(article_id: str) -> str:
    """The draft of one article (issue 25): never shown until an editor publishes it."""
    return f"{DRAFT_PREFIX}{article_id}"


def pinned(slug: str | None) -> str:
    """The pins of one section (``_``: articles without a section)."""
    return f"{PINNED_PREFIX}{slug or '_'}"


def summary(section: str | None, edition: str | None) -> str:
    """The live summary of one scope (None: the whole feed / every edition)."""
    return f"{SUMMARY_PREFIX}{section or ANY_SCOPE}:{edition or ANY_SCOPE}"


def summary_history(section: str | None, edition: str | None) -> str:
    """The summaries one scope has had (``summary``'s scope)."""
    return f"{SUMMARY_HISTORY_PREFIX}{section or ANY_SCOPE}:{edition or ANY_SCOPE}"


def section(slug: str) -> str:
    """The timeline index of one section."""
    return f"{SECTION_PREFIX}{slug}"


def label(name: str) -> str:
    """The timeline index of one label."""
    return f"{LABEL_PREFIX}{name}"


def lang(edition: str) -> str:
    """The live ids of one edition (``uk``), scored by published ms."""
    return f"{LANG_PREFIX}{edition}"


def idempotency(digest: str) -> str:
    """A stored response for one (token, Idempotency-Key) pair."""
    return f"{IDEMPOTENCY_PREFIX}{digest}"


def idempotency_bytes(token_digest: str) -> str:
    """What one token's stored idempotent answers weigh (by digest, never the token)."""
    return f"{IDEMPOTENCY_BYTES_PREFIX}{token_digest}"


def rate(token_digest: str, window: int) -> str:
    """The request counter of one token (by digest, never the token) in one time window."""
    return f"{RATE_PREFIX}{token_digest}:{window}"


def auth_failures(address_digest: str, window: int) -> str:
    """Failed bearer-token checks from one client address (by digest) in one minute."""
    return f"{AUTH_FAILURES_PREFIX}{address_digest}:{window}"


def alert_subscription(sid: str) -> str:
    """One Web Push subscription."""
    return f"{ALERTS_PREFIX}sub:{sid}"


def alert_filter(name: str) -> str:
    """The subscriptions of one alert filter (``breaking``, ``section:<slug>``)."""
    return f"{ALERTS_PREFIX}filter:{name}"


def alert_cap(sid: str, hour: int) -> str:
    """Alerts one subscription got in one hour (epoch hours)."""
    return f"{ALERTS_PREFIX}cap:{sid}:{hour}"


def alert_article(article_id: str) -> str:
    """The alert sent for an article (its title), so an update re-sends only a new title."""
    return f"{ALERTS_PREFIX}article:{article_id}"


def alert_sent(article_id: str) -> str:
    """The subscriptions an article's alert went to: updates and the close go to these."""
    return f"{ALERTS_PREFIX}sent:{article_id}"


def alert_rate(address_digest: str, window: int) -> str:
    """Subscription requests of one client address (by digest) in one minute."""
    return f"{ALERTS_PREFIX}rate:{address_digest}:{window}"


def alert_new(address_digest: str, hour: int) -> str:
    """New subscriptions of one client address (by digest) in one hour (epoch hours)."""
    return f"{ALERTS_PREFIX}new:{address_digest}:{hour}"


def clicks_article(article_id: str) -> str:
    """Headline opens of one article, per epoch minute (a hash: minute -> opens)."""
    return f"{CLICKS_PREFIX}article:{article_id}"


def clicks_minute(minute: int) -> str:
    """The articles opened in one epoch minute, scored by opens."""
    return f"{CLICKS_PREFIX}minute:{minute}"


def audience_process(process_id: str) -> str:
    """One push process's report of its readers (expires unless rewritten)."""
    return f"{AUDIENCE_PREFIX}proc:{process_id}"


def audience_minute(minute: int) -> str:
    """The most readers seen in one minute (epoch minutes), summed over the push processes."""
    return f"{AUDIENCE_PREFIX}min:{minute}"


def audience_at_publication(article_id: str) -> str:
    """The readers connected when an article was first published."""
    return f"{AUDIENCE_PREFIX}pub:{article_id}"


def desk_session(digest: str) -> str:
    """One desk sign-in, by a digest of its session id."""
    return f"{DESK_PREFIX}session:{digest}"


def desk_presence(digest: str) -> str:
    """One open desk page (expires unless refreshed)."""
    return f"{DESK_PRESENT}:{digest}"
