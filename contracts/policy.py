"""Who may take which action: one table read by both the API and the workflow validators."""

from contracts.enums import Action, Role, Source

ACTION_ROLES: dict[Action, frozenset[Role]] = {
    Action.REPORT: frozenset({Role.ENTERPRISE, Role.STREET, Role.DEPARTMENT, Role.COMMITTEE_OFFICE}),
    Action.VERIFY: frozenset({Role.DEPARTMENT, Role.COMMITTEE_OFFICE}),
    Action.SUBMIT_PLAN: frozenset({Role.ENTERPRISE}),
    # A suspension (责令停产整顿) is ordered by the department, so it may record the control itself.
    Action.CONFIRM_INTERIM_CONTROL: frozenset({Role.ENTERPRISE, Role.DEPARTMENT}),
    Action.REPORT_RECTIFICATION: frozenset({Role.ENTERPRISE}),
    Action.REVIEW: frozenset({Role.DEPARTMENT}),
    Action.REVOKE: frozenset({Role.DEPARTMENT, Role.COMMITTEE_OFFICE}),
    Action.REQUEST_EXTENSION: frozenset({Role.ENTERPRISE}),
    Action.DECIDE_EXTENSION: frozenset({Role.DEPARTMENT}),
    Action.LIST: frozenset({Role.COMMITTEE_OFFICE}),
    Action.DELIST: frozenset({Role.COMMITTEE_OFFICE}),
    Action.PUBLISH: frozenset({Role.COMMITTEE_OFFICE}),
    Action.TRANSFER: frozenset({Role.DEPARTMENT, Role.COMMITTEE_OFFICE}),
    # Only the service itself escalates; people list by hand instead.
    Action.ESCALATE: frozenset(),
}

# An enterprise can only report what it found itself; inspections and tip-offs come from officials.
SOURCE_ROLES: dict[Source, frozenset[Role]] = {
    Source.SELF_INSPECTION: frozenset({Role.ENTERPRISE}),
    Source.INSPECTION: frozenset({Role.STREET, Role.DEPARTMENT, Role.COMMITTEE_OFFICE}),
    Source.TIP_OFF: frozenset({Role.STREET, Role.DEPARTMENT, Role.COMMITTEE_OFFICE}),
}


def may(role: Role, action: Action) -> bool:
    return role in ACTION_ROLES[action]
