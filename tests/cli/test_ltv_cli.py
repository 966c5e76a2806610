"""`certsvc tsa` and `certsvc ltv renew` as an operator of an embedded deployment uses them:
time-stamp a file (checked with `openssl ts -verify`), renew the built-in TSA's certificate, and
move the licences stamped by a short-lived TSA certificate onto the new one in a batch job run
by a worker process."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc_cli.main import app
from tests.conftest import DatabaseFactory, isolated_env, sample_request

pytestmark = pytest.mark.slow
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
FOOD = "food-business-licence"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ltv-cli-home")


@pytest.fixture(scope="module")
def run(home: Path, database_factory: DatabaseFactory):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = isolated_env(home, database_factory.new_url())

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


def _issue(run, tmp_path: Path, name: str) -> str:  # type: ignore[no-untyped-def]
    request = tmp_path / f"{name}.json"
    request.write_text(json.dumps({**sample_request(), "template": FOOD}, ensure_ascii=False), encoding="utf-8")
    done = run("issue", FOOD, str(request), "--json")
    assert done.exit_code == 0, done.output
    return str(json.loads(done.output)["identifier"])


def _pem(der: bytes, path: Path) -> Path:
    path.with_suffix(".der").write_bytes(der)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", path.with_suffix(".der"), "-out", path], check=True)
    return path


@needs_openssl
def test_tsa_info_and_stamp_verify_with_openssl(run, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shown = run("tsa", "info", "--json")
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["outside_tsa"] == {"standard": False, "sm2": False}
    assert {t["family"] for t in info["built_in"]} == {"ecdsa", "sm2"}

    document = tmp_path / "会议纪要.txt"
    document.write_text("锡林郭勒盟市场监督管理局 2026 年第 3 次会议纪要\n", encoding="utf-8")
    stamped = run("tsa", "stamp", str(document))
    assert stamped.exit_code == 0, stamped.output
    token = document.with_name(document.name + ".tst")
    root = _pem((home / "pki/roots/dev-root-ecdsa.der").read_bytes(), tmp_path / "root.pem")
    tsa = _pem((home / "pki/dev-tsa-ecdsa.der").read_bytes(), tmp_path / "tsa.pem")
    verified = subprocess.run(
        ["openssl", "ts", "-verify", "-data", document, "-in", token, "-token_in", "-CAfile", root, "-untrusted", tsa],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    document.write_text("篡改后的纪要\n", encoding="utf-8")
    tampered = subprocess.run(
        ["openssl", "ts", "-verify", "-data", document, "-in", token, "-token_in", "-CAfile", root, "-untrusted", tsa],
        capture_output=True, text=True,
    )  # fmt: skip
    assert tampered.returncode != 0

    sm3 = run("tsa", "stamp", str(document), "--digest", "sm3", "--out", str(tmp_path / "gm.tst"))
    assert sm3.exit_code == 0 and (tmp_path / "gm.tst").stat().st_size > 0, sm3.output
    refused = run("tsa", "stamp", str(document), "--digest", "md5")
    assert refused.exit_code == 2 and "unknown_digest" in refused.output


def test_renew_the_tsa_then_the_licences_it_stamped(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    long_lived = _issue(run, tmp_path, "first")
    short = run("tsa", "renew", "--family", "ecdsa", "--validity-days", "100", "--json")
    assert short.exit_code == 0, short.output
    short_lived = _issue(run, tmp_path, "second")  # stamped by the 100-day certificate

    refused = run("ltv", "renew", "--within-days", "200", "--execute", "--workers", "0", "--json")
    assert refused.exit_code == 1  # the TSA in use would not outlive the threshold either
    failures = run("batch", "failures", str(json.loads(refused.output)["job"]["job_id"]), "--json")
    assert [json.loads(line)["error_code"] for line in failures.output.splitlines()] == ["tsa_certificate_ends_too_soon"]

    renewed_tsa = run("tsa", "renew", "--family", "ecdsa")
    assert renewed_tsa.exit_code == 0 and "ltv renew" in renewed_tsa.output
    dry = run("ltv", "renew", "--within-days", "200", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.output)
    assert plan["dry_run"] is True and plan["due"] == 1 and plan["licences"] == [short_lived]
    assert long_lived not in plan["licences"]

    done = run("ltv", "renew", "--within-days", "200", "--execute", "--workers", "1", "--json")
    assert done.exit_code == 0, done.output
    job = json.loads(done.output)["job"]
    assert (job["kind"], job["state"], job["total"], job["done"]) == ("ltv-renew", "completed", 1, 1)
    again = run("ltv", "renew", "--within-days", "200", "--json")
    assert json.loads(again.output)["due"] == 0
    resumed = run("batch", "resume", str(job["job_id"]))
    assert resumed.exit_code == 4 and "job_finished" in resumed.output
