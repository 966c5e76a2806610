"""Throwaway PostgreSQL and Redis servers: Debian's binaries, a temp directory, a free port.

Used by the test suite (``pytest --db=postgresql``, the Celery tests), ``bench/cluster.py`` and
``make cluster``. Nothing here touches a system-wide server: each instance lives in its own
directory, listens on 127.0.0.1 and a unix socket in that directory, and is gone after ``stop``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "RedisServer", "free_port"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bin_dir() -> Path:
    # Debian keeps the server binaries out of PATH (/usr/lib/postgresql/<major>/bin); take the newest.
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: `make install` installs Debian's postgresql")
    return Path(candidates[-1]).parent


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as: PostgreSQL refuses to run as root (CI runs as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


class PostgresServer:
    """A private PostgreSQL cluster: initdb in a temp dir, started on a free port, trust auth.

    Durability is switched off (fsync, full-page writes): the data is thrown away afterwards,
    and it keeps a test run that creates hundreds of databases fast.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.bin = _postgres_bin_dir()
        self.user = _server_user()
        self.base = Path(tempfile.mkdtemp(prefix="certsvc-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.durable = durable
        self._started = False

    def _run(self, *args: str) -> None:
        uid_gid = self.user
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            user=uid_gid[0] if uid_gid else None,
            group=uid_gid[1] if uid_gid else None,
            cwd=self.base,
        )

    def start(self) -> PostgresServer:
        if self.user is not None:
            os.chown(self.base, *self.user)
        os.chmod(self.base, 0o700)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N")
        options = [
            f"-p {self.port}",
            f"-k {self.base}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=300",
            "-c shared_buffers=64MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off", "-c synchronous_commit=off"]
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60",
                      "-o", " ".join(options), "start")
        except subprocess.CalledProcessError as exc:
            log = (self.base / "server.log").read_text(errors="replace") if (self.base / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}\n{log}") from exc
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self._started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # psycopg wants a LiteralString

    def create_database(self, name: str, *, template: str | None = None) -> str:
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class RedisServer:
    """A private redis-server on a free port, in a temp dir, with append-only persistence.

    Persistence is on so that a restart (``restart``) keeps queued messages, as a production
    broker would be configured.
    """

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: `make install` installs Debian's redis-server")
        self.binary = binary
        self.base = Path(tempfile.mkdtemp(prefix="certsvc-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.base),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
                "--logfile", str(self.base / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start: " + (self.base / "redis.log").read_text(errors="replace"))
            time.sleep(0.05)

    def stop(self, *, keep_data: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if not keep_data:
            shutil.rmtree(self.base, ignore_errors=True)

    def restart(self, *, lose_data: bool = False) -> None:
        """Stop and start again on the same port, with the append-only data kept (a restart)
        or deleted (a broker that came back empty, e.g. a failover to a stale replica)."""
        self.stop(keep_data=True)
        if lose_data:
            for entry in self.base.iterdir():
                if entry.name != "redis.log":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

