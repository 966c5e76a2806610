"""A test PKI built in code, once per session: root → seal-issuing CA → department seal.

One chain per backend (RSA-3072, ECDSA-P256 and, when the SM2 backend is installed, SM2), plus
an unrelated "rogue" root with its own intermediate and seal, for untrusted-signer tests.
Import the plain functions from tests; nothing here is a pytest fixture, so no conftest is
needed.
"""

from __future__ import annotations

import functools
import importlib.util
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from certsvc.crypto.api import (
    KeyAlgorithm,
    LoadedKey,
    SealKey,
    TimeStampAuthority,
    make_intermediate_ca,
    make_root_ca,
    make_seal_certificate,
    make_tsa_certificate,
)
from certsvc.domain.identifiers import uscc_check_char

__all__ = [
    "DEPARTMENT_NAME",
    "NOT_AFTER",
    "NOT_BEFORE",
    "SIGNED_AT",
    "TSA_POLICY",
    "TestPki",
    "available_algorithms",
    "credit_code",
    "damaged_pem",
    "pki",
    "rogue_pki",
    "sample_pdf",
    "seal_png",
    "tsa",
]

DEPARTMENT_NAME = "某某市市场监督管理局"
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2034, 1, 1, tzinfo=UTC)
# Inside every certificate's validity: signatures made "at" this instant are checkable forever.
SIGNED_AT = datetime(2025, 3, 14, 1, 2, 3, tzinfo=UTC)
TSA_POLICY = "2.999.3161.7"


def credit_code(first17: str = "11110000000000000") -> str:
    """A 统一社会信用代码 with a correct check character."""
    return first17 + uscc_check_char(first17)


@dataclass(frozen=True)
class TestPki:
    __test__ = False  # not a pytest test class

    algorithm: KeyAlgorithm
    root_key: SealKey
    root_der: bytes
    intermediate_key: SealKey
    intermediate_der: bytes
    seal_key: SealKey
    seal_der: bytes

    @property
    def chain_ders(self) -> tuple[bytes, ...]:
        """Intermediate then root: what a signer embeds beside its own certificate."""
        return (self.intermediate_der, self.root_der)

    @property
    def signing_key(self) -> LoadedKey:
        """The seal key with its certificate and chain, as signers take it."""
        return LoadedKey(self.seal_key, certificate_der=self.seal_der, chain_der=self.chain_ders)


def damaged_pem(pem_bytes: bytes) -> bytes:
    """``pem_bytes`` (a key made during the test run) re-armoured around half of its DER: the
    same armour label, a body that no loader can read. No key-shaped block is ever committed."""
    from asn1crypto import pem

    name, headers, der = pem.unarmor(pem_bytes)
    damaged: bytes = pem.armor(name, der[: len(der) // 2], headers)
    return damaged


def available_algorithms() -> list[KeyAlgorithm]:
    """RSA and ECDSA always; SM2 when its backend is importable."""
    algs = [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256]
    if importlib.util.find_spec("certsvc.crypto.sm2") is not None:
        try:
            import certsvc.crypto.sm2  # noqa: F401
        except ImportError:
            return algs
        algs.append(KeyAlgorithm.SM2)
    return algs


def _build(algorithm: KeyAlgorithm, label: str) -> TestPki:
    root_key = SealKey.generate(algorithm)
    root_der = make_root_ca(
        key=root_key,
        common_name=f"certsvc {label} Root CA ({algorithm})",
        organization="certsvc 测试根证书",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    int_key = SealKey.generate(algorithm)
    int_der = make_intermediate_ca(
        key=int_key,
        common_name=f"certsvc {label} Seal CA ({algorithm})",
        organization="certsvc 测试电子印章 CA",
        issuer_certificate_der=root_der,
        issuer_key=root_key,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    seal_key = SealKey.generate(algorithm)
    seal_der = make_seal_certificate(
        key=seal_key,
        department_name=DEPARTMENT_NAME,
        credit_code=credit_code(),
        issuer_certificate_der=int_der,
        issuer_key=int_key,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    return TestPki(algorithm, root_key, root_der, int_key, int_der, seal_key, seal_der)


@functools.cache
def pki(algorithm: KeyAlgorithm) -> TestPki:
    """The trusted test chain for one algorithm (built once per session)."""
    return _build(KeyAlgorithm(algorithm), "Test")


@functools.cache
def rogue_pki(algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256) -> TestPki:
    """A look-alike chain under a root nobody trusts (same department name)."""
    return _build(KeyAlgorithm(algorithm), "Rogue")


@functools.cache
def sample_pdf(pages: int = 1) -> bytes:
    """A plain A4 PDF made with reportlab, some Latin and Chinese text on each page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for n in range(pages):
        c.setFont("STSong-Light", 18)
        c.drawString(72, 760, "食品经营许可证")
        c.setFont("Helvetica", 11)
        c.drawString(72, 730, f"Licence test document, page {n + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


@functools.cache
def seal_png(size: int = 300) -> bytes:
    """A red round seal with a star, transparent background (like a department seal scan)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    red = (210, 20, 20, 255)
    draw.ellipse((6, 6, size - 6, size - 6), outline=red, width=max(4, size // 25))
    draw.regular_polygon((size / 2, size / 2, size / 6), 5, rotation=-18, fill=red)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@functools.cache
def tsa(algorithm: KeyAlgorithm) -> TimeStampAuthority:
    """A time-stamping authority under the trusted test root of ``algorithm`` (real clock)."""
    chain = pki(algorithm)
    key = SealKey.generate(algorithm)
    cert = make_tsa_certificate(
        key=key,
        common_name=f"certsvc Test TSA ({algorithm})",
        organization="certsvc 测试时间戳服务",
        issuer_certificate_der=chain.root_der,
        issuer_key=chain.root_key,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    return TimeStampAuthority(
        key=key,
        certificate_der=cert,
        chain_ders=[chain.root_der],
        policy_oid=TSA_POLICY,
        accuracy=timedelta(seconds=1),
        clock=lambda: datetime.now(UTC),
    )
