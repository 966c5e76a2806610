"""Webhook HMAC secrets are encrypted at rest; clear-text rows of an older schema are encrypted at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from certsvc.config import load_settings
from certsvc.errors import KeyUnavailableError
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.principals import local_operator
from certsvc.services.provisioning import ensure_dev_passphrase
from certsvc.services.webhook_admin import WebhookAdminService
from certsvc.services.webhook_secrets import endpoint_secret
from certsvc.storage.database import Database
from certsvc.storage.repositories_lifecycle import WebhookRepository

_MIGRATIONS = Path(__file__).resolve().parents[2] / "certsvc" / "storage" / "migrations"
_CODE = "11152500011512829G"


def _database_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.glob("certsvc.sqlite3*") if not p.name.endswith("-writer"))


def _checkpoint(database: Database) -> None:
    # Copies the WAL into the database file and empties it: every byte is then in the one file.
    raw = database.engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def test_a_new_secret_is_stored_encrypted_and_still_signs(embedded: ServiceContext) -> None:
    admin, op = WebhookAdminService(embedded), local_operator()
    hook = admin.add_webhook(_CODE, url="https://hooks.xlgl.example.gov.cn/certsvc", principal=op)
    with embedded.database.read() as session:
        stored = session.execute(text("SELECT * FROM webhook_endpoints WHERE id = :i"), {"i": hook.id}).one()
    assert all(hook.secret not in str(value) for value in stored)
    if embedded.database.is_sqlite:  # and not in any page of the file, WAL included
        _checkpoint(embedded.database)
        assert hook.secret.encode() not in _database_bytes(embedded.settings.resolved_home)
    with embedded.database.read() as session:
        row = WebhookRepository(session).endpoint(hook.id)
        assert row is not None and row.legacy_secret is None and row.encrypted_secret is not None
        assert endpoint_secret(embedded, row) == hook.secret


def test_another_passphrase_cannot_read_the_secrets(tmp_path: Path, embedded: ServiceContext) -> None:
    hook = WebhookAdminService(embedded).add_webhook(_CODE, url="https://hooks.example.gov.cn/a", principal=local_operator())
    other = build_context(load_settings(home=tmp_path, key_passphrase="another passphrase entirely"))
    with embedded.database.read() as session:
        row = WebhookRepository(session).endpoint(hook.id)
        assert row is not None
        with pytest.raises(KeyUnavailableError):
            endpoint_secret(other, row)


def test_clear_text_secrets_of_an_older_schema_are_encrypted_at_start_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'certsvc.sqlite3'}"
    old = Database(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = old.engine
    command.upgrade(cfg, "0002")  # the schema that stored secrets in clear
    clear = "whsec_" + "k" * 43
    with old.transaction() as session:
        session.execute(text("INSERT INTO departments (code, name, area_code, status, created_at) "
                             "VALUES (:c, '锡林郭勒盟市场监督管理局', '152500', 'active', CURRENT_TIMESTAMP)"), {"c": _CODE})
        session.execute(text("INSERT INTO webhook_endpoints (department_id, url, secret, is_active, created_at) "
                             "VALUES (1, 'https://hooks.example.gov.cn/old', :s, 1, CURRENT_TIMESTAMP)"), {"s": clear})
    old.dispose()

    settings = load_settings(home=tmp_path, database_url=url)  # an older SQLite deployment, upgraded
    ensure_dev_passphrase(build_context(settings, migrate=False))
    ctx = build_context(settings)  # migrates to the newest schema, then encrypts the old rows
    _checkpoint(ctx.database)
    with ctx.database.read() as session:
        row = WebhookRepository(session).endpoint(1)
        assert row is not None and row.legacy_secret is None
        assert endpoint_secret(ctx, row) == clear
    ctx.database.dispose()
    assert clear.encode() not in _database_bytes(tmp_path)
