"""A sync activity's heartbeat, kept going from a thread of its own while the activity waits (on a database lock,
say): the activity's own thread is blocked and cannot beat, and without beats the server would retry an attempt
that is only queueing, which under contention is how retry storms start."""

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity


@contextmanager
def heartbeating(every: float) -> Iterator[None]:
    """Beats now and then every `every` seconds until the block ends. The activity's context is copied into the
    beating thread, which is all `activity.heartbeat` needs (the SDK hands the call to the worker's loop)."""
    activity.heartbeat()
    context = contextvars.copy_context()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            activity.heartbeat()

    beater = threading.Thread(target=context.run, args=(beat,), name="heartbeat", daemon=True)
    beater.start()
    try:
        yield
    finally:
        stop.set()
        beater.join()
