"""Every command documents its exit codes, in `--help` and in docs/cli.md, and they match.

The commands are found by walking the command tree, so commands added by any module are
covered without being listed here; the start-up check walks the same tree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from certsvc_cli.docs import cli_reference
from certsvc_cli.errors import EXIT_BY_ERROR, EXIT_MEANINGS
from certsvc_cli.exit_codes import ONE_MEANS, exit_code_lines, walk_commands
from certsvc_cli.main import app
from tests.conftest import PROJECT_ROOT

COMMANDS = [path for path, _ in walk_commands(typer.main.get_command(app))]  # type: ignore[arg-type]


def test_the_walk_finds_the_commands_people_use() -> None:
    assert {"issue", "verify", "revoke", "cancel", "batch import", "stats", "qr read", "trust nssdb", "wait"} <= set(COMMANDS)
    assert set(ONE_MEANS) <= set(COMMANDS), "ONE_MEANS names a command that does not exist"


def test_every_error_exit_code_has_a_meaning() -> None:
    assert {code for _, code in EXIT_BY_ERROR} == set(EXIT_MEANINGS)
    assert 0 not in EXIT_MEANINGS and 1 not in EXIT_MEANINGS  # success and "no" are per command


def test_every_command_help_ends_with_its_exit_codes() -> None:
    runner = CliRunner()
    for path in COMMANDS:
        shown = runner.invoke(app, [*path.split(), "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, (path, shown.output)
        epilogue = shown.output.split("Exit codes:")
        assert len(epilogue) == 2, f"certsvc {path} --help has no exit codes"
        listed = [line.strip() for line in epilogue[1].strip().splitlines()]
        assert listed == [f"{code}  {meaning}" for code, meaning in exit_code_lines(path)], path


def test_docs_cli_md_matches_the_commands() -> None:
    documented = (PROJECT_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert documented == cli_reference(), "docs/cli.md is stale: python -m certsvc_cli.docs > docs/cli.md"
    for path in COMMANDS:
        assert f"## certsvc {path}\n" in documented


_PROBE = """
import json, sys
from typer.testing import CliRunner
import typer
from certsvc_cli.exit_codes import walk_commands
from certsvc_cli.main import app
paths = [p for p, _ in walk_commands(typer.main.get_command(app))]
runner = CliRunner()
codes = [runner.invoke(app, [*p.split(), "--help"]).exit_code for p in [""] + paths]
heavy = sorted(m for m in ("sqlalchemy", "pyhanko", "fastapi", "reportlab", "matplotlib", "alembic",
                           "cryptography", "pydantic_settings", "asn1crypto", "PIL", "uvicorn", "rich")
               if m in sys.modules)
print(json.dumps({"codes": sorted(set(codes)), "heavy": heavy, "count": len(paths)}))
"""


def test_help_of_every_command_loads_no_service_library() -> None:
    # What makes `certsvc --help` fast: nothing but typer (which loads pydantic itself to know
    # its parameter types) and the standard library is imported until a command runs
    # (docs/benchmarks.md has the timing).
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120)
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["codes"] == [0]
    assert result["count"] == len(COMMANDS)
    assert result["heavy"] == [], f"--help imports {result['heavy']}: move the import into the command"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["verify"]).exit_code == 2  # missing argument
    assert runner.invoke(app, ["revoke", "X", "--reason", "r", "--category", "bored"]).exit_code == 2
    refused = runner.invoke(app, ["--operator", "   ", "show", "X"], env={"CERTSVC_HOME": str(tmp_path)})
    assert refused.exit_code == 2 and "invalid_operator" in refused.output
