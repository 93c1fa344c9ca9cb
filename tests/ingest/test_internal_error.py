"""An unexpected failure inside a request still answers problem+json, and is logged."""

from __future__ import annotations

import redis

from tests.helpers import Ingest
from tests.procs import Stack, wait_for


async def test_a_corrupted_job_record_answers_a_problem_500(
    ingest: Ingest, fresh: Stack, redis_client: redis.Redis
) -> None:
    # A job hash no RQ version wrote (a hand edit, a half-restored dump): reading it fails in
    # RQ itself, not in anything ingest validates. That is an internal error, answered as one.
    redis_client.hset(
        "rq:job:corrupt-job-1",
        mapping={"data": "{}", "status": "finished", "created_at": "not a date"},
    )
    try:
        response = await ingest.client.get(
            f"{ingest.base}/v1/jobs/corrupt-job-1", headers=ingest.auth
        )
    finally:
        redis_client.delete("rq:job:corrupt-job-1")
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 500
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text  # no internals leak to the client
    log = fresh.workdir / "ingest.log"
    wait_for(lambda: body["request_id"] in log.read_text() and "Traceback" in log.read_text(), 5)
