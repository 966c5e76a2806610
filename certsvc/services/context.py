"""Everything a use case needs, built once per process at the edge and passed down."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from certsvc.clock import Clock, SystemClock
from certsvc.config import Settings
from certsvc.crypto import api as crypto
from certsvc.errors import ConfigurationError, KeyUnavailableError
from certsvc.rendering.templates import TemplateRegistry
from certsvc.storage.blobs import BlobStore, DatabaseBlobStore, LocalBlobStore
from certsvc.storage.database import Database
from certsvc.storage.keystore import DatabaseKeyStore, FileKeyStore, KeyStore

__all__ = ["LoadedSeal", "SealLike", "ServiceContext", "build_context"]

_T = TypeVar("_T")


class SealLike(Protocol):
    """The parts of a seal needed to load it (``services.producer.SealSnapshot``)."""

    @property
    def id(self) -> int: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def key_ref(self) -> str: ...
    @property
    def certificate_der(self) -> bytes: ...
    @property
    def chain_der(self) -> tuple[bytes, ...]: ...
    @property
    def image_sha256(self) -> str: ...


@dataclass(frozen=True)
class LoadedSeal:
    """A seal ready to sign: its key opened once and kept, with the PDF sealer built around it.

    ``key`` signs under ``lock``, one signature at a time (a token session, like a loaded key
    object, is not shared by two threads at once); nothing else a seal does holds it, so
    threads sealing with one key never wait for each other's TSA round trips.
    """

    seal_id: int
    key: crypto.SigningKey
    sealer: crypto.PdfSealer
    lock: threading.RLock

    @property
    def algorithm(self) -> str:
        return self.key.algorithm.value


@dataclass
class ServiceContext:
    settings: Settings
    database: Database
    blobs: BlobStore
    keys: KeyStore
    templates: TemplateRegistry
    clock: Clock
    # Where seal keys come from; encrypted key files under CERTSVC_HOME unless given.
    signing_keys: crypto.KeySource | None = field(default=None, repr=False)
    _passphrase: bytes | None = field(default=None, repr=False)
    _seals: dict[int, LoadedSeal] = field(default_factory=dict, repr=False)
    _seals_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _loaded: dict[str, object] = field(default_factory=dict, repr=False)
    _loaded_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _token_keys: crypto.Pkcs11Keys | None = field(default=None, repr=False)
    _token_keys_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.signing_keys is None:
            files = crypto.EncryptedKeyFiles(
                read_pem=self.keys.get,
                passphrase=self.passphrase,
                previous_passphrase=self.previous_passphrase,
            )
            # A key_ref's scheme picks its store: ``pkcs11:`` a token, a plain name a key file.
            self.signing_keys = crypto.RoutedKeySource(
                default=files, by_scheme={crypto.PKCS11_SCHEME: self.token_keys}
            )

    def token_keys(self) -> crypto.Pkcs11Keys:
        """This process's sessions to the PKCS#11 module of the settings (loaded on first use).

        Raises:
            KeyUnavailableError: no PKCS#11 module is configured.
        """
        module = self.settings.pkcs11_module
        if module is None:
            raise KeyUnavailableError("no PKCS#11 module is configured (CERTSVC_PKCS11_MODULE)")
        # Its own lock, not ``loaded``'s: values made under that lock (the trust-list signer)
        # open token keys, and the lock is not re-entrant.
        with self._token_keys_lock:
            if self._token_keys is None:
                self._token_keys = crypto.Pkcs11Keys(
                    module_path=module,
                    pin=self._pkcs11_pin,
                    sm2_mechanism=self.settings.pkcs11_sm2_mechanism,
                )
            return self._token_keys

    def _pkcs11_pin(self) -> str:
        settings = self.settings
        if settings.pkcs11_pin is not None:
            return settings.pkcs11_pin.get_secret_value()
        if settings.pkcs11_pin_file is not None:
            try:
                return settings.pkcs11_pin_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise KeyUnavailableError(
                    "the PKCS#11 PIN file cannot be read (CERTSVC_PKCS11_PIN_FILE)"
                ) from exc
        raise KeyUnavailableError(
            "no PKCS#11 PIN: set CERTSVC_PKCS11_PIN or CERTSVC_PKCS11_PIN_FILE"
        )

    @property
    def key_file_kdf(self) -> crypto.KeyFileKdf:
        """How new key files are encrypted (scrypt's cost from the settings)."""
        return crypto.KeyFileKdf(self.settings.key_file_scrypt_log2_n)

    @property
    def pki_dir(self) -> Path:
        return self.settings.resolved_home / "pki"

    @property
    def trust_roots_dir(self) -> Path:
        return self.pki_dir / "roots"

    def passphrase(self) -> bytes:
        """The key passphrase: from settings, or the generated development one.

        Raises:
            KeyUnavailableError: no passphrase configured and none generated yet.
        """
        if self._passphrase is None:
            if self.settings.key_passphrase is not None:
                self._passphrase = self.settings.key_passphrase.get_secret_value().encode()
            elif self.settings.key_passphrase_file is not None:
                try:
                    self._passphrase = self.settings.key_passphrase_file.read_bytes().strip()
                except OSError as exc:
                    raise KeyUnavailableError("the key passphrase file cannot be read") from exc
            else:
                path = self.settings.dev_passphrase_file
                if not path.exists():
                    raise KeyUnavailableError(
                        "no key passphrase: set CERTSVC_KEY_PASSPHRASE or run `certsvc init`"
                    )
                self._passphrase = path.read_bytes().strip()
        return self._passphrase

    def previous_passphrase(self) -> bytes | None:
        """The passphrase before a change, while ``certsvc keys rewrap`` has not moved every file."""
        previous = self.settings.key_passphrase_previous
        return previous.get_secret_value().encode() if previous is not None else None

    def open_key_file(self, ref: str) -> crypto.SealKey:
        """The key file ``ref`` decrypted (with the passphrase, or the previous one during a change).

        Raises:
            KeyUnavailableError: no such file, or neither passphrase opens it.
        """
        pem = self.keys.get(ref)
        try:
            return crypto.SealKey.from_pem(pem, self.passphrase())
        except KeyUnavailableError:
            previous = self.previous_passphrase()
            if previous is None:
                raise
            return crypto.SealKey.from_pem(pem, previous)

    def trust_roots(self) -> list[bytes]:
        """DER certificates of the trusted roots (the development roots in the embedded default)."""
        if not self.trust_roots_dir.is_dir():
            return []
        return [p.read_bytes() for p in sorted(self.trust_roots_dir.glob("*.der"))]

    def seal_maker_certificates(self) -> list[bytes]:
        """DER certificates of the seal-making authorities (制章者) whose GB/T 38540 seals are trusted."""
        return [p.read_bytes() for p in sorted(self.pki_dir.glob("dev-seal-ca-*.der"))]

    def built_in_tsa(self) -> crypto.TimeStampAuthorities:
        """The built-in time-stamping authority (keys loaded once per context, and again after
        ``certsvc tsa renew`` replaced them, even from another process)."""
        from certsvc.services.timestamping import current_built_in_tsa

        return current_built_in_tsa(self)

    def peek_loaded(self, name: str) -> object | None:
        """A loaded value if there is one; never loads (for values whose making itself needs
        ``loaded``, which is not re-entrant)."""
        with self._loaded_lock:
            return self._loaded.get(name)

    def timestamp_transport(self, algorithm: str) -> crypto.TimeStampTransport:
        """Where seals of ``algorithm`` get their time-stamps (one per context and family)."""
        from certsvc.services.timestamping import timestamp_transport

        name = f"timestamp-transport-{algorithm}"
        kept = self.peek_loaded(name)
        if kept is not None:
            return kept  # type: ignore[return-value]
        # Made outside ``loaded``: the built-in TSA is a loaded value too, and the lock is not
        # re-entrant. Two threads may both make one; the first kept wins.
        made = timestamp_transport(self, algorithm)
        return self.loaded(name, lambda: made)

    def loaded(self, name: str, load: Callable[[], _T]) -> _T:
        """``load()``'s result, kept for the life of this context (decrypted keys, secrets).

        Kept here rather than in a module global: a context is one deployment, and what it
        loaded goes away with it.
        """
        with self._loaded_lock:
            if name not in self._loaded:
                self._loaded[name] = load()
            return self._loaded[name]  # type: ignore[return-value]

    def forget_loaded(self, name: str) -> None:
        """Drop a loaded value that was replaced (a newly provisioned key); the next use reloads it."""
        with self._loaded_lock:
            self._loaded.pop(name, None)

    def forget_seal(self, seal_id: int) -> None:
        """Drop the cached signer of a seal whose image or key changed; the next use reloads it."""
        with self._seals_lock:
            self._seals.pop(seal_id, None)

    def loaded_seal(self, seal: SealLike) -> LoadedSeal:
        """The cached signer for ``seal``; its key is opened on first use only.

        Raises:
            KeyUnavailableError: the key cannot be opened.
            SigningError: the seal's certificate or image cannot be used with the key.
        """
        loaded = self._seals.get(seal.id)
        if loaded is not None:
            return loaded
        # Resolved outside the lock: the built-in TSA takes the same lock to load its keys.
        transport = (
            self.timestamp_transport(seal.algorithm) if self.settings.pades_level != "B-B" else None
        )
        with self._seals_lock:
            loaded = self._seals.get(seal.id)
            if loaded is None:
                assert self.signing_keys is not None  # set in __post_init__
                lock = threading.RLock()
                opened = self.signing_keys.open(
                    seal.key_ref, certificate_der=seal.certificate_der, chain_der=seal.chain_der
                )
                key = crypto.SerialisedKey(opened, lock)
                sealer = crypto.PdfSealer(
                    key=key,
                    seal_image_png=self.blobs.get(seal.image_sha256),
                    # Every template prints the issuer's name and the date under the seal.
                    show_text=False,
                    # PAdES B-T and up: every seal carries a signature time-stamp.
                    timestamp_transport=transport,
                )
                loaded = LoadedSeal(seal_id=seal.id, key=key, sealer=sealer, lock=lock)
                self._seals[seal.id] = loaded
            return loaded


def build_context(
    settings: Settings, *, clock: Clock | None = None, migrate: bool = True
) -> ServiceContext:
    """Open the database (migrating it), the blob and key stores, and load every template.

    Raises:
        ConfigurationError: a template is broken or the home directory is unusable.
    """
    home = settings.resolved_home
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"CERTSVC_HOME is not usable: {home}") from exc
    database = Database(settings.sqlalchemy_url)
    if migrate:
        database.migrate()
    ctx = ServiceContext(
        settings=settings,
        database=database,
        blobs=DatabaseBlobStore(database)
        if settings.blob_store == "database"
        else LocalBlobStore(settings.blob_dir),
        keys=DatabaseKeyStore(database)
        if settings.key_store == "database"
        else FileKeyStore(settings.key_dir),
        templates=TemplateRegistry.load(settings.templates_dir),
        clock=clock or SystemClock(),
    )
    if migrate:
        # The data half of migration 0011, which needs the key passphrase (imported here:
        # the webhook services build on this module).
        from certsvc.services.webhook_secrets import encrypt_clear_text_secrets

        encrypt_clear_text_secrets(ctx)
        # Compromise times recorded on seals become key-compromise revocations (the one record).
        from certsvc.services.revocation import adopt_recorded_compromises

        adopt_recorded_compromises(ctx)
    return ctx
