"""CERTSVC_LOG_FORMAT=json: one JSON object per line, every line of a request naming its id."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.api.deps import public
from certsvc.api.logs import JsonLogFormatter, uvicorn_log_config
from certsvc.services.context import ServiceContext
from tests.conftest import auth


@pytest.fixture()
def json_lines(embedded: ServiceContext) -> Iterator[tuple[TestClient, io.StringIO]]:
    ctx = dataclasses.replace(embedded, settings=embedded.settings.model_copy(update={"log_format": "json"}))
    app = create_app(ctx)

    @app.get("/test-log-line", dependencies=[Depends(public)])
    def log_inside() -> dict[str, str]:
        logging.getLogger("certsvc.test").warning("inside the request", extra={"licence_count": 3})
        return {}

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("certsvc")
    logger.addHandler(handler)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_of_a_request_carries_its_id(json_lines: tuple[TestClient, io.StringIO], ecdsa_key: str) -> None:
    client, stream = json_lines
    response = client.get("/test-log-line", headers={"X-Request-ID": "req-json-1"})
    assert response.headers["X-Request-ID"] == "req-json-1"
    missing = client.get("/api/v1/certificates/no-such-licence", headers={**auth(ecdsa_key), "X-Request-ID": "req-json-2"})
    assert missing.status_code == 404

    lines = _lines(stream)
    inner = next(line for line in lines if line["message"] == "inside the request")
    assert inner["request_id"] == "req-json-1" and inner["level"] == "WARNING" and inner["licence_count"] == 3
    access = next(line for line in lines if line["logger"] == "certsvc.access" and line["request_id"] == "req-json-2")
    assert access["status"] == 404 and access["route"] == "/api/v1/certificates/{identifier}" and access["method"] == "GET"
    assert access["duration_ms"] >= 0 and access["at"].endswith("+00:00")


def test_a_request_without_an_id_gets_one_and_its_lines_name_it(json_lines: tuple[TestClient, io.StringIO]) -> None:
    client, stream = json_lines
    rid = client.get("/healthz").headers["X-Request-ID"]
    assert len(rid) == 32
    assert any(line["request_id"] == rid for line in _lines(stream))


def test_uvicorn_is_configured_for_json_only_when_asked(embedded: ServiceContext) -> None:
    assert uvicorn_log_config(embedded.settings) is None  # text: uvicorn's own format
    config = uvicorn_log_config(embedded.settings.model_copy(update={"log_format": "json"}))
    assert config is not None
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logging.config.dictConfig(config)  # the configuration uvicorn will be given is valid
    try:
        record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started server process", None, None)
        formatter = logging.getLogger().handlers[0].formatter
        assert formatter is not None and json.loads(formatter.format(record))["message"] == "Started server process"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
