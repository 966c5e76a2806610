"""Batch import (存量出证): checking rows, issuing them once, and every template's sample.csv."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from certsvc.errors import PermissionDeniedError, ValidationFailedError
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role
from certsvc.services.registry import RegistryService
from tests.conftest import TEMPLATES
from tests.jobs.batch_helpers import OPERATOR, new_department

FOOD = "food-business-licence"
FOOD_CSV = TEMPLATES / FOOD / "sample.csv"


def _rows(path: Path = FOOD_CSV) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write(tmp_path: Path, rows: list[list[str]], name: str = "records.csv", encoding: str = "utf-8") -> Path:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path = tmp_path / name
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def _template_dirs() -> list[Path]:
    return sorted(p for p in TEMPLATES.iterdir() if (p / "template.json").exists())


@pytest.fixture(scope="module")
def any_type_department(embedded: ServiceContext) -> str:
    """A department allowed every licence type."""
    return new_department(embedded).code


@pytest.mark.parametrize("directory", _template_dirs(), ids=lambda p: p.name)
def test_every_template_ships_a_sample_csv_the_import_accepts(
    embedded: ServiceContext, any_type_department: str, directory: Path
) -> None:
    sample = directory / "sample.csv"
    assert sample.exists(), f"{directory.name} has no sample.csv"
    report = BatchService(embedded).check_import(
        sample, template=directory.name, department_code=any_type_department, principal=OPERATOR
    )
    assert report.problems == []
    assert (report.total_rows, report.valid_rows, report.invalid_rows) == (10, 10, 0)


def test_dry_run_reports_each_bad_row_with_row_number_field_and_reason(embedded: ServiceContext, tmp_path: Path) -> None:
    rows = _rows()
    header = rows[0]
    col = {name: header.index(name) for name in header}
    bad_id, missing, bad_date, duplicate = (list(r) for r in rows[2:6])
    bad_id[col["持证主体代码"]] = bad_id[col["持证主体代码"]][:-1] + ("0" if bad_id[col["持证主体代码"]][-1] != "0" else "1")
    missing[col["法定代表人（负责人）"]] = ""
    bad_date[col["有效期起"]] = "2026-02-30"
    duplicate[col["记录号"]] = rows[1][col["记录号"]]
    path = _write(tmp_path, [header, rows[1], bad_id, missing, bad_date, duplicate, rows[6]])

    report = BatchService(embedded).check_import(path, template=FOOD, department_code="11152500011512829G", principal=OPERATOR)

    assert (report.total_rows, report.valid_rows, report.invalid_rows) == (6, 2, 4)
    found = {(p.row, p.field) for p in report.problems}
    # The header is row 1, so the first data row is row 2.
    assert found == {(3, "holder_id"), (4, "legal_representative"), (5, "valid_from"), (6, "record_no")}
    by_row = {p.row: p for p in report.problems}
    assert by_row[3].column == "持证主体代码" and "check character" in by_row[3].problem
    assert "法定代表人" in by_row[4].problem and "missing" in by_row[4].problem
    assert "2026-02-30" in by_row[5].problem
    assert "also in row 2" in by_row[6].problem
    assert by_row[6].record_no == rows[1][col["记录号"]]


def test_header_by_keys_mapping_file_and_gb18030(embedded: ServiceContext, tmp_path: Path) -> None:
    rows = _rows()
    keys = ["record_no", "holder_name", "holder_id_type", "holder_id", "valid_from", "valid_until"]
    spec = embedded.templates.get(FOOD)
    header = keys + [f.key for f in spec.fields]
    header[0] = "原编号"  # a department's own header, mapped explicitly
    path = _write(tmp_path, [header, *rows[1:4]], encoding="gb18030")
    report = BatchService(embedded).check_import(
        path, template=FOOD, department_code="11152500011512829G", principal=OPERATOR, mapping={"原编号": "record_no"}
    )
    assert (report.valid_rows, report.invalid_rows) == (3, 0), report.problems


def test_unknown_and_missing_columns_refuse_the_file(embedded: ServiceContext, tmp_path: Path) -> None:
    rows = _rows()
    header = [h for h in rows[0] if h != "许可证编号"] + ["备注栏"]
    path = _write(tmp_path, [header])
    with pytest.raises(ValidationFailedError) as caught:
        BatchService(embedded).check_import(path, template=FOOD, department_code="11152500011512829G", principal=OPERATOR)
    problems = {d["field"]: d["problem"] for d in caught.value.details}
    assert "备注栏" in problems and "licence_number" in problems


def test_xlsx_with_dates_as_cells(embedded: ServiceContext, tmp_path: Path) -> None:
    from datetime import datetime

    from openpyxl import Workbook

    rows = _rows()
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(rows[0])
    for row in rows[1:4]:
        cells: list[object] = list(row)
        cells[4] = datetime.fromisoformat(row[4])  # Excel date cells
        cells[5] = datetime.fromisoformat(row[5])
        sheet.append(cells)
    path = tmp_path / "records.xlsx"
    workbook.save(path)
    report = BatchService(embedded).check_import(path, template=FOOD, department_code="11152500011512829G", principal=OPERATOR)
    assert (report.total_rows, report.valid_rows) == (3, 3), report.problems


def test_only_operators_run_batches(embedded: ServiceContext) -> None:
    issuer = Principal(client_id=1, name="issuer", role=Role.ISSUER, department_id=1, department_code="11152500011512829G")
    with pytest.raises(PermissionDeniedError):
        BatchService(embedded).check_import(FOOD_CSV, template=FOOD, department_code="11152500011512829G", principal=issuer)


def test_execute_issues_every_valid_row_once_and_a_rerun_skips_them(embedded: ServiceContext, tmp_path: Path) -> None:
    department = new_department(embedded)
    rows = _rows()
    bad = list(rows[3])
    bad[rows[0].index("有效期至")] = "someday"
    path = _write(tmp_path, [rows[0], rows[1], rows[2], bad, rows[4]])
    service = BatchService(embedded)

    created, report = service.create_import_job(path, template=FOOD, department_code=department.code, principal=OPERATOR)
    assert (created.total, report.invalid_rows) == (4, 1)
    seen: list[int] = []
    final = service.run(created.job_id, principal=OPERATOR, workers=0, on_progress=lambda p: seen.append(p.finished))
    assert (final.state, final.done, final.skipped, final.failed) == ("completed", 3, 0, 1)
    assert final.done + final.skipped + final.failed == final.total

    failures = list(service.failures(created.job_id, principal=OPERATOR))
    assert [(f.seq, f.error_code) for f in failures] == [(4, "invalid_row")]
    assert "valid_until" in failures[0].error_message

    again, _ = service.create_import_job(path, template=FOOD, department_code=department.code, principal=OPERATOR)
    assert again.job_id != created.job_id and not again.is_existing
    rerun = service.run(again.job_id, principal=OPERATOR, workers=0)
    assert (rerun.done, rerun.skipped, rerun.failed) == (0, 3, 1)

    # The licence carries the holder and fields of its row.
    from certsvc.storage.orm_batch import BatchItem

    with embedded.database.transaction() as session:
        item = session.query(BatchItem).filter_by(job_id=created.job_id, seq=2).one()
        identifier = item.result["identifier"]  # type: ignore[index]
    info = RegistryService(embedded).get(identifier, principal=OPERATOR)
    assert info.holder_id == rows[1][rows[0].index("持证主体代码")]
    assert info.fields["licence_number"] == rows[1][rows[0].index("许可证编号")]
    assert json.dumps(info.fields, ensure_ascii=False)
