"""`certsvc keys rewrap`: scrypt for every key file and a passphrase change, safe when interrupted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.key_files import KeyFileAction, KeyFileService
from certsvc.services.principals import local_operator
from certsvc.services.webhook_admin import WebhookAdminService
from certsvc.services.webhook_secrets import endpoint_secret
from certsvc.storage import keystore
from certsvc.storage.repositories_lifecycle import WebhookRepository

pytestmark = pytest.mark.slow

OLD, NEW = "old passphrase of 锡林郭勒盟", "new passphrase of 锡林郭勒盟 2026"


def _ctx(home: Path, database_url: str | None, passphrase: str, previous: str | None = None) -> ServiceContext:
    settings = load_settings(home=home, database_url=database_url, key_passphrase=passphrase)
    if previous is not None:
        settings = settings.model_copy(update={"key_passphrase_previous": SecretStr(previous)})
    return build_context(settings)


def _legacy(ctx: ServiceContext, ref: str) -> None:
    """Turn a key file into the PBKDF2 form files had before (as an older release wrote them)."""
    pem = ctx.keys.get(ref)
    key = ctx.open_key_file(ref)
    if key.algorithm is crypto.KeyAlgorithm.SM2:
        legacy = key._sm2_key().to_pem(OLD.encode())
    else:
        from cryptography.hazmat.primitives import serialization

        legacy = key._pyca_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(OLD.encode()),
        )  # fmt: skip
    assert legacy != pem
    ctx.keys.replace(ref, legacy)


def _secret(ctx: ServiceContext) -> str:
    with ctx.database.read() as session:
        endpoint = WebhookRepository(session).with_encrypted_secret()[0]
        return endpoint_secret(ctx, endpoint)


def test_an_interrupted_passphrase_change_leaves_every_key_usable_and_a_rerun_finishes(
    tmp_path: Path, fresh_database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _ctx(tmp_path, fresh_database_url, OLD)
    init_embedded(before)
    hook = WebhookAdminService(before).add_webhook(DEMO_DEPARTMENTS[0].code, url="https://hooks.xlgl.example.gov.cn/c", principal=local_operator())
    refs = before.keys.refs()
    assert len(refs) >= 8
    for ref in refs[:3]:
        _legacy(before, ref)
    before.database.dispose()

    during = _ctx(tmp_path, fresh_database_url, NEW, previous=OLD)
    service = KeyFileService(during)
    plan = service.rewrap(principal=local_operator())
    assert {s.action for s in plan.files} == {KeyFileAction.TO_REWRAP}
    assert sum("pbkdf2" in s.protection for s in plan.files) == 3
    assert all(crypto.key_file_opens_with(during.keys.get(r), OLD.encode()) for r in refs)  # dry run: nothing moved

    # A crash in the middle: the third rename never happens (the process dies there).
    real_replace, calls = os.replace, []

    def dying_replace(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(keystore.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        service.rewrap(principal=local_operator(), execute=True)
    monkeypatch.setattr(keystore.os, "replace", real_replace)
    under_new = [r for r in refs if crypto.key_file_opens_with(during.keys.get(r), NEW.encode())]
    assert len(under_new) == 2
    for ref in refs:  # every key still opens for a process configured for the change
        during.open_key_file(ref).close()
    assert _secret(during) == hook.secret

    finished = service.rewrap(principal=local_operator(), execute=True)
    assert finished.is_complete and finished.secrets_resealed == 1
    assert sum(s.action is KeyFileAction.REWRAPPED for s in finished.files) == len(refs) - 2
    during.database.dispose()

    after = _ctx(tmp_path, fresh_database_url, NEW)  # the previous passphrase is gone
    for ref in refs:
        protection = crypto.key_file_protection(after.keys.get(ref))
        # The deployment's cost (the suite sets a cheap one: tests/conftest.py).
        assert (protection.kdf, protection.cost) == ("scrypt", after.settings.key_file_scrypt_log2_n)
        after.open_key_file(ref).close()
    assert _secret(after) == hook.secret
    again = KeyFileService(after).rewrap(principal=local_operator(), execute=True)
    assert {s.action for s in again.files} == {KeyFileAction.CURRENT}
    after.database.dispose()
