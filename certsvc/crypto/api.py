"""The crypto interface services call. Everything else in ``certsvc.crypto`` is a backend.

Values in and out are plain (bytes, datetimes, frozen dataclasses); no pyHanko, asn1crypto or
pyca/cryptography type crosses this line.
"""

from __future__ import annotations

import hashlib

from certsvc.crypto.certificates import (
    CertificateInfo,
    certificate_summary,
    make_intermediate_ca,
    make_root_ca,
    make_seal_certificate,
)
from certsvc.crypto.keys import KeyAlgorithm, SealKey, generate_private_key_pem
from certsvc.crypto.pdf_signing import PdfSealer
from certsvc.crypto.pdf_validation import (
    ModificationLevel,
    PdfValidationResult,
    SignatureCheck,
    validate_pdf,
)
from certsvc.crypto.ses_pdf import (
    SesCheck,
    make_department_seal_data,
    sign_pdf_ranges,
    verify_pdf_ranges,
)

__all__ = [
    "CertificateInfo",
    "KeyAlgorithm",
    "ModificationLevel",
    "PdfSealer",
    "PdfValidationResult",
    "SealKey",
    "SesCheck",
    "SignatureCheck",
    "certificate_summary",
    "generate_private_key_pem",
    "make_department_seal_data",
    "make_intermediate_ca",
    "make_root_ca",
    "make_seal_certificate",
    "sha256",
    "sign_pdf_ranges",
    "validate_pdf",
    "verify_pdf_ranges",
]


def sha256(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data`` (content addresses, issued-file comparison)."""
    return hashlib.sha256(data).hexdigest()

