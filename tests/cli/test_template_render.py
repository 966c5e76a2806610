"""`certsvc template render`: unsigned previews for template authors, no deployment needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc.rendering import read_licence_metadata
from certsvc.services.templates import PREVIEW_DEPARTMENT_CODE
from certsvc_cli.main import app
from tests.conftest import TEMPLATES


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    home = tmp_path / "home"

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env={"CERTSVC_HOME": str(home)}, catch_exceptions=False)

    invoke.home = home  # type: ignore[attr-defined]
    return invoke


def test_renders_the_sample_unsigned_without_a_deployment(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "food.pdf"
    result = run("template", "render", "food-business-licence", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "unsigned" in result.output
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/ByteRange" not in pdf  # not signed
    metadata = read_licence_metadata(pdf)
    assert metadata is not None
    assert metadata["issuer_code"] == PREVIEW_DEPARTMENT_CODE  # a placeholder authority
    assert metadata["licence_number"] == "JY21525020123456"
    assert not run.home.exists()  # type: ignore[attr-defined]  # no database or keys made
    again = tmp_path / "again.pdf"
    run("template", "render", "food-business-licence", "--out", str(again))
    assert again.read_bytes() == pdf  # same request, same bytes: authors can diff renders


def test_renders_a_request_file_and_the_print_variant(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    request = json.loads((TEMPLATES / "special-operations-certificate" / "sample.json").read_text())
    request["holder"]["name"] = "吉𠮷犇"  # rare characters come from the fallback face
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "card.pdf"
    result = run(
        "template", "render", "special-operations-certificate", str(request_file),
        "--out", str(out), "--variant", "print",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pdf = out.read_bytes()
    assert read_licence_metadata(pdf)["holder_name"] == "吉𠮷犇"  # type: ignore[index]
    assert b"BabelStoneHan" in pdf


def test_errors_name_the_problem(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "x.pdf"
    unknown = run("template", "render", "no-such-template", "--out", str(out))
    assert unknown.exit_code != 0 and "unknown_template" in unknown.output
    request = json.loads((TEMPLATES / "food-business-licence" / "sample.json").read_text())
    request["fields"]["licence_number"] = "not a number"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    invalid = run("template", "render", "food-business-licence", str(bad), "--out", str(out))
    assert invalid.exit_code != 0 and "licence_number" in invalid.output
    other = run("template", "render", "drug-business-licence", str(bad), "--out", str(out))
    assert other.exit_code != 0 and "template_mismatch" in other.output
    assert not out.exists()


def test_the_templates_listing_is_still_there(run) -> None:  # type: ignore[no-untyped-def]
    result = run("templates", "--json")
    assert result.exit_code == 0
    assert any(row["slug"] == "food-business-licence" for row in json.loads(result.output))
