"""Migration 0012 on a registry written before the data rules: nothing that worked breaks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import IntegrityError

from certsvc.storage import database as database_module
from certsvc.storage.database import Database
from certsvc.storage.orm import Certificate, Seal
from certsvc.storage.repositories_rules import LicenceTypeRepository, SealChoiceRepository

NOW = datetime(2026, 6, 1, tzinfo=UTC)
_TYPE_CODES = {
    "food-business-licence": "11100000MB0143028R001",
    "construction-planning-permit": "11100000MB19273485001",
    "administrative-licensing-decision": "11100000MB0143028R002",
}


def _upgrade(db: Database, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(database_module.__file__).parent / "migrations"))
    cfg.attributes["engine"] = db.engine
    command.upgrade(cfg, revision)


def _table(conn: sa.Connection, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _seal(department_id: int, name: str, status: str) -> dict[str, object]:
    return {
        "department_id": department_id, "name": name, "algorithm": "ecdsa-p256", "key_ref": f"k-{name}",
        "certificate_der": b"-", "chain_der": [], "image_sha256": "0" * 64, "ses_seal_der": None,
        "status": status, "valid_from": NOW, "valid_until": NOW.replace(year=2030), "created_at": NOW,
    }


def _licence(n: int, department_id: int, template: str, fields: dict[str, str]) -> dict[str, object]:
    return {
        "identifier_base": f"base-{n}", "identifier": f"id-{n}", "department_id": department_id, "template": template,
        "type_code": _TYPE_CODES[template], "holder_name": "某公司", "holder_id_type": "uscc", "holder_id": "91152502MA0N2X4K7B",
        "data": fields, "status": "valid", "valid_from": date(2026, 1, 1),
        "valid_until": date(2030, 1, 1), "current_version": 1, "issued_at": NOW, "idempotency_key": None,
        "request_sha256": "0" * 64,
    }


@pytest.fixture()
def upgraded(tmp_path: Path) -> Database:
    """A registry at the schema before 0012, with the data the old rules let through, upgraded."""
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    for head in ("0002", "0004", "0005"):
        _upgrade(db, head)
    with db.engine.begin() as conn:
        departments = _table(conn, "departments")
        for code in ("11152500011512829G", "11152502011513952P"):
            conn.execute(sa.insert(departments).values(code=code, name=code, area_code="152500", status="active", created_at=NOW))
        seals = _table(conn, "seals")
        conn.execute(sa.insert(seals), [_seal(1, "行政许可专用章", "active"), _seal(1, "行政许可专用章（SM2）", "active"),
                                        _seal(2, "公章", "retired"), _seal(2, "行政审批专用章", "active")])
        certificates = _table(conn, "certificates")
        conn.execute(sa.insert(certificates), [
            _licence(1, 1, "food-business-licence", {"licence_number": "JY11525020000001", "issuer": "甲"}),
            _licence(2, 1, "food-business-licence", {"licence_number": "JY11525020000001", "issuer": "乙"}),
            _licence(3, 1, "food-business-licence", {"licence_number": "JY11525020000002"}),
            _licence(4, 2, "construction-planning-permit", {"name": "x", "permit_number": "152502202600001"}),
            _licence(5, 2, "administrative-licensing-decision", {"decision_number": "锡审批许〔2026〕1号"}),
        ])
    db.migrate()
    return db


def test_licence_numbers_are_backfilled_and_the_first_holder_keeps_a_repeated_one(upgraded: Database) -> None:
    with upgraded.read() as session:
        numbers = dict(session.execute(sa.select(Certificate.identifier, Certificate.licence_number)).all())
    assert numbers == {
        "id-1": "JY11525020000001", "id-2": None, "id-3": "JY11525020000002",
        "id-4": "152502202600001", "id-5": "锡审批许〔2026〕1号",
    }
    with pytest.raises(IntegrityError), upgraded.transaction() as session:
        session.execute(sa.update(Certificate).where(Certificate.identifier == "id-2").values(licence_number="JY11525020000001"))
    upgraded.dispose()


def test_departments_keep_the_types_they_issued_and_the_seal_that_signed(upgraded: Database) -> None:
    with upgraded.read() as session:
        types = LicenceTypeRepository(session)
        assert types.for_department(1) == ["food-business-licence"]
        assert types.for_department(2) == ["administrative-licensing-decision", "construction-planning-permit"]
        choices = SealChoiceRepository(session)
        # The newest active seal signed before the upgrade; it stays the one that signs.
        assert [(s.name, s.purpose) for s in (choices.default_of(1), choices.default_of(2)) if s is not None] == [
            ("行政许可专用章（SM2）", "行政许可专用章（SM2）"), ("行政审批专用章", "行政审批专用章"),
        ]
    with pytest.raises(IntegrityError), upgraded.transaction() as session:
        session.execute(sa.update(Seal).where(Seal.name == "行政许可专用章").values(is_default=True))
    upgraded.dispose()
