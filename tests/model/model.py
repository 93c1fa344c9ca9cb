"""A pure-Python reference model of livefeed's public contract (issue 10, "A reference model").

What it models, in the contract's own terms (docs/PRODUCT.md and issue 10):

- the store: one record per article id with its rank ``(version or 0, epoch ms of updated_at
  or else published_at)``; a write applies only when its rank is strictly greater than the
  stored one (equal: ``unchanged``, lower: ``stale``). Records of retracted and window-expired
  articles keep their rank, so an older copy is ``stale``; a later copy with a higher rank
  publishes again; the same version of an expired one is judged again (``expired`` while older
  than the window, ``unchanged`` while the count would trim it at once, else written);
- a non-versioned DELETE: ``retracted`` for a live or embargoed article, ``not_found`` otherwise;
- embargo: ``embargoed_until`` in the future makes the article invisible (``embargoed``); it
  appears by itself when due (:meth:`Model.release`);
- the rolling window: published before ``now - LIVEFEED_WINDOW_DAYS`` is ``expired`` (never
  published; answered at once by ingest and not queued, so nothing is kept, unless it updates
  a shown article: then applied, the record kept and the shown copy taken off);
  ``LIVEFEED_MAX_ITEMS``: an article that would sort below the newest MAX_ITEMS at once
  is ``expired`` and not published; otherwise it is inserted. The count trim
  runs once a request's whole batch is applied (:meth:`Model.end_batch`): the lowest items
  beyond MAX_ITEMS leave silently (no event), and an item this same request published or
  updated that the trim removes is answered ``expired`` and announced to nobody;
- the visible timeline: newest first by (published ms desc, id desc in raw byte order), filters
  (section; label, with ``breaking`` derived from urgency <= 2), days in ``LIVEFEED_TIMEZONE``;
- the event log and what each subscriber (section/label filter) must receive from it.

Where the contract is silent the model allows every reading that keeps the promises (see
``Branch`` and ``Record.soft``): the test follows whichever one the real service chose.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_RE = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

Kind = Literal["published", "updated", "retracted"]


def epoch_ms(moment: datetime) -> int:
    """Exact epoch milliseconds (floor), without float rounding."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


# -- dates -------------------------------------------------------------------------------

OK, BAD, EITHER = "ok", "bad", "either"


# The contract's range for every date (docs/api.md, "Formats"): an instant between
# 0001-01-02 and 9999-12-30 UTC, so that it can be shown in any zone and fits the cursor.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC)


def representable(moment: datetime, zone: ZoneInfo) -> str:
    """``ok`` when a posted date can be stored and shown, ``bad`` when ingest must reject it."""
    try:
        inside = EARLIEST <= moment <= LATEST
    except OverflowError:
        inside = False
    if not inside:
        return BAD
    moment.astimezone(zone)  # never overflows inside the range
    return OK


def local_of(moment: datetime, zone: ZoneInfo) -> datetime:
    """The moment in the newsroom's zone."""
    return moment.astimezone(zone)


def day_label(local: datetime) -> str:
    """``2024, Thursday 24 October`` (no leading zero on the day)."""
    return f"{local.year}, {WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]}"


# -- the article as stored -----------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """What readers see of one article version."""

    id: str
    title: str
    published: datetime
    pub_ms: int
    updated: datetime | None
    section: str | None
    labels: tuple[str, ...]
    urgency: int | None
    version: int | None

    @property
    def key(self) -> tuple[int, bytes]:
        """The timeline order (higher is newer): published ms, then id in raw byte order."""
        return (self.pub_ms, self.id.encode())

    def matches(self, section: str | None, label: str | None) -> bool:
        """Whether a subscriber / filtered timeline with this filter includes it."""
        return (section is None or self.section == section) and (
            label is None or label in self.labels
        )


@dataclass
class Parsed:
    """A posted item as the model reads it: a headline, or the fields that must be rejected."""

    article_id: str | None
    headline: Headline | None = None
    rank: tuple[int, int] = (0, 0)
    embargo_ms: int = 0
    bad: set[str] = field(default_factory=set)  # fields that must be named in a rejection
    maybe_bad: set[str] = field(default_factory=set)  # may be rejected (contract silent)


def _date(raw: Any, name: str, zone: ZoneInfo, out: Parsed) -> datetime | None:
    if not isinstance(raw, str):
        out.bad.add(name)
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        out.bad.add(name)
        return None
    if moment.tzinfo is None:
        out.bad.add(name)
        return None
    verdict = representable(moment, zone)
    if verdict == BAD:
        out.bad.add(name)
        return None
    if verdict == EITHER:
        out.maybe_bad.add(name)
    return moment


def parse(payload: Any, zone: ZoneInfo) -> Parsed:
    """Validate one posted native article (only the rules the generator exercises)."""
    if not isinstance(payload, dict):
        return Parsed(None, bad={""})
    raw_id = payload.get("id")
    out = Parsed(raw_id if isinstance(raw_id, str) else None)
    if out.article_id is None or not ID_RE.match(out.article_id):
        out.bad.add("id")
    title = payload.get("title")
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > 300:
        out.bad.add("title")
    published = _date(payload.get("published_at"), "published_at", zone, out)
    updated = None
    if payload.get("updated_at") is not None:
        updated = _date(payload["updated_at"], "updated_at", zone, out)
    embargo = None
    if payload.get("embargoed_until") is not None:
        embargo = _date(payload["embargoed_until"], "embargoed_until", zone, out)
    version = payload.get("version")
    if version is not None and (not isinstance(version, int) or version < 1):
        out.bad.add("version")
    labels: list[str] = []
    for raw in payload.get("labels") or []:
        if not isinstance(raw, str) or not LABEL_RE.match(raw):
            out.bad.add("labels")
        elif raw.lower() not in labels:
            labels.append(raw.lower())
    section = payload.get("section")
    if section is not None and not SLUG_RE.match(section.strip().lower()):
        out.bad.add("section")
    urgency = payload.get("urgency")
    if urgency is not None and not (isinstance(urgency, int) and 1 <= urgency <= 9):
        out.bad.add("urgency")
    if out.bad or published is None or not isinstance(title, str):
        return out
    if urgency is not None and urgency <= 2 and "breaking" not in labels:
        labels.insert(0, "breaking")
    assert out.article_id is not None
    out.headline = Headline(
        id=out.article_id,
        title=title.strip(),
        published=published,
        pub_ms=epoch_ms(published),
        updated=updated,
        section=section.strip().lower() if section else None,
        labels=tuple(labels),
        urgency=urgency,
        version=version,
    )
    out.rank = (version or 0, epoch_ms(updated or published))
    out.embargo_ms = epoch_ms(embargo) if embargo else 0
    return out


# -- the store and the event log ------------------------------------------------------------


@dataclass
class Record:
    """What the store remembers of one article."""

    rank: tuple[int, int]
    state: Literal["live", "embargoed", "retracted", "expired"]
    headline: Headline | None
    embargo_ms: int = 0
    # Expired by the item count (at once, or trimmed later): the contract does not say whether
    # the rank is remembered. Both are allowed: a same-or-older copy may be answered
    # unchanged/stale (remembered) or judged as new (forgotten).
    soft: bool = False


@dataclass(frozen=True)
class Change:
    """One entry of the event log: the article's visible state before and after."""

    kind: Kind
    article: str
    before: Headline | None
    after: Headline | None


@dataclass(frozen=True)
class Frame:
    """One frame a subscriber must receive."""

    kind: Kind
    article: str
    headline: Headline | None  # published/updated: the new state
    filter_retraction: bool = False  # retracted because it left the subscriber's filter


def project(change: Change, section: str | None, label: str | None) -> Frame | None:
    """What a subscriber with this filter must receive for ``change`` (None: nothing)."""
    if change.kind == "published":
        assert change.after is not None
        if change.after.matches(section, label):
            return Frame("published", change.article, change.after)
        return None
    if change.kind == "updated":
        assert change.before is not None
        assert change.after is not None
        if change.after.matches(section, label):
            return Frame("updated", change.article, change.after)
        if change.before.matches(section, label):
            return Frame("retracted", change.article, None, filter_retraction=True)
        return None
    assert change.before is not None
    if change.before.matches(section, label):
        return Frame("retracted", change.article, None)
    return None


@dataclass
class Branch:
    """One allowed result of an operation: its outcome and the model after it."""

    outcome: str
    model: Model
    emitted: int  # events appended to the log by this operation


@dataclass
class Model:
    """The store, the visible timeline and the event log."""

    zone: ZoneInfo
    window_days: int
    max_items: int
    records: dict[str, Record] = field(default_factory=dict)
    log: list[Change] = field(default_factory=list)
    event_ids: list[str | None] = field(default_factory=list)

    def clone(self) -> Model:
        """A copy whose changes leave this one alone (headlines are immutable: shared)."""
        twin = copy.copy(self)
        twin.records = {k: copy.copy(v) for k, v in self.records.items()}
        twin.log = list(self.log)
        twin.event_ids = list(self.event_ids)
        return twin

    # -- reading ----------------------------------------------------------------------------

    def visible(self, section: str | None = None, label: str | None = None) -> list[Headline]:
        """The timeline, newest first (optionally filtered)."""
        items = [
            r.headline
            for r in self.records.values()
            if r.state == "live" and r.headline is not None and r.headline.matches(section, label)
        ]
        return sorted(items, key=lambda h: h.key, reverse=True)

    def article(self, article_id: str) -> Headline | None:
        """``GET /v1/articles/{id}``: the live headline or None (404)."""
        record = self.records.get(article_id)
        return record.headline if record is not None and record.state == "live" else None

    def frames(
        self, start: int, section: str | None, label: str | None
    ) -> list[tuple[str | None, Frame]]:
        """(event id, frame) for the log entries from position ``start`` on, for this filter."""
        out = []
        for pos in range(start, len(self.log)):
            frame = project(self.log[pos], section, label)
            if frame is not None:
                out.append((self.event_ids[pos], frame))
        return out

    def position_after(self, event_id: str) -> int:
        """The first log position whose event id is greater than ``event_id``."""
        mark = parse_event_id(event_id)
        for pos, eid in enumerate(self.event_ids):
            assert eid is not None, f"event {pos} of the log has no known id"
            if parse_event_id(eid) > mark:
                return pos
        return len(self.log)

    def last_event_id(self) -> str | None:
        """The id of the newest event (None if its id is not known yet)."""
        return self.event_ids[-1] if self.event_ids else None

    # -- writing ------------------------------------------------------------------------------

    def floor_ms(self, now_ms: int) -> int:
        """The oldest published ms the rolling window keeps (no limit: very low)."""
        return now_ms - self.window_days * 86_400_000 if self.window_days else -(2**63)

    def _emit(self, change: Change) -> None:
        self.log.append(change)
        self.event_ids.append(None)

    def upsert(self, parsed: Parsed, now_ms: int) -> list[Branch]:
        """Every allowed result of posting one valid article."""
        assert parsed.headline is not None
        branches: list[Branch] = []
        if parsed.maybe_bad:
            branches.append(Branch("rejected", self.clone(), 0))
        record = self.records.get(parsed.headline.id)
        if record is not None and record.state == "expired" and parsed.rank == record.rank:
            # The version stored as expired is judged again: expired while older than the
            # window, unchanged while the count would trim it at once, else written.
            if parsed.headline.pub_ms < self.floor_ms(now_ms):
                branches.append(Branch("expired", self.clone(), 0))
            elif self._trimmed_at_once(parsed.headline):
                branches.append(Branch("unchanged", self.clone(), 0))
            else:
                twin = self.clone()
                before = len(twin.log)
                outcome = twin._write(parsed, now_ms)
                branches.append(Branch(outcome, twin, len(twin.log) - before))
            if record.soft:  # forgotten: judged as new
                twin = self.clone()
                del twin.records[parsed.headline.id]
                branches.extend(twin.upsert(parsed, now_ms))
            return branches
        if record is not None and parsed.rank <= record.rank:
            outcome = "unchanged" if parsed.rank == record.rank else "stale"
            branches.append(Branch(outcome, self.clone(), 0))
            if not record.soft:
                return branches
            # soft: the store may have forgotten the record; then it is judged as new
            twin = self.clone()
            del twin.records[parsed.headline.id]
            branches.extend(twin.upsert(parsed, now_ms))
            return branches
        twin = self.clone()
        before = len(twin.log)
        outcome = twin._write(parsed, now_ms)
        branches.append(Branch(outcome, twin, len(twin.log) - before))
        return branches

    def _write(self, parsed: Parsed, now_ms: int) -> str:
        headline = parsed.headline
        assert headline is not None
        old = self.records.get(headline.id)
        shown = old.headline if old is not None and old.state == "live" else None
        if headline.pub_ms < self.floor_ms(now_ms):
            self.records[headline.id] = Record(parsed.rank, "expired", headline)
            if shown is not None:
                self._emit(Change("retracted", headline.id, shown, None))
            return "expired"
        if parsed.embargo_ms > now_ms:
            self.records[headline.id] = Record(
                parsed.rank, "embargoed", headline, parsed.embargo_ms
            )
            if shown is not None:
                # An embargo added to a live article takes it off every page.
                self._emit(Change("retracted", headline.id, shown, None))
            return "embargoed"
        return self._insert(headline.id, parsed.rank, headline, shown)

    def _trimmed_at_once(self, headline: Headline) -> bool:
        """Whether the count trim would take ``headline`` as soon as it is inserted."""
        others = [h for h in self.visible() if h.id != headline.id]
        return len(others) >= self.max_items and headline.key < others[self.max_items - 1].key

    def _insert(
        self, article_id: str, rank: tuple[int, int], headline: Headline, shown: Headline | None
    ) -> str:
        if self._trimmed_at_once(headline):
            # It would be trimmed at once: not published (guess for an update: retracted).
            self.records[article_id] = Record(rank, "expired", headline, soft=True)
            if shown is not None:
                self._emit(Change("retracted", article_id, shown, None))
            return "expired"
        self.records[article_id] = Record(rank, "live", headline)
        if shown is None:
            self._emit(Change("published", article_id, None, headline))
            outcome = "published"
        else:
            self._emit(Change("updated", article_id, shown, headline))
            outcome = "updated"
        return outcome

    def end_batch(self, start: int) -> set[str]:
        """The count trim once a batch is applied; returns the ids it answered ``expired``.

        Items beyond MAX_ITEMS leave silently. A publication or update this batch made (log
        positions from ``start``) of an item that leaves is taken back: its event is never
        appended, and the item is answered ``expired``.
        """
        gone = {h.id for h in self.visible()[self.max_items :]}
        for article_id in gone:
            trimmed = self.records[article_id]
            trimmed.state, trimmed.soft = "expired", True
        expired: set[str] = set()
        kept_log: list[Change] = []
        kept_ids: list[str | None] = []
        for pos, change in enumerate(self.log):
            if pos >= start and change.article in gone and change.kind != "retracted":
                expired.add(change.article)
                continue
            kept_log.append(change)
            kept_ids.append(self.event_ids[pos])
        self.log, self.event_ids = kept_log, kept_ids
        return expired

    def retract(self, article_id: str) -> list[Branch]:
        """A non-versioned DELETE."""
        twin = self.clone()
        record = twin.records.get(article_id)
        if record is None or record.state not in ("live", "embargoed"):
            return [Branch("not_found", twin, 0)]
        shown = record.headline if record.state == "live" else None
        record.state = "retracted"
        if shown is not None:
            twin._emit(Change("retracted", article_id, shown, None))
            return [Branch("retracted", twin, 1)]
        return [Branch("retracted", twin, 0)]

    def release(self, article_id: str, now_ms: int) -> int:
        """The embargo of ``article_id`` is due: it appears (or expires). Returns events added."""
        record = self.records.get(article_id)
        if record is None or record.state != "embargoed" or record.embargo_ms > now_ms:
            return 0
        assert record.headline is not None
        before = len(self.log)
        if record.headline.pub_ms < self.floor_ms(now_ms):
            record.state = "expired"
        else:
            self._insert(article_id, record.rank, record.headline, None)
            self.end_batch(before)
        return len(self.log) - before

    def due_embargoes(self, now_ms: int) -> list[str]:
        """Embargoed ids whose time has come, in release order."""
        due = [
            (r.embargo_ms, k.encode(), k)
            for k, r in self.records.items()
            if r.state == "embargoed" and r.embargo_ms <= now_ms
        ]
        return [k for _ms, _b, k in sorted(due)]


def parse_event_id(raw: str) -> tuple[int, int]:
    """``1729781700000-3`` -> (ms, seq), compared as Redis does."""
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)
