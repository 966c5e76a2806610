"""Mongolian text in licence templates: what a template may declare, checked and drawn.

A template folder may hold, beside ``template.json``, a ``bilingual.json``: the same licence
laid out in Mongolian and Chinese for the departments of 内蒙古 (内政办发〔1996〕32号 Art. 2–3:
certificates and business licences carry both scripts; horizontally, Mongolian above or before
Chinese). It declares the same fields as ``template.json`` and adds:

* ``{"kind": "mongolian", "text": "…", "x", "y", "size", "align", "color"}`` — Mongolian text
  (a title above the Chinese title, a heading); with ``"field": "$department_name_mn"``
  instead of ``text`` it prints the issuing department's Mongolian name. With ``"width"`` (mm)
  it wraps at word spaces (never at NNBSP, which binds a case suffix to its word) into at most
  ``"max_lines"`` lines ``"leading"`` mm apart, stepping the size down to ``"shrink_to"``;
  text that still does not fit is refused, never drawn outside its box;
* ``"label_mn"`` (+ ``"label_mn_width"`` in mm) on a ``field`` item — the Mongolian label drawn
  before the Chinese one, both inside ``label_width``.

Every Mongolian string is checked when templates load (script, normal form, glyphs of the
Mongolian font), so a broken template fails at start-up, never while a clerk is issuing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reportlab.lib.colors import Color
from reportlab.pdfgen.canvas import Canvas

from certsvc.rendering.mongolian import (
    mongolian_text_problems,
    normalise_mongolian,
    shape_mongolian,
)
from certsvc.rendering.mongolian_pdf import draw_mongolian

__all__ = [
    "BILINGUAL_FILE",
    "DEPARTMENT_NAME_MN",
    "check_mongolian_item",
    "draw_mongolian_item",
    "draw_mongolian_line",
    "fit_mongolian",
]

BILINGUAL_FILE = "bilingual.json"
_MM = 72 / 25.4  # points per millimetre (templates.MM; that module imports this one)
DEPARTMENT_NAME_MN = "$department_name_mn"


def _text_problems(where: str, text: str) -> list[str]:
    if normalise_mongolian(text) != text:
        return [f"{where}: Mongolian text must be trimmed NFC with single spaces"]
    return [f"{where}: Mongolian text {p}" for p in mongolian_text_problems(text)]


def check_mongolian_item(where: str, raw_item: Mapping[str, Any]) -> list[str]:
    """Problems of a ``mongolian`` item or of a field item's ``label_mn``; ``[]`` if fine."""
    problems: list[str] = []
    if raw_item.get("kind") == "mongolian":
        text, source = raw_item.get("text"), raw_item.get("field")
        if (text is None) == (source is None):
            problems.append(
                f"{where}: a mongolian item has either 'text' or 'field', not both or neither"
            )
        if source is not None and source != DEPARTMENT_NAME_MN:
            problems.append(f"{where}: a mongolian item can only print {DEPARTMENT_NAME_MN!r}")
        if isinstance(text, str):
            problems.extend(_text_problems(where, text))
    label = raw_item.get("label_mn")
    if isinstance(label, str):
        problems.extend(_text_problems(f"{where} label_mn", label))
        if not isinstance(raw_item.get("label_mn_width"), (int, float)):
            problems.append(f"{where}: label_mn needs label_mn_width (mm)")
        elif float(raw_item["label_mn_width"]) >= float(raw_item.get("label_width", 0)):
            problems.append(
                f"{where}: label_mn_width must leave room for the Chinese label in label_width"
            )
    return problems


def _wrap(text: str, width_pt: float, size: float, max_lines: int) -> list[str] | None:
    lines: list[str] = []
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and shape_mongolian(candidate).width(size) <= width_pt:
            lines[-1] = candidate
        elif shape_mongolian(word).width(size) <= width_pt:
            lines.append(word)
        else:
            return None  # one word wider than the box
    return lines if len(lines) <= max_lines else None


def fit_mongolian(
    text: str, *, width_pt: float | None, size: float, max_lines: int, smallest: float
) -> tuple[list[str], float] | None:
    """Lines and size for Mongolian text in a box ``width_pt`` wide; ``None`` if it cannot fit.

    Without a width the text is one line at ``size``.
    """
    if width_pt is None:
        return [text], size
    while True:
        lines = _wrap(text, width_pt, size, max_lines)
        if lines is not None:
            return lines, size
        if size - 0.5 < smallest - 1e-9:
            return None
        size -= 0.5


def draw_mongolian_line(
    canvas: Canvas,
    text: str,
    *,
    x_pt: float,
    baseline_pt: float,
    size: float,
    align: str,
    color: Color,
) -> None:
    """One Mongolian line: shaped, drawn from its glyphs, searchable as Mongolian.

    A canvas that is not reportlab's (the OFD recorder) can draw the shaped glyphs itself by
    offering ``drawShapedRun(run, x_pt, baseline_pt, size, align, color)``; it gets the
    ``ShapedRun`` value (glyph ids, advances, font file), never PDF operators.
    """
    custom = getattr(canvas, "drawShapedRun", None)
    if callable(custom):
        custom(shape_mongolian(text), x_pt, baseline_pt, size, align, color)
        return
    canvas.saveState()
    canvas.setFillColor(color)
    draw_mongolian(canvas, text, x=x_pt, y=baseline_pt, size=size, align=align)
    canvas.restoreState()


def draw_mongolian_item(
    canvas: Canvas,
    lines: tuple[str, ...],
    *,
    x_mm: float,
    width_mm: float | None,
    baseline_pt: Callable[[float], float],
    y_mm: float,
    leading_mm: float,
    size: float,
    align: str,
    color: Color,
) -> None:
    """The planned lines of a ``mongolian`` item; with a width, centre/right align in its box."""
    x = x_mm
    if width_mm is not None and align != "left":
        x += width_mm / (2 if align == "center" else 1)
    for i, line in enumerate(lines):
        draw_mongolian_line(
            canvas,
            line,
            x_pt=x * _MM,
            baseline_pt=baseline_pt(y_mm + i * leading_mm),
            size=size,
            align=align,
            color=color,
        )
