"""`certsvc batch`: dry run by default, --execute acts, --json summaries, resume/status/failures."""

from __future__ import annotations

import csv
import getpass
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.services.context import build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc_cli.main import app
from tests.conftest import TEMPLATES, DatabaseFactory, isolated_env
from tests.jobs.batch_helpers import new_seal

pytestmark = pytest.mark.slow

FOOD = "food-business-licence"
SAMPLE = TEMPLATES / FOOD / "sample.csv"
CODE = DEMO_DEPARTMENTS[0].code


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch-cli-home")


@pytest.fixture(scope="module")
def database_url(database_factory: DatabaseFactory) -> str | None:
    return database_factory.new_url()


@pytest.fixture(scope="module")
def run(home: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=isolated_env(home, database_url), catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


def test_import_dry_run_then_execute_then_rerun(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dry = run("batch", "import", str(SAMPLE), "--template", FOOD, "--department", CODE)
    assert dry.exit_code == 0, dry.output
    assert "10 valid, 0 invalid" in dry.output and "--execute" in dry.output

    rows = list(csv.reader(SAMPLE.open(encoding="utf-8", newline="")))
    rows[3][rows[0].index("持证主体代码")] = "91320213MA0000003X"
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    refused = run("batch", "import", str(bad), "--template", FOOD, "--department", CODE, "--json")
    assert refused.exit_code == 1
    report = json.loads(refused.output)
    assert report["dry_run"] and report["invalid_rows"] == 1
    assert report["problems"][0]["row"] == 4 and report["problems"][0]["field"] == "holder_id"

    done = run("batch", "import", str(SAMPLE), "--template", FOOD, "--department", CODE, "--execute", "--workers", "0", "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)["job"]
    assert (summary["state"], summary["done"], summary["total"]) == ("completed", 10, 10)

    again = run("batch", "import", str(SAMPLE), "--template", FOOD, "--department", CODE, "--execute", "--workers", "0")
    assert again.exit_code == 0, again.output
    assert "10 skipped" in again.output

    status = run("batch", "status", str(summary["job_id"]), "--json")
    assert json.loads(status.output)["done"] == 10
    failures = run("batch", "failures", str(summary["job_id"]))
    assert failures.output.strip() == "seq,key,error_code,error_message"

    # The audit log names the operator who ran the job, on the job and on every licence it issued.
    exported = tmp_path / "audit.jsonl"
    assert run("audit", "export", "--out", str(exported)).exit_code == 0
    events = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    user = getpass.getuser()
    assert {e["actor"] for e in events if e["action"] == "batch.import"} == {f"operator:{user}"}
    issued_by = {e["actor"] for e in events if e["action"] == "certificate.issue"}
    assert issued_by == {f"operator:{user} (batch {summary['job_id']})"}, issued_by


def test_resign_dry_run_execute_and_resume_refusal(run, home: Path, database_url: str | None) -> None:  # type: ignore[no-untyped-def]
    ctx = build_context(load_settings(home=home, database_url=database_url))
    seal_id = new_seal(ctx, CODE, algorithm=crypto.KeyAlgorithm.SM2, name=DEMO_DEPARTMENTS[0].seal_name)
    ctx.database.dispose()
    dry = run("batch", "resign", "--to-seal", str(seal_id), "--json")
    assert dry.exit_code == 0 and json.loads(dry.output)["matched"] >= 10
    done = run("batch", "resign", "--to-seal", str(seal_id), "--execute", "--workers", "0", "--reason", "SM2")
    assert done.exit_code == 0, done.output
    assert "completed" in done.output and "0 failed" in done.output
    job_id = done.output.split("job ", 1)[1].split(" ", 1)[0]
    resumed = run("batch", "resume", job_id)
    assert resumed.exit_code == 4 and "already completed" in resumed.output
    assert run("batch", "resign", "--to-seal", "99999").exit_code == 3
