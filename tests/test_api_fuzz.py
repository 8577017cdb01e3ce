"""Generated requests against the API's own OpenAPI (issue 8, item 7): every operation, valid and invalid data,
a valid token of every role, on the real app served over HTTP with a real worker and Temporal dev server.

No answer may be a server error; every answer must match what the OpenAPI documents for it (status, media type,
body, headers); invalid data must be refused with a 4xx; and every 4xx must be problem+json with a reason.
Path parameters often name hazards that exist, at several stages, so the actions reach real workflows rather
than stopping at a 404.
"""

import asyncio
import contextlib
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from contracts.hazard import Actor
from readmodel.db import make_engine
from tests.conftest import ApiStack, InProcessServer, api_settings, isolated_client, new_database_url
from tests.figures import record
from tests.scenarios import AUDITOR, COMMITTEE, ENTERPRISE, INSPECTOR, REVIEWER, STREET, plan, rectification, report
from worker import build_worker

PROBLEM = "application/problem+json"
Operation = APIOperation[Any, Any, Any, Any]
# A token of every role, and both department officials (the one who reports is not the one who may review).
ACTORS = (ENTERPRISE, STREET, INSPECTOR, REVIEWER, COMMITTEE, AUDITOR)
# Every answer is checked against the OpenAPI; invalid data must be refused. Checks that send requests of their own
# (the token left out, other methods) are left to tests/test_tokens.py and tests/test_authorization.py, which try
# every route that way.
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Invalid data is refused with a 4xx that says why; never a 5xx (the library's default accepts one).
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]


@dataclass(frozen=True)
class Size:
    name: str
    positive: int  # examples per operation, valid data
    negative: int  # examples per operation, invalid data


QUICK = Size("quick", positive=4, negative=2)
FULL = Size("full", positive=18, negative=18)


@dataclass
class Tally:
    cases: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    negative: int = 0
    token_only: int = 0
    real_hazard: int = 0
    accepted_actions: int = 0


@dataclass
class Live:
    url: str
    api: ApiStack
    hazard_ids: list[str]


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port, in this event loop."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    # uvicorn runs the app's lifespan, as in production.
    server = InProcessServer(uvicorn.Config(app, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving


# The enterprise's steps that take a hazard from its report to review.
STEPS = (
    ("plan", plan().model_dump(mode="json")),
    ("interim-controls", {"kind": "cordon", "measures": "设置警戒区，专人值守"}),
    ("rectification", rectification().model_dump(mode="json")),
)


async def seed(api: ApiStack) -> list[str]:
    """Hazards the generated requests can name: a tip-off to verify, and reports stopped after 0 to 3 of the
    enterprise's steps (so every action has a hazard in a stage that takes it)."""
    ids = []
    tip_off = report().model_dump(mode="json", exclude_none=True) | {"source": "tip_off"}
    answer = await api.http.post("/hazards", json=tip_off, headers=api.auth(STREET))
    assert answer.status_code == 201, answer.text
    ids.append(answer.json()["hazard_id"])
    for taken in range(len(STEPS) + 1):
        body = report().model_dump(mode="json", exclude_none=True)
        answer = await api.http.post("/hazards", json=body, headers=api.auth(ENTERPRISE))
        assert answer.status_code == 201, answer.text
        hazard_id = answer.json()["hazard_id"]
        for action, step in STEPS[:taken]:
            answer = await api.http.post(f"/hazards/{hazard_id}/{action}", json=step, headers=api.auth(ENTERPRISE))
            assert answer.status_code == 200, answer.text
        ids.append(hazard_id)
    return ids


@pytest_asyncio.fixture(scope="module")
async def live(
    request: pytest.FixtureRequest, dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Live]:
    """A stack of its own: generated calls change the policy and the calendar, which no other test should see."""
    data_dir = tmp_path_factory.mktemp("fuzz")
    temporal = await isolated_client(dev_env.client, f"xiaohao-fuzz-{uuid.uuid4().hex[:8]}")
    settings = api_settings(temporal, data_dir, new_database_url(request, "sqlite", data_dir))
    engine = make_engine(settings.database_url)
    app = create_app(settings, process_setup=False)
    async with (
        build_worker(temporal, engine, settings=settings),
        served(app) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        api = ApiStack(http=http, settings=settings, engine=engine, temporal=temporal)
        yield Live(url=url, api=api, hazard_ids=await seed(api))
    engine.dispose()


def load_schema(live: Live) -> BaseSchema:
    document = requests.get(f"{live.url}/openapi.json", timeout=30).json()
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}})
    return schemathesis.openapi.from_dict(document, config=config)


def assert_problem_with_reason(case: Case[Operation], response: schemathesis.Response) -> None:
    """A refusal a person can act on: problem+json, its status, a stable code and a title and detail."""
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.headers.get("content-type") == [PROBLEM], where
    problem = response.json()
    assert problem["status"] == response.status_code, where
    assert problem["code"], where
    assert problem["title"], where
    assert problem["detail"], where


def auth_negated(case: Case[Operation]) -> bool:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return False
    data = meta.phase.data
    mutated = {m.parameter for m in getattr(data, "mutations", ())} or {getattr(data, "parameter", None)}
    return mutated == {"Authorization"}


def run_operation(
    operation: Operation, mode: GenerationMode, size: Size, live: Live, tokens: dict[str, str], tally: Tally
) -> None:
    session = requests.Session()

    @settings(
        max_examples=size.positive if mode is GenerationMode.POSITIVE else size.negative,
        deadline=None,
        database=None,
        # `make test` replays the same cases every run (a guard, not a search: new finds there would make it
        # flaky); the full run in `make reliability` searches anew each time.
        derandomize=size is QUICK,
        # No shrinking: each try is a real request to a real workflow, and the failure report names the case.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        actor=st.sampled_from(ACTORS),
        # Mostly a hazard that exists, so the request reaches its workflow; sometimes the generated id.
        hazard_id=st.one_of(st.sampled_from(live.hazard_ids), st.none()),
    )
    def attempt(case: Case[Operation], actor: Actor, hazard_id: str | None) -> None:
        if hazard_id is not None and "hazard_id" in (case.path_parameters or {}):
            assert case.path_parameters is not None
            case.path_parameters["hazard_id"] = hazard_id
            tally.real_hazard += 1
        # The token, unless the only invalid data generated is the Authorization header (left out or malformed): a
        # case that also breaks the body or the query must meet its validation, not stop at the 401.
        token_only = auth_negated(case)
        tally.token_only += token_only
        headers = {} if token_only else {"Authorization": f"Bearer {tokens[actor.id]}"}
        response = case.call(base_url=live.url, session=session, headers=headers, timeout=150)
        tally.cases += 1
        tally.by_operation[operation.label] += 1
        tally.by_status[response.status_code] += 1
        tally.negative += mode.is_negative
        if case.method == "POST" and "hazard_id" in (case.path_parameters or {}) and response.status_code == 200:
            tally.accepted_actions += 1
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"base_url": live.url})
        if 400 <= response.status_code < 500:
            assert_problem_with_reason(case, response)

    attempt()


def takes_input(operation: Operation) -> bool:
    parameters = (operation.path_parameters, operation.query, operation.headers, operation.cookies)
    return any(len(p) for p in parameters) or bool(len(operation.body))


def run_all(live: Live, size: Size) -> Tally:
    schema = load_schema(live)
    tokens = {actor.id: live.api.token(actor) for actor in ACTORS}
    tally = Tally()
    results = list(schema.get_all_operations())
    # The app's own OpenAPI must load whole: an operation schemathesis cannot read would go untested.
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    failures: dict[str, str] = {}
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        # An operation that takes nothing (GET /metrics) has no invalid input to send.
        if takes_input(operation):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            # Every operation runs even when one fails, so one run names all that do.
            try:
                run_operation(operation, mode, size, live, tokens, tally)
            # Schemathesis reports check failures as a BaseExceptionGroup.
            except (Exception, FailureGroup) as err:
                failures[f"{operation.label} ({mode.value})"] = str(err)[:4000]
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    # Every operation the OpenAPI lists was called at least once.
    missing = {operation.label for operation in operations} - set(tally.by_operation)
    assert not missing, missing
    return tally


@pytest.mark.parametrize(
    "size", [pytest.param(QUICK, id="quick"), pytest.param(FULL, id="full", marks=pytest.mark.reliability)]
)
async def test_generated_requests_meet_the_openapi(live: Live, size: Size) -> None:
    started = time.monotonic()
    tally = await asyncio.to_thread(run_all, live, size)
    seconds = time.monotonic() - started
    scale = f"{size.name}: {size.positive}+{size.negative} per operation"
    record(7, "generated cases run", tally.cases, scale=scale)
    record(7, "of which invalid data", tally.negative, scale=scale)
    record(7, "of which only the token left out or malformed", tally.token_only, scale=scale)
    record(7, "operations covered", len(tally.by_operation), scale=scale)
    record(7, "fewest cases for one operation", min(tally.by_operation.values()), scale=scale)
    record(7, "cases naming a real hazard", tally.real_hazard, scale=scale)
    record(7, "actions accepted by a workflow", tally.accepted_actions, scale=scale)
    # Any failure above fails the test before it gets here: these are what a passing run saw.
    record(7, "server errors", sum(n for status, n in tally.by_status.items() if status >= 500), scale=scale)
    record(7, "schema violations", 0, scale=scale)
    record(7, "statuses seen", ", ".join(f"{s}×{n}" for s, n in sorted(tally.by_status.items())), scale=scale)
    record(7, "generated run time", round(seconds, 1), "s", scale=scale)
    print(sorted(tally.by_operation.items()))
