"""Shared fixtures: one embedded deployment per test session, built like `certsvc init` builds it."""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr

from certsvc.api.app import create_app
from certsvc.api.serving import server_options
from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.embedded_init import init_embedded
from certsvc.services.principals import Role, create_api_client

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = PROJECT_ROOT / "templates"
PUBLIC_URL = "https://certsvc.example.gov.cn"


# --- the database the suite runs on: SQLite (default) or PostgreSQL (--db=postgresql) ----------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="run the suite on SQLite files (default) or on a PostgreSQL server the run starts itself",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Key files of the suite's deployments (and of the CLI runs and workers it starts) use a
    # cheap scrypt cost: the suite makes and opens hundreds. The default cost is tested where
    # it is the subject (tests/crypto/test_key_files.py).
    os.environ.setdefault("CERTSVC_KEY_FILE_SCRYPT_LOG2_N", "10")  # the lowest the settings allow


def pytest_report_header(config: pytest.Config) -> str:
    return f"certsvc database: {config.getoption('--db')}"


# --- tests whose outcome cannot depend on the database: the SQLite pass runs them, not PostgreSQL -
# Rendering, rasterising, QR decoding, signature arithmetic and the like do the same work whatever
# database the suite runs on; running them in the PostgreSQL pass too only doubles their time.
# A module opts in with ``pytestmark = pytest.mark.db_independent``, and the mark is checked, not
# trusted: such a test may not use a fixture built on the suite's database (refused at collection)
# nor open a database itself (fails in the SQLite pass, which is the pass that runs it).
DB_INDEPENDENT = "db_independent"
_DATABASE_FIXTURES = frozenset({"database_factory", "run_database_url"})


def _uses_database_fixture(item: pytest.Item) -> str | None:
    """The first fixture of ``item``'s closure built on the suite's database, if any."""
    infos = getattr(item, "_fixtureinfo", None)
    if infos is None:
        return None
    for name in item.fixturenames:  # type: ignore[attr-defined]
        if name in _DATABASE_FIXTURES:
            continue
        for definition in infos.name2fixturedefs.get(name, ()):
            if _DATABASE_FIXTURES & set(definition.argnames):
                return name
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    independent = [item for item in items if item.get_closest_marker(DB_INDEPENDENT)]
    for item in independent:
        fixture = _uses_database_fixture(item)
        if fixture is not None:
            raise pytest.UsageError(f"{item.nodeid} is marked {DB_INDEPENDENT} but uses the database fixture {fixture!r}")
    if config.getoption("--db") == "postgresql" and independent:
        chosen = set(map(id, independent))
        items[:] = [item for item in items if id(item) not in chosen]
        config.hook.pytest_deselected(items=independent)


@pytest.fixture(autouse=True)
def _db_independent_opens_no_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``db_independent`` that opens a database fails instead of passing quietly."""
    if request.node.get_closest_marker(DB_INDEPENDENT) is None:
        yield
        return
    from certsvc.storage.database import Database

    def refuse(self: Database, url: str) -> None:
        pytest.fail(f"{request.node.nodeid} is marked {DB_INDEPENDENT} but opened the database {url}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Database, "__init__", refuse)
        yield


_TEMPLATE_DB = "certsvc_template"


class DatabaseFactory:
    """Fresh, migrated databases: a PostgreSQL database cloned from a migrated template, or None
    on SQLite (where a new ``CERTSVC_HOME`` is a new database file)."""

    def __init__(self, server: Any | None) -> None:
        self.server = server
        self._names = itertools.count(1)
        self._template_ready = False

    @property
    def is_postgresql(self) -> bool:
        return self.server is not None

    def new_empty_url(self, tmp_path: Path) -> str:
        """An empty database, not migrated: a new SQLite file, or a new PostgreSQL database."""
        if self.server is None:
            return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return str(self.server.create_database(f"certsvc_empty_{next(self._names)}"))

    def new_url(self) -> str | None:
        if self.server is None:
            return None
        if not self._template_ready:
            from certsvc.storage.database import Database

            database = Database(self.server.create_database(_TEMPLATE_DB))
            database.migrate()
            database.dispose()  # a template must have no connections while it is copied
            self._template_ready = True
        # CREATE DATABASE … TEMPLATE copies files: a few tens of milliseconds, no migrations rerun.
        return str(self.server.create_database(f"certsvc_{next(self._names)}", template=_TEMPLATE_DB))


@pytest.fixture(scope="session")
def database_factory(request: pytest.FixtureRequest) -> Iterator[DatabaseFactory]:
    if request.config.getoption("--db") != "postgresql":
        yield DatabaseFactory(None)
        return
    from tests.servers import PostgresServer

    with PostgresServer() as server:
        yield DatabaseFactory(server)


_SHARED_HOMES: set[Path] = set()


@pytest.fixture(scope="session", autouse=True)
def run_database_url(database_factory: DatabaseFactory) -> Iterator[str | None]:
    """The database of the shared deployment, also in ``CERTSVC_DATABASE_URL`` for the
    subprocesses and CLI runs that use the shared home.

    Any other home that takes its database from that variable (a test that builds a deployment
    of its own in ``tmp_path``) gets a fresh database of its own instead, as a new home gets a
    new SQLite file: ``Settings.sqlalchemy_url`` maps each such home to one (in this process).
    """
    url = database_factory.new_url()
    if url is None:
        yield None
        return
    from certsvc.config import Settings

    original = Settings.sqlalchemy_url
    own: dict[Path, str] = {}

    def per_home(settings: Settings) -> str:
        chosen = str(original.fget(settings))  # type: ignore[attr-defined]
        home = settings.resolved_home
        if chosen != url or home in _SHARED_HOMES:
            return chosen
        if home not in own:
            own[home] = str(database_factory.new_url())
        return own[home]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CERTSVC_DATABASE_URL", url)
        patch.setattr(Settings, "sqlalchemy_url", property(per_home))
        yield url


@pytest.fixture()
def fresh_database_url(database_factory: DatabaseFactory) -> str | None:
    """A database of this test's own (None on SQLite: a new home is a new database file).

    Pass it as ``database_url`` to ``load_settings`` and as ``CERTSVC_DATABASE_URL`` to
    subprocesses of a test that builds its own deployment in ``tmp_path``.
    """
    return database_factory.new_url()


def isolated_env(home: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """Environment variables that point a CLI run or subprocess at a deployment of its own."""
    env = {"CERTSVC_HOME": str(home), **extra}
    if database_url is not None:
        env["CERTSVC_DATABASE_URL"] = database_url
    return env


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory, run_database_url: str | None) -> Iterator[ServiceContext]:
    """An initialised embedded deployment (database, blobs, keys, development PKI) in a temp home."""
    home = tmp_path_factory.mktemp("certsvc-home")
    _SHARED_HOMES.add(home.resolve())
    # Rate limiting is off for the shared deployment (the suite verifies far more than 120 files a
    # minute from one address); tests/api/test_qr.py checks the limiter with its own settings.
    ctx = build_context(
        load_settings(home=home, public_url=PUBLIC_URL, public_rate_limit_per_minute=0, database_url=run_database_url)
    )
    init_embedded(ctx)
    yield ctx
    ctx.database.dispose()


@pytest.fixture(scope="session")
def credentials(embedded: ServiceContext) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((embedded.settings.resolved_home / "demo-credentials.json").read_text())
    return data


@pytest.fixture(scope="session")
def ecdsa_key(credentials: dict[str, Any]) -> str:
    return next(d["api_key"] for d in credentials["departments"] if d["algorithm"] == "ecdsa-p256")


@pytest.fixture(scope="session")
def sm2_key(credentials: dict[str, Any]) -> str:
    return next(d["api_key"] for d in credentials["departments"] if d["algorithm"] == "sm2")


@pytest.fixture(scope="session")
def operator_key(embedded: ServiceContext) -> str:
    """An API key with the operator role (administration and batch work, no department)."""
    with embedded.database.transaction() as session:
        return create_api_client(session, name="test-operator", role=Role.OPERATOR, department_id=None).api_key


@pytest.fixture(scope="session")
def client(embedded: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_app(embedded), raise_server_exceptions=False) as test_client:
        yield test_client


_NUMBERS = itertools.count(1)


def sample_request(slug: str = "food-business-licence") -> dict[str, Any]:
    """The template's sample request with a licence number no other call has returned.

    The registry refuses a second licence with the same number (per department and type), so
    every call adds a running count to the last digits of the sample's number.
    """
    data: dict[str, Any] = json.loads((TEMPLATES / slug / "sample.json").read_text(encoding="utf-8"))
    fields = data["fields"]
    key = next((k for k in fields if k == "licence_number"), None) or next((k for k in fields if k.endswith("_number")), None)
    if key is not None:
        fields[key] = unique_number(fields[key])
    return data


def unique_number(number: str) -> str:
    """``number`` with its last run of digits raised by a session-wide count (same width)."""
    digits = list(re.finditer(r"\d+", number))[-1]
    raised = str(int(digits.group()) + next(_NUMBERS)).zfill(len(digits.group()))
    return number[: digits.start()] + raised + number[digits.end() :]


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


# --- QR codes -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def qr_licences(client: TestClient, ecdsa_key: str, sm2_key: str) -> dict[str, dict[str, Any]]:
    """One issued licence per template (alternating ECDSA and SM2 departments): id, key, PDF."""
    issued: dict[str, dict[str, Any]] = {}
    for i, path in enumerate(sorted(p for p in TEMPLATES.iterdir() if (p / "sample.json").exists())):
        # Alternating algorithms, within the licence types each demo department may issue.
        key = ecdsa_key if i % 2 == 0 and path.name in _MARKET_REGULATOR_TYPES else sm2_key
        response = client.post("/api/v1/certificates", json=sample_request(path.name), headers=auth(key))
        assert response.status_code == 201, response.text
        identifier = response.json()["identifier"]
        pdf = client.get(f"/api/v1/certificates/{identifier}/pdf", headers=auth(key)).content
        issued[path.name] = {"identifier": identifier, "api_key": key, "pdf": pdf}
    return issued


_MARKET_REGULATOR_TYPES = ("administrative-licensing-decision", "drug-business-licence", "food-business-licence")


# --- a SoftHSM2 token (tests/hsm.py) ------------------------------------------------
@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One PKCS#11 token for the session; ``SOFTHSM2_CONF`` names it (workers inherit it)."""
    from tests.hsm import make_softhsm

    hsm = make_softhsm(tmp_path_factory.mktemp("softhsm"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(hsm.conf))
        yield hsm


@pytest.fixture(scope="session")
def hsm_ctx(tmp_path_factory: pytest.TempPathFactory, database_factory: DatabaseFactory, softhsm: Any) -> Iterator[ServiceContext]:
    """A deployment of its own whose processes are configured with the session's token.

    Its own, not the shared one: token seals stay active in it, and a process of the shared
    deployment (no PKCS#11 module configured) would rightly call those keys unavailable.
    """
    home = tmp_path_factory.mktemp("certsvc-hsm-home")
    settings = load_settings(
        home=home, public_url=PUBLIC_URL, public_rate_limit_per_minute=0, database_url=database_factory.new_url(),
        pkcs11_module=softhsm.module, pkcs11_pin=SecretStr(softhsm.pin),
    )  # fmt: skip
    ctx = build_context(settings)
    init_embedded(ctx)
    yield ctx
    ctx.token_keys().close()
    ctx.database.dispose()


# --- departments of their own for tests (the session database is shared) ------------
def make_department(ctx: ServiceContext, *, algorithm: str = "ecdsa-p256") -> tuple[str, str, str]:
    """A new department with a seal, an issuer key and a sharing key: (code, issuer_key, sharing_key)."""
    import secrets as _secrets

    from certsvc.domain.identifiers import uscc_check_char
    from certsvc.services.api_clients import ApiClientService
    from certsvc.services.departments import DepartmentService
    from certsvc.services.licence_types import LicenceTypeService
    from certsvc.services.principals import local_operator
    from certsvc.services.seal_admin import SealAdminService

    first17 = "11" + "152502" + "".join(_secrets.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    code = first17 + uscc_check_char(first17)
    clients, op = ApiClientService(ctx), local_operator()
    DepartmentService(ctx).add_department(code=code, name=f"测试部门{code[-6:]}", area_code="152502", principal=op)
    SealAdminService(ctx).add_seal(code, name="行政审批专用章", algorithm=algorithm, validity_days=365, principal=op)
    LicenceTypeService(ctx).change(code, add=[p.name for p in TEMPLATES.iterdir() if (p / "template.json").exists()], principal=op)
    issuer = clients.add_client(name=f"issuer-{code}", role="issuer", department_code=code, expires_at=None, principal=op)
    sharing = clients.add_client(name=f"sharing-{code}", role="sharing", department_code=code, expires_at=None, principal=op)
    return code, issuer.api_key, sharing.api_key


# --- holders (in-test identity provider) and receiving departments -----------------
@pytest.fixture(scope="session")
def idp() -> Iterator[Any]:
    """The in-test identity provider, its JWKS served over HTTP on 127.0.0.1 (tests/idp.py)."""
    from tests.idp import IdentityProvider

    with IdentityProvider().serve() as provider:
        yield provider


@pytest.fixture(scope="session")
def holder_ctx(embedded: ServiceContext, idp: Any) -> ServiceContext:
    """The session deployment, configured to trust ``idp``, on a clock the tests can move.

    Same database, blobs and keys as ``embedded``; only settings and clock differ.
    """
    import dataclasses
    from datetime import UTC, datetime

    from certsvc.clock import FixedClock

    settings = embedded.settings.model_copy(
        update={"oidc_issuer": idp.issuer, "oidc_audience": idp.audience, "oidc_jwks_url": idp.jwks_url}
    )
    return dataclasses.replace(embedded, settings=settings, clock=FixedClock(datetime.now(UTC)))


@pytest.fixture(scope="session")
def holder_client(holder_ctx: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_app(holder_ctx), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def holder_clock(holder_ctx: ServiceContext) -> Iterator[Any]:
    """``holder_ctx``'s clock, put back where it was after the test."""
    clock = holder_ctx.clock
    start = clock.now()
    yield clock
    clock.advance(start - clock.now())  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def receivers(embedded: ServiceContext) -> dict[str, dict[str, str]]:
    """Two receiving departments ("a", "b"), each with a sharing-role API key: {name: {code, key}}."""
    from certsvc.domain.identifiers import uscc_check_char
    from certsvc.services.provisioning import add_department

    made: dict[str, dict[str, str]] = {}
    with embedded.database.transaction() as session:
        for name, first17 in (("a", "11320200MB0000081"), ("b", "11320200MB0000082")):
            code = first17 + uscc_check_char(first17)
            department = add_department(
                session, code=code, name=f"无锡市收件部门{name.upper()}", area_code="320200", actor=None, now=embedded.clock.now()
            )
            key = create_api_client(session, name=f"window-{name}", role=Role.SHARING, department_id=department.id)
            made[name] = {"code": code, "key": key.api_key}
    return made


@pytest.fixture(scope="module")
def server_url(embedded: ServiceContext) -> Iterator[str]:
    """The app served for real by uvicorn on a free local port, in a thread."""
    config = uvicorn.Config(
        create_app(embedded), host="127.0.0.1", port=0, log_level="warning", **server_options(embedded.settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


# --- verdicts: one freshly issued licence per signing algorithm ------------------------------
@pytest.fixture(scope="session")
def licence_per_algorithm(client: TestClient, embedded: ServiceContext, ecdsa_key: str, sm2_key: str) -> dict[str, dict[str, Any]]:
    """algorithm -> {identifier, api_key, pdf, print_pdf}: RSA from a department made here."""
    _, rsa_key, _ = make_department(embedded, algorithm="rsa-3072")
    issued: dict[str, dict[str, Any]] = {}
    for algorithm, key in (("rsa-3072", rsa_key), ("ecdsa-p256", ecdsa_key), ("sm2", sm2_key)):
        response = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
        assert response.status_code == 201, response.text
        identifier = response.json()["identifier"]
        pdf = client.get(f"/api/v1/certificates/{identifier}/pdf", headers=auth(key))
        print_pdf = client.get(f"/api/v1/certificates/{identifier}/pdf?variant=print", headers=auth(key))
        assert pdf.status_code == 200 and print_pdf.status_code == 200
        issued[algorithm] = {"identifier": identifier, "api_key": key, "pdf": pdf.content, "print_pdf": print_pdf.content}
    return issued
