"""Response shapes shared by several routes, derived from the service value types (api/derived.py).

Requests are shared with the CLI in services.requests. A route answers with the service value
(``VerificationReport``) and names the model here as its ``response_model``; where the edge adds
fields of its own (links), ``certificate_issued``/``certificate_read`` build the answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from certsvc.api.derived import derive, to_api
from certsvc.domain.reports import Reason, RegistryView, SignatureDetail, VerificationReport
from certsvc.services.issuance import IssuedCertificate
from certsvc.services.registry import CertificateInfo, VersionInfo

__all__ = [
    "CertificateIssued",
    "CertificateRead",
    "Links",
    "ReasonRead",
    "RegistryRead",
    "SignatureRead",
    "VerificationRead",
    "VersionRead",
    "certificate_issued",
    "certificate_read",
]


class Links(BaseModel):
    self: str
    pdf: str
    print_pdf: str
    verification_page: str


CertificateIssued = derive(
    IssuedCertificate,
    "CertificateIssued",
    exclude={"department_code", "is_replay"},
    describe={"identifier": "the licence's 证照标识", "sha256": "SHA-256 of the sealed PDF"},
    add={"links": (Links, ...)},
)

VersionRead = derive(VersionInfo, "VersionRead", exclude={"seal_id"})

CertificateRead = derive(
    CertificateInfo,
    "CertificateRead",
    exclude={"holder_name", "holder_id_type", "holder_id"},
    describe={"fields": "the template's fields as issued", "current_version": "the version a verifier sees as current"},
    add={
        "holder": (dict[str, str], ...),  # {"name", "id_type", "id"}: the holder as one object
        "links": (Links, ...),
    },
)

ReasonRead = derive(Reason, "ReasonRead")
SignatureRead = derive(SignatureDetail, "SignatureRead")
RegistryRead = derive(RegistryView, "RegistryRead", exclude={"sha256", "seal_certificate_sha256", "seal_revocation"})
VerificationRead = derive(VerificationReport, "VerificationRead", exclude={"warnings"})


def _links(identifier: str, *, api_base: str, public_url: str) -> Links:
    me = f"{api_base}/api/v1/certificates/{identifier}"
    return Links(
        self=me, pdf=f"{me}/pdf", print_pdf=f"{me}/pdf?variant=print", verification_page=f"{public_url.rstrip('/')}/v/{identifier}"
    )


def certificate_issued(issued: IssuedCertificate, *, api_base: str, public_url: str) -> dict[str, Any]:
    """The answer to an issuance: the service's result and the licence's links."""
    return {**to_api(issued), "links": _links(issued.identifier, api_base=api_base, public_url=public_url)}


def certificate_read(info: CertificateInfo, *, api_base: str, public_url: str) -> dict[str, Any]:
    """A registry record as the API shows it: the holder as one object, and the licence's links."""
    return {
        **to_api(info),
        "holder": {"name": info.holder_name, "id_type": info.holder_id_type, "id": info.holder_id},
        "links": _links(info.identifier, api_base=api_base, public_url=public_url),
    }
