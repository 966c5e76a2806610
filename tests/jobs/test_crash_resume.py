"""A re-sign job killed with SIGKILL in the middle, then resumed: nothing lost, nothing twice.

The job runs in a real ``certsvc batch resign --execute`` process with two worker processes;
the whole process group is killed (as a power cut would), then ``certsvc batch resume`` runs.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.services.batch import BatchService
from certsvc.services.context import build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.verification import VerificationService
from certsvc.storage.orm import AuditEvent, Certificate, CertificateVersion
from certsvc.storage.orm_batch import BatchItem, BatchJob
from tests.conftest import PUBLIC_URL, TEMPLATES, isolated_env
from tests.jobs.batch_helpers import OPERATOR, new_seal

pytestmark = pytest.mark.slow

LICENCES = 40
CERTSVC = Path(sys.executable).with_name("certsvc")


def _records(path: Path, n: int) -> None:
    """``n`` rows made from the food template's sample rows, each with its own record and licence number."""
    source = TEMPLATES / "food-business-licence" / "sample.csv"
    rows = list(csv.reader(source.open(encoding="utf-8", newline="")))
    number = rows[0].index("许可证编号")
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(rows[0])
        for i in range(n):
            row = list(rows[1 + i % 10])
            row[0] = f"CRASH-{i:05d}"
            row[number] = f"JY1{i:013d}"
            writer.writerow(row)


def test_sigkill_mid_job_then_resume_gives_exactly_one_new_version(tmp_path: Path, fresh_database_url: str | None) -> None:
    home = tmp_path / "home"
    ctx = build_context(load_settings(home=home, public_url=PUBLIC_URL, database_url=fresh_database_url))
    init_embedded(ctx)
    code = DEMO_DEPARTMENTS[0].code
    records = tmp_path / "records.csv"
    _records(records, LICENCES)
    service = BatchService(ctx)
    created, _ = service.create_import_job(records, template="food-business-licence", department_code=code, principal=OPERATOR)
    assert service.run(created.job_id, principal=OPERATOR, workers=2).done == LICENCES
    # A key rollover: same seal name, so the same seal image (the print copies stay as they are).
    seal_id = new_seal(ctx, code, algorithm=crypto.KeyAlgorithm.ECDSA_P256, name=DEMO_DEPARTMENTS[0].seal_name)
    with ctx.database.transaction() as session:
        originals = {cid: sha for cid, sha in session.execute(select(CertificateVersion.certificate_id, CertificateVersion.sha256))}

    env = {**os.environ, **isolated_env(home, fresh_database_url, CERTSVC_PUBLIC_URL=PUBLIC_URL)}
    command = [str(CERTSVC), "batch", "resign", "--to-seal", str(seal_id), "--execute", "--workers", "2", "--json"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    done_at_kill = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with ctx.database.transaction() as session:
                done_at_kill = session.scalar(select(func.count()).where(BatchItem.state == "done", BatchItem.job_id != created.job_id)) or 0
            if done_at_kill >= 5:
                break
            time.sleep(0.1)  # each poll takes SQLite's write lock: do not crowd the workers
        assert process.poll() is None, process.communicate()
        os.killpg(process.pid, signal.SIGKILL)  # the CLI and its workers, like a power cut
    finally:
        process.wait()
    assert 0 < done_at_kill < LICENCES

    with ctx.database.transaction() as session:
        job = session.scalars(select(BatchJob).where(BatchJob.kind == "resign")).one()
        job_id, state = job.id, job.state
        unfinished = session.scalar(
            select(func.count()).where(BatchItem.job_id == job_id, BatchItem.state.in_(("pending", "running")))
        )
    assert state == "running" and unfinished and unfinished > 0

    resumed = subprocess.run(
        [str(CERTSVC), "batch", "resume", str(job_id), "--workers", "2", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    summary = json.loads(resumed.stdout)["job"]
    assert summary["state"] == "completed"
    assert (summary["done"], summary["skipped"], summary["failed"]) == (LICENCES, 0, 0)
    assert summary["done"] + summary["skipped"] + summary["failed"] == summary["total"] == LICENCES

    with ctx.database.transaction() as session:
        certs = session.scalars(select(Certificate)).all()
        assert len(certs) == LICENCES
        for cert in certs:
            versions = sorted(cert.versions, key=lambda v: v.version)
            assert [v.version for v in versions] == [1, 2], cert.identifier  # exactly one new version
            assert cert.current_version == 2 and versions[1].seal_id == seal_id
            assert versions[0].sha256 == originals[cert.id]
        resign_events = session.scalar(select(func.count()).where(AuditEvent.action == "certificate.resign"))
    assert resign_events == LICENCES

    verifier = VerificationService(ctx)
    for sha in list(originals.values())[:: LICENCES // 5]:
        report = verifier.verify_pdf(ctx.blobs.get(sha))  # still retrievable
        assert any(r.code == "earlier_seal_of_current" and "re-sealed as version 2" in r.message_en for r in report.reasons)
        assert report.verdict.value == "valid", report.reasons
    ctx.database.dispose()
