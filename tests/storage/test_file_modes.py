"""The database, its WAL/SHM and every secret file are readable by their owner only."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.services.context import build_context
from certsvc.services.embedded_init import init_embedded
from certsvc.storage.database import Database
from tests.conftest import PUBLIC_URL, auth, sample_request


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_deployment_keeps_its_data_and_secrets_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the common default: new files 0644
    try:
        ctx = build_context(load_settings(home=tmp_path, public_url=PUBLIC_URL, public_rate_limit_per_minute=0))
        init_embedded(ctx)
        key = json.loads((tmp_path / "demo-credentials.json").read_text())["api_key"]
        with TestClient(create_app(ctx)) as client:  # writes through the WAL while open
            assert client.post("/api/v1/certificates", json=sample_request(), headers=auth(key)).status_code == 201
            db = tmp_path / "certsvc.sqlite3"
            # On PostgreSQL (the suite's --db=postgresql pass) the registry is not in the home.
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-writer")] if ctx.database.is_sqlite else []
            assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]
            secrets = [p for p in (tmp_path / "keys").iterdir()] + [tmp_path / "demo-credentials.json"]
            assert {p.name for p in secrets} >= {"dev-passphrase", "sharing-link-secret", "audit-signing.key.pem"}
            modes = {p.name: oct(_mode(p)) for p in files + secrets}
        ctx.database.dispose()
    finally:
        os.umask(previous)
    assert modes == {name: "0o600" for name in modes}
    assert _mode(tmp_path / "keys") == 0o700


def test_an_older_database_is_tightened_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    url = f"sqlite:///{db}"
    first = Database(url)
    with first.transaction() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    first.dispose()
    for companion in tmp_path.iterdir():
        os.chmod(companion, 0o644)
    Database(url).dispose()
    assert {p.name: oct(_mode(p)) for p in tmp_path.iterdir()} == {p.name: "0o600" for p in tmp_path.iterdir()}
