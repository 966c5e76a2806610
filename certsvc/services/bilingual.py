"""Mongolian and Chinese together: the rules for departments of 内蒙古.

《内蒙古自治区社会市面蒙汉两种文字并用管理办法》(内政办发〔1996〕32号) Art. 2 requires the names of
the region's bodies on seals (公章), certificates (证件) and business licences in both Mongolian
and Chinese. certsvc models that as a per-department setting, on by default for departments
whose GB/T 2260 行政区划代码 starts with ``15`` (内蒙古), with the Mongolian name stored in
traditional script. This module owns those rules; rendering only draws what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from certsvc.rendering.bilingual_seals import RingLayout, draw_bilingual_round_seal
from certsvc.rendering.mongolian import mongolian_text_problems, normalise_mongolian
from certsvc.rendering.seals import draw_round_seal

__all__ = [
    "INNER_MONGOLIA_AREA_PREFIX",
    "RingLayout",
    "SealText",
    "default_bilingual",
    "draw_seal_image",
    "licence_name_mn",
    "missing_mongolian_warnings",
    "mongolian_name",
]

INNER_MONGOLIA_AREA_PREFIX = "15"  # GB/T 2260: 内蒙古自治区 is 150000


@dataclass(frozen=True, slots=True)
class SealText:
    """Everything written on a department's round seal."""

    department_name: str
    seal_name: str
    department_name_mn: str | None = None
    seal_name_mn: str | None = None
    layout: RingLayout = RingLayout.RINGS
    is_bilingual: bool = False


def default_bilingual(area_code: str) -> bool:
    """A department of 内蒙古 writes its name in both scripts unless it is set otherwise."""
    return area_code.startswith(INNER_MONGOLIA_AREA_PREFIX)


def mongolian_name(field: str, raw: str | None) -> tuple[str | None, list[dict[str, str]]]:
    """Normalise an optional Mongolian name; returns ``(value or None, [{field, problem}])``.

    Blank means "no Mongolian name". Every problem is reported, in the shape the Chinese text
    checks use, so one request shows the clerk all of them.
    """
    if raw is None or not raw.strip():
        return None, []
    value = normalise_mongolian(raw)
    return value, [
        {"field": field, "problem": f"the Mongolian name {p}"}
        for p in mongolian_text_problems(value)
    ]


def licence_name_mn(*, is_bilingual: bool, name_mn: str | None) -> str | None:
    """The Mongolian name a licence prints: a bilingual department's, when it has one.

    ``LicenceContent.department_name_mn`` set makes the renderer use the template's bilingual
    layout; a bilingual department still without its name gets the Chinese layout (and its
    operator was told when the department was registered).
    """
    return name_mn if is_bilingual and name_mn else None


def missing_mongolian_warnings(
    *, is_bilingual: bool, name_mn: str | None, area_code: str
) -> list[str]:
    """What an operator is told (not refused) about a department's Mongolian name."""
    if is_bilingual and name_mn is None:
        where = (
            "a department of 内蒙古" if default_bilingual(area_code) else "a bilingual department"
        )
        return [
            f"{where} has no Mongolian name (name_mn): its seals and licences are drawn in Chinese "
            "only until one is set, and 内政办发〔1996〕32号 requires both scripts"
        ]
    return []


def draw_seal_image(text: SealText, *, diameter_mm: float) -> bytes:
    """The round seal image: bilingual when the department is and has its Mongolian name.

    Raises:
        ValidationFailedError: (seal_text_not_drawable) a name does not fit or has characters
            the seal fonts cannot draw.
    """
    if text.is_bilingual and text.department_name_mn:
        return draw_bilingual_round_seal(
            department_name=text.department_name,
            department_name_mn=text.department_name_mn,
            seal_name=text.seal_name,
            seal_name_mn=text.seal_name_mn,
            layout=text.layout,
            diameter_mm=diameter_mm,
        )
    return draw_round_seal(
        department_name=text.department_name, seal_name=text.seal_name, diameter_mm=diameter_mm
    )
