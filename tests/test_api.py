"""The HTTP API against a real Temporal dev server, a real worker and a real SQLite read model."""

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from starlette.types import Message, Receive, Scope, Send

from api.main import create_app
from contracts.enums import Source
from contracts.hazard import Actor, workflow_id
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, ENTERPRISE, INSPECTOR, REVIEWER, STREET, plan, rectification, report

pytestmark = pytest.mark.databases

PROBLEM = "application/problem+json"


def report_body(source: Source = Source.SELF_INSPECTION, **changes: Any) -> dict[str, Any]:
    body = report(source).model_dump(mode="json", exclude_none=True)
    body.update(changes)
    return body


async def post(api: ApiStack, path: str, actor: Actor, body: Any, key: str | None = None) -> httpx.Response:
    headers = api.auth(actor) | ({"Idempotency-Key": key} if key else {})
    return await api.http.post(path, json=body, headers=headers)


async def new_hazard(api: ApiStack, actor: Actor = ENTERPRISE, **changes: Any) -> dict[str, Any]:
    source = Source.SELF_INSPECTION if actor is ENTERPRISE else Source.INSPECTION
    response = await post(api, "/hazards", actor, report_body(source, **changes))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_whole_life_through_the_api(api: ApiStack) -> None:
    hazard = await new_hazard(api)
    hazard_id = hazard["hazard_id"]
    assert hazard["stage"] == "PLAN"
    assert hazard_id.startswith(f"{api.settings.district_code}-")

    steps = [
        ("plan", ENTERPRISE, plan().model_dump(mode="json"), "INTERIM_CONTROL"),
        ("interim-controls", ENTERPRISE, {"kind": "cordon", "measures": "设置警戒区"}, "RECTIFY"),
        ("rectification", ENTERPRISE, rectification().model_dump(mode="json"), "REVIEW"),
        ("review", REVIEWER, {"decision": "reject", "opinion": "联锁未调试"}, "RECTIFY"),
        ("rectification", ENTERPRISE, rectification().model_dump(mode="json"), "REVIEW"),
        ("review", REVIEWER, {"decision": "approve", "opinion": "同意销号"}, "CLOSED"),
    ]
    for seq, (action, actor, body, stage) in enumerate(steps, start=2):
        response = await post(api, f"/hazards/{hazard_id}/{action}", actor, body)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["state"]["stage"] == stage
        assert result["event"]["seq"] == seq
        assert result["event"]["actor"]["id"] == actor.id

    state = (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(AUDITOR))).json()
    assert state["stage"] == "CLOSED"
    assert state["rejection_count"] == 1
    assert state["five_in_place"] is True
    assert state["closed_by"]["name"] == REVIEWER.name

    events = (await api.http.get(f"/hazards/{hazard_id}/events", headers=api.auth(AUDITOR))).json()
    assert [e["seq"] for e in events["data"]] == list(range(1, 8))
    assert [e["action"] for e in events["data"]][-2:] == ["report_rectification", "review"]
    assert events["data"][-1]["actor_name"] == REVIEWER.name

    listed = (await api.http.get("/hazards", params={"q": hazard_id}, headers=api.auth(STREET))).json()
    assert listed["count"] == 1
    assert listed["data"][0]["stage"] == "CLOSED"
    assert listed["data"][0]["version"] == 7


async def test_a_retried_report_returns_the_same_hazard(api: ApiStack) -> None:
    key = str(uuid.uuid4())
    body = report_body(title=f"重复上报测试 {key}")
    first = await post(api, "/hazards", ENTERPRISE, body, key)
    second = await post(api, "/hazards", ENTERPRISE, body, key)
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["hazard_id"] == second.json()["hazard_id"]
    listed = (await api.http.get("/hazards", params={"q": key}, headers=api.auth(ENTERPRISE))).json()
    assert listed["count"] == 1


async def test_a_report_retried_after_its_hazard_closed_starts_nothing(api: ApiStack) -> None:
    key = str(uuid.uuid4())
    body = report_body(title=f"撤销后重试 {key}")
    first = await post(api, "/hazards", ENTERPRISE, body, key)
    hazard_id = first.json()["hazard_id"]
    handle = api.temporal.get_workflow_handle(workflow_id(hazard_id))
    run_id = (await handle.describe()).run_id
    assert (await post(api, f"/hazards/{hazard_id}/revoke", INSPECTOR, {"reason": "重复上报"})).status_code == 200
    await handle.result()
    retried = await post(api, "/hazards", ENTERPRISE, body, key)
    assert retried.status_code == 200
    assert retried.json()["stage"] == "REVOKED"
    assert (await handle.describe()).run_id == run_id


async def test_the_report_answer_carries_the_first_deadline(api: ApiStack) -> None:
    hazard = await new_hazard(api)
    assert [d["kind"] for d in hazard["deadlines"]] == ["plan"]
    assert hazard["policy_version"] >= 1
    assert hazard["rag"] == "green"
    assert hazard["penalty_exempt"] is True


async def test_a_retried_action_acts_once(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    key = str(uuid.uuid4())
    body = plan().model_dump(mode="json")
    answers = [await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, body, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.json()["event"]["seq"] for a in answers} == {2}
    events = (await api.http.get(f"/hazards/{hazard_id}/events", headers=api.auth(ENTERPRISE))).json()
    assert [e["action"] for e in events["data"]] == ["report", "submit_plan"]


async def test_list_filters_and_pages(api: ApiStack) -> None:
    street = f"测试街道-{uuid.uuid4().hex[:6]}"
    ids = [(await new_hazard(api, street=street))["hazard_id"] for _ in range(3)]
    await post(api, f"/hazards/{ids[0]}/plan", ENTERPRISE, plan().model_dump(mode="json"))

    def listing(**params: Any) -> Any:
        return api.http.get("/hazards", params={"street": street, **params}, headers=api.auth(INSPECTOR))

    everything = (await listing()).json()
    assert everything["count"] == 3
    assert {h["hazard_id"] for h in everything["data"]} == set(ids)
    in_plan = (await listing(stage="PLAN")).json()
    assert {h["hazard_id"] for h in in_plan["data"]} == set(ids[1:])
    page = (await listing(limit=2, offset=2)).json()
    assert page["count"] == 3
    assert len(page["data"]) == 1
    none = (await listing(industry="燃气")).json()
    assert none["count"] == 0
    # The ledgers' filters work on the list too (one filter builder serves both).
    assert (await listing(listed="false", rag="green", overdue="false")).json()["count"] == 3
    assert (await listing(found_from="2099-01-01")).json()["count"] == 0


async def test_missing_or_bad_token_is_401(api: ApiStack) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {api.token(ENTERPRISE, timedelta(seconds=-120))}"},
    ):
        response = await api.http.get("/hazards", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] in {"Unauthenticated", "InvalidToken"}


async def test_unknown_hazard_is_404(api: ApiStack) -> None:
    for response in (
        await api.http.get("/hazards/120104-1999-99999", headers=api.auth(INSPECTOR)),
        await api.http.get("/hazards/120104-1999-99999/events", headers=api.auth(INSPECTOR)),
        await post(api, "/hazards/120104-1999-99999/plan", ENTERPRISE, plan().model_dump(mode="json")),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "HazardNotFound"


async def test_action_in_wrong_stage_is_409_with_the_stage(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    response = await post(
        api, f"/hazards/{hazard_id}/rectification", ENTERPRISE, rectification().model_dump(mode="json")
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "StageConflict"
    assert problem["stage"] == "PLAN"
    assert "制定整改方案" in problem["detail"]


async def test_action_on_a_closed_hazard_is_409(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    revoked = await post(api, f"/hazards/{hazard_id}/revoke", INSPECTOR, {"reason": "重复上报"})
    assert revoked.status_code == 200
    response = await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, plan().model_dump(mode="json"))
    assert response.status_code == 409
    assert response.json()["stage"] == "REVOKED"


async def test_wrong_role_is_403(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    for actor, path, body in (
        (INSPECTOR, "plan", plan().model_dump(mode="json")),
        (AUDITOR, "revoke", {"reason": "审计不能撤销"}),
        (ENTERPRISE, "revoke", {"reason": "企业不能撤销"}),
    ):
        response = await post(api, f"/hazards/{hazard_id}/{path}", actor, body)
        assert response.status_code == 403
        assert response.json()["code"] == "RoleForbidden"
    enterprise_inspection = await post(api, "/hazards", ENTERPRISE, report_body(Source.INSPECTION))
    assert enterprise_inspection.status_code == 422
    assert enterprise_inspection.json()["errors"][0]["field"] == "source"


async def test_the_reporter_of_a_rectification_cannot_review_it(api: ApiStack) -> None:
    on_spot = report(Source.INSPECTION, on_spot=True).model_dump(mode="json", exclude_none=True)
    hazard = (await post(api, "/hazards", INSPECTOR, on_spot)).json()
    assert hazard["stage"] == "REVIEW"
    own = await post(
        api, f"/hazards/{hazard['hazard_id']}/review", INSPECTOR, {"decision": "approve", "opinion": "自审"}
    )
    assert own.status_code == 403
    assert own.json()["code"] == "MakerChecker"
    other = await post(
        api, f"/hazards/{hazard['hazard_id']}/review", REVIEWER, {"decision": "approve", "opinion": "同意"}
    )
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": ""}, "title", "不能为空"),
        (
            {
                "enterprise": {
                    "name": "某公司",
                    "credit_code": "123",
                    "principal_name": "王",
                    "principal_phone": "13800000000",
                }
            },
            "enterprise.credit_code",
            "格式不正确",
        ),
        ({"industry": "航天"}, "industry", "取值必须是以下之一"),
        ({"found_at": "2026-11-23T09:00:00"}, "found_at", "时区"),
        ({"found_at": "2099-01-01T00:00:00+08:00"}, "found_at", "不能晚于当前时间"),
        ({"hazard_id": "X-1"}, "hazard_id", "不允许的字段"),
    ],
)
async def test_invalid_report_is_422_naming_the_field(
    api: ApiStack, changes: dict[str, Any], field: str, message: str
) -> None:
    before = (await api.http.get("/hazards", headers=api.auth(INSPECTOR))).json()["count"]
    response = await post(api, "/hazards", ENTERPRISE, report_body(**changes))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert any(e["field"] == field and message in e["message"] for e in errors), errors
    after = (await api.http.get("/hazards", headers=api.auth(INSPECTOR))).json()["count"]
    assert after == before


async def test_invalid_plan_is_422_and_changes_nothing(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    missing = {"measures": "更换报警器"}
    response = await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, missing)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} >= {"responsible_person", "responsible_phone", "deadline"}
    past = plan(deadline=date(2020, 1, 1)).model_dump(mode="json")
    response = await post(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, past)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "deadline", "message": "整改时限须晚于今天"}]
    state = (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(ENTERPRISE))).json()
    assert state["stage"] == "PLAN"
    assert state["version"] == 1


async def test_healthz_and_offline_docs(api: ApiStack) -> None:
    health = await api.http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "temporal": "ok", "database": "ok"}
    docs = await api.http.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    asset = await api.http.get("/static-offline-docs/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.content) > 100_000


async def test_temporal_unreachable_is_503(api: ApiStack) -> None:
    settings = api.settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    app = create_app(settings, process_setup=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        response = await http.get("/hazards/120104-2026-00001", headers=api.auth(INSPECTOR))
        assert response.status_code == 503
        assert response.json()["code"] == "TemporalUnavailable"
        health = await http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["failing"] == ["temporal"]


async def test_a_database_pool_run_dry_is_503_with_retry_after(api: ApiStack) -> None:
    """More load than the process's connections serve (tests/test_load.py measures how much it takes): the
    client is told to come back, not that the service broke."""
    app = create_app(api.settings, process_setup=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        app.state.engine = create_engine(api.settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
        with app.state.engine.connect():
            response = await http.get("/hazards", headers=api.auth(STREET))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["code"] == "ServiceBusy"
        app.state.engine.dispose()


async def test_a_page_gives_its_connection_back_before_it_is_sent(api: ApiStack) -> None:
    """A slow reader of a long page must not hold a database connection while it reads: under 200 clients the
    pool ran dry with connections waiting on answers being sent (tests/test_load.py)."""
    app = create_app(api.settings, process_setup=False)
    held_when_sending: list[int] = []

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                held_when_sending.append(app.state.engine.pool.checkedout())
            await send(message)

        await app(scope, receive, send_watched)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=watched), base_url="http://api") as http,
    ):
        response = await http.get("/hazards", headers=api.auth(STREET))
    assert response.status_code == 200, response.text
    assert held_when_sending == [0]


async def test_a_query_parameter_sent_twice_is_422_naming_it(api: ApiStack) -> None:
    response = await api.http.get("/hazards?q=甲&q=乙&stage=PLAN", headers=api.auth(STREET))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"] == [{"field": "q", "message": "只能出现一次"}]
    assert (await api.http.get("/hazards?q=甲&stage=PLAN", headers=api.auth(STREET))).status_code == 200


async def test_a_query_parameter_the_route_does_not_take_is_422_naming_it(api: ApiStack) -> None:
    """A misspelt filter must not answer with everything, as if it had filtered."""
    response = await api.http.get("/hazards?stree=王顶堤街道&stage=PLAN", headers=api.auth(STREET))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"] == [{"field": "stree", "message": "不是此接口的查询参数"}]
    assert "stree" in response.json()["detail"]
    # Parameters that come from the route's dependencies (the list's filters, paging) are its own.
    known = "/hazards?street=王顶堤街道&stage=PLAN&overdue=true&offset=0&limit=10"
    assert (await api.http.get(known, headers=api.auth(STREET))).status_code == 200
    statistics = "/statistics?group_by=street&found_from=2026-01-01"
    assert (await api.http.get(statistics, headers=api.auth(STREET))).status_code == 200
