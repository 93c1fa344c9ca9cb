"""Handing accepted items to the feed worker: one RQ job per request, JSON payload."""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from shared import keys
from shared.dates import now_ms
from shared.settings import Settings

RESULT_TTL_S = 24 * 3600
FAILURE_TTL_S = 7 * 24 * 3600
RETRY_INTERVALS_S = [0, 5, 15]


class Enqueuer:
    """Enqueues apply jobs by dotted path; never imports the feed service."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.queue = Queue(settings.queue_name, connection=client, serializer=JSONSerializer)

    def enqueue(
        self,
        items: list[dict[str, Any]],
        request_id: str,
        *,
        job_id: str | None = None,
        also_set: tuple[str, bytes, int] | None = None,
    ) -> str:
        """Queue one job carrying ``items``; returns once Redis holds it (raises RedisError).

        ``also_set`` (key, value, ttl) is written in the same MULTI/EXEC as the job: the stored
        answer of an idempotent request exists exactly when its job does.
        """
        retries = self.settings.job_retries
        pipe = self.client.pipeline(transaction=True)
        job = self.queue.enqueue_call(
            keys.APPLY_JOB,
            # accepted_ms rides on each event as `at`: push measures freshness from it.
            kwargs={"items": items, "request_id": request_id, "accepted_ms": now_ms()},
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            description=f"apply {len(items)} item(s) of request {request_id}",
            timeout=self.settings.job_timeout,
            # The first retry is immediate: it needs no scheduler, so a job abandoned by a killed
            # worker (whose forked scheduler died with it) runs again within seconds.
            retry=Retry(max=retries, interval=RETRY_INTERVALS_S[:retries]) if retries else None,
            job_id=job_id,
            pipeline=pipe,
        )
        if also_set is not None:
            key, value, ttl = also_set
            pipe.set(key, value, ex=ttl)
        pipe.execute()  # MULTI/EXEC: the job, its queue entry and the answer, or nothing
        return str(job.id)

    def status(self, job_id: str) -> dict[str, Any] | None:
        """Where a queued job is and, once applied, each item's outcome; None if unknown."""
        try:
            job = Job.fetch(job_id, connection=self.client, serializer=JSONSerializer)
        except NoSuchJobError:
            return None
        status = job.get_status(refresh=False)
        state = status.value if status is not None else "unknown"
        report: dict[str, Any] = {"job_id": job.id, "status": state}
        if state == "finished":
            report["results"] = job.return_value()
        elif state == "failed":
            report["error"] = "the job failed after its retries; ops can requeue it"
        return report
