"""Ids beyond the database's range are usage errors of the CLI (exit 2, a message), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc_cli.main import app
from tests.conftest import isolated_env


@pytest.mark.parametrize(
    "args",
    [
        ["seal", "retire", str(2**63)],
        ["client", "revoke", str(2**31)],
        ["batch", "status", str(2**63)],
        ["batch", "cancel", "0"],
        ["batch", "resign", "--to-seal", str(2**40)],
    ],
)
def test_out_of_range_ids_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env=isolated_env(tmp_path, None))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
