"""No module grows past about 500 lines: a module that long has more than one job to split by."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.db_independent

ROOT = Path(__file__).resolve().parent.parent
# "About 500": a little room so one more function does not force a split mid-change.
MOST_LINES = 550
# Modules allowed over the limit: none now; an entry here is a split still owed.
KNOWN_OVER: set[str] = set()


def _lengths() -> dict[str, int]:
    return {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("certsvc", "cli")
        for path in (ROOT / package).rglob("*.py")
    }


def test_no_module_is_over_about_500_lines() -> None:
    lengths = _lengths()
    assert len(lengths) > 200  # the walk found the packages
    too_long = {name: n for name, n in lengths.items() if n > MOST_LINES and name not in KNOWN_OVER}
    assert not too_long, f"split these by job (at most ~{MOST_LINES} lines): {too_long}"
