"""RQ job functions run by the feed worker. Ingest enqueues them by dotted path with JSON args."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import orjson
import redis
from pydantic import ValidationError
from rq import get_current_job

from services.feed.metrics import record_job
from services.feed.store import RELEASE_OP, TimelineWriter, retract_op, upsert_op
from shared.drafts import current_view
from shared.metrics import observe_stage
from shared.models import NORMALIZED, Article
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)


_writers: dict[int, TimelineWriter] = {}


def _writer(client: redis.Redis, settings: Settings) -> TimelineWriter:
    """One writer (with its registered script) per Redis client of this process."""
    writer = _writers.get(id(client))
    if writer is None or writer.client is not client:
        writer = _writers[id(client)] = TimelineWriter(client, settings)
    return writer


def _connection() -> redis.Redis:
    job = get_current_job()
    if job is None:
        raise RuntimeError("livefeed jobs run inside an RQ worker")
    connection: redis.Redis = job.connection
    return connection


def build_ops(
    items: list[dict[str, Any]], settings: Settings, request_id: str = "", accepted_ms: int = 0
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Turn queued items into store operations, validating each article again.

    Ingest has validated them already; checking again here means a job that was written by
    anything else can never put an invalid headline on a reader's page. An item that fails is
    answered ``rejected`` on its own (the second return value, by position): one bad item
    never sinks the others of its job. ``accepted_ms`` (when ingest accepted the request) rides
    on each event as ``at`` for the freshness metric, and orders non-versioned retractions.
    """
    ops: list[dict[str, Any]] = []
    rejected: dict[int, dict[str, Any]] = {}
    for position, item in enumerate(items):
        try:
            ops.append(_op(item, settings, request_id))
        except (ValidationError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raw_id = item.get("id") or (item.get("article") or {}).get("id")
            reason = f"queued item is not a valid article: {exc}"
            rejected[position] = {"id": str(raw_id), "outcome": "rejected", "reason": reason}
            log.error("rejected a queued item", extra={"request_id": request_id, "id": raw_id})
            continue
        ops[-1]["at"] = accepted_ms
    return ops, rejected


def _op(item: dict[str, Any], settings: Settings, request_id: str) -> dict[str, Any]:
    if item.get("op") == "return":
        # Send a draft back to its author with a note (``ifrev``: the draft version reviewed).
        op: dict[str, Any] = {"op": "return", "id": str(item["id"]), "rid": request_id}
        op["note"] = str(item["note"])
    elif item.get("op") == "retract":
        # v/u: a versioned retraction (a canceled ninjs item), compared like an update.
        version, moment = item.get("v"), item.get("u")
        rank = (version, moment) if isinstance(version, int) and isinstance(moment, int) else None
        op = retract_op(str(item["id"]), request_id, rank)
        if isinstance(item.get("reason"), str):
            op["reason"] = item["reason"]
    else:
        article = Article.model_validate(item["article"], context={NORMALIZED: True})
        op = upsert_op(article, settings, request_id)
        # A PATCH: the stored (version, ms) it was merged onto; the script applies it only
        # while that record is still the one shown.
        base = item.get("base")
        if isinstance(base, list) and len(base) == 2 and all(type(n) is int for n in base):
            op["bv"], op["bu"] = base
        # Drafts (issue 25, apply.lua "Drafts"): saved as a draft with the article as posted;
        # or the publication of the stored draft at version ``publish``.
        if item.get("draft") is True:
            op["draft"] = True
            posted = article.model_dump(mode="json", exclude_none=True, exclude={"status"})
            op["fields"] = orjson.dumps(posted).decode()
        elif type(item.get("publish")) is int:
            op["publish"] = item["publish"]
    # If-Match: the version of the record (the draft, or the article) the write started from.
    if type(item.get("ifrev")) is int:
        op["ifrev"] = item["ifrev"]
    if item.get("role") == "contributor":
        op["role"] = "contributor"
    # Who asked (a token's name, never the token) and, for a scoped token, its sections: the
    # script refuses a change to an article stored in another section.
    op["by"] = str(item.get("by") or "")
    scope = item.get("scope")
    if isinstance(scope, list) and scope:
        op["scope"] = [str(section) for section in scope]
    return op


def _merge(
    applied: list[dict[str, Any]], rejected: dict[int, dict[str, Any]], total: int
) -> list[dict[str, Any]]:
    """The applied outcomes with the rejected items back at their positions."""
    if not rejected:
        return applied
    rest = iter(applied)
    merged = [rejected[i] if i in rejected else next(rest) for i in range(total)]
    merged.extend(rest)  # embargoes released by the same call come after the items
    return merged


def apply(
    items: list[dict[str, Any]],
    request_id: str = "",
    accepted_ms: int = 0,
    accepted_at: float = 0.0,
) -> list[dict[str, Any]]:
    """Apply one request's items to the timeline in one atomic step; return each outcome.

    Safe to run twice: a repeated write is ``unchanged`` and appends no event.
    """
    if accepted_at:
        observe_stage("queue", time.time() - accepted_at)
    settings = get_settings()
    started = time.perf_counter()
    try:
        writer = _writer(_connection(), settings)
        ops, rejected = build_ops(items, settings, request_id, accepted_ms)
        script = time.perf_counter()
        outcomes = _merge(writer.apply(ops) if ops else [], rejected, len(items))
        observe_stage("apply", time.perf_counter() - script)
    except Exception:
        record_job(started, None)  # counted, then RQ retries or parks the job as failed
        raise
    for outcome in outcomes:
        if "current" in outcome:  # a conflict: when the record changed, in the newsroom's zone
            outcome["current"] = current_view(outcome["current"], settings.zone)
    record_job(started, outcomes)
    log.info(
        "applied %d item(s)",
        len(outcomes),
        extra={"request_id": request_id, "outcomes": _tally(outcomes)},
    )
    return outcomes


def _tally(outcomes: list[dict[str, Any]]) -> str:
    """``published:98,stale:2``: one short log field however big the batch."""
    counts = Counter(o["outcome"] for o in outcomes)
    return ",".join(f"{outcome}:{n}" for outcome, n in counts.most_common())


def release_embargoes(client: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """Publish every embargoed article whose time has come (and trim the window)."""
    return _writer(client, settings).apply([RELEASE_OP])
