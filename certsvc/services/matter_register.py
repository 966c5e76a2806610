"""The register of 政务服务事项 and the licences that replace their materials (材料关联).

A matter (事项编码, 事项名称) requires materials; per material, the licence types (template
slugs) that replace it. Operators keep the register in a CSV or XLSX file, one row per material:

    事项编码, 事项名称, 材料名称, 可替代证照

(``matter_code, matter_name, material, licence_types`` also work; several licence types are
separated by ``;``, ``；`` or ``、`` and named by template slug, 证照类型代码 or licence name).
Loading a file replaces the materials of every matter it names and leaves other matters alone.
Every change raises the matter's version and appends its whole new content to the audit log,
so the log holds every version (``history``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import NotFoundError, ValidationFailedError
from certsvc.services.audit import append_audit_event
from certsvc.services.batch_import import read_table
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.storage.orm_region import Matter, MatterMaterial
from certsvc.storage.repositories import AuditRepository
from certsvc.storage.repositories_region import MatterRepository

__all__ = [
    "LoadReport",
    "MaterialSpec",
    "MatterInfo",
    "MatterRegisterService",
    "MatterVersion",
    "matter_info",
]

_COLUMNS = {
    "matter_code": ("matter_code", "事项编码"),
    "matter_name": ("matter_name", "事项名称"),
    "material": ("material", "材料名称"),
    "licence_types": ("licence_types", "可替代证照", "关联证照"),
}
_SPLIT = re.compile(r"[;；、]")
_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
_MAX_MATERIALS = 200


@dataclass(frozen=True, slots=True)
class MaterialSpec:
    name: str  # 材料名称
    licence_types: tuple[str, ...] = ()  # template slugs that replace it; empty: not waivable


@dataclass(frozen=True, slots=True)
class MatterInfo:
    code: str
    name: str
    version: int
    materials: tuple[MaterialSpec, ...]


@dataclass(frozen=True, slots=True)
class MatterVersion:
    """One version of a matter as the audit log keeps it."""

    version: int
    at: str  # ISO time of the change
    actor: str
    action: str  # matter.put | matter.delete
    name: str | None
    materials: tuple[MaterialSpec, ...]


@dataclass(slots=True)
class LoadReport:
    source: str
    rows: int = 0
    matters: int = 0
    added: list[str] = field(default_factory=list)  # matter codes
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    is_applied: bool = False  # False: a dry run


def matter_info(matter: Matter) -> MatterInfo:
    return MatterInfo(
        matter.code,
        matter.name,
        matter.version,
        tuple(MaterialSpec(m.name, tuple(m.licence_types)) for m in matter.materials),
    )


class MatterRegisterService:
    """Changes need the operator role; reading the register any role."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # --- reading -------------------------------------------------------------------------------
    def page(self, request: PageRequest, *, principal: Principal) -> Page[MatterInfo]:
        """Matters in registration order, one page of the shared cursor.

        Raises: PermissionDeniedError: no role.
        """
        require_role(principal, Role.OPERATOR, Role.ISSUER, Role.SHARING)
        with self.ctx.database.read() as session:
            return MatterRepository(session).page(request).map(matter_info)

    def get(self, code: str, *, principal: Principal) -> MatterInfo:
        """Raises: PermissionDeniedError: no role. NotFoundError: ``unknown_matter``."""
        require_role(principal, Role.OPERATOR, Role.ISSUER, Role.SHARING)
        with self.ctx.database.read() as session:
            return matter_info(_matter(MatterRepository(session), code))

    def history(self, code: str, *, principal: Principal) -> list[MatterVersion]:
        """Every version of a matter, oldest first, from the audit log.

        Raises: PermissionDeniedError: not an operator. NotFoundError: never registered.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            events = AuditRepository(session).for_target(f"matter:{code.strip()}")
            versions = [
                MatterVersion(
                    version=int(e.details.get("version", 0)),
                    at=e.at.isoformat(),
                    actor=e.actor,
                    action=e.action,
                    name=e.details.get("name"),
                    materials=tuple(
                        MaterialSpec(str(m["name"]), tuple(m.get("licence_types", ())))
                        for m in e.details.get("materials", ())
                    ),
                )
                for e in events
                if e.action in ("matter.put", "matter.delete") and isinstance(e.details, dict)
            ]
        if not versions:
            raise NotFoundError(f"matter {code} was never registered", code="unknown_matter")
        return versions

    # --- changing ------------------------------------------------------------------------------
    def put(
        self,
        code: str,
        *,
        name: str,
        materials: Sequence[MaterialSpec],
        principal: Principal,
        source: str = "api",
    ) -> MatterInfo:
        """Register a matter or replace its name and materials (a new version when anything differs).

        Raises:
            PermissionDeniedError: not an operator.
            ValidationFailedError: a bad code, name or material, or an unknown licence type (all listed).
        """
        require_role(principal, Role.OPERATOR)
        problems: list[dict[str, Any]] = []
        code = _check_code(code, problems, field="code")
        name = _check_text(name, problems, field="name")
        specs = self._check_materials(materials, problems)
        if problems:
            raise ValidationFailedError("invalid matter", details=problems)
        with self.ctx.database.transaction() as session:
            info, _ = self._store(session, code, name, specs, principal=principal, source=source)
            return info

    def delete(self, code: str, *, principal: Principal) -> None:
        """Remove a matter (its history stays in the audit log).

        Raises: PermissionDeniedError: not an operator. NotFoundError: ``unknown_matter``.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            repo = MatterRepository(session)
            matter = _matter(repo, code, for_update=True)
            version = matter.version + 1
            repo.delete(matter)
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="matter.delete",
                target=f"matter:{matter.code}",
                details={"version": version, "materials": []},
            )

    def load(
        self,
        path: Path,
        *,
        principal: Principal,
        execute: bool = False,
        filename: str | None = None,
    ) -> LoadReport:
        """Check a register file and, with ``execute``, apply it in one transaction.

        Raises:
            PermissionDeniedError: not an operator.
            BadRequestError: not a readable CSV or XLSX file.
            ValidationFailedError: a missing column or bad rows; every problem names its row and column.
        """
        require_role(principal, Role.OPERATOR)
        source = filename or path.name
        matters, rows = self._parse(read_table(path, filename=filename))
        report = LoadReport(source=source, rows=rows, matters=len(matters))
        with self.ctx.database.transaction() if execute else self.ctx.database.read() as session:
            repo = MatterRepository(session)
            for code, (name, specs) in matters.items():
                existing = repo.by_code(code, for_update=execute)
                if existing is None:
                    report.added.append(code)
                elif (existing.name, matter_info(existing).materials) == (name, tuple(specs)):
                    report.unchanged.append(code)
                    continue
                else:
                    report.changed.append(code)
                if execute:
                    self._store(session, code, name, specs, principal=principal, source=source)
        report.is_applied = execute
        return report

    # --- rules -----------------------------------------------------------------------------------
    def _store(
        self,
        session: Any,
        code: str,
        name: str,
        specs: Sequence[MaterialSpec],
        *,
        principal: Principal,
        source: str,
    ) -> tuple[MatterInfo, bool]:
        repo = MatterRepository(session)
        now = self.ctx.clock.now()
        matter = repo.by_code(code, for_update=True)
        if matter is None:
            matter = repo.add(Matter(code=code, name=name, version=1, updated_at=now))
        elif (matter.name, matter_info(matter).materials) == (name, tuple(specs)):
            return matter_info(matter), False
        else:
            matter.name, matter.version, matter.updated_at = name, matter.version + 1, now
            matter.materials.clear()
            session.flush()  # the old rows go before new ones reuse their names
        matter.materials.extend(
            MatterMaterial(seq=i, name=s.name, licence_types=list(s.licence_types))
            for i, s in enumerate(specs, 1)
        )
        session.flush()
        append_audit_event(
            session,
            at=now,
            actor=principal,
            action="matter.put",
            target=f"matter:{code}",
            details={
                "version": matter.version,
                "name": name,
                "source": source[:200],
                "materials": [
                    {"name": s.name, "licence_types": list(s.licence_types)} for s in specs
                ],
            },
        )
        return matter_info(matter), True

    def _check_materials(
        self, materials: Sequence[MaterialSpec], problems: list[dict[str, Any]]
    ) -> list[MaterialSpec]:
        specs: list[MaterialSpec] = []
        if len(materials) > _MAX_MATERIALS:
            problems.append({"field": "materials", "problem": f"at most {_MAX_MATERIALS}"})
        seen: set[str] = set()
        for i, m in enumerate(materials):
            where = f"materials[{i}]"
            material = _check_text(m.name, problems, field=f"{where}.name")
            if material in seen:
                problems.append(
                    {"field": f"{where}.name", "problem": f"material {material!r} is listed twice"}
                )
            seen.add(material)
            slugs = [
                self._slug(t, problems, field=f"{where}.licence_types") for t in m.licence_types
            ]
            specs.append(MaterialSpec(material, tuple(dict.fromkeys(s for s in slugs if s))))
        return specs

    def _slug(self, text: str, problems: list[dict[str, Any]], **where: Any) -> str | None:
        wanted = text.strip()
        for t in self.ctx.templates.all():
            if wanted in (t.slug, t.type_code, t.name):
                return t.slug
        problems.append(
            {
                **where,
                "problem": f"unknown licence type {wanted!r} (a template slug, 证照类型代码 or licence name)",
            }
        )
        return None

    def _parse(
        self, rows: Iterator[list[object]]
    ) -> tuple[dict[str, tuple[str, list[MaterialSpec]]], int]:
        header = next(rows, None)
        if header is None:
            raise ValidationFailedError(
                "the file is empty",
                details=[{"row": 1, "column": None, "problem": "no header row"}],
            )
        names = [str(h or "").strip().lstrip("\ufeff") for h in header]
        index: dict[str, int] = {}
        problems: list[dict[str, Any]] = []
        for key, aliases in _COLUMNS.items():
            found = [i for i, n in enumerate(names) if n in aliases]
            if not found:
                problems.append(
                    {
                        "row": 1,
                        "column": aliases[-1],
                        "problem": f"missing column ({' or '.join(aliases)})",
                    }
                )
            else:
                index[key] = found[0]
        if problems:
            raise ValidationFailedError("the register file lacks columns", details=problems)
        matters: dict[str, tuple[str, list[MaterialSpec]]] = {}
        count = 0
        for number, raw in enumerate(rows, start=2):
            cells = [str(c).strip() if c is not None else "" for c in raw]
            if not any(cells):
                continue
            count += 1

            def cell(key: str, cells: list[str] = cells) -> str:
                i = index[key]
                return cells[i] if i < len(cells) else ""

            def bad(key: str, problem: str, number: int = number) -> None:
                problems.append({"row": number, "column": names[index[key]], "problem": problem})

            code, name, material = cell("matter_code"), cell("matter_name"), cell("material")
            if not _CODE.match(code):
                bad("matter_code", "a matter code: letters, digits, '.', '_' or '-', at most 64")
            if not 0 < len(name) <= 200:
                bad("matter_name", "1 to 200 characters")
            if not 0 < len(material) <= 200:
                bad("material", "1 to 200 characters")
            slugs: list[str] = []
            for part in (p.strip() for p in _SPLIT.split(cell("licence_types"))):
                if not part:
                    continue
                where: list[dict[str, Any]] = []
                slug = self._slug(part, where)
                if slug is None:
                    bad("licence_types", where[0]["problem"])
                else:
                    slugs.append(slug)
            known = matters.get(code)
            if known is not None and known[0] != name:
                bad("matter_name", f"matter {code} is named {known[0]!r} in an earlier row")
            if known is not None and any(m.name == material for m in known[1]):
                bad("material", f"material {material!r} of matter {code} is listed twice")
            if code and known is None:
                matters[code] = (name, [])
            if code:
                matters[code][1].append(MaterialSpec(material, tuple(dict.fromkeys(slugs))))
        if problems:
            raise ValidationFailedError(
                f"{len(problems)} problem(s) in the register file", details=problems[:1000]
            )
        if not matters:
            raise ValidationFailedError(
                "the register file has no rows",
                details=[{"row": 2, "column": None, "problem": "no rows"}],
            )
        return matters, count


def _matter(repo: MatterRepository, code: str, *, for_update: bool = False) -> Matter:
    matter = repo.by_code(code.strip(), for_update=for_update)
    if matter is None:
        raise NotFoundError(f"no matter {code.strip()!r} in the register", code="unknown_matter")
    return matter


def _check_code(code: str, problems: list[dict[str, Any]], *, field: str) -> str:
    code = code.strip()
    if not _CODE.match(code):
        problems.append(
            {
                "field": field,
                "problem": "a matter code: letters, digits, '.', '_' or '-', at most 64",
            }
        )
    return code


def _check_text(text: str, problems: list[dict[str, Any]], *, field: str) -> str:
    text = text.strip()
    if not 0 < len(text) <= 200:
        problems.append({"field": field, "problem": "1 to 200 characters"})
    return text
