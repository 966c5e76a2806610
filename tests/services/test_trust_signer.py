"""Serving the trust list never creates keys or trust roots; production makes no development PKI."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from asn1crypto import pem
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.crypto.api import (
    KeyAlgorithm,
    SealKey,
    certificate_summary,
    generate_private_key_pem,
    make_list_signer_certificate,
)
from certsvc.errors import BadRequestError, ValidationFailedError
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.dev_pki import ensure_dev_ca
from certsvc.services.embedded_init import init_embedded
from certsvc.services.trust import TrustService, parse_trust_list
from certsvc.services.trust_signer import import_trust_signer
from tests.conftest import PUBLIC_URL, auth, isolated_env
from tests.pki import NOT_AFTER, NOT_BEFORE, pki

_PASSPHRASE = "a passphrase of twenty characters"
_LINK_SECRET = "a sharing link secret of at least thirty-two characters"


def _files(home: Path) -> set[Path]:
    return {p for p in home.rglob("*") if p.is_file() and not p.name.startswith("certsvc.sqlite3")}


def _production(home: Path, database_url: str | None) -> ServiceContext:
    settings = load_settings(
        env="production",
        home=home,
        key_passphrase=_PASSPHRASE,
        public_url=PUBLIC_URL,
        sharing_link_secret=_LINK_SECRET,
        public_rate_limit_per_minute=0,
        database_url=database_url,
    )
    return build_context(settings)


def test_the_public_trust_list_creates_nothing_before_init(tmp_path: Path, fresh_database_url: str | None) -> None:
    ctx = build_context(
        load_settings(home=tmp_path, public_url=PUBLIC_URL, public_rate_limit_per_minute=0, database_url=fresh_database_url)
    )
    before = _files(tmp_path)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/trust/keys")
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "key_unavailable"
    assert _files(tmp_path) == before  # no key, no root, no certificate was made
    assert not (tmp_path / "pki").exists()


def test_the_list_is_signed_by_its_own_provisioned_key(embedded: ServiceContext) -> None:
    document = TrustService(embedded).signed_document()
    verified = parse_trust_list(document, anchors_der=embedded.trust_roots())
    assert verified.keys
    signer = certificate_summary(base64.b64decode(document["signer"]["chain"][0]))
    assert signer.subject_common_name == "certsvc Development Trust List Signer"
    assert not signer.is_ca  # neither the root nor the seal CA signs the list


def test_production_makes_no_development_pki(tmp_path: Path, fresh_database_url: str | None) -> None:
    ctx = _production(tmp_path, fresh_database_url)
    result = init_embedded(ctx)
    assert result.credentials_file is None and result.trust_roots == []
    assert not (tmp_path / "pki").exists()
    with pytest.raises(BadRequestError) as info:
        ensure_dev_ca(ctx, KeyAlgorithm.ECDSA_P256)
    assert info.value.code == "development_pki_disabled"
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/trust/keys").status_code == 503
    assert not (tmp_path / "pki").exists()


def test_production_refuses_a_seal_from_the_development_ca(tmp_path: Path, fresh_database_url: str | None) -> None:
    from certsvc.services.principals import Role, create_api_client

    ctx = _production(tmp_path, fresh_database_url)
    init_embedded(ctx)
    with ctx.database.transaction() as session:
        operator = create_api_client(session, name="op", role=Role.OPERATOR, department_id=None).api_key
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        made = client.post(
            "/api/v1/admin/departments",
            json={"code": "11152500011512829G", "name": "锡林郭勒盟市场监督管理局", "area_code": "152500"},
            headers=auth(operator),
        )
        assert made.status_code == 201, made.text
        response = client.post(
            "/api/v1/admin/departments/11152500011512829G/seals",
            json={"name": "行政许可专用章", "algorithm": "ecdsa-p256"},
            headers=auth(operator),
        )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "development_pki_disabled"
    assert not (tmp_path / "pki").exists()


def _signer_files(tmp_path: Path, *, issuer_der: bytes, issuer_key: SealKey) -> tuple[Path, Path]:
    pem_key = generate_private_key_pem(KeyAlgorithm.ECDSA_P256, b"operator passphrase")
    with SealKey.from_pem(pem_key, b"operator passphrase") as key:
        cert = make_list_signer_certificate(
            key=key,
            common_name="锡林郭勒盟电子证照信任列表签名",
            organization="锡林郭勒盟行政审批和政务服务局",
            issuer_certificate_der=issuer_der,
            issuer_key=issuer_key,
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
        )
    (tmp_path / "signer.key").write_bytes(pem_key)
    (tmp_path / "signer.pem").write_bytes(pem.armor("CERTIFICATE", cert) + pem.armor("CERTIFICATE", issuer_der))
    (tmp_path / "pass").write_text("operator passphrase\n")
    return tmp_path / "signer.key", tmp_path / "signer.pem"


def test_an_operator_imports_the_production_signer(tmp_path: Path, fresh_database_url: str | None) -> None:
    from certsvc_cli.main import app

    home = tmp_path / "home"
    ctx = _production(home, fresh_database_url)
    root = pki(KeyAlgorithm.ECDSA_P256)
    ctx.trust_roots_dir.mkdir(parents=True)
    (ctx.trust_roots_dir / "xlgl-root.der").write_bytes(root.root_der)
    key_file, cert_file = _signer_files(tmp_path, issuer_der=root.root_der, issuer_key=root.root_key)
    env = {
        **isolated_env(home, fresh_database_url),
        "CERTSVC_ENV": "production",
        "CERTSVC_KEY_PASSPHRASE": _PASSPHRASE,
        "CERTSVC_PUBLIC_URL": PUBLIC_URL,
        "CERTSVC_SHARING_LINK_SECRET": _LINK_SECRET,
    }
    args = ["trust", "import-signer", "--key", str(key_file), "--certificate", str(cert_file)]
    result = CliRunner().invoke(app, [*args, "--key-passphrase-file", str(tmp_path / "pass")], env=env)
    assert result.exit_code == 0, result.output
    document = TrustService(ctx).signed_document()
    assert parse_trust_list(document, anchors_der=[root.root_der]).keys == ()
    again = CliRunner().invoke(app, [*args, "--key-passphrase-file", str(tmp_path / "pass")], env=env)
    assert again.exit_code != 0 and "never overwritten" in again.output


def test_a_signer_no_trusted_root_issued_is_refused(tmp_path: Path, fresh_database_url: str | None) -> None:
    ctx = _production(tmp_path / "home", fresh_database_url)
    root = pki(KeyAlgorithm.ECDSA_P256)
    key_file, cert_file = _signer_files(tmp_path, issuer_der=root.root_der, issuer_key=root.root_key)
    with pytest.raises(ValidationFailedError) as info:
        import_trust_signer(
            ctx, key_pem=key_file.read_bytes(), certificate_pem=cert_file.read_bytes(), key_passphrase=b"operator passphrase"
        )
    assert [d["field"] for d in info.value.details] == ["certificate"]
