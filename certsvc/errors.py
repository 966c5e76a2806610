"""The one error tree of certsvc.

Every error has a stable machine-readable ``code`` (never renamed once released) and a
human message. Edges translate families to transport: ``api/errors.py`` to problem+json,
the CLI to a message and an exit code. Nothing here knows about HTTP.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CertsvcError",
    "ConfigurationError",
    "ConflictError",
    "DocumentTooLargeError",
    "IllegalTransitionError",
    "InvalidCursorError",
    "InvalidDocumentError",
    "InvalidHolderIdError",
    "KeyUnavailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "RenderingError",
    "SigningError",
    "StorageError",
    "TimeStampUnavailableError",
    "UnknownTemplateError",
    "ValidationFailedError",
]


class CertsvcError(Exception):
    """Base of every error certsvc raises on purpose.

    ``details`` carries structured, caller-safe context (field names, limits); it must never
    hold secrets, key paths or stack traces. ``extensions`` are named values a caller acts on
    (e.g. the ``existing_identifier`` of a duplicate); the API writes them as problem+json
    extension members (RFC 9457 §3.2).
    """

    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        extensions: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.extensions = dict(extensions or {})

    def __str__(self) -> str:
        return self.message


# --- the caller sent something wrong -------------------------------------------------------
class BadRequestError(CertsvcError):
    code = "bad_request"


class InvalidCursorError(BadRequestError):
    """A pagination cursor this service did not give out."""

    code = "invalid_cursor"


class ValidationFailedError(BadRequestError):
    """Request data does not satisfy a schema; ``details`` lists ``{field, problem}``."""

    code = "validation_failed"


class UnknownTemplateError(BadRequestError):
    code = "unknown_template"


class InvalidHolderIdError(BadRequestError):
    code = "invalid_holder_id"


class InvalidDocumentError(BadRequestError):
    """An uploaded file is not a PDF, or is truncated or malformed."""

    code = "invalid_document"


class DocumentTooLargeError(BadRequestError):
    code = "document_too_large"


# --- the thing is not there ------------------------------------------------------------------
class NotFoundError(CertsvcError):
    code = "not_found"


# --- the request clashes with the current state ---------------------------------------------
class ConflictError(CertsvcError):
    code = "conflict"


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


# --- who is asking -------------------------------------------------------------------------------
class AuthenticationError(CertsvcError):
    code = "unauthenticated"


class PermissionDeniedError(CertsvcError):
    code = "forbidden"


# --- the service cannot do it right now ------------------------------------------------------------
class KeyUnavailableError(CertsvcError):
    """A seal key cannot be loaded or used (offline HSM, wrong passphrase, missing file)."""

    code = "key_unavailable"


class SigningError(CertsvcError):
    code = "signing_failed"


class TimeStampUnavailableError(CertsvcError):
    """No trusted time could be obtained: the time-stamping authority refused, gave a token
    that does not match the request, or could not be reached."""

    code = "timestamp_unavailable"


class RenderingError(CertsvcError):
    code = "rendering_failed"


class StorageError(CertsvcError):
    code = "storage_failed"


class ConfigurationError(CertsvcError):
    """Settings or templates are unusable; raised at start-up with every problem listed."""

    code = "configuration_error"


# --- holders and material-waiver sharing -----------------------------------------------------
# Every refusal in sharing has its own stable code (set per instance with ``code=``); the class
# decides only the HTTP family. Codes in use are listed in docs/sharing.md.
class HolderTokenError(AuthenticationError):
    """A holder's identity token (OIDC-style JWT) was refused: forged, expired, replayed ..."""

    code = "holder_token_invalid"


class SharingRefusedError(PermissionDeniedError):
    """A request is outside every authorization the holder gave (department, type, state ...)."""

    code = "sharing_refused"


class AuthorizationUnknownError(NotFoundError):
    code = "authorization_unknown"


class NoValidLicenceError(NotFoundError):
    """The authorization is in scope but the holder has no valid licence it covers."""

    code = "no_valid_licence"


__all__ += [
    "AuthorizationUnknownError",
    "HolderTokenError",
    "NoValidLicenceError",
    "SharingRefusedError",
]


# --- QR codes and trust lists -------------------------------------------------------------
class InvalidQrPayloadError(BadRequestError):
    """Scanned text is not a well-formed certsvc QR payload; verification turns it into a reason."""

    code = "invalid_qr_payload"


class InvalidTrustListError(BadRequestError):
    """A trust list file is malformed, its signature fails, or its signer is not anchored."""

    code = "invalid_trust_list"


__all__ += ["InvalidQrPayloadError", "InvalidTrustListError"]


# --- batch jobs -------------------------------------------------------------------------------
class JobEngineError(CertsvcError):
    """The batch engine could not run a job's items (its workers do not start)."""

    code = "job_engine_failed"


__all__ += ["JobEngineError"]


# --- operations ----------------------------------------------------------------------------------
class NotReadyError(CertsvcError):
    """This process cannot serve yet: a dependency (database, broker, seal keys) is unreachable."""

    code = "not_ready"


__all__ += ["NotReadyError"]
