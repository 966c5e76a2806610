"""`certsvc department|seal|client|suspend|audit` against a home of their own."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc_cli.main import app
from tests.conftest import TEMPLATES, isolated_env

pytestmark = pytest.mark.slow


def test_operator_commands(tmp_path: Path, fresh_database_url: str | None) -> None:
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=isolated_env(tmp_path, fresh_database_url), catch_exceptions=False)

    assert run("init").exit_code == 0
    code = "11152502011599995A"
    from certsvc.domain.identifiers import uscc_check_char

    code = code[:17] + uscc_check_char(code[:17])
    assert run("department", "add", code, "测试局", "--area-code", "152502").exit_code == 0
    assert run("department", "add", code, "测试局", "--area-code", "152502").exit_code == 4  # exists
    # A 内蒙古 department without its Mongolian name is added and told; the name is set later.
    added = run("department", "show", code, "--json")
    assert json.loads(added.output)["is_bilingual"] is True
    bad = run("department", "update", code, "--name-mn", "Xilin")
    assert bad.exit_code != 0 and "not traditional Mongolian script" in bad.output
    assert run("department", "update", code, "--name-mn", "ᠰᠢᠯᠢ ᠶᠢᠨ ᠭᠣᠣᠯ").exit_code == 0
    assert json.loads(run("department", "show", code, "--json").output)["name_mn"] == "ᠰᠢᠯᠢ ᠶᠢᠨ ᠭᠣᠣᠯ"
    sm2 = run("seal", "add", code, "--name", "行政审批专用章", "--algorithm", "sm2", "--ring-layout", "halves", "--json")
    assert sm2.exit_code == 0, sm2.output
    seal_id = json.loads(sm2.output)["id"]
    assert json.loads(sm2.output)["ring_layout"] == "halves"
    assert json.loads(run("department", "show", code, "--json").output)["seals"][0]["algorithm"] == "sm2"
    added = run("client", "add", "clerk", "--role", "issuer", "--department", code, "--json")
    key = json.loads(added.output)["api_key"]
    assert key.startswith("csk_")
    assert key not in run("client", "list").output

    sample = str(TEMPLATES / "food-business-licence" / "sample.json")
    refused = run("issue", "food-business-licence", sample, "--department", code)
    assert refused.exit_code == 5 and "licence_type_not_allowed" in refused.output
    types = run("department", "types", code, "--add", "food-business-licence", "--add", "drug-business-licence", "--json")
    assert json.loads(types.output)["templates"] == ["drug-business-licence", "food-business-licence"]
    assert run("department", "types", code, "--remove", "drug-business-licence").output.split() == ["food-business-licence"]

    issued = run("issue", "food-business-licence", sample, "--department", code, "--json")
    assert issued.exit_code == 0, issued.output
    duplicate = run("issue", "food-business-licence", sample, "--department", code)
    assert duplicate.exit_code == 4 and "duplicate_licence_number" in duplicate.output
    ident = json.loads(issued.output)["identifier"]
    assert "suspended" in run("suspend", ident, "--reason", "检查").output
    assert run("suspend", ident, "--reason", "again").exit_code == 4
    assert "valid" in run("resume", ident, "--reason", "整改完成").output
    second = json.loads(run("seal", "add", code, "--name", "公章", "--json").output)
    assert not second["is_default"] and second["purpose"] == "公章"
    assert run("seal", "default", str(second["id"])).exit_code == 0
    listed = run("seal", "list", code).output.splitlines()
    assert next(line for line in listed if line.split()[:1] == [str(second["id"])]).split()[-1] == "default"
    assert run("seal", "retire", str(seal_id)).exit_code == 0

    assert run("audit", "checkpoint").exit_code == 0
    verified = run("audit", "verify", "--json")
    assert verified.exit_code == 0 and json.loads(verified.output)["is_intact"]
    out = tmp_path / "audit.jsonl"
    assert run("audit", "export", "--from", "2000-01-01", "--out", str(out)).exit_code == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    actions = [event["action"] for event in events]
    assert "certificate.suspend" in actions and "client.add" in actions
    # The audit log names the person at the CLI (the OS user here), never an anonymous client 0.
    suspend = next(event for event in events if event["action"] == "certificate.suspend")
    assert suspend["actor"] == f"operator:{getpass.getuser()}"
