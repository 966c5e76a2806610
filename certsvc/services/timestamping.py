"""Trusted time for seals: the time-stamp source every seal uses, and the built-in TSA.

The source is chosen by configuration (docs/ltv.md):

* ``CERTSVC_TSA_URL`` set: RFC 3161 over HTTP (``application/timestamp-query``) to that TSA,
  with optional HTTP Basic credentials or a bearer key; SM2 seals go to
  ``CERTSVC_TSA_SM2_URL`` when it is set. One pooled keep-alive client per process, shared by
  its threads, so concurrent seals do not queue behind one connection.
* unset (the embedded deployment): the built-in TSA, called in-process. Its keys and
  certificates are made by ``certsvc init`` from the development PKI, one per CA family
  (ECDSA P-256 for RSA/ECDSA seals, SM2 for SM2 seals, GM/T 0033), issued by that family's
  development root. Nothing here creates a key on a request's behalf.

The built-in TSA is also served over HTTP at ``POST /api/v1/tsa`` for API clients with the
``timestamping`` role (another certsvc, or ``openssl ts``/``curl``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from certsvc.crypto import api as crypto
from certsvc.errors import (
    BadRequestError,
    KeyUnavailableError,
    NotFoundError,
    TimeStampUnavailableError,
    ValidationFailedError,
)

if TYPE_CHECKING:
    from certsvc.services.context import ServiceContext

__all__ = [
    "MAX_TIMESTAMP_REQUEST_BYTES",
    "STAMP_DIGESTS",
    "DevTsaInfo",
    "HttpTimeStampTransport",
    "StampedData",
    "built_in_authorities",
    "built_in_families",
    "current_built_in_tsa",
    "dev_tsa_info",
    "ltv_stamper",
    "provision_dev_tsa",
    "renew_dev_tsa",
    "stamp_data",
    "timestamp_transport",
    "validation_data",
]

# A TimeStampReq is an imprint, a nonce and a few flags: well under 1 KiB.
MAX_TIMESTAMP_REQUEST_BYTES = 4096
_TSA_FAMILIES = {"ecdsa": crypto.KeyAlgorithm.ECDSA_P256, "sm2": crypto.KeyAlgorithm.SM2}


class HttpTimeStampTransport:
    """RFC 3161 §3.4 over HTTP: POST the DER request, read the DER response."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float,
        username: str | None = None,
        password: str | None = None,
        bearer: str | None = None,
    ) -> None:
        headers = {
            "Content-Type": "application/timestamp-query",
            "Accept": "application/timestamp-reply",
        }
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        auth = (username, password or "") if username is not None else None
        self._url = url
        self._client = httpx.Client(timeout=timeout_seconds, headers=headers, auth=auth)

    def __call__(self, request_der: bytes) -> bytes:
        try:
            answer = self._client.post(self._url, content=request_der)
        except httpx.HTTPError as exc:
            # The URL may carry credentials in its query: never repeat it.
            raise TimeStampUnavailableError(
                f"the TSA cannot be reached ({type(exc).__name__})"
            ) from exc
        if answer.status_code != 200:
            raise TimeStampUnavailableError(f"the TSA answered HTTP {answer.status_code}")
        return answer.content

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return "HttpTimeStampTransport()"


def provision_dev_tsa(ctx: ServiceContext) -> list[str]:
    """Create (once) the development TSAs: per family ("ecdsa", "sm2") a key and a certificate
    with the critical EKU timeStamping, issued by the family's development root. Called by
    ``certsvc init`` only (after the development CAs exist); returns what it made."""
    made = []
    for family, algorithm in _TSA_FAMILIES.items():
        if algorithm not in _available():
            continue
        if (ctx.pki_dir / f"dev-tsa-{family}.der").exists():
            continue
        # The TSA must outlive the seal certificates it vouches for; it ends with its root.
        _make_dev_tsa(
            ctx, family, key_ref=f"dev-tsa-{family}", validity=timedelta(days=3650 * 2 - 1)
        )
        made.append(f"{family} time-stamping authority")
    return made


def renew_dev_tsa(
    ctx: ServiceContext, family: str, *, validity_days: int | None = None
) -> DevTsaInfo:
    """A new key and certificate for the built-in TSA of ``family``, used from now on.

    Time-stamps already made keep their certificate (it travels in each token); licences whose
    newest time-stamp comes from the old certificate are renewed with ``certsvc ltv renew``.
    The certificate ends with its root at the latest (``validity_days`` may shorten it).

    Raises:
        NotFoundError: no such family in this deployment.
        KeyUnavailableError: no development root key (the deployment uses an outside TSA).
        ValidationFailedError: ``validity_days`` is not positive.
    """
    if family not in _TSA_FAMILIES or _TSA_FAMILIES[family] not in _available():
        raise NotFoundError(f"no built-in TSA {family!r}")
    if validity_days is not None and validity_days <= 0:
        raise ValidationFailedError(
            "validity must be at least a day",
            details=[{"field": "validity_days", "problem": "positive"}],
        )
    if not ctx.keys.exists(f"dev-root-{family}"):
        raise KeyUnavailableError(
            "the development root key is not in this deployment: renew the outside TSA instead"
        )
    stamp = ctx.clock.now().strftime("%Y%m%d-%H%M%S-%f")
    root = crypto.certificate_summary((ctx.trust_roots_dir / f"dev-root-{family}.der").read_bytes())
    longest = root.not_after - ctx.clock.now() - timedelta(minutes=5)
    validity = min(longest, timedelta(days=validity_days)) if validity_days is not None else longest
    _make_dev_tsa(ctx, family, key_ref=f"dev-tsa-{family}-{stamp}", validity=validity)
    return dev_tsa_info(ctx, family)


def _make_dev_tsa(ctx: ServiceContext, family: str, *, key_ref: str, validity: timedelta) -> None:
    passphrase = ctx.passphrase()
    root_der = (ctx.trust_roots_dir / f"dev-root-{family}.der").read_bytes()
    key_pem = crypto.generate_private_key_pem(
        _TSA_FAMILIES[family], passphrase, kdf=ctx.key_file_kdf
    )
    with (
        ctx.open_key_file(f"dev-root-{family}") as root_key,
        crypto.SealKey.from_pem(key_pem, passphrase) as key,
    ):
        now = ctx.clock.now()
        cert_der = crypto.make_tsa_certificate(
            key=key,
            common_name=f"certsvc Development TSA ({family.upper()})",
            organization="certsvc 时间戳服务（开发）",
            issuer_certificate_der=root_der,
            issuer_key=root_key,
            not_before=now - timedelta(minutes=5),
            not_after=now + validity,
        )
    ctx.keys.put(key_ref, key_pem)
    if key_ref == f"dev-tsa-{family}":
        (ctx.pki_dir / f"dev-tsa-{family}.der").write_bytes(
            cert_der
        )  # written last: a complete TSA
        return
    cert_name = f"{key_ref}.der"
    (ctx.pki_dir / cert_name).write_bytes(cert_der)
    # One small file names the current key and certificate together, replaced atomically, so a
    # crash never pairs a new key with an old certificate.
    pointer = _pointer(ctx, family)
    partial = pointer.with_suffix(".tmp")
    partial.write_text(json.dumps({"key_ref": key_ref, "certificate": cert_name}))
    os.replace(partial, pointer)


def _current(ctx: ServiceContext, family: str) -> tuple[str, Path]:
    """(key reference, certificate file) of the built-in TSA of ``family`` in use."""
    pointer = _pointer(ctx, family)
    if pointer.exists():
        named = json.loads(pointer.read_text())
        return str(named["key_ref"]), ctx.pki_dir / str(named["certificate"])
    return f"dev-tsa-{family}", ctx.pki_dir / f"dev-tsa-{family}.der"


@dataclass(frozen=True, slots=True)
class DevTsaInfo:
    """The built-in TSA of one family, as ``certsvc tsa info`` shows it."""

    family: str
    subject: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    sha256: str
    policy_oid: str
    accuracy_ms: int


def dev_tsa_info(ctx: ServiceContext, family: str) -> DevTsaInfo:
    """The certificate the built-in TSA of ``family`` signs with now.

    Raises:
        NotFoundError: no such TSA provisioned.
    """
    _, cert_file = _current(ctx, family)
    if not cert_file.exists():
        raise NotFoundError(f"no built-in TSA {family!r}: run `certsvc init`")
    summary = crypto.certificate_summary(cert_file.read_bytes())
    return DevTsaInfo(
        family=family, subject=summary.subject_common_name or "", serial_hex=summary.serial_hex, not_before=summary.not_before,
        not_after=summary.not_after, sha256=summary.sha256_fingerprint, policy_oid=ctx.settings.tsa_policy_oid,
        accuracy_ms=ctx.settings.tsa_accuracy_ms,
    )  # fmt: skip


def built_in_families(ctx: ServiceContext) -> list[str]:
    """The families whose built-in TSA this deployment has."""
    return [f for f in _TSA_FAMILIES if _current(ctx, f)[1].exists()]


def _authority(ctx: ServiceContext, family: str) -> crypto.TimeStampAuthority:
    key_ref, cert_file = _current(ctx, family)
    root_file = ctx.trust_roots_dir / f"dev-root-{family}.der"
    if not cert_file.exists() or not ctx.keys.exists(key_ref):
        raise KeyUnavailableError(
            "no time-stamping key: run `certsvc init` (development) or set CERTSVC_TSA_URL"
        )
    assert ctx.signing_keys is not None  # set by the context
    cert_der, root_der = cert_file.read_bytes(), root_file.read_bytes()
    # Through the signing-key seam, like every seal: a PKCS#11 backend serves the TSA too.
    key = ctx.signing_keys.open(key_ref, certificate_der=cert_der, chain_der=[root_der])
    return crypto.TimeStampAuthority(
        key=key,
        certificate_der=cert_der,
        chain_ders=[root_der],
        policy_oid=ctx.settings.tsa_policy_oid,
        accuracy=timedelta(milliseconds=ctx.settings.tsa_accuracy_ms),
        clock=ctx.clock.now,
    )


def built_in_authorities(ctx: ServiceContext) -> crypto.TimeStampAuthorities:
    """The built-in TSA (both families) from its provisioned keys. Never creates anything.

    Raises:
        KeyUnavailableError: no TSA key provisioned, or it cannot be decrypted.
    """
    sm2 = _authority(ctx, "sm2") if crypto.KeyAlgorithm.SM2 in _available() else None
    return crypto.TimeStampAuthorities(standard=_authority(ctx, "ecdsa"), sm2=sm2)


def current_built_in_tsa(ctx: ServiceContext) -> crypto.TimeStampAuthorities:
    """The built-in TSA as provisioned now: reloaded when a renewal (``renew_dev_tsa``, maybe in
    another process) replaced a key, which costs one ``stat`` per family and time-stamp.

    Raises:
        KeyUnavailableError: as ``built_in_authorities``.
    """
    generation = tuple(_generation(_pointer(ctx, family)) for family in _TSA_FAMILIES)
    kept = ctx.peek_loaded("built-in-tsa")
    if isinstance(kept, tuple) and kept[0] == generation:
        return kept[1]  # type: ignore[no-any-return]
    # Made outside ``loaded`` (opening the keys may load other values; its lock is not re-entrant).
    made = (generation, built_in_authorities(ctx))
    ctx.forget_loaded("built-in-tsa")
    return ctx.loaded("built-in-tsa", lambda: made)[1]


def _generation(pointer: Path) -> tuple[int, int]:
    try:
        found = pointer.stat()
    except FileNotFoundError:
        return (0, 0)
    return (found.st_ino, found.st_mtime_ns)  # replaced atomically: a new inode each time


def _pointer(ctx: ServiceContext, family: str) -> Path:
    return ctx.pki_dir / f"dev-tsa-{family}.current.json"


def _available() -> set[crypto.KeyAlgorithm]:
    try:
        import certsvc.crypto.sm2  # noqa: F401
    except ImportError:
        return {crypto.KeyAlgorithm.ECDSA_P256}
    return {crypto.KeyAlgorithm.ECDSA_P256, crypto.KeyAlgorithm.SM2}


def timestamp_transport(ctx: ServiceContext, algorithm: str) -> crypto.TimeStampTransport:
    """Where seals of ``algorithm`` get their time-stamps (see the module docstring)."""
    settings = ctx.settings
    url = settings.tsa_url
    if algorithm == crypto.KeyAlgorithm.SM2.value and settings.tsa_sm2_url is not None:
        url = settings.tsa_sm2_url
    if url is None:

        def built_in(request_der: bytes) -> bytes:
            # Looked up per request: a renewed TSA key is used from the next time-stamp on.
            return ctx.built_in_tsa().respond(request_der)

        return built_in
    return HttpTimeStampTransport(
        url,
        timeout_seconds=settings.tsa_timeout_seconds,
        username=settings.tsa_username,
        password=settings.tsa_password.get_secret_value() if settings.tsa_password else None,
        bearer=settings.tsa_api_key.get_secret_value() if settings.tsa_api_key else None,
    )


def ltv_stamper(ctx: ServiceContext, algorithm: str) -> crypto.LtvStamper:
    """The DSS + document time-stamp writer for licences sealed with ``algorithm``: its
    document time-stamps come from the same TSA as the seals' (SM3 for SM2 seals)."""
    name = f"ltv-stamper-{algorithm}"
    kept = ctx.peek_loaded(name)
    if kept is not None:
        return kept  # type: ignore[return-value]
    transport = ctx.timestamp_transport(algorithm)
    md = "sm3" if algorithm == crypto.KeyAlgorithm.SM2.value else "sha256"
    made = crypto.LtvStamper(transport, md=md)
    return ctx.loaded(name, lambda: made)


def validation_data(
    ctx: ServiceContext, *, algorithm: str, certificate_der: bytes, chain_der: tuple[bytes, ...]
) -> crypto.ValidationData:
    """What a verifier needs, years later, to validate a seal of this chain offline: the chain,
    the built-in TSA's certificates, and the seal CA's current CRL (development CAs; an
    imported seal's CA publishes its own CRL, which an operator adds with ``ltv renew``)."""
    from certsvc.services.revocation import RevocationService

    certificates = [certificate_der, *chain_der]
    crls: list[bytes] = []
    family = "sm2" if algorithm == crypto.KeyAlgorithm.SM2.value else "ecdsa"
    url = (
        ctx.settings.tsa_sm2_url
        if family == "sm2" and ctx.settings.tsa_sm2_url
        else ctx.settings.tsa_url
    )
    if url is None:  # the built-in TSA: its certificate too (an outside TSA's is in its tokens)
        tsa_cert = _current(ctx, family)[1]
        if tsa_cert.exists():
            certificates.append(tsa_cert.read_bytes())
    ca_file = ctx.pki_dir / f"dev-seal-ca-{family}.der"
    if chain_der and ca_file.exists() and chain_der[0] == ca_file.read_bytes():
        crls.append(RevocationService(ctx).current_crl(family))
    return crypto.ValidationData(certificates=tuple(dict.fromkeys(certificates)), crls=tuple(crls))


STAMP_DIGESTS = ("sha256", "sha384", "sha512", "sm3")


@dataclass(frozen=True, slots=True)
class StampedData:
    """An RFC 3161 TimeStampToken over some bytes (``certsvc tsa stamp``)."""

    token_der: bytes
    gen_time: datetime
    digest_algorithm: str


def stamp_data(ctx: ServiceContext, data: bytes, *, digest: str = "sha256") -> StampedData:
    """Time-stamp ``data`` with the TSA seals use (built-in or ``CERTSVC_TSA_URL``); an SM3
    imprint goes to the SM2 TSA (GM/T 0033). The token verifies with ``openssl ts -verify``.

    Raises:
        BadRequestError: an unsupported digest algorithm.
        KeyUnavailableError: no built-in TSA provisioned and no outside TSA configured.
        TimeStampUnavailableError: the TSA cannot be reached or refused.
    """
    if digest not in STAMP_DIGESTS:
        raise BadRequestError(
            f"digest must be one of {', '.join(STAMP_DIGESTS)}", code="unknown_digest"
        )
    family = crypto.KeyAlgorithm.SM2 if digest == "sm3" else crypto.KeyAlgorithm.ECDSA_P256
    token = crypto.request_timestamp(ctx.timestamp_transport(family.value), data, md=digest)
    return StampedData(
        token_der=token, gen_time=crypto.token_gen_time(token), digest_algorithm=digest
    )
