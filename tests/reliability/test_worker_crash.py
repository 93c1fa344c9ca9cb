"""A worker SIGKILLed in the middle of a job: every item is applied exactly once afterwards.

RQ's SimpleWorker runs the job in its own process and sends no heartbeat meanwhile, so a killed
worker leaves its job in the StartedJobRegistry until the entry expires (our job timeout + 2 s,
see services/feed/worker.py); maintenance then retries it, immediately (first retry interval 0).
The Lua apply is atomic and idempotent, so whatever the killed run did, the rerun completes it
without a second event.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from shared import keys
from tests.helpers import article
from tests.procs import REPO, wait_for
from tests.reliability.conftest import StackFactory, children

BATCHES = 6
PER_BATCH = 500
JOB_TIMEOUT_S = 2


def _batch(n: int) -> dict[str, object]:
    # Long summaries make each job take a while to validate and apply: a window to kill in.
    return {
        "articles": [
            article(f"b{n}-{i}", summary="word " * 250, labels=["Exclusive"], section="news")
            for i in range(PER_BATCH)
        ]
    }


def _status(client: redis.Redis, job_id: str) -> JobStatus | None:
    status: JobStatus | None = Job.fetch(
        job_id, connection=client, serializer=JSONSerializer
    ).get_status()
    return status


def _published_events(client: redis.Redis) -> list[str]:
    return [
        fields[b"id"].decode()
        for _id, fields in client.xrange(keys.EVENTS, "-", "+")
        if fields[b"type"] == b"published"
    ]


def test_worker_killed_mid_job_applies_each_item_exactly_once(make_stack: StackFactory) -> None:
    stack, server = make_stack(
        LIVEFEED_JOB_TIMEOUT=str(JOB_TIMEOUT_S), LIVEFEED_STREAM_MAXLEN="100000"
    )
    client = redis.Redis.from_url(server.url)
    queue = Queue("livefeed", connection=client, serializer=JSONSerializer)
    started_key = queue.started_job_registry.key
    worker = stack.services["worker"]
    assert worker.process is not None
    wait_for(lambda: children(worker.process.pid), timeout=10)  # its scheduler is up
    tree = [worker.process.pid, *children(worker.process.pid)]

    job_ids = []
    with httpx.Client(timeout=30) as http:
        for n in range(BATCHES):
            response = http.post(
                f"{stack.url('ingest')}/v1/articles",
                json=_batch(n),
                headers={"Authorization": f"Bearer {stack.token}"},
            )
            assert response.status_code == 202, response.text
            job_ids.append(response.json()["job_id"])

    # Catch the worker with a job in hand: freeze it, check, then kill it with its scheduler
    # (a crashed container loses both).
    deadline = time.monotonic() + 30
    while True:
        if client.zcard(started_key):
            os.kill(worker.process.pid, signal.SIGSTOP)
            in_hand = [m.decode().split(":")[0] for m in client.zrange(started_key, 0, -1)]
            # RQ registers the job a moment before it marks it started: catch it running.
            if in_hand and _status(client, in_hand[0]) == JobStatus.STARTED:
                break
            os.kill(worker.process.pid, signal.SIGCONT)
        assert time.monotonic() < deadline, "the worker never started a job"
    for pid in tree:
        os.kill(pid, signal.SIGKILL)
    worker.process.wait()
    killed_at = time.monotonic()
    killed_job = Job.fetch(in_hand[0], connection=client, serializer=JSONSerializer)
    assert killed_job.get_status() == JobStatus.STARTED
    assert killed_job.retries_left == 3

    stack.start_service("worker")

    def all_finished() -> bool:
        return all(
            Job.fetch(j, connection=client, serializer=JSONSerializer).get_status()
            == JobStatus.FINISHED
            for j in job_ids
        )

    wait_for(all_finished, timeout=60, interval=0.2)
    recovered_s = time.monotonic() - killed_at
    killed_job.refresh()
    # The killed run was abandoned and retried, not silently finished by the dead process.
    assert killed_job.retries_left == 2, "the killed job was not retried"
    published = _published_events(client)
    expected = {f"b{n}-{i}" for n in range(BATCHES) for i in range(PER_BATCH)}
    assert len(published) == len(expected), "an item was published twice or not at all"
    assert set(published) == expected
    assert client.zcard(keys.TIMELINE) == len(expected)
    assert recovered_s < 20, f"recovery took {recovered_s:.1f}s"
    print(f"killed job {killed_job.id} recovered in {recovered_s:.1f}s")
    client.close()


def test_failed_jobs_are_listed_and_requeued_by_ops(make_stack: StackFactory) -> None:
    """A job that keeps failing ends in the dead-letter list; ops fix the cause and requeue it."""
    stack, server = make_stack(LIVEFEED_JOB_RETRIES="1")
    client = redis.Redis.from_url(server.url)
    # Something clobbered the article's key with the wrong type: applying it fails every time.
    client.set(keys.article("poisoned"), "not a hash")
    with httpx.Client(timeout=10) as http:
        auth = {"Authorization": f"Bearer {stack.token}"}
        response = http.post(
            f"{stack.url('ingest')}/v1/articles", json=article("poisoned"), headers=auth
        )
        assert response.status_code == 202
        job_id = response.json()["job_id"]

        def status() -> str:
            body = http.get(f"{stack.url('ingest')}/v1/jobs/{job_id}", headers=auth).json()
            return str(body["status"])

        wait_for(lambda: status() == "failed", timeout=20, interval=0.1)

        env = stack.env()
        listed = _cli(env, "jobs", "failed")
        assert listed.returncode == 0, listed.stderr
        assert job_id in listed.stdout
        assert "WRONGTYPE" in listed.stdout  # the cause, for ops

        client.delete(keys.article("poisoned"))
        requeued = _cli(env, "jobs", "requeue", "--all")
        assert requeued.returncode == 0, requeued.stderr
        assert requeued.stdout.split() == [job_id]
        wait_for(lambda: status() == "finished", timeout=20, interval=0.1)
        timeline = http.get(f"{stack.url('feed')}/v1/timeline").json()
        assert [i["id"] for d in timeline["days"] for i in d["items"]] == ["poisoned"]

        assert _cli(env, "jobs", "failed").stdout.strip() == ""
        unknown = _cli(env, "jobs", "requeue", "no-such-job")
        assert unknown.returncode == 1
        assert "no-such-job is not a failed job" in unknown.stderr
    client.close()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
