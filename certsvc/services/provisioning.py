"""Departments, their seals and API clients; the development PKI; ``certsvc init``."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from certsvc.config import Environment
from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import is_valid_uscc
from certsvc.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    KeyUnavailableError,
    NotFoundError,
    ValidationFailedError,
)
from certsvc.services.audit import append_audit_event, ensure_audit_key
from certsvc.services.bilingual import (
    RingLayout,
    SealText,
    default_bilingual,
    draw_seal_image,
    missing_mongolian_warnings,
    mongolian_name,
)
from certsvc.services.context import ServiceContext
from certsvc.services.link_secret import ensure_dev_link_secret
from certsvc.services.principals import Principal, Role, create_api_client
from certsvc.services.timestamping import provision_dev_tsa
from certsvc.services.trust_signer import provision_dev_trust_signer
from certsvc.storage.orm import Department, Seal
from certsvc.storage.repositories import DepartmentRepository, SealRepository
from certsvc.storage.repositories_rules import LicenceTypeRepository, SealChoiceRepository

__all__ = [
    "DEMO_DEPARTMENTS",
    "DemoDepartment",
    "DevCa",
    "InitResult",
    "TokenKeyName",
    "add_department",
    "add_seal",
    "department_by_code",
    "dev_ca",
    "ensure_dev_ca",
    "ensure_dev_passphrase",
    "init_embedded",
    "seal_text",
]

_SEAL_DIAMETER_MM = 42  # the common size of a round official seal (公章)
_CA_FAMILY = {
    crypto.KeyAlgorithm.RSA_3072: "ecdsa",
    crypto.KeyAlgorithm.ECDSA_P256: "ecdsa",
    crypto.KeyAlgorithm.SM2: "sm2",
}


@dataclass(frozen=True)
class DemoDepartment:
    code: str
    name: str
    area_code: str
    seal_name: str
    algorithm: crypto.KeyAlgorithm
    licence_types: tuple[str, ...]  # template slugs the department may issue
    name_mn: str | None = None  # only a spelling attested in a public Mongolian-language source
    name_mn_source: str | None = None  # where that spelling is published


# A 市场监督管理局 licenses food and drug businesses and issues its own 准予行政许可决定书, never a
# planning permit; a 行政审批和政务服务局 holds the approvals concentrated in it (相对集中行政许可权):
# planning and construction as well as food and drug retail. The demo also lets it issue the
# 不动产权证书 and the 取水许可证, so that one department can show every licence type; a real
# deployment grants the 不动产权证书 to its 不动产登记机构 and the 取水许可证 to whichever body
# holds that approval (`certsvc department types CODE --add SLUG`).
#
# Mongolian names: a demo department carries one only when its exact spelling is published by a
# public Mongolian-language source, never a translation made here (translations of official
# names must match the Chinese exactly and are approved by the region's Mongolian language
# offices). No published spelling was found for the two 锡林郭勒盟 bureaus, nor for another
# 锡林郭勒盟 body issuing these licence types (searched: the Mongolian editions of the region's
# government sites, mgl.*.gov.cn; queries listed in docs/templates.md "What was searched"), so they are bilingual
# departments *without* their Mongolian name: `certsvc init` reports that, and their seals and
# licences stay Chinese until an operator sets it (`certsvc department update CODE --name-mn`).
# 内蒙古自治区人民政府 writes its own name on its Mongolian site; it issues the demo's bilingual
# administrative licensing decisions.
DEMO_DEPARTMENTS = (
    DemoDepartment(
        "11152500011512829G",
        "锡林郭勒盟市场监督管理局",
        "152500",
        "行政许可专用章",
        crypto.KeyAlgorithm.ECDSA_P256,
        ("administrative-licensing-decision", "drug-business-licence", "food-business-licence"),
    ),
    DemoDepartment(
        "11152502011513952P",
        "锡林浩特市行政审批和政务服务局",
        "152502",
        "行政审批专用章",
        crypto.KeyAlgorithm.SM2,
        (
            "administrative-licensing-decision",
            "construction-permit",
            "construction-planning-permit",
            "drug-business-licence",
            "food-business-licence",
            "real-estate-title",
            "special-operations-certificate",
            "water-abstraction-permit",
        ),
    ),
    DemoDepartment(
        "111500000115100509",
        "内蒙古自治区人民政府",
        "150000",
        "行政许可专用章",
        crypto.KeyAlgorithm.SM2,
        ("administrative-licensing-decision",),
        name_mn="ᠥᠪᠥᠷ ᠮᠣᠩᠭᠤᠯ ᠤᠨ ᠥᠪᠡᠷᠲᠡᠭᠡᠨ ᠵᠠᠰᠠᠬᠤ ᠣᠷᠣᠨ ᠤ ᠠᠷᠠᠳ ᠤᠨ ᠵᠠᠰᠠᠭ ᠤᠨ ᠣᠷᠳᠣᠨ",
        # The heading of its decree No. 213 (…ᠣᠷᠳᠣᠨ ᠤ ᠵᠠᠷᠯᠢᠭ, 人民政府令) on its Mongolian site.
        name_mn_source="https://mgl.nmg.gov.cn/am/2016/1/4/U_68445_392250.html",
    ),
)


@dataclass(frozen=True)
class DevCa:
    """A development seal-issuing CA: its certificate, its chain up to the root, and its key."""

    family: str
    root_der: bytes
    ca_der: bytes
    ca_key: crypto.SealKey


@dataclass(frozen=True)
class TokenKeyName:
    """Where a seal key is generated in a PKCS#11 token: the token's label and the key's."""

    token_label: str
    key_label: str


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


def ensure_dev_passphrase(ctx: ServiceContext) -> None:
    """In development, generate the key passphrase once and keep it beside the keys (mode 0600)."""
    if ctx.settings.key_passphrase is not None:
        return
    if ctx.settings.env is Environment.PRODUCTION:
        raise ConfigurationError("CERTSVC_KEY_PASSPHRASE must be set in production")
    path = ctx.settings.dev_passphrase_file
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32))


def _dev_ca_refs(ctx: ServiceContext, algorithm: crypto.KeyAlgorithm) -> tuple[str, Path, Path]:
    family = _CA_FAMILY[algorithm]
    return (
        family,
        ctx.trust_roots_dir / f"dev-root-{family}.der",
        ctx.pki_dir / f"dev-seal-ca-{family}.der",
    )


def _refuse_in_production(ctx: ServiceContext) -> None:
    if ctx.settings.env is Environment.PRODUCTION:
        raise BadRequestError(
            "production has no development PKI: import seals made by the seal-making authority "
            "(key_pem and certificate_pem) instead",
            code="development_pki_disabled",
        )


def ensure_dev_ca(ctx: ServiceContext, algorithm: crypto.KeyAlgorithm) -> DevCa:
    """Create (once) the development root and seal-issuing CA for ``algorithm``'s family.

    Only ``certsvc init`` calls this: a trust root is never made as a side effect of a request.

    Raises:
        BadRequestError: in production (code ``development_pki_disabled``).
    """
    _refuse_in_production(ctx)
    family, root_file, ca_file = _dev_ca_refs(ctx, algorithm)
    ca_algorithm = crypto.KeyAlgorithm.SM2 if family == "sm2" else crypto.KeyAlgorithm.ECDSA_P256
    if not root_file.exists():
        now = ctx.clock.now()
        root_key = _new_key(ctx, f"dev-root-{family}", ca_algorithm)
        root_der = crypto.make_root_ca(
            key=root_key,
            common_name=f"certsvc Development Root CA ({family.upper()})",
            organization="certsvc 开发测试根证书",
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=3650 * 2),
        )
        ca_key = _new_key(ctx, f"dev-seal-ca-{family}", ca_algorithm)
        ca_der = crypto.make_intermediate_ca(
            key=ca_key,
            issuer_key=root_key,
            issuer_certificate_der=root_der,
            common_name=f"certsvc Development Seal CA ({family.upper()})",
            organization="certsvc 电子印章制章机构（开发）",
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=3650),
        )
        ctx.pki_dir.mkdir(parents=True, exist_ok=True)
        ctx.trust_roots_dir.mkdir(parents=True, exist_ok=True)
        ca_file.write_bytes(ca_der)
        root_file.write_bytes(root_der)  # written last: its presence marks a complete CA
    return dev_ca(ctx, algorithm)


def dev_ca(ctx: ServiceContext, algorithm: crypto.KeyAlgorithm) -> DevCa:
    """The development seal-issuing CA that ``certsvc init`` made; never creates one.

    Raises:
        BadRequestError: in production (code ``development_pki_disabled``).
        KeyUnavailableError: ``certsvc init`` has not made it.
    """
    _refuse_in_production(ctx)
    family, root_file, ca_file = _dev_ca_refs(ctx, algorithm)
    if not root_file.exists():
        raise KeyUnavailableError(f"no development {family.upper()} CA: run `certsvc init`")
    ca_key = ctx.open_key_file(f"dev-seal-ca-{family}")
    return DevCa(
        family=family, root_der=root_file.read_bytes(), ca_der=ca_file.read_bytes(), ca_key=ca_key
    )


def _new_key(ctx: ServiceContext, ref: str, algorithm: crypto.KeyAlgorithm) -> crypto.SealKey:
    pem = crypto.generate_private_key_pem(algorithm, ctx.passphrase(), kdf=ctx.key_file_kdf)
    ctx.keys.put(ref, pem)
    return crypto.SealKey.from_pem(pem, ctx.passphrase())


def add_department(
    session: Session,
    *,
    code: str,
    name: str,
    area_code: str,
    actor: Principal | None,
    now: datetime,
    name_mn: str | None = None,
    is_bilingual: bool | None = None,
) -> Department:
    """Register a department; ``is_bilingual`` ``None`` means "as its area code says".

    Raises:
        ValidationFailedError: bad 统一社会信用代码, name, Mongolian name or area code (all listed).
        ConflictError: a department with this code exists.
    """
    problems = []
    mongolian, mongolian_problems = mongolian_name("name_mn", name_mn)
    problems.extend(mongolian_problems)
    code = code.strip().upper()
    if not is_valid_uscc(code):
        problems.append({"field": "code", "problem": "not a valid 统一社会信用代码"})
    if not name.strip() or len(name) > 100:
        problems.append({"field": "name", "problem": "1 to 100 characters"})
    if not (len(area_code) == 6 and area_code.isdigit()):
        problems.append({"field": "area_code", "problem": "a 6-digit GB/T 2260 code"})
    if problems:
        raise ValidationFailedError("invalid department", details=problems)
    repo = DepartmentRepository(session)
    if repo.by_code(code) is not None:
        raise ConflictError(f"department {code} exists", code="department_exists")
    bilingual = default_bilingual(area_code) if is_bilingual is None else is_bilingual
    department = repo.add(
        Department(
            code=code,
            name=name.strip(),
            area_code=area_code,
            name_mn=mongolian,
            is_bilingual=bilingual,
        )
    )
    append_audit_event(
        session, at=now, actor=actor, action="department.add", target=f"department:{code}"
    )
    return department


def add_seal(
    ctx: ServiceContext,
    session: Session,
    *,
    department: Department,
    name: str,
    algorithm: crypto.KeyAlgorithm,
    actor: Principal | None,
    validity_days: int = 1825,
    name_mn: str | None = None,
    ring_layout: RingLayout = RingLayout.RINGS,
    purpose: str | None = None,
    token_key: TokenKeyName | None = None,
) -> Seal:
    """Make a seal for a department: key, certificate from the development CA, drawn image.

    The key is an encrypted key file, or with ``token_key`` a key generated inside that PKCS#11
    token (never extractable), whose public key the certificate is issued for.

    ``name_mn`` must be normalised and checked already (``bilingual.mongolian_name``).
    The purpose defaults to the seal's name. The department's first seal becomes its default
    seal; later seals never take that role by themselves.

    Raises:
        ValidationFailedError: seal text the seal font cannot draw, or names too long for the
            seal (before any key is made).
        BadRequestError: in production, which has no development CA.
        KeyUnavailableError: ``certsvc init`` has not made the development CA, or the token
            cannot be reached.
    """
    if token_key is not None and algorithm is crypto.KeyAlgorithm.SM2:
        raise BadRequestError(
            "SM2 seal keys are kept in key files: PKCS#11 has no standard SM2 mechanism (docs/keys.md)",
            code="unsupported_key_store",
        )
    # Drawn first: a name the seal cannot show is refused before any key is made.
    image = draw_seal_image(
        seal_text(department, name, name_mn, ring_layout), diameter_mm=_SEAL_DIAMETER_MM
    )
    ca = dev_ca(ctx, algorithm)
    now = ctx.clock.now()
    key: crypto.PublicKeyHolder
    if token_key is None:
        key_ref = f"seal-{department.code.lower()}-{secrets.token_hex(4)}"
        key = _new_key(ctx, key_ref, algorithm)
    else:
        key_ref = crypto.token_key_ref(token_key.token_label, token_key.key_label)
        key = ctx.token_keys().generate(key_ref, algorithm)
    not_after = now + timedelta(days=validity_days)
    cert_der = crypto.make_seal_certificate(
        key=key,
        issuer_key=ca.ca_key,
        issuer_certificate_der=ca.ca_der,
        department_name=department.name,
        credit_code=department.code,
        not_before=now - timedelta(minutes=5),
        not_after=not_after,
        # Where relying parties learn of a revocation (services/revocation.py).
        crl_url=f"{ctx.settings.public_url}/pki/{ca.family}/crl",
        ocsp_url=f"{ctx.settings.public_url}/pki/{ca.family}/ocsp",
    )
    image_sha = ctx.blobs.put(image)
    ses_seal = None
    if algorithm is crypto.KeyAlgorithm.SM2:
        # GB/T 38540 电子印章数据, signed by the seal-making authority (the development CA here).
        ses_seal = crypto.make_department_seal_data(
            es_id=f"{department.code}{secrets.token_hex(4).upper()}",
            seal_name=name,
            seal_certificate_der=cert_der,
            maker_key=ca.ca_key,
            maker_certificate_der=ca.ca_der,
            picture_png=image,
            diameter_mm=_SEAL_DIAMETER_MM,
            valid_start=now - timedelta(minutes=5),
            valid_end=not_after,
            created_at=now,
        )
    seal = SealRepository(session).add(
        Seal(
            department_id=department.id,
            name=name,
            name_mn=name_mn,
            ring_layout=ring_layout.value,
            purpose=purpose or name,
            is_default=SealChoiceRepository(session).default_of(department.id) is None,
            algorithm=algorithm.value,
            key_ref=key_ref,
            certificate_der=cert_der,
            chain_der=[
                base64.b64encode(ca.ca_der).decode(),
                base64.b64encode(ca.root_der).decode(),
            ],
            image_sha256=image_sha,
            ses_seal_der=ses_seal,
            valid_from=now - timedelta(minutes=5),
            valid_until=not_after,
        )
    )
    append_audit_event(
        session,
        at=now,
        actor=actor,
        action="seal.add",
        target=f"department:{department.code}",
        details={
            "seal_id": seal.id,
            "algorithm": algorithm.value,
            "name": name,
            "purpose": seal.purpose,
            "is_default": seal.is_default,
            "key_store": "pkcs11" if token_key else "file",
            "certificate_sha256": crypto.sha256(cert_der),
        },
    )
    return seal


def seal_text(
    department: Department, seal_name: str, seal_name_mn: str | None, layout: RingLayout
) -> SealText:
    """What a department's round seal says, in one or both scripts."""
    return SealText(
        department_name=department.name,
        seal_name=seal_name,
        department_name_mn=department.name_mn,
        seal_name_mn=seal_name_mn,
        layout=layout,
        is_bilingual=department.is_bilingual,
    )


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
    root_ref = f"dev-root-{_CA_FAMILY[crypto.KeyAlgorithm.ECDSA_P256]}"
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


def department_by_code(session: Session, code: str) -> Department:
    department = DepartmentRepository(session).by_code(code)
    if department is None:
        raise NotFoundError(f"no department {code}")
    return department
