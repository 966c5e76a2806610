"""Batch jobs over HTTP: start (202), progress and final counts, failures, cancel, operators only."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from certsvc.crypto import api as crypto
from certsvc.services.context import ServiceContext
from certsvc.storage.orm import Certificate
from tests.conftest import TEMPLATES, auth
from tests.jobs.batch_helpers import new_department, new_seal

FOOD = "food-business-licence"


def _csv_bytes(bad_row: bool = True) -> bytes:
    rows = list(csv.reader((TEMPLATES / FOOD / "sample.csv").open(encoding="utf-8", newline="")))[:5]
    if bad_row:
        rows[2][rows[0].index("有效期起")] = "2026/13/45"
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def _wait(client: TestClient, job_id: int, key: str, *, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/batches/{job_id}", headers=auth(key)).json()
        if body["state"] in ("completed", "cancelled") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_import_over_the_api_reports_progress_final_counts_and_failures(
    client: TestClient, embedded: ServiceContext, operator_key: str
) -> None:
    department = new_department(embedded)
    form = {"kind": "import", "template": FOOD, "department": department.code, "workers": "0"}
    files = {"file": ("records.csv", _csv_bytes(), "text/csv")}

    dry = client.post("/api/v1/batches", data={**form, "dry_run": "true"}, files=files, headers=auth(operator_key))
    assert dry.status_code == 200, dry.text
    assert (dry.json()["valid_rows"], dry.json()["invalid_rows"]) == (3, 1)
    assert dry.json()["problems"][0]["row"] == 3

    files = {"file": ("records.csv", _csv_bytes(), "text/csv")}
    started = client.post("/api/v1/batches", data=form, files=files, headers=auth(operator_key))
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["Location"] == f"/api/v1/batches/{job['id']}"
    assert job["kind"] == "import" and job["total"] == 4

    final = _wait(client, job["id"], operator_key)
    assert (final["state"], final["done"], final["skipped"], final["failed"]) == ("completed", 3, 0, 1)
    assert final["done"] + final["skipped"] + final["failed"] == final["total"]
    assert final["rate_per_second"] and final["eta_seconds"] == 0

    failures = client.get(f"/api/v1/batches/{job['id']}/failures", headers=auth(operator_key))
    assert failures.status_code == 200
    assert [(f["seq"], f["error_code"]) for f in failures.json()] == [(3, "invalid_row")]
    as_csv = client.get(f"/api/v1/batches/{job['id']}/failures?format=csv", headers=auth(operator_key))
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["seq", "key", "error_code", "error_message"] and rows[1][0] == "3"


def test_resign_over_the_api(client: TestClient, embedded: ServiceContext, operator_key: str) -> None:
    department = new_department(embedded)
    form = {"kind": "import", "template": FOOD, "department": department.code, "workers": "0"}
    imported = client.post("/api/v1/batches", data=form, files={"file": ("r.csv", _csv_bytes(False), "text/csv")}, headers=auth(operator_key))
    assert _wait(client, imported.json()["id"], operator_key)["done"] == 4
    seal_id = new_seal(embedded, department.code, algorithm=crypto.KeyAlgorithm.SM2, name="行政许可专用章")

    plan = client.post("/api/v1/batches", json={"kind": "resign", "to_seal": seal_id, "dry_run": True}, headers=auth(operator_key))
    assert plan.status_code == 200 and plan.json()["matched"] == 4
    started = client.post(
        "/api/v1/batches", json={"kind": "resign", "to_seal": seal_id, "workers": 0, "reason": "SM2 migration"},
        headers=auth(operator_key),
    )
    assert started.status_code == 202, started.text
    final = _wait(client, started.json()["id"], operator_key)
    assert (final["state"], final["done"], final["total"]) == ("completed", 4, 4)
    identifier = client.get(f"/api/v1/batches/{final['id']}/failures", headers=auth(operator_key)).json()
    assert identifier == []

    # Both revisions stay retrievable; the earlier one verifies as an earlier seal, the new one as valid SM2.
    with embedded.database.read() as session:
        some = session.scalars(select(Certificate.identifier).where(Certificate.department_id == department.id)).first()
    assert some is not None
    pdf_url = f"/api/v1/certificates/{some}/pdf"
    old = client.get(pdf_url, params={"revision": 1}, headers=auth(operator_key))
    new = client.get(pdf_url, headers=auth(operator_key))
    assert old.status_code == new.status_code == 200 and old.content != new.content
    assert client.get(pdf_url, params={"revision": 9}, headers=auth(operator_key)).status_code == 404

    def verify(pdf: bytes) -> dict[str, Any]:
        answer: dict[str, Any] = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()
        return answer

    old_report, new_report = verify(old.content), verify(new.content)
    # An earlier seal of the same page after a key rotation: still valid, and said so.
    assert old_report["verdict"] == "valid"
    assert "earlier_seal_of_current" in {r["code"] for r in old_report["reasons"]}
    assert old_report["registry"]["is_current_content"] and old_report["registry"]["version"] == 1
    assert new_report["verdict"] == "valid" and new_report["signatures"][0]["algorithm"] == "sm2-sm3"


def test_cancel_and_errors(client: TestClient, embedded: ServiceContext, operator_key: str, ecdsa_key: str) -> None:
    department = new_department(embedded)
    seal_id = new_seal(embedded, department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    # Nothing to re-sign in a new department: the job completes at once with 0 items.
    started = client.post("/api/v1/batches", json={"kind": "resign", "to_seal": seal_id, "workers": 0}, headers=auth(operator_key))
    assert started.status_code == 202
    final = _wait(client, started.json()["id"], operator_key)
    assert (final["state"], final["total"]) == ("completed", 0)
    assert client.post(f"/api/v1/batches/{final['id']}/cancel", headers=auth(operator_key)).status_code == 409

    assert client.post("/api/v1/batches", json={"kind": "resign", "to_seal": seal_id}, headers=auth(ecdsa_key)).status_code == 403
    assert client.get(f"/api/v1/batches/{final['id']}", headers=auth(ecdsa_key)).status_code == 403
    assert client.get("/api/v1/batches/999999", headers=auth(operator_key)).status_code == 404
    bad = client.post("/api/v1/batches", json={"kind": "bake"}, headers=auth(operator_key))
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    no_file = client.post("/api/v1/batches", data={"kind": "import", "template": FOOD, "department": department.code}, headers=auth(operator_key))
    assert no_file.status_code in (400, 422)
    assert json.loads(no_file.text)["code"]
