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

from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from certsvc.crypto import api as crypto
from certsvc.errors import KeyUnavailableError, TimeStampUnavailableError

if TYPE_CHECKING:
    from certsvc.services.context import ServiceContext

__all__ = [
    "MAX_TIMESTAMP_REQUEST_BYTES",
    "HttpTimeStampTransport",
    "built_in_authorities",
    "ltv_stamper",
    "provision_dev_tsa",
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
        cert_file = ctx.pki_dir / f"dev-tsa-{family}.der"
        if cert_file.exists():
            continue
        passphrase = ctx.passphrase()
        root_der = (ctx.trust_roots_dir / f"dev-root-{family}.der").read_bytes()
        key_pem = crypto.generate_private_key_pem(algorithm, passphrase, kdf=ctx.key_file_kdf)
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
                # The TSA must outlive the seal certificates it vouches for; it ends with its root.
                not_after=now + timedelta(days=3650 * 2 - 1),
            )
        ctx.keys.put(f"dev-tsa-{family}", key_pem)
        cert_file.write_bytes(cert_der)  # written last: its presence marks a complete TSA
        made.append(f"{family} time-stamping authority")
    return made


def _authority(ctx: ServiceContext, family: str) -> crypto.TimeStampAuthority:
    cert_file = ctx.pki_dir / f"dev-tsa-{family}.der"
    root_file = ctx.trust_roots_dir / f"dev-root-{family}.der"
    if not cert_file.exists() or not ctx.keys.exists(f"dev-tsa-{family}"):
        raise KeyUnavailableError(
            "no time-stamping key: run `certsvc init` (development) or set CERTSVC_TSA_URL"
        )
    assert ctx.signing_keys is not None  # set by the context
    cert_der, root_der = cert_file.read_bytes(), root_file.read_bytes()
    # Through the signing-key seam, like every seal: a PKCS#11 backend serves the TSA too.
    key = ctx.signing_keys.open(f"dev-tsa-{family}", certificate_der=cert_der, chain_der=[root_der])
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
        return ctx.built_in_tsa().respond
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
    url = ctx.settings.tsa_sm2_url if family == "sm2" and ctx.settings.tsa_sm2_url else ctx.settings.tsa_url
    if url is None:  # the built-in TSA: its certificate too (an outside TSA's is in its tokens)
        tsa_cert = ctx.pki_dir / f"dev-tsa-{family}.der"
        if tsa_cert.exists():
            certificates.append(tsa_cert.read_bytes())
    ca_file = ctx.pki_dir / f"dev-seal-ca-{family}.der"
    if chain_der and ca_file.exists() and chain_der[0] == ca_file.read_bytes():
        crls.append(RevocationService(ctx).current_crl(family))
    return crypto.ValidationData(certificates=tuple(dict.fromkeys(certificates)), crls=tuple(crls))
