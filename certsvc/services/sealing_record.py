"""The sealing record: what the reference validator said about a file the registry sealed.

The first time a file that is byte for byte a version the registry sealed (its SHA-256 is the
one the producer recorded) is verified, the full validator (``crypto.validate_pdf``, and
``verify_pdf_ranges`` for the GB/T 38540 signature) runs as for any file, and an all-good
outcome is kept with the version row. Verifying the very same bytes later reuses it: only what
time and configuration can change is checked again (``reusable_checks``). Anything else — no
record, a record whose conditions no longer hold, a file one byte off — goes to the full
validator, which stays the reference.

Why not at sealing: validating every sealed file there doubled the CPU of an issuance and
capped batch re-signing at the validator's speed, for licences most of which are never
uploaded. The bytes are the same either way — their hash is the registry's, written when the
producer made them — so the outcome is the same.

A registry row alone never vouches for a file: the record is authenticated with an HMAC key
derived from the registry's link secret, which lives outside the database, and names the
SHA-256 of the file it was made from. Someone who can write rows but not read that key cannot
make a forged file take the fast path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from certsvc.crypto import api as crypto
from certsvc.errors import CertsvcError
from certsvc.services.context import ServiceContext
from certsvc.services.link_secret import link_secret
from certsvc.storage.repositories import CertificateRepository

__all__ = ["RECORD_VERSION", "make_sealing_record", "remember_sealing_record", "reusable_checks"]

RECORD_VERSION = 1
_KEY_LABEL = b"certsvc sealing record v1"
_log = logging.getLogger(__name__)


def _record_key(ctx: ServiceContext) -> bytes | None:
    try:
        return hmac.new(link_secret(ctx), _KEY_LABEL, hashlib.sha256).digest()
    except CertsvcError:
        return None  # no secret: no record, every check is a full one


def _mac(key: bytes, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def make_sealing_record(
    ctx: ServiceContext,
    signed_pdf: bytes,
    ses_signature: bytes | None,
    *,
    validated: crypto.PdfValidationResult | None = None,
) -> dict[str, Any] | None:
    """The record of the reference validator's all-good outcome for a sealed file, or ``None``
    (nothing to reuse: it will be validated in full each time). ``validated`` is the
    reference's result for these bytes at the present instant, when it has just run.

    Never raises for the file's content: a file the reference finds wanting gets no record.
    """
    key = _record_key(ctx)
    if key is None:
        return None
    roots, makers = ctx.trust_roots(), ctx.seal_maker_certificates()
    now = ctx.clock.now()
    try:
        result = validated or crypto.validate_pdf(signed_pdf, trust_roots_der=roots, validation_time=now)
        if not crypto.is_all_good(result):
            _log.warning("a sealed file does not validate as all good; no sealing record kept")
            return None
        windows = crypto.certificate_windows(result.certificates_der, roots)
        ses_windows: tuple[crypto.CertificateWindow, ...] = ()
        if ses_signature is not None:
            check = crypto.verify_pdf_ranges(
                signed_pdf, ses_signature, maker_certificates_der=makers, trust_roots_der=roots
            )
            if not check.is_valid:
                _log.warning(
                    "a sealed file's GB/T 38540 signature does not verify (%s); no sealing record kept",
                    check.codes,
                )
                return None
            ses_windows = crypto.certificate_windows(
                crypto.ses_timestamp_certificates(ses_signature), roots
            )
        body: dict[str, Any] = {
            "v": RECORD_VERSION,
            "sha256": result.file_sha256,
            "recorded_at": now.isoformat(),
            "trust_roots": crypto.set_fingerprint(roots),
            "makers": crypto.set_fingerprint(makers) if ses_signature is not None else None,
            "ses_sha256": crypto.sha256(ses_signature) if ses_signature is not None else None,
            "signatures": crypto.checks_to_json(result.signatures),
            "windows": crypto.windows_to_json(windows),
            "ses_windows": crypto.windows_to_json(ses_windows),
        }
    except (CertsvcError, ValueError) as exc:
        _log.warning("no sealing record kept: %s", type(exc).__name__)
        return None
    return {**body, "mac": _mac(key, body)}


def remember_sealing_record(
    ctx: ServiceContext, signed_pdf: bytes, ses_signature: bytes | None, validated: crypto.PdfValidationResult
) -> None:
    """Keep the record of a version's own bytes, just validated in full at the present instant.

    Best effort: a verification never fails because its record could not be written (another
    writer holding SQLite's lock, a read-only replica); the next one tries again.
    """
    record = make_sealing_record(ctx, signed_pdf, ses_signature, validated=validated)
    if record is None:
        return
    try:
        with ctx.database.transaction() as session:
            CertificateRepository(session).set_sealing_record(validated.file_sha256, record)
    except SQLAlchemyError as exc:
        _log.info("sealing record not kept this time: %s", type(exc).__name__)


def reusable_checks(
    ctx: ServiceContext,
    record: dict[str, Any] | None,
    *,
    file_sha256: str,
    ses_signature: bytes | None,
    validation_time: datetime,
) -> tuple[crypto.SignatureCheck, ...] | None:
    """The recorded signature checks, when they are what the reference would say now for the
    file whose SHA-256 is ``file_sha256``; else ``None`` (validate in full).

    They are, when: the record is authentic and names this file and this GB/T 38540
    signature; the trust roots (and, with an SES signature, the seal makers) are the set it was
    recorded under; ``validation_time`` is not before the recording; and every certificate the
    file carries, and the roots that issued them, are valid at ``validation_time`` — the SES
    time-stamp's at the present instant, where the reference checks it.
    """
    key = _record_key(ctx)
    if record is None or key is None:
        return None
    body = {k: v for k, v in record.items() if k != "mac"}
    mac = record.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(key, body)):
        _log.warning("a sealing record does not authenticate; validating in full")
        return None
    try:
        if body["v"] != RECORD_VERSION or body["sha256"] != file_sha256:
            return None
        expected_ses = crypto.sha256(ses_signature) if ses_signature is not None else None
        if body["ses_sha256"] != expected_ses:
            return None
        if body["trust_roots"] != crypto.set_fingerprint(ctx.trust_roots()):
            return None
        if ses_signature is not None and body["makers"] != crypto.set_fingerprint(
            ctx.seal_maker_certificates()
        ):
            return None
        if validation_time < datetime.fromisoformat(body["recorded_at"]):
            return None
        if not crypto.windows_hold(crypto.windows_from_json(body["windows"]), validation_time):
            return None
        # verify_pdf_ranges checks the SES time-stamp's TSA at the system's present instant.
        if not crypto.windows_hold(
            crypto.windows_from_json(body["ses_windows"]), datetime.now(UTC)
        ):
            return None
        return crypto.checks_from_json(body["signatures"])
    except (KeyError, TypeError, ValueError):
        return None
