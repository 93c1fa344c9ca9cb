"""The Web Push alert rules load in Prometheus and fire when they should (promtool)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.procs import REPO

RULES = REPO / "deploy" / "prometheus"


def _promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (.ci/run installs Debian's prometheus package)")
        pytest.skip("promtool is not installed")
    return binary


def test_webpush_rules_are_valid_and_their_unit_tests_pass() -> None:
    promtool = _promtool()
    check = subprocess.run(
        [promtool, "check", "rules", "alerts-webpush.yml"],
        cwd=RULES, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "4 rules found" in check.stdout
    tested = subprocess.run(
        [promtool, "test", "rules", "tests/webpush.yml"],
        cwd=RULES, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
