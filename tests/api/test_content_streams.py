"""Every content stream of every issued licence parses with a strict PDF number grammar."""

from __future__ import annotations

from typing import Any

from tests.pdf_content import content_streams, syntax_problems


def test_every_issued_file_has_strict_content_syntax(qr_licences: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for slug, issued in qr_licences.items():
        for label, data in content_streams(issued["pdf"]):
            assert syntax_problems(data) == [], f"{slug}: {label}"
            checked += 1
    assert checked >= 2 * len(qr_licences)  # at least the page and the seal of each
