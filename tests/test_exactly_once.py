"""Exactly once for humans (issue 8, item 5): a request repeated at once with its Idempotency-Key acts once.
(Two conflicting decisions racing, 200 rounds: tests/test_authorization.py.)

Against the real API, a real worker and a real read model on the dev server: the requests really race in the
Temporal server, and what counts is what the read model and the workflow history recorded.
"""

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from contracts.hazard import Actor, workflow_id
from tests.conftest import ApiStack
from tests.figures import record
from tests.scenarios import AUDITOR, ENTERPRISE, REVIEWER, plan
from tests.test_api import new_hazard, post, report_body
from tests.test_listing_and_extension_api import to_review

pytestmark = pytest.mark.databases

REPEATS = 10
APPROVE = {"decision": "approve", "opinion": "同意销号"}
REJECT = {"decision": "reject", "opinion": "整改不到位，退回"}


async def repeated(api: ApiStack, path: str, actor: Actor, body: Any) -> list[httpx.Response]:
    """The same request, with one Idempotency-Key, sent REPEATS times at once (a client retrying impatiently)."""
    key = str(uuid.uuid4())
    return list(await asyncio.gather(*(post(api, path, actor, body, key) for _ in range(REPEATS))))


async def domain_events(api: ApiStack, hazard_id: str) -> list[str]:
    events = (await api.http.get(f"/hazards/{hazard_id}/events", headers=api.auth(AUDITOR))).json()
    return [e["action"] for e in events["data"]]


async def accepted_updates(api: ApiStack, hazard_id: str) -> Counter[str]:
    """How many times the workflow accepted each update: what Temporal itself recorded."""
    history = await api.temporal.get_workflow_handle(workflow_id(hazard_id)).fetch_history()
    return Counter(
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def in_review(api: ApiStack) -> str:
    hazard_id = str((await new_hazard(api))["hazard_id"])
    await to_review(api, hazard_id)
    return hazard_id


async def test_a_report_sent_ten_times_at_once_with_one_key_opens_one_hazard(api: ApiStack) -> None:
    title = f"并发重复上报 {uuid.uuid4()}"
    answers = await repeated(api, "/hazards", ENTERPRISE, report_body(title=title))
    assert sorted(a.status_code for a in answers) == [200] * (REPEATS - 1) + [201], [a.text for a in answers]
    assert len({a.json()["hazard_id"] for a in answers}) == 1
    listed = (await api.http.get("/hazards", params={"q": title}, headers=api.auth(ENTERPRISE))).json()
    assert listed["count"] == 1


async def test_an_action_sent_ten_times_at_once_with_one_key_is_one_event(api: ApiStack) -> None:
    hazard_id = str((await new_hazard(api))["hazard_id"])
    answers = await repeated(api, f"/hazards/{hazard_id}/plan", ENTERPRISE, plan().model_dump(mode="json"))
    assert [a.status_code for a in answers] == [200] * REPEATS, [a.text for a in answers]
    assert {a.json()["event"]["seq"] for a in answers} == {2}
    assert await domain_events(api, hazard_id) == ["report", "submit_plan"]
    assert (await accepted_updates(api, hazard_id))["submit_plan"] == 1
    record(5, "one action sent 10 times at once with one key: events recorded", 1, scale="10 requests")


async def test_the_closing_decision_sent_ten_times_with_one_key_closes_once_and_answers_each_alike(
    api: ApiStack,
) -> None:
    """The last action finishes the workflow, so a retry can arrive after it has closed: it still gets the
    first answer, not a 409 telling the client its own approval failed."""
    hazard_id = await in_review(api)
    answers = await repeated(api, f"/hazards/{hazard_id}/review", REVIEWER, APPROVE)
    assert [a.status_code for a in answers] == [200] * REPEATS, [a.text for a in answers]
    assert {a.json()["event"]["seq"] for a in answers} == {5}
    assert {a.json()["state"]["stage"] for a in answers} == {"CLOSED"}
    late = await post(
        api, f"/hazards/{hazard_id}/review", REVIEWER, APPROVE, answers[0].request.headers["Idempotency-Key"]
    )
    assert late.status_code == 200, late.text
    assert late.json()["event"] == answers[0].json()["event"]
    assert (await domain_events(api, hazard_id))[-1] == "review"
    assert (await accepted_updates(api, hazard_id))["review"] == 1
    record(5, "closing approval sent 10 times with one key: events recorded", 1, scale="10 requests, then 1 late")
