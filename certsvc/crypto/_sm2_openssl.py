"""Private SM2/SM3 backend: OpenSSL 3 ``libcrypto`` through ctypes.

pyca/cryptography has no SM2 (pyca/cryptography#6857), so SM2 keys, signatures and PKCS#8 files
are handled here with the system libcrypto (OpenSSL >= 3.0, where SM2 is in the default
provider). Everything dangerous is fenced in this module:

* nonces come from OpenSSL's CSPRNG inside ``EVP_DigestSign``; no function here accepts one;
* every OpenSSL object is freed in ``finally`` blocks (``EVP_PKEY`` handles by their owner,
  see :class:`PKeyHandle`);
* errors raise :class:`~certsvc.errors.KeyUnavailableError` / :class:`~certsvc.errors.SigningError`
  with OpenSSL's reason text only; never a path, a passphrase or key bytes;
* the OpenSSL error queue is drained after each failure so that stale errors never leak into a
  later, unrelated call.

ctypes releases the GIL during foreign calls, so signing from several threads scales across
cores; each call uses its own ``EVP_MD_CTX`` / ``EVP_PKEY_CTX`` (the ``EVP_PKEY`` itself is
immutable after creation and safe to share between threads in OpenSSL 3).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_ulong, c_void_p

from certsvc.errors import KeyUnavailableError, SigningError

__all__ = [
    "PKeyHandle",
    "generate_sm2",
    "load_private_pem",
    "load_public_spki",
    "openssl_version",
    "private_to_pem",
    "public_to_spki",
    "sign_sm3",
    "verify_sm3",
]


def _load_libcrypto() -> ctypes.CDLL:
    # Prefer the OpenSSL 3 soname explicitly; SM2 via EVP_PKEY "SM2" needs the 3.0 provider API.
    candidates = ["libcrypto.so.3"]
    found = ctypes.util.find_library("crypto")
    if found:
        candidates.append(found)
    last: OSError | None = None
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            last = exc
            continue
        lib.OpenSSL_version_num.restype = c_ulong
        if lib.OpenSSL_version_num() >= 0x30000000:
            return lib
    raise ImportError(
        "certsvc SM2 needs OpenSSL >= 3.0 libcrypto (libcrypto.so.3); install libssl3"
    ) from last


_lib = _load_libcrypto()


def _fn(name: str, restype: object, *argtypes: object) -> None:
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_PEM_CB = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_int, c_void_p)

_fn("OpenSSL_version", c_char_p, c_int)
_fn("ERR_get_error", c_ulong)
_fn("ERR_clear_error", None)
_fn("ERR_error_string_n", None, c_ulong, c_char_p, c_size_t)
_fn("EVP_PKEY_free", None, c_void_p)
_fn("EVP_PKEY_is_a", c_int, c_void_p, c_char_p)
_fn("EVP_PKEY_CTX_new_from_name", c_void_p, c_void_p, c_char_p, c_char_p)
_fn("EVP_PKEY_CTX_new_from_pkey", c_void_p, c_void_p, c_void_p, c_char_p)
_fn("EVP_PKEY_CTX_free", None, c_void_p)
_fn("EVP_PKEY_keygen_init", c_int, c_void_p)
_fn("EVP_PKEY_generate", c_int, c_void_p, POINTER(c_void_p))
_fn("EVP_PKEY_CTX_set1_id", c_int, c_void_p, c_void_p, c_int)
_fn("EVP_MD_CTX_new", c_void_p)
_fn("EVP_MD_CTX_free", None, c_void_p)
_fn("EVP_MD_CTX_set_pkey_ctx", None, c_void_p, c_void_p)
_fn("EVP_MD_CTX_copy_ex", c_int, c_void_p, c_void_p)
_fn("EVP_MD_fetch", c_void_p, c_void_p, c_char_p, c_char_p)
_fn("EVP_MD_free", None, c_void_p)
_fn("EVP_DigestSignInit", c_int, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)
_fn("EVP_DigestSign", c_int, c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t)
_fn("EVP_DigestVerifyInit", c_int, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)
_fn("EVP_DigestVerify", c_int, c_void_p, c_char_p, c_size_t, c_char_p, c_size_t)
_fn("EVP_CIPHER_fetch", c_void_p, c_void_p, c_char_p, c_char_p)
_fn("EVP_CIPHER_free", None, c_void_p)
_fn("BIO_s_mem", c_void_p)
_fn("BIO_new", c_void_p, c_void_p)
_fn("BIO_new_mem_buf", c_void_p, c_void_p, c_int)
_fn("BIO_free", c_int, c_void_p)
_fn("BIO_ctrl", c_long, c_void_p, c_int, c_long, c_void_p)
_fn("PEM_read_bio_PrivateKey", c_void_p, c_void_p, c_void_p, _PEM_CB, c_void_p)
_fn(
    "PEM_write_bio_PKCS8PrivateKey",
    c_int,
    c_void_p,
    c_void_p,
    c_void_p,
    c_char_p,
    c_int,
    c_void_p,
    c_void_p,
)
_fn("d2i_PUBKEY", c_void_p, c_void_p, POINTER(c_void_p), c_long)
_fn("i2d_PUBKEY", c_int, c_void_p, POINTER(c_void_p))
_fn("CRYPTO_free", None, c_void_p, c_char_p, c_int)

_BIO_CTRL_INFO = 3  # BIO_get_mem_data()
_MAX_TEMPLATES = 8  # distinct signer IDs cached per key; more are served uncached

# Fetched once and shared (EVP_MD objects are immutable and thread-safe): avoids a provider
# fetch per signature. Freed never: they live as long as the process, like OpenSSL's own cache.
_SM3_MD = _lib.EVP_MD_fetch(None, b"SM3", None)
if not _SM3_MD:
    raise ImportError("this libcrypto has no SM3 in its default provider")


def openssl_version() -> str:
    """The linked libcrypto's version string, e.g. ``OpenSSL 3.0.19 27 Jan 2026``."""
    raw = _lib.OpenSSL_version(0)
    return raw.decode("ascii", "replace") if raw else "unknown"


def _drain_errors() -> str:
    """Pop the whole OpenSSL error queue; return the first reason (never contains secrets)."""
    first = ""
    buf = ctypes.create_string_buffer(256)
    while True:
        code = _lib.ERR_get_error()
        if code == 0:
            return first
        if not first:
            _lib.ERR_error_string_n(code, buf, len(buf))
            first = buf.value.decode("ascii", "replace")


class PKeyHandle:
    """Owner of one ``EVP_PKEY*``. Freed by :meth:`close` or when garbage-collected."""

    __slots__ = ("__weakref__", "_lock", "_ptr", "_templates")

    def __init__(self, ptr: int) -> None:
        if not ptr:
            raise ValueError("null EVP_PKEY")
        self._ptr: int | None = ptr
        self._lock = threading.Lock()
        # (signer_id, is_sign) -> initialised (EVP_MD_CTX*, EVP_PKEY_CTX*) to copy per operation.
        self._templates: dict[tuple[bytes, bool], tuple[int, int]] = {}

    def _template(self, signer_id: bytes, sign: bool) -> tuple[int, int] | None:
        """A pre-initialised context (caller holds ``_lock``); None when the cache is full."""
        key = (signer_id, sign)
        tpl = self._templates.get(key)
        if tpl is None and len(self._templates) < _MAX_TEMPLATES:
            tpl = self._templates[key] = _init_ctx(self, signer_id, sign=sign)
        return tpl

    @property
    def ptr(self) -> int:
        p = self._ptr
        if p is None:
            raise KeyUnavailableError("the SM2 key handle has been closed")
        return p

    def close(self) -> None:
        with self._lock:
            p, self._ptr = self._ptr, None
            templates, self._templates = self._templates, {}
        for mctx, pctx in templates.values():
            _lib.EVP_MD_CTX_free(mctx)
            _lib.EVP_PKEY_CTX_free(pctx)
        if p is not None:
            _lib.EVP_PKEY_free(p)

    def __del__(self) -> None:  # pragma: no cover - GC timing
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return "<PKeyHandle>"


def _require_sm2(ptr: int, exc_type: type[Exception], what: str) -> PKeyHandle:
    handle = PKeyHandle(ptr)
    if _lib.EVP_PKEY_is_a(ptr, b"SM2") != 1:
        handle.close()
        raise exc_type(f"{what} is not an SM2 key")
    return handle


def generate_sm2() -> PKeyHandle:
    """A fresh SM2 key pair on sm2p256v1 (GB/T 32918.1), from OpenSSL's CSPRNG."""
    ctx = _lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        raise KeyUnavailableError(f"SM2 key generation unavailable: {_drain_errors()}")
    try:
        out = c_void_p()
        if _lib.EVP_PKEY_keygen_init(ctx) != 1 or _lib.EVP_PKEY_generate(ctx, byref(out)) != 1:
            raise KeyUnavailableError(f"SM2 key generation failed: {_drain_errors()}")
        assert out.value is not None
        return PKeyHandle(out.value)
    finally:
        _lib.EVP_PKEY_CTX_free(ctx)


def _mem_bio_bytes(bio: int) -> bytes:
    ptr = c_void_p()
    n = _lib.BIO_ctrl(bio, _BIO_CTRL_INFO, 0, byref(ptr))
    if n <= 0 or not ptr.value:
        return b""
    return ctypes.string_at(ptr.value, n)


def load_private_pem(pem: bytes, passphrase: bytes | None) -> PKeyHandle:
    """Read a PEM private key (PKCS#8, encrypted or not; legacy EC PEM also accepted).

    Raises KeyUnavailableError for a wrong/missing passphrase, a damaged file or a non-SM2 key.
    """
    asked = [False]

    # A callback is always installed: with NULL OpenSSL would prompt on the terminal.
    def _cb(buf: int | None, size: int, _rwflag: int, _u: int | None) -> int:
        asked[0] = True
        if passphrase is None or buf is None or len(passphrase) > size:
            return -1
        ctypes.memmove(buf, passphrase, len(passphrase))
        return len(passphrase)

    cb = _PEM_CB(_cb)
    data = ctypes.create_string_buffer(pem, len(pem))
    bio = _lib.BIO_new_mem_buf(data, len(pem))
    if not bio:
        raise KeyUnavailableError("cannot allocate a memory BIO")
    try:
        ptr = _lib.PEM_read_bio_PrivateKey(bio, None, cb, None)
    finally:
        _lib.BIO_free(bio)
    if not ptr:
        reason = _drain_errors()
        if asked[0] and passphrase is None:
            raise KeyUnavailableError(
                "the SM2 private key is encrypted and no passphrase was given"
            )
        if asked[0]:
            raise KeyUnavailableError("cannot decrypt the SM2 private key (wrong passphrase?)")
        raise KeyUnavailableError(f"cannot read the SM2 private key: {reason}")
    return _require_sm2(ptr, KeyUnavailableError, "the private key")


def private_to_pem(key: PKeyHandle, passphrase: bytes) -> bytes:
    """Encrypted PKCS#8 PEM (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), as `openssl pkey` reads."""
    if not passphrase:
        raise ValueError("an encrypted PKCS#8 file needs a non-empty passphrase")
    cipher = _lib.EVP_CIPHER_fetch(None, b"AES-256-CBC", None)
    if not cipher:
        raise KeyUnavailableError(f"AES-256-CBC unavailable: {_drain_errors()}")
    bio = _lib.BIO_new(_lib.BIO_s_mem())
    try:
        if not bio:
            raise KeyUnavailableError("cannot allocate a memory BIO")
        ok = _lib.PEM_write_bio_PKCS8PrivateKey(
            bio, key.ptr, cipher, passphrase, len(passphrase), None, None
        )
        if ok != 1:
            raise KeyUnavailableError(f"cannot write the SM2 private key: {_drain_errors()}")
        return _mem_bio_bytes(bio)
    finally:
        if bio:
            _lib.BIO_free(bio)
        _lib.EVP_CIPHER_free(cipher)


def load_public_spki(der: bytes) -> PKeyHandle:
    """Parse a DER SubjectPublicKeyInfo holding an SM2 public key (raises ValueError)."""
    buf = ctypes.create_string_buffer(der, len(der))
    pp = c_void_p(ctypes.addressof(buf))
    ptr = _lib.d2i_PUBKEY(None, byref(pp), len(der))
    if not ptr:
        raise ValueError(f"not a valid SubjectPublicKeyInfo: {_drain_errors()}")
    if (pp.value or 0) - ctypes.addressof(buf) != len(der):
        _lib.EVP_PKEY_free(ptr)
        raise ValueError("trailing data after SubjectPublicKeyInfo")
    return _require_sm2(ptr, ValueError, "the SubjectPublicKeyInfo")


def public_to_spki(key: PKeyHandle) -> bytes:
    """DER SubjectPublicKeyInfo (id-ecPublicKey + namedCurve 1.2.156.10197.1.301)."""
    out = c_void_p()
    n = _lib.i2d_PUBKEY(key.ptr, byref(out))
    if n <= 0 or not out.value:
        raise SigningError(f"cannot encode the SM2 public key: {_drain_errors()}")
    try:
        return ctypes.string_at(out.value, n)
    finally:
        _lib.CRYPTO_free(out.value, None, 0)


def _init_ctx(key: PKeyHandle, signer_id: bytes, *, sign: bool) -> tuple[int, int]:
    """A (EVP_MD_CTX*, EVP_PKEY_CTX*) pair ready for one SM3withSM2 operation.

    The distinguishing ID must be set on the EVP_PKEY_CTX *before* DigestSign/VerifyInit:
    OpenSSL caches it and computes Z_A = SM3(ENTL||ID||a||b||xG||yG||xA||yA) (GM/T 0009-2012 §8,
    GB/T 32918.2 §5.5) at the first update. Without it OpenSSL 3.0 uses an empty ID.
    The caller frees both (mctx first: it does not own pctx, EVP_MD_CTX_set_pkey_ctx semantics).
    """
    mctx = _lib.EVP_MD_CTX_new()
    pctx = _lib.EVP_PKEY_CTX_new_from_pkey(None, key.ptr, None) if mctx else None
    if not mctx or not pctx:
        if mctx:
            _lib.EVP_MD_CTX_free(mctx)
        raise SigningError(f"cannot allocate an OpenSSL context: {_drain_errors()}")
    id_buf = ctypes.create_string_buffer(signer_id, len(signer_id))
    ok = _lib.EVP_PKEY_CTX_set1_id(pctx, id_buf, len(signer_id)) == 1
    if ok:
        _lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
        init = _lib.EVP_DigestSignInit if sign else _lib.EVP_DigestVerifyInit
        ok = init(mctx, None, _SM3_MD, None, key.ptr) == 1
    if not ok:
        _lib.EVP_MD_CTX_free(mctx)
        _lib.EVP_PKEY_CTX_free(pctx)
        raise SigningError(f"cannot initialise SM2 operation: {_drain_errors()}")
    return mctx, pctx


@contextmanager
def _operation_ctx(key: PKeyHandle, signer_id: bytes, *, sign: bool) -> Iterator[int]:
    """An EVP_MD_CTX* for one operation, freed on exit.

    Speed: copying a template context initialised once per (key, ID) skips the provider fetch,
    the EVP_PKEY_CTX allocation and the ID set-up on every call (EVP_MD_CTX_copy_ex duplicates
    the EVP_PKEY_CTX, and the copy owns its duplicate). The copy is made under the key's lock;
    the expensive part (the signature) runs unlocked and with the GIL released.
    """
    with key._lock:
        if key._ptr is None:
            raise KeyUnavailableError("the SM2 key handle has been closed")
        tpl = key._template(signer_id, sign)
        if tpl is not None:
            mctx = _lib.EVP_MD_CTX_new()
            if mctx and _lib.EVP_MD_CTX_copy_ex(mctx, tpl[0]) != 1:
                _lib.EVP_MD_CTX_free(mctx)
                mctx = None
            if not mctx:
                raise SigningError(f"cannot copy an OpenSSL context: {_drain_errors()}")
    if tpl is not None:
        try:
            yield mctx
        finally:
            _lib.EVP_MD_CTX_free(mctx)
        return
    mctx, pctx = _init_ctx(key, signer_id, sign=sign)
    try:
        yield mctx
    finally:
        _lib.EVP_MD_CTX_free(mctx)
        _lib.EVP_PKEY_CTX_free(pctx)


def sign_sm3(key: PKeyHandle, message: bytes, signer_id: bytes) -> bytes:
    """SM2 signature with SM3 (GB/T 32918.2 §6.1): DER SEQUENCE{r, s} (GM/T 0009-2012 §7.3).

    k is drawn by OpenSSL from its CSPRNG; callers cannot supply it.
    """
    with _operation_ctx(key, signer_id, sign=True) as mctx:
        siglen = c_size_t(80)  # DER of two 256-bit INTEGERs is at most 72 bytes
        sig = ctypes.create_string_buffer(siglen.value)
        if _lib.EVP_DigestSign(mctx, sig, byref(siglen), message, len(message)) != 1:
            raise SigningError(f"SM2 signing failed: {_drain_errors()}")
        return sig.raw[: siglen.value]


def verify_sm3(key: PKeyHandle, der_signature: bytes, message: bytes, signer_id: bytes) -> bool:
    """True iff ``der_signature`` (strict DER) is a valid SM3withSM2 signature over ``message``.

    Raises:
        SigningError: no verification context could be set up. That is a failure to evaluate,
            not a signature that does not verify, so it is never turned into ``False``.
    """
    with _operation_ctx(key, signer_id, sign=False) as mctx:
        rc = _lib.EVP_DigestVerify(mctx, der_signature, len(der_signature), message, len(message))
        if rc != 1:
            _drain_errors()
        return bool(rc == 1)
