"""Writes the reliability suite's latest figures (tests/figures.py) into docs/reliability.md, between its figure
markers; the prose around them is written by hand. `make reliability` runs it after the suite.

    .venv/bin/python -m tests.reliability_report [--figures FILE] [--doc FILE]
"""

import argparse
import json
from pathlib import Path

from tests.figures import FIGURES, ITEMS, ROOT

DOC = ROOT / "docs" / "reliability.md"
START = "<!-- figures:start (written by `python -m tests.reliability_report`) -->"
END = "<!-- figures:end -->"


def latest(lines: list[dict[str, object]]) -> dict[tuple[int, str, str], dict[str, object]]:
    """The last line of each figure: a re-run replaces what an earlier one measured."""
    figures: dict[tuple[int, str, str], dict[str, object]] = {}
    for line in lines:
        figures[(int(str(line["item"])), str(line["name"]), str(line["scale"]))] = line
    return figures


def render(figures: dict[tuple[int, str, str], dict[str, object]]) -> str:
    if not figures:
        return "No figures yet: run `make reliability`."
    stamps = sorted(str(f["at"]) for f in figures.values())
    machines = sorted({str(f["machine"]) for f in figures.values()})
    out = [f"Measured {stamps[0][:10]} to {stamps[-1][:10]} (UTC) on {'; '.join(machines)}.", ""]
    for item, title in ITEMS.items():
        rows = [(name, scale, f) for (i, name, scale), f in figures.items() if i == item]
        out += [f"### {item}. {title}", ""]
        if not rows:
            out += ["Not measured in this run.", ""]
            continue
        out += ["| figure | value | run |", "|---|---|---|"]
        for name, scale, figure in rows:
            value = f"{figure['value']}{' ' + str(figure['unit']) if figure['unit'] else ''}"
            out.append(f"| {name} | {value} | {scale or '-'} |")
        out.append("")
    return "\n".join(out).rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", type=Path, default=FIGURES)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args()
    if not args.figures.exists():
        raise SystemExit(f"no figures at {args.figures}: run the suite first (make reliability)")
    lines = [json.loads(line) for line in args.figures.read_text(encoding="utf-8").splitlines() if line.strip()]
    doc = args.doc.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        raise SystemExit(f"{args.doc} has no figure markers ({START} ... {END})")
    head, _, rest = doc.partition(START)
    _, _, tail = rest.partition(END)
    args.doc.write_text(f"{head}{START}\n{render(latest(lines))}\n{END}{tail}", encoding="utf-8")
    print(f"{len(latest(lines))} figures written to {args.doc}")


if __name__ == "__main__":
    main()
