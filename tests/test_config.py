"""Settings: read from CERTSVC_* variables, unsafe production settings refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from certsvc.config import Environment, load_settings
from certsvc.errors import ConfigurationError


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CERTSVC_HOME", str(tmp_path))
    monkeypatch.setenv("CERTSVC_PUBLIC_URL", "https://zz.example.gov.cn")
    monkeypatch.setenv("CERTSVC_MAX_UPLOAD_BYTES", "65536")
    monkeypatch.delenv("CERTSVC_DATABASE_URL", raising=False)  # set by the suite's PostgreSQL run
    settings = load_settings()
    assert settings.resolved_home == tmp_path.resolve()
    assert settings.public_url == "https://zz.example.gov.cn"
    assert settings.max_upload_bytes == 65536
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'certsvc.sqlite3'}"


def test_production_refuses_development_defaults_and_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(env=Environment.PRODUCTION, home=tmp_path, public_url="http://insecure.example")
    problems = info.value.details
    assert any("CERTSVC_KEY_PASSPHRASE" in p for p in problems)
    assert any("https" in p for p in problems)


def test_production_accepts_proper_settings(tmp_path: Path) -> None:
    settings = load_settings(
        env=Environment.PRODUCTION, home=tmp_path, public_url="https://certsvc.example.gov.cn",
        key_passphrase="a long enough secret passphrase",
        sharing_link_secret="another secret of at least thirty-two characters",
    )
    assert settings.key_passphrase is not None
    assert "long enough" not in repr(settings)  # SecretStr never shows the value


def test_invalid_values_are_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_settings(home=tmp_path, max_upload_bytes=-5)


def test_an_upstream_needs_its_credential_and_https_in_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(home=tmp_path, upstream_url="http://hub.example")
    assert any("CERTSVC_UPSTREAM_CREDENTIAL" in p for p in info.value.details)
    with pytest.raises(ConfigurationError) as production:
        load_settings(env=Environment.PRODUCTION, home=tmp_path, upstream_url="http://hub.example", upstream_credential="chm_1_x")
    assert any("CERTSVC_UPSTREAM_URL must be https" in p for p in production.value.details)
    with pytest.raises(ConfigurationError):
        load_settings(home=tmp_path, upstream_url="ftp://hub.example", upstream_credential="chm_1_x")
    assert load_settings(home=tmp_path, upstream_url="http://hub.example", upstream_credential="chm_1_x").upstream_url
    with pytest.raises(ConfigurationError):
        load_settings(home=tmp_path, role="region")
