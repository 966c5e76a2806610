"""Bulk seal provisioning: a checked file, a dry run, a durable job, resumed after a crash, idempotent."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from certsvc.domain.identifiers import uscc_check_char
from certsvc.errors import ValidationFailedError
from certsvc.jobs.api import TaskSpec, WorkItem
from certsvc.services.context import ServiceContext
from certsvc.services.departments import DepartmentService
from certsvc.services.principals import local_operator
from certsvc.services.seal_coverage import SealCoverageService
from certsvc.services.seal_rollout import SealRolloutHandler, SealRolloutService
from certsvc.storage.orm import Department, Seal
from certsvc.storage.orm_batch import BatchJob
from certsvc.storage.orm_region import DepartmentPlace

HEADER = "code,name,name_mn,level,parent,area_code,seal_kinds,algorithm"  # no name_mn_source: optional


def _code(prefix: str = "11") -> str:
    first17 = prefix + "152502" + "".join(secrets.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return first17 + uscc_check_char(first17)


def _file(tmp_path: Path, rows: list[str], name: str = "departments.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _tree(tmp_path: Path) -> tuple[Path, list[str]]:
    league, banner, sumu, gacha = _code(), _code(), _code(), _code("54")
    rows = [
        f"{league},测试盟行政审批和政务服务局,,盟,,152500,公章;行政许可专用章,ecdsa-p256",
        f"{banner},测试旗行政审批和政务服务局,,旗县,{league},152502,公章,ecdsa-p256",
        f"{sumu},测试苏木人民政府,,苏木乡镇,{banner},152502,公章,ecdsa-p256",
        f"{gacha},测试嘎查村民委员会,,嘎查村,{sumu},152502,公章,ecdsa-p256",
    ]
    return _file(tmp_path, rows), [league, banner, sumu, gacha]


def _seal_counts(ctx: ServiceContext, codes: list[str]) -> dict[str, list[str]]:
    with ctx.database.read() as session:
        rows = session.execute(
            select(Department.code, Seal.purpose).join(Seal, Seal.department_id == Department.id).where(Department.code.in_(codes))
        ).all()
    out: dict[str, list[str]] = {c: [] for c in codes}
    for code, purpose in rows:
        out[code].append(purpose)
    return {c: sorted(p) for c, p in out.items()}


def test_dry_run_stores_nothing_and_execute_is_idempotent(embedded: ServiceContext, tmp_path: Path) -> None:
    path, codes = _tree(tmp_path)
    service, op = SealRolloutService(embedded), local_operator()
    plan = service.plan(path, principal=op)
    assert (plan.departments, plan.departments_new, plan.seals_to_make) == (4, 4, 5)
    assert plan.by_level == {"盟": 1, "旗县": 1, "苏木乡镇": 1, "嘎查村": 1}
    assert _seal_counts(embedded, codes) == {c: [] for c in codes}

    job = service.create_job(path, principal=op)
    progress = service.run(job.job_id, principal=op, workers=0)
    assert (progress.state, progress.done, progress.failed) == ("completed", 4, 0)
    seals = _seal_counts(embedded, codes)
    assert seals[codes[0]] == ["公章", "行政许可专用章"] and all(seals[c] == ["公章"] for c in codes[1:])
    with embedded.database.read() as session:
        places = {
            code: (level, parent)
            for code, level, parent in session.execute(
                select(Department.code, DepartmentPlace.level, DepartmentPlace.parent_code)
                .join(DepartmentPlace, DepartmentPlace.department_id == Department.id)
                .where(Department.code.in_(codes))
            ).all()
        }
    assert places[codes[3]] == ("嘎查村", codes[2]) and places[codes[0]] == ("盟", None)

    # Run again: a new job whose every item finds its seals made.
    again = service.create_job(path, principal=op)
    assert again.job_id != job.job_id and not again.is_existing
    rerun = service.run(again.job_id, principal=op, workers=0)
    assert (rerun.done, rerun.skipped) == (0, 4)
    assert _seal_counts(embedded, codes) == seals
    assert service.plan(path, principal=op).seals_to_make == 0


class _Crash(BaseException):
    """A power cut in the middle of a job (BaseException: nothing in the engine swallows it)."""


class _CrashingHandler(SealRolloutHandler):
    def __init__(self, *args: Any, after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.left = after

    def handle(self, item: WorkItem) -> Any:
        if self.left == 0:
            raise _Crash
        self.left -= 1
        return super().handle(item)


def test_an_interrupted_job_resumes_and_makes_nothing_twice(embedded: ServiceContext, tmp_path: Path) -> None:
    path, codes = _tree(tmp_path)
    service, op = SealRolloutService(embedded), local_operator()
    job = service.create_job(path, principal=op)
    with embedded.database.read() as session:
        params = dict(session.get_one(BatchJob, job.job_id).params)
    handler = _CrashingHandler(embedded, job_id=job.job_id, params=params, owns_context=False, after=2)
    with pytest.raises(_Crash):
        service.engine.run(job.job_id, TaskSpec("unused:unused"), workers=0, handler=handler)
    half = _seal_counts(embedded, codes)
    assert sum(1 for c in codes if half[c]) == 2

    resumed = service.create_job(path, principal=op)  # the same file finds the unfinished job
    assert (resumed.job_id, resumed.is_existing) == (job.job_id, True)
    progress = service.run(job.job_id, principal=op, workers=0)
    assert (progress.state, progress.done, progress.failed) == ("completed", 4, 0)
    seals = _seal_counts(embedded, codes)
    assert seals[codes[0]] == ["公章", "行政许可专用章"] and all(seals[c] == ["公章"] for c in codes[1:])
    with embedded.database.read() as session:
        assert session.scalar(select(func.count()).select_from(Department).where(Department.code.in_(codes))) == 4


def test_bad_rows_name_their_row_and_column(embedded: ServiceContext, tmp_path: Path) -> None:
    good = _code()
    valid = _code()
    # The same code with any other check character is invalid (GB 32100 has one right one).
    broken = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    path = _file(
        tmp_path,
        [
            f"{good},测试局,,盟,,152500,公章,",
            f"{broken},坏代码局,,旗县,{good},152502,公章,",
            f"{_code()},无层级局,,省,,152502,公章,",
            f"{_code()},无上级局,,旗县,{_code()},152502,公章,",
            f"{_code()},反向上级局,,盟,{good},15250,,rsa-1024",
            f"{_code()},蒙古文名称,ᠮᠣᠩᠭᠣᠯ abc,旗县,{good},152502,公章,",
        ],
    )
    with pytest.raises(ValidationFailedError) as caught:
        SealRolloutService(embedded).plan(path, principal=local_operator())
    where = {(d["row"], d["column"]) for d in caught.value.details}
    assert {(3, "code"), (4, "level"), (5, "parent"), (6, "area_code"), (6, "seal_kinds"), (6, "algorithm"), (7, "name_mn")} <= where
    assert (2, "code") not in where
    missing = _file(tmp_path, ["x"], name="short.csv")
    missing.write_text("code,name\n1,2\n", encoding="utf-8")
    with pytest.raises(ValidationFailedError) as caught:
        SealRolloutService(embedded).plan(missing, principal=local_operator())
    assert {d["column"] for d in caught.value.details} == {"level", "parent", "area_code", "seal_kinds"}


def test_coverage_counts_departments_by_level_and_lists_expiring_seals(embedded: ServiceContext, tmp_path: Path) -> None:
    path, codes = _tree(tmp_path)
    op = local_operator()
    coverage = SealCoverageService(embedded)
    before = coverage.report(principal=op)
    bare = _code()

    DepartmentService(embedded).add_department(code=bare, name="尚无印章的测试局", area_code="152502", principal=op)
    service = SealRolloutService(embedded)
    service.run(service.create_job(path, principal=op).job_id, principal=op, workers=0)
    after = coverage.report(principal=op, expiring_days=3650)
    assert after.departments - before.departments == 5
    assert after.with_valid_seal - before.with_valid_seal == 4
    assert bare in {u.code for u in after.uncovered}

    def count(report: Any, level: str, area: str) -> tuple[int, int]:
        row = next((r for r in report.rows if (r.level, r.area_code) == (level, area)), None)
        return (row.departments, row.with_valid_seal) if row else (0, 0)

    assert count(after, "嘎查村", "152502")[0] - count(before, "嘎查村", "152502")[0] == 1
    assert count(after, "未定", "152502")[0] - count(before, "未定", "152502")[0] == 1
    # Every rollout seal ends within ten years: all of them are "expiring" in a 3650-day window,
    # none in a zero-day one.
    assert {e.department_code for e in after.expiring} >= set(codes)
    assert not coverage.report(principal=op, expiring_days=0).expiring
    assert coverage.chart(after).startswith(b"\x89PNG")


@pytest.mark.slow
def test_worker_processes_build_the_handler_from_the_task_spec(embedded: ServiceContext, tmp_path: Path) -> None:
    path, codes = _tree(tmp_path)
    service, op = SealRolloutService(embedded), local_operator()
    progress = service.run(service.create_job(path, principal=op).job_id, principal=op, workers=1)
    assert (progress.state, progress.done, progress.failed) == ("completed", 4, 0)
    assert _seal_counts(embedded, codes)[codes[0]] == ["公章", "行政许可专用章"]


def test_a_mongolian_name_needs_its_source_and_draws_a_bilingual_seal(embedded: ServiceContext, tmp_path: Path) -> None:
    from certsvc.rendering.seals import draw_round_seal
    from certsvc.services.bilingual import RingLayout, draw_seal_image
    from certsvc.services.provisioning import DEMO_DEPARTMENTS, seal_text
    from certsvc.storage.orm import AuditEvent

    attested = next(d for d in DEMO_DEPARTMENTS if d.name_mn is not None)
    unsourced = _file(
        tmp_path,
        [f"{_code()},测试局,{attested.name_mn},,盟,,150000,公章,sm2"],
        name="unsourced.csv",
    )
    unsourced.write_text(
        "code,name,name_mn,name_mn_source,level,parent,area_code,seal_kinds,algorithm\n"
        + unsourced.read_text(encoding="utf-8").splitlines()[1]
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailedError) as caught:
        SealRolloutService(embedded).plan(unsourced, principal=local_operator())
    assert [(d["row"], d["column"]) for d in caught.value.details] == [(2, "name_mn_source")]

    code, chinese_only = _code(), _code()
    path = tmp_path / "sourced.csv"
    path.write_text(
        "code,name,name_mn,name_mn_source,level,parent,area_code,seal_kinds,algorithm\n"
        f"{code},{attested.name},{attested.name_mn},{attested.name_mn_source},盟,,150000,行政许可专用章,sm2\n"
        f"{chinese_only},测试旗局,,,旗县,{code},152502,公章,sm2\n",
        encoding="utf-8",
    )
    service, op = SealRolloutService(embedded), local_operator()
    assert service.plan(path, principal=op).without_mongolian_name == 1  # the 内蒙古 department with no name
    service.run(service.create_job(path, principal=op).job_id, principal=op, workers=0)
    with embedded.database.read() as session:
        department = session.scalars(select(Department).where(Department.code == code)).one()
        assert department.name_mn == attested.name_mn and department.is_bilingual
        seal = session.scalars(select(Seal).where(Seal.department_id == department.id)).one()
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.target == f"department:{code}", AuditEvent.action == "department.name_mn")
        ).all()
        assert [e.details["source"] for e in events] == [attested.name_mn_source]
        image = embedded.blobs.get(seal.image_sha256)
        # Drawn in both scripts (the department is bilingual and has its name), not in Chinese only.
        assert image == draw_seal_image(seal_text(department, "行政许可专用章", None, RingLayout.RINGS), diameter_mm=42)
        assert image != draw_round_seal(department_name=attested.name, seal_name="行政许可专用章", diameter_mm=42)
    assert seal.ses_seal_der is not None  # SM2: GB/T 38540 seal data made with it


def test_a_department_whose_seal_cannot_be_made_fails_alone_and_leaves_nothing(embedded: ServiceContext, tmp_path: Path) -> None:
    good, bad = _code(), _code()
    path = _file(
        tmp_path,
        [
            f"{good},测试局,,盟,,152500,公章,ecdsa-p256",
            # A name longer than a round seal holds (30 characters).
            f"{bad},{'锡林郭勒盟示例旗' * 5}局,,旗县,{good},152502,公章,ecdsa-p256",
        ],
    )
    service, op = SealRolloutService(embedded), local_operator()
    job = service.create_job(path, principal=op)
    progress = service.run(job.job_id, principal=op, workers=0)
    assert (progress.done, progress.failed) == (1, 1)
    from certsvc.services.batch import BatchService

    failures = list(BatchService(embedded).failures(job.job_id, principal=op))
    assert [(f.seq, f.key, f.error_code) for f in failures] == [(3, bad, "seal_text_not_drawable")]
    with embedded.database.read() as session:  # the failed item's transaction left no department behind
        assert session.scalar(select(func.count()).select_from(Department).where(Department.code == bad)) == 0
