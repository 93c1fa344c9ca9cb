"""Handing accepted items to the feed worker: one RQ job per request, JSON payload.

RQ decides what a queued job is in Redis (its hash, the queue list, the queues set): RQ builds
those commands into a pipeline that is never executed itself, and ingest sends them in one
MULTI/EXEC, from its event loop on the asyncio client (``enqueue``) or blocking on the plain
client (``enqueue_blocking``, for scripts and benchmarks).

With ``LIVEFEED_REDIS_MIN_REPLICAS`` = N > 0 the transaction is followed, on the same
connection, by ``WAIT N LIVEFEED_REDIS_WAIT_MS``: Redis answers how many replicas hold every
write of that connection so far. Fewer than N raises ``NotReplicatedError`` (ingest answers 503).
The job is in the primary's queue all the same and may well run: nothing undoes it, because
nothing needs to: applying an item twice (the client retries) is ``unchanged`` the second time.
"""

from __future__ import annotations

import time
from typing import Any

import redis
import redis.asyncio
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from starlette.concurrency import run_in_threadpool

from shared import keys
from shared.dates import now_ms
from shared.metrics import observe_stage
from shared.redis_client import Command, apply_queue, check_replicated, replicated
from shared.settings import Settings

RESULT_TTL_S = 24 * 3600
FAILURE_TTL_S = 7 * 24 * 3600
RETRY_INTERVALS_S = [0, 5, 15]


class Enqueuer:
    """Enqueues apply jobs by dotted path; never imports the feed service."""

    def __init__(
        self,
        client: redis.Redis,
        settings: Settings,
        aclient: redis.asyncio.Redis | None = None,
    ) -> None:
        self.client = client
        self.aclient = aclient
        self.settings = settings
        self.queue = apply_queue(client, settings)

    def commands(
        self,
        items: list[dict[str, Any]],
        request_id: str,
        job_id: str | None = None,
        also_set: tuple[str, bytes, int] | None = None,
    ) -> tuple[str, list[Command]]:
        """The job id and the commands (for one MULTI/EXEC) that queue one job carrying ``items``.

        ``also_set`` (key, value, ttl) rides in the same transaction: the stored answer of an
        idempotent request exists exactly when its job does. Needs ``server_version()`` done.
        """
        retries = self.settings.job_retries
        recorder = self.client.pipeline(transaction=True)
        job = self.queue.enqueue_call(
            keys.APPLY_JOB,
            # accepted_ms rides on each event as `at`: push measures freshness from it;
            # accepted_at (seconds, to the microsecond) times the queue stage.
            kwargs={
                "items": items,
                "request_id": request_id,
                "accepted_ms": now_ms(),
                "accepted_at": time.time(),
            },
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            description=f"apply {len(items)} item(s) of request {request_id}",
            timeout=self.settings.job_timeout,
            # The first retry is immediate: it needs no scheduler, so a job abandoned by a killed
            # worker (whose forked scheduler died with it) runs again within seconds.
            retry=Retry(max=retries, interval=RETRY_INTERVALS_S[:retries]) if retries else None,
            job_id=job_id,
            pipeline=recorder,
        )
        # A job without dependencies is only buffered commands: RQ took no connection (a WATCH
        # would have), so nothing above waited on Redis.
        if recorder.connection is not None or recorder.watching:
            raise RuntimeError("RQ talked to Redis while building a job")
        commands: list[Command] = list(recorder.command_stack)
        recorder.reset()
        if also_set is not None:
            key, value, ttl = also_set
            commands.append((("SET", key, value, "EX", ttl), {}))
        return str(job.id), commands

    def server_version(self) -> None:
        """Let RQ read (once, blocking) the Redis version it stamps on jobs (raises RedisError)."""
        self.queue.get_redis_server_version()

    async def enqueue(
        self,
        items: list[dict[str, Any]],
        request_id: str,
        *,
        job_id: str | None = None,
        also_set: tuple[str, bytes, int] | None = None,
    ) -> str:
        """Queue one job carrying ``items``; returns once Redis holds it (raises RedisError)."""
        assert self.aclient is not None, "no asyncio client"
        if not self.queue.redis_server_version:
            await run_in_threadpool(self.server_version)
        job, commands = self.commands(items, request_id, job_id, also_set)
        replicas = self.settings.redis_min_replicas
        started = time.perf_counter()
        if not replicas:
            async with self.aclient.pipeline(transaction=True) as pipe:
                for args, options in commands:
                    pipe.execute_command(*args, **options)
                # MULTI/EXEC: the job, its queue entry and the answer, or nothing
                await pipe.execute()
            observe_stage("enqueue", time.perf_counter() - started)
            return job
        async with self.aclient.pipeline(transaction=False) as pipe:
            for args, options in replicated(commands, replicas, self.settings.redis_wait_ms):
                pipe.execute_command(*args, **options)
            check_replicated(await pipe.execute(), replicas, f"job {job}")
        observe_stage("enqueue", time.perf_counter() - started)
        return job

    def enqueue_blocking(
        self,
        items: list[dict[str, Any]],
        request_id: str,
        *,
        job_id: str | None = None,
        also_set: tuple[str, bytes, int] | None = None,
    ) -> str:
        """``enqueue`` on the plain client, for code without an event loop."""
        self.server_version()
        job, commands = self.commands(items, request_id, job_id, also_set)
        replicas = self.settings.redis_min_replicas
        if replicas:
            commands = replicated(commands, replicas, self.settings.redis_wait_ms)
        with self.client.pipeline(transaction=not replicas) as pipe:
            for args, options in commands:
                pipe.execute_command(*args, **options)  # type: ignore[no-untyped-call]
            replies = pipe.execute()
        if replicas:
            check_replicated(replies, replicas, f"job {job}")
        return job

    def status(self, job_id: str) -> dict[str, Any] | None:
        """Where a queued job is and, once applied, each item's outcome; None if unknown."""
        try:
            job = Job.fetch(job_id, connection=self.client, serializer=self.queue.serializer)
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
