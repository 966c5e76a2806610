from __future__ import annotations

import math

import pytest

from certsvc.domain.pdf_numbers import (
    PDF_NUMBER,
    normalize_content_numbers,
    pdf_number,
    pdf_numbers,
)

pytestmark = pytest.mark.db_independent


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7.105427357601002e-15, "0"),
        (-7.105427357601002e-15, "0"),
        (1e-5, "0"),
        (12.5, "12.5"),
        (-0.25, "-0.25"),
        (107.0, "107"),
        (1234567.0, "1234567"),  # %g writes 1.23457e+06
        (0.00005, "0.0001"),
    ],
)
def test_numbers_are_fixed_point_without_exponent(value: float, text: str) -> None:
    assert pdf_number(value) == text
    assert PDF_NUMBER.fullmatch(text.encode())


def test_places_and_several_numbers() -> None:
    assert pdf_number(1 / 3, 2) == "0.33"
    assert pdf_numbers(1.0, 0, -2.5, 1e-20) == b"1 0 -2.5 0"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        pdf_number(value)


def test_normalizing_rewrites_exponents_outside_strings_only() -> None:
    ops = b"[<0e15> 12 (1e5)] TJ 1.5e-05 0 Td 3E+2 4 Td"
    assert normalize_content_numbers(ops) == b"[<0e15> 12 (1e5)] TJ 0 0 Td 300 4 Td"
