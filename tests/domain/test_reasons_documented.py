"""docs/verification.md lists every reason code with the verdict it carries."""

from __future__ import annotations

import re

import pytest

from certsvc.domain.reports import REASONS
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.db_independent


def test_every_reason_code_is_documented_with_its_verdict() -> None:
    text = (PROJECT_ROOT / "docs" / "verification.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `([a-z0-9_]+)` \| ([a-z_]+) \|", text, flags=re.MULTILINE))
    assert documented == {code: verdict.value for code, (verdict, _, _) in REASONS.items()}
