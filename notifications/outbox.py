"""Delivers outbox rows to the webhook: at least once, each POST carrying the row's key as `Idempotency-Key`
so the receiver can drop a repeat. Rows are never deleted: a delivered row keeps its `delivered_at`."""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from readmodel.models import OutboxRow

log = structlog.get_logger("outbox")

FIRST_BACKOFF = timedelta(seconds=5)
TIMEOUT = httpx.Timeout(10.0)
# Requests in flight at once per drainer: a batch must not look like a flood to the receiver.
CONCURRENCY = 4
# A claimed row is left alone by other drainers for this long: more than a batch of 50 takes when every
# request times out (50 / 4 x 10 s), so only a drainer that died mid-batch lets its rows be taken over.
CLAIM = timedelta(minutes=5)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    payload: dict[str, Any]
    attempts: int


class OutboxDrainer:
    """Posts due rows in batches. Several drainers (API and worker processes) may run against one database:
    each claims its rows first, so a row is in flight from one drainer at a time."""

    def __init__(
        self,
        engine: Engine,
        webhook_url: str | None,
        *,
        client: httpx.AsyncClient | None = None,
        batch: int = 50,
        max_backoff: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._webhook_url = webhook_url
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT)
        self._batch = batch
        self._max_backoff = max_backoff
        self._clock = clock

    def backoff(self, attempts: int) -> timedelta:
        """Wait after the `attempts`-th failure: 5 s, 10 s, 20 s... up to max_backoff."""
        return min(self._max_backoff, FIRST_BACKOFF * (1 << min(attempts - 1, 30)))

    async def drain_once(self) -> int:
        """Posts one batch of due rows; returns how many were delivered. Without a webhook rows stay queued."""
        if self._webhook_url is None:
            return 0
        rows = await asyncio.to_thread(self._claim, self._clock())
        if not rows:
            return 0
        slots = asyncio.Semaphore(CONCURRENCY)
        errors = await asyncio.gather(*(self._post(self._webhook_url, row, slots) for row in rows))
        await asyncio.to_thread(self._settle, rows, errors, self._clock())
        delivered = sum(error is None for error in errors)
        if delivered < len(rows):
            log.warning("outbox delivery failed", failed=len(rows) - delivered, delivered=delivered)
        return delivered

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Drains until `stop` is set; a full batch is followed at once by the next. Closes its own client."""
        try:
            while not stop.is_set():
                try:
                    delivered = await self.drain_once()
                except Exception:
                    # The database or network hiccupped: nothing was lost, the rows are tried again next round.
                    log.exception("outbox drain failed")
                    delivered = 0
                if delivered < self._batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _post(self, url: str, row: Claimed, slots: asyncio.Semaphore) -> str | None:
        """None when delivered, else what went wrong."""
        try:
            async with slots:
                response = await self._client.post(url, json=row.payload, headers={"Idempotency-Key": row.key})
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        if response.is_success:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    def _claim(self, now: datetime) -> list[Claimed]:
        due = (
            select(OutboxRow.id)
            .where(col(OutboxRow.delivered_at).is_(None), col(OutboxRow.next_attempt_at) <= now)
            .order_by(col(OutboxRow.next_attempt_at), col(OutboxRow.id))
            .limit(self._batch)
        )
        # The conditions are checked again by the UPDATE itself, so of two drainers racing for a row one wins.
        claim = (
            update(OutboxRow)
            .where(
                col(OutboxRow.id).in_(due),
                col(OutboxRow.delivered_at).is_(None),
                col(OutboxRow.next_attempt_at) <= now,
            )
            .values(next_attempt_at=now + CLAIM)
            .returning(col(OutboxRow.id), col(OutboxRow.key), col(OutboxRow.payload), col(OutboxRow.attempts))
        )
        with Session(self._engine) as session:
            rows = [Claimed(*row) for row in session.execute(claim).all()]
            session.commit()
        return sorted(rows, key=lambda row: row.id)

    def _settle(self, rows: Sequence[Claimed], errors: Sequence[str | None], now: datetime) -> None:
        with Session(self._engine) as session:
            for row, error in zip(rows, errors, strict=True):
                if error is None:
                    values: dict[str, Any] = {"delivered_at": now}
                else:
                    attempts = row.attempts + 1
                    values = {
                        "attempts": attempts,
                        "last_error": error[:1000],
                        "next_attempt_at": now + self.backoff(attempts),
                    }
                session.execute(update(OutboxRow).where(col(OutboxRow.id) == row.id).values(**values))
            session.commit()
