"""PNG charts of the programme figures, and the QR image of a sharing authorization.

matplotlib runs headless (Agg) and is imported lazily: only ``certsvc stats --plot`` pays the
~0.5 s import, never the API's start-up. Labels are Chinese, so the CJK face the licences use
(WenQuanYi Zen Hei) is passed explicitly; matplotlib's default font has no CJK glyphs.

Every bar carries its total, so a department with 3 licences beside one with 3,000 is still
read; when the totals differ by more than ``LOG_SCALE_RATIO`` the axis is logarithmic (and says
so). A chart with nothing to show says 暂无数据 instead of drawing empty axes.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import segno

from certsvc.rendering.fonts import DEFAULT_FONTS

__all__ = [
    "LOG_SCALE_RATIO",
    "NO_DATA",
    "bar_chart_png",
    "needs_log_scale",
    "qr_png",
    "share_chart_png",
]

NO_DATA = "暂无数据"
LOG_SCALE_RATIO = 20  # largest total / smallest non-zero total beyond which small bars vanish
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

    plt.rcParams["svg.fonttype"] = "none"  # SVG keeps words as text, never glyph outlines

    return plt


def _font() -> Any:
    from matplotlib.font_manager import FontProperties

    path = DEFAULT_FONTS["hei"].path
    return FontProperties(fname=str(path)) if path.exists() else FontProperties()


def _save(fig: Any, image_format: str) -> bytes:
    out = io.BytesIO()
    # SVG (words kept as text) lets a test read what a chart says.
    fig.savefig(
        out,
        format=image_format,
        dpi=110,
        metadata=None if image_format == "png" else {"Date": None},
    )
    return out.getvalue()


def needs_log_scale(totals: Sequence[float]) -> bool:
    """True when the smallest non-zero bar would be too short to see beside the largest."""
    positive = [t for t in totals if t > 0]
    return len(positive) > 1 and max(positive) / min(positive) > LOG_SCALE_RATIO


def _no_data(ax: Any, font: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.text(
        0.5,
        0.5,
        NO_DATA,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=20,
        color="#666",
        fontproperties=font,
    )


def bar_chart_png(
    title: str,
    categories: Sequence[str],
    stacks: Mapping[str, Sequence[float]],
    *,
    ylabel: str = "",
    image_format: str = "png",
) -> bytes:
    """A stacked bar chart: one bar per category, one colour per stack (the legend's labels)."""
    with _PLOT_LOCK:
        plt = _pyplot()
        font = _font()
        fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(categories) + 2), 4.5))
        try:
            ax.set_title(title, fontproperties=font)
            totals = [sum(values[i] for values in stacks.values()) for i in range(len(categories))]
            if not any(totals):
                _no_data(ax, font)
                return _save(fig, image_format)
            if needs_log_scale(totals):
                # symlog: linear below 1, so bars stacked from 0 still draw.
                ax.set_yscale("symlog", linthresh=1)
                ylabel = f"{ylabel}（对数刻度）"
            positions = list(range(len(categories)))
            bottoms = [0.0] * len(categories)
            for name, values in stacks.items():
                if any(values):
                    ax.bar(positions, list(values), bottom=bottoms, label=name)
                bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
            for position, total in zip(positions, totals, strict=True):
                ax.text(position, total, f"{total:g}", ha="center", va="bottom", fontsize=8)
            ax.set_ylim(bottom=0, top=max(totals) * (3 if ax.get_yscale() == "symlog" else 1.15))
            ax.set_xticks(positions)
            ax.set_xticklabels(
                list(categories), fontproperties=font, rotation=20, ha="right", fontsize=8
            )
            ax.set_ylabel(ylabel, fontproperties=font)
            ax.legend(prop=font, fontsize=8)
            fig.tight_layout()
            return _save(fig, image_format)
        finally:
            plt.close(fig)


def share_chart_png(
    title: str,
    part: int,
    whole: int,
    *,
    part_label: str,
    rest_label: str,
    image_format: str = "png",
) -> bytes:
    """A two-slice pie: ``part`` of ``whole`` (暂无数据 when ``whole`` is 0)."""
    with _PLOT_LOCK:
        plt = _pyplot()
        font = _font()
        fig, ax = plt.subplots(figsize=(5, 5))
        try:
            ax.set_title(title, fontproperties=font)
            if whole <= 0:
                _no_data(ax, font)
                return _save(fig, image_format)
            ax.pie(
                [part, max(whole - part, 0)],
                labels=[part_label, rest_label],
                autopct="%1.0f%%",
                textprops={"fontproperties": font},
            )
            fig.tight_layout()
            return _save(fig, image_format)
        finally:
            plt.close(fig)
