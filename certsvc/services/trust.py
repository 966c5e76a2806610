"""The signed list of issuer public keys that QR payloads are verified against, online or offline.

Key ids are derived from the seal certificates (first 8 bytes of SHA-256 over the seal key's
SubjectPublicKeyInfo) instead of a table of separate QR keys: a seal certificate already is the
department's document-signer certificate (the DCC's "DSC"), with a validity and a status, and
adding a seal is already the key-rollover step. So the list needs no new table and no migration.

The list is JSON, signed by a key provisioned for that one job (``services.trust_signer``:
made by ``certsvc init`` in development, imported by an operator in production); it carries the
signer's certificate chain, and a verifier accepts it only when that certificate was issued by
a root it already trusts (an anchor).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from certsvc.crypto import api as crypto
from certsvc.errors import InvalidTrustListError
from certsvc.services.context import ServiceContext
from certsvc.services.trust_signer import load_trust_signer
from certsvc.storage.orm import Certificate, Department, Seal

__all__ = ["TRUST_LIST_FORMAT", "TrustKey", "TrustList", "TrustService", "parse_trust_list"]

TRUST_LIST_FORMAT = "certsvc-trust-list/1"
# Offline verifiers should fetch a fresh list at least this often; the list says so itself.
_LIST_LIFETIME = timedelta(days=1)
_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class TrustKey:
    kid: str  # hex of the 8-byte key id
    algorithm: str  # KeyAlgorithm value: ecdsa-p256 | sm2
    department_code: str
    department_name: str
    valid_from: datetime
    valid_until: datetime
    status: str  # the seal's status: active, revoked ...
    public_key_der: bytes
    certificate_der: bytes

    @property
    def is_revoked(self) -> bool:
        return self.status != _ACTIVE

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "algorithm": self.algorithm,
            "digest": "sm3" if self.algorithm == crypto.KeyAlgorithm.SM2.value else "sha256",
            "department_code": self.department_code,
            "department_name": self.department_name,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "status": self.status,
            "revoked": self.is_revoked,
            "public_key": base64.b64encode(self.public_key_der).decode(),
            "certificate": base64.b64encode(self.certificate_der).decode(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrustKey:
        return cls(
            kid=str(data["kid"]),
            algorithm=str(data["algorithm"]),
            department_code=str(data["department_code"]),
            department_name=str(data["department_name"]),
            valid_from=datetime.fromisoformat(str(data["valid_from"])),
            valid_until=datetime.fromisoformat(str(data["valid_until"])),
            status=str(data["status"]),
            public_key_der=base64.b64decode(str(data["public_key"])),
            certificate_der=base64.b64decode(str(data["certificate"])),
        )


@dataclass(frozen=True)
class TrustList:
    """A verified (or locally built) trust list, with verifying keys loaded once."""

    issued_at: datetime
    next_update: datetime
    keys: tuple[TrustKey, ...]
    licence_types: dict[str, str]  # type code → licence name
    licence_status: dict[str, str]  # identifier → status, for licences no longer valid
    _loaded: dict[str, crypto.VerifyingKey] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def key(self, kid: str) -> TrustKey | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def verifying_key(self, key: TrustKey) -> crypto.VerifyingKey:
        """The loaded public key (cached: loading costs more than one verification)."""
        with self._lock:
            loaded = self._loaded.get(key.kid)
            if loaded is None:
                loaded = crypto.load_verifying_key(
                    crypto.KeyAlgorithm(key.algorithm), key.public_key_der
                )
                self._loaded[key.kid] = loaded
            return loaded

    def body(self) -> dict[str, Any]:
        return {
            "format": TRUST_LIST_FORMAT,
            "issued_at": self.issued_at.isoformat(),
            "next_update": self.next_update.isoformat(),
            "keys": [k.to_json() for k in self.keys],
            "licence_types": dict(sorted(self.licence_types.items())),
            "licence_status": dict(sorted(self.licence_status.items())),
        }


def _canonical(body: Mapping[str, Any]) -> bytes:
    # The signature covers this exact serialisation: sorted keys, no spaces, UTF-8.
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def parse_trust_list(document: Mapping[str, Any], *, anchors_der: Sequence[bytes]) -> TrustList:
    """Check a trust list document's signature and anchor, and load it.

    Raises:
        InvalidTrustListError: not a trust list, a bad signature, or a signer that no anchor issued.
    """
    try:
        if document.get("format") != TRUST_LIST_FORMAT:
            raise InvalidTrustListError(f"not a {TRUST_LIST_FORMAT} document")
        signer = document["signer"]
        chain = [base64.b64decode(c) for c in signer["chain"]]
        signature = base64.b64decode(str(document["signature"]))
        body = {k: v for k, v in document.items() if k not in ("signer", "signature")}
        signed = _canonical({**body, "signer": signer})
        algorithm = crypto.KeyAlgorithm(signer["algorithm"])
        verifier = crypto.load_verifying_key(
            algorithm, crypto.certificate_public_key_spki(chain[0])
        )
        if not verifier.verify(signature, signed):
            raise InvalidTrustListError("the trust list signature does not verify")
        anchored = any(
            chain[0] == a or crypto.is_directly_issued_by(chain[0], a) for a in anchors_der
        )
        if not anchored:
            raise InvalidTrustListError("the trust list signer was not issued by a trusted root")
        return TrustList(
            issued_at=datetime.fromisoformat(str(body["issued_at"])),
            next_update=datetime.fromisoformat(str(body["next_update"])),
            keys=tuple(TrustKey.from_json(k) for k in body["keys"]),
            licence_types={str(k): str(v) for k, v in body.get("licence_types", {}).items()},
            licence_status={str(k): str(v) for k, v in body.get("licence_status", {}).items()},
        )
    except InvalidTrustListError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvalidTrustListError("the trust list is malformed") from exc


class TrustService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def current(self) -> TrustList:
        """The list as the registry has it now (no signature: the server trusts its own rows)."""
        now = self.ctx.clock.now()
        with self.ctx.database.read() as session:
            rows = session.execute(
                select(Seal, Department).join(Department, Seal.department_id == Department.id)
            ).all()
            keys = tuple(
                TrustKey(
                    kid=crypto.key_id(spki).hex(),
                    algorithm=seal.algorithm,
                    department_code=department.code,
                    department_name=department.name,
                    valid_from=seal.valid_from,
                    valid_until=seal.valid_until,
                    status=seal.status,
                    public_key_der=spki,
                    certificate_der=seal.certificate_der,
                )
                for seal, department in rows
                if seal.algorithm
                in (crypto.KeyAlgorithm.ECDSA_P256.value, crypto.KeyAlgorithm.SM2.value)
                for spki in (crypto.certificate_public_key_spki(seal.certificate_der),)
            )
            # Like a CRL: every identifier (all versions) of licences that are no longer valid,
            # so that an offline check learns of a revocation up to the list's issue time.
            status: dict[str, str] = {}
            for cert in session.scalars(select(Certificate).where(Certificate.status != "valid")):
                for version in cert.versions:
                    status[version.identifier] = cert.status
        types = {t.type_code: t.name for t in self.ctx.templates.all()}
        return TrustList(
            issued_at=now,
            next_update=now + _LIST_LIFETIME,
            keys=keys,
            licence_types=types,
            licence_status=status,
        )

    def signed_document(self) -> dict[str, Any]:
        """The current list as a signed JSON document (``GET /api/v1/trust/keys``, ``trust export``).

        Raises:
            KeyUnavailableError: no trust-list signer was provisioned, or its key cannot be loaded.
        """
        list_signer = load_trust_signer(self.ctx)
        body = self.current().body()
        signer = {
            "algorithm": list_signer.key.algorithm.value,
            "chain": [base64.b64encode(c).decode() for c in list_signer.chain_der],
        }
        signature = crypto.sign_raw(list_signer.key, _canonical({**body, "signer": signer}))
        return {**body, "signer": signer, "signature": base64.b64encode(signature).decode()}

    def anchors(self) -> list[bytes]:
        """The roots this deployment trusts, as anchors for trust lists."""
        return self.ctx.trust_roots()
