"""Apply throughput: items/s one feed worker applies, by worker kind, batch size and fsync policy.

For each case: a fresh embedded Redis with the given ``appendfsync``; J jobs enqueued exactly as
ingest enqueues them (``services.ingest.queueing.Enqueuer``), each carrying B articles; then one
worker in a separate process drains the queue in burst mode and reports the wall time of
``work()``. The timeline and stream limits are raised so that nothing is trimmed and every
applied article can be counted (at the 5,000-item default each new item also trims one).
Worker kinds: ``simple`` (livefeed's worker class, an RQ ``SimpleWorker``: jobs run
in the worker process) and ``fork`` (RQ's default ``Worker``: one fork per job). ``lua`` is the
floor without RQ: the same ``TimelineWriter.apply`` (one Lua script call per batch) in a loop.

    .venv/bin/python -m bench.apply --repeats 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import redis

from bench import harness
from bench.common import bench_redis
from bench.publisher import article
from bench.stack import Stack
from shared.models import Article

# (fsync, worker, batch, jobs): fsync "always" is what livefeed up runs with.
CASES: tuple[tuple[str, str, int, int], ...] = (
    ("always", "simple", 1, 300),
    ("always", "fork", 1, 100),
    ("always", "simple", 100, 100),
    ("always", "fork", 100, 50),
    ("always", "simple", 500, 20),
    ("always", "lua", 100, 100),
    ("everysec", "simple", 100, 100),
    ("everysec", "lua", 100, 100),
    ("no", "simple", 100, 100),
    ("no", "lua", 100, 100),
)
# Large enough that nothing is trimmed, so "applied" can be counted on the timeline.
LIMITS = {"LIVEFEED_MAX_ITEMS": "1000000", "LIVEFEED_STREAM_MAXLEN": "1000000"}
QUICK_CASES = (
    ("always", "simple", 1, 200),
    ("always", "simple", 100, 30),
    ("always", "lua", 100, 50),
)


def items(job: int, batch: int) -> list[dict[str, Any]]:
    """The queued form of *batch* new articles (as ingest queues them)."""
    published = datetime.now(UTC).isoformat(timespec="seconds")
    return [
        {
            "op": "upsert",
            "article": Article.model_validate(
                article(f"apply-{job}-{i}", f"{job}/{i}", published)
            ).model_dump(mode="json", exclude_none=True),
        }
        for i in range(batch)
    ]


def child(args: argparse.Namespace) -> dict[str, Any]:
    """The worker process (``--child simple|fork --url``): drain the queue once, in burst mode;
    the wall time of ``work()``."""
    from rq import Worker

    from services.feed.worker import LivefeedWorker
    from shared.logs import configure_logging
    from shared.redis_client import apply_queue, worker_client
    from shared.settings import get_settings

    settings = get_settings()
    configure_logging(settings, "worker")
    client = worker_client(args.url, settings)
    queue = apply_queue(client, settings)
    worker_class = LivefeedWorker if args.child == "simple" else Worker
    worker = worker_class([queue], connection=client, serializer=queue.serializer)
    t0 = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return {"seconds": time.perf_counter() - t0}


def _lua_floor(url: str, batches: list[list[dict[str, Any]]]) -> float:
    """Seconds to apply *batches* with the worker's own store code, no RQ."""
    from services.feed.jobs import build_ops
    from services.feed.store import TimelineWriter
    from shared.settings import Settings

    settings = Settings(window_days=0, max_items=1_000_000, stream_maxlen=1_000_000)
    client = redis.Redis.from_url(url)
    writer = TimelineWriter(client, settings)
    t0 = time.perf_counter()
    for batch in batches:
        writer.apply(build_ops(batch, settings, "bench")[0])
    took = time.perf_counter() - t0
    client.close()
    return took


def run_case(fsync: str, kind: str, batch: int, jobs: int, label: str) -> dict[str, Any]:
    """One measured case."""
    from services.ingest.queueing import Enqueuer
    from shared.settings import Settings

    payloads = [items(j, batch) for j in range(jobs)]
    with bench_redis(fsync) as srv:
        if kind == "lua":
            seconds = _lua_floor(srv.url, payloads)
        else:
            client = redis.Redis.from_url(srv.url)
            enqueuer = Enqueuer(client, Settings())
            for j, payload in enumerate(payloads):
                enqueuer.enqueue_blocking(payload, f"bench-{j}")
            client.close()
            env = Stack(srv.url, services=(), extra_env=LIMITS).env()
            worker = harness.child("bench.apply", kind, "--url", srv.url, env=os.environ | env)
            seconds = harness.answer(worker, timeout_s=300)["seconds"]
        check = redis.Redis.from_url(srv.url)
        applied = int(check.zcard("lf:timeline"))  # every article must have landed
        check.close()
    row = {
        "fsync": fsync,
        "worker": kind,
        "batch": batch,
        "jobs": jobs,
        "items": jobs * batch,
        "applied": applied,
        "seconds": seconds,
        "items_per_s": jobs * batch / seconds,
        "jobs_per_s": jobs / seconds,
    }
    print(
        f"{label} {row['items_per_s']:.0f} items/s ({row['jobs_per_s']:.0f} jobs/s), "
        f"applied {applied}/{jobs * batch}",
        flush=True,
    )
    return row


def arguments(p: argparse.ArgumentParser) -> None:
    """Options of the apply step (and of its worker process, ``--child KIND --url``)."""
    p.add_argument("--quick", action="store_true", help="3 short cases")
    p.add_argument("--url", help=argparse.SUPPRESS)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every case ``--repeats`` times; medians in ``summary``."""
    runs, summary = [], []
    for fsync, kind, batch, jobs in QUICK_CASES if args.quick else CASES:
        label = f"apply {kind} batch={batch} appendfsync={fsync}"
        rows = harness.repeat(args.repeats, label, partial(run_case, fsync, kind, batch, jobs))
        runs.extend(rows)
        case = {"fsync": fsync, "worker": kind, "batch": batch, "repeats": args.repeats}
        case |= harness.medians(rows, ("items_per_s", "jobs_per_s"))
        summary.append(case | {"all_applied": all(r["applied"] == r["items"] for r in rows)})
    return {"summary": summary, "runs": runs}


if __name__ == "__main__":
    sys.exit(harness.main(sys.modules[__name__], "apply"))
