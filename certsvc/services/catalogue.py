"""The licence catalogue (GB/T 36902 目录信息): every licence type certsvc can issue.

One entry per installed template: 证照类型代码 and name, 证照定义机构 and its code (the type code's
first 18 characters, GB/T 36904), the holder kinds, the validity rule, the departments allowed to
issue it (``certsvc department types``) and the template version (a digest of the template's
files, so two deployments can tell whether they render a type alike).

The catalogue is public: what types exist, who defines them and which departments issue them is
what applicants and receiving departments need before they have any key, and it holds no
personal data. Departments are listed by name and 统一社会信用代码, both published anyway.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

from certsvc.errors import NotFoundError
from certsvc.rendering.catalogue_entry import CATALOGUE_FILE, ValidityKind
from certsvc.rendering.templates import LicenceTemplate
from certsvc.services.context import ServiceContext
from certsvc.storage.repositories_region import RegionReadRepository

__all__ = ["CatalogueDepartment", "CatalogueService", "CatalogueType", "template_version"]

_VERSIONED_FILES = ("template.json", "bilingual.json", CATALOGUE_FILE)


@dataclass(frozen=True, slots=True)
class CatalogueDepartment:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class CatalogueType:
    type_code: str  # 证照类型代码
    name: str  # 证照名称
    template: str  # the template slug certsvc issues it with
    definer_code: str  # 证照定义机构代码
    definer_name: str | None  # 证照定义机构; None when the template has no catalogue.json
    holder_kinds: tuple[str, ...]  # uscc | resident_id
    holder_kind_codes: tuple[str, ...]  # GB/T 36903 持证主体代码类型: 001 | 111
    validity_kind: str | None  # term | long_term | per_licence
    validity_years: int | None
    validity_max_years: int | None  # the longest term, when the rule allows more than the usual one
    validity_basis: str
    departments: tuple[CatalogueDepartment, ...]  # allowed to issue it
    template_version: str
    has_bilingual_layout: bool


def template_version(template: LicenceTemplate) -> str:
    """The first 16 hex digits of SHA-256 over the template's files (name and bytes, in order)."""
    digest = hashlib.sha256()
    for name in _VERSIONED_FILES:
        path = template.directory / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


class CatalogueService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def types(self) -> list[CatalogueType]:
        """Every licence type, in type-code order. Public: needs no principal."""
        granted: dict[str, list[CatalogueDepartment]] = defaultdict(list)
        with self.ctx.database.read() as session:
            for slug, code, name in RegionReadRepository(session).grants():
                granted[slug].append(CatalogueDepartment(code, name))
        entries = [self._entry(t, granted.get(t.slug, [])) for t in self.ctx.templates.all()]
        return sorted(entries, key=lambda e: (e.type_code, e.template))

    def type(self, type_code_or_slug: str) -> CatalogueType:
        """Raises: NotFoundError: ``unknown_licence_type``."""
        wanted = type_code_or_slug.strip()
        for entry in self.types():
            if wanted in (entry.type_code, entry.template):
                return entry
        raise NotFoundError(
            f"no licence type {wanted!r} in the catalogue", code="unknown_licence_type"
        )

    def _entry(self, t: LicenceTemplate, departments: list[CatalogueDepartment]) -> CatalogueType:
        facts = t.catalogue
        return CatalogueType(
            type_code=t.type_code,
            name=t.name,
            template=t.slug,
            definer_code=t.type_code[:18],
            definer_name=facts.definer_name if facts else None,
            holder_kinds=tuple(k.value for k in facts.holder_kinds) if facts else (),
            holder_kind_codes=tuple(k.gbt36903_code for k in facts.holder_kinds) if facts else (),
            validity_kind=facts.validity.kind.value if facts else None,
            validity_years=facts.validity.years
            if facts and facts.validity.kind is ValidityKind.TERM
            else None,
            validity_max_years=facts.validity.max_years if facts else None,
            validity_basis=facts.validity.basis if facts else "",
            departments=tuple(departments),
            template_version=template_version(t),
            has_bilingual_layout=t.bilingual is not None,
        )
