"""Webhook HMAC secrets at rest: encrypted with a key derived from the key passphrase."""

from __future__ import annotations

import secrets

from certsvc.crypto import api as crypto
from certsvc.errors import KeyUnavailableError
from certsvc.services.context import ServiceContext
from certsvc.storage.orm_lifecycle import WebhookEndpoint
from certsvc.storage.repositories_lifecycle import WebhookRepository

__all__ = [
    "encrypt_clear_text_secrets",
    "endpoint_secret",
    "new_webhook_secret",
    "reseal_with_current_passphrase",
    "seal_secret",
]

_PURPOSE = "webhook-secrets"


def _box(ctx: ServiceContext) -> crypto.SecretBox:
    # Derived once per context (scrypt is deliberately slow).
    return ctx.loaded(
        _PURPOSE, lambda: crypto.SecretBox.from_passphrase(ctx.passphrase(), purpose=_PURPOSE)
    )


def new_webhook_secret() -> str:
    """A fresh HMAC-SHA256 key for ``X-Certsvc-Signature`` (256 bits of randomness)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _previous_box(ctx: ServiceContext) -> crypto.SecretBox | None:
    previous = ctx.previous_passphrase()
    if previous is None:
        return None
    return ctx.loaded(
        f"{_PURPOSE}-previous", lambda: crypto.SecretBox.from_passphrase(previous, purpose=_PURPOSE)
    )


def _open(ctx: ServiceContext, sealed: str) -> str:
    try:
        return _box(ctx).open(sealed)
    except KeyUnavailableError:
        # Sealed before a passphrase change that `certsvc keys rewrap` has not finished.
        previous = _previous_box(ctx)
        if previous is None:
            raise
        return previous.open(sealed)


def reseal_with_current_passphrase(ctx: ServiceContext) -> int:
    """Seal again, under the current passphrase, every secret that only the previous one opens.

    One transaction: either every such secret moves or none does. Returns how many moved.

    Raises:
        KeyUnavailableError: a secret opens with neither passphrase.
    """
    if ctx.previous_passphrase() is None:
        return 0
    moved = 0
    with ctx.database.transaction() as session:
        for endpoint in WebhookRepository(session).with_encrypted_secret():
            assert endpoint.encrypted_secret is not None  # the query's condition
            try:
                _box(ctx).open(endpoint.encrypted_secret)
                continue
            except KeyUnavailableError:
                pass
            endpoint.encrypted_secret = _box(ctx).seal(_open(ctx, endpoint.encrypted_secret))
            moved += 1
    return moved


def seal_secret(ctx: ServiceContext, secret: str) -> str:
    """The stored form of a new endpoint's secret.

    Raises:
        KeyUnavailableError: no key passphrase (``certsvc init`` not run).
    """
    return _box(ctx).seal(secret)


def endpoint_secret(ctx: ServiceContext, endpoint: WebhookEndpoint) -> str:
    """The secret to sign deliveries to ``endpoint`` with.

    Raises:
        KeyUnavailableError: the secret cannot be decrypted (another passphrase) or is missing.
    """
    if endpoint.encrypted_secret is not None:
        return _open(ctx, endpoint.encrypted_secret)
    if endpoint.legacy_secret is not None:  # not yet encrypted: the service has not restarted
        return endpoint.legacy_secret
    raise KeyUnavailableError(f"webhook {endpoint.id} has no secret: register it again")


def encrypt_clear_text_secrets(ctx: ServiceContext) -> int:
    """Encrypt the secrets of endpoints registered before encryption; returns how many.

    Runs at start-up: the schema migration cannot, since it never sees the passphrase. Without a
    passphrase yet (development before ``certsvc init``) there is nothing it could have stored.
    """
    with ctx.database.read() as session:
        if not WebhookRepository(session).with_clear_text_secret():
            return 0  # the usual case: no key derivation (scrypt) at every start
    try:
        box = _box(ctx)
    except KeyUnavailableError:
        return 0
    with ctx.database.transaction() as session:
        rows = WebhookRepository(session).with_clear_text_secret()
        for endpoint in rows:
            assert endpoint.legacy_secret is not None  # the query's condition
            endpoint.encrypted_secret = box.seal(endpoint.legacy_secret)
            endpoint.legacy_secret = None
        return len(rows)
