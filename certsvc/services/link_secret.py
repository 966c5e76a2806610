"""The HMAC key of signed download links: configured, or made once by ``certsvc init``.

Requests only read it: a secret is never created as a side effect of serving a link.
"""

from __future__ import annotations

import os
import secrets

from certsvc.config import Environment
from certsvc.errors import ConfigurationError, KeyUnavailableError
from certsvc.services.context import ServiceContext

__all__ = ["ensure_dev_link_secret", "link_secret"]

_FILE = "sharing-link-secret"


def ensure_dev_link_secret(ctx: ServiceContext) -> None:
    """Development without ``CERTSVC_SHARING_LINK_SECRET``: generate one beside the keys (0600)."""
    if ctx.settings.sharing_link_secret is not None:
        return
    path = ctx.settings.key_dir / _FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32))


def link_secret(ctx: ServiceContext) -> bytes:
    """The link HMAC key.

    Raises:
        ConfigurationError: production without ``CERTSVC_SHARING_LINK_SECRET``.
        KeyUnavailableError: development, and ``certsvc init`` has not made one.
    """
    configured = ctx.settings.sharing_link_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    if ctx.settings.env is Environment.PRODUCTION:
        raise ConfigurationError("CERTSVC_SHARING_LINK_SECRET must be set in production")

    def read() -> bytes:
        try:
            return (ctx.settings.key_dir / _FILE).read_bytes().strip()
        except OSError as exc:
            raise KeyUnavailableError("no download-link secret: run `certsvc init`") from exc

    return ctx.loaded(_FILE, read)
