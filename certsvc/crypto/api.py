"""The crypto interface services call. Everything else in ``certsvc.crypto`` is a backend.

Values in and out are plain (bytes, datetimes, frozen dataclasses); no pyHanko, asn1crypto or
pyca/cryptography type crosses this line.
"""

from __future__ import annotations

import hashlib

from certsvc.crypto.certificate_summary import CertificateInfo, certificate_summary
from certsvc.crypto.certificates import (
    PublicKeyHolder,
    make_intermediate_ca,
    make_list_signer_certificate,
    make_root_ca,
    make_seal_certificate,
    make_tsa_certificate,
)
from certsvc.crypto.jwt_tokens import (
    JsonWebKeySet,
    JwtFailure,
    TokenRejectedError,
    VerifiedToken,
    parse_jwks,
    verify_jwt,
)
from certsvc.crypto.key_files import (
    KeyFileKdf,
    KeyFileProtection,
    key_file_opens_with,
    key_file_protection,
    rewrap_key_file,
)
from certsvc.crypto.key_import import (
    certificate_spki_der,
    certificates_from_pem,
    reencrypt_private_key_pem,
    verify_detached,
)
from certsvc.crypto.keys import KeyAlgorithm, SealKey, generate_private_key_pem
from certsvc.crypto.ofd_package import is_ofd
from certsvc.crypto.ofd_signing import seal_ofd
from certsvc.crypto.ofd_validation import OfdSignatureCheck, OfdValidationResult, validate_ofd
from certsvc.crypto.pdf_ltv import LtvStamper, TimeStampSummary, ValidationData, newest_timestamp
from certsvc.crypto.pdf_signing import PdfSealer
from certsvc.crypto.pdf_validation import (
    ModificationLevel,
    PdfValidationResult,
    SignatureCheck,
    validate_pdf,
)
from certsvc.crypto.pkcs11_keys import (
    PKCS11_SCHEME,
    Pkcs11Keys,
    is_token_key_ref,
    token_key_ref,
    token_label_of,
)
from certsvc.crypto.qr_payload import (
    QR_ALPHABET,
    QrClaims,
    SignedQrPayload,
    VerifyingKey,
    b41decode,
    b41encode,
    certificate_public_key_spki,
    decode_qr_payload,
    is_directly_issued_by,
    key_id,
    licence_digest,
    load_verifying_key,
    sign_qr_payload,
    sign_raw,
)
from certsvc.crypto.revocation import (
    REVOCATION_REASONS,
    RevokedCertificate,
    make_crl,
    make_ocsp_response,
    ocsp_malformed,
    ocsp_request_serial,
)
from certsvc.crypto.sealed_record import (
    CertificateWindow,
    certificate_windows,
    checks_from_json,
    checks_to_json,
    is_all_good,
    ses_timestamp_certificates,
    set_fingerprint,
    windows_from_json,
    windows_hold,
    windows_to_json,
)
from certsvc.crypto.secret_box import SecretBox
from certsvc.crypto.ses_pdf import (
    SesCheck,
    make_department_seal_data,
    sign_pdf_ranges,
    verify_pdf_ranges,
)
from certsvc.crypto.signing import (
    EncryptedKeyFiles,
    KeySource,
    LoadedKey,
    RoutedKeySource,
    SerialisedKey,
    SigningKey,
)
from certsvc.crypto.timestamp_authority import TimeStampAuthorities, TimeStampAuthority
from certsvc.crypto.timestamp_client import TimeStampTransport, request_timestamp, token_gen_time

__all__ = [
    "PKCS11_SCHEME",
    "QR_ALPHABET",
    "REVOCATION_REASONS",
    "CertificateInfo",
    "CertificateWindow",
    "EncryptedKeyFiles",
    "JsonWebKeySet",
    "JwtFailure",
    "KeyAlgorithm",
    "KeyFileKdf",
    "KeyFileProtection",
    "KeySource",
    "LoadedKey",
    "LtvStamper",
    "ModificationLevel",
    "OfdSignatureCheck",
    "OfdValidationResult",
    "PdfSealer",
    "PdfValidationResult",
    "Pkcs11Keys",
    "PublicKeyHolder",
    "QrClaims",
    "RevokedCertificate",
    "RoutedKeySource",
    "SealKey",
    "SecretBox",
    "SerialisedKey",
    "SesCheck",
    "SignatureCheck",
    "SignedQrPayload",
    "SigningKey",
    "TimeStampAuthorities",
    "TimeStampAuthority",
    "TimeStampSummary",
    "TimeStampTransport",
    "TokenRejectedError",
    "ValidationData",
    "VerifiedToken",
    "VerifyingKey",
    "b41decode",
    "b41encode",
    "certificate_public_key_spki",
    "certificate_spki_der",
    "certificate_summary",
    "certificate_windows",
    "certificates_from_pem",
    "checks_from_json",
    "checks_to_json",
    "decode_qr_payload",
    "generate_private_key_pem",
    "is_all_good",
    "is_directly_issued_by",
    "is_ofd",
    "is_token_key_ref",
    "key_file_opens_with",
    "key_file_protection",
    "key_id",
    "licence_digest",
    "load_verifying_key",
    "make_crl",
    "make_department_seal_data",
    "make_intermediate_ca",
    "make_list_signer_certificate",
    "make_ocsp_response",
    "make_root_ca",
    "make_seal_certificate",
    "make_tsa_certificate",
    "newest_timestamp",
    "ocsp_malformed",
    "ocsp_request_serial",
    "parse_jwks",
    "reencrypt_private_key_pem",
    "request_timestamp",
    "rewrap_key_file",
    "seal_ofd",
    "ses_timestamp_certificates",
    "set_fingerprint",
    "sha256",
    "sign_pdf_ranges",
    "sign_qr_payload",
    "sign_raw",
    "token_gen_time",
    "token_key_ref",
    "token_label_of",
    "validate_ofd",
    "validate_pdf",
    "verify_detached",
    "verify_jwt",
    "verify_pdf_ranges",
    "windows_from_json",
    "windows_hold",
    "windows_to_json",
]


def sha256(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data`` (content addresses, issued-file comparison)."""
    return hashlib.sha256(data).hexdigest()
