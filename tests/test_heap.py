"""The long-running processes (the API, the worker) leave what start-up made out of full collections (infra.heap)."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from infra.temporal import ensure_namespace
from readmodel.migrate import upgrade
from tests.processes import ROOT, ApiProcess, WorkerProcess, service_env

FROZEN_THEN_COLLECTED = """
import gc, weakref
from infra.heap import freeze_startup_heap

class Node:
    pass

garbage = Node()
garbage.me = garbage  # a cycle: only a collection frees it
dead = weakref.ref(garbage)
del garbage
kept = Node()
frozen = freeze_startup_heap()
assert dead() is None, "start-up's garbage was frozen, not collected"
assert frozen == gc.get_freeze_count() > 1_000, frozen
assert not any(o is kept for o in gc.get_objects()), "an object alive at start-up is still walked"
later = Node()
assert any(o is later for o in gc.get_objects()), "an object made after start-up is left out of collections"
print("ok")
"""


def test_start_ups_garbage_is_collected_and_what_lives_is_frozen() -> None:
    # A process of its own: freezing this one would change every later test's collections.
    done = subprocess.run([sys.executable, "-c", FROZEN_THEN_COLLECTED], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


async def test_the_worker_freezes_its_start_up_heap(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    namespace = f"xiaohao-heap-{uuid.uuid4().hex[:12]}"
    await ensure_namespace(dev_env.client, namespace)
    env = service_env(
        temporal_address=dev_env.client.service_client.config.target_host,
        namespace=namespace,
        database_url=f"sqlite:///{tmp_path / 'readmodel.db'}",
        data_dir=tmp_path,
    )
    worker = WorkerProcess(env)
    await worker.start()
    try:
        assert worker.ready_record is not None
        # The SDK, the models, SQLAlchemy's and pydantic's schemas: far more than a bare interpreter's few thousand.
        frozen = worker.ready_record["startup_objects_frozen"]
        assert isinstance(frozen, int), worker.tail()
        assert frozen > 50_000
    finally:
        await worker.kill()


async def test_the_api_freezes_its_start_up_heap(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'readmodel.db'}"
    # The worker migrates the read model; the API is ready only once it is.
    upgrade(database_url)
    env = service_env(
        temporal_address=dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        database_url=database_url,
        data_dir=tmp_path,
    )
    api = ApiProcess(env)
    await api.start()
    try:
        records = [json.loads(line.split("] ", 1)[1]) for line in api.log if '"api started"' in line]
        assert len(records) == 1, api.tail()
        assert records[0]["startup_objects_frozen"] > 50_000
    finally:
        await api.kill()
