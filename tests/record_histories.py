"""Records one history per scenario (tests/history_scenarios.py) into tests/histories/<shape>/ (CURRENT).

Run `.venv/bin/python -m tests.record_histories` after a workflow change that is meant to be compatible
only for *new* paths; existing files are the deployed behaviour that replay tests hold the code to, so
re-record an existing one only when its path really changed shape (and say so in the commit).

Scenarios that let deadlines lapse run on a time-skipping test server, the rest on a real dev server, each
with the same worker the service deploys (worker.build_worker).
"""

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from contracts.hazard import SEARCH_ATTRIBUTES
from infra.ports import free_port
from infra.temporal import register_search_attributes
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from tests.history_scenarios import CURRENT, SCENARIOS, play
from tests.keys import CONVERTER
from worker import build_worker

BIN = Path(sys.executable).parent


async def start_env(skips_time: bool) -> WorkflowEnvironment:
    if skips_time:
        env = await WorkflowEnvironment.start_time_skipping(
            port=free_port(), data_converter=CONVERTER, test_server_existing_path=str(BIN / "temporal-test-server")
        )
        await register_search_attributes(env.client, env.client.namespace)
        return env
    return await WorkflowEnvironment.start_local(
        port=free_port(),
        namespace="record",
        data_converter=CONVERTER,
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
    )


async def record_on(env: WorkflowEnvironment, url: str, names: list[str]) -> None:
    async with build_worker(env.client, make_engine(url), task_queue="record"):
        for name in names:
            target = CURRENT / f"{name}.json"
            handle = await play(env, SCENARIOS[name], "record", hazard_id=f"REC-{name}")
            history = await handle.fetch_history()
            target.write_text(history.to_json())
            print(f"recorded {target.relative_to(CURRENT.parent.parent)}: {len(history.events)} events")


async def record(names: list[str], overwrite: bool) -> None:
    CURRENT.mkdir(parents=True, exist_ok=True)
    todo = []
    for name in names:
        if (CURRENT / f"{name}.json").exists() and not overwrite:
            print(f"kept     {name}.json")
        else:
            todo.append(name)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/readmodel.db"
        upgrade(url)
        for skips_time in (False, True):
            group = [n for n in todo if SCENARIOS[n].skips_time is skips_time]
            if not group:
                continue
            # A time-skipping server per scenario: one hazard's skipped clock must not age the next.
            batches = [[n] for n in group] if skips_time else [group]
            for batch in batches:
                async with await start_env(skips_time) as env:
                    await record_on(env, url, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*", help=f"default: every scenario ({', '.join(sorted(SCENARIOS))})")
    parser.add_argument("--overwrite", action="store_true", help="re-record files that exist")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    asyncio.run(record(args.scenarios or sorted(SCENARIOS), args.overwrite))


if __name__ == "__main__":
    main()
