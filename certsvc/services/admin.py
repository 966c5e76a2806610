"""Administration by operators: departments, their seals, API clients and webhooks."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime

from certsvc.crypto import api as crypto
from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import ConflictError, NotFoundError, ValidationFailedError
from certsvc.rendering.seals import validate_seal_png
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import (
    RingLayout,
    draw_seal_image,
    missing_mongolian_warnings,
    mongolian_name,
)
from certsvc.services.context import ServiceContext
from certsvc.services.principals import NewApiKey, Principal, Role, create_api_client, require_role
from certsvc.services.provisioning import (
    TokenKeyName,
    add_department,
    add_seal,
    department_by_code,
    dev_ca,
    seal_text,
)
from certsvc.services.webhooks import NewWebhook, WebhookService
from certsvc.storage.orm import ApiClient, Department, Seal
from certsvc.storage.repositories import DepartmentRepository, SealRepository
from certsvc.storage.repositories_lifecycle import ClientAdminRepository, SealAdminRepository
from certsvc.storage.repositories_rules import LicenceTypeRepository, SealChoiceRepository

__all__ = ["AdminService", "ClientInfo", "DepartmentInfo", "SealInfo", "local_operator"]

_SEAL_DIAMETER_MM = 42


def local_operator(operator: str | None = None) -> Principal:
    """The operator behind the CLI (whoever can run it holds the deployment's keys anyway).

    ``operator`` names the person in the audit log; the CLI passes the OS user or ``--operator``.
    """
    return Principal(
        client_id=0,
        name="cli",
        role=Role.OPERATOR,
        department_id=None,
        department_code=None,
        operator=operator,
    )


@dataclass(frozen=True, slots=True)
class SealInfo:
    id: int
    department_code: str
    name: str
    purpose: str
    is_default: bool
    algorithm: str
    status: str
    valid_from: datetime
    valid_until: datetime
    certificate_sha256: str
    name_mn: str | None = None
    ring_layout: str = RingLayout.RINGS.value
    key_store: str = "file"  # file | pkcs11


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    id: int
    code: str
    name: str
    area_code: str
    status: str
    seals: tuple[SealInfo, ...]
    licence_types: tuple[str, ...]  # template slugs the department may issue
    name_mn: str | None = None
    is_bilingual: bool = False
    warnings: tuple[str, ...] = ()  # told to the operator, not refused (a missing Mongolian name)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    id: int
    name: str
    role: str
    department_code: str | None
    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _seal_info(seal: Seal) -> SealInfo:
    return SealInfo(
        seal.id,
        seal.department.code,
        seal.name,
        seal.purpose,
        seal.is_default,
        seal.algorithm,
        seal.status,
        seal.valid_from,
        seal.valid_until,
        crypto.sha256(seal.certificate_der),
        seal.name_mn,
        seal.ring_layout,
        "pkcs11" if crypto.is_token_key_ref(seal.key_ref) else "file",
    )


def _department_info(
    department: Department, seals: list[Seal], licence_types: list[str]
) -> DepartmentInfo:
    return DepartmentInfo(
        department.id,
        department.code,
        department.name,
        department.area_code,
        department.status,
        tuple(_seal_info(s) for s in seals),
        tuple(licence_types),
        department.name_mn,
        department.is_bilingual,
        tuple(
            missing_mongolian_warnings(
                is_bilingual=department.is_bilingual,
                name_mn=department.name_mn,
                area_code=department.area_code,
            )
        ),
    )


class AdminService:
    """Every method needs the operator role and writes an audit event for each change."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # --- departments -------------------------------------------------------------------------
    def add_department(
        self,
        *,
        code: str,
        name: str,
        area_code: str,
        principal: Principal,
        name_mn: str | None = None,
        is_bilingual: bool | None = None,
    ) -> DepartmentInfo:
        """Register a department. A bilingual one (by default: area code 15xxxx, 内蒙古) without
        its Mongolian name is registered with a warning in the result.

        Raises:
            PermissionDeniedError: not an operator.
            ValidationFailedError: bad 统一社会信用代码, name, Mongolian name or GB/T 2260 area code.
            ConflictError: the department exists.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            department = add_department(
                session,
                code=code,
                name=name,
                area_code=area_code,
                actor=principal,
                now=self.ctx.clock.now(),
                name_mn=name_mn,
                is_bilingual=is_bilingual,
            )
            return _department_info(department, [], [])

    def update_department(
        self,
        code: str,
        *,
        principal: Principal,
        name_mn: str | None = None,
        is_bilingual: bool | None = None,
    ) -> DepartmentInfo:
        """Set a department's Mongolian name and/or whether it is bilingual (``None``: unchanged).

        Seals made before keep their image; make a new seal to carry the new name.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            ValidationFailedError: a bad Mongolian name (every problem listed).
        """
        require_role(principal, Role.OPERATOR)
        mongolian, problems = mongolian_name("name_mn", name_mn)
        if problems:
            raise ValidationFailedError("invalid Mongolian name", details=problems)
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, code)
            changes: dict[str, object] = {}
            if mongolian is not None and mongolian != department.name_mn:
                department.name_mn = changes["name_mn"] = mongolian
            if is_bilingual is not None and is_bilingual != department.is_bilingual:
                department.is_bilingual = changes["is_bilingual"] = is_bilingual
            if changes:
                append_audit_event(
                    session,
                    at=self.ctx.clock.now(),
                    actor=principal,
                    action="department.update",
                    target=f"department:{department.code}",
                    details=changes,
                )
            return _department_info(
                department,
                list(SealRepository(session).for_department(department.id)),
                LicenceTypeRepository(session).for_department(department.id),
            )

    def list_departments(self, *, principal: Principal) -> list[DepartmentInfo]:
        """Raises: PermissionDeniedError: not an operator."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            types = LicenceTypeRepository(session)
            return [
                _department_info(d, list(d.seals), types.for_department(d.id))
                for d in DepartmentRepository(session).all()
            ]

    def show_department(self, code: str, *, principal: Principal) -> DepartmentInfo:
        """Raises: PermissionDeniedError: not an operator. NotFoundError: unknown code."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department = department_by_code(session, code)
            return _department_info(
                department,
                list(SealRepository(session).for_department(department.id)),
                LicenceTypeRepository(session).for_department(department.id),
            )

    # --- seals ---------------------------------------------------------------------------------
    def add_seal(
        self,
        department_code: str,
        *,
        name: str,
        algorithm: str,
        validity_days: int,
        principal: Principal,
        name_mn: str | None = None,
        ring_layout: str = RingLayout.RINGS.value,
        purpose: str | None = None,
        token_key: TokenKeyName | None = None,
    ) -> SealInfo:
        """Make a seal from the development CA: a new key, its certificate, the drawn image
        (bilingual for a bilingual department with its Mongolian name).

        With ``token_key`` the key is generated inside that PKCS#11 token (never extractable).

        ``purpose`` (公章, 行政许可专用章 ...) defaults to the name. The department's first seal
        becomes its default seal; any later one signs only once made default or chosen by a
        template's purpose.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            ValidationFailedError: unknown algorithm, empty name, bad Mongolian name, unknown
                ring layout or a bad validity (all listed).
            ValidationFailedError: (seal_text_not_drawable) the names do not fit on the seal.
            BadRequestError: (unsupported_key_store) an SM2 key in a token.
            KeyUnavailableError: the token cannot be reached, or holds a key with that label.
        """
        require_role(principal, Role.OPERATOR)
        key_algorithm = _algorithm(algorithm)
        _check_seal_name(name)
        mongolian, layout, problems = _seal_mongolian(name_mn, ring_layout)
        _check_seal_name(purpose or name, field="purpose")
        if not 1 <= validity_days <= 3650:
            problems.append({"field": "validity_days", "problem": "1 to 3650"})
        if problems:
            raise ValidationFailedError("invalid seal", details=problems)
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, department_code)
            seal = add_seal(
                self.ctx,
                session,
                department=department,
                name=name.strip(),
                algorithm=key_algorithm,
                actor=principal,
                validity_days=validity_days,
                name_mn=mongolian,
                ring_layout=layout,
                purpose=(purpose or name).strip(),
                token_key=token_key,
            )
            return _seal_info(seal)

    def import_seal(
        self,
        department_code: str,
        *,
        name: str,
        key_pem: bytes,
        certificate_pem: bytes,
        key_passphrase: bytes | None,
        principal: Principal,
        name_mn: str | None = None,
        ring_layout: str = RingLayout.RINGS.value,
        purpose: str | None = None,
    ) -> SealInfo:
        """Import a key and its certificate (with its chain, seal CA first) made elsewhere.

        Purpose and default as for ``add_seal``.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            KeyUnavailableError: the key cannot be read with ``key_passphrase``.
            InvalidDocumentError: the certificate PEM has no certificate.
            ValidationFailedError: the key does not belong to the certificate, or the
                certificate is not valid now.
        """
        require_role(principal, Role.OPERATOR)
        _check_seal_name(name)
        _check_seal_name(purpose or name, field="purpose")
        mongolian, layout, problems = _seal_mongolian(name_mn, ring_layout)
        if problems:
            raise ValidationFailedError("invalid seal", details=problems)
        ders = crypto.certificates_from_pem(certificate_pem)
        stored_pem = crypto.reencrypt_private_key_pem(
            key_pem,
            source_passphrase=key_passphrase,
            target_passphrase=self.ctx.passphrase(),
            kdf=self.ctx.key_file_kdf,
        )
        with crypto.SealKey.from_pem(stored_pem, self.ctx.passphrase()) as key:
            if key.public_key_spki_der() != crypto.certificate_spki_der(ders[0]):
                raise ValidationFailedError(
                    "the key does not belong to the certificate",
                    details=[
                        {"field": "key", "problem": "public key differs from the certificate's"}
                    ],
                )
            algorithm = key.algorithm
        summary = crypto.certificate_summary(ders[0])
        now = self.ctx.clock.now()
        if not summary.not_before <= now < summary.not_after:
            raise ValidationFailedError(
                "the certificate is not valid now",
                details=[{"field": "certificate", "problem": "outside its validity"}],
            )
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, department_code)
            key_ref = f"seal-{department.code.lower()}-{secrets.token_hex(4)}"
            self.ctx.keys.put(key_ref, stored_pem)
            image = draw_seal_image(
                seal_text(department, name.strip(), mongolian, layout),
                diameter_mm=_SEAL_DIAMETER_MM,
            )
            seal = SealRepository(
                session
            ).add(
                Seal(
                    department_id=department.id,
                    name=name.strip(),
                    name_mn=mongolian,
                    ring_layout=layout.value,
                    purpose=(purpose or name).strip(),
                    is_default=SealChoiceRepository(session).default_of(department.id) is None,
                    algorithm=algorithm.value,
                    key_ref=key_ref,
                    certificate_der=ders[0],
                    chain_der=[base64.b64encode(d).decode() for d in ders[1:]],
                    image_sha256=self.ctx.blobs.put(image),
                    ses_seal_der=None,  # a GB/T 38540 seal needs the 制章者's signature: not for imports
                    valid_from=summary.not_before,
                    valid_until=summary.not_after,
                )
            )
            append_audit_event(
                session,
                at=now,
                actor=principal,
                action="seal.import",
                target=f"department:{department.code}",
                details={
                    "seal_id": seal.id,
                    "algorithm": algorithm.value,
                    "certificate_sha256": summary.sha256_fingerprint,
                },
            )
            return _seal_info(seal)

    def list_seals(
        self, department_code: str, *, principal: Principal, page: PageRequest
    ) -> Page[SealInfo]:
        """Raises: PermissionDeniedError: not an operator. NotFoundError: unknown department."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department = department_by_code(session, department_code)
            return SealRepository(session).page_for_department(department.id, page).map(_seal_info)

    def retire_seal(self, seal_id: int, *, principal: Principal) -> SealInfo:
        """Stop using a seal for new versions; files it sealed stay valid.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
            ConflictError: already retired.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            seal = SealAdminRepository(session).by_id(seal_id)
            if seal is None:
                raise NotFoundError(f"no seal {seal_id}")
            if seal.status == "retired":
                raise ConflictError(f"seal {seal_id} is already retired", code="seal_retired")
            seal.status = "retired"
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="seal.retire",
                target=f"department:{seal.department.code}",
                details={"seal_id": seal.id},
            )
            return _seal_info(seal)

    def set_default_seal(self, seal_id: int, *, principal: Principal) -> SealInfo:
        """Make a seal its department's default: the seal that signs templates naming no purpose.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
            ConflictError: ``seal_retired``, or ``seal_not_valid`` (outside its validity now).
        """
        require_role(principal, Role.OPERATOR)
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            seal = SealAdminRepository(session).by_id(seal_id)
            if seal is None:
                raise NotFoundError(f"no seal {seal_id}")
            if seal.status == "retired":
                raise ConflictError(f"seal {seal_id} is retired", code="seal_retired")
            if not seal.valid_from <= now < seal.valid_until:
                raise ConflictError(
                    f"seal {seal_id} is outside its validity", code="seal_not_valid"
                )
            previous = SealChoiceRepository(session).default_of(seal.department_id)
            SealChoiceRepository(session).make_default(seal)
            append_audit_event(
                session,
                at=now,
                actor=principal,
                action="seal.default",
                target=f"department:{seal.department.code}",
                details={
                    "seal_id": seal.id,
                    "previous_seal_id": previous.id if previous is not None else None,
                },
            )
            return _seal_info(seal)

    def set_seal_image(self, seal_id: int, png: bytes, *, principal: Principal) -> SealInfo:
        """Replace a seal's drawn image with an uploaded PNG (transparent background).

        New versions sealed with it show the uploaded image; files already sealed keep theirs.
        An SM2 seal's GB/T 38540 seal data carries the picture, so it is made again (signed by
        the seal-making CA) with the new one.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
            ConflictError: the seal is retired.
            ValidationFailedError: not a usable seal PNG (every problem listed).
        """
        require_role(principal, Role.OPERATOR)
        info = validate_seal_png(png)
        with self.ctx.database.transaction() as session:
            seal = SealAdminRepository(session).by_id(seal_id)
            if seal is None:
                raise NotFoundError(f"no seal {seal_id}")
            if seal.status == "retired":
                raise ConflictError(f"seal {seal_id} is retired", code="seal_retired")
            seal.image_sha256 = self.ctx.blobs.put(png)
            if seal.ses_seal_der is not None:
                ca = dev_ca(self.ctx, crypto.KeyAlgorithm.SM2)
                now = self.ctx.clock.now()
                seal.ses_seal_der = crypto.make_department_seal_data(
                    es_id=f"{seal.department.code}{secrets.token_hex(4).upper()}",
                    seal_name=seal.name,
                    seal_certificate_der=seal.certificate_der,
                    maker_key=ca.ca_key,
                    maker_certificate_der=ca.ca_der,
                    picture_png=png,
                    diameter_mm=_SEAL_DIAMETER_MM,
                    valid_start=max(seal.valid_from, now),
                    valid_end=seal.valid_until,
                    created_at=now,
                )
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="seal.image",
                target=f"department:{seal.department.code}",
                details={
                    "seal_id": seal.id,
                    "sha256": seal.image_sha256,
                    "width_px": info.width_px,
                },
            )
            result = _seal_info(seal)
        self.ctx.forget_seal(seal_id)  # the cached signer still holds the old image
        return result

    # --- API clients --------------------------------------------------------------------------
    def add_client(
        self,
        *,
        name: str,
        role: str,
        department_code: str | None,
        expires_at: datetime | None,
        principal: Principal,
    ) -> NewApiKey:
        """Create an API client; the key in the result is shown once and never stored.

        Raises:
            PermissionDeniedError: not an operator.
            ValidationFailedError: unknown role, a department missing for issuer/sharing (or
                given for an operator), an empty name, an expiry in the past.
            NotFoundError: unknown department.
        """
        require_role(principal, Role.OPERATOR)
        try:
            client_role = Role(role)
        except ValueError as exc:
            raise ValidationFailedError(
                "unknown role",
                details=[{"field": "role", "problem": "issuer, operator, sharing or timestamping"}],
            ) from exc
        if not name.strip() or len(name) > 100:
            raise ValidationFailedError(
                "invalid name", details=[{"field": "name", "problem": "1 to 100 characters"}]
            )
        if (client_role in (Role.OPERATOR, Role.TIMESTAMPING)) == (department_code is not None):
            raise ValidationFailedError(
                "issuer and sharing clients belong to a department; operators and timestamping clients to none",
                details=[
                    {
                        "field": "department_code",
                        "problem": "required for issuer/sharing, not allowed for operator/timestamping",
                    }
                ],
            )
        now = self.ctx.clock.now()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailedError(
                "expiry in the past", details=[{"field": "expires_at", "problem": "in the past"}]
            )
        with self.ctx.database.transaction() as session:
            department_id = (
                department_by_code(session, department_code).id if department_code else None
            )
            key = create_api_client(
                session,
                name=name.strip(),
                role=client_role,
                department_id=department_id,
                expires_at=expires_at,
            )
            append_audit_event(
                session,
                at=now,
                actor=principal,
                action="client.add",
                target=f"client:{key.client_id}",
                details={
                    "role": client_role.value,
                    "department": department_code,
                    "expires_at": expires_at,
                },
            )
            return key

    def list_clients(
        self, *, principal: Principal, page: PageRequest, department_code: str | None = None
    ) -> Page[ClientInfo]:
        """Raises: PermissionDeniedError: not an operator. NotFoundError: unknown department."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department_id = (
                department_by_code(session, department_code).id if department_code else None
            )
            codes = {d.id: d.code for d in DepartmentRepository(session).all()}
            found = ClientAdminRepository(session).page(page, department_id=department_id)
            return found.map(lambda c: _client_info(c, codes))

    def revoke_client(self, client_id: int, *, principal: Principal) -> ClientInfo:
        """Revoke a client's key at once.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown client.
            ConflictError: already revoked.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            client = ClientAdminRepository(session).by_id(client_id)
            if client is None:
                raise NotFoundError(f"no client {client_id}")
            if client.revoked_at is not None:
                raise ConflictError(f"client {client_id} is already revoked", code="client_revoked")
            client.revoked_at = self.ctx.clock.now()
            append_audit_event(
                session,
                at=client.revoked_at,
                actor=principal,
                action="client.revoke",
                target=f"client:{client.id}",
            )
            codes = {d.id: d.code for d in DepartmentRepository(session).all()}
            return _client_info(client, codes)

    # --- webhooks -----------------------------------------------------------------------------
    def add_webhook(self, department_code: str, *, url: str, principal: Principal) -> NewWebhook:
        """Register a webhook endpoint for a department; the HMAC secret is shown once.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            ValidationFailedError: not an acceptable URL.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, department_code)
            return WebhookService(self.ctx).add_endpoint(
                session,
                department_id=department.id,
                department_code=department.code,
                url=url,
                actor=principal,
            )


def _client_info(client: ApiClient, codes: dict[int, str]) -> ClientInfo:
    return ClientInfo(
        client.id,
        client.name,
        client.role,
        codes.get(client.department_id) if client.department_id is not None else None,
        client.key_id,
        client.created_at,
        client.expires_at,
        client.revoked_at,
    )


def _algorithm(value: str) -> crypto.KeyAlgorithm:
    try:
        return crypto.KeyAlgorithm(value)
    except ValueError as exc:
        raise ValidationFailedError(
            "unknown algorithm",
            details=[
                {"field": "algorithm", "problem": " | ".join(a.value for a in crypto.KeyAlgorithm)}
            ],
        ) from exc


def _seal_mongolian(
    name_mn: str | None, ring_layout: str
) -> tuple[str | None, RingLayout, list[dict[str, str]]]:
    mongolian, problems = mongolian_name("name_mn", name_mn)
    try:
        layout = RingLayout(ring_layout)
    except ValueError:
        layout = RingLayout.RINGS
        problems.append(
            {"field": "ring_layout", "problem": " | ".join(v.value for v in RingLayout)}
        )
    return mongolian, layout, problems


def _check_seal_name(name: str, *, field: str = "name") -> None:
    if not name.strip() or len(name) > 100:
        raise ValidationFailedError(
            f"invalid seal {field}", details=[{"field": field, "problem": "1 to 100 characters"}]
        )
