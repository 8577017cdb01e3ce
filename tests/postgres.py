"""A throwaway PostgreSQL server for the test run: Debian's `postgresql` binaries, a cluster in a temporary
directory, a Unix socket and a loopback port of its own, gone when the run ends. Never a mock.

PostgreSQL refuses to run as root, so under root (CI containers) the cluster belongs to the `postgres` user that the
Debian package creates, and the server runs as that user.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from infra.ports import free_port

START_TIMEOUT_SECONDS = 60
INSTALL_HINT = "PostgreSQL 15+ is needed by `make test`: apt-get install postgresql (`.ci/run` does it when missing)"


def binaries_dir() -> Path:
    """Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin; take the newest."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError(INSTALL_HINT)
    return Path(found[-1]).parent


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its SQLAlchemy URL. Tests never share one."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.sqlalchemy_url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = binaries_dir()
    as_root = os.geteuid() == 0
    run_as: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    # Not under pytest's tmp dir: that is private to root, and the server may run as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="xiaohao-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if as_root:
        postgres = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
    port = free_port()

    def run(*args: str) -> None:
        result = subprocess.run([*run_as, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr or result.stdout}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "server.log"),
        "-w",
        "-t",
        str(START_TIMEOUT_SECONDS),
        "start",
    )
    try:
        yield PostgresServer(port=port, user=user)
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
