"""``certsvc init``: set up the embedded deployment (keys, development PKI and demo data in
development; only the audit key in production), idempotently."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from certsvc.config import Environment
from certsvc.crypto import api as crypto
from certsvc.services.audit import ensure_audit_key
from certsvc.services.bilingual import (
    missing_mongolian_warnings,
)
from certsvc.services.context import ServiceContext
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.dev_pki import DEV_CA_FAMILY, ensure_dev_ca, ensure_dev_passphrase
from certsvc.services.link_secret import ensure_dev_link_secret
from certsvc.services.principals import Role, create_api_client
from certsvc.services.provisioning import add_department, add_seal
from certsvc.services.timestamping import provision_dev_tsa
from certsvc.services.trust_signer import provision_dev_trust_signer
from certsvc.storage.repositories import DepartmentRepository, SealRepository
from certsvc.storage.repositories_rules import LicenceTypeRepository

__all__ = ["InitResult", "init_embedded"]


@dataclass(frozen=True)
class InitResult:
    home: Path
    database_url: str
    credentials_file: Path | None  # demo API keys (development only)
    trust_roots: list[Path]
    created: list[str]
    warnings: list[str] = field(
        default_factory=list
    )  # e.g. a bilingual department without its Mongolian name


def init_embedded(ctx: ServiceContext) -> InitResult:
    """Set up the embedded deployment; running it again changes nothing that exists.

    Every key and trust root of the deployment is made here (or imported by an operator), never
    as a side effect of a request. In production only the service's own audit key is made: seals
    and the trust-list signer come from the deployment's CA (``certsvc trust import-signer``).
    """
    created: list[str] = []
    ensure_dev_passphrase(ctx)
    ensure_audit_key(ctx)  # the service's own key for signing audit checkpoints
    credentials_file = ctx.settings.resolved_home / "demo-credentials.json"
    if ctx.settings.env is Environment.PRODUCTION:
        return InitResult(
            home=ctx.settings.resolved_home,
            database_url=ctx.settings.sqlalchemy_url,
            credentials_file=None,
            trust_roots=sorted(ctx.trust_roots_dir.glob("*.der")),
            created=created,
        )
    ensure_dev_link_secret(ctx)
    for algorithm in (crypto.KeyAlgorithm.ECDSA_P256, crypto.KeyAlgorithm.SM2):
        ensure_dev_ca(ctx, algorithm)
    created.extend(provision_dev_tsa(ctx))
    root_ref = f"dev-root-{DEV_CA_FAMILY[crypto.KeyAlgorithm.ECDSA_P256]}"
    with ctx.open_key_file(root_ref) as root_key:
        root_der = (ctx.trust_roots_dir / f"{root_ref}.der").read_bytes()
        if provision_dev_trust_signer(ctx, root_key=root_key, root_der=root_der):
            created.append("trust-list signing key")
    existing: dict[str, dict[str, str]] = {}
    if credentials_file.exists():
        existing = {d["code"]: d for d in json.loads(credentials_file.read_text())["departments"]}
    entries = []
    warnings: list[str] = []
    for demo in DEMO_DEPARTMENTS:
        with ctx.database.transaction() as session:
            repo = DepartmentRepository(session)
            department = repo.by_code(demo.code)
            if department is None:
                department = add_department(
                    session,
                    code=demo.code,
                    name=demo.name,
                    area_code=demo.area_code,
                    actor=None,
                    now=ctx.clock.now(),
                    name_mn=demo.name_mn,
                )
                created.append(
                    f"department {demo.code} {demo.name}"
                    + (f" / {demo.name_mn}" if demo.name_mn else "")
                )
                types = LicenceTypeRepository(session)
                for slug in demo.licence_types:
                    types.grant(department.id, slug, at=ctx.clock.now())
            warnings.extend(
                f"{department.name}: {w}"
                for w in missing_mongolian_warnings(
                    is_bilingual=department.is_bilingual,
                    name_mn=department.name_mn,
                    area_code=department.area_code,
                )
            )
            if SealRepository(session).active_for(department.id, ctx.clock.now()) is None:
                add_seal(
                    ctx,
                    session,
                    department=department,
                    name=demo.seal_name,
                    algorithm=demo.algorithm,
                    actor=None,
                )
                created.append(f"{demo.algorithm.value} seal for {demo.code}")
            entry = existing.get(demo.code)
            if entry is None:
                key = create_api_client(
                    session, name=f"demo-{demo.code}", role=Role.ISSUER, department_id=department.id
                )
                entry = {
                    "code": demo.code,
                    "name": demo.name,
                    "algorithm": demo.algorithm.value,
                    "api_key": key.api_key,
                }
                created.append(f"API key for {demo.code}")
            entries.append(entry)
    if created:
        _write_private_json(
            credentials_file, {"departments": entries, "api_key": entries[0]["api_key"]}
        )
    return InitResult(
        home=ctx.settings.resolved_home,
        database_url=ctx.settings.sqlalchemy_url,
        credentials_file=credentials_file,
        trust_roots=sorted(ctx.trust_roots_dir.glob("*.der")),
        created=created,
        warnings=warnings,
    )


def _write_private_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2)
    os.replace(tmp, path)
