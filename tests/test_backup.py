"""Backup and restore (issue 8, item 9): `cli.py backup` copies a running stack's data directory (the Temporal file,
the read model, evidence, the audit checkpoints, the keys); `cli.py restore` puts it into a fresh directory; the
stack started there has every hazard as it was, its evidence byte for byte, an audit chain that verifies against
its checkpoints and a read model with no drift from the workflows. A damaged backup, or a target that already
holds data, is refused with nothing restored.
"""

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.auth import load_or_create_secret, mint_token
from contracts.hazard import Actor
from infra.backup import BackupError, restore
from infra.codec import load_or_create_key
from infra.temporal import ensure_namespace
from settings import Settings
from tests.figures import record
from tests.processes import ROOT, ApiProcess, DevServerProcess, WorkerProcess, service_env
from tests.scenarios import AUDITOR, ENTERPRISE, REVIEWER, plan, rectification, report
from tests.test_evidence import png

pytestmark = pytest.mark.slow

NAMESPACE = "xiaohao"


@dataclass
class Stack:
    """The embedded stack on one data directory, as `make run` lays it out."""

    data_dir: Path
    server: DevServerProcess
    worker: WorkerProcess
    api: ApiProcess

    @property
    def env(self) -> dict[str, str]:
        return environment(self.data_dir, self.server)

    def auth(self, actor: Actor) -> dict[str, str]:
        secret = load_or_create_secret(None, self.data_dir / "jwt-secret")
        token = mint_token(actor, secret=secret, issuer="xiaohao", audience="xiaohao-api", ttl=timedelta(hours=1))
        return {"Authorization": f"Bearer {token}"}

    async def start(self) -> None:
        await self.server.start()
        # start-dev made the namespace bare: our retention and search attributes, as `make run` sets them.
        await ensure_namespace(await Client.connect(self.server.address), NAMESPACE)
        await asyncio.gather(self.worker.start(), self.api.start())

    async def stop(self) -> None:
        await asyncio.gather(self.api.kill(), self.worker.kill())
        await self.server.kill()


def environment(data_dir: Path, server: DevServerProcess) -> dict[str, str]:
    # The keys are the data directory's own, as under `make run`; a checkpoint every few records, so the backup
    # holds some.
    return service_env(
        temporal_address=server.address,
        namespace=NAMESPACE,
        database_url=f"sqlite:///{data_dir / 'readmodel.db'}",
        data_dir=data_dir,
        audit_checkpoint_every="3",
    )


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'readmodel.db'}")


def stack_on(data_dir: Path) -> Stack:
    server = DevServerProcess(data_dir / "temporal.db", NAMESPACE)
    env = environment(data_dir, server)
    return Stack(data_dir, server, WorkerProcess(env), ApiProcess(env))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def act(http: httpx.AsyncClient, stack: Stack, actor: Actor, path: str, body: dict[str, Any]) -> Any:
    headers = stack.auth(actor) | {"Idempotency-Key": uuid.uuid4().hex}
    response = await http.post(f"{stack.api.url}{path}", json=body, headers=headers, timeout=60)
    assert response.status_code in (200, 201), response.text + "\n" + stack.api.tail()
    return response.json()


async def hazards_now(http: httpx.AsyncClient, stack: Stack, hazard_ids: list[str]) -> dict[str, tuple[str, int]]:
    states = {}
    for hazard_id in hazard_ids:
        answer = await http.get(f"{stack.api.url}/hazards/{hazard_id}", headers=stack.auth(AUDITOR), timeout=60)
        assert answer.status_code == 200, answer.text
        states[hazard_id] = (answer.json()["stage"], answer.json()["version"])
    return states


async def test_a_backup_of_a_running_stack_restores_with_its_audit_chain_and_no_drift(tmp_path: Path) -> None:
    original = stack_on(tmp_path / "data")
    original.data_dir.mkdir()
    # As `make run` does before starting anything: the keys live in the data directory.
    load_or_create_key(None, original.data_dir / "payload-key")
    load_or_create_secret(None, original.data_dir / "jwt-secret")
    backup_dir = tmp_path / "backup"
    body = report().model_dump(mode="json", exclude_none=True)
    await original.start()
    try:
        async with httpx.AsyncClient() as http:
            hazard_ids = [(await act(http, original, ENTERPRISE, "/hazards", body))["hazard_id"] for _ in range(4)]
            closed, rectified = hazard_ids[:2]
            photo = png("backup")
            upload = await http.post(
                f"{original.api.url}/evidence",
                files={"file": ("整改照片.png", photo, "image/png")},
                headers=original.auth(ENTERPRISE),
                timeout=60,
            )
            assert upload.status_code == 201, upload.text
            for hazard_id in (closed, rectified):
                await act(http, original, ENTERPRISE, f"/hazards/{hazard_id}/plan", plan().model_dump(mode="json"))
                control = {"kind": "cordon", "measures": "设置警戒区"}
                await act(http, original, ENTERPRISE, f"/hazards/{hazard_id}/interim-controls", control)
                done = rectification().model_copy(update={"evidence": [upload.json()["ref"]]}).model_dump(mode="json")
                await act(http, original, ENTERPRISE, f"/hazards/{hazard_id}/rectification", done)
            await act(http, original, REVIEWER, f"/hazards/{closed}/review", {"decision": "approve", "opinion": "同意"})
            before = await hazards_now(http, original, hazard_ids)

            began = time.monotonic()
            made = cli(original.env, "backup", str(backup_dir))
            backup_seconds = time.monotonic() - began
            assert made.returncode == 0, made.stderr + made.stdout
            # Reported after the backup: the restored stack must not have it.
            later = (await act(http, original, ENTERPRISE, "/hazards", body))["hazard_id"]
    finally:
        await original.stop()

    # Refused, with nothing restored: a target that holds data, and a damaged backup.
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "temporal.db").write_bytes(b"someone else's")
    with pytest.raises(BackupError, match="非空"):
        restore(settings_for(occupied), backup_dir)
    assert (occupied / "temporal.db").read_bytes() == b"someone else's"
    damaged_dir = tmp_path / "damaged"
    shutil.copytree(backup_dir, damaged_dir)
    victim = damaged_dir / "readmodel.db"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    untouched = tmp_path / "untouched"
    with pytest.raises(BackupError, match=r"损坏.*readmodel\.db"):
        restore(settings_for(untouched), damaged_dir)
    assert not untouched.exists()

    restored = stack_on(tmp_path / "restored")
    began = time.monotonic()
    put_back = cli(restored.env, "restore", str(backup_dir))
    restore_seconds = time.monotonic() - began
    assert put_back.returncode == 0, put_back.stderr + put_back.stdout
    await restored.start()
    try:
        audit = cli(restored.env, "verify-audit")
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert "审计记录完整" in audit.stdout
        drift = cli(restored.env, "reconcile", "--dry-run", "--deep")
        assert drift.returncode == 0, drift.stdout + drift.stderr
        async with httpx.AsyncClient() as http:
            assert await hazards_now(http, restored, hazard_ids) == before
            sha256 = hashlib.sha256(photo).hexdigest()
            download = await http.get(
                f"{restored.api.url}/hazards/{rectified}/evidence/{sha256}", headers=restored.auth(AUDITOR), timeout=60
            )
            assert download.status_code == 200, download.text
            assert download.content == photo
            gone = await http.get(f"{restored.api.url}/hazards/{later}", headers=restored.auth(AUDITOR), timeout=60)
            assert gone.status_code == 404
            # The restored stack goes on: a closed hazard stays closed, an open one can still be acted on.
            approve = {"decision": "approve", "opinion": "同意销号"}
            result = await act(http, restored, REVIEWER, f"/hazards/{rectified}/review", approve)
            assert result["state"]["stage"] == "CLOSED"
    finally:
        await restored.stop()

    files = sum(1 for p in backup_dir.rglob("*") if p.is_file()) - 1
    size = sum(p.stat().st_size for p in backup_dir.rglob("*") if p.is_file())
    scale = f"{len(hazard_ids)} hazards, 1 evidence file, a running stack"
    record(9, "files backed up / bytes", f"{files} / {size:,}", scale=scale)
    record(9, "backup / restore time", f"{backup_seconds:.1f} / {restore_seconds:.1f}", "s", scale=scale)
    record(9, "audit chain after restore", audit.stdout.strip().splitlines()[0], scale=scale)
    record(9, "read-model drift after restore (reconcile --dry-run --deep)", 0, scale=scale)
    record(9, "damaged backup or occupied target", "refused, nothing restored", scale=scale)
