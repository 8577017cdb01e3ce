"""The facts read from event payloads, by JSON path, as SQL expressions: what the statistics' fold
(readmodel.statistics.HazardAsOf) and the hazards' timelines (readmodel.timeline) know of each event beyond its
action, time and stages.

The report's department (and for a hazard imported from a ledger, the listing, the plan's figures, the 整改时限 and
the 销号日期 the ledger recorded), a transfer's department, the plan's 整改时限, an extension's new date and its
decision, and the deadline an escalation rung fired on. Read as text (booleans as booleans) by the database:
decoding whole payloads in Python would cost more than the rest of the fold.
"""

from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import col

from readmodel.models import HazardEventRow

TEXT_FACTS: dict[str, tuple[str, ...]] = {
    "department": ("department",),
    "ledger_listing": ("imported", "listing", "doc_number"),
    "ledger_plan_deadline": ("imported", "plan", "deadline"),
    "ledger_rectify_deadline": ("imported", "rectify_deadline"),
    "ledger_funds": ("imported", "funds_yuan"),
    "ledger_closed_on": ("imported", "closed_on"),
    "to_department": ("to_department",),
    "deadline": ("deadline",),
    "new_due_date": ("new_due_date",),
    "due": ("due",),
    "deadline_kind": ("deadline_kind",),
}
BOOLEAN_FACTS: dict[str, tuple[str, ...]] = {
    "approve": ("approve",),
    "ledger_five_in_place": ("imported", "five_in_place"),
}
FACT_NAMES = (*TEXT_FACTS, *BOOLEAN_FACTS)


def fact(name: str, payload: Any = None) -> ColumnElement[Any]:
    """The fact `name` of the event whose payload column is `payload` (default: hazard_event's)."""
    payload = col(HazardEventRow.payload) if payload is None else payload
    value: ColumnElement[Any]
    if name in BOOLEAN_FACTS:
        value = _path(payload, BOOLEAN_FACTS[name]).as_boolean()
    else:
        value = _path(payload, TEXT_FACTS[name]).as_string()
    return value


def fact_columns() -> list[ColumnElement[Any]]:
    """Every fact, in FACT_NAMES order."""
    return [fact(name) for name in FACT_NAMES]


def _path(payload: Any, path: tuple[str, ...]) -> Any:
    return payload[path[0]] if len(path) == 1 else payload[path]
