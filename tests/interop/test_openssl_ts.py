"""Tokens of the built-in TSA (RSA and ECDSA) checked by ``openssl ts -verify``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from certsvc.crypto.api import KeyAlgorithm
from tests.pki import pki, tsa

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed"),
    pytest.mark.db_independent,
]


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


def _pem(der: bytes, path: Path) -> Path:
    path.with_suffix(".der").write_bytes(der)
    res = _openssl("x509", "-inform", "DER", "-in", path.with_suffix(".der"), "-out", path)
    assert res.returncode == 0, res.stderr
    return path


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256])
def test_openssl_ts_verify(alg: KeyAlgorithm, tmp_path: Path) -> None:
    data = tmp_path / "licence.pdf"
    data.write_bytes("锡林郭勒盟 食品经营许可证".encode() * 100)
    query = tmp_path / "q.tsq"
    res = _openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    assert res.returncode == 0, res.stderr
    reply = tmp_path / "r.tsr"
    reply.write_bytes(tsa(alg).respond(query.read_bytes()))
    root = _pem(pki(alg).root_der, tmp_path / "root.pem")

    # -queryfile: imprint, nonce and policy agree with the request; -CAfile: the signature, the
    # ESS signing-certificate binding and the TSA certificate's critical EKU timeStamping.
    ok = _openssl("ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    by_data = _openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", root)
    assert by_data.returncode == 0, by_data.stdout + by_data.stderr

    text = _openssl("ts", "-reply", "-in", reply, "-text").stdout
    assert "Accuracy: 0x01 seconds" in text
    assert "Nonce: 0x" in text

    data.write_bytes(data.read_bytes() + b"!")
    bad = _openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", root)
    assert bad.returncode != 0


def test_openssl_sees_the_critical_time_stamping_eku(tmp_path: Path) -> None:
    from asn1crypto import cms, tsp

    query = tmp_path / "q.tsq"
    data = tmp_path / "d"
    data.write_bytes(b"x")
    assert _openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query).returncode == 0
    token = tsp.TimeStampResp.load(tsa(KeyAlgorithm.ECDSA_P256).respond(query.read_bytes()))
    signed: cms.SignedData = token["time_stamp_token"]["content"]
    (signer,) = signed["signer_infos"]
    serial = signer["sid"].chosen["serial_number"].native
    (tsa_cert,) = [c.chosen for c in signed["certificates"] if c.chosen.serial_number == serial]
    cert = _pem(tsa_cert.dump(), tmp_path / "tsa.pem")
    text = _openssl("x509", "-in", cert, "-noout", "-ext", "extendedKeyUsage").stdout
    assert "X509v3 Extended Key Usage: critical" in text
    assert "Time Stamping" in text
