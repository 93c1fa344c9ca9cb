"""Surrogate keys: the names an edge cache (Varnish xkey, a CDN) files a view under and the
purger purges by. Defined here only: the feed names its responses with them
(services/feed/caching.py) and the purger derives an event's stale keys with them
(services/purger/affected.py), so the two can never disagree.

- ``timeline``             every unfiltered view
- ``section:<slug>``       a view filtered to a section (slugs: 1-64 characters)
- ``label:<label>``        a view filtered to a label (labels: 1-32 characters)
- ``lang:<edition>``       a view filtered to an edition (``?lang=uk``: a language's primary
                           subtag, 2-3 letters)
- ``summary:<s>:<e>``      a view that shows the live summary of scope (section ``s``, edition
                           ``e``; ``_``: every one), or would show it once set: the page, the
                           fragment, the embed and the timeline name each of their candidate
                           scopes (``shared.summary.candidates``); a summary's change purges
                           its scope's key (hard: the old text is never served again)
- ``article:<12 hex>``     an article shown in a view: the first 12 hex digits of the SHA-256
                           of its id (UTF-8), never the id itself. Ids run to 200 characters,
                           and a view of 200 headlines named them in 80 KB of headers, more
                           than nginx or Varnish take; a digest is 20 characters whatever the
                           id. 48 bits: a collision among the window's articles (~5,000) has a
                           chance of about 1 in 20 million, and only purges a view needlessly.

A view's keys never exceed ``MAX_KEYS_CHARS`` as one header value: when its article keys would,
it carries its coarse keys alone (``timeline``, or its section/label/edition). That is safe
because every event stales ``timeline`` and the sections, labels and editions the article is in
now and was in before (``stale``): whatever an article in a view can do to that view, the
coarse key purges it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from shared.summary import candidates

TIMELINE = "timeline"
# The header a PURGE carries LIVEFEED_PURGE_SECRET in (deploy/varnish/default.vcl checks it).
PURGE_SECRET_HEADER = "X-Purge-Secret"  # noqa: S105 - a header name, not a secret
ARTICLE_DIGEST_HEX = 12
# One Surrogate-Key / Cache-Tag value at most: 200 article keys (the longest view) take 4,199
# characters; Varnish's per-header limit (http_resp_hdr_len) is 8 KiB, Fastly's and Cloudflare's
# 16 KB. Varnish copies the value into its xkey header too: 2 x 6,000 + the rest stays under its
# total (http_resp_size, 32 KiB).
MAX_KEYS_CHARS = 6000


def article_key(article_id: str) -> str:
    """``article:<12 hex>``: an article's key, the same length for every id."""
    digest = hashlib.sha256(article_id.encode()).hexdigest()
    return f"article:{digest[:ARTICLE_DIGEST_HEX]}"


def section_key(section: str) -> str:
    return f"section:{section}"


def label_key(label: str) -> str:
    return f"label:{label}"


def lang_key(edition: str) -> str:
    return f"lang:{edition}"


def summary_key(section: str | None, lang: str | None) -> str:
    """``summary:<section>:<edition>`` (``_``: every one): views showing that scope's summary."""
    return f"summary:{section or '_'}:{lang or '_'}"


def summary_keys(section: str | None, lang: str | None) -> list[str]:
    """The summary keys of a view filtered on ``section`` and edition ``lang``: one per scope
    it may show (``shared.summary.candidates``)."""
    return [summary_key(scope.section, scope.lang) for scope in candidates(section, lang)]


def view_keys(
    article_ids: Iterable[str],
    section: str | None,
    label: str | None,
    lang: str | None = None,
    summary: bool = False,
) -> list[str]:
    """The keys of a view of ``article_ids`` (filtered by ``section``, ``label`` and/or the
    edition ``lang``): its coarse keys (with ``summary``: those of the summaries it may show),
    then one key per article while they fit ``MAX_KEYS_CHARS``."""
    coarse = [] if section or label or lang else [TIMELINE]
    if summary:
        coarse.extend(summary_keys(section, lang))
    if section:
        coarse.append(section_key(section))
    if label:
        coarse.append(label_key(label))
    if lang:
        coarse.append(lang_key(lang))
    shown = list(dict.fromkeys(article_key(article_id) for article_id in article_ids))
    if len(" ".join(coarse + shown)) > MAX_KEYS_CHARS:
        return coarse  # every change to what it shows purges these too (see the module doc)
    return coarse + shown


def stale(
    article_id: str, sections: Iterable[str], labels: Iterable[str], langs: Iterable[str] = ()
) -> frozenset[str]:
    """The keys a change to ``article_id`` stales, given every section, label and edition it is
    in now or was in before the change: each view that shows or showed it is named by one."""
    keys = {TIMELINE, article_key(article_id)}
    keys.update(section_key(section) for section in sections)
    keys.update(label_key(label) for label in labels)
    keys.update(lang_key(lang) for lang in langs)
    return frozenset(keys)
