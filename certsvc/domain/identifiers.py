"""Licence identifiers (GB/T 36904) and holder identifiers (GB 32100, GB 11643).

Pure functions with no I/O. The check-character algorithms are written out here rather than
taken from a library so that the rules are visible next to the standard they come from; the
tests cross-check them against python-stdnum and published examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from certsvc.errors import InvalidHolderIdError, ValidationFailedError

__all__ = [
    "LICENCE_ROOT",
    "HolderIdType",
    "LicenceIdentifier",
    "is_valid_resident_id",
    "is_valid_uscc",
    "mask_holder_id",
    "mask_holder_name",
    "mod37_36_check_char",
    "public_holder_name",
    "uscc_check_char",
    "validate_holder_id",
]

# GB/T 36904-2018: the electronic licence root code (OID arc 1.2.156.3005.2).
LICENCE_ROOT = "1.2.156.3005.2"

_ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# GB 32100-2015: 31 symbols, without I, O, S, V, Z.
_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
# GB 11643-1999 = ISO 7064 MOD 11-2.
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RIC_RE = re.compile(r"^\d{17}[\dX]$")
_SERIAL_RE = re.compile(r"^[0-9A-Z]{1,32}$")
_VERSION_RE = re.compile(r"^\d{3}$")


class HolderIdType(StrEnum):
    USCC = "uscc"  # 统一社会信用代码, GB/T 36903 holder code type 001
    RESIDENT_ID = "resident_id"  # 公民身份号码, GB/T 36903 holder code type 111

    @property
    def gbt36903_code(self) -> str:
        return "001" if self is HolderIdType.USCC else "111"


def mod37_36_check_char(payload: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (GB/T 17710) check character over ``[0-9A-Z]*``."""
    p = 36
    for ch in payload:
        value = _ALNUM36.find(ch)
        if value < 0:
            raise ValueError(f"character {ch!r} is outside 0-9A-Z")
        p = (p + value) % 36 or 36
        p = (2 * p) % 37
    return _ALNUM36[(37 - p) % 36]


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character of a 统一社会信用代码."""
    total = 0
    for ch, weight in zip(first17, _USCC_WEIGHTS, strict=True):
        value = _USCC_CHARSET.find(ch)
        if value < 0:
            raise ValueError(f"character {ch!r} is not allowed in a USCC")
        total += value * weight
    return _USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    return bool(_USCC_RE.match(code)) and uscc_check_char(code[:17]) == code[17]


def is_valid_resident_id(number: str) -> bool:
    if not _RIC_RE.match(number):
        return False
    month, day = int(number[10:12]), int(number[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(ch) * w for ch, w in zip(number[:17], _RIC_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17]


def validate_holder_id(id_type: HolderIdType, value: str) -> str:
    """Return the normalised id (upper case, trimmed) or raise ``InvalidHolderIdError``."""
    normalised = value.strip().upper()
    ok = (
        is_valid_uscc(normalised)
        if id_type is HolderIdType.USCC
        else is_valid_resident_id(normalised)
    )
    if not ok:
        label = "统一社会信用代码" if id_type is HolderIdType.USCC else "居民身份证号码"
        raise InvalidHolderIdError(
            f"holder id is not a valid {label} ({id_type.value}): wrong length, characters or check character",
            details=[{"field": "holder.id", "problem": "check character or format is wrong"}],
        )
    return normalised


def mask_holder_name(name: str) -> str:
    """张三 → 张*, 张小三 → 张*三, organisations keep their first and last two characters."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    if len(name) <= 4:
        return name[0] + "*" * (len(name) - 2) + name[-1]
    return name[:2] + "*" * (len(name) - 4) + name[-2:]


# Legal-form endings an organisation's name keeps on the public page: they tell a clerk what kind
# of holder it is without naming it (锡林浩特市草原明珠餐饮有限公司 → 锡林**有限公司).
_LEGAL_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "专业合作社",
    "合作社",
    "个体工商户",
    "分公司",
    "集团",
    "公司",
    "医院",
    "药店",
    "大药房",
    "诊所",
    "餐厅",
    "饭店",
    "超市",
    "商店",
    "中心",
    "厂",
    "店",
)


def public_holder_name(name: str) -> str:
    """The holder as the public page names it: 张小三 → 张*三; an organisation short and masked."""
    if len(name) <= 4:
        return mask_holder_name(name)
    suffix = next(
        (form for form in _LEGAL_FORMS if name.endswith(form) and len(name) > len(form) + 2),
        name[-2:],
    )
    return name[:2] + "**" + suffix


def mask_holder_id(value: str) -> str:
    """Keep the first four and last four characters: 1502**********1234."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


@dataclass(frozen=True, slots=True)
class LicenceIdentifier:
    """电子证照标识 (GB/T 36904): root.type.issuer.serial.version.check."""

    type_code: str  # 证照类型代码: defining authority USCC (18) + 3-digit sequence
    issuer_code: str  # 证照颁发机构代码: issuing authority USCC
    serial: str  # 流水号
    version: int  # 版本号, printed as 3 digits

    def __post_init__(self) -> None:
        problems = []
        if (
            len(self.type_code) != 21
            or not is_valid_uscc(self.type_code[:18])
            or not self.type_code[18:].isdigit()
        ):
            problems.append("type code must be a valid USCC followed by 3 digits")
        if not is_valid_uscc(self.issuer_code):
            problems.append("issuer code must be a valid USCC")
        if not _SERIAL_RE.match(self.serial):
            problems.append("serial must be 1-32 characters of 0-9A-Z")
        if not 1 <= self.version <= 999:
            problems.append("version must be 1..999")
        if problems:
            raise ValidationFailedError(
                "invalid licence identifier parts: " + "; ".join(problems),
                details=[{"field": "identifier", "problem": p} for p in problems],
            )

    @property
    def check_char(self) -> str:
        # GB/T 36904: check over type+issuer+serial+version, no root, no dots.
        return mod37_36_check_char(
            f"{self.type_code}{self.issuer_code}{self.serial}{self.version:03d}"
        )

    def __str__(self) -> str:
        return (
            f"{LICENCE_ROOT}.{self.type_code}.{self.issuer_code}.{self.serial}."
            f"{self.version:03d}.{self.check_char}"
        )

    def with_version(self, version: int) -> LicenceIdentifier:
        return LicenceIdentifier(self.type_code, self.issuer_code, self.serial, version)

    @property
    def base(self) -> str:
        """The identifier without version and check char: the same for every version of a licence."""
        return f"{LICENCE_ROOT}.{self.type_code}.{self.issuer_code}.{self.serial}"

    @classmethod
    def parse(cls, text: str) -> LicenceIdentifier:
        """Parse and check an identifier; raises ``ValidationFailedError`` when malformed."""
        if not text.startswith(LICENCE_ROOT + "."):
            raise ValidationFailedError(
                "licence identifier must start with the root code 1.2.156.3005.2",
                details=[{"field": "identifier", "problem": "wrong root code"}],
            )
        parts = text[len(LICENCE_ROOT) + 1 :].split(".")
        if len(parts) != 5 or not _VERSION_RE.match(parts[3]):
            raise ValidationFailedError(
                "licence identifier must have type.issuer.serial.version.check after the root",
                details=[{"field": "identifier", "problem": "wrong number of parts"}],
            )
        ident = cls(parts[0], parts[1], parts[2], int(parts[3]))
        if ident.check_char != parts[4]:
            raise ValidationFailedError(
                "licence identifier check character is wrong",
                details=[{"field": "identifier", "problem": "check character mismatch"}],
            )
        return ident
