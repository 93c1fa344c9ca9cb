"""schemathesis against the real ingest: every documented operation, valid and invalid input.

The schema is loaded over HTTP from the running ingest's ``/openapi.json``; every generated
request goes to that same process. What must hold: no 5xx ever, every error is a problem+json
document, and each answer is a status (and body) the document declares.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import Case, CheckContext, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.procs import Stack, wait_for

# Per operation and generation mode (15 operations x positive/negative): about 35 s here.
EXAMPLES = 50
JOB_DRAIN_S = 30.0


@pytest.fixture(scope="module")
def queued_jobs(stack: Stack) -> Iterator[list[str]]:
    """Job ids of the 202s; at the end, wait until the worker has finished all of them.

    Accepted articles land on the shared stack: the next test's ``fresh`` wipe must not race
    with jobs still being applied.
    """
    jobs: list[str] = []
    yield jobs
    auth = {"Authorization": f"Bearer {stack.token}"}
    deadline = time.monotonic() + JOB_DRAIN_S
    with httpx.Client(base_url=stack.url("ingest"), headers=auth, timeout=5) as client:
        for job_id in jobs:

            def ended(job_id: str = job_id) -> bool:
                return client.get(f"/v1/jobs/{job_id}").json()["status"] in {"finished", "failed"}

            wait_for(ended, max(0.1, deadline - time.monotonic()), interval=0.05)


@pytest.fixture(scope="module")
def ingest_schema(stack: Stack) -> schemathesis.BaseSchema:
    """The ingest's own OpenAPI document, fetched from the running process."""
    auth = {"Authorization": f"Bearer {stack.token}"}
    schema = schemathesis.openapi.from_url(
        f"{stack.url('ingest')}/openapi.json", headers=auth, timeout=10
    )
    schema.config.update(base_url=stack.url("ingest"))
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    )
    rejection = schema.config.checks.negative_data_rejection
    # A schema-violating body can also be too large: 413 is a rejection as well.
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


def problem_json_errors(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is ``application/problem+json`` whose ``status`` is the HTTP status."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == "application/problem+json", (
        f"{response.status_code} answered as {content_type!r}: {response.text[:300]}"
    )
    assert response.json()["status"] == response.status_code
    return True


def _negative_header(case: Case) -> bool:
    """Whether schemathesis made this case's headers invalid."""
    components = case.meta.components if case.meta is not None else {}
    info = components.get(ParameterLocation.HEADER)
    return info is not None and info.mode.is_negative


def _is_batch(body: object) -> bool:
    # The same rule as ingest (intake._batch_items): an array, or {"articles": [...]} that is
    # not itself an article or a ninjs item.
    if isinstance(body, dict):
        return isinstance(body.get("articles"), list) and not {"id", "uri"} & body.keys()
    return isinstance(body, list)


def rejects_invalid_data(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """negative_data_rejection, knowing that a batch rejects per item.

    A batch whose only schema violation is inside its items is answered 202/200 with each bad
    item ``rejected`` (the good ones still go through): that is the documented answer, so the
    response must then show at least one rejected item. Anything else: the built-in check.
    """
    components = case.meta.components if case.meta is not None else {}
    negative = {location for location, info in components.items() if info.mode.is_negative}
    if (
        negative == {ParameterLocation.BODY}
        and _is_batch(case.body)
        and response.status_code in {200, 202}
    ):
        assert response.json()["rejected"] >= 1, "a schema-violating batch was accepted whole"
        return True
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    problem_json_errors,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    rejects_invalid_data,
    missing_required_header,
    ignored_auth,
    unsupported_method,
]
# Left out on purpose:
# - positive_data_acceptance: a schema-valid Article can still be refused (422) for what JSON
#   Schema cannot say: a title that is empty once markup is stripped, a url that is not http(s),
#   an `updated_at` before `published_at`; and DELETE/GET of an id that was never posted is 404
#   or 200 "not_found" by design.
# - use_after_free, ensure_resource_availability: stateful links between operations; ingest has
#   no "create then read" pair (articles are read from the feed service, not here).
# - max_response_time: a 2-core machine shared with other suites; timing is the benchmark's job.


# schemathesis.pytest.from_fixture() (the way to parametrize from a fixture-provided schema)
# sets the private ``request.node._nodeid``, which pytest 9.2 no longer has: it fails with an
# AttributeError before a single request. So each operation's strategy is driven by hypothesis
# here directly (APIOperation.as_strategy, the documented non-pytest-plugin API).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_ingest_honours_its_openapi_document(
    ingest_schema: schemathesis.BaseSchema,
    queued_jobs: list[str],
    stack: Stack,
    mode: GenerationMode,
) -> None:
    # Passed per call (not generated): ignored_auth then knows these are the real credentials
    # and probes each operation again without them and with a wrong token (must be 401/403).
    auth = {"Authorization": f"Bearer {stack.token}"}
    operations = [result.ok() for result in ingest_schema.get_all_operations()]
    assert sorted(op.label for op in operations) == sorted(
        [
            "DELETE /v1/articles/{article_id}",
            "GET /v1/articles/{article_id}",
            "GET /v1/drafts",
            "POST /v1/articles/{article_id}/publish",
            "POST /v1/articles/{article_id}/return",
            "GET /v1/articles/{article_id}/history",
            "GET /v1/articles/{article_id}/stats",
            "GET /v1/clicks/top",
            "GET /v1/jobs/{job_id}",
            "PATCH /v1/articles/{article_id}",
            "POST /v1/articles",
            "PUT /v1/articles/{article_id}",
            "PUT /v1/summary",
            "DELETE /v1/summary",
            "GET /v1/summary/history",
        ]
    )
    seen: Counter[tuple[str, int]] = Counter()
    run = uuid.uuid4().hex[:8]
    with requests.Session() as session:
        for operation in operations:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,  # the same inputs every run: a red run can be replayed
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def answers_as_documented(case: Case) -> None:
                # A negative case that only leaves out Authorization is sent with the real
                # credentials all the same (``auth`` below): not a negative case at all.
                # ignored_auth sends every operation without them and with a wrong token.
                assume(
                    mode.is_positive
                    or "Authorization" in (case.headers or {})
                    or not _negative_header(case)
                )
                article_id = (case.path_parameters or {}).get("article_id")
                if (
                    case.method in {"PUT", "PATCH"}
                    and isinstance(case.body, dict)
                    and mode.is_positive
                ):
                    # The URL names the article and a differing body id is a 422 by design (JSON
                    # Schema cannot say "equal"): without this no positive PUT is ever stored.
                    case.body["id"] = article_id
                key = (case.headers or {}).get("Idempotency-Key")
                if mode.is_positive and isinstance(key, str):
                    # Derandomized keys repeat from run to run; on a stack that outlives one
                    # run they would all be "already used with another body" (422).
                    case.headers["Idempotency-Key"] = f"{run}-{key}"[:255]
                response = case.call_and_validate(
                    session=session, headers=auth, checks=CHECKS, timeout=10
                )
                seen[case.operation.label, response.status_code] += 1
                if response.status_code == 202:
                    queued_jobs.append(response.json()["job_id"])

            answers_as_documented()
    statuses = {status for _, status in seen}
    assert any(400 <= status < 500 for status in statuses), seen
    if mode.is_positive:
        # The run reached the handlers and queued work, not only the checks in front of them.
        assert any(200 <= status < 300 for status in statuses), seen
