"""Licence records from the registry: the one mapping from stored rows to ``LicenceRecord``."""

from __future__ import annotations

from certsvc.domain.identifiers import HolderIdType
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.rendering.templates import TemplateRegistry
from certsvc.services.bilingual import licence_name_mn
from certsvc.storage.orm import Certificate, Department

__all__ = ["issuer_of", "licence_record_of"]


def issuer_of(department: Department) -> Issuer:
    """The issuing department as a record needs it (its Mongolian name only when it prints one)."""
    return Issuer(
        name=department.name,
        code=department.code,
        area_code=department.area_code,
        name_mn=licence_name_mn(is_bilingual=department.is_bilingual, name_mn=department.name_mn),
    )


def licence_record_of(cert: Certificate, templates: TemplateRegistry) -> LicenceRecord:
    """The record of a licence as the registry holds it now (its current version's data).

    Call inside the session that loaded ``cert`` (its department is read through it).

    Raises:
        UnknownTemplateError: the licence's template is no longer installed.
    """
    return LicenceRecord(
        kind=templates.get(cert.template).kind,
        holder_name=cert.holder_name,
        holder_id_type=HolderIdType(cert.holder_id_type),
        holder_id=cert.holder_id,
        valid_from=cert.valid_from,
        valid_until=cert.valid_until,
        issuer=issuer_of(cert.department),
        fields=dict(cert.data),
    )
