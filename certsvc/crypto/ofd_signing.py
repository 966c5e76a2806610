"""Sealing an OFD package with a GB/T 38540 electronic seal (SM2), the way OFD readers expect.

Added to the package (STANDARDS §1.4, §1.6; ofdrw's layout)::

    OFD.xml                                  DocBody/Signatures → Doc_0/Signs/Signatures.xml
    Doc_0/Signs/Signatures.xml               MaxSignId, Signature ID=1 Type=Seal BaseLoc=…
    Doc_0/Signs/Sign_0/Signature.xml         SignedInfo: Provider, SignatureMethod (SM2-with-SM3
                                             OID), SignatureDateTime, References (SM3 OID) with
                                             the base64 SM3 of every other file of the package,
                                             StampAnnot (page, seal box); SignedValue path
    Doc_0/Signs/Sign_0/SignedValue.dat       DER SES_Signature: dataHash = SM3(Signature.xml),
                                             propertyInfo = the absolute path of Signature.xml,
                                             carrying the department's SESeal (whose picture
                                             readers draw at StampAnnot/Boundary)

The seal protects the whole package ("whole protected" in ofdrw's terms): the References list
every file but the signature's own two, ``Signatures.xml`` included, so nothing can be added,
removed or changed afterwards. certsvc never counter-signs a file; a new version is a new file.
"""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime

from certsvc.crypto import ses
from certsvc.crypto.gm_oids import OID_SM2_WITH_SM3
from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.crypto.ofd_package import read_package
from certsvc.crypto.signing import SigningKey, sm2_signing
from certsvc.crypto.sm2 import Sm2Signing, sm3
from certsvc.crypto.timestamp_client import TimeStampTransport
from certsvc.crypto.timestamp_tokens import fetch_time_stamp_token
from certsvc.domain.ofd_xml import QUALIFIED, ofd_element, ofd_number, xml_document
from certsvc.errors import SigningError

__all__ = [
    "OID_SM3",
    "SIGNATURES_PATH",
    "SIGNATURE_PATH",
    "SIGNED_VALUE_PATH",
    "seal_ofd",
]

OID_SM3 = "1.2.156.10197.1.401"  # GM/T 0006: SM3, the References' CheckMethod
SIGNATURES_PATH = "Doc_0/Signs/Signatures.xml"
SIGNATURE_PATH = "Doc_0/Signs/Sign_0/Signature.xml"
SIGNED_VALUE_PATH = "Doc_0/Signs/Sign_0/SignedValue.dat"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _sm2(key: SigningKey | SealKey) -> Sm2Signing:
    if key.algorithm is not KeyAlgorithm.SM2:
        raise SigningError(
            "a GB/T 38540 seal on an OFD needs an SM2 key", code="ofd_needs_sm2_seal"
        )
    return sm2_signing(key) if isinstance(key, SigningKey) else key._sm2_key()


def _with_signatures_entry(ofd_xml: ET.Element) -> bytes:
    body = ofd_xml.find(f"{QUALIFIED}DocBody")
    if body is None or body.find(f"{QUALIFIED}Signatures") is not None:
        raise SigningError("the OFD is not an unsealed certsvc package")
    # GB/T 33190 §7.4: DocBody = DocInfo, DocRoot, Versions?, Signatures?
    ofd_element(body, "Signatures", SIGNATURES_PATH)
    return xml_document(ofd_xml)


def _page_id(document: ET.Element, page_index: int) -> str:
    pages = document.findall(f"{QUALIFIED}Pages/{QUALIFIED}Page")
    if not 0 <= page_index < len(pages):
        raise SigningError(f"the OFD has no page {page_index} for the seal")
    return pages[page_index].get("ID", "")


def _signature_xml(
    files: dict[str, bytes],
    *,
    page_id: str,
    boundary: tuple[float, float, float, float],
    signed_at: datetime,
) -> bytes:
    root = ET.Element(QUALIFIED + "Signature")
    info = ofd_element(root, "SignedInfo")
    ofd_element(info, "Provider", ProviderName="certsvc", Version="0.1.0", Company="certsvc")
    ofd_element(info, "SignatureMethod", OID_SM2_WITH_SM3)
    ofd_element(info, "SignatureDateTime", signed_at.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"))
    references = ofd_element(info, "References", CheckMethod=OID_SM3)
    for name in sorted(files):
        reference = ofd_element(references, "Reference", FileRef=f"/{name}")
        ofd_element(reference, "CheckValue", base64.b64encode(sm3(files[name])).decode())
    x, y, w, h = boundary
    ofd_element(
        info,
        "StampAnnot",
        ID="1",
        PageRef=page_id,
        Boundary=f"{ofd_number(x)} {ofd_number(y)} {ofd_number(w)} {ofd_number(h)}",
    )
    ofd_element(root, "SignedValue", f"/{SIGNED_VALUE_PATH}")
    return xml_document(root)


def seal_ofd(
    unsigned: bytes,
    *,
    seal_der: bytes,
    key: SigningKey | SealKey,
    certificate_der: bytes,
    signed_at: datetime,
    page_index: int,
    boundary_mm: tuple[float, float, float, float],
    timestamp_transport: TimeStampTransport | None = None,
) -> bytes:
    """Seal an unsealed OFD: returns the sealed package (see the module docstring).

    ``boundary_mm`` is the seal box (x, y, width, height in mm from the page's top-left). With
    ``timestamp_transport``, ``SES_Signature.timeStamp`` holds an SM3 time-stamp token over the
    signature value from that TSA (GB/T 38540; the token does not change ``Signature.xml``).

    Raises:
        SigningError: not an SM2 key (code ``ofd_needs_sm2_seal``), the signer is not in the
            seal's list, the seal is not valid at ``signed_at``, or the package is not unsealed.
        TimeStampUnavailableError: the TSA could not give the time-stamp.
        InvalidDocumentError: ``unsigned`` is not a readable OFD package.
    """
    sm2_key = _sm2(key)
    package = read_package(unsigned)
    files = dict(package.files)
    files["OFD.xml"] = _with_signatures_entry(package.xml("OFD.xml"))
    signatures = ET.Element(QUALIFIED + "Signatures")
    ofd_element(signatures, "MaxSignId", "1")
    ofd_element(signatures, "Signature", ID="1", Type="Seal", BaseLoc=f"/{SIGNATURE_PATH}")
    files[SIGNATURES_PATH] = xml_document(signatures)
    page_id = _page_id(package.xml("Doc_0/Document.xml"), page_index)
    signature_xml = _signature_xml(
        files, page_id=page_id, boundary=boundary_mm, signed_at=signed_at
    )
    stamper = None
    if timestamp_transport is not None:
        transport = timestamp_transport

        def stamper(signature: bytes) -> bytes:
            return fetch_time_stamp_token(transport, signature, md="sm3")

    try:
        signed_value = ses.sign_document(
            seal_der=seal_der,
            signer_key=sm2_key,
            signer_cert_der=certificate_der,
            # GB/T 38540 applied to OFD (STANDARDS §1.4): dataHash = SM3(Signature.xml bytes).
            data_hash_sm3=sm3(signature_xml),
            property_info=f"/{SIGNATURE_PATH}",
            signed_at=signed_at,
            time_stamper=stamper,
        )
    except ValueError as exc:
        raise SigningError(f"the seal data cannot be used: {exc}") from exc
    files[SIGNATURE_PATH] = signature_xml
    files[SIGNED_VALUE_PATH] = signed_value
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            entry.compress_type = (
                zipfile.ZIP_STORED
                if name.endswith((".png", ".jpg", ".dat"))
                else zipfile.ZIP_DEFLATED
            )
            archive.writestr(entry, data)
    return buffer.getvalue()
