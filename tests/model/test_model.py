"""The reference-model test (issue 10): random newsroom and reader sessions against the real
services, each step checked against the pure-Python model in ``tests/model/model.py``.

A hypothesis ``RuleBasedStateMachine`` posts single articles and batches (good and bad items
mixed), PUTs and DELETEs, versioned and not, with dates anywhere (calendar and DST edges,
before 1970, years 1 and 9999), embargoes, label and section changes; opens WebSocket and SSE
subscribers with filters and ``since`` taken from the timeline; probes bad query input; and
kills the worker mid-job. After every step it checks each item's outcome, the whole timeline
paged with ``before`` (plain and filtered, days in the zone), ``/v1/articles/{id}`` and every
subscriber's frames against the model.

Runs in ``make test`` with a few examples (marked ``slow``). Longer runs:
``LIVEFEED_MODEL_EXAMPLES=300 LIVEFEED_MODEL_STEPS=30 make model-long``.
``LIVEFEED_MODEL_SHRINK=1`` shrinks a failure to a short sequence (slow: every try is real).
``LIVEFEED_MODEL_AVOID=unrepresentable,pre1970,...`` steers the generator away from known
defects to look for the next one (see ``AVOIDABLE``).
A failure prints the steps, the requests of the failing example and a ``@reproduce_failure``
blob (``print_blob``); ``LIVEFEED_MODEL_SEED`` fixes the seed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import core as hypothesis_core
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from shared.redis_server import EmbeddedRedis
from tests.model.clients import SseSubscriber, Subscriber, WsSubscriber
from tests.model.model import (
    Branch,
    Frame,
    Headline,
    Model,
    day_label,
    epoch_ms,
    parse,
    parse_event_id,
)
from tests.procs import Stack, free_port, wait_for

pytestmark = pytest.mark.slow

ZONE_NAME = "Europe/Kyiv"
ZONE = ZoneInfo(ZONE_NAME)
MAX_ITEMS = 6  # small: the count trim happens often
# The window reaches back to mid-1925: dates before 1970 are in it, year 1 and 1900 are not.
WINDOW_FLOOR = date.fromisoformat(os.environ.get("LIVEFEED_MODEL_WINDOW_FLOOR", "1925-07-01"))
WINDOW_DAYS = (datetime.now(UTC).date() - WINDOW_FLOOR).days
JOB_TIMEOUT_S = 2

EXAMPLES = int(os.environ.get("LIVEFEED_MODEL_EXAMPLES", "10"))
STEPS = int(os.environ.get("LIVEFEED_MODEL_STEPS", "16"))
SHRINK = os.environ.get("LIVEFEED_MODEL_SHRINK", "") not in ("", "0")
KILL_ODDS = int(os.environ.get("LIVEFEED_MODEL_KILL_ODDS", "25"))  # 1 in N: a kill (seconds)
AVOIDABLE = {
    "unrepresentable",  # dates whose local time is outside years 1..9999 (defect 1)
    "pre1970",  # published before 1970 (defect 9: the cursor)
    "embargo",  # embargoes (short and long)
    "batch",  # batches of several items
    "sse",  # SSE subscribers
    "ws",  # WebSocket subscribers
    "since",  # subscribers resuming with since
    "filters",  # subscribers and timelines filtered by section/label
    "probes",  # bad query input (defect 9)
    "kill",  # worker SIGKILL mid-job
    "bad",  # rejected items
    "ties",  # byte-order ids (defect 5)
    "window",  # dates older than the rolling window
}
AVOID = {a for a in os.environ.get("LIVEFEED_MODEL_AVOID", "").split(",") if a}
assert AVOID <= AVOIDABLE, f"LIVEFEED_MODEL_AVOID: unknown {AVOID - AVOIDABLE}"

# -- generated input ----------------------------------------------------------------------

# Ids whose byte order differs from a UTF-8 locale's collation (issue 10, defect 5).
TIE_IDS = ["pg-a", "pg-B", "pg-c", "pg-D", "pg-e", "pg-f-1", "pg-f.2", "A", "a", "Z/2", "z:1"]
# More ids than LIVEFEED_MAX_ITEMS even without the tie ids: the count trim happens.
OTHER_IDS = ["n1", "n2", "n3", "q.3", "r:4", "s-5", "t6", "u_7", "v8", "w9", "x_y", "9", "0", "y"]
IDS = OTHER_IDS + ([] if "ties" in AVOID else TIE_IDS)
TITLES = ["Headline", "Київ: новини дня", "Breaking: markets", "Update", "Ω ≠ 0"]
LABELS = ["Exclusive", "exclusive", "opinion", "KEY", "live-blog", "Breaking"]
SECTIONS = [None, "news", "sport", "World"]
FILTER_SECTIONS = [None, None, "news", "sport", "world"]
FILTER_LABELS = [None, None, "exclusive", "breaking", "Exclusive", "opinion"]

NOW = datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime, offset_h: float = 0) -> str:
    zone = timedelta(hours=offset_h)
    from datetime import timezone

    return moment.astimezone(timezone(zone)).isoformat()


NORMAL_DATES = [
    "2024-10-24T16:55:00+03:00",
    "2024-10-24T13:55:00+00:00",  # the same instant as above: a tie
    "2024-10-24T16:55:01+03:00",
    "2024-02-29T23:59:59+02:00",  # a leap day
    "2024-03-31T00:59:59+00:00",  # Kyiv: 02:59:59, the second before DST starts
    "2024-03-31T01:00:00+00:00",  # Kyiv: 04:00:00 (03:00 never happens)
    "2024-10-27T00:30:00+00:00",  # Kyiv: 03:30 (first, summer time)
    "2024-10-27T01:30:00+00:00",  # Kyiv: 03:30 (second, winter time)
    "2023-12-31T22:00:00+00:00",  # Kyiv: New Year's midnight
    "2023-12-31T21:59:59+00:00",  # Kyiv: the last second of 2023
    "2000-02-29T12:00:00-05:00",
    "2100-01-01T00:00:00+14:00",
    "9999-12-31T21:59:59+00:00",  # Kyiv: 23:59:59 on the last representable day
    _iso(NOW, 3),
    _iso(NOW - timedelta(hours=1), 0),
    _iso(NOW - timedelta(days=1, minutes=7), -5),
    _iso(NOW - timedelta(days=2), 5.75),
    _iso(NOW + timedelta(minutes=30), 2),
]
PRE1970_DATES = [
    "1969-12-31T23:59:59+00:00",
    "1970-01-01T00:00:00+00:00",
    "1960-02-29T12:00:00-05:00",
    "1945-05-09T00:43:00+03:00",
    "1930-06-01T00:00:00+03:00",  # before 1930-06-21 Kyiv was +02:00
]
EXPIRED_DATES = [
    "1925-01-01T00:00:00+00:00",
    "1900-03-01T00:00:00+00:00",
    "0001-01-01T00:00:00+00:00",  # Kyiv LMT: 02:02:04, representable, far outside the window
]
EDGE_DATES = [
    "9999-12-31T23:30:00+00:00",  # Kyiv: year 10000
    "9999-12-31T23:59:59-01:00",  # UTC: year 10000
    "0001-01-01T00:00:00+05:00",  # UTC and Kyiv: year 0
    "0001-01-01T01:00:00+02:00",  # UTC: year 0, Kyiv: year 1 (the contract is silent)
]


def date_pool() -> list[str]:
    """Dates the generator draws from."""
    pool = list(NORMAL_DATES)
    if "window" not in AVOID:
        pool += EXPIRED_DATES
    if "pre1970" not in AVOID:
        pool += PRE1970_DATES
    if "unrepresentable" not in AVOID:
        pool += EDGE_DATES
    return pool


DATES = st.sampled_from(date_pool())


@st.composite
def articles(draw: st.DrawFn, allow_bad: bool = True) -> dict[str, Any]:
    """One native article payload; now and then a bad one."""
    payload: dict[str, Any] = {
        "id": draw(st.sampled_from(IDS)),
        "title": draw(st.sampled_from(TITLES)),
        "published_at": draw(DATES),
    }
    version = draw(st.sampled_from([None, None, None, 1, 2, 3]))
    if version is not None:
        payload["version"] = version
    if draw(st.booleans()):
        payload["updated_at"] = draw(DATES)
    labels = draw(st.lists(st.sampled_from(LABELS), max_size=3))
    if labels:
        payload["labels"] = labels
    section = draw(st.sampled_from(SECTIONS))
    if section is not None:
        payload["section"] = section
    urgency = draw(st.sampled_from([None, None, 1, 2, 3, 6]))
    if urgency is not None:
        payload["urgency"] = urgency
    if "embargo" not in AVOID:
        embargo = draw(st.sampled_from([None] * 8 + ["long", "past"]))
        if embargo == "long":
            payload["embargoed_until"] = _iso(NOW + timedelta(days=3), 1)
        elif embargo == "past":
            payload["embargoed_until"] = _iso(NOW - timedelta(hours=3), 0)
    if allow_bad and "bad" not in AVOID and draw(st.integers(0, 9)) == 0:
        how = draw(st.sampled_from(["no-title", "naive", "label", "id"]))
        if how == "no-title":
            payload["title"] = "   "
        elif how == "naive":
            payload["published_at"] = "2024-10-24T16:55:00"
        elif how == "label":
            payload["labels"] = ["not a label!"]
        else:
            payload["id"] = "bad id with spaces"
    return payload


# -- the stack ------------------------------------------------------------------------------


def _collating_locale() -> dict[str, str]:
    """An environment whose LC_COLLATE is not byte order (en_US.UTF-8), built if we can."""
    target = Path(tempfile.gettempdir()) / "livefeed-model-locale"
    if not (target / "en_US.UTF-8").exists():
        target.mkdir(exist_ok=True)
        try:
            subprocess.run(
                ["localedef", "-i", "en_US", "-f", "UTF-8", str(target / "en_US.UTF-8")],
                check=True,
                capture_output=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return {}
    return {"LOCPATH": str(target), "LC_ALL": "en_US.UTF-8", "LANG": "en_US.UTF-8"}


@pytest.fixture(scope="module")
def model_stack() -> Iterator[tuple[Stack, EmbeddedRedis]]:
    """A stack of its own on a Redis running under a non-C collation locale."""
    locale_env = _collating_locale()
    saved = {k: os.environ.get(k) for k in locale_env}
    os.environ.update(locale_env)
    try:
        server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="lf-m-")))
        server.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    stack = Stack(
        server.url,
        Path(tempfile.mkdtemp(prefix="lf-m-")),
        extra_env={
            "LIVEFEED_TIMEZONE": ZONE_NAME,
            "LIVEFEED_MAX_ITEMS": str(MAX_ITEMS),
            "LIVEFEED_WINDOW_DAYS": str(WINDOW_DAYS),
            "LIVEFEED_STREAM_MAXLEN": "100000",
            "LIVEFEED_JOB_TIMEOUT": str(JOB_TIMEOUT_S),
            "LIVEFEED_JOB_RETRIES": "1",  # a job that cannot succeed says so within a second
            "LIVEFEED_INGEST_RATE_LIMIT": "0",
        },
    )
    for name in ("ingest", "feed", "push", "worker"):
        stack.ports.setdefault(name, free_port())
    stack.start()
    yield stack, server
    stack.stop()
    server.stop()


class DiscrepancyError(AssertionError):
    """The real services and the model disagree."""


# -- the state machine ----------------------------------------------------------------------


class LivefeedMachine(RuleBasedStateMachine):
    """Random sessions against the real stack, checked against the model after every step."""

    stack: Stack
    server: EmbeddedRedis

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(timeout=15)
        self.redis = redis.Redis.from_url(self.server.url)
        self.auth = {"Authorization": f"Bearer {self.stack.token}"}
        self.model = Model(ZONE, WINDOW_DAYS, MAX_ITEMS)
        self.subs: list[tuple[Subscriber, int]] = []  # (subscriber, first log position)
        self.transcript: list[str] = []
        self.touched: set[str] = set()
        self.rng = random.Random(0)
        self.base_event_id = "0-0"
        self.checkpoints: list[tuple[str, int]] = []
        self.killed = False
        self._reset_store()

    # -- plumbing ---------------------------------------------------------------------------

    def _reset_store(self) -> None:
        """An empty timeline; the event log is kept (push and SSE readers follow it)."""
        doomed = [
            k
            for k in self.redis.scan_iter(match="lf:*", count=1000)
            if k not in (b"lf:events", b"lf:events:horizon")
        ]
        if doomed:
            self.redis.delete(*doomed)
        body = self._timeline()
        self.base_event_id = body["event_id"]
        self.checkpoints = [(self.base_event_id, 0)]

    def _note(self, line: str) -> None:
        self.transcript.append(line)

    def fail(self, what: str) -> None:
        """Raise a discrepancy with the example's requests so far."""
        steps = "\n  ".join(self.transcript[-60:])
        raise DiscrepancyError(f"{what}\n-- requests of this example (last 60):\n  {steps}")

    def _timeline(self, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"{self.stack.url('feed')}/v1/timeline", params=params)
        if response.status_code != 200:
            self.fail(f"GET /v1/timeline {params} -> {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        return body

    def _now_ms(self) -> int:
        return epoch_ms(datetime.now(UTC))

    def _wait_job(self, job_id: str, timeout: float = 15) -> list[dict[str, Any]]:
        url = f"{self.stack.url('ingest')}/v1/jobs/{job_id}"
        last: dict[str, Any] = {}

        def ended() -> bool:
            last.update(self.http.get(url, headers=self.auth).json())
            return last.get("status") in ("finished", "failed")

        try:
            wait_for(ended, timeout, interval=0.01)
        except AssertionError:
            self.fail(f"job {job_id} still {last.get('status')} after {timeout}s")
        if last.get("status") == "failed":
            self.fail(f"job {job_id} failed: every item of the request is lost ({last})")
        results: list[dict[str, Any]] = last["results"]
        return results

    def _send(
        self,
        method: str,
        path: str,
        payload: Any,
        items: list[Any],
        *,
        kill: bool = False,
    ) -> None:
        """Send one write, wait until applied, and line every item up with the model."""
        url = f"{self.stack.url('ingest')}{path}"
        self._note(f"{method} {path} {json.dumps(payload, ensure_ascii=False)}")
        response = self.http.request(method, url, json=payload, headers=self.auth)
        if response.status_code not in (200, 202, 422):
            self.fail(f"{method} {path} -> {response.status_code} {response.text[:500]}")
        body = response.json()
        if "results" not in body:
            self.fail(f"{method} {path} -> {response.status_code} without results: {body}")
        answers = body["results"]
        if len(answers) != len(items):
            self.fail(f"{len(answers)} results for {len(items)} items: {body}")
        job_results: list[dict[str, Any]] = []
        if kill:
            self._kill_worker()
        if any(a["status"] == "accepted" for a in answers):
            job_results = self._wait_job(body["job_id"], timeout=60 if kill else 15)
        queued = iter(job_results)
        log_before = len(self.model.log)
        seen_ids: set[str] = set()
        self.batch_expired: dict[str, str] = {}  # id -> where: answered expired, model said shown
        for index, (item, answer) in enumerate(zip(items, answers, strict=True)):
            self._apply_item(index, item, answer, queued, seen_ids, kill)
        extra = list(queued)
        if extra:
            self.fail(f"the job reported more outcomes than items were queued: {extra}")
        trimmed = self.model.end_batch(log_before)
        for article_id, where in self.batch_expired.items():
            if article_id not in trimmed:
                self.fail(f"{where}: answered expired, but the model keeps it shown")
        for article_id in trimmed - set(self.batch_expired):
            if not kill:
                self.fail(f"{article_id}: trimmed by its own batch, so it must be answered expired")
        if kill:
            self._learn_event_ids(log_before)
        self._note(f"  -> {[a.get('status') for a in answers]} {job_results}")

    def _apply_item(
        self,
        index: int,
        item: Any,
        answer: dict[str, Any],
        queued: Iterator[dict[str, Any]],
        seen_ids: set[str],
        kill: bool,
    ) -> None:
        now = self._now_ms()
        if isinstance(item, tuple):  # ("delete", id)
            article_id = item[1]
            branches = self.model.retract(article_id)
            bad: set[str] = set()
        else:
            parsed = parse(item, ZONE)
            article_id = parsed.article_id or "?"
            bad = parsed.bad
            branches = [] if bad else self.model.upsert(parsed, now)
        where = f"item {index} ({article_id})"
        self.touched.add(article_id)
        status = answer["status"]
        if bad:
            if status != "rejected":
                self.fail(f"{where}: must be rejected naming {sorted(bad)}; answered {answer}")
            named = [e.get("field", "") for e in answer.get("errors", [])]
            for name in bad:
                if not any(n == name or n.endswith(f".{name}") or n == "" for n in named):
                    self.fail(f"{where}: the rejection must name {name!r}; it names {named}")
            return
        if status == "accepted":
            try:
                result = next(queued)
            except StopIteration:
                self.fail(f"{where}: accepted, but the job has no outcome for it")
            if result.get("id") != article_id:
                self.fail(f"{where}: the job's outcome is for {result.get('id')}: {result}")
            outcome = result.get("outcome")
        else:
            result = {}
            outcome = status
            if status == "rejected":
                outcome = "rejected"
        allowed = {b.outcome: b for b in branches}
        if article_id in seen_ids:
            # A second copy in one request: ingest may answer it against the stored copy
            # before the first is applied (both mean "nothing changed").
            for quiet in ("stale", "unchanged"):
                if quiet in allowed:
                    allowed.setdefault("stale" if quiet == "unchanged" else "unchanged",
                                       allowed[quiet])  # fmt: skip
            # Or, older than the window, ``expired`` against the store as it was before the
            # request (nothing changed either).
            if status == "expired" and "stale" in allowed:
                allowed.setdefault("expired", allowed["stale"])
        seen_ids.add(article_id)
        chosen: Branch | None = allowed.get(str(outcome))
        if status == "expired" and chosen is not None:
            # Answered at once by ingest (older than the window) and never queued: the store
            # is as it was, whatever applying it would have done.
            chosen = Branch("expired", self.model.clone(), 0)
        if chosen is None and outcome == "expired" and status == "accepted":
            # Shown when it came, but the trim at the end of its batch takes it (end_batch
            # checks that): answered expired, never announced.
            shown = [b for b in branches if b.outcome in ("published", "updated")]
            if shown:
                chosen = shown[-1]
                self.batch_expired[article_id] = where
                result = {**result, "_expired": True}
        if chosen is None and kill and status == "accepted":
            # The killed run may have applied the job already: its rerun finds it done.
            rerun = "not_found" if isinstance(item, tuple) else "unchanged"
            if outcome == rerun or (outcome == "stale" and "stale" in allowed):
                chosen = [b for b in branches if b.outcome != "rejected"][-1]
                result = {**result, "event_id": None, "_rerun": True}
        if chosen is None:
            self.fail(
                f"{where}: outcome {outcome!r} ({answer} / {result}); the model allows "
                f"{sorted(allowed)}\n  item: {item}"
            )
        assert chosen is not None
        event_id = result.get("event_id")
        if chosen.emitted and event_id is None and not result.get("_rerun", result.get("_expired")):
            self.fail(f"{where}: {outcome} must append an event, the job reports none: {result}")
        if not chosen.emitted and event_id is not None:
            self.fail(f"{where}: {outcome} must not append an event, got {event_id}: {result}")
        self.model = chosen.model
        if event_id is not None:
            previous = self._last_known_id()
            if previous and parse_event_id(event_id) <= parse_event_id(previous):
                self.fail(f"{where}: event id {event_id} is not after {previous}")
            self.model.event_ids[-1] = event_id

    def _last_known_id(self) -> str | None:
        for eid in reversed(self.model.event_ids):
            if eid is not None:
                return eid
        return self.base_event_id

    def _learn_event_ids(self, start: int) -> None:
        """After a kill: the ids of the events a killed run appended, from the stream itself."""
        missing = [i for i in range(start, len(self.model.log)) if self.model.event_ids[i] is None]
        if not missing:
            return
        after = self.model.event_ids[missing[0] - 1] if missing[0] > 0 else self.base_event_id
        entries = self.redis.xrange("lf:events", f"({after}", "+")
        if len(entries) != len(self.model.log) - missing[0]:
            self.fail(
                f"after the worker kill the log has {len(entries)} new events, the model "
                f"{len(self.model.log) - missing[0]}: "
                f"{[(e[0], e[1].get(b'type'), e[1].get(b'id')) for e in entries]}"
            )
        for pos, (raw_id, fields) in zip(
            range(missing[0], len(self.model.log)), entries, strict=False
        ):
            change = self.model.log[pos]
            if fields.get(b"id", b"").decode() != change.article:
                self.fail(f"event {raw_id!r} is for {fields.get(b'id')}, model: {change}")
            self.model.event_ids[pos] = raw_id.decode()

    def _kill_worker(self) -> None:
        worker = self.stack.services["worker"]
        assert worker.process is not None
        pid = worker.process.pid
        tree = [pid, *_children(pid)]
        for p in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        worker.process.wait()
        self._note(f"  (worker {pid} SIGKILLed; restarted)")
        self.stack.start_service("worker")

    # -- rules --------------------------------------------------------------------------------

    @initialize(seed=st.integers(0, 2**32 - 1))
    def start(self, seed: int) -> None:
        """The checks' own random choices (page sizes, samples) follow the example."""
        self.rng = random.Random(seed)

    @rule(item=articles())
    def post_one(self, item: dict[str, Any]) -> None:
        """POST one article."""
        self._send("POST", "/v1/articles", item, [item])

    @precondition(lambda self: "batch" not in AVOID)
    @rule(items=st.lists(articles(), min_size=2, max_size=6))
    def post_batch(self, items: list[dict[str, Any]]) -> None:
        """POST a batch: good and bad items mixed; each answered on its own."""
        self._send("POST", "/v1/articles", {"articles": items}, items)

    @rule(item=articles(allow_bad=False), with_id=st.booleans())
    def put(self, item: dict[str, Any], with_id: bool) -> None:
        """PUT /v1/articles/{id}: create or replace."""
        body = dict(item)
        if not with_id:
            del body["id"]
        self._send("PUT", f"/v1/articles/{item['id']}", body, [item])

    @rule(article_id=st.sampled_from(IDS))
    def delete(self, article_id: str) -> None:
        """DELETE /v1/articles/{id} (non-versioned)."""
        self._send("DELETE", f"/v1/articles/{article_id}", None, [("delete", article_id)])

    @precondition(lambda self: "embargo" not in AVOID)
    @rule(item=articles(allow_bad=False))
    def embargo_short(self, item: dict[str, Any]) -> None:
        """An embargo due in two seconds: invisible now, then appears by itself."""
        due = datetime.now(UTC) + timedelta(seconds=2)
        item = {**item, "embargoed_until": due.isoformat(timespec="milliseconds")}
        self._send("POST", "/v1/articles", item, [item])
        self.check_all()  # invisible meanwhile
        if item["id"] not in self.model.due_embargoes(epoch_ms(due) + 1):
            return
        article_key = f"lf:article:{item['id']}"

        def released() -> bool:
            if time.time() * 1000 <= epoch_ms(due):
                return False
            state = self.redis.hget(article_key, "state")
            return state != b"embargoed"

        wait_for(released, timeout=15, interval=0.05)
        emitted = self.model.release(item["id"], self._now_ms())
        self._note(f"  (embargo of {item['id']} due; model: {emitted} event)")
        latest = self._timeline(limit=1)["event_id"]
        if emitted:
            self.model.event_ids[-1] = latest
            previous = self.model.event_ids[-2] if len(self.model.log) > 1 else None
            if parse_event_id(latest) <= parse_event_id(previous or self.base_event_id):
                self.fail(f"the release of {item['id']} appended no event")
        elif latest != self._last_known_id():
            self.fail(f"the release of {item['id']} must append no event; log now at {latest}")

    @precondition(lambda self: len(self.subs) < 4)
    @rule(
        kind=st.sampled_from(["ws", "sse"]),
        section=st.sampled_from(FILTER_SECTIONS),
        label=st.sampled_from(FILTER_LABELS),
        since=st.sampled_from(["none", "latest", "checkpoint", "right-after-write"]),
        item=articles(allow_bad=False),
        header=st.booleans(),
    )
    def subscribe(
        self,
        kind: str,
        section: str | None,
        label: str | None,
        since: str,
        item: dict[str, Any],
        header: bool,
    ) -> None:
        """A reader subscribes (WS or SSE) with a filter, resuming from the timeline or not."""
        if kind in AVOID:
            kind = "sse" if kind == "ws" else "ws"
        if kind in AVOID:
            return
        if "filters" in AVOID:
            section = label = None
        if "since" in AVOID:
            since = "none"
        since_id: str | None = None
        start = 0
        if since == "right-after-write":
            # The reader of push/SSE is a moment behind the timeline: resume must still be exact.
            self._send("POST", "/v1/articles", item, [item])
            since_id = self._timeline(limit=1)["event_id"]
        elif since == "latest":
            since_id = self._timeline(limit=1)["event_id"]
        elif since == "checkpoint":
            since_id, start = self.rng.choice(self.checkpoints)
        if since_id is not None:
            start = self.model.position_after(since_id)
        self._note(f"subscribe {kind} section={section} label={label} since={since_id}")
        try:
            sub: Subscriber
            if kind == "ws":
                sub = WsSubscriber(self.stack.ws_url, section, label, since_id)
            else:
                sub = SseSubscriber(self.stack.ports["push"], section, label, since_id, header)
        except Exception as exc:  # noqa: BLE001 - a refusal is a discrepancy
            self.fail(f"subscribe {kind} {section} {label} since={since_id}: {exc!r}")
        hello = sub.wait_for(1, 5)
        if not hello or hello[0].get("type") != "hello":
            sub.close()
            self.fail(f"{sub.describe()}: the first message must be hello, got {hello[:2]}")
        if since_id is None:
            start = self.model.position_after(hello[0]["event_id"])
            sub.since = None
        self.subs.append((sub, start))

    @precondition(lambda self: bool(self.subs))
    @rule(which=st.integers(0, 3))
    def unsubscribe(self, which: int) -> None:
        """A reader leaves (its frames so far are checked first)."""
        self.check_subscribers()
        sub, _start = self.subs.pop(which % len(self.subs))
        sub.close()

    @precondition(lambda self: "probes" not in AVOID)
    @rule(probe=st.sampled_from(["limit-sup2", "limit-zero", "before-junk", "stream-21"]))
    def bad_query(self, probe: str) -> None:
        """Bad reader input is a 4xx, never a 500."""
        feed, push = self.stack.url("feed"), f"http://127.0.0.1:{self.stack.ports['push']}"
        urls = {
            "limit-sup2": f"{feed}/v1/timeline?limit=%C2%B2",
            "limit-zero": f"{feed}/v1/timeline?limit=0",
            "before-junk": f"{feed}/v1/timeline?before=junk",
            "stream-21": f"{push}/v1/stream?" + "&".join(f"x{i}=1" for i in range(21)),
        }
        self._note(f"GET {urls[probe]}")
        response = self.http.get(urls[probe])
        if not 400 <= response.status_code < 500:
            self.fail(f"GET {urls[probe]} -> {response.status_code}: {response.text[:300]}")

    @precondition(lambda self: "kill" not in AVOID and not self.killed)
    @rule(
        items=st.lists(articles(allow_bad=False), min_size=3, max_size=8),
        kill=st.integers(0, KILL_ODDS - 1),
    )
    def kill_worker_mid_job(self, items: list[dict[str, Any]], kill: int) -> None:
        """Now and then the worker is SIGKILLed as a job is queued; the restarted one completes
        it, each item once (else a plain batch: kills take seconds)."""
        self.killed = kill == 0
        self._send("POST", "/v1/articles", {"articles": items}, items, kill=self.killed)

    # -- checks ---------------------------------------------------------------------------------

    @invariant()
    def check_all(self) -> None:
        """Timeline (paged, filtered), articles and subscribers agree with the model."""
        latest = self.check_timeline(None, None)
        if "filters" not in AVOID:
            for _ in range(2):
                section = self.rng.choice(FILTER_SECTIONS)
                label = self.rng.choice(FILTER_LABELS)
                if section or label:
                    self.check_timeline(section, label)
        self.check_articles()
        self.check_subscribers()
        if latest is not None and self.model.log and all(self.model.event_ids):
            self.checkpoints.append((latest, len(self.model.log)))

    def check_timeline(self, section: str | None, label: str | None) -> str | None:
        """Page through the whole (filtered) timeline with ``before``; compare with the model."""
        want = self.model.visible(section, label.lower() if label else None)
        limit = self.rng.choice([2, 3, 5, 50])
        params: dict[str, Any] = {"limit": limit}
        if section:
            params["section"] = section
        if label:
            params["label"] = label
        got: list[dict[str, Any]] = []
        first_event_id = None
        where = f"timeline section={section} label={label} limit={limit}"
        for _page in range(MAX_ITEMS + 2):
            body = self._timeline(**params)
            if first_event_id is None:
                first_event_id = body["event_id"]
            for day in body["days"]:
                for item in day["items"]:
                    got.append(item)
                    if item.get("date") != day["date"]:
                        self.fail(f"{where}: {item['id']} stands under {day['date']}: {item}")
                local = datetime.fromisoformat(day["items"][0]["published_at"]).astimezone(ZONE)
                if day["label"] != day_label(local):
                    self.fail(f"{where}: day label {day['label']!r}, want {day_label(local)!r}")
            dates = [d["date"] for d in body["days"]]
            if len(set(dates)) != len(dates):
                self.fail(f"{where}: a day appears twice on one page: {dates}")
            if not body["next"]:
                break
            params["before"] = body["next"]
        got_ids = [i["id"] for i in got]
        want_ids = [h.id for h in want]
        if got_ids != want_ids:
            self.fail(f"{where}: paged ids {got_ids}\n  model: {want_ids}")
        for item, headline in zip(got, want, strict=True):
            problems = headline_problems(item, headline)
            if problems:
                self.fail(f"{where}: item {headline.id}: {problems}\n  got {item}")
        if section is None and label is None and all(self.model.event_ids):
            expected = self._last_known_id()
            if first_event_id != expected:
                self.fail(f"timeline event_id {first_event_id}, the last event is {expected}")
        return first_event_id

    def check_articles(self) -> None:
        """``GET /v1/articles/{id}`` for the ids this step touched and a few more."""
        ids = set(self.touched) | set(self.rng.sample(IDS, 2))
        self.touched.clear()
        for article_id in sorted(ids):
            if article_id in ("?", "bad id with spaces"):
                continue
            response = self.http.get(f"{self.stack.url('feed')}/v1/articles/{article_id}")
            want = self.model.article(article_id)
            if want is None:
                if response.status_code != 404:
                    self.fail(f"GET /v1/articles/{article_id} must be 404: {response.text[:300]}")
                continue
            if response.status_code != 200:
                self.fail(f"GET /v1/articles/{article_id} -> {response.status_code}, want 200")
            problems = headline_problems(response.json(), want)
            if problems:
                self.fail(f"GET /v1/articles/{article_id}: {problems}")

    def check_subscribers(self) -> None:
        """Every subscriber got exactly its frames, in order, none at or before ``since``."""
        if not all(self.model.event_ids):
            return
        for sub, start in self.subs:
            pairs = self.model.frames(start, sub.section, sub.label.lower() if sub.label else None)
            want = [frame for _eid, frame in pairs]
            want_ids = [eid for eid, _frame in pairs]
            got = sub.wait_for(1 + len(want), 5)[1:]
            got = [m for m in got if not _before_example(m, self.base_event_id, sub)]
            self._compare_frames(sub, got, want, want_ids)

    def _compare_frames(
        self,
        sub: Subscriber,
        got: list[dict[str, Any]],
        want: list[Frame],
        want_ids: list[str | None],
    ) -> None:
        where = sub.describe()
        if sub.error:
            self.fail(f"{where}: {sub.error}")
        last = parse_event_id(sub.since) if sub.since else None
        for n, message in enumerate(got):
            eid = message.get("event_id")
            if message.get("type") in ("hello", "reset") or eid is None:
                self.fail(f"{where}: unexpected control frame #{n}: {message}")
            if last is not None and parse_event_id(eid) <= last:
                bound = "since or an earlier frame"
                self.fail(f"{where}: frame #{n} has event_id {eid} <= {bound}: {message}")
            last = parse_event_id(eid)
        summary = [
            (m.get("type"), m.get("event_id"), (m.get("headline") or {}).get("id")) for m in got
        ]
        expected = [(f.kind, eid, f.article) for f, eid in zip(want, want_ids, strict=True)]
        if len(got) != len(want):
            self.fail(f"{where}: received {summary}\n  model: {expected}")
        for message, frame, eid in zip(got, want, want_ids, strict=True):
            head = message.get("headline") or {}
            if (message.get("type"), message.get("event_id"), head.get("id")) != (
                frame.kind,
                eid,
                frame.article,
            ):
                self.fail(f"{where}: received {summary}\n  model: {expected}")
            if frame.kind == "retracted":
                if frame.filter_retraction != (message.get("reason") == "filter"):
                    want_reason = "'filter'" if frame.filter_retraction else "not 'filter'"
                    self.fail(f"{where}: retraction reason must be {want_reason}: {message}")
            else:
                assert frame.headline is not None
                problems = headline_problems(head, frame.headline)
                if problems:
                    self.fail(f"{where}: frame {eid}: {problems}\n  got {message}")

    def teardown(self) -> None:
        """Close the subscribers and clients."""
        for sub, _start in self.subs:
            sub.close()
        self.http.close()
        self.redis.close()


def _before_example(message: dict[str, Any], base: str, sub: Subscriber) -> bool:
    """A live frame of an earlier example (a subscriber without since whose hello lagged)."""
    eid = message.get("event_id")
    return sub.since is None and eid is not None and parse_event_id(eid) <= parse_event_id(base)


def _article_of(message: dict[str, Any]) -> Any:
    return (message.get("headline") or {}).get("id")


def headline_problems(doc: dict[str, Any], want: Headline) -> list[str]:
    """How a headline (timeline item, article, frame) differs from the model's."""
    problems = []
    for name, value in (
        ("id", want.id),
        ("title", want.title),
        ("section", want.section),
        ("labels", list(want.labels)),
        ("urgency", want.urgency),
        ("version", want.version),
    ):
        if doc.get(name) != value:
            problems.append(f"{name}={doc.get(name)!r}, want {value!r}")
    try:
        shown = datetime.fromisoformat(doc["published_at"])
    except (KeyError, TypeError, ValueError):
        return [*problems, f"published_at={doc.get('published_at')!r}"]
    local = want.published.astimezone(ZONE)
    if epoch_ms(shown) != want.pub_ms or shown.utcoffset() != local.utcoffset():
        problems.append(f"published_at={doc['published_at']}, want {local.isoformat()}")
    if doc.get("date") != local.date().isoformat():
        problems.append(f"date={doc.get('date')!r}, want {local.date().isoformat()!r}")
    if doc.get("time") != f"{local.hour:02d}:{local.minute:02d}":
        problems.append(f"time={doc.get('time')!r}, want {local.hour:02d}:{local.minute:02d}")
    return problems


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


@pytest.mark.timeout(0)
def test_reference_model(model_stack: tuple[Stack, EmbeddedRedis]) -> None:
    """Random sessions against the real stack agree with the reference model at every step."""
    stack, server = model_stack
    LivefeedMachine.stack = stack
    LivefeedMachine.server = server
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if SHRINK:
        phases.append(Phase.shrink)
    seed = int(os.environ.get("LIVEFEED_MODEL_SEED") or random.randrange(2**32))
    note = f"reference model: reproduce with LIVEFEED_MODEL_SEED={seed}"
    if AVOID:
        note += f" LIVEFEED_MODEL_AVOID={','.join(sorted(AVOID))}"
    print(note)
    saved, hypothesis_core.global_force_seed = hypothesis_core.global_force_seed, seed
    try:
        run_state_machine_as_test(
            LivefeedMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                phases=phases,
                print_blob=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except BaseException as exc:
        exc.add_note(note)
        raise
    finally:
        hypothesis_core.global_force_seed = saved
