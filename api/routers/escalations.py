"""Escalations: what the ladder issued for a hazard, and the letters themselves. Read from the read model."""

from urllib.parse import quote

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import CurrentActor, EngineDep, RowId
from api.errors import Problem
from api.jurisdiction import require_visible, visible
from contracts.deadlines import RUNG_LABELS, EscalationRecord, Rung
from letters.docx import render_letter
from readmodel import escalation_queries
from readmodel.models import EscalationRow

router = APIRouter(tags=["escalations"])

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class EscalationPublic(EscalationRecord):
    id: int
    letter_url: str | None


class EscalationsPublic(BaseModel):
    data: list[EscalationPublic]
    count: int


def letter_url(escalation_id: int) -> str:
    return f"/escalations/{escalation_id}/letter.docx"


def public(row: EscalationRow) -> EscalationPublic:
    assert row.id is not None
    return EscalationPublic(
        **escalation_queries.record_of(row).model_dump(),
        id=row.id,
        letter_url=letter_url(row.id) if row.letter else None,
    )


@router.get(
    "/hazards/{hazard_id}/escalations",
    summary="督办记录 (reminders, letters, summons, listings and circulars, in order)",
    responses={404: {"description": "no such hazard"}},
)
def hazard_escalations(hazard_id: str, engine: EngineDep, actor: CurrentActor) -> EscalationsPublic:
    with Session(engine) as session:
        require_visible(actor, hazard_id, session)
        rows = escalation_queries.hazard_escalations(session=session, hazard_id=hazard_id)
        return EscalationsPublic(data=[public(row) for row in rows], count=len(rows))


@router.get(
    "/escalations/{escalation_id}/letter.docx",
    summary="下载文书 (the letter as issued, .docx)",
    response_class=Response,
    responses={
        200: {"content": {DOCX: {}}, "description": "the letter"},
        404: {"description": "no such escalation, or a reminder (which has no letter)"},
    },
)
def escalation_letter(escalation_id: RowId, engine: EngineDep, actor: CurrentActor) -> Response:
    with Session(engine) as session:
        row = escalation_queries.escalation(session=session, escalation_id=escalation_id)
        if row is None or not visible(actor, row.hazard_id, session):
            raise Problem(404, "EscalationNotFound", f"未找到编号为 {escalation_id} 的督办记录", title="督办记录不存在")
    if not row.letter:
        raise Problem(
            404,
            "LetterNotFound",
            f"督办记录 {escalation_id} 是{RUNG_LABELS[Rung(row.rung)]}，没有文书",
            title="文书不存在",
        )
    filename = f"{row.doc_number}.docx"
    disposition = (
        f"attachment; filename=\"escalation-{escalation_id}.docx\"; filename*=UTF-8''{quote(filename, safe='')}"
    )
    return Response(render_letter(row), media_type=DOCX, headers={"Content-Disposition": disposition})
