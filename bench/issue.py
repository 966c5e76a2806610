"""Issue N licences in-process and split the time into render, seal and store.

Beside certsvc's figures, and on the same unsigned PDF and the same keys, two baselines are
measured in the same run: pyHanko's stock ``SimpleSigner`` (loaded once; it re-parses the key
and makes a dry-run signature for every document) and pyHanko tuned by hand (key object kept,
signature size reserved up front so no dry-run signature is made).

Seal keys in a PKCS#11 token (SoftHSM2, a token made in the run's temporary home) against key
files of the same algorithm, same run: sealing one licence, and re-signing M licences with
2 batch workers (``--resign M``, default 40; 0 skips it; ``--rounds R`` runs per store, default
2, alternating which store goes first; the median is compared).

    .venv/bin/python bench/issue.py [N] [--resign M] [--rounds R]
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pydantic import SecretStr
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
from certsvc.services.embedded_init import init_embedded
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import Principal, Role
from certsvc.services.producer import SealSnapshot
from certsvc.services.provisioning import add_seal, department_by_code
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


_SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
_TOKEN, _PIN = "certsvc-bench", "246810"


def _softhsm_token(home: Path) -> bool:
    """A SoftHSM2 token under ``home`` (SOFTHSM2_CONF set for this process and its workers)."""
    if not _SOFTHSM.is_file() or shutil.which("softhsm2-util") is None:
        return False
    tokens = home / "softhsm" / "tokens"
    tokens.mkdir(parents=True)
    conf = home / "softhsm" / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", _TOKEN, "--so-pin", "13579246", "--pin", _PIN],
                   check=True, capture_output=True)  # fmt: skip
    return True


def _token_vs_file(ctx: Any, n: int, m: int, rounds: int = 2) -> list[dict[str, object]]:
    """Seal with a token key and with a key file of the same algorithm; re-sign M with 2 workers."""
    from certsvc.services.batch import BatchService
    from certsvc.services.provisioning import TokenKeyName

    code = "11152500011512829G"
    request = parse_issue_request(json.loads((ROOT / "templates/food-business-licence/sample.json").read_text()))
    template = ctx.templates.get(request.template)
    rows: list[dict[str, object]] = []
    operator = Principal(client_id=0, name="bench", role=Role.OPERATOR, department_id=None, department_code=None)
    for algorithm in (crypto.KeyAlgorithm.ECDSA_P256, crypto.KeyAlgorithm.RSA_3072):
        seals = {}
        with ctx.database.transaction() as session:
            department = department_by_code(session, code)
            for store in ("file", "pkcs11"):
                token = TokenKeyName(_TOKEN, f"bench-{algorithm.value}") if store == "pkcs11" else None
                seal = add_seal(ctx, session, department=department, name="行政许可专用章（基准）", algorithm=algorithm,
                                actor=None, token_key=token)  # fmt: skip
                seals[store] = SealSnapshot.of(seal)
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
        rendered = render_licence(template, content, seal_image_png=ctx.blobs.get(seals["file"].image_sha256))
        sealers = {store: ctx.loaded_seal(snapshot).sealer for store, snapshot in seals.items()}
        samples: dict[str, list[float]] = {store: [] for store in seals}
        for i in range(n + 1):  # interleaved, so a busy moment of the machine hits both stores
            for store, sealer in sealers.items():
                took = timed(lambda s=sealer: s.seal(rendered.electronic_pdf, box=rendered.seal_box, department_name=name,
                                                     signed_at=now, reason="bench"))  # fmt: skip
                if i:  # the first round opens the keys (token login, key file decryption)
                    samples[store].append(took)
        figures = {store: median_ms(taken) for store, taken in samples.items()}
        row: dict[str, object] = {"phase": f"seal one ({algorithm.value})", "file": figures["file"],
                                  "pkcs11": figures["pkcs11"], "pkcs11_vs_file": figures["file"] / figures["pkcs11"]}
        rows.append(row)
        if m and algorithm is crypto.KeyAlgorithm.ECDSA_P256:
            service, batch = IssuanceService(ctx), BatchService(ctx)
            issuer = Principal(client_id=0, name="bench", role=Role.ISSUER, department_id=department.id, department_code=code)
            for i in range(m):
                service.issue(request.model_copy(update={"fields": {**request.fields, "licence_number": f"JY1{900000 + i:013d}"}}),
                              principal=issuer)  # fmt: skip
            per_second: dict[str, list[float]] = {"file": [], "pkcs11": []}

            def resign_to(store: str) -> float:
                job = batch.create_resign_job(to_seal_id=seals[store].id, principal=operator, reason="bench")
                start = time.perf_counter()
                done = batch.run(job.job_id, principal=operator, workers=2).done
                elapsed = time.perf_counter() - start
                if done < m:  # every licence of the department moves; none done: already on that seal
                    raise SystemExit(f"re-sign to the {store} seal did {done} licences, fewer than the {m} issued for it")
                return done / elapsed

            on = "issued"
            for r in range(rounds):  # alternating which store goes first
                for store in ("file", "pkcs11") if r % 2 == 0 else ("pkcs11", "file"):
                    if on == store:  # re-signing onto the seal the licences are on is a no-op: move them away first
                        other = "pkcs11" if store == "file" else "file"
                        resign_to(other)
                        on = other
                    per_second[store].append(resign_to(store))
                    on = store
            print("re-sign runs (licences per s): " + "; ".join(
                f"{store} " + ", ".join(f"{v:.2f}" for v in values) for store, values in per_second.items()))  # fmt: skip
            rates = {store: statistics.median(values) for store, values in per_second.items()}
            rows.append({"phase": f"re-sign {m}, 2 workers (per s)", "file": rates["file"], "pkcs11": rates["pkcs11"],
                         "pkcs11_vs_file": rates["pkcs11"] / rates["file"]})  # fmt: skip
    return rows


def main(n: int = 30, resign: int = 40, rounds: int = 2) -> None:
    home = Path(tempfile.mkdtemp(prefix="certsvc-bench-"))
    has_token = _softhsm_token(home)
    settings = load_settings(home=home, public_url="https://certsvc.example.gov.cn")
    if has_token:
        settings = settings.model_copy(update={"pkcs11_module": _SOFTHSM, "pkcs11_pin": SecretStr(_PIN)})
    ctx = build_context(settings)
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
    if not has_token:
        print("SoftHSM2 is not installed: no token figures (make install)")
        return
    print()
    print("seal keys: SoftHSM2 token vs key file, same algorithm, same run (ms per seal; licences per s)")
    token_header = ["phase", "file", "pkcs11", "pkcs11_vs_file"]
    print(" | ".join(token_header))
    for row in _token_vs_file(ctx, n, resign, rounds):
        print(" | ".join(f"{row[h]:.2f}" if isinstance(row.get(h), float) else str(row.get(h, "-")) for h in token_header))


if __name__ == "__main__":
    args = sys.argv[1:]
    options = {"--resign": 40, "--rounds": 2}
    for option in options:
        if option in args:
            at = args.index(option)
            options[option] = int(args[at + 1])
            del args[at : at + 2]
    main(int(args[0]) if args else 30, options["--resign"], options["--rounds"])
