"""Migration 0016 on a database that already holds departments (and rows that refer to them)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from certsvc.storage.database import Database

_MIGRATIONS = Path(__file__).resolve().parents[2] / "certsvc" / "storage" / "migrations"


def test_existing_inner_mongolia_departments_become_bilingual(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'certsvc.sqlite3'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = database.engine
    command.upgrade(cfg, "0002")
    with database.transaction() as session:
        for code, name, area in (
            ("11152500011512829G", "锡林郭勒盟市场监督管理局", "152500"),
            ("11320200014123456K", "无锡市市场监督管理局", "320200"),
        ):
            session.execute(
                text("INSERT INTO departments (code, name, area_code, status, created_at) "
                     "VALUES (:c, :n, :a, 'active', CURRENT_TIMESTAMP)"),
                {"c": code, "n": name, "a": area},
            )
        # A row that refers to a department: a migration that copies and drops the table fails here.
        session.execute(text("INSERT INTO webhook_endpoints (department_id, url, secret, is_active, created_at) "
                             "VALUES (1, 'https://hooks.example.gov.cn/a', 'x', 1, CURRENT_TIMESTAMP)"))
    command.upgrade(cfg, "heads")
    with database.read() as session:
        rows = session.execute(text("SELECT area_code, is_bilingual, name_mn FROM departments ORDER BY id")).all()
        assert [(r[0], bool(r[1]), r[2]) for r in rows] == [("152500", True, None), ("320200", False, None)]
        assert session.execute(text("SELECT count(*) FROM webhook_endpoints")).scalar_one() == 1
    database.dispose()
