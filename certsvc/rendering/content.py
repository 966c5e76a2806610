"""What a render takes and gives: one licence version's content, and the two PDFs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from certsvc.domain.layout import SealBox
from certsvc.domain.licence import LicenceRecord

__all__ = ["LicenceContent", "RenderedLicence"]


@dataclass(frozen=True)
class LicenceContent:
    """Everything printed on one licence version: the record, the version's identifier, its
    issue date and the QR code's text."""

    record: LicenceRecord  # validated and normalised by the caller
    identifier: str  # GB/T 36904 licence identifier of this version
    issued_on: date
    verify_url: str  # what the QR code encodes

    @property
    def holder_name(self) -> str:
        return self.record.holder_name

    @property
    def holder_id_type(self) -> str:
        return self.record.holder_id_type.value

    @property
    def holder_id(self) -> str:
        return self.record.holder_id

    @property
    def fields(self) -> Mapping[str, object]:
        return self.record.fields

    @property
    def valid_from(self) -> date:
        return self.record.valid_from

    @property
    def valid_until(self) -> date:
        return self.record.valid_until

    @property
    def department_name(self) -> str:
        return self.record.issuer.name

    @property
    def department_name_mn(self) -> str | None:
        """The issuing department's Mongolian name: set, the template's bilingual layout is used."""
        return self.record.issuer.name_mn

    @property
    def department_code(self) -> str:
        return self.record.issuer.code

    @property
    def metadata(self) -> dict[str, str]:
        """GB/T 36903 metadata for XMP and the info dictionary (the record's one mapping)."""
        return self.record.gbt36903_metadata(self.identifier, issued_on=self.issued_on)


@dataclass(frozen=True)
class RenderedLicence:
    electronic_pdf: bytes  # unsigned; the seal box left EMPTY for the signature appearance
    print_pdf: bytes  # same look and QR, marked 打印件, seal image drawn in the seal box
    seal_box: SealBox
