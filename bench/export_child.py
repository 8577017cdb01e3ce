"""The 督改台账 export of one department's hazards, as api/routers/ledgers.py streams it, in a process of its own
so that its peak RSS is its own: `python -m bench.export_child URL DEPARTMENT OUT` prints one JSON line."""

import json
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from contracts.clock import CHINA_TZ, china_date
from contracts.enums import Role
from contracts.hazard import Actor
from ledgers import queries, xlsx
from readmodel.db import make_engine
from readmodel.queries import HazardFilter


def peak_rss_mb() -> float:
    """This process's high-water RSS (VmHWM). Not getrusage's ru_maxrss: Linux keeps that across execve, so a
    child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    url, department, out = sys.argv[1:4]
    engine = make_engine(url)
    actor = Actor(id="co-bench", name="基准", role=Role.COMMITTEE_OFFICE, organisation="安委办")
    now = datetime.now(CHINA_TZ)
    before = peak_rss_mb()
    started = time.perf_counter()
    with Session(engine) as session, open(out, "wb") as file:
        rows = queries.rectification_rows(
            session=session, actor=actor, where=HazardFilter(department=department), now=now
        )
        count = xlsx.write_rectification(file, rows, version="department", district="全国", as_of=china_date(now))
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": count,
                "seconds": round(seconds, 2),
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
