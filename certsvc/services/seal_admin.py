"""Seals, by operators: make one from the development CA or import one, list, retire, choose the
default, replace the image. What a seal *is* (key, certificate, drawn image) is ``provisioning``'s."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import ConflictError, NotFoundError, ValidationFailedError
from certsvc.rendering.seals import validate_seal_png
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import RingLayout, draw_seal_image, mongolian_name
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import (
    TokenKeyName,
    add_seal,
    department_by_code,
    dev_ca,
    seal_text,
)
from certsvc.storage.orm import Seal
from certsvc.storage.repositories import SealRepository
from certsvc.storage.repositories_lifecycle import SealAdminRepository
from certsvc.storage.repositories_rules import SealChoiceRepository

__all__ = ["SealAdminService", "SealInfo", "seal_info"]

_SEAL_DIAMETER_MM = 42


@dataclass(frozen=True, slots=True)
class SealInfo:
    id: int
    department_code: str
    name: str
    purpose: str
    is_default: bool
    algorithm: str
    status: str
    valid_from: datetime
    valid_until: datetime
    certificate_sha256: str
    name_mn: str | None = None
    ring_layout: str = RingLayout.RINGS.value
    key_store: str = "file"  # file | pkcs11


def seal_info(seal: Seal) -> SealInfo:
    return SealInfo(
        seal.id,
        seal.department.code,
        seal.name,
        seal.purpose,
        seal.is_default,
        seal.algorithm,
        seal.status,
        seal.valid_from,
        seal.valid_until,
        crypto.sha256(seal.certificate_der),
        seal.name_mn,
        seal.ring_layout,
        "pkcs11" if crypto.is_token_key_ref(seal.key_ref) else "file",
    )


class SealAdminService:
    """Every method needs the operator role; each change is audited."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def add_seal(
        self,
        department_code: str,
        *,
        name: str,
        algorithm: str,
        validity_days: int,
        principal: Principal,
        name_mn: str | None = None,
        ring_layout: str = RingLayout.RINGS.value,
        purpose: str | None = None,
        token_key: TokenKeyName | None = None,
    ) -> SealInfo:
        """Make a seal from the development CA: a new key, its certificate, the drawn image
        (bilingual for a bilingual department with its Mongolian name).

        With ``token_key`` the key is generated inside that PKCS#11 token (never extractable).

        ``purpose`` (公章, 行政许可专用章 ...) defaults to the name. The department's first seal
        becomes its default seal; any later one signs only once made default or chosen by a
        template's purpose.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            ValidationFailedError: unknown algorithm, empty name, bad Mongolian name, unknown
                ring layout or a bad validity (all listed).
            ValidationFailedError: (seal_text_not_drawable) the names do not fit on the seal.
            BadRequestError: (unsupported_key_store) an SM2 key in a token.
            KeyUnavailableError: the token cannot be reached, or holds a key with that label.
        """
        require_role(principal, Role.OPERATOR)
        key_algorithm = _algorithm(algorithm)
        _check_seal_name(name)
        mongolian, layout, problems = _seal_mongolian(name_mn, ring_layout)
        _check_seal_name(purpose or name, field="purpose")
        if not 1 <= validity_days <= 3650:
            problems.append({"field": "validity_days", "problem": "1 to 3650"})
        if problems:
            raise ValidationFailedError("invalid seal", details=problems)
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, department_code)
            seal = add_seal(
                self.ctx,
                session,
                department=department,
                name=name.strip(),
                algorithm=key_algorithm,
                actor=principal,
                validity_days=validity_days,
                name_mn=mongolian,
                ring_layout=layout,
                purpose=(purpose or name).strip(),
                token_key=token_key,
            )
            return seal_info(seal)

    def import_seal(
        self,
        department_code: str,
        *,
        name: str,
        key_pem: bytes,
        certificate_pem: bytes,
        key_passphrase: bytes | None,
        principal: Principal,
        name_mn: str | None = None,
        ring_layout: str = RingLayout.RINGS.value,
        purpose: str | None = None,
    ) -> SealInfo:
        """Import a key and its certificate (with its chain, seal CA first) made elsewhere.

        Purpose and default as for ``add_seal``.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            KeyUnavailableError: the key cannot be read with ``key_passphrase``.
            InvalidDocumentError: the certificate PEM has no certificate.
            ValidationFailedError: the key does not belong to the certificate, or the
                certificate is not valid now.
        """
        require_role(principal, Role.OPERATOR)
        _check_seal_name(name)
        _check_seal_name(purpose or name, field="purpose")
        mongolian, layout, problems = _seal_mongolian(name_mn, ring_layout)
        if problems:
            raise ValidationFailedError("invalid seal", details=problems)
        ders = crypto.certificates_from_pem(certificate_pem)
        stored_pem = crypto.reencrypt_private_key_pem(
            key_pem, source_passphrase=key_passphrase, target_passphrase=self.ctx.passphrase(), kdf=self.ctx.key_file_kdf
        )
        with crypto.SealKey.from_pem(stored_pem, self.ctx.passphrase()) as key:
            if key.public_key_spki_der() != crypto.certificate_spki_der(ders[0]):
                raise ValidationFailedError(
                    "the key does not belong to the certificate",
                    details=[{"field": "key", "problem": "public key differs from the certificate's"}],
                )
            algorithm = key.algorithm
        summary = crypto.certificate_summary(ders[0])
        now = self.ctx.clock.now()
        if not summary.not_before <= now < summary.not_after:
            raise ValidationFailedError(
                "the certificate is not valid now", details=[{"field": "certificate", "problem": "outside its validity"}]
            )
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, department_code)
            key_ref = f"seal-{department.code.lower()}-{secrets.token_hex(4)}"
            self.ctx.keys.put(key_ref, stored_pem)
            image = draw_seal_image(
                seal_text(department, name.strip(), mongolian, layout), diameter_mm=_SEAL_DIAMETER_MM
            )
            seal = SealRepository(session).add(
                Seal(
                    department_id=department.id,
                    name=name.strip(),
                    name_mn=mongolian,
                    ring_layout=layout.value,
                    purpose=(purpose or name).strip(),
                    is_default=SealChoiceRepository(session).default_of(department.id) is None,
                    algorithm=algorithm.value,
                    key_ref=key_ref,
                    certificate_der=ders[0],
                    chain_der=[base64.b64encode(d).decode() for d in ders[1:]],
                    image_sha256=self.ctx.blobs.put(image),
                    ses_seal_der=None,  # a GB/T 38540 seal needs the 制章者's signature: not for imports
                    valid_from=summary.not_before,
                    valid_until=summary.not_after,
                )
            )
            append_audit_event(
                session,
                at=now,
                actor=principal,
                action="seal.import",
                target=f"department:{department.code}",
                details={"seal_id": seal.id, "algorithm": algorithm.value, "certificate_sha256": summary.sha256_fingerprint},
            )
            return seal_info(seal)

    def list_seals(self, department_code: str, *, principal: Principal, page: PageRequest) -> Page[SealInfo]:
        """Raises: PermissionDeniedError: not an operator. NotFoundError: unknown department."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department = department_by_code(session, department_code)
            return SealRepository(session).page_for_department(department.id, page).map(seal_info)

    def retire_seal(self, seal_id: int, *, principal: Principal) -> SealInfo:
        """Stop using a seal for new versions; files it sealed stay valid.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
            ConflictError: already retired.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            seal = _seal_by_id(session, seal_id)
            if seal.status == "retired":
                raise ConflictError(f"seal {seal_id} is already retired", code="seal_retired")
            seal.status = "retired"
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="seal.retire",
                target=f"department:{seal.department.code}",
                details={"seal_id": seal.id},
            )
            return seal_info(seal)

    def set_default_seal(self, seal_id: int, *, principal: Principal) -> SealInfo:
        """Make a seal its department's default: the seal that signs templates naming no purpose.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
            ConflictError: ``seal_retired``, or ``seal_not_valid`` (outside its validity now).
        """
        require_role(principal, Role.OPERATOR)
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            seal = _seal_by_id(session, seal_id)
            if seal.status == "retired":
                raise ConflictError(f"seal {seal_id} is retired", code="seal_retired")
            if not seal.valid_from <= now < seal.valid_until:
                raise ConflictError(f"seal {seal_id} is outside its validity", code="seal_not_valid")
            previous = SealChoiceRepository(session).default_of(seal.department_id)
            SealChoiceRepository(session).make_default(seal)
            append_audit_event(
                session,
                at=now,
                actor=principal,
                action="seal.default",
                target=f"department:{seal.department.code}",
                details={"seal_id": seal.id, "previous_seal_id": previous.id if previous is not None else None},
            )
            return seal_info(seal)

    def set_seal_image(self, seal_id: int, png: bytes, *, principal: Principal) -> SealInfo:
        """Replace a seal's drawn image with an uploaded PNG (transparent background).

        New versions sealed with it show the uploaded image; files already sealed keep theirs.
        An SM2 seal's GB/T 38540 seal data carries the picture, so it is made again (signed by
        the seal-making CA) with the new one.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
            ConflictError: the seal is retired.
            ValidationFailedError: not a usable seal PNG (every problem listed).
        """
        require_role(principal, Role.OPERATOR)
        info = validate_seal_png(png)
        with self.ctx.database.transaction() as session:
            seal = _seal_by_id(session, seal_id)
            if seal.status == "retired":
                raise ConflictError(f"seal {seal_id} is retired", code="seal_retired")
            seal.image_sha256 = self.ctx.blobs.put(png)
            if seal.ses_seal_der is not None:
                ca = dev_ca(self.ctx, crypto.KeyAlgorithm.SM2)
                now = self.ctx.clock.now()
                seal.ses_seal_der = crypto.make_department_seal_data(
                    es_id=f"{seal.department.code}{secrets.token_hex(4).upper()}",
                    seal_name=seal.name,
                    seal_certificate_der=seal.certificate_der,
                    maker_key=ca.ca_key,
                    maker_certificate_der=ca.ca_der,
                    picture_png=png,
                    diameter_mm=_SEAL_DIAMETER_MM,
                    valid_start=max(seal.valid_from, now),
                    valid_end=seal.valid_until,
                    created_at=now,
                )
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="seal.image",
                target=f"department:{seal.department.code}",
                details={"seal_id": seal.id, "sha256": seal.image_sha256, "width_px": info.width_px},
            )
            result = seal_info(seal)
        self.ctx.forget_seal(seal_id)  # the cached signer still holds the old image
        return result


def _seal_by_id(session: Session, seal_id: int) -> Seal:
    seal = SealAdminRepository(session).by_id(seal_id)
    if seal is None:
        raise NotFoundError(f"no seal {seal_id}")
    return seal


def _algorithm(value: str) -> crypto.KeyAlgorithm:
    try:
        return crypto.KeyAlgorithm(value)
    except ValueError as exc:
        raise ValidationFailedError(
            "unknown algorithm",
            details=[{"field": "algorithm", "problem": " | ".join(a.value for a in crypto.KeyAlgorithm)}],
        ) from exc


def _seal_mongolian(name_mn: str | None, ring_layout: str) -> tuple[str | None, RingLayout, list[dict[str, str]]]:
    mongolian, problems = mongolian_name("name_mn", name_mn)
    try:
        layout = RingLayout(ring_layout)
    except ValueError:
        layout = RingLayout.RINGS
        problems.append({"field": "ring_layout", "problem": " | ".join(v.value for v in RingLayout)})
    return mongolian, layout, problems


def _check_seal_name(name: str, *, field: str = "name") -> None:
    if not name.strip() or len(name) > 100:
        raise ValidationFailedError(f"invalid seal {field}", details=[{"field": field, "problem": "1 to 100 characters"}])
