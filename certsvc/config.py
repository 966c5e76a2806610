"""Settings: one class, read from ``CERTSVC_*`` environment variables at the edge."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from certsvc.errors import ConfigurationError

__all__ = ["Environment", "Settings", "load_settings"]

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Everything certsvc can be told. Built once by ``load_settings`` and passed down."""

    model_config = SettingsConfigDict(env_prefix="CERTSVC_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    home: Path = Field(
        default=Path("./var"), description="embedded deployment: database, blobs, keys"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite under home"
    )
    public_url: str = "http://127.0.0.1:8000"
    templates_dir: Path = _PROJECT_ROOT / "templates"
    key_passphrase: SecretStr | None = Field(
        default=None, description="passphrase of the private keys at rest; generated in development"
    )
    key_passphrase_previous: SecretStr | None = Field(
        default=None,
        description="the passphrase before `certsvc keys rewrap` changed it: key files not yet rewrapped open with it",
    )
    key_file_scrypt_log2_n: int = Field(
        default=14,
        ge=10,
        le=14,
        description="scrypt cost of new key files, as log2 N (r=8, p=5): 14 is OWASP's minimum and the most "
        "OpenSSL reads; lower only for test suites that make hundreds of keys",
    )
    # --- seal keys in a PKCS#11 token (docs/keys.md) ---
    pkcs11_module: Path | None = Field(
        default=None,
        description="the PKCS#11 module (.so) of the HSM, e.g. /usr/lib/softhsm/libsofthsm2.so",
    )
    pkcs11_pin: SecretStr | None = Field(
        default=None, description="user PIN of the tokens (or CERTSVC_PKCS11_PIN_FILE)"
    )
    pkcs11_pin_file: Path | None = Field(
        default=None, description="a file holding the user PIN (mode 0600)"
    )
    pkcs11_sm2_mechanism: int | None = Field(
        default=None,
        ge=0x80000000,
        le=0xFFFFFFFF,
        description="the vendor's CKM_ number for SM2-with-SM3 signing; untested (docs/keys.md)",
    )
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    public_rate_limit_per_minute: int = Field(
        default=120,
        ge=0,
        description="requests per client address per minute on public endpoints; 0 = off",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "is believed (e.g. 10.0.0.5,10.1.0.0/16); empty: none, the peer address is the client",
    )
    audit_checkpoint_every: int = Field(
        default=1000, ge=1, description="sign the audit chain head every N entries"
    )
    audit_checkpoint_seconds: int = Field(
        default=60,
        ge=1,
        description="and at the first request after this many seconds with new entries",
    )
    audit_witness_url: str | None = Field(
        default=None,
        description="where each signed audit checkpoint is also POSTed (a witness outside this host)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON object per line, with the request id (docs/operations.md)",
    )
    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    webhook_backoff_seconds: float = Field(
        default=2.0, ge=0, description="first retry delay; doubles per attempt"
    )
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    # --- holders and sharing (docs/sharing.md) ---
    oidc_issuer: str | None = Field(
        default=None, description="`iss` of holder identity tokens; unset = no holder sign-in"
    )
    oidc_audience: str = Field(default="certsvc", description="`aud` holder tokens must carry")
    oidc_jwks_url: str | None = Field(
        default=None,
        description="the issuer's JWKS URL (fetched, cached, refreshed on an unknown kid)",
    )
    oidc_jwks_file: Path | None = Field(
        default=None, description="a local JWKS file instead of a URL (offline deployments)"
    )
    oidc_algorithms: list[str] = Field(
        default=["RS256", "ES256"], description="accepted JWS algorithms"
    )
    oidc_holder_id_type_claim: str = "holder_id_type"
    oidc_holder_id_claim: str = "holder_id"
    oidc_max_token_lifetime_seconds: int = Field(
        default=3600, ge=60, description="longest exp - iat accepted"
    )
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    oidc_jwks_cache_seconds: int = Field(default=300, ge=0)
    sharing_max_authorization_days: int = Field(default=30, ge=1, le=30)
    sharing_link_seconds: int = Field(
        default=300, ge=10, le=3600, description="life of a signed download link"
    )
    sharing_link_secret: SecretStr | None = Field(
        default=None, description="HMAC key of download links; generated in development"
    )

    # --- a cluster (docs/deployment.md) ---
    broker_url: str | None = Field(
        default=None,
        description="Redis of the cluster, e.g. redis://host:6379/0: the Celery broker, shared rate limits; checked by /readyz",
    )
    blob_store: Literal["directory", "database"] = Field(
        default="directory",
        description="where signed files and renders live: a directory (CERTSVC_BLOB_DIRECTORY, shared storage "
        "for a cluster) or the PostgreSQL database (content-addressed rows, hash checked on read)",
    )
    blob_directory: Path | None = Field(
        default=None, description="the blob directory; default: blobs under home"
    )
    key_store: Literal["directory", "database"] = Field(
        default="directory",
        description="where encrypted seal keys live: key files under home, or the PostgreSQL database",
    )
    key_passphrase_file: Path | None = Field(
        default=None,
        description="a secret file holding the key passphrase (instead of CERTSVC_KEY_PASSPHRASE)",
    )
    job_engine: Literal["local", "celery"] = Field(
        default="local",
        description="local: a process pool in the process that runs the job; celery: `certsvc worker` nodes",
    )
    job_lease_seconds: float = Field(
        default=300.0,
        ge=1,
        description="celery: an item claimed this long ago without an outcome is handed out again",
    )
    job_stall_seconds: float = Field(
        default=60.0,
        ge=0.5,
        description="celery: a job with no finished item for this long is dispatched again",
    )
    job_dispatch_chunk: int = Field(
        default=16, ge=1, le=1000, description="celery: items per dispatched message"
    )
    # --- time-stamping and long-term validation (docs/ltv.md) ---
    fast_verify: bool = Field(
        default=True,
        description="reuse the validation recorded at sealing for a file that is byte for byte one the registry sealed; false: always validate in full",
    )
    pades_level: Literal["B-B", "B-T", "B-LT", "B-LTA"] = Field(
        default="B-LTA",
        description="B-T: signature time-stamp; B-LT: + validation data (DSS); B-LTA: + document time-stamp",
    )
    tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 TSA for seal time-stamps; unset = the built-in TSA, in-process",
    )
    tsa_sm2_url: str | None = Field(
        default=None, description="GM/T 0033 (SM2) TSA for SM2 seals; unset = CERTSVC_TSA_URL"
    )
    tsa_username: str | None = Field(
        default=None, description="HTTP Basic user for the TSA (optional)"
    )
    tsa_password: SecretStr | None = None
    tsa_api_key: SecretStr | None = Field(
        default=None,
        description="bearer key for the TSA, e.g. another certsvc's `timestamping` client",
    )
    tsa_timeout_seconds: float = Field(default=10.0, gt=0)
    batch_pipeline_depth: int = Field(
        default=0,
        ge=0,
        le=32,
        description="licences a batch worker seals at once, so their TSA round trips overlap; "
        "0 = 4 with an outside TSA (CERTSVC_TSA_URL), 1 with the in-process one",
    )
    resign_storage: Literal["increment", "whole"] = Field(
        default="increment",
        description="how a re-signed PDF is stored: the shared unsigned render plus the bytes sealing appended "
        "(increment), or the whole file (whole: the benchmarks' baseline)",
    )
    tsa_policy_oid: str = Field(
        default="2.999.3161.1",  # X.660 example arc: a development value, never registered
        pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$",
        description="TSA policy of the built-in TSA; replace with the operator's own arc in production",
    )
    tsa_accuracy_ms: int = Field(
        default=1000, ge=1, le=60_000, description="accuracy the built-in TSA states"
    )
    # --- the regional connection, 对接 (docs/region.md) ---
    role: Literal["member", "hub"] = Field(
        default="member",
        description="hub: accept deliveries from registered 盟 deployments (certsvc hub add-member)",
    )
    upstream_url: str | None = Field(
        default=None,
        description="the hub (regional e-licence system) every licence change is delivered to; unset = none",
    )
    upstream_credential: SecretStr | None = Field(
        default=None, description="the credential the hub issued (chm_...)"
    )
    upstream_max_attempts: int = Field(
        default=12, ge=1, le=100, description="then the delivery is failed (certsvc upstream retry)"
    )
    upstream_backoff_seconds: float = Field(
        default=5.0, ge=0, description="first retry delay; doubles per attempt"
    )
    upstream_backoff_max_seconds: float = Field(
        default=600.0, ge=0, description="the longest delay between two attempts"
    )
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    upstream_poll_seconds: float = Field(
        default=2.0, gt=0, description="how often the serving process looks for due deliveries"
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'certsvc.sqlite3'}"

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def blob_dir(self) -> Path:
        if self.blob_directory is not None:
            return self.blob_directory.expanduser().resolve()
        return self.resolved_home / "blobs"

    @property
    def key_dir(self) -> Path:
        return self.resolved_home / "keys"

    @property
    def dev_passphrase_file(self) -> Path:
        return self.key_dir / "dev-passphrase"

    def problems(self) -> list[str]:
        """Every reason these settings are unsafe or unusable, collected rather than raised one by one."""
        found: list[str] = []
        if self.env is Environment.PRODUCTION:
            if self.key_passphrase is None and self.key_passphrase_file is None:
                found.append(
                    "CERTSVC_KEY_PASSPHRASE (or CERTSVC_KEY_PASSPHRASE_FILE) must be set in production (no generated passphrase)"
                )
            elif (
                self.key_passphrase is not None and len(self.key_passphrase.get_secret_value()) < 16
            ):
                found.append("CERTSVC_KEY_PASSPHRASE must be at least 16 characters in production")
            if self.public_url.startswith("http://"):
                found.append("CERTSVC_PUBLIC_URL must be https in production")
            if (
                self.sharing_link_secret is None
                or len(self.sharing_link_secret.get_secret_value()) < 32
            ):
                found.append(
                    "CERTSVC_SHARING_LINK_SECRET must be set (32+ characters) in production"
                )
            for name, url in (
                ("CERTSVC_TSA_URL", self.tsa_url),
                ("CERTSVC_TSA_SM2_URL", self.tsa_sm2_url),
            ):
                if (
                    url is not None
                    and url.startswith("http://")
                    and (self.tsa_password or self.tsa_api_key)
                ):
                    found.append(f"{name} must be https when TSA credentials are set in production")
            if self.oidc_jwks_url is not None and not self.oidc_jwks_url.startswith("https://"):
                found.append("CERTSVC_OIDC_JWKS_URL must be https in production")
        if self.pkcs11_pin is not None and self.pkcs11_pin_file is not None:
            found.append("set CERTSVC_PKCS11_PIN or CERTSVC_PKCS11_PIN_FILE, not both")
        if self.database_url and not self.database_url.startswith(
            ("sqlite:", "postgresql+psycopg:")
        ):
            found.append("CERTSVC_DATABASE_URL must be sqlite:///… or postgresql+psycopg://…")
        if self.upstream_url is not None:
            if not self.upstream_url.startswith(("http://", "https://")):
                found.append("CERTSVC_UPSTREAM_URL must be an http(s) URL")
            elif self.env is Environment.PRODUCTION and not self.upstream_url.startswith(
                "https://"
            ):
                found.append("CERTSVC_UPSTREAM_URL must be https in production")
            if self.upstream_credential is None:
                found.append(
                    "CERTSVC_UPSTREAM_CREDENTIAL must be set with CERTSVC_UPSTREAM_URL (certsvc hub add-member prints it)"
                )
        if self.broker_url and not self.broker_url.startswith(("redis://", "rediss://")):
            found.append("CERTSVC_BROKER_URL must be a redis:// or rediss:// URL")
        is_postgresql = (self.database_url or "").startswith("postgresql")
        # On SQLite the stores' own short transactions would queue behind the service's open
        # write transaction (one writer): the database stores are for PostgreSQL.
        if self.blob_store == "database" and not is_postgresql:
            found.append(
                "CERTSVC_BLOB_STORE=database needs PostgreSQL (CERTSVC_DATABASE_URL=postgresql+psycopg://…)"
            )
        if self.key_store == "database" and not is_postgresql:
            found.append(
                "CERTSVC_KEY_STORE=database needs PostgreSQL (CERTSVC_DATABASE_URL=postgresql+psycopg://…)"
            )
        if self.key_passphrase is not None and self.key_passphrase_file is not None:
            found.append("set CERTSVC_KEY_PASSPHRASE or CERTSVC_KEY_PASSPHRASE_FILE, not both")
        if self.key_passphrase_file is not None and not self.key_passphrase_file.is_file():
            found.append(
                f"CERTSVC_KEY_PASSPHRASE_FILE is not a readable file: {self.key_passphrase_file}"
            )
        if self.job_engine == "celery" and not self.broker_url:
            found.append(
                "CERTSVC_JOB_ENGINE=celery needs CERTSVC_BROKER_URL (the Redis the workers listen to)"
            )
        for proxy in self.trusted_proxy_list:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                found.append(f"CERTSVC_TRUSTED_PROXIES: {proxy!r} is not an IP address or network")
        if not self.templates_dir.is_dir():
            found.append(f"CERTSVC_TEMPLATES_DIR does not exist: {self.templates_dir}")
        return found


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (plus overrides) and refuse unsafe ones at start-up."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigurationError(f"invalid settings: {exc}") from exc
    problems = settings.problems()
    if problems:
        raise ConfigurationError("unusable settings: " + "; ".join(problems), details=problems)
    return settings
