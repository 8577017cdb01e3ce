"""Escalation records and letter downloads through the real API app.

Needs `api.routers.escalations.router` registered in `api.main.create_app`.
"""

import asyncio
import io
import uuid
from datetime import timedelta
from urllib.parse import quote

import docx

from activities.escalation import EscalationActivities
from contracts.deadlines import Rung
from contracts.enums import Source
from tests.conftest import ApiStack
from tests.scenarios import AUDITOR, ENTERPRISE, STREET, report
from tests.test_escalation_records import FIRST_WD_2027, escalation_input, issue

PROBLEM = "application/problem+json"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def reported_hazard(api: ApiStack) -> str:
    body = report(Source.SELF_INSPECTION).model_dump(mode="json", exclude_none=True)
    response = await api.http.post("/hazards", json=body, headers=api.auth(ENTERPRISE))
    assert response.status_code == 201, response.text
    hazard_id: str = response.json()["hazard_id"]
    # The read model learns of the hazard from the workflow's first projection.
    for _ in range(200):
        if (await api.http.get(f"/hazards/{hazard_id}/events", headers=api.auth(AUDITOR))).status_code == 200:
            return hazard_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"{hazard_id} never reached the read model")


async def test_a_hazards_escalations_and_their_letters(api: ApiStack) -> None:
    hazard_id = await reported_hazard(api)
    activities = EscalationActivities(
        api.engine, issuer_name=api.settings.issuer_name, doc_number_prefix=api.settings.doc_number_prefix
    )
    deadline_id = f"{hazard_id}/rectify/{uuid.uuid4().hex[:6]}"
    letter = issue(activities, escalation_input(hazard_id, Rung.NOTICE_LETTER, deadline_id=deadline_id))
    reminder = issue(
        activities,
        escalation_input(
            hazard_id,
            Rung.REMINDER,
            FIRST_WD_2027 - timedelta(days=7),
            working_days_late=-3,
            deadline_id=deadline_id,
        ),
    )

    response = await api.http.get(f"/hazards/{hazard_id}/escalations", headers=api.auth(STREET))
    assert response.status_code == 200, response.text
    listed = response.json()
    assert listed["count"] == 2
    first, second = listed["data"]
    assert (first["rung"], first["doc_number"], first["letter_url"]) == ("reminder", None, None)
    assert first["reason"] == reminder.reason
    assert first["working_days_late"] == -3
    assert (second["rung"], second["level"], second["doc_number"]) == ("notice_letter", 1, letter.doc_number)
    assert second["target"] == {"kind": "enterprise", "organisation": letter.target.organisation}
    assert second["copied_to"] == letter.copied_to
    assert second["reason"] == letter.reason
    assert second["letter_url"] == f"/escalations/{second['id']}/letter.docx"

    download = await api.http.get(second["letter_url"], headers=api.auth(AUDITOR))
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == DOCX
    assert f"filename*=UTF-8''{quote(f'{letter.doc_number}.docx', safe='')}" in download.headers["content-disposition"]
    assert download.headers["content-disposition"].startswith("attachment;")
    texts = [p.text for p in docx.Document(io.BytesIO(download.content)).paragraphs]
    assert letter.doc_number in texts

    no_letter = await api.http.get(f"/escalations/{first['id']}/letter.docx", headers=api.auth(AUDITOR))
    assert no_letter.status_code == 404
    assert no_letter.headers["content-type"] == PROBLEM
    assert no_letter.json()["code"] == "LetterNotFound"


async def test_unknown_hazard_or_escalation_is_404(api: ApiStack) -> None:
    hazard = await api.http.get("/hazards/120104-1999-99999/escalations", headers=api.auth(AUDITOR))
    assert hazard.status_code == 404
    assert hazard.json()["code"] == "HazardNotFound"
    letter = await api.http.get("/escalations/999999999/letter.docx", headers=api.auth(AUDITOR))
    assert letter.status_code == 404
    assert letter.headers["content-type"] == PROBLEM
    assert letter.json()["code"] == "EscalationNotFound"


async def test_escalations_need_a_login(api: ApiStack) -> None:
    for path in ("/hazards/120104-1999-99999/escalations", "/escalations/1/letter.docx"):
        response = await api.http.get(path)
        assert response.status_code == 401
        assert response.json()["code"] == "Unauthenticated"
