"""Alert rules and the dashboard: ``promtool`` unit tests pass, every alert links its runbook
section, and every series the rules and the dashboard name is one the running services export
(collected by scraping the real /metrics of ingest, feed, push, the worker, the purger and the
grip-publisher)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers import Ingest, article
from tests.procs import REPO, Stack, free_port

RULES = REPO / "deploy/prometheus/alerts.yml"
RULE_TESTS = sorted((REPO / "deploy/prometheus/tests").glob("*.yml"))
DASHBOARD = REPO / "deploy/grafana/livefeed.json"
OPERATIONS = REPO / "docs/operations.md"
METRIC = re.compile(r"\blivefeed_[a-z_]+")


def _promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        message = "promtool is not installed (.ci/run installs Debian's prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_and_unit_tests_pass() -> None:
    promtool = _promtool()
    check = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert RULE_TESTS
    tested = subprocess.run(
        [promtool, "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_groups_are_named_per_area_and_every_alert_is_unit_tested() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert all(re.fullmatch(r"livefeed-[a-z]+", group["name"]) for group in groups)
    fired = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert {rule["alert"] for rule in _rules()} <= fired


def test_every_alert_links_its_runbook_section() -> None:
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', OPERATIONS.read_text()))
    for rule in _rules():
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md", url
        assert anchor in anchors, f"{rule['alert']}: no section {anchor!r} in operations.md"


def _dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def _exported(text: str) -> set[str]:
    """Sample names in a Prometheus exposition (``name{…} value`` lines)."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


async def test_every_series_named_by_the_rules_and_the_dashboard_is_exported(
    ingest: Ingest, fresh: Stack, http: httpx.AsyncClient
) -> None:
    # Traffic first, so that labelled series (a status, an outcome) exist as they would.
    await ingest.apply(article("dash-1"))
    exported: set[str] = set()
    for name in ("ingest", "feed", "push", "worker"):
        response = await http.get(f"{fresh.url(name)}/metrics")
        assert response.status_code == 200
        exported |= _exported(response.text)
    # A purger with a backend and a grip-publisher with a publish endpoint (nothing listens
    # there: their per-endpoint series exist too).
    for name, port_setting, target_setting in (
        ("purger", "LIVEFEED_PURGER_PORT", "LIVEFEED_PURGE_WEBHOOK"),
        ("grip-publisher", "LIVEFEED_GRIP_PUBLISHER_PORT", "LIVEFEED_GRIP_PUBLISH"),
    ):
        port = free_port()
        env = {port_setting: str(port), target_setting: f"http://127.0.0.1:{free_port()}/"}
        service = fresh.start_service(name, **env)
        try:
            fresh.wait_healthy(name, port=port)
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
            exported |= _exported(response.text)
        finally:
            service.stop()
    exprs = _dashboard_exprs()
    assert len(exprs) >= 15
    named = {m for expr in exprs + [r["expr"] for r in _rules()] for m in METRIC.findall(expr)}
    missing = named - exported
    assert not missing, f"not exported by any service: {sorted(missing)}"
