"""``certsvc keys rewrap``: every key file moved to the current protection, safely.

Current protection means PBES2 with scrypt at the configured cost, under the configured
passphrase. A passphrase change is made by configuration, never by a flag: the operator sets
``CERTSVC_KEY_PASSPHRASE`` to the new passphrase and ``CERTSVC_KEY_PASSPHRASE_PREVIOUS`` to the
old one on every process, so each key file (and each webhook secret) opens whichever of the two
it is under; the rewrap then moves them all to the new one, and the previous passphrase is
removed once it reports nothing left.

Safety: each file is replaced on its own by an atomic rename of a fully written and synced new
file (``FileKeyStore.replace``), checked to open before it replaces the old one. An interrupted
run leaves every file either as it was or rewrapped, each usable; running it again finishes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from certsvc.crypto import api as crypto
from certsvc.errors import CertsvcError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.webhook_secrets import reseal_with_current_passphrase

__all__ = ["KeyFileAction", "KeyFileService", "KeyFileState", "RewrapReport"]

_log = logging.getLogger(__name__)


class KeyFileAction(StrEnum):
    CURRENT = "current"  # nothing to do
    TO_REWRAP = "to-rewrap"  # dry run: would be rewrapped
    REWRAPPED = "rewrapped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class KeyFileState:
    ref: str
    protection: str  # e.g. "pbkdf2 (2048 iterations)", "scrypt (N=2^17)"
    action: KeyFileAction
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RewrapReport:
    files: tuple[KeyFileState, ...]
    is_executed: bool
    secrets_resealed: int

    @property
    def is_complete(self) -> bool:
        """Every key file is current (after an executed run: nothing failed)."""
        return all(f.action in (KeyFileAction.CURRENT, KeyFileAction.REWRAPPED) for f in self.files)


def _describe(protection: crypto.KeyFileProtection) -> str:
    if protection.kdf == "scrypt":
        return f"scrypt (N=2^{protection.cost})"
    return f"pbkdf2 ({protection.cost} iterations)"


class KeyFileService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def rewrap(self, *, principal: Principal, execute: bool = False) -> RewrapReport:
        """Plan (default) or carry out the rewrap of every key file of the deployment.

        A file that cannot be rewrapped (opens with neither passphrase) is reported and left
        as it is; the others go on.

        Raises:
            PermissionDeniedError: not an operator.
            KeyUnavailableError: no key passphrase is configured.
        """
        require_role(principal, Role.OPERATOR)
        ctx = self.ctx
        kdf = ctx.key_file_kdf
        current = ctx.passphrase()
        previous = ctx.previous_passphrase()
        passphrases = [current] if previous is None else [current, previous]
        states = []
        for ref in ctx.keys.refs():
            pem = ctx.keys.get(ref)
            try:
                protection = crypto.key_file_protection(pem)
                # During a passphrase change a file may be strong already but under the old one.
                is_current = protection.is_at_least(kdf) and (
                    previous is None or crypto.key_file_opens_with(pem, current)
                )
                if is_current:
                    states.append(KeyFileState(ref, _describe(protection), KeyFileAction.CURRENT))
                    continue
                if not execute:
                    states.append(KeyFileState(ref, _describe(protection), KeyFileAction.TO_REWRAP))
                    continue
                new_pem = crypto.rewrap_key_file(
                    pem, passphrases=passphrases, new_passphrase=current, kdf=kdf
                )
                crypto.SealKey.from_pem(new_pem, current).close()  # it opens, as what it was
                ctx.keys.replace(ref, new_pem)
                states.append(KeyFileState(ref, _describe(protection), KeyFileAction.REWRAPPED))
            except CertsvcError as exc:
                _log.warning("key file %s not rewrapped: %s", ref, exc.message)
                states.append(KeyFileState(ref, "unknown", KeyFileAction.FAILED, exc.message))
        resealed = reseal_with_current_passphrase(ctx) if execute else 0
        report = RewrapReport(tuple(states), execute, resealed)
        if execute:
            with ctx.database.transaction() as session:
                append_audit_event(
                    session, at=ctx.clock.now(), actor=principal, action="keys.rewrap", target="keys",
                    details={"rewrapped": [s.ref for s in states if s.action is KeyFileAction.REWRAPPED],
                             "failed": [s.ref for s in states if s.action is KeyFileAction.FAILED],
                             "scrypt_log2_n": kdf.log2_n, "secrets_resealed": resealed},
                )  # fmt: skip
        return report
