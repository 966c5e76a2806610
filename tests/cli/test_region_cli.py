"""`certsvc catalogue`, `certsvc matter …`, `certsvc seal issue-all|coverage` with the shipped samples."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc_cli.main import app
from tests.conftest import isolated_env

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "region"


def test_region_commands_on_the_shipped_samples(
    tmp_path: Path, fresh_database_url: str | None
) -> None:
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(
            app,
            list(args),
            env=isolated_env(tmp_path / "home", fresh_database_url),
            catch_exceptions=False,
        )

    assert run("init").exit_code == 0
    catalogue = json.loads(run("catalogue", "--json").output)["types"]
    assert {t["template"] for t in catalogue} >= {
        "food-business-licence",
        "special-operations-certificate",
    }
    assert all(t["definer_code"] == t["type_code"][:18] for t in catalogue)

    # The matter register: dry run, apply, apply again (no new versions), edit, history.
    matters = str(SAMPLES / "matters.sample.csv")
    dry = run("matter", "load", matters, "--json")
    assert dry.exit_code == 0, dry.output
    assert (len(json.loads(dry.output)["added"]), json.loads(dry.output)["is_applied"]) == (
        11,
        False,
    )
    assert json.loads(run("matter", "list", "--json").output) == []
    assert run("matter", "load", matters, "--execute").exit_code == 0
    assert (
        len(json.loads(run("matter", "load", matters, "--execute", "--json").output)["unchanged"])
        == 11
    )
    listed = json.loads(run("matter", "list", "--json").output)
    assert len(listed) == 11 and all("（示例）" in m["name"] for m in listed)  # sample data says so
    assert [m["code"] for m in listed] == sorted(m["code"] for m in listed)
    # The sample links eight licence types, every one a type this deployment can issue.
    linked = {t for m in listed for material in m["materials"] for t in material["licence_types"]}
    assert len(linked) == 8 and linked <= {t["template"] for t in catalogue}
    edited = run(
        "matter",
        "set",
        "SAMPLE-XLGL-001",
        "食品经营许可证延续（示例）",
        "--material",
        "食品经营许可证正本、副本=food-business-licence",
        "--material",
        "延续申请书",
        "--json",
    )
    assert edited.exit_code == 0, edited.output
    assert json.loads(edited.output)["version"] == 2
    history = json.loads(run("matter", "history", "SAMPLE-XLGL-001", "--json").output)
    assert [(v["version"], len(v["materials"])) for v in history] == [(1, 3), (2, 2)]

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "事项编码,事项名称,材料名称,可替代证照\nA-1,名称,材料,营业执照\n", encoding="utf-8"
    )
    refused = run("matter", "load", str(bad))
    assert refused.exit_code == 2
    assert "row 2, column 可替代证照" in refused.output

    # Seals for every department: dry run, execute, run again.
    departments = SAMPLES / "departments.sample.csv"
    with departments.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    plan = json.loads(run("seal", "issue-all", str(departments), "--json").output)
    assert plan["dry_run"] is True and plan["departments_new"] == len(rows)
    assert plan["seals_to_make"] == sum(len(r["seal_kinds"].split(";")) for r in rows)
    done = run("seal", "issue-all", str(departments), "--execute", "--workers", "0", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["job"]["done"] == len(rows)
    again = json.loads(
        run("seal", "issue-all", str(departments), "--execute", "--workers", "0", "--json").output
    )
    assert (again["job"]["done"], again["job"]["skipped"]) == (0, len(rows))
    assert all(not r["name_mn"] for r in rows)  # no Mongolian spelling is invented for the sample

    chart = tmp_path / "coverage.png"
    coverage = run("seal", "coverage", "--json", "--plot", str(chart))
    assert coverage.exit_code == 0, coverage.output
    data = json.loads(coverage.output)
    by_level = {}
    for row in data["rows"]:
        by_level[row["level"]] = by_level.get(row["level"], 0) + row["departments"]
    assert {k: by_level[k] for k in ("盟", "旗县", "苏木乡镇", "嘎查村")} == {
        "盟": 2,
        "旗县": 5,
        "苏木乡镇": 3,
        "嘎查村": 2,
    }
    assert data["without_valid_seal"] == 0
    assert chart.read_bytes().startswith(b"\x89PNG")
    text = run("seal", "coverage").output
    assert "departments with a valid seal" in text and "嘎查村" in text

    stats = run("stats")
    assert stats.exit_code == 0 and "SAMPLE-XLGL-005" in stats.output

    broken = tmp_path / "departments.csv"
    broken.write_text(
        "code,name,level,parent,area_code,seal_kinds\n111525000115128290,测试,盟,,152500,公章\n",
        encoding="utf-8",
    )
    refused = run("seal", "issue-all", str(broken))
    assert refused.exit_code == 2 and "row 2, column code" in refused.output
