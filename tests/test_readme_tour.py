"""The README's five-minute tour, run as written in a fresh directory.

Only what a test machine needs is adapted: `make install` is done (this suite runs inside its
venv), `make run &` starts the same two commands it runs (`certsvc init`, `certsvc serve`), and
the service listens on a free port instead of 8000 (the licences' QR codes and CRL addresses
follow CERTSVC_PUBLIC_URL, so pdfsig fetches the CRL from the tour's own server).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def _block(heading: str) -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(heading, 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, f"the sh block after {heading!r} is missing"
    return match.group(1)


def _tour() -> str:
    return _block("## A five-minute tour")


def _hub_tour() -> str:
    return _block("### A licence arriving at the regional hub")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _adapted(tour: str, port: int, hub_port: int) -> str:
    lines = tour.splitlines()
    assert lines[0].startswith("make install") and lines[1].startswith("make run &"), lines[:2]
    assert lines[2].startswith(".venv/bin/certsvc wait"), (
        "the tour must wait for readiness before reading credentials"
    )
    assert "var/demo-credentials.json" in lines[3]
    script = [
        "set -eu",
        # Its own log: a server holding the tour's stdout open would keep the test waiting.
        "(.venv/bin/certsvc init >/dev/null && exec .venv/bin/certsvc serve --port $PORT) >server.log 2>&1 &",
        f".venv/bin/certsvc wait --url http://127.0.0.1:{port} --timeout 120",
        *lines[3:],
        *_hub_tour().replace("--port 8001", f"--port {hub_port}").splitlines(),
    ]
    text = (
        "\n".join(script).replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("$PORT", str(port))
    )
    return text.replace("127.0.0.1:8001", f"127.0.0.1:{hub_port}") + "\n"


def test_the_readme_tour_runs_as_written(tmp_path: Path, run_database_url: str | None) -> None:
    if run_database_url is not None:
        pytest.skip(
            "the tour is the embedded (SQLite) deployment; it runs once, in the SQLite pass"
        )
    for name in (".venv", "templates", "examples"):
        (tmp_path / name).symlink_to(PROJECT_ROOT / name)
    port, hub_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSVC_")}
    env["CERTSVC_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    shell = subprocess.Popen(
        ["bash", "-c", _adapted(_tour(), port, hub_port)],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = shell.communicate(timeout=900)
    finally:
        # The tour leaves its server running, as `make run &` would: stop that process group.
        try:
            os.killpg(shell.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert shell.returncode == 0, output[-6000:]
    assert "Certificate is Trusted." in output, output[-6000:]  # pdfsig with `certsvc trust nssdb`
    assert "verdict: valid" in output
    assert "amend: " in output and "已变更" in output
    assert (tmp_path / "var" / "demo-credentials.json").is_file()
    # The hub: both licence files verified there as the member's, the public page names it.
    assert output.count('"member":"xilingol"') >= 2, output[-6000:]
    assert 'id="member">xilingol' in output, output[-6000:]
