"""Who may see (and so act on) which hazard. The workflow validators use `sees`; the read model's lists use the
same rule as SQL (readmodel.queries.scope_condition); tests hold the two to the same answers."""

from contracts.enums import Industry, Role
from contracts.hazard import Actor, HazardState


def sees(
    actor: Actor,
    *,
    credit_code: str,
    street: str,
    industry: Industry,
    department: str,
    reporter_organisation: str,
    transferred: bool,
) -> bool:
    match actor.role:
        case Role.COMMITTEE_OFFICE | Role.AUDITOR:
            return True
        case Role.ENTERPRISE:
            return actor.credit_code is not None and actor.credit_code == credit_code
        case Role.STREET:
            return actor.street is not None and actor.street == street
        case Role.DEPARTMENT:
            # Its industries ("三管三必须"), unless the hazard was transferred (移送) to a named department;
            # always the hazards assigned or transferred to it and those it reported itself.
            return (
                department == actor.organisation
                or reporter_organisation == actor.organisation
                or (industry in actor.industries and not transferred)
            )


def sees_state(actor: Actor, state: HazardState) -> bool:
    return sees(
        actor,
        credit_code=state.report.enterprise.credit_code,
        street=state.report.street,
        industry=state.report.industry,
        department=state.department,
        reporter_organisation=state.reporter.organisation,
        transferred=state.transferred,
    )
