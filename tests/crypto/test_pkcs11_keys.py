"""Seal keys inside a PKCS#11 token (SoftHSM2): the signing-key contract, sealing, sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pkcs11
import pytest

from certsvc.crypto.api import (
    KeyAlgorithm,
    PdfSealer,
    Pkcs11Keys,
    make_seal_certificate,
    token_key_ref,
    validate_pdf,
    verify_detached,
)
from certsvc.errors import KeyUnavailableError
from tests.hsm import SoftHsm
from tests.pki import DEPARTMENT_NAME, SIGNED_AT, pki, sample_pdf, seal_png

pytestmark = pytest.mark.db_independent

BOX_ARGS = {"department_name": DEPARTMENT_NAME, "signed_at": SIGNED_AT, "reason": "test"}


def _token_key(softhsm: SoftHsm, keys: Pkcs11Keys, algorithm: KeyAlgorithm, label: str) -> Any:
    """A key generated in the token with a certificate from the test PKI, opened by reference."""
    ref = token_key_ref(softhsm.token_label, label)
    public = keys.generate(ref, algorithm)
    chain = pki(KeyAlgorithm.ECDSA_P256)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cert = make_seal_certificate(
        key=public, department_name=DEPARTMENT_NAME, credit_code="11152500011512829G",
        issuer_certificate_der=chain.intermediate_der, issuer_key=chain.intermediate_key,
        not_before=now, not_after=now + timedelta(days=3650),
    )  # fmt: skip
    return keys.open(ref, certificate_der=cert, chain_der=[chain.intermediate_der, chain.root_der])


@pytest.fixture(scope="module")
def keys(softhsm: SoftHsm) -> Any:
    token_keys = Pkcs11Keys(module_path=softhsm.module, pin=lambda: softhsm.pin)
    yield token_keys
    token_keys.close()


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.ECDSA_P256, KeyAlgorithm.RSA_3072], ids=str)
def test_contract_and_a_pdf_seal_with_a_key_that_never_leaves_the_token(
    softhsm: SoftHsm, keys: Pkcs11Keys, algorithm: KeyAlgorithm
) -> None:
    key = _token_key(softhsm, keys, algorithm, f"contract-{algorithm.value}")
    message = "锡林郭勒盟市场监督管理局 · 电子证照".encode()
    signature = key.sign(message, digest_algorithm="sha256")
    assert verify_detached(key.public_key_spki_der(), signature, message)
    assert not verify_detached(key.public_key_spki_der(), signature, message[:-1] + b"!")
    assert repr(key) == f"Pkcs11Key(algorithm={algorithm.value!r})"

    sealed = PdfSealer(key=key, seal_image_png=seal_png()).seal(sample_pdf(), box=_box(), **BOX_ARGS)
    roots = [pki(KeyAlgorithm.ECDSA_P256).root_der]
    assert validate_pdf(sealed, trust_roots_der=roots).bottom_line
    damaged = sealed[:-300] + bytes([sealed[-300] ^ 1]) + sealed[-299:]
    assert not validate_pdf(damaged, trust_roots_der=roots).bottom_line

    # The token itself refuses to hand the private key out.
    with keys._sessions(softhsm.token_label).session() as pooled:
        private = pooled.session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=f"contract-{algorithm.value}")
        assert private[pkcs11.Attribute.EXTRACTABLE] is False
        assert private[pkcs11.Attribute.SENSITIVE] is True
        assert private[pkcs11.Attribute.NEVER_EXTRACTABLE] is True


def _box() -> Any:
    from certsvc.domain.layout import SealBox

    return SealBox(0, 380, 80, 520, 220)


def test_a_lost_session_is_reopened_and_a_missing_token_is_key_unavailable(softhsm: SoftHsm, keys: Pkcs11Keys) -> None:
    key = _token_key(softhsm, keys, KeyAlgorithm.ECDSA_P256, "sessions")
    key.sign(b"first", digest_algorithm="sha256")
    # Every pooled session dies (as when an HSM restarts); the next signature opens a new one.
    keys._sessions(softhsm.token_label)._idle[0].session.close()
    assert verify_detached(key.public_key_spki_der(), key.sign(b"again", digest_algorithm="sha256"), b"again")

    missing = Pkcs11Keys(module_path=softhsm.module, pin=lambda: softhsm.pin)
    with pytest.raises(KeyUnavailableError, match="not present"):
        missing.open(token_key_ref("no-such-token", "k"), certificate_der=b"", chain_der=())
    with pytest.raises(KeyUnavailableError, match="no key labelled"):
        keys.open(token_key_ref(softhsm.token_label, "never-made"), certificate_der=b"", chain_der=())
    with pytest.raises(KeyUnavailableError, match="already holds"):
        keys.generate(token_key_ref(softhsm.token_label, "sessions"), KeyAlgorithm.ECDSA_P256)


def test_a_missing_module_is_named(softhsm: SoftHsm) -> None:
    # (A wrong PIN needs a process not logged in yet: tests/cli/test_token_seals.py.)
    absent = Pkcs11Keys(module_path=softhsm.token_dir / "no-such-module.so", pin=lambda: softhsm.pin)
    with pytest.raises(KeyUnavailableError, match="module is not installed"):
        absent.check_login(softhsm.token_label)


def test_sm2_is_not_generated_in_a_token_and_a_token_sm2_key_needs_a_configured_mechanism(
    softhsm: SoftHsm, keys: Pkcs11Keys
) -> None:
    from certsvc.errors import SigningError

    with pytest.raises(SigningError, match="no SM2 mechanism"):
        keys.generate(token_key_ref(softhsm.token_label, "sm2"), KeyAlgorithm.SM2)
