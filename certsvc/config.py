"""Settings: one class, read from ``CERTSVC_*`` environment variables at the edge."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

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
    home: Path = Field(default=Path("./var"), description="embedded deployment: database, blobs, keys")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home")
    public_url: str = "http://127.0.0.1:8000"
    templates_dir: Path = _PROJECT_ROOT / "templates"
    key_passphrase: SecretStr | None = Field(
        default=None, description="passphrase of the private keys at rest; generated in development"
    )
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'certsvc.sqlite3'}"

    @property
    def blob_dir(self) -> Path:
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
            if self.key_passphrase is None:
                found.append("CERTSVC_KEY_PASSPHRASE must be set in production (no generated passphrase)")
            elif len(self.key_passphrase.get_secret_value()) < 16:
                found.append("CERTSVC_KEY_PASSPHRASE must be at least 16 characters in production")
            if self.public_url.startswith("http://"):
                found.append("CERTSVC_PUBLIC_URL must be https in production")
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
