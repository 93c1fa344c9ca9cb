"""``livefeed worker``: an RQ worker applying queued items, plus the embargo clock."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.utils import now
from rq.worker import WorkerStatus

from services.feed.jobs import release_embargoes
from services.feed.metrics import EMBARGOES_RELEASED
from services.feed.worker_http import start_worker_http
from shared.redis_client import apply_queue, worker_client
from shared.settings import Settings

log = logging.getLogger(__name__)

EMBARGO_TICK_S = 0.5
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)

# Abandoned jobs (a worker killed mid-job) are found in seconds, not RQ's default minutes:
# a job's StartedJobRegistry entry expires ABANDON_GRACE_S after its timeout (RQ adds 60 s),
# maintenance (which retries expired entries) runs every MAINTENANCE_S, and the blocking
# dequeue wakes every WORKER_TTL_S - 15 s so maintenance gets its turn on an idle worker.
ABANDON_GRACE_S = 2
MAINTENANCE_S = 3
WORKER_TTL_S = 20
STUCK_DEQUEUED_S = 8
# A heartbeat on its own is not sent again within this (a busy worker's, between jobs): far
# inside the shortest time the worker's key is kept (LIVEFEED_JOB_TIMEOUT + ABANDON_GRACE_S).
HEARTBEAT_SKIP = timedelta(seconds=2)


class LivefeedWorker(SimpleWorker):
    """RQ's in-process worker, with abandoned-job detection in seconds and fewer round trips.

    A SimpleWorker sends no heartbeat while a job runs, so the registry entry must outlive the
    longest run: the job timeout (SIGALRM stops the job then) plus a short grace.

    Between a job's dequeue and its start RQ makes six round trips, each a write that Redis
    syncs to disk first under ``appendfsync always``: a heartbeat of three separate commands,
    the execution record, then the job's start. Here a heartbeat is one pipeline and is not
    repeated within ``HEARTBEAT_SKIP`` (the job's start carries one anyway), and the
    execution record rides in the same MULTI/EXEC as the job's start: one round trip, with the
    same records written, so an abandoned job is found exactly as before.
    """

    _pending: Pipeline | None = None

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """The job's timeout plus a grace: past that, nobody is running it any more."""
        timeout = job.timeout if job.timeout and job.timeout > 0 else WORKER_TTL_S
        return int(timeout) + ABANDON_GRACE_S

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat; on its own (no pipeline) one round trip, skipped if one was just sent
        (the worker's key lives ``worker_ttl`` + 60 s; a job's start sends one in its MULTI)."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        last = getattr(self, "last_heartbeat", None)
        if timeout is None and last is not None and now() - last < HEARTBEAT_SKIP:
            return
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(timeout, pipeline=own)
            own.execute()

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ's state, not written again when it is already the state (idle after idle)."""
        if pipeline is None and getattr(self, "_state", None) == state:
            return
        super().set_state(state, pipeline=pipeline)

    def prepare_execution(self, job: Job) -> Execution:
        """The execution record and the busy state, queued for ``prepare_job_execution``'s
        MULTI/EXEC (which follows at once, in this process) instead of a round trip of their own."""
        pipeline = self.connection.pipeline()
        execution = Execution.create(
            job, self.get_heartbeat_ttl(job), pipeline=pipeline, worker_name=self.name
        )
        self.executions[execution.id] = execution
        self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
        self._pending = pipeline
        return execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's job start, sent in one MULTI/EXEC with the pending execution record."""
        pending, self._pending = self._pending, None
        if pending is None:
            super().prepare_job_execution(job, remove_from_intermediate_queue)
            return
        with pending as pipeline:
            heartbeat_ttl = self.get_heartbeat_ttl(job)
            self.heartbeat(heartbeat_ttl, pipeline=pipeline)
            job.heartbeat(now(), heartbeat_ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            pipeline.persist(job.key)
            if remove_from_intermediate_queue:
                pipeline.lrem(
                    Queue(job.origin, connection=self.connection).intermediate_queue_key, 1, job.id
                )
            pipeline.execute()

    def clean_registries(self) -> None:
        """RQ's maintenance, plus rescuing jobs a dead worker dequeued but never started."""
        for queue in self.queues:
            if queue.acquire_maintenance_lock():
                try:
                    self._rescue_dequeued(queue)
                finally:
                    queue.release_maintenance_lock()  # type: ignore[no-untyped-call]  # rq: untyped
        super().clean_registries()  # type: ignore[no-untyped-call]

    def _rescue_dequeued(self, queue: Queue) -> None:
        # A job moved to the intermediate list whose worker died before starting it: RQ retries
        # it only after a hard-coded minute; a live worker starts a job within milliseconds.
        intermediate = queue.intermediate_queue
        started = queue.started_job_registry
        for job_id in intermediate.get_job_ids():
            first_seen = intermediate.get_first_seen(job_id)  # set by RQ's own cleanup
            if first_seen is None or job_id in started:
                continue
            if (datetime.now(UTC) - first_seen).total_seconds() < STUCK_DEQUEUED_S:
                continue
            job = queue.fetch_job(job_id)
            if job is not None:
                log.warning("retrying job %s: its worker died before starting it", job_id)
                self.handle_job_failure(job, queue, exc_string="worker died after dequeueing it")
            intermediate.remove(job_id)


def _embargo_clock(client: redis.Redis, settings: Settings, stop: threading.Event) -> None:
    """Release due embargoes twice a second; any worker may do it, the script is atomic."""
    failures = 0
    while not stop.wait(EMBARGO_TICK_S):
        try:
            released = release_embargoes(client, settings)
            failures = 0
        except redis.RedisError as exc:
            failures += 1
            if failures in {1, 10} or failures % 100 == 0:
                log.warning("embargo clock cannot reach Redis: %s", exc)
            continue
        EMBARGOES_RELEASED.inc(len(released))
        for outcome in released:
            log.info("embargo lifted", extra={"article": outcome["id"]})


def run_worker(settings: Settings, url: str) -> None:
    """Work the queue until SIGTERM/SIGINT (RQ finishes the job in hand first)."""
    client = worker_client(url, settings)
    stop = threading.Event()
    clock = threading.Thread(
        target=_embargo_clock, args=(client, settings, stop), name="embargo-clock", daemon=True
    )
    clock.start()
    metrics_http = start_worker_http(settings, url)
    attempt = 0
    try:
        while True:
            queue = apply_queue(client, settings)
            # SimpleWorker runs jobs in this process: no fork per job (4x the throughput).
            worker: LivefeedWorker | None = None
            try:
                # Inside the try: RQ already talks to Redis in the constructor (CLIENT SETNAME),
                # and a worker that dies of a Redis outage leaves every queued item waiting.
                worker = LivefeedWorker(
                    [queue],
                    connection=client,
                    serializer=queue.serializer,
                    worker_ttl=WORKER_TTL_S,
                    maintenance_interval=MAINTENANCE_S,
                )
                # RQ logs five lines per job and two per maintenance pass (every few seconds)
                # at INFO; our own "applied" line says what matters, so RQ's show at DEBUG only.
                rq_level = "DEBUG" if settings.log_level == "DEBUG" else "WARNING"
                worker.work(logging_level=rq_level, with_scheduler=True)
            except redis.RedisError as exc:
                log.warning("worker lost Redis: %s", exc)
            # Idle at SIGTERM, RQ leaves the loop by StopRequested without setting _stop_requested.
            if worker is not None and (
                worker._stop_requested or worker._shutdown_requested_date is not None
            ):
                log.info("worker stopped")
                return
            delay = RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)]
            attempt += 1
            log.warning("worker loop ended unexpectedly; starting again in %.1fs", delay)
            if stop.wait(delay):
                return
    finally:
        stop.set()
        clock.join(timeout=2)
        if metrics_http is not None:
            metrics_http.shutdown()
