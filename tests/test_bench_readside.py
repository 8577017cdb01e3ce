"""bench.readside's sweep of the list's filter combinations: every combination is timed once, and named as it was
asked for."""

from sqlalchemy import Engine, insert

from bench.readside import filter_combinations
from readmodel.models import Hazard
from tests.test_list_queries import NOW, grid


def test_the_sweep_times_every_combination_of_the_few_valued_filters_for_both_actors(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Hazard), grid())

    swept = filter_combinations(engine, NOW, repeat=1)

    # Two actors, no stage or one of seven, overdue or not or either, one of colour, listing and source or none, and
    # the first and eleventh page.
    assert swept["combinations"] == 2 * 8 * 3 * 4 * 2
    assert 0 <= swept["over_target"] <= swept["combinations"]
    slowest = [entry["ms"] for entry in swept["slowest"]]
    assert len(slowest) == 5
    assert slowest == sorted(slowest, reverse=True)
    assert swept["met"] is (slowest[0] <= swept["target_ms"])
    assert all(entry["page"].startswith(("co-bench: ", "dept-bench: ")) for entry in swept["slowest"])
    assert all(entry["page"].endswith((", page 1", ", page 11")) for entry in swept["slowest"])
