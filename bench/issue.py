"""Issue N licences in-process and split the time into render, seal and store.

Beside certsvc's figures, and on the same unsigned PDF and the same keys, two baselines are
measured in the same run: pyHanko's stock ``SimpleSigner`` (loaded once; it re-parses the key
and makes a dry-run signature for every document) and pyHanko tuned by hand (key object kept,
signature size reserved up front so no dry-run signature is made).

    .venv/bin/python bench/issue.py [N]
"""

from __future__ import annotations

import io
import itertools
import json
import sys
import tempfile
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, median_ms, timed
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.rendering.renderer import LicenceContent, render_licence
from certsvc.services.context import build_context
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import Principal, Role
from certsvc.services.producer import SealSnapshot
from certsvc.services.provisioning import add_seal, department_by_code, init_embedded
from certsvc.services.requests import parse_issue_request
from certsvc.storage.repositories import SealRepository
from certsvc.storage.repositories_rules import SealChoiceRepository

ROOT = Path(__file__).resolve().parent.parent


class _TunedSigner(signers.Signer):
    """What a careful pyHanko user writes: the key object kept, one signature per document."""

    def __init__(self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cert: asn1_x509.Certificate, chain: list[asn1_x509.Certificate]) -> None:
        mechanism = "sha256_rsa" if isinstance(key, rsa.RSAPrivateKey) else "sha256_ecdsa"
        from asn1crypto.algos import SignedDigestAlgorithm

        super().__init__(
            signing_cert=cert,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            signature_mechanism=SignedDigestAlgorithm({"algorithm": mechanism}),
        )
        self._key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def _baselines(pdf: bytes, box: tuple[float, float, float, float], key_pem: bytes, passphrase: bytes, cert_der: bytes, chain: list[bytes], n: int) -> dict[str, float]:
    key = serialization.load_pem_private_key(key_pem, passphrase)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    cert = asn1_x509.Certificate.load(cert_der)
    chain_certs = [asn1_x509.Certificate.load(c) for c in chain]
    from asn1crypto import keys as asn1_keys

    key_info = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    stock = signers.SimpleSigner(signing_cert=cert, signing_key=key_info, cert_registry=SimpleCertificateStore.from_certs(chain_certs))
    tuned = _TunedSigner(key, cert, chain_certs)
    meta = signers.PdfSignatureMetadata(field_name="Seal1")
    spec = fields.SigFieldSpec("Seal1", box=box)

    def stock_once() -> None:
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=stock, new_field_spec=spec)

    tuned_signer = signers.PdfSigner(meta, tuned, new_field_spec=spec)

    def tuned_once() -> None:
        tuned_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=8192 if isinstance(key, rsa.RSAPrivateKey) else 6144)

    for fn in (stock_once, tuned_once):
        fn()
    return {
        "pyhanko_stock_ms": median_ms([timed(stock_once) for _ in range(n)]),
        "pyhanko_tuned_ms": median_ms([timed(tuned_once) for _ in range(n)]),
    }


def main(n: int = 30) -> None:
    home = Path(tempfile.mkdtemp(prefix="certsvc-bench-"))
    ctx = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn"))
    init_embedded(ctx)
    request = parse_issue_request(json.loads((ROOT / "templates/food-business-licence/sample.json").read_text()))
    template = ctx.templates.get(request.template)
    rows = []
    with ctx.database.transaction() as session:
        ecdsa_dept = department_by_code(session, "11152500011512829G")
        rsa_seal = add_seal(ctx, session, department=ecdsa_dept, name="财务专用章（基准）", algorithm=crypto.KeyAlgorithm.RSA_3072, actor=None)
        rsa_seal_id = rsa_seal.id
    cases = [("ecdsa-p256", "11152500011512829G", None), ("sm2", "11152502011513952P", None), ("rsa-3072", "11152500011512829G", rsa_seal_id)]
    for algorithm, code, seal_id in cases:
        with ctx.database.transaction() as session:
            department = department_by_code(session, code)
            seals = SealRepository(session)
            seal = seals.by_id(seal_id) if seal_id else SealChoiceRepository(session).default_of(department.id)
            assert seal is not None
            snapshot = SealSnapshot.of(seal)
            principal = Principal(client_id=0, name="bench", role=Role.ISSUER, department_id=department.id, department_code=code)
            name = department.name
        now = ctx.clock.now()
        record = LicenceRecord(
            kind=template.kind, holder_name=request.holder.name, holder_id_type=request.holder.id_type,
            holder_id=request.holder.id, fields=template.validate_fields(request.fields), valid_from=request.valid_from,
            valid_until=request.valid_until, issuer=Issuer(name=name, code=code, area_code="152500"),
        )
        content = LicenceContent(
            record=record, identifier="1.2.156.3005.2.11100000MB0143028R001.11152500011512829G.2026000001.001.0",
            issued_on=now.date(), verify_url="https://certsvc.example.gov.cn/v/x",
        )
        image = ctx.blobs.get(snapshot.image_sha256)
        rendered = render_licence(template, content, seal_image_png=image)
        loaded = ctx.loaded_seal(snapshot)
        box = rendered.seal_box

        def seal_once() -> None:
            loaded.sealer.seal(rendered.electronic_pdf, box=box, department_name=name, signed_at=now, reason="bench")

        render_ms = median_ms([timed(lambda: render_licence(template, content, seal_image_png=image)) for _ in range(n)])
        seal_ms = median_ms([timed(seal_once) for _ in range(n)])
        row: dict[str, object] = {"algorithm": algorithm, "render_ms": render_ms, "seal_ms": seal_ms}
        if seal_id is None:  # the department's active seal: measure whole issuance too
            service = IssuanceService(ctx)
            # Each licence needs a number of its own (one licence per number and department).
            numbered = (request.model_copy(update={"fields": {**request.fields, "licence_number": f"JY1{i:013d}"}})
                        for i in itertools.count(len(rows) * (n + 1)))
            service.issue(next(numbered), principal=principal)
            total_ms = median_ms([timed(lambda: service.issue(next(numbered), principal=principal)) for _ in range(n)])
            row["issue_total_ms"] = total_ms
            row["store_and_db_ms"] = max(0.0, total_ms - render_ms - seal_ms)
        if algorithm != "sm2":  # pyHanko has no stock SM2 signer
            key_pem = ctx.keys.get(snapshot.key_ref)
            row.update(
                _baselines(rendered.electronic_pdf, (box.x1, box.y1, box.x2, box.y2), key_pem, ctx.passphrase(), snapshot.certificate_der, list(snapshot.chain_der), n)
            )
            row["seal_vs_tuned"] = seal_ms / float(row["pyhanko_tuned_ms"])  # type: ignore[arg-type]
        rows.append(row)
    print(f"machine: {machine()}")
    print(f"N = {n} per figure, medians in ms")
    header = ["algorithm", "render_ms", "seal_ms", "store_and_db_ms", "issue_total_ms", "pyhanko_stock_ms", "pyhanko_tuned_ms", "seal_vs_tuned"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(f"{row[h]:.1f}" if isinstance(row.get(h), float) else str(row.get(h, "-")) for h in header))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
