"""A damaged ZIP directory is refused as a malformed OFD, never an unexpected error (found by fuzzing)."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from certsvc.crypto.ofd_package import is_ofd, read_package
from certsvc.errors import InvalidDocumentError

pytestmark = pytest.mark.db_independent


def _with_version_needed(version: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("OFD.xml", b"<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'/>")
    data = bytearray(out.getvalue())
    directory = data.rfind(b"PK\x01\x02")
    data[directory + 6 : directory + 8] = struct.pack("<H", version)  # "version needed to extract"
    return bytes(data)


def test_an_unknown_zip_version_is_a_malformed_ofd() -> None:
    damaged = _with_version_needed(171)  # zipfile raises NotImplementedError("zip file version 17.1")
    assert not is_ofd(damaged)
    with pytest.raises(InvalidDocumentError) as info:
        read_package(damaged)
    assert info.value.code == "ofd_malformed"


def test_a_damaged_deflate_stream_is_a_malformed_ofd() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", b"<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'/>" + bytes(range(256)) * 8)
    data = bytearray(out.getvalue())
    body = data.find(b"PK\x03\x04") + 30 + len("OFD.xml")
    data[body] = 0x07  # a final deflate block of the reserved type 3: zlib.error "invalid block type"
    assert is_ofd(bytes(data))  # the directory is intact; only the entry's bytes are not
    with pytest.raises(InvalidDocumentError) as info:
        read_package(bytes(data))
    assert info.value.code == "ofd_malformed"
