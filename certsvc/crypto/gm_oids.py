"""Chinese commercial-cryptography (GM) OIDs registered in asn1crypto's name maps.

asn1crypto only knows names for OIDs in its built-in tables; everything else parses as a dotted
string and makes ``.signature_algo`` / ``.hash_algo`` raise. pyHanko registers ML-DSA the same
way (``pyhanko_certvalidator.asn1_types._pqc_setup``): mutate ``_map`` and, when it has already
been built, ``_reverse_map``.

OIDs (GB/T 33560-2017 Annex A, GB/T 35275-2017 §5, BouncyCastle ``GMObjectIdentifiers``):

=============================  ===============================  ==========================
OID                            meaning                          asn1crypto name
=============================  ===============================  ==========================
1.2.156.10197.1.301            curve sm2p256v1 / SM2            NamedCurve ``sm2p256v1``
1.2.156.10197.1.301.1          SM2-1 signature (GM/T 0010)      ``sm2sign``
1.2.156.10197.1.401            SM3                              ``sm3``
1.2.156.10197.1.501            SM2 signature with SM3           ``sm2_sm3``
1.2.156.10197.6.1.4.2.1        GM/T 0010 data                   ContentType ``data`` (alias)
1.2.156.10197.6.1.4.2.2        GM/T 0010 signedData             ContentType ``signed_data`` (alias)
1.2.156.10197.6.1.4.2.3..6     enveloped / signedAndEnveloped   ``gm_enveloped_data`` ...
                               / encrypted / keyAgreementInfo
=============================  ===============================  ==========================

Why GM/T 0010 ``data``/``signedData`` are *aliases* of the RFC 5652 names: GM/T 0010 SignedData is
PKCS#7 v1.5 with different OIDs ("除了OID之外数据格式和PKCS#7都是一样的", GmSSL issue #408).
Mapping them to ``data``/``signed_data`` lets asn1crypto parse the content as ``SignedData`` and
lets pyHanko accept the encapsulated/attribute content type when *verifying*. The reverse maps
are pinned to the RFC 5652 OIDs first, so anything certsvc *builds* by name keeps emitting
1.2.840.113549.1.7.x; check ``.dotted`` to tell the flavours apart. Parsed values keep their
original encoding, so signatures over them are unaffected.
"""

from __future__ import annotations

import threading

from asn1crypto import algos, cms, core, keys

# asn1crypto.tsp adds id-ct-TSTInfo ("tst_info") to ContentType's map when it is imported;
# imported first, so the reverse map built below knows that name too (else building a
# time-stamp token by name fails in whichever process happened to register the GM OIDs first).
from asn1crypto import tsp  # noqa: F401  # isort: skip

__all__ = [
    "OID_GM_DATA",
    "OID_GM_SIGNED_DATA",
    "OID_SM2_CURVE",
    "OID_SM2_SIGN",
    "OID_SM2_WITH_SM3",
    "OID_SM3",
    "register_gm_oids",
]

OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_SM2_SIGN = "1.2.156.10197.1.301.1"
OID_SM3 = "1.2.156.10197.1.401"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
OID_GM_DATA = "1.2.156.10197.6.1.4.2.1"
OID_GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"

_lock = threading.Lock()
_done = False


def _ensure_reverse_map(cls: type[core.ObjectIdentifier], known_name: str) -> None:
    # asn1crypto builds _reverse_map lazily by inverting _map (later keys win). Build it now,
    # from the built-in table only, so aliases added below can never become the reverse entry.
    cls.unmap(known_name)


def _register(
    cls: type[core.ObjectIdentifier], oid: str, name: str, *, alias: bool = False
) -> None:
    cls._map[oid] = name
    reverse = cls._reverse_map
    if not alias and reverse is not None:
        reverse[name] = oid


def register_gm_oids() -> None:
    """Register the GM OIDs in asn1crypto (idempotent, thread-safe)."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        _ensure_reverse_map(algos.DigestAlgorithmId, "sha256")
        _ensure_reverse_map(algos.SignedDigestAlgorithmId, "sha256_ecdsa")
        _ensure_reverse_map(cms.ContentType, "data")
        _ensure_reverse_map(keys.NamedCurve, "secp256r1")

        # GB/T 32905 / GM/T 0004: SM3 hash.
        _register(algos.DigestAlgorithmId, OID_SM3, "sm3")
        # GM/T 0006 / GB/T 33560 Annex A: SM2-with-SM3 (X.509, SES signAlgID, RFC 5652 CMS).
        _register(algos.SignedDigestAlgorithmId, OID_SM2_WITH_SM3, "sm2_sm3")
        # GM/T 0010 / GB/T 35275 §5: SM2-1 signature in digestEncryptionAlgorithm.
        _register(algos.SignedDigestAlgorithmId, OID_SM2_SIGN, "sm2sign")
        # GB/T 32918.5: recommended curve; private key encoded in 32 bytes.
        keys.NamedCurve.register("sm2p256v1", OID_SM2_CURVE, 32)

        # GM/T 0010 / GB/T 35275 §5 content types (see module docstring for the aliases).
        _register(cms.ContentType, OID_GM_DATA, "data", alias=True)
        _register(cms.ContentType, OID_GM_SIGNED_DATA, "signed_data", alias=True)
        _register(cms.ContentType, "1.2.156.10197.6.1.4.2.3", "gm_enveloped_data")
        _register(cms.ContentType, "1.2.156.10197.6.1.4.2.4", "gm_signed_and_enveloped_data")
        _register(cms.ContentType, "1.2.156.10197.6.1.4.2.5", "gm_encrypted_data")
        _register(cms.ContentType, "1.2.156.10197.6.1.4.2.6", "gm_key_agreement_info")
        _done = True
