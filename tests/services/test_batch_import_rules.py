"""Batch import under the registry's data rules: repeated licence numbers are per-row failures,
a licence type the department may not issue refuses the whole file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from certsvc.errors import PermissionDeniedError
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.licence_types import LicenceTypeService
from tests.conftest import TEMPLATES
from tests.jobs.batch_helpers import OPERATOR, new_department

FOOD = "food-business-licence"


def _rows() -> list[list[str]]:
    with (TEMPLATES / FOOD / "sample.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_repeated_licence_numbers_fail_their_rows_and_the_rest_is_issued(embedded: ServiceContext, tmp_path: Path) -> None:
    department = new_department(embedded)
    rows = _rows()
    header, number = rows[0], rows[0].index("许可证编号")
    service = BatchService(embedded)

    first, _ = service.create_import_job(
        _write(tmp_path / "first.csv", [header, rows[1]]), template=FOOD, department_code=department.code, principal=OPERATOR
    )
    assert service.run(first.job_id, principal=OPERATOR, workers=0).done == 1

    # Row 2 repeats a number the registry holds; row 4 repeats row 3's number within the file.
    again = list(rows[2])
    again[number] = rows[1][number]
    twin = list(rows[4])
    twin[number] = rows[3][number]
    second_file = _write(tmp_path / "second.csv", [header, again, rows[3], twin])
    report = service.check_import(second_file, template=FOOD, department_code=department.code, principal=OPERATOR)
    assert [(p.row, p.field) for p in report.problems] == [(4, "licence_number")]
    assert "also in row 3" in report.problems[0].problem

    second, _ = service.create_import_job(second_file, template=FOOD, department_code=department.code, principal=OPERATOR)
    final = service.run(second.job_id, principal=OPERATOR, workers=0)
    assert (final.state, final.done, final.failed) == ("completed", 1, 2)
    failures = {f.seq: f for f in service.failures(second.job_id, principal=OPERATOR)}
    assert failures[2].error_code == "duplicate_licence_number" and rows[1][number] in failures[2].error_message
    assert failures[4].error_code == "invalid_row"


def test_rows_whose_validity_has_ended_are_reported_in_the_dry_run(embedded: ServiceContext, tmp_path: Path) -> None:
    department = new_department(embedded)
    rows = _rows()
    lapsed = list(rows[2])
    lapsed[rows[0].index("有效期起")], lapsed[rows[0].index("有效期至")] = "2019-03-15", "2024-03-14"
    path = _write(tmp_path / "lapsed.csv", [rows[0], rows[1], lapsed])
    report = BatchService(embedded).check_import(path, template=FOOD, department_code=department.code, principal=OPERATOR)
    assert (report.valid_rows, report.invalid_rows) == (1, 1)
    assert [(p.row, p.field) for p in report.problems] == [(3, "valid_until")]
    assert "2024-03-14" in report.problems[0].problem


def test_an_import_of_a_type_the_department_may_not_issue_is_refused(embedded: ServiceContext) -> None:
    department = new_department(embedded)
    LicenceTypeService(embedded).change(department.code, remove=[FOOD], principal=OPERATOR)
    with pytest.raises(PermissionDeniedError) as refused:
        BatchService(embedded).check_import(
            TEMPLATES / FOOD / "sample.csv", template=FOOD, department_code=department.code, principal=OPERATOR
        )
    assert refused.value.code == "licence_type_not_allowed"


def test_a_row_for_a_holder_kind_the_catalogue_does_not_list_is_named(embedded: ServiceContext, tmp_path: Path) -> None:
    from tests.idp import fresh_resident_id

    department = new_department(embedded)
    rows = _rows()
    header = rows[0]
    person = list(rows[1])
    person[header.index("持证主体代码类型")] = "居民身份证"
    person[header.index("持证主体代码")] = fresh_resident_id()
    report = BatchService(embedded).check_import(
        _write(tmp_path / "person.csv", [header, person]), template=FOOD, department_code=department.code, principal=OPERATOR
    )
    assert [p.field for p in report.problems] == ["holder_id_type"]
    assert "held by uscc" in report.problems[0].problem
