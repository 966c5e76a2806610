"""The hub (``CERTSVC_ROLE=hub``): 盟 deployments register, then deliver their licences' changes.

Each member gets a credential (``chm_<id>_<secret>``, only its SHA-256 is kept) and a set of
trust roots — given at registration, or pinned from its first delivery. A delivery is accepted
only when the file's seals are intact and chain to that member's roots, its embedded GB/T 36903
metadata names the licence delivered, and its number is the licence's next one; the file is
kept as delivered (original seals) beside the licence's current state. A delivery id seen
before is answered as before and changes nothing (docs/region.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.errors import (
    AuthenticationError,
    ConflictError,
    DocumentTooLargeError,
    InvalidDocumentError,
    NotFoundError,
    ValidationFailedError,
)
from certsvc.rendering import read_licence_metadata
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.hub_ofd import CheckedOfd, certificates_pem, check_delivered_ofd
from certsvc.services.region_payload import Delivery
from certsvc.services.verification import signature_reasons
from certsvc.storage.orm_connector import HubDelivery, HubLicence, HubLicenceFile, HubMember
from certsvc.storage.repositories_connector import HubRepository

__all__ = [
    "CREDENTIAL_PREFIX",
    "HubService",
    "MemberInfo",
    "NewMember",
    "ReceivedDelivery",
    "require_hub",
]

CREDENTIAL_PREFIX = "chm_"
_NAME = re.compile(r"^[\w\u4e00-\u9fff.-]{1,60}$")
_CREDENTIAL = re.compile(r"^chm_(\d{1,12})_([A-Za-z0-9_-]{20,100})$")


@dataclass(frozen=True, slots=True)
class NewMember:
    id: int
    name: str
    credential: str  # shown once
    has_trust_roots: bool


@dataclass(frozen=True, slots=True)
class MemberInfo:
    id: int
    name: str
    has_trust_roots: bool
    licences: int
    deliveries: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReceivedDelivery:
    delivery_id: str
    member: str
    identifier: str
    sequence: int
    is_duplicate: bool  # seen before: answered, nothing applied


def require_hub(ctx: ServiceContext) -> None:
    """Raises: NotFoundError (``not_a_hub``) unless this deployment plays the hub."""
    if ctx.settings.role != "hub":
        raise NotFoundError("this deployment is not a hub (CERTSVC_ROLE=hub)", code="not_a_hub")


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


class HubService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # --- members ---------------------------------------------------------------------------
    def add_member(self, name: str, *, trust_roots_pem: bytes | None = None) -> NewMember:
        """Register a 盟 deployment; its credential is returned once.

        Raises:
            NotFoundError: ``not_a_hub``.
            ValidationFailedError: a bad name.
            InvalidDocumentError: ``trust_roots_pem`` holds no certificate.
            ConflictError: ``member_exists``.
        """
        require_hub(self.ctx)
        if not _NAME.match(name):
            raise ValidationFailedError(
                "invalid member name",
                details=[{"field": "name", "problem": "1 to 60 letters, digits, '.', '-' or '_'"}],
            )
        roots = crypto.certificates_from_pem(trust_roots_pem) if trust_roots_pem is not None else []
        for der in roots:
            crypto.certificate_summary(der)  # refuses what is not a certificate
        now = self.ctx.clock.now()
        secret = secrets.token_urlsafe(32)
        with self.ctx.database.transaction() as session:
            repo = HubRepository(session)
            if repo.member_by_name(name) is not None:
                raise ConflictError(
                    f"a member named {name} is registered already", code="member_exists"
                )
            member = repo.add_member(
                HubMember(
                    name=name,
                    credential_sha256="",
                    trust_roots_pem=certificates_pem(roots),
                    created_at=now,
                    is_active=True,
                )
            )
            credential = f"{CREDENTIAL_PREFIX}{member.id}_{secret}"
            member.credential_sha256 = _digest(credential)
            append_audit_event(
                session,
                at=now,
                actor=None,
                action="hub.add_member",
                target=f"member:{name}",
                details={"trust_roots": len(roots)},
            )
        return NewMember(member.id, name, credential, bool(roots))

    def members(self) -> list[MemberInfo]:
        """Every registered member with what it delivered.

        Raises:
            NotFoundError: ``not_a_hub``.
        """
        require_hub(self.ctx)
        with self.ctx.database.read() as session:
            repo = HubRepository(session)
            counts = repo.member_counts()
            return [
                MemberInfo(
                    m.id, m.name, bool(m.trust_roots_pem), *counts.get(m.id, (0, 0)), m.created_at
                )
                for m in repo.members()
            ]

    def authenticate(self, credential: str | None) -> HubMember:
        """The member a credential belongs to.

        Raises:
            NotFoundError: ``not_a_hub``.
            AuthenticationError: no credential, or not a current member's.
        """
        require_hub(self.ctx)
        match = _CREDENTIAL.match(credential or "")
        if match is None:
            raise AuthenticationError(
                "a member credential (Authorization: Bearer chm_...) is required"
            )
        with self.ctx.database.read() as session:
            member = HubRepository(session).member(int(match.group(1)))
            if (
                member is None
                or not member.is_active
                or not hmac.compare_digest(member.credential_sha256, _digest(credential or ""))
            ):
                raise AuthenticationError("unknown member credential")
            session.expunge(member)
            return member

    # --- deliveries ------------------------------------------------------------------------
    def receive(self, credential: str | None, body: bytes) -> ReceivedDelivery:
        """Accept one delivery from a member (see the module docstring for the checks).

        Raises:
            NotFoundError: ``not_a_hub``.
            AuthenticationError: not a member's credential.
            DocumentTooLargeError: the body is larger than ``max_upload_bytes``.
            ValidationFailedError: a malformed delivery, or a file that is not the one described
                (``file_digest_mismatch``, ``metadata_mismatch``).
            InvalidDocumentError: ``seal_not_trusted`` (the member's roots do not vouch for the
                seals of the PDF or of the OFD delivered with it, ``services/hub_ofd.py``),
                ``no_trust_roots``, or a file that is not a PDF.
            ConflictError: ``out_of_order`` (not the licence's next change).
        """
        member = self.authenticate(credential)
        # Base64 and JSON around the PDF and, for an SM2-sealed version, its OFD.
        if len(body) > self.ctx.settings.max_upload_bytes * 3:
            raise DocumentTooLargeError(
                "the delivery is too large", details={"limit": self.ctx.settings.max_upload_bytes}
            )
        try:
            delivery = Delivery.model_validate_json(body)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                for e in exc.errors()[:20]
            ]
            raise ValidationFailedError("the delivery is not valid", details=problems) from exc
        licence = delivery.licence
        with self.ctx.database.read() as session:
            repo = HubRepository(session)
            seen = repo.delivery(member.id, delivery.delivery_id)
            if seen is not None:
                return ReceivedDelivery(
                    delivery.delivery_id, member.name, licence.identifier, seen.sequence, True
                )
            kept = repo.licence(member.id, licence.identifier_base)
            expected = kept.last_sequence + 1 if kept is not None else 1
        if delivery.sequence != expected:
            raise ConflictError(
                f"change {delivery.sequence} of {licence.identifier_base} arrived; the next one is {expected}",
                code="out_of_order",
                details={"expected_sequence": expected},
            )
        file = self._checked_file(delivery)
        roots, pin = self._roots_for(member, delivery)
        self._check_seals(file, roots)
        ofd = check_delivered_ofd(self.ctx, delivery, roots)
        now = self.ctx.clock.now()
        try:
            with self.ctx.database.transaction() as session:
                self._store(session, member.id, delivery, file, ofd, now)
                if pin:
                    stored = HubRepository(session).member(member.id)
                    assert stored is not None
                    if not stored.trust_roots_pem:  # first delivery wins, once
                        stored.trust_roots_pem = certificates_pem(roots)
                append_audit_event(
                    session,
                    at=now,
                    actor=None,
                    action="hub.receive",
                    target=licence.identifier,
                    details={
                        "member": member.name,
                        "delivery_id": delivery.delivery_id,
                        "sequence": delivery.sequence,
                        "event": delivery.event,
                        "sha256": delivery.file.sha256,
                        "ofd_sha256": delivery.ofd.sha256 if delivery.ofd is not None else None,
                    },
                )
        except IntegrityError:
            # The same delivery raced in twice (a retry overtaking a slow first attempt): one won.
            with self.ctx.database.read() as session:
                seen = HubRepository(session).delivery(member.id, delivery.delivery_id)
            if seen is None:
                raise ConflictError(
                    "another change of this licence arrived meanwhile", code="out_of_order"
                ) from None
            return ReceivedDelivery(
                delivery.delivery_id, member.name, licence.identifier, seen.sequence, True
            )
        return ReceivedDelivery(
            delivery.delivery_id, member.name, licence.identifier, delivery.sequence, False
        )

    def _checked_file(self, delivery: Delivery) -> bytes:
        try:
            file = base64.b64decode(delivery.file.content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationFailedError(
                "the file is not base64",
                details=[{"field": "file.content_base64", "problem": "base64"}],
            ) from exc
        if len(file) > self.ctx.settings.max_upload_bytes:
            raise DocumentTooLargeError(
                "the delivered file is too large",
                details={"limit": self.ctx.settings.max_upload_bytes},
            )
        if hashlib.sha256(file).hexdigest() != delivery.file.sha256:
            raise ValidationFailedError(
                "the file's SHA-256 is not the one stated", code="file_digest_mismatch"
            )
        embedded = read_licence_metadata(file) or {}
        # The metadata travels as the sealed file states it; anything else is not this file's.
        wrong = sorted(
            k
            for k in {*embedded, *delivery.metadata}
            if embedded.get(k) != delivery.metadata.get(k)
        )
        if (
            embedded.get("identifier") != delivery.licence.identifier
            or embedded.get("issuer_code") != delivery.licence.department_code
        ):
            wrong.append("licence")
        if wrong:
            raise ValidationFailedError(
                "the file's own GB/T 36903 metadata does not name the licence delivered",
                code="metadata_mismatch",
                details=[
                    {"field": f"metadata.{k}", "problem": "differs from the sealed file"}
                    for k in wrong
                ],
            )
        return file

    def _roots_for(self, member: HubMember, delivery: Delivery) -> tuple[list[bytes], bool]:
        """The roots that decide, and whether they are to be pinned now (the first delivery)."""
        if member.trust_roots_pem:
            return crypto.certificates_from_pem(member.trust_roots_pem.encode()), False
        try:
            roots = [base64.b64decode(r, validate=True) for r in delivery.trust_roots]
            for der in roots:
                crypto.certificate_summary(der)
        except (binascii.Error, ValueError, InvalidDocumentError) as exc:
            raise ValidationFailedError(
                "a delivered trust root is not a certificate", code="bad_trust_root"
            ) from exc
        if not roots:
            raise InvalidDocumentError(
                "this member has no trust roots yet: register it with --roots or send them with the delivery",
                code="no_trust_roots",
            )
        return roots, True

    def _check_seals(self, file: bytes, roots: list[bytes]) -> None:
        if b"%PDF-" not in file[:1024]:
            raise InvalidDocumentError("the delivered file is not a PDF")
        result = crypto.validate_pdf(
            file, trust_roots_der=roots, validation_time=self.ctx.clock.now()
        )
        problems = [
            r
            for r in signature_reasons(result)
            if r.code not in ("signature_valid", "proven_by_archival_timestamp")
        ]
        if problems:
            raise InvalidDocumentError(
                "the file's seals do not verify against this member's trust roots: "
                + "; ".join(r.message_en for r in problems)[:400],
                code="seal_not_trusted",
                details=[{"code": r.code, "problem": r.message_en} for r in problems],
            )

    def _store(
        self,
        session: Session,
        member_id: int,
        delivery: Delivery,
        file: bytes,
        ofd: CheckedOfd | None,
        now: datetime,
    ) -> None:
        repo = HubRepository(session)
        sha = self.ctx.blobs.put(file)
        ofd_sha = self.ctx.blobs.put(ofd.data) if ofd is not None else None
        metadata = read_licence_metadata(file) or {}
        licence = delivery.licence
        kept = repo.licence(member_id, licence.identifier_base)
        if kept is None:
            kept = HubLicence(member_id=member_id, identifier_base=licence.identifier_base)
        elif kept.last_sequence + 1 != delivery.sequence:
            raise ConflictError(
                "another change of this licence arrived meanwhile", code="out_of_order"
            )
        kept.identifier = licence.identifier
        kept.version = licence.version
        kept.status = licence.status
        kept.type_code = licence.type_code
        kept.holder_code = metadata.get("holder_code", "")[:18]
        kept.issuer_code = licence.department_code
        kept.issuer_name = metadata.get("issuer_name") or licence.department_name
        kept.valid_from = _date(metadata.get("valid_from"), licence.valid_from)
        kept.valid_until = _date(metadata.get("valid_until"), licence.valid_until)
        kept.metadata_json = metadata
        kept.file_sha256 = sha
        kept.last_sequence = delivery.sequence
        kept.updated_at = now
        repo.add(kept)
        stored = repo.file(kept.id, licence.version)
        if stored is None:
            repo.add(
                HubLicenceFile(
                    licence_id=kept.id,
                    version=licence.version,
                    identifier=licence.identifier,
                    sha256=sha,
                    received_at=now,
                    ofd_sha256=ofd_sha,
                    ofd_chain_pem=ofd.chain_pem if ofd is not None else None,
                )
            )
        elif stored.ofd_sha256 is None and ofd is not None:
            # A version first delivered without its OFD (before the member sent OFDs) gains it.
            stored.ofd_sha256, stored.ofd_chain_pem = ofd_sha, ofd.chain_pem
        repo.add(
            HubDelivery(
                member_id=member_id,
                delivery_id=delivery.delivery_id,
                licence_id=kept.id,
                sequence=delivery.sequence,
                event=delivery.event,
                status_after=licence.status,
                version=licence.version,
                received_at=now,
            )
        )


def _date(text: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback
