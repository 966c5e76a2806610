"""The operator at the CLI: confirmation before final actions, the name in the audit log,
aligned Chinese tables, the QR text of a PDF, an NSS database for pdfsig, waiting for readiness."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from rich.cells import cell_len
from typer.testing import CliRunner

from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.services.context import build_context
from certsvc_cli.main import app
from tests.conftest import DatabaseFactory, isolated_env, sample_request

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator-cli")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def database_url(database_factory: DatabaseFactory) -> str | None:
    return database_factory.new_url()


@pytest.fixture(scope="module")
def public_url() -> str:
    # The URL the certificates' CRL distribution points name: pdfsig (NSS) fetches the CRL
    # there, so the deployment is served on it while the module runs.
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture(scope="module")
def run(home: Path, database_url: str | None, public_url: str):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, **env: str):  # type: ignore[no-untyped-def]
        environment = isolated_env(home, database_url, CERTSVC_PUBLIC_URL=public_url, **env)
        return runner.invoke(app, list(args), input=stdin, env=environment, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


@pytest.fixture(scope="module")
def served(run: Any, home: Path, database_url: str | None, public_url: str) -> Iterator[str]:
    settings = load_settings(home=home, public_url=public_url, **({"database_url": database_url} if database_url else {}))
    port = int(public_url.rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(create_app(build_context(settings)), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield public_url
    server.should_exit = True
    thread.join(timeout=10)


def _issue(run: Any, tmp_path: Path, *extra: str) -> str:
    request = tmp_path / f"request-{len(list(tmp_path.iterdir()))}.json"
    request.write_text(json.dumps(sample_request(), ensure_ascii=False), encoding="utf-8")
    issued = run("issue", "food-business-licence", str(request), "--json", *extra)
    assert issued.exit_code == 0, issued.output
    return str(json.loads(issued.output)["identifier"])


def _status(run: Any, identifier: str) -> str:
    return str(json.loads(run("show", identifier, "--json").output)["status"])


def test_revoke_and_cancel_ask_first(run: Any, tmp_path: Path) -> None:
    first = _issue(run, tmp_path)
    for answer in (None, "", "n\n"):  # no input at all (a script), Enter (default no), an explicit no
        declined = run("revoke", first, "--reason", "锡市监罚〔2026〕17号", stdin=answer)
        assert declined.exit_code == 1 and "cannot be undone" in declined.output
        assert "unchanged" in declined.output and _status(run, first) == "valid"
    confirmed = run("revoke", first, "--reason", "锡市监罚〔2026〕17号", "--category", "violation", stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert _status(run, first) == "revoked"

    second = _issue(run, tmp_path)
    assert run("cancel", second, "--reason", "持证人申请注销", stdin="n\n").exit_code == 1
    assert _status(run, second) == "valid"
    cancelled = run("cancel", second, "--reason", "持证人申请注销", "--yes")
    assert cancelled.exit_code == 0 and _status(run, second) == "cancelled"
    # Suspending is undone by resuming: no question asked.
    third = _issue(run, tmp_path)
    assert run("suspend", third, "--reason", "整改期间暂扣").exit_code == 0


def test_the_audit_log_names_the_operator(run: Any, tmp_path: Path) -> None:
    named = _issue(run, tmp_path)
    assert run("--operator", "王芳", "suspend", named, "--reason", "整改期间暂扣").exit_code == 0
    assert run("resume", named, "--reason", "整改完成", CERTSVC_OPERATOR="li.ming").exit_code == 0
    out = tmp_path / "audit.jsonl"
    assert run("audit", "export", "--out", str(out)).exit_code == 0
    events = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    actors = {e["action"]: e["actor"] for e in events if e["target"] == named}
    assert actors["certificate.suspend"] == "operator:王芳"
    assert actors["certificate.resume"] == "operator:li.ming"
    assert actors["certificate.issue"].startswith("operator:")
    assert not any(e["actor"] == "client:0:cli" for e in events)


def _column_starts(line: str, values: list[str]) -> list[int]:
    """The display column (terminal cells) where each value starts in ``line``."""
    starts, position = [], 0
    for value in values:
        index = line.index(value, position)
        starts.append(cell_len(line[:index]))
        position = index + len(value)
    return starts


def test_tables_align_chinese_names(run: Any, home: Path, tmp_path: Path) -> None:
    departments = json.loads((home / "demo-credentials.json").read_text())["departments"]
    for department in departments[:2]:
        _issue(run, tmp_path, "--department", department["code"])
    listed = run("department", "list", "--json")
    rows = json.loads(listed.output)
    assert len({len(r["name"]) for r in rows}) > 1  # names of different lengths
    table = run("department", "list").output.splitlines()
    starts = {
        tuple(_column_starts(next(line for line in table if r["code"] in line), [r["code"], r["area_code"], r["name"], str(len(r["seals"]))]))
        for r in rows
    }
    assert len(starts) == 1, table  # every column starts at the same cell in every row

    stats = run("stats").output.splitlines()
    report = json.loads(run("stats", "--json").output)
    lines = [next(line for line in stats if c["department_name"] in line and c["template"] in line and c["status"] in line)
             for c in report["licences"]]
    count_ends = {cell_len(line.rstrip()) for line in lines}
    assert len(report["licences"]) >= 2 and len(count_ends) == 1, stats  # right-aligned counts line up


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("pdfsig") is None or shutil.which("certutil") is None, reason="needs poppler-utils and libnss3-tools")
def test_qr_read_and_an_nss_database_for_pdfsig(run: Any, served: str, tmp_path: Path) -> None:
    pdf = tmp_path / "licence.pdf"
    request = tmp_path / "request.json"
    request.write_text(json.dumps(sample_request(), ensure_ascii=False), encoding="utf-8")
    assert run("issue", "food-business-licence", str(request), "--out", str(pdf)).exit_code == 0

    read = run("qr", "read", str(pdf))
    assert read.exit_code == 0, read.output
    text = read.output.strip()
    assert "/V/" in text.upper()
    checked = run("verify-qr", text, "--json")
    assert checked.exit_code == 0 and json.loads(checked.output)["verdict"] == "valid"

    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), "white").save(blank)
    nothing = run("qr", "read", str(blank))
    assert nothing.exit_code == 1 and "no QR code" in nothing.output
    assert run("qr", "read", str(tmp_path / "missing.pdf")).exit_code == 2

    database = tmp_path / "nssdb"
    made = run("trust", "nssdb", str(database))
    assert made.exit_code == 0 and "trusted: certsvc" in made.output
    assert run("trust", "nssdb", str(database)).exit_code == 0  # again: the same database, no error
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{database}", str(pdf)], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid." in out.stdout and "Certificate is Trusted." in out.stdout, out.stdout + out.stderr


def test_wait_for_readiness(served: str) -> None:
    runner = CliRunner()
    ready = runner.invoke(app, ["wait", "--url", served, "--timeout", "30"])
    assert ready.exit_code == 0 and "ready" in ready.output
    down = runner.invoke(app, ["wait", "--url", "http://127.0.0.1:9", "--timeout", "0.3", "--interval", "0.1"])
    assert down.exit_code == 1 and "not ready" in down.output
    assert runner.invoke(app, ["wait", "--url", "file:///etc/passwd", "--timeout", "0"]).exit_code == 2
