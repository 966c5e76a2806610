"""`make cluster` as documented: PostgreSQL, Redis, two API processes and two workers start,
a licence issued on one API process reads on the other, a batch import runs on the workers,
and everything stops (no process left behind)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, DatabaseFactory

pytestmark = pytest.mark.slow


def test_make_cluster_check_starts_drives_and_stops_everything(database_factory: DatabaseFactory) -> None:
    if not database_factory.is_postgresql:
        pytest.skip("runs once, in the PostgreSQL pass (make test: pytest --db=postgresql)")
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "local_cluster.py"), "--check"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("API          http://127.0.0.1:") == 2
    assert "read it on" in done.stdout and "batch import through the workers: completed, 3 done" in done.stdout
    base = next(line.split("logs in ")[1] for line in done.stdout.splitlines() if "logs in " in line)
    assert not Path(base).exists()  # stopped and cleaned up
    leftovers = subprocess.run(["pgrep", "-f", base], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
