"""One licence as data: the record every version of it is made from.

A ``LicenceRecord`` is what a licence says (kind, holder, fields, validity, issuing department)
independent of any one file. It owns the two derived forms that several places must agree on:

* the GB/T 36903-2018 metadata written into every file's XMP and info dictionary, which
  verification reads back to find the registry entry of a damaged file;
* the canonical JSON whose digest the signed QR payload carries (docs/qr.md), recomputed from
  the registry when a code is scanned.

Both are functions of (record, identifier[, issue date]) and of nothing else, so issuance,
amendment, re-signing, import and the QR check cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from certsvc.domain.identifiers import HolderIdType

__all__ = ["Issuer", "LicenceKind", "LicenceRecord", "canonical_fields"]


def canonical_fields(fields: Mapping[str, object]) -> dict[str, Any]:
    """The JSON form of licence fields: what the registry stores and the QR digest covers."""
    data: dict[str, Any] = json.loads(json.dumps(dict(fields), ensure_ascii=False, default=str))
    return data


@dataclass(frozen=True, slots=True)
class LicenceKind:
    """Which licence: the template's slug, its printed name and GB/T 36904 type code."""

    slug: str
    name: str  # 证照名称
    type_code: str  # GB/T 36904 证照类型代码 (issuing authority USCC + 3 digits)
    number_field: str | None = None  # the field holding the printed 证照编号, if any


@dataclass(frozen=True, slots=True)
class Issuer:
    """The issuing department (发证机构)."""

    name: str
    code: str  # its 统一社会信用代码
    area_code: str  # GB/T 2260 行政区划代码 of its jurisdiction
    # Its name in traditional Mongolian script, set only for a bilingual department that has one:
    # the licence is then drawn with its template's bilingual layout.
    name_mn: str | None = None


@dataclass(frozen=True)
class LicenceRecord:
    """What a licence says, validated and normalised (``LicenceTemplate.validate_fields``)."""

    kind: LicenceKind
    holder_name: str
    holder_id_type: HolderIdType
    holder_id: str
    valid_from: date
    valid_until: date
    issuer: Issuer
    fields: Mapping[str, object] = field(default_factory=dict)

    def canonical_fields(self) -> dict[str, Any]:
        """The fields in their stored JSON form."""
        return canonical_fields(self.fields)

    def gbt36903_metadata(self, identifier: str, *, issued_on: date) -> dict[str, str]:
        """The GB/T 36903-2018 metadata of the version ``identifier`` issued on ``issued_on``."""
        metadata = {
            "identifier": identifier,
            "licence_name": self.kind.name,
            "type_code": self.kind.type_code,
            "holder_name": self.holder_name,
            "holder_code": self.holder_id,
            "holder_code_type": HolderIdType(
                self.holder_id_type
            ).gbt36903_code,  # 001 USCC / 111 公民身份号码
            "issuer_name": self.issuer.name,
            "issuer_code": self.issuer.code,
            "issued_on": issued_on.isoformat(),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "area_code": self.issuer.area_code,
        }
        number = self.fields.get(self.kind.number_field) if self.kind.number_field else None
        if isinstance(number, str) and number:
            metadata["licence_number"] = number
        return metadata

    def canonical_json(self, identifier: str) -> bytes:
        """The canonical JSON of the version ``identifier`` (sorted keys, no spaces, UTF-8).

        Its SHA-256 (SM3 for SM2 seals) is the data digest of the signed QR payload. It covers
        what a clerk compares with the paper, not the issue date or any file's bytes, so every
        re-signing of a version keeps the same digest.
        """
        record = {
            "id": identifier,
            "department": self.issuer.code,
            "holder": {
                "name": self.holder_name,
                "id_type": str(self.holder_id_type),
                "id": self.holder_id,
            },
            "fields": self.canonical_fields(),
            "valid": [self.valid_from.isoformat(), self.valid_until.isoformat()],
        }
        return json.dumps(
            record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode("utf-8")
