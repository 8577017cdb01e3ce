"""The audit trail's chain: tampering of every kind is found at the right record; the app can only append."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, text, update
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlmodel import col

import cli
from audit.chain import GENESIS, Problem, record_hash
from audit.store import AuditEntry, AuditStore
from readmodel.audit_models import AuditRecord
from readmodel.db import make_engine
from tests.scenarios import ENTERPRISE, INSPECTOR

pytestmark = pytest.mark.databases

RECORDS = 10


def entry(n: int) -> AuditEntry:
    return AuditEntry(
        method="POST",
        route="/hazards/{hazard_id}/plan",
        action="submit_plan",
        status=200 if n % 3 else 403,
        request_id=f"req-{n}",
        actor=ENTERPRISE if n % 2 else INSPECTOR,
        object_id=f"120104-2026-{n:05d}",
        source_ip="10.0.0.7",
    )


@pytest.fixture
def checkpoints(tmp_path: Path) -> Path:
    return tmp_path / "outside" / "audit-checkpoints.jsonl"


def filled(engine: Engine, checkpoints: Path, *, every: int = 100, records: int = RECORDS) -> AuditStore:
    store = AuditStore(engine, checkpoint_path=checkpoints, checkpoint_every=every)
    for n in range(1, records + 1):
        store.append(entry(n))
    return store


class Attacker:
    """Someone with the database itself (the SQLite file, or PostgreSQL's owner role): the append-only triggers
    are off while they work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.conn.execute(text(sql), params or {})

    def stored(self, seq: int) -> dict[str, Any]:
        found = self.conn.execute(text("SELECT * FROM audit_record WHERE seq = :seq"), {"seq": seq}).mappings().one()
        return dict(found)

    def insert(self, record: dict[str, Any]) -> None:
        columns = ", ".join(record)
        self.execute(f"INSERT INTO audit_record ({columns}) VALUES ({', '.join(f':{c}' for c in record)})", record)


@contextmanager
def attacker(engine: Engine) -> Iterator[Attacker]:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_record DISABLE TRIGGER USER")
            yield Attacker(conn)
            conn.exec_driver_sql("ALTER TABLE audit_record ENABLE TRIGGER USER")
            return
        triggers = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_record'"
        ).all()
        assert len(triggers) == 2
        for name, _ in triggers:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        yield Attacker(conn)
        for _, sql in triggers:
            conn.exec_driver_sql(sql)


def stored(db: Attacker, seq: int) -> dict[str, Any]:
    return db.stored(seq)


def hash_as_stored(record: dict[str, Any]) -> str:
    """The hash the app will expect of this row: `at` read back as AwareDateTime reads it."""
    at = record["at"]
    at = datetime.fromisoformat(at) if isinstance(at, str) else at
    return record_hash(record | {"at": at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)})


def rehash(db: Attacker, seq: int, **changes: Any) -> None:
    """Changes a record and gives it the hash its new fields call for, as an attacker who read chain.py would."""
    record = stored(db, seq) | changes
    assignments = ", ".join(f"{name} = :{name}" for name in changes)
    db.execute(
        f"UPDATE audit_record SET {assignments}, hash = :new_hash WHERE seq = :seq",
        {**changes, "new_hash": hash_as_stored(record), "seq": seq},
    )


def renumber(db: Attacker, *, at_or_after: int, by: int) -> None:
    # Through negatives, so no two rows ever share a seq on the way.
    db.execute("UPDATE audit_record SET seq = -(seq + :by) WHERE seq >= :from", {"by": by, "from": at_or_after})
    db.execute("UPDATE audit_record SET seq = -seq WHERE seq < 0")


def test_an_untouched_trail_verifies(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints, every=4)
    result = store.verify()
    assert result.ok
    assert result.records_checked == RECORDS
    assert result.checkpoints_checked == 2
    assert result.first_bad_seq is None


def test_records_carry_who_what_when_and_the_chain(engine: Engine, checkpoints: Path) -> None:
    store = AuditStore(engine, checkpoint_path=checkpoints)
    first = store.append(entry(1))
    second = store.append(entry(3))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.at <= second.at
    assert first.at.tzinfo is not None
    assert (first.actor_id, first.actor_name, first.actor_role, first.actor_organisation) == (
        ENTERPRISE.id,
        ENTERPRISE.name,
        "enterprise",
        ENTERPRISE.organisation,
    )
    assert (first.status, first.outcome, second.status, second.outcome) == (200, "accepted", 403, "denied")
    assert (first.source_ip, first.request_id, first.object_id) == ("10.0.0.7", "req-1", "120104-2026-00001")
    anonymous = store.append(
        AuditEntry(method="POST", route="/hazards", action="report_hazard", status=401, request_id="r")
    )
    assert (anonymous.actor_id, anonymous.actor_name, anonymous.outcome) == (None, None, "denied")


def test_the_app_cannot_update_or_delete_records(engine: Engine, checkpoints: Path) -> None:
    filled(engine, checkpoints, records=2)
    for statement in (
        update(AuditRecord).where(col(AuditRecord.seq) == 1).values(status=200),
        delete(AuditRecord).where(col(AuditRecord.seq) == 2),
        delete(AuditRecord),
    ):
        with engine.begin() as conn, pytest.raises((IntegrityError, ProgrammingError), match="append-only"):
            conn.execute(statement)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_record").scalar() == 2


def test_a_changed_field_is_found_at_its_record(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints)
    with attacker(engine) as db:
        db.execute("UPDATE audit_record SET status = 200, outcome = 'accepted' WHERE seq = 6")
    result = store.verify()
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 6, Problem.ALTERED)
    assert result.records_checked == 5


def test_a_changed_and_rehashed_record_is_found_at_itself_not_its_successor(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints)
    with attacker(engine) as db:
        rehash(db, 4, actor_name="张三")
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (4, Problem.ALTERED)


@pytest.mark.parametrize("seq", [1, 5, 9])
def test_a_deleted_record_is_found(engine: Engine, checkpoints: Path, seq: int) -> None:
    store = filled(engine, checkpoints)
    with attacker(engine) as db:
        db.execute("DELETE FROM audit_record WHERE seq = :seq", {"seq": seq})
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (seq, Problem.MISSING)


def test_a_deletion_hidden_by_renumbering_is_found(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints)
    with attacker(engine) as db:
        db.execute("DELETE FROM audit_record WHERE seq = 5")
        renumber(db, at_or_after=6, by=-1)
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (5, Problem.ALTERED)


def test_reordered_records_are_found_at_the_first_moved(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints)
    with attacker(engine) as db:
        db.execute("UPDATE audit_record SET seq = -1 WHERE seq = 3")
        db.execute("UPDATE audit_record SET seq = 3 WHERE seq = 7")
        db.execute("UPDATE audit_record SET seq = 7 WHERE seq = -1")
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (3, Problem.ALTERED)


def test_a_forged_record_slipped_in_is_found_at_itself(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints)
    with attacker(engine) as db:
        renumber(db, at_or_after=6, by=1)
        before = stored(db, 5)
        forged = before | {"seq": 6, "actor_name": "伪造", "request_id": "forged", "prev_hash": before["hash"]}
        forged["hash"] = hash_as_stored(forged)
        db.insert(forged)
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (6, Problem.INSERTED)


def test_a_forged_record_appended_with_a_guessed_hash_is_found(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints)
    with attacker(engine) as db:
        db.execute(
            "INSERT INTO audit_record SELECT seq + 1, at, actor_id, actor_name, actor_role, actor_organisation, "
            "method, route, action, object_id, status, outcome, source_ip, 'forged', hash, :guess "
            "FROM audit_record WHERE seq = :seq",
            {"guess": "f" * 64, "seq": RECORDS},
        )
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (RECORDS + 1, Problem.ALTERED)


def test_a_tail_truncated_after_a_checkpoint_is_found(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints)
    assert store.checkpoint() is not None
    with attacker(engine) as db:
        db.execute("DELETE FROM audit_record WHERE seq >= 8")
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (8, Problem.TRUNCATED)
    assert result.records_checked == 7


def test_a_truncated_tail_overwritten_by_new_records_is_found_after_the_last_good_checkpoint(
    engine: Engine, checkpoints: Path
) -> None:
    store = filled(engine, checkpoints, every=5)
    with attacker(engine) as db:
        db.execute("DELETE FROM audit_record WHERE seq >= 8")
    for n in range(3):
        store.append(entry(100 + n))
    result = store.verify()
    # Records 6 and 7 are original, but once checkpoint 10 disagrees nothing after checkpoint 5 is vouched for.
    assert (result.first_bad_seq, result.problem) == (6, Problem.CHECKPOINT_MISMATCH)


@pytest.mark.parametrize(("every", "first_bad"), [(1, 3), (5, 1)])
def test_a_consistently_rewritten_chain_is_caught_by_the_checkpoints(
    engine: Engine, checkpoints: Path, every: int, first_bad: int
) -> None:
    """Record 3 changed and every hash from there on recomputed: only the checkpoints outside can tell, to the
    precision of their spacing."""
    store = filled(engine, checkpoints, every=every)
    with attacker(engine) as db:
        rehash(db, 3, actor_id="someone-else")
        for seq in range(4, RECORDS + 1):
            rehash(db, seq, prev_hash=stored(db, seq - 1)["hash"])
    without_checkpoints = AuditStore(engine, checkpoint_path=checkpoints.with_name("none.jsonl")).verify()
    assert without_checkpoints.ok
    result = store.verify()
    assert (result.first_bad_seq, result.problem) == (first_bad, Problem.CHECKPOINT_MISMATCH)


def test_a_damaged_checkpoint_file_is_reported(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints, every=5)
    with checkpoints.open("a") as out:
        out.write('{"seq": 10, "hash": \n')
    result = store.verify()
    assert (result.ok, result.problem, result.first_bad_seq) == (False, Problem.CHECKPOINTS_DAMAGED, None)
    assert "第 3 行" in (result.reason or "")


def test_checkpoints_are_written_every_n_records_outside_the_database(engine: Engine, checkpoints: Path) -> None:
    store = filled(engine, checkpoints, every=4)
    assert [c.seq for c in store.read_checkpoints()] == [4, 8]
    on_demand = store.checkpoint()
    assert on_demand is not None
    assert [c.seq for c in store.read_checkpoints()] == [4, 8, RECORDS]
    assert store.read_checkpoints()[-1].hash == on_demand.hash


def test_concurrent_appends_from_threads_and_processes_make_one_unforked_chain(
    database_url: str, checkpoints: Path
) -> None:
    """Two stores on two engines stand for two API processes; each appends from four threads at once."""
    engines = [make_engine(database_url) for _ in range(2)]
    stores = [AuditStore(engine, checkpoint_path=checkpoints, checkpoint_every=50) for engine in engines]
    per_thread = 25

    def append_many(store: AuditStore, thread: int) -> None:
        for n in range(per_thread):
            store.append(entry(thread * 1000 + n))

    threads = [threading.Thread(target=append_many, args=(store, i)) for i, store in enumerate(stores * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = per_thread * len(threads)
    with engines[0].connect() as conn:
        seqs = [seq for (seq,) in conn.exec_driver_sql("SELECT seq FROM audit_record ORDER BY seq")]
        prev_hashes = {prev for (prev,) in conn.exec_driver_sql("SELECT prev_hash FROM audit_record")}
    assert seqs == list(range(1, total + 1))
    assert len(prev_hashes) == total
    result = stores[1].verify()
    assert (result.ok, result.records_checked, result.checkpoints_checked) == (True, total, total // 50)
    for engine in engines:
        engine.dispose()


def test_verify_audit_command_names_the_first_bad_record_and_exits_1(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XIAOHAO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", database_url)
    filled(engine, tmp_path / "audit-checkpoints.jsonl", every=4)
    cli.main(["verify-audit", "--checkpoint"])
    out = capsys.readouterr().out
    assert "audit trail intact: 10 条记录 records, 2 个检查点 checkpoints" in out
    assert "checkpoint written: seq 10" in out
    with attacker(engine) as db:
        db.execute("UPDATE audit_record SET source_ip = '10.9.9.9' WHERE seq = 6")
    with pytest.raises(SystemExit) as exited:
        cli.main(["verify-audit"])
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "audit trail BROKEN (altered)" in out
    assert "first bad record: seq 6" in out
