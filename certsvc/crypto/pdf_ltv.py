"""PAdES B-LT and B-LTA on a sealed PDF: validation data in the DSS, a document time-stamp on top.

:class:`LtvStamper` appends one incremental revision holding

* the Document Security Store (ISO 32000-2 §12.8.4.3, ETSI EN 319 142-1 §5.4): the certificates
  of the seal's chain and of the TSA, and the CRLs (and OCSP answers) current at sealing time —
  what a verifier needs to validate the seal years later without asking anyone (B-LT);
* a document time-stamp (``/DocTimeStamp``, ETSI.RFC3161) over the whole file including that
  DSS (B-LTA): proof that the validation data existed then, renewable before the TSA's
  certificate or its hash algorithm weakens (``certsvc ltv renew``).

Both are what pyHanko's difference analysis classifies as LTA updates, so the seal stays
"no changes that alter the page" for every PAdES verifier. The revision leaves Info and XMP as
they were (see ``_SealingWriter``), so the file stays PDF/A-2b.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from certsvc.crypto.pdf_signing import _SealingWriter
from certsvc.crypto.timestamp_client import TimeStampTransport, TransportTimeStamper
from certsvc.errors import CertsvcError, InvalidDocumentError, SigningError

__all__ = ["LtvStamper", "TimeStampSummary", "ValidationData", "newest_timestamp"]

# Headroom over the measured document time-stamp token (genTime digits, serial, nonce).
_TOKEN_MARGIN = 512


@dataclass(frozen=True, slots=True)
class ValidationData:
    """DER certificates, CRLs and OCSP responses to put in the DSS."""

    certificates: Sequence[bytes] = ()
    crls: Sequence[bytes] = ()
    ocsp_responses: Sequence[bytes] = ()


class LtvStamper:
    """Adds DSS + document time-stamp revisions, with one TSA (one instance per TSA and digest).

    ``md`` is the document time-stamp's digest: "sha256", or "sm3" for a GM/T 0033 TSA.
    """

    def __init__(self, transport: TimeStampTransport, *, md: str = "sha256") -> None:
        self._timestamper = TransportTimeStamper(transport)
        self._md = md
        self._reserved: int | None = None

    def _bytes_reserved(self) -> int:
        if self._reserved is None:
            import asyncio

            dummy = asyncio.run(self._timestamper.async_dummy_response(self._md))
            # x2: hex encoding in the PDF.
            self._reserved = 2 * (len(dummy.dump()) + _TOKEN_MARGIN)
        return self._reserved

    def extend(self, pdf: bytes, data: ValidationData, *, with_timestamp: bool = True) -> bytes:
        """``pdf`` plus one revision: the DSS with ``data`` and, with ``with_timestamp``, a
        document time-stamp covering everything before it.

        Raises:
            InvalidDocumentError: ``pdf`` is not a readable PDF or some data is not DER.
            TimeStampUnavailableError: the TSA could not give the time-stamp.
            SigningError: the revision could not be written.
        """
        try:
            certs = [asn1_x509.Certificate.load(d) for d in data.certificates]
            crls = [asn1_crl.CertificateList.load(d) for d in data.crls]
            ocsps = [asn1_ocsp.OCSPResponse.load(d) for d in data.ocsp_responses]
            writer = _SealingWriter(io.BytesIO(pdf), strict=False)
        except Exception as exc:
            raise InvalidDocumentError(
                "the document or its validation data cannot be read"
            ) from exc
        try:
            DocumentSecurityStore.supply_dss_in_writer(
                writer, sig_contents=None, certs=certs, crls=crls, ocsps=ocsps
            )
            if not with_timestamp:
                out = io.BytesIO()
                writer.write(out)  # type: ignore[no-untyped-call]
                return out.getvalue()
            stamper = PdfTimeStamper(self._timestamper)
            result = stamper.timestamp_pdf(
                writer,
                self._md,
                bytes_reserved=self._bytes_reserved(),
                timestamper=self._timestamper,
            )
        except CertsvcError:
            raise
        except Exception as exc:
            raise SigningError(
                f"the validation data could not be added ({type(exc).__name__})"
            ) from exc
        data_out: bytes = result.getvalue()
        return data_out

    def __repr__(self) -> str:
        return f"LtvStamper(md={self._md!r})"


@dataclass(frozen=True, slots=True)
class TimeStampSummary:
    """The newest time-stamp of a PDF: what an archival renewal looks at."""

    gen_time: datetime
    digest_algorithm: str  # of the message imprint: "sha256", "sm3", ...
    tsa_common_name: str
    tsa_not_after: datetime  # the end of the TSA certificate: after it, the token proves nothing
    is_document_timestamp: bool


def newest_timestamp(pdf: bytes) -> TimeStampSummary | None:
    """The newest time-stamp in ``pdf``: its last document time-stamp, else the newest signature
    time-stamp of its seals; None when it carries none (a B-B licence).

    Raises:
        InvalidDocumentError: not a readable PDF, or a time-stamp token that cannot be read.
    """
    try:
        signatures = list(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)
        found: list[TimeStampSummary] = []
        for sig in signatures:
            if sig.sig_object_type == "/DocTimeStamp":
                found.append(_summary(sig.signed_data, is_document_timestamp=True))
                continue
            for attr in sig.signer_info["unsigned_attrs"] or ():
                if attr["type"].native == "signature_time_stamp_token":
                    found.extend(
                        _summary(token["content"], is_document_timestamp=False)
                        for token in attr["values"]
                    )
    except Exception as exc:
        raise InvalidDocumentError("the document's time-stamps cannot be read") from exc
    # A document time-stamp covers every earlier one; among seals' tokens the newest counts.
    documents = [s for s in found if s.is_document_timestamp]
    if documents:
        return documents[-1]
    return max(found, key=lambda s: s.gen_time, default=None)


def _summary(signed_data: cms.SignedData, *, is_document_timestamp: bool) -> TimeStampSummary:
    info = signed_data["encap_content_info"]["content"].parsed
    sid = signed_data["signer_infos"][0]["sid"]
    signer = next(
        c.chosen for c in signed_data["certificates"]
        if c.name == "certificate" and sid.name == "issuer_and_serial_number"
        and c.chosen.issuer == sid.chosen["issuer"] and c.chosen.serial_number == sid.chosen["serial_number"].native
    )  # fmt: skip
    return TimeStampSummary(
        gen_time=info["gen_time"].native,
        digest_algorithm=info["message_imprint"]["hash_algorithm"]["algorithm"].native,
        tsa_common_name=signer.subject.native.get("common_name", ""),
        tsa_not_after=signer.not_valid_after,
        is_document_timestamp=is_document_timestamp,
    )
