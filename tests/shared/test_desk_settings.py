"""The desk's settings: its origin admitted by push, the session secret kept in the data dir."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.devmode import SESSION_SECRET_FILE, session_secret
from shared.settings import Settings


def test_push_admits_the_desks_origin_next_to_the_pages() -> None:
    settings = Settings()
    assert "http://127.0.0.1:8001" in settings.origins  # the desk on a laptop
    assert "http://127.0.0.1:8002" in settings.origins
    behind = Settings(public_ingest_url="https://desk.example/", host="10.0.0.5")
    assert behind.desk_origins == {"https://desk.example"}
    assert "https://desk.example" in behind.origins
    explicit = Settings(allowed_origins="https://live.example")
    assert explicit.origins == {"https://live.example"}  # a list given is the whole list


@pytest.mark.parametrize("bad", ["short", "change-me-change-me-change-me-change-me"])
def test_a_session_secret_is_long_and_not_the_example(bad: str) -> None:
    with pytest.raises(ValidationError, match="session_secret"):
        Settings(session_secret=bad)


def test_without_a_session_secret_one_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = session_secret(settings)
    assert len(first) >= 32
    assert session_secret(settings) == first  # every ingest process, every restart
    mode = stat.S_IMODE((tmp_path / SESSION_SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    given = "x" * 40
    assert session_secret(Settings(data_dir=tmp_path, session_secret=given)) == given
