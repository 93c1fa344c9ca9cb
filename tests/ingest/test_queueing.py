"""Queuing a job: RQ builds the commands, ingest sends them in one MULTI/EXEC off the loop.

Every ingest test goes through this path end to end; these pin what it relies on in RQ, so an
RQ upgrade that changes it fails here rather than blocking ingest's event loop in production.
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from services.ingest.queueing import Enqueuer
from shared import keys
from shared.redis_server import EmbeddedRedis
from shared.settings import Settings


def test_building_a_job_waits_on_no_redis_and_sending_it_queues_what_rq_expects(
    redis_server: EmbeddedRedis, redis_client: redis.Redis
) -> None:
    # A queue of its own: the session's worker would otherwise take the job at once.
    settings = Settings(queue_name="queueing-test")
    pool = redis.BlockingConnectionPool.from_url(redis_server.url, max_connections=1, timeout=0)
    offline = redis.Redis(connection_pool=pool)
    enqueuer = Enqueuer(offline, settings)
    enqueuer.server_version()  # read once, at the first request
    held = pool.get_connection()  # the pool's only connection: any Redis call now fails
    try:
        job_id, commands = enqueuer.commands(
            [{"id": "queued-1", "title": "T"}], "req-1", also_set=("lf:test:answer", b"{}", 60)
        )
    finally:
        pool.release(held)
    with redis_client.pipeline(transaction=True) as pipe:
        for args, options in commands:
            pipe.execute_command(*args, **options)
        pipe.execute()

    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.QUEUED
    assert job.func_name == keys.APPLY_JOB
    assert job.kwargs["items"] == [{"id": "queued-1", "title": "T"}]
    assert job.kwargs["request_id"] == "req-1"
    queue = Queue(settings.queue_name, connection=redis_client, serializer=JSONSerializer)
    assert job_id in queue.job_ids
    assert redis_client.get("lf:test:answer") == b"{}"
    redis_client.delete("lf:test:answer")
    job.delete()
    offline.close()
