"""Plain layout values shared by rendering (which places the seal) and crypto (which signs there)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SealBox"]


@dataclass(frozen=True, slots=True)
class SealBox:
    """Where the visible seal goes: a rectangle on one page, in PDF points, origin bottom-left."""

    page_index: int
    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if self.page_index < 0 or self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"not a usable seal box: {self}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1
