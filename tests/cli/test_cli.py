"""The `certsvc` command against its own embedded deployment in a temporary home."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc_cli.main import app
from tests.conftest import TEMPLATES, DatabaseFactory, isolated_env, sample_request

pytestmark = pytest.mark.slow

SAMPLE = TEMPLATES / "food-business-licence" / "sample.json"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


@pytest.fixture(scope="module")
def database_url(database_factory: DatabaseFactory) -> str | None:
    return database_factory.new_url()


@pytest.fixture(scope="module")
def run(home: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=isolated_env(home, database_url), catch_exceptions=False)

    first = invoke("init")
    assert first.exit_code == 0, first.output
    return invoke


def test_init_is_idempotent_and_writes_private_credentials(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    again = run("init")
    assert again.exit_code == 0
    assert "nothing (already set up)" in again.output
    creds = home / "demo-credentials.json"
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    data = json.loads(creds.read_text())
    assert {d["algorithm"] for d in data["departments"]} == {"ecdsa-p256", "sm2"}
    assert data["api_key"].startswith("csk_")


def test_templates_lists_samples(run) -> None:  # type: ignore[no-untyped-def]
    result = run("templates", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    food = next(r for r in rows if r["slug"] == "food-business-licence")
    assert Path(food["sample"]).is_file() and food["name"] == "食品经营许可证"


def test_issue_verify_show(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "licence.pdf"
    issued = run("issue", "food-business-licence", str(SAMPLE), "--out", str(out), "--json")
    assert issued.exit_code == 0, issued.output
    identifier = json.loads(issued.output)["identifier"]
    assert out.read_bytes().startswith(b"%PDF-")

    verified = run("verify", str(out), "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["verdict"] == "valid"

    shown = run("show", identifier, "--json")
    assert shown.exit_code == 0
    assert json.loads(shown.output)["identifier"] == identifier

    tampered = bytearray(out.read_bytes())
    tampered[tampered.index(b"ReportLab")] = ord("X")
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(tampered))
    assert run("verify", str(bad)).exit_code == 1


def test_errors_are_messages_with_exit_codes(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "note.pdf"
    text.write_text("not a pdf")
    result = run("verify", str(text))
    assert result.exit_code == 2 and "invalid_document" in result.output

    assert run("verify", str(tmp_path / "missing.pdf")).exit_code == 2
    assert run("show", "1.2.156.3005.2.nope").exit_code == 3

    request = json.loads(SAMPLE.read_text())
    request["holder"]["id"] = "91350100M000100Y44"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(request, ensure_ascii=False))
    result = run("issue", "food-business-licence", str(bad))
    assert result.exit_code == 2 and "invalid_holder_id" in result.output
    assert "Traceback" not in result.output


def _department(home: Path, algorithm: str) -> str:
    data = json.loads((home / "demo-credentials.json").read_text())
    return str(next(d["code"] for d in data["departments"] if d["algorithm"] == algorithm))


def test_issue_format_ofd_show_ofd_and_verify(run, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "licence.ofd"
    sm2 = _department(home, "sm2")
    issued = run("issue", "food-business-licence", str(SAMPLE), "--format", "ofd", "--out", str(out), "--department", sm2, "--json")
    assert issued.exit_code == 0, issued.output
    identifier = json.loads(issued.output)["identifier"]
    assert out.read_bytes().startswith(b"PK\x03\x04")
    verified = run("verify", str(out), "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["verdict"] == "valid"

    again = tmp_path / "again.ofd"
    shown = run("show", identifier, "--ofd", str(again))
    assert shown.exit_code == 0 and again.read_bytes() == out.read_bytes()


def test_issue_format_ofd_is_refused_for_an_ecdsa_seal_before_issuing(run, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ecdsa = _department(home, "ecdsa-p256")
    out = tmp_path / "never.ofd"
    request = tmp_path / "request.json"  # a number of its own: the sample's may be issued already
    request.write_text(json.dumps(sample_request(), ensure_ascii=False), encoding="utf-8")
    result = run("issue", "food-business-licence", str(request), "--format", "ofd", "--out", str(out), "--department", ecdsa)
    assert result.exit_code == 4 and "ofd_needs_sm2_seal" in result.output
    assert not out.exists()
