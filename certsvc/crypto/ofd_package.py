"""Reading an OFD package (a ZIP file, GB/T 33190 §7.1) from someone else, defensively.

An uploaded OFD is untrusted input to a public endpoint, so every way a ZIP or an XML file can
hurt the server is refused with :class:`~certsvc.errors.InvalidDocumentError` (HTTP 400) before
anything else looks at it:

* too many entries, a declared or actual uncompressed size over the limits, or a compression
  ratio no real OFD reaches (a ZIP bomb);
* entry names that are absolute, climb out with ``..``, use backslashes or drive letters, or
  repeat (two entries with one name would let a reader and the verifier see different files);
* encrypted entries;
* XML with a DTD, entities or external references (``defusedxml``), or over the XML size limit.

Nothing is ever written to disk: entries are read into memory up to the limits.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree as SafeET

from certsvc.errors import DocumentTooLargeError, InvalidDocumentError

__all__ = ["OfdPackage", "PackageLimits", "is_ofd", "parse_xml", "read_package"]

_ZIP_MAGIC = b"PK\x03\x04"
_BAD_NAME = re.compile(r"(^[/\\])|(^[A-Za-z]:)|\\|(^|/)\.\.?(/|$)|[\x00-\x1f]")


@dataclass(frozen=True, slots=True)
class PackageLimits:
    max_entries: int = 2_000
    max_total_bytes: int = 64 * 1024 * 1024  # uncompressed, all entries
    max_entry_bytes: int = 32 * 1024 * 1024
    max_xml_bytes: int = 8 * 1024 * 1024
    # Fonts and XML deflate to a fifth or so; 1 000 × is only reached by crafted runs of zeros.
    max_ratio: int = 200


@dataclass(frozen=True, slots=True)
class OfdPackage:
    """The files of a package, by name, in archive order."""

    files: dict[str, bytes]
    limits: PackageLimits

    def xml(self, name: str) -> ET.Element:
        """Parse one XML entry safely.

        Raises:
            InvalidDocumentError: missing, too large, not well-formed, or uses DTDs/entities.
        """
        data = self.files.get(name.lstrip("/"))
        if data is None:
            raise InvalidDocumentError(f"the OFD has no {name}", code="ofd_malformed")
        return parse_xml(data, name=name, limits=self.limits)


# What zipfile raises for a damaged archive: a fuzzed "version needed" field gives
# NotImplementedError, a truncated one EOFError or OSError, a damaged deflate stream zlib.error.
_UNREADABLE_ZIP = (
    zipfile.BadZipFile,
    NotImplementedError,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
)


def is_ofd(data: bytes) -> bool:
    """Whether ``data`` looks like an OFD: a ZIP whose entries include ``OFD.xml``."""
    if not data.startswith(_ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(info.filename == "OFD.xml" for info in archive.infolist())
    except _UNREADABLE_ZIP:
        return False


def parse_xml(data: bytes, *, name: str, limits: PackageLimits | None = None) -> ET.Element:
    """``defusedxml`` parse with no DTD, no entities, no external references and a size cap.

    Raises:
        InvalidDocumentError: as :meth:`OfdPackage.xml`.
    """
    limits = limits or PackageLimits()
    if len(data) > limits.max_xml_bytes:
        raise InvalidDocumentError(
            f"{name} is larger than {limits.max_xml_bytes} bytes", code="ofd_malformed"
        )
    try:
        root: ET.Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        raise InvalidDocumentError(
            f"{name} uses a DTD or entities, which OFD files never need", code="ofd_malformed"
        ) from exc
    except ET.ParseError as exc:
        raise InvalidDocumentError(f"{name} is not well-formed XML", code="ofd_malformed") from exc
    return root


def read_package(
    data: bytes, *, limits: PackageLimits | None = None, max_bytes: int | None = None
) -> OfdPackage:
    """Open an OFD package within ``limits``.

    Raises:
        DocumentTooLargeError: the file is larger than ``max_bytes``.
        InvalidDocumentError: not a ZIP, or any refusal listed in the module docstring.
    """
    limits = limits or PackageLimits()
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"the document is larger than {max_bytes} bytes", details={"limit": max_bytes}
        )
    if not data.startswith(_ZIP_MAGIC):
        raise InvalidDocumentError(
            "the file is not an OFD (not a ZIP package)", code="ofd_malformed"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _UNREADABLE_ZIP as exc:
        raise InvalidDocumentError(
            "the OFD package is not a readable ZIP file", code="ofd_malformed"
        ) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise InvalidDocumentError(
                f"the OFD package has more than {limits.max_entries} entries", code="ofd_malformed"
            )
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise InvalidDocumentError(
                "the OFD package has two entries with one name", code="ofd_malformed"
            )
        declared = 0
        for info in infos:
            if _BAD_NAME.search(info.filename):
                raise InvalidDocumentError(
                    f"unsafe entry name in the OFD package: {info.filename[:80]!r}",
                    code="ofd_malformed",
                )
            if info.flag_bits & 0x1:
                raise InvalidDocumentError(
                    "the OFD package has encrypted entries", code="ofd_malformed"
                )
            declared += info.file_size
            if info.file_size > limits.max_entry_bytes or declared > limits.max_total_bytes:
                raise InvalidDocumentError(
                    "the OFD package unpacks to more than the size limit", code="ofd_malformed"
                )
            if info.file_size > 1024 and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise InvalidDocumentError(
                    "the OFD package is compressed beyond any real file (a ZIP bomb)",
                    code="ofd_malformed",
                )
        files: dict[str, bytes] = {}
        for info in infos:
            if info.is_dir():
                continue
            try:
                with archive.open(info) as entry:
                    # The declared size can lie; never read more than it promised.
                    body = entry.read(info.file_size + 1)
            except _UNREADABLE_ZIP as exc:
                raise InvalidDocumentError(
                    f"the OFD entry {info.filename[:80]!r} cannot be read", code="ofd_malformed"
                ) from exc
            if len(body) != info.file_size:
                raise InvalidDocumentError(
                    "an OFD entry is larger than its declared size", code="ofd_malformed"
                )
            files[info.filename] = body
    if "OFD.xml" not in files:
        raise InvalidDocumentError(
            "the package has no OFD.xml: not an OFD file", code="ofd_malformed"
        )
    return OfdPackage(files, limits)
