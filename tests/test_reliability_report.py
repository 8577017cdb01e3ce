"""docs/reliability.md's figures come from the suite's own lines: the latest of each, grouped by item."""

from pathlib import Path

import pytest

from tests import reliability_report
from tests.reliability_report import END, START, latest, render


def line(
    item: int, name: str, value: object, scale: str = "", at: str = "2026-12-06T03:00:00+00:00"
) -> dict[str, object]:
    return {"item": item, "name": name, "value": value, "unit": "", "scale": scale, "at": at, "machine": "x86_64"}


def test_a_rerun_replaces_a_figure_and_each_scale_keeps_its_own() -> None:
    figures = latest(
        [
            line(1, "hazards lost", 3, "quick"),
            line(1, "hazards lost", 0, "quick", at="2026-12-06T04:00:00+00:00"),
            line(1, "hazards lost", 0, "full"),
        ]
    )
    text = render(figures)
    assert "| hazards lost | 0 | quick |" in text
    assert "| hazards lost | 0 | full |" in text
    assert "| 3 |" not in text
    assert "### 2. No retry storms\n\nNot measured in this run." in text


def test_the_figures_go_between_the_markers_and_the_prose_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# prose\n\n{START}\nold\n{END}\n\nmore prose\n", encoding="utf-8")
    figures = tmp_path / "figures.jsonl"
    figures.write_text(
        '{"item": 5, "name": "5xx answers", "value": 0, "unit": "", "scale": "200 rounds", '
        '"at": "2026-12-06T03:00:00+00:00", "machine": "x86_64"}\n',
        encoding="utf-8",
    )
    monkeypatch.setattr("sys.argv", ["report", "--figures", str(figures), "--doc", str(doc)])
    reliability_report.main()
    written = doc.read_text(encoding="utf-8")
    assert written.startswith("# prose\n\n")
    assert written.endswith(f"{END}\n\nmore prose\n")
    assert "old" not in written
    assert "| 5xx answers | 0 | 200 rounds |" in written
