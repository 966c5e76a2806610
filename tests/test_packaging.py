"""Every Python package in the tree is shipped (pyproject lists them explicitly)."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.db_independent


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(PROJECT_ROOT).parts)
        for p in (PROJECT_ROOT / "certsvc").rglob("__init__.py")
    }
    found.add("certsvc_cli")
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
