"""Figures the reliability suite measures, kept where `make reliability` turns them into docs/reliability.md.

A test calls `record(item, name, value)` with what it saw; every run appends one JSON line per figure to
test-output/reliability/figures.jsonl (the quick sizes in `make test`, the full sizes in `make reliability`), and
`python -m tests.reliability_report` writes the latest of each figure, with the machine and the date, to the doc.
Figures are printed too, so a test run's output shows them.
"""

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "test-output" / "reliability" / "figures.jsonl"

# Issue 8's items, in its order: the report's sections.
ITEMS = {
    1: "Crashes",
    2: "No retry storms",
    3: "Determinism across deploys",
    4: "History budget",
    5: "Exactly once for humans",
    6: "Model-based testing",
    7: "Bad input",
    8: "Load",
    9: "Backup and restore",
}


def record(item: int, name: str, value: float | int | str, unit: str = "", *, scale: str = "") -> None:
    """One measured figure of issue 8's `item`. `scale` names the run's size ("100 kills"), so the quick and the
    full run of the same test keep separate lines in the report."""
    if item not in ITEMS:
        raise ValueError(f"unknown reliability item {item}")
    line = {
        "item": item,
        "name": name,
        "value": value,
        "unit": unit,
        "scale": scale,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"[reliability {item}] {name}{f' ({scale})' if scale else ''}: {value}{f' {unit}' if unit else ''}")
