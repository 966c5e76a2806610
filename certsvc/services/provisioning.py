"""Departments, their seals and API clients. The development PKI is ``services.dev_pki``,
``certsvc init`` is ``services.embedded_init``."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import is_valid_uscc
from certsvc.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    ValidationFailedError,
)
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import (
    RingLayout,
    SealText,
    default_bilingual,
    draw_seal_image,
    mongolian_name,
)
from certsvc.services.context import ServiceContext
from certsvc.services.dev_pki import dev_ca, new_stored_key
from certsvc.services.principals import Principal
from certsvc.storage.orm import Department, Seal
from certsvc.storage.repositories import DepartmentRepository, SealRepository
from certsvc.storage.repositories_rules import SealChoiceRepository

__all__ = [
    "TokenKeyName",
    "add_department",
    "add_seal",
    "department_by_code",
    "seal_text",
]

_SEAL_DIAMETER_MM = 42  # the common size of a round official seal (公章)


@dataclass(frozen=True)
class TokenKeyName:
    """Where a seal key is generated in a PKCS#11 token: the token's label and the key's."""

    token_label: str
    key_label: str


def add_department(
    session: Session,
    *,
    code: str,
    name: str,
    area_code: str,
    actor: Principal | None,
    now: datetime,
    name_mn: str | None = None,
    is_bilingual: bool | None = None,
) -> Department:
    """Register a department; ``is_bilingual`` ``None`` means "as its area code says".

    Raises:
        ValidationFailedError: bad 统一社会信用代码, name, Mongolian name or area code (all listed).
        ConflictError: a department with this code exists.
    """
    problems = []
    mongolian, mongolian_problems = mongolian_name("name_mn", name_mn)
    problems.extend(mongolian_problems)
    code = code.strip().upper()
    if not is_valid_uscc(code):
        problems.append({"field": "code", "problem": "not a valid 统一社会信用代码"})
    if not name.strip() or len(name) > 100:
        problems.append({"field": "name", "problem": "1 to 100 characters"})
    if not (len(area_code) == 6 and area_code.isdigit()):
        problems.append({"field": "area_code", "problem": "a 6-digit GB/T 2260 code"})
    if problems:
        raise ValidationFailedError("invalid department", details=problems)
    repo = DepartmentRepository(session)
    if repo.by_code(code) is not None:
        raise ConflictError(f"department {code} exists", code="department_exists")
    bilingual = default_bilingual(area_code) if is_bilingual is None else is_bilingual
    department = repo.add(
        Department(
            code=code,
            name=name.strip(),
            area_code=area_code,
            name_mn=mongolian,
            is_bilingual=bilingual,
        )
    )
    append_audit_event(
        session, at=now, actor=actor, action="department.add", target=f"department:{code}"
    )
    return department


def add_seal(
    ctx: ServiceContext,
    session: Session,
    *,
    department: Department,
    name: str,
    algorithm: crypto.KeyAlgorithm,
    actor: Principal | None,
    validity_days: int = 1825,
    name_mn: str | None = None,
    ring_layout: RingLayout = RingLayout.RINGS,
    purpose: str | None = None,
    token_key: TokenKeyName | None = None,
) -> Seal:
    """Make a seal for a department: key, certificate from the development CA, drawn image.

    The key is an encrypted key file, or with ``token_key`` a key generated inside that PKCS#11
    token (never extractable), whose public key the certificate is issued for.

    ``name_mn`` must be normalised and checked already (``bilingual.mongolian_name``).
    The purpose defaults to the seal's name. The department's first seal becomes its default
    seal; later seals never take that role by themselves.

    Raises:
        ValidationFailedError: seal text the seal font cannot draw, or names too long for the
            seal (before any key is made).
        BadRequestError: in production, which has no development CA.
        KeyUnavailableError: ``certsvc init`` has not made the development CA, or the token
            cannot be reached.
    """
    if token_key is not None and algorithm is crypto.KeyAlgorithm.SM2:
        raise BadRequestError(
            "SM2 seal keys are kept in key files: PKCS#11 has no standard SM2 mechanism (docs/keys.md)",
            code="unsupported_key_store",
        )
    # Drawn first: a name the seal cannot show is refused before any key is made.
    image = draw_seal_image(
        seal_text(department, name, name_mn, ring_layout), diameter_mm=_SEAL_DIAMETER_MM
    )
    ca = dev_ca(ctx, algorithm)
    now = ctx.clock.now()
    key: crypto.PublicKeyHolder
    if token_key is None:
        key_ref = f"seal-{department.code.lower()}-{secrets.token_hex(4)}"
        key = new_stored_key(ctx, key_ref, algorithm)
    else:
        key_ref = crypto.token_key_ref(token_key.token_label, token_key.key_label)
        key = ctx.token_keys().generate(key_ref, algorithm)
    not_after = now + timedelta(days=validity_days)
    cert_der = crypto.make_seal_certificate(
        key=key,
        issuer_key=ca.ca_key,
        issuer_certificate_der=ca.ca_der,
        department_name=department.name,
        credit_code=department.code,
        not_before=now - timedelta(minutes=5),
        not_after=not_after,
        # Where relying parties learn of a revocation (services/revocation.py).
        crl_url=f"{ctx.settings.public_url}/pki/{ca.family}/crl",
        ocsp_url=f"{ctx.settings.public_url}/pki/{ca.family}/ocsp",
    )
    image_sha = ctx.blobs.put(image)
    ses_seal = None
    if algorithm is crypto.KeyAlgorithm.SM2:
        # GB/T 38540 电子印章数据, signed by the seal-making authority (the development CA here).
        ses_seal = crypto.make_department_seal_data(
            es_id=f"{department.code}{secrets.token_hex(4).upper()}",
            seal_name=name,
            seal_certificate_der=cert_der,
            maker_key=ca.ca_key,
            maker_certificate_der=ca.ca_der,
            picture_png=image,
            diameter_mm=_SEAL_DIAMETER_MM,
            valid_start=now - timedelta(minutes=5),
            valid_end=not_after,
            created_at=now,
        )
    seal = SealRepository(session).add(
        Seal(
            department_id=department.id,
            name=name,
            name_mn=name_mn,
            ring_layout=ring_layout.value,
            purpose=purpose or name,
            is_default=SealChoiceRepository(session).default_of(department.id) is None,
            algorithm=algorithm.value,
            key_ref=key_ref,
            certificate_der=cert_der,
            chain_der=[
                base64.b64encode(ca.ca_der).decode(),
                base64.b64encode(ca.root_der).decode(),
            ],
            image_sha256=image_sha,
            ses_seal_der=ses_seal,
            valid_from=now - timedelta(minutes=5),
            valid_until=not_after,
        )
    )
    append_audit_event(
        session,
        at=now,
        actor=actor,
        action="seal.add",
        target=f"department:{department.code}",
        details={
            "seal_id": seal.id,
            "algorithm": algorithm.value,
            "name": name,
            "purpose": seal.purpose,
            "is_default": seal.is_default,
            "key_store": "pkcs11" if token_key else "file",
            "certificate_sha256": crypto.sha256(cert_der),
        },
    )
    return seal


def seal_text(
    department: Department, seal_name: str, seal_name_mn: str | None, layout: RingLayout
) -> SealText:
    """What a department's round seal says, in one or both scripts."""
    return SealText(
        department_name=department.name,
        seal_name=seal_name,
        department_name_mn=department.name_mn,
        seal_name_mn=seal_name_mn,
        layout=layout,
        is_bilingual=department.is_bilingual,
    )


def department_by_code(session: Session, code: str) -> Department:
    department = DepartmentRepository(session).by_code(code)
    if department is None:
        raise NotFoundError(f"no department {code}")
    return department
