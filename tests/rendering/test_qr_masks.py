"""The array-based mask choice picks segno's mask and gives segno's matrix, module for module."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import segno
import segno.encoder as segno_encoder

from certsvc.rendering import qr_masks
from certsvc.rendering.drawing import qr_matrix

pytestmark = pytest.mark.db_independent


def _texts() -> list[str]:
    rng = random.Random(20260315)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    texts = [
        "https://zwfw.xlgl.gov.cn/v/1.2.156.3005.2.11100000MB0143028R001.11152500011512829G.2026000001.001.0?p="
        + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        for _ in range(12)
    ]
    texts += ["1" * n for n in (1, 17, 41, 300)]  # numeric mode
    texts += ["XILINGOL LEAGUE " * n for n in (1, 3, 9)]  # alphanumeric mode
    texts += ["锡林郭勒盟市场监督管理局" * n for n in (1, 4)]  # byte mode with UTF-8
    return texts


@pytest.fixture
def segno_only() -> Iterator[None]:
    segno_encoder.find_and_apply_best_mask = qr_masks._SEGNO_BEST_MASK
    yield
    qr_masks.install()


@pytest.mark.parametrize("error", ["l", "m", "h"])
def test_same_mask_and_matrix_as_segno(error: str, segno_only: None) -> None:
    for text in _texts():
        expected = segno.make(text, error=error, micro=False, boost_error=False)
        qr_masks.install()
        actual = segno.make(text, error=error, micro=False, boost_error=False)
        segno_encoder.find_and_apply_best_mask = qr_masks._SEGNO_BEST_MASK
        assert (actual.version, actual.mask) == (expected.version, expected.mask), text
        assert tuple(actual.matrix) == tuple(expected.matrix), text


def test_micro_codes_and_proposed_masks_take_segno_s_path() -> None:
    assert segno_encoder.find_and_apply_best_mask is qr_masks.find_and_apply_best_mask  # installed on import
    micro = segno.make("152500", micro=True)
    assert micro.is_micro and micro.mask is not None
    fixed = segno.make("https://zwfw.xlgl.gov.cn/v/x", mask=5, micro=False)
    assert fixed.mask == 5


def test_licence_qr_matrix_is_readable_structure() -> None:
    matrix = qr_matrix("https://zwfw.xlgl.gov.cn/v/1.2.156.3005.2?p=abc")
    size = len(matrix)
    assert size >= 21 and all(len(row) == size for row in matrix)
    assert {cell & 1 for row in matrix for cell in row} == {0, 1}
