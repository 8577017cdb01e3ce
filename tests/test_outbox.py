"""The outbox drainer: nothing lost while the webhook is down, each row delivered once it is back."""

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from notifications.outbox import CLAIM, OutboxDrainer
from readmodel.escalation_queries import backlog
from readmodel.models import OutboxRow

pytestmark = pytest.mark.databases


@dataclass
class Receiver:
    """A webhook on a loopback port that answers with `failures` 500s first, then 200s."""

    url: str = ""
    failures: int = 0
    received: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, key: str, body: dict[str, Any]) -> int:
        with self.lock:
            status = 500 if self.failures > 0 else 200
            self.failures -= 1
            self.received.append((key, body, status))
            return status

    def delivered(self) -> list[str]:
        return [key for key, _, status in self.received if status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = receiver.answer(self.headers["Idempotency-Key"], body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/xiaohao"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def queue(engine: Engine, n: int, at: datetime) -> list[str]:
    keys = [f"escalation:H-{i}:D-{i}:notice_letter" for i in range(n)]
    with Session(engine) as session:
        for i, key in enumerate(keys):
            session.add(OutboxRow(key=key, topic="escalation", payload={"n": i}, created_at=at, next_attempt_at=at))
        session.commit()
    return keys


def rows(engine: Engine) -> list[OutboxRow]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all())


def pending(engine: Engine) -> int:
    with Session(engine) as session:
        return backlog(session=session)


async def test_a_webhook_that_fails_then_recovers_gets_each_row_once(engine: Engine, receiver: Receiver) -> None:
    clock = Clock()
    keys = queue(engine, 3, clock.now)
    receiver.failures = 3
    drainer = OutboxDrainer(engine, receiver.url, clock=clock)

    assert await drainer.drain_once() == 0
    failed = rows(engine)
    assert [r.attempts for r in failed] == [1, 1, 1]
    assert all(r.delivered_at is None and r.last_error == "HTTP 500: " for r in failed)
    assert all(r.next_attempt_at == clock.now + timedelta(seconds=5) for r in failed)

    # Within the backoff nothing is posted.
    clock.now += timedelta(seconds=4)
    assert await drainer.drain_once() == 0
    assert len(receiver.received) == 3

    clock.now += timedelta(seconds=2)
    assert await drainer.drain_once() == 3
    clock.now += timedelta(hours=1)
    assert await drainer.drain_once() == 0
    await drainer.aclose()

    assert sorted(receiver.delivered()) == sorted(keys)
    assert sorted(body["n"] for _, body, status in receiver.received if status == 200) == [0, 1, 2]
    assert len(receiver.received) == 6
    delivered = rows(engine)
    assert all(r.delivered_at == clock.now - timedelta(hours=1) for r in delivered)
    assert [r.attempts for r in delivered] == [1, 1, 1]
    assert pending(engine) == 0


async def test_without_a_webhook_rows_stay_queued(engine: Engine) -> None:
    queue(engine, 2, datetime.now(UTC) - timedelta(minutes=1))
    drainer = OutboxDrainer(engine, None)
    assert await drainer.drain_once() == 0
    await drainer.aclose()
    assert pending(engine) == 2
    assert [r.attempts for r in rows(engine)] == [0, 0]


async def test_backoff_doubles_up_to_its_cap(engine: Engine) -> None:
    clock = Clock()
    queue(engine, 1, clock.now)
    failing = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(503, text="维护中")))
    drainer = OutboxDrainer(
        engine, "http://webhook.invalid/", client=failing, max_backoff=timedelta(seconds=30), clock=clock
    )
    waits = []
    for _ in range(5):
        assert await drainer.drain_once() == 0
        row = rows(engine)[0]
        waits.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
    await failing.aclose()

    assert waits == [timedelta(seconds=s) for s in (5, 10, 20, 30, 30)]
    assert rows(engine)[0].attempts == 5
    assert rows(engine)[0].last_error == "HTTP 503: 维护中"


async def test_an_unreachable_webhook_is_an_attempt_too(engine: Engine) -> None:
    queue(engine, 1, datetime.now(UTC))
    # Nothing listens on port 9 (discard) of the loopback: the connection is refused.
    drainer = OutboxDrainer(engine, "http://127.0.0.1:9/")
    assert await drainer.drain_once() == 0
    await drainer.aclose()
    row = rows(engine)[0]
    assert row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith("ConnectError")


async def test_two_drainers_never_post_the_same_row_twice(engine: Engine, receiver: Receiver) -> None:
    keys = queue(engine, 40, datetime.now(UTC))
    first, second = OutboxDrainer(engine, receiver.url, batch=25), OutboxDrainer(engine, receiver.url, batch=25)
    delivered = await asyncio.gather(first.drain_once(), second.drain_once())
    delivered_later = await asyncio.gather(first.drain_once(), second.drain_once())
    await first.aclose()
    await second.aclose()

    assert sum(delivered) + sum(delivered_later) == 40
    assert sorted(receiver.delivered()) == sorted(keys)
    assert pending(engine) == 0


async def test_a_claimed_row_is_retried_when_its_drainer_died(engine: Engine, receiver: Receiver) -> None:
    clock = Clock()
    queue(engine, 1, clock.now)
    crashed = OutboxDrainer(engine, receiver.url, clock=clock)
    await asyncio.to_thread(crashed._claim, clock.now)
    await crashed.aclose()

    drainer = OutboxDrainer(engine, receiver.url, clock=clock)
    assert await drainer.drain_once() == 0
    clock.now += CLAIM
    assert await drainer.drain_once() == 1
    await drainer.aclose()
    assert len(receiver.delivered()) == 1


async def test_run_drains_until_stopped(engine: Engine, receiver: Receiver) -> None:
    keys = queue(engine, 5, datetime.now(UTC))
    stop = asyncio.Event()
    task = asyncio.create_task(OutboxDrainer(engine, receiver.url, batch=2).run(stop, interval=0.05))
    for _ in range(200):
        if not pending(engine):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert sorted(receiver.delivered()) == sorted(keys)
