"""``livefeed jobs failed|requeue``: the dead-letter list of apply jobs, for ops.

A job lands in RQ's FailedJobRegistry once its retries are spent (or a worker died under it
with none left). Nothing there is lost: the job keeps its items for ``FAILURE_TTL_S`` (7 days),
``failed`` lists them and ``requeue`` puts them back on the queue once the cause is fixed.
Applying is idempotent, so requeueing a job that partly ran is harmless.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from shared.redis_client import apply_queue, running_url, sync_client
from shared.settings import Settings


@dataclass(frozen=True)
class FailedJob:
    """One dead-lettered job, as ops see it."""

    job_id: str
    ended_at: str
    description: str
    error: str


def _registry(client: redis.Redis, settings: Settings) -> FailedJobRegistry:
    return FailedJobRegistry(queue=apply_queue(client, settings))


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


def failed_jobs(client: redis.Redis, settings: Settings) -> list[FailedJob]:
    """Every job in the dead-letter list, oldest failure first."""
    registry = _registry(client, settings)
    found: list[FailedJob] = []
    for job_id in registry.get_job_ids():
        try:
            job = Job.fetch(job_id, connection=client, serializer=registry.serializer)
        except NoSuchJobError:
            continue
        result = job.latest_result()
        error = result.exc_string if result is not None else None
        ended = job.ended_at.isoformat(timespec="seconds") if job.ended_at else "-"
        found.append(FailedJob(job.id, ended, job.description or "", _last_line(error)))
    return found


def requeue(client: redis.Redis, settings: Settings, job_ids: list[str]) -> list[str]:
    """Put the given failed jobs (all of them when ``job_ids`` is empty) back on the queue.

    Returns the ids requeued; raises ``KeyError`` naming an id that is not in the list.
    """
    registry = _registry(client, settings)
    wanted = job_ids or list(registry.get_job_ids())
    done: list[str] = []
    for job_id in wanted:
        try:
            registry.requeue(job_id)
        except (InvalidJobOperation, NoSuchJobError) as exc:
            raise KeyError(job_id) from exc
        done.append(job_id)
    return done


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``livefeed jobs failed`` and ``livefeed jobs requeue JOB_ID...|--all``."""
    jobs = sub.add_parser("jobs", help="the dead-letter list: failed jobs, and requeueing them")
    actions = jobs.add_subparsers(dest="jobs_command", required=True)
    actions.add_parser("failed", help="list jobs that failed after their retries")
    again = actions.add_parser("requeue", help="put failed jobs back on the queue")
    again.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="jobs to requeue")
    again.add_argument("--all", action="store_true", help="requeue every failed job")


def jobs_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``livefeed jobs ...``; exit code 0 on success, 1 on a bad id, 2 on no Redis."""
    url = running_url(settings)
    if url is None:
        print(
            "livefeed jobs: no Redis: set LIVEFEED_REDIS_URL or start livefeed "
            f"(no embedded Redis runs in {settings.data_dir})",
            file=sys.stderr,
        )
        return 2
    client = sync_client(url, settings)
    try:
        if args.jobs_command == "failed":
            failed = failed_jobs(client, settings)
            for job in failed:
                print(f"{job.job_id}\t{job.ended_at}\t{job.description}\t{job.error}")
            print(f"{len(failed)} failed job(s)", file=sys.stderr)
            return 0
        if bool(args.job_ids) == bool(args.all):
            print("livefeed jobs requeue: give JOB_ID(s) or --all", file=sys.stderr)
            return 2
        try:
            done = requeue(client, settings, list(args.job_ids))
        except KeyError as exc:
            print(f"livefeed jobs requeue: {exc.args[0]} is not a failed job", file=sys.stderr)
            return 1
        for job_id in done:
            print(job_id)
        print(f"{len(done)} job(s) requeued", file=sys.stderr)
        return 0
    except redis.RedisError as exc:
        print(f"livefeed jobs: Redis is unreachable: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
