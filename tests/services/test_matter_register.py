"""The matter register from the operator's file: XLSX like CSV, one transaction, versions audited."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from openpyxl import Workbook

from certsvc.errors import PermissionDeniedError, ValidationFailedError
from certsvc.services.context import ServiceContext
from certsvc.services.matter_register import MaterialSpec, MatterRegisterService
from certsvc.services.principals import Principal, Role, local_operator


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_an_xlsx_register_loads_like_a_csv(embedded: ServiceContext, tmp_path: Path) -> None:
    code = f"X-{uuid.uuid4().hex[:10]}"
    path = _xlsx(
        tmp_path / "register.xlsx",
        [
            ["matter_code", "matter_name", "material", "licence_types"],
            [code, "建筑工程施工许可证核发（测试）", "建设工程规划许可证", "建设工程规划许可证"],
            [code, "建筑工程施工许可证核发（测试）", "施工合同", None],
            [None, None, None, None],  # blank rows are skipped, as spreadsheets leave them
            [code, "建筑工程施工许可证核发（测试）", "特种作业人员证书", "special-operations-certificate；11100000MB19273485001"],
        ],
    )
    service = MatterRegisterService(embedded)
    report = service.load(path, principal=local_operator(), execute=True)
    assert (report.rows, report.added, report.is_applied) == (3, [code], True)
    info = service.get(code, principal=local_operator())
    assert info.materials == (
        MaterialSpec("建设工程规划许可证", ("construction-planning-permit",)),
        MaterialSpec("施工合同", ()),
        MaterialSpec("特种作业人员证书", ("special-operations-certificate", "construction-planning-permit")),
    )


def test_a_file_with_one_bad_row_changes_nothing(embedded: ServiceContext, tmp_path: Path) -> None:
    code = f"X-{uuid.uuid4().hex[:10]}"
    service, op = MatterRegisterService(embedded), local_operator()
    service.put(code, name="原名称", materials=[MaterialSpec("材料", ("food-business-licence",))], principal=op)
    path = _xlsx(
        tmp_path / "bad.xlsx",
        [
            ["事项编码", "事项名称", "材料名称", "可替代证照"],
            [code, "新名称", "材料", "food-business-licence"],
            [code, "新名称", "材料", "food-business-licence"],
        ],
    )
    with pytest.raises(ValidationFailedError) as caught:
        service.load(path, principal=op, execute=True)
    assert caught.value.details == [{"row": 3, "column": "材料名称", "problem": f"material '材料' of matter {code} is listed twice"}]
    info = service.get(code, principal=op)
    assert (info.name, info.version) == ("原名称", 1)


def test_only_operators_change_the_register(embedded: ServiceContext) -> None:
    clerk = Principal(client_id=1, name="clerk", role=Role.ISSUER, department_id=1, department_code="x")
    with pytest.raises(PermissionDeniedError):
        MatterRegisterService(embedded).put("X-1", name="n", materials=[], principal=clerk)
