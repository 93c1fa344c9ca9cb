"""One client, written once: no file under services/feed/static shares six or more lines with
another (the page and the embed run the same element; issue 23)."""

from __future__ import annotations

from pathlib import Path

from services.feed.column import compact
from shared.models import LABEL_DISPLAY

STATIC = Path(__file__).resolve().parents[1] / "services" / "feed" / "static"
WINDOW = 6


def normalised_lines(path: Path) -> list[str]:
    """The file's non-blank lines, stripped and with runs of white space made one space."""
    lines = (" ".join(line.split()) for line in path.read_text().splitlines())
    return [line for line in lines if line]


def windows(path: Path) -> dict[tuple[str, ...], int]:
    """Each run of ``WINDOW`` consecutive normalised lines, with the line number it starts at."""
    lines = normalised_lines(path)
    return {tuple(lines[i : i + WINDOW]): i + 1 for i in range(len(lines) - WINDOW + 1)}


def shared_runs(files: list[Path]) -> list[str]:
    """Where two files share a run of ``WINDOW`` lines ("a.js:12 = b.js:40")."""
    seen: dict[tuple[str, ...], tuple[str, int]] = {}
    found = []
    for path in files:
        for run, line in windows(path).items():
            if run in seen and seen[run][0] != path.name:
                other, at = seen[run]
                found.append(f"{other}:{at} = {path.name}:{line}")
            seen.setdefault(run, (path.name, line))
    return found


def test_no_static_file_shares_six_lines_with_another() -> None:
    files = sorted(p for p in STATIC.iterdir() if p.suffix in (".js", ".css"))
    assert len(files) >= 2
    assert shared_runs(files) == []


def test_the_check_finds_a_copied_run(tmp_path: Path) -> None:
    run = [f"const line{n} = {n};" for n in range(WINDOW)]
    (tmp_path / "a.js").write_text("\n".join(["// a", *run, "a();"]))
    (tmp_path / "b.js").write_text("\n".join(["b();", "", *("  " + line for line in run)]))
    assert shared_runs([tmp_path / "a.js", tmp_path / "b.js"]) == ["a.js:2 = b.js:2"]


def test_no_script_keeps_a_table_of_days_months_or_labels() -> None:
    """Dates come from Intl and words from the server's messages, in the column's language
    (the code as served: comment lines dropped)."""
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]  # fmt: skip
    words = [*days, *months, *(f'"{v}"' for v in LABEL_DISPLAY.values())]
    for path in sorted(STATIC.glob("*.js")):
        text = compact(path.read_text())
        assert [w for w in words if w in text] == [], path.name
