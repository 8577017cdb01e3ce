"""`python -m bench`: every measured scenario, one after another, each in its own process (its own dev server,
its own database), within the 20 minutes issue 7 allows. Any scenario's own options can be given by running it
alone: `python -m bench.lifecycle --help`."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# Scenario, and the options that keep the whole run within budget on a loaded 2-core machine.
SCENARIOS: list[tuple[str, list[str]]] = [
    ("bench.lifecycle", ["--n1", "15", "--n50", "150"]),
    ("bench.api", ["--n1", "15", "--n50", "100"]),
    ("bench.readside", ["--hazards", "200000", "--backends", "sqlite,postgresql"]),
    # Below their full sizes (10,000 each, the scenarios' defaults) to stay within the budget: docs/benchmarks.md
    # gives the full-size figures, run alone.
    ("bench.intake", ["--hazards", "2000", "--baseline", "500"]),
    ("bench.storm", ["--hazards", "1000"]),
]
BUDGET_SECONDS = 20 * 60


def main() -> int:
    started = time.monotonic()
    failed = []
    for module, options in SCENARIOS:
        left = BUDGET_SECONDS - (time.monotonic() - started)
        if left <= 0:
            print(f"\n{module}: not run, the 20-minute budget is spent", flush=True)
            failed.append(module)
            continue
        print(f"\n=== {module} {' '.join(options)}", flush=True)
        # A session of its own: at the budget, its dev server, workers and API go down with it.
        process = subprocess.Popen(
            [sys.executable, "-m", module, *options], cwd=Path(__file__).parent.parent, start_new_session=True
        )
        try:
            code = process.wait(timeout=left)
        except subprocess.TimeoutExpired:
            print(f"{module}: stopped at the 20-minute budget", flush=True)
            process.send_signal(signal.SIGINT)  # lets it stop its children on the way out
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            code = -1
        if code != 0:
            failed.append(module)
    print(f"\nbench: {time.monotonic() - started:.0f} s; failed: {', '.join(failed) or 'none'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
