"""Free loopback ports for the servers that tests and benchmarks start beside a Temporal dev server.

A port found free by binding port 0 comes from the kernel's ephemeral range, and so do the ports the dev server
binds for its own services (membership, history, matching) while it starts. Between our closing such a port and
our child binding it, a dev server starting meanwhile can take it: CI once saw the stack's API fail with "address
already in use" on a port the stack's own dev server had just taken. Ports below the ephemeral range are never
handed out that way, so they are chosen there.
"""

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_EPHEMERAL_START = 32768
LOWEST = 10_000
ATTEMPTS = 200

# Not the module's shared generator: a test that seeds it would give every process the same ports.
_pick = random.SystemRandom()


def ephemeral_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LINUX_EPHEMERAL_START


def _binds(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A loopback port nothing is bound to, below the ephemeral range when the machine leaves room for one."""
    top = ephemeral_start()
    if top - LOWEST < 1000:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(ATTEMPTS):
        port = _pick.randrange(LOWEST, top)
        if _binds(port):
            return port
    raise RuntimeError(f"no free loopback port found in {ATTEMPTS} tries between {LOWEST} and {top}")
