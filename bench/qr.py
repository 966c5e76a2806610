"""Offline QR verifications per second beside bare signature verification, and the end-to-end
time of ``POST /api/v1/verify/qr`` with a photo-sized PNG.

Baselines measured in the same run on the same key and message:
- offline QR verification (parse URL, B41-decode, parse payload, look up the key id, verify,
  check validity and the list's licence statuses) vs. the bare signature verification of the
  same algorithm (ECDSA P-256 via pyca/cryptography, SM2 via libcrypto) on the same signed bytes;
- ``POST /api/v1/verify/qr`` with the page image vs. zxing-cpp decoding that image alone.

    .venv/bin/python bench/qr.py [--seconds 1.0] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from bench._machine import machine, median_ms, timed
from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.services.context import build_context
from certsvc.services.embedded_init import init_embedded
from certsvc.services.qr import decode_qr_image, parse_qr_text, verify_qr_offline
from certsvc.services.trust import TrustService, parse_trust_list

ROOT = Path(__file__).resolve().parent.parent


def _rate(op: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(20):
            op()
        n += 20
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def _median_rate(op: Callable[[], object], rounds: int, seconds: float) -> float:
    return statistics.median(_rate(op, seconds) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as home:
        ctx = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn"))
        init_embedded(ctx)
        credentials = json.loads((Path(home) / "demo-credentials.json").read_text())
        client = TestClient(create_app(ctx))
        service = TrustService(ctx)
        trust = parse_trust_list(service.signed_document(), anchors_der=service.anchors())
        today = ctx.clock.now().date()
        sample = json.loads((ROOT / "templates/food-business-licence/sample.json").read_text(encoding="utf-8"))
        page_png = b""
        print(f"{'algorithm':11} {'offline QR verify/s':>20} {'bare verify/s':>14} {'ratio':>6}")
        for department in credentials["departments"]:
            headers = {"Authorization": f"Bearer {department['api_key']}"}
            issued = client.post("/api/v1/certificates", json=sample, headers=headers).json()
            pdf = client.get(f"/api/v1/certificates/{issued['identifier']}/pdf", headers=headers).content
            pdf_path = Path(home) / "licence.pdf"
            pdf_path.write_bytes(pdf)
            subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf_path), str(Path(home) / "page")], check=True)
            page_png = (Path(home) / "page.png").read_bytes()
            text = decode_qr_image(page_png, max_bytes=1 << 30)
            identifier, payload_text = parse_qr_text(text)
            payload = crypto.decode_qr_payload(identifier, payload_text)
            key = trust.key(payload.kid.hex())
            assert key is not None
            verifier = trust.verifying_key(key)
            assert verify_qr_offline(text, trust, today=today).report.bottom_line

            qr_rate = _median_rate(lambda t=text: verify_qr_offline(t, trust, today=today), args.rounds, args.seconds)  # type: ignore[misc]
            bare = _median_rate(
                lambda v=verifier, p=payload: v.verify(p.signature, p.signed_message), args.rounds, args.seconds  # type: ignore[misc]
            )
            print(f"{key.algorithm:11} {qr_rate:20.0f} {bare:14.0f} {qr_rate / bare:6.2f}")

        decode_ms = median_ms([timed(lambda: decode_qr_image(page_png, max_bytes=1 << 30)) for _ in range(7)])
        post_ms = median_ms(
            [
                timed(lambda: client.post("/api/v1/verify/qr", content=page_png, headers={"content-type": "image/png"}))
                for _ in range(7)
            ]
        )
        print(
            f"POST /api/v1/verify/qr, whole A4 page PNG at 150 dpi ({len(page_png) // 1024} KiB): "
            f"{post_ms:.1f} ms median; zxing-cpp decode of the same image alone: {decode_ms:.1f} ms "
            f"(ratio {post_ms / decode_ms:.2f})"
        )
        ctx.database.dispose()


if __name__ == "__main__":
    main()
