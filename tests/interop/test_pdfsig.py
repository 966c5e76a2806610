"""poppler's pdfsig (NSS) accepts certsvc seals: valid signature, trusted chain to the dev root.

Needs ``pdfsig`` (poppler-utils) and ``certutil`` (libnss3-tools). SM2 is not covered: NSS has
no SM2.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from certsvc.crypto.api import KeyAlgorithm, PdfSealer
from certsvc.domain.layout import SealBox
from tests.pki import DEPARTMENT_NAME, SIGNED_AT, pki, sample_pdf, seal_png

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        shutil.which("pdfsig") is None or shutil.which("certutil") is None,
        reason="needs pdfsig (poppler-utils) and certutil (libnss3-tools)",
    ),
    pytest.mark.db_independent,
]


def _nss_db(tmp_path: Path, root_der: bytes) -> Path:
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    root = tmp_path / "root.der"
    root.write_bytes(root_der)
    # C,C,C: trusted CA for TLS, e-mail/S-MIME and object signing (pdfsig checks the S/MIME use).
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{db}",
            "-n",
            "certsvc-dev-root",
            "-t",
            "C,C,C",
            "-i",
            str(root),
        ],
        check=True,
    )
    return db


def _pdfsig(db: Path, pdf: Path) -> str:
    proc = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{db}", str(pdf)], capture_output=True, text=True, timeout=60
    )
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256], ids=str)
def test_pdfsig_valid_and_trusted_then_tampered(alg: KeyAlgorithm, tmp_path: Path) -> None:
    p = pki(alg)
    sealer = PdfSealer(
        key=p.signing_key, seal_image_png=seal_png(),
    )
    sealed = sealer.seal(
        sample_pdf(),
        box=SealBox(0, 380, 80, 520, 220),
        department_name=DEPARTMENT_NAME,
        signed_at=SIGNED_AT,
        reason="电子证照签发",
    )
    db = _nss_db(tmp_path, p.root_der)
    good = tmp_path / "sealed.pdf"
    good.write_bytes(sealed)
    out = _pdfsig(db, good)
    assert "Signature is Valid." in out, out
    assert "Certificate is Trusted." in out, out
    assert DEPARTMENT_NAME in out

    tampered = bytearray(sealed)
    tampered[sealed.index(b"ReportLab")] = ord("r")  # one byte inside the signed range
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(tampered))
    out = _pdfsig(db, bad)
    assert "Signature is Valid." not in out, out
    assert "Digest Mismatch" in out or "Invalid" in out, out
