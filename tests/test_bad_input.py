"""Bad input is answered with a clear error in Chinese and stores nothing: bodies too large (declared or
streamed), bodies that are not JSON at all (not UTF-8, nested beyond reason), dates out of range, negative
funds, deadlines in the past."""

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.body_limit import MAX_BODY_BYTES, BodyLimit
from readmodel.audit_models import AuditRecord
from readmodel.models import Hazard, HazardEventRow
from tests.conftest import ApiStack
from tests.scenarios import COMMITTEE, ENTERPRISE, plan, report

PROBLEM = "application/problem+json"


def stored(api: ApiStack) -> tuple[int, int]:
    """Hazards and events in the read model: what a refused request must not have added to."""
    with Session(api.engine) as session:
        hazards = session.exec(select(func.count()).select_from(Hazard)).one()
        events = session.exec(select(func.count()).select_from(HazardEventRow)).one()
    return int(hazards), int(events)


def report_body(**changes: Any) -> dict[str, Any]:
    return report().model_dump(mode="json", exclude_none=True) | changes


async def open_hazard(api: ApiStack) -> str:
    answer = await api.http.post("/hazards", json=report_body(), headers=api.auth(ENTERPRISE))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["hazard_id"])


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = answer.json()
    # A reason a person can read, in Chinese.
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["title"] + problem["detail"]), problem
    return problem


async def test_a_body_over_the_limit_is_refused_before_it_is_read(api: ApiStack) -> None:
    before = stored(api)
    padding = "隐" * (MAX_BODY_BYTES // 3 + 10)  # three bytes each in UTF-8: just over the limit
    answer = await api.http.post("/hazards", json=report_body(description=padding), headers=api.auth(ENTERPRISE))
    problem = assert_problem(answer, 413)
    assert (problem["code"], problem["max_bytes"]) == ("PayloadTooLarge", MAX_BODY_BYTES)
    assert stored(api) == before


async def test_a_streamed_body_without_a_length_is_bounded_too(api: ApiStack) -> None:
    before = stored(api)
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        # Far more than the limit, in pieces, with no Content-Length: the refusal comes before the end.
        for _ in range(64):
            sent.append(1)
            yield b"[" * 65536

    answer = await api.http.post(
        "/hazards", content=endless(), headers=api.auth(ENTERPRISE) | {"Content-Type": "application/json"}
    )
    assert_problem(answer, 413)
    assert len(sent) < 64
    assert stored(api) == before


async def test_a_body_just_under_the_limit_is_read_as_usual(api: ApiStack) -> None:
    # The limit refuses size, not content: a large but valid body reaches validation (and its length rule).
    answer = await api.http.post("/hazards", json=report_body(description="隐" * 100_000), headers=api.auth(ENTERPRISE))
    problem = assert_problem(answer, 422)
    assert [e["field"] for e in problem["errors"]] == ["description"]


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("not UTF-8", b'{"title": "\xff\xfe\xfa"}'),
        ("nested beyond reason", b"[" * 100_000 + b"]" * 100_000),
        ("not JSON", b"title=x"),
        ("truncated", b'{"title": "'),
    ],
)
async def test_a_body_that_is_not_json_is_a_4xx_with_a_reason(api: ApiStack, name: str, body: bytes) -> None:
    before = stored(api)
    answer = await api.http.post(
        "/hazards", content=body, headers=api.auth(ENTERPRISE) | {"Content-Type": "application/json"}
    )
    assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
    assert_problem(answer, answer.status_code)
    assert stored(api) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"found_at": "10000-01-01T00:00:00+08:00"}, "found_at"),
        ({"found_at": "0001-01-01T00:00:00+08:00"}, "found_at"),
        ({"found_at": "0001-01-01T00:00:00+09:00"}, "found_at"),  # no China date at all
        ({"found_at": "1999-12-31T23:59:59+08:00"}, "found_at"),
        ({"found_at": "2026-13-40T00:00:00+08:00"}, "found_at"),
        ({"found_at": "2026-11-23T09:00:00"}, "found_at"),  # no time zone
        ({"found_at": (date.today() + timedelta(days=30)).isoformat() + "T09:00:00+08:00"}, "found_at"),
    ],
)
async def test_dates_out_of_range_are_refused_and_nothing_stored(
    api: ApiStack, changes: dict[str, Any], field: str
) -> None:
    before = stored(api)
    answer = await api.http.post("/hazards", json=report_body(**changes), headers=api.auth(ENTERPRISE))
    problem = assert_problem(answer, 422)
    assert field in {e["field"] for e in problem["errors"]}, problem
    assert stored(api) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"funds_yuan": "-1.00"}, "funds_yuan"),
        ({"funds_yuan": "1e400"}, "funds_yuan"),
        ({"deadline": (date.today() - timedelta(days=1)).isoformat()}, "deadline"),
        ({"deadline": "9999-99-99"}, "deadline"),
    ],
)
async def test_bad_plan_figures_are_refused_and_nothing_stored(
    api: ApiStack, changes: dict[str, Any], field: str
) -> None:
    hazard_id = await open_hazard(api)
    before = stored(api)
    body = plan().model_dump(mode="json") | changes
    answer = await api.http.post(f"/hazards/{hazard_id}/plan", json=body, headers=api.auth(ENTERPRISE))
    problem = assert_problem(answer, 422)
    assert field in {e["field"] for e in problem["errors"]}, problem
    assert stored(api) == before
    with Session(api.engine) as session:
        actions = session.exec(select(HazardEventRow.action).where(col(HazardEventRow.hazard_id) == hazard_id))
        assert list(actions) == ["report"]


async def test_a_refused_oversized_body_is_audited(api: ApiStack) -> None:
    request_id = "oversized-" + date.today().isoformat()
    answer = await api.http.post(
        "/hazards",
        content=b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}",
        headers=api.auth(ENTERPRISE) | {"Content-Type": "application/json", "X-Request-ID": request_id},
    )
    assert answer.status_code == 413
    with Session(api.engine) as session:
        statuses = session.exec(select(AuditRecord.status).where(col(AuditRecord.request_id) == request_id)).all()
    assert statuses == [413]


DATE_PARAMETERS = [
    ("/hazards", "found_from"),
    ("/hazards", "found_to"),
    ("/statistics", "found_from"),
    ("/statistics", "found_to"),
    ("/statistics", "as_of"),
    ("/ledgers/dispatch.xlsx", "as_of"),
    ("/ledgers/rectification.xlsx", "found_from"),
]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "2026-02-30", "yesterday"])
async def test_dates_out_of_range_in_a_query_are_a_422_not_a_server_error(api: ApiStack, day: str) -> None:
    for path, name in DATE_PARAMETERS:
        value = f"{day}T00:00:00+08:00" if name == "as_of" and path == "/statistics" else day
        answer = await api.http.get(path, params={name: value}, headers=api.auth(COMMITTEE))
        assert answer.status_code == 422, (path, name, day, answer.status_code, answer.text[:300])
        assert_problem(answer, 422)


async def test_a_report_regenerated_as_of_year_one_is_refused(api: ApiStack) -> None:
    answer = await api.http.post(
        "/reports/regenerate", json={"kind": "dispatch_street", "as_of": "0001-01-01"}, headers=api.auth(COMMITTEE)
    )
    problem = assert_problem(answer, 422)
    assert [e["field"] for e in problem["errors"]] == ["as_of"]


async def test_the_limit_leaves_the_lifespan_alone() -> None:
    """Served by a real ASGI server, the app's lifespan passes through every middleware, this one included."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await BodyLimit(app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
