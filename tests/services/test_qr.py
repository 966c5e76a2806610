"""QR codes end to end: render each template's page, decode the code from the image, verify it."""

from __future__ import annotations

import io
import random
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import segno
from PIL import Image, ImageFilter

from certsvc.crypto import api as crypto
from certsvc.services.context import ServiceContext
from certsvc.services.qr import QrService, decode_qr_image, parse_qr_text, verify_qr_offline
from certsvc.services.trust import TrustList, TrustService, parse_trust_list
from certsvc.storage.orm import Certificate, Seal

_MAX_VERSION_AT_25MM = 10  # 57 modules: 0.44 mm each at 25 mm


def page_images(pdf: bytes, tmp_path: Path, dpi: int = 300) -> list[bytes]:
    (tmp_path / "licence.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(tmp_path / "licence.pdf"), str(tmp_path / "page")], check=True)
    return [p.read_bytes() for p in sorted(tmp_path.glob("page*.png"))]


def scan_pdf(pdf: bytes, tmp_path: Path) -> tuple[str, bytes]:
    """The QR text read from the rendered pages, and the page image it was found on."""
    for png in page_images(pdf, tmp_path):
        try:
            return decode_qr_image(png, max_bytes=1 << 30), png
        except Exception:  # this page has no code (multi-page templates put it on the last)
            continue
    raise AssertionError("no page of the licence has a readable QR code")


@pytest.fixture(scope="module")
def trust(embedded: ServiceContext) -> TrustList:
    """The published list, as an offline verifier gets it: signed, parsed, anchored."""
    service = TrustService(embedded)
    return parse_trust_list(service.signed_document(), anchors_der=service.anchors())


@pytest.fixture(scope="module")
def scans(qr_licences: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes]]:
    return {slug: scan_pdf(info["pdf"], tmp_path_factory.mktemp(slug)) for slug, info in qr_licences.items()}


def _tamper(text: str, index_from_end: int) -> str:
    _identifier, payload = parse_qr_text(text)
    i = len(payload) - index_from_end
    swapped = "1" if payload[i] != "1" else "2"
    return text[: len(text) - len(payload)] + payload[:i] + swapped + payload[i + 1 :]


def test_every_template_has_a_scannable_small_verifiable_code(
    qr_licences: dict[str, dict[str, Any]], scans: dict[str, tuple[str, bytes]], trust: TrustList, embedded: ServiceContext
) -> None:
    assert len(qr_licences) >= 2
    for slug, info in qr_licences.items():
        text, _ = scans[slug]
        assert text.startswith("HTTPS://CERTSVC.EXAMPLE.GOV.CN/V/" + info["identifier"] + "/")
        code = segno.make(text, error="m", micro=False, boost_error=False)
        assert code.mode == "alphanumeric", slug
        assert code.version <= _MAX_VERSION_AT_25MM, (slug, code.version, len(text))

        result = verify_qr_offline(text, trust, today=embedded.clock.now().date())
        assert result.report.verdict.value == "valid", (slug, result.report.reasons)
        assert [r.code for r in result.report.reasons] == ["qr_signature_valid", "licence_status_offline"]
        assert result.claims is not None and result.claims.identifier == info["identifier"]
        assert "*" in result.claims.holder_name_masked and "*" in result.claims.holder_id_masked
        assert result.licence_name == embedded.templates.get(slug).name


def test_changed_payload_byte_unknown_key_and_revoked_key_are_invalid(
    scans: dict[str, tuple[str, bytes]], trust: TrustList, embedded: ServiceContext
) -> None:
    today = embedded.clock.now().date()
    for slug, (text, _) in scans.items():
        for position in (1, 40, 120):  # signature, digest region, header region
            tampered = verify_qr_offline(_tamper(text, position), trust, today=today)
            assert tampered.report.verdict.value == "invalid", (slug, position)
            assert {r.code for r in tampered.report.reasons} & {"qr_signature_invalid", "qr_malformed", "qr_unknown_key"}

        kid = verify_qr_offline(text, trust, today=today).kid
        without_key = replace(trust, keys=tuple(k for k in trust.keys if k.kid != kid))
        unknown = verify_qr_offline(text, without_key, today=today)
        assert unknown.report.verdict.value == "invalid"
        assert [r.code for r in unknown.report.reasons] == ["qr_unknown_key"]

        revoked_list = replace(trust, keys=tuple(replace(k, status="revoked") if k.kid == kid else k for k in trust.keys))
        revoked = verify_qr_offline(text, revoked_list, today=today)
        assert revoked.report.verdict.value == "invalid"
        assert [r.code for r in revoked.report.reasons] == ["qr_key_revoked"]


def test_revoked_key_in_the_registry_fails_online_and_in_the_published_list(
    scans: dict[str, tuple[str, bytes]], embedded: ServiceContext
) -> None:
    text, _ = next(iter(scans.values()))
    service = QrService(embedded)
    kid = service.verify_text(text).kid
    assert service.verify_text(text).report.verdict.value == "valid"
    with embedded.database.transaction() as session:
        seal = next(s for s in session.query(Seal).all() if _kid_of(s) == kid)
        seal_id, seal.status = seal.id, "revoked"
    try:
        assert [r.code for r in service.verify_text(text).report.reasons] == ["qr_key_revoked"]
        published = TrustService(embedded)
        listed = parse_trust_list(published.signed_document(), anchors_der=published.anchors())
        key = listed.key(kid)
        assert key is not None and key.is_revoked
    finally:
        with embedded.database.transaction() as session:
            session.get(Seal, seal_id).status = "active"  # type: ignore[union-attr]


def _kid_of(seal: Seal) -> str:
    return crypto.key_id(crypto.certificate_public_key_spki(seal.certificate_der)).hex()


def test_revoked_licence_is_reported_online_and_by_a_fresh_list(
    qr_licences: dict[str, dict[str, Any]], scans: dict[str, tuple[str, bytes]], embedded: ServiceContext
) -> None:
    slug = sorted(qr_licences)[-1]
    identifier, (text, _) = qr_licences[slug]["identifier"], scans[slug]
    with embedded.database.transaction() as session:
        cert = session.query(Certificate).filter_by(identifier=identifier).one()
        cert.status = "revoked"
    try:
        online = QrService(embedded).verify_text(text)
        assert online.report.verdict.value == "invalid"
        assert [r.code for r in online.report.reasons] == ["qr_signature_valid", "licence_revoked"]
        assert online.report.registry is not None and online.report.registry.status == "revoked"
        service = TrustService(embedded)
        fresh = parse_trust_list(service.signed_document(), anchors_der=service.anchors())
        offline = verify_qr_offline(text, fresh, today=embedded.clock.now().date())
        assert [r.code for r in offline.report.reasons] == ["qr_signature_valid", "licence_revoked"]
    finally:
        with embedded.database.transaction() as session:
            session.query(Certificate).filter_by(identifier=identifier).one().status = "valid"


def test_online_verification_matches_the_registry_record(scans: dict[str, tuple[str, bytes]], embedded: ServiceContext) -> None:
    for text, _ in scans.values():
        result = QrService(embedded).verify_text(text)
        assert [r.code for r in result.report.reasons] == ["qr_signature_valid", "licence_valid"]
        assert result.report.registry is not None and result.report.registry.is_issued_file


def test_a_photo_of_the_code_rotated_scaled_and_noisy_decodes_and_verifies(
    scans: dict[str, tuple[str, bytes]], trust: TrustList, embedded: ServiceContext
) -> None:
    text, page_png = scans[sorted(scans)[0]]
    import zxingcpp

    page = Image.open(io.BytesIO(page_png)).convert("RGB")
    found = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)[0]
    corners = [found.position.top_left, found.position.top_right, found.position.bottom_right, found.position.bottom_left]
    xs, ys = [p.x for p in corners], [p.y for p in corners]
    margin = (max(xs) - min(xs)) // 2
    photo = page.crop((min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin))
    # A hand-held phone: a slight tilt, another scale, blur, sensor noise, warm light, JPEG.
    photo = photo.rotate(13, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(235, 232, 225))
    photo = photo.resize((int(photo.width * 0.55), int(photo.height * 0.55)), Image.Resampling.BILINEAR)
    photo = photo.filter(ImageFilter.GaussianBlur(0.8))
    rng = random.Random(6)
    noise = Image.effect_noise(photo.size, 40).convert("RGB")
    photo = Image.blend(photo, noise, 0.12)
    photo = Image.merge("RGB", [c.point(lambda v, f=f: min(255, int(v * f))) for c, f in zip(photo.split(), (1.0, 0.95, 0.85), strict=True)])
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=rng.choice([60, 65, 70]))
    out = Path("test-output")
    out.mkdir(exist_ok=True)
    (out / "qr-photo.jpg").write_bytes(buffer.getvalue())

    assert decode_qr_image(buffer.getvalue(), max_bytes=1 << 24) == text
    result = QrService(embedded).verify_image(buffer.getvalue())
    assert result.report.verdict.value == "valid", result.report.reasons
