"""The figures the material-waiver programme is judged by, and their charts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from certsvc.domain.status import LicenceStatus
from certsvc.domain.status_reasons import STATUS_NAMES_ZH
from certsvc.rendering.charts import bar_chart_png, share_chart_png
from certsvc.services.context import ServiceContext
from certsvc.services.matter_materials import MatterFigures, MatterMaterialsService
from certsvc.services.principals import Principal, Role, require_role
from certsvc.storage.repositories_sharing import StatsRepository

__all__ = ["LicenceCount", "StatsReport", "StatsService", "UseCount"]


@dataclass(frozen=True, slots=True)
class LicenceCount:
    department_code: str
    department_name: str
    template: str
    status: str  # effective status today
    count: int


@dataclass(frozen=True, slots=True)
class UseCount:
    department_code: str | None  # the receiving department
    operation: str  # query | check | download | holder_sign_in | withdraw
    result: str
    count: int


@dataclass(frozen=True, slots=True)
class StatsReport:
    generated_at: datetime
    licences: tuple[LicenceCount, ...]
    uses: tuple[UseCount, ...]
    materials_waived: int  # licences delivered through sharing queries (each replaces a paper copy)
    checks_matched: int
    valid_licences: int
    valid_licences_used: int  # valid licences queried or checked at least once
    applications_served: int  # distinct (department, application number) with a successful use
    # Per 政务服务事项 of the register: materials a licence can replace, and those it replaced.
    matters: tuple[MatterFigures, ...] = ()

    @property
    def share_used(self) -> float:
        return self.valid_licences_used / self.valid_licences if self.valid_licences else 0.0


class StatsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def report(self, principal: Principal) -> StatsReport:
        """Licences by department, type and state; uses; reach of sharing.

        Raises:
            PermissionDeniedError: the caller is not an operator.
        """
        require_role(principal, Role.OPERATOR)
        now = self.ctx.clock.now()
        today = now.date()
        with self.ctx.database.read() as session:
            repo = StatsRepository(session)
            merged: dict[tuple[str, str, str, str], int] = defaultdict(int)
            for code, name, template, stored, is_past, count in repo.licence_counts(today=today):
                status = (
                    LicenceStatus.EXPIRED.value
                    if stored == LicenceStatus.VALID.value and is_past
                    else stored
                )
                merged[(code, name, template, status)] += count
            uses = tuple(UseCount(*row) for row in repo.usage_counts())
            return StatsReport(
                generated_at=now,
                licences=tuple(LicenceCount(*key, count) for key, count in sorted(merged.items())),
                uses=uses,
                materials_waived=sum(
                    u.count for u in uses if u.operation == "query" and u.result == "ok"
                ),
                checks_matched=sum(
                    u.count for u in uses if u.operation == "check" and u.result == "match"
                ),
                valid_licences=repo.valid_licences(today=today, used_only=False),
                valid_licences_used=repo.valid_licences(today=today, used_only=True),
                applications_served=repo.applications_served(),
                matters=tuple(MatterMaterialsService(self.ctx).figures(principal=principal)),
            )

    def charts(self, report: StatsReport) -> dict[str, bytes]:
        """PNG charts by file name: licences by department and state, by type, uses, reach."""
        departments = sorted({c.department_name for c in report.licences})
        statuses = sorted({c.status for c in report.licences})
        by_dept = {
            STATUS_NAMES_ZH.get(s, s): [
                sum(c.count for c in report.licences if c.department_name == d and c.status == s)
                for d in departments
            ]
            for s in statuses
        }
        templates = sorted({c.template for c in report.licences})
        names = [
            self.ctx.templates.get(t).name if t in self.ctx.templates else t for t in templates
        ]
        by_type = {
            STATUS_NAMES_ZH.get(s, s): [
                sum(c.count for c in report.licences if c.template == t and c.status == s)
                for t in templates
            ]
            for s in statuses
        }
        receivers = sorted(
            {u.department_code or "-" for u in report.uses if u.operation in ("query", "check")}
        )
        outcomes = {"成功": ("ok", "match"), "不一致": ("no_match",)}
        by_receiver: dict[str, list[float]] = {
            label: [
                sum(
                    u.count
                    for u in report.uses
                    if (u.department_code or "-") == r
                    and u.operation in ("query", "check")
                    and u.result in results
                )
                for r in receivers
            ]
            for label, results in outcomes.items()
        }
        by_receiver["拒绝"] = [
            sum(
                u.count
                for u in report.uses
                if (u.department_code or "-") == r
                and u.operation in ("query", "check")
                and u.result not in ("ok", "match", "no_match")
            )
            for r in receivers
        ]
        return {
            "licences-by-department.png": bar_chart_png(
                "各部门签发证照（按状态）", departments, by_dept, ylabel="证照数"
            ),
            "licences-by-type.png": bar_chart_png(
                "证照类型（按状态）", names, by_type, ylabel="证照数"
            ),
            "uses-by-department.png": bar_chart_png(
                "用证部门查询与核验", receivers, by_receiver, ylabel="次数"
            ),
            "valid-licences-used.png": share_chart_png(
                f"有效证照被使用比例（{report.valid_licences_used}/{report.valid_licences}）",
                report.valid_licences_used,
                report.valid_licences,
                part_label="已使用",
                rest_label="未使用",
            ),
        }
