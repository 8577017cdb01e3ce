"""The audit trail through the API: what is recorded, who may read it, and a hazard's whole history."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from api.auth import TokenVerifier, mint_token
from api.deps import CurrentActor
from audit.middleware import install
from audit.store import AuditStore
from contracts.hazard import Actor
from readmodel.audit_models import AuditRecord
from readmodel.db import make_engine
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, COMMITTEE, ENTERPRISE, INSPECTOR, STREET, plan
from tests.test_api import new_hazard, post, report_body

pytestmark = pytest.mark.databases


def recorded(api: ApiStack, response: httpx.Response) -> list[AuditRecord]:
    request_id = response.headers["X-Request-ID"]
    with Session(api.engine) as session:
        return list(session.exec(select(AuditRecord).where(col(AuditRecord.request_id) == request_id)).all())


def assert_actor(record: AuditRecord, actor: Actor | None) -> None:
    who = (record.actor_id, record.actor_name, record.actor_role, record.actor_organisation)
    assert who == ((actor.id, actor.name, actor.role.value, actor.organisation) if actor else (None,) * 4)


async def test_accepted_and_denied_actions_are_recorded_with_who_ip_and_request_id(api: ApiStack) -> None:
    request_id = f"report-{uuid.uuid4()}"
    report = await api.http.post(
        "/hazards",
        json=report_body(),
        headers=api.auth(ENTERPRISE) | {"X-Request-ID": request_id},
    )
    assert report.status_code == 201, report.text
    assert report.headers["X-Request-ID"] == request_id
    hazard_id = report.json()["hazard_id"]
    [accepted] = recorded(api, report)
    assert_actor(accepted, ENTERPRISE)
    assert (accepted.method, accepted.route, accepted.action) == ("POST", "/hazards", "report_hazard")
    assert (accepted.object_id, accepted.status, accepted.outcome) == (hazard_id, 201, "accepted")
    assert (accepted.source_ip, accepted.request_id) == ("127.0.0.1", request_id)

    forbidden = await post(api, f"/hazards/{hazard_id}/plan", INSPECTOR, plan().model_dump(mode="json"))
    assert forbidden.status_code == 403
    [denied] = recorded(api, forbidden)
    assert_actor(denied, INSPECTOR)
    assert (denied.route, denied.action, denied.object_id) == ("/hazards/{hazard_id}/plan", "submit_plan", hazard_id)
    assert (denied.status, denied.outcome, denied.source_ip) == (403, "denied", "127.0.0.1")
    assert uuid.UUID(denied.request_id)

    for response, status in (
        (await api.http.post(f"/hazards/{hazard_id}/revoke", json={"reason": "无凭证"}), 401),
        (await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, {"measures": "缺字段"}), 422),
        (await post(api, f"/hazards/{hazard_id}/rectification", ENTERPRISE, {}), 422),
        (await post(api, "/hazards/120104-1999-99999/verify", INSPECTOR, {}), 422),
    ):
        assert response.status_code == status
        [record] = recorded(api, response)
        assert (record.status, record.outcome) == (status, "denied")
    [anonymous] = recorded(api, (await api.http.post(f"/hazards/{hazard_id}/revoke", json={"reason": "x"})))
    assert_actor(anonymous, None)
    assert anonymous.object_id == hazard_id


async def test_history_reads_are_recorded_and_other_reads_are_not(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    for path, action in (
        (f"/hazards/{hazard_id}/events", "hazard_events"),
        (f"/hazards/{hazard_id}/escalations", "hazard_escalations"),
        (f"/ui/hazards/{hazard_id}", "hazard_page"),
    ):
        response = await api.http.get(path, headers=api.auth(STREET))
        assert response.status_code == 200
        [record] = recorded(api, response)
        assert_actor(record, STREET)
        assert (record.method, record.action, record.object_id, record.outcome) == (
            "GET",
            action,
            hazard_id,
            "accepted",
        )
    state = await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(STREET))
    assert state.status_code == 200
    assert recorded(api, state) == []
    assert uuid.UUID(state.headers["X-Request-ID"])


async def test_only_auditors_verify_and_only_auditors_and_the_committee_office_read_the_trail(
    api: ApiStack,
) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    paths = ["/audit/records", "/audit/verify", f"/audit/hazards/{hazard_id}/history"]
    allowed: list[tuple[Actor, set[str]]] = [
        (AUDITOR, set(paths)),
        (COMMITTEE, {paths[0], paths[2]}),
        (ENTERPRISE, set()),
        (STREET, set()),
        (INSPECTOR, set()),
    ]
    for actor, may_read in allowed:
        for path in paths:
            response = await api.http.get(path, headers=api.auth(actor))
            assert response.status_code == (200 if path in may_read else 403), (actor.role, path, response.text)
            [record] = recorded(api, response)
            assert record.outcome == ("accepted" if path in may_read else "denied")
    assert (await api.http.get("/audit/records")).status_code == 401


async def test_auditors_search_by_actor_organisation_action_hazard_and_time(api: ApiStack) -> None:
    since = datetime.now(UTC)
    hazard_id = (await new_hazard(api))["hazard_id"]
    assert (await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, plan().model_dump(mode="json"))).is_success
    assert (await post(api, f"/hazards/{hazard_id}/revoke", ENTERPRISE, {"reason": "企业无权"})).status_code == 403

    async def search(**params: Any) -> dict[str, Any]:
        response = await api.http.get("/audit/records", params=params, headers=api.auth(AUDITOR))
        assert response.status_code == 200, response.text
        return dict(response.json())

    about = await search(object=hazard_id)
    assert [r["action"] for r in about["data"]] == ["revoke", "submit_plan", "report_hazard"]
    assert about["count"] == 3
    assert [r["seq"] for r in about["data"]] == sorted((r["seq"] for r in about["data"]), reverse=True)
    denied = await search(object=hazard_id, outcome="denied")
    assert [r["action"] for r in denied["data"]] == ["revoke"]
    by_actor = await search(actor_id=ENTERPRISE.id, action="submit_plan", since=since.isoformat())
    assert hazard_id in {r["object_id"] for r in by_actor["data"]}
    by_organisation = await search(organisation=ENTERPRISE.organisation, object=hazard_id, limit=1, offset=1)
    assert (by_organisation["count"], [r["action"] for r in by_organisation["data"]]) == (3, ["submit_plan"])
    before = await search(object=hazard_id, until=since.isoformat())
    assert before["count"] == 0
    after = await search(object=hazard_id, since=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    assert after["count"] == 0
    naive = await api.http.get("/audit/records", params={"since": "2026-11-23T09:00:00"}, headers=api.auth(AUDITOR))
    assert naive.status_code == 422


async def test_a_hazards_history_sets_domain_events_beside_the_temporal_history(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    assert (await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, plan().model_dump(mode="json"))).is_success
    response = await api.http.get(f"/audit/hazards/{hazard_id}/history", headers=api.auth(AUDITOR))
    assert response.status_code == 200, response.text
    assert "Content-Disposition" not in response.headers
    history = response.json()
    assert history["workflow_id"] == f"hazard-{hazard_id}"
    assert [(e["seq"], e["action"]) for e in history["domain_events"]] == [(1, "report"), (2, "submit_plan")]
    temporal = history["temporal_history"]
    assert (temporal[0]["event_type"], temporal[0]["name"]) == ("WORKFLOW_EXECUTION_STARTED", "HazardWorkflow")
    assert [e["event_id"] for e in temporal] == list(range(1, len(temporal) + 1))
    assert all(datetime.fromisoformat(e["event_time"]).tzinfo is not None for e in temporal)
    updates = [e["name"] for e in temporal if e["event_type"] == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
    assert updates == ["opened", "submit_plan"]
    assert {"report_hazard", "submit_plan"} <= {r["action"] for r in history["audit_records"]}

    export = await api.http.get(
        f"/audit/hazards/{hazard_id}/history", params={"download": 1}, headers=api.auth(COMMITTEE)
    )
    assert export.status_code == 200
    assert export.headers["Content-Disposition"] == f'attachment; filename="hazard-{hazard_id}-history.json"'
    assert export.json()["domain_events"] == history["domain_events"]
    [record] = recorded(api, export)
    assert (record.action, record.object_id) == ("hazard_history", hazard_id)

    missing = await api.http.get("/audit/hazards/120104-1999-99999/history", headers=api.auth(AUDITOR))
    assert missing.status_code == 404
    assert missing.json()["code"] == "HazardNotFound"


async def test_verify_reports_an_intact_trail(api: ApiStack) -> None:
    await new_hazard(api)
    response = await api.http.get("/audit/verify", headers=api.auth(AUDITOR))
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is True, result
    assert result["records_checked"] >= 2
    assert result["first_bad_seq"] is None


async def test_a_request_id_that_does_not_look_like_one_is_replaced(api: ApiStack) -> None:
    response = await api.http.get(
        "/audit/records", headers=api.auth(AUDITOR) | {"X-Request-ID": "<script>alert(1)</script>"}
    )
    assert response.status_code == 200
    assert uuid.UUID(response.headers["X-Request-ID"])
    assert len(recorded(api, response)) == 1


SECRET = "small-app-secret-" + "x" * 32


def small_app(store: AuditStore, *, trusted_proxies: tuple[str, ...] = ()) -> FastAPI:
    """Just the middleware, around handlers that fail or answer: no Temporal needed."""
    app = FastAPI()
    install(app, trusted_proxies=trusted_proxies)
    app.state.audit = store
    app.state.tokens = TokenVerifier.embedded(SECRET, issuer="xiaohao", audience="xiaohao-api")

    @app.post("/hazards/{hazard_id}/boom")
    def boom(hazard_id: str) -> None:
        raise RuntimeError("handler failed")

    @app.post("/things")
    def things() -> dict[str, str]:
        return {"hazard_id": "made-here"}

    @app.get("/hazards/{hazard_id}/evidence/{sha256}")
    def download(hazard_id: str, sha256: str) -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            # By the first byte out, the download is on the record: the body itself was not held for it.
            yield str(len(store_records(store.engine))).encode()
            yield b"-rest"

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://a")


async def test_a_request_that_fails_in_the_handler_is_recorded_as_an_error(engine: Engine, tmp_path: Path) -> None:
    store = AuditStore(engine, checkpoint_path=tmp_path / "checkpoints.jsonl")
    async with client(small_app(store)) as http:
        response = await http.post("/hazards/H-1/boom")
    assert response.status_code == 500
    [record] = store_records(engine)
    assert (record.status, record.outcome, record.object_id, record.action) == (500, "error", "H-1", "boom")


async def test_an_audit_failure_is_logged_without_personal_data_and_the_answer_still_goes_out(
    tmp_path: Path,
) -> None:
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    store = AuditStore(unmigrated, checkpoint_path=tmp_path / "checkpoints.jsonl")
    token = mint_token(ENTERPRISE, secret=SECRET, issuer="xiaohao", audience="xiaohao-api", ttl=timedelta(minutes=5))
    with capture_logs() as logs:
        async with client(small_app(store)) as http:
            response = await http.post("/things", headers={"Authorization": f"Bearer {token}"})
    unmigrated.dispose()
    assert response.status_code == 200
    [failure] = [log for log in logs if log["event"] == "audit record not written"]
    assert failure["log_level"] == "error"
    assert (failure["route"], failure["status"], failure["error"]) == ("/things", 200, "OperationalError")
    assert ENTERPRISE.name not in str(failure)


async def test_forwarded_addresses_count_only_from_trusted_proxies(engine: Engine, tmp_path: Path) -> None:
    store = AuditStore(engine, checkpoint_path=tmp_path / "checkpoints.jsonl")
    forwarded = {"X-Forwarded-For": "203.0.113.9, 1.2.3.4, 10.0.0.2"}
    async with client(small_app(store)) as http:
        await http.post("/things", headers=forwarded)
    async with client(small_app(store, trusted_proxies=("127.0.0.1", "10.0.0.2"))) as http:
        await http.post("/things", headers=forwarded)
    direct, proxied = store_records(engine)
    # The test client connects from 127.0.0.1; 203.0.113.9 is what the client itself claimed, never trusted.
    assert (direct.source_ip, proxied.source_ip) == ("127.0.0.1", "1.2.3.4")
    assert direct.object_id == "made-here"


async def test_a_download_is_recorded_before_it_streams(engine: Engine, tmp_path: Path) -> None:
    store = AuditStore(engine, checkpoint_path=tmp_path / "checkpoints.jsonl")
    async with client(small_app(store)) as http:
        response = await http.get("/hazards/H-2/evidence/abc")
    assert response.content == b"1-rest"
    [record] = store_records(engine)
    assert (record.method, record.route, record.object_id) == ("GET", "/hazards/{hazard_id}/evidence/{sha256}", "H-2")


async def test_the_token_is_checked_once_for_the_route_and_its_record(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AuditStore(engine, checkpoint_path=tmp_path / "checkpoints.jsonl")
    app = small_app(store)
    tokens: TokenVerifier = app.state.tokens
    checked: list[str] = []
    verify = tokens.verify

    def counting(token: str) -> Actor:
        checked.append(token)
        return verify(token)

    monkeypatch.setattr(tokens, "verify", counting)

    @app.post("/hazards/{hazard_id}/note")
    def note(hazard_id: str, actor: CurrentActor) -> dict[str, str]:
        return {"by": actor.id}

    token = mint_token(ENTERPRISE, secret=SECRET, issuer="xiaohao", audience="xiaohao-api", ttl=timedelta(minutes=5))
    async with client(app) as http:
        response = await http.post("/hazards/H-3/note", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    [record] = store_records(engine)
    assert_actor(record, ENTERPRISE)
    assert checked == [token]


def store_records(engine: Engine) -> list[AuditRecord]:
    with Session(engine) as session:
        return list(session.exec(select(AuditRecord).order_by(col(AuditRecord.seq))).all())
