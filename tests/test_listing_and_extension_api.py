"""Listing by hand, delisting before sign-off, publications and extensions, through the HTTP API."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from contracts.clock import CHINA_TZ
from contracts.hazard import workflow_id
from tests.conftest import ApiStack
from tests.scenarios import COMMITTEE, ENTERPRISE, REVIEWER, plan, rectification
from tests.test_api import new_hazard, post


def deadline_kinds(body: dict[str, Any]) -> set[str]:
    return {d["kind"] for d in body["deadlines"]}


async def to_review(api: ApiStack, hazard_id: str) -> None:
    for path, body in (
        ("plan", plan().model_dump(mode="json")),
        ("interim-controls", {"kind": "cordon", "measures": "设置警戒区"}),
        ("rectification", rectification().model_dump(mode="json")),
    ):
        response = await post(api, f"/hazards/{hazard_id}/{path}", ENTERPRISE, body)
        assert response.status_code == 200, response.text


async def status_of(api: ApiStack, hazard_id: str) -> WorkflowExecutionStatus | None:
    return (await api.temporal.get_workflow_handle(workflow_id(hazard_id)).describe()).status


async def test_a_listed_hazard_is_delisted_before_sign_off_and_published(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    order = {"level": "区级", "issuing_body": "南开区安委办", "doc_number": "南开安委办督〔2026〕9号"}
    listed = await post(api, f"/hazards/{hazard_id}/listing", COMMITTEE, order)
    assert listed.status_code == 200, listed.text
    state = listed.json()["state"]
    assert state["listing"]["order"]["doc_number"] == order["doc_number"]
    assert state["listing"]["automatic"] is False
    assert "listing_publication" in deadline_kinds(state)
    assert (await post(api, f"/hazards/{hazard_id}/listing", COMMITTEE, order)).status_code == 409
    assert (await post(api, f"/hazards/{hazard_id}/listing", REVIEWER, order)).status_code == 403

    await to_review(api, hazard_id)
    refused = await post(api, f"/hazards/{hazard_id}/review", REVIEWER, {"decision": "approve", "opinion": "同意"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "ListingActive"

    assert (await post(api, f"/hazards/{hazard_id}/delisting", REVIEWER, {"opinion": "摘牌"})).status_code == 403
    delisted = await post(api, f"/hazards/{hazard_id}/delisting", COMMITTEE, {"opinion": "整改到位，同意摘牌"})
    assert delisted.status_code == 200, delisted.text
    assert "delisting_publication" in deadline_kinds(delisted.json()["state"])

    today = datetime.now(CHINA_TZ).date().isoformat()
    published = await post(
        api,
        f"/hazards/{hazard_id}/publication",
        COMMITTEE,
        {"of": "listing", "published_on": today, "channel": "区政府网站"},
    )
    assert published.status_code == 200, published.text
    assert "listing_publication" not in deadline_kinds(published.json()["state"])

    closed = await post(api, f"/hazards/{hazard_id}/review", REVIEWER, {"decision": "approve", "opinion": "同意销号"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"]["stage"] == "CLOSED"
    # Closed, but the delisting's publication is still owed: the workflow keeps tracking it.
    assert await status_of(api, hazard_id) is WorkflowExecutionStatus.RUNNING

    delisting_published = await post(
        api,
        f"/hazards/{hazard_id}/publication",
        COMMITTEE,
        {"of": "delisting", "published_on": today, "channel": "区政府网站"},
    )
    assert delisting_published.status_code == 200, delisting_published.text
    for _ in range(100):
        if await status_of(api, hazard_id) is WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.05)
    assert await status_of(api, hazard_id) is WorkflowExecutionStatus.COMPLETED
    events = (await api.http.get(f"/hazards/{hazard_id}/events", headers=api.auth(COMMITTEE))).json()["data"]
    assert [e["action"] for e in events if e["action"] in {"list", "delist", "publish"}] == [
        "list",
        "delist",
        "publish",
        "publish",
    ]


async def test_an_extension_is_asked_once_at_a_time_and_moves_the_deadline(api: ApiStack) -> None:
    hazard_id = (await new_hazard(api))["hazard_id"]
    today = datetime.now(CHINA_TZ).date()
    await post(
        api, f"/hazards/{hazard_id}/plan", ENTERPRISE, plan(deadline=today + timedelta(days=40)).model_dump(mode="json")
    )
    control = await post(
        api, f"/hazards/{hazard_id}/interim-controls", ENTERPRISE, {"kind": "cordon", "measures": "警戒"}
    )
    rectify = next(d for d in control.json()["state"]["deadlines"] if d["kind"] == "rectify")

    ask = {"reason": "设备到货延迟", "new_due_date": (today + timedelta(days=70)).isoformat()}
    asked = await post(api, f"/hazards/{hazard_id}/extensions", ENTERPRISE, ask)
    assert asked.status_code == 200, asked.text
    assert "extension_decision" in deadline_kinds(asked.json()["state"])
    again = await post(api, f"/hazards/{hazard_id}/extensions", ENTERPRISE, ask)
    assert again.status_code == 409
    assert "待审批" in again.json()["detail"]
    earlier = {"reason": "提前", "new_due_date": today.isoformat()}
    assert (await post(api, f"/hazards/{hazard_id}/extensions", REVIEWER, earlier)).status_code == 403

    decided = await post(
        api, f"/hazards/{hazard_id}/extensions/decision", REVIEWER, {"approve": True, "opinion": "同意延期至新期限"}
    )
    assert decided.status_code == 200, decided.text
    moved = next(d for d in decided.json()["state"]["deadlines"] if d["kind"] == "rectify")
    assert moved["due_date"] >= ask["new_due_date"]
    assert moved["id"] != rectify["id"]
    assert "extension_decision" not in deadline_kinds(decided.json()["state"])
