"""Jurisdiction at the API: a hazard outside the caller's answers exactly as one that does not exist (404)."""

from sqlmodel import Session

from api.errors import not_found
from contracts.enums import Role
from contracts.hazard import Actor, HazardState
from contracts.jurisdiction import sees_state
from readmodel import queries

# Roles that work with the enterprise's people directly see their phone numbers; others see them masked.
SEES_PHONES = frozenset({Role.ENTERPRISE, Role.DEPARTMENT, Role.COMMITTEE_OFFICE})


def visible(actor: Actor, hazard_id: str, session: Session) -> bool:
    return queries.visible(session=session, actor=actor, hazard_id=hazard_id)


def require_visible(actor: Actor, hazard_id: str, session: Session) -> None:
    if not visible(actor, hazard_id, session):
        raise not_found(hazard_id)


def require_sees(actor: Actor, state: HazardState) -> None:
    if not sees_state(actor, state):
        raise not_found(state.hazard_id)


def mask_phone(phone: str) -> str:
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def for_reader(actor: Actor, state: HazardState) -> HazardState:
    """The state as this reader may see it: phone numbers masked for roles that do not need them."""
    if actor.role in SEES_PHONES:
        return state
    shown = state.model_copy(deep=True)
    shown.report.enterprise.principal_phone = mask_phone(shown.report.enterprise.principal_phone)
    if shown.plan is not None:
        shown.plan.responsible_phone = mask_phone(shown.plan.responsible_phone)
    return shown
