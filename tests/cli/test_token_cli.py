"""`certsvc seal add --key-store pkcs11`, `seal usage|rotate`, `keys rewrap`, and a wrong PIN at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certsvc_cli.main import app
from tests.conftest import isolated_env
from tests.hsm import SoftHsm

pytestmark = pytest.mark.slow

_CODE = "11152500011512829G"  # a demo department of `certsvc init`


def test_token_seal_commands_and_a_wrong_pin_refused_at_start_up(
    tmp_path: Path, fresh_database_url: str | None, softhsm: SoftHsm
) -> None:
    home = tmp_path / "home"
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm.pin + "\n")
    env = isolated_env(home, fresh_database_url, CERTSVC_PKCS11_MODULE=str(softhsm.module))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    assert run("init").exit_code == 0
    added = run(
        "seal", "add", _CODE, "--name", "行政许可专用章", "--algorithm", "rsa-3072", "--key-store", "pkcs11",
        "--token-label", softhsm.token_label, "--key-label", f"cli-{os.getpid()}", "--pin-file", str(pin_file), "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    seal = json.loads(added.output)
    assert (seal["key_store"], seal["algorithm"]) == ("pkcs11", "rsa-3072")
    assert "has sealed nothing" in run("seal", "usage", str(seal["id"])).output
    incomplete = run("seal", "add", _CODE, "--name", "公章", "--key-store", "pkcs11", "--token-label", "x")
    assert incomplete.exit_code == 2 and "--key-label" in incomplete.output
    # A token seal rotates into a token only: the new key's place must be named.
    rotated = run("seal", "rotate", str(seal["id"]))
    assert rotated.exit_code == 2 and "token" in rotated.output
    # The trust list signed by a token key, and checked against the deployment's root.
    signer = run("trust", "token-signer", "--token-label", softhsm.token_label, "--key-label",
                 f"trust-{os.getpid()}", "--pin-file", str(pin_file))  # fmt: skip
    assert signer.exit_code == 0, signer.output
    # Every process that signs with a token key is given the PIN (here a file, as in production).
    exported = runner.invoke(
        app, ["trust", "export", str(tmp_path / "trust.json")], env={**env, "CERTSVC_PKCS11_PIN_FILE": str(pin_file)}
    )
    assert exported.exit_code == 0, exported.output
    from certsvc.services.trust import parse_trust_list

    roots = [p.read_bytes() for p in (home / "pki" / "roots").glob("*.der")]
    listed = parse_trust_list(json.loads((tmp_path / "trust.json").read_text()), anchors_der=roots)
    assert "ecdsa-p256" in {k.algorithm for k in listed.keys}
    rewrap = run("keys", "rewrap")
    assert rewrap.exit_code == 0 and "current" in rewrap.output and "to-rewrap" not in rewrap.output

    # A fresh process with a wrong PIN refuses to serve and says why.
    served = subprocess.run(
        [str(Path(sys.executable).with_name("certsvc")), "serve", "--port", "0"],
        env={**os.environ, **env, "CERTSVC_PKCS11_PIN": "000000"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert served.returncode == 7, served.stdout + served.stderr
    assert f"PKCS#11 token {softhsm.token_label!r} refused the PIN" in served.stderr
