"""``PATCH /v1/articles/{id}``: a JSON Merge Patch (RFC 7396) applied to the stored article.

The stored article is read back from its headline (the record the apply script keeps), the
patch merged onto it (a member replaces that field, ``null`` removes it, an object merges into
an object, a list replaces the list), and the result checked and queued exactly as a PUT of it.

Rank: a patch that names neither ``version`` nor ``updated_at`` gets ``updated_at`` = now (at
least a millisecond after the stored rank), so it is newer than what it was merged onto while
the newsroom's next ``version`` still wins over it. A patch that names either is ranked as
given, as a PUT is (not newer: ``unchanged``/``stale``).

Race: the merge reads the store before the worker applies the result. The queued item carries
the stored rank it was merged onto (``base``); the apply script applies it only while the
article is still shown at that rank, so a patch read before another write, a retraction or
the window's trim changes nothing (its job reports ``stale``) instead of putting back fields
that write replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import orjson
import redis.asyncio
from pydantic import ValidationError

from services.ingest.intake import Verdict
from services.ingest.validation import errors_of
from shared import keys
from shared.bodies import parse_json
from shared.dates import EPOCH, now_ms
from shared.models import NORMALIZED, Article
from shared.starlette_glue import ProblemError

# RFC 7396's media type; plain JSON too, as tools send it.
PATCH_TYPES = frozenset({"application/merge-patch+json", "application/json"})

# The article fields a stored headline holds as posted (normalized). ``embargoed_until`` is
# kept apart (``embargo``); ``correction`` and ``pinned`` are what one write does, not state.
_KEPT = (
    "id",
    "title",
    "url",
    "published_at",
    "updated_at",
    "labels",
    "section",
    "tags",
    "summary",
    "byline",
    "language",
    "urgency",
    "version",
)
# Plain-text fields: stored ones are normalized already and must not be stripped again.
_TEXT = frozenset({"title", "tags", "summary", "byline"})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 ``MergePatch(Target, Patch)``: the document ``patch`` makes of ``target``."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def patch_document(media: str, body: bytes, article_id: str) -> dict[str, Any]:
    """The request's merge patch: a JSON object whose ``id``, if any, is the URL's."""
    if media not in PATCH_TYPES:
        raise ProblemError(
            415,
            "PATCH takes a JSON Merge Patch: Content-Type: application/merge-patch+json "
            f"(or application/json), not {media or 'none'}",
            errors=[{"field": "content-type", "reason": "unsupported media type"}],
        )
    patch = parse_json(body)
    if not isinstance(patch, dict):
        raise ProblemError(
            422,
            "a merge patch for an article is a JSON object of the fields to change",
            errors=[{"field": "body", "reason": "must be an object"}],
        )
    if "id" in patch and patch["id"] != article_id:
        raise ProblemError(
            422,
            "the patch may not change the article's id",
            errors=[{"field": "id", "reason": "must equal the id in the URL"}],
        )
    return patch


@dataclass(frozen=True)
class Stored:
    """The shown article a patch applies to: its fields as posted, rank and section."""

    fields: dict[str, Any]
    rank: tuple[int, int]
    section: str


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


async def read_stored(client: redis.asyncio.Redis, article_id: str) -> Stored:
    """The live or embargoed article ``article_id``; 404 when there is none to patch."""
    doc, state, embargo, version, moment, section = await client.hmget(
        keys.article(article_id), "doc", "state", "embargo", "v", "u", "section"
    )
    shown = _text(state) in {"live", "embargoed"}
    if doc is None or not shown or version is None or moment is None:
        why = {
            "retracted": "retracted: nothing to patch (PUT or POST it to publish it again)",
            "expired": "expired (older than the window, or beyond LIVEFEED_MAX_ITEMS): nothing "
            "to patch (post it again inside the window)",
        }.get(_text(state) or "", "no such article: PATCH changes a stored one (PUT creates)")
        raise ProblemError(404, "no article to patch", errors=[{"field": "id", "reason": why}])
    headline: dict[str, Any] = orjson.loads(doc)
    fields = {name: headline[name] for name in _KEPT if headline.get(name) is not None}
    labels = fields.get("labels")
    if headline.get("breaking") and isinstance(labels, list) and labels[:1] == ["breaking"]:
        fields["labels"] = labels[1:]  # derived from urgency (Article.headline), not posted
    embargo_ms = int(float(embargo)) if embargo is not None else 0
    if _text(state) == "embargoed" and embargo_ms:
        fields["embargoed_until"] = _iso(embargo_ms)
    return Stored(fields, (int(float(version)), int(float(moment))), _text(section) or "")


def _iso(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(UTC).isoformat()


def patched_verdict(stored: Stored, patch: dict[str, Any], article_id: str) -> Verdict:
    """The article the patch makes of the stored one, validated as a PUT body would be."""
    verdict = Verdict(index=0, article_id=article_id, base=stored.rank)
    merged = merge_patch(stored.fields, patch)
    merged["id"] = article_id
    if "version" not in patch and "updated_at" not in patch:
        merged["updated_at"] = _iso(max(now_ms(), stored.rank[1] + 1))
    kept_text = frozenset(name for name in _TEXT if name not in patch)
    try:
        verdict.article = Article.model_validate(merged, context={NORMALIZED: kept_text})
    except ValidationError as exc:
        verdict.status = "rejected"
        verdict.errors = errors_of(exc)
    return verdict
