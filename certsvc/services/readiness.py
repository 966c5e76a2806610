"""Readiness: can this process serve requests right now? (``/readyz``, ``certsvc`` operators)

A load balancer sends traffic only to ready processes. Liveness (``/healthz``) is deliberately
not this: a process whose database is down is alive, and restarting it would not help.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from certsvc.crypto import api as crypto
from certsvc.errors import CertsvcError, ConfigurationError, NotReadyError
from certsvc.jobs.broker import broker_problem
from certsvc.services.context import ServiceContext
from certsvc.storage.orm import Seal

__all__ = ["ReadinessCheck", "check_readiness", "require_ready", "require_seal_keys_at_start"]


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    name: str  # database | broker | seal_keys
    problem: str | None  # None: fine

    @property
    def is_ok(self) -> bool:
        return self.problem is None


def _database(ctx: ServiceContext) -> tuple[ReadinessCheck, list[str]]:
    try:
        with ctx.database.read() as session:
            refs = list(session.scalars(select(Seal.key_ref).where(Seal.status == "active")))
    except SQLAlchemyError as exc:
        return ReadinessCheck("database", f"the database is unreachable: {type(exc).__name__}"), []
    return ReadinessCheck("database", None), refs


def _seal_keys(ctx: ServiceContext, refs: list[str]) -> ReadinessCheck:
    # Presence of every active seal's encrypted key and of the passphrase that opens them;
    # decrypting each key on every probe would cost a key derivation per seal per probe.
    # Token keys: the token answers with this process's login, and holds each key.
    file_refs = [ref for ref in refs if not crypto.is_token_key_ref(ref)]
    token_refs = [ref for ref in refs if crypto.is_token_key_ref(ref)]
    try:
        if file_refs:
            ctx.passphrase()
        missing = [ref for ref in file_refs if not ctx.keys.exists(ref)]
        if token_refs:
            token_keys = ctx.token_keys()
            missing += [ref for ref in token_refs if not token_keys.exists(ref)]
    except CertsvcError as exc:
        return ReadinessCheck("seal_keys", exc.message)
    if missing:
        return ReadinessCheck(
            "seal_keys", f"{len(missing)} active seal key(s) not reachable, e.g. {missing[0]}"
        )
    return ReadinessCheck("seal_keys", None)


def check_readiness(ctx: ServiceContext) -> list[ReadinessCheck]:
    """Every check, each with its problem (None when fine); the broker only when one is configured."""
    database, refs = _database(ctx)
    checks = [database]
    settings = ctx.settings
    if settings.broker_url is not None:
        checks.append(ReadinessCheck("broker", broker_problem(settings.broker_url)))
    if database.is_ok:
        checks.append(_seal_keys(ctx, refs))
    else:
        checks.append(ReadinessCheck("seal_keys", "not checked: the database is unreachable"))
    return checks


def require_ready(ctx: ServiceContext) -> dict[str, str]:
    """The checks as {name: "ok"}; raises NotReadyError listing every problem otherwise."""
    checks = check_readiness(ctx)
    problems = {c.name: c.problem for c in checks if c.problem is not None}
    if problems:
        raise NotReadyError(
            "not ready: " + "; ".join(f"{k}: {v}" for k, v in problems.items()), details=problems
        )
    return {c.name: "ok" for c in checks}


def require_seal_keys_at_start(ctx: ServiceContext) -> None:
    """Refuse to start a process whose active seals' tokens cannot be logged into.

    A wrong PIN found at start-up is an operator's mistake to fix now, not a 503 on the first
    licence an hour later (and a token locks its PIN after a few wrong tries).

    Raises:
        ConfigurationError: a token of an active seal is missing, or refuses the PIN.
    """
    with ctx.database.read() as session:
        refs = list(session.scalars(select(Seal.key_ref).where(Seal.status == "active")))
    tokens = sorted({crypto.token_label_of(ref) for ref in refs if crypto.is_token_key_ref(ref)})
    problems = []
    for label in tokens:
        try:
            ctx.token_keys().check_login(label)
        except CertsvcError as exc:
            problems.append(exc.message)
    if problems:
        raise ConfigurationError(
            "seal keys unavailable at start-up: " + "; ".join(problems), details=problems
        )
