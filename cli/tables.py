"""Tables for people: columns aligned by display width, so Chinese (two cells a character) lines up.

rich measures East Asian wide characters; a plain ``f"{name:24}"`` counts them as one cell and
misaligns every column after a Chinese name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

__all__ = ["print_table"]


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, title: str | None = None
) -> None:
    """Print a table on stdout; with no rows, the headers and a line saying there are none."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    count = 0
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
        count += 1
    # A pipe or a file gets the whole table, never a wrap at the 80 columns rich assumes there.
    console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 400)
    if count == 0:
        table.caption = "(none)"
    console.print(table)
