"""The committee office's settings through the API (real dev server, worker and read model), and their queries.

The `api` fixture's database is shared by the whole session: policy changes here touch only an industry no
other test reports in, and calendar changes only years far enough ahead that nothing else counts through them.
"""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session
from temporalio.api.enums.v1 import EventType

from contracts.deadlines import RECOMPUTE_DEADLINES_SIGNAL, SCHEDULE_DEADLINE_ACTIVITY, PolicyRules
from contracts.enums import Industry
from contracts.hazard import PROJECT_HAZARD_ACTIVITY, Actor, workflow_id
from readmodel import admin_queries
from readmodel.models import PolicyVersionRow
from tests.attempts import attempts
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, COMMITTEE, ENTERPRISE, INSPECTOR, REVIEWER, STREET, report
from workcalendar import YearOverride

pytestmark = pytest.mark.databases

PROBLEM = "application/problem+json"
EVERYONE = (ENTERPRISE, STREET, INSPECTOR, REVIEWER, COMMITTEE, AUDITOR)
NOT_THE_COMMITTEE_OFFICE = (ENTERPRISE, STREET, INSPECTOR, AUDITOR)
# No scenario reports a sports-venue hazard, so a stricter rule for it changes no other test's deadlines.
QUIET_INDUSTRY = Industry.SPORTS.value


def policy_body(plan_wd: int = 7, **rules: Any) -> dict[str, Any]:
    return {
        "rules": PolicyRules(**rules).model_dump(mode="json"),
        "industry_overrides": {QUIET_INDUSTRY: PolicyRules(plan_wd=plan_wd).model_dump(mode="json")},
        "note": f"体育场馆方案时限 {plan_wd} 个工作日",
    }


async def get(api: ApiStack, path: str, actor: Actor, **params: Any) -> httpx.Response:
    return await api.http.get(path, params=params, headers=api.auth(actor))


async def put(api: ApiStack, path: str, actor: Actor, body: Any) -> httpx.Response:
    return await api.http.put(path, json=body, headers=api.auth(actor))


async def version_count(api: ApiStack) -> int:
    return int((await get(api, "/admin/policy/versions", AUDITOR)).json()["count"])


def sources(calendar: dict[str, Any]) -> dict[int, str]:
    return {y["year"]: y["source"] for y in calendar["years"]}


async def test_everyone_signed_in_reads_the_policy_and_the_calendar(api: ApiStack) -> None:
    for actor in EVERYONE:
        for path in ("/admin/policy", "/admin/policy/versions", "/admin/calendar"):
            response = await get(api, path, actor)
            assert response.status_code == 200, (actor.role, path, response.text)
    policy = (await get(api, "/admin/policy", ENTERPRISE)).json()
    assert policy["version"] >= 1
    assert set(policy["rules"]) == set(PolicyRules.model_fields)
    anonymous = await api.http.get("/admin/policy")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM


async def test_only_the_committee_office_changes_the_policy(api: ApiStack) -> None:
    before = await version_count(api)
    for actor in NOT_THE_COMMITTEE_OFFICE:
        response = await put(api, "/admin/policy", actor, policy_body())
        assert response.status_code == 403, actor.role
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "RoleForbidden"
        assert "区安委办" in response.json()["detail"]
    assert await version_count(api) == before


async def test_each_save_is_a_new_version_and_old_versions_stay(api: ApiStack) -> None:
    before = (await get(api, "/admin/policy", AUDITOR)).json()
    first = await put(api, "/admin/policy", COMMITTEE, policy_body(plan_wd=7))
    second = await put(api, "/admin/policy", COMMITTEE, policy_body(plan_wd=8))
    assert (first.status_code, second.status_code) == (201, 201), first.text
    one, two = first.json(), second.json()
    # Version 1 is the built-in defaults: the first saved policy is at least version 2.
    assert one["version"] == max(before["version"], 1) + 1 >= 2
    assert two["version"] == one["version"] + 1
    assert one["industry_overrides"][QUIET_INDUSTRY]["plan_wd"] == 7
    assert two["industry_overrides"][QUIET_INDUSTRY]["plan_wd"] == 8
    assert two["created_by"] == COMMITTEE.name
    assert two["note"] == "体育场馆方案时限 8 个工作日"

    assert (await get(api, "/admin/policy", ENTERPRISE)).json() == two
    versions = (await get(api, "/admin/policy/versions", AUDITOR)).json()
    numbers = [v["version"] for v in versions["data"]]
    assert numbers == sorted(numbers, reverse=True)
    assert versions["count"] == len(numbers)
    assert versions["data"][0] == two
    assert versions["data"][1] == one
    builtin = versions["data"][-1]
    assert builtin["version"] == 1
    assert builtin["rules"] == PolicyRules().model_dump(mode="json")
    assert builtin["created_at"] is None


async def test_a_hazard_follows_the_policy_in_force_when_it_was_reported(api: ApiStack) -> None:
    saved = await put(api, "/admin/policy", COMMITTEE, policy_body(plan_wd=11))
    assert saved.status_code == 201, saved.text
    body = report().model_dump(mode="json", exclude_none=True) | {"industry": QUIET_INDUSTRY}
    created = await api.http.post("/hazards", json=body, headers=api.auth(ENTERPRISE))
    assert created.status_code == 201, created.text
    hazard = created.json()
    assert hazard["policy_version"] == saved.json()["version"]
    assert hazard["rules"]["plan_wd"] == 11
    # The API sent the policy with the report: the workflow loaded none of its own.
    history = await api.temporal.get_workflow_handle(workflow_id(hazard["hazard_id"])).fetch_history()
    assert [activity for activity, _ in attempts(history)] == [SCHEDULE_DEADLINE_ACTIVITY, PROJECT_HAZARD_ACTIVITY]


async def test_invalid_policy_is_422_naming_the_field(api: ApiStack) -> None:
    before = await version_count(api)
    zero_plan = policy_body()
    zero_plan["rules"]["plan_wd"] = 0
    bad_override = policy_body(plan_wd=7)
    bad_override["industry_overrides"][QUIET_INDUSTRY]["review_wd"] = 61
    unknown_industry = policy_body()
    unknown_industry["industry_overrides"] = {"航天": PolicyRules().model_dump(mode="json")}
    cases = [
        (zero_plan, "rules.plan_wd", "不能小于 1"),
        (bad_override, f"industry_overrides.{QUIET_INDUSTRY}.review_wd", "不能大于 60"),
        (unknown_industry, "industry_overrides.航天.[key]", "取值必须是以下之一"),
        (policy_body(summons_wd_after=20, listing_wd_after=20), "rules.listing_wd_after", "须晚于约谈"),
        (policy_body(notice_letter_wd_after=10, summons_wd_after=10), "rules.summons_wd_after", "须晚于函告"),
        (
            {**policy_body(), "rules": {**policy_body()["rules"], "notice_letter_wd_after": 0}},
            "rules.notice_letter_wd_after",
            "不能小于 1",
        ),
    ]
    for body, field, message in cases:
        response = await put(api, "/admin/policy", COMMITTEE, body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        errors = response.json()["errors"]
        assert any(e["field"] == field and message in e["message"] for e in errors), errors
    assert await version_count(api) == before


async def test_calendar_entry_is_checked_and_only_for_the_committee_office(api: ApiStack) -> None:
    good = {"holidays": ["2033-01-03"], "workdays": [], "label": "测试"}
    for actor in NOT_THE_COMMITTEE_OFFICE:
        response = await put(api, "/admin/calendar/2033", actor, good)
        assert response.status_code == 403
        assert response.json()["code"] == "RoleForbidden"
    cases = [
        ({"holidays": ["2033-01-03", "2034-01-02"]}, "holidays.1", "2034-01-02 不在 2033 年内"),
        ({"workdays": ["2032-12-31"]}, "workdays.0", "不在 2033 年内"),
        ({"holidays": ["2033-01-03"], "workdays": ["2033-01-03"]}, "workdays", "不能既是休息日又是工作日"),
        ({"holidays": ["2033-02-30"]}, "holidays.0", "日期格式不正确"),
    ]
    for body, field, message in cases:
        response = await put(api, "/admin/calendar/2033", COMMITTEE, body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        errors = response.json()["errors"]
        assert any(e["field"] == field and message in e["message"] for e in errors), errors
    far = await put(api, "/admin/calendar/20331", COMMITTEE, good)
    assert far.status_code == 422
    assert far.json()["errors"][0]["field"] == "year"
    # Nothing refused was saved.
    assert sources((await get(api, "/admin/calendar", AUDITOR, to_year=2033)).json())[2033] == "fallback"


async def test_a_year_goes_from_fallback_to_override(api: ApiStack) -> None:
    this_year = datetime.now(UTC).year
    default = (await get(api, "/admin/calendar", STREET)).json()
    assert min(sources(default)) == 2020
    assert sources(default)[2025] == "builtin"
    assert this_year + 2 in sources(default)
    labels = {y["source"]: y["label"] for y in default["years"]}
    assert "周一至周五" in labels["fallback"]

    before = (await get(api, "/admin/calendar", INSPECTOR, from_year=2030, to_year=2031)).json()
    assert sources(before) == {2030: "fallback", 2031: "fallback"}
    body = {
        "holidays": ["2031-01-01", "2031-01-22", "2031-01-23", "2031-01-24", "2031-01-27", "2031-01-28"],
        "workdays": ["2031-01-26", "2031-02-08"],
        "label": "国办发明电〔2030〕测试号",
    }
    saved = await put(api, "/admin/calendar/2031", COMMITTEE, body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["override"]["year"] == 2031
    assert saved.json()["override"]["updated_by"] == COMMITTEE.name

    after = (await get(api, "/admin/calendar", INSPECTOR, from_year=2030, to_year=2031)).json()
    assert sources(after) == {2030: "fallback", 2031: "override"}
    (entry,) = [o for o in after["overrides"] if o["year"] == 2031]
    assert entry["holidays"] == body["holidays"]
    assert entry["workdays"] == body["workdays"]
    assert entry["label"] == body["label"]
    # An override outside the years asked for is still listed: nobody misses an entered year.
    assert sources((await get(api, "/admin/calendar", INSPECTOR, to_year=2026)).json())[2031] == "override"

    # Entering the year again replaces it whole.
    again = await put(api, "/admin/calendar/2031", COMMITTEE, {"holidays": ["2031-01-01"]})
    assert again.status_code == 200
    (entry,) = [o for o in (await get(api, "/admin/calendar", AUDITOR)).json()["overrides"] if o["year"] == 2031]
    assert (entry["holidays"], entry["workdays"], entry["label"]) == (["2031-01-01"], [], None)


async def projected_stage(api: ApiStack, hazard_id: str, stage: str) -> None:
    for _ in range(100):
        listed = (await get(api, "/hazards", INSPECTOR, q=hazard_id)).json()
        if listed["count"] == 1 and listed["data"][0]["stage"] == stage:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{hazard_id} never reached {stage} in the read model")


async def recount_signals(api: ApiStack, hazard_id: str) -> int:
    handle = api.temporal.get_workflow_handle(workflow_id(hazard_id))
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    return signals.count(RECOMPUTE_DEADLINES_SIGNAL)


async def test_a_calendar_change_tells_open_hazards_to_recount(api: ApiStack) -> None:
    body = report().model_dump(mode="json", exclude_none=True)
    created = [await api.http.post("/hazards", json=body, headers=api.auth(ENTERPRISE)) for _ in range(2)]
    open_id, revoked_id = (c.json()["hazard_id"] for c in created)
    revoked = await api.http.post(
        f"/hazards/{revoked_id}/revoke", json={"reason": "重复上报"}, headers=api.auth(INSPECTOR)
    )
    assert revoked.status_code == 200
    await projected_stage(api, open_id, "PLAN")
    await projected_stage(api, revoked_id, "REVOKED")

    saved = await put(api, "/admin/calendar/2032", COMMITTEE, {"holidays": ["2032-01-01"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["hazards_signalled"] >= 1
    assert await recount_signals(api, open_id) == 1
    assert await recount_signals(api, revoked_id) == 0
    # The hazard carries on as before.
    state = await get(api, f"/hazards/{open_id}", ENTERPRISE)
    assert state.status_code == 200
    assert state.json()["stage"] == "PLAN"


# The queries on their own.


def test_a_lost_race_for_a_policy_version_takes_the_next(engine: Engine) -> None:
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)

    raced: list[bool] = []

    def someone_else_saves_first(*_: Any) -> None:
        if raced:
            return
        raced.append(True)
        with Session(engine) as other:
            other.add(PolicyVersionRow(version=2, rules={}, industry_overrides={}, created_at=now, created_by="他人"))
            other.commit()

    with Session(engine) as session:
        event.listen(session, "before_flush", someone_else_saves_first)
        saved = admin_queries.save_policy(
            session=session, rules=PolicyRules(), industry_overrides={}, note=None, actor_name="陈静", now=now
        )
        assert raced == [True]
        assert saved.version == 3
        assert [v.version for v in admin_queries.policy_versions(session=session).data] == [3, 2, 1]


def test_an_empty_policy_table_reads_as_the_defaults_and_stays_empty(engine: Engine) -> None:
    with Session(engine) as session:
        assert admin_queries.current_policy(session=session).version == 1
        assert admin_queries.current_policy(session=session).rules == PolicyRules()
        assert session.get(PolicyVersionRow, 1) is None


def test_calendar_overrides_round_trip(engine: Engine) -> None:
    override = YearOverride(
        year=2027,
        holidays=frozenset({date(2027, 1, 1), date(2027, 2, 8)}),
        workdays=frozenset({date(2027, 2, 6)}),
        version="国办发明电〔2026〕1号",
    )
    with Session(engine) as session:
        admin_queries.save_calendar_override(
            session=session, override=override, actor_name="陈静", now=datetime(2026, 11, 23, tzinfo=UTC)
        )
    with Session(engine) as session:
        assert admin_queries.calendar_overrides(session=session) == [override]
