"""How far 电子印章应发尽发 has come: departments with and without a valid seal, and expiring seals.

A department is covered when it holds at least one seal that is active, inside its validity
now and not reported compromised. The report counts departments by level (盟 … 嘎查村; "未定"
for departments no departments file placed) and by area (GB/T 2260 行政区划代码), lists the
departments without a seal, and the seals whose validity ends within ``expiring_days`` — the
ones to renew before their department drops out of coverage.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from certsvc.rendering.charts import bar_chart_png
from certsvc.services.context import ServiceContext
from certsvc.services.department_file import DepartmentLevel
from certsvc.services.principals import Principal, Role, require_role
from certsvc.storage.orm import Seal
from certsvc.storage.repositories_region import RegionReadRepository

__all__ = [
    "UNPLACED",
    "CoverageReport",
    "CoverageRow",
    "ExpiringSeal",
    "SealCoverageService",
    "UncoveredDepartment",
]

UNPLACED = "未定"  # a department no departments file has placed


@dataclass(frozen=True, slots=True)
class CoverageRow:
    level: str
    area_code: str
    departments: int
    with_valid_seal: int

    @property
    def without_valid_seal(self) -> int:
        return self.departments - self.with_valid_seal


@dataclass(frozen=True, slots=True)
class UncoveredDepartment:
    code: str
    name: str
    level: str
    area_code: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class ExpiringSeal:
    seal_id: int
    department_code: str
    department_name: str
    purpose: str
    valid_until: datetime
    days_left: int


@dataclass(frozen=True, slots=True)
class CoverageReport:
    generated_at: datetime
    expiring_days: int
    departments: int
    with_valid_seal: int
    rows: tuple[CoverageRow, ...]  # by level (top down) and area
    uncovered: tuple[UncoveredDepartment, ...]
    expiring: tuple[ExpiringSeal, ...]  # soonest first

    @property
    def without_valid_seal(self) -> int:
        return self.departments - self.with_valid_seal

    @property
    def share_covered(self) -> float:
        return self.with_valid_seal / self.departments if self.departments else 0.0


def _is_valid(seal: Seal, at: datetime) -> bool:
    return (
        seal.status == "active"
        and seal.compromised_at is None
        and seal.valid_from <= at < seal.valid_until
    )


def _level_order(level: str) -> int:
    order = [lv.value for lv in DepartmentLevel]
    return order.index(level) if level in order else len(order)


class SealCoverageService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def report(self, *, principal: Principal, expiring_days: int = 90) -> CoverageReport:
        """Raises: PermissionDeniedError: not an operator."""
        require_role(principal, Role.OPERATOR)
        now = self.ctx.clock.now()
        horizon = now + timedelta(days=max(0, expiring_days))
        with self.ctx.database.read() as session:
            repo = RegionReadRepository(session)
            seals_of: dict[int, list[Seal]] = defaultdict(list)
            for seal in repo.seals():
                seals_of[seal.department_id].append(seal)
            counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
            uncovered: list[UncoveredDepartment] = []
            expiring: list[ExpiringSeal] = []
            covered = total = 0
            for department, place in repo.departments_with_places():
                if department.status != "active":
                    continue
                level = place.level if place is not None else UNPLACED
                valid = [s for s in seals_of[department.id] if _is_valid(s, now)]
                total += 1
                entry = counts[(level, department.area_code)]
                entry[0] += 1
                if valid:
                    covered += 1
                    entry[1] += 1
                else:
                    uncovered.append(
                        UncoveredDepartment(
                            department.code,
                            department.name,
                            level,
                            department.area_code,
                            place.parent_code if place is not None else None,
                        )
                    )
                for s in valid:
                    if s.valid_until <= horizon:
                        expiring.append(
                            ExpiringSeal(
                                s.id,
                                department.code,
                                department.name,
                                s.purpose,
                                s.valid_until,
                                (s.valid_until - now).days,
                            )
                        )
        rows = tuple(
            CoverageRow(level, area, n, ok)
            for (level, area), (n, ok) in sorted(
                counts.items(), key=lambda kv: (_level_order(kv[0][0]), kv[0][1])
            )
        )
        return CoverageReport(
            generated_at=now,
            expiring_days=expiring_days,
            departments=total,
            with_valid_seal=covered,
            rows=rows,
            uncovered=tuple(
                sorted(uncovered, key=lambda u: (_level_order(u.level), u.area_code, u.code))
            ),
            expiring=tuple(sorted(expiring, key=lambda e: (e.valid_until, e.seal_id))),
        )

    def chart(self, report: CoverageReport) -> bytes:
        """A stacked bar per level: departments with and without a valid seal (PNG)."""
        levels = sorted({r.level for r in report.rows}, key=_level_order)
        stacks = {
            "有有效印章": [
                float(sum(r.with_valid_seal for r in report.rows if r.level == lv)) for lv in levels
            ],
            "无有效印章": [
                float(sum(r.without_valid_seal for r in report.rows if r.level == lv))
                for lv in levels
            ],
        }
        return bar_chart_png(
            f"电子印章覆盖（{report.with_valid_seal}/{report.departments}）",
            levels,
            stacks,
            ylabel="部门数",
        )
