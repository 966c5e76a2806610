"""At the window: which materials of a matter a licence replaces, and which licence would be used.

``materials(code, holder_id=...)`` answers a receiving department (``sharing`` role), per
material of the matter: can a licence replace it, by which licence types, and — only where the
holder has authorized this department for that type (the consent of ``services/authorizations``)
— which of the holder's valid licences the department's query would return. Without such an
authorization nothing about the holder's licences is said, not even whether any exist. Each
licence named is written as a usage record (operation ``materials``), so the holder sees it.

``figures()`` are the per-matter programme figures: materials that can be waived, and the
materials waived (distinct applications whose sharing query named the matter and delivered a
licence of a type that replaces the material).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from certsvc.domain.identifiers import HolderIdType, is_valid_resident_id, validate_holder_id
from certsvc.domain.status import LicenceStatus
from certsvc.errors import BadRequestError, NotFoundError, SharingRefusedError
from certsvc.services.authorizations import checked_text
from certsvc.services.context import ServiceContext
from certsvc.services.holders import licence_status, record_usage
from certsvc.services.matter_register import matter_info
from certsvc.services.principals import Principal, Role, require_role
from certsvc.storage.repositories_region import MatterRepository, RegionReadRepository
from certsvc.storage.repositories_sharing import SharingRepository

__all__ = [
    "HolderLicence",
    "MaterialAnswer",
    "MaterialFigures",
    "MaterialsAnswer",
    "MatterFigures",
    "MatterMaterialsService",
    "WaivingType",
]


@dataclass(frozen=True, slots=True)
class WaivingType:
    template: str
    type_code: str
    name: str


@dataclass(frozen=True, slots=True)
class HolderLicence:
    """A licence of the holder that a query under ``authorization_code`` would deliver."""

    identifier: str
    template: str
    licence_name: str
    department_name: str
    valid_until: str  # ISO date
    authorization_code: str
    application_no: str


@dataclass(frozen=True, slots=True)
class MaterialAnswer:
    name: str
    is_waivable: bool
    licence_types: tuple[WaivingType, ...]
    is_authorized: bool  # the holder authorized this department for one of the types
    holder_licences: tuple[HolderLicence, ...]

    @property
    def would_be_waived(self) -> bool:
        return bool(self.holder_licences)


@dataclass(frozen=True, slots=True)
class MaterialsAnswer:
    matter_code: str
    matter_name: str
    matter_version: int
    materials: tuple[MaterialAnswer, ...]


@dataclass(frozen=True, slots=True)
class MaterialFigures:
    name: str
    is_waivable: bool
    waived: int  # distinct applications in which a licence replaced it


@dataclass(frozen=True, slots=True)
class MatterFigures:
    code: str
    name: str
    materials: int
    waivable: int
    waived: int  # sum over its materials
    per_material: tuple[MaterialFigures, ...]


class MatterMaterialsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def materials(
        self,
        code: str,
        *,
        principal: Principal,
        holder_id: str | None = None,
        holder_id_type: str | None = None,
        application_no: str | None = None,
        request_id: str | None = None,
    ) -> MaterialsAnswer:
        """Per material: waivable or not, by which types, and the holder's licences in scope.

        Raises:
            PermissionDeniedError: not a sharing client; SharingRefusedError: of no department.
            NotFoundError: ``unknown_matter``.
            InvalidHolderIdError, BadRequestError: a malformed holder id, id type or application number.
        """
        require_role(principal, Role.SHARING)
        if principal.department_id is None:
            raise SharingRefusedError("this client belongs to no department", code="forbidden")
        holder = _holder(holder_id, holder_id_type) if holder_id else None
        application = checked_text(application_no, "application_no", 64) if application_no else None
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            matter = MatterRepository(session).by_code(code.strip())
            if matter is None:
                raise NotFoundError(
                    f"no matter {code.strip()!r} in the register", code="unknown_matter"
                )
            info = matter_info(matter)
            region, sharing = RegionReadRepository(session), SharingRepository(session)
            answers = []
            recorded: set[str] = (
                set()
            )  # one usage record per licence named, however many materials it replaces
            for material in info.materials:
                types = tuple(
                    self._type(slug)
                    for slug in material.licence_types
                    if slug in self.ctx.templates
                )
                licences: list[HolderLicence] = []
                is_authorized = False
                if holder is not None and types:
                    by_code = {t.type_code: t for t in types}
                    for a in region.live_authorizations(
                        holder=holder,
                        department_id=principal.department_id,
                        type_codes=list(by_code),
                        now=now,
                    ):
                        if (a.is_single_use and a.used_at is not None) or (
                            application and a.application_no != application
                        ):
                            continue
                        is_authorized = True
                        certs = (
                            [
                                c
                                for c in [sharing.certificate_by_id(a.certificate_id)]
                                if c is not None
                            ]
                            if a.certificate_id is not None
                            else list(
                                sharing.certificates_for_holder(
                                    holder[0], holder[1], type_code=a.type_code
                                )
                            )
                        )
                        for cert in certs:
                            if licence_status(cert, today=now.date()) is not LicenceStatus.VALID:
                                continue
                            if any(x.identifier == cert.identifier for x in licences):
                                continue
                            if cert.identifier not in recorded:
                                recorded.add(cert.identifier)
                                record_usage(
                                    session,
                                    at=now,
                                    operation="materials",
                                    result="ok",
                                    principal=principal,
                                    holder=holder,
                                    authorization_id=a.id,
                                    certificate=cert,
                                    application_no=a.application_no,
                                    reason=f"材料关联 {info.code}: {material.name}"[:200],
                                    request_id=request_id,
                                    matter_code=info.code,
                                )
                            licences.append(
                                HolderLicence(
                                    cert.identifier,
                                    cert.template,
                                    by_code[cert.type_code].name,
                                    cert.department.name,
                                    cert.valid_until.isoformat(),
                                    a.code,
                                    a.application_no,
                                )
                            )
                answers.append(
                    MaterialAnswer(
                        material.name, bool(types), types, is_authorized, tuple(licences)
                    )
                )
            return MaterialsAnswer(info.code, info.name, info.version, tuple(answers))

    def figures(self, *, principal: Principal) -> list[MatterFigures]:
        """Waivable and waived materials per matter.

        Raises: PermissionDeniedError: not an operator.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            waived: dict[str, dict[str, int]] = defaultdict(dict)
            for matter_code, type_code, applications in RegionReadRepository(session).waived():
                waived[matter_code][type_code] = applications
            out = []
            for matter in MatterRepository(session).all():
                info = matter_info(matter)
                per_material = []
                for m in info.materials:
                    codes = {
                        self.ctx.templates.get(s).type_code
                        for s in m.licence_types
                        if s in self.ctx.templates
                    }
                    per_material.append(
                        MaterialFigures(
                            m.name, bool(codes), sum(waived[info.code].get(c, 0) for c in codes)
                        )
                    )
                out.append(
                    MatterFigures(
                        info.code,
                        info.name,
                        len(per_material),
                        sum(1 for m in per_material if m.is_waivable),
                        sum(m.waived for m in per_material),
                        tuple(per_material),
                    )
                )
            return out

    def _type(self, slug: str) -> WaivingType:
        t = self.ctx.templates.get(slug)
        return WaivingType(t.slug, t.type_code, t.name)


def _holder(holder_id: str, holder_id_type: str | None) -> tuple[str, str]:
    text = holder_id.strip().upper()
    if holder_id_type is None:
        kind = HolderIdType.RESIDENT_ID if is_valid_resident_id(text) else HolderIdType.USCC
    else:
        try:
            kind = {"111": HolderIdType.RESIDENT_ID, "001": HolderIdType.USCC}.get(
                holder_id_type
            ) or HolderIdType(holder_id_type)
        except ValueError:
            raise BadRequestError(
                "holder id type must be uscc or resident_id (GB/T 36903: 001 or 111)",
                code="validation_failed",
                details=[{"field": "holder_id_type", "problem": "uscc | resident_id"}],
            ) from None
    return kind.value, validate_holder_id(kind, text)
