"""Check every seal of an OFD package: what it protects, its GB/T 38540 data, its chain.

Per signature listed in ``Signatures.xml`` (GB/T 33190 §18, GB/T 38540; STANDARDS §1.3, §1.4):

1. ``Signature.xml``: SignatureMethod is SM2-with-SM3, CheckMethod SM3; every ``Reference``
   names a file of the package whose SM3 equals its ``CheckValue`` (``changed_files``,
   ``missing_files``);
2. ``SignedValue.dat`` is a GB/T 38540 ``SES_Signature`` whose ``dataHash`` is SM3 of the
   ``Signature.xml`` bytes and whose ``propertyInfo`` names that file; its SM2 signature, the seal
   maker's signature on the ``SESeal``, the maker's trust, the seal's validity window and the
   signer in the seal's list (``ses_codes``, from :func:`ses_verification.verify_ses_signature`);
3. the signer's certificate chains to the trust roots at the validation time (pyHanko's
   certificate validator with the SM2 hook; offline, revocation soft-fail as for PDF);
4. the stamp's page exists.

Files of the package that no signature protects (other than the signatures' own files) are
reported as ``unreferenced_files``: an added page, picture or font. The result is a value; only
input that is not a readable OFD raises.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from certsvc.crypto import ses_verification
from certsvc.crypto._pyhanko_gm import GmSignatureValidator
from certsvc.crypto.gm_oids import OID_SM2_WITH_SM3
from certsvc.crypto.ofd_package import OfdPackage, read_package
from certsvc.crypto.sm2 import sm3
from certsvc.crypto.timestamp_tokens import check_time_stamp_token
from certsvc.domain.ofd_xml import QUALIFIED
from certsvc.errors import InvalidDocumentError

__all__ = ["OfdSignatureCheck", "OfdValidationResult", "validate_ofd"]

_SM3_NAMES = {"1.2.156.10197.1.401", "sm3"}  # ofdrw writes the word, vendors the OID


@dataclass(frozen=True, slots=True)
class OfdSignatureCheck:
    signature_path: str
    signer_common_name: str | None
    signer_organization: str | None
    signer_certificate_sha256: str | None
    seal_name: str | None
    seal_id: str | None  # SES_SealInfo.esID
    signing_time: datetime | None  # TBS_Sign.timeInfo, claimed by the signer
    timestamp_at: datetime | None  # SES_Signature.timeStamp's time, when its token verifies
    references_intact: bool
    changed_files: tuple[str, ...]
    missing_files: tuple[str, ...]
    ses_codes: tuple[str, ...]  # empty when the GB/T 38540 data verifies
    is_intact: bool  # references, SES signature and dataHash all hold
    is_trusted: bool
    trust_explanation: str | None
    problems: tuple[str, ...]

    @property
    def bottom_line(self) -> bool:
        return self.is_intact and self.is_trusted and not self.ses_codes and not self.problems


@dataclass(frozen=True, slots=True)
class OfdValidationResult:
    file_sha256: str
    signatures: tuple[OfdSignatureCheck, ...]
    unreferenced_files: tuple[str, ...]
    metadata: dict[str, str]  # OFD.xml DocInfo/CustomDatas, by name

    @property
    def bottom_line(self) -> bool:
        return (
            bool(self.signatures)
            and not self.unreferenced_files
            and all(s.bottom_line for s in self.signatures)
        )


def _path(ref: str, base: str = "") -> str:
    """A package path from an OFD location: absolute (``/Doc_0/…``) or relative to ``base``."""
    ref = ref.strip()
    if ref.startswith("/"):
        return ref.lstrip("/")
    return f"{base.rstrip('/')}/{ref}".lstrip("/") if base else ref


def _subject(cert: asn1_x509.Certificate) -> tuple[str | None, str | None]:
    native = cert.subject.native
    cn, org = native.get("common_name"), native.get("organization_name")
    return (cn[0] if isinstance(cn, list) else cn), (org[0] if isinstance(org, list) else org)


def _chain(
    cert_der: bytes,
    *,
    roots: list[asn1_x509.Certificate],
    pool: list[asn1_x509.Certificate],
    at: datetime | None,
) -> str | None:
    """``None`` when the certificate chains to a root at ``at``, else why not."""
    try:
        cert = asn1_x509.Certificate.load(cert_der)
        kwargs: dict[str, Any] = {
            "trust_roots": roots,
            "other_certs": pool,
            "allow_fetching": False,
            "revocation_mode": "soft-fail",
            "signature_validator": GmSignatureValidator(),
        }
        if at is not None:
            kwargs["moment"] = at
        validator = CertificateValidator(
            cert, intermediate_certs=pool, validation_context=ValidationContext(**kwargs)
        )
        asyncio.run(validator.async_validate_usage(set()))  # type: ignore[no-untyped-call]
    except Exception as exc:  # certvalidator raises PathBuildingError, PathValidationError, ...
        name = type(exc).__name__
        if name == "PathBuildingError":
            return "no chain from the signer's certificate to a trusted root"
        return f"the signer's certificate is not trusted ({name})"
    return None


def _references(
    package: OfdPackage, signature: ET.Element, base: str
) -> tuple[set[str], list[str], list[str], list[str]]:
    """(referenced paths, changed, missing, problems) of one ``Signature.xml``."""
    problems: list[str] = []
    info = signature.find(f"{QUALIFIED}SignedInfo")
    if info is None:
        return set(), [], [], ["Signature.xml has no SignedInfo"]
    method = (info.findtext(f"{QUALIFIED}SignatureMethod") or "").strip()
    if method != OID_SM2_WITH_SM3:
        problems.append(f"unsupported SignatureMethod {method[:40]!r}")
    references = info.find(f"{QUALIFIED}References")
    if references is None:
        return set(), [], [], [*problems, "Signature.xml lists no References"]
    check = references.get("CheckMethod", "").strip()
    if check.lower() not in _SM3_NAMES:
        problems.append(f"unsupported CheckMethod {check[:40]!r}")
    referenced: set[str] = set()
    changed: list[str] = []
    missing: list[str] = []
    for reference in references.findall(f"{QUALIFIED}Reference"):
        name = _path(reference.get("FileRef", ""), base)
        referenced.add(name)
        body = package.files.get(name)
        if body is None:
            missing.append(name)
            continue
        try:
            expected = base64.b64decode(
                (reference.findtext(f"{QUALIFIED}CheckValue") or "").strip(), validate=True
            )
        except (binascii.Error, ValueError):
            expected = b""
        if sm3(body) != expected:
            changed.append(name)
    return referenced, sorted(changed), sorted(missing), problems


def _stamp_page_ok(package: OfdPackage, signature: ET.Element) -> bool:
    stamp = signature.find(f"{QUALIFIED}SignedInfo/{QUALIFIED}StampAnnot")
    if stamp is None:
        return True  # an invisible signature: nothing to place
    page_ref = stamp.get("PageRef", "")
    try:
        document = package.xml(_document_path(package))
    except InvalidDocumentError:
        return False
    return any(
        p.get("ID") == page_ref for p in document.findall(f"{QUALIFIED}Pages/{QUALIFIED}Page")
    )


def _document_path(package: OfdPackage) -> str:
    root = package.xml("OFD.xml")
    return _path(root.findtext(f"{QUALIFIED}DocBody/{QUALIFIED}DocRoot") or "Doc_0/Document.xml")


def _check_one(
    package: OfdPackage,
    signature_path: str,
    *,
    roots: list[asn1_x509.Certificate],
    trust_roots_der: Sequence[bytes],
    pool: list[asn1_x509.Certificate],
    maker_trust: Sequence[bytes],
    at: datetime | None,
) -> tuple[OfdSignatureCheck, set[str]]:
    base = signature_path.rsplit("/", 1)[0]
    own = {signature_path}
    signature = package.xml(signature_path)
    referenced, changed, missing, problems = _references(package, signature, base)
    value_path = _path(signature.findtext(f"{QUALIFIED}SignedValue") or "SignedValue.dat", base)
    own.add(value_path)
    signed_value = package.files.get(value_path)
    signature_bytes = package.files[signature_path]
    # The seal window and signer certificate are judged at the signing time (as for the PDF
    # seal data); the chain below at the validation time, as pyHanko does for the PDF.
    report = ses_verification.verify_ses_signature(
        signed_value or b"", document_hash=sm3(signature_bytes), maker_trust=list(maker_trust)
    )
    codes = list(report.codes)
    info = report.signature
    cn = org = cert_sha = None
    timestamp_at = None
    trust_problem: str | None = "the seal data cannot be read"
    if info is not None and info.time_stamp is not None:
        # GB/T 38540 timeStamp: a token over the signature value from a TSA under the roots.
        stamp = check_time_stamp_token(
            info.time_stamp, info.signature, trust_roots_der=trust_roots_der
        )
        if stamp.is_valid:
            timestamp_at = stamp.gen_time
        else:
            codes.append("ses_timestamp_invalid")
    if info is not None:
        if _path(info.property_info) != signature_path:
            codes.append("property_info_mismatch")
        try:
            cn, org = _subject(asn1_x509.Certificate.load(info.signer_cert_der))
        except (ValueError, TypeError):
            problems.append("the signer certificate cannot be read")
        cert_sha = hashlib.sha256(info.signer_cert_der).hexdigest()
        trust_problem = _chain(info.signer_cert_der, roots=roots, pool=pool, at=at)
    if not _stamp_page_ok(package, signature):
        problems.append("the stamp annotation names no page of the document")
    references_intact = not changed and not missing and bool(referenced)
    is_intact = references_intact and not (
        {"ses_malformed", "ses_signature_invalid", "data_hash_mismatch", "property_info_mismatch"}
        & set(codes)
    )
    check = OfdSignatureCheck(
        signature_path=signature_path,
        signer_common_name=cn,
        signer_organization=org,
        signer_certificate_sha256=cert_sha,
        seal_name=info.seal.seal_name if info else None,
        seal_id=info.seal.es_id if info else None,
        signing_time=info.signed_at if info else None,
        timestamp_at=timestamp_at,
        references_intact=references_intact,
        changed_files=tuple(changed),
        missing_files=tuple(missing),
        ses_codes=tuple(codes),
        is_intact=is_intact,
        is_trusted=trust_problem is None,
        trust_explanation=trust_problem,
        problems=tuple(problems),
    )
    return check, referenced | own


def _signature_paths(package: OfdPackage) -> tuple[list[str], set[str]]:
    """The ``Signature.xml`` paths listed by ``Signatures.xml``, and the list file itself."""
    root = package.xml("OFD.xml")
    location = root.findtext(f"{QUALIFIED}DocBody/{QUALIFIED}Signatures")
    if not location:
        return [], set()
    list_path = _path(location)
    listing = package.xml(list_path)
    base = list_path.rsplit("/", 1)[0]
    paths = [_path(s.get("BaseLoc", ""), base) for s in listing.findall(f"{QUALIFIED}Signature")]
    for path in paths:
        if path not in package.files:
            raise InvalidDocumentError(
                f"Signatures.xml names a missing file {path[:80]!r}", code="ofd_malformed"
            )
    return paths, {list_path}


def _load_certs(ders: Sequence[bytes]) -> list[asn1_x509.Certificate]:
    certs = []
    for der in ders:
        try:
            certs.append(asn1_x509.Certificate.load(der, strict=True))
        except (ValueError, TypeError) as exc:
            raise ValueError("a configured certificate is not DER X.509") from exc
    return certs


def validate_ofd(
    data: bytes,
    *,
    trust_roots_der: Sequence[bytes],
    maker_certificates_der: Sequence[bytes],
    intermediates_der: Sequence[bytes] = (),
    validation_time: datetime | None = None,
    max_bytes: int | None = None,
) -> OfdValidationResult:
    """Evaluate every seal of the OFD ``data`` (see the module docstring).

    Raises:
        InvalidDocumentError: not an OFD package, or one refused as unsafe or malformed.
        DocumentTooLargeError: larger than ``max_bytes``.
        ValueError: a configured certificate is not a certificate, or the time is naive.
    """
    if validation_time is not None and validation_time.tzinfo is None:
        raise ValueError("validation_time must be timezone-aware")
    roots = _load_certs(trust_roots_der)
    pool = _load_certs([*maker_certificates_der, *intermediates_der])
    package = read_package(data, max_bytes=max_bytes)
    root = package.xml("OFD.xml")
    metadata = {
        e.get("Name", ""): (e.text or "")
        for e in root.findall(
            f"{QUALIFIED}DocBody/{QUALIFIED}DocInfo/{QUALIFIED}CustomDatas/{QUALIFIED}CustomData"
        )
    }
    paths, covered = _signature_paths(package)
    checks = []
    for path in paths:
        check, protected = _check_one(
            package,
            path,
            roots=roots,
            trust_roots_der=trust_roots_der,
            pool=pool,
            maker_trust=maker_certificates_der,
            at=validation_time,
        )
        checks.append(check)
        covered |= protected
    unreferenced = (
        tuple(sorted(name for name in package.files if name not in covered)) if paths else ()
    )
    return OfdValidationResult(
        file_sha256=hashlib.sha256(data).hexdigest(),
        signatures=tuple(checks),
        unreferenced_files=unreferenced,
        metadata=metadata,
    )
