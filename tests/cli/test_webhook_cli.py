"""`certsvc webhook add|list|disable|enable|rotate-secret|deliveries|delete` against a home of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc.domain.identifiers import uscc_check_char
from certsvc_cli.main import app
from tests.conftest import TEMPLATES, isolated_env

pytestmark = pytest.mark.slow


def test_webhook_commands(tmp_path: Path, fresh_database_url: str | None) -> None:
    runner = CliRunner()
    # One attempt: the CLI delivers before it exits, and nothing listens on port 9.
    env = isolated_env(tmp_path, fresh_database_url, CERTSVC_WEBHOOK_MAX_ATTEMPTS="1", CERTSVC_WEBHOOK_TIMEOUT_SECONDS="2")

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    assert run("init").exit_code == 0
    code = "11152502011599996" + uscc_check_char("11152502011599996")
    assert run("department", "add", code, "测试局", "--area-code", "152502").exit_code == 0
    assert run("department", "types", code, "--add", "food-business-licence").exit_code == 0
    assert run("seal", "add", code, "--name", "行政审批专用章").exit_code == 0
    added = run("webhook", "add", code, "http://127.0.0.1:9/hook", "--json")
    assert added.exit_code == 0, added.output
    hook = json.loads(added.output)
    hook_id = str(hook["id"])

    issued = run("issue", "food-business-licence", str(TEMPLATES / "food-business-licence" / "sample.json"), "--department", code, "--json")
    assert issued.exit_code == 0, issued.output
    assert run("suspend", json.loads(issued.output)["identifier"], "--reason", "检查").exit_code == 0

    log = run("webhook", "deliveries", hook_id, "--json")
    (delivery,) = json.loads(log.output)
    assert delivery["event_type"] == "certificate.suspend" and delivery["status"] == "failed"
    assert delivery["attempt_log"][0]["http_status"] is None and "refused" in delivery["attempt_log"][0]["error"].lower()
    assert "failed" in run("webhook", "deliveries", hook_id).output

    rotated = run("webhook", "rotate-secret", hook_id)
    assert rotated.exit_code == 0 and "whsec_" in rotated.output and hook["secret"] not in rotated.output
    assert run("webhook", "disable", hook_id).exit_code == 0
    assert "off" in run("webhook", "list", code).output
    assert run("webhook", "enable", hook_id).exit_code == 0
    assert "active" in run("webhook", "list", code).output
    assert run("webhook", "delete", hook_id).exit_code == 0
    assert "127.0.0.1:9" not in run("webhook", "list", code).output
    gone = run("webhook", "deliveries", hook_id)
    assert gone.exit_code == 3 and "no webhook" in gone.output
