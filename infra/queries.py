"""Asking a hazard workflow a query. A worker that refuses a stale clock (workflows/clock.py) fails the query it was
answering with; asked again a moment later, the query is answered from a fresh replay or after the workflow task."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowQueryFailedError

from workflows.clock import STALE_CLOCK

T = TypeVar("T")

ATTEMPTS = 10
PAUSE_SECONDS = 0.05


async def answered(ask: Callable[[], Awaitable[T]]) -> T:
    """`ask()`'s answer, asked again (up to ATTEMPTS times, pausing longer each time) while it is refused for a stale
    clock. Any other failure, or the last refusal, is raised."""
    for attempt in range(1, ATTEMPTS):
        try:
            return await ask()
        except WorkflowQueryFailedError as err:
            if STALE_CLOCK not in err.message:
                raise
        await asyncio.sleep(PAUSE_SECONDS * attempt)
    return await ask()
