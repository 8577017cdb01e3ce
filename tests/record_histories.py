"""Records one history per lifecycle path from a real dev server into tests/histories/.

Run `.venv/bin/python -m tests.record_histories` after a workflow change that is meant to be compatible
only for *new* paths; existing files are the deployed behaviour that replay tests hold the code to, so
re-record an existing one only when its path really changed shape (and say so in the commit).
"""

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from contracts.hazard import SEARCH_ATTRIBUTES
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from tests.keys import CONVERTER
from tests.scenarios import PATHS, start, walk
from worker import build_worker

HISTORIES = Path(__file__).parent / "histories"


async def record(names: list[str], overwrite: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/readmodel.db"
        upgrade(url)
        env = await WorkflowEnvironment.start_local(
            namespace="record",
            data_converter=CONVERTER,
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
            search_attributes=SEARCH_ATTRIBUTES,
        )
        async with env, build_worker(env.client, make_engine(url), task_queue="record"):
            for name in names:
                target = HISTORIES / f"{name}.json"
                if target.exists() and not overwrite:
                    print(f"kept     {target.name}")
                    continue
                path = PATHS[name]
                handle = await start(env.client, path, "record", hazard_id=f"REC-{name}")
                await walk(handle, path)
                await handle.result()
                history = await handle.fetch_history()
                target.write_text(history.to_json())
                print(f"recorded {target.name}: {len(history.events)} events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", help=f"default: every path ({', '.join(sorted(PATHS))})")
    parser.add_argument("--overwrite", action="store_true", help="re-record files that exist")
    args = parser.parse_args()
    unknown = set(args.paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown paths: {', '.join(sorted(unknown))}")
    asyncio.run(record(args.paths or sorted(PATHS), args.overwrite))


if __name__ == "__main__":
    main()
