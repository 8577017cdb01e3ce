"""Who may do what, checked exhaustively: every role (and no token) × every hazard endpoint × a hazard of
one's own, someone else's, and none at all. Expectations come from contracts.policy and the jurisdiction
rule, so the test and the service read the same table."""

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from contracts.enums import Action, Industry, Role, Source
from contracts.hazard import Actor, Enterprise
from contracts.policy import may
from tests.conftest import ApiStack
from tests.figures import record
from tests.scenarios import (
    AUDITOR,
    COMMITTEE,
    CREDIT_CODE,
    ENTERPRISE,
    INSPECTOR,
    REVIEWER,
    STREET,
    plan,
    rectification,
    report,
)
from tests.test_api import post

# The other side of every line: an enterprise, street and department that own nothing of ours.
OTHER_CREDIT_CODE = "91120104MA05000020"
OTHER_ENTERPRISE = Actor(
    id="ent-900", name="周平", role=Role.ENTERPRISE, organisation="天津某燃气公司", credit_code=OTHER_CREDIT_CODE
)
OTHER_STREET = Actor(id="street-900", name="吴磊", role=Role.STREET, organisation="长虹街道", street="长虹街道")
OTHER_DEPARTMENT = Actor(
    id="dept-900", name="郑洁", role=Role.DEPARTMENT, organisation="南开区城市管理委员会", industries=[Industry.GAS]
)
GAS_INSPECTOR = Actor(
    id="dept-901", name="冯凯", role=Role.DEPARTMENT, organisation="南开区城市管理委员会", industries=[Industry.GAS]
)

# Every role, each with a hazard it owns: ENTERPRISE/STREET/INSPECTOR see the "own" hazard below.
ACTORS: dict[str, Actor] = {
    "enterprise": ENTERPRISE,
    "street": STREET,
    "department": INSPECTOR,
    "committee_office": COMMITTEE,
    "auditor": AUDITOR,
}
SEES_EVERYTHING = {Role.COMMITTEE_OFFICE, Role.AUDITOR}


@dataclass(frozen=True)
class Endpoint:
    path: str
    action: Action | None  # None: a read
    body: dict[str, Any] | None = None


ENDPOINTS = [
    Endpoint("", None),
    Endpoint("/events", None),
    Endpoint("/escalations", None),
    Endpoint("/verify", Action.VERIFY, {"verified": True, "opinion": "属实"}),
    Endpoint("/plan", Action.SUBMIT_PLAN, plan().model_dump(mode="json")),
    Endpoint("/interim-controls", Action.CONFIRM_INTERIM_CONTROL, {"kind": "cordon", "measures": "警戒"}),
    Endpoint("/rectification", Action.REPORT_RECTIFICATION, rectification().model_dump(mode="json")),
    Endpoint("/review", Action.REVIEW, {"decision": "reject", "opinion": "不予通过"}),
    Endpoint("/revoke", Action.REVOKE, {"reason": "经复核不属于重大事故隐患"}),
    Endpoint("/extensions", Action.REQUEST_EXTENSION, {"reason": "延期", "new_due_date": "2027-06-30"}),
    Endpoint("/extensions/decision", Action.DECIDE_EXTENSION, {"approve": False, "opinion": "不同意"}),
    Endpoint("/listing", Action.LIST, {"level": "区级", "issuing_body": "南开区安委办", "doc_number": "督〔2026〕1号"}),
    Endpoint("/delisting", Action.DELIST, {"opinion": "摘牌"}),
    Endpoint("/publication", Action.PUBLISH, {"of": "listing", "published_on": "2026-11-20", "channel": "网站"}),
    Endpoint("/transfer", Action.TRANSFER, {"to_department": "南开区住房和建设委员会", "reason": "职责调整"}),
]


async def own_hazard(api: ApiStack) -> str:
    response = await post(api, "/hazards", ENTERPRISE, report().model_dump(mode="json", exclude_none=True))
    assert response.status_code == 201, response.text
    return str(response.json()["hazard_id"])


async def foreign_hazard(api: ApiStack) -> str:
    body = report(Source.INSPECTION).model_copy(
        update={
            "street": "长虹街道",
            "industry": Industry.GAS,
            "department": "南开区城市管理委员会",
            "enterprise": Enterprise(
                name="天津某燃气公司",
                credit_code=OTHER_CREDIT_CODE,
                principal_name="周平",
                principal_phone="13900000000",
            ),
        }
    )
    response = await post(api, "/hazards", GAS_INSPECTOR, body.model_dump(mode="json", exclude_none=True))
    assert response.status_code == 201, response.text
    return str(response.json()["hazard_id"])


def expected(actor: Actor | None, endpoint: Endpoint, kind: str) -> set[int]:
    """What the policy table and the jurisdiction rule say this call must answer."""
    if actor is None:
        return {401}
    if endpoint.action is not None and not may(actor.role, endpoint.action):
        return {403}  # the same whether or not the hazard exists: a refusal reveals nothing
    if kind == "missing" or (kind == "foreign" and actor.role not in SEES_EVERYTHING):
        return {404}
    if endpoint.action is None:
        return {200}
    # Authorised: what remains is the hazard's stage or the data (200, 409 or 422), never 401/403/404.
    return {200, 409, 422}


async def call(api: ApiStack, actor: Actor | None, hazard_id: str, endpoint: Endpoint) -> int:
    headers = api.auth(actor) if actor else {}
    url = f"/hazards/{hazard_id}{endpoint.path}"
    if endpoint.action is None:
        return (await api.http.get(url, headers=headers)).status_code
    return (await api.http.post(url, json=endpoint.body, headers=headers)).status_code


@pytest.mark.parametrize("role", [*ACTORS, "no_token"])
async def test_the_authorization_matrix_matches_the_policy_table(api: ApiStack, role: str) -> None:
    actor = ACTORS.get(role)
    foreign = await foreign_hazard(api)
    mismatches = []
    for endpoint in ENDPOINTS:
        # A fresh own hazard per call: an authorised action (a revocation, a transfer) must not change the
        # ground under the next one.
        targets = {"own": await own_hazard(api), "foreign": foreign, "missing": "120104-1999-99999"}
        for kind, hazard_id in targets.items():
            status = await call(api, actor, hazard_id, endpoint)
            if status not in expected(actor, endpoint, kind):
                mismatches.append((endpoint.path or "/", kind, status, sorted(expected(actor, endpoint, kind))))
    assert mismatches == []


async def test_lists_show_only_the_callers_jurisdiction(api: ApiStack) -> None:
    own, foreign = await own_hazard(api), await foreign_hazard(api)
    for actor, sees_own, sees_foreign in (
        (ENTERPRISE, True, False),
        (OTHER_ENTERPRISE, False, True),
        (STREET, True, False),
        (OTHER_STREET, False, True),
        (INSPECTOR, True, False),
        (OTHER_DEPARTMENT, False, True),
        (COMMITTEE, True, True),
        (AUDITOR, True, True),
    ):
        listed = {
            h["hazard_id"]
            for h in (await api.http.get("/hazards", params={"limit": 200}, headers=api.auth(actor))).json()["data"]
        }
        listed |= {
            h["hazard_id"]
            for q in (own, foreign)
            for h in (await api.http.get("/hazards", params={"q": q}, headers=api.auth(actor))).json()["data"]
        }
        assert (own in listed, foreign in listed) == (sees_own, sees_foreign), actor.name


async def test_a_transfer_moves_the_jurisdiction(api: ApiStack) -> None:
    hazard_id = await own_hazard(api)
    builder = Actor(
        id="dept-300",
        name="钱涛",
        role=Role.DEPARTMENT,
        organisation="南开区住房和建设委员会",
        industries=[Industry.CONSTRUCTION],
    )
    assert (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(builder))).status_code == 404
    body = {"to_department": builder.organisation, "reason": "该储罐区属在建工程，移交住建委"}
    assert (await post(api, f"/hazards/{hazard_id}/transfer", OTHER_DEPARTMENT, body)).status_code == 404
    moved = await post(api, f"/hazards/{hazard_id}/transfer", INSPECTOR, body)
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"]["department"] == builder.organisation
    assert (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(builder))).status_code == 200
    # The industry's department no longer holds it: transferred away.
    assert (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(INSPECTOR))).status_code == 404
    listed = await api.http.get("/hazards", params={"q": hazard_id}, headers=api.auth(builder))
    assert listed.json()["count"] == 1


SERVER_OWNED = {"actor": ENTERPRISE.model_dump(), "hazard_id": "X-1", "stage": "CLOSED", "version": 99, "seq": 7}


async def test_server_owned_fields_in_a_payload_change_nothing(api: ApiStack) -> None:
    hazard_id = await own_hazard(api)
    for endpoint in ENDPOINTS:
        if endpoint.action is None:
            continue
        for field, value in SERVER_OWNED.items():
            body = {**(endpoint.body or {}), field: value}
            actor = next(a for a in (ENTERPRISE, REVIEWER, COMMITTEE) if may(a.role, endpoint.action))
            response = await post(api, f"/hazards/{hazard_id}{endpoint.path}", actor, body)
            assert response.status_code == 422, (endpoint.path, field, response.text)
            assert any(e["field"] == field for e in response.json()["errors"])
    state = (await api.http.get(f"/hazards/{hazard_id}", headers=api.auth(ENTERPRISE))).json()
    assert (state["stage"], state["version"]) == ("PLAN", 1)


async def test_racing_decisions_have_one_winner_and_a_409(api: ApiStack) -> None:
    second_reviewer = REVIEWER.model_copy(update={"id": "dept-003", "name": "孙丽"})
    on_spot = report(Source.INSPECTION, on_spot=True).model_dump(mode="json", exclude_none=True)
    outcomes: list[tuple[int, int]] = []
    for _ in range(200):
        hazard_id = (await post(api, "/hazards", INSPECTOR, on_spot)).json()["hazard_id"]
        approve, reject = await asyncio.gather(
            post(api, f"/hazards/{hazard_id}/review", REVIEWER, {"decision": "approve", "opinion": "同意销号"}),
            post(api, f"/hazards/{hazard_id}/review", second_reviewer, {"decision": "reject", "opinion": "不通过"}),
        )
        outcomes.append((approve.status_code, reject.status_code))
        assert {approve.status_code, reject.status_code} == {200, 409}, (approve.text, reject.text)
        winner = approve if approve.status_code == 200 else reject
        loser = reject if winner is approve else approve
        assert loser.json()["code"] == "StageConflict"
        assert loser.json()["stage"] == winner.json()["state"]["stage"]
    # Both orders happened: the race is real, not one side always arriving first.
    assert {a for a, _ in outcomes} == {200, 409}
    scale = f"{len(outcomes)} rounds, approve against reject"
    record(5, "racing decisions: rounds with exactly one winner and a 409", len(outcomes), scale=scale)
    approvals = sum(a == 200 for a, _ in outcomes)
    record(
        5, "racing decisions: approvals won / rejections won", f"{approvals} / {len(outcomes) - approvals}", scale=scale
    )
    record(5, "racing decisions: 5xx answers", 0, scale=scale)


def test_the_matrix_covers_every_action() -> None:
    covered = {e.action for e in ENDPOINTS if e.action is not None}
    assert covered == set(Action) - {Action.REPORT, Action.ESCALATE}
    assert CREDIT_CODE != OTHER_CREDIT_CODE
