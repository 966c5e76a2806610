"""QR codes on licences: the signed compact payload, and verifying a scan online or offline.

The QR text is ``{PUBLIC_URL upper-cased}/V/{identifier}/{payload}`` (docs/qr.md). Scheme and
host are case-insensitive (RFC 3986 §3.1, §3.2.2), so upper-casing them keeps the whole text in
QR alphanumeric mode; a public URL with a lower-case path keeps its path and the encoder falls
back to byte mode.

The payload's digest is over the licence's canonical data record, not over a file: the QR is
drawn inside the rendered page, so no file that contains the QR can be hashed into it (see
docs/qr.md). The record is the same for every re-signing of a version and does not depend on
the renderer.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import mask_holder_id, mask_holder_name
from certsvc.domain.licence import LicenceRecord
from certsvc.domain.reports import Reason, RegistryView, SignatureDetail, VerificationReport, reason
from certsvc.domain.status import LicenceStatus, effective_status
from certsvc.errors import DocumentTooLargeError, InvalidDocumentError, InvalidQrPayloadError
from certsvc.metrics import VERIFICATIONS
from certsvc.services.context import ServiceContext
from certsvc.services.licences import licence_record_of
from certsvc.services.trust import TrustKey, TrustList, TrustService
from certsvc.storage.repositories import CertificateRepository

__all__ = [
    "QrService",
    "QrVerification",
    "build_qr_text",
    "decode_qr_image",
    "licence_record_digest",
    "parse_qr_text",
    "signed_qr_text",
    "verify_qr_offline",
]

_MAX_TEXT = 4296  # the most a QR code can hold (version 40-L, alphanumeric)
_QR_ALGORITHMS = (crypto.KeyAlgorithm.ECDSA_P256.value, crypto.KeyAlgorithm.SM2.value)
_STATUS_REASON = {
    LicenceStatus.SUSPENDED: "licence_suspended",
    LicenceStatus.REVOKED: "licence_revoked",
    LicenceStatus.CANCELLED: "licence_cancelled",
    LicenceStatus.EXPIRED: "licence_expired",
}


@dataclass(frozen=True, slots=True)
class QrVerification:
    """The report (the shape of ``POST /api/v1/verify``) and what the payload said, if readable."""

    report: VerificationReport
    claims: crypto.QrClaims | None
    kid: str | None
    key: TrustKey | None
    licence_name: str | None

    @property
    def is_authentic(self) -> bool:
        """The payload's signature verified under a trusted, unrevoked key."""
        return any(r.code == "qr_signature_valid" for r in self.report.reasons)


def licence_record_digest(algorithm: str, record: LicenceRecord, identifier: str) -> bytes:
    """SHA-256 (SM3 for SM2 keys) of the record's canonical JSON for the version ``identifier``."""
    return crypto.licence_digest(crypto.KeyAlgorithm(algorithm), record.canonical_json(identifier))


def signed_qr_text(
    public_url: str,
    record: LicenceRecord,
    *,
    identifier: str,
    issued_on: date,
    key: crypto.SigningKey,
) -> str:
    """The text a licence's QR code encodes: verification URL + a payload signed with ``key``.

    Raises:
        SigningError, KeyUnavailableError: the key could not sign.
    """
    if key.algorithm.value not in _QR_ALGORITHMS:
        # RSA seals would need a 384-byte signature, too large for a 25 mm code: URL only.
        return build_qr_text(public_url, identifier, "").removesuffix("/")
    claims = crypto.QrClaims(
        identifier=identifier,
        issued_on=issued_on,
        valid_from=record.valid_from,
        valid_until=record.valid_until,
        data_digest=licence_record_digest(key.algorithm.value, record, identifier),
        holder_name_masked=mask_holder_name(record.holder_name),
        holder_id_masked=mask_holder_id(record.holder_id),
    )
    return build_qr_text(public_url, identifier, crypto.sign_qr_payload(claims, key))


def build_qr_text(public_url: str, identifier: str, payload: str) -> str:
    parts = urlsplit(public_url.rstrip("/"))
    # Only scheme and host are upper-cased: a path is case-sensitive and is kept as configured.
    return f"{parts.scheme.upper()}://{parts.netloc.upper()}{parts.path}/V/{identifier}/{payload}"


def parse_qr_text(text: str) -> tuple[str, str]:
    """(identifier, payload) from scanned text: a full URL or just ``V/{id}/{payload}``.

    Raises:
        InvalidQrPayloadError: not of that shape.
    """
    text = text.strip()
    if len(text) > _MAX_TEXT:
        raise InvalidQrPayloadError("the scanned text is too long")
    segments = text.split("#")[0].split("?")[0].rstrip("/").split("/")
    if len(segments) < 3 or segments[-3].upper() != "V" or not segments[-2] or not segments[-1]:
        raise InvalidQrPayloadError(
            "the text is not a licence verification code (…/V/<identifier>/<payload>)"
        )
    return segments[-2].upper(), segments[-1]


def decode_qr_image(data: bytes, *, max_bytes: int) -> str:
    """The text of the certsvc QR code in a PNG or JPEG image (a scan or a phone photo).

    Raises:
        DocumentTooLargeError: larger than ``max_bytes``.
        InvalidDocumentError: not a PNG/JPEG, or no QR code could be read in it.
    """
    # zxing-cpp is the one decoder; imported here so the rest of certsvc loads without it.
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"the image is larger than {max_bytes} bytes", details={"limit": max_bytes}
        )
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        raise InvalidDocumentError("send a PNG or JPEG image of the QR code")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # Security: Pillow refuses decompression bombs (MAX_IMAGE_PIXELS) before decoding.
            image = opened.convert("L")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidDocumentError("the image cannot be read") from exc
    # QR only: searching every symbology costs more time per image. (The stub wants the set type;
    # the binding takes a single format too.)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)  # type: ignore[arg-type]
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise InvalidDocumentError("no QR code could be read in the image", code="no_qr_code")
    # A photo may show other codes too: prefer the one shaped like a verification code.
    return next((t for t in texts if "/V/" in t.upper()), texts[0])


def _evaluate(
    text: str, trust: TrustList
) -> tuple[crypto.QrClaims | None, TrustKey | None, list[Reason], list[SignatureDetail]]:
    """Parse and check the signature; no status yet."""
    try:
        identifier, payload_text = parse_qr_text(text)
        payload = crypto.decode_qr_payload(identifier, payload_text)
    except InvalidQrPayloadError as exc:
        return None, None, [reason("qr_malformed", detail=exc.message)], []
    kid = payload.kid.hex()
    key = trust.key(kid)
    if key is None:
        return payload.claims, None, [reason("qr_unknown_key", detail=kid)], []
    is_intact = trust.verifying_key(key).verify(payload.signature, payload.signed_message)
    problem = None
    reasons: list[Reason] = []
    if not is_intact:
        reasons.append(reason("qr_signature_invalid"))
    elif key.is_revoked:
        problem = f"key {kid} is {key.status}"
        reasons.append(reason("qr_key_revoked", detail=kid))
    elif not key.valid_from.date() <= payload.claims.issued_on <= key.valid_until.date():
        problem = "issued outside the key's validity"
        reasons.append(reason("qr_key_not_valid", detail=kid))
    else:
        reasons.append(reason("qr_signature_valid"))
    detail = SignatureDetail(
        field_name="qr",
        signer=key.department_name,
        signer_organization=key.department_code,
        algorithm=key.algorithm,
        signed_at=None,  # the payload carries the issue date only (2 bytes), not a time
        is_intact=is_intact,
        is_trusted=is_intact and problem is None,
        trust_problem=problem,
        covers_whole_file=True,
        modification_level="none",
        changes=None,
    )
    return payload.claims, key, reasons, [detail]


def verify_qr_offline(
    text: str, trust: TrustList, *, today: date, checked_at: Any = None
) -> QrVerification:
    """Verify scanned text against a trust list only: signature, key, validity, the list's statuses.

    Never raises for a bad code; the outcome is in the report.
    """
    claims, key, reasons, details = _evaluate(text, trust)
    if claims is not None and key is not None and reasons[0].code == "qr_signature_valid":
        listed = trust.licence_status.get(claims.identifier)
        if listed is not None and LicenceStatus(listed) in _STATUS_REASON:
            reasons.append(reason(_STATUS_REASON[LicenceStatus(listed)]))
        elif today > claims.valid_until:
            reasons.append(reason("licence_expired"))
        else:
            reasons.append(reason("licence_status_offline", detail=trust.issued_at.isoformat()))
    return _result(
        text,
        claims,
        key,
        reasons,
        details,
        trust,
        checked_at=checked_at or trust.issued_at,
        registry=None,
    )


def _result(
    text: str,
    claims: crypto.QrClaims | None,
    key: TrustKey | None,
    reasons: list[Reason],
    details: list[SignatureDetail],
    trust: TrustList,
    *,
    checked_at: Any,
    registry: RegistryView | None,
) -> QrVerification:
    licence_name = None
    if claims is not None:
        type_code = claims.identifier.split(".")[5] if claims.identifier.count(".") >= 5 else ""
        licence_name = trust.licence_types.get(type_code)
    report = VerificationReport(
        verdict=VerificationReport.combine(reasons),
        reasons=tuple(reasons),
        signatures=tuple(details),
        registry=registry,
        checked_at=checked_at,
        file_sha256=hashlib.sha256(text.strip().encode("utf-8")).hexdigest(),  # of the scanned text
    )
    return QrVerification(
        report=report,
        claims=claims,
        kid=key.kid if key else None,
        key=key,
        licence_name=licence_name,
    )


class QrService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def verify_text(self, text: str) -> QrVerification:
        """Verify scanned text online: the payload against the registry's keys, then the registry.

        Raises:
            Nothing for a bad code (that is a report); StorageError-family errors if the
            registry cannot be read.
        """
        trust = TrustService(self.ctx).current()
        now = self.ctx.clock.now()
        claims, key, reasons, details = _evaluate(text, trust)
        registry = None
        if claims is not None and key is not None and reasons[0].code == "qr_signature_valid":
            registry, more = self._registry_reasons(claims, key)
            reasons += more
        result = _result(
            text, claims, key, reasons, details, trust, checked_at=now, registry=registry
        )
        VERIFICATIONS.labels(kind="qr", verdict=result.report.verdict.value).inc()
        return result

    def verify_image(self, data: bytes) -> QrVerification:
        """Decode the QR code in a PNG/JPEG image and verify it as ``verify_text`` does.

        Raises:
            DocumentTooLargeError, InvalidDocumentError: as for ``decode_qr_image``.
        """
        return self.verify_text(decode_qr_image(data, max_bytes=self.ctx.settings.max_upload_bytes))

    def _registry_reasons(
        self, claims: crypto.QrClaims, key: TrustKey
    ) -> tuple[RegistryView | None, list[Reason]]:
        today = self.ctx.clock.now().date()
        with self.ctx.database.read() as session:
            cert = CertificateRepository(session).by_identifier(claims.identifier)
            if cert is None:
                return None, [reason("not_in_registry")]
            reasons: list[Reason] = []
            status = effective_status(
                LicenceStatus(cert.status),
                valid_from=cert.valid_from,
                valid_until=cert.valid_until,
                today=today,
            )
            named = [v for v in cert.versions if v.identifier == claims.identifier]
            version = max(named, key=lambda v: v.version) if named else cert.versions[-1]
            is_current = cert.identifier == claims.identifier
            matches = True
            if is_current:
                # Only the current version's data is kept; an older version's QR is superseded anyway.
                expected = licence_record_digest(
                    key.algorithm, licence_record_of(cert, self.ctx.templates), cert.identifier
                )
                matches = (
                    expected == claims.data_digest and cert.department.code == key.department_code
                )
                if not matches:
                    reasons.append(reason("qr_data_mismatch"))
            else:
                reasons.append(
                    reason(
                        "licence_superseded",
                        detail=f"superseded by version {cert.current_version}: {cert.identifier}",
                    )
                )
            if status is LicenceStatus.VALID:
                reasons.append(reason("licence_valid"))
            elif status in _STATUS_REASON:
                reasons.append(reason(_STATUS_REASON[status]))
            view = RegistryView(
                identifier=claims.identifier,
                template=cert.template,
                department_code=cert.department.code,
                department_name=cert.department.name,
                status=status.value,
                status_at_signing=LicenceStatus.VALID.value,
                valid_from=cert.valid_from,
                valid_until=cert.valid_until,
                version=version.version,
                current_version=cert.current_version,
                current_identifier=cert.identifier,
                # For a QR code: the payload matches the registry's record of this licence.
                is_issued_file=is_current and matches,
            )
            return view, reasons
