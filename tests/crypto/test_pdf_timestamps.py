"""PAdES B-T: every seal made with a time-stamp source carries a signature time-stamp token."""

from __future__ import annotations

import functools
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from certsvc.crypto.api import KeyAlgorithm, PdfSealer, validate_pdf
from certsvc.crypto.sm2 import sm3
from certsvc.domain.layout import SealBox
from certsvc.errors import TimeStampUnavailableError
from tests.pki import (
    DEPARTMENT_NAME,
    SIGNED_AT,
    available_algorithms,
    pki,
    rogue_pki,
    sample_pdf,
    seal_png,
    tsa,
)

pytestmark = pytest.mark.db_independent

BOX = SealBox(page_index=0, x1=380, y1=80, x2=520, y2=220)


def _tsa_family(alg: KeyAlgorithm) -> KeyAlgorithm:
    # SM2 seals get GM/T 0033 (SM2) time-stamps; RSA/ECDSA seals an ECDSA TSA's.
    return KeyAlgorithm.SM2 if alg is KeyAlgorithm.SM2 else KeyAlgorithm.ECDSA_P256


@functools.cache
def _sealer(alg: KeyAlgorithm, *, rogue_tsa: bool = False) -> PdfSealer:
    p = pki(alg)
    authority = tsa(_tsa_family(alg))
    if rogue_tsa:
        from tests.crypto.test_timestamp_authority import tsa_under

        authority = tsa_under(rogue_pki(_tsa_family(alg)))
    return PdfSealer(
        key=p.signing_key, seal_image_png=seal_png(),
        timestamp_transport=authority.respond,
    )


def _seal(sealer: PdfSealer) -> bytes:
    return sealer.seal(
        sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=SIGNED_AT, reason="签发"
    )


def _signer_info(sealed: bytes) -> Any:
    (sig,) = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    (si,) = sig.signed_data["signer_infos"]
    return si


@pytest.mark.parametrize("alg", available_algorithms(), ids=str)
def test_seal_carries_a_signature_time_stamp(alg: KeyAlgorithm) -> None:
    sealer = _sealer(alg)
    assert sealer.is_timestamping
    assert sealer._signer._cms_parts is not None  # the pre-encoded fast path stays on
    before = datetime.now(UTC) - timedelta(seconds=2)
    sealed = _seal(sealer)

    si = _signer_info(sealed)
    (attr,) = si["unsigned_attrs"]
    assert attr["type"].native == "signature_time_stamp_token"
    (token,) = attr["values"]
    info = token["content"]["encap_content_info"]["content"].parsed
    signature = si["signature"].native
    md = "sm3" if alg is KeyAlgorithm.SM2 else "sha256"
    expected = sm3(signature) if md == "sm3" else hashlib.sha256(signature).digest()
    # ETSI EN 319 122-1 §5.3: the token covers the signature value, hashed with its digest.
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == md
    assert info["message_imprint"]["hashed_message"].native == expected

    roots = {pki(alg).root_der, pki(_tsa_family(alg)).root_der}
    result = validate_pdf(sealed, trust_roots_der=sorted(roots))
    (check,) = result.signatures
    assert check.bottom_line, check
    assert check.is_timestamp_valid is True
    assert check.timestamp_at is not None
    assert before <= check.timestamp_at <= datetime.now(UTC) + timedelta(seconds=2)
    # The claimed signing time stays what the caller said; the proven one is the TSA's.
    assert check.signing_time == SIGNED_AT


def test_time_stamp_from_an_untrusted_tsa_fails_the_signature() -> None:
    sealed = _seal(_sealer(KeyAlgorithm.ECDSA_P256, rogue_tsa=True))
    (check,) = validate_pdf(sealed, trust_roots_der=[pki(KeyAlgorithm.ECDSA_P256).root_der]).signatures
    assert check.is_intact and check.is_trusted
    assert check.is_timestamp_valid is False
    assert not check.bottom_line


def test_a_seal_without_a_time_stamp_source_has_none() -> None:
    p = pki(KeyAlgorithm.ECDSA_P256)
    sealer = PdfSealer(
        key=p.signing_key, seal_image_png=seal_png()
    )
    sealed = _seal(sealer)
    assert not sealer.is_timestamping
    assert _signer_info(sealed)["unsigned_attrs"].native is None
    (check,) = validate_pdf(sealed, trust_roots_der=[p.root_der]).signatures
    assert check.timestamp_at is None and check.is_timestamp_valid is None


def test_tsa_down_means_no_seal() -> None:
    """A seal is never made without its time-stamp: the TSA failing fails the seal."""
    p = pki(KeyAlgorithm.ECDSA_P256)
    is_up = {"up": True}
    authority = tsa(KeyAlgorithm.ECDSA_P256)

    def flaky(request: bytes) -> bytes:
        if not is_up["up"]:
            raise TimeStampUnavailableError("the TSA cannot be reached (ConnectError)")
        return authority.respond(request)

    sealer = PdfSealer(
        key=p.signing_key, seal_image_png=seal_png(), timestamp_transport=flaky,
    )  # fmt: skip
    is_up["up"] = False
    with pytest.raises(TimeStampUnavailableError):
        _seal(sealer)


@pytest.mark.skipif(KeyAlgorithm.SM2 not in available_algorithms(), reason="no SM2 backend")
def test_ses_signature_time_stamp_is_checked() -> None:
    from certsvc.crypto.api import verify_pdf_ranges
    from tests.interop.test_openssl_sm2_timestamp import sm2_sealed_with_ses

    pdf, ses_signature = sm2_sealed_with_ses()
    chain = pki(KeyAlgorithm.SM2)
    good = verify_pdf_ranges(
        pdf, ses_signature, maker_certificates_der=[chain.intermediate_der],
        trust_roots_der=[chain.root_der],
    )  # fmt: skip
    assert good.is_valid, good
    assert good.timestamp_at is not None
    untrusted = verify_pdf_ranges(
        pdf, ses_signature, maker_certificates_der=[chain.intermediate_der],
        trust_roots_der=[rogue_pki(KeyAlgorithm.SM2).root_der],
    )  # fmt: skip
    assert not untrusted.is_valid
    assert untrusted.codes == ("ses_timestamp_invalid",)
    assert untrusted.timestamp_at is None
