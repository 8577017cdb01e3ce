"""Free ports for the servers tests start stay out of the range the Temporal dev server takes its own ports from."""

import socket
from pathlib import Path

import pytest

from infra import ports


def test_a_free_port_is_below_the_ephemeral_range_and_binds() -> None:
    top = ports.ephemeral_start()
    for _ in range(50):
        port = ports.free_port()
        assert ports.LOWEST <= port < top
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    taken = int(held.getsockname()[1])
    offered = iter([taken, taken, taken + 1 if taken + 1 < 65536 else taken - 1])
    monkeypatch.setattr(ports, "ephemeral_start", lambda: 65536)
    monkeypatch.setattr(ports._pick, "randrange", lambda low, high: next(offered))
    try:
        assert ports.free_port() != taken
    finally:
        held.close()


def test_the_kernel_chooses_when_the_ephemeral_range_leaves_no_room(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "ephemeral_start", lambda: ports.LOWEST + 10)
    port = ports.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_the_range_is_read_from_the_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t60999\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", source)
    assert ports.ephemeral_start() == 40000
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "missing")
    assert ports.ephemeral_start() == ports.LINUX_EPHEMERAL_START
