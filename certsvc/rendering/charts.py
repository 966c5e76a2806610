"""PNG charts of the programme figures, and the QR image of a sharing authorization.

matplotlib runs headless (Agg) and is imported lazily: only ``certsvc stats --plot`` pays the
~0.5 s import, never the API's start-up. Labels are Chinese, so the CJK face the licences use
(WenQuanYi Zen Hei) is passed explicitly; matplotlib's default font has no CJK glyphs.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import segno

from certsvc.rendering.fonts import DEFAULT_FONTS

__all__ = ["bar_chart_png", "qr_png", "share_chart_png"]

_PLOT_LOCK = threading.Lock()  # pyplot's state machine is not thread-safe


def qr_png(payload: str, *, scale: int = 8) -> bytes:
    """A QR code (error level M, quiet zone 4) as PNG bytes."""
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _font() -> Any:
    from matplotlib.font_manager import FontProperties

    path = DEFAULT_FONTS["hei"].path
    return FontProperties(fname=str(path)) if path.exists() else FontProperties()


def _save(fig: Any) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    return out.getvalue()


def bar_chart_png(
    title: str,
    categories: Sequence[str],
    stacks: Mapping[str, Sequence[float]],
    *,
    ylabel: str = "",
) -> bytes:
    """A stacked bar chart: one bar per category, one colour per stack."""
    with _PLOT_LOCK:
        plt = _pyplot()
        font = _font()
        fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(categories) + 2), 4.5))
        try:
            bottoms = [0.0] * len(categories)
            for name, values in stacks.items():
                ax.bar(list(range(len(categories))), list(values), bottom=bottoms, label=name)
                bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
            ax.set_xticks(list(range(len(categories))))
            ax.set_xticklabels(
                list(categories), fontproperties=font, rotation=20, ha="right", fontsize=8
            )
            ax.set_title(title, fontproperties=font)
            ax.set_ylabel(ylabel, fontproperties=font)
            if stacks:
                ax.legend(prop=font, fontsize=8)
            fig.tight_layout()
            return _save(fig)
        finally:
            plt.close(fig)


def share_chart_png(
    title: str, part: int, whole: int, *, part_label: str, rest_label: str
) -> bytes:
    """A two-slice pie: ``part`` of ``whole`` (an empty ring when ``whole`` is 0)."""
    with _PLOT_LOCK:
        plt = _pyplot()
        font = _font()
        fig, ax = plt.subplots(figsize=(5, 5))
        try:
            rest = max(whole - part, 0)
            values = [part, rest] if whole else [0, 1]
            ax.pie(
                values,
                labels=[part_label, rest_label],
                autopct="%1.0f%%" if whole else None,
                textprops={"fontproperties": font},
            )
            ax.set_title(title, fontproperties=font)
            fig.tight_layout()
            return _save(fig)
        finally:
            plt.close(fig)
