from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from certsvc.storage.database import Database
from certsvc.storage.orm import Department
from certsvc.storage.repositories import SerialRepository
from tests.conftest import DatabaseFactory


def test_migrations_create_the_schema_and_are_idempotent(tmp_path: Path, database_factory: DatabaseFactory) -> None:
    db = Database(database_factory.new_empty_url(tmp_path))
    db.migrate()
    db.migrate()  # a second upgrade is a no-op
    tables = set(inspect(db.engine).get_table_names())
    assert {"departments", "seals", "certificates", "certificate_versions", "audit_events", "alembic_version"} <= tables
    db.dispose()


def test_serials_count_up_per_department_type_and_year(tmp_path: Path, database_factory: DatabaseFactory) -> None:
    db = Database(database_factory.new_empty_url(tmp_path))
    db.migrate()
    with db.transaction() as session:
        session.add(Department(code="11152500011512829G", name="x", area_code="152500"))
        session.flush()
        dept_id = session.query(Department).one().id
        repo = SerialRepository(session)
        got = [repo.next_value(department_id=dept_id, type_code="T", year=2026) for _ in range(3)]
        other = repo.next_value(department_id=dept_id, type_code="T", year=2027)
    assert got == [1, 2, 3] and other == 1
    db.dispose()
