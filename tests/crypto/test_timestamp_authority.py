"""The built-in RFC 3161 TSA and its client: tokens, refusals, serials, nonces, imprints."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import algos, cms, core, tsp

from certsvc.crypto.api import (
    KeyAlgorithm,
    SealKey,
    TimeStampAuthorities,
    TimeStampAuthority,
    make_tsa_certificate,
)
from certsvc.crypto.timestamp_client import TransportTimeStamper
from certsvc.errors import SigningError, TimeStampUnavailableError
from tests.pki import NOT_AFTER, NOT_BEFORE, TSA_POLICY, available_algorithms, pki, tsa

pytestmark = pytest.mark.db_independent


def _request(
    digest: bytes, md: str = "sha256", *, nonce: int | None = 0x1234567890ABCDEF, **extra: object
) -> bytes:
    req: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": md}, "hashed_message": digest},
        "cert_req": True,
        **extra,
    }
    if nonce is not None:
        req["nonce"] = nonce
    der: bytes = tsp.TimeStampReq(req).dump()
    return der


def _granted(answer: bytes) -> tuple[cms.ContentInfo, tsp.TSTInfo]:
    response = tsp.TimeStampResp.load(answer)
    assert response["status"]["status"].native == "granted", response["status"].native
    token = response["time_stamp_token"]
    return token, token["content"]["encap_content_info"]["content"].parsed


def _failure(answer: bytes) -> set[str]:
    status = tsp.PKIStatusInfo.load(answer[2:]) if answer[1] < 0x80 else None
    assert status is not None
    assert status["status"].native == "rejection"
    return set(status["fail_info"].native)


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256])
def test_token_fields(alg: KeyAlgorithm) -> None:
    digest = hashlib.sha256(b"licence").digest()
    before = datetime.now(UTC) - timedelta(seconds=1)
    token, info = _granted(tsa(alg).respond(_request(digest)))
    assert info["version"].native == "v1"
    assert info["policy"].dotted == TSA_POLICY
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == 0x1234567890ABCDEF
    assert info["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert before <= info["gen_time"].native <= datetime.now(UTC) + timedelta(seconds=1)
    assert info["gen_time"].native.microsecond % 1000 == 0
    assert info["tsa"].chosen.native["common_name"].startswith("certsvc Test TSA")
    signed = token["content"]
    assert signed["version"].native == "v3"
    assert signed["encap_content_info"]["content_type"].native == "tst_info"
    (signer,) = signed["signer_infos"]
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert set(attrs) == {"content_type", "message_digest", "signing_certificate_v2"}
    assert attrs["message_digest"].native == hashlib.sha256(
        signed["encap_content_info"]["content"].contents
    ).digest()
    # The token's DER is what asn1crypto makes of it (DER, not merely BER-readable).
    assert token.dump(force=True) == token.dump()


def test_serial_numbers_are_unique() -> None:
    authority = tsa(KeyAlgorithm.ECDSA_P256)
    digest = bytes(32)
    serials = [
        _granted(authority.respond(_request(digest)))[1]["serial_number"].native for _ in range(300)
    ]
    assert len(set(serials)) == len(serials)
    assert all(0 < s < 2**159 for s in serials)  # at most 160 bits (RFC 3161 §2.4.2)


def test_no_nonce_no_certificates_when_not_asked() -> None:
    answer = tsa(KeyAlgorithm.ECDSA_P256).respond(
        _request(bytes(32), nonce=None, cert_req=False)
    )
    token, info = _granted(answer)
    assert info["nonce"].native is None
    assert token["content"]["certificates"].native is None


@pytest.mark.parametrize(
    ("request_der", "fail"),
    [
        (b"\x30\x03\x02\x01\x01", "bad_request"),
        (b"not DER at all", "bad_request"),
        (_request(bytes(16), "md5"), "bad_alg"),
        (_request(bytes(20), "sha256"), "bad_data_format"),
        (_request(bytes(32), req_policy="1.2.3.4"), "unaccepted_policy"),
    ],
)
def test_refusals_are_rfc3161_rejections(request_der: bytes, fail: str) -> None:
    assert _failure(tsa(KeyAlgorithm.ECDSA_P256).respond(request_der)) == {fail}


def test_request_with_extensions_is_refused() -> None:
    der = _request(
        bytes(32),
        extensions=[{"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}],
    )
    assert _failure(tsa(KeyAlgorithm.ECDSA_P256).respond(der)) == {"unaccepted_extensions"}


def test_a_seal_certificate_cannot_be_a_tsa() -> None:
    chain = pki(KeyAlgorithm.ECDSA_P256)
    with pytest.raises(SigningError, match="timeStamping"):
        TimeStampAuthority(
            key=chain.seal_key,
            certificate_der=chain.seal_der,
            chain_ders=chain.chain_ders,
            policy_oid=TSA_POLICY,
            accuracy=timedelta(seconds=1),
            clock=lambda: datetime.now(UTC),
        )


def test_tsa_certificate_must_be_the_keys() -> None:
    chain = pki(KeyAlgorithm.ECDSA_P256)
    cert = make_tsa_certificate(
        key=SealKey.generate(KeyAlgorithm.ECDSA_P256), common_name="TSA", organization="O",
        issuer_certificate_der=chain.root_der, issuer_key=chain.root_key,
        not_before=NOT_BEFORE, not_after=NOT_AFTER,
    )  # fmt: skip
    with pytest.raises(SigningError, match="does not belong"):
        TimeStampAuthority(
            key=SealKey.generate(KeyAlgorithm.ECDSA_P256), certificate_der=cert, chain_ders=[],
            policy_oid=TSA_POLICY, accuracy=timedelta(seconds=1), clock=lambda: datetime.now(UTC),
        )  # fmt: skip


@pytest.mark.skipif(KeyAlgorithm.SM2 not in available_algorithms(), reason="no SM2 backend")
def test_router_sends_sm3_requests_to_the_sm2_authority() -> None:
    router = TimeStampAuthorities(
        standard=tsa(KeyAlgorithm.ECDSA_P256), sm2=tsa(KeyAlgorithm.SM2)
    )
    _, info = _granted(router.respond(_request(bytes(32), "sm3")))
    assert "SM2" in info["tsa"].chosen.native["common_name"].upper()
    _, info = _granted(router.respond(_request(bytes(32))))
    assert "ecdsa" in info["tsa"].chosen.native["common_name"]
    no_sm2 = TimeStampAuthorities(standard=tsa(KeyAlgorithm.ECDSA_P256), sm2=None)
    assert _failure(no_sm2.respond(_request(bytes(32), "sm3"))) == {"bad_alg"}


# --- the client --------------------------------------------------------------------------
def _stamp(transport: object, digest: bytes = bytes(32)) -> cms.ContentInfo:
    stamper = TransportTimeStamper(transport)  # type: ignore[arg-type]
    return asyncio.run(stamper.async_timestamp(digest, "sha256"))


def test_client_gets_a_token_for_its_digest() -> None:
    digest = hashlib.sha256(b"x").digest()
    token = _stamp(tsa(KeyAlgorithm.ECDSA_P256).respond, digest)
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest


def test_client_refuses_a_replayed_answer() -> None:
    """An answer made for another request (other nonce) is refused: the nonce is checked."""
    replay = tsa(KeyAlgorithm.ECDSA_P256).respond(_request(bytes(32), nonce=42))
    with pytest.raises(TimeStampUnavailableError, match="nonce"):
        _stamp(lambda _req: replay)


def test_client_refuses_a_token_for_another_digest() -> None:
    authority = tsa(KeyAlgorithm.ECDSA_P256)

    def other_digest(request_der: bytes) -> bytes:
        req = tsp.TimeStampReq.load(request_der)
        forged = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                    "hashed_message": hashlib.sha256(b"something else").digest(),
                },
                "nonce": req["nonce"].native,
                "cert_req": True,
            }
        )
        return authority.respond(forged.dump())

    with pytest.raises(TimeStampUnavailableError, match="something else than was asked"):
        _stamp(other_digest)


def test_client_reports_refusals_and_garbage() -> None:
    authority = tsa(KeyAlgorithm.ECDSA_P256)
    policy_req = core.ObjectIdentifier("1.2.3").dump()

    def wrong_policy(request_der: bytes) -> bytes:
        req = tsp.TimeStampReq.load(request_der)
        req["req_policy"] = core.ObjectIdentifier.load(policy_req)
        return authority.respond(req.dump(force=True))

    with pytest.raises(TimeStampUnavailableError, match="refused"):
        _stamp(wrong_policy)
    with pytest.raises(TimeStampUnavailableError, match="not a TimeStampResp"):
        _stamp(lambda _req: b"<html>503</html>")


def tsa_under(chain: Any) -> TimeStampAuthority:
    """A TSA whose certificate is issued by ``chain``'s root (e.g. an untrusted one)."""
    key = SealKey.generate(chain.algorithm)
    cert = make_tsa_certificate(
        key=key, common_name="Rogue TSA", organization="O", issuer_certificate_der=chain.root_der,
        issuer_key=chain.root_key, not_before=NOT_BEFORE, not_after=NOT_AFTER,
    )  # fmt: skip
    return TimeStampAuthority(
        key=key, certificate_der=cert, chain_ders=[chain.root_der], policy_oid=TSA_POLICY,
        accuracy=timedelta(seconds=1), clock=lambda: datetime.now(UTC),
    )  # fmt: skip
