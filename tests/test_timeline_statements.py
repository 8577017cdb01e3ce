"""The timeline's statements, first built by many threads at once: as the worker's projections and a rebuild's
concurrent heals build them."""

import subprocess
import sys
from pathlib import Path

# In a process of its own: each round reloads readmodel.timeline, for new aliases and an empty statement cache, then
# has THREADS threads build the statements at once. Switching threads often makes a race show within a few rounds.
BUILT_AT_ONCE = """
import importlib, sys, threading
from sqlalchemy.dialects import postgresql, sqlite
import readmodel.timeline as timeline

sys.setswitchinterval(5e-5)
DIALECTS = {"postgresql": postgresql.dialect(), "sqlite": sqlite.dialect()}
ROUNDS, THREADS = 60, 8
unaliased = 0
for round in range(ROUNDS):
    importlib.reload(timeline)
    dialect = "postgresql" if round % 2 else "sqlite"
    barrier = threading.Barrier(THREADS)
    built = []

    def build():
        barrier.wait()
        built.append(timeline.timeline_statements(dialect, False))

    threads = [threading.Thread(target=build) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sql = [str(statement.compile(dialect=DIALECTS[dialect])) for each in built for statement in vars(each).values()]
    # Every event column is read through an alias (e, d); the table by its name means a column left unaliased.
    unaliased += any("hazard_event." in text for text in sql)
print(f"{unaliased} of {ROUNDS} rounds built a statement with a column left unaliased")
"""


def test_threads_building_the_timeline_statements_at_once_alias_every_event_column() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", BUILT_AT_ONCE],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 of 60 rounds built a statement with a column left unaliased"
