from __future__ import annotations

import pytest
from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2, mod_37_36

from certsvc.domain.identifiers import (
    HolderIdType,
    LicenceIdentifier,
    is_valid_resident_id,
    is_valid_uscc,
    mask_holder_id,
    mask_holder_name,
    mod37_36_check_char,
    validate_holder_id,
)
from certsvc.errors import InvalidHolderIdError, ValidationFailedError

pytestmark = pytest.mark.db_independent

# Published identifiers that pass the GB/T 36904 check (STANDARDS.md §3.1).
PUBLISHED_IDENTIFIERS = [
    "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y",
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
]


@pytest.mark.parametrize("text", PUBLISHED_IDENTIFIERS)
def test_published_identifiers_parse_and_round_trip(text: str) -> None:
    ident = LicenceIdentifier.parse(text)
    assert str(ident) == text


@pytest.mark.parametrize("text", PUBLISHED_IDENTIFIERS)
def test_check_char_agrees_with_python_stdnum(text: str) -> None:
    payload = "".join(text.split(".")[6:10])
    assert mod37_36_check_char(payload) == mod_37_36.calc_check_digit(payload)


@pytest.mark.parametrize(
    "text",
    [
        PUBLISHED_IDENTIFIERS[0][:-1] + "Z",  # wrong check char
        PUBLISHED_IDENTIFIERS[0].replace("1.2.156.3005.2", "1.2.156.3005.3"),  # wrong root
        "1.2.156.3005.2.11100000000013338W011.11110000000021135M.003.Y",  # missing part
        "1.2.156.3005.2.11100000000013338W011.11110000000021135N.20230329701.003.Y",  # bad issuer USCC
    ],
)
def test_malformed_identifiers_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailedError):
        LicenceIdentifier.parse(text)


def test_a_new_version_changes_version_and_check_but_not_base() -> None:
    ident = LicenceIdentifier.parse(PUBLISHED_IDENTIFIERS[1])
    newer = ident.with_version(2)
    assert str(newer).endswith(".002." + newer.check_char)
    assert newer.base == ident.base
    assert LicenceIdentifier.parse(str(newer)) == newer


VALID_USCC = ["91350100M000100Y43", "9135052155323005XL", "11100000000013338W", "11220000013544541J",
              "11110000000021135M", "11430000006122244L", "11330105002500287C"]


@pytest.mark.parametrize("code", VALID_USCC)
def test_published_uscc_are_valid(code: str) -> None:
    assert is_valid_uscc(code)
    assert uscc.is_valid(code)


@pytest.mark.parametrize(
    "code", ["91350100M000100Y44", "9135052155323005X", "91350100M000100YI3", "I1350100M000100Y43", "", "9135O100M000100Y43"]
)
def test_bad_uscc_are_refused(code: str) -> None:
    assert not is_valid_uscc(code)


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_published_resident_ids_are_valid(number: str) -> None:
    assert is_valid_resident_id(number)
    # python-stdnum also checks the birth-place code against its own table, so compare only
    # the check character (ISO 7064 MOD 11-2) with it.
    assert mod_11_2.calc_check_digit(number[:17]) == number[17]


@pytest.mark.parametrize("number", ["110105194912310021", "44052418800101001", "440524188013010014", "11010519491231002x1"])
def test_bad_resident_ids_are_refused(number: str) -> None:
    assert not is_valid_resident_id(number)


def test_validate_holder_id_normalises_and_raises() -> None:
    assert validate_holder_id(HolderIdType.RESIDENT_ID, " 11010519491231002x ") == "11010519491231002X"
    with pytest.raises(InvalidHolderIdError) as info:
        validate_holder_id(HolderIdType.USCC, "91350100M000100Y44")
    assert info.value.code == "invalid_holder_id"


def test_masking_hides_the_middle() -> None:
    assert mask_holder_name("张三") == "张*"
    assert mask_holder_name("张小三") == "张*三"
    assert mask_holder_id("150202198001011234") == "1502**********1234"
