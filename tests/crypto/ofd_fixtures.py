"""Sealed OFD licences for the crypto and interop tests: a real render sealed with the SM2 test PKI."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from certsvc.crypto import ses
from certsvc.crypto.keys import SealKey
from certsvc.crypto.ofd_signing import seal_ofd
from certsvc.rendering.ofd import RenderedOfd, render_ofd
from certsvc.rendering.seals import draw_round_seal
from certsvc.rendering.templates import TemplateRegistry
from tests.rendering.conftest import TEMPLATES_DIR, content_for
from tests.sm2_pki import PKI_EPOCH, Sm2Pki

__all__ = ["SIGNED_AT", "SealedOfd", "repack", "seal_der_for", "sealed_ofd"]

SIGNED_AT = PKI_EPOCH + timedelta(days=30)
_PASS = b"test-only-passphrase"


@dataclass(frozen=True)
class SealedOfd:
    data: bytes
    unsigned: RenderedOfd
    seal_der: bytes


def seal_der_for(pki: Sm2Pki) -> bytes:
    return ses.make_seal(
        es_id="15250000000001",
        seal_name="锡林郭勒盟市场监督管理局电子印章",
        seal_type=1,
        signer_cert_ders=[pki.seal.cert_der],
        valid_start=PKI_EPOCH,
        valid_end=PKI_EPOCH + timedelta(days=2 * 365),
        created_at=PKI_EPOCH,
        picture_png=draw_round_seal(department_name="锡林郭勒盟市场监督管理局", code="1525000012345"),
        width_mm=42,
        height_mm=42,
        maker_cert_der=pki.maker.cert_der,
        maker_key=pki.maker.key,
    )


def seal_key(pki: Sm2Pki) -> SealKey:
    return SealKey.from_pem(pki.seal.key.to_pem(_PASS), _PASS)


def sealed_ofd(pki: Sm2Pki, slug: str, *, holder_name: str | None = None, seal_der: bytes | None = None) -> SealedOfd:
    template = TemplateRegistry.load(TEMPLATES_DIR).get(slug)
    overrides = {"holder_name": holder_name} if holder_name else {}
    rendered = render_ofd(template, content_for(template, **overrides))
    seal_der = seal_der or seal_der_for(pki)
    data = seal_ofd(
        rendered.data,
        seal_der=seal_der,
        key=seal_key(pki),
        certificate_der=pki.seal.cert_der,
        signed_at=SIGNED_AT,
        page_index=rendered.seal_page,
        boundary_mm=rendered.seal_box,
    )
    return SealedOfd(data, rendered, seal_der)


def repack(data: bytes, changes: dict[str, bytes | None]) -> bytes:
    """The package with entries replaced, added (bytes) or removed (None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in changes:
                continue
            dst.writestr(info.filename, src.read(info))
        for name, body in changes.items():
            if body is not None:
                dst.writestr(name, body)
    return out.getvalue()


def now() -> datetime:
    return SIGNED_AT + timedelta(days=1)


_ = UTC
