"""The built-in time-stamping authority: RFC 3161 requests in, RFC 3161 responses out.

One :class:`TimeStampAuthority` per TSA key. It answers a DER ``TimeStampReq`` with a DER
``TimeStampResp`` and never raises for a bad request: a refusal is an RFC 3161 response with
status ``rejection`` and a ``failInfo`` bit (§2.4.2), which is what a client expects.

Token profile (RFC 3161 §2.4.2, RFC 5816, ETSI EN 319 422):

* ``TSTInfo``: version 1, the TSA's policy (a request naming another policy is refused),
  the request's message imprint, a serial number unique for this TSA (see :meth:`_serial`),
  ``genTime`` in UTC with millisecond precision, the stated ``accuracy``, ``ordering`` false,
  the request's nonce, and the TSA's name;
* the token is a CMS SignedData over the DER TSTInfo (eContentType id-ct-TSTInfo) with signed
  attributes content-type, message-digest and ESS signing-certificate-v2 (RFC 5035), the
  binding between the token and the TSA certificate that ``openssl ts -verify`` checks;
* RSA-3072 and ECDSA P-256 keys sign with SHA-256. An SM2 key makes a GM/T 0033 token: the
  same RFC 3161 structures with SM3 (1.2.156.10197.1.401) as digest and ESS hash algorithm and
  SM2-with-SM3 (1.2.156.10197.1.501) over DER(signedAttrs) with the default signer ID
  (GM/T 0009 §10).

The TSA keeps no state but a serial counter, so one instance serves many threads.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509

from certsvc.crypto.gm_oids import register_gm_oids
from certsvc.crypto.keys import KeyAlgorithm
from certsvc.errors import SigningError

__all__ = ["ACCEPTED_DIGESTS", "TimeStampAuthorities", "TimeStampAuthority", "TsaKey"]

register_gm_oids()

# Digest algorithms a request may use, with their output sizes (a wrong size is badDataFormat).
ACCEPTED_DIGESTS: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64, "sm3": 32}
_EKU_TIME_STAMPING = "time_stamping"
_ID_CT_TST_INFO = "1.2.840.113549.1.9.16.1.4"  # RFC 3161 §2.4.2 id-ct-TSTInfo


class TsaKey(Protocol):
    """What the TSA needs of its key: a :class:`~certsvc.crypto.signing.SigningKey` (file,
    PKCS#11 token ...) or a plain :class:`~certsvc.crypto.keys.SealKey`."""

    @property
    def algorithm(self) -> KeyAlgorithm: ...

    def public_key_spki_der(self) -> bytes: ...

    def sign(self, message: bytes, *, digest_algorithm: str) -> bytes: ...


def _sm3(data: bytes) -> bytes:
    from certsvc.crypto.sm2 import sm3

    return sm3(data)


def _digest(md: str, data: bytes) -> bytes:
    return _sm3(data) if md == "sm3" else hashlib.new(md, data).digest()


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    size = (n.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + n.to_bytes(size, "big") + body


def _tlv_set(members: Sequence[bytes]) -> bytes:
    """DER SET OF: members in ascending order of their encodings (X.690 §11.6)."""
    return _tlv(0x31, b"".join(sorted(members)))


def _rejection(fail_info: str, text: str) -> bytes:
    status: bytes = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({fail_info}),
        }
    ).dump()
    # TimeStampResp ::= SEQUENCE { status, timeStampToken OPTIONAL }; asn1crypto's schema
    # marks the token mandatory, so the refusal is wrapped by hand.
    return _tlv(0x30, status)


def _accuracy(accuracy: timedelta) -> tsp.Accuracy:
    micros = int(accuracy / timedelta(microseconds=1))
    if micros <= 0:
        raise ValueError("accuracy must be positive")
    seconds, rest = divmod(micros, 1_000_000)
    millis, micros = divmod(rest, 1000)
    fields: dict[str, int] = {}
    if seconds:
        fields["seconds"] = seconds
    if millis:
        fields["millis"] = millis
    if micros:
        fields["micros"] = micros
    return tsp.Accuracy(fields)


class TimeStampAuthority:
    """An RFC 3161 / GM/T 0033 time-stamping authority around one key and certificate.

    ``clock`` returns the current time (aware); tests move it.

    Raises (constructor):
        SigningError: the certificate is not the key's, or lacks a critical
            id-kp-timeStamping extended key usage.
    """

    def __init__(
        self,
        *,
        key: TsaKey,
        certificate_der: bytes,
        chain_ders: Sequence[bytes],
        policy_oid: str,
        accuracy: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        try:
            cert = asn1_x509.Certificate.load(certificate_der, strict=True)
            eku = cert.extended_key_usage_value
            eku_critical = any(
                ext["extn_id"].native == "extended_key_usage" and ext["critical"].native
                for ext in cert["tbs_certificate"]["extensions"]
            )
        except (ValueError, TypeError) as exc:
            raise SigningError("the TSA certificate is not a DER X.509 certificate") from exc
        if cert.public_key.dump() != key.public_key_spki_der():
            raise SigningError("the TSA certificate does not belong to the TSA key")
        if eku is None or eku.native != [_EKU_TIME_STAMPING] or not eku_critical:
            # RFC 3161 §2.3: exactly id-kp-timeStamping, critical.
            raise SigningError("the TSA certificate must have the critical EKU timeStamping only")
        self._key = key
        self._clock = clock
        self._policy = core.ObjectIdentifier(policy_oid)
        self._accuracy = _accuracy(accuracy)
        self._tsa_name = asn1_x509.GeneralName({"directory_name": cert.subject})
        if key.algorithm is KeyAlgorithm.SM2:
            self._md, mechanism = "sm3", "sm2_sm3"
        elif key.algorithm is KeyAlgorithm.RSA_3072:
            self._md, mechanism = "sha256", "sha256_rsa"
        else:
            self._md, mechanism = "sha256", "sha256_ecdsa"
        digest_algorithm = algos.DigestAlgorithm({"algorithm": self._md}).dump()
        self._signature_algorithm_der = algos.SignedDigestAlgorithm({"algorithm": mechanism}).dump()
        sid = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": {
                    "issuer": cert.issuer,
                    "serial_number": cert.serial_number,
                }
            }
        ).dump()
        self._signer_info_head = b"\x02\x01\x01" + sid + digest_algorithm  # version 1
        # RFC 5652 §5.1: SignedData version 3 because eContentType is not id-data.
        self._signed_data_head = b"\x02\x01\x03" + _tlv(0x31, digest_algorithm)
        self._certificates_der = _tlv(0xA0, b"".join(sorted({certificate_der, *chain_ders})))
        self._signed_data_type = cms.ContentType("signed_data").dump()
        self._tst_info_type = cms.ContentType(_ID_CT_TST_INFO).dump()
        self._message_digest_type = cms.CMSAttributeType("message_digest").dump()
        self._static_attrs = (
            cms.CMSAttribute({"type": "content_type", "values": [_ID_CT_TST_INFO]}).dump(),
            self._signing_certificate_attr(cert, certificate_der),
        )
        self._granted = tsp.PKIStatusInfo({"status": "granted"}).dump()
        # TSTInfo (RFC 3161 §2.4.2): version, policy | imprint, serial, genTime | accuracy
        # (ordering FALSE is the DEFAULT, so absent) | nonce | tsa [0] EXPLICIT GeneralName.
        self._tst_head = b"\x02\x01\x01" + self._policy.dump()
        self._tst_tail_before_nonce = self._accuracy.dump()
        self._tst_tsa = _tlv(0xA0, self._tsa_name.dump())
        self._serial_lock = threading.Lock()
        self._last_serial_ns = 0
        self._serial_suffix = secrets.randbits(63)

    @property
    def digest_algorithm(self) -> str:
        """The digest this TSA signs with ("sha256" or, for SM2, "sm3")."""
        return self._md

    def _signing_certificate_attr(self, cert: asn1_x509.Certificate, der: bytes) -> bytes:
        ess: dict[str, object] = {
            "cert_hash": _digest(self._md, der),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                "serial_number": cert.serial_number,
            },
        }
        if self._md != "sha256":
            # SHA-256 is the DEFAULT of ESSCertIDv2.hashAlgorithm and so is left out (DER).
            ess["hash_algorithm"] = {"algorithm": self._md}
        attr: bytes = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [{"certs": [ess]}]}
        ).dump()
        return attr

    def _serial(self) -> int:
        """A serial number no other token of this TSA has (RFC 3161 §2.4.2): the time in
        nanoseconds, strictly increasing within the process, then 63 random bits fixed per
        process so that two processes signing in the same nanosecond still differ."""
        with self._serial_lock:
            now = max(time.time_ns(), self._last_serial_ns + 1)
            self._last_serial_ns = now
        return (now << 63) | self._serial_suffix

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER ``TimeStampReq`` with a DER ``TimeStampResp``."""
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            version = request["version"].native
            imprint = request["message_imprint"]
            md = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            policy = request["req_policy"]
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            has_extensions = request["extensions"].native is not None
        except (ValueError, TypeError, KeyError) as exc:
            return _rejection("bad_request", f"not a DER TimeStampReq ({type(exc).__name__})")
        if version != "v1":
            return _rejection("bad_request", "only TimeStampReq version 1 is supported")
        if md not in ACCEPTED_DIGESTS:
            return _rejection("bad_alg", f"digest algorithm {md} is not accepted")
        if not isinstance(digest, bytes) or len(digest) != ACCEPTED_DIGESTS[md]:
            return _rejection("bad_data_format", "the message imprint has the wrong length")
        if policy.native is not None and policy.dotted != self._policy.dotted:
            return _rejection(
                "unaccepted_policy", f"this TSA only issues under {self._policy.dotted}"
            )
        if has_extensions:
            return _rejection("unaccepted_extensions", "no request extensions are supported")
        try:
            token = self._token(imprint, nonce, cert_req)
        except Exception:
            # RFC 3161 §2.4.2 systemFailure: the reason stays in the server's logs, not the reply.
            return _rejection("system_failure", "the TSA could not sign")
        return _tlv(0x30, self._granted + token)

    def _token(self, imprint: tsp.MessageImprint, nonce: int | None, cert_req: bool) -> bytes:
        """DER TimeStampToken, assembled from pre-encoded parts (asn1crypto building the same
        structure from dicts costs ~1.5 ms a token; this ~0.1 ms). ``tests/crypto`` parses the
        result with asn1crypto and checks it with ``openssl ts -verify``."""
        now = self._clock().astimezone(UTC)
        # Millisecond precision: finer digits would promise more than the stated accuracy.
        gen_time = now.replace(microsecond=now.microsecond - now.microsecond % 1000)
        tst_der = _tlv(
            0x30,
            self._tst_head
            + imprint.dump()
            + core.Integer(self._serial()).dump()
            + core.GeneralizedTime(gen_time).dump()
            + self._tst_tail_before_nonce
            + (core.Integer(nonce).dump() if nonce is not None else b"")
            + self._tst_tsa,
        )
        message_digest = _tlv(
            0x30, self._message_digest_type + _tlv(0x31, _tlv(0x04, _digest(self._md, tst_der)))
        )
        attrs_der = _tlv_set([*self._static_attrs, message_digest])
        # RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag.
        signature = self._key.sign(attrs_der, digest_algorithm=self._md)
        signer_info = _tlv(
            0x30,
            self._signer_info_head
            + b"\xa0"
            + attrs_der[1:]  # signedAttrs [0] IMPLICIT: the SET with its tag replaced
            + self._signature_algorithm_der
            + _tlv(0x04, signature),
        )
        signed_data = _tlv(
            0x30,
            self._signed_data_head
            + _tlv(0x30, self._tst_info_type + _tlv(0xA0, _tlv(0x04, tst_der)))
            + (self._certificates_der if cert_req else b"")
            + _tlv(0x31, signer_info),
        )
        return _tlv(0x30, self._signed_data_type + _tlv(0xA0, signed_data))

    def __repr__(self) -> str:
        return f"TimeStampAuthority(policy={self._policy.dotted!r}, digest={self._md!r})"


class TimeStampAuthorities:
    """One endpoint for several authorities, chosen by the request's digest algorithm: an SM3
    imprint is a GM/T 0033 request and gets the SM2 authority's token, any other the
    RSA/ECDSA one. Requests are answered exactly as :meth:`TimeStampAuthority.respond` does."""

    def __init__(self, *, standard: TimeStampAuthority, sm2: TimeStampAuthority | None) -> None:
        self._standard = standard
        self._sm2 = sm2

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER ``TimeStampReq`` with a DER ``TimeStampResp``."""
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            md = request["message_imprint"]["hash_algorithm"]["algorithm"].native
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_request", "not a DER TimeStampReq")
        if md == "sm3":
            if self._sm2 is None:
                return _rejection("bad_alg", "no SM2 time-stamping key is configured")
            return self._sm2.respond(request_der)
        return self._standard.respond(request_der)

    def __repr__(self) -> str:
        return f"TimeStampAuthorities(sm2={self._sm2 is not None})"
