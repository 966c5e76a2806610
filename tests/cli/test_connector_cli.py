"""`certsvc hub add-member|members` and `certsvc upstream status|retry|deliver` against homes of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from certsvc_cli.main import app
from tests.conftest import isolated_env

pytestmark = pytest.mark.slow


def test_hub_and_upstream_commands(tmp_path: Path, fresh_database_url: str | None) -> None:
    runner = CliRunner()

    def run(home: str, *args: str, **env: str) -> Result:
        return runner.invoke(
            app, list(args), env=isolated_env(tmp_path / home, fresh_database_url, **env), catch_exceptions=False
        )

    added = run("hub", "hub", "add-member", "xilingol", CERTSVC_ROLE="hub")
    assert added.exit_code == 0, added.output
    credential = next(line.split(": ")[1] for line in added.output.splitlines() if line.startswith("credential"))
    assert credential.startswith("chm_") and "pinned from the first delivery" in added.output
    again = run("hub", "hub", "add-member", "xilingol", CERTSVC_ROLE="hub")
    assert again.exit_code == 4 and "member_exists" in again.output
    bad_roots = tmp_path / "roots.pem"
    bad_roots.write_text("not a certificate")
    assert run("hub", "hub", "add-member", "hulunbuir", "--roots", str(bad_roots), CERTSVC_ROLE="hub").exit_code == 2
    listed = json.loads(run("hub", "hub", "members", "--json", CERTSVC_ROLE="hub").output)
    assert [(m["name"], m["licences"], m["has_trust_roots"]) for m in listed] == [("xilingol", 0, False)]
    assert run("member", "hub", "members").exit_code == 3  # not a hub: not_a_hub

    # A member whose hub does not answer: deliveries wait, `status` shows them, exit 1 once failed.
    upstream = {"CERTSVC_UPSTREAM_URL": "http://127.0.0.1:9", "CERTSVC_UPSTREAM_CREDENTIAL": credential,
                "CERTSVC_UPSTREAM_MAX_ATTEMPTS": "1"}
    assert run("member", "init", **upstream).exit_code == 0
    request = Path(__file__).resolve().parents[2] / "templates" / "food-business-licence" / "sample.json"
    issued = run("member", "issue", "food-business-licence", str(request), "--json", **upstream)
    assert issued.exit_code == 0, issued.output
    assert run("member", "upstream", "deliver", "--once", **upstream).output.strip() == "delivered 0"
    status = run("member", "upstream", "status", "--json", **upstream)
    assert status.exit_code == 1
    report = json.loads(status.output)
    assert report["counts"] == {"failed": 1}
    (failed,) = report["unfinished"]
    assert failed["event"] == "issue" and "Connection refused" in failed["last_error"]
    retried = run("member", "upstream", "retry", failed["delivery_id"], "--no-deliver", **upstream)
    assert retried.exit_code == 0 and "1 failed deliveries pending again" in retried.output
    assert json.loads(run("member", "upstream", "status", "--json", **upstream).output)["counts"] == {"pending": 1}
    # A licence issued while no hub was configured is queued by a backfill, once.
    drug = request.parents[1] / "drug-business-licence" / "sample.json"
    assert run("member", "issue", "drug-business-licence", str(drug)).exit_code == 0
    assert "1 licences would be queued" in run("member", "upstream", "backfill", **upstream).output
    assert "1 licences queued" in run("member", "upstream", "backfill", "--execute", **upstream).output
    assert "0 licences queued" in run("member", "upstream", "backfill", "--execute", **upstream).output
    counts = json.loads(run("member", "upstream", "status", "--json", **upstream).output)["counts"]
    assert counts == {"pending": 2}
    no_hub = run("member", "upstream", "deliver", "--once")
    assert no_hub.exit_code == 7 and "CERTSVC_UPSTREAM_URL" in no_hub.output
